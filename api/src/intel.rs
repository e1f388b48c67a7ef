//! `POST /intel`: CERTs push STIX 2.1 bundles and MISP events; their indicators are
//! stored (replacing those with the same ids) and the detector reloads them.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use ncsoc_intel::{Format, ImportError, Options, Skip};
use ncsoc_store::control::Role;
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::params::{query_param, string_schema, Params};
use crate::AppState;

/// Most indicators one push may give.
pub const MAX_PUSH_INDICATORS: usize = 100_000;
/// Skipped objects listed one by one in the answer.
const MAX_SKIPPED_LISTED: usize = 50;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(utoipa_axum::routes!(push_intel))
}

/// A reason objects were skipped, and how many.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SkipCount {
    pub reason: String,
    pub count: usize,
}

/// One skipped object.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Skipped {
    /// The STIX indicator id or MISP attribute.
    pub id: String,
    pub reason: String,
}

/// What a push stored.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct IntelImport {
    /// `stix` or `misp`, detected from the content.
    #[schema(example = "stix")]
    pub format: String,
    /// STIX indicator objects or MISP attributes read.
    pub objects: usize,
    /// Indicators stored (added or replaced by id).
    pub stored: usize,
    /// Objects or parts of patterns that gave no indicator.
    pub skipped: usize,
    /// Why, most frequent first.
    pub skip_reasons: Vec<SkipCount>,
    /// The first skipped objects.
    pub skipped_sample: Vec<Skipped>,
}

/// Query parameters of `POST /intel`.
pub struct IntelParams;

impl IntoParams for IntelParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![query_param(
            "source",
            "Source recorded on indicators whose document names no author or organisation (default: the token's name).",
            string_schema(ncsoc_intel::MAX_SOURCE),
        )]
    }
}

