//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through the parser its
//! target exercises, on stable, so an input that once crashed a parser stays fixed. The
//! parsers must return (`Ok` or `Err`), never panic.

use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::json::{JsonFormat, JsonParser, TsvReader};
use ncsoc_parsers::{cef, leef, syslog};

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
