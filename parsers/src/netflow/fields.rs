//! Information elements: what each template field means for a [`Flow`], compiled once
//! per template, and the record decoder that applies a compiled template to the bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ncsoc_model::Timestamp;

use crate::flow::Flow;

/// IANA private enterprise number of the RFC 5103 reverse information elements.
pub const REVERSE_PEN: u32 = 29305;
/// Field length meaning "variable length" (RFC 7011 §7).
pub const VARLEN: u16 = 0xFFFF;

/// Where a field's value goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Skip,
    Bytes,
    Packets,
    /// Fallback counts: total / post / initiator counters, used when no delta count came.
    BytesAlt,
    PacketsAlt,
    Protocol,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcV4,
    DstV4,
    SrcV6,
    DstV6,
    SrcMask,
    DstMask,
    InIf,
    OutIf,
    InIfAlt,
    OutIfAlt,
    NextHopV4,
    NextHopV6,
    BgpNextHopV4,
    BgpNextHopV6,
    SrcAs,
    DstAs,
    FirstUptime,
    LastUptime,
    StartSecs,
    EndSecs,
    StartMillis,
    EndMillis,
    StartNtp,
    EndNtp,
    StartDeltaMicros,
    EndDeltaMicros,
    SysInitMillis,
    SrcMac,
    DstMac,
    PostSrcMac,
    PostDstMac,
    Vlan,
    PostVlan,
    Mpls(u8),
    Direction,
    EndReason,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    SamplerId,
    SamplingInterval,
    PacketInterval,
    PacketSpace,
    NatSrcV4,
    NatDstV4,
    NatSrcV6,
    NatDstV6,
    NatSrcPort,
    NatDstPort,
    FrameSize,
    FrameSection,
    RevBytes,
    RevPackets,
    RevBytesAlt,
    RevPacketsAlt,
    RevTcpFlags,
}

/// What a field (IE number, enterprise) means; `v9_scope` marks NetFlow v9 option-scope
/// fields, whose type numbers are scope kinds, not IEs.
pub fn target(ie: u16, enterprise: u32, v9_scope: bool) -> Target {
    use Target::*;
    if v9_scope {
        return Skip;
    }
    if enterprise == REVERSE_PEN {
        return match ie {
            1 => RevBytes,
            2 => RevPackets,
            85 => RevBytesAlt,
            86 => RevPacketsAlt,
            6 => RevTcpFlags,
            _ => Skip,
        };
    }
    if enterprise != 0 {
        return Skip;
    }
    match ie {
        1 => Bytes,
        2 => Packets,
        // octetTotalCount, packetTotalCount, v9 OUT_BYTES/OUT_PKTS, initiator counters.
        85 | 23 | 231 => BytesAlt,
        86 | 24 | 298 => PacketsAlt,
        // responderOctets / responderPackets (NSEL-style biflows).
        232 => RevBytesAlt,
        299 => RevPacketsAlt,
        4 => Protocol,
        5 => Tos,
        6 => TcpFlags,
        7 => SrcPort,
        11 => DstPort,
        8 => SrcV4,
        12 => DstV4,
        27 => SrcV6,
        28 => DstV6,
        9 | 29 => SrcMask,
        13 | 30 => DstMask,
        10 => InIf,
        14 => OutIf,
        252 => InIfAlt,
        253 => OutIfAlt,
        15 => NextHopV4,
        62 => NextHopV6,
        18 => BgpNextHopV4,
        63 => BgpNextHopV6,
        16 => SrcAs,
        17 => DstAs,
        22 => FirstUptime,
        21 => LastUptime,
        150 => StartSecs,
        151 => EndSecs,
        152 => StartMillis,
        153 => EndMillis,
        154 | 156 => StartNtp,
        155 | 157 => EndNtp,
        158 => StartDeltaMicros,
        159 => EndDeltaMicros,
        160 => SysInitMillis,
        56 => SrcMac,
        80 => DstMac,
        81 => PostSrcMac,
        57 => PostDstMac,
        58 | 243 => Vlan,
        59 | 254 => PostVlan,
        70..=72 => Mpls((ie - 70) as u8),
        61 => Direction,
        136 => EndReason,
        32 | 139 => IcmpTypeCode,
        176 | 178 => IcmpType,
        177 | 179 => IcmpCode,
        48 | 302 => SamplerId,
        34 | 50 => SamplingInterval,
        305 => PacketInterval,
        306 => PacketSpace,
        225 => NatSrcV4,
        226 => NatDstV4,
        281 => NatSrcV6,
        282 => NatDstV6,
        227 => NatSrcPort,
        228 => NatDstPort,
        312 => FrameSize,
        315 => FrameSection,
        _ => Skip,
    }
}

