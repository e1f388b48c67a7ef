//! Matching flows and events against 100 k indicators (addresses, prefixes, domains,
//! URLs, hashes, e-mail addresses), one core; and the memory the set takes, measured with
//! a counting allocator.
//!
//! `cargo bench -p ncsoc-intel --bench intel`

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering::Relaxed};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_intel::IndicatorSet;
use ncsoc_model::{Event, FlowRecord, Indicator, IndicatorKind, Timestamp, Tlp};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Relaxed);
        // SAFETY: same layout, passed through.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Relaxed);
        // SAFETY: allocated by `alloc` above with this layout.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Relaxed);
        // SAFETY: as `GlobalAlloc::realloc` requires, forwarded unchanged.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const N: usize = 100_000;

type PrefixTable =
    std::collections::HashMap<u32, u32, std::hash::BuildHasherDefault<ncsoc_intel::set::FxHasher>>;

/// 40 % addresses (a tenth IPv6), 10 % prefixes (/16 to /30), 25 % domains, 10 % URLs,
/// 12 % hashes, 3 % e-mail addresses.
pub fn indicators(seed: u64) -> Vec<Indicator> {
    let mut r = Rng(seed);
    let t0 = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    (0..N)
        .map(|i| {
            let x = r.next();
            let (kind, value) = match i % 100 {
                0..=35 => (
                    IndicatorKind::Ipv4,
                    std::net::Ipv4Addr::from(x as u32).to_string(),
                ),
                36..=39 => (
                    IndicatorKind::Ipv6,
                    std::net::Ipv6Addr::from(((0x2001_0db8u128) << 96) | u128::from(x)).to_string(),
                ),
                40..=49 => {
                    let len = 16 + (x >> 40) as u32 % 15;
                    let net = (x as u32) & (u32::MAX << (32 - len));
                    (
                        IndicatorKind::Cidr,
                        format!("{}/{len}", std::net::Ipv4Addr::from(net)),
                    )
                }
                50..=74 => (IndicatorKind::Domain, format!("h{x:x}.example")),
                75..=84 => (
                    IndicatorKind::Url,
                    format!("http://u{:x}.example/p/{i}", x >> 8),
                ),
                85..=96 => (
                    IndicatorKind::Sha256,
                    format!(
                        "{x:016x}{:016x}{:016x}{:016x}",
                        r.next(),
                        r.next(),
                        r.next()
                    ),
                ),
                _ => (IndicatorKind::Email, format!("m{x:x}@mail.example")),
            };
            Indicator {
                id: format!("bench-{i}"),
                kind,
                value,
                source: "bench".into(),
                confidence: Some(80),
                valid_from: t0,
                valid_until: None,
                tlp: Tlp::Green,
                labels: Vec::new(),
                description: None,
            }
        })
        .collect()
}

fn flows(n: usize, seed: u64) -> Vec<Event> {
    let mut r = Rng(seed);
    let t = Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
    (0..n)
        .map(|i| {
            let mut e = Event::new(format!("f{i}"), t, "energy", "bench");
            e.fields.source_ip =
                Some(std::net::Ipv4Addr::from(0x0a00_0000 | (r.next() as u32 & 0xffff)).into());
            e.fields.destination_ip = Some(std::net::Ipv4Addr::from(r.next() as u32).into());
            e.fields.source_port = Some(40000);
            e.fields.destination_port = Some(443);
            e.flow = Some(Box::new(FlowRecord::default()));
            e
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let inds = indicators(7);
    let before = LIVE.load(Relaxed);
    let set = IndicatorSet::build(inds);
    let after = LIVE.load(Relaxed);
    eprintln!(
        "indicator set: {} indicators, {} rejected; heap {:.1} MiB measured (index {:.1} MiB by estimate, documents {:.1} MiB)",
        set.len(),
        set.rejected().len(),
        (after - before) as f64 / 1048576.0,
        set.index_bytes() as f64 / 1048576.0,
        set.documents_bytes() as f64 / 1048576.0,
    );
    let flows = flows(4096, 11);
    let mut g = c.benchmark_group("intel");
    g.throughput(Throughput::Elements(flows.len() as u64));
    g.bench_function("match_flows_100k_indicators", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for e in &flows {
                set.match_event(black_box(e), |_| hits += 1);
            }
            black_box(hits)
        })
    });
    // The alternative to the range table for addresses and prefixes: one hash table per
    // prefix length present, probed from the longest (what a hash-based trie does).
    let mut by_len: Vec<(u32, PrefixTable)> = Vec::new();
    for (n, i) in set.indicators().iter().enumerate() {
        if !matches!(i.kind, IndicatorKind::Ipv4 | IndicatorKind::Cidr) {
            continue;
        }
        let (a, len) = match i.value.split_once('/') {
            Some((a, l)) => (a, l.parse::<u32>().unwrap()),
            None => (i.value.as_str(), 32),
        };
        let Ok(a) = a.parse::<std::net::Ipv4Addr>() else {
            continue;
        };
        let slot = match by_len.iter().position(|(l, _)| *l == len) {
            Some(p) => p,
            None => {
                by_len.push((len, Default::default()));
                by_len.len() - 1
            }
        };
        by_len[slot].1.insert(u32::from(a), n as u32);
    }
    by_len.sort_by_key(|t| std::cmp::Reverse(t.0));
    eprintln!("hash tables per prefix length: {}", by_len.len());
    g.bench_function("baseline_hash_per_prefix_length_flows", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for e in &flows {
                for ip in [e.fields.source_ip, e.fields.destination_ip]
                    .into_iter()
                    .flatten()
                {
                    let std::net::IpAddr::V4(a) = ip else {
                        continue;
                    };
                    let a = u32::from(a);
                    for (len, m) in &by_len {
                        let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                        if m.contains_key(&(a & mask)) {
                            hits += 1;
                        }
                    }
                }
            }
            black_box(hits)
        })
    });
    // Events with a DNS name, a TLS name and a URL besides the addresses.
    let mut r = Rng(5);
    let events: Vec<Event> = flows
        .iter()
        .map(|f| {
            let mut e = f.clone();
            e.flow = None;
            let x = r.next();
            e.fields.dns_question_name = Some(format!("www.h{x:x}.cdn.example"));
            e.fields.tls_server_sni = Some(format!("api{}.service.example", x % 1000));
            e.fields.url_original =
                Some(format!("https://site{}.example/index.html?q={x}", x % 5000));
            e
        })
        .collect();
    g.bench_function("match_events_with_names_100k_indicators", |b| {
        b.iter(|| {
            let mut hits = 0u32;
            for e in &events {
                set.match_event(black_box(e), |_| hits += 1);
            }
            black_box(hits)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
