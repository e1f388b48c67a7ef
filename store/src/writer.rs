//! The batching writer between intake and the store.
//!
//! Rows arrive over a bounded channel; a batch is written when it reaches `batch_size`
//! rows or its oldest row has waited `batch_max_delay_ms`. A batch the store refuses goes
//! to the [`Spool`]; while the spool holds anything, new batches queue behind it so order
//! is kept, and the spool is drained oldest first (with idempotent retries) whenever the
//! store answers. When the spool is full the writer stops reading its channel, the channel
//! fills, and senders wait: intake is pushed back, and each wait is counted.
//!
//! An acknowledged send ([`WriterHandle::write_acked`]) resolves only once its rows are in
//! the store or in the spool on disk.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ncsoc_model::{DeadLetter, Event};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::spool::{Spool, SpoolBatch, SpoolError};
use crate::{Sink, Store, StoreConfig, StoreError, StoreMetrics, StoreSink, WriteMode};

// Events travel unboxed: one allocation fewer per event on the hot path, at the price of
// wider channel slots.
#[allow(clippy::large_enum_variant)]
enum Msg {
    Event(Event),
    Events(Vec<Event>, Option<oneshot::Sender<()>>),
    DeadLetter(DeadLetter),
    Flush(oneshot::Sender<()>),
}

/// Sends rows to the writer task. Cheap to clone; the task ends when every handle is
/// dropped (or [`Writer::shutdown`] is called), after writing what it holds.
#[derive(Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<StoreMetrics>,
}

/// Why [`WriterHandle::try_write_acked`] did not take the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryWriteError {
    #[error("the store writer is pushed back")]
    Full,
    #[error("the store writer has stopped")]
    Closed,
}

/// The writer closed: ncsoc is shutting down.
#[derive(Debug, thiserror::Error)]
#[error("the store writer has stopped")]
pub struct Closed;

impl WriterHandle {
    /// Queues one event; waits while the writer is pushed back.
    pub async fn write(&self, event: Event) -> Result<(), Closed> {
        self.metrics.queued_rows.fetch_add(1, Relaxed);
        self.tx.send(Msg::Event(event)).await.map_err(|_| Closed)
    }

    /// Queues events and waits until they are durable (in the store or the spool).
    pub async fn write_acked(&self, events: Vec<Event>) -> Result<(), Closed> {
        let (ack, done) = oneshot::channel();
        self.metrics
            .queued_rows
            .fetch_add(events.len() as u64, Relaxed);
        self.tx
            .send(Msg::Events(events, Some(ack)))
            .await
            .map_err(|_| Closed)?;
        done.await.map_err(|_| Closed)
    }

    /// Like [`WriterHandle::write_acked`], but refuses at once instead of waiting when
    /// the writer is pushed back; the receiver resolves when the events are durable.
    pub fn try_write_acked(
        &self,
        events: Vec<Event>,
    ) -> Result<oneshot::Receiver<()>, TryWriteError> {
        let (ack, done) = oneshot::channel();
        let n = events.len() as u64;
        self.tx
            .try_send(Msg::Events(events, Some(ack)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => TryWriteError::Full,
                mpsc::error::TrySendError::Closed(_) => TryWriteError::Closed,
            })?;
        self.metrics.queued_rows.fetch_add(n, Relaxed);
        Ok(done)
    }

    pub async fn dead_letter(&self, letter: DeadLetter) -> Result<(), Closed> {
        self.tx
            .send(Msg::DeadLetter(letter))
            .await
            .map_err(|_| Closed)
    }

    /// Writes whatever is buffered now and waits for it.
    pub async fn flush(&self) -> Result<(), Closed> {
        let (ack, done) = oneshot::channel();
        self.tx.send(Msg::Flush(ack)).await.map_err(|_| Closed)?;
        done.await.map_err(|_| Closed)
    }

    /// Whether intake is pushed back: the writer's queue is full right now, or the writer
    /// is waiting for room in a full spool (the store is down or slower than intake).
    pub fn is_pushed_back(&self) -> bool {
        self.tx.capacity() == 0 || self.metrics.pushed_back.load(Relaxed) != 0
    }

    pub fn metrics(&self) -> &Arc<StoreMetrics> {
        &self.metrics
    }
}

/// The running writer task.
pub struct Writer {
    handle: WriterHandle,
    task: JoinHandle<()>,
}

impl Writer {
    /// Starts the writer over `store`, with its spool in `<data_dir>/spool/<backend>`.
    pub fn start(
        store: Arc<dyn Store>,
        config: &StoreConfig,
        metrics: Arc<StoreMetrics>,
    ) -> Result<Self, StoreError> {
        Self::start_with_tap(store, config, metrics, None)
    }

