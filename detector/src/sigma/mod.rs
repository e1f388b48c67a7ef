//! Sigma rules: loading, compiling, matching events, correlation, and the signals hits
//! become.
//!
//! - [`yaml`]: rule files into a tree that keeps line numbers (for error messages).
//! - [`rule`]: a rule's metadata and detection; value modifiers in [`pattern`];
//!   conditions in [`condition`].
//! - [`mapping`]: log source → event selection and field names, kept as data in
//!   `rules/sigma/mapping.yml`.
//! - [`set`]: a loaded folder ([`RuleSet`]): rules compiled once and grouped by log source;
//!   per event only the groups whose `when` accepts it are evaluated.
//! - [`fields`]: the per-event field cache that lets rules share reads without allocating.
//! - [`correlation`]: Sigma correlation rules and ncsoc's threshold rules, in event time.
//!
//! [`SigmaEngine`] ties them together for the detector: each hit becomes a [`Signal`]
//! of kind `sigma` (or `threshold`), linked on the addresses, host and user it names so
//! that hits in several sectors join one national incident.

pub mod condition;
pub mod correlation;
pub mod fields;
pub mod mapping;
pub mod pattern;
pub mod rule;
pub mod set;
pub mod yaml;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ncsoc_model::{Entity, Event, Evidence, IncidentKind, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use fields::Scratch;
pub use mapping::Mapping;
pub use rule::{Level, LogSource, Meta};
pub use set::{RuleError, RuleSet, Summary};

use crate::signal::Signal;
pub use correlation::Windows;
use correlation::{CorrType, CorrelationState, Fired};

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct SigmaStats {
    pub events: u64,
    pub hits: u64,
    pub correlations_fired: u64,
}

/// Evaluates a [`RuleSet`] on events and turns hits into signals.
pub struct SigmaEngine {
    set: Arc<RuleSet>,
    scratch: Scratch,
    hits: Vec<u32>,
    fired: Vec<Fired>,
    key: String,
    corr: CorrelationState,
    /// Per rule: its hits are only input to a correlation.
    quiet: Vec<bool>,
    attack: Vec<&'static [&'static str]>,
    stats: SigmaStats,
    last_sweep_ms: i64,
}

impl SigmaEngine {
    pub fn new(set: Arc<RuleSet>) -> Self {
        let mut e = Self {
            set: Arc::new(RuleSet::default()),
            scratch: Scratch::default(),
            hits: Vec::new(),
            fired: Vec::new(),
            key: String::new(),
            corr: CorrelationState::default(),
            quiet: Vec::new(),
            attack: Vec::new(),
            stats: SigmaStats::default(),
            last_sweep_ms: i64::MIN,
        };
        e.replace(set);
        e
    }

    /// Swaps in a reloaded rule set. The open windows of correlations whose definition
    /// did not change carry over; those of changed or removed ones are dropped.
    pub fn replace(&mut self, set: Arc<RuleSet>) {
        let mut quiet = vec![false; set.rules().len()];
        for c in &set.correlations {
            if !c.generate {
                for r in &c.refs {
                    quiet[r.rule as usize] = true;
                }
            }
        }
        for (i, r) in set.rules().iter().enumerate() {
            if r.meta.id.starts_with("threshold:") {
                quiet[i] = true;
            }
        }
        self.attack = set
            .rules()
            .iter()
            .map(|r| &r.meta)
            .chain(set.correlations.iter().map(|c| &c.meta))
            .map(|m| intern_attack(m.attack_ids().collect()))
            .collect();
        self.quiet = quiet;
        let old = std::mem::take(&mut self.corr).into_windows(&self.set);
        self.corr = CorrelationState::from_windows(&set, old);
        self.set = set;
    }

    /// A copy of the open correlation windows (what a checkpoint holds).
    pub fn windows(&self) -> Windows {
        self.corr.windows(&self.set)
    }

    /// Takes up saved windows in place of the current ones: those of the correlations
    /// loaded now with the same definition; the rest are dropped.
    pub fn restore_windows(&mut self, saved: Windows) {
        self.corr = CorrelationState::from_windows(&self.set, saved);
    }

    pub fn rules(&self) -> &Arc<RuleSet> {
        &self.set
    }

    pub fn stats(&self) -> &SigmaStats {
        &self.stats
    }

