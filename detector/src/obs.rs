//! The detector's view of an event: the few fields behaviour analysis uses, read once
//! from the [`Event`] into plain integers so every detector after that works on a
//! `Copy` struct.

use std::net::{IpAddr, Ipv6Addr};

use ncsoc_model::Event;

/// An address as 128 bits; IPv4 is stored IPv4-mapped (`::ffff:a.b.c.d`).
pub type Addr = u128;

pub fn addr_of(ip: IpAddr) -> Addr {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => u128::from(v4.to_ipv6_mapped()),
            None => u128::from(v6),
        },
    }
}

/// The detector's hash of an address: IPv4 and IPv4-mapped IPv6 hash alike.
#[inline]
pub fn hash_addr(a: Addr) -> u64 {
    crate::sketch::mix64((a as u64) ^ crate::sketch::mix64((a >> 64) as u64))
}

pub fn ip_of(a: Addr) -> IpAddr {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

pub fn is_v4(a: Addr) -> bool {
    a >> 32 == 0xffff
}

/// The network an address belongs to for correlation: its /24 (IPv4) or /48 (IPv6).
pub fn network_of(a: Addr) -> (Addr, u8) {
    if is_v4(a) {
        (a & !0xff, 24)
    } else {
        (a & !((1u128 << 80) - 1), 48)
    }
}

pub fn format_network(a: Addr) -> String {
    let (net, len) = network_of(a);
    format!("{}/{}", ip_of(net), len)
}

/// A CIDR prefix over [`Addr`]s (IPv4 prefixes are shifted into the mapped range).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub net: Addr,
    pub len: u8,
}

impl Prefix {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s, None),
        };
        let ip: IpAddr = ip
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an address or CIDR"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = match len {
            Some(l) => l
                .trim()
                .parse()
                .map_err(|_| format!("`{s}`: bad prefix length"))?,
            None => max,
        };
        if len > max {
            return Err(format!("`{s}`: prefix length above {max}"));
        }
        let len = if ip.is_ipv4() { len + 96 } else { len };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Ok(Self {
            net: addr_of(ip) & mask,
            len,
        })
    }

    pub fn contains(&self, a: Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.len))
        };
        a & mask == self.net
    }
}

pub const TCP: u8 = 6;
pub const UDP: u8 = 17;
pub const ICMP: u8 = 1;

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// One observation: a flow, or an event that names a connection, a DNS question or an
/// authentication attempt.
#[derive(Debug, Clone, Copy)]
pub struct Obs<'a> {
    /// Event time, milliseconds since the epoch.
    pub ts_ms: i64,
    /// Flow start (or `ts_ms` when unknown), for inter-arrival times.
    pub start_ms: i64,
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
    pub bytes: u64,
    pub packets: u64,
    /// Cumulative TCP flags; 0 when unknown.
    pub flags: u8,
    pub is_flow: bool,
    /// Bytes the destination sent back, when the record is bidirectional and says so.
    pub reverse_bytes: Option<u64>,
    pub dns_name: Option<&'a str>,
    /// How many DNS questions `dns_name` stands for (a metered flow keeps a sample of the
    /// names its packets asked).
    pub dns_weight: u32,
    /// An authentication event that failed (`event.category: authentication`,
    /// `event.outcome: failure`).
    pub auth_failure: bool,
    pub id: &'a str,
}

impl<'a> Obs<'a> {
    /// Reads what the detector needs; `None` for events that name no addresses.
    pub fn from_event(e: &'a Event) -> Option<Self> {
        let f = &e.fields;
        let src = addr_of(f.source_ip?);
        let dst = f.destination_ip.map(addr_of).unwrap_or(0);
        let proto = match f.network_transport.as_deref() {
            Some("tcp") => TCP,
            Some("udp") => UDP,
            Some("icmp") | Some("ipv6-icmp") => ICMP,
            _ => 0,
        };
        let ts_ms = e.timestamp.millis();
        let (start_ms, mut flags, is_flow) = match &e.flow {
            Some(fl) => (
                fl.start.map(|t| t.millis()).unwrap_or(ts_ms),
                fl.tcp_flags.unwrap_or(0),
                true,
            ),
            None => (ts_ms, 0, false),
        };
        if flags == 0 && proto == TCP {
            // Zeek conn records say how the connection went instead of giving flags.
            if let Some(state) = e.extra.get("zeek.conn.conn_state").and_then(|v| v.as_str()) {
                flags = match state {
                    "S0" => SYN,
                    "REJ" | "RSTO" | "RSTR" | "RSTOS0" | "RSTRH" => SYN | RST,
                    "SH" | "SHR" => SYN | FIN,
                    "S1" | "S2" | "S3" | "SF" => SYN | ACK | FIN,
                    _ => 0,
                };
            }
        }
        let auth_failure = f.outcome.as_deref() == Some("failure")
            && f.category.iter().any(|c| c == "authentication");
        // Bidirectional records (metered flows, Zeek conn) carry each direction.
        let forward = e.extra.get("source.bytes").and_then(|v| v.as_u64());
        let reverse_bytes = e.extra.get("destination.bytes").and_then(|v| v.as_u64());
        let bytes = forward.or(f.network_bytes).unwrap_or(0);
        Some(Self {
            ts_ms,
            start_ms,
            src,
            dst,
            sport: f.source_port.unwrap_or(0),
            dport: f.destination_port.unwrap_or(0),
            proto,
            bytes,
            packets: f.network_packets.unwrap_or(0),
            flags,
            is_flow,
            reverse_bytes,
            dns_name: f.dns_question_name.as_deref(),
            dns_weight: 1,
            auth_failure,
            id: &e.id,
        })
    }

