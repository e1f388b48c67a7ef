//! Event and flow search, top talkers and time series for charts.
//!
//! Every query carries the caller's sector scope into the store, which filters by it in
//! the query itself: a `sector`, address or field filter can only narrow what the scope
//! allows, never widen it. Windows are bounded ([`MAX_SPAN_DAYS`]), as are limits, the
//! number of field filters and the number of time buckets.

use axum::extract::{RawQuery, State};
use axum::Json;
use ncsoc_model::{Event, Timestamp};
use ncsoc_store::control::Role;
use ncsoc_store::search::bucket_range;
use ncsoc_store::search::{parse_net, FieldKind, MAX_FIELD_FILTERS};
use ncsoc_store::{Cursor, EventQuery, Field, FieldFilter, Metric, Order, Table, TopBy};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::params::{enum_schema, int_schema, query_param, string_schema, time_schema, Params};
use crate::AppState;

/// Widest window a search, top-N or time series may cover.
pub const MAX_SPAN_DAYS: i64 = 31;
/// The window when none is given: the last day.
const DEFAULT_SPAN_SECS: i64 = 86_400;
const NANOS: i64 = 1_000_000_000;
/// Most results per page of a search.
pub const MAX_LIMIT: u64 = 1000;
/// Most groups of a top-N answer.
pub const MAX_TOP_LIMIT: u64 = 100;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(search_events))
        .routes(utoipa_axum::routes!(search_flows))
        .routes(utoipa_axum::routes!(top_flows))
        .routes(utoipa_axum::routes!(events_timeseries))
        .routes(utoipa_axum::routes!(flows_timeseries))
}

// ---------------------------------------------------------------------------------------
// Answers.

/// One page of events or flow records, newest first unless `order=oldest`.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct EventPage {
    /// The documents as stored: ECS field names (`@timestamp`, `event.id`, `ncsoc.sector`,
    /// `source.ip`, ...; flow records also `flow.*`).
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<Event>,
    /// Pass back as `cursor` (with the same filters) for the next page; null on the last.
    pub next_cursor: Option<String>,
    /// The window searched (RFC 3339).
    pub from: String,
    pub to: String,
}

/// The largest groups of flow records.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TopAnswer {
    /// What the records were grouped by.
    pub by: String,
    /// What was added up: `flows` (records), `bytes` or `packets`.
    pub metric: String,
    pub from: String,
    pub to: String,
    /// Largest first.
    pub items: Vec<TopItem>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct TopItem {
    /// The address, port (as text) or sector.
    pub key: String,
    pub value: u64,
}