    /// Like [`Writer::start`], and every batch of events, once durable (written or
    /// spooled), is also sent to `tap` — the detector's input. A full tap waits, which
    /// pushes back on intake like a slow store does; nothing is dropped.
    pub fn start_with_tap(
        store: Arc<dyn Store>,
        config: &StoreConfig,
        metrics: Arc<StoreMetrics>,
        tap: Option<mpsc::Sender<Vec<Event>>>,
    ) -> Result<Self, StoreError> {
        Self::start_sink(
            Arc::new(StoreSink(store)),
            config,
            metrics,
            tap,
            WriteMode::Fresh,
        )
    }

    /// The writer over any [`Sink`]. `first_write` is the mode of a batch's first attempt:
    /// [`WriteMode::Retry`] when the rows may have been written before (records read
    /// again from a bus after a crash), so the sink skips what it already holds.
    pub fn start_sink(
        store: Arc<dyn Sink>,
        config: &StoreConfig,
        metrics: Arc<StoreMetrics>,
        tap: Option<mpsc::Sender<Vec<Event>>>,
        first_write: WriteMode,
    ) -> Result<Self, StoreError> {
        let spool = Spool::open(
            &config.data_dir.join("spool").join(store.name()),
            config.spool.max_bytes,
            metrics.clone(),
        )?;
        let (tx, rx) = mpsc::channel(config.channel_capacity);
        let task = Task {
            store,
            spool: Arc::new(spool),
            metrics: metrics.clone(),
            batch_size: config.batch_size,
            max_delay: Duration::from_millis(config.batch_max_delay_ms.max(1)),
            retry: Duration::from_millis(config.spool.retry_interval_ms.max(10)),
            buf: Batch::default(),
            tap,
            first_write,
        };
        let task = tokio::spawn(task.run(rx));
        Ok(Self {
            handle: WriterHandle { tx, metrics },
            task,
        })
    }

    pub fn handle(&self) -> WriterHandle {
        self.handle.clone()
    }

    /// Stops taking rows, writes (or spools) everything buffered, and waits for that.
    pub async fn shutdown(self) {
        drop(self.handle);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "store writer task failed");
        }
    }
}

#[derive(Default)]
struct Batch {
    rows: SpoolBatch,
    acks: Vec<oneshot::Sender<()>>,
    oldest: Option<Instant>,
}

struct Task {
    store: Arc<dyn Sink>,
    spool: Arc<Spool>,
    metrics: Arc<StoreMetrics>,
    batch_size: usize,
    max_delay: Duration,
    retry: Duration,
    buf: Batch,
    tap: Option<mpsc::Sender<Vec<Event>>>,
    first_write: WriteMode,
}

impl Task {
    async fn run(mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut msgs = Vec::with_capacity(1024);
        // When to try the spool again; pushed back after each attempt, so a store that
        // fails slowly (a lock timeout) never starves the intake channel.
        let mut next_retry = Instant::now();
        loop {
            let flush_at = self.buf.oldest.map(|t| t + self.max_delay);
            let retry_at = (!self.spool.is_empty()).then_some(next_retry);
            tokio::select! {
                n = rx.recv_many(&mut msgs, 1024) => {
                    if n == 0 {
                        break;
                    }
                    for msg in msgs.drain(..) {
                        self.take(msg).await;
                    }
                    // Under constant load the timer branches may rarely win; check here too
                    // (against the batch buffered now, not the one before `take`).
                    if self.buf.oldest.is_some_and(|t| t.elapsed() >= self.max_delay) {
                        self.flush().await;
                    }
                    if retry_at.is_some_and(|t| Instant::now() >= t) {
                        self.drain().await;
                        next_retry = Instant::now() + self.retry;
                    }
                }
                _ = sleep_until(flush_at) => self.flush().await,
                _ = sleep_until(retry_at) => {
                    self.drain().await;
                    next_retry = Instant::now() + self.retry;
                }
            }
        }
        self.flush().await;
        self.drain().await;
        if !self.spool.is_empty() {
            tracing::warn!(
                batches = self.spool.len(),
                bytes = self.spool.bytes(),
                "stopping with batches in the spool; they are written on the next start"
            );
        }
    }

