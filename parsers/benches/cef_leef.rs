//! Events per second through the CEF and LEEF parsers: parse only (borrowed message), and
//! parse + ECS normalisation (`to_event`), on realistic lines: a bare CEF firewall event,
//! the same wrapped in RFC 3164 syslog, a tab-separated LEEF 1.0 event and a PAN-OS
//! LEEF 1.0 TRAFFIC line (60 `|`-separated attributes). The allocator is mimalloc, as in
//! the `ncsoc` binary.
//!
//! `cargo bench -p ncsoc-parsers --bench cef_leef -- --warm-up-time 1 --measurement-time 3`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_model::id::id_from_parts;
use ncsoc_model::Timestamp;
use ncsoc_parsers::syslog::{self, Context};
use ncsoc_parsers::{cef, leef};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LINES: usize = 1_000;

fn ctx() -> Context {
    Context {
        sector: "energy".into(),
        source: "dso-north".into(),
        now: Timestamp::from_secs(1_718_445_600),
        default_offset_secs: 0,
    }
}

fn cef_line(i: usize) -> String {
    format!(
        "CEF:0|Fortinet|FortiGate|7.2.5|13|traffic:forward accept|3|rt=17184456{:05} deviceExternalId=FG100FTK2200{i:04} src=10.{}.{}.{} spt={} dst=203.0.113.{} dpt=443 proto=TCP act=accept suser=alice{i} request=https://portal.example.org/login?id={i} in={} out={} cs1Label=policyname cs1=LAN to WAN outbound cs2Label=srcintf cs2=port1 msg=session closed after idle timeout",
        i % 100_000,
        i % 256,
        (i / 7) % 256,
        (i * 13) % 256,
        1024 + i % 60_000,
        i % 256,
        200 + i,
        4_000 + 3 * i,
    )
}

fn leef_line(i: usize) -> String {
    format!(
        "LEEF:1.0|Microsoft|MSExchange|2016 CU23|4625|devTime=Jun 15 2024 10:{:02}:{:02}\tdevTimeFormat=MMM dd yyyy HH:mm:ss\tsrc=10.{}.{}.{}\tdst=192.0.2.{}\tsrcPort={}\tdstPort=443\tproto=TCP\tsev=5\tusrName=corp\\\\user{i}\tcat=Logon Failure\tidentHostName=ws-{i}.corp.example\tsrcBytes={}\tdstBytes={}\tresource=OWA\tpolicy=Default Policy\turl=https://mail.example.org/owa/",
        (i / 60) % 60,
        i % 60,
        i % 256,
        (i / 3) % 256,
        (i * 7) % 256,
        i % 256,
        1024 + i % 60_000,
        300 + i,
        9_000 + i,
    )
}

fn panos_line(i: usize) -> String {
    format!(
        "<14>Sep 17 13:45:35 firewall.domain.local LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|11.1.6-h14|allow|cat=TRAFFIC|ReceiveTime=2025/09/17 13:45:34|SerialNumber=010108010025|Type=TRAFFIC|Subtype=start|devTime=Sep 17 2025 11:45:34 GMT|src=172.19.50.{}|dst=172.19.5.50|srcPostNAT=0.0.0.157|dstPostNAT=0.0.0.157|RuleName=interzone-default|usrName=|SourceUser=|DestinationUser=|Application=ssl|VirtualSystem=vsys3|SourceZone=x-def|DestinationZone=z-def|IngressInterface=iu1.6751|EgressInterface=iu1.6723|LogForwardingProfile=default|SessionID={}|RepeatCount=1|srcPort={}|dstPort=443|srcPostNATPort=0|dstPostNATPort=0|Flags=0x0|proto=tcp|action=allow|totalBytes=460|dstBytes=70|srcBytes=390|totalPackets=4|StartTime=2025/09/17 13:45:33|ElapsedTime=0|URLCategory=any|sequence=7548503197945820434|ActionFlags=0x8000000000000000|SourceLocation=172.0.0.20-172.255.255.1|DestinationLocation=172.0.0.20-172.255.255.1|dstPackets=1|srcPackets=3|SessionEndReason=n/a|DeviceGroupHierarchyL1=177|DeviceGroupHierarchyL2=235|DeviceGroupHierarchyL3=236|DeviceGroupHierarchyL4=239|vSrcName=firewall.domain.local|DeviceName=firewall.domain.local|ActionSource=from-policy|SrcUUID=|DstUUID=|TunnelID=0|MonitorTag=|ParentSessionID=0|ParentStartTime=|TunnelType=N/A",
        i % 256,
        74_879_677 + i,
        1024 + i % 60_000,
    )
}

