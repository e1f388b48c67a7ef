//! Records per second through the whole detector (`Detector::observe` and
//! `take_changed`, as `ncsoc serve` and `ncsoc replay` call them): 200 000 records of
//! simulated traffic of five sectors from a Monday 08:00, replayed into a detector that
//! has already seen the 200 000 records before them (so its tables are warm).
//!
//! `cargo bench -p ncsoc-detector --bench detector -- --warm-up-time 1 --measurement-time 5`

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ncsoc_detector::sim::{SimConfig, Simulator};
use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_model::{Event, Timestamp};

const N: usize = 200_000;

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

    let mut g = c.benchmark_group("detector");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    g.bench_function("observe_200k_records", |b| {
        b.iter_batched(
            || Detector::restore(DetectorConfig::default(), &snapshot).unwrap(),
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
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
