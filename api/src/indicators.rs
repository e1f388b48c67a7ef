//! Threat indicators (analysts read them; admins add and delete them, audited) and the
//! detection rules loaded.
//!
//! Indicators are national intelligence shared with every sector, so they are not limited
//! by the token's sectors; but TLP:RED and TLP:AMBER+STRICT ones are listed only to tokens
//! of every sector (NCSOC staff), never to a sector's analysts.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use ncsoc_model::{Indicator, IndicatorKind, Tlp};
use ncsoc_store::control::Role;
use ncsoc_store::IndicatorQuery;
use ncsoc_store::Scope;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::params::{
    clip, enum_schema, int_schema, query_param, string_schema, time_schema, Params,
};
use crate::AppState;

/// Most indicators one `POST /indicators` may carry.
pub const MAX_BATCH: usize = 5_000;
const MAX_ID: usize = 256;
const MAX_VALUE: usize = 2048;
const MAX_SOURCE: usize = 256;
const MAX_LABELS: usize = 32;
const MAX_LABEL: usize = 128;
const MAX_DESCRIPTION: usize = 4096;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_indicators, add_indicators))
        .routes(utoipa_axum::routes!(delete_indicator))
        .routes(utoipa_axum::routes!(list_rules))
}

/// The indicator document (`ncsoc_model::Indicator`), as stored and answered.
#[allow(dead_code)] // describes the JSON; the model type is what is read and written
#[derive(utoipa::ToSchema)]
#[schema(as = Indicator)]
pub struct IndicatorDoc {
    /// Unique id (e.g. the STIX id), 1-256 characters.
    id: String,
    #[schema(inline)]
    kind: IndicatorKindDoc,
    /// The address, prefix, domain, URL, hash or e-mail address.
    value: String,
    /// The feed or CERT it came from.
    source: String,
    #[schema(minimum = 0, maximum = 100)]
    confidence: Option<u8>,
    /// From when it applies (RFC 3339).
    #[schema(format = DateTime)]
    valid_from: String,
    /// Until when it applies (exclusive); null: no end.
    #[schema(format = DateTime)]
    valid_until: Option<String>,
    #[schema(inline)]
    tlp: TlpDoc,
    labels: Vec<String>,
    description: Option<String>,
}

#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
#[schema(rename_all = "kebab-case")]
enum IndicatorKindDoc {
    Ipv4,
    Ipv6,
    Cidr,
    Domain,
    Url,
    Md5,
    Sha1,
    Sha256,
    Email,
}

/// Traffic Light Protocol 2.0 marking.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
enum TlpDoc {
    #[schema(rename = "clear")]
    Clear,
    #[schema(rename = "green")]
    Green,
    #[schema(rename = "amber")]
    Amber,
    #[schema(rename = "amber+strict")]
    AmberStrict,
    #[schema(rename = "red")]
    Red,
}

/// A page of indicators, by id.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IndicatorPage {
    #[schema(value_type = Vec<IndicatorDoc>)]
    pub items: Vec<Indicator>,
    /// Pass back as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// What `POST /indicators` stored.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Stored {
    /// Indicators added or replaced (by id).
    pub stored: usize,
}

/// The detection rules loaded (Sigma, correlation and threshold rules from the rules
/// folder), and those that did not load.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct RuleList {
    /// The rules folder; null when rules are off or no folder is there.
    pub dir: Option<String>,
    pub items: Vec<RuleInfo>,
    /// Rule files or documents that were rejected, with the reason.
    pub invalid: Vec<RuleProblem>,
}

/// One loaded rule.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RuleInfo {
    /// The rule's `id` (its title when it has none).
    pub id: String,
    pub title: String,
    /// `sigma`, `correlation` or `threshold`.
    pub kind: String,
    /// informational, low, medium, high or critical.
    pub level: String,
    pub status: Option<String>,
    /// The Sigma log source (`product: windows, category: process_creation`).
    pub logsource: String,
    pub tags: Vec<String>,
    /// MITRE ATT&CK technique ids from its tags.
    pub attack: Vec<String>,
    /// False when no log-source mapping applies: loaded but never evaluated.
    pub active: bool,
    pub file: String,
    pub line: u32,
}

/// A rule that did not load.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct RuleProblem {
    pub file: String,
    pub line: u32,
    pub reason: String,
}

/// What the detector publishes about its rules.
pub trait RuleView: Send + Sync {
    fn rules(&self) -> RuleList;
}

/// Query parameters of `GET /indicators`.
pub struct IndicatorParams;

