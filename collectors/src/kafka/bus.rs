//! The librdkafka clients: the intake node's producer ([`KafkaSink`]), topic creation,
//! and the consumer of feeds already on a bus ([`run_feed`]).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use ncsoc_model::{id, DeadLetter, Event, Timestamp};
use ncsoc_store::{Sink, StoreError, WriteMode};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use rdkafka::TopicPartitionList;

use super::{partition_key, KafkaConfig, KafkaFeed};
use crate::intake::{Intake, SourceCtx};

/// A librdkafka client configuration: the brokers, then the operator's properties (TLS,
/// SASL, tuning), which win over ncsoc's defaults set by the caller afterwards only where
/// the operator set nothing.
pub fn client_config(
    brokers: &str,
    client_id: &str,
    properties: &std::collections::BTreeMap<String, String>,
    defaults: &[(&str, String)],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    c.set("client.id", client_id);
    // librdkafka's own log lines go through ncsoc's log (they never include secrets); its
    // `debug` property (e.g. `cgrp` for the consumer group) turns on its debug lines.
    c.set_log_level(if properties.contains_key("debug") {
        rdkafka::config::RDKafkaLogLevel::Debug
    } else {
        rdkafka::config::RDKafkaLogLevel::Warning
    });
    for (k, v) in defaults {
        if !properties.contains_key(*k) {
            c.set(*k, v.as_str());
        }
    }
    for (k, v) in properties {
        c.set(k.as_str(), v.as_str());
    }
    c
}

/// Creates the events, flows and dead-letter topics when they are missing (an existing
/// topic is left as it is).
pub async fn ensure_topics(cfg: &KafkaConfig) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(&cfg.brokers, &cfg.client_id, &cfg.properties, &[])
            .create()
            .map_err(|e| anyhow::anyhow!("Kafka admin client: {e}"))?;
    let topics: Vec<NewTopic<'_>> = [&cfg.events_topic, &cfg.flows_topic, &cfg.dead_letters_topic]
        .into_iter()
        .map(|t| {
            NewTopic::new(
                t,
                cfg.partitions,
                TopicReplication::Fixed(cfg.replication_factor),
            )
        })
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results =
        tokio::time::timeout(Duration::from_secs(30), admin.create_topics(&topics, &opts))
            .await
            .map_err(|_| {
                anyhow::anyhow!("Kafka brokers {} did not answer within 30 s", cfg.brokers)
            })?
            .map_err(|e| anyhow::anyhow!("creating the Kafka topics on {}: {e}", cfg.brokers))?;
    for r in results {
        match r {
            Ok(t) => tracing::info!(topic = %t, partitions = cfg.partitions, "Kafka topic created"),
            Err((t, RDKafkaErrorCode::TopicAlreadyExists)) => {
                tracing::debug!(topic = %t, "Kafka topic exists")
            }
            Err((t, e)) => anyhow::bail!("creating Kafka topic {t}: {e}"),
        }
    }
    Ok(())
}

/// Counters of the intake node's producer, for `/metrics`.
#[derive(Debug, Default)]
pub struct BusMetrics {
    /// Events and flows the brokers acknowledged.
    pub published: AtomicU64,
    /// Dead letters the brokers acknowledged.
    pub published_dead_letters: AtomicU64,
    pub published_bytes: AtomicU64,
    /// Batches the brokers did not take (the writer spools and retries them).
    pub failed_batches: AtomicU64,
    /// Events over `kafka.max_message_bytes`, published as dead letters instead.
    pub oversized: AtomicU64,
}

