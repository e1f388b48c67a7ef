//! Runs the traffic simulator and, optionally, scores incidents against its ground truth.
//!
//! ```text
//! cargo run --release -p ncsoc-detector --example simulate -- \
//!     [--seed N] [--days N] [--hosts N] [--rate FLOWS_PER_HOST_HOUR] [--no-attacks] [--no-dns] \
//!     [--events FILE.ndjson] [--truth FILE.json]
//! cargo run --release -p ncsoc-detector --example simulate -- \
//!     --score INCIDENTS.jsonl --truth FILE.json
//! ```
//!
//! Without `--events` the events are generated and counted only (generation speed); the
//! per-day counts and the throughput go to stderr.

use std::io::{BufRead, BufWriter, Write};
use std::time::Instant;

use ncsoc_detector::sim::{score, GroundTruth, SimConfig, Simulator};
use ncsoc_model::Incident;

fn main() -> std::io::Result<()> {
    let mut cfg = SimConfig::default();
    let mut events_out: Option<String> = None;
    let mut truth_path: Option<String> = None;
    let mut score_path: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--seed" => cfg.seed = val().parse().unwrap_or(cfg.seed),
            "--days" => cfg.days = val().parse().unwrap_or(cfg.days),
            "--hosts" => cfg.hosts_per_sector = val().parse().unwrap_or(cfg.hosts_per_sector),
            "--rate" => {
                cfg.flows_per_host_per_hour = val().parse().unwrap_or(cfg.flows_per_host_per_hour)
            }
            "--no-attacks" => cfg.attacks = false,
            "--no-dns" => cfg.dns_events = false,
            "--events" => events_out = Some(val()),
            "--truth" => truth_path = Some(val()),
            "--score" => score_path = Some(val()),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }

    if let Some(path) = score_path {
        let truth_path = truth_path.unwrap_or_else(|| {
            eprintln!("--score needs --truth");
            std::process::exit(2)
        });
        let truth: GroundTruth = serde_json::from_slice(&std::fs::read(truth_path)?)?;
        let mut incidents = Vec::new();
        for line in std::io::BufReader::new(std::fs::File::open(path)?).lines() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Incident>(&line) {
                Ok(i) => incidents.push(i),
                Err(e) => eprintln!("skipping a line that is not an incident: {e}"),
            }
        }
        let s = score(&truth, &incidents);
        println!("{}", s.to_markdown());
        eprintln!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(());
    }

    let mut sim = Simulator::new(cfg.clone());
    if let Some(p) = &truth_path {
        std::fs::write(p, serde_json::to_vec_pretty(sim.truth())?)?;
    }
    eprintln!(
        "{} attacks ({} campaigns), {} benign bursts",
        sim.truth().attacks.len(),
        sim.truth().attacks.iter().filter(|a| a.campaign).count(),
        sim.truth().benign.len()
    );
    let mut out: Option<Box<dyn Write>> = match events_out.as_deref() {
        None => None,
        Some("-") => Some(Box::new(BufWriter::new(std::io::stdout().lock()))),
        Some(p) => Some(Box::new(BufWriter::new(std::fs::File::create(p)?))),
    };
    let day_ns = 86_400 * 1_000_000_000i64;
    let mut per_day = vec![(0u64, 0u64); cfg.days as usize];
    let started = Instant::now();
    let mut day_started = Instant::now();
    let mut last_day = 0usize;
    for e in sim.by_ref() {
        let day = ((e.timestamp.0 - cfg.start.0) / day_ns) as usize;
        if day != last_day {
            eprintln!(
                "day {last_day}: {} flows, {} dns, {:.2} s",
                per_day[last_day].0,
                per_day[last_day].1,
                day_started.elapsed().as_secs_f64()
            );
            day_started = Instant::now();
            last_day = day;
        }
        if e.flow.is_some() {
            per_day[day].0 += 1;
        } else {
            per_day[day].1 += 1;
        }
        if let Some(w) = out.as_mut() {
            serde_json::to_writer(&mut *w, &e)?;
            w.write_all(b"\n")?;
        }
    }
    eprintln!(
        "day {last_day}: {} flows, {} dns, {:.2} s",
        per_day[last_day].0,
        per_day[last_day].1,
        day_started.elapsed().as_secs_f64()
    );
    if let Some(mut w) = out {
        w.flush()?;
    }
    let total = sim.emitted();
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{total} events in {secs:.2} s ({:.0} events/s, {:.2} s per simulated day)",
        total as f64 / secs,
        secs / f64::from(cfg.days.max(1))
    );
    Ok(())
}
