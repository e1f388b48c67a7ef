//! Flow export listeners: NetFlow v5/v9, IPFIX and sFlow v5 datagrams over UDP, decoded by
//! [`ncsoc_parsers::flow::decode_export`] (the decoder is chosen by each datagram's version
//! field, so one port can take every kind), each flow normalised and queued for the store.
//!
//! Each exporter maps to a sector by configuration (sFlow by its agent address), others go
//! to the listener's default sector. Templates live per (exporter, domain) in one decoder
//! per listener, bounded and expired. UDP cannot push back: when the store is slower than
//! the exporters, the socket buffer overflows and the kernel drops datagrams; those drops
//! are read from `/proc/net/udp{,6}` and shown on `/metrics` next to what was decoded.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use ncsoc_model::Timestamp;
use ncsoc_parsers::flow::{decode_export, to_event, EventContext};
use ncsoc_parsers::netflow::{Config as DecoderConfig, NetflowDecoder};
use tokio::net::UdpSocket;

use crate::config::FlowListener;
use crate::intake::Intake;

/// Counters of one flow listener.
#[derive(Debug, Default)]
pub struct FlowCounters {
    pub port: u16,
    pub sector: String,
    pub datagrams: AtomicU64,
    pub flows: AtomicU64,
    /// Datagrams that were not a decodable export (malformed, unknown version).
    pub rejected: AtomicU64,
    pub counter_samples: AtomicU64,
    pub templates_learned: AtomicU64,
    pub sets_held: AtomicU64,
    pub held_dropped: AtomicU64,
    pub held_expired: AtomicU64,
}

impl FlowCounters {
    pub fn render(all: &[Arc<FlowCounters>], out: &mut String) {
        type Get = fn(&FlowCounters) -> u64;
        let rows: [(&str, &str, Get); 8] = [
            ("datagrams", "Export datagrams received.", |c| {
                c.datagrams.load(Relaxed)
            }),
            (
                "flows",
                "Flow records decoded and queued for the store.",
                |c| c.flows.load(Relaxed),
            ),
            (
                "rejected",
                "Datagrams that were not a decodable export.",
                |c| c.rejected.load(Relaxed),
            ),
            ("counter_samples", "sFlow counter samples received.", |c| {
                c.counter_samples.load(Relaxed)
            }),
            (
                "templates_learned",
                "NetFlow v9/IPFIX templates learned.",
                |c| c.templates_learned.load(Relaxed),
            ),
            (
                "sets_held",
                "Data sets held until their template came.",
                |c| c.sets_held.load(Relaxed),
            ),
            (
                "held_dropped",
                "Held data sets dropped over the limits.",
                |c| c.held_dropped.load(Relaxed),
            ),
            (
                "held_expired",
                "Held data sets whose template never came.",
                |c| c.held_expired.load(Relaxed),
            ),
        ];
        for (name, help, get) in rows {
            let _ = writeln!(
                out,
                "# HELP ncsoc_flow_{name}_total {help}\n# TYPE ncsoc_flow_{name}_total counter"
            );
            for c in all {
                let _ = writeln!(
                    out,
                    "ncsoc_flow_{name}_total{{port=\"{}\",sector=\"{}\"}} {}",
                    c.port,
                    c.sector,
                    get(c)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP ncsoc_flow_kernel_drops_total Datagrams the kernel dropped on a flow listener's socket (receive buffer full).\n# TYPE ncsoc_flow_kernel_drops_total counter"
        );
        for c in all {
            let _ = writeln!(
                out,
                "ncsoc_flow_kernel_drops_total{{port=\"{}\"}} {}",
                c.port,
                udp_drops(c.port)
            );
        }
    }
}

/// Datagrams dropped by the kernel on UDP sockets bound to `port` (`drops`, the last column
/// of `/proc/net/udp` and `/proc/net/udp6`); 0 where /proc is not available.
pub fn udp_drops(port: u16) -> u64 {
    let mut total = 0;
    for file in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local_port = cols
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) {
                total += cols.last().and_then(|d| d.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

/// Binds a flow listener now, so a bad address fails at start-up.
pub async fn bind(cfg: &FlowListener) -> anyhow::Result<(UdpSocket, SocketAddr)> {
    let sock = bind_udp(cfg.listen, cfg.recv_buffer_bytes)
        .map_err(|e| anyhow::anyhow!("binding the flow listener on {}: {e}", cfg.listen))?;
    let addr = sock.local_addr()?;
    Ok((sock, addr))
}

/// A UDP socket with a large receive buffer (asked for before binding, so it holds from
/// the first datagram), registered with tokio.
pub fn bind_udp(addr: SocketAddr, recv_buffer: usize) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Err(e) = s.set_recv_buffer_size(recv_buffer) {
        tracing::warn!(%addr, error = %e, "could not enlarge the UDP receive buffer");
    }
    s.bind(&addr.into())?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s.into())
}

pub async fn run(sock: UdpSocket, cfg: FlowListener, intake: Intake, counters: Arc<FlowCounters>) {
    let mut decoder = NetflowDecoder::new(DecoderConfig {
        max_templates: cfg.max_templates,
        template_timeout_secs: cfg.template_timeout_secs,
        ..DecoderConfig::default()
    });
    let sectors: HashMap<IpAddr, String> = cfg
        .exporters
        .iter()
        .map(|(ip, s)| (ip.0, s.clone()))
        .collect();
    let mut ctx = EventContext {
        source: cfg.source.clone(),
        default_sector: cfg.sector.clone(),
        sectors,
        now: Timestamp::now(),
    };
    let mut buf = vec![0u8; 65_536];
    let (mut flows, mut samples) = (Vec::new(), Vec::new());
    let mut expiry = tokio::time::interval(Duration::from_secs(30));
    loop {
        let (n, peer) = tokio::select! {
            r = sock.recv_from(&mut buf) => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, listen = %cfg.listen, "flow listener receive failed");
                    continue;
                }
            },
            _ = expiry.tick() => {
                let now = Timestamp::now().secs().clamp(0, i64::from(u32::MAX)) as u32;
                decoder.expire(now);
                publish(&decoder, &counters);
                continue;
            }
        };
        if !cfg.allowed_senders.is_empty()
            && !cfg.allowed_senders.iter().any(|c| c.contains(peer.ip()))
        {
            intake.metrics.senders_refused.fetch_add(1, Relaxed);
            continue;
        }
        counters.datagrams.fetch_add(1, Relaxed);
        ctx.now = Timestamp::now();
        flows.clear();
        samples.clear();
        let exporter = match peer.ip() {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        if decode_export(
            &mut decoder,
            exporter,
            &buf[..n],
            ctx.now,
            &mut flows,
            &mut samples,
        )
        .is_err()
        {
            counters.rejected.fetch_add(1, Relaxed);
        }
        counters
            .counter_samples
            .fetch_add(samples.len() as u64, Relaxed);
        for f in &flows {
            if intake.writer.write(to_event(f, &ctx)).await.is_err() {
                return; // the writer stopped: shutting down
            }
        }
        counters.flows.fetch_add(flows.len() as u64, Relaxed);
        publish(&decoder, &counters);
    }
}

fn publish(decoder: &NetflowDecoder, c: &FlowCounters) {
    let s = decoder.stats();
    c.templates_learned.store(s.templates_learned, Relaxed);
    c.sets_held.store(s.sets_held, Relaxed);
    c.held_dropped.store(s.held_dropped, Relaxed);
    c.held_expired.store(s.held_expired, Relaxed);
}
