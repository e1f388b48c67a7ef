//! The store's behaviour, the same scenarios against both real backends: SQLite in a temp
//! directory, and a real ClickHouse server (`NCSOC_TEST_CLICKHOUSE_URL`, started by
//! `scripts/test.sh`). The crash test starts a private ClickHouse instance through
//! `NCSOC_CLICKHOUSE_SCRIPT` so it can kill and restart it without disturbing other tests.
//!
//! Without those variables the ClickHouse tests are skipped with a message, except under
//! CI (`CI=true`), where a missing server is a failure.

use std::path::Path;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ncsoc_model::{
    DeadLetter, Entity, Incident, IncidentKind, Indicator, IndicatorKind, Severity, Status,
    Timestamp, Tlp,
};
use ncsoc_store::clickhouse::ClickHouseStore;
use ncsoc_store::config::Backend;
use ncsoc_store::sqlite::SqliteStore;
use ncsoc_store::{
    synth, EventQuery, IncidentQuery, Scope, Store, StoreConfig, StoreMetrics, Table, Writer,
};

const START: Timestamp = Timestamp::from_secs(1_764_201_600); // 2025-11-27T00:00:00Z

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig {
        data_dir: dir.to_path_buf(),
        batch_size: 10_000,
        batch_max_delay_ms: 100,
        channel_capacity: 50_000,
        ..StoreConfig::default()
    };
    c.spool.retry_interval_ms = 200;
    c.clickhouse.timeout_secs = 10;
    c.sqlite.busy_timeout_ms = 200;
    c
}

/// The ClickHouse URL of the shared test server, or `None` (skip) outside CI.
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

fn clickhouse_config(dir: &Path, url: &str, db: &str) -> StoreConfig {
    let mut c = config(dir);
    c.backend = Backend::Clickhouse;
    c.clickhouse.url = url.to_string();
    c.clickhouse.database = db.to_string();
    // `NCSOC_TEST_CLICKHOUSE_CLUSTER`: the shared server's cluster, for its replicated layout.
    if std::env::var("NCSOC_TEST_CLICKHOUSE_URL").is_ok_and(|u| u == url) {
        c.clickhouse.cluster = std::env::var("NCSOC_TEST_CLICKHOUSE_CLUSTER").unwrap_or_default();
    }
    c
}

async fn drop_database(url: &str, db: &str) {
    let client = clickhouse::Client::default()
        .with_url(url)
        .with_validation(false);
    let _ = client
        .query(&format!("DROP DATABASE IF EXISTS `{db}`"))
        .execute()
        .await;
}

fn db_name(test: &str) -> String {
    format!("ncsoc_t_{test}_{}", std::process::id())
}

async fn send_range(writer: &ncsoc_store::WriterHandle, tag: &str, range: std::ops::Range<u64>) {
    for i in range {
        writer
            .write(synth::event(tag, i, START))
            .await
            .expect("writer open");
    }
}

async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A million rows: exact counts, filters, sample rows, scope isolation, the other tables.

