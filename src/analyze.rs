//! `ncsoc serve --role analyze`: one member of the analysis tier of a scaled-out
//! deployment. The members form one Kafka consumer group over the events, flows and
//! dead-letter topics that intake nodes publish.
//!
//! Ownership: records are keyed by source address, and the events and flows topics have
//! the same partition count, so partition N of both holds the same sources. The group
//! uses the range assignor, which gives partition N of every topic to the same member:
//! that member runs the detector of partition N, over everything those sources did in
//! every sector. One source's cross-sector activity (the scanner that touches energy,
//! finance and health) is therefore always correlated on one node.
//!
//! Each batch read from the bus is fed to its partitions' detectors, written to the store
//! (idempotently: a record read twice is stored once, by its event id) and only then are
//! its offsets committed, so nothing acknowledged is lost. Every `checkpoint_secs`, on
//! every rebalance and at shutdown, each partition's detector state is saved in the
//! store with the offsets it covers. A member that is given a partition loads that
//! checkpoint and reads from its offsets: the records after it are stored again (no
//! effect) and learned for the first time, so a member killed between checkpoints loses
//! no detector state either.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ncsoc_api::IncidentHub;
use ncsoc_collectors::kafka::{client_config, KafkaConfig};
use ncsoc_detector::sigma::RuleSet;
use ncsoc_detector::{Detector, DetectorConfig, DetectorStats};
use ncsoc_model::{id, DeadLetter, Event, Timestamp};
use ncsoc_store::{Store, WriterHandle};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::detect::{DetectorMetrics, IncidentBatch, RulesBoard, RulesSetup};

/// Counters of the consumer side, for `/metrics`.
#[derive(Default)]
pub struct AnalyzeMetrics {
    consumed: AtomicU64,
    undecodable: AtomicU64,
    batches: AtomicU64,
    commits_failed: AtomicU64,
    rebalances: AtomicU64,
    partitions: AtomicU64,
    restored: AtomicU64,
    checkpoint_bytes: AtomicU64,
}

impl AnalyzeMetrics {
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write;
        for (name, kind, help, v) in [
            (
                "ncsoc_analyze_consumed_total",
                "counter",
                "Records read from the bus.",
                &self.consumed,
            ),
            (
                "ncsoc_analyze_undecodable_total",
                "counter",
                "Bus messages that were not ncsoc records (kept as dead letters).",
                &self.undecodable,
            ),
            (
                "ncsoc_analyze_batches_total",
                "counter",
                "Batches stored and committed.",
                &self.batches,
            ),
            (
                "ncsoc_analyze_commit_failures_total",
                "counter",
                "Offset commits that failed (the records are read again; stored once).",
                &self.commits_failed,
            ),
            (
                "ncsoc_analyze_rebalances_total",
                "counter",
                "Partition assignments and revocations.",
                &self.rebalances,
            ),
            (
                "ncsoc_analyze_partitions",
                "gauge",
                "Partitions whose detector this node runs.",
                &self.partitions,
            ),
            (
                "ncsoc_analyze_partitions_restored_total",
                "counter",
                "Partitions taken over from a checkpoint in the store.",
                &self.restored,
            ),
            (
                "ncsoc_analyze_checkpoint_bytes",
                "gauge",
                "Size of the last partition checkpoint written (compressed).",
                &self.checkpoint_bytes,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {}",
                v.load(Relaxed)
            );
        }
    }
}

/// What is saved per partition: the offsets the detector state covers (the next offset
/// to read of each topic), then the detector's own checkpoint.
#[derive(Serialize, Deserialize)]
struct Header {
    offsets: BTreeMap<String, i64>,
}

const MAGIC: &[u8] = b"ncsoc-partition-checkpoint 1\n";

fn encode(header: &Header, detector: &Detector) -> anyhow::Result<Vec<u8>> {
    let body = detector.checkpoint().map_err(anyhow::Error::msg)?;
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(MAGIC)?;
    serde_json::to_writer(&mut z, header)?;
    z.write_all(b"\n")?;
    z.write_all(&body)?;
    Ok(z.finish()?)
}

