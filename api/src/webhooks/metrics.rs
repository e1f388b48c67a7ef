//! Webhook metrics on `/metrics`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use ncsoc_store::control::DeliveryCounts;

/// What became of an attempt, as counted in `ncsoc_webhook_deliveries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Counted {
    Delivered,
    /// Failed, to be tried again.
    Retried,
    /// Failed for the last time.
    Dead,
}

impl Counted {
    fn as_str(self) -> &'static str {
        match self {
            Counted::Delivered => "delivered",
            Counted::Retried => "retried",
            Counted::Dead => "dead",
        }
    }
}

pub struct WebhookMetrics {
    inner: Mutex<Inner>,
}

struct Inner {
    outcomes: BTreeMap<(String, Counted), u64>,
    attempts: BTreeMap<String, u64>,
    counts: Vec<DeliveryCounts>,
    /// One attempt, connect to answer, microseconds.
    request_us: Histogram<u64>,
    /// Enqueued to acknowledged, microseconds.
    delivery_us: Histogram<u64>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 30 * 86_400 * 1_000_000, 2).expect("static histogram bounds")
}

impl Default for WebhookMetrics {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Inner {
                outcomes: BTreeMap::new(),
                attempts: BTreeMap::new(),
                counts: Vec::new(),
                request_us: histogram(),
                delivery_us: histogram(),
            }),
        }
    }
}

fn us(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 30 * 86_400 * 1_000_000)
}

impl WebhookMetrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }

    /// One attempt to `destination` that took `took` and came to `outcome`; `since_enqueue`
    /// for a delivered one.
    pub fn attempt(
        &self,
        destination: &str,
        took: Duration,
        outcome: Counted,
        since_enqueue: Option<Duration>,
    ) {
        self.with(|m| {
            *m.attempts.entry(destination.to_string()).or_default() += 1;
            *m.outcomes
                .entry((destination.to_string(), outcome))
                .or_default() += 1;
            let _ = m.request_us.record(us(took));
            if let Some(d) = since_enqueue {
                let _ = m.delivery_us.record(us(d));
            }
        })
    }

    /// The outbox as it now is (pending and dead per destination).
    pub fn set_counts(&self, counts: Vec<DeliveryCounts>) {
        self.with(|m| m.counts = counts)
    }

    pub fn render(&self, out: &mut String) {
        self.with(|m| {
            let name = "ncsoc_webhook_deliveries_total";
            let _ = writeln!(out, "# HELP {name} Webhook attempts by what became of the delivery: delivered (2xx), retried (failed, tried again later), dead (failed for the last time).\n# TYPE {name} counter");
            for ((d, o), v) in &m.outcomes {
                let _ = writeln!(out, "{name}{{destination=\"{d}\",outcome=\"{}\"}} {v}", o.as_str());
            }
            let name = "ncsoc_webhook_attempts_total";
            let _ = writeln!(out, "# HELP {name} HTTP requests made to webhook destinations.\n# TYPE {name} counter");
            for (d, v) in &m.attempts {
                let _ = writeln!(out, "{name}{{destination=\"{d}\"}} {v}");
            }
            for (name, help, pick) in [
                (
                    "ncsoc_webhook_pending",
                    "Deliveries waiting in the outbox (first attempt or retry).",
                    (|c: &DeliveryCounts| c.pending) as fn(&DeliveryCounts) -> u64,
                ),
                (
                    "ncsoc_webhook_dead",
                    "Deliveries that failed every attempt (dead letters), until requeued.",
                    |c: &DeliveryCounts| c.dead,
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
                for c in &m.counts {
                    let _ = writeln!(out, "{name}{{destination=\"{}\"}} {}", c.destination, pick(c));
                }
            }
            for (name, help, h) in [
                (
                    "ncsoc_webhook_request_seconds",
                    "Time of one webhook attempt, connect to answer.",
                    &m.request_us,
                ),
                (
                    "ncsoc_webhook_delivery_latency_seconds",
                    "Time from enqueueing an incident change to the destination acknowledging it, retries included.",
                    &m.delivery_us,
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} summary");
                for q in [0.5, 0.9, 0.99] {
                    let _ = writeln!(
                        out,
                        "{name}{{quantile=\"{q}\"}} {}",
                        h.value_at_quantile(q) as f64 / 1e6
                    );
                }
                let _ = writeln!(out, "{name}_count {}", h.len());
            }
        })
    }
}

impl crate::RenderMetrics for WebhookMetrics {
    fn render(&self, out: &mut String) {
        WebhookMetrics::render(self, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_gauges_and_latencies() {
        let m = WebhookMetrics::default();
        m.attempt("cc", Duration::from_millis(3), Counted::Retried, None);
        m.attempt(
            "cc",
            Duration::from_millis(2),
            Counted::Delivered,
            Some(Duration::from_secs(2)),
        );
        m.set_counts(vec![DeliveryCounts {
            destination: "cc".into(),
            pending: 4,
            delivered: 1,
            dead: 2,
        }]);
        let mut out = String::new();
        m.render(&mut out);
        for line in [
            "ncsoc_webhook_deliveries_total{destination=\"cc\",outcome=\"delivered\"} 1",
            "ncsoc_webhook_deliveries_total{destination=\"cc\",outcome=\"retried\"} 1",
            "ncsoc_webhook_attempts_total{destination=\"cc\"} 2",
            "ncsoc_webhook_pending{destination=\"cc\"} 4",
            "ncsoc_webhook_dead{destination=\"cc\"} 2",
            "ncsoc_webhook_delivery_latency_seconds_count 1",
            "ncsoc_webhook_request_seconds_count 2",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} missing in\n{out}");
        }
    }
}
