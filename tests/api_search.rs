//! Event and flow search, charts, sectors and indicators over real HTTP against the real
//! `ncsoc serve`: Suricata EVE events and flows from two sectors arrive through the HEC
//! intake (NDJSON), then admins and sector-limited analysts query them. An analyst limited
//! to one sector must never see the other's rows by any endpoint or parameter.

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{free_port, Server};
use ncsoc_model::Timestamp;
use ncsoc_store::control::{AuditQuery, Role};
use ncsoc_store::ControlStore;
use serde_json::{json, Value};

/// One HTTP/1.1 request with an optional bearer token; returns (status, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&[u8]>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    if let Some(b) = body {
        s.write_all(b).unwrap();
    }
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        common::dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

/// An analyst API client for one token.
struct Client {
    addr: SocketAddr,
    auth: String,
}

impl Client {
    fn get(&self, path: &str) -> (u16, Value) {
        let (status, body) = request(
            self.addr,
            "GET",
            &format!("/api/v1{path}"),
            Some(&self.auth),
            None,
        );
        let v = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: {status} {body:?}: {e}"));
        (status, v)
    }

    /// A 200 answer's JSON.
    fn ok(&self, path: &str) -> Value {
        let (status, v) = self.get(path);
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }

    /// Every item of a search, following `next_cursor`.
    fn all_pages(&self, path: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let p = match &cursor {
                None => path.to_string(),
                Some(c) => format!("{path}&cursor={c}"),
            };
            let page = self.ok(&p);
            out.extend(page["items"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
            assert!(out.len() < 10_000, "runaway pagination");
        }
        out
    }
}

fn eve_time(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s, n) = t.to_civil();
    format!(
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}+0000",
        n / 1000
    )
}

/// A sector's generated EVE lines and what they should become.
struct Feed {
    lines: Vec<String>,
    events: usize,
    /// (destination port, bytes, packets) per flow record.
    flows: Vec<(u16, u64, u64)>,
}

fn feed(sector: &str, net: u8, start: Timestamp, n_flows: u64, n_alerts: u64, n_dns: u64) -> Feed {
    let at = |i: u64| eve_time(Timestamp(start.nanos() + i as i64 * 1_000_000_000));
    let mut lines = Vec::new();
    let mut flows = Vec::new();
    let base = u64::from(net) * 1_000_000;
    for i in 0..n_flows {
        let (src, dst, port) = if net == 2 && i % 3 == 0 {
            (
                format!("2001:db8:2::{:x}", i + 1),
                "2001:db8:ffff::1".to_string(),
                8443,
            )
        } else if net == 2 {
            (
                format!("10.2.0.{}", i % 20 + 1),
                "198.51.100.9".into(),
                8443,
            )
        } else {
            (
                format!("10.1.0.{}", i % 20 + 1),
                format!("198.51.100.{}", i % 5 + 1),
                [443u16, 502][(i % 2) as usize],
            )
        };
        let (up, down, pu, pd) = (100 * (i + 1), 50, i + 1, 1);
        lines.push(
            json!({"timestamp": at(i), "flow_id": base + i, "event_type": "flow", "src_ip": src,
                   "src_port": 40_000 + i, "dest_ip": dst, "dest_port": port, "proto": "TCP",
                   "flow": {"pkts_toserver": pu, "pkts_toclient": pd, "bytes_toserver": up,
                            "bytes_toclient": down, "start": at(i), "end": at(i), "state": "closed"}})
            .to_string(),
        );
        flows.push((port, up + down, pu + pd));
    }
    let (attacker, victim, vport) = if net == 1 {
        ("203.0.113.5", "10.1.0.7", 502)
    } else {
        ("203.0.113.9", "10.2.0.4", 443)
    };
    for i in 0..n_alerts {
        lines.push(
            json!({"timestamp": at(100 + i), "flow_id": base + 100 + i, "event_type": "alert",
                   "src_ip": attacker, "src_port": 5_555 + i, "dest_ip": victim, "dest_port": vport,
                   "proto": "TCP", "alert": {"signature_id": 2_024_000 + i,
                   "signature": format!("{sector} probe {i}"), "severity": 1}})
            .to_string(),
        );
    }
    for i in 0..n_dns {
        lines.push(
            json!({"timestamp": at(200 + i), "flow_id": base + 200 + i, "event_type": "dns",
                   "src_ip": format!("10.{net}.0.9"), "src_port": 53_000 + i,
                   "dest_ip": format!("10.{net}.0.53"), "dest_port": 53, "proto": "UDP",
                   "dns": {"type": "query", "id": i, "rrname": format!("host{i}.{sector}.example"), "rrtype": "A"}})
            .to_string(),
        );
    }
    Feed {
        lines,
        events: (n_alerts + n_dns) as usize,
        flows,
    }
}