fn decode(bytes: &[u8], config: &DetectorConfig) -> anyhow::Result<(Header, Detector)> {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .take(ncsoc_store::MAX_STATE_BYTES as u64 * 16)
        .read_to_end(&mut raw)
        .context("partition checkpoint is not gzip")?;
    let rest = raw
        .strip_prefix(MAGIC)
        .context("not an ncsoc partition checkpoint")?;
    let nl = rest
        .iter()
        .position(|&b| b == b'\n')
        .context("partition checkpoint has no header")?;
    let header: Header = serde_json::from_slice(&rest[..nl]).context("checkpoint header")?;
    let detector =
        Detector::restore(config.clone(), &rest[nl + 1..]).map_err(anyhow::Error::msg)?;
    Ok((header, detector))
}

struct Part {
    detector: Detector,
    /// Next offset to read, per topic: what the detector has seen and the store holds.
    next: BTreeMap<String, i64>,
    /// Records since the last checkpoint.
    unsaved: u64,
    saved_at: Instant,
}

struct State {
    parts: BTreeMap<i32, Part>,
    /// Bumped by every rebalance: a batch read across one is dropped (its partitions'
    /// positions were reset from the checkpoints) and read again.
    generation: u64,
    indicators: Option<Arc<ncsoc_intel::IndicatorSet>>,
    rules: Option<Arc<RuleSet>>,
}

struct Shared {
    kafka: KafkaConfig,
    detector: DetectorConfig,
    store: Arc<dyn Store>,
    rt: tokio::runtime::Handle,
    state: Mutex<State>,
    metrics: Arc<AnalyzeMetrics>,
    detector_metrics: Arc<DetectorMetrics>,
}

impl Shared {
    fn key(&self, partition: i32) -> String {
        format!(
            "kafka/{}/{}+{}/{partition}",
            self.kafka.group, self.kafka.events_topic, self.kafka.flows_topic
        )
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The partition's detector from its checkpoint, or a new one.
    fn load(&self, partition: i32, st: &State) -> Part {
        let fresh = || Part {
            detector: Detector::new(self.detector.clone()).expect("validated at start"),
            next: BTreeMap::new(),
            unsaved: 0,
            saved_at: Instant::now(),
        };
        let mut part = match self.rt.block_on(self.store.state(&self.key(partition))) {
            Ok(Some(bytes)) => match decode(&bytes, &self.detector) {
                Ok((h, detector)) => {
                    self.metrics.restored.fetch_add(1, Relaxed);
                    tracing::info!(partition, offsets = ?h.offsets, "partition taken over from its checkpoint");
                    Part {
                        detector,
                        next: h.offsets,
                        unsaved: 0,
                        saved_at: Instant::now(),
                    }
                }
                Err(e) => {
                    tracing::warn!(partition, error = %format!("{e:#}"), "partition checkpoint unreadable; its detector starts afresh");
                    fresh()
                }
            },
            Ok(None) => fresh(),
            Err(e) => {
                // Reading from the committed offsets with a fresh detector loses learned
                // state, not records.
                tracing::warn!(partition, error = %e, "partition checkpoint not readable from the store; its detector starts afresh");
                fresh()
            }
        };
        part.detector.set_indicators(st.indicators.clone());
        part.detector.set_rules(st.rules.clone());
        part
    }

    fn save(&self, partition: i32, part: &mut Part) {
        let header = Header {
            offsets: part.next.clone(),
        };
        let result = encode(&header, &part.detector).and_then(|bytes| {
            self.metrics
                .checkpoint_bytes
                .store(bytes.len() as u64, Relaxed);
            self.rt
                .block_on(self.store.put_state(&self.key(partition), &bytes))
                .map_err(anyhow::Error::from)
        });
        match result {
            Ok(()) => {
                part.unsaved = 0;
                part.saved_at = Instant::now();
                self.detector_metrics.checkpoints.fetch_add(1, Relaxed);
            }
            Err(e) => {
                self.detector_metrics
                    .checkpoint_errors
                    .fetch_add(1, Relaxed);
                tracing::warn!(partition, error = %format!("{e:#}"), "partition checkpoint failed");
            }
        }
    }

    /// Saves every partition and commits their offsets (before giving them up).
    fn save_all(&self, consumer: &BaseConsumer<Ctx>, st: &mut State) {
        let mut tpl = TopicPartitionList::new();
        for (&p, part) in st.parts.iter_mut() {
            if part.unsaved > 0 || part.next.is_empty() {
                self.save(p, part);
            }
            for (topic, &o) in &part.next {
                let _ = tpl.add_partition_offset(topic, p, Offset::Offset(o));
            }
        }
        if tpl.count() > 0 {
            if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
                self.metrics.commits_failed.fetch_add(1, Relaxed);
                tracing::warn!(error = %e, "offsets not committed at rebalance; the next owner reads from the checkpoint");
            }
        }
    }
}