async fn million_rows(store: Arc<dyn Store>, cfg: &StoreConfig) {
    const N: u64 = 1_000_000;
    let tag = "m";
    let metrics = Arc::new(StoreMetrics::new(store.name()));
    let writer = Writer::start(store.clone(), cfg, metrics.clone()).unwrap();
    let h = writer.handle();
    send_range(&h, tag, 0..N).await;
    drop(h);
    writer.shutdown().await;
    assert_eq!(
        metrics.batches_spooled.load(Relaxed),
        0,
        "no batch should have needed the spool"
    );

    let flows = (0..N).filter(|&i| synth::is_flow(i)).count() as u64;
    let all = EventQuery::new(Scope::All);
    assert_eq!(store.count(Table::Events, &all).await.unwrap(), N - flows);
    assert_eq!(store.count(Table::Flows, &all).await.unwrap(), flows);

    // Per sector, and a sector-limited scope sees exactly its own rows.
    for s in synth::SECTORS {
        let expected = (0..N)
            .filter(|&i| synth::sector(i) == *s && !synth::is_flow(i))
            .count() as u64;
        let q = EventQuery::new(Scope::Sectors(vec![s.to_string()]));
        assert_eq!(
            store.count(Table::Events, &q).await.unwrap(),
            expected,
            "sector {s}"
        );
    }
    assert_eq!(
        store
            .count(Table::Events, &EventQuery::new(Scope::Sectors(vec![])))
            .await
            .unwrap(),
        0
    );

    // Address, port and time filters against counts computed from the generator.
    let mut q = EventQuery::new(Scope::Sectors(vec!["finance".into(), "health".into()]));
    q.ip = Some(("10.0.1.0".parse().unwrap(), 24));
    q.port = Some(80);
    q.from = Some(Timestamp(START.nanos() + 3_600 * 1_000_000_000));
    q.to = Some(Timestamp(START.nanos() + 2 * 86_400 * 1_000_000_000));
    let expected = (0..N)
        .map(|i| synth::event(tag, i, START))
        .filter(|e| {
            !e.is_flow()
                && ["finance", "health"].contains(&e.sector.as_str())
                && matches!(e.fields.source_ip, Some(std::net::IpAddr::V4(v)) if v.octets()[..3] == [10, 0, 1])
                && (e.fields.destination_port == Some(80) || e.fields.source_port == Some(80))
                && e.timestamp >= q.from.unwrap()
                && e.timestamp < q.to.unwrap()
        })
        .count() as u64;
    assert!(expected > 0);
    assert_eq!(store.count(Table::Events, &q).await.unwrap(), expected);

    // One IPv6 destination, no time bounds: exactly its row, found through the address
    // summaries over the whole stored range.
    let i = (0..N)
        .rev()
        .find(|&i| i % 7 == 0 && !synth::is_flow(i))
        .unwrap();
    let target = synth::event(tag, i, START);
    let mut q = EventQuery::new(Scope::All);
    q.ip = Some((target.fields.destination_ip.unwrap(), 128));
    assert_eq!(
        store.search(Table::Events, &q).await.unwrap(),
        vec![target.clone()]
    );
    assert_eq!(store.count(Table::Flows, &q).await.unwrap(), 0);
    // ... and not from a scope without its sector.
    q.scope = Scope::Sectors(vec!["nowhere".into()]);
    assert_eq!(store.count(Table::Events, &q).await.unwrap(), 0);

    // Sample rows read back exactly as written, flows and events alike.
    let sample: Vec<u64> = (0..N).step_by(9_973).collect();
    let wanted: Vec<_> = sample
        .iter()
        .map(|&i| synth::event(tag, i, START))
        .collect();
    let mut q = EventQuery::new(Scope::All);
    q.ids = wanted.iter().map(|e| e.id.clone()).collect();
    let mut got = store.search(Table::Events, &q).await.unwrap();
    got.extend(store.search(Table::Flows, &q).await.unwrap());
    assert_eq!(got.len(), wanted.len());
    for w in &wanted {
        let g = got
            .iter()
            .find(|g| g.id == w.id)
            .unwrap_or_else(|| panic!("row {} missing", w.id));
        assert_eq!(g, w);
    }
    // A scope that excludes a row's sector cannot read it by id either.
    let w = &wanted[1];
    let other: Vec<String> = synth::SECTORS
        .iter()
        .filter(|s| **s != w.sector)
        .map(|s| s.to_string())
        .collect();
    let mut q = EventQuery::new(Scope::Sectors(other));
    q.ids = vec![w.id.clone()];
    assert!(store.search(Table::Events, &q).await.unwrap().is_empty());
    assert!(store.search(Table::Flows, &q).await.unwrap().is_empty());

    let on_disk = store.disk_bytes(Table::Events).await.unwrap();
    eprintln!(
        "{}: {} bytes on disk for {} events ({:.1} B/row)",
        store.name(),
        on_disk,
        N - flows,
        on_disk as f64 / (N - flows) as f64
    );
}

