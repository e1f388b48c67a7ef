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
//! sector per hour over ten to twelve hours). Each sector keeps at least one attack-free
//! post-warm-up day (two with five post-warm-up days), where false alarms are counted.
//!
//! # Volume and speed
//!
//! The default configuration (5 sectors × 200 clients, 60 sessions per client-hour at the
//! peak, 7 days) emits about 2.3 million events per weekday (2.1 M flow records, 0.2 M DNS
//! events) and 1.3 million per weekend day, 14.5 million in all, with 46 attacks and 78
//! benign bursts. Generation runs at about 1 million events per second on one core
//! (release build, system allocator): 2.3 s per simulated weekday when the machine is
//! otherwise idle. `cargo run --release -p ncsoc-detector --example simulate` measures it,
//! writes the events as NDJSON and the truth as JSON, and scores an incident file.
//!
//! # Scoring rules
//!
//! See [`score`]: an incident matches an attack when its kind fits, it names one of the
//! attack's sectors, its `[first_seen, last_seen]` overlaps `[start, end + 10 min]`, and
//! (unless the attack is a volume anomaly) one of its entities is the attacker or victim
//! address or a /24 (or narrower) containing it.

mod net;
mod plan;
mod rng;
mod score;

use std::net::IpAddr;

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, FlowRecord, IncidentKind, Timestamp};
use serde::{Deserialize, Serialize};

use net::*;
use plan::{BenignGen, BenignPlan, Gen, Leg, ScanTarget};
use rng::{mix, Rng};

pub use score::{score, KindScore, Score, MATCH_GRACE_SECS};

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

/// Builds events into the per-minute buffer, with content ids that depend only on the
/// seed, the minute, the generating stream and a counter within it.
struct Emitter {
    buf: Vec<Event>,
    seed: u64,
    sectors: Vec<String>,
    source: String,
    slice: i64,
    stream: u64,
    counter: u64,
    version: String,
}

#[derive(Debug, Clone, Copy)]
struct F {
    end: i64,
    dur: i64,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    tcp: bool,
    bytes: u64,
    packets: u64,
    flags: u8,
}

const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const FULL: u8 = SYN | ACK | PSH | FIN;

impl Emitter {
    fn begin(&mut self, stream: u64) {
        self.stream = stream;
        self.counter = 0;
    }

    fn new_event(&mut self, s: usize, ts: i64) -> Event {
        self.counter += 1;
        let id = id_from_parts(
            Timestamp(ts),
            &[
                b"ncsoc-sim",
                &self.seed.to_le_bytes(),
                &self.slice.to_le_bytes(),
                &self.stream.to_le_bytes(),
                &self.counter.to_le_bytes(),
            ],
        );
        Event::new(
            id,
            Timestamp(ts),
            self.sectors[s].as_str(),
            self.source.as_str(),
        )
    }

    fn flow(&mut self, s: usize, f: F) {
        let mut e = self.new_event(s, f.end);
        let x = &mut e.fields;
        x.kind = Some("event".into());
        x.category = vec!["network".into()];
        x.r#type = vec!["connection".into()];
        x.module = Some("netflow".into());
        x.dataset = Some("netflow.log".into());
        x.source_ip = Some(f.src);
        x.source_port = Some(f.sport);
        x.destination_ip = Some(f.dst);
        x.destination_port = Some(f.dport);
        x.network_transport = Some(if f.tcp { "tcp" } else { "udp" }.into());
        x.network_bytes = Some(f.bytes);
        x.network_packets = Some(f.packets);
        e.flow = Some(Box::new(FlowRecord {
            exporter: Some(exporter(s)),
            observation_domain: Some(s as u32 + 1),
            version: Some(self.version.clone()),
            sampling_rate: Some(1),
            bytes_raw: Some(f.bytes),
            packets_raw: Some(f.packets),
            start: Some(Timestamp(f.end - f.dur)),
            end: Some(Timestamp(f.end)),
            tcp_flags: f.tcp.then_some(f.flags),
            ..FlowRecord::default()
        }));
        self.buf.push(e);
    }

