//! Scale-out over a real Kafka-protocol broker (tansu, on loopback) and a real ClickHouse:
//! one intake node (`ncsoc serve --role intake`) publishes three sectors' records; two
//! analysis nodes (`--role analyze`) share the partitions as one consumer group, store
//! into one ClickHouse database and find the cross-sector campaign. Then one analysis
//! node is killed (SIGKILL) and a replacement takes its partitions over from their
//! checkpoints; then the broker stops answering for a while and the intake keeps taking
//! records. At every step the store holds every published record exactly once.
//!
//! Needs `NCSOC_TEST_TANSU` (the tansu binary; `scripts/test.sh` installs and sets it) and
//! `NCSOC_TEST_CLICKHOUSE_URL`; skipped with a message without them (a failure in CI).

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, get, metric, udp_payloads, wait_until, Server};

fn required_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "CI=true but {name} is unset"
            );
            eprintln!("skipping: {name} is not set (./scripts/test.sh sets it)");
            None
        }
    }
}

/// A tansu broker with in-memory storage on a loopback port.
struct Broker {
    child: Option<Child>,
    bin: PathBuf,
    port: u16,
}

impl Broker {
    fn start(bin: &Path, port: u16) -> Self {
        let mut b = Self {
            child: None,
            bin: bin.to_path_buf(),
            port,
        };
        b.spawn();
        b
    }

