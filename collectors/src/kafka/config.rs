//! `[kafka]` (the bus between intake and analysis nodes) and `[[intake.kafka]]` (feeds that
//! are already on a bus). Parsed whether or not this build has Kafka support, so a
//! configuration is checked the same everywhere; starting a Kafka role or feed without it
//! is a clear error.

use std::collections::BTreeMap;
use std::fmt;

use ncsoc_parsers::Format;
use serde::Deserialize;

/// `[kafka]`: how `ncsoc serve --role intake` publishes and `--role analyze` consumes.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port...]` (librdkafka `bootstrap.servers`).
    pub brokers: String,
    /// Client id reported to the brokers.
    pub client_id: String,
    /// Topic of normalised events (ECS JSON, keyed by source address).
    pub events_topic: String,
    /// Topic of flow records (same encoding and key).
    pub flows_topic: String,
    /// Topic of dead letters (the raw input and why it was refused).
    pub dead_letters_topic: String,
    /// Create the three topics at start when they are missing.
    pub create_topics: bool,
    /// Partitions of topics ncsoc creates. Events and flows must have the same count: an
    /// analysis node owns partition N of both (see README, "Scaling out").
    pub partitions: i32,
    /// Replication factor of topics ncsoc creates.
    pub replication_factor: i32,
    /// Producer compression: `none`, `gzip`, `snappy` or `lz4`.
    pub compression: String,
    /// Producer linger (librdkafka `linger.ms`): how long a batch waits to fill.
    pub linger_ms: u32,
    /// Largest producer batch, bytes (librdkafka `batch.size`).
    pub batch_bytes: u32,
    /// How long librdkafka keeps retrying a message before the batch is spooled to disk
    /// instead (`message.timeout.ms`).
    pub message_timeout_ms: u32,
    /// Idempotent producer (`enable.idempotence`): a broker-side retry never duplicates.
    pub idempotence: bool,
    /// Consumer group of the analysis nodes.
    pub group: String,
    /// Most records an analysis node takes from the bus at once (one store write).
    pub max_batch: usize,
    /// How often an analysis node checkpoints each partition's detector state with the
    /// offsets it covers, seconds (also on every rebalance and at shutdown).
    pub checkpoint_secs: u64,
    /// Largest message accepted from the bus, bytes; a larger one is a dead letter.
    pub max_message_bytes: usize,
    /// Any other librdkafka property (`security.protocol`, `ssl.ca.location`,
    /// `sasl.mechanisms`, `sasl.username`, `sasl.password`, ...), given to every client.
    pub properties: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            brokers: "127.0.0.1:9092".into(),
            client_id: "ncsoc".into(),
            events_topic: "ncsoc.events".into(),
            flows_topic: "ncsoc.flows".into(),
            dead_letters_topic: "ncsoc.dead-letters".into(),
            create_topics: true,
            partitions: 12,
            replication_factor: 1,
            compression: "lz4".into(),
            linger_ms: 20,
            batch_bytes: 1_000_000,
            message_timeout_ms: 30_000,
            idempotence: false,
            group: "ncsoc-analyze".into(),
            max_batch: 10_000,
            checkpoint_secs: 60,
            max_message_bytes: 1 << 20,
            properties: BTreeMap::new(),
        }
    }
}

/// librdkafka properties whose values are secrets: never logged or printed.
pub fn is_secret_property(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.ends_with(".pem")
        || k.contains("oauthbearer.config")
        || k.contains("sasl.jaas")
}

/// Properties with secret values replaced, for logs and `ncsoc check-config`.
pub struct Redacted<'a>(pub &'a BTreeMap<String, String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let v: &str = if is_secret_property(k) { "<hidden>" } else { v };
                (k, v)
            }))
            .finish()
    }
}

impl fmt::Debug for KafkaConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaConfig")
            .field("brokers", &self.brokers)
            .field("client_id", &self.client_id)
            .field("events_topic", &self.events_topic)
            .field("flows_topic", &self.flows_topic)
            .field("dead_letters_topic", &self.dead_letters_topic)
            .field("create_topics", &self.create_topics)
            .field("partitions", &self.partitions)
            .field("replication_factor", &self.replication_factor)
            .field("compression", &self.compression)
            .field("linger_ms", &self.linger_ms)
            .field("batch_bytes", &self.batch_bytes)
            .field("message_timeout_ms", &self.message_timeout_ms)
            .field("idempotence", &self.idempotence)
            .field("group", &self.group)
            .field("max_batch", &self.max_batch)
            .field("checkpoint_secs", &self.checkpoint_secs)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("properties", &Redacted(&self.properties))
            .finish()
    }
}

fn check_topic(at: &str, t: &str) -> Result<(), String> {
    // Kafka's own rule: 1..=249 of [a-zA-Z0-9._-].
    if t.is_empty()
        || t.len() > 249
        || !t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(format!(
            "{at}: {t:?} is not a Kafka topic name (1 to 249 of a-z A-Z 0-9 . _ -)"
        ));
    }
    Ok(())
}

