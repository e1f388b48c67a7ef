//! Building flow and DNS events into the per-minute buffer.

use std::net::IpAddr;

use ncsoc_model::id::id_from_parts;
use ncsoc_model::{Event, FlowRecord, Timestamp};

use super::net::exporter;

/// Builds events into the per-minute buffer, with content ids that depend only on the
/// seed, the minute, the generating stream and a counter within it.
pub struct Emitter {
    pub buf: Vec<Event>,
    pub seed: u64,
    pub sectors: Vec<String>,
    pub source: String,
    pub slice: i64,
    pub stream: u64,
    pub counter: u64,
    pub version: String,
}

#[derive(Debug, Clone, Copy)]
pub struct F {
    pub end: i64,
    pub dur: i64,
    pub src: IpAddr,
    pub sport: u16,
    pub dst: IpAddr,
    pub dport: u16,
    pub tcp: bool,
    pub bytes: u64,
    pub packets: u64,
    pub flags: u8,
}

pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;
pub const FIN: u8 = 0x01;
pub const FULL: u8 = SYN | ACK | PSH | FIN;

impl Emitter {
    pub fn begin(&mut self, stream: u64) {
        self.stream = stream;
        self.counter = 0;
    }

    pub fn new_event(&mut self, s: usize, ts: i64) -> Event {
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

    pub fn flow(&mut self, s: usize, f: F) {
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
    pub fn session(&mut self, s: usize, f: F, reply_bytes: u64) {
        self.flow(s, f);
        let packets = if f.tcp {
            pkts(reply_bytes)
        } else {
            reply_bytes.div_ceil(1400).max(1)
        };
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

    pub fn dns(&mut self, s: usize, ts: i64, client: IpAddr, resolver: IpAddr, name: String) {
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

/// Packets of a TCP direction carrying `bytes`: full-size segments plus the handshake and
/// teardown.
pub fn pkts(bytes: u64) -> u64 {
    bytes.div_ceil(1400) + 2
}
