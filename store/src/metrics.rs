//! Store counters and write-latency histograms, rendered in the Prometheus text format.
//! Updated once per batch, never per row.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

use hdrhistogram::Histogram;

#[derive(Debug)]
pub struct StoreMetrics {
    pub backend: &'static str,
    pub rows_written: AtomicU64,
    pub batches_written: AtomicU64,
    pub write_errors: AtomicU64,
    pub batches_spooled: AtomicU64,
    pub rows_spooled: AtomicU64,
    pub batches_drained: AtomicU64,
    pub spool_bytes: AtomicU64,
    pub spool_batches: AtomicU64,
    /// Times intake had to wait because the spool was full.
    pub backpressure_waits: AtomicU64,
    /// 1 while the writer waits for room in a full spool (intake is pushed back), else 0.
    pub pushed_back: AtomicU64,
    pub queued_rows: AtomicU64,
    /// Write latency of a batch, microseconds.
    pub write_latency_us: Mutex<Histogram<u64>>,
    /// Time from a row entering the writer to it being durable, microseconds.
    pub ingest_latency_us: Mutex<Histogram<u64>>,
}

impl StoreMetrics {
    pub fn new(backend: &'static str) -> Self {
        let hist = || {
            Mutex::new(
                Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("static histogram bounds"),
            )
        };
        Self {
            backend,
            rows_written: AtomicU64::new(0),
            batches_written: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            batches_spooled: AtomicU64::new(0),
            rows_spooled: AtomicU64::new(0),
            batches_drained: AtomicU64::new(0),
            spool_bytes: AtomicU64::new(0),
            spool_batches: AtomicU64::new(0),
            backpressure_waits: AtomicU64::new(0),
            pushed_back: AtomicU64::new(0),
            queued_rows: AtomicU64::new(0),
            write_latency_us: hist(),
            ingest_latency_us: hist(),
        }
    }

    pub fn record_write(&self, rows: usize, micros: u64) {
        self.rows_written.fetch_add(rows as u64, Relaxed);
        self.batches_written.fetch_add(1, Relaxed);
        if let Ok(mut h) = self.write_latency_us.lock() {
            h.saturating_record(micros.max(1));
        }
    }

    pub fn record_ingest_latency(&self, micros: u64) {
        if let Ok(mut h) = self.ingest_latency_us.lock() {
            h.saturating_record(micros.max(1));
        }
    }

    /// Appends the Prometheus text exposition of these metrics.
    pub fn render(&self, out: &mut String) {
        let b = self.backend;
        let counters: [(&str, &str, &AtomicU64); 7] = [
            (
                "ncsoc_store_rows_written_total",
                "Rows durably written to the store.",
                &self.rows_written,
            ),
            (
                "ncsoc_store_batches_written_total",
                "Batches written to the store.",
                &self.batches_written,
            ),
            (
                "ncsoc_store_write_errors_total",
                "Batch writes that failed and were spooled or retried.",
                &self.write_errors,
            ),
            (
                "ncsoc_store_batches_spooled_total",
                "Batches written to the disk spool.",
                &self.batches_spooled,
            ),
            (
                "ncsoc_store_rows_spooled_total",
                "Rows written to the disk spool.",
                &self.rows_spooled,
            ),
            (
                "ncsoc_store_batches_drained_total",
                "Spooled batches delivered to the store.",
                &self.batches_drained,
            ),
            (
                "ncsoc_store_backpressure_waits_total",
                "Times intake waited because the spool was full.",
                &self.backpressure_waits,
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{backend=\"{b}\"}} {}",
                v.load(Relaxed)
            );
        }
        let gauges: [(&str, &str, &AtomicU64); 4] = [
            (
                "ncsoc_store_pushed_back",
                "1 while intake is pushed back because the spool is full.",
                &self.pushed_back,
            ),
            (
                "ncsoc_store_spool_bytes",
                "Bytes in the disk spool.",
                &self.spool_bytes,
            ),
            (
                "ncsoc_store_spool_batches",
                "Batches in the disk spool.",
                &self.spool_batches,
            ),
            (
                "ncsoc_store_queued_rows",
                "Rows waiting in memory for the next batch.",
                &self.queued_rows,
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{backend=\"{b}\"}} {}",
                v.load(Relaxed)
            );
        }
        for (name, help, h) in [
            (
                "ncsoc_store_write_latency_seconds",
                "Latency of one batch write.",
                &self.write_latency_us,
            ),
            (
                "ncsoc_store_ingest_latency_seconds",
                "Time from a row entering the writer to being durable.",
                &self.ingest_latency_us,
            ),
        ] {
            let Ok(h) = h.lock() else { continue };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
            for q in [0.5, 0.9, 0.99, 0.999] {
                let _ = writeln!(
                    out,
                    "{name}{{backend=\"{b}\",quantile=\"{q}\"}} {}",
                    h.value_at_quantile(q) as f64 / 1e6
                );
            }
            let sum: f64 = h
                .iter_recorded()
                .map(|v| v.value_iterated_to() as f64 * v.count_at_value() as f64)
                .sum::<f64>()
                / 1e6;
            let _ = writeln!(
                out,
                "{name}_sum{{backend=\"{b}\"}} {sum}\n{name}_count{{backend=\"{b}\"}} {}",
                h.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_quantiles() {
        let m = StoreMetrics::new("sqlite");
        m.record_write(100, 2_000);
        m.record_write(50, 4_000);
        let mut s = String::new();
        m.render(&mut s);
        assert!(
            s.contains("ncsoc_store_rows_written_total{backend=\"sqlite\"} 150"),
            "{s}"
        );
        assert!(
            s.contains("ncsoc_store_write_latency_seconds_count{backend=\"sqlite\"} 2"),
            "{s}"
        );
        assert!(s.contains("quantile=\"0.99\"} 0.004"), "{s}");
    }
}
