//! The guard in front of every answer of the analyst listener:
//!
//! - security headers on every answer (`X-Content-Type-Options: nosniff`,
//!   `Referrer-Policy: no-referrer`, `X-Frame-Options: DENY`, and `Cache-Control: no-store`
//!   on API answers unless the handler set its own);
//! - CORS only for the exact origins in `[api.security] cors_origins` (none by default:
//!   no CORS header at all, preflights are not answered);
//! - under `/api/`: the bearer token checked once, a token bucket per token (429 with
//!   `Retry-After`), a token bucket of failed authentications per client address (an
//!   address that keeps failing gets 429 before its token is even looked at), the body
//!   size (413) and the request time (503; the live stream `/api/v1/stream` is exempt);
//!   error answers that axum itself produced as plain text (a bad path or query, an
//!   unknown route) are rewritten as the API's JSON error body.
//!
//! Limiter state is in memory, bounded by `max_tracked_clients` per limiter: a bucket that
//! has refilled carries no information and is the first to go.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::auth::{authenticate, Authenticated, SecurityConfig};
use crate::error::{ApiError, ErrorBody};
use crate::{AppState, RenderMetrics};

/// Token buckets by key, at most `cap` of them.
#[derive(Debug)]
pub struct Buckets<K> {
    rate: f64,
    burst: f64,
    cap: usize,
    map: Mutex<HashMap<K, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl<K: Hash + Eq + Clone> Buckets<K> {
    /// `None` when `rate` is 0 (the limit is off).
    pub fn new(rate: f64, burst: u32, cap: usize) -> Option<Self> {
        (rate > 0.0 && burst > 0).then(|| Self {
            rate,
            burst: f64::from(burst),
            cap: cap.max(1),
            map: Mutex::new(HashMap::new()),
        })
    }

    fn level(&self, b: &Bucket, now: Instant) -> f64 {
        let dt = now.saturating_duration_since(b.last).as_secs_f64();
        (b.tokens + dt * self.rate).min(self.burst)
    }

    /// Whole seconds until one token is back, at least 1.
    fn wait(&self, level: f64) -> u64 {
        ((1.0 - level) / self.rate).ceil().max(1.0) as u64
    }

    /// Takes one token from `key`'s bucket; when it is empty, the seconds to wait.
    pub fn take(&self, key: &K, now: Instant) -> Result<(), u64> {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) {
            self.make_room(&mut map, now);
        }
        let b = map.entry(key.clone()).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let level = self.level(b, now);
        b.last = now;
        if level >= 1.0 {
            b.tokens = level - 1.0;
            Ok(())
        } else {
            b.tokens = level;
            Err(self.wait(level))
        }
    }

    /// Whether `take` would succeed, without taking.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), u64> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some(b) => {
                let level = self.level(b, now);
                if level >= 1.0 {
                    Ok(())
                } else {
                    Err(self.wait(level))
                }
            }
            None => Ok(()),
        }
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops refilled buckets; if none was, the least recently used one.
    fn make_room(&self, map: &mut HashMap<K, Bucket>, now: Instant) {
        if map.len() < self.cap {
            return;
        }
        map.retain(|_, b| self.level(b, now) < self.burst);
        if map.len() >= self.cap {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
    }
}

/// The limiters and their counters, shared by every request.
#[derive(Debug)]
pub struct Guard {
    config: SecurityConfig,
    per_token: Option<Buckets<String>>,
    failures: Option<Buckets<IpAddr>>,
    auth_failures: AtomicU64,
    limited_token: AtomicU64,
    limited_address: AtomicU64,
    too_large: AtomicU64,
    timed_out: AtomicU64,
}

impl Guard {
    pub fn new(config: &SecurityConfig) -> Self {
        let per_minute = config.auth_failures_per_minute;
        Self {
            config: config.clone(),
            per_token: Buckets::new(
                config.rate_limit_per_second,
                config.rate_limit_burst,
                config.max_tracked_clients,
            ),
            failures: Buckets::new(
                f64::from(per_minute) / 60.0,
                per_minute,
                config.max_tracked_clients,
            ),
            auth_failures: AtomicU64::new(0),
            limited_token: AtomicU64::new(0),
            limited_address: AtomicU64::new(0),
            too_large: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        }
    }
}

