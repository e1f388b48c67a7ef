//! Administration: API tokens and the audit log. Admin role only; every call is audited,
//! and so is every refused attempt (outcome `denied`, with the client's address).
//!
//! - `GET /whoami` (any analyst or admin, not audited): the caller's own token, so that a
//!   dashboard can show who is signed in and which sectors they see.
//! - `GET /tokens`: every token (never a secret).
//! - `POST /tokens`: creates one; the answer carries its secret, shown this once.
//! - `DELETE /tokens/{id}`: revokes one.
//! - `GET /audit`: the audit log, newest first, filtered, paged by `cursor`.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use ncsoc_model::Timestamp;
use ncsoc_store::control::{AuditEntry, AuditQuery, Role, TokenRecord};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::{parse_expiry, token_of, validate_new_token, Principal};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_tokens, create_token))
        .routes(utoipa_axum::routes!(revoke_token))
        .routes(utoipa_axum::routes!(audit_log))
        .routes(utoipa_axum::routes!(whoami))
}

/// An admin caller. Anything else is refused (401 or 403) and the attempt audited.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string());
        let detail = |reason: &str| json!({"method": parts.method.as_str(), "reason": reason, "client": client});
        let token = match token_of(parts, state) {
            Ok(t) => t,
            Err(e) => {
                // Bounded: every 401 also counts against the client's address.
                let entry = AuditEntry {
                    seq: 0,
                    at: Timestamp::now(),
                    token_id: String::new(),
                    actor: "anonymous".into(),
                    role: "none".into(),
                    action: "admin.access".into(),
                    target: target(parts),
                    outcome: "denied".into(),
                    detail: detail(&e.message),
                };
                if let Err(err) = state.control.append_audit(&entry) {
                    tracing::error!(error = %err, "cannot write the audit log");
                }
                return Err(e);
            }
        };
        let who = Principal { token };
        if who.role() != Role::Admin {
            state.audit(
                &who,
                "admin.access",
                &target(parts),
                "denied",
                detail("needs the admin role"),
            )?;
            return Err(ApiError::forbidden("this needs the admin role"));
        }
        Ok(Admin(who))
    }
}

/// The path as the client sent it (the routes are nested under `/api/v1`), bounded.
fn target(parts: &Parts) -> String {
    format!("/api/v1{}", parts.uri.path())
        .chars()
        .take(256)
        .collect()
}

/// A token's role.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenRole {
    /// Ingest only, on the intake listener, for its one sector.
    Forwarder,
    /// Reads and works incidents, optionally limited to sectors.
    Analyst,
    /// Also manages tokens and webhooks and reads the audit log.
    Admin,
}

impl From<Role> for TokenRole {
    fn from(r: Role) -> Self {
        match r {
            Role::Forwarder => TokenRole::Forwarder,
            Role::Analyst => TokenRole::Analyst,
            Role::Admin => TokenRole::Admin,
        }
    }
}

impl From<TokenRole> for Role {
    fn from(r: TokenRole) -> Self {
        match r {
            TokenRole::Forwarder => Role::Forwarder,
            TokenRole::Analyst => Role::Analyst,
            TokenRole::Admin => Role::Admin,
        }
    }
}

/// A token as stored: never its secret.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub role: TokenRole,
    /// The sectors it may read or (forwarder) ingest for; empty: every sector.
    pub sectors: Vec<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<Timestamp>,
    /// When it was last used (to the minute).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<Timestamp>,
    /// Neither revoked nor expired.
    pub active: bool,
}

impl TokenInfo {
    pub fn new(t: &TokenRecord, now: Timestamp) -> Self {
        Self {
            id: t.id.clone(),
            name: t.name.clone(),
            role: t.role.into(),
            sectors: t.sectors.clone(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
            last_used_at: t.last_used_at,
            active: t.is_usable_at(now),
        }
    }
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}

/// A token to create; `role` decides what else it takes.
// Read by `NewToken::parse`, which names the field that is wrong; the derives describe the
// body for the OpenAPI document.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum NewToken {
    /// Ingest only, on the intake listener, for exactly one sector.
    #[schema(title = "forwarder")]
    Forwarder(NewForwarder),
    /// Reads and works incidents of its sectors (none: every sector).
    #[schema(title = "analyst")]
    Analyst(NewAnalyst),
    /// Every sector, tokens, webhooks, the audit log.
    #[schema(title = "admin")]
    Admin(NewAdmin),
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewForwarder {
    #[schema(schema_with = forwarder_role)]
    pub role: String,
    /// Who or what uses it: the source its events are stored under, and the actor in the
    /// audit log. 1 to 64 characters, no control characters.
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// Its one sector.
    #[schema(schema_with = one_sector)]
    pub sectors: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = expiry_schema)]
    pub expires: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAnalyst {
    #[schema(schema_with = analyst_role)]
    pub role: String,
    /// Who uses it: the actor in the audit log and the author of notes. 1 to 64
    /// characters, no control characters.
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The sectors it sees; none: every sector.
    #[serde(default)]
    #[schema(schema_with = some_sectors)]
    pub sectors: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = expiry_schema)]
    pub expires: Option<String>,
}

