//! Events per second through the shipped rules folder (`rules/`: 219 SigmaHQ rules plus
//! the threshold rules) on one core, on a mix of what a national SOC receives: flow
//! records (35 %), Windows process starts as winlogbeat sends them (20 %), Linux syslog
//! (15 %), Zeek DNS (15 %) and Zeek HTTP (15 %). Benign content (the rules rarely fire),
//! since that is the common case; every event still reaches the rules of its log source.
//!
//! `cargo bench -p ncsoc-detector --bench sigma -- --warm-up-time 1 --measurement-time 5`

use std::path::Path;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ncsoc_detector::sigma::{RuleSet, Scratch, SigmaEngine};
use ncsoc_model::{Event, Timestamp};
use serde_json::Value;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const N: usize = 20_000;

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.next() as usize % xs.len()]
    }
}

fn set(e: &mut Event, k: &str, v: impl Into<Value>) {
    e.set(k, v.into()).unwrap();
}

fn mix() -> Vec<Event> {
    mix_of(None)
}

/// The mix, or only the events of one kind (0 flows, 1 process, 2 syslog, 3 DNS, 4 HTTP).
fn mix_of(only: Option<u8>) -> Vec<Event> {
    let mut r = Lcg(7);
    let images = [
        "C:\\Windows\\System32\\svchost.exe",
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        "C:\\Windows\\explorer.exe",
        "C:\\Windows\\System32\\cmd.exe",
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
        "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
        "C:\\Windows\\System32\\conhost.exe",
    ];
    let cmds = [
        "C:\\Windows\\system32\\svchost.exe -k netsvcs -p -s Schedule",
        "\"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe\" --type=renderer --lang=en-US",
        "C:\\Windows\\Explorer.EXE",
        "cmd.exe /c dir C:\\Users\\Public",
        "\"WINWORD.EXE\" /n \"C:\\Users\\alice\\Documents\\report.docx\"",
        "powershell.exe -NoProfile -Command Get-Service",
        "\\??\\C:\\Windows\\system32\\conhost.exe 0xffffffff -ForceV1",
    ];
    let msgs = [
        (
            "sshd",
            "Accepted publickey for deploy from 10.0.4.7 port 50522 ssh2",
        ),
        (
            "sshd",
            "Failed password for invalid user test from 203.0.113.8 port 4242 ssh2",
        ),
        ("CRON", "(root) CMD (run-parts /etc/cron.hourly)"),
        ("systemd", "Started Session 42 of user alice."),
        ("kernel", "eth0: link up, 1000Mbps, full-duplex"),
    ];
    let domains = [
        "www.example.com",
        "mail.gov.example",
        "cdn.jsdelivr.net",
        "api.github.com",
        "time.windows.com",
    ];
    let uris = [
        "/index.html",
        "/api/v1/items?id=42",
        "/static/app.js",
        "/login",
        "/images/logo.png",
    ];
    let agents = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36",
        "curl/8.5.0",
        "Microsoft-CryptoAPI/10.0",
    ];
    let mut out = Vec::with_capacity(N);
    let mut i = 0;
    while out.len() < N {
        i += 1;
        {
            let mut e = Event::new(
                format!("ev{i}"),
                Timestamp::from_secs(1_767_225_600 + i as i64),
                "energy",
                "bench",
            );
            let src = format!("10.{}.{}.{}", r.next() % 4, r.next() % 250, r.next() % 250);
            let dst = format!("198.51.100.{}", r.next() % 250);
            let roll = r.next() % 20;
            let kind = match roll {
                0..=6 => 0,
                7..=10 => 1,
                11..=13 => 2,
                14..=16 => 3,
                _ => 4,
            };
            if only.is_some_and(|k| k != kind) {
                continue;
            }
            match roll {
                0..=6 => {
                    set(&mut e, "event.category", "network");
                    set(&mut e, "source.ip", src);
                    set(&mut e, "destination.ip", dst);
                    set(&mut e, "source.port", 40_000 + r.next() % 20_000);
                    set(
                        &mut e,
                        "destination.port",
                        [443u64, 80, 53, 22, 3389][r.next() as usize % 5],
                    );
                    set(&mut e, "network.transport", "tcp");
                    set(&mut e, "network.bytes", r.next() % 100_000);
                    set(&mut e, "flow.version", "ipfix");
                }
                7..=10 => {
                    let k = r.next() as usize % images.len();
                    set(&mut e, "event.category", "process");
                    set(&mut e, "event.type", "start");
                    set(&mut e, "host.name", "WS-0042");
                    set(
                        &mut e,
                        "winlog.channel",
                        "Microsoft-Windows-Sysmon/Operational",
                    );
                    set(&mut e, "winlog.event_id", 1);
                    set(&mut e, "process.executable", images[k]);
                    set(&mut e, "process.command_line", cmds[k]);
                    set(
                        &mut e,
                        "process.parent.executable",
                        "C:\\Windows\\explorer.exe",
                    );
                    set(
                        &mut e,
                        "winlog.event_data.OriginalFileName",
                        images[k].rsplit('\\').next().unwrap(),
                    );
                    set(&mut e, "winlog.event_data.IntegrityLevel", "Medium");
                    set(&mut e, "user.name", "alice");
                }
                11..=13 => {
                    let (app, msg) = msgs[r.next() as usize % msgs.len()];
                    set(&mut e, "log.syslog.priority", 38);
                    set(&mut e, "host.name", "srv-db-01");
                    set(&mut e, "process.name", app);
                    set(&mut e, "message", msg);
                    set(
                        &mut e,
                        "event.original",
                        format!("<38>Jan  1 00:00:00 srv-db-01 {app}[123]: {msg}"),
                    );
                }
                14..=16 => {
                    set(&mut e, "event.dataset", "zeek.dns");
                    set(&mut e, "event.category", "network");
                    set(&mut e, "source.ip", src);
                    set(&mut e, "destination.ip", "10.0.0.53");
                    set(&mut e, "dns.question.name", r.pick(&domains));
                    set(&mut e, "dns.question.type", "A");
                    set(&mut e, "zeek.dns.rejected", false);
                }
                _ => {
                    set(&mut e, "event.dataset", "zeek.http");
                    set(&mut e, "event.category", "network");
                    set(&mut e, "source.ip", src);
                    set(&mut e, "destination.ip", dst);
                    set(&mut e, "url.original", r.pick(&uris));
                    set(&mut e, "url.domain", r.pick(&domains));
                    set(&mut e, "http.request.method", "GET");
                    set(&mut e, "user_agent.original", r.pick(&agents));
                    set(&mut e, "http.response.status_code", 200);
                }
            }
            out.push(e);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let rules = Arc::new(RuleSet::load_dir(&dir));
    assert!(rules.errors().is_empty());
    assert!(rules.rules().len() >= 200);
    let events = mix();
    let mut g = c.benchmark_group("sigma");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(20);
    g.bench_function("match_shipped_rules", |b| {
        let mut sc = Scratch::default();
        let mut hits = Vec::new();
        b.iter(|| {
            let mut n = 0usize;
            for e in &events {
                hits.clear();
                rules.matches(e, &mut sc, &mut hits);
                n += hits.len();
            }
            n
        })
    });
    g.bench_function("engine_observe_with_signals", |b| {
        let mut engine = SigmaEngine::new(rules.clone());
        let mut out = Vec::new();
        b.iter(|| {
            for e in &events {
                engine.observe(e, &mut out);
            }
            let n = out.len();
            out.clear();
            n
        })
    });
    g.finish();
    let mut g = c.benchmark_group("sigma_by_kind");
    g.throughput(Throughput::Elements(N as u64));
    g.sample_size(10);
    for (k, name) in ["flow", "process", "syslog", "dns", "http"]
        .iter()
        .enumerate()
    {
        let events = mix_of(Some(k as u8));
        g.bench_function(*name, |b| {
            let mut sc = Scratch::default();
            let mut hits = Vec::new();
            b.iter(|| {
                for e in &events {
                    hits.clear();
                    rules.matches(e, &mut sc, &mut hits);
                }
                hits.len()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
