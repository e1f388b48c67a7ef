//! The schedule: benign traps and injected attacks, drawn once at construction from the
//! seed, so the ground truth is known before the first event.

use std::net::IpAddr;

use ncsoc_model::{IncidentKind, Timestamp};

use super::net::*;
use super::rng::{mix, Rng};
use super::{Attack, BenignBurst, GroundTruth, Intensity, SimConfig};

pub enum ScanTarget {
    /// One port across consecutive addresses of `subnets` /24s from `10.S.third0.0`.
    Horizontal { port: u16, third0: u8, subnets: u8 },
    /// Many ports on one host.
    Vertical { host: IpAddr },
    /// A random client and one of `ports` per probe (low and slow).
    Slow { ports: Vec<u16> },
}

pub enum Gen {
    Scan {
        attacker: IpAddr,
        target: ScanTarget,
        per_sec: f64,
    },
    SynFlood {
        victim: IpAddr,
        port: u16,
        per_sec: f64,
    },
    Reflection {
        victim: IpAddr,
        src_port: u16,
        reflectors: u64,
        per_sec: f64,
        key: u64,
    },
    Brute {
        attacker: IpAddr,
        victim: IpAddr,
        port: u16,
        per_sec: f64,
    },
    Exfil {
        host: IpAddr,
        dest: IpAddr,
        per_sec: f64,
        chunk: f64,
    },
    Beacon {
        host: IpAddr,
        c2: IpAddr,
        period: i64,
        jitter: f64,
        key: u64,
    },
    Tunnel {
        host: IpAddr,
        /// The attacker's authoritative name server, which the resolver forwards to.
        ns: IpAddr,
        domain: String,
        per_sec: f64,
        label_len: usize,
        labels: usize,
    },
    Worm {
        infected: u32,
        extra: f64,
    },
}

/// One attack in one sector (a campaign has one leg per sector).
pub struct Leg {
    pub sector: usize,
    pub start: i64,
    pub end: i64,
    pub gen: Gen,
    /// Probes or queries sent so far (scan target order, tunnel sequence numbers).
    pub sent: u64,
    pub key: u64,
}

pub enum BenignGen {
    Backup { bytes_per_sec: f64 },
    PatchDay,
    VulnScan { ports: Vec<u16>, subnets: Vec<u8> },
    AvLookups,
    FlashCrowd,
}

pub struct BenignPlan {
    pub sector: usize,
    pub start: i64,
    pub end: i64,
    pub peer: IpAddr,
    pub gen: BenignGen,
}

const SCANNER_PORTS: &[u16] = &[
    21, 22, 23, 25, 53, 80, 110, 135, 139, 143, 161, 389, 443, 445, 993, 1433, 1521, 3306, 3389,
    5432, 5900, 8080, 8443, 9100,
];

/// Post-warm-up day indices (0-based from the end of the warm-up) on which sector `s`
/// gets no attack: two per sector from four post-warm-up days on, one with two or three,
/// and with a single post-warm-up day every other sector stays quiet.
pub fn free_days(s: usize, post_days: usize) -> Vec<usize> {
    if post_days == 0 {
        return Vec::new();
    }
    if post_days == 1 {
        return if s.is_multiple_of(2) {
            vec![0]
        } else {
            Vec::new()
        };
    }
    let mut v = vec![s % post_days];
    if post_days >= 4 {
        let b = (s + 3) % post_days;
        if b != v[0] {
            v.push(b);
        }
    }
    v
}

struct Busy {
    sector: usize,
    start: i64,
    end: i64,
    kind: IncidentKind,
}

fn conflicts(busy: &[Busy], sector: usize, start: i64, end: i64, kind: IncidentKind) -> bool {
    let margin = 15 * MIN;
    busy.iter().any(|b| {
        b.sector == sector
            && start < b.end + margin
            && b.start < end + margin
            && (b.kind == kind
                || matches!(b.kind, IncidentKind::Ddos | IncidentKind::VolumeAnomaly)
                || matches!(kind, IncidentKind::Ddos | IncidentKind::VolumeAnomaly))
    })
}

