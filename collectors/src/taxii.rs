//! TAXII 2.1 client: polls collections for new STIX objects on a schedule and stores the
//! indicators they carry.
//!
//! Wire format (TAXII 2.1, section 5.4): `GET {api_root}/collections/{id}/objects/` with
//! `Accept: application/taxii+json;version=2.1`, `added_after` (the cursor) and `limit`;
//! the answer is an envelope `{"more": bool, "next": "...", "objects": [...]}` whose
//! `X-TAXII-Date-Added-Last` header is the date the server added the last object given.
//! While `more` is true the next page is asked for with `next`. Each page's objects are
//! read as one STIX bundle ([`ncsoc_intel::stix`]); a page that fails validation is
//! logged and counted, and the poll moves on (a bad object must not stop a feed for
//! good). After a complete poll the cursor is written to
//! `<data_dir>/taxii/<name>.cursor`, so a restart asks only for what was added since.
//!
//! Authentication: HTTP basic (`user:password`) or a bearer token, read from the
//! environment variable named by `secret_env` at start. The secret is never logged nor
//! shown in configuration dumps. `https` uses rustls with the CA bundle of `ca_file`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use ncsoc_intel::{Imported, Options};
use ncsoc_model::Indicator;
use ncsoc_store::Store;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde::{Deserialize, Serialize};

pub const ACCEPT: &str = "application/taxii+json;version=2.1";
/// Pages read in one poll at most.
const MAX_PAGES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    #[default]
    None,
    Basic,
    Bearer,
}

/// One polled collection (`[[intel.taxii]]`).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaxiiConfig {
    /// Letters, digits, `-`, `_`, `.`: names the cursor file and the metrics.
    pub name: String,
    /// The API root, `http://` or `https://` (e.g. `https://cti.example/api1/`).
    pub url: String,
    /// The collection id.
    pub collection: String,
    /// `none`, `basic` or `bearer`.
    #[serde(default)]
    pub auth: Auth,
    /// Environment variable holding the secret: `user:password` for basic, the token
    /// for bearer.
    #[serde(default)]
    pub secret_env: Option<String>,
    /// Seconds between polls.
    #[serde(default = "default_interval")]
    pub interval_secs: u64,
    /// Objects asked for per page (`limit`).
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// Largest page accepted, bytes.
    #[serde(default = "default_max_page_bytes")]
    pub max_page_bytes: usize,
    /// One request, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Source of indicators whose objects name no author (default: `name`).
    #[serde(default)]
    pub source: Option<String>,
    /// CA bundle for `https` (default: the system bundle).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn default_interval() -> u64 {
    3600
}
fn default_page_size() -> u32 {
    1000
}
fn default_max_page_bytes() -> usize {
    32 * 1024 * 1024
}
fn default_timeout() -> u64 {
    60
}

impl std::fmt::Debug for TaxiiConfig {
    // The secret itself is never in the config, only the variable's name.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaxiiConfig")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("collection", &self.collection)
            .field("auth", &self.auth)
            .field("secret_env", &self.secret_env)
            .field("interval_secs", &self.interval_secs)
            .finish_non_exhaustive()
    }
}

impl TaxiiConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err("name: 1 to 64 letters, digits, `-`, `_`, `.`".into());
        }
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| format!("url `{}`: {e}", self.url))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(format!(
                "url `{}`: http:// or https:// with a host",
                self.url
            ));
        }
        if self.collection.is_empty()
            || self.collection.len() > 128
            || !self
                .collection
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err("collection: 1 to 128 letters, digits, `-`, `_`, `.`".into());
        }
        if self.auth != Auth::None && self.secret_env.is_none() {
            return Err("auth needs secret_env (the variable holding the secret)".into());
        }
        if !(1..=7 * 86_400).contains(&self.interval_secs) {
            return Err("interval_secs: 1 to 604800".into());
        }
        if !(1..=10_000).contains(&self.page_size) {
            return Err("page_size: 1 to 10000".into());
        }
        if !(1024..=ncsoc_intel::MAX_DOCUMENT).contains(&self.max_page_bytes) {
            return Err(format!(
                "max_page_bytes: 1024 to {}",
                ncsoc_intel::MAX_DOCUMENT
            ));
        }
        if !(1..=3600).contains(&self.timeout_secs) {
            return Err("timeout_secs: 1 to 3600".into());
        }
        Ok(())
    }

    /// The `Authorization` header value, from the environment.
    fn authorization(&self) -> Result<Option<String>, String> {
        let secret = || {
            let var = self.secret_env.as_deref().unwrap_or("");
            std::env::var(var)
                .ok()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| format!("environment variable {var} is not set"))
        };
        match self.auth {
            Auth::None => Ok(None),
            Auth::Bearer => Ok(Some(format!("Bearer {}", secret()?))),
            Auth::Basic => {
                let s = secret()?;
                if !s.contains(':') {
                    return Err("basic auth: the secret is `user:password`".into());
                }
                Ok(Some(format!("Basic {}", base64(s.as_bytes()))))
            }
        }
    }

    fn objects_uri(&self, added_after: Option<&str>, next: Option<&str>) -> Result<Uri, String> {
        let mut url = self.url.trim_end_matches('/').to_string();
        url.push_str("/collections/");
        url.push_str(&self.collection);
        url.push_str("/objects/?");
        let mut q = form_query();
        q.append_pair("limit", &self.page_size.to_string());
        if let Some(a) = added_after {
            q.append_pair("added_after", a);
        }
        if let Some(n) = next {
            q.append_pair("next", n);
        }
        url.push_str(&q.finish());
        url.parse().map_err(|e| format!("bad URL {url}: {e}"))
    }
}

