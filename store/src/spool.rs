//! The disk spool: batches that could not be written to the store wait here, in order,
//! until it answers again, and survive a restart of ncsoc.
//!
//! One file per batch, `<sequence>.batch`, written to a `.tmp` name, fsynced, then renamed,
//! so a crash leaves either a whole batch or none. The first line is a header
//! (`{"events":N,"dead_letters":M}`), then one JSON object per row. The spool's total size
//! is bounded; a full spool refuses batches and the writer pushes back on intake. A file
//! that cannot be read is moved to `quarantine/`, never deleted.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};

use ncsoc_model::{DeadLetter, Event};
use serde::{Deserialize, Serialize};

use crate::{StoreError, StoreMetrics};

/// What one flush of the writer holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SpoolBatch {
    pub events: Vec<Event>,
    pub dead_letters: Vec<DeadLetter>,
}

impl SpoolBatch {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty() && self.dead_letters.is_empty()
    }
    pub fn rows(&self) -> usize {
        self.events.len() + self.dead_letters.len()
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    events: usize,
    dead_letters: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool is full ({bytes} of {max} bytes)")]
    Full { bytes: u64, max: u64 },
    #[error("spool I/O at {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("spool file {path} is unreadable: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

impl From<SpoolError> for StoreError {
    fn from(e: SpoolError) -> Self {
        StoreError::Spool(e.to_string())
    }
}

struct Entry {
    seq: u64,
    bytes: u64,
}

struct State {
    files: VecDeque<Entry>,
    next_seq: u64,
    bytes: u64,
}

/// A bounded, ordered, crash-safe queue of batches on disk.
pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    state: Mutex<State>,
    metrics: Arc<StoreMetrics>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Spool {
    /// Opens the spool in `dir`, picking up batches left by an earlier run.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        metrics: Arc<StoreMetrics>,
    ) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let entry = entry.map_err(io_err(dir))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                // A batch whose write did not finish was never acknowledged as spooled.
                let _ = fs::remove_file(entry.path());
                continue;
            }
            if let Some(seq) = name
                .strip_suffix(".batch")
                .and_then(|s| s.parse::<u64>().ok())
            {
                let bytes = entry.metadata().map_err(io_err(dir))?.len();
                files.push(Entry { seq, bytes });
            }
        }
        files.sort_by_key(|e| e.seq);
        let bytes = files.iter().map(|e| e.bytes).sum();
        let next_seq = files.last().map_or(0, |e| e.seq + 1);
        metrics.spool_bytes.store(bytes, Relaxed);
        metrics.spool_batches.store(files.len() as u64, Relaxed);
        if !files.is_empty() {
            tracing::info!(batches = files.len(), bytes, dir = %dir.display(), "spool holds batches from an earlier run");
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            max_bytes,
            state: Mutex::new(State {
                files: files.into(),
                next_seq,
                bytes,
            }),
            metrics,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path(&self, seq: u64) -> PathBuf {
        self.dir.join(format!("{seq:020}.batch"))
    }

    pub fn is_empty(&self) -> bool {
        self.state().files.is_empty()
    }

    pub fn len(&self) -> usize {
        self.state().files.len()
    }

    pub fn bytes(&self) -> u64 {
        self.state().bytes
    }

    fn publish(&self, st: &State) {
        self.metrics.spool_bytes.store(st.bytes, Relaxed);
        self.metrics
            .spool_batches
            .store(st.files.len() as u64, Relaxed);
    }

    /// Appends a batch durably. Refuses with [`SpoolError::Full`] when it would not fit.
    pub fn push(&self, batch: &SpoolBatch) -> Result<(), SpoolError> {
        let mut buf = Vec::with_capacity(256 * batch.rows());
        let header = Header {
            events: batch.events.len(),
            dead_letters: batch.dead_letters.len(),
        };
        json_line(&mut buf, &header);
        for e in &batch.events {
            json_line(&mut buf, e);
        }
        for d in &batch.dead_letters {
            json_line(&mut buf, d);
        }
        let len = buf.len() as u64;
        let seq = {
            let mut st = self.state();
            if st.bytes + len > self.max_bytes {
                return Err(SpoolError::Full {
                    bytes: st.bytes,
                    max: self.max_bytes,
                });
            }
            // Reserve the space and the sequence number before the slow write.
            st.bytes += len;
            st.next_seq += 1;
            st.next_seq - 1
        };
        let path = self.path(seq);
        let tmp = path.with_extension("tmp");
        let res = (|| {
            let mut f = BufWriter::new(File::create(&tmp)?);
            f.write_all(&buf)?;
            f.into_inner().map_err(|e| e.into_error())?.sync_all()?;
            fs::rename(&tmp, &path)?;
            File::open(&self.dir)?.sync_all()
        })();
        let mut st = self.state();
        match res {
            Ok(()) => {
                // Sequence numbers are handed out under the lock, so entries stay sorted
                // unless two pushes race; keep the queue ordered either way.
                let pos = st
                    .files
                    .iter()
                    .rposition(|e| e.seq < seq)
                    .map_or(0, |p| p + 1);
                st.files.insert(pos, Entry { seq, bytes: len });
                self.publish(&st);
                drop(st);
                self.metrics.batches_spooled.fetch_add(1, Relaxed);
                self.metrics
                    .rows_spooled
                    .fetch_add(batch.rows() as u64, Relaxed);
                Ok(())
            }
            Err(source) => {
                st.bytes -= len;
                let _ = fs::remove_file(&tmp);
                Err(SpoolError::Io { path, source })
            }
        }
    }

    /// The oldest batch and its sequence number, without removing it.
    pub fn oldest(&self) -> Option<Result<(u64, SpoolBatch), SpoolError>> {
        let seq = self.state().files.front()?.seq;
        Some(self.read(seq).map(|b| (seq, b)))
    }

    fn read(&self, seq: u64) -> Result<SpoolBatch, SpoolError> {
        let path = self.path(seq);
        let corrupt = |reason: String| SpoolError::Corrupt {
            path: path.clone(),
            reason,
        };
        let mut lines = BufReader::new(File::open(&path).map_err(io_err(&path))?).lines();
        let mut next = |what: &str| -> Result<String, SpoolError> {
            lines
                .next()
                .ok_or_else(|| corrupt(format!("ends before {what}")))?
                .map_err(io_err(&path))
        };
        let header: Header = serde_json::from_str(&next("the header")?)
            .map_err(|e| corrupt(format!("header: {e}")))?;
        let mut batch = SpoolBatch::default();
        for i in 0..header.events {
            batch.events.push(
                serde_json::from_str(&next("an event")?)
                    .map_err(|e| corrupt(format!("event {i}: {e}")))?,
            );
        }
        for i in 0..header.dead_letters {
            batch.dead_letters.push(
                serde_json::from_str(&next("a dead letter")?)
                    .map_err(|e| corrupt(format!("dead letter {i}: {e}")))?,
            );
        }
        Ok(batch)
    }

    fn forget(&self, seq: u64) {
        let mut st = self.state();
        if let Some(pos) = st.files.iter().position(|e| e.seq == seq) {
            if let Some(e) = st.files.remove(pos) {
                st.bytes -= e.bytes;
            }
        }
        self.publish(&st);
    }

    /// Deletes a batch once the store holds it.
    pub fn remove(&self, seq: u64) -> Result<(), SpoolError> {
        let path = self.path(seq);
        fs::remove_file(&path).map_err(io_err(&path))?;
        self.forget(seq);
        self.metrics.batches_drained.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Moves a batch the store rejects (or that cannot be read) aside for an operator.
    pub fn quarantine(&self, seq: u64) -> Result<PathBuf, SpoolError> {
        let qdir = self.dir.join("quarantine");
        fs::create_dir_all(&qdir).map_err(io_err(&qdir))?;
        let from = self.path(seq);
        let to = qdir.join(format!("{seq:020}.batch"));
        fs::rename(&from, &to).map_err(io_err(&from))?;
        self.forget(seq);
        Ok(to)
    }
}

fn json_line<T: Serialize>(buf: &mut Vec<u8>, v: &T) {
    // Serialising the model's types into a Vec cannot fail: every map key is a string.
    let _ = serde_json::to_writer(&mut *buf, v);
    buf.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_model::Timestamp;

    fn batch(n: usize, tag: &str) -> SpoolBatch {
        SpoolBatch {
            events: (0..n)
                .map(|i| {
                    Event::new(
                        format!("{tag}{i}"),
                        Timestamp::from_secs(i as i64),
                        "energy",
                        "t",
                    )
                })
                .collect(),
            dead_letters: vec![DeadLetter {
                id: format!("{tag}dl"),
                received: Timestamp::from_secs(1),
                sector: "energy".into(),
                source: "t".into(),
                format: "syslog".into(),
                reason: "bad PRI at byte 0".into(),
                raw: vec![0, 255, b'\n', b'x'],
            }],
        }
    }

    #[test]
    fn keeps_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let m = Arc::new(StoreMetrics::new("test"));
        let s = Spool::open(dir.path(), 1 << 20, m.clone()).unwrap();
        s.push(&batch(3, "a")).unwrap();
        s.push(&batch(2, "b")).unwrap();
        drop(s);
        let s = Spool::open(dir.path(), 1 << 20, m.clone()).unwrap();
        assert_eq!(s.len(), 2);
        let (seq, b) = s.oldest().unwrap().unwrap();
        assert_eq!(b, batch(3, "a"));
        s.remove(seq).unwrap();
        let (seq, b) = s.oldest().unwrap().unwrap();
        assert_eq!(b, batch(2, "b"));
        s.remove(seq).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.bytes(), 0);
        assert_eq!(m.batches_drained.load(Relaxed), 2);
    }

    #[test]
    fn refuses_when_full_and_counts_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 2_000, Arc::new(StoreMetrics::new("test"))).unwrap();
        s.push(&batch(2, "a")).unwrap();
        let used = s.bytes();
        assert!(used > 0);
        let err = s.push(&batch(40, "b")).unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        assert_eq!(s.bytes(), used);
    }

    #[test]
    fn corrupt_files_are_quarantined_not_lost() {
        let dir = tempfile::tempdir().unwrap();
        let s = Spool::open(dir.path(), 1 << 20, Arc::new(StoreMetrics::new("test"))).unwrap();
        s.push(&batch(1, "a")).unwrap();
        let (seq, _) = s.oldest().unwrap().unwrap();
        fs::write(s.path(seq), b"{\"events\":5,\"dead_letters\":0}\n{}\n").unwrap();
        let err = s.oldest().unwrap().unwrap_err();
        assert!(err.to_string().contains("event 0"), "{err}");
        let moved = s.quarantine(seq).unwrap();
        assert!(moved.exists());
        assert!(s.is_empty());
    }

    #[test]
    fn unfinished_writes_are_dropped_on_open() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("00000000000000000007.tmp"), b"partial").unwrap();
        let s = Spool::open(dir.path(), 1 << 20, Arc::new(StoreMetrics::new("test"))).unwrap();
        assert!(s.is_empty());
        assert!(!dir.path().join("00000000000000000007.tmp").exists());
    }
}
