//! Replays every file of the fuzz corpora (`fuzz/corpus/<target>/`) through the parser its
//! target exercises, on stable, so an input that once crashed a parser stays fixed. The
//! parsers must return (`Ok` or `Err`), never panic.

use std::path::{Path, PathBuf};

use ncsoc_model::Timestamp;
use ncsoc_parsers::syslog;

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
