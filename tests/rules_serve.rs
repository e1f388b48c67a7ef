//! Rules in `ncsoc serve` and `ncsoc rules check`: a Sigma rule from the configured folder
//! turns a syslog line into a `sigma` incident, `GET /api/v1/rules` lists the loaded and
//! the rejected rules, and a changed folder is reloaded while the server runs.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{free_port, Server};
use ncsoc_store::control::{ControlStore, Role};

const RULE: &str = r#"title: SSH root password failure
id: 11111111-2222-3333-4444-555555555555
status: test
logsource:
    product: linux
    service: sshd
detection:
    keywords:
        - 'Failed password for root'
    condition: keywords
level: high
tags:
    - attack.credential-access
    - attack.t1110.001
"#;

fn get_auth(addr: SocketAddr, path: &str, token: &str) -> (u16, serde_json::Value) {
    common::call_json(addr, "GET", path, token, "")
}

fn wait<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited too long for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn ids(list: &serde_json::Value) -> Vec<String> {
    list["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|r| r["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn sigma_hit_becomes_an_incident_and_the_folder_reloads() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("ssh.yml"), RULE).unwrap();
    let token = ControlStore::open(&data)
        .unwrap()
        .create_token("ana", Role::Analyst, &[], None)
        .unwrap()
        .1;
    let port = free_port();
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_max_delay_ms = 20

[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:{port}"
sector = "energy"
source = "energy-siem"

[rules]
dir = "{}"
reload_secs = 1
"#,
            rules.display()
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);

    let (status, list) = get_auth(server.addr, "/api/v1/rules", &token);
    assert_eq!(status, 200, "{list}");
    assert_eq!(ids(&list), ["11111111-2222-3333-4444-555555555555"]);
    assert_eq!(list["items"][0]["attack"][0], "T1110.001");
    assert_eq!(list["items"][0]["active"], true);

    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(b"<38>Feb  1 10:00:00 srv-db-01 sshd[812]: Failed password for root from 203.0.113.8 port 4242 ssh2\n")
        .unwrap();
    tcp.flush().unwrap();
    let doc = wait("a sigma incident", || {
        let db = rusqlite::Connection::open(data.join("ncsoc.db")).ok()?;
        db.query_row("SELECT doc FROM incidents WHERE kind = 'sigma'", [], |r| {
            r.get::<_, String>(0)
        })
        .ok()
    });
    let inc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(inc["title"], "SSH root password failure");
    assert_eq!(inc["sectors"][0], "energy");
    assert_eq!(inc["severity"], "high", "{inc}");
    assert!(
        inc["attack"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "T1110.001"),
        "{inc}"
    );
    assert!(
        inc["evidence"][0]["rule"]
            .as_str()
            .unwrap()
            .starts_with("11111111-2222-3333-4444-555555555555 "),
        "{inc}"
    );

    // A new rule and a broken one: reloaded while serving; the broken one is listed.
    std::fs::write(
        rules.join("z_more.yml"),
        RULE.replace("11111111", "99999999")
            .replace("for root", "for admin"),
    )
    .unwrap();
    std::fs::write(rules.join("bad.yml"), "title: broken\nlogsource: {product: linux}\ndetection:\n  sel:\n    a|nope: 1\n  condition: sel\n").unwrap();
    let list = wait("the reloaded rules", || {
        let (_, list) = get_auth(server.addr, "/api/v1/rules", &token);
        (ids(&list).len() == 2).then_some(list)
    });
    let bad = &list["invalid"][0];
    assert!(bad["file"].as_str().unwrap().ends_with("bad.yml"), "{list}");
    assert_eq!(bad["line"], 5);
    assert!(bad["reason"]
        .as_str()
        .unwrap()
        .contains("unknown modifier `nope`"));
    // The reloaded rule fires; same host, so its hit joins the open incident.
    tcp.write_all(b"<38>Feb  1 10:05:00 srv-db-01 sshd[813]: Failed password for admin from 198.51.100.9 port 4243 ssh2\n")
        .unwrap();
    tcp.flush().unwrap();
    wait("evidence from the reloaded rule", || {
        let db = rusqlite::Connection::open(data.join("ncsoc.db")).ok()?;
        let doc: String = db
            .query_row("SELECT doc FROM incidents WHERE kind = 'sigma'", [], |r| {
                r.get(0)
            })
            .ok()?;
        doc.contains("99999999-2222-3333-4444-555555555555")
            .then_some(())
    });
}

#[test]
fn rules_check_reports_file_line_reason_and_exit_status() {
    let bin = env!("CARGO_BIN_EXE_ncsoc");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let out = std::process::Command::new(bin)
        .args(["rules", "check"])
        .arg(&shipped)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("219 rules (219 active, 0 dormant"), "{text}");
    assert!(text.contains(", 0 invalid"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yml"), RULE).unwrap();
    std::fs::write(
        dir.path().join("bad.yml"),
        "title: broken\nlogsource: {product: linux}\ndetection:\n  sel:\n    a: 1\n  condition: sel and missing\n",
    )
    .unwrap();
    let out = std::process::Command::new(bin)
        .args(["rules", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = text.lines().next().unwrap();
    assert!(
        first.ends_with("bad.yml:6: condition names `missing`, which is not a search identifier"),
        "{first}"
    );
    assert!(text.contains("1 rules (1 active"), "{text}");
    assert!(text.contains("1 invalid"), "{text}");
}

#[test]
fn replay_with_rules_reports_sigma_incidents() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("ssh.yml"), RULE).unwrap();
    let log = dir.path().join("auth.log");
    std::fs::write(
        &log,
        "<38>Feb  1 10:00:00 srv-db-01 sshd[812]: Failed password for root from 203.0.113.8 port 4242 ssh2\n\
         <38>Feb  1 10:00:05 srv-db-01 sshd[812]: Accepted publickey for deploy from 10.0.0.4 port 4243 ssh2\n",
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_ncsoc");
    let run = |with_rules: bool| {
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("replay").arg(format!("health={}", log.display()));
        if with_rules {
            cmd.arg("--rules").arg(&rules);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let with = run(true);
    let incidents: Vec<serde_json::Value> = with
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(incidents.len(), 1, "{with}");
    assert_eq!(incidents[0]["kind"], "sigma");
    assert_eq!(incidents[0]["sectors"][0], "health");
    // Without --rules, replay runs the behaviour detectors only.
    assert_eq!(run(false).trim(), "");
}
