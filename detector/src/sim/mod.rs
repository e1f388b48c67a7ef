//! A deterministic NetFlow traffic simulator with ground truth, and the scorer that grades
//! a detector's incidents against it.
//!
//! # What is simulated
//!
//! Every sector has its own `10.S.0.0/16` (S = sector index + 1): servers in `10.S.1.0/24`
//! (web `.10`, FTP `.21`, SSH jump host `.22`, mail `.25`, RDP gateway `.33`, DNS resolver
//! `.53`, vulnerability scanner `.99`, file server `.120`) and `hosts_per_sector` clients in
//! `10.S.10.0/24` upwards, 100 to a /24. External peers come from a pool of 50,000 public
//! addresses contacted with Zipf popularity (a few CDNs and update servers everybody uses,
//! a long tail); attackers come from a disjoint hostile pool, so their addresses are never
//! seen in normal traffic.
//!
//! Flows are unidirectional NetFlow v9 records as a router exports them: a TCP session is
//! two records (client→server and server→client), `flow.tcp_flags` is `SYN|ACK|PSH|FIN` for
//! completed sessions, `SYN` alone for unanswered probes, `RST|ACK` for the refusal of a
//! closed port; transfers longer than a minute are exported once a minute (60 s active
//! timeout). `@timestamp` is the flow **end** (`flow.end`), as the NetFlow parser does.
//! Events come out in non-decreasing `@timestamp` order; the generator works one minute of
//! event time at a time, so memory stays bounded by one minute of traffic.
//!
//! Load follows per-sector daily curves (office hours peak, night trough; health steady
//! around the clock; transport with commuter peaks) and a weekend factor, with Poisson
//! noise per minute. DNS lookups (`event.dataset = "dns"`) are emitted for a sample of the
//! clients' queries.
//!
//! Benign traps, recorded in [`GroundTruth::benign`], start in the warm-up: a nightly
//! off-site backup (tens of GB to the same external host each night), an internal
//! vulnerability scanner sweeping its own /24s every night (in every other sector), NTP and
//! update-check polling (periodic like beacons, but to popular destinations), anti-virus
//! cloud lookups (hash-labelled DNS names), a patch day per sector (many hosts downloading
//! large volumes from the update server for two hours) and a flash crowd (one popular site,
//! +80 % flows for an hour).
//!
//! Attacks (after `warmup_days`) of every kind at three intensities, two variants each, and
//! four cross-sector campaigns (a fast scan and a fast brute force across three sectors
//! within an hour, a low-and-slow scan and a low-and-slow brute force of a few probes per
//! sector per hour over ten to twelve hours). With two or more post-warm-up days each
//! sector keeps at least one of them attack-free (two from four post-warm-up days on), and
//! false alarms are counted there; with a single one, every other sector stays quiet.
//!
//! | kind | subtle | moderate | strong |
//! |---|---|---|---|
//! | port_scan, horizontal (external) | tcp/23 over one /24, a probe per 30 s, 2 h | tcp/445 over four /24s, 1/s, 15 min | tcp/3389 over 14 /24s, 20/s, 3 min |
//! | port_scan, vertical | external, a port per 30 s on a client, 2 h | from an internal client to another, 1/s, 15 min | external on the web server, 20/s, 3 min |
//! | ddos, SYN flood from spoofed sources on web:443 | 5 flows/s, 20 min | 80/s, 10 min | 400/s, 8 min |
//! | ddos, UDP reflection on the mail server | NTP, 10 flows/s from 60 reflectors, 15 min | CLDAP, 60/s from 500, 10 min | DNS, 300/s from 2,000, 6 min |
//! | brute_force (ssh jump host; RDP gateway or FTP) | a login per minute, 3 h | one per 2 s, 20 min | 5/s, 5 min |
//! | exfiltration to a never-seen host | ~360 MB in 3 MB chunks over 6 h | ~1.2 GB over 2 h | ~3 GB in 30 min |
//! | beaconing to a never-seen C2 | every 600 s ± 25 %, 10 h | 120 s ± 10 %, 6 h | 30 s ± 2 %, 3 h |
//! | dns_tunnel (client queries; resolver forwards to the attacker's name server) | a query per 20 s, one 30-char label, 3 h | 1/s, 50-char label, 45 min | 10/s, two 60-char labels, 15 min |
//! | volume_anomaly (spam-bot outbreak, smtp out) | 6 hosts, +80 % flows, 1 h | 15 hosts, +200 %, 45 min | 30 hosts, +500 %, 30 min |
//! | campaigns (3 sectors, one attacker) | scan: ~3 probes per sector-hour, 12 h; ssh: ~4 logins per sector-hour, 10 h | scan: tcp/3389 over two /24s per sector at 1/s, 10 min each, 20 min apart | ssh brute force at 3/s, 8 min per sector, 20 min apart |
//!
//! # Use
//!
//! ```
//! use ncsoc_detector::sim::{score, SimConfig, Simulator};
//!
//! let config = SimConfig { days: 1, warmup_days: 0, hosts_per_sector: 5, ..SimConfig::default() };
//! let mut sim = Simulator::new(config);
//! let truth = sim.truth().clone(); // known before the first event
//! let mut flows = 0;
//! for event in sim.by_ref().take(10_000) {
//!     flows += usize::from(event.is_flow()); // feed the detector here
//! }
//! let incidents = Vec::new(); // the detector's incidents
//! let s = score(&truth, &incidents);
//! assert!(flows > 0 && s.injected > 0 && s.detected == 0);
//! println!("{}", s.to_markdown());
//! ```
//!
//! # Volume and speed
//!
//! The default configuration (5 sectors × 200 clients, 60 sessions per client-hour at the
//! peak, 7 days) emits about 2.3 million events per weekday (2.1 M flow records, 0.2 M DNS
//! events) and 1.3 million per weekend day, 14.5 million in all, with 46 attacks and 78
//! benign bursts. The buffer holds one minute of events (a few thousand; about 25,000 in
//! the minutes of the strongest flood). Generation runs at about 1 million events per
//! second on one core (release build, system allocator): 2.3 s per simulated weekday when
//! the machine is otherwise idle. `cargo run --release -p ncsoc-detector --example simulate` measures it,
//! writes the events as NDJSON and the truth as JSON, and scores an incident file.
//!
//! # Scoring rules
//!
//! * **Match.** An incident matches an attack when all of these hold:
//!   - its kind is the attack's kind; for a campaign also `campaign`; for a volume anomaly
//!     also `ddos` (a surge may be reported as one);
//!   - it names at least one of the attack's sectors;
//!   - its `[first_seen, last_seen]` overlaps `[attack.start, attack.end + 10 min]`;
//!   - when the attack has an attacker or victim address (every kind but volume
//!     anomalies), one of the incident's entity values is that address, or a CIDR of
//!     prefix length ≥ 24 containing it (`a.b.c.0/24`). Wider networks do not count: naming
//!     `10.0.0.0/8` must not match everything.
//! * **Detected** = at least one matching incident. Warm-up attacks do not exist (none are
//!   injected before `warmup_days`).
//! * **Delay** of a detected attack = the earliest detection time over its matching
//!   incidents minus `attack.start`, floored at 0. An incident's detection time is the
//!   earliest `at` of its evidence recorded in one of the attack's sectors (any evidence if
//!   none names a sector); an incident without evidence falls back to `first_seen`.
//! * **Campaign as one incident**: a single matching incident names every sector of the
//!   campaign.
//! * **False alarms**: incidents matching no attack. Benign traps (backups, the patch day,
//!   the vulnerability scanner, ...) are not excused: an incident on one is a false alarm,
//!   and the list says which trap it fell into. An unmatched incident whose `first_seen`
//!   lies in the warm-up is counted separately (`warmup_alarms`). After the warm-up, an
//!   unmatched incident counts once for each sector it names whose day (UTC day of
//!   `first_seen`) has no attack in that sector (attack extent plus the 10 min grace);
//!   `false_alarms_per_sector_day` divides by the number of such attack-free sector-days.
//!   Unmatched incidents on sector-days that do have an attack are listed and counted in
//!   `unmatched_on_attack_days` but not in the rate (an extra incident beside a real attack
//!   is a precision problem the per-day rate cannot attribute fairly).
//! * Per-kind rows count a campaign under the kind it used; `per_intensity` splits the
//!   rate by subtle / moderate / strong.
//! * Incidents matching more than one attack are counted
//!   (`incidents_matching_several_attacks`): a detector lumping everything into a few broad
//!   incidents would otherwise score well on detection.
//! * Rates with nothing to count: detection rates are 1.0 when nothing was injected, the
//!   false-alarm rate is 0.0 when there is no attack-free sector-day.

