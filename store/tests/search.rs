//! Event and flow search, top-N and time series, and the indicator queries, the same
//! scenarios against both real backends: every answer is checked against what the
//! synthetic generator says the stored rows are. ClickHouse runs when
//! `NCSOC_TEST_CLICKHOUSE_URL` is set (skipped with a message otherwise, failed under CI).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use ncsoc_model::{Event, Indicator, IndicatorKind, Timestamp, Tlp};
use ncsoc_store::clickhouse::ClickHouseStore;
use ncsoc_store::config::Backend;
use ncsoc_store::sqlite::SqliteStore;
use ncsoc_store::{
    synth, Cursor, EventQuery, Field, FieldFilter, IndicatorQuery, Metric, Order, Scope, Store,
    StoreConfig, Table, TopBy, WriteMode,
};

const START: Timestamp = Timestamp::from_secs(1_764_201_600); // 2025-11-27T00:00:00Z
const N: u64 = 30_000;
const TAG: &str = "s";

fn rows() -> Vec<Event> {
    (0..N).map(|i| synth::event(TAG, i, START)).collect()
}

fn clickhouse_url() -> Option<String> {
    match std::env::var("NCSOC_TEST_CLICKHOUSE_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but NCSOC_TEST_CLICKHOUSE_URL is not set: run ./scripts/test.sh")
        }
        _ => {
            eprintln!("skipping: NCSOC_TEST_CLICKHOUSE_URL is not set (./scripts/test.sh starts ClickHouse and sets it)");
            None
        }
    }
}

fn key(e: &Event) -> (i64, &str) {
    (e.timestamp.nanos(), e.id.as_str())
}

/// The rows of `table` the generator made that `keep` accepts, oldest first.
fn expected(all: &[Event], flows: bool, keep: impl Fn(&Event) -> bool) -> Vec<&Event> {
    let mut v: Vec<&Event> = all
        .iter()
        .filter(|e| e.is_flow() == flows && keep(e))
        .collect();
    v.sort_by(|a, b| key(a).cmp(&key(b)));
    v
}

fn ids(v: &[impl std::borrow::Borrow<Event>]) -> Vec<String> {
    v.iter().map(|e| e.borrow().id.clone()).collect()
}

/// Every page of a search, following the cursor.
async fn all_pages(store: &dyn Store, table: Table, q: &EventQuery) -> Vec<Event> {
    let mut q = q.clone();
    let mut out: Vec<Event> = Vec::new();
    loop {
        let page = store.search(table, &q).await.unwrap();
        assert!(page.len() <= q.limit);
        let Some(last) = page.last() else { break };
        q.after = Some(Cursor {
            ts: last.timestamp,
            id: last.id.clone(),
        });
        let full = page.len() == q.limit;
        out.extend(page);
        if !full {
            break;
        }
    }
    out
}