async fn other_tables(store: Arc<dyn Store>) {
    // Dead letters keep their raw bytes exactly, whatever they are.
    let letters: Vec<DeadLetter> = (0..1_000u32)
        .map(|i| DeadLetter {
            id: format!("dl{i}"),
            received: Timestamp(START.nanos() + i64::from(i)),
            sector: synth::sector(u64::from(i)).into(),
            source: "test".into(),
            format: "syslog".into(),
            reason: format!("invalid PRI at byte {}", i % 5),
            raw: vec![b'<', 0, 0xff, (i % 256) as u8, b'\n', b'\\'],
        })
        .collect();
    store
        .write_dead_letters(&letters, ncsoc_store::WriteMode::Fresh)
        .await
        .unwrap();
    store
        .write_dead_letters(&letters[..10], ncsoc_store::WriteMode::Retry)
        .await
        .unwrap();
    let mut q = EventQuery::new(Scope::All);
    q.limit = 10_000;
    assert_eq!(store.dead_letters(&q).await.unwrap(), letters);
    assert_eq!(store.count(Table::DeadLetters, &q).await.unwrap(), 1_000);

    // Incidents: replace by id, filter by status, isolate by sector.
    let mk = |id: &str, sectors: &[&str], status: Status, t: i64| Incident {
        id: id.into(),
        title: format!("incident {id}"),
        kind: IncidentKind::PortScan,
        severity: Severity::High,
        score: 80,
        status,
        sectors: sectors.iter().map(|s| s.to_string()).collect(),
        entities: vec![Entity {
            kind: "ip".into(),
            value: "203.0.113.9".into(),
            role: "attacker".into(),
        }],
        first_seen: Timestamp::from_secs(t),
        last_seen: Timestamp::from_secs(t + 60),
        evidence: vec![],
        attack: vec!["T1046".into()],
        assignee: None,
        notes: vec![],
        tags: vec![],
        dedup_key: format!("scan:{id}"),
        signal_count: 1,
        updated_at: Timestamp::from_secs(t),
        merged_into: None,
        merged_from: Vec::new(),
        merged_signal_count: 0,
    };
    store
        .put_incident(&mk("i1", &["energy", "finance"], Status::New, 100))
        .await
        .unwrap();
    store
        .put_incident(&mk("i2", &["health"], Status::New, 200))
        .await
        .unwrap();
    let mut i1 = mk("i1", &["energy", "finance"], Status::Acknowledged, 100);
    i1.assignee = Some("analyst1".into());
    i1.updated_at = Timestamp::from_secs(10_000);
    store.put_incident(&i1).await.unwrap();
    let all = store
        .incidents(&IncidentQuery::new(Scope::All))
        .await
        .unwrap();
    assert_eq!(
        all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        ["i2", "i1"]
    );
    assert_eq!(
        store
            .incident("i1", &Scope::All)
            .await
            .unwrap()
            .unwrap()
            .status,
        Status::Acknowledged
    );
    let health = Scope::Sectors(vec!["health".into()]);
    assert!(
        store.incident("i1", &health).await.unwrap().is_none(),
        "health analyst must not see an energy/finance incident"
    );
    assert_eq!(
        store
            .incidents(&IncidentQuery::new(health))
            .await
            .unwrap()
            .len(),
        1
    );
    let mut q = IncidentQuery::new(Scope::Sectors(vec!["finance".into()]));
    q.statuses = vec![Status::New];
    assert!(store.incidents(&q).await.unwrap().is_empty());
    q.statuses = vec![Status::Acknowledged];
    assert_eq!(
        store.incidents(&q).await.unwrap()[0].assignee.as_deref(),
        Some("analyst1")
    );

    let ind = Indicator {
        id: "indicator--1".into(),
        kind: IndicatorKind::Cidr,
        value: "203.0.113.0/24".into(),
        source: "cert-national".into(),
        confidence: Some(80),
        valid_from: Timestamp::from_secs(0),
        valid_until: None,
        tlp: Tlp::Amber,
        labels: vec!["c2".into()],
        description: None,
    };
    store
        .put_indicators(std::slice::from_ref(&ind))
        .await
        .unwrap();
    assert_eq!(store.indicators(10).await.unwrap(), vec![ind]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_million_rows_and_tables() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), &cfg).unwrap());
    million_rows(store.clone(), &cfg).await;
    other_tables(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_million_rows_and_tables() {
    let Some(url) = clickhouse_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = db_name("million");
    drop_database(&url, &db).await;
    let cfg = clickhouse_config(dir.path(), &url, &db);
    let store: Arc<dyn Store> = Arc::new(
        ClickHouseStore::connect(&cfg.clickhouse, cfg.retention_days)
            .await
            .unwrap(),
    );
    million_rows(store.clone(), &cfg).await;
    other_tables(store).await;
    drop_database(&url, &db).await;
}

// ---------------------------------------------------------------------------------------
// Outage mid-stream: writes continue into the spool, and every row lands exactly once.

/// Runs a producer of `n` rows while `outage` is started once some rows are stored and
/// ended once some batches are spooled; then checks every row arrived exactly once.
async fn outage_mid_stream<F, G, Fut1, Fut2>(
    store: Arc<dyn Store>,
    cfg: &StoreConfig,
    n: u64,
    begin: F,
    end: G,
) -> Arc<StoreMetrics>
where
    F: FnOnce() -> Fut1,
    G: FnOnce() -> Fut2,
    Fut1: std::future::Future<Output = ()>,
    Fut2: std::future::Future<Output = ()>,
{
    let metrics = Arc::new(StoreMetrics::new(store.name()));
    let writer = Writer::start(store.clone(), cfg, metrics.clone()).unwrap();
    let h = writer.handle();
    let producer = tokio::spawn(async move {
        // Paced so the outage falls in the middle of the stream.
        for chunk in 0..n / 1_000 {
            send_range(&h, "o", chunk * 1_000..(chunk + 1) * 1_000).await;
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    });
    wait_for(
        "rows stored before the outage",
        Duration::from_secs(60),
        || metrics.rows_written.load(Relaxed) >= n / 5,
    )
    .await;
    begin().await;
    wait_for(
        "batches spooled during the outage",
        Duration::from_secs(60),
        || metrics.batches_spooled.load(Relaxed) >= 3,
    )
    .await;
    end().await;
    producer.await.unwrap();
    writer.shutdown().await;
    assert_eq!(
        metrics.spool_batches.load(Relaxed),
        0,
        "spool should be drained"
    );
    let all = EventQuery::new(Scope::All);
    let flows = (0..n).filter(|&i| synth::is_flow(i)).count() as u64;
    assert_eq!(store.count(Table::Events, &all).await.unwrap(), n - flows);
    assert_eq!(store.count(Table::Flows, &all).await.unwrap(), flows);
    metrics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_locked_database_mid_stream_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), &cfg).unwrap());
    // Another process holding an exclusive lock is SQLite's real outage.
    let locker = Arc::new(std::sync::Mutex::new(
        rusqlite::Connection::open(dir.path().join("ncsoc.db")).unwrap(),
    ));
    let (l1, l2) = (locker.clone(), locker.clone());
    let m = outage_mid_stream(
        store,
        &cfg,
        200_000,
        || async move { l1.lock().unwrap().execute_batch("BEGIN EXCLUSIVE").unwrap() },
        || async move { l2.lock().unwrap().execute_batch("COMMIT").unwrap() },
    )
    .await;
    assert!(m.write_errors.load(Relaxed) >= 1);
    assert!(m.batches_drained.load(Relaxed) >= 3);
}