/// One compiled template field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub ie: u16,
    pub enterprise: u32,
    /// Length in bytes, or [`VARLEN`].
    pub len: u16,
    pub target: Target,
}

/// Values of a record that are not themselves flow fields: time bases, sampling,
/// reverse counts, the embedded frame.
#[derive(Debug, Default, Clone, Copy)]
pub struct Extras<'a> {
    pub first_uptime: Option<u32>,
    pub last_uptime: Option<u32>,
    pub start_delta_us: Option<u32>,
    pub end_delta_us: Option<u32>,
    pub sys_init_ms: Option<u64>,
    pub sampling_interval: Option<u64>,
    pub packet_interval: Option<u64>,
    pub packet_space: Option<u64>,
    pub bytes_alt: Option<u64>,
    pub packets_alt: Option<u64>,
    pub has_bytes: bool,
    pub has_packets: bool,
    pub in_if_alt: Option<u32>,
    pub out_if_alt: Option<u32>,
    pub rev_bytes: Option<u64>,
    pub rev_packets: Option<u64>,
    pub rev_flags: Option<u8>,
    pub frame_size: Option<u64>,
    pub frame: Option<&'a [u8]>,
}

impl Extras<'_> {
    /// Sampling rate the record itself states, if any.
    pub fn sampling_rate(&self) -> Option<u32> {
        let rate = if let Some(space) = self.packet_space {
            let interval = self.packet_interval.unwrap_or(1).max(1);
            (interval + space) / interval
        } else {
            self.sampling_interval.or(self.packet_interval)?
        };
        (rate > 0).then(|| rate.min(u64::from(u32::MAX)) as u32)
    }
}

#[inline]
fn uint(b: &[u8]) -> Option<u64> {
    match b.len() {
        1 => Some(u64::from(b[0])),
        2 => Some(u64::from(u16::from_be_bytes([b[0], b[1]]))),
        4 => Some(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        8 => Some(u64::from_be_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ])),
        3 | 5..=7 => Some(b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))),
        _ => None,
    }
}

#[inline]
fn u32v(b: &[u8]) -> Option<u32> {
    uint(b).map(|v| v.min(u64::from(u32::MAX)) as u32)
}

#[inline]
fn u16v(b: &[u8]) -> Option<u16> {
    uint(b).map(|v| v as u16)
}

#[inline]
fn u8v(b: &[u8]) -> Option<u8> {
    // Reduced-size or 2-byte tcpControlBits: the low byte.
    b.last().copied()
}

#[inline]
fn v4(b: &[u8]) -> Option<IpAddr> {
    match b {
        [a, b, c, d] => Some(IpAddr::V4(Ipv4Addr::new(*a, *b, *c, *d))),
        _ => None,
    }
}

#[inline]
fn v6(b: &[u8]) -> Option<IpAddr> {
    let a: [u8; 16] = b.try_into().ok()?;
    Some(IpAddr::V6(Ipv6Addr::from(a)))
}

#[inline]
fn mac(b: &[u8]) -> Option<[u8; 6]> {
    b.try_into().ok()
}

const NTP_UNIX_OFFSET: i64 = 2_208_988_800;

/// An NTP-format timestamp (RFC 7011 dateTimeMicroseconds/Nanoseconds) to Unix time.
fn ntp(b: &[u8]) -> Option<Timestamp> {
    let v = uint(b)?;
    if b.len() != 8 {
        return None;
    }
    let secs = (v >> 32) as i64 - NTP_UNIX_OFFSET;
    let frac = ((v & 0xFFFF_FFFF) * 1_000_000_000) >> 32;
    Some(Timestamp(secs.saturating_mul(1_000_000_000) + frac as i64))
}