struct Ctx(Arc<Shared>);

impl ClientContext for Ctx {}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let sh = &self.0;
        sh.metrics.rebalances.fetch_add(1, Relaxed);
        let mut st = sh.state();
        st.generation += 1;
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let wanted: BTreeSet<i32> = tpl
                    .elements()
                    .iter()
                    .filter(|e| e.topic() != sh.kafka.dead_letters_topic)
                    .map(|e| e.partition())
                    .collect();
                for &p in &wanted {
                    if !st.parts.contains_key(&p) {
                        let part = sh.load(p, &st);
                        st.parts.insert(p, part);
                    }
                }
                // Each partition is read from where its detector state ends (the committed
                // offset when it has none).
                let positions: Vec<(String, i32, i64)> = tpl
                    .elements()
                    .iter()
                    .filter_map(|e| {
                        let part = st.parts.get(&e.partition())?;
                        let o = *part.next.get(e.topic())?;
                        Some((e.topic().to_string(), e.partition(), o))
                    })
                    .collect();
                for (topic, p, o) in positions {
                    let _ = tpl.set_partition_offset(&topic, p, Offset::Offset(o));
                }
                sh.metrics.partitions.store(wanted.len() as u64, Relaxed);
                tracing::info!(partitions = ?wanted, "partitions assigned");
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "partition assignment failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                sh.save_all(consumer, &mut st);
                let gone: Vec<i32> = st.parts.keys().copied().collect();
                st.parts.clear();
                sh.metrics.partitions.store(0, Relaxed);
                tracing::info!(partitions = ?gone, "partitions revoked, state checkpointed");
                let _ = consumer.unassign();
            }
            other => {
                tracing::warn!(error = ?other, "rebalance error; giving up the assignment");
                st.parts.clear();
                let _ = consumer.unassign();
            }
        }
    }
}

