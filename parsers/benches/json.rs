//! JSON intake throughput: parse + normalise to ECS events, one core.
//!
//! Inputs are real logs from `../shared/testdata` (read at run time, never copied):
//! the slips Suricata EVE capture (5,000 lines: flow, alert, dns, http, fileinfo,
//! anomaly, tls), its slices per event type, ECS documents made by normalising those EVE
//! lines (dotted keys, as another ncsoc or an Elastic pipeline would forward them), the
//! slips Zeek conn JSON log and Zeek TSV conn logs. Without the test data a small built-in
//! sample stands in (and the figures are not comparable).
//!
//! Throughput is bytes of input per second; events per second = bytes/s ÷ the average line
//! length printed for each input.
//!
//! Time is the benchmark thread's **CPU time** (`/proc/thread-self/schedstat`, ns), so the
//! figures are per core even when other work shares the machine; wall time is used where
//! that file is missing. The kernel updates that counter at scheduler ticks, so samples are
//! kept long: 20 samples per benchmark, and inputs under 1 MB are repeated up to 1 MB.
//!
//! The allocator is mimalloc, as in the `ncsoc` binary. Two floors are measured on the EVE
//! mix alone: simd-json building the tape (no mapping), and `id_from_parts` over the same
//! bytes (every event's id hashes its whole line).
//!
//! `cargo bench -p ncsoc-parsers --bench json -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_model::id::id_from_parts;
use ncsoc_model::Timestamp;
use ncsoc_parsers::json::{Context, JsonParser, TsvReader};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SAMPLE_EVE: &[&str] = &[
    r#"{"timestamp":"2021-06-06T15:57:37.272281+0200","flow_id":445348883402532,"event_type":"flow","src_ip":"192.168.1.132","src_port":1900,"dest_ip":"192.168.1.129","dest_port":44232,"proto":"UDP","app_proto":"failed","flow":{"pkts_toserver":12,"pkts_toclient":0,"bytes_toserver":4056,"bytes_toclient":0,"start":"2021-06-06T16:38:55.855844+0200","end":"2021-06-06T16:38:56.963027+0200","age":1,"state":"new","reason":"timeout","alerted":false},"host":"sensor"}"#,
    r#"{"timestamp":"2021-06-06T15:59:46.457984+0200","flow_id":1374195536821504,"pcap_cnt":313,"event_type":"alert","src_ip":"78.36.196.213","src_port":51698,"dest_ip":"192.168.1.129","dest_port":445,"proto":"TCP","alert":{"action":"allowed","gid":1,"signature_id":2403388,"rev":66418,"signature":"ET CINS Active Threat Intelligence Poor Reputation IP group 89","category":"Misc Attack","severity":2},"flow":{"pkts_toserver":1,"pkts_toclient":0,"bytes_toserver":60,"bytes_toclient":0,"start":"2021-06-06T15:59:46.457984+0200"},"host":"sensor"}"#,
];

