//! `[api.webhooks]`: the outbox settings and the destinations defined in `ncsoc.toml`. A
//! destination created through the admin API has the same shape (the request body of
//! `POST /webhooks`), and is stored the same way.

use std::path::PathBuf;

use ncsoc_model::{Incident, IncidentKind, Severity};
use ncsoc_store::control::ChangeKind;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;

/// Limits on what a destination may hold (config or API).
pub const MAX_NAME: usize = 64;
pub const MAX_URL: usize = 2048;
pub const MIN_SECRET: usize = 16;
pub const MAX_SECRET: usize = 1024;
pub const MAX_LIST: usize = 64;
pub const MAX_SECTOR: usize = 64;

/// `[api.webhooks]`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Requests in flight at once over all destinations (each destination sends one at a
    /// time, in change order).
    pub max_concurrency: usize,
    /// Largest body sent, in bytes. An incident that would not fit is sent with its
    /// evidence and notes cut (and `"truncated": true`).
    pub max_body_bytes: usize,
    /// Days a delivered delivery stays in the outbox; pending and dead ones stay until
    /// they are delivered, requeued or their destination is deleted.
    pub keep_delivered_days: u32,
    /// PEM bundle of the certificate authorities trusted for `https` destinations.
    pub ca_file: PathBuf,
    pub destinations: Vec<DestinationConfig>,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 8,
            max_body_bytes: 256 * 1024,
            keep_delivered_days: 7,
            ca_file: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            destinations: Vec::new(),
        }
    }
}

impl WebhooksConfig {
    /// Static checks, with the key at fault named (environment variables are checked
    /// when `serve` starts the sender).
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=256).contains(&self.max_concurrency) {
            return Err("api.webhooks.max_concurrency: between 1 and 256".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err("api.webhooks.max_body_bytes: between 1024 and 16777216".into());
        }
        let mut names = std::collections::HashSet::new();
        for (i, d) in self.destinations.iter().enumerate() {
            d.validate()
                .map_err(|e| format!("api.webhooks.destinations[{i}]: {e}"))?;
            if !names.insert(d.name.as_str()) {
                return Err(format!(
                    "api.webhooks.destinations[{i}]: the name `{}` is used twice",
                    d.name
                ));
            }
        }
        Ok(())
    }
}

/// How a delivery's body is written.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// `{"event", "delivery", "seq", "at", "actor", "incident"}` (application/json).
    #[default]
    Ncsoc,
    /// `{"text": "..."}`: one line a chat webhook (Slack, Mattermost, Teams) shows as is.
    Slack,
    /// One ArcSight CEF line (text/plain).
    Cef,
}

/// Which incident changes a destination receives. Every given condition must hold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Filter {
    /// Only incidents at least this severe (low, medium, high, critical); none: all.
    #[schema(schema_with = severity_schema)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_severity: Option<Severity>,
    /// Only these incident kinds; empty: every kind.
    #[schema(schema_with = kinds_schema)]
    pub kinds: Vec<IncidentKind>,
    /// Only these changes. Default: opened, escalated, reopened, worked.
    #[schema(schema_with = events_schema)]
    pub events: Vec<ChangeKind>,
    /// Only incidents touching one of these sectors; empty: every sector.
    #[schema(schema_with = sectors_schema)]
    pub sectors: Vec<String>,
    /// The most restrictive TLP of indicator material an incident may carry to be sent.
    /// Default `amber`: incidents holding TLP:AMBER+STRICT or TLP:RED evidence are not
    /// pushed unless the destination is allowed them.
    #[schema(schema_with = tlp_schema)]
    pub max_tlp: ncsoc_model::Tlp,
}

/// The most restrictive TLP among an incident's evidence (clear when none is marked).
pub fn incident_tlp(incident: &Incident) -> ncsoc_model::Tlp {
    incident
        .evidence
        .iter()
        .filter_map(|e| e.tlp)
        .max()
        .unwrap_or_default()
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            min_severity: None,
            kinds: Vec::new(),
            events: vec![
                ChangeKind::Opened,
                ChangeKind::Escalated,
                ChangeKind::Reopened,
                ChangeKind::Worked,
            ],
            sectors: Vec::new(),
            max_tlp: ncsoc_model::Tlp::Amber,
        }
    }
}