    /// Matches one event; pushes a signal per reporting hit and per correlation fired.
    pub fn observe(&mut self, e: &Event, out: &mut Vec<Signal>) {
        self.stats.events += 1;
        self.hits.clear();
        self.set.matches(e, &mut self.scratch, &mut self.hits);
        if self.hits.is_empty() {
            return;
        }
        self.stats.hits += self.hits.len() as u64;
        let set = Arc::clone(&self.set);
        for &ri in &self.hits {
            if !self.quiet[ri as usize] {
                out.push(self.hit_signal(&set.rules()[ri as usize].meta, ri as usize, e));
            }
        }
        if set.correlations.is_empty() {
            return;
        }
        self.fired.clear();
        self.corr.observe(
            &set,
            e,
            &self.hits,
            &mut self.scratch,
            set.specs(),
            &mut self.key,
            &mut self.fired,
        );
        let t = e.timestamp.millis();
        for f in std::mem::take(&mut self.fired) {
            self.stats.correlations_fired += 1;
            out.push(self.corr_signal(&set, &f, e, t));
        }
        if t.saturating_sub(self.last_sweep_ms) > 60_000 {
            self.last_sweep_ms = t;
            self.corr.sweep(&set, t);
        }
    }

    fn hit_signal(&self, m: &Meta, ri: usize, e: &Event) -> Signal {
        let t = e.timestamp.millis();
        let (links, entities, who) = entities_of(e);
        let rule = rule_label(m);
        Signal {
            kind: IncidentKind::Sigma,
            sector: e.sector.clone(),
            start_ms: t,
            at_ms: t,
            key: format!("{}|{who}", rule_key(m)),
            links,
            entities,
            title: m.title.clone(),
            score: m.level.score(),
            attack: self.attack.get(ri).copied().unwrap_or(&[]),
            evidence: Evidence {
                at: Timestamp::from_millis(t),
                sector: e.sector.clone(),
                signal: "sigma".into(),
                description: format!("Sigma rule matched ({:?} level): {}", m.level, m.title),
                rule: Some(rule),
                sample_event_ids: vec![e.id.clone()],
                ..Evidence::default()
            },
        }
    }

    fn corr_signal(&self, set: &RuleSet, f: &Fired, e: &Event, t: i64) -> Signal {
        let c = &set.correlations[f.corr];
        let m = &c.meta;
        let (mut links, entities, _) = entities_of(e);
        if !c.group_by.is_empty() {
            links.push(format!("group:{}|{}", rule_key(m), f.group));
        }
        let what = match c.kind {
            CorrType::EventCount => "events",
            CorrType::ValueCount => "distinct values",
            CorrType::Sum => "sum",
            CorrType::Temporal | CorrType::TemporalOrdered => "rules matched",
        };
        Signal {
            kind: if c.threshold_rule {
                IncidentKind::Threshold
            } else {
                IncidentKind::Sigma
            },
            sector: e.sector.clone(),
            start_ms: f.first_ms,
            at_ms: t,
            key: format!("{}|{}", rule_key(m), f.group),
            links,
            entities,
            title: m.title.clone(),
            score: m.level.score(),
            attack: self
                .attack
                .get(set.rules().len() + f.corr)
                .copied()
                .unwrap_or(&[]),
            evidence: Evidence {
                at: Timestamp::from_millis(t),
                sector: e.sector.clone(),
                signal: if c.threshold_rule {
                    "threshold".into()
                } else {
                    "sigma.correlation".into()
                },
                description: format!(
                    "{}: {} {what} within {} s for {} = {}",
                    m.title,
                    f.observed,
                    c.timespan_ms / 1000,
                    if c.group_by.is_empty() {
                        "all".to_string()
                    } else {
                        c.group_by.join(",")
                    },
                    f.group
                ),
                observed: Some(f.observed),
                threshold: Some(c.threshold),
                window_secs: Some((c.timespan_ms / 1000) as u64),
                rule: Some(rule_label(m)),
                sample_event_ids: f.samples.clone(),
                ..Evidence::default()
            },
        }
    }
}

/// Where a [`crate::Detector`] keeps its rules: the engine once rules are loaded, and
/// until then the correlation windows a restored checkpoint brought. It is checkpointed
/// as the open windows alone (the rules themselves are loaded from their folder).
#[derive(Default)]
pub struct EngineSlot {
    engine: Option<SigmaEngine>,
    pending: Windows,
}

