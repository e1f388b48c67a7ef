//! The sender's HTTP client: hyper's HTTP/1.1 connection over TCP, or over rustls (ring)
//! for `https`. One connection per attempt (webhook traffic is a few requests a minute;
//! a fresh connection also makes every attempt independent of the last one's failure).
//! Redirects are not followed; the answer's body is read only for an error message, and
//! only its first bytes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::Uri;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

/// How much of an error answer is kept as the delivery's `last_error`.
const ERROR_BODY_BYTES: usize = 512;

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A 2xx answer.
    Delivered(u16),
    /// Any other answer, or none (`status` is then `None`).
    Failed { status: Option<u16>, error: String },
}

/// TLS settings per CA bundle, loaded on first use.
pub struct Client {
    default_ca: PathBuf,
    tls: Mutex<HashMap<PathBuf, Arc<rustls::ClientConfig>>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("default_ca", &self.default_ca)
            .finish()
    }
}

fn failed(error: impl Into<String>) -> Outcome {
    Outcome::Failed {
        status: None,
        error: error.into(),
    }
}

impl Client {
    pub fn new(default_ca: PathBuf) -> Self {
        Self {
            default_ca,
            tls: Mutex::new(HashMap::new()),
        }
    }

    fn tls_config(&self, ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, String> {
        let path = ca_file.unwrap_or(&self.default_ca);
        let mut cache = self.tls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = cache.get(path) {
            return Ok(c.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read the CA bundle {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("bad certificate in {}: {e}", path.display()))?;
            // A bundle may hold certificates rustls refuses as roots; the rest still count.
            let _ = roots.add(cert);
        }
        if roots.is_empty() {
            return Err(format!("no usable CA certificate in {}", path.display()));
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        cache.insert(path.to_path_buf(), config.clone());
        Ok(config)
    }

    /// POSTs `body` to `uri` with `headers`, within `timeout` for the whole exchange.
    pub async fn post(
        &self,
        uri: &Uri,
        ca_file: Option<&Path>,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
        timeout: Duration,
    ) -> Outcome {
        match tokio::time::timeout(timeout, self.exchange(uri, ca_file, headers, body)).await {
            Ok(outcome) => outcome,
            Err(_) => failed(format!("no answer within {} ms", timeout.as_millis())),
        }
    }

    async fn exchange(
        &self,
        uri: &Uri,
        ca_file: Option<&Path>,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Outcome {
        let https = uri.scheme_str() == Some("https");
        let Some(authority) = uri.authority() else {
            return failed("the URL has no host");
        };
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = authority.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut req = hyper::Request::post(uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"))
            .header(hyper::header::HOST, authority.as_str())
            .header(
                hyper::header::USER_AGENT,
                concat!("ncsoc-webhooks/", env!("CARGO_PKG_VERSION")),
            );
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = match req.body(Full::new(body)) {
            Ok(r) => r,
            Err(e) => return failed(format!("cannot build the request: {e}")),
        };
        let tcp = match tokio::net::TcpStream::connect((host, port)).await {
            Ok(s) => s,
            Err(e) => return failed(format!("cannot connect to {host}:{port}: {e}")),
        };
        let _ = tcp.set_nodelay(true);
        if !https {
            return send(TokioIo::new(tcp), req).await;
        }
        let config = match self.tls_config(ca_file) {
            Ok(c) => c,
            Err(e) => return failed(e),
        };
        let name = match ServerName::try_from(host.to_string()) {
            Ok(n) => n,
            Err(e) => return failed(format!("TLS: `{host}` is not a server name: {e}")),
        };
        match tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
        {
            Ok(tls) => send(TokioIo::new(tls), req).await,
            Err(e) => failed(format!("TLS handshake with {host}:{port}: {e}")),
        }
    }
}

async fn send<I>(io: I, req: hyper::Request<Full<Bytes>>) -> Outcome
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(io).await {
        Ok(x) => x,
        Err(e) => return failed(format!("HTTP handshake: {e}")),
    };
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let outcome = match sender.send_request(req).await {
        Err(e) => failed(format!("HTTP: {e}")),
        Ok(resp) => {
            let status = resp.status();
            if status.is_success() {
                Outcome::Delivered(status.as_u16())
            } else {
                let mut body = resp.into_body();
                let mut text = Vec::new();
                while text.len() < ERROR_BODY_BYTES {
                    match body.frame().await {
                        Some(Ok(frame)) => {
                            if let Ok(data) = frame.into_data() {
                                let room = ERROR_BODY_BYTES - text.len();
                                text.extend_from_slice(&data[..data.len().min(room)]);
                            }
                        }
                        _ => break,
                    }
                }
                let text: String = String::from_utf8_lossy(&text)
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                let mut error = format!("HTTP {}", status.as_u16());
                if status.is_redirection() {
                    error.push_str(" (redirects are not followed)");
                }
                let text = text.trim();
                if !text.is_empty() {
                    error.push_str(": ");
                    error.push_str(text);
                }
                Outcome::Failed {
                    status: Some(status.as_u16()),
                    error,
                }
            }
        }
    };
    conn.abort();
    outcome
}
