//! The HTTP intake, compatible with Splunk's HTTP Event Collector, plus NDJSON.
//!
//! - `POST /services/collector/event` (and `/services/collector`): concatenated JSON
//!   objects `{"time", "host", "source", "sourcetype", "index", "event", "fields"}`. A
//!   string `event` is parsed as a log line (syslog, CEF, LEEF, detected per event); an
//!   object `event` as a JSON document.
//! - `POST /services/collector/raw`: newline-separated log lines.
//! - `GET /services/collector/health`: 200 when intake is accepted, 503 when pushed back.
//! - `POST /services/collector/ack`: `{"acks": [ids]}` for a channel; an ack is `true`
//!   once its request's events are durable (in the store or its spool), reported once.
//! - `POST /ingest/ndjson`: one JSON document per line.
//!
//! Every request carries `Authorization: Splunk <token>`; each token belongs to one sector
//! and source, and everything it sends is stored there whatever the body says. Tokens are
//! configured as SHA-256 digests, or made with `ncsoc token create --role forwarder
//! --sectors S --name N` (looked up in the control store; sector S, source N; refused once
//! revoked or expired). Bodies may be gzip (`Content-Encoding: gzip`); sizes are
//! bounded before and after decompression. Requests with a channel
//! (`X-Splunk-Request-Channel` or `?channel=`) are answered with an `ackId` as soon as
//! their events are queued; without one, the answer waits until they are durable. When the
//! store pushes back, the answer is 503 with `Retry-After` and nothing is queued.

// Handlers return ready HTTP responses as their errors; boxing them buys nothing here.
#![allow(clippy::result_large_err)]

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ncsoc_model::{id, Event, Timestamp};
use ncsoc_parsers::{parse_line, Format};
use ncsoc_store::control::Role;
use ncsoc_store::writer::TryWriteError;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::config::HecConfig;
use crate::intake::{Intake, SourceCtx};