fn form_query() -> form_urlencoded::Serializer<'static, String> {
    form_urlencoded::Serializer::new(String::new())
}

fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// What one poll brought.
#[derive(Debug, Default)]
pub struct Poll {
    pub pages: usize,
    pub objects: usize,
    pub indicators: Vec<Indicator>,
    pub skipped: usize,
    /// Pages refused by validation, with the reason.
    pub invalid_pages: Vec<String>,
    /// The new cursor (`X-TAXII-Date-Added-Last` of the last page), if the server gave one.
    pub cursor: Option<String>,
}

/// HTTP over TCP or rustls, one connection per request (polls are minutes apart).
pub struct Client {
    tls: Option<Arc<rustls::ClientConfig>>,
    authorization: Option<String>,
    timeout: Duration,
    max_bytes: usize,
}

impl Client {
    pub fn new(cfg: &TaxiiConfig) -> Result<Self, String> {
        let https = cfg.url.starts_with("https://");
        let tls = if https {
            let path = cfg
                .ca_file
                .clone()
                .unwrap_or_else(|| PathBuf::from("/etc/ssl/certs/ca-certificates.crt"));
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(&path)
                .map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?
                .flatten()
            {
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(format!("no usable CA certificate in {}", path.display()));
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            Some(Arc::new(config))
        } else {
            None
        };
        Ok(Self {
            tls,
            authorization: cfg.authorization()?,
            timeout: Duration::from_secs(cfg.timeout_secs),
            max_bytes: cfg.max_page_bytes,
        })
    }

    /// GETs `uri`; the body and the `X-TAXII-Date-Added-Last` header.
    async fn get(&self, uri: &Uri) -> Result<(Bytes, Option<String>), String> {
        tokio::time::timeout(self.timeout, self.exchange(uri))
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
    }

    async fn exchange(&self, uri: &Uri) -> Result<(Bytes, Option<String>), String> {
        let authority = uri.authority().ok_or("the URL has no host")?;
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority
            .port_u16()
            .unwrap_or(if self.tls.is_some() { 443 } else { 80 });
        let mut req = hyper::Request::get(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(hyper::header::HOST, authority.as_str())
            .header(hyper::header::ACCEPT, ACCEPT)
            .header(
                hyper::header::USER_AGENT,
                concat!("ncsoc-taxii/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(a) = &self.authorization {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Empty::<Bytes>::new())
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => self.send(TokioIo::new(tcp), req).await,
            Some(config) => {
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| format!("TLS: `{host}` is not a server name: {e}"))?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
                self.send(TokioIo::new(tls), req).await
            }
        }
    }

    async fn send<I>(
        &self,
        io: I,
        req: hyper::Request<Empty<Bytes>>,
    ) -> Result<(Bytes, Option<String>), String>
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP handshake: {e}"))?;
        let conn = tokio::spawn(async move {
            let _ = conn.await;
        });
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
        let status = resp.status();
        let last = resp
            .headers()
            .get("x-taxii-date-added-last")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Limited::new(resp.into_body(), self.max_bytes)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        conn.abort();
        if !status.is_success() {
            let text: String = String::from_utf8_lossy(&body[..body.len().min(300)])
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            return Err(format!("HTTP {}: {}", status.as_u16(), text.trim()));
        }
        Ok((body, last))
    }
}

/// Reads every page added after `cursor`.
pub async fn poll_once(
    cfg: &TaxiiConfig,
    client: &Client,
    cursor: Option<&str>,
) -> Result<Poll, String> {
    let opts = Options {
        default_source: cfg.source.clone().unwrap_or_else(|| cfg.name.clone()),
        ..Options::default()
    };
    let mut poll = Poll::default();
    let mut next: Option<String> = None;
    loop {
        let uri = cfg.objects_uri(cursor, next.as_deref())?;
        let (body, last) = client.get(&uri).await?;
        poll.pages += 1;
        let envelope: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| format!("page {}: not JSON: {e}", poll.pages))?;
        let objects = match envelope.get("objects") {
            None => Vec::new(),
            Some(serde_json::Value::Array(a)) => a.clone(),
            Some(_) => return Err(format!("page {}: `objects` is not a list", poll.pages)),
        };
        poll.objects += objects.len();
        if !objects.is_empty() {
            let bundle = serde_json::json!({
                "type": "bundle",
                "id": "bundle--00000000-0000-4000-8000-000000000000",
                "objects": objects,
            });
            match ncsoc_intel::stix::import(&bundle, &opts) {
                Ok(Imported {
                    indicators,
                    skipped,
                    ..
                }) => {
                    poll.skipped += skipped.len();
                    poll.indicators.extend(indicators);
                }
                Err(e) => poll.invalid_pages.push(format!("page {}: {e}", poll.pages)),
            }
        }
        if last.is_some() {
            poll.cursor = last;
        }
        let more = envelope.get("more").and_then(|m| m.as_bool()) == Some(true);
        next = envelope
            .get("next")
            .and_then(|n| n.as_str())
            .map(str::to_string);
        // TAXII 2.1 pages with `next`; `more` without it leaves the rest to the next
        // poll, which starts from the cursor.
        if !more || next.is_none() || poll.pages >= MAX_PAGES {
            break;
        }
    }
    Ok(poll)
}

