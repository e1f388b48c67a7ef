//! Any bytes through JSON format detection and the ECS mapping of every format.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncsoc_model::Timestamp;
use ncsoc_parsers::json::{JsonFormat, JsonParser};
use ncsoc_parsers::syslog::Context;

fuzz_target!(|data: &[u8]| {
    let ctx = Context {
        sector: "energy".into(),
        source: "fuzz".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 0,
    };
    let mut parser = JsonParser::new();
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
            let _ = e.to_json_string();
        }
    }
});