/// The 32 bytes of a hex SHA-256 digest.
pub fn parse_digest(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

struct Token {
    src: SourceCtx,
}

#[derive(Default)]
struct Channel {
    next_id: u64,
    pending: HashSet<u64>,
    done: HashSet<u64>,
    last_used: Option<Instant>,
}

struct Hec {
    intake: Intake,
    tokens: HashMap<[u8; 32], Token>,
    max_body: usize,
    max_event: usize,
    max_channels: usize,
    max_pending: usize,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

pub fn router(cfg: &HecConfig, intake: Intake) -> anyhow::Result<Router> {
    let mut tokens = HashMap::new();
    for t in &cfg.tokens {
        let digest = parse_digest(&t.token_sha256.to_ascii_lowercase()).ok_or_else(|| {
            anyhow::anyhow!("token {}: token_sha256 is not a SHA-256 digest", t.name)
        })?;
        let src = SourceCtx::new(&intake, "hec", &t.sector, &t.source, Format::Auto, 0);
        tokens.insert(digest, Token { src });
    }
    let hec = Arc::new(Hec {
        intake,
        tokens,
        max_body: cfg.max_body_bytes,
        max_event: cfg.max_event_bytes,
        max_channels: cfg.max_channels,
        max_pending: cfg.max_pending_acks,
        channels: Arc::new(Mutex::new(HashMap::new())),
    });
    Ok(Router::new()
        .route("/services/collector", post(event))
        .route("/services/collector/event", post(event))
        .route("/services/collector/event/1.0", post(event))
        .route("/services/collector/raw", post(raw))
        .route("/services/collector/raw/1.0", post(raw))
        .route("/services/collector/health", get(health).post(health))
        .route("/services/collector/health/1.0", get(health).post(health))
        .route("/services/collector/ack", post(ack))
        .route("/ingest/ndjson", post(ndjson))
        // The compressed body; its decompressed size is checked in `body_bytes`.
        .layer(DefaultBodyLimit::max(cfg.max_body_bytes))
        .with_state(hec))
}

/// A HEC status: Splunk's JSON `{"text", "code"}` with its HTTP status.
fn reply(status: StatusCode, code: u32, text: &str) -> Response {
    (status, Json(json!({"text": text, "code": code}))).into_response()
}

fn busy() -> Response {
    let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, 9, "Server is busy");
    r.headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    r
}

impl Hec {
    fn auth(&self, headers: &HeaderMap) -> Result<SourceCtx, Response> {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            self.intake.metrics.hec_unauthorized.fetch_add(1, Relaxed);
            return Err(reply(StatusCode::UNAUTHORIZED, 2, "Token is required"));
        };
        let token = value
            .strip_prefix("Splunk ")
            .or_else(|| value.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(t) = self.tokens.get(&digest) {
            return Ok(t.src.clone());
        }
        let invalid = || {
            self.intake.metrics.hec_unauthorized.fetch_add(1, Relaxed);
            reply(StatusCode::FORBIDDEN, 4, "Invalid token")
        };
        let Some(control) = &self.intake.control else {
            return Err(invalid());
        };
        if token.is_empty() || token.len() > 256 {
            return Err(invalid());
        }
        match control.verify_token(token, Timestamp::now()) {
            // Only forwarders ingest, each for its one sector.
            Ok(Some(rec)) if rec.role == Role::Forwarder && rec.sectors.len() == 1 => {
                Ok(SourceCtx::new(
                    &self.intake,
                    "hec",
                    &rec.sectors[0],
                    &rec.name,
                    Format::Auto,
                    0,
                ))
            }
            Ok(_) => Err(invalid()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot look up an intake token");
                Err(busy())
            }
        }
    }

    /// The request body, gunzipped when it says so, within the size limit.
    fn body_bytes(&self, headers: &HeaderMap, body: Bytes) -> Result<Bytes, Response> {
        let gzip = headers
            .get(header::CONTENT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
        if !gzip {
            return Ok(body);
        }
        let mut out = Vec::new();
        let limit = self.max_body as u64 + 1;
        match flate2::read::GzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out)
        {
            Ok(n) if n as u64 >= limit => Err(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                27,
                "Request body too large after decompression",
            )),
            Ok(_) => Ok(Bytes::from(out)),
            Err(_) => Err(reply(
                StatusCode::BAD_REQUEST,
                6,
                "Invalid data format: bad gzip body",
            )),
        }
    }

    /// What every ingest request goes through: its token (whose sector and source the
    /// events get), its ack channel if any, and its body, gunzipped and within limits.
    fn admit(
        &self,
        headers: &HeaderMap,
        q: &ChannelQuery,
        body: Bytes,
    ) -> Result<(SourceCtx, Option<String>, Bytes), Response> {
        let src = self.auth(headers)?;
        let channel = Self::channel(headers, q)?;
        let body = self.body_bytes(headers, body)?;
        Ok((src, channel, body))
    }

    /// The request's ack channel, if it names one.
    fn channel(headers: &HeaderMap, query: &ChannelQuery) -> Result<Option<String>, Response> {
        let c = headers
            .get("x-splunk-request-channel")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .or_else(|| query.channel.clone());
        match c {
            None => Ok(None),
            Some(c)
                if !c.is_empty() && c.len() <= 128 && c.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Some(c))
            }
            Some(_) => Err(reply(StatusCode::BAD_REQUEST, 11, "Invalid data channel")),
        }
    }

    /// Queues `events` and answers: with an ack id on a channel, or once durable.
    async fn submit(&self, events: Vec<Event>, channel: Option<String>) -> Response {
        let ack_id = match &channel {
            None => None,
            Some(c) => match self.reserve_ack(c) {
                Ok(id) => Some(id),
                Err(r) => return r,
            },
        };
        let done = match self.intake.writer.try_write_acked(events) {
            Ok(done) => done,
            Err(e) => {
                if let (Some(c), Some(id)) = (&channel, ack_id) {
                    self.forget_ack(c, id);
                }
                self.intake.metrics.hec_busy.fetch_add(1, Relaxed);
                return match e {
                    TryWriteError::Full => busy(),
                    TryWriteError::Closed => reply(
                        StatusCode::SERVICE_UNAVAILABLE,
                        9,
                        "Server is shutting down",
                    ),
                };
            }
        };
        match (channel, ack_id) {
            (Some(c), Some(id)) => {
                let channels = self.channels.clone();
                tokio::spawn(async move {
                    if done.await.is_ok() {
                        let mut m = channels.lock().unwrap_or_else(|p| p.into_inner());
                        if let Some(ch) = m.get_mut(&c) {
                            if ch.pending.remove(&id) {
                                ch.done.insert(id);
                            }
                        }
                    }
                });
                (
                    StatusCode::OK,
                    Json(json!({"text": "Success", "code": 0, "ackId": id})),
                )
                    .into_response()
            }
            _ => match done.await {
                Ok(()) => reply(StatusCode::OK, 0, "Success"),
                Err(_) => reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    9,
                    "Server is shutting down",
                ),
            },
        }
    }

    fn reserve_ack(&self, channel: &str) -> Result<u64, Response> {
        let mut m = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if !m.contains_key(channel) && m.len() >= self.max_channels {
            // Make room by dropping the channel idle the longest with nothing pending.
            let idle = m
                .iter()
                .filter(|(_, c)| c.pending.is_empty())
                .min_by_key(|(_, c)| c.last_used)
                .map(|(k, _)| k.clone());
            match idle {
                Some(k) => {
                    m.remove(&k);
                }
                None => return Err(busy()),
            }
        }
        let ch = m.entry(channel.to_string()).or_default();
        if ch.pending.len() + ch.done.len() >= self.max_pending {
            return Err(busy());
        }
        let id = ch.next_id;
        ch.next_id += 1;
        ch.pending.insert(id);
        ch.last_used = Some(Instant::now());
        Ok(id)
    }

    fn forget_ack(&self, channel: &str, id: u64) {
        let mut m = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = m.get_mut(channel) {
            ch.pending.remove(&id);
        }
    }
}