/// Reads one record of `fields` from the start of `data`; returns the bytes consumed.
/// `None` when the record runs past the end of `data`.
#[inline]
pub fn decode_record<'a>(
    fields: &[Field],
    data: &'a [u8],
    flow: &mut Flow,
    x: &mut Extras<'a>,
) -> Option<usize> {
    use Target::*;
    let mut at = 0usize;
    for f in fields {
        let len = if f.len == VARLEN {
            let l0 = *data.get(at)?;
            at += 1;
            if l0 == 255 {
                let l = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
                at += 2;
                usize::from(l)
            } else {
                usize::from(l0)
            }
        } else {
            usize::from(f.len)
        };
        let v = data.get(at..at + len)?;
        at += len;
        match f.target {
            Skip => {}
            Bytes => {
                if let Some(n) = uint(v) {
                    flow.bytes = n;
                    x.has_bytes = true;
                }
            }
            Packets => {
                if let Some(n) = uint(v) {
                    flow.packets = n;
                    x.has_packets = true;
                }
            }
            BytesAlt => x.bytes_alt = x.bytes_alt.or(uint(v)),
            PacketsAlt => x.packets_alt = x.packets_alt.or(uint(v)),
            Protocol => flow.protocol = u8v(v),
            Tos => flow.tos = u8v(v),
            TcpFlags => flow.tcp_flags = u8v(v),
            SrcPort => flow.src_port = u16v(v),
            DstPort => flow.dst_port = u16v(v),
            SrcV4 | SrcV6 => flow.src = if f.target == SrcV4 { v4(v) } else { v6(v) },
            DstV4 | DstV6 => flow.dst = if f.target == DstV4 { v4(v) } else { v6(v) },
            SrcMask => flow.src_mask = u8v(v),
            DstMask => flow.dst_mask = u8v(v),
            InIf => flow.in_if = u32v(v),
            OutIf => flow.out_if = u32v(v),
            InIfAlt => x.in_if_alt = u32v(v),
            OutIfAlt => x.out_if_alt = u32v(v),
            NextHopV4 => flow.next_hop = v4(v).or(flow.next_hop),
            NextHopV6 => flow.next_hop = v6(v).or(flow.next_hop),
            BgpNextHopV4 => flow.bgp_next_hop = v4(v).or(flow.bgp_next_hop),
            BgpNextHopV6 => flow.bgp_next_hop = v6(v).or(flow.bgp_next_hop),
            SrcAs => flow.src_as = u32v(v),
            DstAs => flow.dst_as = u32v(v),
            FirstUptime => x.first_uptime = u32v(v),
            LastUptime => x.last_uptime = u32v(v),
            StartSecs => flow.start = uint(v).map(|s| Timestamp::from_secs(s.min(1 << 33) as i64)),
            EndSecs => flow.end = uint(v).map(|s| Timestamp::from_secs(s.min(1 << 33) as i64)),
            StartMillis => {
                flow.start = uint(v).map(|s| Timestamp::from_millis(s.min(1 << 43) as i64))
            }
            EndMillis => flow.end = uint(v).map(|s| Timestamp::from_millis(s.min(1 << 43) as i64)),
            StartNtp => flow.start = ntp(v),
            EndNtp => flow.end = ntp(v),
            StartDeltaMicros => x.start_delta_us = u32v(v),
            EndDeltaMicros => x.end_delta_us = u32v(v),
            SysInitMillis => x.sys_init_ms = uint(v),
            SrcMac => flow.src_mac = mac(v),
            DstMac => flow.dst_mac = mac(v),
            PostSrcMac => flow.src_mac = flow.src_mac.or(mac(v)),
            PostDstMac => flow.dst_mac = flow.dst_mac.or(mac(v)),
            Vlan => flow.vlan = u16v(v).map(|x| x & 0x0FFF).or(flow.vlan),
            PostVlan => flow.post_vlan = u16v(v).map(|x| x & 0x0FFF),
            Mpls(i) => {
                if let (Some(l), true) = (uint(v), len == 3) {
                    let i = usize::from(i);
                    if let Some(slot) = flow.mpls.get_mut(i) {
                        *slot = (l >> 4) as u32;
                        flow.mpls_count = flow.mpls_count.max(i as u8 + 1);
                    }
                }
            }
            Direction => flow.direction = u8v(v),
            EndReason => flow.end_reason = u8v(v),
            IcmpTypeCode => {
                if let Some(tc) = u16v(v) {
                    flow.icmp_type = Some((tc >> 8) as u8);
                    flow.icmp_code = Some(tc as u8);
                }
            }
            IcmpType => flow.icmp_type = u8v(v),
            IcmpCode => flow.icmp_code = u8v(v),
            SamplerId => flow.sampler_id = uint(v),
            SamplingInterval => x.sampling_interval = uint(v),
            PacketInterval => x.packet_interval = uint(v),
            PacketSpace => x.packet_space = uint(v),
            NatSrcV4 => flow.nat_src = v4(v),
            NatDstV4 => flow.nat_dst = v4(v),
            NatSrcV6 => flow.nat_src = v6(v),
            NatDstV6 => flow.nat_dst = v6(v),
            NatSrcPort => flow.nat_src_port = u16v(v),
            NatDstPort => flow.nat_dst_port = u16v(v),
            FrameSize => x.frame_size = uint(v),
            FrameSection => x.frame = Some(v),
            RevBytes | RevBytesAlt => x.rev_bytes = x.rev_bytes.or(uint(v)),
            RevPackets | RevPacketsAlt => x.rev_packets = x.rev_packets.or(uint(v)),
            RevTcpFlags => x.rev_flags = u8v(v),
        }
    }
    Some(at)
}
