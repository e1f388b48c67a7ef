//! sFlow version 5 datagrams (sflow.org `sflow_version_5.txt`) into [`Flow`]s and
//! [`CounterSample`]s.
//!
//! # Wire format (XDR: big-endian 32-bit words, opaque data padded to 4 bytes)
//! Datagram: `version(5) agent_address_type(1 = IPv4, 2 = IPv6) agent_address
//! sub_agent_id sequence uptime_ms num_samples samples…`; each sample and each record is
//! `format(enterprise << 12 | format) length body`, so unknown ones are skipped.
//!
//! - Flow sample (0:1): `sequence source_id sampling_rate sample_pool drops input output
//!   num_records records…`; expanded flow sample (0:3) has source id type and index, and
//!   input/output format and value, as separate words.
//! - Flow records: raw packet header (0:1, decoded with [`crate::packet`], VXLAN on UDP
//!   4789 decapsulated to the inner packet), Ethernet frame data (0:2), sampled IPv4
//!   (0:3) and IPv6 (0:4), extended switch (0:1001: VLANs), router (0:1002: next hop and
//!   masks), gateway (0:1003: next hop, AS numbers, AS path).
//! - Counter sample (0:2) and expanded counter sample (0:4): records, of which generic
//!   interface counters (0:1) are decoded into [`InterfaceCounters`].
//!
//! A flow sample is one sampled packet: `bytes` is its frame length, `packets` 1, and
//! the sampling rate scales them. sFlow carries no wall clock, so flow times are the
//! receive time given by the caller. The exporter of a flow is the agent address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ncsoc_model::Timestamp;

use crate::flow::{ExportVersion, Flow};
use crate::packet;

/// Most samples per datagram and records per sample read (a 64 KiB datagram holds at
/// most ~8k 8-byte headers; real agents send a handful).
const MAX_SAMPLES: u32 = 4096;
const MAX_RECORDS: u32 = 4096;

/// A malformed sFlow datagram: the byte offset, the structure and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SflowError {
    pub offset: usize,
    pub field: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for SflowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sflow {} at byte {}: {}",
            self.field, self.offset, self.reason
        )
    }
}

impl std::error::Error for SflowError {}

/// Generic interface counters (counter record 0:1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InterfaceCounters {
    pub if_index: u32,
    pub if_type: u32,
    pub if_speed: u64,
    /// 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out.
    pub if_direction: u32,
    /// Bit 0 admin up, bit 1 operational up.
    pub if_status: u32,
    pub in_octets: u64,
    pub in_ucast_pkts: u32,
    pub in_multicast_pkts: u32,
    pub in_broadcast_pkts: u32,
    pub in_discards: u32,
    pub in_errors: u32,
    pub in_unknown_protos: u32,
    pub out_octets: u64,
    pub out_ucast_pkts: u32,
    pub out_multicast_pkts: u32,
    pub out_broadcast_pkts: u32,
    pub out_discards: u32,
    pub out_errors: u32,
    pub promiscuous_mode: u32,
}

/// One counter sample: who sent it and the interface counters it carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterSample {
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub received: Timestamp,
    pub uptime_ms: u32,
    pub sequence: u32,
    pub source_id_type: u32,
    pub source_id_index: u32,
    /// Generic interface counters, when the sample had them.
    pub interface: Option<InterfaceCounters>,
    /// Records of other kinds (Ethernet, VLAN, processor, …), skipped.
    pub other_records: u32,
}

/// An XDR cursor over a slice, with offsets reported relative to the datagram.
struct Xdr<'a> {
    d: &'a [u8],
    at: usize,
    base: usize,
}