struct PrivateClickHouse {
    script: String,
    dir: tempfile::TempDir,
    http_port: u16,
}

impl PrivateClickHouse {
    fn run(&self, args: &[&str]) {
        let out = std::process::Command::new("bash")
            .arg(&self.script)
            .args(args)
            .args(["--dir", self.dir.path().to_str().unwrap()])
            .output()
            .expect("run scripts/clickhouse.sh");
        assert!(
            out.status.success(),
            "clickhouse.sh {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start(&self) {
        let http = self.http_port.to_string();
        let tcp = (self.http_port + 1).to_string();
        self.run(&["start", "--http-port", &http, "--tcp-port", &tcp]);
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

impl Drop for PrivateClickHouse {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(&self.script)
            .args(["stop", "--kill", "--dir", self.dir.path().to_str().unwrap()])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_killed_mid_stream_every_row_exactly_once() {
    if clickhouse_url().is_none() {
        return;
    }
    let script = std::env::var("NCSOC_CLICKHOUSE_SCRIPT")
        .expect("NCSOC_CLICKHOUSE_SCRIPT (set by scripts/test.sh) names scripts/clickhouse.sh");
    let ch = Arc::new(PrivateClickHouse {
        script,
        dir: tempfile::tempdir().unwrap(),
        http_port: 18_123,
    });
    ch.start();
    let dir = tempfile::tempdir().unwrap();
    let cfg = clickhouse_config(dir.path(), &ch.url(), "ncsoc_crash");
    let store: Arc<dyn Store> = Arc::new(
        ClickHouseStore::connect(&cfg.clickhouse, cfg.retention_days)
            .await
            .unwrap(),
    );
    let (c1, c2) = (ch.clone(), ch.clone());
    let m = outage_mid_stream(
        store,
        &cfg,
        200_000,
        || async move { c1.run(&["stop", "--kill"]) },
        || async move { c2.start() },
    )
    .await;
    assert!(m.write_errors.load(Relaxed) >= 1);
    // No row twice: every id distinct, in both tables.
    let client = clickhouse::Client::default()
        .with_url(ch.url())
        .with_database("ncsoc_crash")
        .with_validation(false);
    for table in ["events", "flows"] {
        let (rows, ids): (u64, u64) = client
            .query(&format!("SELECT count(), uniqExact(id) FROM {table}"))
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(rows, ids, "{table}: {rows} rows but {ids} distinct ids");
    }
}

// ---------------------------------------------------------------------------------------
// An acknowledged write resolves only once its rows are durable.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_are_durable_when_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.batch_max_delay_ms = 300;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), &cfg).unwrap());
    let metrics = Arc::new(StoreMetrics::new(store.name()));
    let writer = Writer::start(store.clone(), &cfg, metrics.clone()).unwrap();
    let h = writer.handle();
    let all = EventQuery::new(Scope::All);
    for round in 0..3u64 {
        let events: Vec<_> = (round * 100..(round + 1) * 100)
            .map(|i| synth::event("a", i, START))
            .collect();
        h.write_acked(events).await.unwrap();
        // No flush, no sleep: the acknowledgement itself means the rows are stored.
        let stored = store.count(Table::Events, &all).await.unwrap()
            + store.count(Table::Flows, &all).await.unwrap();
        assert_eq!(stored, (round + 1) * 100);
    }
    drop(h);
    writer.shutdown().await;
}

// ---------------------------------------------------------------------------------------
// A full spool pushes back on intake instead of dropping or growing without bound.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_spool_pushes_back_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.spool.max_bytes = 1 << 20; // about 2,000 synthetic rows
    cfg.batch_size = 500;
    cfg.channel_capacity = 1_000;
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path(), &cfg).unwrap());
    let locker = rusqlite::Connection::open(dir.path().join("ncsoc.db")).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let metrics = Arc::new(StoreMetrics::new(store.name()));
    let writer = Writer::start(store.clone(), &cfg, metrics.clone()).unwrap();
    let h = writer.handle();
    const N: u64 = 20_000;
    let producer = tokio::spawn(async move { send_range(&h, "p", 0..N).await });
    wait_for(
        "the spool to fill and push back",
        Duration::from_secs(60),
        || metrics.backpressure_waits.load(Relaxed) >= 2,
    )
    .await;
    assert!(
        !producer.is_finished(),
        "the sender must be held back while the spool is full"
    );
    assert!(
        metrics.spool_bytes.load(Relaxed) <= 1 << 20,
        "the spool must stay within its bound"
    );
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);
    producer.await.unwrap();
    writer.shutdown().await;
    let all = EventQuery::new(Scope::All);
    let total = store.count(Table::Events, &all).await.unwrap()
        + store.count(Table::Flows, &all).await.unwrap();
    assert_eq!(total, N);
}