impl EngineSlot {
    /// Loads, reloads (keeping unchanged correlations' windows) or with `None` drops the
    /// rules and their windows. The first rules loaded take up the restored windows.
    pub fn set(&mut self, rules: Option<Arc<RuleSet>>) {
        match (rules, &mut self.engine) {
            (Some(r), Some(engine)) => engine.replace(r),
            (Some(r), None) => {
                let mut engine = SigmaEngine::new(r);
                engine.restore_windows(std::mem::take(&mut self.pending));
                self.engine = Some(engine);
            }
            (None, _) => {
                self.engine = None;
                self.pending = Windows::default();
            }
        }
    }

    pub fn engine(&self) -> Option<&SigmaEngine> {
        self.engine.as_ref()
    }

    pub fn engine_mut(&mut self) -> Option<&mut SigmaEngine> {
        self.engine.as_mut()
    }
}

impl Serialize for EngineSlot {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.engine {
            Some(e) => e.windows().serialize(s),
            None => self.pending.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for EngineSlot {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self {
            engine: None,
            pending: Windows::deserialize(d)?,
        })
    }
}

fn rule_key(m: &Meta) -> &str {
    if m.id.is_empty() {
        &m.title
    } else {
        &m.id
    }
}

fn rule_label(m: &Meta) -> String {
    if m.id.is_empty() {
        m.title.clone()
    } else {
        format!("{} {}", m.id, m.title)
    }
}

/// Account names too common to tie incidents together.
const GENERIC_USERS: &[&str] = &[
    "-",
    "system",
    "root",
    "administrator",
    "admin",
    "local service",
    "network service",
    "nt authority\\system",
    "anonymous",
];

/// The links, entities and the main entity (for the dedup key) of an event.
fn entities_of(e: &Event) -> (Vec<String>, Vec<Entity>, String) {
    let mut links = Vec::new();
    let mut entities = Vec::new();
    let f = &e.fields;
    let mut who = String::new();
    if let Some(ip) = f.source_ip {
        links.push(format!("ip:{ip}"));
        entities.push(Entity {
            kind: "ip".into(),
            value: ip.to_string(),
            role: "source".into(),
        });
        who = ip.to_string();
    }
    if let Some(ip) = f.destination_ip {
        links.push(format!("ip:{ip}"));
        entities.push(Entity {
            kind: "ip".into(),
            value: ip.to_string(),
            role: "destination".into(),
        });
    }
    let host = f
        .host_name
        .as_deref()
        .or_else(|| {
            e.extra
                .get("json.Event.System.Computer")
                .and_then(|v| v.as_str())
        })
        .filter(|h| !h.is_empty() && h.len() <= 255);
    if let Some(h) = host {
        let h = h.to_ascii_lowercase();
        links.push(format!("host:{}|{h}", e.sector));
        entities.push(Entity {
            kind: "host".into(),
            value: h.clone(),
            role: "host".into(),
        });
        if who.is_empty() {
            who = h;
        }
    }
    if let Some(u) = f
        .user_name
        .as_deref()
        .filter(|u| !u.is_empty() && u.len() <= 256)
    {
        let lu = u.to_ascii_lowercase();
        if !GENERIC_USERS.contains(&lu.as_str()) {
            links.push(format!("user:{lu}"));
        }
        entities.push(Entity {
            kind: "user".into(),
            value: u.to_string(),
            role: "user".into(),
        });
        if who.is_empty() {
            who = lu;
        }
    }
    (links, entities, who)
}

/// Most distinct ATT&CK id lists kept (they live for the process: signals borrow them).
const MAX_ATTACK_SETS: usize = 4096;

/// ATT&CK ids as the `'static` slices signals carry, shared across reloads.
fn intern_attack(ids: Vec<String>) -> &'static [&'static str] {
    type Table = Mutex<HashMap<Vec<String>, &'static [&'static str]>>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    if ids.is_empty() {
        return &[];
    }
    let table = TABLE.get_or_init(Default::default);
    let Ok(mut t) = table.lock() else { return &[] };
    if let Some(s) = t.get(&ids) {
        return s;
    }
    if t.len() >= MAX_ATTACK_SETS {
        return &[];
    }
    let leaked: Vec<&'static str> = ids
        .iter()
        .map(|s| &*Box::leak(s.clone().into_boxed_str()))
        .collect();
    let slice: &'static [&'static str] = Box::leak(leaked.into_boxed_slice());
    t.insert(ids, slice);
    slice
}

#[cfg(test)]
mod tests;
