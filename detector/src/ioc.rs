//! Indicator matches: every event and flow is matched against the threat indicators
//! ([`ncsoc_intel::IndicatorSet`]), and a hit becomes an `ioc_match` signal.
//!
//! - Key: the indicator's value, whatever the sector, so one indicator seen in several
//!   sectors is one national incident, whose score (and severity) the correlator raises
//!   with every sector it reaches.
//! - Links: `ioc:<value>`, and the matched address (`ip:<addr>`) or domain
//!   (`domain:<name>`), so the hit joins the behaviour incidents about the same address.
//! - Score: from the indicator's confidence: 30 + 0.6 × confidence (60 without one).
//! - Evidence: the indicator id and value, where it was seen, its source, TLP and
//!   confidence; the evidence carries the TLP, which decides who may see it.
//! - Repeats: the same indicator in the same sector is reported at most once per minute
//!   of event time (the others are counted in `ioc_hits`), so a busy C2 address does not
//!   flood the correlator; each report names the record that caused it.
//!
//! The set is not part of the checkpoint: the caller gives it at start and whenever the
//! indicators change ([`crate::Detector::set_indicators`]).

use std::hash::BuildHasher;
use std::sync::Arc;

use ncsoc_intel::{Field, Hit, IndicatorSet};
use ncsoc_model::{Entity, Event, Evidence, IncidentKind, IndicatorKind, Timestamp, Tlp};

use crate::signal::Signal;
use crate::table::FastMap;

/// Event time between two reports of one indicator in one sector.
pub const REPEAT_MS: i64 = 60_000;
/// Indicator-sector pairs remembered for the repeat limit; beyond, the oldest half goes.
const MAX_REPEAT_KEYS: usize = 100_000;

#[derive(Default)]
pub struct IocMatcher {
    set: Option<Arc<IndicatorSet>>,
    /// (indicator, sector hash) → event time of the last report.
    last: FastMap<(u32, u64), i64>,
    pending: Vec<PendingHit>,
    pub hits: u64,
}

struct PendingHit {
    indicator: u32,
    field: Field,
    observed: String,
}

impl IocMatcher {
    pub fn set(&mut self, set: Option<Arc<IndicatorSet>>) {
        self.set = set.filter(|s| !s.is_empty());
        self.last.clear();
    }

    pub fn indicators(&self) -> usize {
        self.set.as_ref().map_or(0, |s| s.len())
    }

    /// Matches one record; reports go to `out`.
    #[inline]
    pub fn observe(&mut self, e: &Event, out: &mut Vec<Signal>) {
        let IocMatcher {
            set,
            last,
            pending,
            hits,
        } = self;
        let Some(set) = set.as_deref() else { return };
        let t_ms = e.timestamp.0.div_euclid(1_000_000);
        let mut sector_hash = None;
        set.match_event(e, |h: Hit<'_>| {
            *hits += 1;
            let sh = *sector_hash.get_or_insert_with(|| last.hasher().hash_one(&e.sector));
            let slot = last.entry((h.indicator, sh)).or_insert(i64::MIN);
            if *slot != i64::MIN && t_ms.abs_diff(*slot) < REPEAT_MS as u64 {
                return;
            }
            *slot = t_ms;
            pending.push(PendingHit {
                indicator: h.indicator,
                field: h.field,
                observed: h.observed.to_string(),
            });
        });
        if last.len() > MAX_REPEAT_KEYS {
            let mut times: Vec<i64> = last.values().copied().collect();
            let mid = times.len() / 2;
            let (_, cut, _) = times.select_nth_unstable(mid);
            let cut = *cut;
            last.retain(|_, t| *t > cut);
        }
        for p in pending.drain(..) {
            if let Some(ind) = set.get(p.indicator) {
                out.push(signal(e, t_ms, ind, p.field, &p.observed));
            }
        }
    }
}

fn tlp_name(t: Tlp) -> &'static str {
    match t {
        Tlp::Clear => "TLP:CLEAR",
        Tlp::Green => "TLP:GREEN",
        Tlp::Amber => "TLP:AMBER",
        Tlp::AmberStrict => "TLP:AMBER+STRICT",
        Tlp::Red => "TLP:RED",
    }
}

/// 30 + 0.6 × confidence; 60 when the source gave none.
pub fn score(confidence: Option<u8>) -> u8 {
    confidence.map_or(60, |c| 30 + (u32::from(c.min(100)) * 6 / 10) as u8)
}

fn clip(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn signal(
    e: &Event,
    t_ms: i64,
    ind: &ncsoc_model::Indicator,
    field: Field,
    observed: &str,
) -> Signal {
    let kind_name = match ind.kind {
        IndicatorKind::Ipv4 | IndicatorKind::Ipv6 | IndicatorKind::Cidr => "ip",
        IndicatorKind::Domain => "domain",
        IndicatorKind::Url => "url",
        IndicatorKind::Md5 | IndicatorKind::Sha1 | IndicatorKind::Sha256 => "hash",
        IndicatorKind::Email => "email",
    };
    let observed_ip: Option<std::net::IpAddr> = observed.parse().ok();
    let mut links = vec![format!("ioc:{}", ind.value)];
    let mut entities = vec![Entity {
        kind: if observed_ip.is_some() {
            "ip"
        } else {
            kind_name
        }
        .into(),
        value: clip(observed, 512).to_string(),
        role: "indicator".into(),
    }];
    match observed_ip {
        Some(ip) => links.push(format!("ip:{ip}")),
        None if ind.kind == IndicatorKind::Domain => links.push(format!("domain:{}", ind.value)),
        None => {}
    }
    // The other end: the sector's host that talked to the indicator, or was targeted by it.
    let (other, role) = match field {
        Field::SourceIp => (e.fields.destination_ip, "target"),
        _ => (e.fields.source_ip, "affected"),
    };
    if let Some(ip) = other {
        entities.push(Entity {
            kind: "ip".into(),
            value: ip.to_string(),
            role: role.into(),
        });
    }
    let kind_label = serde_json::to_value(ind.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut description = format!(
        "{} {} matched {kind_label} indicator {} from {} ({}{})",
        field.key(),
        clip(observed, 256),
        clip(&ind.value, 256),
        clip(&ind.source, 128),
        tlp_name(ind.tlp),
        ind.confidence
            .map(|c| format!(", confidence {c}"))
            .unwrap_or_default(),
    );
    if let Some(d) = ind.description.as_deref().filter(|d| !d.is_empty()) {
        description.push_str(": ");
        description.push_str(clip(d, 512));
    }
    Signal {
        kind: IncidentKind::IocMatch,
        sector: e.sector.clone(),
        start_ms: t_ms,
        at_ms: t_ms,
        key: format!("{kind_label}:{}", ind.value),
        links,
        entities,
        title: format!(
            "Indicator match: {} ({})",
            clip(&ind.value, 200),
            clip(&ind.source, 100)
        ),
        score: score(ind.confidence),
        attack: &[],
        evidence: Evidence {
            at: Timestamp::from_millis(t_ms),
            sector: e.sector.clone(),
            signal: "ioc".into(),
            description,
            indicator: Some(format!("{} ({})", ind.id, clip(&ind.value, 512))),
            tlp: Some(ind.tlp),
            sample_event_ids: if e.id.is_empty() {
                Vec::new()
            } else {
                vec![e.id.clone()]
            },
            ..Evidence::default()
        },
    }
}
