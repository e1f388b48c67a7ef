//! The incident API over real HTTP against `ncsoc serve`: an incident the detector opens
//! from real traffic, worked through its lifecycle while the detector keeps updating it;
//! transitions, notes, assignee, tags, merge and versions; list filters and cursor
//! pagination over a few hundred incidents; sector isolation on every endpoint; the live
//! stream with resume from the last event id.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{free_port, udp_payloads, Server};
use ncsoc_model::{Entity, Evidence, Incident, IncidentKind, Severity, Status, Timestamp};
use ncsoc_store::control::{AuditQuery, Role};
use ncsoc_store::{ControlStore, Store};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 client: one request per connection.

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn write_request(
    s: &mut TcpStream,
    method: &str,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n"
    );
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(&body);
    s.write_all(req.as_bytes()).unwrap();
}

fn read_head(r: &mut impl BufRead) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    (status, headers)
}

fn is_chunked(headers: &[(String, String)]) -> bool {
    headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    })
}

/// One chunk of a chunked body; `None` at its end.
fn read_chunk(r: &mut impl BufRead) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let size = usize::from_str_radix(line.trim(), 16).unwrap_or(0);
    if size == 0 {
        return Ok(None);
    }
    let mut buf = vec![0; size + 2];
    r.read_exact(&mut buf)?;
    buf.truncate(size);
    Ok(Some(buf))
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    extra: &[(&str, &str)],
    body: Option<&Value>,
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write_request(&mut s, method, path, token, extra, body);
    let mut r = BufReader::new(s);
    let (status, headers) = read_head(&mut r);
    let mut body = Vec::new();
    if is_chunked(&headers) {
        while let Some(c) = read_chunk(&mut r).unwrap() {
            body.extend(c);
        }
    } else {
        r.read_to_end(&mut body).unwrap();
    }
    Reply {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn get(addr: SocketAddr, path: &str, token: &str) -> Reply {
    request(addr, "GET", path, token, &[], None)
}

fn patch(addr: SocketAddr, id: &str, token: &str, body: Value) -> Reply {
    request(
        addr,
        "PATCH",
        &format!("/api/v1/incidents/{id}"),
        token,
        &[],
        Some(&body),
    )
}

fn note(addr: SocketAddr, id: &str, token: &str, text: &str) -> Reply {
    request(
        addr,
        "POST",
        &format!("/api/v1/incidents/{id}/notes"),
        token,
        &[],
        Some(&json!({ "text": text })),
    )
}

fn merge(addr: SocketAddr, id: &str, into: &str, token: &str) -> Reply {
    request(
        addr,
        "POST",
        &format!("/api/v1/incidents/{id}/merge"),
        token,
        &[],
        Some(&json!({ "into": into })),
    )
}

fn expect(r: &Reply, status: u16, what: &str) {
    assert_eq!(r.status, status, "{what}: {}", r.body);
}

// ---------------------------------------------------------------------------------------
// A live stream reader.

#[derive(Debug, Clone, PartialEq)]
struct SseEvent {
    id: i64,
    event: String,
    data: Value,
}

struct Stream {
    reader: BufReader<TcpStream>,
    buf: String,
}

impl Stream {
    fn open(
        addr: SocketAddr,
        token: &str,
        extra: &[(&str, &str)],
        query: &str,
    ) -> Result<Self, Reply> {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        write_request(
            &mut s,
            "GET",
            &format!("/api/v1/stream{query}"),
            token,
            extra,
            None,
        );
        let mut reader = BufReader::new(s);
        reader
            .get_ref()
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (status, headers) = read_head(&mut reader);
        if status != 200 {
            let mut body = Vec::new();
            if is_chunked(&headers) {
                while let Ok(Some(c)) = read_chunk(&mut reader) {
                    body.extend(c);
                }
            } else {
                let _ = reader.read_to_end(&mut body);
            }
            return Err(Reply {
                status,
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        let ct = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        assert!(is_chunked(&headers));
        Ok(Self {
            reader,
            buf: String::new(),
        })
    }

    /// The next event within `wait`, skipping comments; `None` if none came.
    fn next(&mut self, wait: Duration) -> Option<SseEvent> {
        let deadline = Instant::now() + wait;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let Some(id) = id {
                    return Some(SseEvent {
                        id,
                        event,
                        data: serde_json::from_str(&data).unwrap(),
                    });
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.reader
                .get_ref()
                .set_read_timeout(Some(left.max(Duration::from_millis(10))))
                .unwrap();
            match read_chunk(&mut self.reader) {
                Ok(Some(c)) => self.buf.push_str(&String::from_utf8(c).unwrap()),
                Ok(None) => return None,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return None
                }
                Err(e) => panic!("stream read: {e}"),
            }
        }
    }

    /// Exactly `n` events (each within 10 s).
    fn take(&mut self, n: usize) -> Vec<SseEvent> {
        (0..n)
            .map(|k| {
                self.next(Duration::from_secs(10))
                    .unwrap_or_else(|| panic!("event {k} of {n} did not come"))
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Set-up

struct Tokens {
    admin: String,
    ana: String,
    /// An analyst limited to the energy sector.
    eve: String,
}

fn tokens(data: &Path) -> Tokens {
    let c = ControlStore::open(data).unwrap();
    let mk = |name: &str, role: Role, sectors: &[&str]| {
        let s: Vec<String> = sectors.iter().map(|s| s.to_string()).collect();
        c.create_token(name, role, &s, None).unwrap().1
    };
    Tokens {
        admin: mk("root", Role::Admin, &[]),
        ana: mk("ana", Role::Analyst, &[]),
        eve: mk("eve", Role::Analyst, &["energy"]),
    }
}

fn seeded(id: &str, sectors: &[&str], n: i64) -> Incident {
    let t0 = Timestamp::parse_rfc3339("2026-02-01T00:00:00Z")
        .unwrap()
        .secs();
    Incident {
        id: id.into(),
        title: format!("Brute force on host {n}"),
        kind: IncidentKind::ALL[(n % 5) as usize],
        severity: Severity::ALL[(n % 4) as usize],
        score: (n % 90) as u8 + 5,
        status: Status::New,
        sectors: sectors.iter().map(|s| s.to_string()).collect(),
        entities: vec![Entity {
            kind: "ip".into(),
            value: format!("198.51.100.{}", n % 250),
            role: "attacker".into(),
        }],
        first_seen: Timestamp::from_secs(t0 + n * 60),
        last_seen: Timestamp::from_secs(t0 + n * 60 + (n % 11) * 30),
        evidence: vec![Evidence {
            at: Timestamp::from_secs(t0 + n * 60),
            sector: sectors[0].to_string(),
            signal: "nbad.brute_force".into(),
            description: format!("failed logins {n}"),
            observed: Some(40.0 + n as f64),
            ..Evidence::default()
        }],
        attack: vec!["T1110".into()],
        assignee: None,
        notes: vec![],
        tags: vec![],
        dedup_key: format!("seed|{id}"),
        signal_count: 1 + (n % 3) as u64,
        updated_at: Timestamp::from_secs(t0),
        merged_into: None,
        merged_from: vec![],
        merged_signal_count: 0,
    }
}

/// Stores incidents before the server starts (through the embedded store, as the server
/// will read them).
fn seed(data: &Path, incidents: &[Incident]) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store =
            ncsoc_store::sqlite::SqliteStore::open(data, &ncsoc_store::StoreConfig::default())
                .unwrap();
        for i in incidents {
            store.put_incident(i).await.unwrap();
        }
    });
}

fn audit(data: &Path, action: &str) -> Vec<(String, String, String)> {
    let c = ControlStore::open(data).unwrap();
    c.audit(&AuditQuery {
        action: Some(action.into()),
        limit: 1000,
        ..Default::default()
    })
    .unwrap()
    .into_iter()
    .map(|e| (e.actor, e.target, e.outcome))
    .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------
// The detector's incident, worked by an analyst while the detector updates it.

fn flow_config(dir: &Path, port: u16) -> PathBuf {
    let config = dir.join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_max_delay_ms = 20

[[intake.flows]]
listen = "127.0.0.1:{port}"
source = "finance-routers"
sector = "unassigned"
exporters = {{ "127.0.0.1" = "finance" }}
"#
        ),
    )
    .unwrap();
    config
}

fn wait_until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited 30 s for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The exports again, `shift` seconds later in event time (NetFlow v9 header `unix_secs`).
fn shifted(exports: &[Vec<u8>], shift: u32) -> Vec<Vec<u8>> {
    exports
        .iter()
        .map(|p| {
            let mut q = p.clone();
            assert_eq!(u16::from_be_bytes([q[0], q[1]]), 9, "NetFlow v9 exports");
            let secs = u32::from_be_bytes(q[8..12].try_into().unwrap()) + shift;
            q[8..12].copy_from_slice(&secs.to_be_bytes());
            q
        })
        .collect()
}

fn send(port: u16, exports: &[Vec<u8>]) {
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for p in exports {
        sock.send_to(p, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn detector_incident_is_worked_while_the_detector_keeps_updating_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = tokens(&data);
    let port = free_port();
    let config = flow_config(dir.path(), port);
    let exports = udp_payloads(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-data/finance-netflow.pcap"),
    );
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    let addr = server.addr;
    let mut live = Stream::open(addr, &t.ana, &[], "").unwrap();
    let mut energy_live = Stream::open(addr, &t.eve, &[], "").unwrap();

    // The scan in the finance exports opens an incident.
    send(port, &exports);
    let id = wait_until("the detector's incident", || {
        let l = get(addr, "/api/v1/incidents", &t.ana).json();
        ids(&l).first().cloned()
    });
    let opened = live.take(1).remove(0);
    assert_eq!(opened.event, "incident.opened");
    assert_eq!(opened.data["incident"]["id"], id.as_str());
    assert_eq!(opened.data["actor"], "detector");
    assert_eq!(opened.data["seq"], opened.id);

    let d = get(addr, &format!("/api/v1/incidents/{id}"), &t.ana);
    expect(&d, 200, "detail");
    let detail = d.json();
    let inc = &detail["incident"];
    assert_eq!(inc["kind"], "port_scan");
    assert_eq!(inc["status"], "new");
    assert_eq!(inc["sectors"], json!(["finance"]));
    let signals_before = inc["signal_count"].as_u64().unwrap();
    // Related flows: the attacker's, around the incident's time.
    let flows = detail["related"]["flows"].as_array().unwrap();
    assert!(!flows.is_empty(), "{detail}");
    assert!(flows.len() <= 50);
    assert!(
        flows.iter().all(|f| f.to_string().contains("203.0.113.77")),
        "{flows:?}"
    );
    let few = get(
        addr,
        &format!("/api/v1/incidents/{id}?related_limit=3"),
        &t.ana,
    )
    .json();
    assert_eq!(few["related"]["flows"].as_array().unwrap().len(), 3);
    let timeline = detail["timeline"].as_array().unwrap();
    assert!(timeline.iter().any(|e| e["type"] == "evidence"));
    assert!(timeline.iter().any(|e| e["type"] == "change"
        && e["change"]["kind"] == "opened"
        && e["change"]["actor"] == "detector"));

    // An analyst takes it.
    let r = patch(
        addr,
        &id,
        &t.ana,
        json!({"status": "acknowledged", "assignee": "ana", "tags": ["scan"]}),
    );
    expect(&r, 200, "acknowledge");
    expect(
        &note(addr, &id, &t.ana, "Blocking 203.0.113.77 at the border"),
        201,
        "note",
    );
    let worked = live.take(2);
    assert_eq!(
        worked.iter().map(|e| e.event.as_str()).collect::<Vec<_>>(),
        ["incident.worked", "incident.noted"]
    );

    // The scanner comes back an hour later: the detector folds it into the same incident,
    // and the analyst's work stays.
    send(port, &shifted(&exports, 3600));
    let inc = wait_until("the detector's update", || {
        let i = get(addr, &format!("/api/v1/incidents/{id}"), &t.ana).json()["incident"].clone();
        (i["signal_count"].as_u64().unwrap() > signals_before).then_some(i)
    });
    assert_eq!(inc["status"], "acknowledged", "{inc}");
    assert_eq!(inc["assignee"], "ana");
    assert_eq!(inc["tags"], json!(["scan"]));
    assert_eq!(inc["notes"].as_array().unwrap().len(), 1);
    assert_eq!(inc["notes"][0]["author"], "ana");
    let update = live.take(1).remove(0);
    assert!(
        ["incident.updated", "incident.escalated"].contains(&update.event.as_str()),
        "{update:?}"
    );
    assert_eq!(update.data["actor"], "detector");
    assert_eq!(update.data["incident"]["status"], "acknowledged");

    // The rest of the lifecycle.
    for status in ["in_progress", "resolved", "closed"] {
        let r = patch(addr, &id, &t.ana, json!({ "status": status }));
        expect(&r, 200, status);
        assert_eq!(r.json()["status"], status);
    }
    let r = patch(addr, &id, &t.ana, json!({"status": "in_progress"}));
    expect(&r, 409, "closed to in_progress");
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("closed"),
        "{}",
        r.body
    );
    assert_eq!(
        live.take(3)
            .iter()
            .filter(|e| e.event == "incident.worked")
            .count(),
        3
    );

    // Activity on a closed incident reopens it.
    send(port, &shifted(&exports, 7200));
    let inc = wait_until("the reopened incident", || {
        let i = get(addr, &format!("/api/v1/incidents/{id}"), &t.ana).json()["incident"].clone();
        (i["status"] == "new").then_some(i)
    });
    assert_eq!(inc["assignee"], "ana");
    let reopened = live.take(1).remove(0);
    assert_eq!(reopened.event, "incident.reopened");

    // A finance incident is invisible to the energy analyst, everywhere.
    expect(
        &get(addr, &format!("/api/v1/incidents/{id}"), &t.eve),
        404,
        "energy reads finance",
    );
    expect(
        &patch(addr, &id, &t.eve, json!({"status": "acknowledged"})),
        404,
        "energy works finance",
    );
    expect(&note(addr, &id, &t.eve, "hi"), 404, "energy notes finance");
    assert!(ids(&get(addr, "/api/v1/incidents", &t.eve).json()).is_empty());
    assert_eq!(energy_live.next(Duration::from_millis(500)), None);

    // The timeline tells the story in order.
    let detail = get(addr, &format!("/api/v1/incidents/{id}"), &t.ana).json();
    let changes: Vec<(String, String)> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == "change")
        .map(|e| {
            (
                e["change"]["kind"].as_str().unwrap().to_string(),
                e["change"]["actor"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let kinds: Vec<&str> = changes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds[..3], ["opened", "worked", "noted"], "{changes:?}");
    assert_eq!(kinds.last(), Some(&"reopened"));
    assert_eq!(kinds.iter().filter(|k| **k == "worked").count(), 4);

    drop(live);
    drop(energy_live);
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    let updates = audit(&data, "incident.update");
    assert!(
        updates
            .iter()
            .filter(|(a, t, o)| a == "ana" && *t == id && o == "ok")
            .count()
            >= 4
    );
    assert!(updates.iter().any(|(a, _, o)| a == "eve" && o == "refused"));
    assert!(
        updates.iter().any(|(a, _, o)| a == "ana" && o == "refused"),
        "the invalid transition"
    );
    assert_eq!(
        audit(&data, "incident.note")
            .iter()
            .filter(|(_, _, o)| o == "ok")
            .count(),
        1
    );
}

// ---------------------------------------------------------------------------------------
// Workflow on seeded incidents: transitions, assignee, tags, notes, versions, merge, and
// what a sector-limited analyst cannot do.

#[test]
fn workflow_transitions_notes_tags_versions_merge_and_isolation() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = tokens(&data);
    seed(
        &data,
        &[
            seeded("e-1", &["energy"], 1),
            seeded("e-2", &["energy"], 2),
            seeded("f-1", &["finance"], 3),
            seeded("ef-1", &["energy", "finance"], 4),
            seeded("e-3", &["energy"], 5),
        ],
    );
    let server = Server::start(&data, &[]);
    let addr = server.addr;

    // Transitions, with skips, and back to new from resolved.
    let r = patch(addr, "e-1", &t.ana, json!({"status": "in_progress"}));
    expect(&r, 200, "new to in_progress");
    expect(
        &patch(addr, "e-1", &t.ana, json!({"status": "acknowledged"})),
        409,
        "backwards",
    );
    expect(
        &patch(addr, "e-1", &t.ana, json!({"status": "in_progress"})),
        200,
        "same status",
    );
    expect(
        &patch(addr, "e-1", &t.ana, json!({"status": "resolved"})),
        200,
        "resolve",
    );
    expect(
        &patch(addr, "e-1", &t.ana, json!({"status": "new"})),
        200,
        "reopen",
    );
    expect(
        &patch(addr, "e-1", &t.ana, json!({"status": "closed"})),
        200,
        "close",
    );
    let r = patch(addr, "e-1", &t.ana, json!({"status": "resolved"}));
    expect(&r, 409, "closed to resolved");
    assert_eq!(r.json()["error"]["code"], "conflict");
    expect(
        &patch(addr, "e-1", &t.ana, json!({"status": "done"})),
        400,
        "unknown status",
    );

    // Assignee: set, then cleared with null; tags: replace, add, remove.
    let r = patch(
        addr,
        "e-2",
        &t.ana,
        json!({"assignee": "bob", "tags": ["apt", "ot"]}),
    );
    expect(&r, 200, "assign");
    assert_eq!(r.json()["assignee"], "bob");
    let r = patch(
        addr,
        "e-2",
        &t.ana,
        json!({"add_tags": ["ot", "grid"], "remove_tags": ["apt"]}),
    );
    assert_eq!(r.json()["tags"], json!(["ot", "grid"]));
    assert_eq!(r.json()["assignee"], "bob", "absent assignee is left alone");
    let r = patch(addr, "e-2", &t.ana, json!({}));
    expect(&r, 200, "an empty patch changes nothing");
    assert_eq!(r.json()["assignee"], "bob");
    let r = patch(addr, "e-2", &t.ana, json!({"assignee": null}));
    assert_eq!(r.json()["assignee"], Value::Null);
    assert_eq!(r.json()["tags"], json!(["ot", "grid"]));
    for (bad, what) in [
        (json!({"owner": "x"}), "unknown field"),
        (json!({"assignee": ""}), "empty assignee"),
        (json!({"assignee": "x".repeat(129)}), "long assignee"),
        (json!({"tags": ["x".repeat(65)]}), "long tag"),
        (
            json!({"tags": (0..33).map(|n| n.to_string()).collect::<Vec<_>>()}),
            "many tags",
        ),
        (json!({"tags": "apt"}), "tags not a list"),
    ] {
        let r = patch(addr, "e-2", &t.ana, bad);
        expect(&r, 400, what);
        assert_eq!(r.json()["error"]["code"], "bad_request", "{what}");
    }
    let r = request(
        addr,
        "PATCH",
        "/api/v1/incidents/e-2",
        &t.ana,
        &[("Content-Type", "application/json")],
        None,
    );
    expect(&r, 400, "no body");
    expect(
        &patch(addr, "nope", &t.ana, json!({"status": "closed"})),
        404,
        "unknown incident",
    );

    // Notes: author is the token's name; bounded.
    let r = note(addr, "e-2", &t.ana, "  Called the operator.  ");
    expect(&r, 201, "note");
    let n = &r.json()["notes"][0];
    assert_eq!(n["author"], "ana");
    assert_eq!(n["text"], "Called the operator.");
    expect(&note(addr, "e-2", &t.ana, "   "), 400, "blank note");
    expect(
        &note(addr, "e-2", &t.ana, &"x".repeat(4001)),
        400,
        "long note",
    );
    expect(
        &note(addr, "e-2", &t.ana, &"é".repeat(4000)),
        201,
        "4000 characters",
    );

    // Versions: If-Match with the current ETag passes, a stale one is refused.
    let d = get(addr, "/api/v1/incidents/e-3", &t.ana);
    let etag = d.header("etag").unwrap().to_string();
    let r = request(
        addr,
        "PATCH",
        "/api/v1/incidents/e-3",
        &t.ana,
        &[("If-Match", &etag)],
        Some(&json!({"status": "acknowledged"})),
    );
    expect(&r, 200, "matching version");
    let newer = r.header("etag").unwrap().to_string();
    assert_ne!(newer, etag);
    let r = request(
        addr,
        "PATCH",
        "/api/v1/incidents/e-3",
        &t.ana,
        &[("If-Match", &etag)],
        Some(&json!({"status": "in_progress"})),
    );
    expect(&r, 412, "stale version");
    let r = request(
        addr,
        "POST",
        "/api/v1/incidents/e-3/notes",
        &t.ana,
        &[("If-Match", &etag)],
        Some(&json!({"text": "late"})),
    );
    expect(&r, 412, "stale version, note");
    let r = request(
        addr,
        "POST",
        "/api/v1/incidents/e-3/notes",
        &t.ana,
        &[("If-Match", &newer)],
        Some(&json!({"text": "on time"})),
    );
    expect(&r, 201, "current version, note");

    // The energy analyst: a finance incident does not exist for them; a shared one does,
    // but merging it needs every sector of both.
    expect(
        &get(addr, "/api/v1/incidents/f-1", &t.admin),
        200,
        "an admin reads every sector",
    );
    expect(&get(addr, "/api/v1/incidents/f-1", &t.eve), 404, "read");
    expect(
        &patch(addr, "f-1", &t.eve, json!({"status": "acknowledged"})),
        404,
        "update",
    );
    expect(&note(addr, "f-1", &t.eve, "x"), 404, "note");
    expect(&merge(addr, "f-1", "e-3", &t.eve), 404, "merge from");
    expect(&merge(addr, "e-3", "f-1", &t.eve), 404, "merge into");
    expect(
        &get(addr, "/api/v1/incidents/ef-1", &t.eve),
        200,
        "shared incident",
    );
    expect(
        &merge(addr, "ef-1", "e-3", &t.eve),
        403,
        "merge across sectors",
    );
    let mine = ids(&get(addr, "/api/v1/incidents?limit=500", &t.eve).json());
    assert_eq!(
        mine.iter().map(String::as_str).collect::<HashSet<_>>(),
        HashSet::from(["e-1", "e-2", "e-3", "ef-1"])
    );
    assert!(ids(&get(addr, "/api/v1/incidents?sector=finance", &t.eve).json()) == ["ef-1"]);
    let f = get(addr, "/api/v1/incidents/f-1", &t.ana).json()["incident"].clone();
    assert_eq!(f["status"], "new", "the energy analyst changed nothing");

    // Merge: f-1 into ef-1 (an analyst of every sector).
    expect(&merge(addr, "f-1", "f-1", &t.ana), 409, "into itself");
    expect(&merge(addr, "f-1", "nope", &t.ana), 404, "into nothing");
    let before = get(addr, "/api/v1/incidents/ef-1", &t.ana).json()["incident"].clone();
    expect(
        &note(addr, "f-1", &t.ana, "seen from finance"),
        201,
        "note before merge",
    );
    let r = merge(addr, "f-1", "ef-1", &t.ana);
    expect(&r, 200, "merge");
    let m = r.json();
    let target = &m["incident"];
    let merged = &m["merged"];
    assert_eq!(merged["status"], "closed");
    assert_eq!(merged["merged_into"], "ef-1");
    assert_eq!(target["merged_from"], json!(["f-1"]));
    assert_eq!(target["sectors"], json!(["energy", "finance"]));
    assert_eq!(
        target["signal_count"].as_u64().unwrap(),
        before["signal_count"].as_u64().unwrap() + f["signal_count"].as_u64().unwrap()
    );
    assert_eq!(target["notes"][0]["text"], "seen from finance");
    let sev = |v: &Value| {
        Severity::ALL
            .iter()
            .position(|s| s.as_str() == v.as_str().unwrap())
    };
    assert_eq!(
        sev(&target["severity"]),
        sev(&before["severity"]).max(sev(&f["severity"]))
    );
    assert_eq!(
        target["first_seen"],
        [
            before["first_seen"].as_str().unwrap(),
            f["first_seen"].as_str().unwrap()
        ]
        .into_iter()
        .min()
        .unwrap()
    );
    let entities: Vec<&str> = target["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["value"].as_str().unwrap())
        .collect();
    assert!(entities.contains(&f["entities"][0]["value"].as_str().unwrap()));
    assert_eq!(target["evidence"].as_array().unwrap().len(), 2);
    // A merged incident is read-only, and cannot be merged into.
    expect(
        &patch(addr, "f-1", &t.ana, json!({"status": "new"})),
        409,
        "work a merged incident",
    );
    expect(
        &merge(addr, "e-3", "f-1", &t.ana),
        409,
        "merge into a merged incident",
    );
    // The detail's timeline has both changes.
    let tl = get(addr, "/api/v1/incidents/f-1", &t.ana).json()["timeline"].clone();
    assert!(tl
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["change"]["kind"] == "merged"));

    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    let merges = audit(&data, "incident.merge");
    assert!(
        merges.contains(&("ana".into(), "f-1".into(), "ok".into())),
        "{merges:?}"
    );
    assert!(
        merges
            .iter()
            .filter(|(a, _, o)| a == "eve" && o == "refused")
            .count()
            >= 3,
        "{merges:?}"
    );
    let c = ControlStore::open(&data).unwrap();
    let log = c.changes_since(0, &ncsoc_store::Scope::All, 1000).unwrap();
    let last: Vec<(String, &str)> = log[log.len() - 2..]
        .iter()
        .map(|c| (c.incident.id.clone(), c.kind.as_str()))
        .collect();
    // f-1 was critical, ef-1 low: the target escalated.
    assert_eq!(
        last,
        [
            ("f-1".to_string(), "merged"),
            ("ef-1".to_string(), "escalated")
        ]
    );
}

// ---------------------------------------------------------------------------------------
// The list: filters and cursor pagination over a few hundred incidents.

#[test]
fn list_filters_and_cursor_pagination() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = tokens(&data);
    let sectors = ["energy", "finance", "health"];
    let all: Vec<Incident> = (0..320)
        .map(|n| {
            let mut i = seeded(&format!("s-{n:03}"), &[sectors[n as usize % 3]], n);
            i.status = Status::ALL[(n % 5) as usize];
            i
        })
        .collect();
    seed(&data, &all);
    let server = Server::start(&data, &[]);
    let addr = server.addr;

    // Every page of a query, followed by its cursors.
    let walk = |query: &str, token: &str, limit: usize| -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/incidents?limit={limit}{query}");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let r = get(addr, &path, token);
            expect(&r, 200, &path);
            let page = r.json();
            let got = ids(&page);
            assert!(got.len() <= limit);
            out.extend(got);
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return out,
            }
            assert!(out.len() <= all.len(), "pagination does not end");
        }
    };
    let expected = |keep: &dyn Fn(&Incident) -> bool,
                    key: &dyn Fn(&Incident) -> i64,
                    desc: bool|
     -> Vec<String> {
        let mut v: Vec<&Incident> = all.iter().filter(|i| keep(i)).collect();
        v.sort_by(|a, b| {
            let (ka, kb) = ((key(a), &a.id), (key(b), &b.id));
            if desc {
                kb.cmp(&ka)
            } else {
                ka.cmp(&kb)
            }
        });
        v.into_iter().map(|i| i.id.clone()).collect()
    };
    let last_seen = |i: &Incident| i.last_seen.nanos();

    let everything = walk("", &t.ana, 37);
    assert_eq!(everything.len(), 320);
    assert_eq!(
        everything.iter().collect::<HashSet<_>>().len(),
        320,
        "no duplicates"
    );
    assert_eq!(everything, expected(&|_| true, &last_seen, true));
    assert_eq!(
        ids(&get(addr, "/api/v1/incidents", &t.ana).json()).len(),
        50,
        "default limit"
    );

    let sev_rank =
        |i: &Incident| Severity::ALL.iter().position(|s| *s == i.severity).unwrap() as i64;
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "&status=new,acknowledged",
            expected(
                &|i| matches!(i.status, Status::New | Status::Acknowledged),
                &last_seen,
                true,
            ),
        ),
        (
            "&status=new&status=closed&sort=first_seen",
            expected(
                &|i| matches!(i.status, Status::New | Status::Closed),
                &|i| i.first_seen.nanos(),
                false,
            ),
        ),
        (
            "&severity=high",
            expected(&|i| i.severity >= Severity::High, &last_seen, true),
        ),
        ("&sort=-severity", expected(&|_| true, &sev_rank, true)),
        (
            "&sort=score&kind=ddos,port_scan",
            expected(
                &|i| matches!(i.kind, IncidentKind::Ddos | IncidentKind::PortScan),
                &|i| i64::from(i.score),
                false,
            ),
        ),
        (
            "&sector=health&severity=medium",
            expected(
                &|i| i.sectors == ["health"] && i.severity >= Severity::Medium,
                &last_seen,
                true,
            ),
        ),
        (
            "&entity=198.51.100.7",
            expected(&|i| i.entities[0].value == "198.51.100.7", &last_seen, true),
        ),
        (
            "&q=HOST%2012",
            expected(
                &|i| i.title.to_lowercase().contains("host 12"),
                &last_seen,
                true,
            ),
        ),
        (
            "&from=2026-02-01T01:00:00Z&to=2026-02-01T02:00:00Z&sort=-last_seen",
            expected(
                &|i| {
                    i.last_seen >= Timestamp::parse_rfc3339("2026-02-01T01:00:00Z").unwrap()
                        && i.first_seen < Timestamp::parse_rfc3339("2026-02-01T02:00:00Z").unwrap()
                },
                &last_seen,
                true,
            ),
        ),
    ];
    for (query, want) in &cases {
        assert!(!want.is_empty(), "{query} should match something");
        assert_eq!(&walk(query, &t.ana, 13), want, "{query}");
    }
    // The energy analyst pages through energy's incidents only.
    let energy = walk("&sort=-score", &t.eve, 20);
    assert_eq!(
        energy,
        expected(&|i| i.sectors == ["energy"], &|i| i64::from(i.score), true)
    );
    assert!(ids(&get(addr, "/api/v1/incidents?sector=health", &t.eve).json()).is_empty());

    // Stable under inserts: a page, then a new incident, then the rest.
    let first = get(addr, "/api/v1/incidents?limit=100", &t.ana).json();
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    expect(
        &patch(addr, "s-000", &t.ana, json!({"status": "acknowledged"})),
        200,
        "a change meanwhile",
    );
    let rest = get(
        addr,
        &format!("/api/v1/incidents?limit=500&cursor={cursor}"),
        &t.ana,
    )
    .json();
    let mut joined = ids(&first);
    joined.extend(ids(&rest));
    assert_eq!(joined, everything);
    assert!(rest.get("next_cursor").is_none());

    // Bad parameters are refused with a clear message.
    for bad in [
        "limit=0",
        "limit=501",
        "status=bogus",
        "severity=urgent",
        "sort=name",
        "from=yesterday",
        "cursor=00zz",
        "kind=port-scan",
        "colour=red",
        "limit=5&limit=6",
    ] {
        let r = get(addr, &format!("/api/v1/incidents?{bad}"), &t.ana);
        expect(&r, 400, bad);
        assert_eq!(r.json()["error"]["code"], "bad_request");
    }
    let r = get(
        addr,
        &format!("/api/v1/incidents?sort=score&cursor={cursor}"),
        &t.ana,
    );
    expect(&r, 400, "a cursor of another sort");
    expect(
        &get(addr, "/api/v1/incidents", "ncsoc_wrong"),
        401,
        "bad token",
    );
    expect(
        &get(addr, "/api/v1/incidents/s-001?related_limit=0", &t.ana),
        400,
        "related_limit",
    );
}

