//! Any bytes, split into lines, through the stateful Zeek TSV log reader.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncsoc_model::Timestamp;
use ncsoc_parsers::json::TsvReader;
use ncsoc_parsers::syslog::Context;

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 0,
    };
    let mut reader = TsvReader::new(Some("conn.log"));
    for line in data.split(|&b| b == b'\n') {
        if let Ok(Some(e)) = reader.push_line(line, &ctx) {
            let _ = e.to_json_string();
        }
    }
});
