//! Any bytes as an sFlow v5 datagram, and every flow through the ECS mapping.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{to_event, EventContext};
use ncsoc_parsers::sflow;

fuzz_target!(|data: &[u8]| {
    let ctx = EventContext {
        source: "fuzz".into(),
        default_sector: "energy".into(),
        now: Timestamp::from_secs(1_700_000_000),
        ..EventContext::default()
    };
    let mut flows = Vec::new();
    let mut counters = Vec::new();
    let _ = sflow::decode(data, ctx.now, &mut flows, &mut counters);
    for f in &flows {
        let _ = to_event(f, &ctx).to_json_string();
    }
});
