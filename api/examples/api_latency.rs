//! Latency of the analyst API at scale: fills a data directory (the embedded store, or
//! ClickHouse with `control.db` in the directory) with synthetic events and flows
//! (`store/src/synth.rs`) and incidents, then measures real HTTP requests against a
//! running `ncsoc serve`, one request at a time on a kept-alive connection (after up to
//! 20 warm-up requests), and prints p50/p99 per query as Markdown. A slow query stops
//! after a minute of requests (at least 20). `scripts/bench-api.sh` runs the whole thing
//! on both backends.
//!
//! ```sh
//! api_latency fill sqlite DIR ROWS INCIDENTS
//! api_latency fill clickhouse DIR ROWS INCIDENTS http://127.0.0.1:8123 ncsoc_bench
//! api_latency measure LABEL HOST:PORT DIR REQUESTS        # against `ncsoc serve`
//! api_latency store-incidents sqlite DIR REQUESTS         # Store::incidents in-process
//! api_latency store-incidents clickhouse DIR REQUESTS URL DB
//! ```
//!
//! Data: rows one a second-slot over three days from 2025-11-27T00:00Z across five
//! sectors (one in five a flow), so a day holds a third of them; incidents are spread over
//! the same three days, in one or two sectors each. Tokens (an admin, and an analyst of
//! `energy` only) are written to `DIR/bench-tokens.json`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ncsoc_model::{Entity, Evidence, Incident, IncidentKind, Severity, Status, Timestamp};
use ncsoc_store::clickhouse::ClickHouseStore;
use ncsoc_store::config::Backend;
use ncsoc_store::control::Role;
use ncsoc_store::sqlite::SqliteStore;
use ncsoc_store::{synth, ControlStore, IncidentQuery, Scope, Store, StoreConfig, WriteMode};

const START: Timestamp = Timestamp::from_secs(1_764_201_600); // 2025-11-27T00:00:00Z
const DAY: i64 = 86_400;
const NANOS: i64 = 1_000_000_000;
const BATCH: u64 = 50_000;
/// A slow query stops after this long (but not before `MIN_REQUESTS`): the count column
/// says how many requests its percentiles come from.
const BUDGET: Duration = Duration::from_secs(60);
const MIN_REQUESTS: usize = 20;

fn usage() -> ! {
    eprintln!(
        "{}",
        include_str!("api_latency.rs")
            .lines()
            .take(16)
            .collect::<Vec<_>>()
            .join("\n")
    );
    std::process::exit(2)
}

fn arg(args: &[String], i: usize) -> &str {
    args.get(i).map(String::as_str).unwrap_or_else(|| usage())
}

fn num(args: &[String], i: usize) -> u64 {
    arg(args, i).parse().unwrap_or_else(|_| usage())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    match arg(&args, 1) {
        "fill" => fill(&args).await,
        "measure" => measure(&args),
        "store-incidents" => store_incidents(&args).await,
        _ => usage(),
    }
}

async fn open(backend: &str, dir: &Path, url: Option<&str>, db: Option<&str>) -> Arc<dyn Store> {
    let mut cfg = StoreConfig {
        data_dir: dir.to_path_buf(),
        ..StoreConfig::default()
    };
    match backend {
        "sqlite" => Arc::new(SqliteStore::open(dir, &cfg).expect("open sqlite")),
        "clickhouse" => {
            cfg.backend = Backend::Clickhouse;
            cfg.clickhouse.url = url.unwrap_or_else(|| usage()).to_string();
            cfg.clickhouse.database = db.unwrap_or_else(|| usage()).to_string();
            cfg.clickhouse.timeout_secs = 120;
            Arc::new(
                ClickHouseStore::connect(&cfg.clickhouse, 0)
                    .await
                    .expect("connect to ClickHouse"),
            )
        }
        _ => usage(),
    }
}

