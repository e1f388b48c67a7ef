//! The dashboard end to end: `ncsoc replay` fills a store from `replay-data/`, the real
//! `ncsoc serve` serves it (with a syslog listener taking live messages too), and the
//! browser tests in `tests/e2e/` drive headless Chromium through playwright-core against it.
//!
//! Needs node, Chromium (`/usr/bin/chromium`, or `CHROMIUM`) and `npm ci` run in
//! `tests/e2e` (`scripts/test.sh` installs all three). Without them the browser test is
//! skipped with a message, except in CI (`CI=true`), where it fails.
//! `NCSOC_DASHBOARD_SCREENSHOTS=DIR` saves a 1366×768 screenshot of each view there
//! (`docs/` holds the committed ones).

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, Server};
use ncsoc_store::control::Role;
use ncsoc_store::ControlStore;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// What the browser test needs, or why it cannot run.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let node = match Command::new("node").arg("--version").output() {
        Ok(o) if o.status.success() => PathBuf::from("node"),
        _ => return Err("node is not installed (apt-get install nodejs npm)".into()),
    };
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!(
            "{} is missing (apt-get install chromium, or set CHROMIUM)",
            chromium.display()
        ));
    }
    let pw = root().join("tests/e2e/node_modules/playwright-core/package.json");
    if !pw.exists() {
        return Err("tests/e2e/node_modules is missing (run `npm ci` in tests/e2e)".into());
    }
    Ok((node, chromium))
}

/// A platform fed by the replay fixtures, a live syslog listener, and analyst tokens.
struct Platform {
    _dir: tempfile::TempDir,
    server: Server,
    syslog: SocketAddr,
    /// (all sectors, all sectors, energy only, finance only)
    tokens: [String; 4],
}

fn platform() -> Platform {
    let dir = tempfile::tempdir().unwrap();
    let data = |f: &str| root().join("replay-data").join(f).display().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .arg("replay")
        .arg("--store")
        .arg(format!("sqlite:{}", dir.path().display()))
        .arg("--out")
        .arg(dir.path().join("incidents.jsonl"))
        .arg(format!("energy={}", data("energy-scan.pcap")))
        .arg(format!("finance={}", data("finance-netflow.pcap")))
        .arg(format!("health={}", data("health-auth.ndjson")))
        .arg(format!("transport={}", data("transport-dns.ndjson")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let control = ControlStore::open(dir.path()).unwrap();
    let token = |name: &str, sectors: &[&str]| {
        let sectors: Vec<String> = sectors.iter().map(|s| s.to_string()).collect();
        control
            .create_token(name, Role::Analyst, &sectors, None)
            .unwrap()
            .1
    };
    let tokens = [
        token("alice", &[]),
        token("bob", &[]),
        token("energy-analyst", &["energy"]),
        token("finance-analyst", &["finance"]),
    ];
    drop(control);

    let syslog: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            "[[intake.syslog]]\nprotocol = \"udp\"\nlisten = \"{syslog}\"\nsector = \"energy\"\n\
             source = \"energy-siem\"\nmax_frame_bytes = 512\n"
        ),
    )
    .unwrap();
    // The replay is from March 2026: no retention pass, or the server would drop it at start.
    let server = Server::start_with(
        &["--config", &config.display().to_string()],
        dir.path(),
        &[("NCSOC_STORE__RETENTION_DAYS", "0")],
    );
    Platform {
        _dir: dir,
        server,
        syslog,
        tokens,
    }
}

/// GET with a bearer token; (status, JSON body).
fn get_json(addr: SocketAddr, path: &str, token: &str) -> (u16, Value) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = resp.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// Sends syslog lines (and one over the frame limit) and waits until intake counted them.
fn send_syslog(p: &Platform) {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..5 {
        let line = format!(
            "<34>Mar  2 10:50:0{i} scada-gw sshd[42]: Failed password for root from 203.0.113.77 port 5{i}022 ssh2"
        );
        sock.send_to(line.as_bytes(), p.syslog).unwrap();
    }
    let long = format!("<34>Mar  2 10:51:00 scada-gw app: {}", "x".repeat(900));
    sock.send_to(long.as_bytes(), p.syslog).unwrap();
    let start = Instant::now();
    loop {
        let (_, body) = get_json(p.server.addr, "/api/v1/intake", &p.tokens[0]);
        let received = body["sources"][0]["received"].as_u64().unwrap_or(0);
        if received >= 6 {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "intake never counted the syslog lines: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn intake_counters_follow_the_token_sectors() {
    let p = platform();
    send_syslog(&p);
    let (status, all) = get_json(p.server.addr, "/api/v1/intake", &p.tokens[0]);
    assert_eq!(status, 200, "{all}");
    let src = &all["sources"][0];
    assert_eq!(src["sector"], "energy");
    assert_eq!(src["source"], "energy-siem");
    assert_eq!(src["received"], 6);
    assert_eq!(src["rejected"], 1, "the frame over 512 bytes: {all}");
    assert_eq!(src["parsed"], 5);
    assert_eq!(all["global"]["frames_too_long"], 1);

    let (_, energy) = get_json(p.server.addr, "/api/v1/intake", &p.tokens[2]);
    assert_eq!(energy["sources"], all["sources"]);
    assert!(energy.get("global").is_none(), "{energy}");
    let (_, finance) = get_json(p.server.addr, "/api/v1/intake", &p.tokens[3]);
    assert_eq!(finance["sources"], serde_json::json!([]), "{finance}");

    let (status, body) = get_json(p.server.addr, "/api/v1/intake", "ncsoc_wrong");
    assert_eq!(status, 401, "{body}");
}

#[test]
fn dashboard_in_headless_chromium() {
    let (node, chromium) = match browser_tools() {
        Ok(t) => t,
        Err(why) if in_ci() => panic!("the dashboard's browser test cannot run in CI: {why}"),
        Err(why) => {
            eprintln!("SKIPPED dashboard_in_headless_chromium: {why}");
            return;
        }
    };
    let p = platform();
    send_syslog(&p);
    let mut cmd = Command::new(node);
    cmd.current_dir(root().join("tests/e2e"))
        .args(["--test", "--test-reporter=spec", "dashboard.test.mjs"])
        .env("NCSOC_URL", format!("http://{}", p.server.addr))
        .env("NCSOC_TOKEN", &p.tokens[0])
        .env("NCSOC_TOKEN_2", &p.tokens[1])
        .env("NCSOC_TOKEN_ENERGY", &p.tokens[2])
        .env("CHROMIUM", chromium)
        .env_remove("NCSOC_SCREENSHOTS");
    if let Some(dir) = std::env::var_os("NCSOC_DASHBOARD_SCREENSHOTS") {
        cmd.env("NCSOC_SCREENSHOTS", dir);
    }
    let out = cmd.output().expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "the browser tests failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        p.server.log()
    );
    assert!(
        stdout.contains("pass 4"),
        "expected 4 passing browser tests:\n{stdout}"
    );
}
