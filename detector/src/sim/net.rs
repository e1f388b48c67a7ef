//! The simulated address plan, activity curves and names.

use std::net::{IpAddr, Ipv4Addr};

use super::rng::{mix, Rng};

pub const NS: i64 = 1_000_000_000;
pub const MIN: i64 = 60 * NS;
pub const HOUR: i64 = 60 * MIN;
pub const DAY: i64 = 24 * HOUR;

/// Last octets of the servers in each sector's `10.S.1.0/24`.
pub const WEB: u8 = 10;
pub const FTP: u8 = 21;
pub const JUMP: u8 = 22;
pub const MAIL: u8 = 25;
pub const RDP_GW: u8 = 33;
pub const DNS: u8 = 53;
pub const SCANNER: u8 = 99;
pub const FILESRV: u8 = 120;
pub const SERVERS: &[u8] = &[WEB, FTP, JUMP, MAIL, RDP_GW, DNS, SCANNER, FILESRV];

/// Clients live in `10.S.10.0/24` upwards, 100 to a /24, from `.10`.
pub const CLIENT_THIRD: u8 = 10;

/// Size of the benign external address pool contacted with Zipf popularity.
pub const EXT_POOL: u64 = 50_000;
pub const EXT_UPDATE: u64 = 2;
pub const EXT_DNS_UPSTREAM: u64 = 3;
pub const EXT_NTP_A: u64 = 5;
pub const EXT_NTP_B: u64 = 6;
pub const EXT_NEWS: u64 = 40;

/// First octets of the benign pool and of the hostile pool; disjoint, so an attacker's
/// address is never one of the peers the sectors talk to normally.
const BENIGN_FIRST: &[u8] = &[
    13, 20, 23, 34, 35, 40, 52, 54, 64, 72, 88, 104, 142, 151, 152, 157, 199, 204, 208, 216,
];
const HOSTILE_FIRST: &[u8] = &[5, 37, 45, 46, 77, 91, 109, 176, 185, 193, 194, 195];

pub fn internal(sector: usize, third: u8, fourth: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, sector as u8 + 1, third, fourth))
}

pub fn server(sector: usize, which: u8) -> IpAddr {
    internal(sector, 1, which)
}

pub fn exporter(sector: usize) -> IpAddr {
    internal(sector, 0, 1)
}

pub fn client(sector: usize, i: u32) -> IpAddr {
    internal(sector, CLIENT_THIRD + (i / 100) as u8, 10 + (i % 100) as u8)
}

/// Whether `10.S.third.fourth` is a host that answers.
pub fn is_live(clients: u32, third: u8, fourth: u8) -> bool {
    if third == 1 {
        return SERVERS.contains(&fourth);
    }
    if third < CLIENT_THIRD || !(10..110).contains(&fourth) {
        return false;
    }
    u32::from(third - CLIENT_THIRD) * 100 + u32::from(fourth - 10) < clients
}

/// Whether a live host listens on `port`.
pub fn is_open(third: u8, fourth: u8, port: u16) -> bool {
    if third == 1 {
        return matches!(
            (fourth, port),
            (WEB, 80 | 443)
                | (FTP, 21)
                | (JUMP, 22)
                | (MAIL, 25 | 587 | 993)
                | (RDP_GW, 3389 | 443)
                | (DNS, 53)
                | (FILESRV, 139 | 445)
                | (SCANNER, 22)
        );
    }
    matches!(port, 135 | 139 | 445) || (port == 3389 && fourth % 10 == 3)
}

fn public(first: &[u8], h: u64) -> IpAddr {
    let a = first[(h % first.len() as u64) as usize];
    IpAddr::V4(Ipv4Addr::new(
        a,
        (h >> 16) as u8,
        (h >> 24) as u8,
        1 + ((h >> 32) % 254) as u8,
    ))
}

/// The `i`-th address of the benign external pool (also used for reflectors, backup
/// providers: any index).
pub fn benign_ext(i: u64) -> IpAddr {
    public(BENIGN_FIRST, mix(&[0xbe_9e, i]))
}

/// A hostile address nobody in the sectors contacts in normal operation.
pub fn hostile_ext(seed: u64, i: u64) -> IpAddr {
    public(HOSTILE_FIRST, mix(&[0x0bad_u64, seed, i]))
}

