//! Signed webhooks from `ncsoc serve` to real HTTP receivers on loopback.
//!
//! NetFlow exports sent to a flow listener make the detector open (and update) a port-scan
//! incident in the finance sector; every change goes through the change log to the
//! outbox. The receivers verify every signature and record every idempotency key:
//!
//! - `cc` refuses (500) every attempt until the test lets it accept, and then still the
//!   first two attempts of each key. ncsoc is killed (SIGKILL) while retries are pending
//!   and started again: every change must then be accepted exactly once per key, with a
//!   valid signature and the same body in every attempt, and no change may get two keys.
//! - `cc-tls`, the same over https (a self-signed certificate given as `ca_file`).
//! - `no-transport` wants finance and health only: it gets their changes, and nothing of
//!   the transport incident.
//! - `dead` answers 503 until told otherwise: its deliveries die after `max_attempts`
//!   with the last error; an admin lists and requeues one, which is then delivered.
//!
//! Admin endpoints are checked on the way: an analyst gets 403, secrets are never shown,
//! config destinations cannot be deleted through the API, every change is audited.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{free_port, metric, udp_payloads, wait_until, Server};
use ncsoc_api::webhooks::sign;
use serde_json::{json, Value};

const CC_SECRET: &str = "cc-secret-0123456789abcdef";
const TLS_SECRET: &str = "tls-secret-0123456789abcdef";
const FH_SECRET: &str = "finance-health-secret-0123";
const DEAD_SECRET: &str = "dead-secret-0123456789ab";
const OPS_SECRET: &str = "ops-secret-0123456789abcdef";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    key: String,
    event: String,
    signature: String,
    signature_ok: bool,
    body: String,
    status: u16,
    /// Which run of ncsoc it came from (the test bumps it on restart).
    run: u32,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    attempts: HashMap<String, u32>,
    first_body: HashMap<String, String>,
    accepted: HashMap<String, u32>,
    run: u32,
}

struct Receiver {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    /// `cc` accepts (after each key's first two attempts) only once this is set.
    cc_open: Arc<AtomicBool>,
    /// `dead` answers 503 until this is set.
    dead_open: Arc<AtomicBool>,
}

impl Receiver {
    fn start(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let r = Receiver {
            addr,
            state: Arc::default(),
            cc_open: Arc::default(),
            dead_open: Arc::default(),
        };
        let (state, cc_open, dead_open) = (r.state.clone(), r.cc_open.clone(), r.dead_open.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (state, cc_open, dead_open, tls) = (
                    state.clone(),
                    cc_open.clone(),
                    dead_open.clone(),
                    tls.clone(),
                );
                std::thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    match tls {
                        None => serve_one(conn, &state, &cc_open, &dead_open),
                        Some(cfg) => {
                            let Ok(server) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let stream = rustls::StreamOwned::new(server, conn);
                            serve_one(stream, &state, &cc_open, &dead_open)
                        }
                    }
                });
            }
        });
        r
    }

    fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    fn next_run(&self) {
        self.state.lock().unwrap().run += 1;
    }
}

