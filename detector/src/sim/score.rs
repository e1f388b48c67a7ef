//! Grading a detector's incidents against the ground truth.
//!
//! The rules are in the `sim` module doc.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ncsoc_model::{Incident, IncidentKind, Timestamp};
use serde::Serialize;

use super::{Attack, GroundTruth, Intensity};

/// How long after an attack's end an incident may still start and match it.
pub const MATCH_GRACE_SECS: i64 = 600;
const GRACE_NS: i64 = MATCH_GRACE_SECS * 1_000_000_000;
const DAY_NS: i64 = 86_400 * 1_000_000_000;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KindScore {
    pub kind: IncidentKind,
    pub injected: usize,
    pub detected: usize,
    pub rate: f64,
    pub subtle_injected: usize,
    pub subtle_detected: usize,
    pub median_delay_secs: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IntensityScore {
    pub intensity: Intensity,
    pub injected: usize,
    pub detected: usize,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub per_kind: Vec<KindScore>,
    pub per_intensity: Vec<IntensityScore>,
    pub detected: usize,
    pub injected: usize,
    pub rate: f64,
    pub subtle_rate: f64,
    pub false_alarms: usize,
    pub attack_free_sector_days: usize,
    pub false_alarms_per_sector_day: f64,
    /// False alarms per attack-free sector-day, by sector.
    pub false_alarms_by_sector: BTreeMap<String, usize>,
    pub warmup_alarms: usize,
    pub unmatched_on_attack_days: usize,
    pub campaigns: usize,
    pub campaigns_as_one_incident: usize,
    pub median_delay_secs: Option<f64>,
    pub p90_delay_secs: Option<f64>,
    /// Ids and titles of the incidents that matched no attack (warm-up ones included,
    /// marked), with the benign trap they fell into if any.
    pub unmatched_incidents: Vec<String>,
    /// Ids and descriptions of the attacks no incident matched.
    pub missed: Vec<String>,
    pub incidents: usize,
    /// Incidents that match more than one attack. Legitimate only when attacks share an
    /// address or a volume surge; many of these mean the detector lumps unrelated activity
    /// into broad incidents, which the detection rate alone would reward.
    pub incidents_matching_several_attacks: usize,
}

fn ratio(num: usize, den: usize, empty: f64) -> f64 {
    if den == 0 {
        empty
    } else {
        num as f64 / den as f64
    }
}

fn kind_fits(a: &Attack, k: IncidentKind) -> bool {
    k == a.kind
        || (a.campaign && k == IncidentKind::Campaign)
        || (a.kind == IncidentKind::VolumeAnomaly && k == IncidentKind::Ddos)
}

/// Whether an entity value names `ip`: the address itself, or a CIDR of prefix ≥ 24
/// (≥ 120 for IPv6) containing it.
fn names(value: &str, ip: IpAddr) -> bool {
    let value = value.trim();
    if let Ok(v) = value.parse::<IpAddr>() {
        return v == ip;
    }
    let Some((net, len)) = value.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(len)) = (net.parse::<IpAddr>(), len.parse::<u32>()) else {
        return false;
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) if (24..=32).contains(&len) => {
            let mask = u32::MAX << (32 - len);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) if (120..=128).contains(&len) => {
            let mask = u128::MAX << (128 - len);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Whether `inc` matches attack `a` under the rules of the `sim` module doc.
pub fn matches(a: &Attack, inc: &Incident) -> bool {
    if !kind_fits(a, inc.kind) || !inc.sectors.iter().any(|s| a.sectors.contains(s)) {
        return false;
    }
    if inc.first_seen.0 > a.end.0 + GRACE_NS || inc.last_seen.0 < a.start.0 {
        return false;
    }
    if a.kind == IncidentKind::VolumeAnomaly {
        return true;
    }
    let addrs: Vec<IpAddr> = a.attacker.into_iter().chain(a.victim).collect();
    addrs.is_empty()
        || inc
            .entities
            .iter()
            .any(|e| addrs.iter().any(|&ip| names(&e.value, ip)))
}

fn detection_time(a: &Attack, inc: &Incident) -> Timestamp {
    let in_sector = inc
        .evidence
        .iter()
        .filter(|e| a.sectors.contains(&e.sector))
        .map(|e| e.at)
        .min();
    in_sector
        .or_else(|| inc.evidence.iter().map(|e| e.at).min())
        .unwrap_or(inc.first_seen)
}

fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

fn p90(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1])
}

