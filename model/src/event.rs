//! The normalised event and the flow record.
//!
//! JSON form: one flat object with dotted ECS keys (`"source.ip": "10.0.0.1"`), the shape
//! `ncsoc parse` prints and the stores keep. Typed fields cover what analysts and the
//! detector filter on; every other key (`log.syslog.*`, `cef.*`, `leef.*`, vendor fields)
//! lives in [`Event::extra`] under its dotted name, so nothing a parser found is lost.
//!
//! Flows are events too (`event.category: network`) whose [`Event::flow`] is set. The
//! scaled byte and packet counts are `network.bytes` / `network.packets`; the counts as
//! exported (before sampling-rate scaling) are `flow.bytes_raw` / `flow.packets_raw`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::ecs::{EcsValue, FieldRef};
use crate::{ModelError, Timestamp};

/// Declares a struct of optional ECS fields with their dotted JSON keys, and the code that
/// writes and reads them. One list, so a field's key is written in exactly one place.
macro_rules! ecs_fields {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty = $key:literal, )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            /// The dotted ECS keys of the typed fields, in output order.
            pub const KEYS: &'static [&'static str] = &[$($key),*];

            fn write_fields<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
                $(
                    if !EcsValue::is_absent(&self.$field) {
                        map.serialize_entry($key, &self.$field)?;
                    }
                )*
                Ok(())
            }

            /// Readers of the typed fields, in the order of [`Self::KEYS`]: a key resolved
            /// once to its index reads without comparing strings.
            pub const GETTERS: &'static [for<'a> fn(&'a Self) -> Option<FieldRef<'a>>] =
                &[$(|s: &Self| EcsValue::field_ref(&s.$field)),*];

            /// The typed field under dotted key `key`, if `key` is one and it is set.
            pub fn get(&self, key: &str) -> Option<FieldRef<'_>> {
                match key {
                    $($key => EcsValue::field_ref(&self.$field),)*
                    _ => None,
                }
            }

            /// Stores `value` if `key` is one of the typed fields; gives it back otherwise.
            fn take_field(&mut self, key: &str, value: Value) -> Result<Option<Value>, ModelError> {
                match key {
                    $(
                        $key => {
                            self.$field = <$ty as EcsValue>::from_json(value).map_err(|expected| {
                                ModelError::Field { key: $key.to_string(), expected }
                            })?;
                            Ok(None)
                        }
                    )*
                    _ => Ok(Some(value)),
                }
            }
        }
    };
}

ecs_fields! {
    /// The ECS fields of an event besides its identity and tenant.
    pub struct EventFields {
        /// `event.created`: when ncsoc received it (ingest time).
        created: Option<Timestamp> = "event.created",
        kind: Option<String> = "event.kind",
        category: Vec<String> = "event.category",
        r#type: Vec<String> = "event.type",
        action: Option<String> = "event.action",
        outcome: Option<String> = "event.outcome",
        severity: Option<i64> = "event.severity",
        dataset: Option<String> = "event.dataset",
        module: Option<String> = "event.module",
        /// `event.original`: the raw input, kept as received (lossy UTF-8 if it was not).
        original: Option<String> = "event.original",
        message: Option<String> = "message",
        observer_vendor: Option<String> = "observer.vendor",
        observer_product: Option<String> = "observer.product",
        observer_version: Option<String> = "observer.version",
        observer_hostname: Option<String> = "observer.hostname",
        host_name: Option<String> = "host.name",
        source_ip: Option<IpAddr> = "source.ip",
        source_port: Option<u16> = "source.port",
        destination_ip: Option<IpAddr> = "destination.ip",
        destination_port: Option<u16> = "destination.port",
        network_transport: Option<String> = "network.transport",
        network_protocol: Option<String> = "network.protocol",
        network_bytes: Option<u64> = "network.bytes",
        network_packets: Option<u64> = "network.packets",
        network_direction: Option<String> = "network.direction",
        network_community_id: Option<String> = "network.community_id",
        user_name: Option<String> = "user.name",
        process_name: Option<String> = "process.name",
        process_pid: Option<u32> = "process.pid",
        rule_id: Option<String> = "rule.id",
        rule_name: Option<String> = "rule.name",
        url_original: Option<String> = "url.original",
        dns_question_name: Option<String> = "dns.question.name",
        tls_server_sni: Option<String> = "tls.client.server_name",
    }
}

