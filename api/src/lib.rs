//! The HTTP surface of `ncsoc serve`: `/healthz`, `/metrics` (Prometheus text format) and
//! the analyst API under `/api/v1` (incidents and their workflow, event and flow search,
//! the live stream, admin endpoints for tokens, webhooks and the audit log), described by
//! the OpenAPI document at `/api/v1/openapi.json`.

pub mod admin;
pub mod auth;
pub mod dashboard;
pub mod error;
pub mod hub;
pub mod incidents;
pub mod indicators;
pub mod intake_stats;
pub mod intel;
pub mod limits;
pub mod listener;
pub mod openapi;
mod params;
pub mod search;
pub mod sectors;
pub mod stream;
pub mod webhooks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use ncsoc_store::{ControlStore, Store, StoreMetrics};
use utoipa_axum::router::OpenApiRouter;

pub use auth::{Principal, SecurityConfig};
pub use error::{ApiError, ApiResult};
pub use hub::IncidentHub;
pub use listener::{serve, tls_acceptor};
pub use sectors::SectorView;
pub use webhooks::WebhooksConfig;

/// `[api]` in `ncsoc.toml`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Days the incident change log (live stream resume, webhook dispatch) keeps changes;
    /// changes a webhook destination has not dispatched yet are kept longer.
    pub change_log_days: u32,
    pub security: SecurityConfig,
    pub webhooks: WebhooksConfig,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            change_log_days: 30,
            security: SecurityConfig::default(),
            webhooks: WebhooksConfig::default(),
        }
    }
}

/// Anything that can append Prometheus text to `/metrics`.
pub trait RenderMetrics: Send + Sync {
    fn render(&self, out: &mut String);
}

/// Any renderer given as a closure (for metrics of crates this one does not know).
impl<F: Fn(&mut String) + Send + Sync> RenderMetrics for F {
    fn render(&self, out: &mut String) {
        self(out)
    }
}

impl RenderMetrics for StoreMetrics {
    fn render(&self, out: &mut String) {
        StoreMetrics::render(self, out)
    }
}

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub control: Arc<ControlStore>,
    pub hub: Arc<IncidentHub>,
    pub config: Arc<ApiConfig>,
    pub metrics: Vec<Arc<dyn RenderMetrics>>,
    pub started: Instant,
    /// Rate limits and their counters (`[api.security]`).
    pub guard: Arc<limits::Guard>,
    /// The detector's published sector state (`GET /sectors`); `None` without a detector.
    pub sectors: Option<Arc<dyn SectorView>>,
    /// Bumped whenever indicators are added or deleted, so the detector reloads them.
    pub intel_version: Arc<std::sync::atomic::AtomicU64>,
    /// The detector's loaded rules (`GET /rules`); `None` without a detector.
    pub rules: Option<Arc<dyn indicators::RuleView>>,
}

impl AppState {
    /// State with no extra metrics renderers; `metrics` can be pushed to afterwards.
    pub fn new(store: Arc<dyn Store>, control: Arc<ControlStore>, config: ApiConfig) -> Self {
        let hub = IncidentHub::new(store.clone(), control.clone());
        Self {
            store,
            control,
            hub,
            guard: Arc::new(limits::Guard::new(&config.security)),
            config: Arc::new(config),
            metrics: Vec::new(),
            started: Instant::now(),
            sectors: None,
            intel_version: Arc::default(),
            rules: None,
        }
    }
}

/// The analyst API under `/api/v1`, with its OpenAPI description collected from the
/// handlers' annotations.
pub fn api_v1() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .merge(incidents::routes())
        .merge(stream::routes())
        .merge(search::routes())
        .merge(sectors::routes())
        .merge(indicators::routes())
        .merge(intel::routes())
        .merge(admin::routes())
        .merge(webhooks::routes())
        .merge(intake_stats::routes())
}

pub fn router(state: AppState) -> Router {
    let (v1, mut doc) = api_v1().split_for_parts();
    openapi::add_listener_responses(&mut doc);
    let v1 = v1.merge(openapi::routes(doc));
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", v1)
        .merge(dashboard::routes())
        .with_state(state.clone());
    limits::protect(app, state)
}

/// Whether what a node depends on answers (for a node without a store: an intake node
/// checks its brokers). `Err` carries the reason shown on `/healthz`.
pub type HealthCheck = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

#[derive(Clone)]
struct NodeState {
    sink: &'static str,
    health: HealthCheck,
    metrics: Arc<Vec<Arc<dyn RenderMetrics>>>,
    started: Instant,
}

/// The HTTP surface of a node that stores nothing (`ncsoc serve --role intake`):
/// `/healthz` answers whether `health` passes (503 with the reason otherwise) and
/// `/metrics` renders `metrics`. No analyst API: there is no data here to read.
pub fn node_router(
    sink: &'static str,
    health: HealthCheck,
    metrics: Vec<Arc<dyn RenderMetrics>>,
) -> Router {
    async fn node_health(State(s): State<NodeState>) -> impl IntoResponse {
        match tokio::time::timeout(Duration::from_secs(3), (s.health)()).await {
            Ok(Ok(())) => (
                StatusCode::OK,
                Json(serde_json::json!({"status": "ok", "sink": s.sink})),
            ),
            Ok(Err(e)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(serde_json::json!({"status": "degraded", "sink": s.sink, "error": e})),
            ),
            Err(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(
                    serde_json::json!({"status": "degraded", "sink": s.sink, "error": "no answer within 3s"}),
                ),
            ),
        }
    }
    async fn node_metrics(State(s): State<NodeState>) -> impl IntoResponse {
        prometheus_text(s.started, &s.metrics)
    }
    Router::new()
        .route("/healthz", get(node_health))
        .route("/metrics", get(node_metrics))
        .with_state(NodeState {
            sink,
            health,
            metrics: Arc::new(metrics),
            started: Instant::now(),
        })
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    let store = s.store.name();
    match tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(serde_json::json!({"status": "ok", "store": store})),
        ),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "degraded", "store": store, "error": e.to_string()})),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({"status": "degraded", "store": store, "error": "store did not answer within 2s"}),
            ),
        ),
    }
}

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    prometheus_text(s.started, &s.metrics)
}

/// `/metrics`: the uptime, then every renderer's lines, in the Prometheus text format.
fn prometheus_text(started: Instant, metrics: &[Arc<dyn RenderMetrics>]) -> impl IntoResponse {
    let mut out = String::with_capacity(4096);
    out.push_str("# HELP ncsoc_uptime_seconds Seconds since ncsoc started.\n# TYPE ncsoc_uptime_seconds gauge\n");
    out.push_str(&format!(
        "ncsoc_uptime_seconds {}\n",
        started.elapsed().as_secs_f64()
    ));
    for m in metrics {
        m.render(&mut out);
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}
