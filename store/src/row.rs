//! The flat row both backends store an event or flow as: one column per typed ECS field,
//! addresses as 16 bytes (IPv4 mapped into IPv6, so CIDR filters are byte ranges), times as
//! nanoseconds, and every other key in one JSON text column (`extra`).
//!
//! Events and flows share this row shape (in two tables); on an event the flow columns are
//! NULL, which both SQLite and ClickHouse store at almost no cost.

use std::net::{IpAddr, Ipv6Addr};

use ncsoc_model::{DeadLetter, Event, EventFields, FlowRecord, Timestamp};
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// Declares [`EventRow`]'s columns once: name, Rust type, and the ClickHouse type on an old
/// (18.x) and a modern server. DDL for both backends is generated from this list.
macro_rules! event_columns {
    ($( $col:ident : $ty:ty, $rty:ty => $ch:literal, )*) => {
        /// A stored row, as read back.
        #[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, clickhouse::Row)]
        pub struct EventRow {
            $( pub $col: $ty, )*
        }

        /// A row to write, borrowing from its [`Event`]: no string is copied on the way to
        /// the backend.
        #[derive(Debug, Clone, Serialize, clickhouse::Row)]
        pub struct EventRowRef<'a> {
            $( pub $col: $rty, )*
        }

        /// (column name, ClickHouse type) in insert order.
        pub const EVENT_COLUMNS: &[(&str, &str)] = &[$( (stringify!($col), $ch), )*];

        impl EventRowRef<'_> {
            /// Appends the row in the embedded store's binary form ([`crate::codec`]).
            pub(crate) fn encode(&self, out: &mut Vec<u8>) {
                out.push(crate::codec::ROW_FORMAT);
                $( crate::codec::BinPut::put(&self.$col, out); )*
            }
        }

        impl EventRow {
            /// Reads a row written by [`EventRowRef::encode`].
            pub(crate) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
                let mut input = bytes;
                match input.split_first() {
                    Some((&crate::codec::ROW_FORMAT, rest)) => input = rest,
                    Some((v, _)) => {
                        return Err(StoreError::Corrupt(format!("stored row: unknown format {v}")))
                    }
                    None => return Err(StoreError::Corrupt("stored row: empty".into())),
                }
                let row = Self { $( $col: crate::codec::BinGet::get(&mut input)?, )* };
                if !input.is_empty() {
                    return Err(StoreError::Corrupt("stored row: trailing bytes".into()));
                }
                Ok(row)
            }


            /// Column `idx` (in [`EVENT_COLUMNS`] order) of a row written by
            /// [`EventRowRef::encode`], read in place without decoding the others.
            #[allow(unused_assignments)]
            pub(crate) fn peek(bytes: &[u8], idx: usize) -> Result<crate::codec::Peeked<'_>, StoreError> {
                let mut input = match bytes.split_first() {
                    Some((&crate::codec::ROW_FORMAT, rest)) => rest,
                    Some((v, _)) => {
                        return Err(StoreError::Corrupt(format!("stored row: unknown format {v}")))
                    }
                    None => return Err(StoreError::Corrupt("stored row: empty".into())),
                };
                let mut i = 0usize;
                $(
                    if i == idx {
                        return <$ty as crate::codec::BinPeek>::peek(&mut input);
                    }
                    <$ty as crate::codec::BinPeek>::skip(&mut input)?;
                    i += 1;
                )*
                Err(StoreError::BadQuery(format!("no stored column {idx}")))
            }

            /// Whether `f` holds for any text value of a row written by
            /// [`EventRowRef::encode`] (each element of a list), read in place.
            pub(crate) fn any_text(bytes: &[u8], mut f: impl FnMut(&str) -> bool) -> Result<bool, StoreError> {
                let mut input = match bytes.split_first() {
                    Some((&crate::codec::ROW_FORMAT, rest)) => rest,
                    Some((v, _)) => {
                        return Err(StoreError::Corrupt(format!("stored row: unknown format {v}")))
                    }
                    None => return Err(StoreError::Corrupt("stored row: empty".into())),
                };
                $(
                    match <$ty as crate::codec::BinPeek>::peek(&mut input)? {
                        crate::codec::Peeked::Text(s) if f(s) => return Ok(true),
                        crate::codec::Peeked::List(v) if v.iter().any(|s| f(s)) => return Ok(true),
                        _ => {}
                    }
                )*
                Ok(false)
            }

            /// Reads a row of the first embedded schema (one SQLite column per field, in
            /// [`EVENT_COLUMNS`] order), for its migration.
            pub(crate) fn from_sql(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                let mut i = 0usize;
                let mut next = || { i += 1; i - 1 };
                Ok(Self { $( $col: crate::sqlite::FromColumn::read(row, next())?, )* })
            }
        }
    };
}