mod emit;
mod gen;
mod net;
mod plan;
mod rng;
mod score;

use std::net::IpAddr;

use ncsoc_model::{Event, IncidentKind, Timestamp};
use serde::{Deserialize, Serialize};

use emit::{pkts, Emitter, ACK, F, FULL, RST, SYN};
use gen::{attack_minute, benign_minute, periodic};
use net::*;
use plan::{BenignPlan, Leg};
use rng::{mix, Rng};

pub use score::{matches, score, IntensityScore, KindScore, Score, MATCH_GRACE_SECS};

/// What to simulate. Everything follows from `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SimConfig {
    pub seed: u64,
    /// First instant simulated; default 2026-03-02T00:00:00Z, a Monday.
    pub start: Timestamp,
    pub days: u32,
    pub sectors: Vec<String>,
    pub hosts_per_sector: u32,
    /// Mean flows (sessions) a client opens per hour at the weekday peak.
    pub flows_per_host_per_hour: f64,
    /// No attacks in the first `warmup_days` days: the detector learns its baselines then.
    pub warmup_days: u32,
    pub attacks: bool,
    pub dns_events: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            start: Timestamp::from_civil(2026, 3, 2, 0, 0, 0, 0).unwrap_or(Timestamp(0)),
            days: 7,
            sectors: ["energy", "finance", "health", "transport", "government"]
                .map(String::from)
                .to_vec(),
            hosts_per_sector: 200,
            flows_per_host_per_hour: 60.0,
            warmup_days: 2,
            attacks: true,
            dns_events: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intensity {
    Subtle,
    Moderate,
    Strong,
}

