//! Zero-copy packet decode: link layer (Ethernet with 802.1Q / 802.1ad tags and PPPoE
//! sessions, Linux cooked capture v1/v2, Linux NFLOG, BSD loopback, raw IP), IPv4 (options
//! skipped, fragments flagged), IPv6 (extension headers walked), one level of IP-in-IP /
//! IPv6-in-IPv4, TCP, UDP, SCTP ports, ICMP and ICMPv6 into a small
//! [`Decoded`] that borrows the frame; plus DNS ([`dns`]) and TLS ClientHello SNI
//! ([`tls_client_hello_sni`]) over L4 payload slices, and VXLAN decapsulation
//! ([`vxlan_inner`]).
//!
//! Captured bytes are often cut short (snap length, sampled headers of 128 bytes): the
//! IP payload is what was captured, bounded by the IP length; an L4 header that was cut
//! leaves ports unset and sets [`Decoded::truncated`]. A link or IP header that is
//! itself incomplete or invalid is a [`PacketError`] naming the layer and byte offset.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::pcap::linktype;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_IPV6: u16 = 0x86DD;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88A8;
pub const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
pub const ETHERTYPE_MPLS: u16 = 0x8847;
pub const ETHERTYPE_PPPOE_SESSION: u16 = 0x8864;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_ICMPV6: u8 = 58;

/// Most VLAN tags and IPv6 extension headers walked before giving up.
const MAX_TAGS: usize = 4;
const MAX_EXT_HEADERS: usize = 8;

/// A decoded packet: what flow metering and flow-export decoders need, borrowing the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Decoded<'a> {
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    /// Outer (or only) 802.1Q VLAN id.
    pub vlan: Option<u16>,
    /// Inner VLAN id of a QinQ frame.
    pub inner_vlan: Option<u16>,
    /// EtherType of the network layer (after VLAN tags); 0 when there was no link layer.
    pub ethertype: u16,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    /// 4 or 6; 0 when the frame carried no IP.
    pub ip_version: u8,
    /// IP protocol / IPv6 next header of the transport layer.
    pub protocol: u8,
    pub ttl: u8,
    /// IPv4 TOS / IPv6 traffic class.
    pub tos: u8,
    /// IP total length as the header says (IPv6: 40 + payload length).
    pub ip_len: u16,
    /// Any fragment (more-fragments set or a non-zero offset; IPv6 fragment header).
    pub fragment: bool,
    /// Fragment offset in bytes; a non-first fragment carries no L4 header.
    pub fragment_offset: u16,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// TCP flags (FIN 0x01 … CWR 0x80).
    pub tcp_flags: Option<u8>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    /// Bytes after the L4 header (or after the IP header when L4 was not decoded),
    /// as captured.
    pub payload: &'a [u8],
    /// The transport header was cut short by the capture.
    pub truncated: bool,
    /// The IP layer reported is the inner one of IP-in-IP or IPv6-in-IPv4 (protocol 4 or
    /// 41): one level of such tunnels is decapsulated.
    pub tunneled: bool,
}

/// A layer that could not be decoded: which one, at which byte, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketError {
    pub offset: usize,
    pub layer: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for PacketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}: {}", self.layer, self.offset, self.reason)
    }
}

impl std::error::Error for PacketError {}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(d.get(at..at + 4)?.try_into().ok()?))
}

fn mac(d: &[u8], at: usize) -> Option<[u8; 6]> {
    d.get(at..at + 6)?.try_into().ok()
}

fn err(offset: usize, layer: &'static str, reason: &'static str) -> PacketError {
    PacketError {
        offset,
        layer,
        reason,
    }
}

