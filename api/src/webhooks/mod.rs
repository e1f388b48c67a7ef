//! Signed webhooks to the command centre (being built).

use utoipa_axum::router::OpenApiRouter;

use crate::AppState;

/// `[api.webhooks]`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
}
