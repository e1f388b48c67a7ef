//! Flow decode throughput on synthetic, realistic export packets (built here, so the bench
//! needs no test data):
//!
//! - `netflow9/decode`, `ipfix/decode`: one 1400-byte-class packet of 24 records with a
//!   Cisco-like template of 19 fields (v9) / 20 fields with microsecond times (IPFIX),
//!   template already cached; throughput in flows.
//! - `netflow9/decode+to_event`: the same plus the ECS mapping of every flow.
//! - `sflow/decode`: a datagram of 7 flow samples with 128-byte Ethernet/IPv4/TCP headers
//!   and extended switch records.
//! - `pcap/read+decode`: 10 000 Ethernet/IPv4/TCP-UDP packets in a classic pcap buffer,
//!   read and decoded to L4; throughput in packets.
//!
//! `cargo bench -p ncsoc-parsers --bench flows -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{decode_export, to_event, EventContext, Flow};
use ncsoc_parsers::netflow::NetflowDecoder;
use ncsoc_parsers::sflow::CounterSample;
use ncsoc_parsers::{packet, pcap, sflow};

const RECORDS: usize = 24;

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fn template(id: u16, fields: &[(u16, u16)]) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    for (ie, len) in fields {
        v.extend_from_slice(&ie.to_be_bytes());
        v.extend_from_slice(&len.to_be_bytes());
    }
    v
}

/// IN_BYTES, IN_PKTS, PROTOCOL, TOS, TCP_FLAGS, L4 ports, IPv4 src/dst, masks, input,
/// output, next hop, AS numbers, LAST/FIRST_SWITCHED, direction, sampler id.
const V9_FIELDS: &[(u16, u16)] = &[
    (1, 4),
    (2, 4),
    (4, 1),
    (5, 1),
    (6, 1),
    (7, 2),
    (11, 2),
    (8, 4),
    (12, 4),
    (9, 1),
    (13, 1),
    (10, 4),
    (14, 4),
    (15, 4),
    (16, 4),
    (17, 4),
    (21, 4),
    (22, 4),
    (61, 1),
];

fn v9_record(i: usize) -> Vec<u8> {
    let i = i as u32;
    let mut r = Vec::new();
    r.extend_from_slice(&(1000 + i * 7).to_be_bytes());
    r.extend_from_slice(&(3 + i).to_be_bytes());
    r.extend_from_slice(&[if i.is_multiple_of(3) { 17 } else { 6 }, 0, 0x18]);
    r.extend_from_slice(&(40000 + i as u16).to_be_bytes());
    r.extend_from_slice(&443u16.to_be_bytes());
    r.extend_from_slice(&[10, 1, (i >> 8) as u8, i as u8, 192, 0, 2, i as u8, 24, 24]);
    r.extend_from_slice(&7u32.to_be_bytes());
    r.extend_from_slice(&9u32.to_be_bytes());
    r.extend_from_slice(&[198, 51, 100, 1]);
    r.extend_from_slice(&64500u32.to_be_bytes());
    r.extend_from_slice(&64501u32.to_be_bytes());
    r.extend_from_slice(&99_000u32.to_be_bytes());
    r.extend_from_slice(&90_000u32.to_be_bytes());
    r.push(0);
    r
}

fn v9_packets() -> (Vec<u8>, Vec<u8>) {
    let header = |seq: u32| {
        let mut p = vec![0, 9, 0, 1];
        p.extend_from_slice(&100_000u32.to_be_bytes());
        p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&0u32.to_be_bytes());
        p
    };
    let mut t = header(1);
    t.extend(set(0, &template(256, V9_FIELDS)));
    let mut d = header(2);
    let records: Vec<u8> = (0..RECORDS).flat_map(v9_record).collect();
    d.extend(set(256, &records));
    (t, d)
}

fn ipfix_packets() -> (Vec<u8>, Vec<u8>) {
    let header = |len: usize| {
        let mut p = vec![0, 10];
        p.extend_from_slice(&(len as u16 + 16).to_be_bytes());
        p.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&1u32.to_be_bytes());
        p
    };
    // The v9 layout with 8-byte counters, and flowStart/EndMilliseconds for the uptimes.
    let mut fields: Vec<(u16, u16)> = V9_FIELDS.to_vec();
    fields[0].1 = 8;
    fields[1].1 = 8;
    fields[16] = (153, 8);
    fields[17] = (152, 8);
    fields.push((136, 1));
    let tset = set(2, &template(300, &fields));
    let mut t = header(tset.len());
    t.extend(tset);
    let mut records = Vec::new();
    for i in 0..RECORDS {
        let r = v9_record(i);
        records.extend_from_slice(&[0, 0, 0, 0]);
        records.extend_from_slice(&r[0..4]);
        records.extend_from_slice(&[0, 0, 0, 0]);
        records.extend_from_slice(&r[4..8]);
        records.extend_from_slice(&r[8..r.len() - 9]);
        records.extend_from_slice(&1_700_000_000_000u64.to_be_bytes());
        records.extend_from_slice(&1_699_999_990_000u64.to_be_bytes());
        records.extend_from_slice(&[0, 1]);
    }
    let dset = set(300, &records);
    let mut d = header(dset.len());
    d.extend(dset);
    (t, d)
}

