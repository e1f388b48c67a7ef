//! `ncsoc replay SECTOR=PATH...`: the whole pipeline over recorded input, in event time.
//!
//! Each input is read by its own thread into normalised events:
//! - pcap/pcapng files: NetFlow/IPFIX/sFlow exports are decoded, every other packet is
//!   metered into bidirectional flows (as `ncsoc flows --meter` does);
//! - Zeek TSV logs (`#separator` header) through the Zeek reader;
//! - any other file as log lines, format detected per line (syslog, CEF, LEEF, JSON).
//!
//! A reorder buffer per input puts its events in time order (metered flows finish up to
//! an idle timeout after their last packet), and the inputs are merged by event time (ties
//! by input order), so the detector sees one stream in the same order on every run (log
//! files up to 64 MiB are sorted whole first: not every producer writes in event time). The
//! incidents are printed as JSON lines when the input is drained, in order of first
//! signal, with a summary on stderr (and a progress line while running, on a terminal).

use std::collections::{BinaryHeap, VecDeque};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use anyhow::{bail, Context as _};
use ncsoc_detector::correlate::LatestIncidents;
use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_model::{Event, Incident, Timestamp};
use ncsoc_parsers::flow::{to_event, EventContext};
use ncsoc_parsers::json::TsvReader;
use ncsoc_parsers::meter::{self, Meter, MeterConfig};
use ncsoc_parsers::netflow::NetflowDecoder;
use ncsoc_parsers::{packet, parse_line, pcap, Context, Format};

/// Events per message between a reader thread and the merge.
const BATCH: usize = 2048;
/// How far back in event time a record may arrive within one input and still be put in
/// order: the meter's idle timeout plus its sweep interval, and Suricata's flow records
/// (stamped with the flow's start, written at its end), with margin.
const REORDER_MS: i64 = 600_000;

pub struct Input {
    pub sector: String,
    pub path: PathBuf,
}

pub fn parse_inputs(args: &[String]) -> anyhow::Result<Vec<Input>> {
    args.iter()
        .map(|a| {
            let (sector, path) = a
                .split_once('=')
                .filter(|(s, p)| !s.is_empty() && !p.is_empty())
                .with_context(|| format!("`{a}`: inputs are SECTOR=PATH"))?;
            if sector.len() > 64
                || !sector
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                bail!("`{sector}`: a sector name is 1-64 letters, digits, `-` or `_`");
            }
            Ok(Input {
                sector: sector.to_string(),
                path: PathBuf::from(path),
            })
        })
        .collect()
}

/// What one reader thread reports at the end.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct InputSummary {
    pub sector: String,
    pub path: String,
    pub kind: &'static str,
    pub events: u64,
    pub bad_lines: u64,
    pub packets: u64,
    /// Records later than the reorder window: passed on as they came (the detector
    /// counts them late if their time bin has closed), never dropped.
    pub out_of_order: u64,
    pub errors: Vec<String>,
}

enum Msg {
    Events(Vec<Event>),
    Done(InputSummary),
}

/// Puts one input's events in time order within [`REORDER_MS`], and batches them.
struct Orderer {
    heap: BinaryHeap<Pending>,
    seq: u64,
    max_ms: i64,
    released_ms: i64,
    batch: Vec<Event>,
    tx: SyncSender<Msg>,
    /// Records passed on out of order (later than the reorder window).
    dropped: u64,
    events: u64,
}

struct Pending(i64, u64, Event);
impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        // Min-heap on (time, arrival order).
        (o.0, o.1).cmp(&(self.0, self.1))
    }
}

impl Orderer {
    fn new(tx: SyncSender<Msg>) -> Self {
        Self {
            heap: BinaryHeap::new(),
            seq: 0,
            max_ms: i64::MIN,
            released_ms: i64::MIN,
            batch: Vec::with_capacity(BATCH),
            tx,
            dropped: 0,
            events: 0,
        }
    }