/// Decodes a frame of the given `LINKTYPE_*`.
pub fn decode(link: u32, frame: &[u8]) -> Result<Decoded<'_>, PacketError> {
    match link {
        linktype::ETHERNET => decode_ethernet(frame),
        linktype::RAW | 12 | 14 => decode_ip(frame),
        linktype::IPV4 | linktype::IPV6 => decode_ip(frame),
        linktype::LINUX_SLL => {
            let proto = be16(frame, 14).ok_or(err(0, "linux cooked header", "truncated"))?;
            let mut d = Decoded::default();
            if be16(frame, 2) == Some(1) && be16(frame, 4) == Some(6) {
                d.src_mac = mac(frame, 6);
            }
            decode_ethertype(&mut d, frame, 16, proto)?;
            Ok(d)
        }
        linktype::LINUX_SLL2 => {
            let proto = be16(frame, 0).ok_or(err(0, "linux cooked v2 header", "truncated"))?;
            if frame.len() < 20 {
                return Err(err(0, "linux cooked v2 header", "truncated"));
            }
            let mut d = Decoded::default();
            if be16(frame, 8) == Some(1) && frame.get(11) == Some(&6) {
                d.src_mac = mac(frame, 12);
            }
            decode_ethertype(&mut d, frame, 20, proto)?;
            Ok(d)
        }
        linktype::NULL => {
            let family = frame
                .get(0..4)
                .ok_or(err(0, "loopback header", "truncated"))?;
            // Host byte order of the capturing machine: look at both ends.
            let af = u32::from(family[0]).max(u32::from(family[3]));
            let mut d = Decoded::default();
            match af {
                2 => decode_ethertype(&mut d, frame, 4, ETHERTYPE_IPV4)?,
                24 | 28 | 30 => decode_ethertype(&mut d, frame, 4, ETHERTYPE_IPV6)?,
                _ => return Err(err(0, "loopback header", "unknown address family")),
            }
            Ok(d)
        }
        linktype::NFLOG => {
            // Linux NFLOG: family, version, resource id, then TLVs (length and type in host
            // order, little-endian in practice, padded to 4 bytes); type 9 is the IP packet.
            if frame.len() < 4 {
                return Err(err(0, "nflog header", "truncated"));
            }
            let mut at = 4;
            while let (Some(l), Some(t)) = (frame.get(at..at + 2), frame.get(at + 2..at + 4)) {
                let len = usize::from(u16::from_le_bytes([l[0], l[1]]));
                let ty = u16::from_le_bytes([t[0], t[1]]);
                if len < 4 {
                    return Err(err(at, "nflog tlv", "length below 4"));
                }
                let Some(value) = frame.get(at + 4..at + len) else {
                    return Err(err(at, "nflog tlv", "truncated"));
                };
                if ty == 9 {
                    let mut d = Decoded::default();
                    decode_ip_into(&mut d, value, at + 4)?;
                    return Ok(d);
                }
                at += (len + 3) & !3;
            }
            Err(err(at, "nflog", "no packet payload"))
        }
        _ => Err(err(0, "link layer", "unsupported link type")),
    }
}

/// Decodes an Ethernet II frame (VLAN tags included) and what it carries.
pub fn decode_ethernet(frame: &[u8]) -> Result<Decoded<'_>, PacketError> {
    let (Some(dst), Some(src), Some(mut ethertype)) =
        (mac(frame, 0), mac(frame, 6), be16(frame, 12))
    else {
        return Err(err(0, "ethernet header", "truncated"));
    };
    let mut d = Decoded {
        src_mac: Some(src),
        dst_mac: Some(dst),
        ..Decoded::default()
    };
    let mut at = 14;
    let mut tags = 0;
    while matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD
    ) {
        if tags == MAX_TAGS {
            return Err(err(at, "vlan tag", "too many tags"));
        }
        let (Some(tci), Some(next)) = (be16(frame, at), be16(frame, at + 2)) else {
            return Err(err(at, "vlan tag", "truncated"));
        };
        let id = tci & 0x0FFF;
        if d.vlan.is_none() {
            d.vlan = Some(id);
        } else if d.inner_vlan.is_none() {
            d.inner_vlan = Some(id);
        }
        ethertype = next;
        at += 4;
        tags += 1;
    }
    decode_ethertype(&mut d, frame, at, ethertype)?;
    Ok(d)
}