impl Intensity {
    pub const ALL: [Intensity; 3] = [Intensity::Subtle, Intensity::Moderate, Intensity::Strong];
    pub fn as_str(self) -> &'static str {
        match self {
            Intensity::Subtle => "subtle",
            Intensity::Moderate => "moderate",
            Intensity::Strong => "strong",
        }
    }
}

/// One injected attack, with its exact extent in event time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attack {
    pub id: String,
    pub kind: IncidentKind,
    pub intensity: Intensity,
    pub sectors: Vec<String>,
    /// The source a detector should name (external scanner, brute forcer, C2 or drop
    /// server, compromised internal scanner); `None` for spoofed or reflected floods.
    pub attacker: Option<IpAddr>,
    /// The internal host hit or compromised; `None` when many are (horizontal scans).
    pub victim: Option<IpAddr>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub campaign: bool,
    pub description: String,
}

/// A benign burst that looks like an attack to a naive detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenignBurst {
    /// `backup`, `patch_day`, `vuln_scanner`, `ntp_polling`, `update_polling`,
    /// `av_dns_lookups`, `flash_crowd`.
    pub kind: String,
    pub sector: String,
    /// The internal host behind it (or, for patch day and flash crowd, the external site).
    pub host: IpAddr,
    /// The other side, when there is one fixed peer.
    pub peer: Option<IpAddr>,
    pub start: Timestamp,
    pub end: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    pub attacks: Vec<Attack>,
    pub benign: Vec<BenignBurst>,
    pub sectors: Vec<String>,
    pub start: Timestamp,
    pub days: u32,
    pub warmup_days: u32,
}

