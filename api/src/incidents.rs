//! Incidents and their workflow: the list (filters, sorting, cursor pagination), the
//! detail (related events and flows, timeline), analyst updates (status, assignee, tags),
//! notes, and merging two incidents.
//!
//! Every read and write passes the caller's sector scope to the store: an incident in no
//! sector of the caller answers 404, as if it did not exist. Every change goes through the
//! [`IncidentHub`](crate::IncidentHub) under its write lock (so the change log, the live
//! stream and webhooks see it, and detector updates cannot interleave), and is audited
//! (`incident.update`, `incident.note`, `incident.merge`) before it is recorded.
//!
//! Versions: every answer carrying one incident has an `ETag` (its `updated_at` in
//! nanoseconds, quoted); a change sent with `If-Match` is refused with 412 when the
//! incident changed since.

use std::collections::HashSet;
use std::net::IpAddr;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{StreamExt as _, TryStreamExt as _};
use ncsoc_model::{Event, Evidence, Incident, IncidentKind, Note, Severity, Status, Timestamp};
use ncsoc_store::control::{ChangeKind, Role};
use ncsoc_store::{EventQuery, IncidentCursor, IncidentQuery, IncidentSort, Scope, Table};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::hub::{self, MAX_NOTES};
use crate::{AppState, Principal};

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;
pub const DEFAULT_RELATED_LIMIT: usize = 50;
pub const MAX_RELATED_LIMIT: usize = 500;
/// Longest accepted text filter, note, tag, assignee, id, sector and entity value.
pub const MAX_TEXT_FILTER: usize = 128;
pub const MAX_NOTE: usize = 4000;
pub const MAX_TAG: usize = 64;
pub const MAX_TAGS: usize = 32;
pub const MAX_ASSIGNEE: usize = 128;
const MAX_ID: usize = 128;
const MAX_VALUE: usize = 256;
/// Values of one list filter (`status`, `kind`, `sector`).
const MAX_FILTER_VALUES: usize = 32;
/// Related events and flows are looked for around the incident's span.
const RELATED_MARGIN_NANOS: i64 = 5 * 60 * 1_000_000_000;
/// The longest stretch searched for related events and flows: the end of a long-running
/// incident's span.
const RELATED_SPAN_NANOS: i64 = 7 * 86_400 * 1_000_000_000;
/// Sample events are looked for this far before the related window too.
const SAMPLE_MARGIN_NANOS: i64 = 3_600 * 1_000_000_000;
/// Related lookups in flight at once per table.
const RELATED_PARALLEL: usize = 4;
/// Address entities searched for related events and flows.
const MAX_RELATED_ADDRESSES: usize = 16;
/// Sample event ids taken from the evidence.
const MAX_SAMPLE_IDS: usize = 500;
/// Change log entries in a detail's timeline.
const TIMELINE_CHANGES: usize = 200;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_incidents))
        .routes(routes!(get_incident, update_incident))
        .routes(routes!(add_note))
        .routes(routes!(merge_incident))
}

/// Text with no control characters and something besides white space (assignee, tags;
/// the same pattern is written out in the schema attributes, which take literals only).
const PRINTABLE: &str =
    "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$";

// ---------------------------------------------------------------------------------------
// Schemas. The model types do not derive `ToSchema`; these describe them as they are
// serialised.

/// A national incident (DESIGN §5).
#[derive(ToSchema, Serialize)]
#[schema(as = Incident)]
#[allow(dead_code)]
pub struct IncidentSchema {
    id: String,
    title: String,
    kind: KindName,
    severity: SeverityName,
    /// 0 to 100.
    #[schema(maximum = 100)]
    score: u8,
    status: StatusName,
    sectors: Vec<String>,
    entities: Vec<EntitySchema>,
    #[schema(format = DateTime)]
    first_seen: String,
    #[schema(format = DateTime)]
    last_seen: String,
    /// The detector signals, with observed values, baselines, thresholds, matched rules
    /// or indicators, and sample event ids.
    #[schema(value_type = Vec<Object>)]
    evidence: Vec<serde_json::Value>,
    /// MITRE ATT&CK technique ids.
    attack: Vec<String>,
    assignee: Option<String>,
    notes: Vec<NoteSchema>,
    tags: Vec<String>,
    dedup_key: String,
    signal_count: u64,
    /// Wall-clock time of the last change; its nanoseconds are the `ETag`.
    #[schema(format = DateTime)]
    updated_at: String,
    /// Set when this incident was merged into another (it is then closed).
    #[serde(skip_serializing_if = "Option::is_none")]
    merged_into: Option<String>,
    /// Incidents merged into this one.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    merged_from: Vec<String>,
    /// The part of `signal_count` that came with merged incidents.
    #[serde(skip_serializing_if = "is_zero")]
    merged_signal_count: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(ToSchema, Serialize)]
#[schema(as = Entity)]
#[allow(dead_code)]
pub struct EntitySchema {
    /// `ip`, `cidr`, `domain`, `url`, `user`, `host`, `hash`, `indicator`, ...
    #[serde(rename = "type")]
    kind: String,
    value: String,
    /// `attacker`, `victim`, `c2`, `scanner`, `target`, ...
    role: String,
}

