//! The OpenAPI document validates (openapi-spec-validator), and schemathesis, a
//! property-based API tester, finds no server error and no answer that breaks the document
//! on any operation (but the endless live stream), run against the real `ncsoc serve` on loopback with an admin token.
//!
//! The tools come from PyPI (`scripts/test.sh` installs them in a virtualenv and exports
//! `NCSOC_SCHEMATHESIS` and `NCSOC_OPENAPI_VALIDATOR`). Without them this test skips with a
//! message, except in CI (`CI` set), where it fails.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{get, Server};
use ncsoc_model::{Entity, Evidence, Incident, IncidentKind, Severity, Status, Timestamp};
use ncsoc_store::control::Role;
use ncsoc_store::{ControlStore, Store};

fn tool(var: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var_os("CI").is_some() => {
            panic!("{var} is not set: scripts/test.sh installs the API test tools in CI")
        }
        None => {
            eprintln!("skipping: {var} is not set (run scripts/test.sh to install schemathesis)");
            None
        }
    }
}

/// A few incidents in two sectors, so list and detail answers have content to check.
async fn seed(data: &std::path::Path) {
    let cfg = ncsoc_store::StoreConfig {
        data_dir: data.to_path_buf(),
        ..Default::default()
    };
    let store = ncsoc_store::sqlite::SqliteStore::open(data, &cfg).unwrap();
    for (i, sector) in ["energy", "finance", "health"].iter().enumerate() {
        let t = Timestamp::from_secs(1_790_000_000 + i as i64 * 600);
        store
            .put_incident(&Incident {
                id: format!("inc-seed-{i}"),
                title: format!("Port scan of {sector} from 203.0.113.{i}"),
                kind: IncidentKind::PortScan,
                severity: Severity::Medium,
                score: 55,
                status: Status::New,
                sectors: vec![sector.to_string()],
                entities: vec![Entity {
                    kind: "ip".into(),
                    value: format!("203.0.113.{i}"),
                    role: "attacker".into(),
                }],
                first_seen: t,
                last_seen: t,
                evidence: vec![Evidence {
                    at: t,
                    sector: sector.to_string(),
                    signal: "nbad.port_scan".into(),
                    description: "distinct destination ports".into(),
                    observed: Some(412.0),
                    baseline: Some(3.0),
                    threshold: Some(50.0),
                    window_secs: Some(60),
                    ..Default::default()
                }],
                attack: vec!["T1046".into()],
                assignee: None,
                notes: Vec::new(),
                tags: Vec::new(),
                dedup_key: format!("seed-{i}"),
                signal_count: 1,
                updated_at: t,
                merged_into: None,
                merged_from: Vec::new(),
                merged_signal_count: 0,
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_validates_and_schemathesis_finds_no_violation() {
    let (Some(st), Some(python)) = (tool("NCSOC_SCHEMATHESIS"), tool("NCSOC_OPENAPI_VALIDATOR"))
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed(&data).await;
    let control = ControlStore::open(&data).unwrap();
    let (_, admin) = control
        .create_token("schema-check", Role::Admin, &[], None)
        .unwrap();
    drop(control);
    let server = Server::start(
        &data,
        &[
            // The tester sends thousands of requests from one token.
            ("NCSOC_API__SECURITY__RATE_LIMIT_PER_SECOND", "0"),
            // Its requests without a token would otherwise get loopback blocked.
            ("NCSOC_API__SECURITY__AUTH_FAILURES_PER_MINUTE", "0"),
            ("RUST_LOG", "warn"),
        ],
    );
    let (status, doc) = get(server.addr, "/api/v1/openapi.json").unwrap();
    assert_eq!(status, 200);
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, &doc).unwrap();

    let out = Command::new(&python)
        .args([
            "-c",
            "import sys, json; from openapi_spec_validator import validate; \
             validate(json.load(open(sys.argv[1]))); print('valid')",
        ])
        .arg(&spec)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the OpenAPI document does not validate:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let paths = serde_json::from_str::<serde_json::Value>(&doc).unwrap()["paths"]
        .as_object()
        .map_or(0, |p| p.len());
    assert!(paths >= 5, "the document describes only {paths} paths");

    let report = dir.path().join("schemathesis");
    let out = Command::new(&st)
        .arg("run")
        .arg(format!("http://{}/api/v1/openapi.json", server.addr))
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--header",
        ])
        .arg(format!("Authorization: Bearer {admin}"))
        .args([
            "--max-examples",
            "40",
            "--seed",
            "7",
            "--workers",
            "2",
            "--request-timeout",
            "10",
            "--phases",
            "examples,coverage,fuzzing",
            // The live stream never ends, so every case would wait out the request timeout;
            // tests/api_incidents.rs reads it event by event instead.
            "--exclude-path",
            "/stream",
            "--no-color",
            "--report",
            "junit",
        ])
        .arg("--report-dir")
        .arg(&report)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found problems:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    eprintln!(
        "{}",
        stdout.lines().rev().take(15).collect::<Vec<_>>().join("\n")
    );
}
