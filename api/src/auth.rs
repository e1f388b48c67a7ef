//! Who is calling: the bearer token of each request, checked against the control store,
//! turned into a [`Principal`] with a role and a sector scope; and the security settings of
//! the analyst listener (`[api.security]`).
//!
//! The token is verified once per request, by the guard in [`crate::limits`] (which also
//! applies the rate limits); the extractors read its outcome from the request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use ncsoc_model::Timestamp;
use ncsoc_store::control::{AuditEntry, Role, TokenRecord};
use ncsoc_store::Scope;

use crate::error::ApiError;
use crate::AppState;

/// Security settings of the analyst listener (`[api.security]`).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Requests per second each token may make, sustained (a token bucket per token).
    /// 0 disables per-token rate limiting.
    pub rate_limit_per_second: f64,
    /// Requests a token may make at once before the sustained rate applies.
    pub rate_limit_burst: u32,
    /// Failed authentications (answers 401) allowed per client address and minute, with
    /// as many at once; past that the address gets 429 until its bucket refills. IPv6
    /// clients are counted per /64. 0 disables.
    pub auth_failures_per_minute: u32,
    /// Tokens and addresses tracked by the limiters; idle ones are evicted first.
    pub max_tracked_clients: usize,
    /// Largest request body accepted (bytes); larger ones are answered 413.
    pub max_body_bytes: usize,
    /// A request that takes longer is answered 503 (the live stream is exempt).
    pub request_timeout_secs: u64,
    /// Time a client has to finish the TLS handshake, and to send each request's headers.
    pub handshake_timeout_secs: u64,
    /// Largest request head (request line and headers, bytes; at least 8192); larger ones
    /// are answered 431.
    pub max_header_bytes: usize,
    /// Most headers in one request.
    pub max_headers: usize,
    /// Open connections at most; more wait in the listen backlog.
    pub max_connections: usize,
    /// Origins (`https://soc.example.gov`, exact match) whose browser pages may call the
    /// API. Empty (the default): no CORS headers at all.
    pub cors_origins: Vec<String>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            rate_limit_per_second: 50.0,
            rate_limit_burst: 200,
            auth_failures_per_minute: 30,
            max_tracked_clients: 10_000,
            max_body_bytes: 1 << 20,
            request_timeout_secs: 30,
            handshake_timeout_secs: 10,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_connections: 512,
            cors_origins: Vec::new(),
        }
    }
}

impl SecurityConfig {
    /// Checks what serde cannot; the error names the key.
    pub fn validate(&self) -> Result<(), String> {
        let at = "api.security";
        if !self.rate_limit_per_second.is_finite() || self.rate_limit_per_second < 0.0 {
            return Err(format!(
                "{at}.rate_limit_per_second: must be 0 (off) or a positive number"
            ));
        }
        if self.rate_limit_per_second > 0.0 && self.rate_limit_burst == 0 {
            return Err(format!(
                "{at}.rate_limit_burst: must be at least 1 when rate limiting is on"
            ));
        }
        if self.max_tracked_clients == 0 {
            return Err(format!("{at}.max_tracked_clients: must be at least 1"));
        }
        if !(1024..=1 << 30).contains(&self.max_body_bytes) {
            return Err(format!(
                "{at}.max_body_bytes: must be between 1024 and 1073741824"
            ));
        }
        if self.request_timeout_secs == 0 || self.handshake_timeout_secs == 0 {
            return Err(format!(
                "{at}.request_timeout_secs and handshake_timeout_secs: must be at least 1"
            ));
        }
        if !(8192..=1 << 20).contains(&self.max_header_bytes) {
            return Err(format!(
                "{at}.max_header_bytes: must be between 8192 and 1048576"
            ));
        }
        if !(8..=1000).contains(&self.max_headers) {
            return Err(format!("{at}.max_headers: must be between 8 and 1000"));
        }
        if self.max_connections == 0 {
            return Err(format!("{at}.max_connections: must be at least 1"));
        }
        for (i, o) in self.cors_origins.iter().enumerate() {
            if !valid_origin(o) {
                return Err(format!(
                    "{at}.cors_origins[{i}]: `{o}` is not an origin (scheme://host[:port], no path, no wildcard)"
                ));
            }
        }
        Ok(())
    }
}

/// `http(s)://host[:port]`, as a browser sends it in `Origin`.
fn valid_origin(o: &str) -> bool {
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && rest.len() <= 253
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token: TokenRecord,
}

impl Principal {
    pub fn role(&self) -> Role {
        self.token.role
    }

    /// The sectors this caller may read; every store query takes it.
    pub fn scope(&self) -> Scope {
        self.token.scope()
    }

    /// The name recorded as author of notes and in the audit log.
    pub fn actor(&self) -> &str {
        &self.token.name
    }