const KINDS: &[&str] = &[
    "ipv4", "ipv6", "cidr", "domain", "url", "md5", "sha1", "sha256", "email",
];

impl IntoParams for IndicatorParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param("kind", "Only this kind.", enum_schema(KINDS)),
            query_param(
                "source",
                "Only from this feed or CERT.",
                string_schema(MAX_SOURCE),
            ),
            query_param(
                "active_at",
                "Only indicators valid at this time (RFC 3339).",
                time_schema(),
            ),
            query_param(
                "limit",
                "Results per page (1-1000, default 100).",
                int_schema(1, 1000),
            ),
            query_param(
                "cursor",
                "The `next_cursor` of the previous page.",
                string_schema(MAX_ID),
            ),
        ]
    }
}

/// List indicators.
///
/// Threat indicators, ordered by id, filtered by kind, source and validity.
#[utoipa::path(
    get,
    path = "/indicators",
    tag = "indicators",
    params(IndicatorParams),
    responses(
        (status = 200, description = "A page of indicators", body = IndicatorPage),
        (status = 400, description = "A parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not read indicators", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_indicators(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<IndicatorPage>> {
    principal.require(Role::Analyst)?;
    let mut p = Params::parse(raw.as_deref())?;
    let kind =
        p.take("kind")?
            .map(|k| {
                serde_json::from_value::<IndicatorKind>(serde_json::Value::String(k.clone()))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "`kind` is one of {}; not `{}`",
                            KINDS.join(", "),
                            clip(&k)
                        ))
                    })
            })
            .transpose()?;
    let source = p.take("source")?;
    if source.as_ref().is_some_and(|s| s.len() > MAX_SOURCE) {
        return Err(ApiError::bad_request("`source` is too long"));
    }
    let active_at = p.time("active_at")?;
    let limit = p.int("limit", 1..=1000, 100)? as usize;
    let after = p.take("cursor")?;
    if after.as_ref().is_some_and(|c| c.len() > MAX_ID) {
        return Err(ApiError::bad_request("malformed cursor"));
    }
    p.finish()?;
    let mut items = state
        .store
        .search_indicators(&IndicatorQuery {
            kind,
            source,
            active_at,
            after,
            limit: limit + 1,
        })
        .await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|i| i.id.clone())
    } else {
        None
    };
    // TLP:RED and AMBER+STRICT indicators are not shared with sector analysts (the page
    // may then hold fewer than `limit`; the cursor still moves on).
    if matches!(principal.scope(), Scope::Sectors(_)) {
        items.retain(|i| !matches!(i.tlp, Tlp::Red | Tlp::AmberStrict));
    }
    Ok(Json(IndicatorPage { items, next_cursor }))
}

/// Why an indicator is refused, if it is.
pub(crate) fn check(i: &Indicator) -> Result<(), String> {
    let len = |what: &str, s: &str, max: usize| {
        if s.is_empty() || s.len() > max || s.chars().any(char::is_control) {
            Err(format!("{what} must be 1 to {max} printable characters"))
        } else {
            Ok(())
        }
    };
    len("id", &i.id, MAX_ID)?;
    len("value", &i.value, MAX_VALUE)?;
    len("source", &i.source, MAX_SOURCE)?;
    if i.confidence.is_some_and(|c| c > 100) {
        return Err("confidence is 0 to 100".into());
    }
    if i.valid_until.is_some_and(|u| u <= i.valid_from) {
        return Err("valid_until must be after valid_from".into());
    }
    if i.labels.len() > MAX_LABELS {
        return Err(format!("at most {MAX_LABELS} labels"));
    }
    for l in &i.labels {
        len("a label", l, MAX_LABEL)?;
    }
    if let Some(d) = &i.description {
        if d.len() > MAX_DESCRIPTION {
            return Err(format!("description longer than {MAX_DESCRIPTION} bytes"));
        }
    }
    let ok = match i.kind {
        IndicatorKind::Ipv4 => i.value.parse::<std::net::Ipv4Addr>().is_ok(),
        IndicatorKind::Ipv6 => i.value.parse::<std::net::Ipv6Addr>().is_ok(),
        IndicatorKind::Cidr => {
            i.value.contains('/') && ncsoc_store::search::parse_net(&i.value).is_ok()
        }
        IndicatorKind::Md5 => is_hex(&i.value, 32),
        IndicatorKind::Sha1 => is_hex(&i.value, 40),
        IndicatorKind::Sha256 => is_hex(&i.value, 64),
        IndicatorKind::Domain | IndicatorKind::Url | IndicatorKind::Email => true,
    };
    if !ok {
        return Err(format!("value `{}` is not of its kind", clip(&i.value)));
    }
    Ok(())
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Add or replace indicators (admin).
///
/// A JSON array of 1 to 5000 indicators; each replaces any stored one with the same id.
/// All are checked before any is stored (addresses and prefixes must parse, hashes have
/// their length). Audited.
#[utoipa::path(
    post,
    path = "/indicators",
    tag = "indicators",
    request_body(content = Vec<IndicatorDoc>, description = "The indicators", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = Stored),
        (status = 400, description = "The body is not a valid list of indicators", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn add_indicators(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<Stored>> {
    principal.require(Role::Admin)?;
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "too_large", "the body is too large")
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    let items: Vec<Indicator> = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("expected a JSON array of indicators: {e}")))?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::bad_request(format!(
            "send 1 to {MAX_BATCH} indicators"
        )));
    }
    for (n, i) in items.iter().enumerate() {
        check(i).map_err(|e| ApiError::bad_request(format!("indicator {n}: {e}")))?;
    }
    let ids: Vec<&str> = items.iter().take(20).map(|i| i.id.as_str()).collect();
    let detail = serde_json::json!({"count": items.len(), "first_ids": ids});
    if let Err(e) = state.store.put_indicators(&items).await {
        state.audit(&principal, "indicators.put", "indicators", "error", detail)?;
        return Err(e.into());
    }
    state
        .intel_version
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    state.audit(&principal, "indicators.put", "indicators", "ok", detail)?;
    Ok(Json(Stored {
        stored: items.len(),
    }))
}