    /// A completed exchange: the request record and the reply record.
    fn session(&mut self, s: usize, f: F, reply_bytes: u64) {
        self.flow(s, f);
        let packets = (reply_bytes / 1200).max(1) + 1;
        self.flow(
            s,
            F {
                src: f.dst,
                sport: f.dport,
                dst: f.src,
                dport: f.sport,
                bytes: reply_bytes,
                packets,
                ..f
            },
        );
    }

    fn dns(&mut self, s: usize, ts: i64, client: IpAddr, resolver: IpAddr, name: String) {
        let mut e = self.new_event(s, ts);
        let x = &mut e.fields;
        x.kind = Some("event".into());
        x.category = vec!["network".into()];
        x.r#type = vec!["protocol".into()];
        x.dataset = Some("dns".into());
        x.source_ip = Some(client);
        x.source_port = Some(((ts / 1000) % 28_000 + 32_768) as u16);
        x.destination_ip = Some(resolver);
        x.destination_port = Some(53);
        x.network_transport = Some("udp".into());
        x.network_protocol = Some("dns".into());
        x.dns_question_name = Some(name);
        self.buf.push(e);
    }
}

fn pkts(bytes: u64) -> u64 {
    bytes / 1100 + 2
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
                packets: pkts(req),
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

/// The instants `phase + k * period` in `[t0, t1)` (absolute ns since the epoch).
fn periodic(t0: i64, t1: i64, phase: i64, period: i64) -> impl Iterator<Item = i64> {
    let k0 = (t0 - phase).div_euclid(period) + 1;
    let first = phase + k0 * period;
    let first = if first - period >= t0 {
        first - period
    } else {
        first
    };
    (0..)
        .map(move |k| first + k * period)
        .take_while(move |&t| t < t1)
}

/// Random instant in `[max(t0, from), min(t0 + MIN, to))`; `None` if empty.
fn window(t0: i64, from: i64, to: i64) -> Option<(i64, i64)> {
    let a = t0.max(from);
    let b = (t0 + MIN).min(to);
    (a < b).then_some((a, b))
}

fn uniform_in(rng: &mut Rng, a: i64, b: i64) -> i64 {
    a + rng.below((b - a) as u64) as i64
}

fn benign_minute(
    em: &mut Emitter,
    b: &BenignPlan,
    cfg: &SimConfig,
    profiles: &[Profile],
    t0: i64,
    rng: &mut Rng,
) {
    let Some((a, z)) = window(t0, b.start, b.end) else {
        return;
    };
    let s = b.sector;
    let secs = (z - a) as f64 / NS as f64;
    match &b.gen {
        BenignGen::Backup { bytes_per_sec } => {
            let bytes = (bytes_per_sec * secs * (0.9 + 0.2 * rng.f64())) as u64;
            let mut flags = ACK | PSH;
            if a == b.start {
                flags |= SYN;
            }
            if z == b.end {
                flags |= FIN;
            }
            let f = F {
                end: z - 1,
                dur: z - 1 - a,
                src: server(s, FILESRV),
                sport: 50_443,
                dst: b.peer,
                dport: 443,
                tcp: true,
                bytes,
                packets: pkts(bytes),
                flags,
            };
            em.session(s, f, pkts(bytes) / 2 * 52);
        }
        BenignGen::PatchDay => {
            let n = rng.poisson(f64::from(cfg.hosts_per_sector) * 0.7 * 20.0 / 120.0 * secs / 60.0);
            for _ in 0..n {
                let c = client(s, rng.below(u64::from(cfg.hosts_per_sector)) as u32);
                let end = uniform_in(rng, a, z);
                let bytes = rng.lognormal(40_000_000.0, 0.5) as u64;
                let f = F {
                    end,
                    dur: 50 * NS,
                    src: c,
                    sport: ephemeral(rng),
                    dst: b.peer,
                    dport: 443,
                    tcp: true,
                    bytes: pkts(bytes) / 2 * 52,
                    packets: pkts(bytes) / 2,
                    flags: FULL,
                };
                em.session(s, f, bytes);
            }
        }
        BenignGen::VulnScan { ports, subnets } => {
            // Host-major sweep: every port of one address, then the next address.
            let total = (subnets.len() * 254 * ports.len()) as i64;
            let span = b.end - b.start;
            let p0 = ((a - b.start) as i128 * total as i128 / span as i128) as i64;
            let p1 = ((z - b.start) as i128 * total as i128 / span as i128) as i64;
            for p in p0..p1.min(total) {
                let end = b.start + (p as i128 * span as i128 / total as i128) as i64;
                if end < a || end >= z {
                    continue;
                }
                let port = ports[(p as usize) % ports.len()];
                let addr = p as usize / ports.len();
                let third = subnets[addr / 254];
                let fourth = (addr % 254) as u8 + 1;
                probe(
                    em,
                    s,
                    end,
                    server(s, SCANNER),
                    internal(s, third, fourth),
                    port,
                    Some((cfg.hosts_per_sector, third, fourth)),
                    rng,
                );
            }
        }
        BenignGen::AvLookups => {
            let n = rng.poisson(3.0 * profiles[s].at(t0) * secs / 60.0);
            for _ in 0..n {
                let ts = uniform_in(rng, a, z);
                let name = av_lookup_name(rng);
                em.dns(s, ts, server(s, MAIL), server(s, DNS), name);
            }
        }
        BenignGen::FlashCrowd => {
            let lambda = f64::from(cfg.hosts_per_sector) * cfg.flows_per_host_per_hour / 60.0
                * profiles[s].at(t0)
                * 0.8
                * secs
                / 60.0;
            for _ in 0..rng.poisson(lambda) {
                let c = client(s, rng.below(u64::from(cfg.hosts_per_sector)) as u32);
                let req = rng.range(400, 2000);
                let f = F {
                    end: uniform_in(rng, a, z),
                    dur: (rng.lognormal(3.0, 1.0).min(55.0) * NS as f64) as i64,
                    src: c,
                    sport: ephemeral(rng),
                    dst: b.peer,
                    dport: 443,
                    tcp: true,
                    bytes: req,
                    packets: pkts(req),
                    flags: FULL,
                };
                em.session(s, f, rng.lognormal(150_000.0, 1.0) as u64);
            }
        }
    }
}

/// One TCP SYN probe: a full exchange on an open port, SYN then `RST|ACK` on a closed
/// one, SYN alone when nothing answers. `live` is (clients, third, fourth) for internal
/// targets; `None` means the target never answers.
#[allow(clippy::too_many_arguments)]
fn probe(
    em: &mut Emitter,
    s: usize,
    end: i64,
    src: IpAddr,
    dst: IpAddr,
    port: u16,
    live: Option<(u32, u8, u8)>,
    rng: &mut Rng,
) {
    let f = F {
        end,
        dur: 1_000_000,
        src,
        sport: ephemeral(rng),
        dst,
        dport: port,
        tcp: true,
        bytes: 60,
        packets: 1,
        flags: SYN,
    };
    match live {
        Some((clients, third, fourth)) if is_live(clients, third, fourth) => {
            if is_open(third, fourth, port) {
                em.flow(
                    s,
                    F {
                        bytes: 100,
                        packets: 2,
                        flags: SYN | RST,
                        ..f
                    },
                );
                em.flow(
                    s,
                    F {
                        src: dst,
                        sport: port,
                        dst: src,
                        dport: f.sport,
                        bytes: 60,
                        packets: 1,
                        flags: SYN | ACK,
                        ..f
                    },
                );
            } else {
                em.flow(s, f);
                em.flow(
                    s,
                    F {
                        src: dst,
                        sport: port,
                        dst: src,
                        dport: f.sport,
                        bytes: 40,
                        packets: 1,
                        flags: RST | ACK,
                        ..f
                    },
                );
            }
        }
        _ => em.flow(s, f),
    }
}

fn octets(ip: IpAddr) -> (u8, u8) {
    match ip {
        IpAddr::V4(v) => (v.octets()[2], v.octets()[3]),
        IpAddr::V6(_) => (0, 0),
    }
}

/// The events of one attack leg in the minute starting at `t0`. `base_rate` is the
/// sector's normal flows per minute now (at least 30 % of the peak), for volume anomalies.
fn attack_minute(
    em: &mut Emitter,
    leg: &mut Leg,
    cfg: &SimConfig,
    base_rate: f64,
    t0: i64,
    rng: &mut Rng,
) {
    let Some((a, z)) = window(t0, leg.start, leg.end) else {
        return;
    };
    let s = leg.sector;
    let secs = (z - a) as f64 / NS as f64;
    let clients = cfg.hosts_per_sector;
    match &leg.gen {
        Gen::Scan {
            attacker,
            target,
            per_sec,
        } => {
            let n = rng.poisson(per_sec * secs);
            let mut times: Vec<i64> = (0..n).map(|_| uniform_in(rng, a, z)).collect();
            times.sort_unstable();
            for end in times {
                let p = leg.sent;
                leg.sent += 1;
                let (dst, port) = match target {
                    ScanTarget::Horizontal {
                        port,
                        third0,
                        subnets,
                    } => {
                        let third = third0 + ((p / 254) % u64::from(*subnets)) as u8;
                        (internal(s, third, (p % 254) as u8 + 1), *port)
                    }
                    ScanTarget::Vertical { host } => (*host, ((p * 7919) % 65_535 + 1) as u16),
                    ScanTarget::Slow { ports } => {
                        let c = client(s, rng.below(u64::from(clients)) as u32);
                        (c, ports[rng.below(ports.len() as u64) as usize])
                    }
                };
                let (third, fourth) = octets(dst);
                probe(
                    em,
                    s,
                    end,
                    *attacker,
                    dst,
                    port,
                    Some((clients, third, fourth)),
                    rng,
                );
            }
        }
        Gen::SynFlood {
            victim,
            port,
            per_sec,
        } => {
            for _ in 0..rng.poisson(per_sec * secs) {
                let packets = rng.range(1, 3);
                let f = F {
                    end: uniform_in(rng, a, z),
                    dur: (packets as i64 - 1) * 1_000_000_000,
                    src: spoofed(rng),
                    sport: rng.range(1024, 65_535) as u16,
                    dst: *victim,
                    dport: *port,
                    tcp: true,
                    bytes: 60 * packets,
                    packets,
                    flags: SYN,
                };
                em.flow(s, f);
            }
        }
        Gen::Reflection {
            victim,
            src_port,
            reflectors,
            per_sec,
            key,
        } => {
            for _ in 0..rng.poisson(per_sec * secs) {
                let packets = rng.range(50, 200);
                let f = F {
                    end: uniform_in(rng, a, z),
                    dur: 30 * NS,
                    src: benign_ext(1_000_000 + key * 10_000 + rng.below(*reflectors)),
                    sport: *src_port,
                    dst: *victim,
                    dport: ephemeral(rng),
                    tcp: false,
                    bytes: packets * 468,
                    packets,
                    flags: 0,
                };
                em.flow(s, f);
            }
        }
        Gen::Brute {
            attacker,
            victim,
            port,
            per_sec,
        } => {
            for _ in 0..rng.poisson(per_sec * secs) {
                let req = rng.range(1500, 3200);
                let f = F {
                    end: uniform_in(rng, a, z),
                    dur: rng.range(800, 4000) as i64 * 1_000_000,
                    src: *attacker,
                    sport: ephemeral(rng),
                    dst: *victim,
                    dport: *port,
                    tcp: true,
                    bytes: req,
                    packets: rng.range(10, 16),
                    flags: FULL,
                };
                em.session(s, f, rng.range(2500, 4200));
            }
        }
        Gen::Exfil {
            host,
            dest,
            per_sec,
            chunk,
        } => {
            for _ in 0..rng.poisson(per_sec * secs) {
                let bytes = rng.lognormal(*chunk, 0.3) as u64;
                let f = F {
                    end: uniform_in(rng, a, z),
                    dur: rng.range(5, 55) as i64 * NS,
                    src: *host,
                    sport: ephemeral(rng),
                    dst: *dest,
                    dport: 443,
                    tcp: true,
                    bytes,
                    packets: pkts(bytes),
                    flags: FULL,
                };
                em.session(s, f, pkts(bytes) / 2 * 52);
            }
        }
        Gen::Beacon {
            host,
            c2,
            period,
            jitter,
            key,
        } => {
            let k0 = ((a - leg.start) / period - 1).max(0);
            let k1 = (z - leg.start) / period + 2;
            for k in k0..k1 {
                let u = (mix(&[*key, k as u64]) >> 11) as f64 / (1u64 << 53) as f64;
                let t = leg.start + k * period + ((u - 0.5) * 2.0 * jitter * *period as f64) as i64;
                if t < a || t >= z {
                    continue;
                }
                let req = rng.range(300, 700);
                let resp = if rng.chance(0.1) {
                    rng.range(2000, 20_000)
                } else {
                    rng.range(150, 400)
                };
                let f = F {
                    end: t,
                    dur: rng.range(100, 900) as i64 * 1_000_000,
                    src: *host,
                    sport: ephemeral(rng),
                    dst: *c2,
                    dport: 443,
                    tcp: true,
                    bytes: req,
                    packets: pkts(req),
                    flags: FULL,
                };
                em.session(s, f, resp);
            }
        }
        Gen::Tunnel {
            host,
            domain,
            per_sec,
            label_len,
            labels,
        } => {
            let n = rng.poisson(per_sec * secs);
            let mut times: Vec<i64> = (0..n).map(|_| uniform_in(rng, a, z)).collect();
            times.sort_unstable();
            for t in times {
                let name = tunnel_name(rng, *label_len, *labels, leg.sent, domain);
                leg.sent += 1;
                let len = name.len() as u64;
                if cfg.dns_events {
                    em.dns(s, t, *host, server(s, DNS), name);
                }
                let f = F {
                    end: t,
                    dur: 30_000_000,
                    src: *host,
                    sport: ephemeral(rng),
                    dst: server(s, DNS),
                    dport: 53,
                    tcp: false,
                    bytes: len + 40,
                    packets: 1,
                    flags: 0,
                };
                em.session(s, f, len + 120);
            }
        }
        Gen::Worm { infected, extra } => {
            // Spam-bot outbreak: infected clients deliver mail to many external servers.
            let n = rng.poisson(base_rate * extra * secs / 60.0);
            for _ in 0..n {
                let c = client(
                    s,
                    (mix(&[leg.key, rng.below(u64::from(*infected))]) % u64::from(clients)) as u32,
                );
                let end = uniform_in(rng, a, z);
                let f = F {
                    end,
                    dur: rng.range(1, 8) as i64 * NS,
                    src: c,
                    sport: ephemeral(rng),
                    dst: spoofed(rng),
                    dport: 25,
                    tcp: true,
                    bytes: rng.range(2000, 30_000),
                    packets: rng.range(8, 30),
                    flags: FULL,
                };
                if rng.chance(0.7) {
                    em.session(s, f, rng.range(600, 1500));
                } else {
                    em.flow(
                        s,
                        F {
                            bytes: 60,
                            packets: 1,
                            flags: SYN,
                            ..f
                        },
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