event_columns! {
    id: String, &'a str => "String",
    ts: i64, i64 => "Int64",
    sector: String, &'a str => "String",
    source: String, &'a str => "String",
    created: Option<i64>, Option<i64> => "Nullable(Int64)",
    kind: Option<String>, Option<&'a str> => "Nullable(String)",
    category: Vec<String>, &'a [String] => "Array(String)",
    event_type: Vec<String>, &'a [String] => "Array(String)",
    action: Option<String>, Option<&'a str> => "Nullable(String)",
    outcome: Option<String>, Option<&'a str> => "Nullable(String)",
    severity: Option<i64>, Option<i64> => "Nullable(Int64)",
    dataset: Option<String>, Option<&'a str> => "Nullable(String)",
    module: Option<String>, Option<&'a str> => "Nullable(String)",
    original: Option<String>, Option<&'a str> => "Nullable(String)",
    message: Option<String>, Option<&'a str> => "Nullable(String)",
    observer_vendor: Option<String>, Option<&'a str> => "Nullable(String)",
    observer_product: Option<String>, Option<&'a str> => "Nullable(String)",
    observer_version: Option<String>, Option<&'a str> => "Nullable(String)",
    observer_hostname: Option<String>, Option<&'a str> => "Nullable(String)",
    host_name: Option<String>, Option<&'a str> => "Nullable(String)",
    src_ip: Option<[u8; 16]>, Option<[u8; 16]> => "Nullable(FixedString(16))",
    src_port: Option<u16>, Option<u16> => "Nullable(UInt16)",
    dst_ip: Option<[u8; 16]>, Option<[u8; 16]> => "Nullable(FixedString(16))",
    dst_port: Option<u16>, Option<u16> => "Nullable(UInt16)",
    transport: Option<String>, Option<&'a str> => "Nullable(String)",
    protocol: Option<String>, Option<&'a str> => "Nullable(String)",
    bytes: Option<u64>, Option<u64> => "Nullable(UInt64)",
    packets: Option<u64>, Option<u64> => "Nullable(UInt64)",
    direction: Option<String>, Option<&'a str> => "Nullable(String)",
    community_id: Option<String>, Option<&'a str> => "Nullable(String)",
    user_name: Option<String>, Option<&'a str> => "Nullable(String)",
    process_name: Option<String>, Option<&'a str> => "Nullable(String)",
    process_pid: Option<u32>, Option<u32> => "Nullable(UInt32)",
    rule_id: Option<String>, Option<&'a str> => "Nullable(String)",
    rule_name: Option<String>, Option<&'a str> => "Nullable(String)",
    url: Option<String>, Option<&'a str> => "Nullable(String)",
    dns_question: Option<String>, Option<&'a str> => "Nullable(String)",
    tls_sni: Option<String>, Option<&'a str> => "Nullable(String)",
    is_flow: u8, u8 => "UInt8",
    flow_exporter: Option<[u8; 16]>, Option<[u8; 16]> => "Nullable(FixedString(16))",
    flow_domain: Option<u32>, Option<u32> => "Nullable(UInt32)",
    flow_version: Option<String>, Option<&'a str> => "Nullable(String)",
    flow_sampling: Option<u32>, Option<u32> => "Nullable(UInt32)",
    flow_bytes_raw: Option<u64>, Option<u64> => "Nullable(UInt64)",
    flow_packets_raw: Option<u64>, Option<u64> => "Nullable(UInt64)",
    flow_start: Option<i64>, Option<i64> => "Nullable(Int64)",
    flow_end: Option<i64>, Option<i64> => "Nullable(Int64)",
    flow_tcp_flags: Option<u8>, Option<u8> => "Nullable(UInt8)",
    flow_in_if: Option<u32>, Option<u32> => "Nullable(UInt32)",
    flow_out_if: Option<u32>, Option<u32> => "Nullable(UInt32)",
    extra: String, String => "String",
}

/// An address as the 16 bytes stored: IPv6 as is, IPv4 mapped (`::ffff:a.b.c.d`).
pub fn ip_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The inverse of [`ip_bytes`]; a mapped address reads back as IPv4.
pub fn ip_from_bytes(b: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(b);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

/// The inclusive byte range of a CIDR prefix, for range filters on stored addresses.
pub fn cidr_range(net: IpAddr, prefix: u8) -> Result<([u8; 16], [u8; 16]), StoreError> {
    let (base, bits) = match net {
        IpAddr::V4(v4) if prefix <= 32 => (ip_bytes(IpAddr::V4(v4)), 96 + u32::from(prefix)),
        IpAddr::V6(v6) if prefix <= 128 => (v6.octets(), u32::from(prefix)),
        _ => {
            return Err(StoreError::BadQuery(format!(
                "prefix /{prefix} is too long for {net}"
            )))
        }
    };
    let v = u128::from_be_bytes(base);
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits)
    };
    Ok(((v & mask).to_be_bytes(), ((v & mask) | !mask).to_be_bytes()))
}