impl GroundTruth {
    /// End of the warm-up: attacks start after it, and alarms before it are not scored.
    pub fn warmup_end(&self) -> Timestamp {
        Timestamp(self.start.0 + i64::from(self.warmup_days) * DAY)
    }
}

/// The streaming generator. Construct it, read [`Simulator::truth`], then iterate.
pub struct Simulator {
    config: SimConfig,
    truth: GroundTruth,
    profiles: Vec<Profile>,
    legs: Vec<Leg>,
    benign: Vec<BenignPlan>,
    slice: i64,
    slices: i64,
    em: Emitter,
    /// Indices into `em.buf` in timestamp order, and the next one to hand out.
    order: Vec<u32>,
    pos: usize,
    emitted: u64,
}

impl Simulator {
    /// Builds the schedule. `hosts_per_sector` is capped at 24,000 and the sector list at
    /// 250 names, so every address fits the `10.S.x.y` plan.
    pub fn new(mut config: SimConfig) -> Self {
        config.hosts_per_sector = config.hosts_per_sector.clamp(1, 24_000);
        config.sectors.truncate(250);
        let (truth, legs, benign) = plan::plan(&config);
        let profiles = config.sectors.iter().map(|s| profile_for(s)).collect();
        let em = Emitter {
            buf: Vec::with_capacity(8192),
            seed: config.seed,
            sectors: config.sectors.clone(),
            source: "sim-router".into(),
            slice: 0,
            stream: 0,
            counter: 0,
            version: "netflow9".into(),
        };
        Self {
            slices: i64::from(config.days) * (DAY / MIN),
            config,
            truth,
            profiles,
            legs,
            benign,
            slice: 0,
            em,
            order: Vec::with_capacity(8192),
            pos: 0,
            emitted: 0,
        }
    }

    pub fn truth(&self) -> &GroundTruth {
        &self.truth
    }

    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Events handed out so far.
    pub fn emitted(&self) -> u64 {
        self.emitted
    }

    /// Skips ahead to the minute containing `t` without generating what lies before it.
    /// Background traffic after `t` is the same as in a full run (each minute has its own
    /// random stream); the target order of scans and tunnel sequence numbers restart.
    pub fn seek(&mut self, t: Timestamp) {
        let slice = (t.0 - self.config.start.0).div_euclid(MIN);
        if slice > self.slice {
            self.slice = slice.min(self.slices);
            self.em.buf.clear();
            self.order.clear();
            self.pos = 0;
        }
    }

