//! `ncsoc simulate`: generates several sectors of NetFlow (and DNS events) with daily and
//! weekly patterns, benign traps and injected attacks with ground truth
//! ([`ncsoc_detector::sim`]), runs the detector over it in event time, and scores the
//! incidents: detection rate per kind and intensity, false alarms per attack-free
//! sector-day, detection delay, campaigns reported as one incident. The table goes to
//! stdout as Markdown; `--json` writes the full score.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ncsoc_detector::correlate::LatestIncidents;
use ncsoc_detector::sim::{score, SimConfig, Simulator};
use ncsoc_detector::{Detector, DetectorConfig};

pub struct Options {
    pub seed: u64,
    pub days: u32,
    pub hosts: Option<u32>,
    pub events: Option<PathBuf>,
    pub truth: Option<PathBuf>,
    pub incidents: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub detector: DetectorConfig,
    /// Print this sector's state after every closed bin (stderr), for tuning.
    pub trace: Option<String>,
}

pub fn run(o: Options) -> anyhow::Result<()> {
    let mut cfg = SimConfig {
        seed: o.seed,
        days: o.days,
        ..SimConfig::default()
    };
    if let Some(h) = o.hosts {
        cfg.hosts_per_sector = h;
    }
    let mut sim = Simulator::new(cfg);
    let truth = sim.truth().clone();
    if let Some(p) = &o.truth {
        std::fs::write(p, serde_json::to_vec_pretty(&truth)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let mut events_out = match &o.events {
        Some(p) => Some(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => None,
    };
    let mut detector = Detector::new(o.detector).map_err(anyhow::Error::msg)?;
    let mut latest = LatestIncidents::default();
    let started = Instant::now();
    let mut in_detector = Duration::ZERO;
    let mut n = 0u64;
    let mut last_trace = i64::MIN;
    while let Some(e) = sim.next_event() {
        n += 1;
        if let Some(w) = events_out.as_mut() {
            w.write_all(e.to_json_string().as_bytes())?;
            w.write_all(b"\n")?;
        }
        let t = Instant::now();
        detector.observe(&e);
        latest.absorb(detector.take_changed());
        in_detector += t.elapsed();
        if let Some(sector) = &o.trace {
            if let Some(s) = detector
                .sector_states()
                .into_iter()
                .find(|s| &s.sector == sector)
            {
                if s.bin_start_ms != last_trace {
                    last_trace = s.bin_start_ms;
                    eprintln!("trace {}", serde_json::to_string(&s)?);
                }
            }
        }
    }
    detector.flush();
    latest.absorb(detector.take_changed());
    if let Some(mut w) = events_out {
        w.flush()?;
    }
    let latest = latest.into_sorted();
    if let Some(p) = &o.incidents {
        let mut w = BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        );
        for inc in &latest {
            writeln!(w, "{}", serde_json::to_string(inc)?)?;
        }
        w.flush()?;
    }
    let s = score(&truth, &latest);
    if let Some(p) = &o.json {
        std::fs::write(p, serde_json::to_vec_pretty(&s)?)
            .with_context(|| format!("writing {}", p.display()))?;
    }
    let secs = started.elapsed().as_secs_f64();
    let det = in_detector.as_secs_f64();
    println!("{}", s.to_markdown());
    eprintln!(
        "{n} events over {} days in {secs:.1} s; detector {det:.1} s ({:.2} M records/s through observe + correlation); {} incidents; {:?}",
        o.days,
        n as f64 / det.max(1e-9) / 1e6,
        latest.len(),
        detector.stats()
    );
    Ok(())
}