#[derive(ToSchema, Serialize)]
#[schema(as = Note)]
#[allow(dead_code)]
pub struct NoteSchema {
    #[schema(format = DateTime)]
    at: String,
    author: String,
    text: String,
}

#[derive(ToSchema, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[schema(as = Status)]
pub enum StatusName {
    New,
    Acknowledged,
    InProgress,
    Resolved,
    Closed,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
#[schema(as = Severity)]
pub enum SeverityName {
    Low,
    Medium,
    High,
    Critical,
}

#[derive(ToSchema, Serialize)]
#[serde(rename_all = "snake_case")]
#[schema(as = IncidentKind)]
pub enum KindName {
    PortScan,
    Ddos,
    BruteForce,
    Exfiltration,
    Beaconing,
    DnsTunnel,
    VolumeAnomaly,
    IocMatch,
    Sigma,
    Threshold,
    Campaign,
}

/// A tag: 1 to 64 characters, no control characters.
pub struct Tag;

impl utoipa::PartialSchema for Tag {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_TAG))
            .pattern(Some(PRINTABLE))
            .into()
    }
}

impl ToSchema for Tag {}

/// One page of the incident list.
#[derive(Serialize, ToSchema)]
pub struct IncidentPage {
    #[schema(value_type = Vec<IncidentSchema>)]
    pub incidents: Vec<Incident>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// An incident with what surrounds it.
#[derive(Serialize, ToSchema)]
pub struct IncidentDetail {
    #[schema(value_type = IncidentSchema)]
    pub incident: Incident,
    pub related: Related,
    /// The evidence and the incident's change log, oldest first.
    pub timeline: Vec<TimelineEntry>,
}

/// Events and flows around the incident: the sample events its evidence names, and those
/// to or from one of its addresses (`ip` and `cidr` entities, the first 16) within five
/// minutes of its span (of its last seven days, for a longer one); oldest first, at most
/// `related_limit` of each, in the caller's sectors only.
#[derive(Serialize, ToSchema)]
pub struct Related {
    /// Events as flat ECS JSON objects.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Event>,
    /// Flow records as flat ECS JSON objects.
    #[schema(value_type = Vec<Object>)]
    pub flows: Vec<Event>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimelineType {
    Evidence,
    Change,
}

/// A moment of an incident's history: a detector signal (`evidence`) or an entry of its
/// change log (`change`).
#[derive(Serialize, ToSchema)]
pub struct TimelineEntry {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(rename = "type")]
    pub entry_type: TimelineType,
    /// For `evidence`: the signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub evidence: Option<Evidence>,
    /// For `change`: what changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeSummary>,
}

#[derive(Serialize, ToSchema)]
pub struct ChangeSummary {
    /// The change log sequence number (also its id on the live stream).
    pub seq: i64,
    /// `opened`, `updated`, `escalated`, `worked`, `noted`, `merged`, `reopened`.
    pub kind: String,
    /// `detector`, or the token name of the analyst.
    pub actor: String,
    #[schema(value_type = StatusName)]
    pub status: Status,
    #[schema(value_type = SeverityName)]
    pub severity: Severity,
    pub assignee: Option<String>,
}

/// Changes to an incident; absent (or `null`, except `assignee`) fields are left alone,
/// and a patch that changes nothing answers the incident as it is.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentPatch {
    /// The new status: forward steps (`new` → `acknowledged` → `in_progress` →
    /// `resolved` → `closed`, skipping allowed), or back to `new` from `resolved` or
    /// `closed`. The current status is accepted and changes nothing.
    #[schema(value_type = Option<StatusName>)]
    pub status: Option<Status>,
    /// Who works it; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, min_length = 1, max_length = 128, pattern = "^[^\\x00-\\x1f\\x7f-\\x9f]*[^\\s\\x00-\\x1f\\x7f-\\x9f][^\\x00-\\x1f\\x7f-\\x9f]*$")]
    pub assignee: Option<Option<String>>,
    /// Replaces the tags.
    #[schema(value_type = Option<Vec<Tag>>, max_items = 32)]
    pub tags: Option<Vec<String>>,
    /// Tags to add (after `tags`).
    #[schema(value_type = Option<Vec<Tag>>, max_items = 32)]
    pub add_tags: Option<Vec<String>>,
    /// Tags to remove (after `add_tags`).
    #[schema(value_type = Option<Vec<Tag>>, max_items = 32)]
    pub remove_tags: Option<Vec<String>>,
}

/// `Some(None)` for an explicit `null`, `None` (by `default`) when absent.
fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note, 1 to 4000 characters.
    #[schema(
        min_length = 1,
        max_length = 4000,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    pub text: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// The incident that absorbs this one.
    #[schema(min_length = 1)]
    pub into: String,
}

/// The two incidents of a merge, as they are after it.
#[derive(Serialize, ToSchema)]
pub struct MergeResult {
    /// The incident that absorbed the other.
    #[schema(value_type = IncidentSchema)]
    pub incident: Incident,
    /// The merged incident, now closed with `merged_into` set.
    #[schema(value_type = IncidentSchema)]
    pub merged: Incident,
}

