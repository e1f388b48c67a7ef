//! The detector inside `ncsoc serve`: NetFlow v9 exports sent over UDP to a flow listener
//! become a port-scan incident in the store; the detector's state survives a restart, so
//! the same traffic again does not open a second incident.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, metric, udp_payloads, Server};

fn wait_for(server: &Server, what: &str, prefix: &str, at_least: u64) -> u64 {
    let start = Instant::now();
    loop {
        let v = metric(server.addr, prefix);
        if v >= at_least {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what}: {prefix} = {v}, waited for {at_least}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn incidents(data: &Path) -> Vec<(String, String, String)> {
    let db = rusqlite::Connection::open(data.join("ncsoc.db")).unwrap();
    let mut stmt = db
        .prepare("SELECT id, kind, doc FROM incidents ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn flows_over_udp_become_a_stored_incident_and_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let config = dir.path().join("ncsoc.toml");
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
    let exports = udp_payloads(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-data/finance-netflow.pcap"),
    );
    let send = |server: &Server| {
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for p in &exports {
            sock.send_to(p, ("127.0.0.1", port)).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = server;
    };

    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    send(&server);
    wait_for(
        &server,
        "incident opened",
        "ncsoc_detector_incidents_opened_total",
        1,
    );
    wait_for(
        &server,
        "incident stored",
        "ncsoc_detector_incident_writes_total",
        1,
    );
    // The time from ingest to the incident is measured.
    assert!(metric(server.addr, "ncsoc_detector_incident_latency_seconds_count") >= 1);
    // Every exported flow reaches the detector (loopback UDP at this pace loses none).
    let records = wait_for(&server, "records", "ncsoc_detector_records_total", 460);
    assert_eq!(records, 460);
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(data.join("detector.ckpt").exists(), "{log}");

    let stored = incidents(&data);
    assert_eq!(stored.len(), 1, "{stored:?}");
    let (id, kind, doc) = &stored[0];
    assert_eq!(kind, "port_scan");
    let doc: serde_json::Value = serde_json::from_str(doc).unwrap();
    assert_eq!(doc["sectors"], serde_json::json!(["finance"]));
    assert!(doc["entities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["value"] == "203.0.113.77"));

    // Restart: the checkpoint is read back; the same exports again are late for bins
    // that already closed, and the incident is neither forgotten nor opened twice.
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    send(&server);
    wait_for(
        &server,
        "late records after restart",
        "ncsoc_detector_late_total",
        1,
    );
    assert_eq!(
        metric(server.addr, "ncsoc_detector_incidents_opened_total"),
        1
    );
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(log.contains("detector state restored"), "{log}");
    let again = incidents(&data);
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(&again[0].0, id);
}