    fn spawn(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "memory://tansu/",
            ])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tansu");
        self.child = Some(child);
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "tansu did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        assert!(Command::new("kill")
            .args([sig, &pid])
            .status()
            .unwrap()
            .success());
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One ClickHouse query over HTTP; the answer's text.
fn ch(url: &str, sql: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--data-binary", sql, url])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// (rows, distinct ids) over the events and flows tables.
fn stored(url: &str, db: &str) -> (u64, u64) {
    let mut rows = 0;
    let mut ids = 0;
    for t in ["events", "flows"] {
        let a = ch(
            url,
            &format!("SELECT count(), uniqExact(id) FROM {db}.{t} FORMAT TSV"),
        );
        let mut it = a.split('\t').map(|v| v.parse::<u64>().unwrap_or(0));
        rows += it.next().unwrap_or(0);
        ids += it.next().unwrap_or(0);
    }
    (rows, ids)
}

/// `n` ordinary logins at `hour`:00 from `prefix`.1.. to the sector's jump host: records
/// from many sources, so that every partition's event time moves on.
fn logins(prefix: &str, net: u8, hour: u8, n: u8) -> String {
    (1..=n)
        .map(|i| {
            format!(
                "{{\"@timestamp\":\"2026-03-02T{hour:02}:00:{:02}.000Z\",\"ecs\":{{\"version\":\"8.11.0\"}},\"event\":{{\"category\":[\"authentication\"],\"outcome\":\"success\",\"action\":\"ssh_login\"}},\"source\":{{\"ip\":\"{prefix}.{i}\"}},\"destination\":{{\"ip\":\"10.{net}.0.22\",\"port\":22}},\"user\":{{\"name\":\"ops\"}},\"host\":{{\"name\":\"jump-01\"}}}}\n",
                i % 60
            )
        })
        .collect()
}

fn send_tcp(port: u16, body: &str) {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.write_all(body.as_bytes()).unwrap();
}

fn published(intake: SocketAddr) -> u64 {
    metric(intake, "ncsoc_kafka_published_total")
}

/// The incidents in the store, as JSON documents.
fn incidents(url: &str, db: &str) -> Vec<serde_json::Value> {
    ch(
        url,
        &format!("SELECT doc FROM {db}.incidents FINAL FORMAT JSONEachRow"),
    )
    .lines()
    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    .filter_map(|row| serde_json::from_str(row["doc"].as_str()?).ok())
    .collect()
}

#[test]
fn intake_and_two_analysis_nodes_over_kafka() {
    let (Some(tansu), Some(url)) = (
        required_env("NCSOC_TEST_TANSU"),
        required_env("NCSOC_TEST_CLICKHOUSE_URL"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let db = format!("ncsoc_t_kafka_{}", std::process::id());
    let broker_port = free_port();
    let broker = Broker::start(Path::new(&tansu), broker_port);
    let (flow_port, health_port, energy_port) = (free_port(), free_port(), free_port());
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
backend = "clickhouse"
batch_max_delay_ms = 20
# The replayed traffic is from March: no retention pass may drop it.
retention_days = 0

[store.clickhouse]
url = "{url}"
database = "{db}"

[store.spool]
retry_interval_ms = 200

[kafka]
brokers = "127.0.0.1:{broker_port}"
partitions = 4
checkpoint_secs = 1
max_batch = 2000
message_timeout_ms = 3000

[kafka.properties]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"topic.metadata.refresh.interval.ms" = "1000"

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
listen = "127.0.0.1:{energy_port}"
sector = "energy"
source = "energy-siem"
format = "json"
"#
        ),
    )
    .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let role = |r: &'static str| -> Vec<&str> {
        let mut a = vec!["--role", r];
        a.extend(args);
        a
    };

    let intake = Server::start_with(&role("intake"), &dir.path().join("intake"), &[]);
    let (status, body) = get(intake.addr, "/healthz").unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("kafka"), "{body}");
    let a = Server::start_with(&role("analyze"), &dir.path().join("a"), &[]);
    let b = Server::start_with(&role("analyze"), &dir.path().join("b"), &[]);
    let parts = |s: &Server| metric(s.addr, "ncsoc_analyze_partitions ");
    wait_until(
        "the two analysis nodes to share the 4 partitions",
        Duration::from_secs(60),
        || parts(&a) + parts(&b) == 4 && parts(&a) > 0 && parts(&b) > 0,
    );

    // Three sectors: finance's router exports (the scan of 10.2.0.0/24 by 203.0.113.77),
    // health's authentication log (the same address guessing SSH passwords), and the same
    // log as energy's (addresses moved to 10.1.0.0/16); then ordinary logins an hour later.
    let replay = Path::new(env!("CARGO_MANIFEST_DIR")).join("replay-data");
    let exports = udp_payloads(&replay.join("finance-netflow.pcap"));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for p in &exports {
        sock.send_to(p, ("127.0.0.1", flow_port)).unwrap();
        std::thread::sleep(Duration::from_millis(5));
    }
    let health = std::fs::read_to_string(replay.join("health-auth.ndjson")).unwrap();
    let energy = health.replace("\"10.3.", "\"10.1.");
    send_tcp(
        health_port,
        &(health.clone() + &logins("10.9.3", 3, 12, 64)),
    );
    send_tcp(energy_port, &(energy + &logins("10.9.1", 1, 12, 64)));
    let sent_logs = 2 * (health.lines().count() as u64 + 64);

    let settle = |what: &str| {
        // Published by the intake, then stored by the analysis nodes, each exactly once.
        let mut last = (0, 0);
        wait_until(what, Duration::from_secs(90), || {
            let p = published(intake.addr);
            last = stored(&url, &db);
            p > 0 && last == (p, p)
        });
        last.0
    };
    let total = settle("every published record to be stored once");
    assert!(
        total > sent_logs,
        "flows and logs: {total} stored, {sent_logs} log lines"
    );
    // The flow exports all arrived: UDP on loopback, counted on the intake.
    let campaign = |docs: &[serde_json::Value]| {
        docs.iter()
            .find(|d| {
                let s = d["sectors"].to_string();
                s.contains("energy") && s.contains("finance") && s.contains("health")
            })
            .cloned()
    };
    let mut found = None;
    wait_until(
        "one incident naming energy, finance and health",
        Duration::from_secs(60),
        || {
            found = campaign(&incidents(&url, &db));
            found.is_some()
        },
    );
    let inc = found.unwrap();
    assert!(
        inc["entities"].to_string().contains("203.0.113.77"),
        "{inc}"
    );
    assert_eq!(
        metric(a.addr, "ncsoc_analyze_undecodable_total"),
        0,
        "every bus message was a record"
    );
    // Both nodes did work, and both checkpointed.
    let consumed = |s: &Server| metric(s.addr, "ncsoc_analyze_consumed_total");
    assert!(consumed(&a) > 0 && consumed(&b) > 0);
    wait_until("checkpoints on both nodes", Duration::from_secs(10), || {
        metric(a.addr, "ncsoc_detector_checkpoints_total") > 0
            && metric(b.addr, "ncsoc_detector_checkpoints_total") > 0
    });

    // One analysis node dies (SIGKILL) and a replacement joins the group: once the broker
    // has given up on the dead member, the partitions are shared again and the replacement
    // reads its share from the checkpoints the others left in the store. (tansu 0.6 does
    // not hand a dead member's partitions to the survivors alone: see README, "Scaling
    // out".)
    let (_, a_log) = a.stop("-KILL");
    send_tcp(health_port, &logins("10.8.3", 3, 13, 64));
    send_tcp(energy_port, &logins("10.8.1", 1, 13, 64));
    let c = Server::start_with(&role("analyze"), &dir.path().join("c"), &[]);
    wait_until(
        "the survivor and the replacement to share the 4 partitions",
        Duration::from_secs(120),
        || parts(&b) + parts(&c) == 4 && parts(&c) > 0,
    );
    let total2 = settle("the records sent after the kill to be stored once");
    assert_eq!(total2, total + 128, "{a_log}");
    assert!(
        metric(c.addr, "ncsoc_analyze_partitions_restored_total") > 0,
        "{}",
        c.log()
    );
    // The campaign is still one incident, the same: the records read again from the
    // checkpoints' offsets updated it instead of opening another.
    let docs = incidents(&url, &db);
    let campaigns: Vec<&serde_json::Value> = docs
        .iter()
        .filter(|d| d["entities"].to_string().contains("203.0.113.77"))
        .map(|d| &d["id"])
        .collect();
    let summary: Vec<String> = docs
        .iter()
        .map(|d| format!("{} {} {}", d["id"], d["kind"], d["sectors"]))
        .collect();
    assert_eq!(
        campaigns,
        vec![&inc["id"]],
        "{summary:?}; first {}",
        inc["id"]
    );

    // The broker stops answering (SIGSTOP: tansu's in-memory engine would come back from a
    // restart as an empty cluster): the intake keeps acknowledging what it receives — its
    // disk spool holds the batches the broker does not take — and publishes them when the
    // broker answers again; the analysis nodes carry on from their positions.
    broker.signal("-STOP");
    let before = published(intake.addr);
    send_tcp(health_port, &logins("10.7.3", 3, 14, 64));
    send_tcp(energy_port, &logins("10.7.1", 1, 14, 64));
    wait_until(
        "the intake to spool the records it cannot publish",
        Duration::from_secs(30),
        || metric(intake.addr, "ncsoc_kafka_failed_batches_total") > 0,
    );
    broker.signal("-CONT");
    wait_until(
        "the intake to publish its spool",
        Duration::from_secs(60),
        || published(intake.addr) >= before + 128,
    );
    let mut last = (0, 0);
    wait_until(
        "the records sent during the outage to be stored once",
        Duration::from_secs(90),
        || {
            last = stored(&url, &db);
            last == (total2 + 128, total2 + 128)
        },
    );

    for node in [b, c] {
        let (status, log) = node.stop("-TERM");
        assert!(status.success(), "{log}");
    }
    let (status, log) = intake.stop("-TERM");
    assert!(status.success(), "{log}");
    let _ = ch(&url, &format!("DROP DATABASE IF EXISTS {db}"));
}