// ---------------------------------------------------------------------------------------
// Restart with a non-empty spool: the next start drains it.

async fn restart_drains_spool(
    down: Arc<dyn Store>,
    up: impl FnOnce() -> Arc<dyn Store>,
    cfg: &StoreConfig,
) {
    const N: u64 = 30_000;
    let m1 = Arc::new(StoreMetrics::new(down.name()));
    let w1 = Writer::start(down, cfg, m1.clone()).unwrap();
    let h = w1.handle();
    send_range(&h, "r", 0..N).await;
    drop(h);
    w1.shutdown().await;
    assert!(
        m1.spool_batches.load(Relaxed) > 0,
        "the first run should have left batches in the spool"
    );
    assert_eq!(m1.rows_written.load(Relaxed), 0);

    let store = up();
    let m2 = Arc::new(StoreMetrics::new(store.name()));
    assert!(m2.spool_batches.load(Relaxed) == 0);
    let w2 = Writer::start(store.clone(), cfg, m2.clone()).unwrap();
    assert!(
        m2.spool_batches.load(Relaxed) > 0,
        "the second run should find the spooled batches"
    );
    wait_for("the spool to drain", Duration::from_secs(60), || {
        m2.spool_batches.load(Relaxed) == 0
    })
    .await;
    w2.shutdown().await;
    let all = EventQuery::new(Scope::All);
    let total = store.count(Table::Events, &all).await.unwrap()
        + store.count(Table::Flows, &all).await.unwrap();
    assert_eq!(total, N);
    let mut q = EventQuery::new(Scope::All);
    q.ids = vec![synth::event("r", 12_345, START).id];
    assert_eq!(
        store.search(Table::Events, &q).await.unwrap(),
        vec![synth::event("r", 12_345, START)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_restart_with_spooled_batches_drains_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let store = Arc::new(SqliteStore::open(dir.path(), &cfg).unwrap());
    let locker = rusqlite::Connection::open(dir.path().join("ncsoc.db")).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let up = {
        let store = store.clone();
        move || {
            locker.execute_batch("COMMIT").unwrap();
            drop(locker);
            store as Arc<dyn Store>
        }
    };
    restart_drains_spool(store.clone(), up, &cfg).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_restart_with_spooled_batches_drains_them() {
    let Some(url) = clickhouse_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let db = db_name("spool");
    drop_database(&url, &db).await;
    // First run: nothing listens on port 1, so every batch is spooled.
    let dead = clickhouse_config(dir.path(), "http://127.0.0.1:1", &db);
    let down: Arc<dyn Store> = Arc::new(
        ClickHouseStore::connect(&dead.clickhouse, 30)
            .await
            .unwrap(),
    );
    let live = clickhouse_config(dir.path(), &url, &db);
    let store: Arc<dyn Store> = Arc::new(
        ClickHouseStore::connect(&live.clickhouse, 30)
            .await
            .unwrap(),
    );
    restart_drains_spool(down, move || store, &live).await;
    drop_database(&url, &db).await;
}