/// Grades `incidents` against `truth` under the rules of the `sim` module doc.
pub fn score(truth: &GroundTruth, incidents: &[Incident]) -> Score {
    let mut detected_flags = vec![false; truth.attacks.len()];
    let mut delays: Vec<Option<f64>> = vec![None; truth.attacks.len()];
    let mut incident_matched = vec![0usize; incidents.len()];
    let mut campaigns = 0;
    let mut campaigns_one = 0;
    for (ai, a) in truth.attacks.iter().enumerate() {
        let mut one = false;
        for (ii, inc) in incidents.iter().enumerate() {
            if !matches(a, inc) {
                continue;
            }
            incident_matched[ii] += 1;
            detected_flags[ai] = true;
            let d = ((detection_time(a, inc).0 - a.start.0).max(0)) as f64 / 1e9;
            delays[ai] = Some(delays[ai].map_or(d, |x: f64| x.min(d)));
            one |= a.sectors.iter().all(|s| inc.sectors.contains(s));
        }
        if a.campaign {
            campaigns += 1;
            campaigns_one += usize::from(one);
        }
    }

    let mut per_kind: Vec<KindScore> = Vec::new();
    let mut kinds: Vec<IncidentKind> = truth.attacks.iter().map(|a| a.kind).collect();
    kinds.sort();
    kinds.dedup();
    for k in kinds {
        let idx: Vec<usize> = (0..truth.attacks.len())
            .filter(|&i| truth.attacks[i].kind == k)
            .collect();
        let detected = idx.iter().filter(|&&i| detected_flags[i]).count();
        let subtle: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| truth.attacks[i].intensity == Intensity::Subtle)
            .collect();
        let mut d: Vec<f64> = idx.iter().filter_map(|&i| delays[i]).collect();
        d.sort_by(f64::total_cmp);
        per_kind.push(KindScore {
            kind: k,
            injected: idx.len(),
            detected,
            rate: ratio(detected, idx.len(), 1.0),
            subtle_injected: subtle.len(),
            subtle_detected: subtle.iter().filter(|&&i| detected_flags[i]).count(),
            median_delay_secs: median(&d),
        });
    }
    let per_intensity = Intensity::ALL
        .iter()
        .map(|&intensity| {
            let idx: Vec<usize> = (0..truth.attacks.len())
                .filter(|&i| truth.attacks[i].intensity == intensity)
                .collect();
            let detected = idx.iter().filter(|&&i| detected_flags[i]).count();
            IntensityScore {
                intensity,
                injected: idx.len(),
                detected,
                rate: ratio(detected, idx.len(), 1.0),
            }
        })
        .collect::<Vec<_>>();

    // Attack-free post-warm-up sector-days.
    let start = truth.start.0;
    let warm = i64::from(truth.warmup_days.min(truth.days));
    let days = i64::from(truth.days);
    let has_attack = |sector: &str, day: i64| {
        let (d0, d1) = (start + day * DAY_NS, start + (day + 1) * DAY_NS);
        truth.attacks.iter().any(|a| {
            a.sectors.iter().any(|s| s == sector) && a.start.0 < d1 && a.end.0 + GRACE_NS > d0
        })
    };
    let mut attack_free_sector_days = 0;
    for s in &truth.sectors {
        for d in warm..days {
            attack_free_sector_days += usize::from(!has_attack(s, d));
        }
    }

    let mut false_alarms = 0;
    let mut warmup_alarms = 0;
    let mut unmatched_on_attack_days = 0;
    let mut by_sector: BTreeMap<String, usize> = BTreeMap::new();
    let mut unmatched = Vec::new();
    for (inc, _) in incidents
        .iter()
        .zip(&incident_matched)
        .filter(|(_, &m)| m == 0)
    {
        let trap = truth
            .benign
            .iter()
            .find(|b| {
                inc.sectors.contains(&b.sector)
                    && inc.first_seen.0 <= b.end.0 + GRACE_NS
                    && inc.last_seen.0 >= b.start.0
                    && inc.entities.iter().any(|e| {
                        names(&e.value, b.host) || b.peer.is_some_and(|p| names(&e.value, p))
                    })
            })
            .map(|b| format!(" [trap: {}]", b.kind))
            .unwrap_or_default();
        let day = (inc.first_seen.0 - start).div_euclid(DAY_NS);
        let warmup = day < warm;
        unmatched.push(format!(
            "{} {} [{}] {}{}: {}{}",
            inc.id,
            inc.kind,
            inc.sectors.join(","),
            inc.first_seen,
            if warmup { " (warm-up)" } else { "" },
            inc.title,
            trap
        ));
        if warmup {
            warmup_alarms += 1;
            continue;
        }
        let mut on_attack_day = false;
        let mut sectors: Vec<&String> = inc.sectors.iter().collect();
        sectors.sort();
        sectors.dedup();
        for s in sectors {
            if !truth.sectors.contains(s) || day >= days {
                continue;
            }
            if has_attack(s, day) {
                on_attack_day = true;
            } else {
                false_alarms += 1;
                *by_sector.entry(s.clone()).or_default() += 1;
            }
        }
        unmatched_on_attack_days += usize::from(on_attack_day);
    }

    let missed = truth
        .attacks
        .iter()
        .zip(&detected_flags)
        .filter(|(_, &d)| !d)
        .map(|(a, _)| format!("{} ({}): {}", a.id, a.start, a.description))
        .collect();
    let mut all: Vec<f64> = delays.iter().flatten().copied().collect();
    all.sort_by(f64::total_cmp);
    let injected = truth.attacks.len();
    let detected = detected_flags.iter().filter(|&&d| d).count();
    let subtle: Vec<bool> = truth
        .attacks
        .iter()
        .zip(&detected_flags)
        .filter(|(a, _)| a.intensity == Intensity::Subtle)
        .map(|(_, &d)| d)
        .collect();
    Score {
        per_kind,
        per_intensity,
        detected,
        injected,
        rate: ratio(detected, injected, 1.0),
        subtle_rate: ratio(subtle.iter().filter(|&&d| d).count(), subtle.len(), 1.0),
        false_alarms,
        attack_free_sector_days,
        false_alarms_per_sector_day: ratio(false_alarms, attack_free_sector_days, 0.0),
        false_alarms_by_sector: by_sector,
        warmup_alarms,
        unmatched_on_attack_days,
        campaigns,
        campaigns_as_one_incident: campaigns_one,
        median_delay_secs: median(&all),
        p90_delay_secs: p90(&all),
        unmatched_incidents: unmatched,
        missed,
        incidents: incidents.len(),
        incidents_matching_several_attacks: incident_matched.iter().filter(|&&m| m > 1).count(),
    }
}

