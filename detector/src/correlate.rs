//! Signals into national incidents.
//!
//! A signal joins an open incident (one whose last signal is within the correlation window,
//! in event time) when
//! 1. it is the same finding again: same kind and same key (`scan:203.0.113.9`) — whatever
//!    the sector, so one scanner sweeping three sectors is one incident naming all three;
//! 2. or it shares a link (attacker address or /24, C2 address, domain, victim) with an
//!    incident that either has its kind or does not yet cover its sector: a brute force
//!    in finance from the address that scanned energy joins the scan's incident, which
//!    becomes a `campaign`.
//!
//! Otherwise it opens a new incident.
//!
//! TLP: a signal whose evidence is TLP:RED or TLP:AMBER+STRICT indicator material is
//! restricted to the sector it was seen in. It joins only an incident of that sector
//! alone, and an incident holding such evidence takes no signal from another sector, so
//! the material stays in single-sector incidents, which the store's sector isolation
//! shows only to that sector's analysts (and to analysts of every sector). The same
//! indicator seen in several sectors is then one incident per sector.
//!
//! Each join raises the score (more sectors, more signals) and so the severity. Incident
//! ids are derived from the first signal's key and time, so a replay gives the same ids.

use std::collections::BTreeSet;

use ncsoc_model::{id::id_from_parts, Incident, IncidentKind, Severity, Status, Timestamp};
use serde::{Deserialize, Serialize};

use crate::signal::Signal;
use crate::table::FastMap;

const MAX_EVIDENCE: usize = 60;
const KEEP_FIRST_EVIDENCE: usize = 20;
const MAX_ENTITIES: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Open {
    incident: Incident,
    last_ms: i64,
    kinds: BTreeSet<IncidentKind>,
    best_score: u8,
    base_title: String,
    /// Holds TLP:RED or AMBER+STRICT evidence: stays within its one sector.
    #[serde(default)]
    restricted: bool,
}

/// Whether a signal carries indicator material only its own sector may see.
pub fn is_restricted(s: &Signal) -> bool {
    matches!(
        s.evidence.tlp,
        Some(ncsoc_model::Tlp::Red | ncsoc_model::Tlp::AmberStrict)
    )
}

fn evidence_restricted(e: &ncsoc_model::Evidence) -> bool {
    matches!(
        e.tlp,
        Some(ncsoc_model::Tlp::Red | ncsoc_model::Tlp::AmberStrict)
    )
}

