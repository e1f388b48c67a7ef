//! Sector isolation, tried by every endpoint and every parameter the OpenAPI document
//! lists: an analyst limited to `energy` asks, in every way the API allows, for what
//! belongs to `finance` (its sector name, its addresses and prefixes, its incident ids,
//! its marker text) and never gets it; write operations on finance objects are refused
//! and change nothing; the live stream carries no finance change.
//!
//! The walk is driven by `/api/v1/openapi.json`, so an endpoint added later is tried too.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use common::Server;
use ncsoc_model::{Entity, Event, Evidence, Incident, IncidentKind, Severity, Status, Timestamp};
use ncsoc_store::control::Role;
use ncsoc_store::{ControlStore, Store, WriteMode};
use serde_json::Value;

/// Text only finance's rows carry: it must never reach the energy analyst.
const MARK: &str = "FINSECRET";
const T0: i64 = 1_790_000_000;

/// One HTTP/1.0 exchange (the server closes after answering, so no chunking to undo).
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = Vec::new();
    let _ = s.read_to_end(&mut resp);
    let resp = String::from_utf8_lossy(&resp).into_owned();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn incident(id: &str, sector: &str, ip: &str, title: &str, t: i64) -> Incident {
    let at = Timestamp::from_secs(t);
    Incident {
        id: id.into(),
        title: title.into(),
        kind: IncidentKind::PortScan,
        severity: Severity::High,
        score: 70,
        status: Status::New,
        sectors: vec![sector.into()],
        entities: vec![Entity {
            kind: "ip".into(),
            value: ip.into(),
            role: "attacker".into(),
        }],
        first_seen: at,
        last_seen: at,
        evidence: vec![Evidence {
            at,
            sector: sector.into(),
            signal: "nbad.port_scan".into(),
            description: format!("{title}: distinct destination ports"),
            observed: Some(300.0),
            baseline: Some(2.0),
            threshold: Some(50.0),
            window_secs: Some(60),
            ..Default::default()
        }],
        attack: vec!["T1046".into()],
        assignee: None,
        notes: Vec::new(),
        tags: Vec::new(),
        dedup_key: format!("dedup-{id}"),
        signal_count: 3,
        updated_at: at,
        merged_into: None,
        merged_from: Vec::new(),
        merged_signal_count: 0,
    }
}

fn event(i: u32, sector: &str, net: u8, flow: bool) -> Event {
    let t = Timestamp::from_secs(T0 + i64::from(i));
    let mut e = Event::new(
        format!("{sector}-{i}-{flow}"),
        t,
        sector,
        format!("{sector}-siem"),
    );
    let f = &mut e.fields;
    f.kind = Some("event".into());
    f.category = vec!["network".into()];
    f.action = Some("deny".into());
    f.source_ip = Some(IpAddr::V4(Ipv4Addr::new(10, net, 0, (i % 200) as u8 + 1)));
    f.destination_ip = Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, net)));
    f.source_port = Some(40_000 + i as u16);
    f.destination_port = Some(443);
    f.network_transport = Some("tcp".into());
    f.user_name = Some(format!("{sector}-user"));
    if sector == "finance" {
        f.original = Some(format!("{MARK} finance firewall line {i}"));
        f.host_name = Some(format!("{MARK}-host"));
    } else {
        f.original = Some(format!("energy firewall line {i}"));
    }
    if flow {
        f.network_bytes = Some(1000);
        f.network_packets = Some(10);
        e.flow = Some(Box::default());
    }
    e
}

async fn seed(data: &std::path::Path) {
    let cfg = ncsoc_store::StoreConfig {
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    let store = ncsoc_store::sqlite::SqliteStore::open(data, &cfg).unwrap();
    let mut events = Vec::new();
    for i in 0..40 {
        events.push(event(i, "energy", 1, i % 2 == 0));
        events.push(event(i, "finance", 2, i % 2 == 0));
    }
    store.write_events(&events, WriteMode::Fresh).await.unwrap();
    for i in 0..3 {
        store
            .put_incident(&incident(
                &format!("inc-energy-{i}"),
                "energy",
                &format!("10.1.0.{}", i + 1),
                "Port scan of energy",
                T0 + i64::from(i) * 60,
            ))
            .await
            .unwrap();
        store
            .put_incident(&incident(
                &format!("inc-finance-{i}"),
                "finance",
                &format!("10.2.0.{}", i + 1),
                &format!("{MARK} port scan of finance"),
                T0 + i64::from(i) * 60,
            ))
            .await
            .unwrap();
    }
}

/// Values that aim a parameter at finance's data.
fn hostile_values(name: &str) -> Vec<String> {
    let n = name.to_ascii_lowercase();
    let mut v = vec!["finance".to_string()];
    if n.contains("ip") || n.contains("entity") || n.contains("addr") || n.contains("cidr") {
        v = vec!["10.2.0.1".into(), "10.2.0.0/16".into(), "10.0.0.0/8".into()];
    } else if n == "q" || n.contains("text") || n.contains("search") {
        v = vec![MARK.into(), "finance".into()];
    } else if n.contains("from") || n.ends_with("since") {
        v = vec!["2020-01-01T00:00:00Z".into()];
    } else if n.contains("to") && n.len() <= 6 || n.contains("until") {
        v = vec!["2030-01-01T00:00:00Z".into()];
    } else if n.contains("port") {
        v = vec!["443".into()];
    } else if n.contains("limit") {
        v = vec!["500".into()];
    } else if n.contains("user") {
        v = vec!["finance-user".into()];
    } else if n.contains("host") {
        v = vec![format!("{MARK}-host")];
    }
    v
}

fn path_value(name: &str) -> String {
    match name {
        "sector" => "finance".into(),
        _ => "inc-finance-0".into(),
    }
}

fn leaks(body: &str) -> Option<&'static str> {
    [MARK, "10.2.0.", "inc-finance", "\"finance\""]
        .into_iter()
        .find(|m| body.contains(m))
}