fn bench_set(
    c: &mut Criterion,
    name: &str,
    lines: &[Vec<u8>],
    parse_only: impl Fn(&[u8], &Context) -> bool,
    full: impl Fn(&[u8], &Context) -> usize,
) {
    let ctx = ctx();
    assert!(
        lines.iter().all(|l| parse_only(l, &ctx)),
        "{name}: a bench line does not parse"
    );
    let bytes: usize = lines.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("parse", |b| {
        b.iter(|| lines.iter().filter(|l| parse_only(l, &ctx)).count())
    });
    g.bench_function("parse_to_event", |b| {
        b.iter(|| lines.iter().map(|l| full(l, &ctx)).sum::<usize>())
    });
    g.finish();
    println!(
        "{name}: {} lines, {} bytes per line on average",
        lines.len(),
        bytes / lines.len()
    );
    // The same work timed in CPU time of this thread, so that other processes on a shared
    // machine do not count against the parser (skipped when profiling).
    if std::env::args().any(|a| a == "--profile-time") {
        return;
    }
    if let (Some(p), Some(f)) = (
        per_cpu_second(lines, |l| usize::from(parse_only(l, &ctx))),
        per_cpu_second(lines, |l| full(l, &ctx)),
    ) {
        println!(
            "{name}: per CPU second: parse {:.0} k events/s, parse_to_event {:.0} k events/s",
            p / 1e3,
            f / 1e3
        );
    }
}

/// Nanoseconds this thread has run on a CPU (Linux `schedstat`); `None` elsewhere.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Events per second of CPU time: passes over `lines` until at least a CPU second is spent.
fn per_cpu_second(lines: &[Vec<u8>], f: impl Fn(&[u8]) -> usize) -> Option<f64> {
    let start = thread_cpu_ns()?;
    let mut events = 0u64;
    let mut sink = 0usize;
    loop {
        for l in lines {
            sink = sink.wrapping_add(f(std::hint::black_box(l)));
        }
        events += lines.len() as u64;
        let spent = thread_cpu_ns()?.saturating_sub(start);
        if spent >= 1_000_000_000 {
            std::hint::black_box(sink);
            return Some(events as f64 * 1e9 / spent as f64);
        }
    }
}

fn benches(c: &mut Criterion) {
    let bare: Vec<Vec<u8>> = (0..LINES).map(|i| cef_line(i).into_bytes()).collect();
    let wrapped: Vec<Vec<u8>> = (0..LINES)
        .map(|i| format!("<134>Jun 15 10:00:00 fw-{:02} {}", i % 50, cef_line(i)).into_bytes())
        .collect();
    let leef_tab: Vec<Vec<u8>> = (0..LINES).map(|i| leef_line(i).into_bytes()).collect();
    let panos: Vec<Vec<u8>> = (0..LINES).map(|i| panos_line(i).into_bytes()).collect();

    let cef_parse = |l: &[u8], ctx: &Context| cef::parse(l, ctx).is_ok();
    let cef_full = |l: &[u8], ctx: &Context| cef::parse_event(l, ctx).map_or(0, |e| e.extra.len());
    let leef_parse = |l: &[u8], ctx: &Context| leef::parse(l, ctx).is_ok();
    let leef_full =
        |l: &[u8], ctx: &Context| leef::parse_event(l, ctx).map_or(0, |e| e.extra.len());
    bench_set(c, "cef_bare", &bare, cef_parse, cef_full);
    bench_set(c, "cef_syslog", &wrapped, cef_parse, cef_full);
    bench_set(c, "leef_tab", &leef_tab, leef_parse, leef_full);
    bench_set(c, "leef_panos", &panos, leef_parse, leef_full);

    // For scale: the syslog parser on plain RFC 3164 lines of similar length.
    let plain: Vec<Vec<u8>> = (0..LINES)
        .map(|i| format!("<134>Jun 15 10:00:00 fw-{:02} sshd[{}]: Failed password for invalid user admin{i} from 203.0.113.{} port {} ssh2; session closed after idle timeout, policy LAN to WAN outbound, portal https://portal.example.org/login?id={i}", i % 50, 1000 + i, i % 256, 1024 + i % 60_000).into_bytes())
        .collect();
    bench_set(
        c,
        "syslog_3164",
        &plain,
        |l, ctx| syslog::parse(l, ctx).is_ok(),
        |l, ctx| syslog::parse(l, ctx).map_or(0, |m| syslog::to_event(&m, l, ctx).extra.len()),
    );

    // What parts of `to_event` cost that are not the parser's: the content id every
    // parser computes (ncsoc_model::id), and the `event.original` copy.
    let ctx = ctx();
    let mut g = c.benchmark_group("shared_costs_cef_bare");
    g.throughput(Throughput::Elements(bare.len() as u64));
    g.bench_function("id_from_parts", |b| {
        b.iter(|| {
            bare.iter()
                .map(|l| id_from_parts(ctx.now, &[ctx.source.as_bytes(), l]).len())
                .sum::<usize>()
        })
    });
    g.bench_function("original_copy", |b| {
        b.iter(|| {
            bare.iter()
                .map(|l| String::from_utf8_lossy(l).into_owned().len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(cef_leef, benches);
criterion_main!(cef_leef);
