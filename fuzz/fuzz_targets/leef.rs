//! Any bytes through the LEEF parser and, when they parse, through the ECS mapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncsoc_model::Timestamp;
use ncsoc_parsers::leef::{parse, to_event, Context};

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 3600,
    };
    if let Ok(m) = parse(data, &ctx) {
        let e = to_event(&m, data, &ctx);
        let _ = e.to_json_string();
    }
});