/// The query parameters of the incident list (parsed by hand: lists may be repeated or
/// comma-separated, unknown parameters are refused).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// Statuses to include (repeat the parameter or separate with commas).
    #[param(value_type = Option<Vec<StatusName>>, explode = true)]
    status: Option<Vec<String>>,
    /// Minimum severity: `high` lists high and critical incidents.
    #[param(value_type = Option<SeverityName>)]
    severity: Option<String>,
    /// Kinds to include (repeat or comma-separate).
    #[param(value_type = Option<Vec<KindName>>, explode = true)]
    kind: Option<Vec<String>>,
    /// Incidents touching one of these sectors (repeat or comma-separate); within the
    /// caller's sectors.
    #[param(explode = true)]
    sector: Option<Vec<String>>,
    /// An entity value, exactly (any entity type or role): an address, domain, user...
    #[param(min_length = 1, max_length = 256)]
    entity: Option<String>,
    /// Active at or after this time (`last_seen >= from`), RFC 3339.
    #[param(format = DateTime)]
    from: Option<String>,
    /// Active before this time (`first_seen < to`), RFC 3339.
    #[param(format = DateTime)]
    to: Option<String>,
    /// Text in the title or an entity value, case-insensitive, up to 128 characters.
    #[param(
        min_length = 1,
        max_length = 128,
        pattern = "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
    )]
    q: Option<String>,
    /// `last_seen`, `first_seen`, `severity` or `score`; ascending, or descending with a
    /// leading `-`. Default `-last_seen`. Ties are ordered by id.
    #[param(pattern = "^-?(last_seen|first_seen|severity|score)$")]
    sort: Option<String>,
    /// `next_cursor` of the previous page (same filters and sort).
    #[param(pattern = "^([0-9a-f]{2})+$")]
    cursor: Option<String>,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u64>,
}

