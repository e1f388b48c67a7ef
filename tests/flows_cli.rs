//! `ncsoc flows` on real export captures (`../shared/testdata/flows`, third-party test data;
//! skipped with a message when absent): every flow as a JSON line, sampling applied.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_port, metric, udp_payloads, Server};
use ncsoc_store::{EventQuery, Scope, StoreConfig, Table};

fn testdata(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/flows")
        .join(name);
    p.exists().then_some(p)
}

fn flows(files: &[PathBuf]) -> (Vec<serde_json::Value>, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .args(["flows", "--sector", "energy"])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = serde_json::from_slice(&out.stderr).unwrap();
    (lines, summary)
}

#[test]
fn netflow_v5_and_sampled_v9_exports_become_flow_records() {
    let names = [
        "akvorado_nf_nfv5.pcap",
        "akvorado_nf_options-template.pcap",
        "akvorado_nf_options-data.pcap",
        "akvorado_nf_template.pcap",
        "akvorado_nf_data.pcap",
    ];
    let Some(files) = names
        .iter()
        .map(|n| testdata(n))
        .collect::<Option<Vec<_>>>()
    else {
        eprintln!("SKIP: ../shared/testdata/flows is not here");
        return;
    };
    let (v5, summary) = flows(&files[..1]);
    assert_eq!(v5.len(), 29, "{summary}");
    assert!(v5
        .iter()
        .all(|f| f["flow.version"] == "netflow5" && f["ncsoc.sector"] == "energy"));
    assert_eq!(summary["export_packets"], 1);

    // Options template and data (sampler → 1 in 30000), then the template, then the data:
    // one decoder across the files, so the data decodes and is scaled.
    let (v9, summary) = flows(&files[1..]);
    assert_eq!(v9.len(), 4, "{summary}");
    for f in &v9 {
        assert_eq!(f["flow.version"], "netflow9");
        assert_eq!(f["flow.sampling_rate"], 30000);
        let raw = f["flow.bytes_raw"].as_u64().unwrap();
        assert_eq!(f["network.bytes"].as_u64().unwrap(), raw * 30000);
    }
}

#[test]
fn a_file_that_is_not_a_capture_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pcap");
    std::fs::write(&p, b"this is not a capture").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
        .arg("flows")
        .arg(&p)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap"));
}

#[test]
fn exports_sent_over_udp_are_stored_in_their_exporters_sector() {
    let names = [
        "akvorado_nf_nfv5.pcap",
        "akvorado_nf_options-template.pcap",
        "akvorado_nf_options-data.pcap",
        "akvorado_nf_template.pcap",
        "akvorado_nf_data.pcap",
    ];
    let Some(files) = names
        .iter()
        .map(|n| testdata(n))
        .collect::<Option<Vec<_>>>()
    else {
        eprintln!("SKIP: ../shared/testdata/flows is not here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let config = dir.path().join("ncsoc.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[store]
batch_max_delay_ms = 50

[[intake.flows]]
listen = "127.0.0.1:{port}"
source = "border-routers"
sector = "unassigned"
exporters = {{ "127.0.0.1" = "energy" }}
"#
        ),
    )
    .unwrap();
    let server = Server::start_with(&["--config", config.to_str().unwrap()], &data, &[]);
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    for f in &files {
        for payload in udp_payloads(f) {
            sock.send_to(&payload, ("127.0.0.1", port)).unwrap();
            // Keep the order: options and templates before the data they describe.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let prefix = format!("ncsoc_flow_flows_total{{port=\"{port}\",sector=\"unassigned\"}}");
    let start = Instant::now();
    while metric(server.addr, &prefix) != 33 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "flows decoded: {}",
            metric(server.addr, &prefix)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(server.addr, "ncsoc_flow_rejected_total"), 0);
    let (status, log) = server.stop("-TERM");
    assert!(status.success(), "{log}");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = StoreConfig {
            data_dir: data.clone(),
            ..StoreConfig::default()
        };
        let store = ncsoc_store::open(&cfg).await.unwrap();
        let mut q = EventQuery::new(Scope::Sectors(vec!["energy".into()]));
        assert_eq!(store.count(Table::Flows, &q).await.unwrap(), 33);
        q.limit = 100;
        let flows = store.search(Table::Flows, &q).await.unwrap();
        let sampled: Vec<_> = flows
            .iter()
            .filter(|f| f.flow.as_ref().and_then(|x| x.sampling_rate) == Some(30000))
            .collect();
        assert_eq!(sampled.len(), 4);
        assert!(flows.iter().all(|f| f.source == "border-routers"));
    });
}

fn pcap_testdata(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/pcap")
        .join(rel);
    p.exists().then_some(p)
}

/// Metering a browser capture: the conversations tshark 4.0 lists (`-z conv,tcp -z
/// conv,udp`: 6), every packet in exactly one flow, the TLS server name attached, and the
/// handshakes seen as established; a DNS capture gives the question name.
#[test]
fn meter_turns_packets_into_bidirectional_flows() {
    let (Some(firefox), Some(dns)) = (
        pcap_testdata("nDPI/tests/cfgs/default/pcap/firefox.pcap"),
        pcap_testdata("tcpdump/tests/dns_udp.pcap"),
    ) else {
        eprintln!("SKIP: ../shared/testdata/pcap is not here");
        return;
    };
    let run = |file: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_ncsoc"))
            .args(["flows", "--meter", "--sector", "health"])
            .arg(file)
            .output()
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect::<Vec<_>>()
    };
    let flows = run(&firefox);
    assert_eq!(flows.len(), 6);
    let packets: u64 = flows
        .iter()
        .map(|f| f["network.packets"].as_u64().unwrap())
        .sum();
    assert_eq!(packets, 129);
    for f in &flows {
        assert_eq!(f["flow.version"], "meter");
        assert_eq!(f["ncsoc.sector"], "health");
        assert_eq!(f["flow.tcp_state"], "established");
        let (s, d) = (
            f["source.packets"].as_u64().unwrap(),
            f["destination.packets"].as_u64().unwrap(),
        );
        assert_eq!(s + d, f["network.packets"].as_u64().unwrap());
    }
    assert!(flows
        .iter()
        .any(|f| f["tls.client.server_name"] == "www.iit.cnr.it"));
    // Same input, same flows, same ids.
    let again = run(&firefox);
    let ids = |v: &[serde_json::Value]| v.iter().map(|f| f["event.id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&flows), ids(&again));

    let flows = run(&dns);
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["dns.question.name"], "www.tcpdump.org");
    assert_eq!(flows[0]["network.transport"], "udp");
}
