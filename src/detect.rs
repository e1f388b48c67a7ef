//! The detector inside `ncsoc serve`: events and flows reach it from the store writer once
//! they are durable; incidents it opens or updates go through the incident hub
//! ([`IncidentHub::upsert_detected`]), which reconciles them with analysts' work, stores
//! them, logs the change and announces it to the live stream and webhooks. Its learned
//! state is checkpointed to `<data_dir>/detector.ckpt` every few minutes and at shutdown,
//! and restored at start, so a restart neither forgets the baselines nor re-opens
//! incidents.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ncsoc_api::IncidentHub;
use ncsoc_detector::sigma::set::fingerprint;
use ncsoc_detector::sigma::RuleSet;
use ncsoc_detector::{Detector, DetectorConfig, DetectorStats};
use ncsoc_model::{Event, Incident, Timestamp};
use tokio::sync::mpsc;

use crate::sector_view::{SectorBoard, PUBLISH_EVERY};

const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

/// Where the detector's rules come from (`[rules]`).
pub struct RulesSetup {
    pub dir: Option<PathBuf>,
    pub reload_secs: u64,
}

/// The rules now loaded, for `GET /api/v1/rules`.
#[derive(Default)]
pub struct RulesBoard {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) current: std::sync::RwLock<Option<Arc<RuleSet>>>,
}

impl RulesBoard {
    pub(crate) fn publish(&self, set: &Arc<RuleSet>) {
        if let Ok(mut c) = self.current.write() {
            *c = Some(set.clone());
        }
    }
}

impl ncsoc_api::indicators::RuleView for RulesBoard {
    fn rules(&self) -> ncsoc_api::indicators::RuleList {
        use ncsoc_api::indicators::{RuleInfo, RuleList, RuleProblem};
        let set = self.current.read().ok().and_then(|c| c.clone());
        let mut list = RuleList {
            dir: self.dir.as_ref().map(|d| d.display().to_string()),
            ..RuleList::default()
        };
        let Some(set) = set else { return list };
        let info = |m: &ncsoc_detector::sigma::Meta, kind: &str, active: bool| RuleInfo {
            id: if m.id.is_empty() {
                m.title.clone()
            } else {
                m.id.clone()
            },
            title: m.title.clone(),
            kind: kind.into(),
            level: format!("{:?}", m.level).to_lowercase(),
            status: m.status.clone(),
            logsource: m.logsource.to_string(),
            tags: m.tags.clone(),
            attack: m.attack_ids().collect(),
            active,
            file: m.file.clone(),
            line: m.line,
        };
        for r in set
            .rules()
            .iter()
            .filter(|r| !r.meta.id.starts_with("threshold:"))
        {
            list.items.push(info(&r.meta, "sigma", r.is_active()));
        }
        for c in set.correlations() {
            let kind = if c.is_threshold() {
                "threshold"
            } else {
                "correlation"
            };
            list.items.push(info(&c.meta, kind, true));
        }
        list.invalid = set
            .errors()
            .iter()
            .map(|e| RuleProblem {
                file: e.file.clone(),
                line: e.line,
                reason: e.reason.clone(),
            })
            .collect();
        list
    }
}

/// Loads a rules folder, logging what did not load.
pub(crate) fn load_rules(dir: &Path) -> Arc<RuleSet> {
    let set = RuleSet::load_dir(dir);
    for e in set.errors() {
        tracing::warn!(rule = %e, "rule not loaded");
    }
    let s = set.summary();
    tracing::info!(
        dir = %dir.display(),
        rules = s.rules,
        active = s.active,
        dormant = s.dormant,
        correlations = s.correlations,
        invalid = s.invalid,
        "rules loaded"
    );
    Arc::new(set)
}