#[derive(Deserialize, Default)]
struct ChannelQuery {
    channel: Option<String>,
}

/// Counts and keeps what could not be accepted, with its raw bytes and why.
async fn reject(
    hec: &Hec,
    src: &SourceCtx,
    raw: &[u8],
    format: &str,
    reason: String,
) -> Result<(), Response> {
    hec.intake
        .reject(src, raw, format, reason)
        .await
        .map_err(|_| {
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                9,
                "Server is shutting down",
            )
        })
}

async fn event(
    State(hec): State<Arc<Hec>>,
    Query(q): Query<ChannelQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (src, channel, body) = match hec.admit(&headers, &q, body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    if body.iter().all(u8::is_ascii_whitespace) {
        return reply(StatusCode::BAD_REQUEST, 5, "No data");
    }
    let mut src = src;
    let mut events = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(&body).into_iter::<Value>();
    let mut n = 0usize;
    loop {
        let start = stream.byte_offset();
        let item = match stream.next() {
            None => break,
            Some(item) => item,
        };
        let end = stream.byte_offset();
        let raw = &body[start..end.max(start)];
        let raw = raw.trim_ascii();
        match item {
            Ok(v) => {
                src.counters.received.fetch_add(1, Relaxed);
                src.counters.bytes.fetch_add(raw.len() as u64, Relaxed);
                match hec_event(&v, raw, &mut src, hec.max_event) {
                    Ok(e) => {
                        src.counters.parsed.fetch_add(1, Relaxed);
                        events.push(e);
                    }
                    Err((code, reason)) => {
                        if let Err(r) = reject(&hec, &src, raw, "hec", reason.clone()).await {
                            return r;
                        }
                        // Splunk answers the first bad event with its number; the events
                        // before it are kept, as Splunk does.
                        let resp = (
                            StatusCode::BAD_REQUEST,
                            Json(json!({"text": reason, "code": code, "invalid-event-number": n})),
                        )
                            .into_response();
                        return finish_partial(&hec, events, resp).await;
                    }
                }
            }
            Err(e) => {
                // Not JSON from here on: keep the rest of the body as one dead letter.
                src.counters.received.fetch_add(1, Relaxed);
                let rest = &body[start..];
                if let Err(r) = reject(
                    &hec,
                    &src,
                    rest,
                    "hec",
                    format!("invalid JSON at event {n}: {e}"),
                )
                .await
                {
                    return r;
                }
                let resp = (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"text": "Invalid data format", "code": 6, "invalid-event-number": n})),
                )
                    .into_response();
                return finish_partial(&hec, events, resp).await;
            }
        }
        n += 1;
    }
    hec.submit(events, channel).await
}