/// Whether signal `s` may join incident `o` under TLP.
fn tlp_allows(o: &Open, s: &Signal, restricted: bool) -> bool {
    if !(restricted || o.restricted) {
        return true;
    }
    o.incident.sectors.len() == 1 && o.incident.sectors[0] == s.sector
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Correlator {
    window_ms: i64,
    max_open: usize,
    open: FastMap<String, Open>,
    by_key: FastMap<String, String>,
    by_link: FastMap<String, String>,
    changed: Vec<String>,
    opened: u64,
    folded: u64,
    last_sweep_ms: i64,
}

impl Correlator {
    pub fn new(window_secs: u32, max_open: usize) -> Self {
        Self {
            window_ms: i64::from(window_secs) * 1000,
            max_open: max_open.max(1),
            open: FastMap::default(),
            by_key: FastMap::default(),
            by_link: FastMap::default(),
            changed: Vec::new(),
            opened: 0,
            folded: 0,
            last_sweep_ms: i64::MIN,
        }
    }

    pub fn opened(&self) -> u64 {
        self.opened
    }
    pub fn folded(&self) -> u64 {
        self.folded
    }
    pub fn open_count(&self) -> usize {
        self.open.len()
    }

    fn live(&self, id: &str, at_ms: i64) -> Option<&Open> {
        self.open
            .get(id)
            .filter(|o| at_ms - o.last_ms <= self.window_ms)
    }

    pub fn add(&mut self, s: Signal) {
        let restricted = is_restricted(&s);
        let dkey = if restricted {
            format!("{}|{}|{}", s.kind, s.key, s.sector)
        } else {
            format!("{}|{}", s.kind, s.key)
        };
        let mut target = self
            .by_key
            .get(&dkey)
            .filter(|id| {
                self.live(id, s.at_ms)
                    .is_some_and(|o| tlp_allows(o, &s, restricted))
            })
            .cloned();
        if target.is_none() {
            target = s
                .links
                .iter()
                .filter_map(|l| self.by_link.get(l))
                .find(|id| {
                    self.live(id, s.at_ms).is_some_and(|o| {
                        (o.kinds.contains(&s.kind) || !o.incident.sectors.contains(&s.sector))
                            && tlp_allows(o, &s, restricted)
                    })
                })
                .cloned();
        }
        let id = match target {
            Some(id) => {
                self.folded += 1;
                let o = self.open.get_mut(&id).expect("live incident");
                fold(o, &s);
                id
            }
            None => {
                self.opened += 1;
                let id = id_from_parts(Timestamp::from_millis(s.start_ms), &[dkey.as_bytes()]);
                let o = open(&id, &s);
                self.open.insert(id.clone(), o);
                id
            }
        };
        self.by_key.insert(dkey, id.clone());
        for l in &s.links {
            self.by_link.insert(l.clone(), id.clone());
        }
        if !self.changed.contains(&id) {
            self.changed.push(id);
        }
        self.sweep(s.at_ms);
    }

    /// Forgets incidents whose last signal left the window (they stay in the store), and
    /// the oldest ones beyond the capacity.
    fn sweep(&mut self, now_ms: i64) {
        if now_ms.saturating_sub(self.last_sweep_ms) < 60_000 && self.open.len() <= self.max_open {
            return;
        }
        self.last_sweep_ms = now_ms;
        let window = self.window_ms;
        let changed = &self.changed;
        self.open
            .retain(|id, o| now_ms - o.last_ms <= window || changed.contains(id));
        if self.open.len() > self.max_open {
            let mut ages: Vec<(i64, String)> = self
                .open
                .iter()
                .map(|(id, o)| (o.last_ms, id.clone()))
                .collect();
            ages.sort();
            for (_, id) in ages.into_iter().take(self.open.len() - self.max_open) {
                if !self.changed.contains(&id) {
                    self.open.remove(&id);
                }
            }
        }
        let open = &self.open;
        self.by_key.retain(|_, id| open.contains_key(id));
        self.by_link.retain(|_, id| open.contains_key(id));
    }

    /// Incidents opened or changed since the last call, in the order they first changed.
    pub fn take_changed(&mut self) -> Vec<Incident> {
        let ids = std::mem::take(&mut self.changed);
        ids.iter()
            .filter_map(|id| self.open.get(id).map(|o| o.incident.clone()))
            .collect()
    }

    /// Every incident still open for correlation.
    pub fn open_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.open.values().map(|o| &o.incident)
    }
}

fn open(id: &str, s: &Signal) -> Open {
    let mut incident = Incident {
        id: id.to_string(),
        title: s.title.clone(),
        kind: s.kind,
        severity: Severity::Low,
        score: s.score,
        status: Status::New,
        sectors: vec![s.sector.clone()],
        entities: s.entities.clone(),
        first_seen: Timestamp::from_millis(s.start_ms),
        last_seen: Timestamp::from_millis(s.at_ms),
        evidence: vec![s.evidence.clone()],
        attack: s.attack.iter().map(|a| a.to_string()).collect(),
        assignee: None,
        notes: Vec::new(),
        tags: Vec::new(),
        dedup_key: format!("{}|{}", s.kind, s.key),
        signal_count: 1,
        updated_at: Timestamp::from_millis(s.at_ms),
        merged_into: None,
        merged_from: Vec::new(),
        merged_signal_count: 0,
    };
    incident.severity = severity(incident.score);
    Open {
        incident,
        last_ms: s.at_ms,
        kinds: BTreeSet::from([s.kind]),
        best_score: s.score,
        base_title: s.title.clone(),
        restricted: is_restricted(s),
    }
}