/// `If-Match`: refuse a change with 412 unless the incident still has this `ETag`.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub struct IfMatch {
    /// The incident's `ETag` as last read (or `*`); the change is refused with 412 if the
    /// incident changed since.
    #[param(
        rename = "If-Match",
        required = false,
        pattern = "^(\\*|(W/)?\"?[0-9]{1,64}\"?)$"
    )]
    if_match: String,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct DetailParams {
    /// Related events (and flows) to return, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    related_limit: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Handlers

/// List incidents.
///
/// Filters combine with AND; a list filter matches any of its values. Results come in
/// pages: pass `next_cursor` back as `cursor` (with the same filters and sort) for the
/// next one. Pages are keyset-based, so incidents added meanwhile neither repeat nor shift
/// the pages; an incident whose sort key changes between two pages may be seen twice or
/// not at all.
#[utoipa::path(
    get,
    path = "/incidents",
    tag = "incidents",
    params(ListParams),
    responses(
        (status = 200, description = "One page of incidents", body = IncidentPage),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read incidents", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_incidents(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<IncidentPage>> {
    principal.require(Role::Analyst)?;
    let mut q = parse_list_query(raw.as_deref().unwrap_or(""), principal.scope())?;
    let limit = q.limit;
    q.limit = limit + 1;
    let mut incidents = state.store.incidents(&q).await?;
    let next_cursor = if incidents.len() > limit {
        incidents.truncate(limit);
        incidents
            .last()
            .map(|i| encode_cursor(q.sort, &q.sort.cursor_after(i)))
    } else {
        None
    };
    Ok(Json(IncidentPage {
        incidents,
        next_cursor,
    }))
}

/// One incident, its related events and flows, and its timeline.
#[utoipa::path(
    get,
    path = "/incidents/{id}",
    tag = "incidents",
    params(("id" = String, Path, description = "Incident id"), DetailParams),
    responses(
        (status = 200, description = "The incident", body = IncidentDetail,
            headers(("ETag" = String, description = "The incident's version, for `If-Match`"))),
        (status = 400, description = "A bad parameter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read incidents", body = ErrorBody),
        (status = 404, description = "No such incident in the caller's sectors", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn get_incident(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<String>, PathRejection>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Response> {
    principal.require(Role::Analyst)?;
    let id = incident_id(path)?;
    let related_limit = parse_detail_query(raw.as_deref().unwrap_or(""))?;
    let scope = principal.scope();
    let incident = state
        .store
        .incident(&id, &scope)
        .await?
        .ok_or_else(not_found)?;
    let related = related(&state, &incident, &scope, related_limit).await?;
    let changes = state.control.changes_for(&incident.id, TIMELINE_CHANGES)?;
    let mut timeline: Vec<TimelineEntry> = incident
        .evidence
        .iter()
        .map(|e| TimelineEntry {
            at: e.at,
            entry_type: TimelineType::Evidence,
            evidence: Some(e.clone()),
            change: None,
        })
        .chain(changes.into_iter().map(|c| TimelineEntry {
            at: c.at,
            entry_type: TimelineType::Change,
            evidence: None,
            change: Some(ChangeSummary {
                seq: c.seq,
                kind: c.kind.as_str().to_string(),
                actor: c.actor,
                status: c.incident.status,
                severity: c.incident.severity,
                assignee: c.incident.assignee,
            }),
        }))
        .collect();
    timeline.sort_by_key(|t| t.at);
    let etag = etag(&incident);
    Ok(with_etag(
        etag,
        Json(IncidentDetail {
            incident,
            related,
            timeline,
        }),
    ))
}

/// Work an incident: status, assignee, tags.
#[utoipa::path(
    patch,
    path = "/incidents/{id}",
    tag = "incidents",
    params(
        ("id" = String, Path, description = "Incident id"),
        IfMatch,
    ),
    request_body = IncidentPatch,
    responses(
        (status = 200, description = "The incident as it now is", body = IncidentSchema,
            headers(("ETag" = String, description = "The incident's new version"))),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not work incidents", body = ErrorBody),
        (status = 404, description = "No such incident in the caller's sectors", body = ErrorBody),
        (status = 409, description = "A status change the workflow does not allow, more than 32 tags, or a merged incident", body = ErrorBody),
        (status = 412, description = "The incident changed since the `If-Match` version", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn update_incident(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<IncidentPatch>, JsonRejection>,
) -> ApiResult<Response> {
    principal.require(Role::Analyst)?;
    let id = incident_id(path)?;
    let patch = json_body(body)?;
    let if_match = if_match(&headers)?;
    let assignee = match &patch.assignee {
        None => None,
        Some(None) => Some(None),
        Some(Some(a)) => Some(Some(clean_text("assignee", a, MAX_ASSIGNEE)?)),
    };
    let tags = patch
        .tags
        .as_deref()
        .map(|t| clean_tags("tags", t))
        .transpose()?;
    let add = patch
        .add_tags
        .as_deref()
        .map(|t| clean_tags("add_tags", t))
        .transpose()?;
    let remove = patch
        .remove_tags
        .as_deref()
        .map(|t| clean_tags("remove_tags", t))
        .transpose()?;
    let _guard = state.hub.write_lock.lock().await;
    let current = load_for_change(&state, &principal, &id, "incident.update", if_match).await?;
    let mut next = current.clone();
    if let Some(to) = patch.status {
        if to != current.status && !current.status.can_move_to(to) {
            audit_refusal(
                &state,
                &principal,
                "incident.update",
                &id,
                "invalid status transition",
            );
            return Err(ApiError::conflict(format!(
                "an incident cannot move from {} to {}; from {} it may go to: {}",
                current.status,
                to,
                current.status,
                allowed_moves(current.status)
            )));
        }
        next.status = to;
    }
    if let Some(a) = assignee {
        next.assignee = a;
    }
    if let Some(t) = tags {
        next.tags = t;
    }
    for t in add.unwrap_or_default() {
        if !next.tags.contains(&t) {
            next.tags.push(t);
        }
    }
    if let Some(r) = remove {
        next.tags.retain(|t| !r.contains(t));
    }
    if next.tags.len() > MAX_TAGS {
        return Err(ApiError::conflict(format!(
            "an incident has at most {MAX_TAGS} tags; remove some first"
        )));
    }
    let detail = serde_json::json!({
        "status": {"from": current.status, "to": next.status},
        "assignee": next.assignee,
        "tags": next.tags,
    });
    state.audit(&principal, "incident.update", &id, "ok", detail)?;
    if next == current {
        // Nothing to change (an empty patch, the current values): no change is logged.
        let etag = etag(&current);
        return Ok(with_etag(etag, Json(current)));
    }
    let change = record(
        &state,
        &principal,
        "incident.update",
        ChangeKind::Worked,
        next,
    )
    .await?;
    let etag = etag(&change.incident);
    Ok(with_etag(etag, Json(change.incident.clone())))
}

/// Add a note to an incident (the author is the token's name).
#[utoipa::path(
    post,
    path = "/incidents/{id}/notes",
    tag = "incidents",
    params(
        ("id" = String, Path, description = "Incident id"),
        IfMatch,
    ),
    request_body = NoteBody,
    responses(
        (status = 201, description = "The incident with the note", body = IncidentSchema,
            headers(("ETag" = String, description = "The incident's new version"))),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not work incidents", body = ErrorBody),
        (status = 404, description = "No such incident in the caller's sectors", body = ErrorBody),
        (status = 409, description = "A merged incident, or one with the most notes allowed", body = ErrorBody),
        (status = 412, description = "The incident changed since the `If-Match` version", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn add_note(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<NoteBody>, JsonRejection>,
) -> ApiResult<Response> {
    principal.require(Role::Analyst)?;
    let id = incident_id(path)?;
    let body = json_body(body)?;
    let if_match = if_match(&headers)?;
    let text = body.text.trim();
    if text.is_empty() {
        return Err(ApiError::bad_request("`text` is empty"));
    }
    if text.chars().count() > MAX_NOTE {
        return Err(ApiError::bad_request(format!(
            "`text` is longer than {MAX_NOTE} characters"
        )));
    }
    if text.contains('\0') {
        return Err(ApiError::bad_request("`text` contains a NUL character"));
    }

    let _guard = state.hub.write_lock.lock().await;
    let mut next = load_for_change(&state, &principal, &id, "incident.note", if_match).await?;
    if next.notes.len() >= MAX_NOTES {
        audit_refusal(&state, &principal, "incident.note", &id, "too many notes");
        return Err(ApiError::conflict(format!(
            "the incident has {MAX_NOTES} notes, the most it may have"
        )));
    }
    next.notes.push(Note {
        at: Timestamp::now(),
        author: principal.actor().to_string(),
        text: text.to_string(),
    });
    state.audit(
        &principal,
        "incident.note",
        &id,
        "ok",
        serde_json::json!({"chars": text.chars().count()}),
    )?;
    let change = record(&state, &principal, "incident.note", ChangeKind::Noted, next).await?;
    let etag = etag(&change.incident);
    let mut r = with_etag(etag, Json(change.incident.clone()));
    *r.status_mut() = StatusCode::CREATED;
    Ok(r)
}

/// Merge this incident into another.
///
/// The target absorbs this incident's sectors, entities, evidence, notes, tags, ATT&CK
/// ids and signal count; its time span widens to cover both and its severity and score
/// become the higher of the two. This incident is closed with `merged_into` set; later
/// detector signals of it go to the target. Both changes are logged: `merged` for this
/// one, and `escalated` (it gained a sector or severity) or `merged` for the target. The
/// caller must be allowed every sector of both incidents.
#[utoipa::path(
    post,
    path = "/incidents/{id}/merge",
    tag = "incidents",
    params(
        ("id" = String, Path, description = "The incident to merge (it is closed)"),
        IfMatch,
    ),
    request_body = MergeBody,
    responses(
        (status = 200, description = "Both incidents as they now are", body = MergeResult),
        (status = 400, description = "A bad body", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not work incidents, or it is not allowed every sector of both", body = ErrorBody),
        (status = 404, description = "Either incident is not in the caller's sectors", body = ErrorBody),
        (status = 409, description = "Either incident was already merged into another, or it is the same incident", body = ErrorBody),
        (status = 412, description = "The incident changed since the `If-Match` version", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn merge_incident(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Json<MergeBody>, JsonRejection>,
) -> ApiResult<Json<MergeResult>> {
    principal.require(Role::Analyst)?;
    let id = incident_id(path)?;
    let body = json_body(body)?;
    let if_match = if_match(&headers)?;
    let into = body.into;
    if into.is_empty() {
        return Err(ApiError::bad_request("`into` is empty"));
    }
    if into == id {
        return Err(ApiError::conflict(
            "an incident cannot be merged into itself",
        ));
    }

    let _guard = state.hub.write_lock.lock().await;
    let source = load_for_change(&state, &principal, &id, "incident.merge", if_match).await?;
    let scope = principal.scope();
    let target = if into.len() > MAX_ID {
        None
    } else {
        state.store.incident(&into, &scope).await?
    };
    let Some(target) = target else {
        audit_refusal(
            &state,
            &principal,
            "incident.merge",
            &id,
            "target not found",
        );
        return Err(ApiError::not_found(format!("no incident `{into}`")));
    };
    if let Some(further) = &target.merged_into {
        audit_refusal(
            &state,
            &principal,
            "incident.merge",
            &id,
            "target already merged",
        );
        return Err(ApiError::conflict(format!(
            "incident `{into}` was merged into `{further}`; merge into that one"
        )));
    }
    if let Scope::Sectors(allowed) = &scope {
        let outside: Vec<&String> = source
            .sectors
            .iter()
            .chain(&target.sectors)
            .filter(|s| !allowed.contains(s))
            .collect();
        if !outside.is_empty() {
            audit_refusal(
                &state,
                &principal,
                "incident.merge",
                &id,
                "sectors outside scope",
            );
            return Err(ApiError::forbidden(
                "merging needs access to every sector of both incidents",
            ));
        }
    }
    // TLP:RED and AMBER+STRICT material stays in the one sector it was seen in.
    if crate::intel::merge_breaks_tlp(&source, &target) {
        audit_refusal(
            &state,
            &principal,
            "incident.merge",
            &id,
            "restricted TLP across sectors",
        );
        return Err(ApiError::conflict(
            "one incident holds TLP:RED or TLP:AMBER+STRICT evidence, which may not be merged with another sector's incident",
        ));
    }
    let mut merged_target = hub::absorb(&target, &source, source.signal_count);
    merged_target.merged_from.push(source.id.clone());
    let target_kind = hub::merge_kind(&target, &merged_target);
    let mut closed = source.clone();
    closed.status = Status::Closed;
    closed.merged_into = Some(target.id.clone());

    state.audit(
        &principal,
        "incident.merge",
        &id,
        "ok",
        serde_json::json!({"into": target.id}),
    )?;
    let merged = record(
        &state,
        &principal,
        "incident.merge",
        ChangeKind::Merged,
        closed,
    )
    .await?;
    let incident = record(
        &state,
        &principal,
        "incident.merge",
        target_kind,
        merged_target,
    )
    .await?;
    Ok(Json(MergeResult {
        incident: incident.incident.clone(),
        merged: merged.incident.clone(),
    }))
}

// ---------------------------------------------------------------------------------------
// Helpers

fn not_found() -> ApiError {
    ApiError::not_found("no such incident")
}

fn incident_id(path: Result<Path<String>, PathRejection>) -> ApiResult<String> {
    let Path(id) = path.map_err(|e| ApiError::bad_request(format!("bad incident id: {e}")))?;
    if id.is_empty() || id.len() > MAX_ID {
        return Err(not_found());
    }
    Ok(id)
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> ApiResult<T> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad_request(format!("bad request body: {}", e.body_text())))
}

/// The version named by `If-Match`: `None` without the header or with `*`.
/// The version named by `If-Match` (its digits): `None` without the header or with `*`.
/// Any number is accepted; one this API never gave simply does not match.
fn if_match(headers: &HeaderMap) -> ApiResult<Option<String>> {
    let Some(v) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| ApiError::bad_request("If-Match is not text"))?
        .trim();
    if v == "*" {
        return Ok(None);
    }
    let v = v.strip_prefix("W/").unwrap_or(v).trim_matches('"');
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request(
            "If-Match must be an ETag this API gave (a quoted number)",
        ));
    }
    Ok(Some(v.to_string()))
}

fn etag(i: &Incident) -> String {
    format!("\"{}\"", i.updated_at.nanos())
}

fn with_etag(etag: String, body: impl IntoResponse) -> Response {
    let mut r = body.into_response();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The incident to change, seen through the caller's scope (404 otherwise), not merged
/// (409) and at the `If-Match` version (412). Refusals are audited.
async fn load_for_change(
    state: &AppState,
    principal: &Principal,
    id: &str,
    action: &str,
    if_match: Option<String>,
) -> ApiResult<Incident> {
    let Some(current) = state.store.incident(id, &principal.scope()).await? else {
        audit_refusal(state, principal, action, id, "not found");
        return Err(not_found());
    };
    if let Some(into) = &current.merged_into {
        audit_refusal(state, principal, action, id, "merged");
        return Err(ApiError::conflict(format!(
            "this incident was merged into `{into}`; work that one"
        )));
    }
    if let Some(v) = if_match {
        if v != current.updated_at.nanos().to_string() {
            audit_refusal(state, principal, action, id, "version mismatch");
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                "precondition_failed",
                "the incident changed since that version; read it again",
            ));
        }
    }
    Ok(current)
}

/// Records an analyst change; a failure after the audit entry is audited as an error.
async fn record(
    state: &AppState,
    principal: &Principal,
    action: &str,
    kind: ChangeKind,
    next: Incident,
) -> ApiResult<std::sync::Arc<ncsoc_store::control::Change>> {
    let id = next.id.clone();
    match state.hub.record(kind, principal.actor(), next).await {
        Ok(c) => Ok(c),
        Err(e) => {
            let _ = state.audit(
                principal,
                action,
                &id,
                "error",
                serde_json::json!({"error": e.to_string()}),
            );
            Err(e.into())
        }
    }
}

fn audit_refusal(state: &AppState, principal: &Principal, action: &str, id: &str, why: &str) {
    let _ = state.audit(
        principal,
        action,
        id,
        "refused",
        serde_json::json!({"reason": why}),
    );
}

fn allowed_moves(from: Status) -> String {
    let to: Vec<&str> = Status::ALL
        .iter()
        .filter(|s| from.can_move_to(**s))
        .map(|s| s.as_str())
        .collect();
    if to.is_empty() {
        "nowhere".into()
    } else {
        to.join(", ")
    }
}

/// Trimmed, non-empty, at most `max` characters, no control characters.
fn clean_text(what: &str, v: &str, max: usize) -> ApiResult<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(ApiError::bad_request(format!("`{what}` is empty")));
    }
    if v.chars().count() > max {
        return Err(ApiError::bad_request(format!(
            "`{what}` is longer than {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "`{what}` contains control characters"
        )));
    }
    Ok(v.to_string())
}

fn clean_tags(what: &str, tags: &[String]) -> ApiResult<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!(
            "`{what}` has more than {MAX_TAGS} tags"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        let t = clean_text(what, t, MAX_TAG)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The query string as (name, value) pairs, percent-decoded.
fn query_pairs(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn single<'a>(seen: &mut HashSet<&'a str>, name: &'a str) -> ApiResult<()> {
    if !seen.insert(name) {
        return Err(ApiError::bad_request(format!("`{name}` may be given once")));
    }
    Ok(())
}

fn parse_limit(name: &str, v: &str, max: usize) -> ApiResult<usize> {
    match v.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "`{name}` must be a whole number from 1 to {max}"
        ))),
    }
}

fn parse_time(name: &str, v: &str) -> ApiResult<Timestamp> {
    Timestamp::parse_rfc3339(v)
        .map_err(|e| ApiError::bad_request(format!("`{name}` is not an RFC 3339 time: {e}")))
}

/// Values of a list parameter: repeated and/or comma-separated, each parsed by `parse`.
fn push_values<T: PartialEq>(
    into: &mut Vec<T>,
    name: &str,
    v: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> ApiResult<()> {
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some(x) = parse(part) else {
            return Err(ApiError::bad_request(format!(
                "`{name}`: `{}` is not {expected}",
                part.chars().take(32).collect::<String>()
            )));
        };
        if !into.contains(&x) {
            into.push(x);
        }
        if into.len() > MAX_FILTER_VALUES {
            return Err(ApiError::bad_request(format!(
                "`{name}` has more than {MAX_FILTER_VALUES} values"
            )));
        }
    }
    Ok(())
}

fn names<T: std::fmt::Display>(all: &[T]) -> String {
    let v: Vec<String> = all.iter().map(|x| x.to_string()).collect();
    format!("one of {}", v.join(", "))
}

/// The incident list's query string as a store query in `scope`.
pub fn parse_list_query(raw: &str, scope: Scope) -> ApiResult<IncidentQuery> {
    let mut q = IncidentQuery::new(scope);
    q.limit = DEFAULT_LIMIT;
    let mut seen = HashSet::new();
    let mut cursor = None;
    for (k, v) in query_pairs(raw) {
        match k.as_str() {
            "status" => push_values(
                &mut q.statuses,
                "status",
                &v,
                |s| s.parse().ok(),
                &names(Status::ALL),
            )?,
            "kind" => push_values(
                &mut q.kinds,
                "kind",
                &v,
                |s| s.parse::<IncidentKind>().ok(),
                &names(IncidentKind::ALL),
            )?,
            "sector" => push_values(
                &mut q.sectors,
                "sector",
                &v,
                |s| (!s.is_empty() && s.len() <= MAX_TEXT_FILTER).then(|| s.to_string()),
                "a sector name (1 to 128 bytes)",
            )?,
            "severity" => {
                single(&mut seen, "severity")?;
                q.min_severity = Some(v.parse::<Severity>().map_err(|_| {
                    ApiError::bad_request(format!("`severity` must be {}", names(Severity::ALL)))
                })?);
            }
            "entity" => {
                single(&mut seen, "entity")?;
                if v.is_empty() || v.chars().count() > MAX_VALUE {
                    return Err(ApiError::bad_request(format!(
                        "`entity` must be 1 to {MAX_VALUE} characters"
                    )));
                }
                q.entity = Some(v);
            }
            "from" => {
                single(&mut seen, "from")?;
                q.from = Some(parse_time("from", &v)?);
            }
            "to" => {
                single(&mut seen, "to")?;
                q.to = Some(parse_time("to", &v)?);
            }
            "q" => {
                single(&mut seen, "q")?;
                let t = v.trim();
                if t.is_empty() || t.chars().count() > MAX_TEXT_FILTER {
                    return Err(ApiError::bad_request(format!(
                        "`q` must be 1 to {MAX_TEXT_FILTER} characters"
                    )));
                }
                q.text = Some(t.to_string());
            }
            "sort" => {
                single(&mut seen, "sort")?;
                q.sort = IncidentSort::parse(&v).map_err(ApiError::from)?;
            }
            "cursor" => {
                single(&mut seen, "cursor")?;
                cursor = Some(v);
            }
            "limit" => {
                single(&mut seen, "limit")?;
                q.limit = parse_limit("limit", &v, MAX_LIMIT)?;
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{}`",
                    other.chars().take(32).collect::<String>()
                )))
            }
        }
    }
    if let Some(c) = cursor {
        q.after = Some(decode_cursor(q.sort, &c)?);
    }
    Ok(q)
}

fn parse_detail_query(raw: &str) -> ApiResult<usize> {
    let mut limit = None;
    for (k, v) in query_pairs(raw) {
        match k.as_str() {
            "related_limit" if limit.is_none() => {
                limit = Some(parse_limit("related_limit", &v, MAX_RELATED_LIMIT)?)
            }
            "related_limit" => {
                return Err(ApiError::bad_request("`related_limit` may be given once"))
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{}`",
                    other.chars().take(32).collect::<String>()
                )))
            }
        }
    }
    Ok(limit.unwrap_or(DEFAULT_RELATED_LIMIT))
}