pub fn cursor_path(data_dir: &Path, name: &str) -> PathBuf {
    data_dir.join("taxii").join(format!("{name}.cursor"))
}

pub fn load_cursor(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim();
    (!s.is_empty() && s.len() <= 64).then(|| s.to_string())
}

pub fn save_cursor(path: &Path, cursor: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("cursor.tmp");
    std::fs::write(&tmp, cursor)?;
    std::fs::rename(&tmp, path)
}

/// Counters for `/metrics`, per collection.
#[derive(Debug, Default)]
pub struct TaxiiMetrics {
    pub polls: AtomicU64,
    pub errors: AtomicU64,
    pub invalid_pages: AtomicU64,
    pub indicators: AtomicU64,
}

/// Polls `cfg` every `interval_secs` until the task is aborted: stores the indicators,
/// bumps `version` (the detector reloads), keeps the cursor.
pub async fn run(
    cfg: TaxiiConfig,
    client: Client,
    data_dir: PathBuf,
    store: Arc<dyn Store>,
    version: Arc<AtomicU64>,
    metrics: Arc<TaxiiMetrics>,
) {
    let path = cursor_path(&data_dir, &cfg.name);
    let mut tick = tokio::time::interval(Duration::from_secs(cfg.interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let cursor = load_cursor(&path);
        metrics.polls.fetch_add(1, Relaxed);
        let poll = match poll_once(&cfg, &client, cursor.as_deref()).await {
            Ok(p) => p,
            Err(e) => {
                metrics.errors.fetch_add(1, Relaxed);
                tracing::warn!(collection = %cfg.name, error = %e, "TAXII poll failed; retrying at the next interval");
                continue;
            }
        };
        for e in &poll.invalid_pages {
            metrics.invalid_pages.fetch_add(1, Relaxed);
            tracing::warn!(collection = %cfg.name, error = %e, "TAXII page refused");
        }
        let mut stored = 0;
        let mut failed = false;
        for chunk in poll.indicators.chunks(5000) {
            if let Err(e) = store.put_indicators(chunk).await {
                metrics.errors.fetch_add(1, Relaxed);
                tracing::warn!(collection = %cfg.name, error = %e, "storing TAXII indicators failed; the poll is repeated next time");
                failed = true;
                break;
            }
            stored += chunk.len();
        }
        metrics.indicators.fetch_add(stored as u64, Relaxed);
        if stored > 0 {
            version.fetch_add(1, Relaxed);
        }
        tracing::info!(collection = %cfg.name, pages = poll.pages, objects = poll.objects, indicators = stored, skipped = poll.skipped, "TAXII poll");
        if failed {
            continue;
        }
        if let Some(c) = &poll.cursor {
            if let Err(e) = save_cursor(&path, c) {
                tracing::warn!(collection = %cfg.name, error = %e, path = %path.display(), "cannot keep the TAXII cursor");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_of_basic_credentials() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn the_secret_comes_from_the_environment_and_stays_out_of_debug_output() {
        let mut cfg: TaxiiConfig = toml::from_str(
            r#"name = "cert"
url = "https://cti.example/api1/"
collection = "abc"
auth = "bearer"
secret_env = "NCSOC_TEST_TAXII_SECRET_UNSET""#,
        )
        .unwrap();
        cfg.validate().unwrap();
        assert!(cfg.authorization().unwrap_err().contains("is not set"));
        // Only this test sets this variable.
        std::env::set_var("NCSOC_TEST_TAXII_SECRET_DEBUG", "tok-123");
        cfg.secret_env = Some("NCSOC_TEST_TAXII_SECRET_DEBUG".into());
        assert_eq!(
            cfg.authorization().unwrap().as_deref(),
            Some("Bearer tok-123")
        );
        assert!(!format!("{cfg:?}").contains("tok-123"));
        cfg.auth = Auth::Basic;
        assert!(cfg.authorization().unwrap_err().contains("user:password"));
    }
}