impl RenderMetrics for Guard {
    fn render(&self, out: &mut String) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "# HELP ncsoc_api_auth_failures_total Analyst API requests answered 401.\n\
             # TYPE ncsoc_api_auth_failures_total counter\n\
             ncsoc_api_auth_failures_total {}\n\
             # HELP ncsoc_api_rate_limited_total Analyst API requests answered 429, by limit.\n\
             # TYPE ncsoc_api_rate_limited_total counter\n\
             ncsoc_api_rate_limited_total{{limit=\"token\"}} {}\n\
             ncsoc_api_rate_limited_total{{limit=\"auth_failures\"}} {}\n\
             # HELP ncsoc_api_rejected_total Analyst API requests refused for their size or time.\n\
             # TYPE ncsoc_api_rejected_total counter\n\
             ncsoc_api_rejected_total{{reason=\"body_too_large\"}} {}\n\
             ncsoc_api_rejected_total{{reason=\"timeout\"}} {}\n",
            self.auth_failures.load(Relaxed),
            self.limited_token.load(Relaxed),
            self.limited_address.load(Relaxed),
            self.too_large.load(Relaxed),
            self.timed_out.load(Relaxed),
        );
    }
}

/// The key failed authentications are counted under: the address, IPv6 by /64 (one
/// host usually holds the whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Wraps the whole router (API, `/healthz`, `/metrics`) in the guard.
pub fn protect(app: Router, state: AppState) -> Router {
    let max_body = state.config.security.max_body_bytes;
    app.layer(axum::middleware::from_fn_with_state(state, guard))
        .layer(DefaultBodyLimit::max(max_body))
}

fn too_many(retry_after: u64, message: &str) -> Response {
    let mut r =
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message).into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    r
}

/// Whether the route is the live stream, which stays open for as long as the client wants.
fn is_stream(path: &str) -> bool {
    path == "/api/v1/stream" || path.starts_with("/api/v1/stream/")
}

async fn guard(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let sec = &s.config.security;
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| sec.cors_origins.iter().any(|a| a == o))
        .map(str::to_string);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let api = req.uri().path().starts_with("/api/");
    let mut resp = if preflight && !sec.cors_origins.is_empty() {
        preflight_answer(origin.is_some())
    } else if api {
        api_request(&s, req, next).await
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.append(header::VARY, HeaderValue::from_static("Origin"));
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("retry-after, www-authenticate"),
        );
    }
    resp
}

/// The answer to a CORS preflight: the allowed methods and headers for a listed origin,
/// 403 for any other.
fn preflight_answer(allowed: bool) -> Response {
    if !allowed {
        return ApiError::forbidden("this origin may not call the API").into_response();
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, last-event-id"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

async fn api_request(s: &AppState, mut req: Request, next: Next) -> Response {
    let g = &s.guard;
    let sec = &g.config;
    let now = Instant::now();
    let client = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| client_key(c.0.ip()));
    if let (Some(ip), Some(f)) = (client, &g.failures) {
        if let Err(wait) = f.check(&ip, now) {
            g.limited_address.fetch_add(1, Relaxed);
            return too_many(
                wait,
                "too many failed authentications from this address; retry later",
            );
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > sec.max_body_bytes as u64) {
        g.too_large.fetch_add(1, Relaxed);
        return too_large(sec.max_body_bytes);
    }
    if let Some(outcome) = authenticate(req.headers(), s) {
        if let (Ok(token), Some(b)) = (&outcome, &g.per_token) {
            if let Err(wait) = b.take(&token.id, now) {
                g.limited_token.fetch_add(1, Relaxed);
                return too_many(wait, "rate limit of this token exceeded; retry later");
            }
        }
        req.extensions_mut().insert(Authenticated(outcome));
    }
    let stream = is_stream(req.uri().path());
    let resp = if stream {
        answer(next, req).await
    } else {
        let limit = Duration::from_secs(sec.request_timeout_secs);
        match tokio::time::timeout(limit, answer(next, req)).await {
            Ok(r) => r,
            Err(_) => {
                g.timed_out.fetch_add(1, Relaxed);
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    format!(
                        "the request did not complete within {}s",
                        sec.request_timeout_secs
                    ),
                )
                .into_response();
            }
        }
    };
    if resp.status() == StatusCode::UNAUTHORIZED {
        g.auth_failures.fetch_add(1, Relaxed);
        if let (Some(ip), Some(f)) = (client, &g.failures) {
            let _ = f.take(&ip, Instant::now());
        }
    }
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        g.too_large.fetch_add(1, Relaxed);
    }
    as_json_error(resp).await
}