impl<'a> Xdr<'a> {
    fn err(&self, field: &'static str, reason: &'static str) -> SflowError {
        SflowError {
            offset: self.base + self.at,
            field,
            reason,
        }
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, SflowError> {
        let b = self
            .d
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.err(field, "truncated"))?;
        self.at += 4;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, SflowError> {
        let hi = self.u32(field)?;
        let lo = self.u32(field)?;
        Ok((u64::from(hi) << 32) | u64::from(lo))
    }
    fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], SflowError> {
        let b = self
            .d
            .get(self.at..self.at.saturating_add(n))
            .ok_or_else(|| self.err(field, "truncated"))?;
        // XDR opaque data is padded to a multiple of 4.
        self.at = (self.at + n + 3) & !3;
        Ok(b)
    }
    fn address(&mut self, field: &'static str) -> Result<Option<IpAddr>, SflowError> {
        match self.u32(field)? {
            0 => Ok(None),
            1 => {
                let b = self.bytes(4, field)?;
                Ok(Some(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))))
            }
            2 => {
                let b = self.bytes(16, field)?;
                let mut a = [0u8; 16];
                a.copy_from_slice(b);
                Ok(Some(IpAddr::V6(Ipv6Addr::from(a))))
            }
            _ => Err(self.err(field, "address type is not 0, 1 or 2")),
        }
    }
    /// A `format length body` item: the format and a cursor over the body.
    fn item(&mut self, field: &'static str) -> Result<(u32, Xdr<'a>), SflowError> {
        let format = self.u32(field)?;
        let len = self.u32(field)? as usize;
        let base = self.base + self.at;
        let body = self.bytes(len, field)?;
        Ok((
            format,
            Xdr {
                d: body,
                at: 0,
                base,
            },
        ))
    }
}

/// Decodes one sFlow v5 datagram received at `received`, appending flows to `flows` and
/// counter samples to `counters` (what was decoded before an error stays there).
pub fn decode(
    datagram: &[u8],
    received: Timestamp,
    flows: &mut Vec<Flow>,
    counters: &mut Vec<CounterSample>,
) -> Result<(), SflowError> {
    let mut x = Xdr {
        d: datagram,
        at: 0,
        base: 0,
    };
    if x.u32("version")? != 5 {
        return Err(x.err("version", "not 5"));
    }
    let agent = x
        .address("agent address")?
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let sub_agent = x.u32("sub agent id")?;
    let sequence = x.u32("sequence")?;
    let uptime_ms = x.u32("uptime")?;
    let n = x.u32("sample count")?;
    if n > MAX_SAMPLES {
        return Err(x.err("sample count", "above the limit"));
    }
    for i in 0..n {
        let (format, mut s) = x.item("sample")?;
        match format {
            1 | 3 => {
                let mut f = Flow::new(ExportVersion::Sflow5, agent, sub_agent, received);
                f.sequence = sequence;
                f.record = u64::from(i);
                f.start = Some(received);
                f.end = Some(received);
                flow_sample(&mut s, format == 3, &mut f)?;
                flows.push(f);
            }
            2 | 4 => counters.push(counter_sample(
                &mut s,
                format == 4,
                agent,
                sub_agent,
                received,
                uptime_ms,
            )?),
            _ => {}
        }
    }
    Ok(())
}