/// One record as read from the bus.
struct Rec {
    topic: Topic,
    partition: i32,
    offset: i64,
    payload: Vec<u8>,
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Topic {
    Events,
    Flows,
    DeadLetters,
}

pub struct AnalyzeTask {
    thread: std::thread::JoinHandle<()>,
    recorder: tokio::task::JoinHandle<()>,
    stop: Arc<AtomicBool>,
    pub metrics: Arc<AnalyzeMetrics>,
    pub detector_metrics: Arc<DetectorMetrics>,
    pub rules: Arc<RulesBoard>,
}

impl AnalyzeTask {
    /// Stops reading, checkpoints every partition, commits, and leaves the group.
    pub async fn stop(self) {
        self.stop.store(true, Relaxed);
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        let _ = self.recorder.await;
    }
}

/// Joins the consumer group and starts analysing. `writer` stores what is read (it must
/// write idempotently: [`ncsoc_store::WriteMode::Retry`] on first writes).
#[allow(clippy::too_many_arguments)]
pub fn start(
    kafka: KafkaConfig,
    detector: DetectorConfig,
    store: Arc<dyn Store>,
    writer: WriterHandle,
    hub: Arc<IncidentHub>,
    mut intel: tokio::sync::watch::Receiver<Option<Arc<ncsoc_intel::IndicatorSet>>>,
    rules: RulesSetup,
) -> anyhow::Result<AnalyzeTask> {
    Detector::new(detector.clone()).map_err(anyhow::Error::msg)?;
    let detector_metrics = Arc::new(DetectorMetrics::default());
    let metrics = Arc::new(AnalyzeMetrics::default());
    let rules_board = Arc::new(RulesBoard {
        dir: rules.dir.clone(),
        ..RulesBoard::default()
    });
    let (reload_tx, reload_rx) = std::sync::mpsc::sync_channel::<Arc<RuleSet>>(1);
    let mut rule_set = None;
    if let Some(dir) = &rules.dir {
        let set = crate::detect::load_rules(dir);
        rules_board.publish(&set);
        rule_set = Some(set);
        if rules.reload_secs > 0 {
            crate::detect::watch_rules(
                dir.clone(),
                Duration::from_secs(rules.reload_secs),
                reload_tx,
                rules_board.clone(),
            );
        }
    }
    let shared = Arc::new(Shared {
        detector,
        store,
        rt: tokio::runtime::Handle::current(),
        state: Mutex::new(State {
            parts: BTreeMap::new(),
            generation: 0,
            indicators: intel.borrow_and_update().clone(),
            rules: rule_set,
        }),
        metrics: metrics.clone(),
        detector_metrics: detector_metrics.clone(),
        kafka,
    });
    let k = &shared.kafka;
    let consumer: BaseConsumer<Ctx> = client_config(
        &k.brokers,
        &k.client_id,
        &k.properties,
        &[
            ("group.id", k.group.clone()),
            ("enable.auto.commit", "false".into()),
            ("auto.offset.reset", "earliest".into()),
            // Partition N of every topic to one member (see the module docs).
            ("partition.assignment.strategy", "range".into()),
            (
                "fetch.message.max.bytes",
                (k.max_message_bytes + 64 * 1024).to_string(),
            ),
        ],
    )
    .create_with_context(Ctx(shared.clone()))
    .map_err(|e| anyhow::anyhow!("Kafka consumer: {e}"))?;
    consumer
        .subscribe(&[&k.events_topic, &k.flows_topic, &k.dead_letters_topic])
        .map_err(|e| anyhow::anyhow!("subscribing to the Kafka topics: {e}"))?;
    tracing::info!(brokers = %k.brokers, group = %k.group, "analysis node joined the consumer group");

    let (incidents, recorder) = crate::detect::spawn_recorder(hub, detector_metrics.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (stop, shared) = (stop.clone(), shared.clone());
        std::thread::Builder::new()
            .name("analyze".into())
            .spawn(move || {
                let mut run = Run {
                    shared: &shared,
                    consumer: &consumer,
                    writer,
                    incidents,
                };
                while !stop.load(Relaxed) {
                    if intel.has_changed().unwrap_or(false) {
                        let set = intel.borrow_and_update().clone();
                        let mut st = shared.state();
                        for p in st.parts.values_mut() {
                            p.detector.set_indicators(set.clone());
                        }
                        st.indicators = set;
                    }
                    if let Ok(set) = reload_rx.try_recv() {
                        let mut st = shared.state();
                        for p in st.parts.values_mut() {
                            p.detector.set_rules(Some(set.clone()));
                        }
                        st.rules = Some(set);
                    }
                    if run.step().is_err() {
                        // The store writer stopped under a batch: what was read since the
                        // last commit may not be stored, so nothing is saved or committed;
                        // the next owner reads it again from the last checkpoint.
                        tracing::error!(
                            "store writer stopped; leaving the group without committing"
                        );
                        shared.state().parts.clear();
                        consumer.unsubscribe();
                        return;
                    }
                }
                // Shutdown: what was read is stored and learned; save it and leave.
                let mut st = shared.state();
                shared.save_all(&consumer, &mut st);
                drop(st);
                consumer.unsubscribe();
            })?
    };
    Ok(AnalyzeTask {
        thread,
        recorder,
        stop,
        metrics,
        detector_metrics,
        rules: rules_board,
    })
}

struct Run<'a> {
    shared: &'a Shared,
    consumer: &'a BaseConsumer<Ctx>,
    writer: WriterHandle,
    incidents: mpsc::Sender<IncidentBatch>,
}