    fn push(&mut self, e: Event) -> bool {
        let ms = e.timestamp.millis();
        if ms < self.released_ms {
            // Later than the reorder window allows: passed on now, out of order.
            self.dropped += 1;
            return self.emit(e);
        }
        self.seq += 1;
        self.max_ms = self.max_ms.max(ms);
        self.heap.push(Pending(ms, self.seq, e));
        let horizon = self.max_ms.saturating_sub(REORDER_MS);
        while self.heap.peek().is_some_and(|p| p.0 <= horizon) {
            if !self.release() {
                return false;
            }
        }
        true
    }

    fn release(&mut self) -> bool {
        let Some(Pending(ms, _, e)) = self.heap.pop() else {
            return true;
        };
        self.released_ms = ms;
        self.emit(e)
    }

    /// Adds `e` to the outgoing batch, sending the batch when full; false when the merge
    /// has gone away.
    fn emit(&mut self, e: Event) -> bool {
        self.events += 1;
        self.batch.push(e);
        if self.batch.len() >= BATCH {
            let b = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            return self.tx.send(Msg::Events(b)).is_ok();
        }
        true
    }

    fn finish(mut self, mut summary: InputSummary) {
        while !self.heap.is_empty() {
            if !self.release() {
                return;
            }
        }
        if !self.batch.is_empty() {
            let b = std::mem::take(&mut self.batch);
            if self.tx.send(Msg::Events(b)).is_err() {
                return;
            }
        }
        summary.events = self.events;
        summary.out_of_order = self.dropped;
        let _ = self.tx.send(Msg::Done(summary));
    }
}

fn is_pcap(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        )
    )
}

fn read_input(input: Input, tx: SyncSender<Msg>) {
    let mut summary = InputSummary {
        sector: input.sector.clone(),
        path: input.path.display().to_string(),
        ..Default::default()
    };
    let mut orderer = Orderer::new(tx);
    let result = (|| -> anyhow::Result<()> {
        let file = std::fs::File::open(&input.path)
            .with_context(|| format!("opening {}", input.path.display()))?;
        let data = crate::flows::map_file(&file)
            .with_context(|| format!("reading {}", input.path.display()))?;
        if is_pcap(&data) {
            summary.kind = "pcap";
            read_pcap(&data, &input, &mut orderer, &mut summary)
        } else if data.starts_with(b"#separator") {
            summary.kind = "zeek-tsv";
            read_zeek_tsv(&data, &input, &mut orderer, &mut summary)
        } else {
            summary.kind = "log";
            read_lines(&data, &input, &mut orderer, &mut summary)
        }
    })();
    if let Err(e) = result {
        summary.errors.push(format!("{e:#}"));
    }
    orderer.finish(summary);
}

fn source_of(path: &Path) -> String {
    format!(
        "replay:{}",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    )
}

fn read_pcap(
    data: &[u8],
    input: &Input,
    orderer: &mut Orderer,
    summary: &mut InputSummary,
) -> anyhow::Result<()> {
    let source = source_of(&input.path);
    let reader = pcap::PcapReader::new(data)
        .map_err(|e| anyhow::anyhow!("{}: not a readable capture: {e}", input.path.display()))?;
    let ctx = EventContext {
        source: source.clone(),
        default_sector: input.sector.clone(),
        now: Timestamp::now(),
        ..EventContext::default()
    };
    let mut decoder = NetflowDecoder::default();
    let mut meter = Meter::new(MeterConfig::default());
    let (mut flows, mut counters, mut metered) = (Vec::new(), Vec::new(), Vec::new());
    for pkt in reader {
        let pkt = match pkt {
            Ok(p) => p,
            Err(e) => {
                summary.errors.push(format!(
                    "{}: {e} (kept what was read before)",
                    input.path.display()
                ));
                break;
            }
        };
        summary.packets += 1;
        let Ok(d) = packet::decode(pkt.linktype, pkt.data) else {
            continue;
        };
        let received = pkt.ts.unwrap_or(Timestamp(0));
        let is_export =
            crate::flows::try_export(&mut decoder, &d, received, &mut flows, &mut counters);
        if is_export {
            for f in &flows {
                if !orderer.push(to_event(f, &ctx)) {
                    return Ok(());
                }
            }
        } else {
            meter.push(received, &d, pkt.orig_len, &mut metered);
            for f in metered.drain(..) {
                if !orderer.push(meter::to_event(&f, &input.sector, &source, ctx.now)) {
                    return Ok(());
                }
            }
        }
    }
    meter.flush(&mut metered);
    for f in metered.drain(..) {
        if !orderer.push(meter::to_event(&f, &input.sector, &source, ctx.now)) {
            break;
        }
    }
    Ok(())
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
}

