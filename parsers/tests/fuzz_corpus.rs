//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through the parser its
//! target exercises, on stable, so an input that once crashed a parser stays fixed. The
//! parsers must return (`Ok` or `Err`), never panic.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{to_event, EventContext};
use ncsoc_parsers::json::{JsonFormat, JsonParser, TsvReader};
use ncsoc_parsers::netflow::{Config, NetflowDecoder};
use ncsoc_parsers::{cef, leef, packet, pcap, sflow, syslog};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Calls `run` on every file of the target's corpus; returns how many there were.
fn replay(target: &str, mut run: impl FnMut(&[u8])) -> usize {
    let dir = corpus_dir(target);
    let mut n = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|entry| entry.expect("corpus entry").path())
        .collect();
    paths.sort();
    for path in paths {
        let data = std::fs::read(&path).expect("read corpus file");
        run(&data);
        n += 1;
    }
    n
}

#[test]
fn syslog_corpus() {
    let ctx = syslog::Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 0,
    };
    let n = replay("syslog", |data| {
        if let Ok(m) = syslog::parse(data, &ctx) {
            let e = syslog::to_event(&m, data, &ctx);
            assert!(!e.to_json_string().is_empty());
        }
    });
    assert!(n > 0, "the syslog corpus is empty");
}

fn fuzz_ctx() -> syslog::Context {
    syslog::Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 0,
    }
}

#[test]
fn json_corpus() {
    let ctx = fuzz_ctx();
    let mut parser = JsonParser::new();
    let n = replay("json", |data| {
        for format in [
            None,
            Some(JsonFormat::Eve),
            Some(JsonFormat::Zeek),
            Some(JsonFormat::Ecs),
            Some(JsonFormat::Wazuh),
            Some(JsonFormat::Generic),
        ] {
            let mut buf = data.to_vec();
            if let Ok(e) = parser.parse_as(format, &mut buf, &ctx) {
                assert!(!e.to_json_string().is_empty());
            }
        }
    });
    assert!(n > 0, "the json corpus is empty");
}

#[test]
fn zeek_tsv_corpus() {
    let ctx = fuzz_ctx();
    let n = replay("zeek_tsv", |data| {
        let mut reader = TsvReader::new(Some("conn.log"));
        for line in data.split(|&b| b == b'\n') {
            if let Ok(Some(e)) = reader.push_line(line, &ctx) {
                assert!(!e.to_json_string().is_empty());
            }
        }
    });
    assert!(n > 0, "the zeek_tsv corpus is empty");
}

#[test]
fn cef_corpus() {
    let ctx = cef::Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 3600,
    };
    let mut parsed = 0;
    let n = replay("cef", |data| {
        if let Ok(m) = cef::parse(data, &ctx) {
            parsed += 1;
            let e = cef::to_event(&m, data, &ctx);
            assert!(!e.to_json_string().is_empty());
        }
    });
    assert!(n > 0, "the cef corpus is empty");
    assert!(parsed > 0, "no file of the cef corpus parses");
}

#[test]
fn leef_corpus() {
    let ctx = leef::Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 3600,
    };
    let mut parsed = 0;
    let n = replay("leef", |data| {
        if let Ok(m) = leef::parse(data, &ctx) {
            parsed += 1;
            let e = leef::to_event(&m, data, &ctx);
            assert!(!e.to_json_string().is_empty());
        }
    });
    assert!(n > 0, "the leef corpus is empty");
    assert!(parsed > 0, "no file of the leef corpus parses");
}

fn flow_ctx() -> EventContext {
    EventContext {
        source: "fuzz".into(),
        default_sector: "energy".into(),
        now: Timestamp::from_secs(1_700_000_000),
        ..EventContext::default()
    }
}

/// Same framing and limits as `fuzz/fuzz_targets/netflow.rs`.
#[test]
fn netflow_corpus() {
    let ctx = flow_ctx();
    let exporters: [IpAddr; 2] = ["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    let mut total_flows = 0;
    let n = replay("netflow", |data| {
        let mut decoder = NetflowDecoder::new(Config {
            max_templates: 8,
            template_timeout_secs: 60,
            max_held_sets_per_key: 2,
            max_held_bytes: 4096,
            held_timeout_secs: 30,
            max_samplers: 4,
        });
        let mut flows = Vec::new();
        let mut rest = data;
        while rest.len() >= 2 {
            let head = u16::from_be_bytes([rest[0], rest[1]]);
            let len = usize::from(head & 0x7FFF).min(rest.len() - 2);
            let packet = &rest[2..2 + len];
            rest = &rest[2 + len..];
            flows.clear();
            let _ = decoder.decode(exporters[usize::from(head >> 15)], packet, &mut flows);
            total_flows += flows.len();
            for f in &flows {
                assert!(!to_event(f, &ctx).to_json_string().is_empty());
            }
        }
        // Held sets stay within their bounds (8 keys × 2 sets).
        assert!(decoder.held_count() <= 16);
        assert!(decoder.template_count() <= 8);
    });
    assert!(n > 0, "the netflow corpus is empty");
    assert!(total_flows > 0, "no corpus file decodes to a flow");
}

#[test]
fn sflow_corpus() {
    let ctx = flow_ctx();
    let mut decoded = 0;
    let n = replay("sflow", |data| {
        let mut flows = Vec::new();
        let mut counters = Vec::new();
        if sflow::decode(data, ctx.now, &mut flows, &mut counters).is_ok() {
            decoded += 1;
        }
        for f in &flows {
            assert!(!to_event(f, &ctx).to_json_string().is_empty());
        }
    });
    assert!(n > 0, "the sflow corpus is empty");
    assert!(decoded > 0, "no corpus file decodes");
}

#[test]
fn pcap_corpus() {
    let mut packets = 0;
    let n = replay("pcap", |data| {
        let Ok(reader) = pcap::PcapReader::new(data) else {
            return;
        };
        for pkt in reader {
            let Ok(pkt) = pkt else {
                break;
            };
            packets += 1;
            if let Ok(d) = packet::decode(pkt.linktype, pkt.data) {
                let _ = packet::dns(d.payload);
                let _ = packet::tls_client_hello_sni(d.payload);
                if let Some((_, Ok(inner))) = packet::vxlan_inner(&d) {
                    let _ = packet::dns(inner.payload);
                }
            }
        }
    });
    assert!(n > 0, "the pcap corpus is empty");
    assert!(packets > 0, "no corpus file holds a packet");
}
