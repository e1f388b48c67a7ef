//! The compact flow record every export decoder produces, its mapping onto ECS
//! ([`to_event`]), and the entry point that picks the decoder from the version field of a
//! UDP payload ([`decode_export`]).
//!
//! Decoders fill [`Flow`]s into a caller-owned `Vec` (reused across packets, so the hot
//! path does not allocate); turning a flow into an [`Event`] is a separate step.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, FlowRecord, Timestamp};
use serde_json::Value;

use crate::netflow::{NetflowDecoder, NetflowError};
use crate::packet::transport_name;
use crate::sflow::{self, CounterSample, SflowError};

/// Which export protocol a flow came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExportVersion {
    #[default]
    Netflow5,
    Netflow9,
    Ipfix,
    Sflow5,
}

impl ExportVersion {
    /// The `flow.version` value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExportVersion::Netflow5 => "netflow5",
            ExportVersion::Netflow9 => "netflow9",
            ExportVersion::Ipfix => "ipfix",
            ExportVersion::Sflow5 => "sflow5",
        }
    }
}

/// One flow (or, for biflows, one direction of it) as exported: raw counts and the
/// sampling rate that scales them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub version: ExportVersion,
    /// The exporting router (NetFlow/IPFIX: the datagram's source address as the caller
    /// gives it; sFlow: the agent address inside the datagram).
    pub exporter: IpAddr,
    /// NetFlow v9 source id, IPFIX observation domain, sFlow sub-agent id; NetFlow v5:
    /// engine type << 8 | engine id.
    pub domain: u32,
    /// Export header time (sFlow: receive time).
    pub export_time: Timestamp,
    /// Export packet sequence number.
    pub sequence: u32,
    /// Position of the record in its export packet (set offset << 16 | record number),
    /// with the top bit set for the reverse direction of a biflow.
    pub record: u64,
    /// 1 in N; 1 when unsampled or unknown.
    pub sampling_rate: u32,
    /// Bytes and packets as exported, before scaling.
    pub bytes: u64,
    pub packets: u64,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub protocol: Option<u8>,
    pub tcp_flags: Option<u8>,
    pub tos: Option<u8>,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub in_if: Option<u32>,
    pub out_if: Option<u32>,
    pub next_hop: Option<IpAddr>,
    pub bgp_next_hop: Option<IpAddr>,
    pub src_as: Option<u32>,
    pub dst_as: Option<u32>,
    pub src_mask: Option<u8>,
    pub dst_mask: Option<u8>,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub vlan: Option<u16>,
    pub post_vlan: Option<u16>,
    /// Top MPLS labels (20-bit label values), outermost first; `mpls_count` are valid.
    pub mpls: [u32; 3],
    pub mpls_count: u8,
    pub nat_src: Option<IpAddr>,
    pub nat_dst: Option<IpAddr>,
    pub nat_src_port: Option<u16>,
    pub nat_dst_port: Option<u16>,
    /// IE 61: 0 ingress, 1 egress.
    pub direction: Option<u8>,
    pub end_reason: Option<u8>,
    pub icmp_type: Option<u8>,
    pub icmp_code: Option<u8>,
    pub sampler_id: Option<u64>,
    /// The reverse direction of an RFC 5103 biflow.
    pub reverse: bool,
    /// VXLAN network identifier when the sampled packet was VXLAN-encapsulated (the
    /// addresses are then the inner packet's).
    pub vxlan_vni: Option<u32>,
}

impl Flow {
    /// An empty flow from an exporter: every optional field unset, rate 1.
    pub fn new(
        version: ExportVersion,
        exporter: IpAddr,
        domain: u32,
        export_time: Timestamp,
    ) -> Self {
        Self {
            version,
            exporter,
            domain,
            export_time,
            sequence: 0,
            record: 0,
            sampling_rate: 1,
            bytes: 0,
            packets: 0,
            src: None,
            dst: None,
            src_port: None,
            dst_port: None,
            protocol: None,
            tcp_flags: None,
            tos: None,
            start: None,
            end: None,
            in_if: None,
            out_if: None,
            next_hop: None,
            bgp_next_hop: None,
            src_as: None,
            dst_as: None,
            src_mask: None,
            dst_mask: None,
            src_mac: None,
            dst_mac: None,
            vlan: None,
            post_vlan: None,
            mpls: [0; 3],
            mpls_count: 0,
            nat_src: None,
            nat_dst: None,
            nat_src_port: None,
            nat_dst_port: None,
            direction: None,
            end_reason: None,
            icmp_type: None,
            icmp_code: None,
            sampler_id: None,
            reverse: false,
            vxlan_vni: None,
        }
    }