    async fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Event(event) => {
                self.metrics.queued_rows.fetch_sub(1, Relaxed);
                self.buf.oldest.get_or_insert_with(Instant::now);
                self.buf.rows.events.push(event);
            }
            Msg::Events(events, ack) => {
                self.metrics
                    .queued_rows
                    .fetch_sub(events.len() as u64, Relaxed);
                self.buf.oldest.get_or_insert_with(Instant::now);
                self.buf.rows.events.extend(events);
                self.buf.acks.extend(ack);
            }
            Msg::DeadLetter(d) => {
                self.buf.oldest.get_or_insert_with(Instant::now);
                self.buf.rows.dead_letters.push(d);
            }
            Msg::Flush(ack) => {
                self.flush().await;
                self.drain().await;
                let _ = ack.send(());
                return;
            }
        }
        if self.buf.rows.rows() >= self.batch_size {
            self.flush().await;
        }
    }

    /// Writes the buffered batch to the store, or to the spool if the store fails or the
    /// spool already holds older batches.
    async fn flush(&mut self) {
        let rows = self.buf.rows.rows();
        if rows > 0 {
            let mut written = false;
            if self.spool.is_empty() {
                let start = Instant::now();
                match self.write(&self.buf.rows, self.first_write).await {
                    Ok(()) => {
                        self.metrics
                            .record_write(rows, start.elapsed().as_micros() as u64);
                        written = true;
                    }
                    Err(e) => {
                        self.metrics.write_errors.fetch_add(1, Relaxed);
                        tracing::warn!(store = self.store.name(), rows, error = %e, "batch write failed; spooling it");
                    }
                }
            }
            if !written {
                self.spool_batch(&self.buf.rows).await;
            }
            if let Some(tap) = &self.tap {
                if !self.buf.rows.events.is_empty() {
                    let events = std::mem::take(&mut self.buf.rows.events);
                    if tap.send(events).await.is_err() {
                        // The detector has stopped (shutdown); the rows are stored.
                        self.tap = None;
                    }
                }
            }
        }
        self.finish();
    }

    /// Acknowledges the buffered rows (they are durable now) and empties the buffer,
    /// keeping its allocation for the next batch.
    fn finish(&mut self) {
        if let Some(t) = self.buf.oldest.take() {
            self.metrics
                .record_ingest_latency(t.elapsed().as_micros() as u64);
        }
        for a in self.buf.acks.drain(..) {
            let _ = a.send(());
        }
        self.buf.rows.events.clear();
        self.buf.rows.dead_letters.clear();
    }

    async fn write(&self, rows: &SpoolBatch, mode: WriteMode) -> Result<(), StoreError> {
        if !rows.events.is_empty() {
            self.store.write_events(&rows.events, mode).await?;
        }
        if !rows.dead_letters.is_empty() {
            // Dead letters written after their events: a retry rewrites both, idempotently.
            self.store
                .write_dead_letters(
                    &rows.dead_letters,
                    if rows.events.is_empty() {
                        mode
                    } else {
                        WriteMode::Retry
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// Puts a batch in the spool, waiting (and draining) while the spool is full. Intake
    /// is pushed back meanwhile because the channel is not read.
    async fn spool_batch(&self, rows: &SpoolBatch) {
        self.spool_batch_waiting(rows).await;
        self.metrics.pushed_back.store(0, Relaxed);
    }

    async fn spool_batch_waiting(&self, rows: &SpoolBatch) {
        let mut waited = false;
        loop {
            match crate::block_here(|| self.spool.push(rows)) {
                Ok(()) => return,
                Err(SpoolError::Full { bytes, max }) => {
                    if !waited {
                        tracing::warn!(
                            bytes,
                            max,
                            "spool full: pushing back on intake until the store drains it"
                        );
                        waited = true;
                    }
                    self.metrics.backpressure_waits.fetch_add(1, Relaxed);
                    self.metrics.pushed_back.store(1, Relaxed);
                }
                Err(e) => tracing::error!(error = %e, "cannot write to the spool; retrying"),
            }
            tokio::time::sleep(self.retry).await;
            self.drain().await;
            if self.spool.is_empty() {
                // The store is back and nothing older is waiting: write directly.
                let start = Instant::now();
                if self.write(rows, WriteMode::Retry).await.is_ok() {
                    self.metrics
                        .record_write(rows.rows(), start.elapsed().as_micros() as u64);
                    return;
                }
            }
        }
    }

    /// Writes spooled batches to the store, oldest first, until it fails or none are left.
    async fn drain(&self) {
        while let Some(next) = self.spool.oldest() {
            let (seq, batch) = match next {
                Ok(v) => v,
                Err(SpoolError::Corrupt { path, reason }) => {
                    tracing::error!(path = %path.display(), %reason, "unreadable spool batch moved to quarantine");
                    if let Some(seq) = seq_of(&path) {
                        let _ = self.spool.quarantine(seq);
                    }
                    continue;
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot read the spool");
                    return;
                }
            };
            let start = Instant::now();
            match self.write(&batch, WriteMode::Retry).await {
                Ok(()) => {
                    self.metrics
                        .record_write(batch.rows(), start.elapsed().as_micros() as u64);
                    if let Err(e) = self.spool.remove(seq) {
                        tracing::error!(error = %e, "cannot delete a drained spool batch");
                        return;
                    }
                }
                Err(StoreError::Unavailable(_)) => return,
                Err(e) => {
                    self.metrics.write_errors.fetch_add(1, Relaxed);
                    match self.spool.quarantine(seq) {
                        Ok(p) => {
                            tracing::error!(error = %e, path = %p.display(), "store rejects a spooled batch; moved to quarantine")
                        }
                        Err(qe) => {
                            tracing::error!(error = %e, quarantine_error = %qe, "store rejects a spooled batch");
                            return;
                        }
                    }
                }
            }
        }
    }
}

fn seq_of(path: &std::path::Path) -> Option<u64> {
    path.file_stem()?.to_str()?.parse().ok()
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
        None => std::future::pending().await,
    }
}