ecs_fields! {
    /// The `flow.*` extras of a flow record (NetFlow/IPFIX/sFlow export or metered pcap).
    pub struct FlowRecord {
        /// Address of the exporting router or sensor.
        exporter: Option<IpAddr> = "flow.exporter",
        /// NetFlow v9 source id / IPFIX observation domain / sFlow sub-agent.
        observation_domain: Option<u32> = "flow.observation_domain",
        /// Export protocol: `netflow5`, `netflow9`, `ipfix`, `sflow5`, `meter`.
        version: Option<String> = "flow.version",
        /// 1 in N packets sampled; 1 when unsampled.
        sampling_rate: Option<u32> = "flow.sampling_rate",
        bytes_raw: Option<u64> = "flow.bytes_raw",
        packets_raw: Option<u64> = "flow.packets_raw",
        start: Option<Timestamp> = "flow.start",
        end: Option<Timestamp> = "flow.end",
        tcp_flags: Option<u8> = "flow.tcp_flags",
        input_interface: Option<u32> = "flow.input_interface",
        output_interface: Option<u32> = "flow.output_interface",
    }
}

/// One normalised event. `@timestamp` is event time; `ncsoc.sector` is the tenant every
/// query and permission is scoped by; `ncsoc.source` is the forwarding department or feed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Event {
    /// `event.id`: unique; stores deduplicate on it, so a retried batch never doubles.
    pub id: String,
    /// `@timestamp`: event time.
    pub timestamp: Timestamp,
    /// `ncsoc.sector`.
    pub sector: String,
    /// `ncsoc.source`.
    pub source: String,
    pub fields: EventFields,
    /// Set when the event is a flow record.
    pub flow: Option<Box<FlowRecord>>,
    /// Every other dotted key, kept as found.
    pub extra: BTreeMap<String, Value>,
}

pub const KEY_ID: &str = "event.id";
pub const KEY_TIMESTAMP: &str = "@timestamp";
pub const KEY_SECTOR: &str = "ncsoc.sector";
pub const KEY_SOURCE: &str = "ncsoc.source";

impl Event {
    pub fn new(
        id: impl Into<String>,
        timestamp: Timestamp,
        sector: impl Into<String>,
        source: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            timestamp,
            sector: sector.into(),
            source: source.into(),
            ..Self::default()
        }
    }

    pub fn is_flow(&self) -> bool {
        self.flow.is_some()
    }

    /// Reads any field by its dotted ECS key: identity and tenant, typed fields, flow
    /// fields, then [`Event::extra`]. Absent fields (and JSON `null`) give `None`.
    pub fn get(&self, key: &str) -> Option<FieldRef<'_>> {
        self.get_key(&FieldKey::resolve(key))
    }

    /// Reads the field `key` names; resolve keys once with [`FieldKey::resolve`] where the
    /// same key is read for every event.
    pub fn get_key(&self, key: &FieldKey) -> Option<FieldRef<'_>> {
        match key {
            FieldKey::Id => Some(FieldRef::Str(&self.id)).filter(|_| !self.id.is_empty()),
            FieldKey::Timestamp => Some(FieldRef::Time(self.timestamp)),
            FieldKey::Sector => Some(FieldRef::Str(&self.sector)),
            FieldKey::Source => Some(FieldRef::Str(&self.source)),
            FieldKey::Field(i) => EventFields::GETTERS.get(*i).and_then(|g| g(&self.fields)),
            FieldKey::Flow(i) => {
                let flow = self.flow.as_deref()?;
                FlowRecord::GETTERS.get(*i).and_then(|g| g(flow))
            }
            FieldKey::Extra(k) => match self.extra.get(k.as_str())? {
                Value::Null => None,
                Value::String(s) => Some(FieldRef::Str(s)),
                v => Some(FieldRef::Json(v)),
            },
        }
    }

    /// Sets any field by its dotted ECS key: typed fields are checked, the rest go to
    /// [`Event::extra`]. A `null` value removes the key from `extra`.
    pub fn set(&mut self, key: &str, value: Value) -> Result<(), ModelError> {
        match key {
            KEY_ID => self.id = string_field(key, value)?,
            KEY_TIMESTAMP => {
                self.timestamp = <Option<Timestamp>>::from_json(value)
                    .map_err(|expected| ModelError::Field {
                        key: key.into(),
                        expected,
                    })?
                    .ok_or_else(|| ModelError::Field {
                        key: key.into(),
                        expected: "an RFC 3339 timestamp",
                    })?
            }
            KEY_SECTOR => self.sector = string_field(key, value)?,
            KEY_SOURCE => self.source = string_field(key, value)?,
            _ if key.starts_with("flow.") => {
                let flow = self.flow.get_or_insert_with(Default::default);
                if let Some(v) = flow.take_field(key, value)? {
                    insert_extra(&mut self.extra, key, v);
                }
            }
            _ => {
                if let Some(v) = self.fields.take_field(key, value)? {
                    insert_extra(&mut self.extra, key, v);
                }
            }
        }
        Ok(())
    }

    /// Reads an event from a flat JSON object with dotted keys. `@timestamp` is required.
    pub fn from_json_map(map: serde_json::Map<String, Value>) -> Result<Self, ModelError> {
        let mut event = Event::default();
        let mut has_ts = false;
        for (k, v) in map {
            has_ts |= k == KEY_TIMESTAMP;
            event.set(&k, v)?;
        }
        if !has_ts {
            return Err(ModelError::Missing(KEY_TIMESTAMP));
        }
        Ok(event)
    }

    /// The event as JSON text (one line, dotted keys).
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// A dotted key resolved to where [`Event`] keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FieldKey {
    Id,
    Timestamp,
    Sector,
    Source,
    /// Index into [`EventFields::KEYS`].
    Field(usize),
    /// Index into [`FlowRecord::KEYS`].
    Flow(usize),
    /// A key of [`Event::extra`].
    Extra(String),
}