impl Filter {
    pub fn matches(&self, kind: ChangeKind, incident: &Incident) -> bool {
        self.events.contains(&kind)
            && self.min_severity.is_none_or(|s| incident.severity >= s)
            && (self.kinds.is_empty() || self.kinds.contains(&incident.kind))
            && (self.sectors.is_empty()
                || incident.sectors.iter().any(|s| self.sectors.contains(s)))
            && incident_tlp(incident) <= self.max_tlp
    }

    fn validate(&self) -> Result<(), String> {
        if self.events.is_empty() {
            return Err("filter.events: name at least one change (opened, updated, escalated, worked, noted, merged, reopened)".into());
        }
        if self.kinds.len() > MAX_LIST
            || self.events.len() > MAX_LIST
            || self.sectors.len() > MAX_LIST
        {
            return Err(format!("filter: at most {MAX_LIST} entries per list"));
        }
        if let Some(s) = self
            .sectors
            .iter()
            .find(|s| s.is_empty() || s.chars().count() > MAX_SECTOR)
        {
            return Err(format!(
                "filter.sectors: `{}` is not a sector name (1 to {MAX_SECTOR} characters)",
                s.chars().take(MAX_SECTOR).collect::<String>()
            ));
        }
        Ok(())
    }
}

/// One `[[api.webhooks.destinations]]`; also what a destination made with
/// `POST /api/v1/webhooks` is stored as.
#[derive(Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    /// Letters, digits, `-`, `_` and `.`; 1 to 64 characters.
    pub name: String,
    /// `http://` or `https://` URL the deliveries are POSTed to.
    pub url: String,
    /// The signing secret (16 to 1024 characters). Never returned nor logged.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
    /// Or: the environment variable of `ncsoc serve` that holds the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
    #[serde(default)]
    pub filter: Filter,
    #[serde(default)]
    pub format: Format,
    /// Time for one attempt (connect, send, answer), milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Attempts before a delivery is dead (kept with its last error).
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Retry n waits a random time up to min(backoff_max_ms, backoff_base_ms * 2^(n-1)).
    #[serde(default = "default_backoff_base_ms")]
    pub backoff_base_ms: u64,
    #[serde(default = "default_backoff_max_ms")]
    pub backoff_max_ms: u64,
    /// PEM bundle trusted for this destination instead of `[api.webhooks] ca_file`
    /// (`ncsoc.toml` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_max_attempts() -> u32 {
    12
}
fn default_backoff_base_ms() -> u64 {
    1_000
}
fn default_backoff_max_ms() -> u64 {
    600_000
}

impl std::fmt::Debug for DestinationConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DestinationConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "<hidden>"))
            .field("secret_env", &self.secret_env)
            .field("filter", &self.filter)
            .field("format", &self.format)
            .field("timeout_ms", &self.timeout_ms)
            .field("max_attempts", &self.max_attempts)
            .field("backoff_base_ms", &self.backoff_base_ms)
            .field("backoff_max_ms", &self.backoff_max_ms)
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

/// What a destination URL may look like, as the API document states it: `http` or
/// `https`, a host name or IPv4 address, a port up to 65535, and a path (with a query)
/// in unreserved, sub-delimiter and percent characters. [`url_shape`] checks exactly this.
pub const URL_PATTERN: &str = "^https?://[A-Za-z0-9.-]+(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?-]*)?$";

fn url_shape(url: &str) -> Result<(), &'static str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = match authority.split_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err("the host is a name or IPv4 address (letters, digits, `.`, `-`; no user name or password)");
    }
    if let Some(p) = port {
        let ok = (1..=5).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() < 5 || !p.starts_with('0'))
            && p.parse::<u32>().is_ok_and(|n| n <= 65_535);
        if !ok {
            return Err("the port is a number up to 65535");
        }
    }
    if !path
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._~%!$&'()*+,;=:@/?-".contains(&b))
    {
        return Err("the path holds a character that must be percent-encoded (or a fragment)");
    }
    Ok(())
}

