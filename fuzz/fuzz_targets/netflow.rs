//! Any bytes as a sequence of NetFlow v5/v9/IPFIX packets from two exporters through one
//! decoder with small limits (so eviction, expiry and held-set bounds are exercised), and
//! every flow through the ECS mapping. Input: chunks of `len(2, big-endian) bytes`; the
//! top bit of the length picks the exporter.
#![no_main]

use std::net::IpAddr;

use libfuzzer_sys::fuzz_target;
use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{to_event, EventContext};
use ncsoc_parsers::netflow::{Config, NetflowDecoder};

fuzz_target!(|data: &[u8]| {
    let mut decoder = NetflowDecoder::new(Config {
        max_templates: 8,
        template_timeout_secs: 60,
        max_held_sets_per_key: 2,
        max_held_bytes: 4096,
        held_timeout_secs: 30,
        max_samplers: 4,
    });
    let exporters: [IpAddr; 2] = ["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    let ctx = EventContext {
        source: "fuzz".into(),
        default_sector: "energy".into(),
        now: Timestamp::from_secs(1_700_000_000),
        ..EventContext::default()
    };
    let mut flows = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let head = u16::from_be_bytes([rest[0], rest[1]]);
        let len = usize::from(head & 0x7FFF).min(rest.len() - 2);
        let packet = &rest[2..2 + len];
        rest = &rest[2 + len..];
        flows.clear();
        let _ = decoder.decode(exporters[usize::from(head >> 15)], packet, &mut flows);
        for f in &flows {
            let _ = to_event(f, &ctx).to_json_string();
        }
    }
    // Held sets stay within their bounds (8 keys × 2 sets).
    assert!(decoder.held_count() <= 16);
    assert!(decoder.template_count() <= 8);
});