fn eth_ipv4(i: usize, tcp: bool, payload: usize) -> Vec<u8> {
    let mut f = vec![0, 0x53, 0, 0, 0, 2, 0, 0x53, 0, 0, 0, 1, 8, 0];
    let l4_len = if tcp { 20 } else { 8 } + payload;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&((20 + l4_len) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, if tcp { 6 } else { 17 }, 0, 0]);
    f.extend_from_slice(&[10, 0, (i >> 8) as u8, i as u8, 192, 0, 2, 7]);
    f.extend_from_slice(&(1024 + (i % 60000) as u16).to_be_bytes());
    f.extend_from_slice(&443u16.to_be_bytes());
    if tcp {
        f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xFF, 0xFF, 0, 0, 0, 0]);
    } else {
        f.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
        f.extend_from_slice(&[0, 0]);
    }
    f.extend(std::iter::repeat_n(0xAB, payload));
    f
}

fn sflow_datagram() -> Vec<u8> {
    let w = |v: &mut Vec<u8>, words: &[u32]| {
        for x in words {
            v.extend_from_slice(&x.to_be_bytes());
        }
    };
    let mut d = Vec::new();
    w(&mut d, &[5, 1, 0xC000_0201, 0, 1, 1000, 7]);
    for i in 0..7 {
        let mut frame = eth_ipv4(i, true, 200);
        frame.truncate(128);
        let mut hdr = Vec::new();
        w(&mut hdr, &[1, 1514, 4, 128]);
        hdr.extend_from_slice(&frame);
        let mut s = Vec::new();
        w(&mut s, &[i as u32, 3, 1024, 0, 0, 3, 4, 2]);
        w(&mut s, &[1, hdr.len() as u32]);
        s.extend(hdr);
        w(&mut s, &[1001, 16, 100, 0, 100, 0]);
        w(&mut d, &[1, s.len() as u32]);
        d.extend(s);
    }
    d
}

fn pcap_file(n: usize) -> Vec<u8> {
    let mut f = Vec::new();
    for x in [0xA1B2_C3D4u32, 0x0004_0002, 0, 0, 65535, 1] {
        f.extend_from_slice(&x.to_le_bytes());
    }
    // Swap the version halves back: major 2, minor 4.
    f[4..8].copy_from_slice(&[2, 0, 4, 0]);
    for i in 0..n {
        let frame = eth_ipv4(i, i % 4 != 0, [0, 40, 200, 1200][i % 4]);
        for x in [
            1_700_000_000 + (i / 1000) as u32,
            (i % 1000) as u32,
            frame.len() as u32,
            frame.len() as u32,
        ] {
            f.extend_from_slice(&x.to_le_bytes());
        }
        f.extend(frame);
    }
    f
}

fn bench_netflow(c: &mut Criterion) {
    let exporter: IpAddr = "192.0.2.1".parse().unwrap();
    let ctx = EventContext {
        source: "bench".into(),
        default_sector: "energy".into(),
        now: Timestamp::from_secs(1_700_000_000),
        ..EventContext::default()
    };
    for (name, (t, d)) in [("netflow9", v9_packets()), ("ipfix", ipfix_packets())] {
        let mut decoder = NetflowDecoder::default();
        let mut flows: Vec<Flow> = Vec::with_capacity(64);
        decoder.decode(exporter, &t, &mut flows).unwrap();
        decoder.decode(exporter, &d, &mut flows).unwrap();
        assert_eq!(flows.len(), RECORDS, "{name}");
        let mut g = c.benchmark_group(name);
        g.throughput(Throughput::Elements(RECORDS as u64));
        g.bench_function("decode", |b| {
            b.iter(|| {
                flows.clear();
                decoder.decode(exporter, black_box(&d), &mut flows).unwrap();
                black_box(flows.len())
            })
        });
        g.bench_function("decode+to_event", |b| {
            b.iter(|| {
                flows.clear();
                decoder.decode(exporter, black_box(&d), &mut flows).unwrap();
                for f in &flows {
                    black_box(to_event(f, &ctx));
                }
            })
        });
        g.finish();
    }
}

fn bench_sflow(c: &mut Criterion) {
    let d = sflow_datagram();
    let mut flows: Vec<Flow> = Vec::with_capacity(16);
    let mut counters: Vec<CounterSample> = Vec::new();
    sflow::decode(&d, Timestamp(0), &mut flows, &mut counters).unwrap();
    assert_eq!(flows.len(), 7);
    assert_eq!(flows[0].dst_port, Some(443));
    let mut g = c.benchmark_group("sflow");
    g.throughput(Throughput::Elements(7));
    g.bench_function("decode", |b| {
        b.iter(|| {
            flows.clear();
            sflow::decode(black_box(&d), Timestamp(0), &mut flows, &mut counters).unwrap();
            black_box(flows.len())
        })
    });
    let mut decoder = NetflowDecoder::default();
    let exporter: IpAddr = "192.0.2.1".parse().unwrap();
    g.bench_function("decode_export", |b| {
        b.iter(|| {
            flows.clear();
            decode_export(
                &mut decoder,
                exporter,
                black_box(&d),
                Timestamp(0),
                &mut flows,
                &mut counters,
            )
            .unwrap();
            black_box(flows.len())
        })
    });
    g.finish();
}

fn bench_pcap(c: &mut Criterion) {
    const N: usize = 10_000;
    let file = pcap_file(N);
    let mut g = c.benchmark_group("pcap");
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("read+decode", |b| {
        b.iter(|| {
            let mut ports = 0u64;
            for p in pcap::PcapReader::new(black_box(&file)).unwrap() {
                let p = p.unwrap();
                let d = packet::decode(p.linktype, p.data).unwrap();
                ports += u64::from(d.dst_port.unwrap_or(0));
            }
            assert_eq!(ports, 443 * N as u64);
            ports
        })
    });
    g.finish();
}

criterion_group!(benches, bench_netflow, bench_sflow, bench_pcap);
criterion_main!(benches);