    /// Fails with 403 unless the caller has at least `role` (forwarders never pass: the
    /// analyst API is not for ingest).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.token.role == Role::Forwarder || self.token.role < role {
            return Err(ApiError::forbidden(format!(
                "this needs the {} role",
                role.as_str()
            )));
        }
        Ok(())
    }

    pub fn is_admin(&self) -> bool {
        self.token.role == Role::Admin
    }
}

/// The outcome of checking a request's bearer token, left in the request's extensions by
/// the guard so that the token is looked up once.
#[derive(Debug, Clone)]
pub(crate) struct Authenticated(pub Result<TokenRecord, ApiError>);

/// Checks the `Authorization` header; `None` when there is none.
pub(crate) fn authenticate(
    headers: &HeaderMap,
    state: &AppState,
) -> Option<Result<TokenRecord, ApiError>> {
    let value = headers.get(header::AUTHORIZATION)?;
    let secret = value
        .to_str()
        .ok()
        .and_then(|h| {
            let (scheme, rest) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest)
        })
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256 && t.bytes().all(|b| b.is_ascii_graphic()));
    let Some(secret) = secret else {
        return Some(Err(ApiError::unauthorized(
            "expected `Authorization: Bearer <token>`",
        )));
    };
    Some(match state.control.verify_token(secret, Timestamp::now()) {
        Ok(Some(token)) => Ok(token),
        Ok(None) => Err(ApiError::unauthorized("unknown, expired or revoked token")),
        Err(e) => Err(e.into()),
    })
}

/// The token of the request, whatever its role.
pub(crate) fn token_of(parts: &Parts, state: &AppState) -> Result<TokenRecord, ApiError> {
    if let Some(Authenticated(outcome)) = parts.extensions.get::<Authenticated>() {
        return outcome.clone();
    }
    authenticate(&parts.headers, state)
        .unwrap_or_else(|| Err(ApiError::unauthorized("missing bearer token")))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = token_of(parts, state)?;
        if token.role == Role::Forwarder {
            return Err(ApiError::forbidden(
                "forwarder tokens ingest on the intake listener; they cannot use the analyst API",
            ));
        }
        Ok(Principal { token })
    }
}

/// What a new token may be. Shared by `ncsoc token create` and `POST /tokens`. Any expiry
/// is accepted (one in the past makes a token that never works).
pub fn validate_new_token(name: &str, role: Role, sectors: &[String]) -> Result<(), String> {
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err("name: 1 to 64 characters, no control characters".into());
    }
    if sectors.len() > 64 {
        return Err("sectors: at most 64".into());
    }
    for s in sectors {
        validate_sector(s)?;
    }
    match role {
        Role::Forwarder if sectors.len() != 1 => {
            Err("a forwarder token belongs to exactly one sector".into())
        }
        Role::Admin if !sectors.is_empty() => Err(
            "admin tokens cover every sector (an admin can create any token); give a sector-limited person an analyst token"
                .into(),
        ),
        _ => Ok(()),
    }
}

/// The pattern of a sector name, for the OpenAPI document.
pub const SECTOR_PATTERN: &str = "^[a-z0-9_-]{1,64}$";
/// The pattern of a token lifetime, for the OpenAPI document.
pub const LIFETIME_PATTERN: &str = "^[1-9][0-9]{0,8}[smhdw]$";

/// A sector name: 1 to 64 of `a-z 0-9 _ -`.
pub fn validate_sector(s: &str) -> Result<(), String> {
    if s.is_empty()
        || s.len() > 64
        || !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "sector `{}`: 1 to 64 characters of a-z, 0-9, `_` and `-`",
            s.chars().take(64).collect::<String>()
        ));
    }
    Ok(())
}

/// An expiry as given on the command line or in `POST /tokens`: a lifetime (`90s`, `45m`,
/// `12h`, `30d`, `2w`) from `now`, or an RFC 3339 instant.
pub fn parse_expiry(s: &str, now: Timestamp) -> Result<Timestamp, String> {
    let s = s.trim();
    let unit = match s.as_bytes().last() {
        Some(b's') => Some(1),
        Some(b'm') => Some(60),
        Some(b'h') => Some(3600),
        Some(b'd') => Some(86_400),
        Some(b'w') => Some(7 * 86_400),
        _ => None,
    };
    // The unit is one ASCII byte, so what is before it is a whole string.
    let count = unit.and_then(|_| s[..s.len() - 1].parse::<u32>().ok());
    if let (Some(unit), Some(n)) = (unit, count) {
        if n == 0 {
            return Err(format!("expiry `{s}`: a lifetime of at least 1s"));
        }
        let nanos = i64::from(n)
            .saturating_mul(unit)
            .saturating_mul(1_000_000_000);
        return Ok(Timestamp(now.nanos().saturating_add(nanos)));
    }
    parse_time(s).map_err(|_| {
        format!(
            "expiry `{}`: expected a lifetime (90s, 45m, 12h, 30d, 2w) or an RFC 3339 time",
            s.chars().take(64).collect::<String>()
        )
    })
}

