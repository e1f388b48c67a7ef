//! Intake as departments use it: the real `ncsoc serve`, fed by real clients — util-linux
//! `logger` over UDP and TCP (both framings), a rustls client for syslog over TLS, and
//! `curl` for the HEC-compatible HTTP intake — then the stored events read back from the
//! embedded store after a clean stop.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, get, metric, Server};
use ncsoc_store::{EventQuery, Scope, Store, StoreConfig, Table};

const HEC_TOKEN: &str = "3f1e6c52-energy-transport-token";

fn sha256_hex(s: &str) -> String {
    let out = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the sample `prefix` on /metrics reaches `want`; on timeout, shows them all.
fn wait_metric(addr: SocketAddr, what: &str, prefix: &str, want: u64) {
    let start = Instant::now();
    while metric(addr, prefix) != want {
        if start.elapsed() > Duration::from_secs(20) {
            let (_, body) = get(addr, "/metrics").unwrap();
            let intake: Vec<&str> = body
                .lines()
                .filter(|l| l.starts_with("ncsoc_intake"))
                .collect();
            panic!(
                "timed out waiting for {what} ({prefix} = {want}):\n{}",
                intake.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `curl` with the HEC token; returns (status, body).
fn curl(url: &str, args: &[&str], body: &[u8]) -> (u16, String) {
    let mut child = Command::new("curl")
        .args([
            "-sS",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            "--data-binary",
            "@-",
        ])
        .args(args)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip");
    let mut stdin = child.stdin.take().unwrap();
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    out.stdout
}

fn logger(args: &[&str], msg: &str) {
    let ok = Command::new("logger")
        .args(args)
        .arg(msg)
        .status()
        .expect("logger");
    assert!(ok.success(), "logger {args:?} failed");
}

/// Syslog over TLS with rustls, trusting only the test certificate; octet-counted frames.
fn send_tls(addr: SocketAddr, cert: &Path, frames: &[&str]) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = ServerName::IpAddress(addr.ip().into());
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(addr).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    for f in frames {
        write!(tls, "{} {f}", f.len()).unwrap();
    }
    tls.flush().unwrap();
    tls.conn.send_close_notify();
    let _ = tls.flush();
    // Read until the server closes too: closing with its session tickets unread would
    // reset the connection and could discard the frames before the server reads them.
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut tls, &mut rest);
}

async fn stored(dir: &Path) -> Arc<dyn Store> {
    let cfg = StoreConfig {
        data_dir: dir.to_path_buf(),
        ..StoreConfig::default()
    };
    ncsoc_store::open(&cfg).await.unwrap()
}

async fn count(store: &Arc<dyn Store>, table: Table, sector: &str) -> u64 {
    let mut q = EventQuery::new(Scope::All);
    q.sector = Some(sector.into());
    store.count(table, &q).await.unwrap()
}

#[test]
fn syslog_and_hec_from_real_clients_land_in_their_sectors() {
    for tool in ["logger", "curl", "openssl", "gzip", "sha256sum"] {
        if !have(tool) {
            eprintln!("SKIP: `{tool}` is not installed (the README's test set-up installs it)");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (cert, key) = common::make_cert(dir.path());
    let (udp, tcp, tls, fenced, hec) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_max_delay_ms = 50

[[intake.syslog]]
protocol = "udp"
listen = "127.0.0.1:{udp}"
sector = "energy"
source = "energy-siem"

[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:{tcp}"
sector = "finance"
source = "finance-siem"
max_frame_bytes = 1024

[[intake.syslog]]
protocol = "tls"
listen = "127.0.0.1:{tls}"
sector = "health"
source = "health-cert"
tls_cert = "{cert}"
tls_key = "{key}"

[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:{fenced}"
sector = "government"
source = "gov-siem"
allowed_senders = ["192.0.2.0/24"]

[intake.hec]
listen = "127.0.0.1:{hec}"

[[intake.hec.tokens]]
name = "transport"
token_sha256 = "{digest}"
sector = "transport"
source = "transport-siem"
"#,
            cert = cert.display(),
            key = key.display(),
            digest = sha256_hex(HEC_TOKEN),
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    let addr = server.addr;

    // UDP and TCP (non-transparent framing, then octet counting) with util-linux logger.
    let udp_port = udp.to_string();
    let tcp_port = tcp.to_string();
    for i in 0..3 {
        logger(
            &[
                "-n",
                "127.0.0.1",
                "-P",
                &udp_port,
                "-d",
                "--rfc5424",
                "-t",
                "scada",
            ],
            &format!("udp breaker trip {i}"),
        );
    }
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &tcp_port,
            "-T",
            "--rfc3164",
            "-t",
            "core-banking",
        ],
        "tcp newline-framed login failure",
    );
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &tcp_port,
            "-T",
            "--octet-count",
            "--rfc5424",
            "-t",
            "core-banking",
        ],
        "tcp octet-counted login failure",
    );
    // One frame over the TCP listener's 1 KiB limit: cut, counted, dead-lettered.
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &tcp_port,
            "-T",
            "--octet-count",
            "--size",
            "4096",
            "-t",
            "x",
        ],
        &"A".repeat(2000),
    );
    // A CEF line forwarded over syslog TCP.
    logger(
        &[
            "-n",
            "127.0.0.1",
            "-P",
            &tcp_port,
            "-T",
            "--rfc3164",
            "-t",
            "fw",
        ],
        "CEF:0|Acme|Firewall|1.0|100|Blocked|5|src=192.0.2.7 dst=10.0.0.1 dpt=445",
    );
    // TLS with octet-counted RFC 5424 frames.
    send_tls(
        SocketAddr::from(([127, 0, 0, 1], tls)),
        &cert,
        &[
            "<38>1 2026-11-27T04:00:00Z ehr-db sshd 411 - - tls accepted publickey for admin",
            "<38>1 2026-11-27T04:00:01Z ehr-db sshd 411 - - tls session closed",
        ],
    );
    // A sender outside the allowed CIDRs is refused.
    let _ = TcpStream::connect(("127.0.0.1", fenced)).map(|mut s| s.write_all(b"<13>refused\n"));

    // HEC: concatenated events (string and object), gzip, a sector in the body that the
    // token overrides, and a channel with acknowledgements.
    let hec_base = format!("http://127.0.0.1:{hec}");
    let auth = format!("Authorization: Splunk {HEC_TOKEN}");
    let body = br#"{"time": 1764216000.5, "host": "rail-gw", "sourcetype": "syslog", "event": "<13>Nov 27 04:00:00 rail-gw signal: interlock override"}
{"time": "1764216001", "event": {"msg": "points failure", "ncsoc.sector": "energy"}, "fields": {"line": "north"}}"#;
    let (code, resp) = curl(
        &format!("{hec_base}/services/collector/event"),
        &["-H", &auth, "-H", "Content-Encoding: gzip"],
        &gzip(body),
    );
    assert_eq!(code, 200, "{resp}");
    assert!(resp.contains(r#""code":0"#), "{resp}");
    let (code, resp) = curl(
        &format!("{hec_base}/services/collector/raw?channel=7a1c6f4e-0000-4000-8000-000000000001"),
        &["-H", &auth],
        b"<14>Nov 27 04:00:02 depot-7 ticketing: fare gate offline\n<14>Nov 27 04:00:03 depot-7 ticketing: fare gate online\n",
    );
    assert_eq!(code, 200, "{resp}");
    let ack_id: u64 = serde_json::from_str::<serde_json::Value>(&resp).unwrap()["ackId"]
        .as_u64()
        .unwrap();
    wait_for("the HEC ack", || {
        let (code, resp) = curl(
            &format!(
                "{hec_base}/services/collector/ack?channel=7a1c6f4e-0000-4000-8000-000000000001"
            ),
            &["-H", &auth],
            format!(r#"{{"acks":[{ack_id}]}}"#).as_bytes(),
        );
        code == 200 && resp.contains(&format!(r#""{ack_id}":true"#))
    });
    // No token, a wrong token, and a malformed body.
    let (code, _) = curl(&format!("{hec_base}/services/collector/event"), &[], b"{}");
    assert_eq!(code, 401);
    let (code, _) = curl(
        &format!("{hec_base}/services/collector/event"),
        &["-H", "Authorization: Splunk not-the-token"],
        br#"{"event":"x"}"#,
    );
    assert_eq!(code, 403);
    let (code, resp) = curl(
        &format!("{hec_base}/services/collector/event"),
        &["-H", &auth],
        br#"{"event":"kept before the bad one"}{"event": nope"#,
    );
    assert_eq!(code, 400, "{resp}");
    assert!(resp.contains(r#""invalid-event-number":1"#), "{resp}");
    // NDJSON: one JSON document per line; the bad line is dead-lettered, the others kept.
    let (code, resp) = curl(
        &format!("{hec_base}/ingest/ndjson"),
        &["-H", &auth],
        br#"{"timestamp":"2026-11-27T04:00:05.000000+0000","flow_id":7,"event_type":"alert","src_ip":"198.51.100.23","src_port":5555,"dest_ip":"10.8.0.4","dest_port":502,"proto":"TCP","alert":{"signature_id":2024000,"signature":"Modbus write from outside","severity":1}}
{"time": "2026-11-27T04:00:06Z", "device": "rbc-12", "state": "degraded"}
{"not json
"#,
    );
    assert_eq!(code, 200, "{resp}");
    let (code, resp) = get(
        SocketAddr::from(([127, 0, 0, 1], hec)),
        "/services/collector/health",
    )
    .unwrap();
    assert_eq!(code, 200, "{resp}");

    // Everything counted per source on /metrics.
    wait_metric(
        addr,
        "udp messages",
        r#"ncsoc_intake_parsed_total{listener="syslog_udp",sector="energy",source="energy-siem"}"#,
        3,
    );
    wait_metric(
        addr,
        "tcp messages",
        r#"ncsoc_intake_parsed_total{listener="syslog_tcp",sector="finance",source="finance-siem"}"#,
        3,
    );
    wait_metric(
        addr,
        "tls messages",
        r#"ncsoc_intake_parsed_total{listener="syslog_tls",sector="health",source="health-cert"}"#,
        2,
    );
    assert_eq!(
        metric(
            addr,
            r#"ncsoc_intake_rejected_total{listener="syslog_tcp",sector="finance",source="finance-siem"}"#
        ),
        1
    );
    assert_eq!(metric(addr, "ncsoc_intake_frames_too_long_total"), 1);
    wait_for("the refused sender", || {
        metric(addr, "ncsoc_intake_senders_refused_total") == 1
    });
    assert_eq!(metric(addr, "ncsoc_intake_hec_unauthorized_total"), 2);
    assert_eq!(
        metric(
            addr,
            r#"ncsoc_intake_parsed_total{listener="hec",sector="transport",source="transport-siem"}"#
        ),
        7
    );

    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(!log.contains(HEC_TOKEN), "the token must never be logged");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = stored(&data).await;
        assert_eq!(count(&store, Table::Events, "energy").await, 3);
        assert_eq!(count(&store, Table::Events, "finance").await, 3);
        assert_eq!(count(&store, Table::Events, "health").await, 2);
        assert_eq!(count(&store, Table::Events, "government").await, 0);
        assert_eq!(count(&store, Table::Events, "transport").await, 7);
        // The EVE alert from NDJSON, normalised by the JSON parsers.
        let mut q = EventQuery::new(Scope::Sectors(vec!["transport".into()]));
        q.port = Some(502);
        let alert = store.search(Table::Events, &q).await.unwrap();
        assert_eq!(alert.len(), 1);
        assert_eq!(alert[0].fields.rule_id.as_deref(), Some("2024000"));

        let mut q = EventQuery::new(Scope::Sectors(vec!["transport".into()]));
        q.limit = 10;
        let events = store.search(Table::Events, &q).await.unwrap();
        let override_event = events
            .iter()
            .find(|e| e.fields.host_name.as_deref() == Some("rail-gw"))
            .expect("the HEC string event");
        assert_eq!(
            override_event.timestamp.to_rfc3339(),
            "2025-11-27T04:00:00.500Z"
        );
        assert_eq!(
            override_event
                .extra
                .get("hec.sourcetype")
                .and_then(|v| v.as_str()),
            Some("syslog")
        );
        // The body claimed `energy`; the token's sector wins.
        assert!(events
            .iter()
            .all(|e| e.sector == "transport" && e.source == "transport-siem"));
        assert!(events
            .iter()
            .any(|e| e.extra.get("labels.line").and_then(|v| v.as_str()) == Some("north")));

        // The CEF line forwarded over syslog: normalised by the CEF parser.
        let mut q = EventQuery::new(Scope::Sectors(vec!["finance".into()]));
        q.port = Some(445);
        let cef = store.search(Table::Events, &q).await.unwrap();
        assert_eq!(cef.len(), 1);
        assert_eq!(cef[0].fields.observer_vendor.as_deref(), Some("Acme"));
        assert_eq!(cef[0].fields.source_ip, Some("192.0.2.7".parse().unwrap()));

        let mut q = EventQuery::new(Scope::Sectors(vec!["health".into()]));
        q.limit = 10;
        let health = store.search(Table::Events, &q).await.unwrap();
        assert_eq!(
            health[0].fields.message.as_deref(),
            Some("tls accepted publickey for admin")
        );
        assert_eq!(health[0].fields.host_name.as_deref(), Some("ehr-db"));

        // The dead letters keep the raw bytes and the reason.
        let letters = store
            .dead_letters(&EventQuery::new(Scope::All))
            .await
            .unwrap();
        let long = letters
            .iter()
            .find(|d| d.sector == "finance")
            .expect("the long frame");
        assert!(long.reason.contains("limit of 1024"), "{}", long.reason);
        assert_eq!(long.raw.len(), 1024);
        let transport: Vec<_> = letters.iter().filter(|d| d.sector == "transport").collect();
        assert_eq!(transport.len(), 2, "{transport:?}");
        assert!(transport
            .iter()
            .any(|d| d.raw.starts_with(br#"{"event": nope"#)));
        let ndjson = transport
            .iter()
            .find(|d| d.raw == br#"{"not json"#)
            .expect("the bad NDJSON line");
        assert_eq!(ndjson.format, "json");
    });
}

/// A store that cannot keep up: with SQLite locked by another process the writer spools,
/// the spool fills, and the HTTP intake answers 503 with `Retry-After` instead of taking
/// more. Everything it acknowledged is stored once the lock goes, exactly once.
#[test]
fn a_stalled_store_pushes_hec_back_and_loses_nothing_acknowledged() {
    for tool in ["curl", "sha256sum"] {
        if !have(tool) {
            eprintln!("SKIP: `{tool}` is not installed (the README's test set-up installs it)");
            return;
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let hec = free_port();
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_size = 200
batch_max_delay_ms = 20
channel_capacity = 4

[store.sqlite]
busy_timeout_ms = 50

[store.spool]
max_bytes = 1048576
retry_interval_ms = 100

[intake.hec]
listen = "127.0.0.1:{hec}"

[[intake.hec.tokens]]
name = "finance"
token_sha256 = "{digest}"
sector = "finance"
source = "finance-siem"
"#,
            digest = sha256_hex(HEC_TOKEN),
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    let base = format!("http://127.0.0.1:{hec}/services/collector");
    let auth = format!("Authorization: Splunk {HEC_TOKEN}");
    let channel = "9d1f0e2a-5b6c-4d7e-8f90-123456789abc";

    // Another process takes the database's write lock and holds it.
    let lock = rusqlite::Connection::open(data.join("ncsoc.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();

    let mut acked: Vec<(u64, usize)> = Vec::new(); // (ack id, events in the request)
    let mut busy = None;
    // Request `r`: 250 distinct events.
    let body = |r: usize| -> String {
        (0..250)
            .map(|i| {
                format!(
                    r#"{{"time": {}, "event": "<14>Nov 27 04:00:00 bank-gw auth: request {r} event {i} failed login for user{i}"}}"#,
                    1_764_216_000 + r * 1000 + i
                )
            })
            .collect()
    };
    let mut r = 0;
    for _ in 0..400 {
        r += 1;
        let (code, resp) = curl(
            &format!("{base}/event?channel={channel}"),
            &["-H", &auth],
            body(r).as_bytes(),
        );
        match code {
            200 => {
                let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
                acked.push((v["ackId"].as_u64().unwrap(), 250));
            }
            503 => {
                busy = Some(resp);
                break;
            }
            other => panic!("unexpected status {other}: {resp}"),
        }
    }
    let busy = busy.expect("the intake never pushed back");
    assert!(busy.contains(r#""code":9"#), "{busy}");
    // A 503 can come from a momentarily full queue; once the spool is full too, the
    // push-back holds and health reports it. Keep offering small requests until then.
    let start = Instant::now();
    loop {
        let (code, _) = get(
            SocketAddr::from(([127, 0, 0, 1], hec)),
            "/services/collector/health",
        )
        .unwrap();
        if code == 503 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "health never reported the push-back"
        );
        r += 1;
        let (code, resp) = curl(
            &format!("{base}/event?channel={channel}"),
            &["-H", &auth],
            body(r).as_bytes(),
        );
        if code == 200 {
            let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
            acked.push((v["ackId"].as_u64().unwrap(), 250));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(metric(server.addr, "ncsoc_intake_hec_busy_total") >= 1);
    assert!(!acked.is_empty());

    // Nothing is acknowledged while it is not durable... and everything is once the lock goes.
    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    let ids: Vec<String> = acked.iter().map(|(id, _)| id.to_string()).collect();
    let mut pending: std::collections::HashSet<u64> = acked.iter().map(|(id, _)| *id).collect();
    wait_for("every ack", || {
        let (code, resp) = curl(
            &format!("{base}/ack?channel={channel}"),
            &["-H", &auth],
            format!(r#"{{"acks":[{}]}}"#, ids.join(",")).as_bytes(),
        );
        assert_eq!(code, 200, "{resp}");
        let v: serde_json::Value = serde_json::from_str(&resp).unwrap();
        pending.retain(|id| v["acks"][id.to_string()] != serde_json::Value::Bool(true));
        pending.is_empty()
    });
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored_events = rt.block_on(async {
        let store = stored(&data).await;
        count(&store, Table::Events, "finance").await
    });
    let sent: usize = acked.iter().map(|(_, n)| n).sum();
    assert_eq!(stored_events, sent as u64);
}

/// A store that cannot keep up slows a TCP sender down instead of dropping its messages:
/// with SQLite locked by another process (and a small spool), ncsoc stops reading the
/// connection, so the sender's writes stall long before its stream is through; once the
/// lock goes, every message of the stream is stored.
#[test]
fn a_stalled_store_slows_tcp_senders_and_loses_nothing() {
    use std::io::ErrorKind;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let tcp = free_port();
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_size = 1000
batch_max_delay_ms = 20
channel_capacity = 16

[store.sqlite]
busy_timeout_ms = 50

[store.spool]
max_bytes = 1048576
retry_interval_ms = 100

[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:{tcp}"
sector = "energy"
source = "grid-siem"
"#
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    let lock = rusqlite::Connection::open(data.join("ncsoc.db")).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();

    const LINES: usize = 150_000;
    let stream: Vec<u8> = (0..LINES)
        .flat_map(|i| {
            format!(
                "<13>Nov 27 04:00:00 substation-{} scada: breaker {i} state change\n",
                i % 97
            )
            .into_bytes()
        })
        .collect();
    let mut sock = TcpStream::connect(("127.0.0.1", tcp)).unwrap();
    sock.set_nonblocking(true).unwrap();
    let mut sent = 0usize;
    let mut stalled_since: Option<Instant> = None;
    while sent < stream.len() {
        match std::io::Write::write(&mut sock, &stream[sent..]) {
            Ok(n) => {
                sent += n;
                stalled_since = None;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let since = *stalled_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(2) {
                    break; // ncsoc has stopped reading: pushed back
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("send failed: {e}"),
        }
    }
    assert!(
        sent < stream.len(),
        "the whole {} byte stream was taken while the store was stalled",
        stream.len()
    );
    eprintln!("stalled after {sent} of {} bytes", stream.len());

    lock.execute_batch("COMMIT").unwrap();
    drop(lock);
    sock.set_nonblocking(false).unwrap();
    sock.write_all(&stream[sent..]).unwrap();
    sock.shutdown(std::net::Shutdown::Write).unwrap();
    let start = Instant::now();
    while metric(
        server.addr,
        r#"ncsoc_store_rows_written_total{backend="sqlite"}"#,
    ) < LINES as u64
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "rows written: {}",
            metric(
                server.addr,
                r#"ncsoc_store_rows_written_total{backend="sqlite"}"#
            )
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stored_events = rt.block_on(async {
        let store = stored(&data).await;
        count(&store, Table::Events, "energy").await
    });
    assert_eq!(stored_events, LINES as u64);
}
