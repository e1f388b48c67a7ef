//! Flow metering, per core: decoded packets through `Meter::push` (50,000 concurrent TCP and
//! UDP conversations, both directions), and raw frames through `packet::decode` + `push`.
//!
//! ```sh
//! cargo bench -p ncsoc-parsers --bench meter
//! ```

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_model::Timestamp;
use ncsoc_parsers::meter::{Meter, MeterConfig};
use ncsoc_parsers::packet::{self, Decoded};

const FLOWS: u32 = 50_000;
const PACKETS: usize = 200_000;

/// Ethernet/IPv4/TCP-or-UDP frames (headers only) for `PACKETS` packets over `FLOWS`
/// conversations, alternating direction.
fn frames() -> Vec<Vec<u8>> {
    (0..PACKETS)
        .map(|k| {
            let i = k as u32 % FLOWS;
            let client = Ipv4Addr::from(0x0a00_0000 | i.wrapping_mul(2_654_435_761) >> 8);
            let server = Ipv4Addr::new(192, 0, 2, (i % 250) as u8 + 1);
            let (proto, cport, sport) = (
                if i.is_multiple_of(4) { 17u8 } else { 6 },
                1024 + (i % 60000) as u16,
                443u16,
            );
            let fwd = (k / FLOWS as usize).is_multiple_of(2);
            let (src, dst, sp, dp) = if fwd {
                (client, server, cport, sport)
            } else {
                (server, client, sport, cport)
            };
            let mut f = vec![0u8; 14];
            f[12] = 0x08;
            let l4_len = if proto == 6 { 20 } else { 8 };
            let total = (20 + l4_len) as u16;
            f.extend_from_slice(&[0x45, 0]);
            f.extend_from_slice(&total.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            f.extend_from_slice(&src.octets());
            f.extend_from_slice(&dst.octets());
            f.extend_from_slice(&sp.to_be_bytes());
            f.extend_from_slice(&dp.to_be_bytes());
            if proto == 6 {
                f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xff, 0xff, 0, 0, 0, 0]);
            } else {
                f.extend_from_slice(&(8u16).to_be_bytes());
                f.extend_from_slice(&[0, 0]);
            }
            f
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let decoded: Vec<Decoded<'_>> = frames
        .iter()
        .map(|f| packet::decode(1, f).unwrap())
        .collect();
    assert!(decoded
        .iter()
        .all(|d| d.src.is_some() && matches!(d.dst, Some(IpAddr::V4(_)))));
    let mut g = c.benchmark_group("meter");
    g.throughput(Throughput::Elements(PACKETS as u64));
    g.bench_function("push", |b| {
        b.iter(|| {
            let mut m = Meter::new(MeterConfig::default());
            let mut out = Vec::new();
            for (k, d) in decoded.iter().enumerate() {
                m.push(Timestamp(k as i64 * 20_000), d, 1000, &mut out);
                out.clear();
            }
            m.flush(&mut out);
            black_box(out.len())
        })
    });
    g.bench_function("decode+push", |b| {
        b.iter(|| {
            let mut m = Meter::new(MeterConfig::default());
            let mut out = Vec::new();
            for (k, f) in frames.iter().enumerate() {
                let d = packet::decode(1, f).unwrap();
                m.push(Timestamp(k as i64 * 20_000), &d, 1000, &mut out);
                out.clear();
            }
            m.flush(&mut out);
            black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
