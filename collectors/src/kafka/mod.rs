//! Kafka: the bus of a scaled-out deployment, and feeds that are already on one.
//!
//! - [`KafkaSink`]: on an intake node (`ncsoc serve --role intake`) the store writer hands
//!   its batches to the bus instead of a store. Events and flows are published as their
//!   ECS JSON, keyed by [`partition_key`] (the source address, the entity the detector
//!   shards on), so one entity's records land on one partition and so on one analysis
//!   node; dead letters go to their own topic. A batch counts as written once the brokers
//!   have acknowledged every message of it; until then (or when they do not within
//!   `message_timeout_ms`) the writer keeps it in its disk spool and retries, so an
//!   acknowledged event survives a broker outage and an intake restart.
//! - [`run_feed`]: a topic another system publishes to, read as one sector's feed
//!   (`[[intake.kafka]]`), offsets committed only once its events are stored.
//!
//! The analysis side (consumer group, per-partition detector state) is in the `ncsoc`
//! binary (`src/analyze.rs`), which wires the store and the detector together.

mod config;

pub use config::{is_secret_property, KafkaConfig, KafkaFeed, Redacted};

#[cfg(feature = "kafka")]
mod bus;
#[cfg(feature = "kafka")]
pub use bus::*;

use ncsoc_model::Event;

/// The message key of an event or flow: its source address (16 bytes, IPv4 mapped), so
/// every record of one source goes to one partition. Records without one are keyed by
/// their host, or their sector: they carry nothing the per-entity detectors use.
pub fn partition_key(e: &Event) -> Vec<u8> {
    if let Some(ip) = e.fields.source_ip {
        let v6 = match ip {
            std::net::IpAddr::V4(a) => a.to_ipv6_mapped(),
            std::net::IpAddr::V6(a) => a,
        };
        return v6.octets().to_vec();
    }
    match &e.fields.host_name {
        Some(h) => format!("host:{}", h).into_bytes(),
        None => format!("sector:{}", e.sector).into_bytes(),
    }
}
