//! Admin endpoints for webhook destinations and their outbox. Admin role only; every
//! change is audited; a secret is never returned (only whether one is set).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use ncsoc_model::Timestamp;
use ncsoc_store::control::{
    Delivery, DeliveryQuery, DeliveryStatus, Destination, DestinationSource, Role,
};
use serde::Deserialize as _;
use utoipa_axum::router::OpenApiRouter;

use super::config::{valid_name, DestinationConfig, Filter, Format};
use super::worker::is_delivery_id;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::{AppState, Principal};

/// Largest `POST /webhooks` body.
const MAX_BODY: usize = 64 * 1024;
/// Most destinations (each has a sender task polling its outbox).
const MAX_DESTINATIONS: usize = 64;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_destinations, create_destination))
        .routes(utoipa_axum::routes!(delete_destination))
        .routes(utoipa_axum::routes!(list_deliveries))
        .routes(utoipa_axum::routes!(retry_delivery))
}

/// The body of `POST /webhooks`. (A destination in ncsoc.toml may instead name an
/// environment variable for its secret, and a CA bundle.)
#[derive(Debug, Clone, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDestination {
    /// Letters, digits, `-`, `_` and `.`; 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")]
    pub name: String,
    /// The `http://` or `https://` URL the deliveries are POSTed to: a host name or IPv4
    /// address, an optional port, a path and query in plain or percent-encoded characters.
    #[schema(
        max_length = 2048,
        pattern = "^https?://[A-Za-z0-9.-]+(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$"
    )]
    pub url: String,
    /// The signing secret. Stored to sign with; never returned nor logged.
    #[schema(min_length = 16, max_length = 1024, write_only)]
    pub secret: String,
    #[serde(default)]
    pub filter: Filter,
    #[serde(default)]
    pub format: Format,
    /// Time for one attempt (connect, send, answer), milliseconds. Default 5000.
    #[schema(minimum = 100, maximum = 120000)]
    #[serde(default, deserialize_with = "whole_number")]
    pub timeout_ms: Option<u64>,
    /// Attempts before a delivery is dead (kept with its last error). Default 12.
    #[schema(minimum = 1, maximum = 100)]
    #[serde(default, deserialize_with = "whole_number")]
    pub max_attempts: Option<u32>,
    /// Retry n waits a random time up to min(backoff_max_ms, backoff_base_ms * 2^(n-1)).
    /// Default 1000.
    #[schema(minimum = 10, maximum = 3600000)]
    #[serde(default, deserialize_with = "whole_number")]
    pub backoff_base_ms: Option<u64>,
    /// Default 600000.
    #[schema(minimum = 10, maximum = 86400000)]
    #[serde(default, deserialize_with = "whole_number")]
    pub backoff_max_ms: Option<u64>,
}

/// An optional whole number, also when a client writes it as `378.0` (JSON Schema counts
/// that as an integer; serde does not).
fn whole_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= 9.0e15)
            .map(|f| f as u64)
    });
    whole
        .and_then(|w| T::try_from(w).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number in range, got {n}")))
}

impl NewDestination {
    fn into_config(self) -> DestinationConfig {
        let defaults: DestinationConfig = serde_json::from_value(serde_json::json!({
            "name": "x", "url": "http://x/"
        }))
        .expect("defaults of a destination");
        DestinationConfig {
            name: self.name,
            url: self.url,
            secret: Some(self.secret),
            secret_env: None,
            filter: self.filter,
            format: self.format,
            timeout_ms: self.timeout_ms.unwrap_or(defaults.timeout_ms),
            max_attempts: self.max_attempts.unwrap_or(defaults.max_attempts),
            backoff_base_ms: self.backoff_base_ms.unwrap_or(defaults.backoff_base_ms),
            backoff_max_ms: self.backoff_max_ms.unwrap_or(defaults.backoff_max_ms),
            ca_file: None,
        }
    }
}