fn fold(o: &mut Open, s: &Signal) {
    let inc = &mut o.incident;
    inc.signal_count += 1;
    o.last_ms = o.last_ms.max(s.at_ms);
    inc.last_seen = inc.last_seen.max(Timestamp::from_millis(s.at_ms));
    inc.first_seen = inc.first_seen.min(Timestamp::from_millis(s.start_ms));
    inc.updated_at = inc.last_seen;
    if !inc.sectors.contains(&s.sector) {
        inc.sectors.push(s.sector.clone());
        inc.sectors.sort();
    }
    for e in &s.entities {
        if inc.entities.len() < MAX_ENTITIES && !inc.entities.contains(e) {
            inc.entities.push(e.clone());
        }
    }
    for a in s.attack {
        if !inc.attack.iter().any(|x| x == a) {
            inc.attack.push(a.to_string());
        }
    }
    if inc.evidence.len() >= MAX_EVIDENCE {
        // Restricted evidence is kept: it is what marks the incident as restricted.
        let drop = (KEEP_FIRST_EVIDENCE..inc.evidence.len())
            .find(|&i| !evidence_restricted(&inc.evidence[i]))
            .unwrap_or(KEEP_FIRST_EVIDENCE);
        inc.evidence.remove(drop);
    }
    o.restricted |= is_restricted(s);
    inc.evidence.push(s.evidence.clone());
    o.kinds.insert(s.kind);
    if s.score > o.best_score {
        o.best_score = s.score;
        o.base_title = s.title.clone();
    }
    if o.kinds.len() > 1 {
        inc.kind = IncidentKind::Campaign;
    }
    let sectors = inc.sectors.len() as u32;
    let repeat = (inc.signal_count as f64).log2().min(10.0) as u32;
    inc.score = (u32::from(o.best_score) + 12 * (sectors - 1) + repeat).min(100) as u8;
    inc.severity = severity(inc.score);
    let kinds = if o.kinds.len() > 1 {
        let names: Vec<String> = o
            .kinds
            .iter()
            .map(|k| k.as_str().replace('_', " "))
            .collect();
        format!("campaign ({}): ", names.join(", "))
    } else {
        String::new()
    };
    inc.title = if sectors > 1 {
        format!(
            "National {kinds}{} — {} sectors ({})",
            o.base_title,
            sectors,
            inc.sectors.join(", ")
        )
    } else if !kinds.is_empty() {
        format!(
            "Campaign ({}): {}",
            kinds
                .trim_start_matches("campaign (")
                .trim_end_matches("): "),
            o.base_title
        )
    } else {
        o.base_title.clone()
    };
}

/// The latest version of each incident seen in [`Detector::take_changed`](crate::Detector)
/// batches: what `ncsoc replay` and `ncsoc simulate` print at the end.
#[derive(Debug, Default)]
pub struct LatestIncidents {
    index: FastMap<String, usize>,
    list: Vec<Incident>,
}

impl LatestIncidents {
    pub fn absorb(&mut self, changed: Vec<Incident>) {
        for inc in changed {
            match self.index.get(&inc.id) {
                Some(&i) => self.list[i] = inc,
                None => {
                    self.index.insert(inc.id.clone(), self.list.len());
                    self.list.push(inc);
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All of them, in order of first signal (then id).
    pub fn into_sorted(self) -> Vec<Incident> {
        let mut v = self.list;
        v.sort_by(|a, b| (a.first_seen, &a.id).cmp(&(b.first_seen, &b.id)));
        v
    }
}

pub fn severity(score: u8) -> Severity {
    match score {
        85.. => Severity::Critical,
        65..=84 => Severity::High,
        40..=64 => Severity::Medium,
        _ => Severity::Low,
    }
}