fn context_of(input: &Input) -> Context {
    Context {
        sector: input.sector.clone(),
        source: source_of(&input.path),
        now: Timestamp::now(),
        default_offset_secs: 0,
    }
}

fn read_lines(
    data: &[u8],
    input: &Input,
    orderer: &mut Orderer,
    summary: &mut InputSummary,
) -> anyhow::Result<()> {
    let ctx = context_of(input);
    // Logs are not always written in event time (Suricata writes a flow record, stamped
    // with the flow's start, when the flow ends — for the longest flows, at the end of the
    // capture). A file of up to SORT_LIMIT bytes is sorted whole (stable, so equal times
    // keep their order); a larger one goes through the reorder window.
    let sort = data.len() <= SORT_LIMIT;
    let mut all = Vec::new();
    for line in lines(data) {
        match parse_line(Format::Auto, line, &ctx) {
            Ok(e) if sort => all.push(e),
            Ok(e) => {
                if !orderer.push(e) {
                    return Ok(());
                }
            }
            Err(_) => summary.bad_lines += 1,
        }
    }
    push_sorted(all, orderer);
    Ok(())
}

/// Sorted before replay when at most this large (bytes of input).
const SORT_LIMIT: usize = 64 << 20;

fn push_sorted(mut all: Vec<Event>, orderer: &mut Orderer) {
    all.sort_by_key(|e| e.timestamp);
    for e in all {
        if !orderer.push(e) {
            return;
        }
    }
}

fn read_zeek_tsv(
    data: &[u8],
    input: &Input,
    orderer: &mut Orderer,
    summary: &mut InputSummary,
) -> anyhow::Result<()> {
    let ctx = context_of(input);
    let name = input
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    let mut reader = TsvReader::new(name.as_deref());
    let sort = data.len() <= SORT_LIMIT;
    let mut all = Vec::new();
    for line in lines(data) {
        match reader.push_line(line, &ctx) {
            Ok(Some(e)) if sort => all.push(e),
            Ok(Some(e)) => {
                if !orderer.push(e) {
                    return Ok(());
                }
            }
            Ok(None) => {}
            Err(_) => summary.bad_lines += 1,
        }
    }
    push_sorted(all, orderer);
    Ok(())
}

/// The merge: the next event in time order across inputs.
struct Merge {
    rx: Vec<Receiver<Msg>>,
    queues: Vec<VecDeque<Event>>,
    done: Vec<bool>,
    summaries: Vec<InputSummary>,
}

impl Merge {
    fn fill(&mut self, i: usize) {
        while self.queues[i].is_empty() && !self.done[i] {
            match self.rx[i].recv() {
                Ok(Msg::Events(b)) => self.queues[i].extend(b),
                Ok(Msg::Done(s)) => {
                    self.done[i] = true;
                    self.summaries[i] = s;
                }
                Err(_) => self.done[i] = true,
            }
        }
    }

    fn next(&mut self) -> Option<Event> {
        let mut best: Option<(i64, usize)> = None;
        for i in 0..self.queues.len() {
            self.fill(i);
            if let Some(e) = self.queues[i].front() {
                let t = e.timestamp.nanos();
                if best.is_none_or(|(bt, _)| t < bt) {
                    best = Some((t, i));
                }
            }
        }
        best.and_then(|(_, i)| self.queues[i].pop_front())
    }
}

