//! Meters raw packets into bidirectional flows, in packet (event) time.
//!
//! A flow is keyed by (protocol, the two endpoints in canonical order, VLAN), so both
//! directions of a conversation meet in one record; the endpoint that sent the first packet
//! seen is the source. A flow ends and is emitted when it has been idle for
//! `idle_timeout_secs` (checked every quarter of it), when it has lasted `active_timeout_secs` (a long flow is cut into
//! pieces), when TCP closes it (RST, or FIN from
//! both sides), when the table is full (the least recently seen flow goes first), or at the
//! end of the input ([`Meter::flush`]). TCP flags are kept per direction; the state at the
//! end says whether the handshake completed. DNS questions and TLS server names seen in
//! the flow are attached.
//!
//! Time comes only from the packets, so the same capture always gives the same flows.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, FlowRecord, Timestamp};
use serde_json::Value;

use crate::packet::{self, Decoded};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeterConfig {
    /// A flow with no packet for this long is finished.
    pub idle_timeout_secs: u32,
    /// A flow is cut and emitted after this long, even if still active.
    pub active_timeout_secs: u32,
    /// Most flows kept at once; the least recently seen is emitted to make room.
    pub max_flows: usize,
}

impl Default for MeterConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 60,
            active_timeout_secs: 1800,
            max_flows: 1 << 20,
        }
    }
}

/// Why a metered flow was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    Idle,
    Active,
    TcpClosed,
    TableFull,
    EndOfInput,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Idle => "idle_timeout",
            EndReason::Active => "active_timeout",
            EndReason::TcpClosed => "tcp_end",
            EndReason::TableFull => "table_full",
            EndReason::EndOfInput => "end_of_input",
        }
    }
}

/// A finished bidirectional flow: `src` is the endpoint that sent first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteredFlow {
    pub protocol: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub vlan: Option<u16>,
    pub start: Timestamp,
    pub end: Timestamp,
    /// Source → destination.
    pub packets: u64,
    pub bytes: u64,
    /// Destination → source.
    pub rev_packets: u64,
    pub rev_bytes: u64,
    pub tcp_flags: u8,
    pub rev_tcp_flags: u8,
    pub end_reason: EndReason,
    /// DNS question names seen in the flow (at most [`MAX_NAMES`]).
    pub dns_names: Vec<String>,
    /// TLS ClientHello server name.
    pub sni: Option<String>,
}

/// Most distinct DNS names kept per flow: enough for the detector to judge the names a
/// tunnel sends over one socket, bounded so a flow's metadata stays small.
pub const MAX_NAMES: usize = 32;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

impl MeteredFlow {
    /// TCP state at the end: `syn_only` (no answer: a probe or a refused port),
    /// `rejected` (answered with RST and nothing else), `reset`, `closed` (FIN both ways),
    /// `established`, or `partial` (the handshake was not seen).
    pub fn tcp_state(&self) -> Option<&'static str> {
        if self.protocol != 6 {
            return None;
        }
        let all = self.tcp_flags | self.rev_tcp_flags;
        Some(if self.tcp_flags & SYN != 0 && self.rev_packets == 0 {
            "syn_only"
        } else if self.tcp_flags & SYN != 0
            && self.rev_tcp_flags & RST != 0
            && self.rev_tcp_flags & SYN == 0
        {
            "rejected"
        } else if all & RST != 0 {
            "reset"
        } else if self.tcp_flags & FIN != 0 && self.rev_tcp_flags & FIN != 0 {
            "closed"
        } else if self.tcp_flags & SYN != 0 && self.rev_tcp_flags & (SYN | ACK) == (SYN | ACK) {
            "established"
        } else {
            "partial"
        })
    }
}

/// A conversation: addresses as 128-bit integers (IPv4 mapped into IPv6) so keys compare
/// and hash as plain integers; `lo` is the smaller (address, port) endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Key {
    lo: u128,
    hi: u128,
    lo_port: u16,
    hi_port: u16,
    /// VLAN id + 1; 0 without a VLAN tag.
    vlan: u16,
    protocol: u8,
}

fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn addr_from_bits(b: u128) -> IpAddr {
    let v6 = std::net::Ipv6Addr::from(b);
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

#[derive(Debug)]
struct State {
    /// Whether the first packet went lo → hi.
    lo_first: bool,
    start: Timestamp,
    last: Timestamp,
    /// lo → hi and hi → lo.
    packets: [u64; 2],
    bytes: [u64; 2],
    flags: [u8; 2],
    ports: (Option<u16>, Option<u16>),
    /// DNS names and TLS server name, boxed: most flows have neither, and a small entry
    /// keeps more of the table in cache.
    meta: Option<Box<Meta>>,
}

#[derive(Debug, Default)]
struct Meta {
    dns_names: Vec<String>,
    sni: Option<String>,
}

/// Counters of what the meter did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterStats {
    pub packets: u64,
    /// Packets without an IP layer (ARP, STP, ...) or not decodable: not metered.
    pub skipped: u64,
    pub flows: u64,
    pub evicted: u64,
}

pub struct Meter {
    cfg: MeterConfig,
    flows: HashMap<Key, State, FastState>,
    /// Idle expiry sweeps the table when packet time has moved a quarter of the idle
    /// timeout past the last sweep (not per packet: a per-packet recency index cost more
    /// than the rest of the metering).
    next_sweep: Timestamp,
    stats: MeterStats,
}

const NANOS: i64 = 1_000_000_000;

/// A multiply-rotate hasher for flow keys, seeded per meter from the process's random
/// state (so a sender cannot precompute colliding keys across runs); SipHash, the
/// default, was a quarter of the metering time.
#[derive(Clone, Copy)]
struct FastState(u64);

struct FastHasher(u64);

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl BuildHasher for FastState {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.0)
    }
}

