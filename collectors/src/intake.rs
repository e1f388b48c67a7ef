//! What every log source shares: parse a message, queue the event (or its dead letter)
//! for the store, and count it per source.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use ncsoc_model::{id, DeadLetter, Event, Timestamp};
use ncsoc_parsers::{parse_line, Context, Format};
use ncsoc_store::writer::Closed;
use ncsoc_store::WriterHandle;

/// Counters of one (listener kind, sector, source).
#[derive(Debug, Default)]
pub struct SourceCounters {
    /// Messages received (frames, datagrams, HEC events).
    pub received: AtomicU64,
    pub bytes: AtomicU64,
    /// Turned into events and queued for the store.
    pub parsed: AtomicU64,
    /// Not parsed, or refused (too long, bad JSON): kept as dead letters.
    pub rejected: AtomicU64,
}

/// (listener kind, sector, source).
type SourceKey = (&'static str, String, String);

/// Intake counters for `/metrics`.
#[derive(Debug, Default)]
pub struct IntakeMetrics {
    sources: Mutex<BTreeMap<SourceKey, Arc<SourceCounters>>>,
    /// Connections or datagrams from senders outside a listener's allowed CIDRs.
    pub senders_refused: AtomicU64,
    /// TCP/TLS connections refused because the listener was at its connection limit.
    pub connections_refused: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_handshake_failures: AtomicU64,
    /// Frames longer than the limit (cut and dead-lettered).
    pub frames_too_long: AtomicU64,
    /// HTTP intake requests answered 503 because the store pushed back.
    pub hec_busy: AtomicU64,
    /// HTTP intake requests refused for a missing or unknown token.
    pub hec_unauthorized: AtomicU64,
    /// The flow listeners' counters.
    pub flows: Mutex<Vec<Arc<crate::flows::FlowCounters>>>,
}

impl IntakeMetrics {
    /// The counters of one source; cheap to keep and update on the hot path.
    pub fn source(&self, kind: &'static str, sector: &str, source: &str) -> Arc<SourceCounters> {
        let mut m = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        m.entry((kind, sector.to_string(), source.to_string()))
            .or_default()
            .clone()
    }

    pub fn render(&self, out: &mut String) {
        {
            let flows = self.flows.lock().unwrap_or_else(|p| p.into_inner());
            if !flows.is_empty() {
                crate::flows::FlowCounters::render(&flows, out);
            }
        }
        let m = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        for (name, help, get) in [
            (
                "ncsoc_intake_received_total",
                "Messages received per intake source.",
                (|c: &SourceCounters| c.received.load(Relaxed)) as fn(&SourceCounters) -> u64,
            ),
            (
                "ncsoc_intake_bytes_total",
                "Bytes of messages received per intake source.",
                |c| c.bytes.load(Relaxed),
            ),
            (
                "ncsoc_intake_parsed_total",
                "Messages normalised and queued for the store per intake source.",
                |c| c.parsed.load(Relaxed),
            ),
            (
                "ncsoc_intake_rejected_total",
                "Messages rejected (kept as dead letters) per intake source.",
                |c| c.rejected.load(Relaxed),
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((kind, sector, source), c) in m.iter() {
                let _ = writeln!(
                    out,
                    "{name}{{listener=\"{kind}\",sector=\"{}\",source=\"{}\"}} {}",
                    escape_label(sector),
                    escape_label(source),
                    get(c)
                );
            }
        }
        for (name, help, v) in [
            (
                "ncsoc_intake_senders_refused_total",
                "Connections or datagrams from senders outside the allowed CIDRs.",
                &self.senders_refused,
            ),
            (
                "ncsoc_intake_connections_refused_total",
                "Connections refused at a listener's connection limit.",
                &self.connections_refused,
            ),
            (
                "ncsoc_intake_tls_handshake_failures_total",
                "Failed TLS handshakes on syslog listeners.",
                &self.tls_handshake_failures,
            ),
            (
                "ncsoc_intake_frames_too_long_total",
                "Frames over the size limit, cut and dead-lettered.",
                &self.frames_too_long,
            ),
            (
                "ncsoc_intake_hec_busy_total",
                "HTTP intake requests answered 503 because the store pushed back.",
                &self.hec_busy,
            ),
            (
                "ncsoc_intake_hec_unauthorized_total",
                "HTTP intake requests with a missing or unknown token.",
                &self.hec_unauthorized,
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

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The hand-off from a source to the store writer.
#[derive(Clone)]
pub struct Intake {
    pub writer: WriterHandle,
    pub metrics: Arc<IntakeMetrics>,
    /// Where forwarder tokens made with `ncsoc token create --role forwarder` are looked
    /// up (the HTTP intake also takes them, besides the tokens in its configuration).
    pub control: Option<Arc<ncsoc_store::ControlStore>>,
}

/// Where one source's messages come from, and how to read them.
#[derive(Clone)]
pub struct SourceCtx {
    pub ctx: Context,
    pub format: Format,
    pub counters: Arc<SourceCounters>,
}

impl SourceCtx {
    pub fn new(
        intake: &Intake,
        kind: &'static str,
        sector: &str,
        source: &str,
        format: Format,
        utc_offset_minutes: i32,
    ) -> Self {
        Self {
            ctx: Context {
                sector: sector.to_string(),
                source: source.to_string(),
                now: Timestamp::now(),
                default_offset_secs: utc_offset_minutes * 60,
            },
            format,
            counters: intake.metrics.source(kind, sector, source),
        }
    }
}

impl Intake {
    /// Parses one message and returns its event, or queues its dead letter (with the raw
    /// bytes and the reason) and returns `None`.
    pub async fn parse(&self, src: &mut SourceCtx, raw: &[u8]) -> Result<Option<Event>, Closed> {
        src.counters.received.fetch_add(1, Relaxed);
        src.counters.bytes.fetch_add(raw.len() as u64, Relaxed);
        src.ctx.now = Timestamp::now();
        match parse_line(src.format, raw, &src.ctx) {
            Ok(e) => {
                src.counters.parsed.fetch_add(1, Relaxed);
                Ok(Some(e))
            }
            Err(e) => {
                let format = e.format.as_str();
                self.reject(src, raw, format, e.to_string()).await?;
                Ok(None)
            }
        }
    }

    /// Parses and queues one message, waiting while the store pushes back (which is what
    /// slows a TCP sender down).
    pub async fn ingest(&self, src: &mut SourceCtx, raw: &[u8]) -> Result<(), Closed> {
        if let Some(e) = self.parse(src, raw).await? {
            self.writer.write(e).await?;
        }
        Ok(())
    }

    /// Keeps a message that could not be accepted, with its raw bytes and why.
    pub async fn reject(
        &self,
        src: &SourceCtx,
        raw: &[u8],
        format: &str,
        reason: String,
    ) -> Result<(), Closed> {
        src.counters.rejected.fetch_add(1, Relaxed);
        let now = Timestamp::now();
        self.writer
            .dead_letter(DeadLetter {
                id: id::new_id(now),
                received: now,
                sector: src.ctx.sector.clone(),
                source: src.ctx.source.clone(),
                format: format.to_string(),
                reason,
                raw: raw.to_vec(),
            })
            .await
    }
}