/// Counts per time bucket and sector, for charts.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Series {
    /// Width of each bucket; buckets start at multiples of it since the epoch (UTC).
    pub bucket_seconds: u32,
    /// The window counted (RFC 3339).
    pub from: String,
    pub to: String,
    /// Ordered by bucket then sector; a sector's empty buckets are left out.
    pub buckets: Vec<SeriesBucket>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SeriesBucket {
    /// Start of the bucket (RFC 3339).
    pub start: String,
    pub sector: String,
    /// Events or flow records in the bucket.
    pub count: u64,
    /// Flows only: sum of `network.bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Flows only: sum of `network.packets`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packets: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Parameters.

/// The filters every search, top-N and time series takes.
fn filter_params() -> Vec<Parameter> {
    let mut v = vec![
        query_param(
            "from",
            "Start of the window (event time, inclusive, RFC 3339). Default: `to` minus one day.",
            time_schema(),
        ),
        query_param(
            "to",
            "End of the window (event time, exclusive, RFC 3339). Default: now. The window \
             may span at most 31 days.",
            time_schema(),
        ),
        query_param(
            "sector",
            "Only this sector (within the sectors the token may read; another gives no rows).",
            string_schema(crate::params::MAX_SECTOR_LEN),
        ),
        query_param(
            "ip",
            "Source or destination address within this address or CIDR prefix (IPv4 or IPv6), \
             e.g. `10.0.0.0/8`, `2001:db8::/32`, `192.0.2.7`.",
            string_schema(64),
        ),
        query_param("port", "Source or destination port.", int_schema(0, 65_535)),
        query_param(
            "q",
            "Free text: words separated by spaces, or a `\"quoted phrase\"`, at most 8 terms of \
             at most 256 bytes. Each term must appear, regardless of case, in some text value \
             of the record: the original line (`event.original`), `message`, any text field, or \
             the JSON of its other fields. Combines with every other filter.",
            string_schema(2100),
        ),
    ];
    for f in Field::ALL {
        let (what, schema) = match f.kind() {
            FieldKind::Text => ("Exact value.", string_schema(1024)),
            FieldKind::List => ("Any element equal to this value.", string_schema(1024)),
            FieldKind::Address => ("Address or CIDR prefix.", string_schema(64)),
            FieldKind::Port => ("Port number.", int_schema(0, 65_535)),
        };
        v.push(query_param(
            f.name(),
            &format!("Field filter on `{}`: {what}", f.name()),
            schema,
        ));
    }
    v
}

/// Query parameters of `GET /events` and `GET /flows`.
pub struct SearchParams;

impl IntoParams for SearchParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut v = filter_params();
        v.push(query_param(
            "limit",
            "Results per page (1-1000, default 100).",
            int_schema(1, MAX_LIMIT),
        ));
        v.push(query_param(
            "order",
            "`newest` first (default) or `oldest` first; ties on time are ordered by id.",
            enum_schema(&["newest", "oldest"]),
        ));
        v.push(query_param(
            "cursor",
            "The `next_cursor` of the previous page.",
            string_schema(600),
        ));
        v
    }
}

/// Query parameters of `GET /flows/top`.
pub struct TopParams;

impl IntoParams for TopParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut v = vec![
            query_param(
                "by",
                "What to group by (default `source.ip`).",
                enum_schema(&["source.ip", "destination.ip", "destination.port", "sector"]),
            ),
            query_param(
                "metric",
                "What to add up (default `flows`: flow records).",
                enum_schema(&["flows", "bytes", "packets"]),
            ),
            query_param(
                "limit",
                "Groups to return (1-100, default 10).",
                int_schema(1, MAX_TOP_LIMIT),
            ),
        ];
        v.extend(filter_params());
        v
    }
}

/// Query parameters of the time series.
pub struct SeriesParams;

impl IntoParams for SeriesParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let mut v = vec![query_param(
            "bucket",
            "Bucket width from 60 s to 1 day: seconds (`300`) or with a unit (`60s`, `5m`, `1h`, \
             `1d`). At most 1440 buckets in the window. Default: the smallest of 1m, 5m, 15m, \
             1h, 6h, 1d giving at most 300 buckets.",
            string_schema(16),
        )];
        v.extend(filter_params());
        v
    }
}

/// Reads the filters shared by every endpoint here into `q`; returns the window.
fn read_filters(p: &mut Params, q: &mut EventQuery) -> ApiResult<(Timestamp, Timestamp)> {
    let to = p.time("to")?;
    let from = p.time("from")?;
    let to = to.unwrap_or_else(|| match from {
        // A window given by its start alone runs a day (or to now, if sooner).
        Some(f) => Timestamp(
            f.nanos()
                .saturating_add(DEFAULT_SPAN_SECS * NANOS)
                .min(Timestamp::now().nanos()),
        ),
        None => Timestamp::now(),
    });
    let from = from.unwrap_or(Timestamp(
        to.nanos().saturating_sub(DEFAULT_SPAN_SECS * NANOS),
    ));
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    if to.nanos().saturating_sub(from.nanos()) > MAX_SPAN_DAYS * 86_400 * NANOS {
        return Err(ApiError::bad_request(format!(
            "the window may span at most {MAX_SPAN_DAYS} days"
        )));
    }
    q.from = Some(from);
    q.to = Some(to);
    q.sector = p.sector("sector")?;
    if let Some(ip) = p.take("ip")? {
        q.ip = Some(parse_net(&ip).map_err(|e| ApiError::bad_request(format!("`ip`: {e}")))?);
    }
    if let Some(port) = p.take("port")? {
        q.port = Some(
            port.parse()
                .map_err(|_| ApiError::bad_request("`port` must be an integer from 0 to 65535"))?,
        );
    }
    if let Some(text) = p.take("q")? {
        q.text = ncsoc_store::search::parse_text_terms(&text)?;
    }
    for (k, v) in p.take_matching(|k| Field::from_name(k).is_some()) {
        if q.fields.len() == MAX_FIELD_FILTERS {
            return Err(ApiError::bad_request(format!(
                "at most {MAX_FIELD_FILTERS} field filters"
            )));
        }
        let field = Field::from_name(&k).expect("matched above");
        q.fields.push(FieldFilter::parse(field, &v)?);
    }
    Ok((from, to))
}