/// Queues the good events of a request that also held a bad one, then gives the error.
///
/// The error answer carries no ack id, so the good events are not given one: the answer
/// waits until they are durable instead, whether or not the request named a channel.
async fn finish_partial(hec: &Hec, events: Vec<Event>, error: Response) -> Response {
    if events.is_empty() {
        return error;
    }
    let r = hec.submit(events, None).await;
    if r.status().is_success() {
        error
    } else {
        r
    }
}

/// One HEC event object as an ncsoc event, or (HEC error code, reason).
fn hec_event(
    v: &Value,
    raw: &[u8],
    src: &mut SourceCtx,
    max_event: usize,
) -> Result<Event, (u32, String)> {
    if raw.len() > max_event {
        return Err((
            6,
            format!(
                "event of {} bytes is over the limit of {max_event}",
                raw.len()
            ),
        ));
    }
    let Some(obj) = v.as_object() else {
        return Err((6, "an event must be a JSON object".into()));
    };
    let inner = match obj.get("event") {
        None => return Err((12, "Event field is required".into())),
        Some(Value::String(s)) if s.is_empty() => {
            return Err((13, "Event field cannot be blank".into()))
        }
        Some(Value::Null) => return Err((13, "Event field cannot be blank".into())),
        Some(e) => e,
    };
    src.ctx.now = Timestamp::now();
    let time = obj.get("time").and_then(hec_time);
    let mut e = match inner {
        Value::String(line) => parse_line(Format::Auto, line.as_bytes(), &src.ctx)
            .unwrap_or_else(|_| plain_event(line, &src.ctx)),
        doc => {
            let text = doc.to_string();
            parse_line(Format::Json, text.as_bytes(), &src.ctx)
                .unwrap_or_else(|_| plain_event(&text, &src.ctx))
        }
    };
    if let Some(t) = time {
        e.timestamp = t;
    }
    if e.fields.host_name.is_none() {
        e.fields.host_name = obj.get("host").and_then(Value::as_str).map(str::to_string);
    }
    for key in ["source", "sourcetype", "index"] {
        if let Some(v) = obj.get(key).and_then(Value::as_str) {
            e.extra
                .insert(format!("hec.{key}"), Value::String(v.to_string()));
        }
    }
    if let Some(Value::Object(fields)) = obj.get("fields") {
        for (k, v) in fields {
            e.extra.insert(format!("labels.{k}"), v.clone());
        }
    }
    // The token decides where it goes, whatever the event says.
    e.sector.clone_from(&src.ctx.sector);
    e.source.clone_from(&src.ctx.source);
    e.id = id::id_from_parts(e.timestamp, &[src.ctx.source.as_bytes(), raw]);
    Ok(e)
}

/// An event whose text no parser recognised: kept whole as its message.
fn plain_event(text: &str, ctx: &ncsoc_parsers::Context) -> Event {
    let mut e = Event::new(
        id::id_from_parts(ctx.now, &[ctx.source.as_bytes(), text.as_bytes()]),
        ctx.now,
        ctx.sector.as_str(),
        ctx.source.as_str(),
    );
    e.fields.created = Some(ctx.now);
    e.fields.message = Some(text.to_string());
    e.fields.original = Some(text.to_string());
    e
}