#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    #[schema(schema_with = admin_role)]
    pub role: String,
    /// Who uses it: the actor in the audit log. 1 to 64 characters, no control characters.
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = expiry_schema)]
    pub expires: Option<String>,
}

impl NewToken {
    /// Reads a request body: (role, name, sectors, expires).
    pub fn parse(body: &[u8]) -> Result<(Role, String, Vec<String>, Option<String>), String> {
        let v: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        let role = v
            .get("role")
            .and_then(|r| r.as_str())
            .ok_or("role: required, one of forwarder, analyst, admin")?;
        let role: Role = role
            .parse()
            .map_err(|e: ncsoc_store::StoreError| format!("role: {e}"))?;
        let bad = |e: serde_json::Error| format!("invalid {} token: {e}", role.as_str());
        Ok(match role {
            Role::Forwarder => {
                let t: NewForwarder = serde_json::from_value(v).map_err(bad)?;
                (role, t.name, t.sectors, t.expires)
            }
            Role::Analyst => {
                let t: NewAnalyst = serde_json::from_value(v).map_err(bad)?;
                (role, t.name, t.sectors, t.expires)
            }
            Role::Admin => {
                let t: NewAdmin = serde_json::from_value(v).map_err(bad)?;
                (role, t.name, Vec::new(), t.expires)
            }
        })
    }
}

fn role_schema(role: &str) -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([role]))
        .build()
}

fn forwarder_role() -> utoipa::openapi::Object {
    role_schema("forwarder")
}

fn analyst_role() -> utoipa::openapi::Object {
    role_schema("analyst")
}

fn admin_role() -> utoipa::openapi::Object {
    role_schema("admin")
}

fn name_schema() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(64))
        .pattern(Some("^[^\\u0000-\\u001f\\u007f-\\u009f]+$"))
        .build()
}

fn sectors_schema(min: usize, max: usize) -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(crate::auth::SECTOR_PATTERN)),
        )
        .min_items(Some(min))
        .max_items(Some(max))
        .build()
}

fn one_sector() -> utoipa::openapi::schema::Array {
    sectors_schema(1, 1)
}

fn some_sectors() -> utoipa::openapi::schema::Array {
    sectors_schema(0, 64)
}

/// A lifetime (`90s`, `45m`, `12h`, `30d`, `2w`) or an RFC 3339 time.
fn expiry_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
    };
    Schema::OneOf(
        OneOfBuilder::new()
        .description(Some(
            "When it stops working: a lifetime (`90s`, `45m`, `12h`, `30d`, `2w`) or an RFC 3339 time. None or null: never.",
        ))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(crate::auth::LIFETIME_PATTERN)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .build(),
    )
}

/// A created token: its secret, shown only in this answer, and its record.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct CreatedToken {
    /// The bearer token. Only its digest is stored: keep it now.
    pub secret: String,
    pub token: TokenInfo,
}

