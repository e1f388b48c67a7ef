//! Syslog listeners: UDP (RFC 5426, one message per datagram), TCP (RFC 6587: octet
//! counting `LEN SP MSG` or newline-terminated frames, told apart by the first byte of a
//! connection — a digit starts an octet count, `<` a newline-framed message), and TLS
//! (RFC 5425: octet counting over TLS, newline framing accepted too).
//!
//! Each listener is bound to one sector and source. Senders outside its allowed CIDRs are
//! refused and counted; frames over the size limit are cut, counted and dead-lettered;
//! connections are limited and closed when idle. TCP reads wait while the store pushes
//! back, so a slow store slows the senders instead of losing their messages.

mod framing;

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::{AsyncRead, BufReader};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::config::{Protocol, SyslogListener};
use crate::intake::{Intake, SourceCtx};
pub use framing::{FrameError, FrameReader};

/// A bound listener, ready to run.
pub enum Bound {
    Udp(UdpSocket),
    Tcp(TcpListener, Option<tokio_rustls::TlsAcceptor>),
}

/// Binds a listener now (so configuration errors surface at start-up) and returns the
/// address it is bound to.
pub async fn bind(cfg: &SyslogListener) -> anyhow::Result<(Bound, SocketAddr)> {
    match cfg.protocol {
        Protocol::Udp => {
            let s = crate::flows::bind_udp(cfg.listen, cfg.recv_buffer_bytes)
                .with_context(|| format!("binding syslog udp {}", cfg.listen))?;
            let addr = s.local_addr()?;
            Ok((Bound::Udp(s), addr))
        }
        Protocol::Tcp | Protocol::Tls => {
            let tls = if cfg.protocol == Protocol::Tls {
                Some(crate::tls::acceptor(
                    cfg.tls_cert.as_deref().context("tls_cert missing")?,
                    cfg.tls_key.as_deref().context("tls_key missing")?,
                )?)
            } else {
                None
            };
            let l = TcpListener::bind(cfg.listen)
                .await
                .with_context(|| format!("binding syslog tcp {}", cfg.listen))?;
            let addr = l.local_addr()?;
            Ok((Bound::Tcp(l, tls), addr))
        }
    }
}

/// Runs a bound listener until its task is aborted.
pub async fn run(bound: Bound, cfg: SyslogListener, intake: Intake) {
    let kind = match cfg.protocol {
        Protocol::Udp => "syslog_udp",
        Protocol::Tcp => "syslog_tcp",
        Protocol::Tls => "syslog_tls",
    };
    let src = SourceCtx::new(
        &intake,
        kind,
        &cfg.sector,
        &cfg.source,
        cfg.format,
        cfg.utc_offset_minutes,
    );
    match bound {
        Bound::Udp(sock) => run_udp(sock, cfg, intake, src).await,
        Bound::Tcp(l, tls) => run_tcp(l, tls, cfg, intake, src).await,
    }
}

fn allowed(cfg: &SyslogListener, peer: SocketAddr) -> bool {
    cfg.allowed_senders.is_empty() || cfg.allowed_senders.iter().any(|c| c.contains(peer.ip()))
}

async fn run_udp(sock: UdpSocket, cfg: SyslogListener, intake: Intake, mut src: SourceCtx) {
    // The largest UDP payload; longer messages cannot arrive in one datagram.
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, peer) = match sock.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, listen = %cfg.listen, "syslog udp receive failed");
                continue;
            }
        };
        if !allowed(&cfg, peer) {
            intake.metrics.senders_refused.fetch_add(1, Relaxed);
            continue;
        }
        let mut msg = &buf[..n];
        // Some senders end datagrams with a newline (or NUL): not part of the message.
        while let [rest @ .., b'\n' | b'\r' | 0] = msg {
            msg = rest;
        }
        if msg.is_empty() {
            continue;
        }
        let result = if msg.len() > cfg.max_frame_bytes {
            intake.metrics.frames_too_long.fetch_add(1, Relaxed);
            let reason = format!(
                "message of {} bytes is over the listener's limit of {}",
                msg.len(),
                cfg.max_frame_bytes
            );
            src.counters.received.fetch_add(1, Relaxed);
            intake.reject(&src, msg, "syslog", reason).await
        } else {
            intake.ingest(&mut src, msg).await
        };
        if result.is_err() {
            return; // the writer stopped: shutting down
        }
    }
}

async fn run_tcp(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    cfg: SyslogListener,
    intake: Intake,
    src: SourceCtx,
) {
    let slots = Arc::new(Semaphore::new(cfg.max_connections));
    let cfg = Arc::new(cfg);
    let mut conns = JoinSet::new();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, listen = %cfg.listen, "syslog accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        if !allowed(&cfg, peer) {
            intake.metrics.senders_refused.fetch_add(1, Relaxed);
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            intake.metrics.connections_refused.fetch_add(1, Relaxed);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (cfg, intake, src, tls) = (cfg.clone(), intake.clone(), src.clone(), tls.clone());
        conns.spawn(async move {
            let _permit = permit;
            match tls {
                None => connection(stream, &cfg, &intake, src, peer).await,
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(stream))
                            .await;
                    match handshake {
                        Ok(Ok(s)) => connection(s, &cfg, &intake, src, peer).await,
                        Ok(Err(e)) => {
                            intake.metrics.tls_handshake_failures.fetch_add(1, Relaxed);
                            tracing::debug!(%peer, error = %e, "syslog tls handshake failed");
                        }
                        Err(_) => {
                            intake.metrics.tls_handshake_failures.fetch_add(1, Relaxed);
                        }
                    }
                }
            }
        });
    }
}

async fn connection<S: AsyncRead + Unpin>(
    stream: S,
    cfg: &SyslogListener,
    intake: &Intake,
    mut src: SourceCtx,
    peer: SocketAddr,
) {
    let mut frames = FrameReader::new(
        BufReader::with_capacity(64 * 1024, stream),
        cfg.max_frame_bytes,
    );
    let idle = Duration::from_secs(cfg.idle_timeout_secs.max(1));
    loop {
        let frame = match tokio::time::timeout(idle, frames.next_frame()).await {
            Err(_) => {
                tracing::debug!(%peer, "syslog connection idle: closing");
                return;
            }
            Ok(Ok(None)) => return,
            Ok(Ok(Some(f))) => f,
            Ok(Err(FrameError::Io(e))) => {
                tracing::debug!(%peer, error = %e, "syslog connection failed");
                return;
            }
            Ok(Err(FrameError::TooLong { kept })) => {
                intake.metrics.frames_too_long.fetch_add(1, Relaxed);
                src.counters.received.fetch_add(1, Relaxed);
                let reason = format!(
                    "frame over the listener's limit of {} bytes (first {} bytes kept)",
                    cfg.max_frame_bytes,
                    kept.len()
                );
                if intake.reject(&src, &kept, "syslog", reason).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Err(FrameError::BadLength(raw))) => {
                // An octet count that is not a number leaves the stream without frames.
                src.counters.received.fetch_add(1, Relaxed);
                let _ = intake
                    .reject(
                        &src,
                        &raw,
                        "syslog",
                        "octet-counted frame with an invalid length; closing the connection".into(),
                    )
                    .await;
                return;
            }
        };
        if frame.is_empty() {
            continue;
        }
        if intake.ingest(&mut src, frame).await.is_err() {
            return;
        }
    }
}
