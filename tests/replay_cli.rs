//! `ncsoc replay` over the fixtures in `replay-data/` (the project's own synthetic
//! captures and logs): the incidents must be the expected ones, the same on every run and
//! whatever the order of the inputs; with `--store` they land in the store.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("replay-data")
        .join(name)
}

fn inputs() -> Vec<String> {
    [
        ("energy", "energy-scan.pcap"),
        ("finance", "finance-netflow.pcap"),
        ("health", "health-auth.ndjson"),
        ("transport", "transport-dns.ndjson"),
    ]
    .iter()
    .map(|(s, f)| format!("{s}={}", data(f).display()))
    .collect()
}

fn replay(args: &[String]) -> (String, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .arg("replay")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let summary = serde_json::from_str(stderr.lines().last().unwrap()).unwrap();
    (String::from_utf8(out.stdout).unwrap(), summary)
}

/// The parts of an incident the fixtures pin down (the evidence wording may be reworded
/// without regenerating the expectations; the numbers below may not).
fn projection(incident: &Value) -> Value {
    let mut entities: Vec<String> = incident["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}:{}:{}",
                e["type"].as_str().unwrap(),
                e["value"].as_str().unwrap(),
                e["role"].as_str().unwrap()
            )
        })
        .collect();
    entities.sort();
    json!({
        "id": incident["id"],
        "kind": incident["kind"],
        "severity": incident["severity"],
        "score": incident["score"],
        "sectors": incident["sectors"],
        "entities": entities,
        "first_seen": incident["first_seen"],
        "last_seen": incident["last_seen"],
        "signal_count": incident["signal_count"],
        "attack": incident["attack"],
    })
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn fixtures_give_the_expected_incidents() {
    let (out, summary) = replay(&inputs());
    let got: Vec<Value> = lines(&out).iter().map(projection).collect();
    let expected = lines(&std::fs::read_to_string(data("expected.jsonl")).unwrap());
    assert_eq!(
        got,
        expected,
        "replay output changed; if the change is intended, regenerate with scripts/replay-expected.sh\n{}",
        serde_json::to_string_pretty(&got).unwrap()
    );
    // What the fixtures are for: one national campaign naming three sectors, one tunnel.
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["kind"], "campaign");
    assert_eq!(got[0]["sectors"], json!(["energy", "finance", "health"]));
    assert_eq!(got[1]["kind"], "dns_tunnel");
    // Every input was read and nothing was dropped.
    for input in summary["inputs"].as_array().unwrap() {
        assert!(input["events"].as_u64().unwrap() > 0, "{input}");
        assert_eq!(input["errors"], json!([]), "{input}");
        assert_eq!(input["out_of_order"], 0, "{input}");
    }
    assert_eq!(summary["detector"]["late"], 0);
}

#[test]
fn replay_is_deterministic_and_independent_of_input_order() {
    let (a, _) = replay(&inputs());
    let (b, _) = replay(&inputs());
    assert_eq!(a, b);
    let mut reversed = inputs();
    reversed.reverse();
    let (c, _) = replay(&reversed);
    assert_eq!(a, c);
}

#[test]
fn replay_into_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = inputs();
    args.push("--store".into());
    args.push(format!("sqlite:{}", dir.path().display()));
    let out_file = dir.path().join("incidents.jsonl");
    args.push("--out".into());
    args.push(out_file.display().to_string());
    let (stdout, summary) = replay(&args);
    assert!(stdout.is_empty(), "--out takes the incidents: {stdout}");
    let written = lines(&std::fs::read_to_string(&out_file).unwrap());
    assert_eq!(written.len(), 2);

    let db = rusqlite::Connection::open(dir.path().join("ncsoc.db")).unwrap();
    let incidents: i64 = db
        .query_row("SELECT count(*) FROM incidents", [], |r| r.get(0))
        .unwrap();
    assert_eq!(incidents, 2);
    let stored: i64 = db
        .query_row(
            "SELECT (SELECT count(*) FROM events) + (SELECT count(*) FROM flows)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored as u64, summary["records"].as_u64().unwrap());
}

#[test]
fn bad_inputs_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(["replay", "no-equals-sign"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SECTOR=PATH"));
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(["replay", "energy=/nonexistent/file.pcap"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"));
}