/// A destination as the API shows it: everything but the secret.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DestinationView {
    pub name: String,
    pub url: String,
    /// `config` (from ncsoc.toml: change it there) or `api`.
    pub source: String,
    pub format: Format,
    pub filter: Filter,
    pub timeout_ms: u64,
    pub max_attempts: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Whether a secret is stored (it is never shown).
    pub secret_set: bool,
    /// The environment variable the secret is read from, if it is not stored.
    pub secret_env: Option<String>,
    /// The last change-log sequence number the dispatcher has looked at for it.
    pub last_seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DestinationList {
    pub destinations: Vec<DestinationView>,
}

/// One delivery of the outbox (its body is kept as sent, and not shown here).
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeliveryView {
    /// The idempotency key, sent as `X-Ncsoc-Delivery`.
    pub id: String,
    pub destination: String,
    /// The change's sequence number in the incident change log.
    pub seq: i64,
    /// `X-Ncsoc-Event`: `incident.opened`, `incident.escalated`, ...
    pub event: String,
    pub incident_id: String,
    pub status: StatusParam,
    pub attempts: u32,
    /// When it is sent next (pending only).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<Timestamp>,
    pub content_type: String,
    pub body_bytes: usize,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct DeliveryList {
    pub deliveries: Vec<DeliveryView>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    pub next_after_seq: Option<i64>,
}

/// A delivery's state.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum StatusParam {
    Pending,
    Delivered,
    Dead,
}

impl From<StatusParam> for DeliveryStatus {
    fn from(s: StatusParam) -> Self {
        match s {
            StatusParam::Pending => DeliveryStatus::Pending,
            StatusParam::Delivered => DeliveryStatus::Delivered,
            StatusParam::Dead => DeliveryStatus::Dead,
        }
    }
}

impl From<DeliveryStatus> for StatusParam {
    fn from(s: DeliveryStatus) -> Self {
        match s {
            DeliveryStatus::Pending => StatusParam::Pending,
            DeliveryStatus::Delivered => StatusParam::Delivered,
            DeliveryStatus::Dead => StatusParam::Dead,
        }
    }
}

#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesParams {
    /// Only deliveries in this state.
    pub status: Option<StatusParam>,
    /// Only deliveries of changes after this sequence number (the previous page's
    /// `next_after_seq`).
    #[param(minimum = 0)]
    pub after_seq: Option<i64>,
    /// At most this many (1 to 1000, default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

fn view(
    d: &Destination,
    counts: Option<&ncsoc_store::control::DeliveryCounts>,
) -> ApiResult<DestinationView> {
    let cfg = DestinationConfig::from_stored(d).map_err(|e| {
        tracing::error!(error = %e, "unreadable webhook destination");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    })?;
    Ok(DestinationView {
        name: d.name.clone(),
        url: cfg.url,
        source: d.source.as_str().to_string(),
        format: cfg.format,
        filter: cfg.filter,
        timeout_ms: cfg.timeout_ms,
        max_attempts: cfg.max_attempts,
        backoff_base_ms: cfg.backoff_base_ms,
        backoff_max_ms: cfg.backoff_max_ms,
        secret_set: !d.secret.is_empty(),
        secret_env: cfg.secret_env,
        last_seq: d.last_seq,
        created_at: d.created_at,
        updated_at: d.updated_at,
        pending: counts.map_or(0, |c| c.pending),
        delivered: counts.map_or(0, |c| c.delivered),
        dead: counts.map_or(0, |c| c.dead),
    })
}

fn delivery_view(d: &Delivery) -> DeliveryView {
    DeliveryView {
        id: d.id.clone(),
        destination: d.destination.clone(),
        seq: d.seq,
        event: d.event.clone(),
        incident_id: d.incident_id.clone(),
        status: d.status.into(),
        attempts: d.attempts,
        next_attempt_at: (d.status == DeliveryStatus::Pending).then_some(d.next_attempt_at),
        last_status: d.last_status,
        last_error: d.last_error.clone(),
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        content_type: d.content_type.clone(),
        body_bytes: d.body.len(),
    }
}

/// 403 for a non-admin, recorded in the audit log when the action would change something.
fn require_admin(state: &AppState, who: &Principal, action: Option<(&str, &str)>) -> ApiResult<()> {
    if let Err(e) = who.require(Role::Admin) {
        if let Some((action, target)) = action {
            state.audit(who, action, target, "denied", serde_json::json!({}))?;
        }
        return Err(e);
    }
    Ok(())
}