/// Whether `name` is a destination name (also safe in a metric label and a URL path).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl DestinationConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !valid_name(&self.name) {
            return Err(format!(
                "name: `{}` is not a destination name (1 to {MAX_NAME} letters, digits, `-`, `_`, `.`)",
                self.name.chars().take(MAX_NAME).collect::<String>()
            ));
        }
        self.uri()?;
        match (&self.secret, &self.secret_env) {
            (Some(s), None) if (MIN_SECRET..=MAX_SECRET).contains(&s.chars().count()) => {}
            (Some(_), None) => {
                return Err(format!(
                    "secret: between {MIN_SECRET} and {MAX_SECRET} characters"
                ))
            }
            (None, Some(v))
                if !v.is_empty()
                    && v.len() <= 128
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {}
            (None, Some(_)) => {
                return Err(
                    "secret_env: an environment variable name (letters, digits, `_`)".into(),
                )
            }
            _ => return Err("give exactly one of `secret` and `secret_env`".into()),
        }
        self.filter.validate()?;
        if !(100..=120_000).contains(&self.timeout_ms) {
            return Err("timeout_ms: between 100 and 120000".into());
        }
        if !(1..=100).contains(&self.max_attempts) {
            return Err("max_attempts: between 1 and 100".into());
        }
        if !(10..=3_600_000).contains(&self.backoff_base_ms) {
            return Err("backoff_base_ms: between 10 and 3600000".into());
        }
        if !(10..=86_400_000).contains(&self.backoff_max_ms) {
            return Err("backoff_max_ms: between 10 and 86400000".into());
        }
        Ok(())
    }

    /// The URL, checked against [`URL_PATTERN`] (a host name or IPv4 address, an optional
    /// port, a path and query in plain characters; no user name, password or fragment).
    pub fn uri(&self) -> Result<hyper::Uri, String> {
        if self.url.len() > MAX_URL {
            return Err(format!("url: at most {MAX_URL} characters"));
        }
        url_shape(&self.url).map_err(|e| format!("url: {e}"))?;
        self.url
            .parse()
            .map_err(|e| format!("url: not a URL ({e})"))
    }

    /// The secret: given, or read from the environment now.
    pub fn resolve_secret(&self) -> Result<String, String> {
        if let Some(s) = &self.secret {
            return Ok(s.clone());
        }
        let var = self.secret_env.as_deref().unwrap_or_default();
        match std::env::var(var) {
            Ok(s) if (MIN_SECRET..=MAX_SECRET).contains(&s.chars().count()) => Ok(s),
            Ok(_) => Err(format!(
                "the environment variable {var} must hold {MIN_SECRET} to {MAX_SECRET} characters"
            )),
            Err(_) => Err(format!("the environment variable {var} is not set")),
        }
    }

    /// What is stored as the destination's settings: everything but the secret.
    pub fn spec(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Back from the stored settings and secret.
    pub fn from_stored(d: &ncsoc_store::control::Destination) -> Result<Self, String> {
        let mut c: DestinationConfig = serde_json::from_value(d.spec.clone())
            .map_err(|e| format!("stored settings of webhook destination `{}`: {e}", d.name))?;
        c.name = d.name.clone();
        c.secret = (!d.secret.is_empty()).then(|| d.secret.clone());
        Ok(c)
    }
}

fn string_enum(values: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(values))
}

fn severity_schema() -> impl Into<RefOr<Schema>> {
    let values = Severity::ALL
        .iter()
        .map(|s| serde_json::Value::from(s.as_str()))
        .chain([serde_json::Value::Null]);
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(values))
        .description(Some(
            "Only incidents at least this severe; absent or null: all.",
        ))
}

fn kinds_schema() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(string_enum(IncidentKind::ALL.iter().map(|k| k.as_str())))
        .max_items(Some(MAX_LIST))
        .description(Some("Only these incident kinds; empty: every kind."))
}

fn tlp_schema() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(SchemaType::new(Type::String))
        .enum_values(Some(["clear", "green", "amber", "amber+strict", "red"]))
        .default(Some(serde_json::json!("amber")))
        .description(Some(
            "The most restrictive TLP of indicator material an incident may carry to be sent; default amber.",
        ))
}

fn sectors_schema() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(
            ObjectBuilder::new()
                .schema_type(SchemaType::new(Type::String))
                .min_length(Some(1))
                .max_length(Some(MAX_SECTOR)),
        )
        .max_items(Some(MAX_LIST))
        .description(Some(
            "Only incidents touching one of these sectors; empty: every sector.",
        ))
}