// ---------------------------------------------------------------------------------------
// The live stream: resume with Last-Event-ID, isolation, limits.

#[test]
fn stream_resumes_without_gaps_or_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let t = tokens(&data);
    seed(
        &data,
        &[
            seeded("e-1", &["energy"], 1),
            seeded("f-1", &["finance"], 2),
            seeded("ef-1", &["energy", "finance"], 3),
        ],
    );
    let server = Server::start(&data, &[]);
    let addr = server.addr;
    let mut all = Stream::open(addr, &t.ana, &[], "").unwrap();
    let mut energy = Stream::open(addr, &t.eve, &[], "").unwrap();

    // Changes across sectors: 3 on e-1, 3 on f-1, 2 on ef-1, interleaved.
    let work = |id: &str, n: usize| {
        expect(&note(addr, id, &t.ana, &format!("note {n}")), 201, "note");
    };
    for n in 0..3 {
        work("e-1", n);
        work("f-1", n);
        if n < 2 {
            work("ef-1", n);
        }
    }
    let first = all.take(8);
    let seqs: Vec<i64> = first.iter().map(|e| e.id).collect();
    assert_eq!(
        seqs,
        (seqs[0]..seqs[0] + 8).collect::<Vec<_>>(),
        "consecutive"
    );
    assert!(first
        .iter()
        .all(|e| e.event == "incident.noted" && e.data["actor"] == "ana"));
    let mine = energy.take(5);
    assert!(
        mine.iter().all(|e| e.data["incident"]["id"] != "f-1"),
        "{mine:?}"
    );
    assert_eq!(energy.next(Duration::from_millis(300)), None);

    // Read some, disconnect, miss some, resume from the last id seen.
    let seen = first[4].id;
    drop(all);
    for n in 3..6 {
        work("f-1", n);
        work("e-1", n);
    }
    let mut resumed =
        Stream::open(addr, &t.ana, &[("Last-Event-ID", &seen.to_string())], "").unwrap();
    let missed = resumed.take(3 + 6);
    let ids_got: Vec<i64> = missed.iter().map(|e| e.id).collect();
    assert_eq!(ids_got, ((seen + 1)..=(seen + 9)).collect::<Vec<_>>());
    assert_eq!(
        resumed.next(Duration::from_millis(300)),
        None,
        "nothing twice"
    );
    // Then live.
    expect(
        &patch(addr, "ef-1", &t.ana, json!({"status": "acknowledged"})),
        200,
        "live change",
    );
    let live = resumed.take(1).remove(0);
    assert_eq!(live.id, seen + 10);
    assert_eq!(live.event, "incident.worked");
    assert_eq!(live.data["incident"]["status"], "acknowledged");
    assert_eq!(live.data["kind"], "worked");
    assert!(live.data["at"].as_str().unwrap().ends_with('Z'));

    // The energy analyst resuming from the start sees only energy's changes, in order.
    let mut e2 = Stream::open(addr, &t.eve, &[], "?last_event_id=0").unwrap();
    let backlog: Vec<SseEvent> =
        std::iter::from_fn(|| e2.next(Duration::from_millis(500))).collect();
    let expected_energy = ControlStore::open(&data)
        .unwrap()
        .changes_since(0, &ncsoc_store::Scope::Sectors(vec!["energy".into()]), 1000)
        .unwrap();
    assert_eq!(
        backlog.iter().map(|e| e.id).collect::<Vec<_>>(),
        expected_energy.iter().map(|c| c.seq).collect::<Vec<_>>()
    );
    assert!(backlog.iter().all(|e| e.data["incident"]["sectors"]
        .as_array()
        .unwrap()
        .contains(&json!("energy"))));
    assert_eq!(backlog.len(), 3 + 3 + 2 + 1);
    drop(e2);

    // Bad ids, and the per-token limit.
    for (h, q) in [
        ("abc", ""),
        ("-1", ""),
        ("", "?last_event_id=x"),
        ("", "?since=1"),
    ] {
        let extra: Vec<(&str, &str)> = if h.is_empty() {
            vec![]
        } else {
            vec![("Last-Event-ID", h)]
        };
        let r = Stream::open(addr, &t.ana, &extra, q)
            .err()
            .expect("refused");
        assert_eq!(r.status, 400, "{h} {q}: {}", r.body);
    }
    drop(resumed);
    drop(energy);
    std::thread::sleep(Duration::from_millis(300)); // closed streams release their slots
    let open: Vec<Stream> = (0..8)
        .map(|_| Stream::open(addr, &t.ana, &[], "").unwrap())
        .collect();
    let r = Stream::open(addr, &t.ana, &[], "")
        .err()
        .expect("a ninth stream is refused");
    assert_eq!(r.status, 429, "{}", r.body);
    assert!(
        Stream::open(addr, &t.eve, &[], "").is_ok(),
        "another token still may"
    );

    // Open streams do not hold up shutdown.
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    drop(open);
}