fn path_name(p: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let Path(name) = p.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if !valid_name(&name) {
        return Err(ApiError::bad_request(
            "not a destination name (1 to 64 letters, digits, `-`, `_`, `.`)",
        ));
    }
    Ok(name)
}

fn not_found(name: &str) -> ApiError {
    ApiError::not_found(format!("no webhook destination `{name}`"))
}

/// Where a URL points, without its path (which may carry a token, as chat webhooks do).
fn url_origin(url: &str) -> String {
    url.parse::<hyper::Uri>()
        .ok()
        .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?.host())))
        .unwrap_or_default()
}

/// The webhook destinations, with their outbox counts.
#[utoipa::path(
    get,
    path = "/webhooks",
    tag = "webhooks",
    responses(
        (status = 200, description = "Every destination (secrets are never shown)", body = DestinationList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_destinations(
    State(state): State<AppState>,
    who: Principal,
) -> ApiResult<Json<DestinationList>> {
    require_admin(&state, &who, None)?;
    let counts = state.control.webhook_delivery_counts()?;
    let destinations = state
        .control
        .webhook_destinations()?
        .iter()
        .map(|d| view(d, counts.iter().find(|c| c.destination == d.name)))
        .collect::<ApiResult<_>>()?;
    Ok(Json(DestinationList { destinations }))
}

/// Adds a destination. It receives the incident changes from now on.
#[utoipa::path(
    post,
    path = "/webhooks",
    tag = "webhooks",
    request_body(content = NewDestination, description = "The destination"),
    responses(
        (status = 201, description = "Created", body = DestinationView),
        (status = 400, description = "Invalid destination", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "A destination of that name exists, or there are 64 already", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_destination(
    State(state): State<AppState>,
    who: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<DestinationView>)> {
    require_admin(&state, &who, Some(("webhook.create", "")))?;
    let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if body.len() > MAX_BODY {
        return Err(ApiError::bad_request(format!(
            "the body is larger than {MAX_BODY} bytes"
        )));
    }
    let new: NewDestination = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("invalid destination: {e}")))?;
    let cfg = new.into_config();
    cfg.validate().map_err(ApiError::bad_request)?;
    if state.control.webhook_destinations()?.len() >= MAX_DESTINATIONS {
        return Err(ApiError::conflict(format!(
            "there are {MAX_DESTINATIONS} webhook destinations already; delete one first"
        )));
    }
    let secret = cfg.secret.clone().unwrap_or_default();
    let Some(d) = state.control.create_webhook_destination(
        &cfg.name,
        DestinationSource::Api,
        &cfg.spec(),
        &secret,
        Timestamp::now(),
    )?
    else {
        return Err(ApiError::conflict(format!(
            "a webhook destination `{}` exists; delete it first",
            cfg.name
        )));
    };
    state.audit(
        &who,
        "webhook.create",
        &cfg.name,
        "ok",
        serde_json::json!({
            "origin": url_origin(&cfg.url),
            "format": cfg.format,
            "filter": cfg.filter,
        }),
    )?;
    tracing::info!(destination = %cfg.name, by = %who.actor(), "webhook destination created");
    Ok((StatusCode::CREATED, Json(view(&d, None)?)))
}

/// Deletes a destination made through the API, with its outbox (pending deliveries are
/// dropped). Destinations from ncsoc.toml are removed there.
#[utoipa::path(
    delete,
    path = "/webhooks/{name}",
    tag = "webhooks",
    params(("name" = String, Path, description = "The destination's name", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "Not a destination name", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such destination", body = ErrorBody),
        (status = 409, description = "The destination is defined in ncsoc.toml", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn delete_destination(
    State(state): State<AppState>,
    who: Principal,
    name: Result<Path<String>, PathRejection>,
) -> ApiResult<StatusCode> {
    require_admin(&state, &who, Some(("webhook.delete", "")))?;
    let name = path_name(name)?;
    let Some(d) = state.control.webhook_destination(&name)? else {
        return Err(not_found(&name));
    };
    if d.source == DestinationSource::Config {
        return Err(ApiError::conflict(format!(
            "`{name}` is defined in ncsoc.toml; remove it there and restart"
        )));
    }
    let Some(dropped) = state.control.delete_webhook_destination(&name)? else {
        return Err(not_found(&name));
    };
    state.audit(
        &who,
        "webhook.delete",
        &name,
        "ok",
        serde_json::json!({ "dropped_pending": dropped }),
    )?;
    tracing::info!(destination = %name, by = %who.actor(), dropped_pending = dropped, "webhook destination deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// A destination's deliveries, oldest change first; `status=dead` lists the dead letters
/// with their last error.
#[utoipa::path(
    get,
    path = "/webhooks/{name}/deliveries",
    tag = "webhooks",
    params(("name" = String, Path, description = "The destination's name", min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9._-]+$"), DeliveriesParams),
    responses(
        (status = 200, description = "One page of deliveries", body = DeliveryList),
        (status = 400, description = "Invalid parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such destination", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_deliveries(
    State(state): State<AppState>,
    who: Principal,
    name: Result<Path<String>, PathRejection>,
    params: Result<Query<DeliveriesParams>, QueryRejection>,
) -> ApiResult<Json<DeliveryList>> {
    require_admin(&state, &who, None)?;
    let name = path_name(name)?;
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let after_seq = p.after_seq.unwrap_or(0);
    if after_seq < 0 {
        return Err(ApiError::bad_request("after_seq: 0 or more"));
    }
    let limit = p.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit: between 1 and 1000"));
    }
    let Some(d) = state.control.webhook_destination(&name)? else {
        return Err(not_found(&name));
    };
    let rows = state.control.webhook_deliveries(&DeliveryQuery {
        scope: who.scope(),
        destination_id: d.id,
        status: p.status.map(Into::into),
        after_seq,
        limit: limit as usize,
    })?;
    let next_after_seq = (rows.len() == limit as usize)
        .then(|| rows.last().map(|r| r.seq))
        .flatten();
    Ok(Json(DeliveryList {
        deliveries: rows.iter().map(delivery_view).collect(),
        next_after_seq,
    }))
}

/// Puts a dead delivery back in the queue with a fresh set of attempts; it is sent again
/// with the same key and body.
#[utoipa::path(
    post,
    path = "/webhooks/deliveries/{id}/retry",
    tag = "webhooks",
    params(("id" = String, Path, description = "The delivery id (`X-Ncsoc-Delivery`)", pattern = "^dlv_[0-9a-f]{32}$")),
    responses(
        (status = 200, description = "Requeued", body = DeliveryView),
        (status = 400, description = "Not a delivery id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such delivery", body = ErrorBody),
        (status = 409, description = "The delivery is not dead", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn retry_delivery(
    State(state): State<AppState>,
    who: Principal,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult<Json<DeliveryView>> {
    require_admin(&state, &who, Some(("webhook.retry", "")))?;
    let Path(id) = id.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if !is_delivery_id(&id) {
        return Err(ApiError::bad_request(
            "not a delivery id (`dlv_` and 32 hex digits)",
        ));
    }
    let scope = who.scope();
    match state
        .control
        .requeue_webhook_delivery(&id, &scope, Timestamp::now())?
    {
        None => return Err(ApiError::not_found(format!("no delivery `{id}`"))),
        Some(false) => {
            return Err(ApiError::conflict(format!(
                "delivery `{id}` is not dead; only dead ones are requeued"
            )))
        }
        Some(true) => {}
    }
    let d = state
        .control
        .webhook_delivery(&id, &scope)?
        .ok_or_else(|| ApiError::not_found(format!("no delivery `{id}`")))?;
    state.audit(
        &who,
        "webhook.retry",
        &id,
        "ok",
        serde_json::json!({ "destination": d.destination, "seq": d.seq, "event": d.event }),
    )?;
    tracing::info!(delivery = %id, destination = %d.destination, by = %who.actor(), "dead webhook delivery requeued");
    Ok(Json(delivery_view(&d)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_url_pattern_is_the_one_checked() {
        let (_, doc) = crate::api_v1().split_for_parts();
        let doc = serde_json::to_value(doc).unwrap();
        let url = &doc["components"]["schemas"]["NewDestination"]["properties"]["url"];
        assert_eq!(url["pattern"], super::super::config::URL_PATTERN);
    }
}