/// Delete an indicator (admin).
///
/// Audited.
#[utoipa::path(
    delete,
    path = "/indicators/{id}",
    tag = "indicators",
    params(("id" = String, Path, description = "The indicator id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is malformed", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 404, description = "No such indicator", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn delete_indicator(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    principal.require(Role::Admin)?;
    if id.is_empty() || id.len() > MAX_ID {
        return Err(ApiError::bad_request(format!(
            "an indicator id is 1 to {MAX_ID} characters"
        )));
    }
    let target = format!("indicator:{id}");
    match state.store.delete_indicator(&id).await {
        Ok(true) => {
            state
                .intel_version
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            state.audit(
                &principal,
                "indicators.delete",
                &target,
                "ok",
                serde_json::Value::Null,
            )?;
            Ok(StatusCode::NO_CONTENT)
        }
        Ok(false) => {
            state.audit(
                &principal,
                "indicators.delete",
                &target,
                "not_found",
                serde_json::Value::Null,
            )?;
            Err(ApiError::not_found(format!("no indicator `{}`", clip(&id))))
        }
        Err(e) => {
            state.audit(
                &principal,
                "indicators.delete",
                &target,
                "error",
                serde_json::Value::Null,
            )?;
            Err(e.into())
        }
    }
}

/// Detection rules loaded.
///
/// The rules the detector evaluates besides its built-in network-behaviour analysis, as
/// now loaded (the folder is reloaded when it changes), and the rules that were rejected.
#[utoipa::path(
    get,
    path = "/rules",
    tag = "indicators",
    responses(
        (status = 200, description = "The loaded rules", body = RuleList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not read rules", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_rules(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<RuleList>> {
    principal.require(Role::Analyst)?;
    Ok(Json(
        state.rules.as_ref().map(|r| r.rules()).unwrap_or_default(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_model::Timestamp;

    fn ind(kind: &str, value: &str) -> Indicator {
        serde_json::from_value(serde_json::json!({
            "id": "i1", "kind": kind, "value": value, "source": "cert",
            "valid_from": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn indicators_are_checked_against_their_kind() {
        assert!(check(&ind("ipv4", "192.0.2.1")).is_ok());
        assert!(check(&ind("ipv4", "2001:db8::1")).is_err());
        assert!(check(&ind("cidr", "10.0.0.0/8")).is_ok());
        assert!(check(&ind("cidr", "10.0.0.1")).is_err());
        assert!(check(&ind("sha256", &"a".repeat(64))).is_ok());
        assert!(check(&ind("md5", "xyz")).is_err());
        assert!(check(&ind("domain", "")).is_err());
        let mut i = ind("domain", "evil.example");
        i.valid_until = Some(Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").unwrap());
        assert!(check(&i).is_err());
    }

    #[test]
    fn the_documented_kinds_are_the_model_kinds() {
        for k in KINDS {
            assert!(
                serde_json::from_value::<IndicatorKind>(serde_json::json!(k)).is_ok(),
                "{k}"
            );
        }
    }
}
