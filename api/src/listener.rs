//! The analyst listener: HTTP/1.1, in plain text or over TLS (rustls with the `ring`
//! provider, TLS 1.2 and 1.3), with a bounded number of open connections, a deadline for
//! the TLS handshake and for each request's headers, and bounded request heads. Every
//! request carries its client's address (`ConnectInfo<SocketAddr>`).
//!
//! Shutdown stops accepting, lets each connection finish the request it is answering,
//! and gives up on what is still open (the live streams) after [`DRAIN`].

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_rustls::TlsAcceptor;

use crate::SecurityConfig;

/// How long shutdown waits for open connections.
pub const DRAIN: Duration = Duration::from_secs(10);

/// A TLS acceptor for a PEM certificate chain and private key; HTTP/1.1 by ALPN.
pub fn tls_acceptor(cert: &Path, key: &Path) -> std::io::Result<TlsAcceptor> {
    let err = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, what);
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| err(format!("reading TLS certificate {}: {e}", cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(format!("parsing TLS certificate {}: {e}", cert.display())))?;
    if certs.is_empty() {
        return Err(err(format!("{} holds no certificate", cert.display())));
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| err(format!("reading TLS private key {}: {e}", key.display())))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
    .map_err(|e| err(format!("TLS protocol versions: {e}")))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| err(format!("TLS certificate and key do not match: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Serves `router` on `addr` (over TLS when `tls` is given) until `shutdown` resolves,
/// then finishes open requests.
pub async fn serve(
    addr: SocketAddr,
    router: Router,
    tls: Option<TlsAcceptor>,
    limits: &SecurityConfig,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(
        addr = %listener.local_addr()?,
        tls = tls.is_some(),
        "HTTP listening"
    );
    let handshake = Duration::from_secs(limits.handshake_timeout_secs);
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(handshake)
        .max_buf_size(limits.max_header_bytes.max(8192))
        .max_headers(limits.max_headers)
        .keep_alive(true);
    let http = Arc::new(http);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (close_tx, close_rx) = watch::channel(false);
    // Each connection holds a sender; all are dropped when every connection is done.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before accept.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (router, http, tls, close, open) = (
            router.clone(),
            http.clone(),
            tls.clone(),
            close_rx.clone(),
            open_tx.clone(),
        );
        tokio::spawn(async move {
            let _slot = slot;
            let _open = open;
            match tls {
                None => connection(TokioIo::new(stream), peer, router, &http, close, false).await,
                Some(tls) => match tokio::time::timeout(handshake, tls.accept(stream)).await {
                    Ok(Ok(s)) => {
                        connection(TokioIo::new(s), peer, router, &http, close, true).await
                    }
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                },
            }
        });
    }
    drop(listener);
    let _ = close_tx.send(true);
    drop(open_tx);
    if tokio::time::timeout(DRAIN, open_rx.recv()).await.is_err() {
        tracing::warn!(
            open = limits.max_connections - slots.available_permits(),
            "connections still open after {DRAIN:?}; closing them"
        );
    }
    Ok(())
}

async fn connection<I>(
    io: TokioIo<I>,
    peer: SocketAddr,
    router: Router,
    http: &hyper::server::conn::http1::Builder,
    mut close: watch::Receiver<bool>,
    tls: bool,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            let mut resp = tower_service::Service::call(&mut router, req).await?;
            if tls {
                // Browsers that reached the dashboard over TLS keep to TLS for a year.
                resp.headers_mut().insert(
                    axum::http::header::STRICT_TRANSPORT_SECURITY,
                    axum::http::HeaderValue::from_static("max-age=31536000"),
                );
            }
            Ok::<_, std::convert::Infallible>(resp)
        }
    });
    let conn = http.serve_connection(io, svc);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        () = async { let _ = close.wait_for(|closing| *closing).await; } => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        // A client that went away, sent garbage or too large a head: its problem.
        tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
    }
}