/// Incident `i` of `total`, spread evenly over the three days.
fn incident(i: u64, total: u64) -> Incident {
    let sectors = synth::SECTORS;
    let s1 = sectors[(i % 5) as usize];
    let mut secs = vec![s1.to_string()];
    if i.is_multiple_of(4) {
        secs.push(sectors[((i + 2) % 5) as usize].to_string());
    }
    let last = Timestamp(START.nanos() + (i as i64 * 3 * DAY / total.max(1) as i64) * NANOS);
    let first = Timestamp(last.nanos() - 600 * NANOS);
    let attacker = format!("203.0.{}.{}", (i / 256) % 256, i % 256);
    Incident {
        id: format!("inc-bench-{i:07}"),
        title: format!("Port scan of {s1} from {attacker}"),
        kind: [
            IncidentKind::PortScan,
            IncidentKind::BruteForce,
            IncidentKind::Ddos,
        ][(i % 3) as usize],
        severity: [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ][(i % 4) as usize],
        score: (i % 100) as u8,
        status: [
            Status::New,
            Status::Acknowledged,
            Status::InProgress,
            Status::Resolved,
            Status::Closed,
        ][(i % 5) as usize],
        sectors: secs,
        entities: vec![Entity {
            kind: "ip".into(),
            value: attacker,
            role: "attacker".into(),
        }],
        first_seen: first,
        last_seen: last,
        evidence: vec![Evidence {
            at: last,
            sector: s1.to_string(),
            signal: "nbad.port_scan".into(),
            description: "distinct destination ports from one source".into(),
            observed: Some(400.0 + (i % 50) as f64),
            baseline: Some(3.0),
            threshold: Some(50.0),
            window_secs: Some(60),
            ..Default::default()
        }],
        attack: vec!["T1046".into()],
        assignee: None,
        notes: Vec::new(),
        tags: Vec::new(),
        dedup_key: format!("bench:{i}"),
        signal_count: 1,
        updated_at: last,
        merged_into: None,
        merged_from: Vec::new(),
        merged_signal_count: 0,
    }
}

async fn fill(args: &[String]) {
    let backend = arg(args, 2);
    let dir = Path::new(arg(args, 3));
    let rows = num(args, 4);
    let incidents = num(args, 5);
    let (url, db) = (
        args.get(6).map(String::as_str),
        args.get(7).map(String::as_str),
    );
    std::fs::create_dir_all(dir).expect("create the data directory");
    let store = open(backend, dir, url, db).await;

    let t = Instant::now();
    // A generator thread keeps the next batch ready while the store writes this one.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<ncsoc_model::Event>>(2);
    let producer = std::thread::spawn(move || {
        let mut i = 0;
        while i < rows {
            let end = (i + BATCH).min(rows);
            let batch = (i..end).map(|k| synth::event("bench", k, START)).collect();
            if tx.blocking_send(batch).is_err() {
                return;
            }
            i = end;
        }
    });
    let mut written = 0u64;
    while let Some(batch) = rx.recv().await {
        store
            .write_events(&batch, WriteMode::Fresh)
            .await
            .expect("write events");
        written += batch.len() as u64;
        if written % 1_000_000 < BATCH {
            eprintln!(
                "{written} rows in {:.0} s ({:.0} rows/s)",
                t.elapsed().as_secs_f64(),
                written as f64 / t.elapsed().as_secs_f64()
            );
        }
    }
    producer.join().expect("generator");
    eprintln!("{written} rows in {:.0} s", t.elapsed().as_secs_f64());

    let t = Instant::now();
    if backend == "clickhouse" {
        // One insert per incident would make one part each: send them in bulk, as rows of
        // the `incidents` table (what `put_incident` writes one at a time).
        let (url, db) = (url.unwrap(), db.unwrap());
        let mut body = String::new();
        for i in 0..incidents {
            let inc = incident(i, incidents);
            let row = serde_json::json!({
                "id": inc.id, "updated_at": inc.updated_at.nanos(), "first_seen": inc.first_seen.nanos(),
                "last_seen": inc.last_seen.nanos(), "status": inc.status.as_str(),
                "severity": inc.severity.as_str(), "kind": inc.kind.as_str(), "score": inc.score,
                "sectors": inc.sectors, "doc": serde_json::to_string(&inc).unwrap(),
                "severity_rank": ncsoc_store::severity_rank(inc.severity),
                "entity_values": inc.entities.iter().map(|e| e.value.as_str()).collect::<Vec<_>>(),
                "search": ncsoc_store::incident_search_text(&inc),
            });
            body.push_str(&row.to_string());
            body.push('\n');
            if (i + 1) % 20_000 == 0 || i + 1 == incidents {
                clickhouse_post(
                    url,
                    &format!("INSERT INTO {db}.incidents FORMAT JSONEachRow"),
                    &body,
                );
                body.clear();
            }
        }
        for t in ["events", "flows", "incidents"] {
            clickhouse_post(url, &format!("OPTIMIZE TABLE {db}.{t} FINAL"), "");
        }
    } else {
        for i in 0..incidents {
            store
                .put_incident(&incident(i, incidents))
                .await
                .expect("put incident");
        }
    }
    eprintln!(
        "{incidents} incidents in {:.0} s",
        t.elapsed().as_secs_f64()
    );

    let control = ControlStore::open(dir).expect("control store");
    let (_, admin) = control
        .create_token("bench-admin", Role::Admin, &[], None)
        .unwrap();
    let (_, analyst) = control
        .create_token("bench-analyst", Role::Analyst, &["energy".into()], None)
        .unwrap();
    std::fs::write(
        dir.join("bench-tokens.json"),
        serde_json::json!({"admin": admin, "analyst": analyst}).to_string(),
    )
    .expect("write the tokens");
}