fn decode_ethertype<'a>(
    d: &mut Decoded<'a>,
    frame: &'a [u8],
    at: usize,
    ethertype: u16,
) -> Result<(), PacketError> {
    d.ethertype = ethertype;
    let rest = frame.get(at..).unwrap_or_default();
    match ethertype {
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => decode_ip_into(d, rest, at),
        ETHERTYPE_PPPOE_SESSION => {
            // PPPoE header (6 bytes), then the PPP protocol: 0x0021 IPv4, 0x0057 IPv6.
            match be16(rest, 6) {
                Some(0x0021) => decode_ethertype(d, frame, at + 8, ETHERTYPE_IPV4),
                Some(0x0057) => decode_ethertype(d, frame, at + 8, ETHERTYPE_IPV6),
                Some(_) => {
                    d.payload = rest.get(8..).unwrap_or_default();
                    Ok(())
                }
                None => Err(err(at, "pppoe header", "truncated")),
            }
        }
        _ => {
            d.payload = rest;
            Ok(())
        }
    }
}

/// Decodes a packet that starts with an IPv4 or IPv6 header (version nibble decides).
pub fn decode_ip(packet: &[u8]) -> Result<Decoded<'_>, PacketError> {
    let mut d = Decoded::default();
    decode_ip_into(&mut d, packet, 0)?;
    Ok(d)
}

fn decode_ip_into<'a>(d: &mut Decoded<'a>, ip: &'a [u8], base: usize) -> Result<(), PacketError> {
    let Some(&first) = ip.first() else {
        return Err(err(base, "ip header", "truncated"));
    };
    match first >> 4 {
        4 => decode_ipv4(d, ip, base),
        6 => decode_ipv6(d, ip, base),
        _ => Err(err(base, "ip header", "version is neither 4 nor 6")),
    }
}

fn decode_ipv4<'a>(d: &mut Decoded<'a>, ip: &'a [u8], base: usize) -> Result<(), PacketError> {
    if ip.len() < 20 {
        return Err(err(base, "ipv4 header", "truncated"));
    }
    let ihl = usize::from(ip[0] & 0x0F) * 4;
    if ihl < 20 {
        return Err(err(base, "ipv4 header", "header length below 20"));
    }
    if ip.len() < ihl {
        return Err(err(base, "ipv4 options", "truncated"));
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let frag = u16::from_be_bytes([ip[6], ip[7]]);
    d.ip_version = 4;
    d.tos = ip[1];
    d.ip_len = total as u16;
    d.ttl = ip[8];
    d.protocol = ip[9];
    d.src = Some(IpAddr::V4(Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15])));
    d.dst = Some(IpAddr::V4(Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19])));
    d.fragment_offset = (frag & 0x1FFF) * 8;
    d.fragment = frag & 0x2000 != 0 || d.fragment_offset != 0;
    // TSO captures and sampled headers may carry a total length of 0 or beyond what was
    // captured: the payload is what is there, bounded by the header when it is sane.
    let end = if total >= ihl {
        total.min(ip.len())
    } else {
        ip.len()
    };
    let payload = &ip[ihl..end];
    if d.fragment_offset != 0 {
        d.payload = payload;
        return Ok(());
    }
    decode_l4(d, payload);
    Ok(())
}

fn decode_ipv6<'a>(d: &mut Decoded<'a>, ip: &'a [u8], base: usize) -> Result<(), PacketError> {
    if ip.len() < 40 {
        return Err(err(base, "ipv6 header", "truncated"));
    }
    let plen = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    d.ip_version = 6;
    d.tos = ((ip[0] & 0x0F) << 4) | (ip[1] >> 4);
    d.ip_len = (plen + 40).min(usize::from(u16::MAX)) as u16;
    d.ttl = ip[7];
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&ip[24..40]);
    d.src = Some(IpAddr::V6(Ipv6Addr::from(src)));
    d.dst = Some(IpAddr::V6(Ipv6Addr::from(dst)));
    let end = if plen == 0 {
        ip.len()
    } else {
        (40 + plen).min(ip.len())
    };
    let mut rest = &ip[40..end];
    let mut next = ip[6];
    for _ in 0..MAX_EXT_HEADERS {
        let hdr_len = match next {
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 => match rest.get(1) {
                Some(&l) => (usize::from(l) + 1) * 8,
                None => break,
            },
            44 => {
                let Some(fo) = be16(rest, 2) else {
                    break;
                };
                d.fragment = true;
                d.fragment_offset = fo & 0xFFF8;
                8
            }
            // Authentication header: length in 4-byte words minus 2.
            51 => match rest.get(1) {
                Some(&l) => (usize::from(l) + 2) * 4,
                None => break,
            },
            _ => break,
        };
        let Some(after) = rest.get(hdr_len..) else {
            d.truncated = true;
            d.protocol = next;
            d.payload = &[];
            return Ok(());
        };
        next = rest[0];
        rest = after;
    }
    d.protocol = next;
    if d.fragment_offset != 0 {
        d.payload = rest;
        return Ok(());
    }
    decode_l4(d, rest);
    Ok(())
}