fn flow_sample(s: &mut Xdr<'_>, expanded: bool, f: &mut Flow) -> Result<(), SflowError> {
    let _seq = s.u32("flow sample sequence")?;
    if expanded {
        s.u32("source id type")?;
        s.u32("source id index")?;
    } else {
        s.u32("source id")?;
    }
    f.sampling_rate = s.u32("sampling rate")?.max(1);
    s.u32("sample pool")?;
    s.u32("drops")?;
    let (in_fmt, in_val, out_fmt, out_val) = if expanded {
        (
            s.u32("input format")?,
            s.u32("input")?,
            s.u32("output format")?,
            s.u32("output")?,
        )
    } else {
        let i = s.u32("input")?;
        let o = s.u32("output")?;
        (i >> 30, i & 0x3FFF_FFFF, o >> 30, o & 0x3FFF_FFFF)
    };
    // Format 0: an ifIndex (0 = unknown); 1: a discard reason; 2: a count of interfaces.
    f.in_if = (in_fmt == 0 && in_val != 0).then_some(in_val);
    f.out_if = (out_fmt == 0 && out_val != 0).then_some(out_val);
    f.packets = 1;
    let n = s.u32("record count")?;
    if n > MAX_RECORDS {
        return Err(s.err("record count", "above the limit"));
    }
    let mut sampled: Option<Flow> = None;
    for _ in 0..n {
        let (format, mut r) = s.item("flow record")?;
        match format {
            1 => {
                let proto = r.u32("header protocol")?;
                let frame_len = r.u32("frame length")?;
                let _stripped = r.u32("stripped")?;
                let hlen = r.u32("header length")? as usize;
                let header = r.bytes(hlen, "header")?;
                f.bytes = u64::from(frame_len);
                let decoded = match proto {
                    1 => packet::decode_ethernet(header),
                    11 | 12 => packet::decode_ip(header),
                    _ => continue,
                };
                if let Ok(p) = decoded {
                    match packet::vxlan_inner(&p) {
                        Some((vni, Ok(inner))) => {
                            f.vxlan_vni = Some(vni);
                            f.fill_from_packet(&inner);
                        }
                        _ => f.fill_from_packet(&p),
                    }
                }
            }
            2 => {
                let len = r.u32("frame length")?;
                let src = r.bytes(6, "source mac")?;
                r.bytes(2, "padding")?;
                let dst = r.bytes(6, "destination mac")?;
                if f.bytes == 0 {
                    f.bytes = u64::from(len);
                }
                let mut m = [0u8; 6];
                m.copy_from_slice(src);
                f.src_mac = f.src_mac.or(Some(m));
                m.copy_from_slice(dst);
                f.dst_mac = f.dst_mac.or(Some(m));
            }
            3 | 4 => {
                let mut g = *f;
                let len = r.u32("ip length")?;
                g.protocol = Some(r.u32("protocol")? as u8);
                let alen = if format == 3 { 4 } else { 16 };
                let src = r.bytes(alen, "source address")?;
                let dst = r.bytes(alen, "destination address")?;
                let addr = |b: &[u8]| -> Option<IpAddr> {
                    if let Ok(a) = <[u8; 4]>::try_from(b) {
                        return Some(IpAddr::V4(Ipv4Addr::from(a)));
                    }
                    <[u8; 16]>::try_from(b)
                        .ok()
                        .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                };
                g.src = addr(src);
                g.dst = addr(dst);
                g.src_port = Some(r.u32("source port")? as u16);
                g.dst_port = Some(r.u32("destination port")? as u16);
                g.tcp_flags = Some(r.u32("tcp flags")? as u8);
                g.tos = Some(r.u32("tos")? as u8);
                g.bytes = u64::from(len);
                sampled = Some(g);
            }
            1001 => {
                let src_vlan = r.u32("source vlan")?;
                r.u32("source priority")?;
                let dst_vlan = r.u32("destination vlan")?;
                f.vlan = f.vlan.or(Some((src_vlan & 0x0FFF) as u16));
                f.post_vlan = Some((dst_vlan & 0x0FFF) as u16);
            }
            1002 => {
                f.next_hop = r.address("next hop")?;
                f.src_mask = Some(r.u32("source mask")? as u8);
                f.dst_mask = Some(r.u32("destination mask")? as u8);
            }
            1003 => {
                f.bgp_next_hop = r.address("next hop")?;
                let own_as = r.u32("as")?;
                let src_as = r.u32("source as")?;
                r.u32("source peer as")?;
                let segments = r.u32("as path segments")?;
                let mut last = None;
                for _ in 0..segments.min(MAX_RECORDS) {
                    r.u32("as path segment type")?;
                    let len = r.u32("as path segment length")?;
                    if len as usize > r.d.len() / 4 {
                        return Err(r.err("as path segment length", "beyond the record"));
                    }
                    for _ in 0..len {
                        last = Some(r.u32("as path")?);
                    }
                }
                f.src_as = Some(if src_as == 0 { own_as } else { src_as });
                f.dst_as = Some(last.unwrap_or(own_as));
            }
            _ => {}
        }
    }
    // The sampled IPv4/IPv6 record fills what no header gave.
    if let Some(g) = sampled {
        f.src = f.src.or(g.src);
        f.dst = f.dst.or(g.dst);
        f.src_port = f.src_port.or(g.src_port);
        f.dst_port = f.dst_port.or(g.dst_port);
        f.protocol = f.protocol.or(g.protocol);
        f.tcp_flags = f.tcp_flags.or(g.tcp_flags);
        f.tos = f.tos.or(g.tos);
        if f.bytes == 0 {
            f.bytes = g.bytes;
        }
    }
    Ok(())
}