impl FieldKey {
    pub fn resolve(key: &str) -> Self {
        match key {
            KEY_ID => FieldKey::Id,
            KEY_TIMESTAMP => FieldKey::Timestamp,
            KEY_SECTOR => FieldKey::Sector,
            KEY_SOURCE => FieldKey::Source,
            _ => {
                if let Some(i) = EventFields::KEYS.iter().position(|k| *k == key) {
                    FieldKey::Field(i)
                } else if let Some(i) = FlowRecord::KEYS.iter().position(|k| *k == key) {
                    FieldKey::Flow(i)
                } else {
                    FieldKey::Extra(key.to_string())
                }
            }
        }
    }

    /// The dotted key.
    pub fn name(&self) -> &str {
        match self {
            FieldKey::Id => KEY_ID,
            FieldKey::Timestamp => KEY_TIMESTAMP,
            FieldKey::Sector => KEY_SECTOR,
            FieldKey::Source => KEY_SOURCE,
            FieldKey::Field(i) => EventFields::KEYS.get(*i).copied().unwrap_or_default(),
            FieldKey::Flow(i) => FlowRecord::KEYS.get(*i).copied().unwrap_or_default(),
            FieldKey::Extra(k) => k,
        }
    }
}

fn insert_extra(extra: &mut BTreeMap<String, Value>, key: &str, v: Value) {
    if v.is_null() {
        extra.remove(key);
    } else {
        extra.insert(key.to_string(), v);
    }
}

