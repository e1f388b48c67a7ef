//! The ncsoc detector: streaming network-behaviour analysis per sector, a national view
//! across sectors, and correlation of what they find into national incidents.
//!
//! Everything runs in event time: a [`Detector`] fed the same records in the same order
//! gives the same incidents on any machine at any speed. Records go in through
//! [`Detector::observe`]; opened and updated incidents come out of
//! [`Detector::take_changed`].
//!
//! - [`sector`]: per-sector fast (60 s) and slow (10 min) bins with per-entity tallies,
//!   the seasonal volume baseline, the beacon and "first seen" tables, and the detectors
//!   (port scans, SYN floods and volumetric DDoS, brute force, exfiltration, beaconing,
//!   DNS tunnelling, volume anomalies).
//! - [`national`]: one table of external sources across all sectors (low-and-slow).
//! - [`correlate`]: signals that repeat or share an entity become one incident.
//! - [`sketch`], [`stats`]: the bounded-memory structures and statistics underneath.
//!
//! Sharding: every per-entity table is keyed by an address hash ([`shard_of`]), so the
//! analysis can be split by source address over several nodes (each running a
//! [`Detector`] over its share); sector-level volume baselines then need the partial
//! counts summed, which a single node does directly.

pub mod bins;
pub mod config;
pub mod correlate;
pub mod ioc;
pub mod national;
pub mod obs;
pub mod sector;
pub mod sigma;
pub mod signal;
pub mod sim;
pub mod sketch;
pub mod stats;
pub mod table;

use ncsoc_model::{Event, Incident};
use serde::{Deserialize, Serialize};

pub use config::DetectorConfig;
pub use obs::Obs;
pub use sector::SectorSnapshot;
pub use signal::Signal;

use crate::config::Compiled;
use crate::correlate::Correlator;
use crate::national::{National, ProbeKind};
use crate::sector::{Ctx, SectorState};
use crate::table::FastMap;

/// Counters for `/metrics` and the replay summary.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DetectorStats {
    /// Records offered to the detector.
    pub records: u64,
    /// Records with no source address, which no detector can use.
    pub skipped: u64,
    /// Records that arrived after their bin had closed.
    pub late: u64,
    pub signals: u64,
    pub incidents_opened: u64,
    pub signals_folded: u64,
}

/// Which shard an observation belongs to when the analysis is split over nodes: its
/// source address (the entity most detectors key on).
pub fn shard_of(o: &Obs<'_>, shards: u32) -> u32 {
    (obs::hash_addr(o.src) % u64::from(shards.max(1))) as u32
}

#[derive(Serialize, Deserialize)]
pub struct Detector {
    config: DetectorConfig,
    #[serde(skip)]
    compiled: Compiled,
    sectors: Vec<SectorState>,
    #[serde(skip)]
    sector_index: FastMap<String, usize>,
    sector_names: Vec<String>,
    national: National,
    correlator: Correlator,
    stats: DetectorStats,
    /// The latest event time seen in any sector, and the last fast-bin boundary at which
    /// quiet sectors were moved on.
    #[serde(default)]
    global_max_ms: i64,
    #[serde(default)]
    idle_checked_bin: i64,
    #[serde(skip)]
    signals: Vec<Signal>,
    /// Threat indicators; given by the caller, not checkpointed.
    #[serde(skip)]
    ioc: ioc::IocMatcher,
    /// Sigma and threshold rules, when loaded ([`Detector::set_rules`]); checkpointed as
    /// their open correlation windows.
    #[serde(default, rename = "sigma_windows")]
    sigma: sigma::EngineSlot,
}

/// A sector whose feed has gone quiet (no record between two checks, one per fast bin of
/// the others' event time) and is this far behind the others has its bins closed anyway,
/// so its last findings are not held back until it speaks again.
const IDLE_SECTOR_MS: i64 = 10 * 60_000;

/// Sectors the national bitmask and the sector table can hold.
pub const MAX_SECTORS: usize = 4096;