fn fill_path(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').unwrap() + open;
        out.push_str(&path_value(&rest[open + 1..close]));
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn enc(v: &str) -> String {
    v.replace('%', "%25")
        .replace('/', "%2F")
        .replace(':', "%3A")
        .replace('+', "%2B")
        .replace(' ', "%20")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_energy_analyst_never_sees_or_changes_finance() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(&data).await;
    let control = ControlStore::open(&data).unwrap();
    let (_, energy) = control
        .create_token("energy-analyst", Role::Analyst, &["energy".into()], None)
        .unwrap();
    let (_, admin) = control
        .create_token("admin", Role::Admin, &[], None)
        .unwrap();
    drop(control);
    let server = Server::start(
        &data,
        &[("NCSOC_API__SECURITY__RATE_LIMIT_PER_SECOND", "0")],
    );
    let addr = server.addr;

    // The energy analyst sees energy (the walk below is not vacuous).
    let (st, body) = call(addr, "GET", "/api/v1/incidents/inc-energy-0", &energy, None);
    assert_eq!(st, 200, "{body}");
    // A change in finance, made by an admin, that the stream must not carry to energy.
    let (st, body) = call(
        addr,
        "POST",
        "/api/v1/incidents/inc-finance-1/notes",
        &admin,
        Some(&format!(r#"{{"text":"{MARK} note"}}"#)),
    );
    assert!(st < 300, "admin note on finance: {st} {body}");
    let before: Vec<String> = (0..3)
        .map(|i| {
            call(
                addr,
                "GET",
                &format!("/api/v1/incidents/inc-finance-{i}"),
                &admin,
                None,
            )
            .1
        })
        .collect();

    let (_, doc) = call(addr, "GET", "/api/v1/openapi.json", &energy, None);
    let doc: Value = serde_json::from_str(&doc).unwrap();
    let mut tried = 0;
    let mut saw_energy = 0;
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if path.ends_with("/stream") || path.contains("openapi") || path.contains("docs") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_ascii_uppercase();
            if !["GET", "POST", "PATCH", "PUT", "DELETE"].contains(&method.as_str()) {
                continue;
            }
            let target = format!("/api/v1{}", fill_path(path));
            let params: Vec<String> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let mut queries = vec![String::new()];
            for p in &params {
                for v in hostile_values(p) {
                    queries.push(format!("{p}={}", enc(&v)));
                }
            }
            let all: Vec<String> = params
                .iter()
                .map(|p| format!("{p}={}", enc(&hostile_values(p)[0])))
                .collect();
            queries.push(all.join("&"));
            let bodies: &[&str] = match method.as_str() {
                "GET" | "DELETE" => &[""],
                _ => &[
                    r#"{"status":"acknowledged"}"#,
                    r#"{"text":"energy note"}"#,
                    r#"{"into":"inc-finance-2"}"#,
                    r#"{"assignee":"mallory","tags":["x"]}"#,
                ],
            };
            for q in &queries {
                let url = if q.is_empty() {
                    target.clone()
                } else {
                    format!("{target}?{q}")
                };
                for b in bodies {
                    tried += 1;
                    let body = (!b.is_empty()).then_some(*b);
                    let (st, resp) = call(addr, &method, &url, &energy, body);
                    if st >= 500 || st == 0 {
                        failures.push(format!("{method} {url} -> {st}: {resp}"));
                    } else if (200..300).contains(&st) {
                        if resp.contains("inc-energy") || resp.contains("10.1.0.") {
                            saw_energy += 1;
                        }
                        if method != "GET" && path.contains('{') {
                            failures.push(format!(
                                "{method} {url} on a finance object succeeded: {st} {resp}"
                            ));
                        } else if let Some(m) = leaks(&resp) {
                            failures.push(format!(
                                "{method} {url} leaked {m:?}: {}",
                                &resp[..resp.len().min(300)]
                            ));
                        }
                    }
                }
            }
        }
    }
    // The same incidents, whatever the energy analyst tried.
    let after: Vec<String> = (0..3)
        .map(|i| {
            call(
                addr,
                "GET",
                &format!("/api/v1/incidents/inc-finance-{i}"),
                &admin,
                None,
            )
            .1
        })
        .collect();
    assert_eq!(before, after, "finance incidents changed");
    assert!(
        failures.is_empty(),
        "{} of {tried} requests broke isolation:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        tried > 50,
        "only {tried} requests tried: is the document complete?"
    );
    // The same walk does reach the analyst's own sector: the refusals above are not
    // because nothing answers at all.
    assert!(
        saw_energy >= 3,
        "only {saw_energy} answers carried energy data"
    );
    eprintln!("{tried} requests, {saw_energy} answers with energy data, none with finance");

    // The stream from the very beginning: energy changes may appear, finance ones never.
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    write!(
        s,
        "GET /api/v1/stream HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {energy}\r\nLast-Event-ID: 0\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(leaks(&got).is_none(), "the stream leaked finance: {got}");
}
