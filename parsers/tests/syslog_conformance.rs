//! Conformance against the third-party vectors of netty-codec-syslog
//! (`../shared/testdata/syslog/netty-codec-syslog/…/rfc3164/*.json` and `…/rfc5424/*.json`).
//!
//! Each vector is `{"input": …, "expected": {…}}`. The expected side comes from netty's
//! parser, so it encodes netty's choices, which this comparison accounts for:
//!
//! - `date` is a zone-less local date-time already converted to UTC, with trailing
//!   fraction zeros dropped (`2018-02-01T20:28:36.8371`); the RFC 3164 vectors were
//!   recorded in 2018, so the year is inferred with `now` at the end of 2018 and UTC as default zone;
//! - `message` is trimmed, while this parser keeps MSG as sent after its one separating
//!   space, so both are compared trimmed;
//! - RFC 3164 vectors carry no PRI, and netty reports no facility/level for them; only
//!   the fields present in `expected` are compared.
//!
//! The floors below are what the parser achieves today: the test fails if a change makes
//! it worse.

use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::syslog::{parse, Context, Message};
use serde_json::Value;

const FLOOR_3164: usize = 232;
const FLOOR_5424: usize = 16;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../shared/testdata/syslog/netty-codec-syslog/src/test/resources/com/github/jcustenborder/netty/syslog",
    )
}

fn ctx() -> Context {
    Context {
        sector: "test".into(),
        source: "netty-vectors".into(),
        now: Timestamp::parse_rfc3339("2018-12-31T23:59:59Z").unwrap(),
        default_offset_secs: 0,
    }
}

/// netty's `date`: a UTC local date-time with no zone and an optional fraction.
fn expected_date(s: &str) -> Option<Timestamp> {
    Timestamp::parse_rfc3339(&format!("{s}Z")).ok()
}

fn opt_str<'v>(expected: &'v Value, key: &str) -> Option<&'v str> {
    expected.get(key).and_then(Value::as_str)
}

/// Every mismatch between the parsed message and netty's expectation.
fn compare(m: &Message<'_>, exp: &Value) -> Vec<String> {
    let mut why = Vec::new();
    let mut check = |field: &str, ours: String, theirs: String| {
        if ours != theirs {
            why.push(format!("{field}: got {ours:?}, expected {theirs:?}"));
        }
    };
    check(
        "host",
        format!("{:?}", m.hostname),
        format!("{:?}", opt_str(exp, "host")),
    );
    let tag = opt_str(exp, "tag").or(opt_str(exp, "appName"));
    check(
        "tag/appName",
        format!("{:?}", m.app_name),
        format!("{tag:?}"),
    );
    check(
        "processId",
        format!("{:?}", m.proc_id),
        format!("{:?}", opt_str(exp, "processId")),
    );
    check(
        "messageId",
        format!("{:?}", m.msg_id),
        format!("{:?}", opt_str(exp, "messageId")),
    );
    check(
        "message",
        m.msg.trim().to_string(),
        opt_str(exp, "message")
            .unwrap_or_default()
            .trim()
            .to_string(),
    );
    if let Some(level) = exp.get("level").and_then(Value::as_u64) {
        check("level", m.severity.to_string(), level.to_string());
    }
    if let Some(facility) = exp.get("facility").and_then(Value::as_u64) {
        check("facility", m.facility.to_string(), facility.to_string());
    }
    if let Some(version) = exp.get("version").and_then(Value::as_u64) {
        check(
            "version",
            format!("{:?}", m.version),
            format!("{:?}", Some(version)),
        );
    }
    if let Some(date) = opt_str(exp, "date") {
        check(
            "date",
            format!("{:?}", m.timestamp.map(Timestamp::to_rfc3339)),
            format!("{:?}", expected_date(date).map(Timestamp::to_rfc3339)),
        );
    }
    if let Some(sd) = exp.get("structuredData").and_then(Value::as_array) {
        let theirs: Vec<String> = sd
            .iter()
            .map(|e| {
                let id = e.get("id").and_then(Value::as_str).unwrap_or_default();
                let mut params: Vec<String> = e
                    .get("structuredDataElements")
                    .and_then(Value::as_object)
                    .map(|o| {
                        o.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect()
                    })
                    .unwrap_or_default();
                params.sort();
                format!("{id}{params:?}")
            })
            .collect();
        let ours: Vec<String> = m
            .structured_data
            .iter()
            .map(|(id, params)| {
                let mut params: Vec<String> =
                    params.iter().map(|(k, v)| format!("{k}={v}")).collect();
                params.sort();
                format!("{id}{params:?}")
            })
            .collect();
        check("structuredData", format!("{ours:?}"), format!("{theirs:?}"));
    }
    why
}

/// Runs one set; returns (matches, total).
fn run_set(name: &str) -> (usize, usize) {
    let dir = vectors_dir().join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let ctx = ctx();
    let mut matches = 0;
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let input = v["input"].as_str().unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        match parse(input.as_bytes(), &ctx) {
            Ok(m) => {
                let why = compare(&m, &v["expected"]);
                if why.is_empty() {
                    matches += 1;
                } else {
                    failures.push(format!("{file}: {}", why.join("; ")));
                }
            }
            Err(e) => failures.push(format!("{file}: parse error: {e}")),
        }
    }
    println!("{name}: {matches}/{} match", files.len());
    for f in failures.iter().take(10) {
        println!("  {f}");
    }
    (matches, files.len())
}

#[test]
fn netty_vectors() {
    if !vectors_dir().is_dir() {
        println!("skipping: ../shared/testdata not found");
        return;
    }
    let (ok_3164, n_3164) = run_set("rfc3164");
    let (ok_5424, n_5424) = run_set("rfc5424");
    assert!(n_3164 > 0 && n_5424 > 0, "no vectors found");
    assert!(
        ok_3164 >= FLOOR_3164,
        "rfc3164: {ok_3164}/{n_3164}, floor {FLOOR_3164}"
    );
    assert!(
        ok_5424 >= FLOOR_5424,
        "rfc5424: {ok_5424}/{n_5424}, floor {FLOOR_5424}"
    );
}
