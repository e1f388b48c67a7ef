//! Syslog parse and normalise, per core: `parse` alone (borrowed message), and `parse` +
//! `to_event` (the ECS event every collector hands on), for RFC 3164 and RFC 5424 lines.
//!
//! ```sh
//! cargo bench -p ncsoc-parsers --bench syslog
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_model::Timestamp;
use ncsoc_parsers::syslog::{parse, to_event, Context};

fn lines() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let bsd: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            format!(
                "<{}>Nov {:2} {:02}:{:02}:{:02} fw-edge-{:02} sshd[{}]: Failed password for invalid user admin from 203.0.113.{} port {} ssh2",
                8 * (i % 24) + i % 8,
                1 + i % 28,
                i % 24,
                i % 60,
                (i * 7) % 60,
                i % 12,
                1000 + i,
                1 + i % 254,
                1024 + i
            )
            .into_bytes()
        })
        .collect();
    let ietf: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            format!(
                "<{}>1 2026-11-27T04:{:02}:{:02}.{:03}Z scada-hmi-{} plc-bridge {} ID{} [origin ip=\"10.20.{}.{}\"][meta sequenceId=\"{}\"] breaker {} tripped on feeder {}",
                8 * (i % 24) + i % 8,
                i % 60,
                (i * 7) % 60,
                i % 1000,
                i % 9,
                2000 + i,
                i % 100,
                i % 256,
                (i * 3) % 256,
                i,
                i % 40,
                i % 17
            )
            .into_bytes()
        })
        .collect();
    vec![("rfc3164", bsd), ("rfc5424", ietf)]
}

fn bench(c: &mut Criterion) {
    let ctx = Context {
        sector: "energy".into(),
        source: "energy-siem".into(),
        now: Timestamp::parse_rfc3339("2026-11-27T05:00:00Z").unwrap(),
        default_offset_secs: 0,
    };
    let mut g = c.benchmark_group("syslog");
    for (name, input) in lines() {
        let bytes: usize = input.iter().map(Vec::len).sum();
        g.throughput(Throughput::Elements(input.len() as u64));
        g.bench_function(format!("{name}/parse"), |b| {
            b.iter(|| {
                for l in &input {
                    black_box(parse(black_box(l), &ctx).unwrap());
                }
            })
        });
        g.bench_function(format!("{name}/parse+to_event"), |b| {
            b.iter(|| {
                for l in &input {
                    let m = parse(black_box(l), &ctx).unwrap();
                    black_box(to_event(&m, l, &ctx));
                }
            })
        });
        eprintln!("{name}: {} bytes per line on average", bytes / input.len());
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