impl KafkaConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err("kafka.brokers must name at least one broker".into());
        }
        check_topic("kafka.events_topic", &self.events_topic)?;
        check_topic("kafka.flows_topic", &self.flows_topic)?;
        check_topic("kafka.dead_letters_topic", &self.dead_letters_topic)?;
        let topics = [
            &self.events_topic,
            &self.flows_topic,
            &self.dead_letters_topic,
        ];
        if topics[0] == topics[1] || topics[0] == topics[2] || topics[1] == topics[2] {
            return Err("kafka: the events, flows and dead-letter topics must differ".into());
        }
        if !(1..=10_000).contains(&self.partitions) {
            return Err("kafka.partitions: 1 to 10000".into());
        }
        if !(1..=16).contains(&self.replication_factor) {
            return Err("kafka.replication_factor: 1 to 16".into());
        }
        if !["none", "gzip", "snappy", "lz4"].contains(&self.compression.as_str()) {
            return Err(format!(
                "kafka.compression: {:?} is not one of none, gzip, snappy, lz4",
                self.compression
            ));
        }
        if self.group.is_empty() {
            return Err("kafka.group must not be empty".into());
        }
        if !(1..=1_000_000).contains(&self.max_batch) {
            return Err("kafka.max_batch: 1 to 1000000".into());
        }
        if self.checkpoint_secs == 0 {
            return Err("kafka.checkpoint_secs must be at least 1".into());
        }
        if !(1024..=64 << 20).contains(&self.max_message_bytes) {
            return Err("kafka.max_message_bytes: 1 KiB to 64 MiB".into());
        }
        for k in self.properties.keys() {
            if k.is_empty()
                || !k
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            {
                return Err(format!(
                    "kafka.properties: {k:?} is not a librdkafka property name"
                ));
            }
        }
        Ok(())
    }
}

/// `[[intake.kafka]]`: a topic another system already publishes to, read as a feed of one
/// sector and source in one format.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaFeed {
    /// Bootstrap brokers of the bus the feed is on.
    pub brokers: String,
    pub topic: String,
    /// Consumer group; offsets are committed there once the events are stored.
    #[serde(default = "default_feed_group")]
    pub group: String,
    pub sector: String,
    pub source: String,
    /// Format of each message: `auto` (per message), `syslog`, `cef`, `leef`, `json`,
    /// `eve`, `zeek`, `ecs`, ...
    #[serde(
        default = "default_format",
        deserialize_with = "crate::config::format_from_str"
    )]
    pub format: Format,
    /// UTC offset in minutes of RFC 3164 timestamps, which carry no zone.
    #[serde(default)]
    pub utc_offset_minutes: i32,
    /// Largest message, bytes; a larger one is kept as a dead letter.
    #[serde(default = "default_feed_max")]
    pub max_message_bytes: usize,
    /// Other librdkafka properties (TLS, SASL) for this bus.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

fn default_feed_group() -> String {
    "ncsoc-feeds".into()
}
fn default_format() -> Format {
    Format::Auto
}
fn default_feed_max() -> usize {
    1 << 20
}

impl fmt::Debug for KafkaFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KafkaFeed")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("group", &self.group)
            .field("sector", &self.sector)
            .field("source", &self.source)
            .field("format", &self.format)
            .field("utc_offset_minutes", &self.utc_offset_minutes)
            .field("max_message_bytes", &self.max_message_bytes)
            .field("properties", &Redacted(&self.properties))
            .finish()
    }
}

impl KafkaFeed {
    pub fn validate(&self, at: &str) -> Result<(), String> {
        if self.brokers.trim().is_empty() {
            return Err(format!("{at}.brokers must name at least one broker"));
        }
        check_topic(&format!("{at}.topic"), &self.topic)?;
        if self.group.is_empty() || self.sector.is_empty() || self.source.is_empty() {
            return Err(format!("{at}: group, sector and source must not be empty"));
        }
        if !(480..=64 << 20).contains(&self.max_message_bytes) {
            return Err(format!("{at}.max_message_bytes: 480 bytes to 64 MiB"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_from_debug_output() {
        let mut cfg = KafkaConfig::default();
        cfg.properties
            .insert("sasl.password".into(), "hunter2".into());
        cfg.properties
            .insert("ssl.key.password".into(), "hunter3".into());
        cfg.properties
            .insert("security.protocol".into(), "SASL_SSL".into());
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("hunter3"),
            "{shown}"
        );
        assert!(shown.contains("SASL_SSL"), "{shown}");
    }

    #[test]
    fn validation_names_the_bad_key() {
        assert!(KafkaConfig::default().validate().is_ok());
        let bad = |f: fn(&mut KafkaConfig)| {
            let mut c = KafkaConfig::default();
            f(&mut c);
            c.validate().unwrap_err()
        };
        assert!(bad(|c| c.events_topic = "a b".into()).contains("kafka.events_topic"));
        assert!(bad(|c| c.flows_topic = c.events_topic.clone()).contains("must differ"));
        assert!(bad(|c| c.compression = "zstd".into()).contains("kafka.compression"));
        assert!(bad(|c| c.partitions = 0).contains("kafka.partitions"));
        assert!(bad(|c| c.brokers = " ".into()).contains("kafka.brokers"));
        assert!(bad(|c| {
            c.properties.insert("bad key".into(), "x".into());
        })
        .contains("kafka.properties"));
    }
}
