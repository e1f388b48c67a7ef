//! `ncsoc serve` as a user runs it: the real binary, real sockets, real signals.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 GET; returns (status, body).
fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut resp = String::new();
    s.read_to_string(&mut resp)?;
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        Self::start_with(&[], data_dir, env)
    }

    /// `ncsoc serve ARGS...` with the data directory and listen address set through the
    /// environment; returns once `/healthz` answers.
    fn start_with(args: &[&str], data_dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ncsoc"));
        cmd.arg("serve")
            .args(args)
            .env("NCSOC_SERVER__LISTEN", addr.to_string())
            .env("NCSOC_STORE__DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("start ncsoc serve");
        let server = Self { child, addr };
        let start = Instant::now();
        while get(addr, "/healthz").is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ncsoc serve did not listen on {addr}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Sends `signal` and returns the exit status and what it logged.
    fn stop(mut self, signal: &str) -> (std::process::ExitStatus, String) {
        let ok = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut log = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut log)
                    .unwrap();
                return (status, log);
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "ncsoc serve did not stop on {signal}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

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
