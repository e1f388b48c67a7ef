//! The dispatcher and the senders.
//!
//! The dispatcher wakes on every incident change announced by the hub (and once a second
//! in any case, which also catches changes made while it was down): it reads the change
//! log after each destination's cursor, renders a body for every change the destination's
//! filter wants, and enqueues those deliveries and the new cursor in one transaction.
//!
//! Each destination has its own sender task: it sends that destination's due deliveries
//! one at a time, the earliest change first (a delivery backing off does not hold back
//! the ones after it), so a slow or dead destination delays nobody else. A semaphore
//! bounds the requests in flight over all destinations.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use ncsoc_model::Timestamp;
use ncsoc_store::control::{Delivery, DestinationSource, Dispatch, Due, Failure, NewDelivery};
use ncsoc_store::{ControlStore, Scope};
use tokio::sync::{watch, Notify, Semaphore};
use tokio::task::JoinHandle;

use super::client::{Client, Outcome};
use super::config::{DestinationConfig, WebhooksConfig};
use super::format::render;
use super::metrics::{Counted, WebhookMetrics};
use super::sign::signature_header;
use crate::hub::IncidentHub;

/// Changes read from the log per dispatch step.
const BATCH: usize = 256;
/// The longest the dispatcher sleeps without looking at the change log (it also wakes
/// on every change the hub announces).
const POLL: Duration = Duration::from_secs(1);
/// The longest a sender sleeps without looking at its outbox (it also wakes when the
/// dispatcher enqueues for it; a requeued dead letter waits for this).
const IDLE_POLL: Duration = Duration::from_secs(5);
const COUNTS_EVERY: Duration = Duration::from_secs(2);
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

struct Shared {
    control: Arc<ControlStore>,
    config: WebhooksConfig,
    client: Client,
    metrics: Arc<WebhookMetrics>,
    permits: Semaphore,
}

/// The running dispatcher and senders.
pub struct WebhooksHandle {
    pub metrics: Arc<WebhookMetrics>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for WebhooksHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhooksHandle").finish_non_exhaustive()
    }
}

impl WebhooksHandle {
    /// Stops sending. An attempt in flight is abandoned: its delivery stays pending and is
    /// sent again, under the same key, after the restart.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .is_err()
        {
            tracing::warn!("webhook sender did not stop within 10 s");
        }
    }
}

/// Upserts the destinations of `[api.webhooks]` (removing config destinations that left
/// the file), checks their secrets, and starts the dispatcher and one sender per
/// destination.
pub fn start(
    control: Arc<ControlStore>,
    hub: &IncidentHub,
    config: &WebhooksConfig,
) -> Result<WebhooksHandle, String> {
    config.validate()?;
    for d in &config.destinations {
        d.resolve_secret()
            .map_err(|e| format!("webhook destination `{}`: {e}", d.name))?;
    }
    sync_config_destinations(&control, config)?;
    let metrics = Arc::new(WebhookMetrics::default());
    let shared = Arc::new(Shared {
        control,
        config: config.clone(),
        client: Client::new(config.ca_file.clone()),
        metrics: metrics.clone(),
        permits: Semaphore::new(config.max_concurrency),
    });
    let (stop, stop_rx) = watch::channel(false);
    let changes = hub.subscribe();
    let task = tokio::spawn(run(shared, changes, stop_rx));
    Ok(WebhooksHandle {
        metrics,
        stop,
        task,
    })
}

fn sync_config_destinations(control: &ControlStore, config: &WebhooksConfig) -> Result<(), String> {
    let now = Timestamp::now();
    for d in &config.destinations {
        let secret = d.secret.clone().unwrap_or_default();
        let (stored, created) = control
            .upsert_webhook_destination(&d.name, DestinationSource::Config, &d.spec(), &secret, now)
            .map_err(|e| e.to_string())?;
        if created {
            tracing::info!(destination = %d.name, from_seq = stored.last_seq, "webhook destination added from the config");
        }
    }
    for stored in control.webhook_destinations().map_err(|e| e.to_string())? {
        if stored.source == DestinationSource::Config
            && !config.destinations.iter().any(|d| d.name == stored.name)
        {
            let pending = control
                .delete_webhook_destination(&stored.name)
                .map_err(|e| e.to_string())?;
            tracing::warn!(
                destination = %stored.name,
                dropped_pending = pending.unwrap_or(0),
                "webhook destination no longer in the config: removed with its outbox"
            );
        }
    }
    Ok(())
}

struct Lane {
    notify: Arc<Notify>,
    task: JoinHandle<()>,
}