fn pct(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

fn secs(x: Option<f64>) -> String {
    x.map_or_else(|| "–".into(), |v| format!("{v:.0} s"))
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "**not met**"
    }
}

impl Score {
    /// The evaluation table for BENCHMARKS.md.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        s.push_str("| kind | injected | detected | rate | subtle detected | median delay |\n");
        s.push_str("|---|---:|---:|---:|---:|---:|\n");
        for k in &self.per_kind {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {}/{} | {} |\n",
                k.kind,
                k.injected,
                k.detected,
                pct(k.rate),
                k.subtle_detected,
                k.subtle_injected,
                secs(k.median_delay_secs)
            ));
        }
        let subtle = self
            .per_intensity
            .iter()
            .find(|i| i.intensity == Intensity::Subtle);
        s.push_str(&format!(
            "| **all** | {} | {} | {} | {}/{} | {} |\n\n",
            self.injected,
            self.detected,
            pct(self.rate),
            subtle.map_or(0, |i| i.detected),
            subtle.map_or(0, |i| i.injected),
            secs(self.median_delay_secs)
        ));
        s.push_str("| intensity | injected | detected | rate |\n|---|---:|---:|---:|\n");
        for i in &self.per_intensity {
            s.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                i.intensity.as_str(),
                i.injected,
                i.detected,
                pct(i.rate)
            ));
        }
        s.push('\n');
        s.push_str(&format!(
            "- Detection rate: {} ({}/{}), target ≥ 95 %: {}\n",
            pct(self.rate),
            self.detected,
            self.injected,
            verdict(self.rate >= 0.95)
        ));
        s.push_str(&format!(
            "- Subtle attacks detected: {}\n",
            pct(self.subtle_rate)
        ));
        s.push_str(&format!(
            "- False alarms: {} on {} attack-free sector-days = {:.2} per sector-day, target ≤ 1: {}\n",
            self.false_alarms,
            self.attack_free_sector_days,
            self.false_alarms_per_sector_day,
            verdict(self.false_alarms_per_sector_day <= 1.0)
        ));
        if !self.false_alarms_by_sector.is_empty() {
            let by: Vec<String> = self
                .false_alarms_by_sector
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            s.push_str(&format!("  (by sector: {})\n", by.join(", ")));
        }
        s.push_str(&format!(
            "- Unmatched incidents on attack days (not in the rate): {}; during the warm-up: {}\n",
            self.unmatched_on_attack_days, self.warmup_alarms
        ));
        s.push_str(&format!(
            "- Incidents: {} ({} matching several attacks)\n",
            self.incidents, self.incidents_matching_several_attacks
        ));
        s.push_str(&format!(
            "- Cross-sector campaigns reported as one incident naming all their sectors: {}/{}: {}\n",
            self.campaigns_as_one_incident,
            self.campaigns,
            verdict(self.campaigns_as_one_incident == self.campaigns)
        ));
        s.push_str(&format!(
            "- Detection delay (event time): median {}, p90 {}; target median ≤ 120 s: {}\n",
            secs(self.median_delay_secs),
            secs(self.p90_delay_secs),
            verdict(self.median_delay_secs.is_some_and(|d| d <= 120.0))
        ));
        if !self.unmatched_incidents.is_empty() {
            s.push_str("\nUnmatched incidents");
            if self.unmatched_incidents.len() > 30 {
                s.push_str(&format!(
                    " (first 30 of {})",
                    self.unmatched_incidents.len()
                ));
            }
            s.push_str(":\n");
            for u in self.unmatched_incidents.iter().take(30) {
                s.push_str(&format!("- {u}\n"));
            }
        }
        if !self.missed.is_empty() {
            s.push_str("\nMissed:\n");
            for m in &self.missed {
                s.push_str(&format!("- {m}\n"));
            }
        }
        s
    }
}