impl Detector {
    pub fn new(config: DetectorConfig) -> Result<Self, String> {
        let compiled = config.validate()?;
        Ok(Self {
            national: National::new(config.max_national_sources),
            correlator: Correlator::new(config.correlation_window_secs, config.max_open_incidents),
            config,
            compiled,
            sectors: Vec::new(),
            sector_index: FastMap::default(),
            sector_names: Vec::new(),
            stats: DetectorStats::default(),
            global_max_ms: i64::MIN,
            idle_checked_bin: i64::MIN,
            signals: Vec::new(),
            ioc: ioc::IocMatcher::default(),
            sigma: sigma::EngineSlot::default(),
        })
    }

    /// The threat indicators every record is matched against from now on (`None`: none).
    pub fn set_indicators(&mut self, set: Option<std::sync::Arc<ncsoc_intel::IndicatorSet>>) {
        self.ioc.set(set);
    }

    /// Indicators loaded, and hits so far.
    pub fn indicator_stats(&self) -> (usize, u64) {
        (self.ioc.indicators(), self.ioc.hits)
    }

    pub fn config(&self) -> &DetectorConfig {
        &self.config
    }

    fn sector_idx(&mut self, name: &str) -> Option<usize> {
        if let Some(&i) = self.sector_index.get(name) {
            return Some(i);
        }
        if self.sectors.len() >= MAX_SECTORS {
            return None;
        }
        let i = self.sectors.len();
        self.sectors.push(SectorState::new(name, &self.config));
        self.sector_names.push(name.to_string());
        self.sector_index.insert(name.to_string(), i);
        Some(i)
    }

    /// Evaluates `rules` on every record from now on. Replacing rules keeps the open
    /// correlation windows of the rules whose definition did not change (the first rules
    /// after [`Detector::restore`] take up the checkpoint's); `None` turns rule
    /// evaluation off and drops them.
    pub fn set_rules(&mut self, rules: Option<std::sync::Arc<sigma::RuleSet>>) {
        self.sigma.set(rules);
    }

    /// The rule engine, when rules are loaded.
    pub fn rules(&self) -> Option<&sigma::SigmaEngine> {
        self.sigma.engine()
    }

    /// Counts one event or flow record.
    pub fn observe(&mut self, e: &Event) {
        self.ioc.observe(e, &mut self.signals);
        if let Some(engine) = self.sigma.engine_mut() {
            engine.observe(e, &mut self.signals);
        }
        self.observe_behaviour(e);
        if !self.signals.is_empty() {
            self.correlate();
        }
    }

    fn observe_behaviour(&mut self, e: &Event) {
        match Obs::from_event(e) {
            Some(mut o) => {
                // A metered DNS conversation carries a sample of the names it asked; each
                // stands for its share of the questions (the client's packets).
                let names = e.extra.get("dns.question.names").and_then(|v| v.as_array());
                let weight = match (
                    names,
                    e.extra.get("source.packets").and_then(|v| v.as_u64()),
                ) {
                    (Some(n), Some(p)) if !n.is_empty() => {
                        (p / n.len() as u64).clamp(1, 1 << 16) as u32
                    }
                    _ => 1,
                };
                o.dns_weight = weight;
                self.observe_obs(&e.sector, &o);
                if let Some(names) = names {
                    for name in names.iter().skip(1).take(1024).filter_map(|v| v.as_str()) {
                        let q = Obs {
                            dns_name: Some(name),
                            is_flow: false,
                            auth_failure: false,
                            ..o
                        };
                        self.observe_obs(&e.sector, &q);
                        self.stats.records -= 1;
                    }
                }
            }
            None => {
                self.stats.records += 1;
                self.stats.skipped += 1;
            }
        }
    }