    pub fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(&i) = self.order.get(self.pos) {
                self.pos += 1;
                self.emitted += 1;
                return Some(std::mem::take(&mut self.em.buf[i as usize]));
            }
            if self.slice >= self.slices {
                return None;
            }
            self.fill();
        }
    }

    /// Generates one minute of event time into the buffer and the order to hand it out in.
    fn fill(&mut self) {
        self.em.buf.clear();
        self.order.clear();
        self.pos = 0;
        let t0 = self.config.start.0 + self.slice * MIN;
        let t1 = t0 + MIN;
        self.em.slice = self.slice;
        let seed = self.config.seed;
        for s in 0..self.config.sectors.len() {
            let mut rng = Rng::new(mix(&[seed, self.slice as u64, s as u64, 1]));
            self.em.begin((s as u64) << 8 | 1);
            self.background(s, t0, &mut rng);
            self.em.begin((s as u64) << 8 | 2);
            self.polling(s, t0, t1);
        }
        for b in &self.benign {
            if b.end <= t0 || b.start >= t1 {
                continue;
            }
            // Keyed by sector and start (unique per burst), not by position in the plan, so
            // a burst's traffic does not depend on how many days are simulated.
            let key = mix(&[b.sector as u64, b.start as u64]);
            let mut rng = Rng::new(mix(&[seed, self.slice as u64, key, 2]));
            self.em.begin(1 << 62 | key >> 2);
            benign_minute(&mut self.em, b, &self.config, &self.profiles, t0, &mut rng);
        }
        for i in 0..self.legs.len() {
            let leg = &self.legs[i];
            if leg.end <= t0 || leg.start >= t1 {
                continue;
            }
            let mut rng = Rng::new(mix(&[seed, self.slice as u64, i as u64, 3]));
            self.em.begin(2 << 32 | i as u64);
            let base =
                self.config.hosts_per_sector as f64 * self.config.flows_per_host_per_hour / 60.0;
            let act = self.profiles[leg.sector].at(t0);
            attack_minute(
                &mut self.em,
                &mut self.legs[i],
                &self.config,
                base * act.max(0.3),
                t0,
                &mut rng,
            );
        }
        debug_assert!(self
            .em
            .buf
            .iter()
            .all(|e| e.timestamp.0 >= t0 && e.timestamp.0 < t1));
        // Events are large: sort their indices, not them (stable: ties keep generation order).
        let buf = &self.em.buf;
        self.order.extend(0..buf.len() as u32);
        self.order.sort_by_key(|&i| buf[i as usize].timestamp);
        self.slice += 1;
    }

    /// Ordinary client and inbound traffic of one sector for the minute starting at `t0`.
    fn background(&mut self, s: usize, t0: i64, rng: &mut Rng) {
        let cfg = &self.config;
        let hosts = cfg.hosts_per_sector.max(1);
        let act = self.profiles[s].at(t0);
        let lambda = f64::from(hosts) * cfg.flows_per_host_per_hour / 60.0 * act;
        let n = rng.poisson(lambda);
        let em = &mut self.em;
        for _ in 0..n {
            let c = client(s, rng.below(u64::from(hosts)) as u32);
            let end = t0 + rng.below(MIN as u64) as i64;
            let dur = (rng.lognormal(2.0, 1.2).min(55.0) * NS as f64) as i64;
            let sport = ephemeral(rng);
            let r = rng.f64();
            let (dst, dport, tcp, req, resp) = if r < 0.62 {
                let ext = benign_ext(rng.zipf(EXT_POOL));
                let port = if rng.chance(0.9) { 443 } else { 80 };
                let resp = rng.lognormal(20_000.0, 1.5) as u64;
                (ext, port, true, rng.range(400, 3000), resp)
            } else if r < 0.70 {
                let resp = rng.lognormal(30_000.0, 1.0) as u64;
                (server(s, WEB), 443, true, rng.range(500, 4000), resp)
            } else if r < 0.75 {
                let resp = rng.lognormal(15_000.0, 1.2) as u64;
                (server(s, MAIL), 993, true, rng.range(300, 2000), resp)
            } else if r < 0.755 {
                let resp = rng.lognormal(60_000.0, 1.0) as u64;
                (server(s, JUMP), 22, true, rng.range(3000, 40_000), resp)
            } else if r < 0.89 {
                (
                    server(s, DNS),
                    53,
                    false,
                    rng.range(60, 110),
                    rng.range(90, 400),
                )
            } else if r < 0.93 {
                let ext = benign_ext(rng.zipf(300));
                let resp = rng.lognormal(50_000.0, 1.5) as u64;
                (ext, 443, false, rng.range(1000, 5000), resp)
            } else if r < 0.995 {
                let resp = rng.lognormal(80_000.0, 1.5) as u64;
                (server(s, FILESRV), 445, true, rng.range(500, 20_000), resp)
            } else {
                // A failed connection: a dead peer or a closed port.
                let ext = benign_ext(rng.zipf(EXT_POOL));
                let refused = rng.chance(0.5);
                let f = F {
                    end,
                    dur: if refused { 1_000_000 } else { 3 * NS },
                    src: c,
                    sport,
                    dst: ext,
                    dport: 443,
                    tcp: true,
                    bytes: if refused { 60 } else { 180 },
                    packets: if refused { 1 } else { 3 },
                    flags: SYN,
                };
                if refused {
                    em.session(s, f, 40);
                    if let Some(e) = em.buf.last_mut() {
                        if let Some(fl) = e.flow.as_mut() {
                            fl.tcp_flags = Some(RST | ACK);
                        }
                    }
                } else {
                    em.flow(s, f);
                }
                continue;
            };
            let resp = resp.min(500_000_000);
            let f = F {
                end,
                dur,
                src: c,
                sport,
                dst,
                dport,
                tcp,
                bytes: req,
                packets: if tcp { pkts(req) } else { req.div_ceil(1400) },
                flags: FULL,
            };
            em.session(s, f, resp);
            if dport == 53 && rng.chance(0.3) {
                // The resolver's own lookup upstream.
                let up = F {
                    src: server(s, DNS),
                    sport: ephemeral(rng),
                    dst: benign_ext(EXT_DNS_UPSTREAM),
                    ..f
                };
                em.session(s, up, resp);
            }
        }
        // Inbound: the world visiting the web and mail servers.
        let n_in = rng.poisson(lambda * 0.12 + 0.5);
        for _ in 0..n_in {
            let end = t0 + rng.below(MIN as u64) as i64;
            let src = benign_ext(rng.below(EXT_POOL * 20) + 100);
            let (dst, dport) = if rng.chance(0.8) {
                (server(s, WEB), 443)
            } else {
                (server(s, MAIL), 25)
            };
            let req = rng.range(500, 6000);
            let f = F {
                end,
                dur: (rng.lognormal(1.5, 1.0).min(50.0) * NS as f64) as i64,
                src,
                sport: ephemeral(rng),
                dst,
                dport,
                tcp: true,
                bytes: req,
                packets: pkts(req),
                flags: FULL,
            };
            em.session(s, f, rng.lognormal(25_000.0, 1.2) as u64);
        }
        // DNS lookups, sampled.
        if cfg.dns_events {
            let n_dns = rng.poisson(lambda * 0.25);
            let sector = &cfg.sectors[s];
            for _ in 0..n_dns {
                let c = client(s, rng.below(u64::from(hosts)) as u32);
                let ts = t0 + rng.below(MIN as u64) as i64;
                let name = benign_name(rng, sector);
                em.dns(s, ts, c, server(s, DNS), name);
            }
        }
    }

    /// NTP every 1024 s from every client and update checks every 15 minutes from a fifth
    /// of them: strictly periodic, to popular destinations.
    fn polling(&mut self, s: usize, t0: i64, t1: i64) {
        let seed = self.config.seed;
        let em = &mut self.em;
        for i in 0..self.config.hosts_per_sector {
            let h = mix(&[seed, s as u64, u64::from(i), 0x47]);
            let c = client(s, i);
            let period = 1024 * NS;
            let phase = (h % 1024) as i64 * NS + (h >> 40) as i64 % NS;
            for t in periodic(t0, t1, phase, period) {
                let ntp = benign_ext(if i % 2 == 0 { EXT_NTP_A } else { EXT_NTP_B });
                let f = F {
                    end: t,
                    dur: 20_000_000,
                    src: c,
                    sport: 123,
                    dst: ntp,
                    dport: 123,
                    tcp: false,
                    bytes: 76,
                    packets: 1,
                    flags: 0,
                };
                em.session(s, f, 76);
            }
            if h.is_multiple_of(5) {
                let period = 900 * NS;
                let phase = ((h >> 12) % 900) as i64 * NS;
                for t in periodic(t0, t1, phase, period) {
                    let f = F {
                        end: t,
                        dur: 400_000_000,
                        src: c,
                        sport: 40_000 + (t / NS % 20_000) as u16,
                        dst: benign_ext(EXT_UPDATE),
                        dport: 443,
                        tcp: true,
                        bytes: 1400,
                        packets: 6,
                        flags: FULL,
                    };
                    em.session(s, f, 5200);
                }
            }
        }
    }
}

impl Iterator for Simulator {
    type Item = Event;
    fn next(&mut self) -> Option<Event> {
        self.next_event()
    }
}

#[cfg(test)]
mod tests;