fn decode_l4<'a>(d: &mut Decoded<'a>, l4: &'a [u8]) {
    d.payload = l4;
    match d.protocol {
        4 | 41 if !d.tunneled => {
            // IP-in-IP / IPv6-in-IPv4: report the inner packet (one level only).
            let mut inner = Decoded {
                tunneled: true,
                ..*d
            };
            if decode_ip_into(&mut inner, l4, 0).is_ok() {
                *d = inner;
            }
        }
        PROTO_TCP => {
            if l4.len() < 14 {
                d.truncated = true;
                if let (Some(s), Some(t)) = (be16(l4, 0), be16(l4, 2)) {
                    d.src_port = Some(s);
                    d.dst_port = Some(t);
                }
                return;
            }
            d.src_port = Some(u16::from_be_bytes([l4[0], l4[1]]));
            d.dst_port = Some(u16::from_be_bytes([l4[2], l4[3]]));
            d.tcp_flags = Some(l4[13]);
            let off = usize::from(l4[12] >> 4) * 4;
            match l4.get(off.max(20)..) {
                Some(p) => d.payload = p,
                None => {
                    d.truncated = true;
                    d.payload = &[];
                }
            }
        }
        PROTO_UDP | 136 => {
            // UDP and UDP-Lite.
            if l4.len() < 8 {
                d.truncated = true;
                return;
            }
            d.src_port = Some(u16::from_be_bytes([l4[0], l4[1]]));
            d.dst_port = Some(u16::from_be_bytes([l4[2], l4[3]]));
            let ulen = usize::from(u16::from_be_bytes([l4[4], l4[5]]));
            let end = if ulen >= 8 {
                ulen.min(l4.len())
            } else {
                l4.len()
            };
            d.payload = &l4[8..end];
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            if l4.len() < 4 {
                d.truncated = true;
                return;
            }
            d.icmp_type = Some(l4[0]);
            d.icmp_code = Some(l4[1]);
            d.payload = l4.get(8..).unwrap_or_default();
        }
        132 => {
            // SCTP: ports like TCP/UDP.
            if let (Some(s), Some(t)) = (be16(l4, 0), be16(l4, 2)) {
                d.src_port = Some(s);
                d.dst_port = Some(t);
                d.payload = l4.get(12..).unwrap_or_default();
            } else {
                d.truncated = true;
            }
        }
        _ => {}
    }
}

/// The VXLAN UDP port (RFC 7348).
pub const VXLAN_PORT: u16 = 4789;

/// If `outer` is UDP to the VXLAN port with the I flag set, the VNI and the decoded inner
/// Ethernet frame.
pub fn vxlan_inner<'a>(outer: &Decoded<'a>) -> Option<(u32, Result<Decoded<'a>, PacketError>)> {
    if outer.protocol != PROTO_UDP || outer.dst_port != Some(VXLAN_PORT) {
        return None;
    }
    let p = outer.payload;
    if p.len() < 8 || p[0] & 0x08 == 0 {
        return None;
    }
    let vni = be32(p, 4)? >> 8;
    Some((vni, decode_ethernet(&p[8..])))
}