fn post_hec(port: u16, token: &str, lines: &[String]) {
    let body = lines.join("\n");
    let (status, resp) = request(
        SocketAddr::from(([127, 0, 0, 1], port)),
        "POST",
        "/ingest/ndjson",
        Some(&format!("Splunk {token}")),
        Some(body.as_bytes()),
    );
    assert_eq!(status, 200, "{resp}");
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn strings(items: &[Value], key: &str) -> Vec<String> {
    items
        .iter()
        .map(|i| i[key].as_str().unwrap_or_default().to_string())
        .collect()
}

fn total(series: &Value) -> u64 {
    series["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn search_charts_sectors_and_indicators_over_http_with_sector_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let control = ControlStore::open(&data).unwrap();
    let (_, admin) = control
        .create_token("admin", Role::Admin, &[], None)
        .unwrap();
    let (_, energy_analyst) = control
        .create_token("energy-analyst", Role::Analyst, &["energy".into()], None)
        .unwrap();
    drop(control);

    let hec = free_port();
    let (energy_hec, finance_hec) = ("hec-energy-7b1f", "hec-finance-0c2d");
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[intake.hec]
listen = "127.0.0.1:{hec}"

[[intake.hec.tokens]]
name = "energy"
token_sha256 = "{}"
sector = "energy"
source = "energy-ids"

[[intake.hec.tokens]]
name = "finance"
token_sha256 = "{}"
sector = "finance"
source = "finance-ids"
"#,
            ncsoc_store::control::tokens::digest(energy_hec),
            ncsoc_store::control::tokens::digest(finance_hec),
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    let addr = server.addr;
    let admin = Client {
        addr,
        auth: format!("Bearer {admin}"),
    };
    let analyst = Client {
        addr,
        auth: format!("Bearer {energy_analyst}"),
    };

    let start = Timestamp(Timestamp::now().nanos() - 50 * 60 * 1_000_000_000);
    let energy = feed("energy", 1, start, 40, 20, 10);
    let finance = feed("finance", 2, start, 30, 15, 5);
    post_hec(hec, energy_hec, &energy.lines);
    post_hec(hec, finance_hec, &finance.lines);
    let (n_events, n_flows) = (
        energy.events + finance.events,
        energy.flows.len() + finance.flows.len(),
    );
    let from = Timestamp(start.nanos() - 3_600 * 1_000_000_000).to_rfc3339();
    let to = Timestamp(Timestamp::now().nanos() + 600 * 1_000_000_000).to_rfc3339();
    let window = format!("from={from}&to={to}");
    wait_for("every event and flow stored", || {
        total(&admin.ok(&format!("/events/timeseries?{window}&bucket=1h"))) == n_events as u64
            && total(&admin.ok(&format!("/flows/timeseries?{window}&bucket=1h"))) == n_flows as u64
    });

    // Search by time: every event, newest first, in pages, none twice.
    let events = admin.all_pages(&format!("/events?{window}&limit=7"));
    assert_eq!(events.len(), n_events);
    let times = strings(&events, "@timestamp");
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let mut ids = strings(&events, "event.id");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n_events, "no event twice across pages");
    let oldest = admin.all_pages(&format!("/events?{window}&limit=9&order=oldest"));
    assert_eq!(
        strings(&oldest, "event.id")
            .into_iter()
            .rev()
            .collect::<Vec<_>>(),
        strings(&events, "event.id")
    );
    // A narrower window.
    let mid = Timestamp(start.nanos() + 150 * 1_000_000_000).to_rfc3339();
    let early = admin.all_pages(&format!("/events?from={from}&to={mid}&limit=1000"));
    assert_eq!(
        early.len(),
        20 + 15,
        "the alerts precede the DNS events by 100 s"
    );

    // By sector, CIDR (v4 and v6), port, field values.
    let energy_events = admin.all_pages(&format!("/events?{window}&sector=energy&limit=1000"));
    assert_eq!(energy_events.len(), energy.events);
    assert!(strings(&energy_events, "ncsoc.sector")
        .iter()
        .all(|s| s == "energy"));
    let energy_flows = admin.all_pages(&format!("/flows?{window}&ip=10.1.0.0/24&limit=1000"));
    assert_eq!(energy_flows.len(), energy.flows.len());
    let v6 = admin.all_pages(&format!("/flows?{window}&ip=2001:db8:2::/48&limit=1000"));
    assert_eq!(v6.len(), 10);
    assert!(v6.iter().all(|f| f["ncsoc.sector"] == "finance"));
    let modbus = admin.all_pages(&format!("/flows?{window}&port=502&limit=1000"));
    assert_eq!(modbus.len(), 20);
    let alerts = admin.all_pages(&format!(
        "/events?{window}&event.kind=alert&destination.port=502&limit=1000"
    ));
    assert_eq!(alerts.len(), 20);
    assert!(alerts.iter().all(|a| a["source.ip"] == "203.0.113.5"));
    let dns = admin.all_pages(&format!(
        "/events?{window}&dns.question.name=host3.finance.example&limit=1000"
    ));
    assert_eq!(dns.len(), 1);
    assert_eq!(dns[0]["ncsoc.source"], "finance-ids");
    let by_source = admin.all_pages(&format!(
        "/events?{window}&ncsoc.source=finance-ids&source.ip=203.0.113.0/24&limit=1000"
    ));
    assert_eq!(by_source.len(), 15);
    // Free text, regardless of case: a word of the alert signatures; a quoted phrase; two
    // terms that must both appear; a number inside the original EVE line of flows.
    let probes = admin.all_pages(&format!("/events?{window}&q=PROBE&limit=1000"));
    assert_eq!(probes.len(), 35);
    let phrase = admin.all_pages(&format!(
        "/events?{window}&q=%22Finance%20Probe%201%22&limit=1000"
    ));
    let mut sigs = strings(&phrase, "rule.name");
    sigs.sort();
    assert_eq!(
        sigs,
        [
            "finance probe 1",
            "finance probe 10",
            "finance probe 11",
            "finance probe 12",
            "finance probe 13",
            "finance probe 14"
        ]
    );
    let both = admin.all_pages(&format!("/events?{window}&q=probe%20energy&limit=1000"));
    assert_eq!(both.len(), 20);
    assert!(strings(&both, "ncsoc.sector").iter().all(|s| s == "energy"));
    let numbered = admin.all_pages(&format!("/flows?{window}&q=8443&limit=1000"));
    assert_eq!(numbered.len(), 30);
    let none = admin.all_pages(&format!("/events?{window}&q=probe%20nowhere&limit=1000"));
    assert!(none.is_empty());
    let counted = admin.ok(&format!("/events/timeseries?{window}&bucket=5m&q=probe"));
    assert_eq!(total(&counted), 35);

    // Charts: time series counts equal what was ingested, per sector.
    let series = admin.ok(&format!("/flows/timeseries?{window}&bucket=60s"));
    assert_eq!(series["bucket_seconds"], 60);
    let mut per_sector: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for b in series["buckets"].as_array().unwrap() {
        let e = per_sector
            .entry(b["sector"].as_str().unwrap().to_string())
            .or_default();
        e.0 += b["count"].as_u64().unwrap();
        e.1 += b["bytes"].as_u64().unwrap();
    }
    let bytes = |f: &Feed| f.flows.iter().map(|x| x.1).sum::<u64>();
    assert_eq!(per_sector["energy"], (40, bytes(&energy)));
    assert_eq!(per_sector["finance"], (30, bytes(&finance)));
    let ev_series = admin.ok(&format!(
        "/events/timeseries?{window}&bucket=5m&sector=finance"
    ));
    assert_eq!(total(&ev_series), finance.events as u64);
    assert!(
        ev_series["buckets"][0].get("bytes").is_none(),
        "events carry no byte sums"
    );
    // Top talkers: destination ports by bytes over both sectors.
    let mut by_port: BTreeMap<u16, u64> = BTreeMap::new();
    for (port, b, _) in energy.flows.iter().chain(&finance.flows) {
        *by_port.entry(*port).or_default() += b;
    }
    let mut want: Vec<(String, u64)> = by_port.iter().map(|(p, b)| (p.to_string(), *b)).collect();
    want.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top = admin.ok(&format!(
        "/flows/top?{window}&by=destination.port&metric=bytes"
    ));
    let got: Vec<(String, u64)> = top["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().to_string(),
                i["value"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, want);
    let top = admin.ok(&format!("/flows/top?{window}&by=source.ip&limit=3"));
    assert_eq!(top["items"].as_array().unwrap().len(), 3);

    // The energy analyst never sees finance, whatever it asks.
    for path in [
        format!("/events?{window}&sector=finance"),
        format!("/flows?{window}&sector=finance"),
        format!("/events?{window}&ip=10.2.0.0/24"),
        format!("/flows?{window}&ip=10.2.0.0/16"),
        format!("/flows?{window}&ip=2001:db8:2::/48"),
        format!("/events?{window}&source.ip=203.0.113.9"),
        format!("/flows?{window}&port=8443"),
        format!("/events?{window}&ncsoc.source=finance-ids"),
        format!("/events?{window}&dns.question.name=host3.finance.example"),
        format!("/flows?{window}&destination.ip=2001:db8:ffff::1"),
        format!("/events?{window}&q=finance"),
        format!("/flows?{window}&q=8443"),
    ] {
        let page = analyst.ok(&path);
        let leaked = page["items"].as_array().unwrap().len();
        assert_eq!(
            leaked, 0,
            "{path} showed the energy analyst {leaked} finance rows"
        );
    }
    let seen = analyst.all_pages(&format!("/events?{window}&limit=1000"));
    assert_eq!(seen.len(), energy.events);
    assert!(strings(&seen, "ncsoc.sector").iter().all(|s| s == "energy"));
    let seen = analyst.all_pages(&format!("/flows?{window}&ip=0.0.0.0/0&limit=1000"));
    assert_eq!(seen.len(), energy.flows.len());
    for (path, key) in [
        (format!("/flows/top?{window}&by=sector"), "key"),
        (format!("/flows/top?{window}&by=source.ip&limit=100"), "key"),
        (
            format!("/flows/top?{window}&by=destination.port&sector=finance"),
            "key",
        ),
    ] {
        let top = analyst.ok(&path);
        for item in top["items"].as_array().unwrap() {
            let k = item[key].as_str().unwrap();
            assert!(
                k == "energy" || k.starts_with("10.1.0.") || k == "443" || k == "502",
                "{path}: {k}"
            );
            assert!(!path.contains("sector=finance"), "{path}: {item}");
        }
    }
    let top = analyst.ok(&format!("/flows/top?{window}&by=sector&metric=packets"));
    let packets: u64 = energy.flows.iter().map(|x| x.2).sum();
    assert_eq!(top["items"], json!([{"key": "energy", "value": packets}]));
    for table in ["events", "flows"] {
        let s = analyst.ok(&format!("/{table}/timeseries?{window}&bucket=1m"));
        assert!(s["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|b| b["sector"] == "energy"));
        let s = analyst.ok(&format!("/{table}/timeseries?{window}&sector=finance"));
        assert_eq!(s["buckets"], json!([]));
    }
    assert_eq!(
        total(&analyst.ok(&format!("/events/timeseries?{window}"))),
        energy.events as u64
    );

    // Sectors: the detector's published state, scoped.
    wait_for("both sectors published", || {
        admin.ok("/sectors")["items"].as_array().unwrap().len() == 2
    });
    let sectors = admin.ok("/sectors");
    assert!(sectors["as_of"].is_string());
    assert_eq!(
        strings(sectors["items"].as_array().unwrap(), "sector"),
        ["energy", "finance"]
    );
    for s in sectors["items"].as_array().unwrap() {
        assert!(s["watermark"].is_string(), "{s}");
        assert!(s["latest_record"].as_str().unwrap() >= s["watermark"].as_str().unwrap());
    }
    let mine = analyst.ok("/sectors");
    assert_eq!(
        strings(mine["items"].as_array().unwrap(), "sector"),
        ["energy"]
    );
    let (status, _) = analyst.get("/sectors/finance/baseline");
    assert_eq!(status, 404);
    let (status, _) = admin.get("/sectors/nowhere/baseline");
    assert_eq!(status, 404);
    let chart = analyst.ok(&format!("/sectors/energy/baseline?{window}"));
    assert_eq!(chart["profile"]["weekday"].as_array().unwrap().len(), 96);
    assert_eq!(chart["profile"]["bin_seconds"], 60);
    let observed: u64 = chart["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["observed"].as_u64().unwrap())
        .sum();
    assert_eq!(observed, 40);

    // Bad parameters: 400 with the error body, never 500.
    for path in [
        "/events?from=yesterday".to_string(),
        "/events?limit=0".into(),
        "/events?limit=1001".into(),
        "/events?ip=10.0.0.0/33".into(),
        "/flows?ip=not-an-address".into(),
        "/flows?port=70000".into(),
        "/events?destination.port=http".into(),
        "/events?colour=blue".into(),
        "/events?order=sideways".into(),
        "/events?cursor=zz".into(),
        "/events?limit=1&limit=2".into(),
        format!("/events?from={to}&to={from}"),
        "/events?from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z".into(),
        format!("/events?{}", vec!["user.name=x"; 17].join("&")),
        "/events?q=".into(),
        "/events?q=%20%20".into(),
        "/events?q=a%07b".into(),
        format!("/events?q={}", ["w"; 9].join("%20")),
        format!("/flows?q={}", "x".repeat(257)),
        "/flows/top?by=colour".into(),
        "/flows/top?metric=joules".into(),
        "/flows/top?limit=101".into(),
        "/events/timeseries?bucket=1s".into(),
        "/flows/timeseries?bucket=60s&from=2026-01-01T00:00:00Z&to=2026-01-20T00:00:00Z".into(),
        "/events/timeseries?from=1960-01-01T00:00:00Z&to=1960-01-02T00:00:00Z".into(),
        "/indicators?kind=virus".into(),
        "/indicators?limit=x".into(),
        format!("/sectors/energy/baseline?from={from}&to=2099-01-01T00:00:00Z"),
    ] {
        let (status, body) = analyst.get(&path);
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_request", "{path}: {body}");
    }
    let (status, _) = request(addr, "GET", "/api/v1/events", None, None);
    assert_eq!(status, 401);

    // Indicators: admins add and delete (audited), analysts read.
    let inds = json!([
        {"id": "indicator--c2", "kind": "ipv4", "value": "203.0.113.5", "source": "cert-nat",
         "valid_from": "2026-01-01T00:00:00Z", "tlp": "amber", "labels": ["c2"]},
        {"id": "indicator--dom", "kind": "domain", "value": "evil.example", "source": "misp",
         "valid_from": "2026-01-01T00:00:00Z", "valid_until": "2026-02-01T00:00:00Z"},
        {"id": "indicator--net", "kind": "cidr", "value": "198.51.100.0/24", "source": "cert-nat",
         "valid_from": "2026-01-01T00:00:00Z"}
    ])
    .to_string();
    let (status, body) = request(
        addr,
        "POST",
        "/api/v1/indicators",
        Some(&analyst.auth),
        Some(inds.as_bytes()),
    );
    assert_eq!(status, 403, "{body}");
    let (status, body) = request(
        addr,
        "POST",
        "/api/v1/indicators",
        Some(&admin.auth),
        Some(inds.as_bytes()),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["stored"], 3);
    for bad in [
        "{}".to_string(),
        "[]".into(),
        "not json".into(),
        json!([{"id": "x", "kind": "ipv4", "value": "999.1.1.1", "source": "s", "valid_from": "2026-01-01T00:00:00Z"}]).to_string(),
    ] {
        let (status, body) = request(
            addr,
            "POST",
            "/api/v1/indicators",
            Some(&admin.auth),
            Some(bad.as_bytes()),
        );
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let page = analyst.ok("/indicators?source=cert-nat");
    assert_eq!(
        strings(page["items"].as_array().unwrap(), "id"),
        ["indicator--c2", "indicator--net"]
    );
    let page = analyst.ok("/indicators?active_at=2026-03-01T00:00:00Z&limit=1");
    assert_eq!(
        strings(page["items"].as_array().unwrap(), "id"),
        ["indicator--c2"]
    );
    let next = page["next_cursor"].as_str().unwrap().to_string();
    let page = analyst.ok(&format!(
        "/indicators?active_at=2026-03-01T00:00:00Z&limit=1&cursor={next}"
    ));
    assert_eq!(
        strings(page["items"].as_array().unwrap(), "id"),
        ["indicator--net"]
    );
    assert_eq!(page["next_cursor"], Value::Null);
    // Only admins delete; a second delete finds nothing.
    for (who, want) in [(&analyst, 403), (&admin, 204), (&admin, 404)] {
        let path = "/api/v1/indicators/indicator--dom";
        let (status, _) = request(addr, "DELETE", path, Some(&who.auth), None);
        assert_eq!(status, want);
    }
    assert_eq!(analyst.ok("/indicators?kind=domain")["items"], json!([]));
    // The server runs in the project folder: the shipped rules are loaded.
    let rules = analyst.ok("/rules");
    assert!(rules["items"].as_array().unwrap().len() >= 219, "{rules}");
    assert_eq!(rules["invalid"], json!([]));

    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    let control = ControlStore::open(&data).unwrap();
    let audit = control
        .audit(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .unwrap();
    let actions: Vec<(&str, &str, &str)> = audit
        .iter()
        .rev()
        .map(|a| (a.action.as_str(), a.target.as_str(), a.outcome.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("indicators.put", "indicators", "ok"),
            ("indicators.delete", "indicator:indicator--dom", "ok"),
            ("indicators.delete", "indicator:indicator--dom", "not_found"),
        ]
    );
    assert!(audit.iter().all(|a| a.actor == "admin"));
}