/// A cursor is opaque to clients: hex of `v1.<sort>.<key>.<id>`.
pub fn encode_cursor(sort: IncidentSort, c: &IncidentCursor) -> String {
    format!("v1.{}.{}.{}", sort.as_str(), c.key, c.id)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn decode_cursor(sort: IncidentSort, s: &str) -> ApiResult<IncidentCursor> {
    let bad = || ApiError::bad_request("`cursor` is not a cursor this list gave");
    if !s.len().is_multiple_of(2) || s.len() > 2 * (MAX_ID + 64) {
        return Err(bad());
    }
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect::<Option<_>>()
        .ok_or_else(bad)?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let mut parts = text.splitn(4, '.');
    let (Some("v1"), Some(sort_name), Some(key), Some(id)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if sort_name != sort.as_str() {
        return Err(ApiError::bad_request(format!(
            "`cursor` belongs to sort `{sort_name}`; pass the same sort as the first page"
        )));
    }
    Ok(IncidentCursor {
        key: key.parse().map_err(|_| bad())?,
        id: id.to_string(),
    })
}

/// Related events and flows (see [`Related`]).
async fn related(
    state: &AppState,
    incident: &Incident,
    scope: &Scope,
    limit: usize,
) -> ApiResult<Related> {
    let mut ids: Vec<String> = Vec::new();
    for e in &incident.evidence {
        for id in &e.sample_event_ids {
            if ids.len() < MAX_SAMPLE_IDS && !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    let mut nets: Vec<(IpAddr, u8)> = Vec::new();
    for e in &incident.entities {
        let net = match e.kind.as_str() {
            "ip" => e.value.parse::<IpAddr>().ok().map(|a| (a, full_prefix(a))),
            "cidr" => e.value.split_once('/').and_then(|(a, p)| {
                let a = a.parse::<IpAddr>().ok()?;
                let p = p.parse::<u8>().ok().filter(|p| *p <= full_prefix(a))?;
                Some((a, p))
            }),
            _ => None,
        };
        if let Some(n) = net {
            if nets.len() < MAX_RELATED_ADDRESSES && !nets.contains(&n) {
                nets.push(n);
            }
        }
    }
    let to = incident
        .last_seen
        .nanos()
        .saturating_add(RELATED_MARGIN_NANOS + 1);
    let from = incident
        .first_seen
        .nanos()
        .saturating_sub(RELATED_MARGIN_NANOS)
        .max(to.saturating_sub(RELATED_SPAN_NANOS));
    let (from, to) = (Timestamp(from), Timestamp(to));
    // Sample events lie within the incident's whole span (however long); bounding their
    // lookup by time lets the stores read only those days instead of every stored id.
    let ids_from = Timestamp(
        incident
            .first_seen
            .nanos()
            .saturating_sub(RELATED_MARGIN_NANOS + SAMPLE_MARGIN_NANOS),
    );
    // The lookups of both tables at once, a few at a time per table: the answer waits for
    // the slowest rather than the sum, and one request never floods the store.
    let lookups = [Table::Events, Table::Flows].into_iter().map(|table| {
        let (ids, nets) = (&ids, &nets);
        async move {
            let mut queries = Vec::new();
            if !ids.is_empty() {
                let mut q = EventQuery::new(scope.clone());
                q.ids = ids.clone();
                q.from = Some(ids_from);
                q.to = Some(to);
                q.limit = limit;
                queries.push(q);
            }
            for &net in nets {
                let mut q = EventQuery::new(scope.clone());
                q.ip = Some(net);
                q.from = Some(from);
                q.to = Some(to);
                q.limit = limit;
                queries.push(q);
            }
            // Collected first: a lazy `map` held across the await is not `Send` enough.
            let searches: Vec<_> = queries
                .iter()
                .map(|q| state.store.search(table, q))
                .collect();
            let pages: Vec<Vec<Event>> = futures_util::stream::iter(searches)
                .buffered(RELATED_PARALLEL)
                .try_collect()
                .await?;
            let mut found: Vec<Event> = pages.into_iter().flatten().collect();
            found.sort_by(|a, b| (a.timestamp, &a.id).cmp(&(b.timestamp, &b.id)));
            found.dedup_by(|a, b| a.id == b.id);
            found.truncate(limit);
            Ok::<_, ncsoc_store::StoreError>(found)
        }
    });
    let mut out = futures_util::future::try_join_all(lookups).await?;
    let flows = out.pop().unwrap_or_default();
    let events = out.pop().unwrap_or_default();
    Ok(Related { events, flows })
}

fn full_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_query_parses_lists_and_refuses_nonsense() {
        let q = parse_list_query(
            "status=new,acknowledged&status=in_progress&severity=high&kind=ddos&sector=energy&entity=203.0.113.9&q=Scan&sort=-score&limit=10",
            Scope::All,
        )
        .unwrap();
        assert_eq!(
            q.statuses,
            [Status::New, Status::Acknowledged, Status::InProgress]
        );
        assert_eq!(q.severities(), [Severity::High, Severity::Critical]);
        assert_eq!(q.kinds, [IncidentKind::Ddos]);
        assert_eq!(q.sectors, ["energy"]);
        assert_eq!(q.entity.as_deref(), Some("203.0.113.9"));
        assert_eq!(q.text.as_deref(), Some("Scan"));
        assert_eq!(q.sort.as_str(), "-score");
        assert_eq!(q.limit, 10);
        for bad in [
            "status=bogus",
            "severity=urgent",
            "limit=0",
            "limit=501",
            "limit=ten",
            "limit=1&limit=2",
            "from=yesterday",
            "sort=name",
            "cursor=zz",
            "what=1",
            "q=",
        ] {
            let e = parse_list_query(bad, Scope::All).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_belong_to_their_sort() {
        let sort = IncidentSort::parse("-last_seen").unwrap();
        let c = IncidentCursor {
            key: -5,
            id: "a.b.c".into(),
        };
        let s = encode_cursor(sort, &c);
        assert_eq!(decode_cursor(sort, &s).unwrap(), c);
        assert!(decode_cursor(IncidentSort::parse("score").unwrap(), &s).is_err());
        assert!(decode_cursor(sort, "abc").is_err());
        assert!(decode_cursor(sort, &"76".repeat(10)).is_err());
    }

    #[test]
    fn patch_tells_null_from_absent() {
        let p: IncidentPatch = serde_json::from_str(r#"{"assignee": null}"#).unwrap();
        assert_eq!(p.assignee, Some(None));
        let p: IncidentPatch = serde_json::from_str(r#"{"status": "acknowledged"}"#).unwrap();
        assert_eq!(p.assignee, None);
        assert_eq!(p.status, Some(Status::Acknowledged));
        assert!(serde_json::from_str::<IncidentPatch>(r#"{"owner": "x"}"#).is_err());
    }
}