/// Polls `dir` every `every` and sends a reloaded rule set when a file changed, appeared
/// or went away. Stops when the receiver is gone.
pub(crate) fn watch_rules(
    dir: PathBuf,
    every: Duration,
    tx: std::sync::mpsc::SyncSender<Arc<RuleSet>>,
    board: Arc<RulesBoard>,
) {
    let spawned = std::thread::Builder::new()
        .name("rules-reload".into())
        .spawn(move || {
            let mut seen = fingerprint(&dir);
            loop {
                std::thread::sleep(every);
                let now = fingerprint(&dir);
                if now != seen {
                    seen = now;
                    let set = load_rules(&dir);
                    board.publish(&set);
                    if tx.send(set).is_err() {
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "rule reloading not started");
    }
}

pub struct DetectorTask {
    thread: std::thread::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
    pub metrics: Arc<DetectorMetrics>,
    /// The sector state the API shows, published by the detector thread.
    pub sectors: Arc<SectorBoard>,
    /// The rules the API lists.
    pub rules: Arc<RulesBoard>,
}

pub struct DetectorMetrics {
    pub(crate) stats: Mutex<DetectorStats>,
    /// Wall time from a record's ingest (`event.created`) to the incident change it
    /// caused being recorded (stored, logged, announced), microseconds.
    incident_latency_us: Mutex<hdrhistogram::Histogram<u64>>,
    pub(crate) open_incidents: std::sync::atomic::AtomicU64,
    incident_writes: std::sync::atomic::AtomicU64,
    incident_write_errors: std::sync::atomic::AtomicU64,
    pub(crate) checkpoints: std::sync::atomic::AtomicU64,
    pub(crate) checkpoint_errors: std::sync::atomic::AtomicU64,
    pub(crate) ioc_hits: std::sync::atomic::AtomicU64,
}

impl Default for DetectorMetrics {
    fn default() -> Self {
        Self {
            stats: Mutex::default(),
            incident_latency_us: Mutex::new(
                hdrhistogram::Histogram::new_with_bounds(1, 3_600_000_000, 3)
                    .expect("static histogram bounds"),
            ),
            open_incidents: Default::default(),
            incident_writes: Default::default(),
            incident_write_errors: Default::default(),
            checkpoints: Default::default(),
            checkpoint_errors: Default::default(),
            ioc_hits: Default::default(),
        }
    }
}

impl DetectorMetrics {
    fn record_latency(&self, created: Option<Timestamp>) {
        let Some(created) = created else { return };
        let us = (Timestamp::now().nanos() - created.nanos()).max(0) / 1000;
        if let Ok(mut h) = self.incident_latency_us.lock() {
            let _ = h.record(us.clamp(1, 3_600_000_000) as u64);
        }
    }

    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        use std::sync::atomic::Ordering::Relaxed;
        let s = self.stats.lock().map(|s| s.clone()).unwrap_or_default();
        for (name, help, v) in [
            (
                "ncsoc_detector_records_total",
                "Records the detector has seen.",
                s.records,
            ),
            (
                "ncsoc_detector_skipped_total",
                "Records without a source address (nothing to analyse).",
                s.skipped,
            ),
            (
                "ncsoc_detector_late_total",
                "Records that arrived after their time bin had closed (event time).",
                s.late,
            ),
            (
                "ncsoc_detector_signals_total",
                "Detector findings.",
                s.signals,
            ),
            (
                "ncsoc_detector_incidents_opened_total",
                "Incidents opened.",
                s.incidents_opened,
            ),
            (
                "ncsoc_detector_signals_folded_total",
                "Findings that updated an open incident.",
                s.signals_folded,
            ),
            (
                "ncsoc_detector_incident_writes_total",
                "Incident changes recorded (stored, logged and announced).",
                self.incident_writes.load(Relaxed),
            ),
            (
                "ncsoc_detector_incident_write_errors_total",
                "Incident changes that could not be recorded.",
                self.incident_write_errors.load(Relaxed),
            ),
            (
                "ncsoc_detector_checkpoints_total",
                "Detector checkpoints written.",
                self.checkpoints.load(Relaxed),
            ),
            (
                "ncsoc_detector_checkpoint_errors_total",
                "Detector checkpoints that failed.",
                self.checkpoint_errors.load(Relaxed),
            ),
            (
                "ncsoc_detector_ioc_hits_total",
                "Indicator matches in events and flows (reported at most once a minute per indicator and sector).",
                self.ioc_hits.load(Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        if let Ok(h) = self.incident_latency_us.lock() {
            let name = "ncsoc_detector_incident_latency_seconds";
            let _ = writeln!(out, "# HELP {name} Wall time from ingesting the record that changed an incident to the change being recorded (stored, logged and announced).\n# TYPE {name} summary");
            for q in [0.5, 0.9, 0.99, 0.999] {
                let _ = writeln!(
                    out,
                    "{name}{{quantile=\"{q}\"}} {}",
                    h.value_at_quantile(q) as f64 / 1e6
                );
            }
            let _ = writeln!(out, "{name}_count {}", h.len());
        }
        let _ = writeln!(
            out,
            "# HELP ncsoc_detector_open_incidents Incidents open for correlation.\n# TYPE ncsoc_detector_open_incidents gauge\nncsoc_detector_open_incidents {}",
            self.open_incidents.load(Relaxed)
        );
    }
}

fn checkpoint_path(data_dir: &Path) -> PathBuf {
    data_dir.join("detector.ckpt")
}

fn save(detector: &Detector, path: &Path) -> anyhow::Result<()> {
    let bytes = detector.checkpoint().map_err(anyhow::Error::msg)?;
    let tmp = path.with_extension("ckpt.tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Incident versions the recorder takes at once; each id is recorded once per round, in
/// its latest version.
const RECORD_ROUND: usize = 64;

/// Starts the detector over `input`; its incidents go through `hub`.
pub fn start(
    config: DetectorConfig,
    data_dir: &Path,
    hub: Arc<IncidentHub>,
    mut input: mpsc::Receiver<Vec<Event>>,
    mut intel: tokio::sync::watch::Receiver<Option<Arc<ncsoc_intel::IndicatorSet>>>,
    rules: RulesSetup,
) -> anyhow::Result<DetectorTask> {
    let path = checkpoint_path(data_dir);
    let sectors = Arc::new(SectorBoard::new(&config));
    let mut detector = match std::fs::read(&path) {
        Ok(bytes) => match Detector::restore(config.clone(), &bytes) {
            Ok(d) => {
                tracing::info!(path = %path.display(), "detector state restored");
                d
            }
            Err(e) => {
                // A damaged checkpoint must not stop intake: start learning afresh and
                // keep the old file for inspection.
                let kept = path.with_extension("ckpt.unreadable");
                let _ = std::fs::rename(&path, &kept);
                tracing::warn!(error = %e, kept = %kept.display(), "detector checkpoint unreadable; starting afresh");
                Detector::new(config).map_err(anyhow::Error::msg)?
            }
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Detector::new(config).map_err(anyhow::Error::msg)?
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // Rules: loaded now, then reloaded by a watcher and swapped in between batches.
    let (reload_tx, reload_rx) = std::sync::mpsc::sync_channel::<Arc<RuleSet>>(1);
    let rules_board = Arc::new(RulesBoard {
        dir: rules.dir.clone(),
        ..RulesBoard::default()
    });
    if let Some(dir) = &rules.dir {
        let set = load_rules(dir);
        rules_board.publish(&set);
        detector.set_rules(Some(set));
        if rules.reload_secs > 0 {
            watch_rules(
                dir.clone(),
                Duration::from_secs(rules.reload_secs),
                reload_tx,
                rules_board.clone(),
            );
        }
    }
    sectors.publish(&detector);
    let metrics = Arc::new(DetectorMetrics::default());

    let (incidents_tx, writer) = spawn_recorder(hub, metrics.clone());

    let m = metrics.clone();
    let board = sectors.clone();
    let thread = std::thread::Builder::new()
        .name("detector".into())
        .spawn(move || {
            use std::sync::atomic::Ordering::Relaxed;
            let mut last_checkpoint = Instant::now();
            let (mut last_publish, mut published_sectors) = (Instant::now(), 0);
            detector.set_indicators(intel.borrow_and_update().clone());
            'input: while let Some(batch) = input.blocking_recv() {
                // A new indicator set (see crate::intel) is swapped in between batches.
                if intel.has_changed().unwrap_or(false) {
                    detector.set_indicators(intel.borrow_and_update().clone());
                }
                if let Ok(set) = reload_rx.try_recv() {
                    detector.set_rules(Some(set));
                }
                for e in &batch {
                    detector.observe(e);
                    let changed = detector.take_changed();
                    if !changed.is_empty()
                        && incidents_tx
                            .blocking_send((changed, e.fields.created))
                            .is_err()
                    {
                        break 'input;
                    }
                }
                if let Ok(mut s) = m.stats.lock() {
                    *s = detector.stats().clone();
                }
                m.open_incidents
                    .store(detector.open_incidents().count() as u64, Relaxed);
                m.ioc_hits.store(detector.indicator_stats().1, Relaxed);
                // Published every few seconds while records queue up, at once when a sector
                // appears, and whenever the detector has caught up with its input, so the
                // board shows the last record of a feed that has gone quiet.
                if last_publish.elapsed() >= PUBLISH_EVERY
                    || detector.sectors().len() != published_sectors
                    || input.is_empty()
                {
                    board.publish(&detector);
                    (last_publish, published_sectors) = (Instant::now(), detector.sectors().len());
                }
                if last_checkpoint.elapsed() >= CHECKPOINT_EVERY {
                    last_checkpoint = Instant::now();
                    checkpoint(&detector, &path, &m);
                }
            }
            // Input closed (shutdown): keep what was learned. Open bins are kept as they
            // are, not flushed: they go on filling after the restart.
            checkpoint(&detector, &path, &m);
        })?;
    Ok(DetectorTask {
        thread,
        writer,
        metrics,
        sectors,
        rules: rules_board,
    })
}

/// The incident changes of one record, and that record's ingest time.
pub(crate) type IncidentBatch = (Vec<Incident>, Option<Timestamp>);

/// Records the detector's incident changes through `hub` (stored, logged, announced), in
/// rounds: an incident changed several times while a round queued is recorded once.
pub(crate) fn spawn_recorder(
    hub: Arc<IncidentHub>,
    m: Arc<DetectorMetrics>,
) -> (mpsc::Sender<IncidentBatch>, tokio::task::JoinHandle<()>) {
    let (incidents_tx, mut incidents_rx) = mpsc::channel::<IncidentBatch>(256);
    let writer = tokio::spawn(async move {
        use std::sync::atomic::Ordering::Relaxed;
        while let Some(first) = incidents_rx.recv().await {
            // What queued up meanwhile is taken too, and an incident changed several
            // times is recorded once, as it now is; its latency counts from the earliest
            // record that changed it.
            let mut round: Vec<(Incident, Option<Timestamp>)> = Vec::new();
            let mut take = |(batch, created): (Vec<Incident>, Option<Timestamp>)| {
                for inc in batch {
                    match round.iter_mut().find(|(i, _)| i.id == inc.id) {
                        Some(slot) => slot.0 = inc,
                        None => round.push((inc, created)),
                    }
                }
            };
            take(first);
            for _ in 1..RECORD_ROUND {
                match incidents_rx.try_recv() {
                    Ok(more) => take(more),
                    Err(_) => break,
                }
            }
            for (inc, created) in round {
                let id = inc.id.clone();
                match hub.upsert_detected(inc).await {
                    Ok(Some(_)) => {
                        m.incident_writes.fetch_add(1, Relaxed);
                        m.record_latency(created);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(incident = %id, error = %e, "incident change not recorded");
                        m.incident_write_errors.fetch_add(1, Relaxed);
                    }
                }
            }
        }
    });
    (incidents_tx, writer)
}

fn checkpoint(detector: &Detector, path: &Path, m: &DetectorMetrics) {
    use std::sync::atomic::Ordering::Relaxed;
    match save(detector, path) {
        Ok(()) => {
            m.checkpoints.fetch_add(1, Relaxed);
        }
        Err(e) => {
            m.checkpoint_errors.fetch_add(1, Relaxed);
            tracing::warn!(error = %format!("{e:#}"), "detector checkpoint failed");
        }
    }
}

impl DetectorTask {
    /// Waits for the detector to finish its input (the writer has stopped), checkpoint,
    /// and write its last incidents.
    pub async fn stop(self) {
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        let _ = self.writer.await;
    }
}
