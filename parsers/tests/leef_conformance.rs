//! Conformance of the LEEF parser against third-party vectors in
//! `../shared/testdata/leef/`:
//!
//! - `rsyslog-mmleefparse-test-vectors.json`: 3 syslog-wrapped PAN-OS LEEF 1.0 lines
//!   (attributes separated by `|`), and for each the line rsyslog's `mmleefparse` prints
//!   with the template `vendor|productVersion|src|dst|action|cat|proto|SessionID`.
//! - `rsyslog/tests/testsuites/qradar_json*`: QRadar's JSON export of events, whose
//!   `payload` is the raw event and whose other fields are QRadar's own parse of it. A
//!   LEEF payload must give QRadar's `src`, `dst`, `srcPort`, `dstPort`, `protocolName`
//!   and `devTimeEpoch` (from `devTime`); a payload that is not LEEF (a Snare Windows
//!   event) must be an error.
//!
//! Every case matches today; the floors keep it so.

use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::leef::{parse, to_event, Context};
use serde_json::Value;

const FLOOR_MMLEEFPARSE: usize = 3;
const FLOOR_QRADAR: usize = 3;

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/leef")
}

fn ctx() -> Context {
    Context {
        sector: "test".into(),
        source: "vectors".into(),
        now: Timestamp::parse_rfc3339("2025-10-02T00:00:00Z").unwrap(),
        default_offset_secs: 0,
    }
}

fn mmleefparse() -> (usize, usize) {
    let path = testdata().join("rsyslog-mmleefparse-test-vectors.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let inputs = v[0]["input_messages"].as_array().unwrap();
    let expected = v[0]["expected_output_lines"].as_array().unwrap();
    assert_eq!(inputs.len(), expected.len());
    let c = ctx();
    let mut matches = 0;
    for (i, (input, exp)) in inputs.iter().zip(expected).enumerate() {
        let input = input.as_str().unwrap();
        let exp = exp.as_str().unwrap();
        let ours = match parse(input.as_bytes(), &c) {
            Ok(m) => {
                let attr = |k: &str| m.get(k).unwrap_or_default().to_string();
                [
                    m.vendor.to_string(),
                    m.product_version.to_string(),
                    attr("src"),
                    attr("dst"),
                    attr("action"),
                    attr("cat"),
                    attr("proto"),
                    attr("SessionID"),
                ]
                .join("|")
            }
            Err(e) => format!("parse error: {e}"),
        };
        if ours == exp {
            matches += 1;
        } else {
            println!("  case {i}: got {ours:?}, expected {exp:?}");
        }
    }
    println!("mmleefparse: {matches}/{} match", inputs.len());
    (matches, inputs.len())
}

fn qradar() -> (usize, usize) {
    let c = ctx();
    let mut matches = 0;
    let mut total = 0;
    for name in ["qradar_json", "qradar_json-with-dots"] {
        let text = std::fs::read_to_string(testdata().join("rsyslog/tests/testsuites").join(name))
            .unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some(json) = line.split_once("@cee: ").map(|(_, j)| j) else {
                continue;
            };
            let q: Value = serde_json::from_str(json).unwrap();
            let payload = q["payload"].as_str().unwrap();
            total += 1;
            let field = |k: &str| q[k].as_str().map(str::to_string);
            let result = parse(payload.as_bytes(), &c);
            let why: Vec<String> = if !payload.contains("LEEF:") {
                match result {
                    Err(_) => Vec::new(),
                    Ok(_) => vec!["not LEEF, but parsed".into()],
                }
            } else {
                match result {
                    Err(e) => vec![format!("parse error: {e}")],
                    Ok(m) => {
                        let e = to_event(&m, payload.as_bytes(), &c);
                        let mut why = Vec::new();
                        let mut check =
                            |what: &str, ours: Option<String>, theirs: Option<String>| {
                                if ours != theirs {
                                    why.push(format!("{what}: got {ours:?}, expected {theirs:?}"));
                                }
                            };
                        check(
                            "src",
                            e.fields.source_ip.map(|a| a.to_string()),
                            field("src"),
                        );
                        check(
                            "dst",
                            e.fields.destination_ip.map(|a| a.to_string()),
                            field("dst"),
                        );
                        check(
                            "srcPort",
                            e.fields.source_port.map(|p| p.to_string()),
                            field("srcPort"),
                        );
                        check(
                            "dstPort",
                            e.fields.destination_port.map(|p| p.to_string()),
                            field("dstPort"),
                        );
                        check(
                            "protocolName",
                            e.fields.network_transport.clone(),
                            field("protocolName"),
                        );
                        check(
                            "devTimeEpoch",
                            Some(e.timestamp.millis().to_string()),
                            field("devTimeEpoch"),
                        );
                        why
                    }
                }
            };
            if why.is_empty() {
                matches += 1;
            } else {
                println!("  {name} line {}: {}", n + 1, why.join("; "));
            }
        }
    }
    println!("qradar_json: {matches}/{total} match");
    (matches, total)
}

#[test]
fn leef_vectors() {
    if !testdata().is_dir() {
        println!("skipping: ../shared/testdata/leef not found");
        return;
    }
    let (m_ok, m_n) = mmleefparse();
    let (q_ok, q_n) = qradar();
    assert!(m_n > 0 && q_n > 0, "no vectors found");
    assert!(
        m_ok >= FLOOR_MMLEEFPARSE,
        "mmleefparse: {m_ok}/{m_n}, floor {FLOOR_MMLEEFPARSE}"
    );
    assert!(
        q_ok >= FLOOR_QRADAR,
        "qradar: {q_ok}/{q_n}, floor {FLOOR_QRADAR}"
    );
}