async fn run(
    shared: Arc<Shared>,
    mut changes: tokio::sync::broadcast::Receiver<Arc<ncsoc_store::control::Change>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut lanes: HashMap<i64, Lane> = HashMap::new();
    let mut counted = Instant::now() - COUNTS_EVERY;
    let mut pruned = Instant::now() - PRUNE_EVERY;
    loop {
        if *stop.borrow() {
            break;
        }
        match dispatch(&shared) {
            Ok((ids, touched)) => {
                lanes.retain(|_, l| !l.task.is_finished());
                for id in ids {
                    lanes.entry(id).or_insert_with(|| {
                        let notify = Arc::new(Notify::new());
                        let task =
                            tokio::spawn(sender(shared.clone(), id, notify.clone(), stop.clone()));
                        Lane { notify, task }
                    });
                }
                for id in touched {
                    if let Some(l) = lanes.get(&id) {
                        l.notify.notify_one();
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "webhook dispatch failed; retrying"),
        }
        if counted.elapsed() >= COUNTS_EVERY {
            counted = Instant::now();
            match shared.control.webhook_delivery_counts() {
                Ok(c) => shared.metrics.set_counts(c),
                Err(e) => tracing::warn!(error = %e, "cannot count webhook deliveries"),
            }
        }
        if pruned.elapsed() >= PRUNE_EVERY {
            pruned = Instant::now();
            let keep = i64::from(shared.config.keep_delivered_days) * 86_400 * 1_000_000_000;
            let cutoff = Timestamp(Timestamp::now().nanos().saturating_sub(keep));
            if let Err(e) = shared.control.prune_webhook_deliveries(cutoff) {
                tracing::warn!(error = %e, "cannot prune delivered webhook deliveries");
            }
        }
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() {
                    break;
                }
            }
            // A change, or a lag (the log is re-read from the cursors either way).
            r = changes.recv() => {
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = r {
                    tokio::time::sleep(POLL).await;
                }
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
    for (_, lane) in lanes {
        let _ = lane.task.await;
    }
}

/// Enqueues what every destination wants from the change log after its cursor. Returns
/// every destination id, and those that got new deliveries.
fn dispatch(shared: &Shared) -> Result<(Vec<i64>, Vec<i64>), String> {
    let control = &shared.control;
    let mut touched = Vec::new();
    loop {
        let dests = control.webhook_destinations().map_err(|e| e.to_string())?;
        let ids = dests.iter().map(|d| d.id).collect::<Vec<_>>();
        let Some(from) = dests.iter().map(|d| d.last_seq).min() else {
            return Ok((ids, touched));
        };
        let changes = control
            .changes_since(from, &Scope::All, BATCH)
            .map_err(|e| e.to_string())?;
        let Some(to) = changes.last().map(|c| c.seq) else {
            return Ok((ids, touched));
        };
        let mut batch = Vec::new();
        for d in dests.iter().filter(|d| d.last_seq < to) {
            let cfg = match DestinationConfig::from_stored(d) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(destination = %d.name, error = %e, "webhook destination skipped");
                    continue;
                }
            };
            let mut deliveries = Vec::new();
            for c in changes
                .iter()
                .filter(|c| c.seq > d.last_seq && cfg.filter.matches(c.kind, &c.incident))
            {
                let id = delivery_id()?;
                let body = render(cfg.format, &id, c, shared.config.max_body_bytes);
                deliveries.push(NewDelivery {
                    id,
                    seq: c.seq,
                    event: c.kind.event_name(),
                    incident_id: c.incident.id.clone(),
                    sectors: c.incident.sectors.clone(),
                    content_type: body.content_type.to_string(),
                    body: body.body,
                });
            }
            if !deliveries.is_empty() {
                touched.push(d.id);
            }
            batch.push(Dispatch {
                destination_id: d.id,
                from_seq: d.last_seq,
                to_seq: to,
                deliveries,
            });
        }
        if batch.is_empty() {
            return Ok((ids, touched));
        }
        control
            .enqueue_webhook_deliveries(&batch, Timestamp::now())
            .map_err(|e| e.to_string())?;
        if changes.len() < BATCH {
            return Ok((ids, touched));
        }
    }
}

/// A fresh idempotency key: `dlv_` and 128 random bits in hex.
fn delivery_id() -> Result<String, String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| format!("no randomness for a delivery id: {e}"))?;
    Ok(format!(
        "dlv_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    ))
}

/// Whether `s` looks like a delivery id.
pub fn is_delivery_id(s: &str) -> bool {
    s.len() == 36
        && s.starts_with("dlv_")
        && s[4..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The wait before attempt `n + 1` after `n` failed ones: uniformly random up to
/// min(max, base * 2^(n-1)) ("full jitter").
pub fn backoff(n: u32, base_ms: u64, max_ms: u64) -> Duration {
    let exp = n.saturating_sub(1).min(40);
    let cap = base_ms.saturating_mul(1u64 << exp).min(max_ms);
    let mut b = [0u8; 8];
    let r = match getrandom::fill(&mut b) {
        Ok(()) => u64::from_le_bytes(b),
        Err(_) => u64::from(Timestamp::now().nanos().unsigned_abs() as u32),
    };
    Duration::from_millis(r % (cap + 1))
}

enum Step {
    /// Something was sent; look again at once.
    Sent,
    /// Nothing due for this long.
    Wait(Duration),
    /// The destination is gone, or the sender is stopping.
    Done,
}

async fn sender(
    shared: Arc<Shared>,
    id: i64,
    notify: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = match step(&shared, id, &mut stop).await {
            Ok(Step::Sent) => continue,
            Ok(Step::Done) => return,
            Ok(Step::Wait(d)) => d.min(IDLE_POLL),
            Err(e) => {
                tracing::warn!(destination_id = id, error = %e, "webhook sender step failed");
                POLL
            }
        };
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() {
                    return;
                }
            }
            _ = notify.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn step(shared: &Shared, id: i64, stop: &mut watch::Receiver<bool>) -> Result<Step, String> {
    let control = &shared.control;
    let Some(dest) = control
        .webhook_destination_by_id(id)
        .map_err(|e| e.to_string())?
    else {
        return Ok(Step::Done);
    };
    let cfg = DestinationConfig::from_stored(&dest)?;
    let now = Timestamp::now();
    let delivery = match control
        .due_webhook_delivery(id, now)
        .map_err(|e| e.to_string())?
    {
        Due::Now(d) => d,
        Due::At(t) => {
            let ns = (t.nanos() - now.nanos()).max(0) as u64;
            return Ok(Step::Wait(Duration::from_nanos(ns)));
        }
        Due::Idle => return Ok(Step::Wait(IDLE_POLL)),
    };
    let Ok(_permit) = shared.permits.acquire().await else {
        return Ok(Step::Done);
    };
    let started = Instant::now();
    let outcome = tokio::select! {
        o = attempt(shared, &cfg, &delivery) => o,
        _ = stop.changed() => return Ok(Step::Done),
    };
    let took = started.elapsed();
    let at = Timestamp::now();
    let name = &dest.name;
    match outcome {
        Outcome::Delivered(status) => {
            control
                .mark_webhook_delivered(&delivery.id, at, status)
                .map_err(|e| e.to_string())?;
            let since =
                Duration::from_nanos((at.nanos() - delivery.created_at.nanos()).max(0) as u64);
            shared
                .metrics
                .attempt(name, took, Counted::Delivered, Some(since));
            tracing::debug!(destination = %name, delivery = %delivery.id, status, "webhook delivered");
        }
        Outcome::Failed { status, error } => {
            let attempts = delivery.attempts + 1;
            let retry_at = (attempts < cfg.max_attempts).then(|| {
                let wait = backoff(attempts, cfg.backoff_base_ms, cfg.backoff_max_ms);
                Timestamp(at.nanos().saturating_add(wait.as_nanos() as i64))
            });
            control
                .mark_webhook_failed(
                    &delivery.id,
                    &Failure {
                        at,
                        status,
                        error: error.clone(),
                        retry_at,
                    },
                )
                .map_err(|e| e.to_string())?;
            if retry_at.is_some() {
                shared.metrics.attempt(name, took, Counted::Retried, None);
                tracing::info!(destination = %name, delivery = %delivery.id, attempts, error = %error, "webhook attempt failed; will retry");
            } else {
                shared.metrics.attempt(name, took, Counted::Dead, None);
                tracing::warn!(destination = %name, delivery = %delivery.id, attempts, error = %error, "webhook delivery dead after its last attempt");
            }
        }
    }
    Ok(Step::Sent)
}

/// One signed POST of `d` to its destination.
async fn attempt(shared: &Shared, cfg: &DestinationConfig, d: &Delivery) -> Outcome {
    let failed = |error: String| Outcome::Failed {
        status: None,
        error,
    };
    let secret = match cfg.resolve_secret() {
        Ok(s) => s,
        Err(e) => return failed(e),
    };
    let uri = match cfg.uri() {
        Ok(u) => u,
        Err(e) => return failed(e),
    };
    let signature = signature_header(
        secret.as_bytes(),
        Timestamp::now().secs(),
        d.body.as_bytes(),
    );
    let mut headers = Vec::with_capacity(4);
    for (name, value) in [
        ("content-type", d.content_type.as_str()),
        ("x-ncsoc-event", d.event.as_str()),
        ("x-ncsoc-delivery", d.id.as_str()),
        ("x-ncsoc-signature", signature.as_str()),
    ] {
        match HeaderValue::from_str(value) {
            Ok(v) => headers.push((HeaderName::from_static(name), v)),
            Err(_) => return failed(format!("{name} is not a valid header value")),
        }
    }
    shared
        .client
        .post(
            &uri,
            cfg.ca_file.as_deref(),
            &headers,
            Bytes::from(d.body.clone()),
            Duration::from_millis(cfg.timeout_ms),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        for n in 1..60 {
            let d = backoff(n, 1_000, 60_000);
            let cap = 1_000u64.saturating_mul(1 << (n - 1).min(40)).min(60_000);
            assert!(d <= Duration::from_millis(cap), "{n}: {d:?}");
        }
        let spread: std::collections::HashSet<_> =
            (0..50).map(|_| backoff(10, 1_000, 600_000)).collect();
        assert!(spread.len() > 10, "jitter: {spread:?}");
    }

    #[test]
    fn delivery_ids_are_random_keys() {
        let a = delivery_id().unwrap();
        assert!(is_delivery_id(&a), "{a}");
        assert_ne!(a, delivery_id().unwrap());
        assert!(!is_delivery_id("dlv_XYZ"));
        assert!(!is_delivery_id(&a.to_uppercase()));
    }
}