fn secs(rng: &mut Rng, lo: i64, hi: i64) -> i64 {
    rng.range((lo / NS) as u64, (hi / NS).max(lo / NS) as u64) as i64 * NS
}

pub fn plan(cfg: &SimConfig) -> (GroundTruth, Vec<Leg>, Vec<BenignPlan>) {
    let mut rng = Rng::new(mix(&[cfg.seed, 0x91a7]));
    let n = cfg.sectors.len();
    let start = cfg.start.0;
    let days = cfg.days as usize;
    let warm = (cfg.warmup_days as usize).min(days);
    let post = days - warm;
    let hosts = cfg.hosts_per_sector.max(1);
    let day0 = |d: usize| start + d as i64 * DAY;
    let end_all = day0(days);

    let mut benign = Vec::new();
    for s in 0..n {
        // Nightly off-site backup, same time each night.
        let off = 2 * HOUR + s as i64 * 7 * MIN;
        let dur = 45 * MIN + (mix(&[cfg.seed, s as u64, 0xb4]) % 30) as i64 * MIN;
        let peer = benign_ext(900_000 + s as u64);
        for d in 0..days {
            // Drawn per night from its own stream: the same nights whatever `days` is.
            let mut night = Rng::new(mix(&[cfg.seed, s as u64, d as u64, 0xb4c]));
            let t = day0(d) + off + secs(&mut night, 0, 120 * NS);
            benign.push(BenignPlan {
                sector: s,
                start: t,
                end: t + dur,
                peer,
                gen: BenignGen::Backup {
                    bytes_per_sec: 20e9 / 3600.0 * (0.8 + 0.4 * night.f64()),
                },
            });
        }
        // Internal vulnerability scanner, nightly, in every other sector.
        if s % 2 == 0 {
            let mut subnets = vec![1u8];
            subnets.extend((0..hosts.div_ceil(100).min(3)).map(|i| CLIENT_THIRD + i as u8));
            for d in 0..days {
                let t = day0(d) + HOUR + s as i64 * 5 * MIN;
                benign.push(BenignPlan {
                    sector: s,
                    start: t,
                    end: t + 40 * MIN,
                    peer: server(s, SCANNER),
                    gen: BenignGen::VulnScan {
                        ports: SCANNER_PORTS.to_vec(),
                        subnets: subnets.clone(),
                    },
                });
            }
        }
        if cfg.dns_events {
            benign.push(BenignPlan {
                sector: s,
                start,
                end: end_all,
                peer: server(s, DNS),
                gen: BenignGen::AvLookups,
            });
        }
        // Patch day and flash crowd on the sector's attack-free days.
        let free = free_days(s, post);
        let is_weekday = |d: usize| weekday(day0(warm + d)) < 5;
        let patch = free
            .iter()
            .copied()
            .find(|&d| is_weekday(d))
            .or(free.first().copied());
        if let Some(d) = patch {
            let t = day0(warm + d) + 10 * HOUR;
            benign.push(BenignPlan {
                sector: s,
                start: t,
                end: t + 2 * HOUR,
                peer: benign_ext(EXT_UPDATE),
                gen: BenignGen::PatchDay,
            });
        }
        if s % 2 == 1 {
            if let Some(d) = free.iter().copied().find(|&d| Some(d) != patch) {
                let hour = if is_weekday(d) { 12 } else { 20 };
                let t = day0(warm + d) + hour * HOUR;
                benign.push(BenignPlan {
                    sector: s,
                    start: t,
                    end: t + HOUR,
                    peer: benign_ext(EXT_NEWS),
                    gen: BenignGen::FlashCrowd,
                });
            }
        }
    }

    let mut truth_benign: Vec<BenignBurst> = benign
        .iter()
        .map(|b| {
            let (kind, host, peer) = match b.gen {
                BenignGen::Backup { .. } => ("backup", server(b.sector, FILESRV), Some(b.peer)),
                BenignGen::PatchDay => ("patch_day", b.peer, None),
                BenignGen::VulnScan { .. } => ("vuln_scanner", b.peer, None),
                BenignGen::AvLookups => ("av_dns_lookups", server(b.sector, MAIL), Some(b.peer)),
                BenignGen::FlashCrowd => ("flash_crowd", b.peer, None),
            };
            BenignBurst {
                kind: kind.into(),
                sector: cfg.sectors[b.sector].clone(),
                host,
                peer,
                start: Timestamp(b.start),
                end: Timestamp(b.end),
            }
        })
        .collect();
    for name in &cfg.sectors {
        truth_benign.push(BenignBurst {
            kind: "ntp_polling".into(),
            sector: name.clone(),
            host: benign_ext(EXT_NTP_A),
            peer: Some(benign_ext(EXT_NTP_B)),
            start: Timestamp(start),
            end: Timestamp(end_all),
        });
        truth_benign.push(BenignBurst {
            kind: "update_polling".into(),
            sector: name.clone(),
            host: benign_ext(EXT_UPDATE),
            peer: None,
            start: Timestamp(start),
            end: Timestamp(end_all),
        });
    }
    truth_benign.sort_by_key(|b| (b.start, b.sector.clone()));

    let mut attacks = Vec::new();
    let mut legs = Vec::new();
    if cfg.attacks && post > 0 && n > 0 {
        schedule_attacks(cfg, &mut rng, warm, post, &mut attacks, &mut legs);
    }
    attacks.sort_by(|a: &Attack, b: &Attack| a.start.cmp(&b.start).then(a.id.cmp(&b.id)));
    for (i, a) in attacks.iter_mut().enumerate() {
        a.id = format!("A{:02}-{}", i + 1, a.id);
    }

    let truth = GroundTruth {
        attacks,
        benign: truth_benign,
        sectors: cfg.sectors.clone(),
        start: cfg.start,
        days: cfg.days,
        warmup_days: warm as u32,
    };
    (truth, legs, benign)
}