impl<'a> EventRowRef<'a> {
    pub fn from_event(e: &'a Event) -> Self {
        let f = &e.fields;
        let flow = e.flow.as_deref();
        Self {
            id: &e.id,
            ts: e.timestamp.nanos(),
            sector: &e.sector,
            source: &e.source,
            created: f.created.map(Timestamp::nanos),
            kind: f.kind.as_deref(),
            category: &f.category,
            event_type: &f.r#type,
            action: f.action.as_deref(),
            outcome: f.outcome.as_deref(),
            severity: f.severity,
            dataset: f.dataset.as_deref(),
            module: f.module.as_deref(),
            original: f.original.as_deref(),
            message: f.message.as_deref(),
            observer_vendor: f.observer_vendor.as_deref(),
            observer_product: f.observer_product.as_deref(),
            observer_version: f.observer_version.as_deref(),
            observer_hostname: f.observer_hostname.as_deref(),
            host_name: f.host_name.as_deref(),
            src_ip: f.source_ip.map(ip_bytes),
            src_port: f.source_port,
            dst_ip: f.destination_ip.map(ip_bytes),
            dst_port: f.destination_port,
            transport: f.network_transport.as_deref(),
            protocol: f.network_protocol.as_deref(),
            bytes: f.network_bytes,
            packets: f.network_packets,
            direction: f.network_direction.as_deref(),
            community_id: f.network_community_id.as_deref(),
            user_name: f.user_name.as_deref(),
            process_name: f.process_name.as_deref(),
            process_pid: f.process_pid,
            rule_id: f.rule_id.as_deref(),
            rule_name: f.rule_name.as_deref(),
            url: f.url_original.as_deref(),
            dns_question: f.dns_question_name.as_deref(),
            tls_sni: f.tls_server_sni.as_deref(),
            is_flow: u8::from(flow.is_some()),
            flow_exporter: flow.and_then(|x| x.exporter).map(ip_bytes),
            flow_domain: flow.and_then(|x| x.observation_domain),
            flow_version: flow.and_then(|x| x.version.as_deref()),
            flow_sampling: flow.and_then(|x| x.sampling_rate),
            flow_bytes_raw: flow.and_then(|x| x.bytes_raw),
            flow_packets_raw: flow.and_then(|x| x.packets_raw),
            flow_start: flow.and_then(|x| x.start).map(Timestamp::nanos),
            flow_end: flow.and_then(|x| x.end).map(Timestamp::nanos),
            flow_tcp_flags: flow.and_then(|x| x.tcp_flags),
            flow_in_if: flow.and_then(|x| x.input_interface),
            flow_out_if: flow.and_then(|x| x.output_interface),
            extra: if e.extra.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&e.extra).unwrap_or_default()
            },
        }
    }
}

impl EventRow {
    pub fn into_event(self) -> Result<Event, StoreError> {
        let extra = if self.extra.is_empty() {
            Default::default()
        } else {
            serde_json::from_str(&self.extra)
                .map_err(|e| StoreError::Corrupt(format!("event {}: extra column: {e}", self.id)))?
        };
        let flow = (self.is_flow != 0).then(|| {
            Box::new(FlowRecord {
                exporter: self.flow_exporter.map(ip_from_bytes),
                observation_domain: self.flow_domain,
                version: self.flow_version,
                sampling_rate: self.flow_sampling,
                bytes_raw: self.flow_bytes_raw,
                packets_raw: self.flow_packets_raw,
                start: self.flow_start.map(Timestamp),
                end: self.flow_end.map(Timestamp),
                tcp_flags: self.flow_tcp_flags,
                input_interface: self.flow_in_if,
                output_interface: self.flow_out_if,
            })
        });
        Ok(Event {
            id: self.id,
            timestamp: Timestamp(self.ts),
            sector: self.sector,
            source: self.source,
            fields: EventFields {
                created: self.created.map(Timestamp),
                kind: self.kind,
                category: self.category,
                r#type: self.event_type,
                action: self.action,
                outcome: self.outcome,
                severity: self.severity,
                dataset: self.dataset,
                module: self.module,
                original: self.original,
                message: self.message,
                observer_vendor: self.observer_vendor,
                observer_product: self.observer_product,
                observer_version: self.observer_version,
                observer_hostname: self.observer_hostname,
                host_name: self.host_name,
                source_ip: self.src_ip.map(ip_from_bytes),
                source_port: self.src_port,
                destination_ip: self.dst_ip.map(ip_from_bytes),
                destination_port: self.dst_port,
                network_transport: self.transport,
                network_protocol: self.protocol,
                network_bytes: self.bytes,
                network_packets: self.packets,
                network_direction: self.direction,
                network_community_id: self.community_id,
                user_name: self.user_name,
                process_name: self.process_name,
                process_pid: self.process_pid,
                rule_id: self.rule_id,
                rule_name: self.rule_name,
                url_original: self.url,
                dns_question_name: self.dns_question,
                tls_server_sni: self.tls_sni,
            },
            flow,
            extra,
        })
    }
}