impl BusMetrics {
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        for (name, help, v) in [
            (
                "ncsoc_kafka_published_total",
                "Events and flows the Kafka brokers acknowledged.",
                &self.published,
            ),
            (
                "ncsoc_kafka_published_dead_letters_total",
                "Dead letters the Kafka brokers acknowledged.",
                &self.published_dead_letters,
            ),
            (
                "ncsoc_kafka_published_bytes_total",
                "Bytes of messages the Kafka brokers acknowledged (before compression).",
                &self.published_bytes,
            ),
            (
                "ncsoc_kafka_failed_batches_total",
                "Batches the Kafka brokers did not acknowledge in time (spooled and retried).",
                &self.failed_batches,
            ),
            (
                "ncsoc_kafka_oversized_total",
                "Events over kafka.max_message_bytes, published as dead letters instead.",
                &self.oversized,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

/// The store writer's sink on an intake node: every batch goes to the bus.
pub struct KafkaSink {
    producer: FutureProducer,
    events_topic: String,
    flows_topic: String,
    dead_letters_topic: String,
    max_message_bytes: usize,
    brokers: String,
    pub metrics: Arc<BusMetrics>,
    /// To create the topics again after a failure (a broker that came back empty).
    recreate: Option<KafkaConfig>,
    recreating: Arc<std::sync::atomic::AtomicBool>,
}

impl KafkaSink {
    pub fn new(cfg: &KafkaConfig) -> anyhow::Result<Self> {
        let producer: FutureProducer = client_config(
            &cfg.brokers,
            &cfg.client_id,
            &cfg.properties,
            &[
                ("compression.type", cfg.compression.clone()),
                ("linger.ms", cfg.linger_ms.to_string()),
                ("batch.size", cfg.batch_bytes.to_string()),
                ("message.timeout.ms", cfg.message_timeout_ms.to_string()),
                ("enable.idempotence", cfg.idempotence.to_string()),
                // Room for a message at the size limit plus its envelope.
                (
                    "message.max.bytes",
                    (cfg.max_message_bytes + 64 * 1024).to_string(),
                ),
                ("queue.buffering.max.messages", "1000000".into()),
                ("queue.buffering.max.kbytes", "1048576".into()),
                // The key hash decides the partition (librdkafka's default is random for
                // empty keys; every message here has a key).
                ("partitioner", "murmur2_random".into()),
            ],
        )
        .create()
        .map_err(|e| anyhow::anyhow!("Kafka producer: {e}"))?;
        Ok(Self {
            producer,
            events_topic: cfg.events_topic.clone(),
            flows_topic: cfg.flows_topic.clone(),
            dead_letters_topic: cfg.dead_letters_topic.clone(),
            max_message_bytes: cfg.max_message_bytes,
            brokers: cfg.brokers.clone(),
            metrics: Arc::default(),
            recreate: cfg.create_topics.then(|| cfg.clone()),
            recreating: Arc::default(),
        })
    }

    /// After a failed batch: checks the topics in the background (one check at a time),
    /// so a broker that lost them gets them back before the spool is retried.
    fn recover(&self) {
        let Some(cfg) = self.recreate.clone() else {
            return;
        };
        if self.recreating.swap(true, Relaxed) {
            return;
        }
        let flag = self.recreating.clone();
        tokio::spawn(async move {
            if let Err(e) = ensure_topics(&cfg).await {
                tracing::debug!(error = %format!("{e:#}"), "Kafka topics not checked");
            }
            flag.store(false, Relaxed);
        });
    }

    /// Whether the brokers answer a metadata request within 2 s.
    pub async fn ping(self: &Arc<Self>) -> Result<(), String> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            me.producer
                .client()
                .fetch_metadata(Some(&me.events_topic), Duration::from_secs(2))
                .map(|_| ())
                .map_err(|e| format!("Kafka brokers {}: {e}", me.brokers))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// Queues one message, waiting for earlier deliveries while librdkafka's queue is full;
    /// a failure counts the batch as failed.
    async fn enqueue(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        pending: &mut Vec<DeliveryFuture>,
        awaited: &mut usize,
    ) -> Result<(), StoreError> {
        self.try_enqueue(topic, key, payload, pending, awaited)
            .await
            .map_err(|e| self.failed(e))
    }

    async fn try_enqueue(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        pending: &mut Vec<DeliveryFuture>,
        awaited: &mut usize,
    ) -> Result<(), StoreError> {
        loop {
            let record = FutureRecord::to(topic).key(key).payload(payload);
            match self.producer.send_result(record) {
                Ok(f) => {
                    pending.push(f);
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    if *awaited < pending.len() {
                        let f = &mut pending[*awaited];
                        settle(f.await)?;
                        *awaited += 1;
                    } else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                Err((e, _)) => return Err(StoreError::Unavailable(format!("kafka: {e}"))),
            }
        }
    }

    /// Waits for every delivery of a batch; `counter` counts its messages once all are in.
    async fn finish(
        &self,
        mut pending: Vec<DeliveryFuture>,
        awaited: usize,
        bytes: u64,
        counter: &AtomicU64,
        messages: u64,
    ) -> Result<(), StoreError> {
        for f in pending.drain(awaited..) {
            if let Err(e) = settle(f.await) {
                return Err(self.failed(e));
            }
        }
        counter.fetch_add(messages, Relaxed);
        self.metrics.published_bytes.fetch_add(bytes, Relaxed);
        Ok(())
    }

    fn failed(&self, e: StoreError) -> StoreError {
        self.metrics.failed_batches.fetch_add(1, Relaxed);
        self.recover();
        e
    }
}

fn settle<C: std::fmt::Display>(
    d: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, C>,
) -> Result<(), StoreError> {
    match d {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(StoreError::Unavailable(format!("kafka delivery: {e}"))),
        Err(e) => Err(StoreError::Unavailable(format!(
            "kafka producer stopped before delivery: {e}"
        ))),
    }
}

#[async_trait]
impl Sink for KafkaSink {
    fn name(&self) -> &'static str {
        "kafka"
    }

    async fn write_events(&self, events: &[Event], _mode: WriteMode) -> Result<(), StoreError> {
        let mut pending = Vec::with_capacity(events.len());
        let mut awaited = 0;
        let mut buf = Vec::with_capacity(1024);
        let mut bytes = 0u64;
        let mut oversized = 0u64;
        for e in events {
            buf.clear();
            serde_json::to_writer(&mut buf, e)
                .map_err(|err| StoreError::Corrupt(format!("event {}: {err}", e.id)))?;
            if buf.len() > self.max_message_bytes {
                // Kept, with its original, as a dead letter: the bus refuses it whole.
                oversized += 1;
                let raw = e.fields.original.as_deref().unwrap_or_default().as_bytes();
                let letter = DeadLetter {
                    id: e.id.clone(),
                    received: e.fields.created.unwrap_or_else(Timestamp::now),
                    sector: e.sector.clone(),
                    source: e.source.clone(),
                    format: "kafka".into(),
                    reason: format!(
                        "normalised event of {} bytes is over kafka.max_message_bytes ({})",
                        buf.len(),
                        self.max_message_bytes
                    ),
                    raw: raw[..raw.len().min(self.max_message_bytes / 2)].to_vec(),
                };
                buf.clear();
                serde_json::to_writer(&mut buf, &letter)
                    .map_err(|err| StoreError::Corrupt(err.to_string()))?;
                self.enqueue(
                    &self.dead_letters_topic,
                    e.sector.as_bytes(),
                    &buf,
                    &mut pending,
                    &mut awaited,
                )
                .await?;
                continue;
            }
            let topic = if e.is_flow() {
                &self.flows_topic
            } else {
                &self.events_topic
            };
            bytes += buf.len() as u64;
            self.enqueue(topic, &partition_key(e), &buf, &mut pending, &mut awaited)
                .await?;
        }
        self.finish(
            pending,
            awaited,
            bytes,
            &self.metrics.published,
            events.len() as u64 - oversized,
        )
        .await?;
        self.metrics.oversized.fetch_add(oversized, Relaxed);
        self.metrics
            .published_dead_letters
            .fetch_add(oversized, Relaxed);
        Ok(())
    }

    async fn write_dead_letters(
        &self,
        letters: &[DeadLetter],
        _mode: WriteMode,
    ) -> Result<(), StoreError> {
        let mut pending = Vec::with_capacity(letters.len());
        let mut awaited = 0;
        let mut bytes = 0u64;
        for d in letters {
            let buf = serde_json::to_vec(d).map_err(|err| StoreError::Corrupt(err.to_string()))?;
            bytes += buf.len() as u64;
            self.enqueue(
                &self.dead_letters_topic,
                d.sector.as_bytes(),
                &buf,
                &mut pending,
                &mut awaited,
            )
            .await?;
        }
        self.finish(
            pending,
            awaited,
            bytes,
            &self.metrics.published_dead_letters,
            letters.len() as u64,
        )
        .await
    }
}

/// Reads one `[[intake.kafka]]` feed until the task is stopped: each message is parsed as
/// one record of the feed's sector and source; a batch's offsets are committed once its
/// events are durable (stored or spooled). Event ids derive from (topic, partition,
/// offset), so a message read twice after a crash is stored once.
pub async fn run_feed(feed: KafkaFeed, intake: Intake) {
    let consumer: StreamConsumer = match client_config(
        &feed.brokers,
        "ncsoc-feed",
        &feed.properties,
        &[
            ("group.id", feed.group.clone()),
            ("enable.auto.commit", "false".into()),
            ("auto.offset.reset", "earliest".into()),
            // Larger messages are refused by the fetcher's limit as well as below.
            (
                "fetch.message.max.bytes",
                (feed.max_message_bytes + 64 * 1024).to_string(),
            ),
        ],
    )
    .create()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(topic = %feed.topic, error = %e, "Kafka feed not started");
            return;
        }
    };
    if let Err(e) = consumer.subscribe(&[&feed.topic]) {
        tracing::error!(topic = %feed.topic, error = %e, "Kafka feed not started");
        return;
    }
    tracing::info!(brokers = %feed.brokers, topic = %feed.topic, group = %feed.group, sector = %feed.sector, "Kafka feed");
    let mut src = SourceCtx::new(
        &intake,
        "kafka",
        &feed.sector,
        &feed.source,
        feed.format,
        feed.utc_offset_minutes,
    );
    let topic_bytes = feed.topic.as_bytes().to_vec();
    loop {
        // One batch: what arrives within 100 ms of its first message, at most 1000.
        let mut events = Vec::new();
        let mut offsets = TopicPartitionList::new();
        let first = match consumer.recv().await {
            Ok(m) => m.detach(),
            Err(e) => {
                tracing::warn!(topic = %feed.topic, error = %e, "Kafka feed read failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let deadline = Instant::now() + Duration::from_millis(100);
        let mut next = Some(first);
        while let Some(m) = next.take() {
            let payload = m.payload().unwrap_or_default();
            let (partition, offset) = (m.partition(), m.offset());
            let _ = offsets.add_partition_offset(
                m.topic(),
                partition,
                rdkafka::Offset::Offset(offset + 1),
            );
            let parsed = if payload.len() > feed.max_message_bytes {
                src.counters.received.fetch_add(1, Relaxed);
                intake
                    .reject(
                        &src,
                        &payload[..feed.max_message_bytes],
                        "kafka",
                        format!(
                            "message of {} bytes is over the {}-byte limit (cut)",
                            payload.len(),
                            feed.max_message_bytes
                        ),
                    )
                    .await
                    .map(|()| None)
            } else {
                intake.parse(&mut src, payload).await
            };
            match parsed {
                Ok(Some(mut e)) => {
                    e.id = id::id_from_parts(
                        e.timestamp,
                        &[
                            &topic_bytes,
                            &partition.to_le_bytes(),
                            &offset.to_le_bytes(),
                        ],
                    );
                    events.push(e);
                }
                Ok(None) => {}
                Err(_) => return, // shutting down
            }
            if events.len() >= 1000 {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            if let Ok(Ok(m)) = tokio::time::timeout(left, consumer.recv()).await {
                next = Some(m.detach());
            }
        }
        if !events.is_empty() && intake.writer.write_acked(events).await.is_err() {
            return; // shutting down: not committed, read again next time
        }
        // Dead letters of this batch are queued; make them durable before committing.
        if intake.writer.flush().await.is_err() {
            return;
        }
        if let Err(e) = consumer.commit(&offsets, CommitMode::Async) {
            tracing::warn!(topic = %feed.topic, error = %e, "Kafka feed offsets not committed; the batch will be read again");
        }
    }
}
