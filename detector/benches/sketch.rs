//! Nanoseconds per update of the detector sketches, on batches of 4096 precomputed hashes
//! so the figures exclude key hashing (measured separately as `hash`):
//! `Distinct::insert_hash` in exact mode (1024 keys, each cycling through 12 values) and in
//! HyperLogLog mode, `CountMin::add` (ε = 0.001, δ = 0.01: 2719 × 5), `SpaceSaving::add`
//! at k = 1024 over a Zipf-like stream of a million keys, and `HashedEntropy::add` (1024
//! buckets).
//!
//! `cargo bench -p ncsoc-detector --bench sketch -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_detector::sketch::{
    hash64, hash_ip, mix64, CountMin, Distinct, HashedEntropy, Hll, SpaceSaving,
};

const BATCH: usize = 4096;

/// splitmix64-driven Zipf-like keys in 0..n (P(i) ∝ 1/(i+1)).
fn zipf_keys(n: u64, count: usize) -> Vec<u64> {
    (0..count as u64)
        .map(|i| {
            let u = (mix64(i ^ 0x5eed) >> 11) as f64 / (1u64 << 53) as f64;
            (((n as f64 + 1.0).powf(u)) - 1.0)
                .floor()
                .min(n as f64 - 1.0) as u64
        })
        .collect()
}

fn bench_sketches(c: &mut Criterion) {
    let hashes: Vec<u64> = (0..BATCH as u64).map(mix64).collect();
    let mut g = c.benchmark_group("sketch");
    g.throughput(Throughput::Elements(BATCH as u64));

    let lines: Vec<[u8; 16]> = (0..BATCH as u64)
        .map(|i| {
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&i.to_le_bytes());
            b[8..].copy_from_slice(&mix64(i).to_le_bytes());
            b
        })
        .collect();
    g.bench_function("hash64_16B", |b| {
        b.iter(|| lines.iter().fold(0u64, |acc, l| acc ^ hash64(black_box(l))))
    });
    let ips: Vec<IpAddr> = (0..BATCH as u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761))))
        .collect();
    g.bench_function("hash_ip_v4", |b| {
        b.iter(|| {
            ips.iter()
                .fold(0u64, |acc, ip| acc ^ hash_ip(black_box(ip)))
        })
    });

    // Exact mode: 1024 keys (a host's peers, say), each seeing the same 12 values again
    // and again, as most keys do.
    let mut per_key: Vec<Distinct> = vec![Distinct::new(); 1024];
    let small: Vec<u64> = (0..12u64).map(|v| mix64(v + 1_000_000)).collect();
    g.bench_function("distinct_insert_exact", |b| {
        b.iter(|| {
            for (i, &h) in hashes.iter().enumerate() {
                let key = (h as usize) & 1023;
                black_box(per_key[key].insert_hash(small[i % 12]));
            }
        })
    });
    assert!(per_key.iter().all(|d| d.len_exact().is_some()));

    let mut big = Distinct::new();
    for h in &hashes {
        big.insert_hash(*h);
    }
    assert!(big.len_exact().is_none());
    let fresh: Vec<u64> = (0..BATCH as u64).map(|i| mix64(i + (1 << 40))).collect();
    g.bench_function("distinct_insert_hll", |b| {
        b.iter(|| {
            for &h in &fresh {
                black_box(big.insert_hash(h));
            }
        })
    });
    let mut hll = Hll::new(14);
    g.bench_function("hll14_insert", |b| {
        b.iter(|| {
            for &h in &fresh {
                hll.insert_hash(black_box(h));
            }
        })
    });

    let mut cm = CountMin::with_error(0.001, 0.01);
    let zipf: Vec<u64> = zipf_keys(1_000_000, BATCH);
    let zipf_hashes: Vec<u64> = zipf.iter().map(|&k| mix64(k)).collect();
    g.bench_function("count_min_add_2719x5", |b| {
        b.iter(|| {
            for &h in &zipf_hashes {
                cm.add(black_box(h), 1);
            }
        })
    });
    g.bench_function("count_min_add_conservative_2719x5", |b| {
        b.iter(|| {
            for &h in &zipf_hashes {
                cm.add_conservative(black_box(h), 1);
            }
        })
    });

    let long_zipf = zipf_keys(1_000_000, 64 * BATCH);
    let mut ss: SpaceSaving<u64> = SpaceSaving::new(1024);
    for &k in &long_zipf {
        ss.add(k, 1);
    }
    let mut round = 0usize;
    g.bench_function("space_saving_add_k1024_zipf", |b| {
        b.iter(|| {
            round = (round + 1) % 64;
            for &k in &long_zipf[round * BATCH..(round + 1) * BATCH] {
                ss.add(black_box(k), 1);
            }
        })
    });

    let mut ent = HashedEntropy::new(10);
    g.bench_function("hashed_entropy_add_1024", |b| {
        b.iter(|| {
            for &h in &zipf_hashes {
                ent.add(black_box(h), 1);
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench_sketches);
criterion_main!(benches);