/// A POST to ClickHouse's HTTP interface (`query` in the URL, `body` as data).
fn clickhouse_post(url: &str, query: &str, body: &str) {
    let hostport = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = TcpStream::connect(&hostport).expect("connect to ClickHouse");
    let q: String = query
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    write!(
        s,
        "POST /?query={q} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "ClickHouse refused `{query}`: {resp}"
    );
}

/// HTTP/1.1 requests over one kept-alive connection.
struct Conn {
    reader: BufReader<TcpStream>,
    addr: String,
}

impl Conn {
    fn open(addr: &str) -> Self {
        let s = TcpStream::connect(addr).expect("connect to ncsoc serve");
        s.set_nodelay(true).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        Self {
            reader: BufReader::new(s),
            addr: addr.to_string(),
        }
    }

    /// (status, body bytes).
    fn get(&mut self, path: &str, token: &str) -> (u16, Vec<u8>) {
        write!(
            self.reader.get_mut(),
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
                assert!(
                    !(k.eq_ignore_ascii_case("transfer-encoding")),
                    "chunked answers are not expected here"
                );
            }
        }
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        (status, body)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(label: &str, name: &str, mut lat: Vec<Duration>, note: &str) {
    lat.sort();
    println!(
        "| {label} | {name} | {} | {:.1} | {:.1} | {:.1} | {note} |",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
    );
}

fn rfc(t: i64) -> String {
    Timestamp(t).to_rfc3339()
}

fn measure(args: &[String]) {
    let label = arg(args, 2);
    let addr = arg(args, 3);
    let dir = Path::new(arg(args, 4));
    let n = num(args, 5) as usize;
    let tokens: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.join("bench-tokens.json")).expect("bench-tokens.json from `fill`"),
    )
    .unwrap();
    let admin = tokens["admin"].as_str().unwrap().to_string();
    let analyst = tokens["analyst"].as_str().unwrap().to_string();
    let end = START.nanos() + 3 * DAY * NANOS;
    // Request k ends its window a little earlier than request k-1, so no two are alike.
    let to = move |k: usize| end - (k as i64 * 37) * NANOS;
    type Query = Box<dyn Fn(usize) -> String>;
    let queries: Vec<(&str, &str, Query)> = vec![
        (
            "incidents: newest 100",
            "admin",
            Box::new(|_| "/api/v1/incidents?limit=100".into()),
        ),
        (
            "incidents: newest 100, one-sector analyst",
            "analyst",
            Box::new(|_| "/api/v1/incidents?limit=100".into()),
        ),
        (
            "incidents: status=new, severity ≥ high",
            "admin",
            Box::new(|_| "/api/v1/incidents?status=new&severity=high&limit=100".into()),
        ),
        (
            "incidents: by entity (an attacker address)",
            "admin",
            Box::new(|k| {
                let i = (k * 197) % 100_000;
                format!(
                    "/api/v1/incidents?entity=203.0.{}.{}&limit=100",
                    (i / 256) % 256,
                    i % 256
                )
            }),
        ),
        (
            "incidents: text q (title words and an address prefix)",
            "analyst",
            Box::new(|k| format!("/api/v1/incidents?q=from%20203.0.{}.&limit=100", k % 256)),
        ),
        (
            "incidents: one incident with its related events and flows",
            "admin",
            Box::new(|k| format!("/api/v1/incidents/inc-bench-{:07}", (k * 197) % 100_000)),
        ),
        (
            "events: newest 100 of the last 24 h",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/events?from={}&to={}&limit=100",
                    rfc(to(k) - DAY * NANOS),
                    rfc(to(k))
                )
            }),
        ),
        (
            "events: newest 100 of 24 h, one-sector analyst",
            "analyst",
            Box::new(move |k| {
                format!(
                    "/api/v1/events?from={}&to={}&limit=100",
                    rfc(to(k) - DAY * NANOS),
                    rfc(to(k))
                )
            }),
        ),
        (
            "events: one address (ip=a.b.c.d) in 24 h",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/events?from={}&to={}&ip=10.0.{}.{}&limit=100",
                    rfc(to(k) - DAY * NANOS),
                    rfc(to(k)),
                    (k * 7) % 256,
                    (k * 13) % 256
                )
            }),
        ),
        (
            "events: field event.action=deny in 1 h",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/events?from={}&to={}&event.action=deny&limit=100",
                    rfc(to(k) - 3_600 * NANOS),
                    rfc(to(k))
                )
            }),
        ),
        (
            "events: rare field user.name=userN in 1 h",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/events?from={}&to={}&user.name=user{}&limit=100",
                    rfc(to(k) - 3_600 * NANOS),
                    rfc(to(k)),
                    (k * 13) % 1000
                )
            }),
        ),
        (
            "events: free text q=<word> <host> in 1 h",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/events?from={}&to={}&q=acme%20fw-{}%20&limit=100",
                    rfc(to(k) - 3_600 * NANOS),
                    rfc(to(k)),
                    (k * 7) % 50
                )
            }),
        ),
        (
            "events: time series, 24 h in 1 h buckets",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/events/timeseries?from={}&to={}&bucket=1h",
                    rfc(to(k) - DAY * NANOS),
                    rfc(to(k))
                )
            }),
        ),
        (
            "flows: time series with byte sums, 24 h in 1 h buckets",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/flows/timeseries?from={}&to={}&bucket=1h",
                    rfc(to(k) - DAY * NANOS),
                    rfc(to(k))
                )
            }),
        ),
        (
            "flows: top 10 sources by bytes in 1 h",
            "admin",
            Box::new(move |k| {
                format!(
                    "/api/v1/flows/top?from={}&to={}&by=source.ip&metric=bytes",
                    rfc(to(k) - 3_600 * NANOS),
                    rfc(to(k))
                )
            }),
        ),
    ];
    println!("| backend | query | requests | p50 ms | p99 ms | max ms | |");
    println!("|---|---|---:|---:|---:|---:|---|");
    // QUERIES=incidents measures only the queries whose name contains it.
    let only = std::env::var("QUERIES").unwrap_or_default();
    for (name, who, path) in queries.iter().filter(|q| q.0.contains(only.as_str())) {
        let token = if *who == "admin" { &admin } else { &analyst };
        let mut conn = Conn::open(addr);
        let (status, body) = conn.get(&path(0), token);
        if status == 404 {
            println!("| {label} | {name} | – | – | – | – | not served by this build (404) |");
            continue;
        }
        assert_eq!(status, 200, "{name}: {}", String::from_utf8_lossy(&body));
        let items = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v.get("items")
                    .or_else(|| v.get("incidents"))
                    .or_else(|| v.get("buckets"))
                    .and_then(|i| i.as_array().map(Vec::len))
            })
            .unwrap_or(0);
        for k in 1..=(n / 10).min(20) {
            conn.get(&path(k), token);
        }
        let mut lat = Vec::with_capacity(n);
        let started = Instant::now();
        for k in 0..n {
            if k >= MIN_REQUESTS && started.elapsed() > BUDGET {
                break;
            }
            let p = path(k + 1000);
            let t = Instant::now();
            let (status, _) = conn.get(&p, token);
            lat.push(t.elapsed());
            assert_eq!(status, 200, "{name}: {p}");
        }
        report(
            label,
            name,
            lat,
            &format!("{items} items in the first answer"),
        );
    }
}

async fn store_incidents(args: &[String]) {
    let backend = arg(args, 2);
    let dir = Path::new(arg(args, 3));
    let n = num(args, 4) as usize;
    let store = open(
        backend,
        dir,
        args.get(5).map(String::as_str),
        args.get(6).map(String::as_str),
    )
    .await;
    for (name, scope) in [
        ("Store::incidents, newest 100 (in-process)", Scope::All),
        (
            "Store::incidents, newest 100, one sector (in-process)",
            Scope::Sectors(vec!["energy".into()]),
        ),
    ] {
        let mut q = IncidentQuery::new(scope);
        q.limit = 100;
        for _ in 0..n / 10 {
            store.incidents(&q).await.unwrap();
        }
        let mut lat = Vec::with_capacity(n);
        let mut got = 0;
        for _ in 0..n {
            let t = Instant::now();
            got = store.incidents(&q).await.unwrap().len();
            lat.push(t.elapsed());
        }
        report(backend, name, lat, &format!("{got} items"));
    }
}
