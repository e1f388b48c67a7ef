//! `ncsoc serve` as a user runs it: the real binary, real sockets, real signals.

use std::process::Command;

mod common;

use common::{get, Server};

#[test]
fn serve_on_the_embedded_store_reports_health_and_metrics_and_stops_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (status, body) = get(server.addr, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"store\":\"sqlite\""), "{body}");
    let (status, body) = get(server.addr, "/metrics").unwrap();
    assert_eq!(status, 200);
    for metric in [
        "ncsoc_uptime_seconds",
        "ncsoc_store_rows_written_total{backend=\"sqlite\"} 0",
        "ncsoc_store_spool_batches",
        "ncsoc_store_write_latency_seconds{backend=\"sqlite\",quantile=\"0.99\"}",
    ] {
        assert!(body.contains(metric), "/metrics lacks {metric}:\n{body}");
    }
    assert_eq!(get(server.addr, "/nope").unwrap().0, 404);
    assert!(dir.path().join("ncsoc.db").exists());
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "exit {status}: {log}");
    assert!(
        log.contains("SIGTERM received") && log.contains("stopped"),
        "{log}"
    );
}

#[test]
fn sigint_stops_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let (status, log) = Server::start(dir.path(), &[]).stop("-INT");
    assert!(status.success(), "exit {status}: {log}");
    assert!(log.contains("SIGINT received"), "{log}");
}

#[test]
fn store_url_flag_chooses_the_backend_and_directory() {
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("elsewhere");
    // The flag wins over the data directory given in the environment.
    let store = format!("sqlite:{}", other.display());
    let server = Server::start_with(&["--store", &store], dir.path(), &[]);
    assert!(
        other.join("ncsoc.db").exists(),
        "--store sqlite:DIR must put the database in DIR"
    );
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(
        !log.contains("\u{1b}["),
        "no terminal colours in a log that is not a terminal:\n{log}"
    );
}

#[test]
fn bad_configuration_fails_fast_with_the_key_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(["serve"])
        .env("NCSOC_STORE__BATCH_SIZ", "10")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("batch_siz"), "{err}");
}

#[test]
fn health_turns_unavailable_when_clickhouse_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on port 1: ncsoc still starts (and would spool), but says it is degraded.
    let server = Server::start(
        dir.path(),
        &[
            ("NCSOC_STORE__BACKEND", "clickhouse"),
            ("NCSOC_STORE__CLICKHOUSE__URL", "http://127.0.0.1:1"),
            ("NCSOC_STORE__CLICKHOUSE__PASSWORD", "s3cret-value"),
        ],
    );
    let (status, body) = get(server.addr, "/healthz").unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("degraded") && body.contains("clickhouse"),
        "{body}"
    );
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(
        !log.contains("s3cret-value"),
        "the password leaked into the log:\n{log}"
    );
}

#[test]
fn serve_on_clickhouse_is_healthy() {
    let Ok(url) = std::env::var("NCSOC_TEST_CLICKHOUSE_URL") else {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "CI=true but NCSOC_TEST_CLICKHOUSE_URL is unset"
        );
        eprintln!("skipping: NCSOC_TEST_CLICKHOUSE_URL is not set (./scripts/test.sh sets it)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("ncsoc_t_serve_{}", std::process::id());
    let server = Server::start(
        dir.path(),
        &[
            ("NCSOC_STORE__BACKEND", "clickhouse"),
            ("NCSOC_STORE__CLICKHOUSE__URL", &url),
            ("NCSOC_STORE__CLICKHOUSE__DATABASE", &db),
        ],
    );
    let (status, body) = get(server.addr, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(get(server.addr, "/metrics")
        .unwrap()
        .1
        .contains("backend=\"clickhouse\""));
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");
    assert!(log.contains("connected to ClickHouse"), "{log}");
    let _ = Command::new("curl")
        .args([
            "-sS",
            "--data-binary",
            &format!("DROP DATABASE IF EXISTS {db}"),
            &url,
        ])
        .output();
}