#[utoipa::path(
    get,
    path = "/whoami",
    tag = "admin",
    responses(
        (status = 200, description = "The caller's token", body = TokenInfo),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "A forwarder token", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn whoami(who: Principal) -> Json<TokenInfo> {
    Json(TokenInfo::new(&who.token, Timestamp::now()))
}

#[utoipa::path(
    get,
    path = "/tokens",
    tag = "admin",
    responses(
        (status = 200, description = "Every token, oldest first", body = TokenList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_tokens(State(s): State<AppState>, Admin(who): Admin) -> ApiResult<Json<TokenList>> {
    let now = Timestamp::now();
    let tokens: Vec<TokenInfo> = s
        .control
        .tokens()?
        .iter()
        .map(|t| TokenInfo::new(t, now))
        .collect();
    s.audit(&who, "token.list", "", "ok", json!({"count": tokens.len()}))?;
    Ok(Json(TokenList { tokens }))
}

#[utoipa::path(
    post,
    path = "/tokens",
    tag = "admin",
    request_body(content = NewToken, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the secret is in this answer only", body = CreatedToken),
        (status = 400, description = "Invalid request", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 413, description = "Body too large", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn create_token(
    State(s): State<AppState>,
    Admin(who): Admin,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let (role, name, sectors, expires) = NewToken::parse(&body).map_err(ApiError::bad_request)?;
    let now = Timestamp::now();
    let expires_at = expires
        .as_deref()
        .map(|e| parse_expiry(e, now))
        .transpose()
        .map_err(ApiError::bad_request)?;
    validate_new_token(&name, role, &sectors).map_err(ApiError::bad_request)?;
    let (rec, secret) = s.control.create_token(&name, role, &sectors, expires_at)?;
    let detail = json!({
        "name": rec.name, "role": rec.role.as_str(), "sectors": rec.sectors,
        "expires_at": rec.expires_at,
    });
    if let Err(e) = s.audit(&who, "token.create", &rec.id, "ok", detail) {
        // Not audited, not done.
        let _ = s.control.revoke_token(&rec.id, Timestamp::now());
        return Err(e);
    }
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            secret,
            token: TokenInfo::new(&rec, now),
        }),
    ))
}

#[utoipa::path(
    delete,
    path = "/tokens/{id}",
    tag = "admin",
    params(("id" = String, Path, description = "Token id (`tok_...`)", max_length = 64)),
    responses(
        (status = 204, description = "Revoked; the token is refused from now on"),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such token", body = ErrorBody),
        (status = 409, description = "Already revoked", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn revoke_token(
    State(s): State<AppState>,
    Admin(who): Admin,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let not_found = || ApiError::not_found("no such token");
    if id.len() > 64 {
        return Err(not_found());
    }
    let rec = s.control.token(&id)?.ok_or_else(not_found)?;
    if rec.revoked_at.is_some() {
        return Err(ApiError::conflict("this token is already revoked"));
    }
    // Audited first: a revocation that cannot be audited is not done.
    s.audit(
        &who,
        "token.revoke",
        &rec.id,
        "ok",
        json!({"name": rec.name, "role": rec.role.as_str()}),
    )?;
    if !s.control.revoke_token(&rec.id, Timestamp::now())? {
        return Err(ApiError::conflict("this token is already revoked"));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Filters of `GET /audit`.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this actor (token name, `anonymous`, or `cli:<user>`).
    #[param(max_length = 256)]
    pub actor: Option<String>,
    /// Only this action (`token.create`, `incident.update`, `admin.access`, ...).
    #[param(max_length = 256)]
    pub action: Option<String>,
    /// Only this target (an incident or token id, ...).
    #[param(max_length = 256)]
    pub target: Option<String>,
    /// Only entries at or after this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub from: Option<String>,
    /// Only entries before this time (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub to: Option<String>,
    /// Only entries older than this sequence number: `next_cursor` of the previous page.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to 1000 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
}

/// One audited action.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Increases with every entry.
    pub seq: i64,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// The token used (empty for unauthenticated attempts and the command line).
    pub token_id: String,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    /// `ok`, `denied`, ...
    pub outcome: String,
    /// What changed or why it was refused.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditRecord>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    pub next_cursor: Option<i64>,
}

fn text_filter(name: &str, v: Option<String>) -> ApiResult<Option<String>> {
    match v {
        Some(v) if v.chars().count() > 256 => Err(ApiError::bad_request(format!(
            "{name}: at most 256 characters"
        ))),
        v => Ok(v),
    }
}

fn time_filter(name: &str, v: Option<&str>) -> ApiResult<Option<Timestamp>> {
    v.map(|t| {
        crate::auth::parse_time(t)
            .map_err(|_| ApiError::bad_request(format!("{name}: expected an RFC 3339 time")))
    })
    .transpose()
}

#[utoipa::path(
    get,
    path = "/audit",
    tag = "admin",
    params(AuditParams),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditPage),
        (status = 400, description = "Invalid filter", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn audit_log(
    State(s): State<AppState>,
    Admin(who): Admin,
    Query(p): Query<AuditParams>,
) -> ApiResult<Json<AuditPage>> {
    let limit = match p.limit.as_deref() {
        None => 100,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| ApiError::bad_request("limit: an integer from 1 to 1000"))?,
    };
    let before_seq = p
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>()
                .ok()
                .filter(|c| *c >= 1)
                .ok_or_else(|| ApiError::bad_request("cursor: a positive integer"))
        })
        .transpose()?;
    let q = AuditQuery {
        from: time_filter("from", p.from.as_deref())?,
        to: time_filter("to", p.to.as_deref())?,
        actor: text_filter("actor", p.actor)?,
        action: text_filter("action", p.action)?,
        target: text_filter("target", p.target)?,
        before_seq,
        limit,
    };
    let filters = json!({
        "actor": q.actor, "action": q.action, "target": q.target, "from": q.from, "to": q.to,
        "cursor": q.before_seq, "limit": limit,
    });
    let entries: Vec<AuditRecord> = s
        .control
        .audit(&q)?
        .into_iter()
        .map(|e| AuditRecord {
            seq: e.seq,
            at: e.at,
            token_id: e.token_id,
            actor: e.actor,
            role: e.role,
            action: e.action,
            target: e.target,
            outcome: e.outcome,
            detail: match e.detail {
                d @ serde_json::Value::Object(_) => d,
                serde_json::Value::Null => json!({}),
                other => json!({ "value": other }),
            },
        })
        .collect();
    let next_cursor = (entries.len() == limit)
        .then(|| entries.last().map(|e| e.seq))
        .flatten();
    // Read after the query, so a page never shows its own reading.
    s.audit(&who, "audit.read", "", "ok", filters)?;
    Ok(Json(AuditPage {
        entries,
        next_cursor,
    }))
}