/// Any routable-looking public IPv4 address (spoofed flood sources).
pub fn spoofed(rng: &mut Rng) -> IpAddr {
    loop {
        let a = rng.range(1, 223) as u8;
        if matches!(a, 10 | 100 | 127 | 169 | 172 | 192) {
            continue;
        }
        let h = rng.next_u64();
        return IpAddr::V4(Ipv4Addr::new(a, h as u8, (h >> 8) as u8, (h >> 16) as u8));
    }
}

pub fn ephemeral(rng: &mut Rng) -> u16 {
    rng.range(32_768, 60_999) as u16
}

/// Weekday of a UTC instant, Monday = 0.
pub fn weekday(t: i64) -> u32 {
    (t.div_euclid(DAY) + 3).rem_euclid(7) as u32
}

/// How busy a sector is over the day and week, relative to its weekday peak.
#[derive(Debug, Clone, Copy)]
pub struct Profile {
    pub hourly: [f64; 24],
    pub weekend: f64,
}

const OFFICE: Profile = Profile {
    hourly: [
        0.06, 0.05, 0.05, 0.05, 0.05, 0.07, 0.12, 0.30, 0.70, 0.95, 1.0, 1.0, 0.85, 0.95, 1.0,
        0.95, 0.80, 0.55, 0.30, 0.20, 0.15, 0.12, 0.09, 0.07,
    ],
    weekend: 0.18,
};
const GOVERNMENT: Profile = Profile {
    weekend: 0.12,
    ..OFFICE
};
const ENERGY: Profile = Profile {
    hourly: [
        0.20, 0.18, 0.18, 0.18, 0.20, 0.25, 0.40, 0.65, 0.90, 1.0, 1.0, 1.0, 0.90, 0.95, 1.0, 0.95,
        0.85, 0.65, 0.45, 0.35, 0.30, 0.26, 0.23, 0.21,
    ],
    weekend: 0.45,
};
const HEALTH: Profile = Profile {
    hourly: [
        0.45, 0.42, 0.40, 0.40, 0.42, 0.50, 0.65, 0.85, 0.95, 1.0, 1.0, 0.98, 0.95, 0.97, 1.0,
        0.95, 0.90, 0.80, 0.70, 0.62, 0.58, 0.54, 0.50, 0.47,
    ],
    weekend: 0.80,
};
const TRANSPORT: Profile = Profile {
    hourly: [
        0.12, 0.10, 0.10, 0.12, 0.25, 0.55, 0.90, 1.0, 0.95, 0.75, 0.70, 0.70, 0.70, 0.70, 0.72,
        0.80, 0.95, 1.0, 0.90, 0.60, 0.40, 0.30, 0.20, 0.15,
    ],
    weekend: 0.55,
};

pub fn profile_for(sector: &str) -> Profile {
    match sector {
        "health" => HEALTH,
        "transport" => TRANSPORT,
        "energy" => ENERGY,
        "government" => GOVERNMENT,
        _ => OFFICE,
    }
}

impl Profile {
    /// Activity in (0, 1] at instant `t` (UTC stands for local time), interpolated per
    /// minute between the hourly points.
    pub fn at(&self, t: i64) -> f64 {
        let sod = t.rem_euclid(DAY) as f64 / HOUR as f64;
        let h = sod.floor() as usize % 24;
        let frac = sod - sod.floor();
        let v = self.hourly[h] * (1.0 - frac) + self.hourly[(h + 1) % 24] * frac;
        if weekday(t) >= 5 {
            v * self.weekend
        } else {
            v
        }
    }
}

const PREFIXES: &[&str] = &[
    "www", "api", "cdn", "static", "login", "mail", "img", "update", "portal", "assets", "auth",
    "edge",
];
const DOMAINS: &[&str] = &[
    "microsoft.com",
    "windowsupdate.com",
    "google.com",
    "gstatic.com",
    "office.com",
    "office365.com",
    "apple.com",
    "icloud.com",
    "amazonaws.com",
    "cloudflare.com",
    "akamaiedge.net",
    "linkedin.com",
    "github.com",
    "ubuntu.com",
    "debian.org",
    "wikipedia.org",
    "bbc.co.uk",
    "reuters.com",
    "zoom.us",
    "slack.com",
    "salesforce.com",
    "sap.com",
    "oracle.com",
    "adobe.com",
    "dropbox.com",
    "youtube.com",
    "facebook.com",
    "whatsapp.net",
    "yahoo.com",
    "bing.com",
    "msn.com",
    "digicert.com",
    "letsencrypt.org",
    "sentry.io",
    "datadoghq.com",
    "okta.com",
    "service-now.com",
    "atlassian.net",
    "vmware.com",
    "cisco.com",
    "europa.eu",
    "gov.uk",
    "nhs.uk",
    "ecb.europa.eu",
    "cloudfront.net",
    "azureedge.net",
    "googleapis.com",
    "mozilla.org",
    "python.org",
    "stackoverflow.com",
];