/// The name of a transport protocol as ECS `network.transport` writes it.
pub fn transport_name(protocol: u8) -> Option<&'static str> {
    Some(match protocol {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// DNS

/// Most resource records read from one DNS message, and most compression jumps per name.
const MAX_DNS_RECORDS: usize = 64;
const MAX_DNS_JUMPS: usize = 16;

/// A DNS message (RFC 1035) as far as flow enrichment needs it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DnsMessage {
    pub id: u16,
    pub response: bool,
    pub opcode: u8,
    pub rcode: u8,
    /// The first question: name (dotted, ASCII lower-cased, no trailing dot; bytes
    /// outside ASCII map to the Latin-1 character of the same value), type, class.
    pub question: Option<DnsQuestion>,
    pub answers: Vec<DnsAnswer>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsQuestion {
    pub name: String,
    pub qtype: u16,
    pub qclass: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsAnswer {
    pub name: String,
    pub rtype: u16,
    pub ttl: u32,
    pub data: DnsData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsData {
    Ip(IpAddr),
    /// CNAME, NS, PTR target.
    Name(String),
    /// Any other type: its RDATA length.
    Other(usize),
}

/// Reads a DNS message from a UDP payload (for DNS over TCP, skip the 2-byte length
/// first). Answers are read until the first malformed one.
pub fn dns(msg: &[u8]) -> Result<DnsMessage, PacketError> {
    let (Some(id), Some(flags), Some(qd), Some(an)) =
        (be16(msg, 0), be16(msg, 2), be16(msg, 4), be16(msg, 6))
    else {
        return Err(err(0, "dns header", "truncated"));
    };
    let mut m = DnsMessage {
        id,
        response: flags & 0x8000 != 0,
        opcode: ((flags >> 11) & 0x0F) as u8,
        rcode: (flags & 0x0F) as u8,
        ..DnsMessage::default()
    };
    let mut at = 12;
    for i in 0..qd {
        // A malformed question after the first ends the message: the answers cannot be
        // found past it.
        let (name, next) = match dns_name(msg, at) {
            Ok(v) => v,
            Err(_) if i > 0 => return Ok(m),
            Err(e) => return Err(e),
        };
        let (Some(qtype), Some(qclass)) = (be16(msg, next), be16(msg, next + 2)) else {
            return Err(err(next, "dns question", "truncated"));
        };
        if i == 0 {
            m.question = Some(DnsQuestion {
                name,
                qtype,
                qclass,
            });
        }
        at = next + 4;
        if usize::from(i) >= MAX_DNS_RECORDS {
            break;
        }
    }
    for _ in 0..usize::from(an).min(MAX_DNS_RECORDS) {
        let Ok((name, next)) = dns_name(msg, at) else {
            break;
        };
        let (Some(rtype), Some(ttl), Some(rdlen)) =
            (be16(msg, next), be32(msg, next + 4), be16(msg, next + 8))
        else {
            break;
        };
        let rd_at = next + 10;
        let Some(rdata) = msg.get(rd_at..rd_at + usize::from(rdlen)) else {
            break;
        };
        let data = match (rtype, rdata.len()) {
            (1, 4) => DnsData::Ip(IpAddr::V4(Ipv4Addr::new(
                rdata[0], rdata[1], rdata[2], rdata[3],
            ))),
            (28, 16) => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                DnsData::Ip(IpAddr::V6(Ipv6Addr::from(a)))
            }
            (2 | 5 | 12, _) => match dns_name(msg, rd_at) {
                Ok((n, _)) => DnsData::Name(n),
                Err(_) => DnsData::Other(rdata.len()),
            },
            (_, n) => DnsData::Other(n),
        };
        m.answers.push(DnsAnswer {
            name,
            rtype,
            ttl,
            data,
        });
        at = rd_at + rdata.len();
    }
    Ok(m)
}

/// Reads a possibly compressed name at `at`; returns it and the offset after it.
fn dns_name(msg: &[u8], at: usize) -> Result<(String, usize), PacketError> {
    let mut name = String::new();
    let mut wire_len = 1;
    let mut pos = at;
    let mut after = None;
    let mut jumps = 0;
    loop {
        let Some(&len) = msg.get(pos) else {
            return Err(err(pos, "dns name", "truncated"));
        };
        match len {
            0 => {
                return Ok((name, after.unwrap_or(pos + 1)));
            }
            l if l & 0xC0 == 0xC0 => {
                let Some(&lo) = msg.get(pos + 1) else {
                    return Err(err(pos, "dns name", "truncated pointer"));
                };
                jumps += 1;
                if jumps > MAX_DNS_JUMPS {
                    return Err(err(pos, "dns name", "compression loop"));
                }
                after.get_or_insert(pos + 2);
                pos = (usize::from(l & 0x3F) << 8) | usize::from(lo);
            }
            l if l & 0xC0 == 0 => {
                let l = usize::from(l);
                let Some(label) = msg.get(pos + 1..pos + 1 + l) else {
                    return Err(err(pos, "dns name", "truncated label"));
                };
                wire_len += l + 1;
                if wire_len > 255 {
                    return Err(err(pos, "dns name", "longer than 255 bytes"));
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    name.push(char::from(c.to_ascii_lowercase()));
                }
                pos += 1 + l;
            }
            _ => return Err(err(pos, "dns name", "reserved label type")),
        }
    }
}

// ---------------------------------------------------------------------------------------
// TLS

/// The server name (SNI) of a TLS ClientHello at the start of a TCP payload:
/// `Ok(None)` when it is a ClientHello without SNI, an error when it is not a ClientHello
/// or is cut before the extension. Only the first record is read.
pub fn tls_client_hello_sni(payload: &[u8]) -> Result<Option<&str>, PacketError> {
    let e = |at, reason| Err(err(at, "tls client hello", reason));
    if payload.len() < 9 {
        return e(0, "truncated");
    }
    if payload[0] != 22 || payload[1] != 3 {
        return e(0, "not a TLS handshake record");
    }
    let rec_len = usize::from(u16::from_be_bytes([payload[3], payload[4]]));
    let rec = &payload[5..(5 + rec_len).min(payload.len())];
    if rec.first() != Some(&1) {
        return e(5, "not a ClientHello");
    }
    let hs_len = rec
        .get(1..4)
        .map(|b| (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]))
        .unwrap_or(0);
    let hello = &rec[4.min(rec.len())..(4 + hs_len).min(rec.len())];
    // version(2) random(32) session_id(1+n) cipher_suites(2+n) compression(1+n)
    let mut at = 34;
    let Some(&sid) = hello.get(at) else {
        return e(5 + 4 + at, "truncated");
    };
    at += 1 + usize::from(sid);
    let Some(cs) = be16(hello, at) else {
        return e(5 + 4 + at, "truncated");
    };
    at += 2 + usize::from(cs);
    let Some(&comp) = hello.get(at) else {
        return e(5 + 4 + at, "truncated");
    };
    at += 1 + usize::from(comp);
    let Some(ext_len) = be16(hello, at) else {
        // No extensions at all.
        return if at == hello.len() {
            Ok(None)
        } else {
            e(5 + 4 + at, "truncated")
        };
    };
    at += 2;
    let end = (at + usize::from(ext_len)).min(hello.len());
    while at + 4 <= end {
        let ty = u16::from_be_bytes([hello[at], hello[at + 1]]);
        let len = usize::from(u16::from_be_bytes([hello[at + 2], hello[at + 3]]));
        let body_at = at + 4;
        if ty == 0 {
            let Some(body) = hello.get(body_at..body_at + len) else {
                return e(5 + 4 + body_at, "truncated server_name");
            };
            // server_name_list: len(2) { type(1) len(2) name }
            let mut p = 2;
            while p + 3 <= body.len() {
                let nlen = usize::from(u16::from_be_bytes([body[p + 1], body[p + 2]]));
                let Some(name) = body.get(p + 3..p + 3 + nlen) else {
                    return e(5 + 4 + body_at + p, "truncated server_name");
                };
                if body[p] == 0 {
                    return std::str::from_utf8(name)
                        .map(Some)
                        .or_else(|_| e(5 + 4 + body_at + p, "server name is not UTF-8"));
                }
                p += 3 + nlen;
            }
            return Ok(None);
        }
        at = body_at + len;
    }
    if at < usize::from(ext_len) {
        return e(5 + 4 + at, "truncated");
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    fn ipv4(proto: u8, frag: u16, l4: &[u8]) -> Vec<u8> {
        let total = (20 + l4.len()) as u16;
        let mut p = vec![0x45, 0x10];
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&[0, 1]);
        p.extend_from_slice(&frag.to_be_bytes());
        p.extend_from_slice(&[64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(l4);
        p
    }

    fn tcp(sport: u16, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut t = sport.to_be_bytes().to_vec();
        t.extend_from_slice(&dport.to_be_bytes());
        t.extend_from_slice(&[0; 8]);
        t.extend_from_slice(&[0x50, flags, 0, 0, 0, 0, 0, 0]);
        t.extend_from_slice(payload);
        t
    }

    #[test]
    fn ethernet_qinq_ipv4_tcp() {
        let ip = ipv4(6, 0, &tcp(1234, 443, 0x12, b"data"));
        let mut tagged = vec![0x00, 0x64, 0x81, 0x00, 0x20, 0x0A];
        tagged.extend_from_slice(&0x0800u16.to_be_bytes());
        tagged.extend_from_slice(&ip);
        let f = eth(ETHERTYPE_QINQ, &tagged);
        let d = decode(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.vlan, Some(100));
        assert_eq!(d.inner_vlan, Some(10));
        assert_eq!(d.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(d.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!((d.src_port, d.dst_port), (Some(1234), Some(443)));
        assert_eq!(d.tcp_flags, Some(0x12));
        assert_eq!(d.payload, b"data");
        assert_eq!(d.tos, 0x10);
        assert!(!d.fragment && !d.truncated);
    }

    #[test]
    fn fragments_and_truncation() {
        // A non-first fragment: no ports.
        let f = ipv4(17, 0x0010, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let d = decode_ip(&f).unwrap();
        assert!(d.fragment);
        assert_eq!(d.fragment_offset, 128);
        assert_eq!(d.src_port, None);
        // First fragment (MF set): ports decoded, fragment flagged.
        let f = ipv4(17, 0x2000, &[0, 53, 0, 54, 0, 8, 0, 0]);
        let d = decode_ip(&f).unwrap();
        assert!(d.fragment);
        assert_eq!(d.dst_port, Some(54));
        // TCP cut after the ports.
        let f = ipv4(6, 0, &[0, 80, 0, 81, 0]);
        let d = decode_ip(&f).unwrap();
        assert!(d.truncated);
        assert_eq!(d.src_port, Some(80));
        assert_eq!(d.tcp_flags, None);
        // IP header cut.
        let e = decode_ethernet(&eth(0x0800, &[0x45, 0, 0])).unwrap_err();
        assert_eq!((e.offset, e.layer), (14, "ipv4 header"));
        let e = decode_ip(&[0x46; 20]).unwrap_err();
        assert_eq!(e.layer, "ipv4 options");
        assert!(decode_ip(&[0x55; 40]).is_err());
        assert!(decode(999, &[0; 40]).is_err());
    }

    #[test]
    fn ipv6_extension_headers_and_icmpv6() {
        let mut p = vec![0x60, 0, 0, 0, 0, 0, 0, 64];
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(1);
        p.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        p.extend_from_slice(&[0; 11]);
        p.push(2);
        // hop-by-hop (8 bytes) -> fragment (8 bytes, offset 0, M=1) -> ICMPv6 echo.
        let ext = [60u8, 0, 0, 0, 0, 0, 0, 0, 44, 0, 1, 4, 0, 0, 0, 0];
        let mut ext = ext.to_vec();
        ext[0] = 44;
        ext[8] = 58;
        ext[10] = 0;
        ext[11] = 1;
        let icmp = [128u8, 0, 0, 0, 0, 1, 0, 1, b'x'];
        let plen = (ext.len() + icmp.len()) as u16;
        p[4..6].copy_from_slice(&plen.to_be_bytes());
        p[6] = 0;
        p.extend_from_slice(&ext);
        p.extend_from_slice(&icmp);
        let d = decode(linktype::RAW, &p).unwrap();
        assert_eq!(d.ip_version, 6);
        assert_eq!(d.protocol, 58);
        assert!(d.fragment);
        assert_eq!(d.icmp_type, Some(128));
        assert_eq!(d.payload, b"x");
        assert_eq!(d.dst, Some("2001:db8::2".parse().unwrap()));
    }

    #[test]
    fn linux_cooked_and_vxlan() {
        let udp_inner = [0u8, 53, 0, 53, 0, 8, 0, 0];
        let inner = eth(0x0800, &ipv4(17, 0, &udp_inner));
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        vx.extend_from_slice(&inner);
        let mut udp = vec![0x30, 0x39, 0x12, 0xB5];
        udp.extend_from_slice(&((8 + vx.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(&vx);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 1, 2, 3, 4, 5, 6, 0, 0];
        sll.extend_from_slice(&0x0800u16.to_be_bytes());
        sll.extend_from_slice(&ipv4(17, 0, &udp));
        let outer = decode(linktype::LINUX_SLL, &sll).unwrap();
        assert_eq!(outer.src_mac, Some([1, 2, 3, 4, 5, 6]));
        assert_eq!(outer.dst_port, Some(4789));
        let (vni, inner) = vxlan_inner(&outer).unwrap();
        assert_eq!(vni, 42);
        let inner = inner.unwrap();
        assert_eq!(inner.dst_port, Some(53));
    }

    fn dns_query() -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        for l in ["WWW", "example", "com"] {
            m.push(l.len() as u8);
            m.extend_from_slice(l.as_bytes());
        }
        m.extend_from_slice(&[0, 0, 1, 0, 1]);
        // CNAME to a compressed name, then an A record.
        m.extend_from_slice(&[0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xC0, 16]);
        m.extend_from_slice(&[0xC0, 16, 0, 1, 0, 1, 0, 0, 1, 0, 0, 4, 93, 184, 216, 34]);
        m
    }

    #[test]
    fn dns_question_and_answers() {
        let m = dns(&dns_query()).unwrap();
        assert_eq!(m.id, 0x1234);
        assert!(m.response);
        let q = m.question.unwrap();
        assert_eq!(q.name, "www.example.com");
        assert_eq!((q.qtype, q.qclass), (1, 1));
        assert_eq!(m.answers.len(), 2);
        assert_eq!(m.answers[0].data, DnsData::Name("example.com".into()));
        assert_eq!(m.answers[1].ttl, 256);
        assert_eq!(
            m.answers[1].data,
            DnsData::Ip("93.184.216.34".parse().unwrap())
        );
        // A pointer to itself is a loop, not a hang.
        let mut looped = dns_query();
        looped.truncate(12);
        looped.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        assert_eq!(dns(&looped).unwrap_err().reason, "compression loop");
        assert!(dns(&[0; 5]).is_err());
    }

    fn client_hello(sni: Option<&str>) -> Vec<u8> {
        let mut hello = vec![3, 3];
        hello.extend_from_slice(&[7; 32]);
        hello.extend_from_slice(&[0, 0, 2, 0x13, 0x01, 1, 0]);
        let mut exts = Vec::new();
        exts.extend_from_slice(&[0, 10, 0, 2, 0, 0]);
        if let Some(n) = sni {
            let nl = n.len() as u16;
            exts.extend_from_slice(&[0, 0]);
            exts.extend_from_slice(&(nl + 5).to_be_bytes());
            exts.extend_from_slice(&(nl + 3).to_be_bytes());
            exts.push(0);
            exts.extend_from_slice(&nl.to_be_bytes());
            exts.extend_from_slice(n.as_bytes());
        }
        hello.extend_from_slice(&(exts.len() as u16).to_be_bytes());
        hello.extend_from_slice(&exts);
        let mut hs = vec![1, 0];
        hs.extend_from_slice(&(hello.len() as u16).to_be_bytes());
        hs.extend_from_slice(&hello);
        let mut rec = vec![22, 3, 1];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend_from_slice(&hs);
        rec
    }

    #[test]
    fn tls_sni() {
        assert_eq!(
            tls_client_hello_sni(&client_hello(Some("example.org"))).unwrap(),
            Some("example.org")
        );
        assert_eq!(tls_client_hello_sni(&client_hello(None)).unwrap(), None);
        let ch = client_hello(Some("example.org"));
        assert!(tls_client_hello_sni(&ch[..ch.len() - 4]).is_err());
        assert!(tls_client_hello_sni(b"GET / HTTP/1.1\r\n").is_err());
    }
}