/// Nanoseconds this thread has run on a CPU, if the kernel says.
fn cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` `iters` times and returns the CPU time it took (wall time as a fallback).
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    let (c0, w0) = (cpu_ns(), Instant::now());
    for _ in 0..iters {
        f();
    }
    match (c0, cpu_ns()) {
        (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
        _ => w0.elapsed(),
    }
}

fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata")
}

fn read_lines(rel: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(testdata().join(rel)).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_owned)
            .collect(),
    )
}

fn ctx() -> Context {
    Context {
        sector: "energy".into(),
        source: "bench".into(),
        now: Timestamp::from_secs(1_700_000_000),
        default_offset_secs: 0,
    }
}

fn total(lines: &[String]) -> u64 {
    lines.iter().map(|l| l.len() as u64 + 1).sum()
}

/// Inputs are repeated up to this size so that one pass takes milliseconds.
const MIN_PASS_BYTES: u64 = 1 << 20;

fn bench_json_lines(c: &mut Criterion, name: &str, lines: &[String], zeek_log: Option<&str>) {
    if lines.is_empty() {
        return;
    }
    let once = total(lines);
    let lines: Vec<String> = lines
        .iter()
        .cycle()
        .take(lines.len() * MIN_PASS_BYTES.div_ceil(once).max(1) as usize)
        .cloned()
        .collect();
    let lines = &lines[..];
    let bytes = total(lines);
    println!(
        "{name}: {} lines, {bytes} bytes, {:.0} bytes/line",
        lines.len(),
        bytes as f64 / lines.len() as f64
    );
    let ctx = ctx();
    let mut g = c.benchmark_group("json");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(name, |b| {
        let mut parser = JsonParser::new();
        let mut buf = Vec::with_capacity(64 * 1024);
        b.iter_custom(|iters| {
            timed(iters, || {
                for line in lines {
                    buf.clear();
                    buf.extend_from_slice(line.as_bytes());
                    let e = match zeek_log {
                        Some(log) => parser.parse_zeek(Some(log), &mut buf, &ctx),
                        None => parser.parse(&mut buf, &ctx),
                    };
                    if let Ok(e) = e {
                        black_box(e);
                    }
                }
            })
        })
    });
    g.finish();
}

fn bench_tsv(c: &mut Criterion, name: &str, text: &str) {
    let text = text.repeat(MIN_PASS_BYTES.div_ceil(text.len().max(1) as u64) as usize);
    let text = text.as_str();
    let bytes = text.len() as u64;
    let rows = text.lines().filter(|l| !l.starts_with('#')).count();
    println!(
        "{name}: {rows} rows, {bytes} bytes, {:.0} bytes/row",
        bytes as f64 / rows.max(1) as f64
    );
    let ctx = ctx();
    let mut g = c.benchmark_group("json");
    g.sample_size(20);
    g.throughput(Throughput::Bytes(bytes));
    g.bench_function(name, |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                let mut reader = TsvReader::new(Some("conn.log"));
                for line in text.lines() {
                    if let Ok(Some(e)) = reader.push_line(line.as_bytes(), &ctx) {
                        black_box(e);
                    }
                }
            })
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let eve = read_lines("eve/slips/dataset/test6-malicious.suricata.json").unwrap_or_else(|| {
        println!("SKIP real data: ../shared/testdata is absent; using a built-in sample");
        SAMPLE_EVE.iter().map(|s| (*s).to_owned()).collect()
    });
    bench_json_lines(c, "eve_mix", &eve, None);
    {
        let mut g = c.benchmark_group("json");
        g.sample_size(20);
        g.throughput(Throughput::Bytes(total(&eve)));
        g.bench_function("eve_mix_simd_json_tape_only", |b| {
            let mut buffers = simd_json::Buffers::new(4096);
            let mut tape = simd_json::Tape::null();
            let mut buf = Vec::with_capacity(64 * 1024);
            b.iter_custom(|iters| {
                timed(iters, || {
                    for line in &eve {
                        buf.clear();
                        buf.extend_from_slice(line.as_bytes());
                        let mut t = std::mem::replace(&mut tape, simd_json::Tape::null()).reset();
                        if simd_json::fill_tape(&mut buf, &mut buffers, &mut t).is_ok() {
                            black_box(t.0.len());
                        }
                        tape = t.reset();
                    }
                })
            })
        });
        g.bench_function("eve_mix_id_only", |b| {
            b.iter_custom(|iters| {
                timed(iters, || {
                    for line in &eve {
                        black_box(id_from_parts(
                            Timestamp::from_secs(1),
                            &[b"bench", line.as_bytes()],
                        ));
                    }
                })
            })
        });
        g.finish();
    }
    for ty in ["flow", "alert", "dns", "http"] {
        let tag = format!("\"event_type\":\"{ty}\"");
        let slice: Vec<String> = eve.iter().filter(|l| l.contains(&tag)).cloned().collect();
        bench_json_lines(c, &format!("eve_{ty}"), &slice, None);
    }

    // ECS documents: the EVE lines normalised by ncsoc, with an `ecs.version`.
    let ctx = ctx();
    let mut parser = JsonParser::new();
    let ecs: Vec<String> = eve
        .iter()
        .filter_map(|l| {
            let mut buf = l.clone().into_bytes();
            let mut e = parser.parse(&mut buf, &ctx).ok()?;
            e.fields.original = None;
            e.extra
                .insert("ecs.version".into(), serde_json::Value::from("8.11.0"));
            Some(e.to_json_string())
        })
        .collect();
    bench_json_lines(c, "ecs_dotted", &ecs, None);

    if let Some(conn) = read_lines("zeek/slips/dataset/test9-mixed-zeek-dir/conn.log") {
        bench_json_lines(c, "zeek_conn_json", &conn, Some("conn.log"));
    }
    let mut tsv = String::new();
    for rel in [
        "zeek/slips/dataset/test10-mixed-zeek-dir/conn.log",
        "zeek/slips/dataset/test18-malicious-ctu-sme-11-win/zeek-labeled/conn.log.labeled",
        "zeek/slips/dataset/port-scans/horizontal/conn.log",
    ] {
        if let Ok(t) = std::fs::read_to_string(testdata().join(rel)) {
            tsv.push_str(&t);
            tsv.push('\n');
        }
    }
    if !tsv.is_empty() {
        bench_tsv(c, "zeek_conn_tsv", &tsv);
    }
}

criterion_group!(json, benches);
criterion_main!(json);