/// Push threat intelligence (admin).
///
/// A STIX 2.1 bundle (or one STIX object) or MISP event JSON (`{"Event":…}`,
/// `{"response":[…]}`), detected from the content. A STIX document is validated first
/// and refused whole, with every error, when invalid. Indicators with `pattern_type:
/// stix` give one indicator per address, prefix, domain, URL, hash or e-mail address their
/// pattern names; MISP attributes with `to_ids` of those types give one each. What cannot
/// be matched exactly (AND-ed patterns, other properties or types) is skipped and
/// counted with the reason. Indicators replace stored ones with the same id; the detector
/// picks them up within seconds. The body is bounded by `[api.security] max_body_bytes`.
/// Audited.
#[utoipa::path(
    post,
    path = "/intel",
    tag = "indicators",
    params(IntelParams),
    request_body(content = Object, description = "A STIX 2.1 bundle or MISP event JSON", content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = IntelImport),
        (status = 400, description = "Not JSON, neither STIX nor MISP, or invalid STIX (every error listed)", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Admins only", body = ErrorBody),
        (status = 413, description = "The body is too large, or gives too many indicators", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn push_intel(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<IntelImport>> {
    principal.require(Role::Admin)?;
    let mut p = Params::parse(raw.as_deref())?;
    let source = p.take("source")?;
    p.finish()?;
    if source.as_ref().is_some_and(|s| {
        s.is_empty() || s.len() > ncsoc_intel::MAX_SOURCE || s.chars().any(char::is_control)
    }) {
        return Err(ApiError::bad_request(format!(
            "`source` is 1 to {} printable characters",
            ncsoc_intel::MAX_SOURCE
        )));
    }
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "too_large", "the body is too large")
        } else {
            ApiError::bad_request(format!("cannot read the body: {e}"))
        }
    })?;
    let opts = Options {
        default_source: source.unwrap_or_else(|| principal.token.name.clone()),
        max_indicators: MAX_PUSH_INDICATORS,
        ..Options::default()
    };
    let parsed = tokio::task::spawn_blocking(move || ncsoc_intel::import(&body, &opts))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let (format, mut imported) = match parsed {
        Ok(x) => x,
        Err(e) => {
            let detail = serde_json::json!({"error": clip(&e.to_string())});
            state.audit(&principal, "intel.import", "indicators", "invalid", detail)?;
            return Err(match e {
                ImportError::TooLarge(m) => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m)
                }
                e => ApiError::bad_request(e.to_string()),
            });
        }
    };
    // The same checks as `POST /indicators`; what fails them is skipped, not stored.
    let mut kept = Vec::with_capacity(imported.indicators.len());
    for i in std::mem::take(&mut imported.indicators) {
        match crate::indicators::check(&i) {
            Ok(()) => kept.push(i),
            Err(reason) => imported.skipped.push(Skip { id: i.id, reason }),
        }
    }
    let format = match format {
        Format::Stix => "stix",
        Format::Misp => "misp",
    };
    let ids: Vec<&str> = kept.iter().take(20).map(|i| i.id.as_str()).collect();
    let detail = serde_json::json!({
        "format": format, "stored": kept.len(), "skipped": imported.skipped.len(), "first_ids": ids,
    });
    for chunk in kept.chunks(crate::indicators::MAX_BATCH) {
        if let Err(e) = state.store.put_indicators(chunk).await {
            state.audit(&principal, "intel.import", "indicators", "error", detail)?;
            return Err(e.into());
        }
    }
    if !kept.is_empty() {
        state
            .intel_version
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    state.audit(&principal, "intel.import", "indicators", "ok", detail)?;
    Ok(Json(IntelImport {
        format: format.into(),
        objects: imported.objects,
        stored: kept.len(),
        skipped: imported.skipped.len(),
        skip_reasons: imported
            .skip_reasons()
            .into_iter()
            .map(|(reason, count)| SkipCount { reason, count })
            .collect(),
        skipped_sample: imported
            .skipped
            .into_iter()
            .take(MAX_SKIPPED_LISTED)
            .map(|s| Skipped {
                id: s.id,
                reason: s.reason,
            })
            .collect(),
    }))
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(1000) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Whether evidence is TLP:RED or TLP:AMBER+STRICT indicator material.
pub fn is_restricted(e: &ncsoc_model::Evidence) -> bool {
    matches!(
        e.tlp,
        Some(ncsoc_model::Tlp::Red | ncsoc_model::Tlp::AmberStrict)
    )
}

/// Whether merging would put one sector's restricted evidence into an incident seen by
/// another sector.
pub fn merge_breaks_tlp(a: &ncsoc_model::Incident, b: &ncsoc_model::Incident) -> bool {
    let restricted = a.evidence.iter().chain(&b.evidence).any(is_restricted);
    let mut sectors: Vec<&String> = a.sectors.iter().chain(&b.sectors).collect();
    sectors.sort();
    sectors.dedup();
    restricted && sectors.len() > 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(sectors: &[&str], tlp: Option<ncsoc_model::Tlp>) -> ncsoc_model::Incident {
        let mut i: ncsoc_model::Incident = serde_json::from_value(serde_json::json!({
            "id": "i", "title": "t", "kind": "ioc_match", "severity": "high", "score": 70,
            "status": "new", "sectors": sectors, "entities": [],
            "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z",
            "evidence": [{"at": "2026-01-01T00:00:00Z", "sector": sectors[0], "signal": "ioc", "description": "d"}]
        }))
        .unwrap();
        i.evidence[0].tlp = tlp;
        i
    }

    #[test]
    fn restricted_material_is_not_merged_across_sectors() {
        use ncsoc_model::Tlp::*;
        let red_energy = incident(&["energy"], Some(Red));
        assert!(merge_breaks_tlp(&red_energy, &incident(&["finance"], None)));
        assert!(merge_breaks_tlp(
            &incident(&["finance"], Some(AmberStrict)),
            &red_energy
        ));
        assert!(!merge_breaks_tlp(
            &red_energy,
            &incident(&["energy"], Some(Green))
        ));
        assert!(!merge_breaks_tlp(
            &incident(&["energy"], Some(Amber)),
            &incident(&["finance"], Some(Green))
        ));
    }
}