    /// Bytes scaled by the sampling rate (saturating).
    pub fn scaled_bytes(&self) -> u64 {
        self.bytes
            .saturating_mul(u64::from(self.sampling_rate.max(1)))
    }

    /// Packets scaled by the sampling rate (saturating).
    pub fn scaled_packets(&self) -> u64 {
        self.packets
            .saturating_mul(u64::from(self.sampling_rate.max(1)))
    }

    /// Fills what a decoded packet says and the flow does not yet know.
    pub fn fill_from_packet(&mut self, p: &crate::packet::Decoded<'_>) {
        self.src = self.src.or(p.src);
        self.dst = self.dst.or(p.dst);
        self.src_port = self.src_port.or(p.src_port);
        self.dst_port = self.dst_port.or(p.dst_port);
        if p.ip_version != 0 {
            self.protocol = self.protocol.or(Some(p.protocol));
            self.tos = self.tos.or(Some(p.tos));
        }
        self.tcp_flags = self.tcp_flags.or(p.tcp_flags);
        self.src_mac = self.src_mac.or(p.src_mac);
        self.dst_mac = self.dst_mac.or(p.dst_mac);
        self.vlan = self.vlan.or(p.vlan);
        self.icmp_type = self.icmp_type.or(p.icmp_type);
        self.icmp_code = self.icmp_code.or(p.icmp_code);
    }
}

/// Tenant and feed of flow events: the exporter → sector mapping the caller configures.
#[derive(Debug, Clone, Default)]
pub struct EventContext {
    /// `ncsoc.source` of every event.
    pub source: String,
    /// Sector of exporters not in `sectors`.
    pub default_sector: String,
    /// Exporter address → sector.
    pub sectors: HashMap<IpAddr, String>,
    /// Receive time: `event.created`.
    pub now: Timestamp,
}

impl EventContext {
    pub fn sector_of(&self, exporter: IpAddr) -> &str {
        self.sectors
            .get(&exporter)
            .map_or(self.default_sector.as_str(), String::as_str)
    }
}