fn events_schema() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(string_enum(ChangeKind::ALL.iter().map(|k| k.as_str())))
        .min_items(Some(1))
        .max_items(Some(MAX_LIST))
        .description(Some(
            "Only these changes (X-Ncsoc-Event without `incident.`). Default: opened, \
             escalated, reopened, worked.",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dest(toml_text: &str) -> Result<DestinationConfig, String> {
        let d: DestinationConfig = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        d.validate()?;
        Ok(d)
    }

    #[test]
    fn destinations_are_checked_and_secrets_hidden() {
        let d = dest(
            "name = \"cc\"\nurl = \"https://cc.example/hook\"\nsecret = \"0123456789abcdef\"\n\
             filter = { min_severity = \"high\", sectors = [\"energy\"] }",
        )
        .unwrap();
        assert_eq!(d.filter.events.len(), 4);
        assert!(!format!("{d:?}").contains("0123456789abcdef"));
        assert!(!d.spec().to_string().contains("0123456789abcdef"));
        for (text, needle) in [
            ("name = \"a b\"\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"", "name"),
            ("name = \"a\"\nurl = \"ftp://x/\"\nsecret = \"0123456789abcdef\"", "url"),
            ("name = \"a\"\nurl = \"http://u:p@x/\"\nsecret = \"0123456789abcdef\"", "url"),
            ("name = \"a\"\nurl = \"http://h*/\"\nsecret = \"0123456789abcdef\"", "url"),
            ("name = \"a\"\nurl = \"http://h:65536/\"\nsecret = \"0123456789abcdef\"", "url"),
            ("name = \"a\"\nurl = \"http://h/a b\"\nsecret = \"0123456789abcdef\"", "url"),
            ("name = \"a\"\nurl = \"http://h/#x\"\nsecret = \"0123456789abcdef\"", "url"),
            ("name = \"a\"\nurl = \"http://x/\"\nsecret = \"short\"", "secret"),
            ("name = \"a\"\nurl = \"http://x/\"", "secret"),
            ("name = \"a\"\nurl = \"http://x/\"\nsecret_env = \"A-B\"", "secret_env"),
            ("name = \"a\"\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\nfilter = { events = [] }", "events"),
            ("name = \"a\"\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\nfilter = { kinds = [\"nope\"] }", "nope"),
            ("name = \"a\"\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\nbackoff_max_ms = 1", "backoff_max_ms"),
            ("name = \"a\"\nurl = \"http://x/\"\nsecret = \"0123456789abcdef\"\nretries = 1", "retries"),
        ] {
            let err = dest(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn urls_are_what_the_pattern_says() {
        let ok = [
            "http://127.0.0.1:9000/hook",
            "https://cc.example.gov/ncsoc/hook?token=a%20b&x=1",
            "http://h",
            "http://h:65535",
            "http://h:0/",
            "https://hooks.slack.com/services/T0/B0/XyZ",
        ];
        let bad = [
            "http://h:99999/",
            "http://h:01234/",
            "http://:80/",
            "ftp://h/",
            "http://[::1]/",
            "http://h/é",
        ];
        for u in ok {
            assert_eq!(url_shape(u), Ok(()), "{u}");
            assert!(u.parse::<hyper::Uri>().is_ok(), "{u}");
        }
        for u in bad {
            assert!(url_shape(u).is_err(), "{u}");
        }
    }

    proptest::proptest! {
        /// `url_shape` accepts exactly what the documented pattern matches.
        #[test]
        fn url_shape_is_the_pattern(
            url in "(https?|ftp)://[A-Za-z0-9.:@\\[\\]*-]{0,12}(:[0-9]{0,6})?(/[A-Za-z0-9._~%!$&'()*+,;=:@/?# \"<>é-]{0,12})?"
        ) {
            let re = regex::Regex::new(URL_PATTERN).unwrap();
            proptest::prop_assert_eq!(url_shape(&url).is_ok(), re.is_match(&url), "{}", url);
            if url_shape(&url).is_ok() {
                proptest::prop_assert!(url.parse::<hyper::Uri>().is_ok(), "{}", url);
            }
        }
    }

    use ncsoc_model::Tlp;

    #[test]
    fn filters_match_on_every_condition() {
        let mut inc: Incident = serde_json::from_value(serde_json::json!({
            "id": "i", "title": "t", "kind": "port_scan", "severity": "medium", "score": 40,
            "status": "new", "sectors": ["energy", "water"], "entities": [],
            "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        let all = Filter::default();
        assert!(all.matches(ChangeKind::Opened, &inc));
        assert!(!all.matches(ChangeKind::Updated, &inc));
        let f = Filter {
            min_severity: Some(Severity::High),
            kinds: vec![IncidentKind::PortScan],
            sectors: vec!["water".into()],
            ..Filter::default()
        };
        assert!(!f.matches(ChangeKind::Opened, &inc));
        inc.severity = Severity::Critical;
        assert!(f.matches(ChangeKind::Escalated, &inc));
        inc.sectors = vec!["finance".into()];
        assert!(!f.matches(ChangeKind::Escalated, &inc));
    }

    #[test]
    fn red_and_amber_strict_incidents_need_a_filter_that_allows_them() {
        let mut inc: Incident = serde_json::from_value(serde_json::json!({
            "id": "i", "title": "t", "kind": "ioc_match", "severity": "high", "score": 70,
            "status": "new", "sectors": ["energy"], "entities": [],
            "first_seen": "2026-01-01T00:00:00Z", "last_seen": "2026-01-01T00:00:00Z",
            "evidence": [{"at": "2026-01-01T00:00:00Z", "sector": "energy", "signal": "ioc", "description": "d", "tlp": "amber"}]
        }))
        .unwrap();
        let default = Filter::default();
        assert!(default.matches(ChangeKind::Opened, &inc));
        for (tlp, allowed) in [
            (Tlp::AmberStrict, false),
            (Tlp::Red, false),
            (Tlp::Green, true),
        ] {
            inc.evidence[0].tlp = Some(tlp);
            assert_eq!(
                default.matches(ChangeKind::Opened, &inc),
                allowed,
                "{tlp:?}"
            );
        }
        inc.evidence[0].tlp = Some(Tlp::Red);
        let red = Filter {
            max_tlp: Tlp::Red,
            ..Filter::default()
        };
        assert!(red.matches(ChangeKind::Opened, &inc));
        let f: Filter = toml::from_str("max_tlp = \"amber+strict\"").unwrap();
        assert_eq!(f.max_tlp, Tlp::AmberStrict);
        assert!(!f.matches(ChangeKind::Opened, &inc));
    }

    /// The `[api.webhooks]` section of ncsoc.example.toml, with its commented destination
    /// switched on, is valid and names every key.
    #[test]
    fn example_file_documents_every_key() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ncsoc.example.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let section = text.split("\n[api.webhooks]\n").nth(1).unwrap();
        let toml_text: String = section
            .lines()
            .filter_map(|l| match l.strip_prefix("# ") {
                Some("[[api.webhooks.destinations]]") => Some("[[destinations]]".to_string()),
                Some(rest) if !rest.starts_with('#') && rest.contains(" = ") => {
                    Some(rest.to_string())
                }
                Some(_) => None,
                None => Some(l.to_string()),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let c: WebhooksConfig = toml::from_str(&toml_text).unwrap();
        c.validate().unwrap();
        let defaults = WebhooksConfig::default();
        assert_eq!(
            (
                c.max_concurrency,
                c.max_body_bytes,
                c.keep_delivered_days,
                &c.ca_file
            ),
            (
                defaults.max_concurrency,
                defaults.max_body_bytes,
                defaults.keep_delivered_days,
                &defaults.ca_file
            )
        );
        assert_eq!(c.destinations.len(), 1);
        let table: toml::Table = toml_text.parse().unwrap();
        let written = table["destinations"].as_array().unwrap()[0]
            .as_table()
            .unwrap();
        // Every field but `secret` (documented, exclusive with secret_env) is written out.
        let fields = [
            "name",
            "url",
            "secret_env",
            "filter",
            "format",
            "timeout_ms",
            "max_attempts",
            "backoff_base_ms",
            "backoff_max_ms",
            "ca_file",
        ];
        assert_eq!(written.len(), fields.len(), "{written:?}");
        for f in fields {
            assert!(written.contains_key(f), "{f}");
        }
        assert_eq!(written["filter"].as_table().unwrap().len(), 5);
        assert!(section.contains("secret = "));
    }
}