/// A bucket width: `300`, `60s`, `5m`, `1h`, `1d`, from 60 s to a day.
fn parse_bucket(v: &str) -> ApiResult<u32> {
    let bad = || {
        ApiError::bad_request(
            "`bucket` is a width from 60 s to 1 day: seconds, or a number with s, m, h or d",
        )
    };
    let (num, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => v.split_at(i),
        None => (v, "s"),
    };
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(bad()),
    };
    match n.checked_mul(mult) {
        Some(secs @ 60..=86_400) => Ok(secs as u32),
        _ => Err(bad()),
    }
}

/// The default bucket for a window: the smallest usual width giving ≤ 300 buckets.
fn auto_bucket(from: Timestamp, to: Timestamp) -> u32 {
    let span = (to.nanos() - from.nanos()) / NANOS;
    [60, 300, 900, 3600, 21_600, 86_400]
        .into_iter()
        .find(|w| span / i64::from(*w) < 300)
        .unwrap_or(86_400)
}

fn scoped(principal: &Principal) -> ApiResult<EventQuery> {
    principal.require(Role::Analyst)?;
    Ok(EventQuery::new(principal.scope()))
}

// ---------------------------------------------------------------------------------------
// Handlers.

async fn search(
    state: &AppState,
    principal: &Principal,
    raw: Option<&str>,
    table: Table,
) -> ApiResult<EventPage> {
    let mut q = scoped(principal)?;
    let mut p = Params::parse(raw)?;
    let (from, to) = read_filters(&mut p, &mut q)?;
    let limit = p.int("limit", 1..=MAX_LIMIT, 100)? as usize;
    q.order = match p.take("order")?.as_deref() {
        None | Some("newest") => Order::NewestFirst,
        Some("oldest") => Order::OldestFirst,
        Some(_) => return Err(ApiError::bad_request("`order` is `newest` or `oldest`")),
    };
    if let Some(c) = p.take("cursor")? {
        q.after = Some(Cursor::decode(&c)?);
    }
    p.finish()?;
    // One more than asked tells whether there is a next page.
    q.limit = limit + 1;
    let mut items = state.store.search(table, &q).await?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|e| {
            Cursor {
                ts: e.timestamp,
                id: e.id.clone(),
            }
            .encode()
        })
    } else {
        None
    };
    Ok(EventPage {
        items,
        next_cursor,
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
    })
}