/// The writer or the incident recorder has stopped (shutdown).
struct Stopped;

impl Run<'_> {
    /// Reads one batch (what arrives within 100 ms, at most `max_batch`), analyses,
    /// stores and commits it.
    fn step(&mut self) -> Result<(), Stopped> {
        let sh = self.shared;
        let generation = sh.state().generation;
        let mut batch = Vec::new();
        let deadline = Instant::now() + Duration::from_millis(100);
        while batch.len() < sh.kafka.max_batch {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.consumer.poll(left) {
                Some(Ok(m)) => {
                    let topic = if m.topic() == sh.kafka.events_topic {
                        Topic::Events
                    } else if m.topic() == sh.kafka.flows_topic {
                        Topic::Flows
                    } else {
                        Topic::DeadLetters
                    };
                    batch.push(Rec {
                        topic,
                        partition: m.partition(),
                        offset: m.offset(),
                        payload: m.payload().unwrap_or_default().to_vec(),
                    });
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "reading from Kafka");
                    break;
                }
                None => {}
            }
            if left.is_zero() {
                break;
            }
        }
        let mut st = sh.state();
        if st.generation != generation || batch.is_empty() {
            // Nothing read, or a rebalance reset the positions: read again from them.
            drop(st);
            self.checkpoint_due();
            return Ok(());
        }
        sh.metrics.consumed.fetch_add(batch.len() as u64, Relaxed);
        let mut events = Vec::with_capacity(batch.len());
        let mut letters = Vec::new();
        let mut commit: BTreeMap<(Topic, i32), i64> = BTreeMap::new();
        let topic_name = |t: Topic| match t {
            Topic::Events => &sh.kafka.events_topic,
            Topic::Flows => &sh.kafka.flows_topic,
            Topic::DeadLetters => &sh.kafka.dead_letters_topic,
        };
        for r in batch {
            commit.insert((r.topic, r.partition), r.offset + 1);
            if r.topic == Topic::DeadLetters {
                match serde_json::from_slice::<DeadLetter>(&r.payload) {
                    Ok(d) => letters.push(d),
                    Err(e) => letters.push(self.undecodable(topic_name(r.topic), &r, e)),
                }
                continue;
            }
            let Some(part) = st.parts.get_mut(&r.partition) else {
                continue; // not ours (cannot happen within one generation)
            };
            part.next.insert(topic_name(r.topic).clone(), r.offset + 1);
            part.unsaved += 1;
            let event = match serde_json::from_slice::<Event>(&r.payload) {
                Ok(e) => e,
                Err(e) => {
                    letters.push(self.undecodable(topic_name(r.topic), &r, e));
                    continue;
                }
            };
            part.detector.observe(&event);
            let changed = part.detector.take_changed();
            if !changed.is_empty()
                && self
                    .incidents
                    .blocking_send((changed, event.fields.created))
                    .is_err()
            {
                return Err(Stopped);
            }
            events.push(event);
        }
        self.publish_stats(&st);
        drop(st);
        // Durable (stored, or spooled on this node's disk) before the offsets move on.
        if !events.is_empty() && sh.rt.block_on(self.writer.write_acked(events)).is_err() {
            return Err(Stopped);
        }
        if !letters.is_empty() {
            for d in letters {
                if sh.rt.block_on(self.writer.dead_letter(d)).is_err() {
                    return Err(Stopped);
                }
            }
            if sh.rt.block_on(self.writer.flush()).is_err() {
                return Err(Stopped);
            }
        }
        let mut tpl = TopicPartitionList::new();
        for ((t, p), o) in commit {
            let _ = tpl.add_partition_offset(topic_name(t), p, Offset::Offset(o));
        }
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            sh.metrics.commits_failed.fetch_add(1, Relaxed);
            tracing::warn!(error = %e, "offsets not committed; the records will be read again (stored once)");
        }
        sh.metrics.batches.fetch_add(1, Relaxed);
        self.checkpoint_due();
        Ok(())
    }

    fn undecodable(&self, topic: &str, r: &Rec, e: serde_json::Error) -> DeadLetter {
        self.shared.metrics.undecodable.fetch_add(1, Relaxed);
        let now = Timestamp::now();
        DeadLetter {
            id: id::id_from_parts(
                now,
                &[
                    topic.as_bytes(),
                    &r.partition.to_le_bytes(),
                    &r.offset.to_le_bytes(),
                ],
            ),
            received: now,
            sector: "unassigned".into(),
            source: format!("kafka:{topic}"),
            format: "kafka".into(),
            reason: format!(
                "message at partition {} offset {} is not an ncsoc record: {e}",
                r.partition, r.offset
            ),
            raw: r.payload[..r.payload.len().min(self.shared.kafka.max_message_bytes)].to_vec(),
        }
    }

    /// Saves the partitions whose last checkpoint is older than `checkpoint_secs`.
    fn checkpoint_due(&self) {
        let sh = self.shared;
        let every = Duration::from_secs(sh.kafka.checkpoint_secs);
        let mut st = sh.state();
        for (&p, part) in st.parts.iter_mut() {
            if part.unsaved > 0 && part.saved_at.elapsed() >= every {
                sh.save(p, part);
            }
        }
    }

    fn publish_stats(&self, st: &State) {
        let m = &self.shared.detector_metrics;
        let mut sum = DetectorStats::default();
        let (mut open, mut hits) = (0u64, 0u64);
        for p in st.parts.values() {
            let s = p.detector.stats();
            sum.records += s.records;
            sum.skipped += s.skipped;
            sum.late += s.late;
            sum.signals += s.signals;
            sum.incidents_opened += s.incidents_opened;
            sum.signals_folded += s.signals_folded;
            open += p.detector.open_incidents().count() as u64;
            hits += p.detector.indicator_stats().1;
        }
        if let Ok(mut s) = m.stats.lock() {
            *s = sum;
        }
        m.open_incidents.store(open, Relaxed);
        m.ioc_hits.store(hits, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_checkpoint_round_trips_with_its_offsets() {
        let cfg = DetectorConfig::default();
        let mut d = Detector::new(cfg.clone()).unwrap();
        let e: Event = serde_json::from_str(
            r#"{"@timestamp":"2026-11-27T10:00:00Z","event.id":"a1","ncsoc.sector":"energy","ncsoc.source":"fw","source.ip":"198.51.100.7","destination.ip":"10.0.0.1","destination.port":22}"#,
        )
        .unwrap();
        d.observe(&e);
        let header = Header {
            offsets: BTreeMap::from([("ncsoc.events".to_string(), 42)]),
        };
        let bytes = encode(&header, &d).unwrap();
        let (h, restored) = decode(&bytes, &cfg).unwrap();
        assert_eq!(h.offsets["ncsoc.events"], 42);
        assert_eq!(restored.stats().records, 1);
        assert_eq!(restored.sectors().len(), 1);
        // Anything else is refused with a reason, never restored as garbage.
        assert!(decode(b"not gzip", &cfg).is_err());
        let err = |b: &[u8]| match decode(b, &cfg) {
            Ok(_) => panic!("decoded"),
            Err(e) => e.to_string(),
        };
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(b"something else\n{}\n{}").unwrap();
        let other = z.finish().unwrap();
        let err = err(&other);
        assert!(err.contains("not an ncsoc partition checkpoint"), "{err}");
    }
}