fn string_field(key: &str, value: Value) -> Result<String, ModelError> {
    <Option<String>>::from_json(value)
        .map(Option::unwrap_or_default)
        .map_err(|expected| ModelError::Field {
            key: key.into(),
            expected,
        })
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        map.serialize_entry(KEY_TIMESTAMP, &self.timestamp)?;
        map.serialize_entry(KEY_ID, &self.id)?;
        map.serialize_entry(KEY_SECTOR, &self.sector)?;
        map.serialize_entry(KEY_SOURCE, &self.source)?;
        self.fields.write_fields(&mut map)?;
        if let Some(flow) = &self.flow {
            flow.write_fields(&mut map)?;
        }
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Event;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a flat JSON object with dotted ECS keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Event, A::Error> {
                let mut event = Event::default();
                let mut has_ts = false;
                while let Some(k) = access.next_key::<std::borrow::Cow<'de, str>>()? {
                    let v: Value = access.next_value()?;
                    has_ts |= k == KEY_TIMESTAMP;
                    event.set(&k, v).map_err(serde::de::Error::custom)?;
                }
                if !has_ts {
                    return Err(serde::de::Error::custom(ModelError::Missing(KEY_TIMESTAMP)));
                }
                Ok(event)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dotted_keys_and_order() {
        let mut e = Event::new(
            "e1",
            Timestamp::from_secs(1_700_000_000),
            "energy",
            "dso-north",
        );
        e.fields.source_ip = Some("10.1.2.3".parse().unwrap());
        e.fields.destination_port = Some(22);
        e.fields.category = vec!["network".into()];
        e.set("cef.name", Value::from("Port scan")).unwrap();
        let json = e.to_json_string();
        assert_eq!(
            json,
            r#"{"@timestamp":"2023-11-14T22:13:20.000Z","event.id":"e1","ncsoc.sector":"energy","ncsoc.source":"dso-north","event.category":["network"],"source.ip":"10.1.2.3","destination.port":22,"cef.name":"Port scan"}"#
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn get_reads_every_kind_of_field() {
        let mut e = Event::new("e1", Timestamp::from_secs(1), "energy", "dso");
        e.fields.source_ip = Some("10.1.2.3".parse().unwrap());
        e.fields.destination_port = Some(443);
        e.fields.category = vec!["process".into()];
        e.set("flow.sampling_rate", Value::from(10)).unwrap();
        e.set("winlog.event_data.Image", Value::from("C:\\x.exe"))
            .unwrap();
        e.set("winlog.event_id", Value::from(1)).unwrap();
        assert_eq!(e.get("event.id"), Some(FieldRef::Str("e1")));
        assert_eq!(e.get("ncsoc.sector"), Some(FieldRef::Str("energy")));
        assert_eq!(
            e.get("source.ip"),
            Some(FieldRef::Ip("10.1.2.3".parse().unwrap()))
        );
        assert_eq!(e.get("destination.port"), Some(FieldRef::UInt(443)));
        assert_eq!(e.get("source.port"), None);
        assert_eq!(
            e.get("event.category"),
            Some(FieldRef::Strs(&["process".to_string()]))
        );
        assert_eq!(e.get("flow.sampling_rate"), Some(FieldRef::UInt(10)));
        assert_eq!(
            e.get("winlog.event_data.Image"),
            Some(FieldRef::Str("C:\\x.exe"))
        );
        assert_eq!(
            e.get("winlog.event_id"),
            Some(FieldRef::Json(&Value::from(1)))
        );
        assert_eq!(e.get("nope"), None);
        for (i, k) in EventFields::KEYS.iter().enumerate() {
            assert_eq!(FieldKey::resolve(k), FieldKey::Field(i));
            assert_eq!(FieldKey::resolve(k).name(), *k);
        }
    }

    #[test]
    fn typed_field_errors_name_the_key() {
        let err = serde_json::from_str::<Event>(
            r#"{"@timestamp":"2024-01-01T00:00:00Z","source.port":70000}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("source.port"), "{err}");
        let err = serde_json::from_str::<Event>(r#"{"event.id":"x"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("@timestamp"), "{err}");
    }

    #[test]
    fn flow_fields_create_the_flow_record() {
        let e: Event = serde_json::from_str(
            r#"{"@timestamp":"2024-01-01T00:00:00Z","flow.sampling_rate":100,"flow.bytes_raw":15,"network.bytes":1500}"#,
        )
        .unwrap();
        let flow = e.flow.as_deref().unwrap();
        assert_eq!(flow.sampling_rate, Some(100));
        assert_eq!(flow.bytes_raw, Some(15));
        assert_eq!(e.fields.network_bytes, Some(1500));
    }

    fn opt_str() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[ -~]{0,12}|\\PC{0,6}")
    }

    fn ip() -> impl Strategy<Value = Option<IpAddr>> {
        proptest::option::of(prop_oneof![
            any::<[u8; 4]>().prop_map(IpAddr::from),
            any::<[u8; 16]>().prop_map(IpAddr::from),
        ])
    }

    fn ts() -> impl Strategy<Value = Timestamp> {
        (-1_000_000_000_000_000_000i64..4_000_000_000_000_000_000).prop_map(Timestamp)
    }

    prop_compose! {
        fn fields()(
            created in proptest::option::of(ts()), kind in opt_str(), category in proptest::collection::vec("[a-z]{1,8}", 0..3),
            action in opt_str(), severity in any::<Option<i64>>(), original in opt_str(),
            source_ip in ip(), source_port in any::<Option<u16>>(), destination_ip in ip(),
            destination_port in any::<Option<u16>>(), network_bytes in any::<Option<u64>>(),
            user_name in opt_str(), process_pid in any::<Option<u32>>(), url in opt_str(),
        ) -> EventFields {
            EventFields { created, kind, category, action, severity, original, source_ip, source_port,
                destination_ip, destination_port, network_bytes, user_name, process_pid,
                url_original: url, ..EventFields::default() }
        }
    }

    prop_compose! {
        pub fn arb_event()(
            id in "[0-9A-Z]{1,26}", timestamp in ts(), sector in "[a-z]{1,10}", source in "[a-z0-9-]{0,10}",
            fields in fields(),
            flow in proptest::option::of((any::<u32>().prop_map(Some), any::<Option<u64>>(), proptest::option::of(ts()), any::<Option<u8>>())),
            extra in proptest::collection::btree_map("(cef|leef|log\\.syslog)\\.[a-z]{1,8}", prop_oneof![
                any::<i64>().prop_map(Value::from), "[ -~]{0,10}".prop_map(Value::from), any::<bool>().prop_map(Value::from)], 0..4),
        ) -> Event {
            let flow = flow.map(|(sampling_rate, bytes_raw, start, tcp_flags)| Box::new(FlowRecord {
                sampling_rate, bytes_raw, start, tcp_flags, ..FlowRecord::default() }));
            Event { id, timestamp, sector, source, fields, flow, extra }
        }
    }

    proptest! {
        #[test]
        fn json_round_trip(e in arb_event()) {
            let json = serde_json::to_string(&e).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, e);
        }
    }
}
