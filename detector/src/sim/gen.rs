//! The traffic of benign bursts and attack legs, one minute at a time.

use std::net::IpAddr;

use super::emit::{pkts, Emitter, ACK, F, FIN, FULL, PSH, RST, SYN};
use super::net::*;
use super::plan::{BenignGen, BenignPlan, Gen, Leg, ScanTarget};
use super::rng::{mix, Rng};
use super::SimConfig;

/// The instants `phase + k * period` in `[t0, t1)` (absolute ns since the epoch).
pub fn periodic(t0: i64, t1: i64, phase: i64, period: i64) -> impl Iterator<Item = i64> {
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
pub fn window(t0: i64, from: i64, to: i64) -> Option<(i64, i64)> {
    let a = t0.max(from);
    let b = (t0 + MIN).min(to);
    (a < b).then_some((a, b))
}

pub fn uniform_in(rng: &mut Rng, a: i64, b: i64) -> i64 {
    a + rng.below((b - a) as u64) as i64
}

pub fn benign_minute(
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
            // Indices p0..=p1 cover every probe whose instant falls in [a, z); the filter
            // keeps exactly those, so no probe is lost or doubled at minute boundaries.
            for p in p0..(p1 + 1).min(total) {
                let end = b.start + (p as i128 * span as i128 / total as i128) as i64;
                if end < a || end >= z {
                    continue;
                }
                let port = ports[(p as usize) % ports.len()];
                let addr = p as usize / ports.len();
                let third = subnets[addr / 254];
                let fourth = (addr % 254) as u8 + 1;
                if third == 1 && fourth == SCANNER {
                    continue; // its own address never crosses the router
                }
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
pub fn probe(
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

pub fn octets(ip: IpAddr) -> (u8, u8) {
    match ip {
        IpAddr::V4(v) => (v.octets()[2], v.octets()[3]),
        IpAddr::V6(_) => (0, 0),
    }
}

/// The events of one attack leg in the minute starting at `t0`. `base_rate` is the
/// sector's normal flows per minute now (at least 30 % of the peak), for volume anomalies.
pub fn attack_minute(
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
            ns,
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
                // Every name is new, so the resolver forwards each query to the attacker.
                let up = F {
                    src: server(s, DNS),
                    sport: ephemeral(rng),
                    dst: *ns,
                    ..f
                };
                em.session(s, up, len + 120);
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