#[allow(clippy::too_many_arguments)]
fn attack(
    id: String,
    kind: IncidentKind,
    intensity: Intensity,
    sectors: Vec<String>,
    attacker: Option<IpAddr>,
    victim: Option<IpAddr>,
    (start, end): (i64, i64),
    campaign: bool,
    description: String,
) -> Attack {
    Attack {
        id,
        kind,
        intensity,
        sectors,
        attacker,
        victim,
        start: Timestamp(start),
        end: Timestamp(end),
        campaign,
        description,
    }
}

fn schedule_attacks(
    cfg: &SimConfig,
    rng: &mut Rng,
    warm: usize,
    post: usize,
    attacks: &mut Vec<Attack>,
    legs: &mut Vec<Leg>,
) {
    let n = cfg.sectors.len();
    let hosts = cfg.hosts_per_sector.max(1);
    let day0 = |d: usize| cfg.start.0 + (warm + d) as i64 * DAY;
    let attackable = |d: usize| -> Vec<usize> {
        (0..n)
            .filter(|&s| !free_days(s, post).contains(&d))
            .collect()
    };
    let mut busy: Vec<Busy> = Vec::new();
    let mut hostile = 0u64;
    let mut next_hostile = || {
        hostile += 1;
        hostile_ext(cfg.seed, hostile)
    };
    let mut key = mix(&[cfg.seed, 0x6e7]);
    let mut next_key = || {
        key = mix(&[key]);
        key
    };

    // Campaigns: the same attacker across three sectors.
    let specs = [
        (IncidentKind::PortScan, Intensity::Moderate, false),
        (IncidentKind::BruteForce, Intensity::Strong, false),
        (IncidentKind::PortScan, Intensity::Subtle, true),
        (IncidentKind::BruteForce, Intensity::Subtle, true),
    ];
    for (c, &(kind, intensity, slow)) in specs.iter().enumerate() {
        let d = (c * 2 + 1) % post;
        let mut secs_ = attackable(d);
        secs_.truncate(3);
        if secs_.len() < 2 {
            continue;
        }
        let attacker = next_hostile();
        let names: Vec<String> = secs_.iter().map(|&s| cfg.sectors[s].clone()).collect();
        let (span, gap, leg_len) = if slow {
            let span = if kind == IncidentKind::PortScan {
                12 * HOUR
            } else {
                10 * HOUR
            };
            (span, 0, span)
        } else {
            let leg_len = if kind == IncidentKind::PortScan {
                10 * MIN
            } else {
                8 * MIN
            };
            (
                (secs_.len() as i64 - 1) * 20 * MIN + leg_len,
                20 * MIN,
                leg_len,
            )
        };
        let t = day0(d) + secs(rng, 30 * MIN, DAY - span - 30 * MIN);
        for (i, &s) in secs_.iter().enumerate() {
            let ls = t + i as i64 * gap;
            let gen = match (kind, slow) {
                (IncidentKind::PortScan, false) => Gen::Scan {
                    attacker,
                    target: ScanTarget::Horizontal {
                        port: 3389,
                        third0: CLIENT_THIRD,
                        subnets: 2,
                    },
                    per_sec: 1.0,
                },
                (IncidentKind::PortScan, true) => Gen::Scan {
                    attacker,
                    target: ScanTarget::Slow {
                        ports: vec![22, 23, 445, 3389],
                    },
                    per_sec: 3.0 / 3600.0,
                },
                (_, false) => Gen::Brute {
                    attacker,
                    victim: server(s, JUMP),
                    port: 22,
                    per_sec: 3.0,
                },
                (_, true) => Gen::Brute {
                    attacker,
                    victim: server(s, JUMP),
                    port: 22,
                    per_sec: 4.0 / 3600.0,
                },
            };
            legs.push(Leg {
                sector: s,
                start: ls,
                end: ls + leg_len,
                gen,
                sent: 0,
                key: next_key(),
            });
            busy.push(Busy {
                sector: s,
                start: ls,
                end: ls + leg_len,
                kind,
            });
        }
        let desc = match (kind, slow) {
            (IncidentKind::PortScan, false) => format!(
                "campaign: {attacker} sweeps tcp/3389 over two client /24s of each of {}, one sector every 20 min, ~1 probe/s",
                names.join(", ")
            ),
            (IncidentKind::PortScan, true) => format!(
                "low-and-slow campaign: {attacker} probes ~3 random hosts per hour per sector on 22/23/445/3389 in {} for 12 h",
                names.join(", ")
            ),
            (_, false) => format!(
                "campaign: {attacker} brute-forces the ssh jump hosts of {} (~3 logins/s for 8 min each, 20 min apart)",
                names.join(", ")
            ),
            (_, true) => format!(
                "low-and-slow campaign: {attacker} tries ~4 ssh logins per hour per sector on the jump hosts of {} for 10 h",
                names.join(", ")
            ),
        };
        let end = t + (secs_.len() as i64 - 1) * gap + leg_len;
        attacks.push(attack(
            format!("{kind}-campaign"),
            kind,
            intensity,
            names,
            Some(attacker),
            None,
            (t, end),
            true,
            desc,
        ));
    }

    // Single-sector attacks: every kind, every intensity, two variants.
    let mut kinds = vec![
        IncidentKind::PortScan,
        IncidentKind::Ddos,
        IncidentKind::BruteForce,
        IncidentKind::Exfiltration,
        IncidentKind::Beaconing,
    ];
    if cfg.dns_events {
        kinds.push(IncidentKind::DnsTunnel);
    }
    kinds.push(IncidentKind::VolumeAnomaly);
    let mut slots: Vec<(usize, usize)> = (0..post)
        .flat_map(|d| attackable(d).into_iter().map(move |s| (d, s)))
        .collect();
    if slots.is_empty() {
        return;
    }
    for i in (1..slots.len()).rev() {
        slots.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut j = 0usize;
    for &kind in &kinds {
        for v in 0..2u8 {
            for intensity in Intensity::ALL {
                let dur = duration(kind, intensity, v);
                // The first slot (from a rotating position) where a start without clashes exists.
                let mut placed = None;
                'slots: for k in 0..slots.len() {
                    let (d, s) = slots[(j + k) % slots.len()];
                    for _ in 0..60 {
                        let t = day0(d) + secs(rng, 5 * MIN, DAY - dur - 15 * MIN);
                        if !conflicts(&busy, s, t, t + dur, kind) {
                            placed = Some((d, s, t));
                            break 'slots;
                        }
                    }
                }
                j += 1;
                let Some((_, s, t)) = placed else { continue };
                let client_i = |r: &mut Rng| client(s, r.below(u64::from(hosts)) as u32);
                let sector = cfg.sectors[s].clone();
                let ix = intensity as usize;
                let (gen, attacker, victim, desc) = match (kind, v) {
                    (IncidentKind::PortScan, 0) => {
                        let a = next_hostile();
                        let (port, rate, subnets) =
                            [(23, 1.0 / 30.0, 1), (445, 1.0, 4), (3389, 20.0, 14)][ix];
                        (
                            Gen::Scan { attacker: a, target: ScanTarget::Horizontal { port, third0: CLIENT_THIRD, subnets }, per_sec: rate },
                            Some(a),
                            None,
                            format!("horizontal scan: {a} probes tcp/{port} across {subnets} /24(s) of {sector} at {rate:.3}/s"),
                        )
                    }
                    (IncidentKind::PortScan, _) => {
                        let victim = if intensity == Intensity::Strong {
                            server(s, WEB)
                        } else {
                            client_i(rng)
                        };
                        let a = if intensity == Intensity::Moderate {
                            let mut a = client_i(rng);
                            while a == victim {
                                a = client_i(rng);
                            }
                            a
                        } else {
                            next_hostile()
                        };
                        let rate = [1.0 / 30.0, 1.0, 20.0][ix];
                        (
                            Gen::Scan { attacker: a, target: ScanTarget::Vertical { host: victim }, per_sec: rate },
                            Some(a),
                            Some(victim),
                            format!("vertical scan: {a} probes many ports of {victim} in {sector} at {rate:.3}/s"),
                        )
                    }
                    (IncidentKind::Ddos, 0) => {
                        let victim = server(s, WEB);
                        let rate = [5.0, 80.0, 400.0][ix];
                        (
                            Gen::SynFlood { victim, port: 443, per_sec: rate },
                            None,
                            Some(victim),
                            format!("SYN flood from spoofed sources on {victim}:443 in {sector}, {rate} flows/s"),
                        )
                    }
                    (IncidentKind::Ddos, _) => {
                        let victim = server(s, MAIL);
                        let (src_port, rate, reflectors) =
                            [(123, 10.0, 60), (389, 60.0, 500), (53, 300.0, 2000)][ix];
                        (
                            Gen::Reflection { victim, src_port, reflectors, per_sec: rate, key: next_key() % 1000 },
                            None,
                            Some(victim),
                            format!("udp/{src_port} reflection flood from {reflectors} reflectors on {victim} in {sector}, {rate} flows/s"),
                        )
                    }
                    (IncidentKind::BruteForce, _) => {
                        let (port, host) = match (v, intensity) {
                            (0, _) => (22, JUMP),
                            (_, Intensity::Subtle) => (21, FTP),
                            _ => (3389, RDP_GW),
                        };
                        let a = next_hostile();
                        let victim = server(s, host);
                        let rate = [1.0 / 60.0, 0.5, 5.0][ix];
                        (
                            Gen::Brute { attacker: a, victim, port, per_sec: rate },
                            Some(a),
                            Some(victim),
                            format!("brute force: {a} opens short sessions to {victim}:{port} in {sector} at {rate:.3}/s"),
                        )
                    }
                    (IncidentKind::Exfiltration, _) => {
                        let host = if v == 1 && intensity == Intensity::Strong {
                            server(s, FILESRV)
                        } else {
                            client_i(rng)
                        };
                        let dest = next_hostile();
                        let (rate, chunk) =
                            [(1.0 / 180.0, 3e6), (1.0 / 60.0, 10e6), (1.0 / 30.0, 50e6)][ix];
                        let total = rate * chunk * (dur / NS) as f64 / 1e6;
                        (
                            Gen::Exfil { host, dest, per_sec: rate, chunk },
                            Some(dest),
                            Some(host),
                            format!("exfiltration: {host} in {sector} uploads ~{total:.0} MB to never-seen {dest}:443"),
                        )
                    }
                    (IncidentKind::Beaconing, _) => {
                        let host = client_i(rng);
                        let c2 = next_hostile();
                        let (period, jitter) = [(600, 0.25), (120, 0.10), (30, 0.02)][ix];
                        (
                            Gen::Beacon { host, c2, period: period * NS, jitter, key: next_key() },
                            Some(c2),
                            Some(host),
                            format!("beaconing: {host} in {sector} calls {c2}:443 every {period} s ±{:.0} %", jitter * 100.0),
                        )
                    }
                    (IncidentKind::DnsTunnel, _) => {
                        let host = client_i(rng);
                        let ns = next_hostile();
                        let domain = format!(
                            "{}{}.{}",
                            ["cdn-sync", "telemetry-up", "img-cache", "stat-collect"]
                                [(j + v as usize) % 4],
                            j,
                            ["net", "info", "org", "com"][ix]
                        );
                        let (rate, len, labels) =
                            [(1.0 / 20.0, 30, 1), (1.0, 50, 1), (10.0, 60, 2)][ix];
                        (
                            Gen::Tunnel { host, ns, domain: domain.clone(), per_sec: rate, label_len: len, labels },
                            None,
                            Some(host),
                            format!("dns tunnel: {host} in {sector} queries {labels}x{len}-char subdomains of {domain} (name server {ns}) at {rate:.3}/s"),
                        )
                    }
                    _ => {
                        let (infected, extra) = [(6, 0.8), (15, 2.0), (30, 5.0)][ix];
                        (
                            Gen::Worm { infected, extra },
                            None,
                            None,
                            format!("volume anomaly: spam-bot outbreak on {infected} hosts of {sector} adds {:.0} % flows (smtp to many external servers)", extra * 100.0),
                        )
                    }
                };
                legs.push(Leg {
                    sector: s,
                    start: t,
                    end: t + dur,
                    gen,
                    sent: 0,
                    key: next_key(),
                });
                busy.push(Busy {
                    sector: s,
                    start: t,
                    end: t + dur,
                    kind,
                });
                attacks.push(attack(
                    format!("{kind}-{}", intensity.as_str()),
                    kind,
                    intensity,
                    vec![sector],
                    attacker,
                    victim,
                    (t, t + dur),
                    false,
                    desc,
                ));
            }
        }
    }
}

/// How long an attack of this kind and intensity lasts.
fn duration(kind: IncidentKind, intensity: Intensity, variant: u8) -> i64 {
    let ix = intensity as usize;
    match kind {
        IncidentKind::PortScan => [2 * HOUR, 15 * MIN, 3 * MIN][ix],
        IncidentKind::Ddos if variant == 0 => [20 * MIN, 10 * MIN, 8 * MIN][ix],
        IncidentKind::Ddos => [15 * MIN, 10 * MIN, 6 * MIN][ix],
        IncidentKind::BruteForce => [3 * HOUR, 20 * MIN, 5 * MIN][ix],
        IncidentKind::Exfiltration => [6 * HOUR, 2 * HOUR, 30 * MIN][ix],
        IncidentKind::Beaconing => [10 * HOUR, 6 * HOUR, 3 * HOUR][ix],
        IncidentKind::DnsTunnel => [3 * HOUR, 45 * MIN, 15 * MIN][ix],
        _ => [HOUR, 45 * MIN, 30 * MIN][ix],
    }
}