    /// A TCP attempt that did not become a conversation: SYN without ACK, a reset after
    /// at most a few packets, or a bare one- or two-packet TCP record without flags.
    pub fn is_failed_tcp(&self) -> bool {
        if self.proto != TCP || !self.is_flow {
            return false;
        }
        if self.flags != 0 {
            // A SYN never answered; or, in a record of both directions, a SYN answered by
            // a reset with no data either way (a refused port, perhaps retried).
            self.flags & SYN != 0
                && (self.flags & ACK == 0
                    || (self.flags & RST != 0
                        && self.flags & (FIN | PSH) == 0
                        && self.packets <= 6
                        && self.bytes <= 120 * self.packets.max(1)))
        } else {
            self.packets <= 2 && self.bytes <= 120
        }
    }

    /// Whether the record may be its sender opening a conversation: TCP with SYN (or flags
    /// unknown). One-way records without SYN — a refusal's RST-ACK, the rest of a long
    /// transfer cut by the exporter — are not. (A server's SYN-ACK record passes, but it
    /// never counts as failed, so it cannot make its sender look like a scanner.)
    pub fn is_tcp_attempt(&self) -> bool {
        self.proto == TCP && (self.flags == 0 || self.flags & SYN != 0)
    }

    /// A UDP record from the service port of a protocol used for reflection and
    /// amplification (DNS, NTP, SNMP, SSDP, CLDAP, memcached, chargen, ...) to a high port:
    /// the reflection-flood unit.
    pub fn is_reflection(&self) -> bool {
        self.proto == UDP
            && self.dport >= 1024
            && matches!(
                self.sport,
                19 | 53 | 123 | 161 | 389 | 1900 | 3702 | 11211 | 17 | 111 | 137 | 5353 | 27015
            )
    }

    /// A half-open connection (the SYN-flood unit): a SYN that got nothing back, or in a
    /// bidirectional record a SYN answered by SYN-ACK and nothing more.
    pub fn is_syn_only(&self) -> bool {
        self.proto == TCP
            && self.flags & (SYN | RST | FIN) == SYN
            && (self.flags & ACK == 0
                || (self.reverse_bytes.is_some() && self.packets <= 4 && self.bytes <= 300))
    }

    /// A short TCP session that opened a connection: how password guessing looks in flow
    /// records (the SYN rules out the tail of a connection cut in two by the exporter).
    pub fn is_short_session(&self) -> bool {
        self.proto == TCP
            && (self.flags == 0 || self.flags & SYN != 0)
            && self.packets > 0
            && self.packets <= 60
            && self.bytes <= 16_000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v4_and_mapped_are_one_address() {
        let a = addr_of("192.0.2.7".parse().unwrap());
        let b = addr_of("::ffff:192.0.2.7".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(ip_of(a).to_string(), "192.0.2.7");
        assert_eq!(format_network(a), "192.0.2.0/24");
        let v6 = addr_of("2001:db8:1:2::5".parse().unwrap());
        assert_eq!(format_network(v6), "2001:db8:1::/48");
    }

    #[test]
    fn prefixes() {
        let p = Prefix::parse("10.0.0.0/8").unwrap();
        assert!(p.contains(addr_of("10.200.1.1".parse().unwrap())));
        assert!(!p.contains(addr_of("11.0.0.1".parse().unwrap())));
        let v6 = Prefix::parse("fc00::/7").unwrap();
        assert!(v6.contains(addr_of("fd12::1".parse().unwrap())));
        assert!(!v6.contains(addr_of("10.0.0.1".parse().unwrap())));
        assert!(Prefix::parse("10.0.0.0/33").is_err());
        assert!(Prefix::parse("nonsense").is_err());
        assert!(Prefix::parse("0.0.0.0/0")
            .unwrap()
            .contains(addr_of("8.8.8.8".parse().unwrap())));
    }
}
