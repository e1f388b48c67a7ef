//! `ncsoc intel import`, the `[intel]` settings, and the indicator set the detector of
//! `ncsoc serve` matches against.
//!
//! Reloading: the detector gets the indicator set built from the store at start, and a
//! new one whenever the indicators change. Changes through the API (`POST /indicators`,
//! `POST /intel`, `DELETE /indicators/{id}`) and the TAXII poller bump a version counter
//! that is checked every two seconds; `ncsoc intel import --store` run beside a server is
//! picked up by the periodic full reload (`[intel] reload_secs`). The set is built off the
//! async runtime and handed to the detector thread, which swaps it in between batches.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Subcommand;
use ncsoc_collectors::taxii::{self, TaxiiMetrics};
use ncsoc_intel::{ImportError, Imported, IndicatorSet, Options};
use ncsoc_store::Store;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::Config;

/// `[intel]` in ncsoc.toml.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntelConfig {
    /// Seconds between full reloads of the indicators from the store.
    pub reload_secs: u64,
    /// Most indicators loaded for matching.
    pub max_indicators: usize,
    /// TAXII 2.1 collections polled on a schedule.
    pub taxii: Vec<ncsoc_collectors::taxii::TaxiiConfig>,
}

impl Default for IntelConfig {
    fn default() -> Self {
        Self {
            reload_secs: 300,
            max_indicators: 1_000_000,
            taxii: Vec::new(),
        }
    }
}

