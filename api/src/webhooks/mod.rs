//! Signed webhooks to the command centre (DESIGN §5).
//!
//! Every incident change goes through the incident hub into the change log. For each
//! destination (from `[api.webhooks]` or the admin API) whose filter wants the change, a
//! delivery is put in the durable outbox of the control store, in the same transaction
//! that moves the destination's cursor in the log ([`worker`]). Each delivery is POSTed
//! with
//!
//! - `X-Ncsoc-Event`: `incident.opened`, `incident.escalated`, ... ;
//! - `X-Ncsoc-Delivery`: its id, the idempotency key, the same in every retry;
//! - `X-Ncsoc-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` ([`sign`]);
//!
//! and retried with exponential backoff and full jitter until a 2xx, or `max_attempts`,
//! after which it is dead (kept with its last error until an admin requeues it). The body
//! is fixed at enqueue time ([`format`]), so every retry sends the same bytes. Nothing is
//! lost across a restart: the cursor and the outbox are on disk, and a delivery whose
//! attempt was cut short is sent again under the same key (receivers deduplicate by it).

pub mod client;
pub mod config;
pub mod format;
pub mod metrics;
pub mod routes;
pub mod sign;
pub mod worker;

pub use config::{DestinationConfig, Filter, Format, WebhooksConfig};
pub use metrics::WebhookMetrics;
pub use routes::routes;
pub use worker::WebhooksHandle;

use crate::AppState;

/// Upserts the config destinations and starts the dispatcher and senders (inside a tokio
/// runtime). Stop with [`WebhooksHandle::stop`]; render `handle.metrics` on `/metrics`.
pub fn start(state: &AppState) -> Result<WebhooksHandle, String> {
    worker::start(state.control.clone(), &state.hub, &state.config.webhooks)
}