fn serve_one(
    stream: impl Read + Write,
    state: &Mutex<State>,
    cc_open: &AtomicBool,
    dead_open: &AtomicBool,
) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let secret = match path.as_str() {
        "/cc" => CC_SECRET,
        "/cc-tls" => TLS_SECRET,
        "/fh" => FH_SECRET,
        "/dead" => DEAD_SECRET,
        _ => "",
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let signature = headers
        .get("x-ncsoc-signature")
        .cloned()
        .unwrap_or_default();
    let signature_ok = sign::verify(secret.as_bytes(), &signature, &body, now).is_ok();
    let key = headers.get("x-ncsoc-delivery").cloned().unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let status = {
        let mut s = state.lock().unwrap();
        let attempts = {
            let a = s.attempts.entry(key.clone()).or_default();
            *a += 1;
            *a
        };
        s.first_body
            .entry(key.clone())
            .or_insert_with(|| body.clone());
        let accept = signature_ok
            && match path.as_str() {
                "/cc" => cc_open.load(Ordering::SeqCst) && attempts > 2,
                "/dead" => dead_open.load(Ordering::SeqCst),
                _ => true,
            };
        if accept {
            // A key already accepted is acknowledged again, not counted again.
            *s.accepted.entry(key.clone()).or_default() += 1;
        }
        let status = if accept {
            204
        } else if path == "/dead" {
            503
        } else {
            500
        };
        let run = s.run;
        s.seen.push(Seen {
            path,
            key,
            event: headers.get("x-ncsoc-event").cloned().unwrap_or_default(),
            signature,
            signature_ok,
            body,
            status,
            run,
        });
        status
    };
    let stream = reader.get_mut();
    let reason = if status == 204 {
        "No Content"
    } else {
        "Try later"
    };
    let text = if status == 204 {
        ""
    } else {
        "receiver says try later"
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
    let _ = stream.flush();
}

/// A plain HTTP/1.1 request with a bearer token; returns (status, body).
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
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

fn json_of(status_body: (u16, String), want: u16) -> Value {
    let (status, body) = status_body;
    assert_eq!(status, want, "{body}");
    serde_json::from_str(&body).unwrap_or(Value::Null)
}

/// A self-signed certificate for 127.0.0.1 (openssl): (cert path, server config).
fn tls_server(dir: &Path) -> (std::path::PathBuf, Arc<rustls::ServerConfig>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = common::make_cert(dir);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .unwrap();
    (cert, Arc::new(config))
}

/// The change log as the server wrote it: seq → (event, sectors).
fn change_log(data: &Path) -> BTreeMap<i64, (String, Vec<String>)> {
    let db = rusqlite::Connection::open(data.join("control.db")).unwrap();
    let mut st = db
        .prepare("SELECT seq, kind, sectors FROM incident_changes ORDER BY seq")
        .unwrap();
    st.query_map([], |r| {
        let sectors: String = r.get(2)?;
        Ok((
            r.get::<_, i64>(0)?,
            (
                format!("incident.{}", r.get::<_, String>(1)?),
                serde_json::from_str(&sectors).unwrap(),
            ),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn audit_actions(data: &Path) -> Vec<(String, String, String)> {
    let db = rusqlite::Connection::open(data.join("control.db")).unwrap();
    let mut st = db
        .prepare("SELECT action, target, outcome FROM audit_log ORDER BY seq")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn openssl_hmac(secret: &str, message: &[u8]) -> String {
    let mut child = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl");
    child.stdin.take().unwrap().write_all(message).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

#[test]
fn deliveries_survive_a_kill_arrive_once_per_key_signed_and_dead_letters_can_be_requeued() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (admin, analyst) = {
        let control = ncsoc_store::ControlStore::open(&data).unwrap();
        let (_, admin) = control
            .create_token("ops-admin", ncsoc_store::control::Role::Admin, &[], None)
            .unwrap();
        let (_, analyst) = control
            .create_token("analyst", ncsoc_store::control::Role::Analyst, &[], None)
            .unwrap();
        (admin, analyst)
    };
    let plain = Receiver::start(None);
    let (cert, tls) = tls_server(dir.path());
    let secure = Receiver::start(Some(tls));
    let (flow_port, health_port, transport_port) = (free_port(), free_port(), free_port());
    let config = dir.path().join("ncsoc.toml");
    let (http, https) = (plain.addr, secure.addr);
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_max_delay_ms = 20

[[intake.flows]]
listen = "127.0.0.1:{flow_port}"
source = "finance-routers"
sector = "unassigned"
exporters = {{ "127.0.0.1" = "finance" }}

[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:{health_port}"
sector = "health"
source = "health-siem"
format = "json"

[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:{transport_port}"
sector = "transport"
source = "transport-dns"
format = "json"

[[api.webhooks.destinations]]
name = "cc"
url = "http://{http}/cc"
secret_env = "NCSOC_TEST_WEBHOOK_SECRET"
timeout_ms = 2000
max_attempts = 100
backoff_base_ms = 100
backoff_max_ms = 800
filter = {{ events = ["opened", "updated", "escalated", "worked", "noted", "merged", "reopened"] }}

[[api.webhooks.destinations]]
name = "cc-tls"
url = "https://127.0.0.1:{tls_port}/cc-tls"
secret = "{TLS_SECRET}"
ca_file = "{cert}"
filter = {{ events = ["opened"] }}

[[api.webhooks.destinations]]
name = "no-transport"
url = "http://{http}/fh"
secret = "{FH_SECRET}"
filter = {{ sectors = ["finance", "health"], events = ["opened", "updated", "escalated"] }}

[[api.webhooks.destinations]]
name = "dead"
url = "http://{http}/dead"
secret = "{DEAD_SECRET}"
format = "cef"
max_attempts = 2
backoff_base_ms = 50
backoff_max_ms = 100
filter = {{ events = ["opened"] }}
"#,
            tls_port = https.port(),
            cert = cert.display(),
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let env = [("NCSOC_TEST_WEBHOOK_SECRET", CC_SECRET)];
    let exports = udp_payloads(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-data/finance-netflow.pcap"),
    );

    // A destination whose secret is missing stops the start, naming it.
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("NCSOC_STORE__DATA_DIR", &data)
        .env("NCSOC_SERVER__LISTEN", format!("127.0.0.1:{}", free_port()))
        .env_remove("NCSOC_TEST_WEBHOOK_SECRET")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("NCSOC_TEST_WEBHOOK_SECRET is not set"),
        "{stderr}"
    );

    // Run 1: the incident opens and changes; cc refuses everything; killed mid-retry.
    let server = Server::start_with(&args, &data, &env);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for p in &exports {
        sock.send_to(p, ("127.0.0.1", flow_port)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let replay = Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-data");
    let mut records = 460;
    for (file, port) in [
        ("health-auth.ndjson", health_port),
        ("transport-dns.ndjson", transport_port),
    ] {
        let lines = std::fs::read(replay.join(file)).unwrap();
        records += lines.iter().filter(|&&b| b == b'\n').count() as u64;
        let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
        tcp.write_all(&lines).unwrap();
    }
    wait_until(
        "the detector to see every record",
        Duration::from_secs(30),
        || metric(server.addr, "ncsoc_detector_records_total") >= records,
    );
    wait_until(
        "cc to refuse a first attempt",
        Duration::from_secs(30),
        || plain.seen().iter().any(|s| s.path == "/cc"),
    );
    std::thread::sleep(Duration::from_millis(500));
    let (status, log) = server.stop("-KILL");
    assert!(!status.success(), "{log}");
    assert!(
        !log.contains(CC_SECRET) && !log.contains(DEAD_SECRET),
        "{log}"
    );
    let before_kill = plain.seen();
    assert!(before_kill
        .iter()
        .all(|s| s.path != "/cc" || s.status == 500));
    plain.next_run();

    // Run 2: the outbox is read back; cc starts accepting once retries reach it again.
    let server = Server::start_with(&args, &data, &env);
    wait_until(
        "cc retries after the restart",
        Duration::from_secs(30),
        || plain.seen().iter().any(|s| s.path == "/cc" && s.run == 1),
    );
    plain.cc_open.store(true, Ordering::SeqCst);
    let log_now = change_log(&data);
    let last_seq = *log_now.keys().last().expect("the incident changed");
    wait_until(
        "cc to acknowledge every change",
        Duration::from_secs(60),
        || {
            let list = json_of(
                call(server.addr, "GET", "/api/v1/webhooks", Some(&admin), None),
                200,
            );
            list["destinations"].as_array().unwrap().iter().any(|d| {
                d["name"] == "cc" && d["pending"] == 0 && d["last_seq"].as_i64() == Some(last_seq)
            })
        },
    );

    // Exactly once per key, one key per change, signed, the same body every time.
    let changes = change_log(&data);
    assert_eq!(changes, log_now, "no change happened after the kill");
    let seen = plain.seen();
    let cc: Vec<&Seen> = seen.iter().filter(|s| s.path == "/cc").collect();
    assert!(cc.iter().all(|s| s.signature_ok), "{cc:?}");
    let state = plain.state.lock().unwrap();
    for s in &cc {
        assert_eq!(
            &state.first_body[&s.key], &s.body,
            "a retry changed the body"
        );
    }
    let mut key_of_seq: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for s in cc.iter().filter(|s| s.status == 204) {
        let body: Value = serde_json::from_str(&s.body).unwrap();
        assert_eq!(body["delivery"], s.key.as_str());
        assert_eq!(body["event"], s.event.as_str());
        let seq = body["seq"].as_i64().unwrap();
        assert_eq!(changes[&seq].0, s.event, "seq {seq}");
        assert_eq!(body["incident"]["sectors"], json!(changes[&seq].1));
        key_of_seq.entry(seq).or_default().insert(s.key.clone());
    }
    assert_eq!(
        key_of_seq.keys().copied().collect::<Vec<_>>(),
        changes.keys().copied().collect::<Vec<_>>(),
        "every change reaches cc"
    );
    assert!(
        key_of_seq.values().all(|k| k.len() == 1),
        "one key per change: {key_of_seq:?}"
    );
    for keys in key_of_seq.values() {
        let key = keys.iter().next().unwrap();
        assert_eq!(state.accepted[key], 1, "{key} accepted more than once");
        assert!(
            state.attempts[key] >= 3,
            "{key}: the first attempts were refused"
        );
    }
    assert!(changes.values().any(|(e, _)| e == "incident.opened"));
    eprintln!(
        "{} changes {:?}, {} attempts at cc, {} before the kill",
        changes.len(),
        changes.values().collect::<Vec<_>>(),
        cc.len(),
        cc.iter().filter(|s| s.run == 0).count()
    );
    // A delivery refused before the kill was accepted after it, under the same key.
    assert!(cc
        .iter()
        .any(|s| s.run == 0 && key_of_seq.values().any(|k| k.contains(&s.key))));
    drop(state);
    // The signature is what openssl computes over "<t>.<body>" (README's recipe).
    let sample = cc.iter().find(|s| s.status == 204).unwrap();
    let (t, v1) = sample.signature.split_once(",v1=").unwrap();
    let t = t.strip_prefix("t=").unwrap();
    assert_eq!(
        openssl_hmac(CC_SECRET, format!("{t}.{}", sample.body).as_bytes()),
        v1
    );
    // The outbox agrees.
    let listed = json_of(
        call(
            server.addr,
            "GET",
            "/api/v1/webhooks/cc/deliveries?status=delivered&limit=1000",
            Some(&admin),
            None,
        ),
        200,
    );
    let listed: BTreeSet<String> = listed["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, key_of_seq.values().flatten().cloned().collect());

    // https: the opened change arrives, signed, through rustls.
    wait_until("the https destination", Duration::from_secs(30), || {
        secure.seen().iter().any(|s| s.status == 204)
    });
    let tls_seen = secure.seen();
    assert!(
        tls_seen
            .iter()
            .all(|s| s.signature_ok && s.event == "incident.opened"),
        "{tls_seen:?}"
    );

    // A sector filter: the finance and health changes, none of transport.
    let wanted: BTreeSet<i64> = changes
        .iter()
        .filter(|(_, (_, sectors))| sectors.iter().any(|s| s == "finance" || s == "health"))
        .map(|(seq, _)| *seq)
        .collect();
    assert!(!wanted.is_empty());
    assert!(changes
        .values()
        .any(|(_, sectors)| sectors == &["transport"]));
    wait_until(
        "no-transport to get its changes",
        Duration::from_secs(10),
        || plain.seen().iter().filter(|s| s.path == "/fh").count() >= wanted.len(),
    );
    let fh: Vec<Seen> = plain
        .seen()
        .into_iter()
        .filter(|s| s.path == "/fh")
        .collect();
    assert!(
        fh.iter().all(|s| s.signature_ok && s.status == 204),
        "{fh:?}"
    );
    let got: Vec<i64> = fh
        .iter()
        .map(|s| {
            serde_json::from_str::<Value>(&s.body).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), wanted);
    let mut keys_of_seq: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
    for (s, seq) in fh.iter().zip(&got) {
        keys_of_seq.entry(*seq).or_default().insert(&s.key);
    }
    assert!(
        keys_of_seq.values().all(|k| k.len() == 1),
        "one key per change: {keys_of_seq:?}"
    );

    // Dead letters: two attempts, the last error kept; an admin requeues one.
    let dead = wait_dead(server.addr, &admin);
    assert_eq!(dead["attempts"], 2);
    assert_eq!(dead["last_status"], 503);
    assert!(
        dead["last_error"].as_str().unwrap().contains("HTTP 503"),
        "{dead}"
    );
    let id = dead["id"].as_str().unwrap().to_string();
    let dead_body = plain
        .seen()
        .iter()
        .find(|s| s.key == id)
        .map(|s| s.body.clone())
        .unwrap();
    assert!(dead_body.starts_with("CEF:0|ncsoc|ncsoc|"), "{dead_body}");
    wait_until("the dead-letter gauge", Duration::from_secs(10), || {
        metric(server.addr, "ncsoc_webhook_dead{destination=\"dead\"}") >= 1
    });
    let retry = format!("/api/v1/webhooks/deliveries/{id}/retry");
    assert_eq!(
        call(server.addr, "POST", &retry, Some(&analyst), None).0,
        403
    );
    plain.dead_open.store(true, Ordering::SeqCst);
    let requeued = json_of(call(server.addr, "POST", &retry, Some(&admin), None), 200);
    assert_eq!(requeued["status"], "pending");
    assert_eq!(requeued["attempts"], 0);
    wait_until("the requeued delivery", Duration::from_secs(30), || {
        plain
            .seen()
            .iter()
            .any(|s| s.key == id && s.status == 204 && s.signature_ok && s.body == dead_body)
    });
    wait_until("the outbox to record it", Duration::from_secs(10), || {
        let d = json_of(
            call(
                server.addr,
                "GET",
                "/api/v1/webhooks/dead/deliveries?status=delivered",
                Some(&admin),
                None,
            ),
            200,
        );
        d["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == id.as_str())
    });
    assert_eq!(call(server.addr, "POST", &retry, Some(&admin), None).0, 409);
    let unknown = format!("/api/v1/webhooks/deliveries/dlv_{}/retry", "0".repeat(32));
    assert_eq!(
        call(server.addr, "POST", &unknown, Some(&admin), None).0,
        404
    );
    assert_eq!(
        call(
            server.addr,
            "POST",
            "/api/v1/webhooks/deliveries/nope/retry",
            Some(&admin),
            None
        )
        .0,
        400
    );

    admin_endpoints(server.addr, &admin, &analyst);

    // Metrics.
    let delivered = metric(
        server.addr,
        "ncsoc_webhook_deliveries_total{destination=\"cc\",outcome=\"delivered\"}",
    );
    assert_eq!(delivered as usize, key_of_seq.len());
    assert!(
        metric(
            server.addr,
            "ncsoc_webhook_attempts_total{destination=\"cc\"}"
        ) >= 2
    );
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    for secret in [CC_SECRET, TLS_SECRET, DEAD_SECRET, FH_SECRET, OPS_SECRET] {
        assert!(!log.contains(secret), "a secret in the log");
    }

    let audit = audit_actions(&data);
    for (action, outcome) in [
        ("webhook.create", "ok"),
        ("webhook.create", "denied"),
        ("webhook.delete", "ok"),
        ("webhook.delete", "denied"),
        ("webhook.retry", "ok"),
        ("webhook.retry", "denied"),
    ] {
        assert!(
            audit.iter().any(|(a, _, o)| a == action && o == outcome),
            "{action} {outcome} not audited: {audit:?}"
        );
    }
    assert!(!format!("{audit:?}").contains(OPS_SECRET));
}

/// The first dead delivery of `dead`, once there is one.
fn wait_dead(addr: SocketAddr, admin: &str) -> Value {
    let mut found = Value::Null;
    wait_until("a dead letter", Duration::from_secs(30), || {
        let d = json_of(
            call(
                addr,
                "GET",
                "/api/v1/webhooks/dead/deliveries?status=dead",
                Some(admin),
                None,
            ),
            200,
        );
        found = d["deliveries"][0].clone();
        !found.is_null()
    });
    found
}

fn admin_endpoints(addr: SocketAddr, admin: &str, analyst: &str) {
    let ops = json!({
        "name": "ops", "url": "http://127.0.0.1:9/ops", "secret": OPS_SECRET,
        "format": "slack", "filter": {"min_severity": "high"}
    })
    .to_string();
    // Analysts and the unauthenticated are turned away.
    for (method, path, body) in [
        ("GET", "/api/v1/webhooks", None),
        ("POST", "/api/v1/webhooks", Some(ops.as_str())),
        ("DELETE", "/api/v1/webhooks/cc", None),
        ("GET", "/api/v1/webhooks/cc/deliveries", None),
    ] {
        assert_eq!(
            call(addr, method, path, Some(analyst), body).0,
            403,
            "{method} {path}"
        );
        assert_eq!(
            call(addr, method, path, None, body).0,
            401,
            "{method} {path}"
        );
    }
    // Listed without secrets.
    let (status, text) = call(addr, "GET", "/api/v1/webhooks", Some(admin), None);
    assert_eq!(status, 200, "{text}");
    for secret in [CC_SECRET, TLS_SECRET, DEAD_SECRET, FH_SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
    let list: Value = serde_json::from_str(&text).unwrap();
    let names: Vec<&str> = list["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["cc", "cc-tls", "dead", "no-transport"]);
    let cc = &list["destinations"][0];
    assert_eq!(cc["secret_set"], false);
    assert_eq!(cc["secret_env"], "NCSOC_TEST_WEBHOOK_SECRET");
    assert_eq!(cc["source"], "config");
    assert_eq!(list["destinations"][2]["secret_set"], true);

    // Created, refused twice, deleted.
    let (status, text) = call(addr, "POST", "/api/v1/webhooks", Some(admin), Some(&ops));
    assert_eq!(status, 201, "{text}");
    assert!(!text.contains(OPS_SECRET), "{text}");
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["secret_set"], true);
    assert_eq!(created["source"], "api");
    assert_eq!(created["format"], "slack");
    assert_eq!(created["filter"]["min_severity"], "high");
    assert_eq!(
        call(addr, "POST", "/api/v1/webhooks", Some(admin), Some(&ops)).0,
        409
    );
    for bad in [
        json!({"name": "x", "url": "ftp://h/", "secret": OPS_SECRET}),
        json!({"name": "x", "url": "http://h/", "secret": "short"}),
        json!({"name": "x y", "url": "http://h/", "secret": OPS_SECRET}),
        json!({"name": "x", "url": "http://h/", "secret_env": "NCSOC_TEST_WEBHOOK_SECRET"}),
        json!({"name": "x", "url": "http://h/", "secret": OPS_SECRET, "ca_file": "/etc/passwd"}),
        json!({"name": "x", "url": "http://h/", "secret": OPS_SECRET, "filter": {"kinds": ["nope"]}}),
        json!([1, 2]),
    ] {
        let (status, text) = call(
            addr,
            "POST",
            "/api/v1/webhooks",
            Some(admin),
            Some(&bad.to_string()),
        );
        assert_eq!(status, 400, "{bad}: {text}");
        assert!(text.contains("\"bad_request\""), "{text}");
    }
    assert_eq!(
        call(addr, "DELETE", "/api/v1/webhooks/cc", Some(admin), None).0,
        409
    );
    assert_eq!(
        call(addr, "DELETE", "/api/v1/webhooks/ops", Some(admin), None).0,
        204
    );
    assert_eq!(
        call(addr, "DELETE", "/api/v1/webhooks/ops", Some(admin), None).0,
        404
    );
    assert_eq!(
        call(
            addr,
            "GET",
            "/api/v1/webhooks/ops/deliveries",
            Some(admin),
            None
        )
        .0,
        404
    );
    for bad in [
        "status=lost",
        "limit=0",
        "limit=5000",
        "after_seq=-1",
        "after_seq=x",
        "nope=1",
    ] {
        let (status, text) = call(
            addr,
            "GET",
            &format!("/api/v1/webhooks/cc/deliveries?{bad}"),
            Some(admin),
            None,
        );
        assert_eq!(status, 400, "{bad}: {text}");
    }
}