fn counter_sample(
    s: &mut Xdr<'_>,
    expanded: bool,
    agent: IpAddr,
    sub_agent: u32,
    received: Timestamp,
    uptime_ms: u32,
) -> Result<CounterSample, SflowError> {
    let sequence = s.u32("counter sample sequence")?;
    let (source_id_type, source_id_index) = if expanded {
        (s.u32("source id type")?, s.u32("source id index")?)
    } else {
        let id = s.u32("source id")?;
        (id >> 24, id & 0x00FF_FFFF)
    };
    let mut c = CounterSample {
        agent,
        sub_agent,
        received,
        uptime_ms,
        sequence,
        source_id_type,
        source_id_index,
        interface: None,
        other_records: 0,
    };
    let n = s.u32("record count")?;
    if n > MAX_RECORDS {
        return Err(s.err("record count", "above the limit"));
    }
    for _ in 0..n {
        let (format, mut r) = s.item("counter record")?;
        if format != 1 {
            c.other_records += 1;
            continue;
        }
        c.interface = Some(InterfaceCounters {
            if_index: r.u32("ifIndex")?,
            if_type: r.u32("ifType")?,
            if_speed: r.u64("ifSpeed")?,
            if_direction: r.u32("ifDirection")?,
            if_status: r.u32("ifStatus")?,
            in_octets: r.u64("ifInOctets")?,
            in_ucast_pkts: r.u32("ifInUcastPkts")?,
            in_multicast_pkts: r.u32("ifInMulticastPkts")?,
            in_broadcast_pkts: r.u32("ifInBroadcastPkts")?,
            in_discards: r.u32("ifInDiscards")?,
            in_errors: r.u32("ifInErrors")?,
            in_unknown_protos: r.u32("ifInUnknownProtos")?,
            out_octets: r.u64("ifOutOctets")?,
            out_ucast_pkts: r.u32("ifOutUcastPkts")?,
            out_multicast_pkts: r.u32("ifOutMulticastPkts")?,
            out_broadcast_pkts: r.u32("ifOutBroadcastPkts")?,
            out_discards: r.u32("ifOutDiscards")?,
            out_errors: r.u32("ifOutErrors")?,
            promiscuous_mode: r.u32("ifPromiscuousMode")?,
        });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(v: &mut Vec<u8>, words: &[u32]) {
        for x in words {
            v.extend_from_slice(&x.to_be_bytes());
        }
    }

    fn item(format: u32, body: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        w(&mut v, &[format, body.len() as u32]);
        v.extend_from_slice(body);
        v
    }

    fn datagram(samples: &[Vec<u8>]) -> Vec<u8> {
        let mut v = Vec::new();
        w(&mut v, &[5, 2]);
        v.extend_from_slice(&"2001:db8::9".parse::<Ipv6Addr>().unwrap().octets());
        w(&mut v, &[3, 77, 1000, samples.len() as u32]);
        for s in samples {
            v.extend_from_slice(s);
        }
        v
    }

    fn vxlan_frame() -> Vec<u8> {
        let mut inner = vec![0u8; 12];
        inner.extend_from_slice(&[8, 0, 0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]);
        inner.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2, 0, 53, 0, 99, 0, 8, 0, 0]);
        let mut vx = vec![0x08, 0, 0, 0, 0, 0, 42, 0];
        vx.extend(inner);
        let mut udp = vec![0x30, 0x39, 0x12, 0xB5];
        udp.extend_from_slice(&((8 + vx.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend(vx);
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2]);
        ip.extend(udp);
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[8, 0]);
        f.extend(ip);
        f
    }

    fn flow_sample(expanded: bool) -> Vec<u8> {
        let frame = vxlan_frame();
        let mut hdr = Vec::new();
        w(&mut hdr, &[1, 1500, 4, frame.len() as u32]);
        hdr.extend_from_slice(&frame);
        while hdr.len() % 4 != 0 {
            hdr.push(0);
        }
        let mut gw = Vec::new();
        w(
            &mut gw,
            &[1, 0xC000_0201, 65000, 64500, 64501, 1, 2, 2, 64510, 64511],
        );
        let mut sw = Vec::new();
        w(&mut sw, &[100, 0, 200, 0]);
        let mut s = Vec::new();
        if expanded {
            w(&mut s, &[9, 0, 5, 2048, 0, 0, 0, 3, 0, 4, 3]);
        } else {
            w(&mut s, &[9, 5, 2048, 0, 0, 3, 4, 3]);
        }
        s.extend(item(1, &hdr));
        s.extend(item(1003, &gw));
        s.extend(item(1001, &sw));
        item(if expanded { 3 } else { 1 }, &s)
    }

    #[test]
    fn flow_samples_with_vxlan_gateway_and_switch() {
        for expanded in [false, true] {
            let d = datagram(&[flow_sample(expanded)]);
            let mut flows = Vec::new();
            let mut counters = Vec::new();
            decode(&d, Timestamp(5), &mut flows, &mut counters).unwrap();
            assert_eq!(flows.len(), 1);
            let f = &flows[0];
            assert_eq!(f.exporter, "2001:db8::9".parse::<IpAddr>().unwrap());
            assert_eq!(f.domain, 3);
            assert_eq!(f.sampling_rate, 2048);
            assert_eq!((f.bytes, f.packets), (1500, 1));
            assert_eq!(f.scaled_bytes(), 1500 * 2048);
            assert_eq!(f.vxlan_vni, Some(42));
            assert_eq!(f.src, Some("10.0.0.1".parse().unwrap()), "inner packet");
            assert_eq!(f.dst_port, Some(99));
            assert_eq!((f.in_if, f.out_if), (Some(3), Some(4)));
            assert_eq!((f.src_as, f.dst_as), (Some(64500), Some(64511)));
            assert_eq!(f.bgp_next_hop, Some("192.0.2.1".parse().unwrap()));
            assert_eq!((f.vlan, f.post_vlan), (Some(100), Some(200)));
            assert_eq!(f.end, Some(Timestamp(5)));
        }
    }

    #[test]
    fn counter_samples_and_errors() {
        let mut gen = Vec::new();
        w(
            &mut gen,
            &[
                7,
                6,
                0,
                1_000_000_000,
                1,
                3,
                0,
                12345,
                1,
                2,
                3,
                4,
                5,
                6,
                0,
                999,
                7,
                8,
                9,
                10,
                11,
                1,
            ],
        );
        let mut s = Vec::new();
        w(&mut s, &[1, 7, 2]);
        s.extend(item(1, &gen));
        s.extend(item(2, &[0; 8]));
        let d = datagram(&[item(2, &s)]);
        let mut flows = Vec::new();
        let mut counters = Vec::new();
        decode(&d, Timestamp(0), &mut flows, &mut counters).unwrap();
        let c = counters[0];
        let i = c.interface.unwrap();
        assert_eq!(
            (i.if_index, i.if_speed, i.in_octets, i.out_octets),
            (7, 1_000_000_000, 12345, 999)
        );
        assert_eq!(i.promiscuous_mode, 1);
        assert_eq!(c.other_records, 1);
        // Truncated anywhere: an error naming where, never a panic.
        for cut in 0..d.len() {
            let r = decode(&d[..cut], Timestamp(0), &mut flows, &mut counters);
            assert!(r.is_err(), "cut at {cut}");
        }
        let mut bad = d.clone();
        bad[3] = 4;
        assert_eq!(
            decode(&bad, Timestamp(0), &mut flows, &mut counters)
                .unwrap_err()
                .field,
            "version"
        );
        let mut huge = datagram(&[]);
        let n = huge.len() - 4;
        huge[n..].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode(&huge, Timestamp(0), &mut flows, &mut counters)
                .unwrap_err()
                .reason,
            "above the limit"
        );
    }
}