/// Search events.
#[utoipa::path(
    get,
    path = "/events",
    tag = "search",
    description = "Events in a window of event time (default: the last day; at most 31 days), newest first, filtered by sector, address or prefix (`ip`: source or destination), port (source or destination), free text (`q`) and exact field values. Pages follow `next_cursor`. Only the sectors the token may read are searched; a `sector` outside them gives no rows.\n\nField filters (`name=value`, all must match) on `event.kind`, `event.category`, `event.type`, `event.action`, `event.outcome`, `event.dataset`, `event.module`, `observer.vendor`, `observer.product`, `observer.hostname`, `host.name`, `source.ip`, `source.port`, `destination.ip`, `destination.port`, `network.transport`, `network.protocol`, `network.direction`, `network.community_id`, `user.name`, `process.name`, `rule.id`, `rule.name`, `url.original`, `dns.question.name`, `tls.server.sni`, `ncsoc.source`. Address fields take an address or CIDR prefix; list fields (`event.category`, `event.type`) match any element.",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        (status = 400, description = "A parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not search", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn search_events(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<EventPage>> {
    search(&state, &principal, raw.as_deref(), Table::Events)
        .await
        .map(Json)
}

/// Search flow records.
#[utoipa::path(
    get,
    path = "/flows",
    tag = "search",
    description = "Flow records (NetFlow/IPFIX/sFlow exports, metered captures, Suricata flows) in a window of event time, with the filters, order and pages of `GET /events`. Only the sectors the token may read are searched.\n\nField filters (`name=value`, all must match) on `event.kind`, `event.category`, `event.type`, `event.action`, `event.outcome`, `event.dataset`, `event.module`, `observer.vendor`, `observer.product`, `observer.hostname`, `host.name`, `source.ip`, `source.port`, `destination.ip`, `destination.port`, `network.transport`, `network.protocol`, `network.direction`, `network.community_id`, `user.name`, `process.name`, `rule.id`, `rule.name`, `url.original`, `dns.question.name`, `tls.server.sni`, `ncsoc.source`.",
    params(SearchParams),
    responses(
        (status = 200, description = "A page of flow records", body = EventPage),
        (status = 400, description = "A parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not search", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn search_flows(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<EventPage>> {
    search(&state, &principal, raw.as_deref(), Table::Flows)
        .await
        .map(Json)
}

/// Top talkers.
///
/// The largest groups of flow records in a window — by source or destination address,
/// destination port or sector — by number of records, bytes or packets. Takes the filters
/// of `GET /flows`; only the sectors the token may read are counted.
#[utoipa::path(
    get,
    path = "/flows/top",
    tag = "search",
    params(TopParams),
    responses(
        (status = 200, description = "The largest groups, largest first", body = TopAnswer),
        (status = 400, description = "A parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not search", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn top_flows(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<TopAnswer>> {
    let mut q = scoped(&principal)?;
    let mut p = Params::parse(raw.as_deref())?;
    let by_name = p.take("by")?.unwrap_or_else(|| "source.ip".into());
    let by = match by_name.as_str() {
        "source.ip" => TopBy::SourceIp,
        "destination.ip" => TopBy::DestinationIp,
        "destination.port" => TopBy::DestinationPort,
        "sector" => TopBy::Sector,
        _ => {
            return Err(ApiError::bad_request(
                "`by` is source.ip, destination.ip, destination.port or sector",
            ))
        }
    };
    let metric_name = p.take("metric")?.unwrap_or_else(|| "flows".into());
    let metric = match metric_name.as_str() {
        "flows" => Metric::Count,
        "bytes" => Metric::Bytes,
        "packets" => Metric::Packets,
        _ => return Err(ApiError::bad_request("`metric` is flows, bytes or packets")),
    };
    let limit = p.int("limit", 1..=MAX_TOP_LIMIT, 10)? as usize;
    let (from, to) = read_filters(&mut p, &mut q)?;
    p.finish()?;
    let items = state
        .store
        .top(Table::Flows, &q, by, metric, limit)
        .await?
        .into_iter()
        .map(|t| TopItem {
            key: t.key,
            value: t.value,
        })
        .collect();
    Ok(Json(TopAnswer {
        by: by_name,
        metric: metric_name,
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        items,
    }))
}

async fn series(
    state: &AppState,
    principal: &Principal,
    raw: Option<&str>,
    table: Table,
) -> ApiResult<Series> {
    let mut q = scoped(principal)?;
    let mut p = Params::parse(raw)?;
    let bucket = p.take("bucket")?.map(|b| parse_bucket(&b)).transpose()?;
    let (from, to) = read_filters(&mut p, &mut q)?;
    p.finish()?;
    let bucket = bucket.unwrap_or_else(|| auto_bucket(from, to));
    // Checks the number of buckets (and that the window starts after 1970).
    bucket_range(from, to, bucket)?;
    let flows = table == Table::Flows;
    let buckets = state
        .store
        .timeseries(table, &q, bucket)
        .await?
        .into_iter()
        .map(|b| SeriesBucket {
            start: b.start.to_rfc3339(),
            sector: b.sector,
            count: b.count,
            bytes: flows.then_some(b.bytes),
            packets: flows.then_some(b.packets),
        })
        .collect();
    Ok(Series {
        bucket_seconds: bucket,
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        buckets,
    })
}

/// Events per time bucket and sector.
///
/// Counts of events per bucket of event time and per sector, for charts; takes the filters
/// of `GET /events`. Only the sectors the token may read are counted.
#[utoipa::path(
    get,
    path = "/events/timeseries",
    tag = "search",
    params(SeriesParams),
    responses(
        (status = 200, description = "Counts per bucket and sector", body = Series),
        (status = 400, description = "A parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not search", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn events_timeseries(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Series>> {
    series(&state, &principal, raw.as_deref(), Table::Events)
        .await
        .map(Json)
}

/// Flow records, bytes and packets per time bucket and sector.
///
/// Counts of flow records and sums of their bytes and packets per bucket of event time and
/// per sector, for charts; takes the filters of `GET /flows`.
#[utoipa::path(
    get,
    path = "/flows/timeseries",
    tag = "search",
    params(SeriesParams),
    responses(
        (status = 200, description = "Counts and sums per bucket and sector", body = Series),
        (status = 400, description = "A parameter is malformed, unknown or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not search", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn flows_timeseries(
    State(state): State<AppState>,
    principal: Principal,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<Series>> {
    series(&state, &principal, raw.as_deref(), Table::Flows)
        .await
        .map(Json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_store::Scope;

    fn field_list() -> String {
        Field::ALL
            .iter()
            .map(|f| format!("`{}`", f.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn the_documented_field_list_is_the_allow_list() {
        // The operation descriptions spell the list out (they must be literals).
        let list = field_list();
        for f in Field::ALL {
            assert!(list.contains(&format!("`{}`", f.name())));
        }
        let doc = crate::api_v1().into_openapi();
        let json = serde_json::to_value(&doc).unwrap();
        for path in ["/events", "/flows"] {
            let d = json["paths"][path]["get"]["description"].as_str().unwrap();
            assert!(d.contains(&list), "{path}: {d}");
        }
    }

    #[test]
    fn buckets_parse() {
        assert_eq!(parse_bucket("60s").unwrap(), 60);
        assert_eq!(parse_bucket("300").unwrap(), 300);
        assert_eq!(parse_bucket("5m").unwrap(), 300);
        assert_eq!(parse_bucket("1h").unwrap(), 3600);
        assert_eq!(parse_bucket("1d").unwrap(), 86_400);
        for bad in [
            "59",
            "2d",
            "",
            "m",
            "1w",
            "-60",
            "99999999999999999999s",
            "1.5h",
        ] {
            assert!(parse_bucket(bad).is_err(), "{bad}");
        }
        let t = |s| Timestamp::from_secs(s);
        assert_eq!(auto_bucket(t(0), t(86_400)), 300);
        assert_eq!(auto_bucket(t(0), t(3_600)), 60);
        assert_eq!(auto_bucket(t(0), t(31 * 86_400)), 21_600);
    }

    #[test]
    fn scope_stays_in_the_query() {
        let q = EventQuery::new(Scope::Sectors(vec!["energy".into()]));
        let mut p = Params::parse(Some("sector=finance&source.ip=10.0.0.0/8")).unwrap();
        let mut q2 = q.clone();
        read_filters(&mut p, &mut q2).unwrap();
        assert_eq!(q2.scope, q.scope);
        assert_eq!(q2.sector.as_deref(), Some("finance"));
        assert_eq!(q2.fields.len(), 1);
    }
}