async fn scenarios(store: Arc<dyn Store>) {
    let all = rows();
    for chunk in all.chunks(10_000) {
        store.write_events(chunk, WriteMode::Fresh).await.unwrap();
    }
    // The generator writes one row a second from START.
    let w0 = Timestamp(START.nanos() + 2 * 3_600 * 1_000_000_000);
    let w1 = Timestamp(w0.nanos() + 4 * 3_600 * 1_000_000_000);
    let in_window = |e: &Event| e.timestamp >= w0 && e.timestamp < w1;

    // Newest first over every sector, in pages: exactly the generator's rows, reversed.
    let mut q = EventQuery::new(Scope::All);
    q.from = Some(w0);
    q.to = Some(w1);
    q.order = Order::NewestFirst;
    q.limit = 97;
    let mut want = expected(&all, false, in_window);
    assert!(want.len() > 1_000, "{}", want.len());
    want.reverse();
    assert_eq!(
        ids(&all_pages(&*store, Table::Events, &q).await),
        ids(&want)
    );
    let first = store.search(Table::Events, &q).await.unwrap();
    assert_eq!(
        first,
        want[..97].iter().map(|e| (*e).clone()).collect::<Vec<_>>()
    );

    // Oldest first, one sector, field filters (text column in the row, list, source).
    let mut q = EventQuery::new(Scope::Sectors(vec!["finance".into(), "health".into()]));
    q.sector = Some("health".into());
    q.from = Some(w0);
    q.to = Some(w1);
    q.limit = 50;
    q.fields = vec![
        FieldFilter::parse(Field::EventAction, "deny").unwrap(),
        FieldFilter::parse(Field::EventCategory, "network").unwrap(),
        FieldFilter::parse(Field::NcsocSource, "health-siem").unwrap(),
    ];
    let want = expected(&all, false, |e| {
        in_window(e) && e.sector == "health" && e.fields.action.as_deref() == Some("deny")
    });
    assert!(want.len() > 50);
    assert_eq!(
        ids(&all_pages(&*store, Table::Events, &q).await),
        ids(&want)
    );

    // Address prefix and port fields, IPv6 too; and the `ip` filter with a field.
    let mut q = EventQuery::new(Scope::All);
    q.limit = 1000;
    q.fields = vec![
        FieldFilter::parse(Field::SourceIp, "10.0.16.0/20").unwrap(),
        FieldFilter::parse(Field::DestinationPort, "443").unwrap(),
    ];
    let in_net = |ip: Option<IpAddr>, net: &str, bits: u32| match (ip, net.parse::<IpAddr>()) {
        (Some(IpAddr::V4(a)), Ok(IpAddr::V4(n))) => {
            u32::from(a) >> (32 - bits) == u32::from(n) >> (32 - bits)
        }
        _ => false,
    };
    let want = expected(&all, true, |e| {
        in_net(e.fields.source_ip, "10.0.16.0", 20) && e.fields.destination_port == Some(443)
    });
    assert!(!want.is_empty());
    assert_eq!(ids(&all_pages(&*store, Table::Flows, &q).await), ids(&want));
    let v6 = all
        .iter()
        .find(|e| !e.is_flow() && matches!(e.fields.destination_ip, Some(IpAddr::V6(_))))
        .unwrap();
    let mut q = EventQuery::new(Scope::All);
    q.fields = vec![FieldFilter::parse(
        Field::DestinationIp,
        &format!("{}/128", v6.fields.destination_ip.unwrap()),
    )
    .unwrap()];
    assert_eq!(
        ids(&store.search(Table::Events, &q).await.unwrap()),
        vec![v6.id.clone()]
    );
    // Address searches walk the summary hours in either direction, pages crossing hours.
    let mut want = expected(&all, false, |e| {
        in_net(e.fields.source_ip, "10.0.1.0", 24) && e.fields.outcome.as_deref() == Some("failure")
    });
    assert!(want.len() > 7);
    for order in [Order::OldestFirst, Order::NewestFirst] {
        let mut q = EventQuery::new(Scope::All);
        q.ip = Some(("10.0.1.0".parse().unwrap(), 24));
        q.order = order;
        q.limit = 7;
        q.fields = vec![FieldFilter::parse(Field::EventOutcome, "failure").unwrap()];
        if order == Order::NewestFirst {
            want.reverse();
        }
        assert_eq!(
            ids(&all_pages(&*store, Table::Events, &q).await),
            ids(&want)
        );
    }

    // Free text: each term somewhere in the record's text, regardless of case — in the
    // original line, a text field, or the JSON of the other fields — within the scope.
    let text_of = |e: &Event| {
        let mut t = e.to_json_string().to_lowercase();
        t.push(' ');
        t
    };
    type Keep = fn(&Event) -> bool;
    let cases: [(&str, Keep); 4] = [
        // In event.original only (the syslog header), and a quoted phrase across words.
        ("\"ACME: ACTION=3\"", |e: &Event| {
            e.fields
                .original
                .as_deref()
                .is_some_and(|o| o.contains("acme: action=3"))
        }),
        // Two terms, both required: a host name and a user name.
        ("FW-7 user", |e: &Event| {
            e.fields.host_name.as_deref() == Some("fw-7") && e.fields.user_name.is_some()
        }),
        // A value in the extra fields' JSON.
        ("label-1", |e: &Event| {
            e.extra
                .get("cef.extensions.deviceCustomString1")
                .and_then(|v| v.as_str())
                .is_some_and(|v| v.starts_with("label-1"))
        }),
        ("no-such-text-anywhere", |_: &Event| false),
    ];
    for (text, keep) in &cases {
        let mut q = EventQuery::new(Scope::Sectors(vec!["energy".into(), "health".into()]));
        q.from = Some(w0);
        q.to = Some(w1);
        q.limit = 200;
        q.text = ncsoc_store::search::parse_text_terms(text).unwrap();
        let want = expected(&all, false, |e| {
            in_window(e) && (e.sector == "energy" || e.sector == "health") && keep(e)
        });
        // The generator's text agrees with the stored document's.
        for e in &want {
            for t in &q.text {
                assert!(text_of(e).contains(t.as_str()), "{text}: {}", e.id);
            }
        }
        if *text != "no-such-text-anywhere" {
            assert!(want.len() > 10, "{text}: {}", want.len());
        }
        assert_eq!(
            ids(&all_pages(&*store, Table::Events, &q).await),
            ids(&want),
            "{text}"
        );
        assert_eq!(
            store.count(Table::Events, &q).await.unwrap(),
            want.len() as u64,
            "{text}"
        );
    }

    // Sector isolation: a scope without the row's sector finds nothing by any filter.
    let target = all
        .iter()
        .find(|e| e.sector == "energy" && !e.is_flow())
        .unwrap();
    for sector in [None, Some("energy")] {
        let mut q = EventQuery::new(Scope::Sectors(vec!["finance".into()]));
        q.sector = sector.map(str::to_string);
        q.ip = Some((target.fields.source_ip.unwrap(), 32));
        q.fields = vec![FieldFilter::parse(Field::NcsocSource, "energy-siem").unwrap()];
        assert!(store.search(Table::Events, &q).await.unwrap().is_empty());
        assert_eq!(store.count(Table::Events, &q).await.unwrap(), 0);
        assert!(store
            .top(Table::Events, &q, TopBy::Sector, Metric::Count, 10)
            .await
            .unwrap()
            .is_empty());
        q.from = Some(START);
        q.to = Some(Timestamp(START.nanos() + 3 * 86_400 * 1_000_000_000));
        assert!(store
            .timeseries(Table::Events, &q, 3600)
            .await
            .unwrap()
            .is_empty());
    }
    assert!(store
        .search(Table::Events, &EventQuery::new(Scope::Sectors(vec![])))
        .await
        .unwrap()
        .is_empty());

    // Top talkers: by port (flows, bytes), by source (count) within one sector, by sector.
    let flows = expected(&all, true, |_| true);
    let mut by_port: BTreeMap<String, u64> = BTreeMap::new();
    for e in &flows {
        *by_port
            .entry(e.fields.destination_port.unwrap().to_string())
            .or_default() += e.fields.network_bytes.unwrap_or(0);
    }
    let mut want: Vec<(String, u64)> = by_port.into_iter().collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(3);
    let got = store
        .top(
            Table::Flows,
            &EventQuery::new(Scope::All),
            TopBy::DestinationPort,
            Metric::Bytes,
            3,
        )
        .await
        .unwrap();
    assert_eq!(
        got.iter()
            .map(|t| (t.key.clone(), t.value))
            .collect::<Vec<_>>(),
        want
    );
    let mut q = EventQuery::new(Scope::All);
    q.sector = Some("transport".into());
    let mut by_src: BTreeMap<String, u64> = BTreeMap::new();
    for e in flows.iter().filter(|e| e.sector == "transport") {
        *by_src
            .entry(e.fields.source_ip.unwrap().to_string())
            .or_default() += 1;
    }
    let got = store
        .top(Table::Flows, &q, TopBy::SourceIp, Metric::Count, 1000)
        .await
        .unwrap();
    assert_eq!(got.len(), by_src.len().min(1000));
    for t in &got {
        assert_eq!(by_src.get(&t.key), Some(&t.value), "{}", t.key);
    }
    let got = store
        .top(
            Table::Flows,
            &EventQuery::new(Scope::Sectors(vec!["energy".into(), "health".into()])),
            TopBy::Sector,
            Metric::Packets,
            10,
        )
        .await
        .unwrap();
    let packets = |s: &str| {
        flows
            .iter()
            .filter(|e| e.sector == s)
            .map(|e| e.fields.network_packets.unwrap_or(0))
            .sum::<u64>()
    };
    let mut want = vec![
        ("energy".to_string(), packets("energy")),
        ("health".to_string(), packets("health")),
    ];
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    assert_eq!(
        got.iter()
            .map(|t| (t.key.clone(), t.value))
            .collect::<Vec<_>>(),
        want
    );

    // Time series: hourly per sector over the three days, flows with their sums.
    let mut q = EventQuery::new(Scope::All);
    q.from = Some(START);
    q.to = Some(Timestamp(START.nanos() + 3 * 86_400 * 1_000_000_000));
    let got = store.timeseries(Table::Flows, &q, 3600).await.unwrap();
    let mut want: BTreeMap<(i64, String), (u64, u64, u64)> = BTreeMap::new();
    for e in &flows {
        let b = e.timestamp.nanos() / 3_600_000_000_000 * 3_600_000_000_000;
        let w = want.entry((b, e.sector.clone())).or_default();
        w.0 += 1;
        w.1 += e.fields.network_bytes.unwrap_or(0);
        w.2 += e.fields.network_packets.unwrap_or(0);
    }
    let got_map: BTreeMap<(i64, String), (u64, u64, u64)> = got
        .iter()
        .map(|b| {
            (
                (b.start.nanos(), b.sector.clone()),
                (b.count, b.bytes, b.packets),
            )
        })
        .collect();
    assert_eq!(got_map, want);
    assert!(got
        .windows(2)
        .all(|w| (w[0].start, &w[0].sector) < (w[1].start, &w[1].sector)));
    let mut q = EventQuery::new(Scope::Sectors(vec!["government".into()]));
    q.from = Some(w0);
    q.to = Some(w1);
    q.fields = vec![FieldFilter::parse(Field::EventAction, "login").unwrap()];
    let got = store.timeseries(Table::Events, &q, 60).await.unwrap();
    let total: u64 = got.iter().map(|b| b.count).sum();
    let want = expected(&all, false, |e| {
        in_window(e) && e.sector == "government" && e.fields.action.as_deref() == Some("login")
    });
    assert_eq!(total, want.len() as u64);
    assert!(got.iter().all(|b| b.sector == "government" && b.bytes == 0));
    // Too many buckets, or no range: a bad query, not a failure.
    let mut q = EventQuery::new(Scope::All);
    assert!(matches!(
        store.timeseries(Table::Events, &q, 60).await,
        Err(ncsoc_store::StoreError::BadQuery(_))
    ));
    q.from = Some(START);
    q.to = Some(Timestamp(START.nanos() + 2 * 86_400 * 1_000_000_000));
    assert!(matches!(
        store.timeseries(Table::Events, &q, 60).await,
        Err(ncsoc_store::StoreError::BadQuery(_))
    ));

    // Indicators: filters, pages, deletion.
    let mk = |i: u32, kind: IndicatorKind, source: &str, until: Option<i64>| Indicator {
        id: format!("indicator--{i:03}"),
        kind,
        value: format!("203.0.113.{i}"),
        source: source.into(),
        confidence: None,
        valid_from: Timestamp::from_secs(1_000),
        valid_until: until.map(Timestamp::from_secs),
        tlp: Tlp::Green,
        labels: vec![],
        description: None,
    };
    let inds: Vec<Indicator> = (0..30)
        .map(|i| {
            mk(
                i,
                if i % 3 == 0 {
                    IndicatorKind::Domain
                } else {
                    IndicatorKind::Ipv4
                },
                if i % 2 == 0 { "cert-a" } else { "cert-b" },
                (i % 5 == 0).then_some(2_000),
            )
        })
        .collect();
    store.put_indicators(&inds).await.unwrap();
    let q = IndicatorQuery {
        kind: Some(IndicatorKind::Ipv4),
        source: Some("cert-b".into()),
        active_at: Some(Timestamp::from_secs(5_000)),
        limit: 4,
        ..IndicatorQuery::default()
    };
    let want: Vec<&Indicator> = inds
        .iter()
        .filter(|i| {
            i.kind == IndicatorKind::Ipv4 && i.source == "cert-b" && i.valid_until.is_none()
        })
        .collect();
    let mut got: Vec<Indicator> = Vec::new();
    let mut page_q = q.clone();
    loop {
        let page = store.search_indicators(&page_q).await.unwrap();
        let full = page.len() == page_q.limit;
        page_q.after = page.last().map(|i| i.id.clone());
        got.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(got.iter().collect::<Vec<_>>(), want);
    assert!(store.delete_indicator(&want[0].id).await.unwrap());
    assert!(!store.delete_indicator(&want[0].id).await.unwrap());
    assert!(!store.delete_indicator("indicator--nope").await.unwrap());
    let after = store
        .search_indicators(&IndicatorQuery {
            limit: 100,
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(after.len(), want.len() - 1);
    assert_eq!(store.indicators(100).await.unwrap().len(), 29);
    // Put again: it is back.
    store
        .put_indicators(std::slice::from_ref(want[0]))
        .await
        .unwrap();
    assert_eq!(store.indicators(100).await.unwrap().len(), 30);

    // A retried batch that holds one new record twice (read twice from a bus) and one
    // already stored: each is stored once.
    let fresh = synth::event("dup", 0, START);
    let stored = all[0].clone();
    let all_rows = || async {
        let q = EventQuery::new(Scope::All);
        store.count(Table::Events, &q).await.unwrap() + store.count(Table::Flows, &q).await.unwrap()
    };
    let before = all_rows().await;
    store
        .write_events(&[fresh.clone(), stored, fresh.clone()], WriteMode::Retry)
        .await
        .unwrap();
    let after = all_rows().await;
    assert_eq!(after, before + 1);

    // Node state: kept, replaced, read back; absent keys and bad keys.
    assert_eq!(store.state("kafka/g/0").await.unwrap(), None);
    store.put_state("kafka/g/0", b"first").await.unwrap();
    store.put_state("kafka/g/0", &[0, 255, 7]).await.unwrap();
    assert_eq!(
        store.state("kafka/g/0").await.unwrap(),
        Some(vec![0, 255, 7])
    );
    assert!(store.put_state("", b"x").await.is_err());
    assert!(store.put_state("a\nb", b"x").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_search_and_aggregations() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path(), &StoreConfig::default()).unwrap());
    scenarios(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_search_and_aggregations() {
    let Some(url) = clickhouse_url() else { return };
    let db = format!("ncsoc_t_search_{}", std::process::id());
    let client = clickhouse::Client::default()
        .with_url(&url)
        .with_validation(false);
    let drop_db = || async {
        let _ = client
            .query(&format!("DROP DATABASE IF EXISTS `{db}`"))
            .execute()
            .await;
    };
    drop_db().await;
    let mut cfg = StoreConfig {
        backend: Backend::Clickhouse,
        ..StoreConfig::default()
    };
    cfg.clickhouse.url = url.clone();
    cfg.clickhouse.database = db.clone();
    // `NCSOC_TEST_CLICKHOUSE_CLUSTER`: run against that cluster's replicated layout.
    cfg.clickhouse.cluster = std::env::var("NCSOC_TEST_CLICKHOUSE_CLUSTER").unwrap_or_default();
    let store: Arc<dyn Store> = Arc::new(
        ClickHouseStore::connect(&cfg.clickhouse, cfg.retention_days)
            .await
            .unwrap(),
    );
    scenarios(store).await;
    drop_db().await;
}
