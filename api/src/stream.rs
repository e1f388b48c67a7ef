//! The live stream of incident changes (Server-Sent Events).
//!
//! Each change of an incident in one of the caller's sectors is one event: `id:` its
//! change log sequence number, `event: incident.<kind>`, `data:` the change as JSON
//! (`{seq, at, kind, actor, incident}`). A client that reconnects with `Last-Event-ID`
//! (or `?last_event_id=`) first gets every change after that id from the change log, then
//! live ones, with no gap and no repeat: the stream subscribes to the hub before it reads
//! the log, and skips what it already sent. A stream that falls behind the live feed
//! reads the log again from where it was. Comments keep idle connections open every 15 s.
//!
//! The backlog is scoped in the change log query; live changes are checked against the
//! caller's sectors as they arrive (there is no query to put the scope in). Each token may
//! hold [`MAX_STREAMS_PER_TOKEN`](crate::hub::MAX_STREAMS_PER_TOKEN) streams, the server
//! [`MAX_STREAMS`](crate::hub::MAX_STREAMS); more are refused with 429.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use futures_util::Stream;
use ncsoc_store::control::{Change, Role};
use ncsoc_store::{ControlStore, Scope};
use tokio::sync::{broadcast, watch};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::hub::StreamPermit;
use crate::{AppState, Principal};

/// Changes read from the log at once.
const PAGE: usize = 500;
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct StreamParams {
    /// Resume after this change (the `id` of the last event received); the
    /// `Last-Event-ID` header takes precedence.
    #[param(minimum = 0)]
    last_event_id: Option<i64>,
}

/// Live incident changes (Server-Sent Events).
///
/// Events: `id: <seq>`, `event: incident.<kind>` (`opened`, `updated`, `escalated`,
/// `worked`, `noted`, `merged`, `reopened`), `data: {"seq", "at", "kind", "actor",
/// "incident"}`. Resume with `Last-Event-ID`; only incidents in the caller's sectors.
/// One event of the stream as a client's SSE parser sees it (the document describes each
/// event, not the endless body).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // describes the wire format only
struct SseEvent {
    /// The change's sequence number; send it back as `Last-Event-ID` to resume.
    id: String,
    /// `incident.<kind>`: opened, updated, escalated, worked, noted, merged, reopened.
    event: String,
    /// JSON: `{seq, at, kind, actor, incident}`.
    data: String,
}

#[utoipa::path(
    get,
    path = "/stream",
    tag = "incidents",
    params(
        StreamParams,
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this change"),
    ),
    responses(
        (status = 200, description = "An endless event stream", content_type = "text/event-stream", body = SseEvent),
        (status = 400, description = "A bad last event id", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token's role may not read incidents", body = ErrorBody),
        (status = 429, description = "Too many live streams for this token or server", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> ApiResult<impl IntoResponse> {
    principal.require(Role::Analyst)?;
    let mut from_query = None;
    for (k, v) in form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "last_event_id" if from_query.is_none() => from_query = Some(parse_id(&v)?),
            "last_event_id" => {
                return Err(ApiError::bad_request("`last_event_id` may be given once"))
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter `{}`",
                    other.chars().take(32).collect::<String>()
                )))
            }
        }
    }
    let from_header = match headers.get("last-event-id") {
        Some(v) => {
            Some(parse_id(v.to_str().map_err(|_| {
                ApiError::bad_request("Last-Event-ID is not text")
            })?)?)
        }
        None => None,
    };
    let resume = from_header.or(from_query);
    let permit = state
        .hub
        .stream_permit(&principal.token.id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many live streams open; close one first",
            )
        })?;

    // Subscribe before reading the log: nothing appended after the read is missed.
    let live = state.hub.subscribe();
    let head = state.control.last_change_seq()?;
    let cursor = resume.map_or(head, |r| r.min(head));
    let feed = Feed {
        control: state.control.clone(),
        scope: principal.scope(),
        live,
        closing: state.hub.closing(),
        cursor,
        read_log: resume.is_some(),
        pending: VecDeque::new(),
        _permit: permit,
    };
    Ok(Sse::new(feed.into_stream())
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive")))
}

fn parse_id(v: &str) -> ApiResult<i64> {
    v.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ApiError::bad_request("the last event id must be a change sequence number (0 or more)")
        })
}

/// One stream's position. `cursor` is the highest sequence number accounted for (sent,
/// or seen and outside the scope); everything at or below it is skipped.
struct Feed {
    control: Arc<ControlStore>,
    scope: Scope,
    live: broadcast::Receiver<Arc<Change>>,
    closing: watch::Receiver<bool>,
    cursor: i64,
    /// Read the change log from `cursor` before taking live changes (at resume, after
    /// lagging, after a change arrived ahead of one not yet seen).
    read_log: bool,
    pending: VecDeque<Change>,
    _permit: StreamPermit,
}

impl Feed {
    fn into_stream(self) -> impl Stream<Item = Result<Event, Infallible>> {
        futures_util::stream::unfold(self, |mut feed| async move {
            let change = feed.next().await?;
            Some((Ok(event(&change)), feed))
        })
    }

    /// The next change to send; `None` ends the stream (server shutting down, or the
    /// change log unreadable).
    async fn next(&mut self) -> Option<Change> {
        loop {
            if let Some(c) = self.pending.pop_front() {
                return Some(c);
            }
            if self.read_log {
                if let Err(e) = self.read_page() {
                    tracing::warn!(error = %e, "live stream cannot read the change log; closing it");
                    return None;
                }
                continue;
            }
            if *self.closing.borrow() {
                return None;
            }
            let received = tokio::select! {
                r = self.live.recv() => r,
                _ = self.closing.changed() => return None,
            };
            match received {
                Ok(c) if c.seq <= self.cursor => {}
                Ok(c) if c.seq > self.cursor + 1 => {
                    // One before it has not come yet: the log has both, in order.
                    self.read_log = true;
                }
                Ok(c) => {
                    self.cursor = c.seq;
                    if c.incident.sectors.iter().any(|s| self.scope.allows(s)) {
                        return Some(c.as_ref().clone());
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.read_log = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Queues the next page of the log after `cursor`; at its end, moves `cursor` to the
    /// log's head (read before the page, so nothing up to it was missed) and goes live.
    fn read_page(&mut self) -> Result<(), ncsoc_store::StoreError> {
        let head = self.control.last_change_seq()?;
        let page = self.control.changes_since(self.cursor, &self.scope, PAGE)?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            self.cursor = last.seq;
        }
        self.pending.extend(page);
        if !full {
            self.cursor = self.cursor.max(head);
            self.read_log = false;
        }
        Ok(())
    }
}

fn event(c: &Change) -> Event {
    let data = serde_json::to_string(c).unwrap_or_else(|_| "{}".into());
    Event::default()
        .id(c.seq.to_string())
        .event(c.kind.event_name())
        .data(data)
}