/// The handler's answer; a handler that panics is answered 500 (and logged) instead of
/// the connection being dropped.
async fn answer(next: Next, req: Request) -> Response {
    use futures_util::FutureExt;
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    match std::panic::AssertUnwindSafe(next.run(req))
        .catch_unwind()
        .await
    {
        Ok(r) => r,
        Err(_) => {
            tracing::error!(%method, path, "a request handler panicked");
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            )
            .into_response()
        }
    }
}

fn too_large(max: usize) -> Response {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("the request body is larger than {max} bytes"),
    )
    .into_response()
}

/// An error answer that is not JSON (axum's own rejections: a bad path or query string,
/// an unknown route, a body too large) rewritten as `{"error": {"code", "message"}}`.
async fn as_json_error(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) => String::from_utf8_lossy(&b).trim().to_string(),
        Err(_) => String::new(),
    };
    let code = match status {
        StatusCode::BAD_REQUEST | StatusCode::UNPROCESSABLE_ENTITY => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        s if s.is_server_error() => "unavailable",
        _ => "bad_request",
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    let body = ErrorBody {
        error: crate::error::ErrorDetail {
            code: code.into(),
            message,
        },
    };
    let mut out = (status, axum::Json(body)).into_response();
    // Keep what the original answer said besides its body (Allow, WWW-Authenticate, ...).
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_limit_and_refill() {
        let b = Buckets::new(2.0, 3, 100).unwrap();
        let t0 = Instant::now();
        let k = "tok".to_string();
        for _ in 0..3 {
            assert!(b.take(&k, t0).is_ok());
        }
        assert_eq!(b.take(&k, t0), Err(1));
        assert_eq!(b.check(&k, t0), Err(1));
        // Half a second later one token is back (2 per second).
        assert!(b.take(&k, t0 + Duration::from_millis(500)).is_ok());
        assert!(b.take(&k, t0 + Duration::from_millis(500)).is_err());
        // Never more than the burst.
        let later = t0 + Duration::from_secs(100);
        for _ in 0..3 {
            assert!(b.take(&k, later).is_ok());
        }
        assert!(b.take(&k, later).is_err());
        assert!(Buckets::<String>::new(0.0, 10, 10).is_none(), "0 disables");
    }

    #[test]
    fn slow_rates_say_how_long_to_wait() {
        let b = Buckets::new(0.5, 1, 10).unwrap();
        let t0 = Instant::now();
        assert!(b.take(&1u8, t0).is_ok());
        assert_eq!(b.take(&1u8, t0), Err(2));
    }

    #[test]
    fn memory_is_bounded_and_idle_buckets_go_first() {
        let b = Buckets::new(1.0, 5, 3).unwrap();
        let t0 = Instant::now();
        // Key 0 is drained (busy); 1 and 2 used once.
        for _ in 0..5 {
            let _ = b.take(&0u32, t0);
        }
        let _ = b.take(&1u32, t0);
        let _ = b.take(&2u32, t0);
        assert_eq!(b.len(), 3);
        // Two seconds later 1 and 2 have refilled (idle); 0 has not.
        let t1 = t0 + Duration::from_secs(2);
        assert!(b.take(&3u32, t1).is_ok());
        assert_eq!(b.len(), 2, "the refilled buckets were evicted");
        assert_eq!(b.check(&0u32, t1), Ok(()));
        assert!(b.take(&0u32, t1).is_ok() && b.take(&0u32, t1).is_ok());
        assert!(b.take(&0u32, t1).is_err(), "the busy bucket kept its state");
        // With nothing idle, the least recently used bucket goes.
        for k in 10..20u32 {
            let _ = b.take(&k, t1);
            assert!(b.len() <= 3);
        }
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let m: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(m), "10.1.2.3".parse::<IpAddr>().unwrap());
    }
}
