//! The national view: what no single sector can see. One table of external sources keyed
//! by address, across all sectors, catches the low-and-slow campaign that probes a few
//! hosts per sector per hour — below every sector's own thresholds — but touches several
//! sectors in a few hours.

use ncsoc_model::IncidentKind;
use serde::{Deserialize, Serialize};

use crate::bins::Samples;
use crate::config::NationalConfig;
use crate::obs::{ip_of, Addr, Obs};
use crate::signal::{attacker_links, ip_entity, score_over, EvidenceBuilder, Signal};
use crate::sketch::Distinct;
use crate::table::{BoundedMap, Weighted};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Probe {
    pub window_start_ms: i64,
    /// Bit i: sector i was probed (the first 64 sectors; more are counted in `hosts`).
    pub sectors: u64,
    pub per_sector_probes: Vec<(u16, u32)>,
    pub hosts: Distinct,
    pub probes: u64,
    /// Sectors already reported in this window.
    pub reported: u64,
    pub samples: Samples,
}

impl Weighted for Probe {
    fn weight(&self) -> u64 {
        self.probes + 16 * u64::from(self.sectors.count_ones())
    }
}

/// What the national table counts for a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeKind {
    /// A failed connection attempt into a sector (scanning).
    Scan,
    /// A login attempt at a password-protected service (guessing).
    Login,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct National {
    pub sources: BoundedMap<Addr, Probe>,
}

impl National {
    pub fn new(capacity: usize) -> Self {
        Self {
            sources: BoundedMap::new(capacity),
        }
    }

    /// Counts a failed attempt from an external source into `sector`; emits one signal per
    /// probed sector when the source crosses the national thresholds, and one more for
    /// each sector it reaches afterwards.
    pub fn observe(
        &mut self,
        c: &NationalConfig,
        kind: ProbeKind,
        sector_idx: usize,
        sectors: &[String],
        o: &Obs<'_>,
        out: &mut Vec<Signal>,
    ) {
        let h_dst = crate::obs::hash_addr(o.dst);
        let window_ms = i64::from(c.window_secs) * 1000;
        // One entry per (source, kind): the low bit of the key tells them apart.
        let key = o.src.rotate_left(1) ^ u128::from(kind == ProbeKind::Login);
        let p = self.sources.entry(key, Probe::default);
        if p.probes == 0 || o.ts_ms - p.window_start_ms > window_ms {
            *p = Probe {
                window_start_ms: o.ts_ms,
                ..Probe::default()
            };
        }
        p.probes += 1;
        p.hosts.insert_hash(h_dst);
        p.samples.offer(o.id);
        let idx = sector_idx.min(u16::MAX as usize) as u16;
        if let Some((_, n)) = p.per_sector_probes.iter_mut().find(|(s, _)| *s == idx) {
            *n += 1;
        } else if p.per_sector_probes.len() < 64 {
            p.per_sector_probes.push((idx, 1));
        }
        if sector_idx < 64 {
            p.sectors |= 1 << sector_idx;
        }
        let n_sectors = p.sectors.count_ones();
        let hosts = p.hosts.estimate();
        let enough = match kind {
            ProbeKind::Scan => hosts >= f64::from(c.min_hosts),
            ProbeKind::Login => p.probes >= u64::from(c.min_logins),
        };
        if n_sectors < c.min_sectors || !enough {
            return;
        }
        let fresh = p.sectors & !p.reported;
        if fresh == 0 {
            return;
        }
        p.reported |= fresh;
        let names: Vec<&str> = (0..64)
            .filter(|i| p.sectors & (1 << i) != 0)
            .filter_map(|i| sectors.get(i).map(String::as_str))
            .collect();
        let window = ((o.ts_ms - p.window_start_ms) / 1000).max(0) as u64;
        for i in (0..64).filter(|i| fresh & (1 << i) != 0) {
            let Some(sector) = sectors.get(i) else {
                continue;
            };
            let probes_here = p
                .per_sector_probes
                .iter()
                .find(|(s, _)| usize::from(*s) == i)
                .map_or(0, |x| x.1);
            let (what, observed, threshold) = match kind {
                ProbeKind::Scan => ("failed connection attempts", hosts, c.min_hosts),
                ProbeKind::Login => ("login attempts", p.probes as f64, c.min_logins),
            };
            let evidence = EvidenceBuilder::new(
                o.ts_ms,
                sector,
                match kind {
                    ProbeKind::Scan => "national.low_and_slow.scan",
                    ProbeKind::Login => "national.low_and_slow.brute_force",
                },
                format!(
                    "{} made {} {what} on {:.0} hosts across {} sectors ({}) in {} s, {} of them in {}; national thresholds {} sectors, {threshold}",
                    ip_of(o.src), p.probes, hosts, n_sectors, names.join(", "), window, probes_here, sector, c.min_sectors
                ),
            )
            .observed(observed)
            .threshold(f64::from(threshold))
            .window(window)
            .samples(&p.samples)
            .build();
            let (kind_out, key, title, attack): (_, _, _, &'static [&'static str]) = match kind {
                ProbeKind::Scan => (
                    IncidentKind::PortScan,
                    format!("scan:{}", ip_of(o.src)),
                    format!(
                        "Low-and-slow scan from {} across {} sectors",
                        ip_of(o.src),
                        n_sectors
                    ),
                    &["T1046", "T1595"],
                ),
                ProbeKind::Login => (
                    IncidentKind::BruteForce,
                    format!("brute:{}", ip_of(o.src)),
                    format!(
                        "Low-and-slow password guessing from {} across {} sectors",
                        ip_of(o.src),
                        n_sectors
                    ),
                    &["T1110"],
                ),
            };
            out.push(Signal {
                kind: kind_out,
                sector: sector.clone(),
                start_ms: p.window_start_ms,
                at_ms: o.ts_ms,
                key,
                links: attacker_links(o.src, false),
                entities: vec![ip_entity(o.src, "attacker")],
                title,
                score: score_over(f64::from(n_sectors), f64::from(c.min_sectors), 50),
                attack,
                evidence,
            });
        }
    }
}