    pub fn observe_obs(&mut self, sector: &str, o: &Obs<'_>) {
        self.stats.records += 1;
        let Some(i) = self.sector_idx(sector) else {
            self.stats.skipped += 1;
            return;
        };
        let ctx = Ctx {
            cfg: &self.config,
            compiled: &self.compiled,
        };
        let late_before = self.sectors[i].late;
        self.sectors[i].observe(&ctx, o, &mut self.signals);
        self.stats.late += self.sectors[i].late - late_before;
        // Quiet sectors move on with the others' event time (checked once per fast bin).
        if o.ts_ms > self.global_max_ms {
            self.global_max_ms = o.ts_ms;
            let bin = o.ts_ms.div_euclid(i64::from(self.config.bin_secs) * 1000);
            if bin != self.idle_checked_bin {
                self.idle_checked_bin = bin;
                let horizon = o.ts_ms - IDLE_SECTOR_MS;
                for s in &mut self.sectors {
                    // Quiet: nothing new since the last check. A feed that is merely
                    // delayed keeps moving and keeps its own watermark.
                    if s.max_ms == s.max_at_idle_check && s.max_ms < horizon {
                        s.close_until(&ctx, horizon, &mut self.signals);
                    }
                    s.max_at_idle_check = s.max_ms;
                }
            }
        }
        // The national view: external sources probing or guessing into sectors.
        if o.dst != 0 && !ctx.is_internal(o.src) && ctx.is_internal(o.dst) {
            let kind = if o.is_flow && o.is_failed_tcp() {
                Some(ProbeKind::Scan)
            } else if o.auth_failure
                || (o.is_flow
                    && o.is_short_session()
                    && self.config.brute_force.ports.contains(&o.dport))
            {
                Some(ProbeKind::Login)
            } else {
                None
            };
            if let Some(kind) = kind {
                self.national.observe(
                    &self.config.national,
                    kind,
                    i,
                    &self.sector_names,
                    o,
                    &mut self.signals,
                );
            }
        }
        if !self.signals.is_empty() {
            self.correlate();
        }
    }

    fn correlate(&mut self) {
        for s in self.signals.drain(..) {
            self.stats.signals += 1;
            self.correlator.add(s);
        }
        self.stats.incidents_opened = self.correlator.opened();
        self.stats.signals_folded = self.correlator.folded();
    }

    /// End of input: closes every open bin, as if the watermark had passed them all.
    pub fn flush(&mut self) {
        let ctx = Ctx {
            cfg: &self.config,
            compiled: &self.compiled,
        };
        for s in &mut self.sectors {
            s.close_until(&ctx, i64::MAX, &mut self.signals);
        }
        self.correlate();
    }

    /// Incidents opened or changed since the last call.
    pub fn take_changed(&mut self) -> Vec<Incident> {
        self.correlator.take_changed()
    }

    /// Incidents still open for correlation.
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.correlator.open_incidents()
    }

    pub fn stats(&self) -> &DetectorStats {
        &self.stats
    }

    /// Every sector's state, read-only (the API's sector view is built from it).
    pub fn sectors(&self) -> &[SectorState] {
        &self.sectors
    }

    /// Each sector's last closed bin against its baseline.
    pub fn sector_states(&self) -> Vec<SectorSnapshot> {
        self.sectors.iter().map(|s| s.snapshot.clone()).collect()
    }

    /// The learned state (baselines, tables, open incidents, open bins, open Sigma
    /// correlation windows) as JSON, so a restart neither forgets what was learned nor
    /// re-opens incidents.
    pub fn checkpoint(&self) -> Result<Vec<u8>, String> {
        serde_json::to_vec(self).map_err(|e| format!("detector checkpoint: {e}"))
    }

    /// Restores a checkpoint. The configuration comes from `config`, not the checkpoint,
    /// so thresholds can change across a restart; table capacities keep their old values
    /// until the tables are next rebuilt.
    pub fn restore(config: DetectorConfig, bytes: &[u8]) -> Result<Self, String> {
        let compiled = config.validate()?;
        let mut d: Detector = serde_json::from_slice(bytes)
            .map_err(|e| format!("detector checkpoint is unreadable: {e}"))?;
        d.config = config;
        d.compiled = compiled;
        d.sector_index = d
            .sector_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i))
            .collect();
        Ok(d)
    }
}
