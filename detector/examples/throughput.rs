//! Detector throughput and memory, for BENCHMARKS.md.
//!
//! ```text
//! cargo run --release -p ncsoc-detector --example throughput -- flows [N]
//! cargo run --release -p ncsoc-detector --example throughput -- hosts [N] [CAPACITY]
//! ```
//!
//! `flows`: generates N events of simulated traffic (five sectors, from a Monday 06:00,
//! the busy part of the day), holds them in memory, then times `Detector::observe` (plus
//! `take_changed` after each record, as `ncsoc serve` and `ncsoc replay` do) over all of
//! them on one core. The time is the detector's alone: generating the events is not in it.
//!
//! `hosts`: flows from N distinct external addresses into one sector within one minute,
//! with the per-bin tables sized CAPACITY (default: the configuration default); reports
//! the resident memory the detector added and the bytes per tracked entity.

use std::time::Instant;

// The allocator `ncsoc` itself uses, so the figures match the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use ncsoc_detector::sim::{SimConfig, Simulator};
use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_model::{Event, FlowRecord, Timestamp};

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("hosts") => hosts(
            args.get(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(1_000_000),
            args.get(2).and_then(|v| v.parse().ok()),
        ),
        _ => flows(
            args.get(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(2_000_000),
        ),
    }
}

fn flows(n: usize) {
    let mut sim = Simulator::new(SimConfig {
        days: 2,
        ..SimConfig::default()
    });
    let start = sim.truth().start;
    sim.seek(Timestamp(start.nanos() + 6 * 3_600_000_000_000));
    let t = Instant::now();
    let events: Vec<Event> = sim.by_ref().take(n).collect();
    eprintln!(
        "generated {} events in {:.1} s",
        events.len(),
        t.elapsed().as_secs_f64()
    );
    let flows = events.iter().filter(|e| e.flow.is_some()).count();

    let mut d = Detector::new(DetectorConfig::default()).unwrap();
    let rss0 = rss_bytes();
    let t = Instant::now();
    let mut changed = 0usize;
    for e in &events {
        d.observe(e);
        changed += d.take_changed().len();
    }
    let secs = t.elapsed().as_secs_f64();
    let span = (events.last().unwrap().timestamp.nanos()
        - events.first().unwrap().timestamp.nanos()) as f64
        / 1e9;
    println!(
        "{} records ({} flows, {:.0} s of event time) in {:.3} s: {:.2} M records/s, {:.0} ns per record; {} incident updates; detector memory +{:.1} MiB",
        events.len(),
        flows,
        span,
        secs,
        events.len() as f64 / secs / 1e6,
        secs * 1e9 / events.len() as f64,
        changed,
        (rss_bytes().saturating_sub(rss0)) as f64 / (1 << 20) as f64
    );
}

fn hosts(n: u32, capacity: Option<usize>) {
    let mut cfg = DetectorConfig::default();
    if let Some(c) = capacity {
        cfg.max_sources = c;
        cfg.max_destinations = c;
        cfg.max_pairs = c;
        cfg.max_national_sources = c;
    }
    let caps = (cfg.max_sources, cfg.max_destinations);
    let mut d = Detector::new(cfg).unwrap();
    let mut e = Event::new("", Timestamp::from_secs(1_772_445_600), "energy", "bench");
    e.fields.destination_port = Some(443);
    e.fields.network_transport = Some("tcp".into());
    e.fields.network_bytes = Some(4_000);
    e.fields.network_packets = Some(12);
    e.flow = Some(Box::new(FlowRecord {
        tcp_flags: Some(0x1b),
        ..FlowRecord::default()
    }));
    let rss0 = rss_bytes();
    let t = Instant::now();
    for i in 0..n {
        // One new external source per record, each to one of 4096 internal hosts.
        e.id = format!("h{i}");
        e.timestamp = Timestamp::from_nanos(
            1_772_445_600_000_000_000 + i64::from(i) * (50_000_000_000 / i64::from(n.max(1))),
        );
        e.fields.source_ip = Some(std::net::IpAddr::from((0x2000_0000u32 + i).to_be_bytes()));
        e.fields.destination_ip = Some(std::net::IpAddr::from([
            10,
            1,
            (i >> 8 & 0x0f) as u8,
            i as u8,
        ]));
        e.fields.source_port = Some(40_000 + (i % 20_000) as u16);
        d.observe(&e);
    }
    let secs = t.elapsed().as_secs_f64();
    let added = rss_bytes().saturating_sub(rss0);
    let tracked = u64::from(n).min(caps.0 as u64);
    println!(
        "{n} distinct sources in one minute, tables of {} sources / {} destinations: {:.2} s, detector memory +{:.1} MiB, {:.0} bytes per tracked source (fast and slow bins, both tables)",
        caps.0,
        caps.1,
        secs,
        added as f64 / (1 << 20) as f64,
        added as f64 / tracked as f64
    );
}