pub struct Options {
    pub out: Option<PathBuf>,
    pub detector: DetectorConfig,
    pub updates: bool,
    /// Threat indicators every record is matched against.
    pub indicators: Vec<ncsoc_model::Indicator>,
    /// Sigma and threshold rules to evaluate too (`--rules DIR`).
    pub rules: Option<PathBuf>,
}

/// Runs the replay; `sink` receives every event in merge order (for the store).
pub fn run(
    inputs: Vec<Input>,
    opts: &Options,
    mut sink: impl FnMut(&Event),
) -> anyhow::Result<Vec<Incident>> {
    if inputs.is_empty() {
        bail!("nothing to replay: give SECTOR=PATH inputs");
    }
    for i in &inputs {
        if !i.path.is_file() {
            bail!("{}: no such file", i.path.display());
        }
    }
    let mut detector = Detector::new(opts.detector.clone()).map_err(anyhow::Error::msg)?;
    if !opts.indicators.is_empty() {
        let set = ncsoc_intel::IndicatorSet::build(opts.indicators.clone());
        for r in set.rejected().iter().take(10) {
            eprintln!("indicator {} not matched: {}", r.id, r.reason);
        }
        detector.set_indicators(Some(std::sync::Arc::new(set)));
    }
    if let Some(dir) = &opts.rules {
        if !dir.is_dir() {
            bail!("{}: not a rules folder", dir.display());
        }
        let set = ncsoc_detector::sigma::RuleSet::load_dir(dir);
        for e in set.errors() {
            eprintln!("rule not loaded: {e}");
        }
        detector.set_rules(Some(std::sync::Arc::new(set)));
    }
    let total_bytes: u64 = inputs
        .iter()
        .filter_map(|i| std::fs::metadata(&i.path).ok())
        .map(|m| m.len())
        .sum();
    let n = inputs.len();
    let mut merge = Merge {
        rx: Vec::new(),
        queues: vec![VecDeque::new(); n],
        done: vec![false; n],
        summaries: vec![InputSummary::default(); n],
    };
    let mut threads = Vec::new();
    for input in inputs {
        let (tx, rx) = sync_channel(4);
        merge.rx.push(rx);
        threads.push(std::thread::spawn(move || read_input(input, tx)));
    }
    let mut out: Box<dyn Write> = match &opts.out {
        Some(p) => Box::new(BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    };
    let progress = io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_progress = Instant::now();
    let mut records = 0u64;
    let mut last_ts;
    let mut latest = LatestIncidents::default();
    while let Some(e) = merge.next() {
        records += 1;
        last_ts = e.timestamp;
        detector.observe(&e);
        sink(&e);
        let changed = detector.take_changed();
        if !changed.is_empty() {
            if opts.updates {
                for inc in &changed {
                    writeln!(out, "{}", serde_json::to_string(inc)?)?;
                }
            }
            latest.absorb(changed);
        }
        if progress && records.is_multiple_of(4096) && last_progress.elapsed().as_millis() >= 250 {
            last_progress = Instant::now();
            eprint!(
                "\r{} records · event time {} · {} incidents · {:.0} MB of input · {:.1} s   ",
                records,
                last_ts.to_rfc3339(),
                latest.len(),
                total_bytes as f64 / 1e6,
                started.elapsed().as_secs_f64()
            );
        }
    }
    detector.flush();
    latest.absorb(detector.take_changed());
    for t in threads {
        let _ = t.join();
    }
    let latest = latest.into_sorted();
    if !opts.updates {
        for inc in &latest {
            writeln!(out, "{}", serde_json::to_string(inc)?)?;
        }
    }
    out.flush()?;
    if progress {
        eprintln!();
    }
    let summary = serde_json::json!({
        "records": records,
        "incidents": latest.len(),
        "detector": detector.stats(),
        "inputs": merge.summaries,
        "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    eprintln!("{summary}");
    Ok(latest)
}
