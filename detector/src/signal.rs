//! What a detector reports: one [`Signal`] per finding, with the numbers behind it. The
//! correlator folds signals into incidents.

use ncsoc_model::{Entity, Evidence, IncidentKind, Timestamp};

use crate::obs::{format_network, ip_of, Addr};

#[derive(Debug, Clone)]
pub struct Signal {
    pub kind: IncidentKind,
    pub sector: String,
    /// When the behaviour was first seen (event time, ms).
    pub start_ms: i64,
    /// When the detector could tell (event time, ms): the end of the window that crossed
    /// the threshold, or the record that did.
    pub at_ms: i64,
    /// Same kind and same key: the same finding, updated rather than reported again.
    pub key: String,
    /// Entities other incidents may share (attacker address and network, C2 address,
    /// domain): signals that share one within the correlation window join one incident.
    pub links: Vec<String>,
    pub entities: Vec<Entity>,
    pub title: String,
    /// 0..=100 before correlation.
    pub score: u8,
    pub attack: &'static [&'static str],
    pub evidence: Evidence,
}

pub fn ip_entity(a: Addr, role: &str) -> Entity {
    Entity {
        kind: "ip".into(),
        value: ip_of(a).to_string(),
        role: role.into(),
    }
}

/// What a signal about attacker `a` links on: its address and, for an outside address, its
/// /24 (or /48) — attackers rotate through a network. The sector's own hosts are not
/// grouped by network: neighbours in a LAN are different machines.
pub fn attacker_links(a: Addr, internal: bool) -> Vec<String> {
    if internal {
        vec![format!("ip:{}", ip_of(a))]
    } else {
        vec![
            format!("ip:{}", ip_of(a)),
            format!("net:{}", format_network(a)),
        ]
    }
}

/// Score from how far the observed value is past its threshold: 40 at the threshold,
/// +15 per doubling, at most 90 for one signal in one sector.
pub fn score_over(observed: f64, threshold: f64, base: u8) -> u8 {
    let ratio = if threshold > 0.0 {
        (observed / threshold).max(1.0)
    } else {
        1.0
    };
    (f64::from(base) + 15.0 * ratio.log2()).clamp(0.0, 90.0) as u8
}

pub struct EvidenceBuilder(Evidence);

impl EvidenceBuilder {
    pub fn new(at_ms: i64, sector: &str, signal: &str, description: String) -> Self {
        Self(Evidence {
            at: Timestamp::from_millis(at_ms),
            sector: sector.to_string(),
            signal: signal.to_string(),
            description,
            ..Evidence::default()
        })
    }
    pub fn observed(mut self, v: f64) -> Self {
        self.0.observed = Some(round2(v));
        self
    }
    pub fn baseline(mut self, v: Option<f64>) -> Self {
        self.0.baseline = v.map(round2);
        self
    }
    pub fn threshold(mut self, v: f64) -> Self {
        self.0.threshold = Some(round2(v));
        self
    }
    pub fn window(mut self, secs: u64) -> Self {
        self.0.window_secs = Some(secs);
        self
    }
    pub fn samples(mut self, ids: &crate::bins::Samples) -> Self {
        self.0.sample_event_ids = ids.iter().map(str::to_string).collect();
        self
    }
    pub fn build(self) -> Evidence {
        self.0
    }
}

/// Two decimals: evidence is read by people and compared across runs.
fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        0.0
    }
}