/// A dead letter as stored (`raw` is a ClickHouse `String`: bytes, not text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, clickhouse::Row)]
pub struct DeadLetterRow {
    pub id: String,
    pub received: i64,
    pub sector: String,
    pub source: String,
    pub format: String,
    pub reason: String,
    pub raw: Vec<u8>,
}

pub const DEAD_LETTER_COLUMNS: &[(&str, &str)] = &[
    ("id", "String"),
    ("received", "Int64"),
    ("sector", "String"),
    ("source", "String"),
    ("format", "String"),
    ("reason", "String"),
    ("raw", "String"),
];

impl From<&DeadLetter> for DeadLetterRow {
    fn from(d: &DeadLetter) -> Self {
        Self {
            id: d.id.clone(),
            received: d.received.nanos(),
            sector: d.sector.clone(),
            source: d.source.clone(),
            format: d.format.clone(),
            reason: d.reason.clone(),
            raw: d.raw.clone(),
        }
    }
}

impl From<DeadLetterRow> for DeadLetter {
    fn from(r: DeadLetterRow) -> Self {
        Self {
            id: r.id,
            received: Timestamp(r.received),
            sector: r.sector,
            source: r.source,
            format: r.format,
            reason: r.reason,
            raw: r.raw,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn cidr_ranges() {
        let (lo, hi) = cidr_range("10.1.2.3".parse().unwrap(), 24).unwrap();
        assert_eq!(ip_from_bytes(lo), "10.1.2.0".parse::<IpAddr>().unwrap());
        assert_eq!(ip_from_bytes(hi), "10.1.2.255".parse::<IpAddr>().unwrap());
        let (lo, hi) = cidr_range("2001:db8::1".parse().unwrap(), 32).unwrap();
        assert_eq!(ip_from_bytes(lo), "2001:db8::".parse::<IpAddr>().unwrap());
        assert_eq!(
            ip_from_bytes(hi),
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
        assert!(cidr_range("10.0.0.0".parse().unwrap(), 33).is_err());
        let (lo, hi) = cidr_range(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0).unwrap();
        assert_eq!(
            (ip_from_bytes(lo), ip_from_bytes(hi)),
            (
                "0.0.0.0".parse().unwrap(),
                "255.255.255.255".parse().unwrap()
            )
        );
    }

    #[test]
    fn peeked_columns_match_the_decoded_row() {
        use crate::codec::Peeked;
        let start = ncsoc_model::Timestamp::from_secs(1_764_201_600);
        for i in [0u64, 25, 26, 91] {
            let e = crate::synth::event("peek", i, start);
            let mut buf = Vec::new();
            EventRowRef::from_event(&e).encode(&mut buf);
            let col = |name: &str| EVENT_COLUMNS.iter().position(|c| c.0 == name).unwrap();
            assert_eq!(
                EventRow::peek(&buf, col("id")).unwrap(),
                Peeked::Text(&e.id)
            );
            assert_eq!(
                EventRow::peek(&buf, col("category")).unwrap(),
                Peeked::List(vec!["network"])
            );
            let bytes = EventRow::peek(&buf, col("bytes")).unwrap();
            match e.fields.network_bytes {
                Some(b) => assert_eq!(bytes, Peeked::Int(b as i64)),
                None => assert_eq!(bytes, Peeked::Null),
            }
            let action = EventRow::peek(&buf, col("action")).unwrap();
            match &e.fields.action {
                Some(a) => assert_eq!(action, Peeked::Text(a)),
                None => assert_eq!(action, Peeked::Null),
            }
            assert_eq!(
                EventRow::peek(&buf, col("src_ip")).unwrap(),
                Peeked::Addr(ip_bytes(e.fields.source_ip.unwrap()))
            );
            assert!(EventRow::peek(&buf, EVENT_COLUMNS.len()).is_err());
            assert!(EventRow::peek(&buf[..buf.len() / 2], col("extra")).is_err());
        }
    }

    #[test]
    fn ip_bytes_round_trip() {
        for s in ["1.2.3.4", "::1", "fe80::1", "0.0.0.0"] {
            let ip: IpAddr = s.parse().unwrap();
            assert_eq!(ip_from_bytes(ip_bytes(ip)), ip);
        }
    }
}