impl IntelConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(10..=86_400).contains(&self.reload_secs) {
            return Err("intel.reload_secs: must be between 10 and 86400".into());
        }
        if !(1..=ncsoc_intel::set::MAX_INDICATORS).contains(&self.max_indicators) {
            return Err(format!(
                "intel.max_indicators: must be between 1 and {}",
                ncsoc_intel::set::MAX_INDICATORS
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.taxii.iter().enumerate() {
            t.validate().map_err(|e| format!("intel.taxii[{i}]: {e}"))?;
            if !names.insert(&t.name) {
                return Err(format!("intel.taxii[{i}]: name `{}` is used twice", t.name));
            }
        }
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum IntelCommand {
    /// Import STIX 2.1 bundles or MISP event JSON (detected from content) into the store:
    /// per file, the indicators imported and what was skipped and why. Exits non-zero
    /// when a file is invalid; the other files are still imported.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Store URL overriding the config: sqlite:DIR or clickhouse://HOST:PORT/DB.
        #[arg(long)]
        store: Option<String>,
        /// Source recorded on indicators whose document names no author or organisation
        /// (default: the file name).
        #[arg(long)]
        source: Option<String>,
        /// Configuration file (for the store settings).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// What one file gave, or why it was refused.
pub struct FileResult {
    pub path: PathBuf,
    pub result: Result<(ncsoc_intel::Format, Imported), ImportError>,
}

/// Reads and imports each file (nothing stored).
pub fn read_files(paths: &[PathBuf], source: Option<&str>) -> Vec<FileResult> {
    paths
        .iter()
        .map(|p| {
            let opts = Options {
                default_source: source.map(str::to_string).unwrap_or_else(|| {
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| "import".into())
                }),
                ..Options::default()
            };
            let result = read_bounded(p)
                .map_err(|e| ImportError::NotIntel(format!("cannot read: {e}")))
                .and_then(|bytes| ncsoc_intel::import(&bytes, &opts));
            FileResult {
                path: p.clone(),
                result,
            }
        })
        .collect()
}

fn read_bounded(p: &Path) -> std::io::Result<Vec<u8>> {
    let len = std::fs::metadata(p)?.len();
    if len > ncsoc_intel::MAX_DOCUMENT as u64 {
        return Err(std::io::Error::other(format!(
            "{len} bytes; at most {}",
            ncsoc_intel::MAX_DOCUMENT
        )));
    }
    std::fs::read(p)
}

/// One line per file on stderr-friendly text: imported and skipped counts with reasons.
pub fn report(r: &FileResult, stored: Option<usize>) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    match &r.result {
        Ok((format, imp)) => {
            let _ =
                write!(
                out,
                "{}: {format}, {} indicator objects/attributes read, {} indicators {}, {} skipped",
                r.path.display(),
                imp.objects,
                stored.unwrap_or(imp.indicators.len()),
                if stored.is_some() { "imported" } else { "found" },
                imp.skipped.len()
            );
            for (reason, n) in imp.skip_reasons().iter().take(20) {
                let _ = write!(out, "\n  skipped {n}× {reason}");
            }
        }
        Err(e) => {
            let _ = write!(out, "{}: {e}", r.path.display());
        }
    }
    out
}

pub fn run(cmd: IntelCommand) -> anyhow::Result<()> {
    match cmd {
        IntelCommand::Import {
            files,
            store,
            source,
            config,
        } => {
            let mut cfg = Config::load(config.as_deref(), std::env::vars())?;
            if let Some(url) = store {
                cfg.store.apply_url(&url)?;
                cfg.store.validate()?;
            }
            let results = read_files(&files, source.as_deref());
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let store = rt
                .block_on(ncsoc_store::open(&cfg.store))
                .context("opening the store")?;
            let mut failed = 0;
            for r in &results {
                let stored = match &r.result {
                    Ok((_, imp)) => {
                        let mut n = 0;
                        for chunk in imp.indicators.chunks(ncsoc_api::indicators::MAX_BATCH) {
                            rt.block_on(store.put_indicators(chunk))
                                .with_context(|| format!("storing {}", r.path.display()))?;
                            n += chunk.len();
                        }
                        Some(n)
                    }
                    Err(_) => {
                        failed += 1;
                        None
                    }
                };
                println!("{}", report(r, stored));
            }
            if failed > 0 {
                anyhow::bail!("{failed} of {} files were not imported", results.len());
            }
            Ok(())
        }
    }
}

/// The indicator set from the store (at most `max`).
pub async fn load_set(store: &dyn Store, max: usize) -> anyhow::Result<IndicatorSet> {
    let indicators = store
        .indicators(max)
        .await
        .context("loading the indicators")?;
    let set = tokio::task::spawn_blocking(move || IndicatorSet::build(indicators)).await?;
    for r in set.rejected().iter().take(10) {
        tracing::warn!(indicator = %r.id, reason = %r.reason, "indicator not matched");
    }
    Ok(set)
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct IntelMetrics {
    loaded: AtomicU64,
    index_bytes: AtomicU64,
    reloads: AtomicU64,
    reload_errors: AtomicU64,
    taxii: std::sync::Mutex<Vec<(String, Arc<TaxiiMetrics>)>>,
}

impl IntelMetrics {
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        for (name, kind, help, v) in [
            (
                "ncsoc_intel_indicators",
                "gauge",
                "Indicators loaded for matching.",
                self.loaded.load(Relaxed),
            ),
            (
                "ncsoc_intel_index_bytes",
                "gauge",
                "Heap bytes of the indicator matching structures.",
                self.index_bytes.load(Relaxed),
            ),
            (
                "ncsoc_intel_reloads_total",
                "counter",
                "Indicator set reloads.",
                self.reloads.load(Relaxed),
            ),
            (
                "ncsoc_intel_reload_errors_total",
                "counter",
                "Indicator set reloads that failed.",
                self.reload_errors.load(Relaxed),
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        let taxii = self.taxii.lock().map(|t| t.clone()).unwrap_or_default();
        if taxii.is_empty() {
            return;
        }
        for (name, help, get) in [
            (
                "ncsoc_taxii_polls_total",
                "TAXII polls started.",
                (|m: &TaxiiMetrics| m.polls.load(Relaxed)) as fn(&TaxiiMetrics) -> u64,
            ),
            (
                "ncsoc_taxii_errors_total",
                "TAXII polls or stores that failed.",
                |m| m.errors.load(Relaxed),
            ),
            (
                "ncsoc_taxii_invalid_pages_total",
                "TAXII pages refused by STIX validation.",
                |m| m.invalid_pages.load(Relaxed),
            ),
            (
                "ncsoc_taxii_indicators_total",
                "Indicators stored from TAXII.",
                |m| m.indicators.load(Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (collection, m) in &taxii {
                let _ = writeln!(out, "{name}{{collection=\"{collection}\"}} {}", get(m));
            }
        }
    }
}

/// Keeps the detector's indicator set current (see the module documentation). Returns
/// the receiver the detector reads, already holding the set loaded at start.
pub async fn start_reloader(
    store: Arc<dyn Store>,
    cfg: &IntelConfig,
    version: Arc<AtomicU64>,
    metrics: Arc<IntelMetrics>,
) -> anyhow::Result<(
    watch::Receiver<Option<Arc<IndicatorSet>>>,
    tokio::task::JoinHandle<()>,
)> {
    let max = cfg.max_indicators;
    let publish = |set: IndicatorSet, m: &IntelMetrics| {
        m.loaded.store(set.len() as u64, Relaxed);
        m.index_bytes.store(set.index_bytes() as u64, Relaxed);
        m.reloads.fetch_add(1, Relaxed);
        Some(Arc::new(set))
    };
    // Intake must not wait on intelligence: a store that cannot give the indicators now
    // starts the detector without them, and the next reload tries again.
    let first = match load_set(store.as_ref(), max).await {
        Ok(set) => {
            tracing::info!(
                indicators = set.len(),
                index_bytes = set.index_bytes(),
                "indicators loaded"
            );
            publish(set, &metrics)
        }
        Err(e) => {
            metrics.reload_errors.fetch_add(1, Relaxed);
            tracing::warn!(error = %format!("{e:#}"), "loading the indicators failed; matching none until the next reload");
            None
        }
    };
    let (tx, rx) = watch::channel(first);
    let full_every = Duration::from_secs(cfg.reload_secs);
    let task = tokio::spawn(async move {
        let mut seen = version.load(Relaxed);
        let mut last_full = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tick.tick().await;
            let now = version.load(Relaxed);
            if now == seen && last_full.elapsed() < full_every {
                continue;
            }
            seen = now;
            last_full = Instant::now();
            match load_set(store.as_ref(), max).await {
                Ok(set) => {
                    tracing::debug!(indicators = set.len(), "indicators reloaded");
                    if tx.send(publish(set, &metrics)).is_err() {
                        return; // the detector has stopped
                    }
                }
                Err(e) => {
                    metrics.reload_errors.fetch_add(1, Relaxed);
                    tracing::warn!(error = %format!("{e:#}"), "reloading the indicators failed");
                }
            }
        }
    });
    Ok((rx, task))
}

/// Starts one poller per `[[intel.taxii]]` collection. A collection whose secret is
/// missing stops the start.
pub fn start_taxii(
    cfg: &IntelConfig,
    data_dir: &Path,
    store: Arc<dyn Store>,
    version: Arc<AtomicU64>,
    metrics: &IntelMetrics,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for t in &cfg.taxii {
        let client = taxii::Client::new(t)
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("TAXII collection `{}`", t.name))?;
        let m = Arc::new(TaxiiMetrics::default());
        if let Ok(mut list) = metrics.taxii.lock() {
            list.push((t.name.clone(), m.clone()));
        }
        tracing::info!(collection = %t.name, url = %t.url, interval_secs = t.interval_secs, "TAXII poller");
        tasks.push(tokio::spawn(taxii::run(
            t.clone(),
            client,
            data_dir.to_path_buf(),
            store.clone(),
            version.clone(),
            m,
        )));
    }
    Ok(tasks)
}