/// An RFC 3339 time given by a client. A valid date outside what a [`Timestamp`] holds
/// (years 1678 to 2261) is taken as the earliest or latest instant there is, so that a
/// filter or an expiry in year 9999 means "never" rather than an error.
pub fn parse_time(s: &str) -> Result<Timestamp, ncsoc_model::TimestampError> {
    Timestamp::parse_rfc3339(s).or_else(|e| {
        let year = s.get(..4).and_then(|y| y.parse::<u32>().ok());
        let rest = s.get(4..).unwrap_or("");
        let valid_otherwise = Timestamp::parse_rfc3339(&format!("2000{rest}")).is_ok();
        match year {
            Some(y) if valid_otherwise && y < 1970 => Ok(Timestamp(i64::MIN)),
            Some(_) if valid_otherwise => Ok(Timestamp(i64::MAX)),
            _ => Err(e),
        }
    })
}

impl AppState {
    /// Appends to the audit log. A failure to audit is logged, and fails the request
    /// (an action that cannot be audited is not done) when `outcome` is `ok`.
    pub fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        outcome: &str,
        detail: serde_json::Value,
    ) -> Result<(), ApiError> {
        let entry = AuditEntry {
            seq: 0,
            at: Timestamp::now(),
            token_id: who.token.id.clone(),
            actor: who.token.name.clone(),
            role: who.token.role.as_str().to_string(),
            action: action.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            detail,
        };
        match self.control.append_audit(&entry) {
            Ok(_) => Ok(()),
            Err(e) => {
                tracing::error!(error = %e, action, "cannot write the audit log");
                if outcome == "ok" {
                    Err(e.into())
                } else {
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_requests_are_validated() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(validate_new_token("a", Role::Analyst, &[]).is_ok());
        assert!(validate_new_token("a", Role::Analyst, &s(&["energy", "fin-2_x"])).is_ok());
        assert!(validate_new_token("a", Role::Forwarder, &s(&["energy"])).is_ok());
        assert!(validate_new_token("a", Role::Forwarder, &[]).is_err());
        assert!(validate_new_token("a", Role::Forwarder, &s(&["a", "b"])).is_err());
        assert!(validate_new_token("a", Role::Admin, &s(&["energy"])).is_err());
        for bad in ["", "Energy", "a b", "a/b", &"x".repeat(65)] {
            assert!(
                validate_new_token("a", Role::Analyst, &s(&[bad])).is_err(),
                "{bad}"
            );
        }
        assert!(validate_new_token("", Role::Analyst, &[]).is_err());
        assert!(validate_new_token("a\nb", Role::Analyst, &[]).is_err());
    }

    #[test]
    fn expiries_parse() {
        let now = Timestamp::from_secs(1_000_000);
        assert_eq!(
            parse_expiry("30d", now).unwrap(),
            Timestamp::from_secs(1_000_000 + 30 * 86_400)
        );
        assert_eq!(
            parse_expiry("12h", now).unwrap(),
            Timestamp::from_secs(1_000_000 + 12 * 3600)
        );
        assert_eq!(
            parse_expiry("2s", now).unwrap(),
            Timestamp::from_secs(1_000_002)
        );
        assert_eq!(
            parse_expiry("2030-01-01T00:00:00Z", now).unwrap(),
            Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_expiry("4294967295w", now).unwrap(),
            Timestamp(i64::MAX),
            "saturates"
        );
        assert_eq!(
            parse_expiry("9999-12-31T23:59:59Z", now).unwrap(),
            Timestamp(i64::MAX)
        );
        assert_eq!(
            parse_time("0001-01-01T00:00:00Z").unwrap(),
            Timestamp(i64::MIN)
        );
        assert!(parse_time("9999-13-01T00:00:00Z").is_err());
        for bad in ["", "0d", "d", "-1d", "soon", "12x", "p\u{2c560}", "\u{e9}"] {
            assert!(parse_expiry(bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn origins_are_exact() {
        let mut c = SecurityConfig::default();
        assert!(c.validate().is_ok());
        c.cors_origins = vec![
            "https://soc.example.gov".into(),
            "http://127.0.0.1:3000".into(),
        ];
        assert!(c.validate().is_ok());
        for bad in [
            "*",
            "https://soc.example.gov/",
            "soc.example.gov",
            "https://*.gov",
        ] {
            c.cors_origins = vec![bad.into()];
            assert!(c.validate().is_err(), "{bad}");
        }
    }
}
