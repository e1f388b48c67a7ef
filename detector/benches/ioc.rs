//! What matching against 100 k threat indicators adds to the detector: the same 200 000
//! simulated records as `benches/detector.rs` through `Detector::observe`, without and
//! with an indicator set (36 % IPv4 and 4 % IPv6 addresses, 10 % prefixes, 25 % domains,
//! 10 % URLs, 12 % hashes, 3 % e-mail addresses).
//!
//! `cargo bench -p ncsoc-detector --bench ioc -- --warm-up-time 1 --measurement-time 5`

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ncsoc_detector::sim::{SimConfig, Simulator};
use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_intel::IndicatorSet;
use ncsoc_model::{Event, Indicator, IndicatorKind, Timestamp, Tlp};

const N: usize = 200_000;

fn indicators(n: usize) -> Vec<Indicator> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|i| {
            let r = next();
            let (kind, value) = match i % 100 {
                0..=35 => (
                    IndicatorKind::Ipv4,
                    std::net::Ipv4Addr::from(r as u32).to_string(),
                ),
                36..=39 => (
                    IndicatorKind::Ipv6,
                    std::net::Ipv6Addr::from((0x2001_0db8u128 << 96) | u128::from(r)).to_string(),
                ),
                40..=49 => {
                    let len = 16 + (r >> 40) as u32 % 15;
                    let net = (r as u32) & (u32::MAX << (32 - len));
                    (
                        IndicatorKind::Cidr,
                        format!("{}/{len}", std::net::Ipv4Addr::from(net)),
                    )
                }
                50..=74 => (IndicatorKind::Domain, format!("h{r:x}.example")),
                75..=84 => (IndicatorKind::Url, format!("http://u{r:x}.example/p/{i}")),
                85..=96 => (
                    IndicatorKind::Sha256,
                    format!("{r:016x}{:016x}{:016x}{:016x}", next(), next(), next()),
                ),
                _ => (IndicatorKind::Email, format!("m{r:x}@mail.example")),
            };
            Indicator {
                id: format!("bench-{i}"),
                kind,
                value,
                source: "bench".into(),
                confidence: Some(80),
                valid_from: Timestamp(0),
                valid_until: None,
                tlp: Tlp::Green,
                labels: Vec::new(),
                description: None,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut sim = Simulator::new(SimConfig {
        days: 1,
        ..SimConfig::default()
    });
    let start = sim.truth().start;
    sim.seek(Timestamp(start.nanos() + 8 * 3_600_000_000_000));
    let warm: Vec<Event> = sim.by_ref().take(N).collect();
    let events: Vec<Event> = sim.by_ref().take(N).collect();
    let mut primed = Detector::new(DetectorConfig::default()).unwrap();
    for e in &warm {
        primed.observe(e);
    }
    let snapshot = primed.checkpoint().unwrap();
    let set = Arc::new(IndicatorSet::build(indicators(100_000)));

    // Paired runs, alternating, before criterion's: the machine's load drifts between
    // criterion's two groups, and the difference is small.
    for with in [None, Some(set.clone()), None, Some(set.clone())] {
        let mut d = Detector::restore(DetectorConfig::default(), &snapshot).unwrap();
        d.set_indicators(with);
        let mut changes = 0;
        let (mut t_obs, mut t_take) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
        for e in &events {
            let t0 = std::time::Instant::now();
            d.observe(e);
            let t1 = std::time::Instant::now();
            changes += d.take_changed().len();
            t_obs += t1 - t0;
            t_take += t1.elapsed();
        }
        let (n, hits) = d.indicator_stats();
        eprintln!(
            "paired: {n} indicators: observe {t_obs:?}, take_changed {t_take:?}; {hits} hits in {N} records, {} signals, {changes} incident changes",
            d.stats().signals
        );
    }
    let mut g = c.benchmark_group("detector_ioc");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for (name, with) in [
        ("observe_200k_records_no_indicators", None),
        ("observe_200k_records_100k_indicators", Some(set)),
    ] {
        g.bench_function(name, |b| {
            b.iter_batched(
                || {
                    let mut d = Detector::restore(DetectorConfig::default(), &snapshot).unwrap();
                    d.set_indicators(with.clone());
                    d
                },
                |mut d| {
                    let mut changed = 0usize;
                    for e in &events {
                        d.observe(e);
                        changed += d.take_changed().len();
                    }
                    (d, changed)
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