/// HEC `time`: epoch seconds, a number or a string, with an optional fraction.
fn hec_time(v: &Value) -> Option<Timestamp> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    (secs.is_finite() && (0.0..1e11).contains(&secs))
        .then(|| Timestamp::from_nanos((secs * 1e9).round() as i64))
}

async fn raw(
    State(hec): State<Arc<Hec>>,
    Query(q): Query<ChannelQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lines(&hec, q, headers, body, Format::Auto).await
}

async fn ndjson(
    State(hec): State<Arc<Hec>>,
    Query(q): Query<ChannelQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    lines(&hec, q, headers, body, Format::Json).await
}

/// Newline-separated messages: each parsed in `format`; what fails is dead-lettered and
/// the rest accepted.
async fn lines(
    hec: &Hec,
    q: ChannelQuery,
    headers: HeaderMap,
    body: Bytes,
    format: Format,
) -> Response {
    let (src, channel, body) = match hec.admit(&headers, &q, body) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let mut src = src;
    src.format = format;
    let mut events = Vec::new();
    let mut rejected = 0usize;
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > hec.max_event {
            src.counters.received.fetch_add(1, Relaxed);
            let reason = format!(
                "line of {} bytes is over the limit of {}",
                line.len(),
                hec.max_event
            );
            if let Err(r) = reject(hec, &src, line, format.as_str(), reason).await {
                return r;
            }
            rejected += 1;
            continue;
        }
        match hec.intake.parse(&mut src, line).await {
            Ok(Some(e)) => events.push(e),
            Ok(None) => rejected += 1,
            Err(_) => {
                return reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    9,
                    "Server is shutting down",
                )
            }
        }
    }
    if events.is_empty() && rejected > 0 {
        let text =
            format!("Invalid data format: no line could be read ({rejected} kept as dead letters)");
        return reply(StatusCode::BAD_REQUEST, 6, &text);
    }
    if events.is_empty() {
        return reply(StatusCode::BAD_REQUEST, 5, "No data");
    }
    hec.submit(events, channel).await
}

async fn health(State(hec): State<Arc<Hec>>) -> Response {
    if hec.intake.writer.is_pushed_back() {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            18,
            "HEC is unhealthy, queues are full",
        )
    } else {
        reply(StatusCode::OK, 17, "HEC is healthy")
    }
}

#[derive(Deserialize)]
struct AckRequest {
    acks: Vec<u64>,
}

async fn ack(
    State(hec): State<Arc<Hec>>,
    Query(q): Query<ChannelQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = hec.auth(&headers) {
        return r;
    }
    let channel = match Hec::channel(&headers, &q) {
        Ok(Some(c)) => c,
        Ok(None) => return reply(StatusCode::BAD_REQUEST, 10, "Data channel is missing"),
        Err(r) => return r,
    };
    let Ok(req) = serde_json::from_slice::<AckRequest>(&body) else {
        return reply(
            StatusCode::BAD_REQUEST,
            6,
            "Invalid data format: expected {\"acks\": [ids]}",
        );
    };
    if req.acks.len() > 10_000 {
        return reply(
            StatusCode::BAD_REQUEST,
            6,
            "Invalid data format: too many ack ids",
        );
    }
    let mut m = hec.channels.lock().unwrap_or_else(|p| p.into_inner());
    let Some(ch) = m.get_mut(&channel) else {
        return reply(StatusCode::BAD_REQUEST, 11, "Invalid data channel");
    };
    ch.last_used = Some(Instant::now());
    let mut out = serde_json::Map::new();
    for id in req.acks {
        // Reported once, as Splunk does: a true ack is forgotten after it is read.
        out.insert(id.to_string(), Value::Bool(ch.done.remove(&id)));
    }
    (StatusCode::OK, Json(json!({"acks": out}))).into_response()
}