const B32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
const HEX: &[u8] = b"0123456789abcdef";

fn push_random(out: &mut String, rng: &mut Rng, alphabet: &[u8], len: usize) {
    for _ in 0..len {
        out.push(alphabet[rng.below(alphabet.len() as u64) as usize] as char);
    }
}

/// A benign lookup: popular names mostly, some hashed CDN names (high entropy but benign),
/// some internal names.
pub fn benign_name(rng: &mut Rng, sector: &str) -> String {
    let r = rng.f64();
    let domain = DOMAINS[rng.zipf(DOMAINS.len() as u64) as usize];
    if r < 0.04 {
        let mut s = String::with_capacity(40);
        push_random(&mut s, rng, HEX, 12);
        s.push('.');
        s.push_str(if rng.chance(0.5) {
            "cloudfront.net"
        } else {
            "akamaiedge.net"
        });
        s
    } else if r < 0.12 {
        let host = ["intranet", "mail", "fileshare", "hr", "wiki", "vpn"][rng.below(6) as usize];
        format!("{host}.{sector}.gov.example")
    } else if r < 0.65 {
        format!(
            "{}.{domain}",
            PREFIXES[rng.below(PREFIXES.len() as u64) as usize]
        )
    } else {
        domain.to_string()
    }
}

/// An anti-virus cloud reputation lookup: a 32-hex-digit hash label (benign, looks like
/// tunnelling to a naive entropy check).
pub fn av_lookup_name(rng: &mut Rng) -> String {
    let mut s = String::with_capacity(56);
    push_random(&mut s, rng, HEX, 32);
    s.push_str(".avqs.mcafee.com");
    s
}

/// A tunnelled query: `labels` labels of `len` base32 characters, a sequence label, and
/// the attacker's domain.
pub fn tunnel_name(rng: &mut Rng, len: usize, labels: usize, seq: u64, domain: &str) -> String {
    let mut s = String::with_capacity(labels * (len + 1) + domain.len() + 8);
    for _ in 0..labels {
        push_random(&mut s, rng, B32, len);
        s.push('.');
    }
    s.push_str(&format!("{seq:x}."));
    s.push_str(domain);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_plan() {
        assert_eq!(client(0, 0).to_string(), "10.1.10.10");
        assert_eq!(client(2, 199).to_string(), "10.3.11.109");
        assert!(is_live(200, 11, 109));
        assert!(!is_live(200, 12, 10));
        assert!(is_live(200, 1, WEB));
        assert!(!is_live(200, 1, 11));
        for i in 0..1000 {
            let b = benign_ext(i);
            let h = hostile_ext(1, i);
            let (IpAddr::V4(b), IpAddr::V4(h)) = (b, h) else {
                unreachable!()
            };
            assert!(!b.is_private() && !h.is_private());
            assert_ne!(b.octets()[0], h.octets()[0]);
        }
        // 2026-03-02 is a Monday.
        let monday = ncsoc_model::Timestamp::from_civil(2026, 3, 2, 12, 0, 0, 0).unwrap();
        assert_eq!(weekday(monday.nanos()), 0);
        assert_eq!(weekday(monday.nanos() + 5 * DAY), 5);
    }

    #[test]
    fn health_is_steadier_than_office_sectors() {
        let t = |h: i64| {
            ncsoc_model::Timestamp::from_civil(2026, 3, 3, 0, 0, 0, 0)
                .unwrap()
                .nanos()
                + h * HOUR
        };
        let night_over_noon = |p: Profile| p.at(t(3)) / p.at(t(11));
        assert!(night_over_noon(profile_for("health")) > 0.35);
        assert!(night_over_noon(profile_for("finance")) < 0.1);
        let sunday = t(5 * 24 + 11);
        assert!(profile_for("health").at(sunday) > 3.0 * profile_for("government").at(sunday));
        // Interpolation is continuous across midnight.
        let p = profile_for("transport");
        assert!((p.at(t(24) - 1) - p.at(t(24))).abs() < 1e-3);
    }
}
