//! Threat intelligence end to end with the real binary: `ncsoc intel import` stores a
//! STIX bundle (and reports a bad file without losing the good one); `ncsoc serve` loads
//! the indicators at start and its detector turns NetFlow records that touch one into an
//! incident carrying the indicator; a CERT's push over `POST /api/v1/intel` is stored,
//! audited and reloaded into the detector; `ncsoc replay --intel` matches too.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, metric, udp_payloads, Server};
use serde_json::{json, Value};

fn ncsoc(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(args)
        .env("NCSOC_STORE__DATA_DIR", dir)
        .output()
        .expect("run ncsoc");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn post(addr: SocketAddr, path: &str, token: &str, body: &str) -> (u16, Value) {
    call(addr, "POST", path, token, body)
}

fn call(addr: SocketAddr, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    common::call_json(addr, method, path, token, body)
}

fn bundle(ip: &str, tlp_ref: &str) -> Value {
    json!({"type": "bundle", "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d", "objects": [
        {"type": "identity", "spec_version": "2.1", "id": "identity--5d0092c5-5f74-4287-9642-33f4c354e56e",
         "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z", "name": "CERT-Finance"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--5d0092c5-5f74-4287-9642-33f4c354e56f",
         "created_by_ref": "identity--5d0092c5-5f74-4287-9642-33f4c354e56e",
         "created": "2024-01-01T00:00:00Z", "modified": "2024-01-01T00:00:00Z",
         "name": "Scanner", "pattern": format!("[ipv4-addr:value = '{ip}'] OR [file:name = 'x.exe']"),
         "pattern_type": "stix", "valid_from": "2000-01-01T00:00:00Z", "confidence": 90,
         "object_marking_refs": [tlp_ref]}
    ]})
}

const TLP_AMBER: &str = "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82";
const TLP_GREEN: &str = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da";

fn wait_metric(server: &Server, prefix: &str, at_least: u64) -> u64 {
    let start = Instant::now();
    loop {
        let v = metric(server.addr, prefix);
        if v >= at_least {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{prefix} = {v}, waited for {at_least}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn imported_and_pushed_intel_reaches_the_detector() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let good = dir.path().join("cert.json");
    std::fs::write(&good, bundle("203.0.113.77", TLP_AMBER).to_string()).unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"type": "bundle", "id": "bundle--x", "objects": []}"#,
    )
    .unwrap();

    // The CLI: the good file is imported, the bad one named, the exit is non-zero.
    let store = format!("sqlite:{}", data.display());
    let (ok, out, err) = ncsoc(
        &data,
        &[
            "intel",
            "import",
            "--store",
            &store,
            bad.to_str().unwrap(),
            good.to_str().unwrap(),
        ],
    );
    assert!(!ok, "a bad file fails the command\n{out}\n{err}");
    assert!(
        out.contains("bad.json: invalid: bundle: `id` must be `bundle--<uuid>`"),
        "{out}"
    );
    assert!(out.contains("cert.json: STIX, 1 indicator objects/attributes read, 1 indicators imported, 1 skipped"), "{out}");
    assert!(
        out.contains("skipped 1× file:name is not a property ncsoc matches"),
        "{out}"
    );

    // The server loads it at start; flows from the scanner hit it.
    let port = free_port();
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nbatch_max_delay_ms = 20\n\n[[intake.flows]]\nlisten = \"127.0.0.1:{port}\"\nsource = \"finance-routers\"\nsector = \"unassigned\"\nexporters = {{ \"127.0.0.1\" = \"finance\" }}\n"
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    assert_eq!(metric(server.addr, "ncsoc_intel_indicators"), 1);
    let exports = udp_payloads(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-data/finance-netflow.pcap"),
    );
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for p in &exports {
        sock.send_to(p, ("127.0.0.1", port)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    wait_metric(&server, "ncsoc_detector_ioc_hits_total", 1);
    wait_metric(&server, "ncsoc_detector_incident_writes_total", 1);

    // A CERT pushes over the API: stored, audited, reloaded (the version counter).
    let (okt, out, errt) = ncsoc(
        &data,
        &[
            "token",
            "create",
            "--json",
            "--role",
            "admin",
            "--name",
            "cert-push",
        ],
    );
    assert!(okt, "{errt}");
    let admin = serde_json::from_str::<Value>(out.trim()).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let reloads = metric(server.addr, "ncsoc_intel_reloads_total");
    let (status, body) = post(
        server.addr,
        "/api/v1/intel",
        &admin,
        &bundle("198.51.100.200", TLP_GREEN).to_string(),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["format"], "stix");
    assert_eq!(body["stored"], 1);
    assert_eq!(body["skipped"], 1);
    assert_eq!(
        body["skip_reasons"][0]["reason"],
        "file:name is not a property ncsoc matches"
    );
    wait_metric(&server, "ncsoc_intel_reloads_total", reloads + 1);
    // Both indicators have the same STIX id and differ by value: two indicators now.
    wait_metric(&server, "ncsoc_intel_indicators", 2);
    let (status, body) = post(
        server.addr,
        "/api/v1/intel",
        &admin,
        r#"{"type": "identity"}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("neither a STIX bundle nor a MISP event"),
        "{body}"
    );
    let (status, _) = post(server.addr, "/api/v1/intel", "nope", "{}");
    assert_eq!(status, 401);

    // TLP:RED indicators are listed to NCSOC-wide tokens only, never to a sector's analysts.
    let red = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed";
    let mut doc = bundle("192.0.2.66", red);
    doc["objects"][1]["id"] = json!("indicator--5d0092c5-5f74-4287-9642-33f4c354e570");
    let (status, body) = post(server.addr, "/api/v1/intel", &admin, &doc.to_string());
    assert_eq!(status, 200, "{body}");
    let (okt, out, errt) = ncsoc(
        &data,
        &[
            "token",
            "create",
            "--json",
            "--role",
            "analyst",
            "--sectors",
            "energy",
        ],
    );
    assert!(okt, "{errt}");
    let energy = serde_json::from_str::<Value>(out.trim()).unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let values = |token: &str| -> Vec<String> {
        let (status, body) = call(server.addr, "GET", "/api/v1/indicators", token, "");
        assert_eq!(status, 200, "{body}");
        let mut v = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["value"].as_str().unwrap().to_string())
            .collect::<Vec<String>>();
        v.sort();
        v
    };
    assert_eq!(
        values(&admin),
        ["192.0.2.66", "198.51.100.200", "203.0.113.77"]
    );
    assert_eq!(values(&energy), ["198.51.100.200", "203.0.113.77"]);

    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    let db = rusqlite::Connection::open(data.join("ncsoc.db")).unwrap();
    let docs: Vec<String> = db
        .prepare("SELECT doc FROM incidents")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ioc: Vec<Value> = docs
        .iter()
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .flat_map(|d| d["evidence"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["signal"] == "ioc")
        .collect();
    assert!(!ioc.is_empty(), "{docs:?}");
    assert_eq!(ioc[0]["tlp"], "amber");
    assert_eq!(ioc[0]["sector"], "finance");
    assert!(ioc[0]["indicator"]
        .as_str()
        .unwrap()
        .starts_with("indicator--5d0092c5-5f74-4287-9642-33f4c354e56f#"));
    assert!(ioc[0]["description"]
        .as_str()
        .unwrap()
        .contains("from CERT-Finance (TLP:AMBER, confidence 90)"));
    let audit: i64 = db_count(&data);
    assert!(audit >= 2, "push and refusal audited");

    // Replay with the file: the same hit, without a server.
    let (ok, out, err) = ncsoc(
        &data,
        &[
            "replay",
            "--intel",
            good.to_str().unwrap(),
            &format!(
                "finance={}",
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("replay-data/finance-netflow.pcap")
                    .display()
            ),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("\"signal\":\"ioc\"") && l.contains("CERT-Finance")),
        "{out}"
    );
}

fn db_count(data: &Path) -> i64 {
    let db = rusqlite::Connection::open(data.join("control.db")).unwrap();
    db.query_row(
        "SELECT count(*) FROM audit_log WHERE action = 'intel.import'",
        [],
        |r| r.get(0),
    )
    .unwrap()
}