impl FastHasher {
    #[inline]
    fn mix(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(MUL);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.mix(u64::from_le_bytes(w));
        }
        let mut w = [0u8; 8];
        let rest = chunks.remainder();
        w[..rest.len()].copy_from_slice(rest);
        self.mix(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 56));
    }
    fn write_u8(&mut self, v: u8) {
        self.mix(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.mix(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.mix(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.mix(v);
    }
    fn write_u128(&mut self, v: u128) {
        self.mix(v as u64);
        self.mix((v >> 64) as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.mix(v as u64);
    }
    fn finish(&self) -> u64 {
        // A final avalanche so the table's low bits depend on every input bit.
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

impl Meter {
    pub fn new(cfg: MeterConfig) -> Self {
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        // Keys are totally ordered, so flows that end together are emitted in the same
        // order on every run (the table's own order is not stable).
        Self {
            cfg,
            flows: HashMap::with_hasher(FastState(seed)),
            next_sweep: Timestamp(i64::MIN),
            stats: MeterStats::default(),
        }
    }

    pub fn stats(&self) -> &MeterStats {
        &self.stats
    }

    /// Flows in the table now.
    pub fn active(&self) -> usize {
        self.flows.len()
    }

    /// Meters one decoded packet of `wire_len` bytes (its original length on the wire) seen
    /// at `ts`; finished flows are appended to `out`.
    pub fn push(
        &mut self,
        ts: Timestamp,
        p: &Decoded<'_>,
        wire_len: u32,
        out: &mut Vec<MeteredFlow>,
    ) {
        self.stats.packets += 1;
        let (Some(src), Some(dst)) = (p.src, p.dst) else {
            self.stats.skipped += 1;
            return;
        };
        if ts >= self.next_sweep {
            self.expire(ts, out);
            // A quarter of the idle timeout between sweeps: flows end at most 25 % late,
            // and a large, slow table is not scanned every second.
            let every = i64::from((self.cfg.idle_timeout_secs / 4).max(1)) * NANOS;
            self.next_sweep = Timestamp(ts.nanos().saturating_add(every));
        }
        let a = (addr_bits(src), p.src_port.unwrap_or(0));
        let b = (addr_bits(dst), p.dst_port.unwrap_or(0));
        let forward = a <= b;
        let (lo, hi) = if forward { (a, b) } else { (b, a) };
        let key = Key {
            lo: lo.0,
            hi: hi.0,
            lo_port: lo.1,
            hi_port: hi.1,
            vlan: p.vlan.map_or(0, |v| v.saturating_add(1)),
            protocol: p.protocol,
        };
        let dir = usize::from(!forward); // 0: lo → hi
        if self.flows.len() >= self.cfg.max_flows && !self.flows.contains_key(&key) {
            self.evict_oldest(out);
        }
        let state = self.flows.entry(key).or_insert_with(|| State {
            lo_first: forward,
            start: ts,
            last: ts,
            packets: [0; 2],
            bytes: [0; 2],
            flags: [0; 2],
            ports: if forward {
                (p.src_port, p.dst_port)
            } else {
                (p.dst_port, p.src_port)
            },
            meta: None,
        });
        state.last = state.last.max(ts);
        state.packets[dir] += 1;
        state.bytes[dir] += u64::from(wire_len);
        let flags = p.tcp_flags.unwrap_or(0);
        state.flags[dir] |= flags;
        if !p.payload.is_empty() {
            attach_metadata(state, p);
        }
        let closed = key.protocol == 6
            && (flags & RST != 0 || (state.flags[0] & FIN != 0 && state.flags[1] & FIN != 0));
        let long = state.last.nanos() - state.start.nanos()
            >= i64::from(self.cfg.active_timeout_secs) * NANOS;
        if closed {
            self.finish(&key, EndReason::TcpClosed, out);
        } else if long {
            self.finish(&key, EndReason::Active, out);
        }
    }

    /// Emits the flows idle at `now` (packet time), oldest first.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<MeteredFlow>) {
        let cutoff = now
            .nanos()
            .saturating_sub(i64::from(self.cfg.idle_timeout_secs) * NANOS);
        let mut idle: Vec<(Timestamp, Key)> = self
            .flows
            .iter()
            .filter(|(_, s)| s.last.nanos() <= cutoff)
            .map(|(k, s)| (s.last, *k))
            .collect();
        idle.sort_unstable();
        for (_, k) in idle {
            self.finish(&k, EndReason::Idle, out);
        }
    }

    /// Makes room in a full table: the least recently seen sixteenth goes, oldest first
    /// (in batches, so a table kept full by a scan costs O(1) per new flow, not O(n)).
    fn evict_oldest(&mut self, out: &mut Vec<MeteredFlow>) {
        let mut all: Vec<(Timestamp, Key)> = self.flows.iter().map(|(k, s)| (s.last, *k)).collect();
        let n = (all.len() / 16).max(1);
        if all.len() > n {
            all.select_nth_unstable(n);
            all.truncate(n);
        }
        all.sort_unstable();
        for (_, k) in all {
            self.stats.evicted += 1;
            self.finish(&k, EndReason::TableFull, out);
        }
    }

    /// Emits every flow still open (end of the input), oldest first.
    pub fn flush(&mut self, out: &mut Vec<MeteredFlow>) {
        let mut all: Vec<(Timestamp, Key)> = self.flows.iter().map(|(k, s)| (s.last, *k)).collect();
        all.sort_unstable();
        for (_, k) in all {
            self.finish(&k, EndReason::EndOfInput, out);
        }
    }

    fn finish(&mut self, key: &Key, reason: EndReason, out: &mut Vec<MeteredFlow>) {
        let Some(s) = self.flows.remove(key) else {
            return;
        };
        self.stats.flows += 1;
        let (f, r) = if s.lo_first { (0, 1) } else { (1, 0) };
        let (src, dst, src_port, dst_port) = if s.lo_first {
            (
                addr_from_bits(key.lo),
                addr_from_bits(key.hi),
                s.ports.0,
                s.ports.1,
            )
        } else {
            (
                addr_from_bits(key.hi),
                addr_from_bits(key.lo),
                s.ports.1,
                s.ports.0,
            )
        };
        let meta = s.meta.map(|m| *m).unwrap_or_default();
        out.push(MeteredFlow {
            protocol: key.protocol,
            src,
            dst,
            src_port,
            dst_port,
            vlan: key.vlan.checked_sub(1),
            start: s.start,
            end: s.last,
            packets: s.packets[f],
            bytes: s.bytes[f],
            rev_packets: s.packets[r],
            rev_bytes: s.bytes[r],
            tcp_flags: s.flags[f],
            rev_tcp_flags: s.flags[r],
            end_reason: reason,
            dns_names: meta.dns_names,
            sni: meta.sni,
        });
    }
}

fn attach_metadata(state: &mut State, p: &Decoded<'_>) {
    let port = |n| p.src_port == Some(n) || p.dst_port == Some(n);
    let names = state.meta.as_ref().map_or(0, |m| m.dns_names.len());
    if p.protocol == 17 && (port(53) || port(5353)) && names < MAX_NAMES {
        if let Ok(m) = packet::dns(p.payload) {
            if let Some(q) = m.question {
                let meta = state.meta.get_or_insert_with(Default::default);
                if !q.name.is_empty() && !meta.dns_names.contains(&q.name) {
                    meta.dns_names.push(q.name);
                }
            }
        }
    } else if p.protocol == 6
        && state.meta.as_ref().is_none_or(|m| m.sni.is_none())
        && p.payload.first() == Some(&22)
    {
        if let Ok(Some(name)) = packet::tls_client_hello_sni(p.payload) {
            state.meta.get_or_insert_with(Default::default).sni = Some(name.to_string());
        }
    }
}

fn transport(protocol: u8) -> Option<&'static str> {
    Some(match protocol {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "ipv6-icmp",
        132 => "sctp",
        47 => "gre",
        50 => "esp",
        _ => return None,
    })
}

/// The ECS event of a metered flow: `source` is the initiator, `destination` the
/// responder; `source.bytes`/`source.packets` what the source sent, `destination.*` what
/// it got back, `network.*` both ways. The id is derived from the flow's key and start, so
/// a replay gives the same ids.
pub fn to_event(f: &MeteredFlow, sector: &str, source: &str, now: Timestamp) -> Event {
    let key = format!(
        "{}|{}|{}|{}|{}|{:?}|{}",
        f.protocol,
        f.src,
        f.src_port.unwrap_or(0),
        f.dst,
        f.dst_port.unwrap_or(0),
        f.vlan,
        f.start.nanos()
    );
    let mut e = Event::new(
        id_from_parts(f.end, &[source.as_bytes(), key.as_bytes()]),
        f.end,
        sector,
        source,
    );
    let x = &mut e.fields;
    x.created = Some(now);
    x.kind = Some("event".into());
    x.category = vec!["network".into()];
    x.r#type = vec!["connection".into(), "end".into()];
    x.source_ip = Some(f.src);
    x.destination_ip = Some(f.dst);
    x.source_port = f.src_port;
    x.destination_port = f.dst_port;
    x.network_transport = transport(f.protocol).map(str::to_string);
    x.network_bytes = Some(f.bytes + f.rev_bytes);
    x.network_packets = Some(f.packets + f.rev_packets);
    x.dns_question_name = f.dns_names.first().cloned();
    x.tls_server_sni = f.sni.clone();
    e.flow = Some(Box::new(FlowRecord {
        version: Some("meter".into()),
        sampling_rate: Some(1),
        bytes_raw: Some(f.bytes + f.rev_bytes),
        packets_raw: Some(f.packets + f.rev_packets),
        start: Some(f.start),
        end: Some(f.end),
        tcp_flags: (f.protocol == 6).then_some(f.tcp_flags | f.rev_tcp_flags),
        ..FlowRecord::default()
    }));
    let mut put = |k: &str, v: Value| {
        e.extra.insert(k.to_string(), v);
    };
    put("source.bytes", f.bytes.into());
    put("source.packets", f.packets.into());
    put("destination.bytes", f.rev_bytes.into());
    put("destination.packets", f.rev_packets.into());
    put("network.iana_number", f.protocol.to_string().into());
    put("flow.end_reason", f.end_reason.as_str().into());
    if let Some(v) = f.vlan {
        put("network.vlan.id", v.to_string().into());
    }
    if let Some(state) = f.tcp_state() {
        put("flow.tcp_state", state.into());
    }
    if f.dns_names.len() > 1 {
        put("dns.question.names", f.dns_names.clone().into());
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A decoded TCP/UDP packet between two endpoints, built by hand.
    fn pkt<'a>(
        src: &str,
        sp: u16,
        dst: &str,
        dp: u16,
        proto: u8,
        flags: u8,
        payload: &'a [u8],
    ) -> Decoded<'a> {
        Decoded {
            src: Some(src.parse().unwrap()),
            dst: Some(dst.parse().unwrap()),
            src_port: Some(sp),
            dst_port: Some(dp),
            protocol: proto,
            tcp_flags: (proto == 6).then_some(flags),
            payload,
            ..Decoded::default()
        }
    }

    fn t(s: f64) -> Timestamp {
        Timestamp((s * 1e9) as i64)
    }

    #[test]
    fn both_directions_meet_and_tcp_close_ends_the_flow() {
        let mut m = Meter::new(MeterConfig::default());
        let mut out = Vec::new();
        let (c, s) = ("10.0.0.1", "192.0.2.80");
        m.push(t(1.0), &pkt(c, 40000, s, 443, 6, SYN, b""), 60, &mut out);
        m.push(
            t(1.1),
            &pkt(s, 443, c, 40000, 6, SYN | ACK, b""),
            60,
            &mut out,
        );
        m.push(t(1.2), &pkt(c, 40000, s, 443, 6, ACK, b""), 52, &mut out);
        m.push(
            t(2.0),
            &pkt(c, 40000, s, 443, 6, FIN | ACK, b""),
            52,
            &mut out,
        );
        assert!(out.is_empty());
        m.push(
            t(2.1),
            &pkt(s, 443, c, 40000, 6, FIN | ACK, b""),
            52,
            &mut out,
        );
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(
            (f.src.to_string(), f.src_port, f.dst_port),
            (c.to_string(), Some(40000), Some(443))
        );
        assert_eq!(
            (f.packets, f.bytes, f.rev_packets, f.rev_bytes),
            (3, 164, 2, 112)
        );
        assert_eq!(f.tcp_state(), Some("closed"));
        assert_eq!(f.end_reason, EndReason::TcpClosed);
        assert_eq!((f.start, f.end), (t(1.0), t(2.1)));
        assert_eq!(m.active(), 0);
    }

    #[test]
    fn probes_without_answer_are_syn_only_and_end_when_idle() {
        let mut m = Meter::new(MeterConfig {
            idle_timeout_secs: 10,
            ..MeterConfig::default()
        });
        let mut out = Vec::new();
        for port in 1..=100u16 {
            m.push(
                t(100.0 + f64::from(port) * 0.01),
                &pkt("203.0.113.9", 55555, "10.0.0.5", port, 6, SYN, b""),
                60,
                &mut out,
            );
        }
        assert_eq!(m.active(), 100);
        // Packet time moves on: everything idle for 10 s is emitted.
        m.push(
            t(120.0),
            &pkt("10.0.0.7", 1, "10.0.0.8", 2, 17, 0, b""),
            60,
            &mut out,
        );
        assert_eq!(out.len(), 100);
        assert!(out
            .iter()
            .all(|f| f.tcp_state() == Some("syn_only") && f.end_reason == EndReason::Idle));
        let mut rest = Vec::new();
        m.flush(&mut rest);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].end_reason, EndReason::EndOfInput);
    }

    #[test]
    fn long_flows_are_cut_at_the_active_timeout_and_the_table_is_bounded() {
        let mut m = Meter::new(MeterConfig {
            idle_timeout_secs: 60,
            active_timeout_secs: 30,
            max_flows: 2,
        });
        let mut out = Vec::new();
        for i in 0..40 {
            m.push(
                t(f64::from(i)),
                &pkt("10.0.0.1", 5000, "10.0.0.2", 53, 17, 0, b""),
                100,
                &mut out,
            );
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].end_reason, EndReason::Active);
        assert_eq!(out[0].packets, 31);
        out.clear();
        m.push(
            t(41.0),
            &pkt("10.0.0.3", 1, "10.0.0.4", 2, 17, 0, b""),
            100,
            &mut out,
        );
        m.push(
            t(42.0),
            &pkt("10.0.0.5", 1, "10.0.0.6", 2, 17, 0, b""),
            100,
            &mut out,
        );
        assert_eq!(out.len(), 1, "the least recently seen flow makes room");
        assert_eq!(out[0].end_reason, EndReason::TableFull);
        assert_eq!(m.stats().evicted, 1);
    }

    #[test]
    fn events_carry_both_directions_and_stable_ids() {
        let mut m = Meter::new(MeterConfig::default());
        let mut out = Vec::new();
        m.push(
            t(5.0),
            &pkt("10.0.0.1", 40000, "192.0.2.80", 80, 6, SYN, b""),
            60,
            &mut out,
        );
        m.push(
            t(5.1),
            &pkt("192.0.2.80", 80, "10.0.0.1", 40000, 6, RST | ACK, b""),
            40,
            &mut out,
        );
        let e = to_event(&out[0], "energy", "sensor-1", t(9.0));
        assert_eq!(e.fields.network_bytes, Some(100));
        assert_eq!(e.extra["destination.packets"], 1);
        assert_eq!(e.extra["flow.tcp_state"], "rejected");
        assert_eq!(e.flow.as_ref().unwrap().version.as_deref(), Some("meter"));
        assert_eq!(e.id, to_event(&out[0], "energy", "sensor-1", t(99.0)).id);
    }
}