fn mac_string(m: [u8; 6]) -> String {
    format!(
        "{:02X}-{:02X}-{:02X}-{:02X}-{:02X}-{:02X}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Maps a flow onto an ECS event: `@timestamp` is the flow end (else the export time),
/// `network.bytes`/`network.packets` the scaled counts, `flow.bytes_raw`/`flow.packets_raw`
/// the exported ones. The `event.id` hashes exporter, domain, version, export time,
/// sequence and record position, so replaying the same export gives the same ids.
pub fn to_event(f: &Flow, ctx: &EventContext) -> Event {
    let ts = f.end.unwrap_or(f.export_time);
    let exporter = match f.exporter {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    };
    let id = id_from_parts(
        ts,
        &[
            &exporter,
            &f.domain.to_be_bytes(),
            f.version.as_str().as_bytes(),
            &f.export_time.0.to_be_bytes(),
            &f.sequence.to_be_bytes(),
            &f.record.to_be_bytes(),
        ],
    );
    let mut e = Event::new(id, ts, ctx.sector_of(f.exporter), ctx.source.as_str());
    let fields = &mut e.fields;
    fields.created = Some(ctx.now);
    fields.kind = Some("event".into());
    fields.category = vec!["network".into()];
    fields.r#type = vec!["connection".into()];
    fields.module = Some(
        if f.version == ExportVersion::Sflow5 {
            "sflow"
        } else {
            "netflow"
        }
        .into(),
    );
    fields.dataset = Some(
        if f.version == ExportVersion::Sflow5 {
            "sflow.log"
        } else {
            "netflow.log"
        }
        .into(),
    );
    fields.source_ip = f.src;
    fields.destination_ip = f.dst;
    fields.source_port = f.src_port;
    fields.destination_port = f.dst_port;
    if let Some(p) = f.protocol {
        fields.network_transport =
            Some(transport_name(p).map_or_else(|| p.to_string(), str::to_owned));
    }
    fields.network_bytes = Some(f.scaled_bytes());
    fields.network_packets = Some(f.scaled_packets());
    fields.network_direction = match f.direction {
        Some(0) => Some("ingress".into()),
        Some(1) => Some("egress".into()),
        _ => None,
    };
    e.flow = Some(Box::new(FlowRecord {
        exporter: Some(f.exporter),
        observation_domain: Some(f.domain),
        version: Some(f.version.as_str().into()),
        sampling_rate: Some(f.sampling_rate),
        bytes_raw: Some(f.bytes),
        packets_raw: Some(f.packets),
        start: f.start,
        end: f.end,
        tcp_flags: f.tcp_flags,
        input_interface: f.in_if,
        output_interface: f.out_if,
    }));
    let mut put = |k: &str, v: Value| {
        e.extra.insert(k.to_string(), v);
    };
    put("observer.ip", f.exporter.to_string().into());
    if let Some(p) = f.protocol {
        put("network.iana_number", p.to_string().into());
    }
    match f.src.or(f.dst) {
        Some(IpAddr::V4(_)) => put("network.type", "ipv4".into()),
        Some(IpAddr::V6(_)) => put("network.type", "ipv6".into()),
        None => {}
    }
    if let Some(m) = f.src_mac {
        put("source.mac", mac_string(m).into());
    }
    if let Some(m) = f.dst_mac {
        put("destination.mac", mac_string(m).into());
    }
    if let Some(v) = f.vlan {
        put("network.vlan.id", v.to_string().into());
    }
    if let Some(v) = f.post_vlan {
        put("flow.post_vlan.id", v.to_string().into());
    }
    if let Some(a) = f.src_as {
        put("source.as.number", a.into());
    }
    if let Some(a) = f.dst_as {
        put("destination.as.number", a.into());
    }
    if let Some(a) = f.nat_src {
        put("source.nat.ip", a.to_string().into());
    }
    if let Some(a) = f.nat_dst {
        put("destination.nat.ip", a.to_string().into());
    }
    if let Some(p) = f.nat_src_port {
        put("source.nat.port", p.into());
    }
    if let Some(p) = f.nat_dst_port {
        put("destination.nat.port", p.into());
    }
    if let Some(a) = f.next_hop {
        put("flow.next_hop", a.to_string().into());
    }
    if let Some(a) = f.bgp_next_hop {
        put("flow.bgp_next_hop", a.to_string().into());
    }
    if let Some(m) = f.src_mask {
        put("flow.source_mask", m.into());
    }
    if let Some(m) = f.dst_mask {
        put("flow.destination_mask", m.into());
    }
    if let Some(t) = f.tos {
        put("flow.tos", t.into());
    }
    if f.mpls_count > 0 {
        let labels: Vec<Value> = f.mpls[..usize::from(f.mpls_count.min(3))]
            .iter()
            .map(|&l| l.into())
            .collect();
        put("flow.mpls_labels", Value::Array(labels));
    }
    if let Some(r) = f.end_reason {
        put("flow.end_reason", r.into());
    }
    if let Some(t) = f.icmp_type {
        put("icmp.type", t.into());
    }
    if let Some(c) = f.icmp_code {
        put("icmp.code", c.into());
    }
    if let Some(s) = f.sampler_id {
        put("flow.sampler_id", s.into());
    }
    if f.reverse {
        put("flow.biflow_direction", "reverse".into());
    }
    if let Some(v) = f.vxlan_vni {
        put("flow.vxlan.vni", v.into());
    }
    e
}

/// Why an export payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportError {
    /// The payload starts with no version this crate decodes.
    UnknownVersion {
        version: u32,
    },
    Netflow(NetflowError),
    Sflow(SflowError),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::UnknownVersion { version } => {
                write!(f, "flow export at byte 0: unknown version {version}")
            }
            ExportError::Netflow(e) => e.fmt(f),
            ExportError::Sflow(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ExportError {}

impl From<NetflowError> for ExportError {
    fn from(e: NetflowError) -> Self {
        ExportError::Netflow(e)
    }
}

impl From<SflowError> for ExportError {
    fn from(e: SflowError) -> Self {
        ExportError::Sflow(e)
    }
}

/// What one export payload gave: which protocol, and (for sFlow) counter samples.
/// Flows go to the caller's `Vec<Flow>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    Netflow(ExportVersion),
    Sflow,
}

/// Decodes one UDP payload from `exporter`, choosing the decoder from its version field:
/// a 16-bit 5, 9 or 10 is NetFlow v5, v9 or IPFIX; a 32-bit 5 is sFlow v5. Flows are
/// appended to `flows`, sFlow counter samples to `counters`. `received` is the receive
/// time (sFlow carries no clock). Flows decoded before an error stay in `flows`.
pub fn decode_export(
    decoder: &mut NetflowDecoder,
    exporter: IpAddr,
    payload: &[u8],
    received: Timestamp,
    flows: &mut Vec<Flow>,
    counters: &mut Vec<CounterSample>,
) -> Result<Decoded, ExportError> {
    let v32 = payload
        .get(0..4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    if v32 == Some(5) {
        sflow::decode(payload, received, flows, counters)?;
        return Ok(Decoded::Sflow);
    }
    let version = payload
        .get(0..2)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    match version {
        5 | 9 | 10 => Ok(Decoded::Netflow(decoder.decode(exporter, payload, flows)?)),
        _ => Err(ExportError::UnknownVersion {
            version: v32.unwrap_or(u32::from(version)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_field_picks_the_decoder() {
        let mut d = NetflowDecoder::default();
        let exporter: IpAddr = "192.0.2.1".parse().unwrap();
        let mut flows = Vec::new();
        let mut counters = Vec::new();
        let mut run =
            |p: &[u8]| decode_export(&mut d, exporter, p, Timestamp(0), &mut flows, &mut counters);
        // sFlow: 32-bit 5, IPv4 agent, no samples.
        let sflow = [
            0, 0, 0, 5, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert_eq!(run(&sflow), Ok(Decoded::Sflow));
        // NetFlow v5 with no records.
        let mut v5 = vec![0, 5, 0, 0];
        v5.extend_from_slice(&[0; 20]);
        assert_eq!(run(&v5), Ok(Decoded::Netflow(ExportVersion::Netflow5)));
        assert_eq!(
            run(&[0, 0, 0, 4, 0, 0]),
            Err(ExportError::UnknownVersion { version: 4 })
        );
        assert!(matches!(run(&[0, 9, 0]), Err(ExportError::Netflow(_))));
        assert!(run(&[]).is_err());
    }

    #[test]
    fn event_mapping() {
        let exporter: IpAddr = "192.0.2.1".parse().unwrap();
        let mut f = Flow::new(ExportVersion::Ipfix, exporter, 7, Timestamp::from_secs(100));
        f.sampling_rate = 10;
        f.bytes = 150;
        f.packets = 2;
        f.src = Some("10.0.0.1".parse().unwrap());
        f.dst = Some("10.0.0.2".parse().unwrap());
        f.protocol = Some(17);
        f.src_mac = Some([0, 0x53, 0, 0, 0, 1]);
        f.vlan = Some(12);
        f.src_as = Some(64500);
        f.nat_src = Some("203.0.113.1".parse().unwrap());
        f.end = Some(Timestamp::from_secs(99));
        let ctx = EventContext {
            source: "routers".into(),
            default_sector: "unassigned".into(),
            now: Timestamp::from_secs(200),
            ..EventContext::default()
        };
        let e = to_event(&f, &ctx);
        assert_eq!(e.sector, "unassigned");
        assert_eq!(e.timestamp, Timestamp::from_secs(99));
        let json: serde_json::Value = serde_json::from_str(&e.to_json_string()).unwrap();
        assert_eq!(json["network.bytes"], 1500);
        assert_eq!(json["network.packets"], 20);
        assert_eq!(json["flow.bytes_raw"], 150);
        assert_eq!(json["flow.sampling_rate"], 10);
        assert_eq!(json["flow.observation_domain"], 7);
        assert_eq!(json["flow.version"], "ipfix");
        assert_eq!(json["network.transport"], "udp");
        assert_eq!(json["source.mac"], "00-53-00-00-00-01");
        assert_eq!(json["network.vlan.id"], "12");
        assert_eq!(json["source.as.number"], 64500);
        assert_eq!(json["source.nat.ip"], "203.0.113.1");
        assert_eq!(json["event.category"][0], "network");
        // The event round-trips through the model's JSON form.
        let back: Event = serde_json::from_str(&e.to_json_string()).unwrap();
        assert_eq!(back, e);
    }
}
