//! Async sources: syslog UDP/TCP/TLS listeners, the HEC-compatible HTTP intake and flow
//! export listeners (pcap metering, live capture and the Kafka consumer arrive with their
//! issues). Each parses what it receives with [`ncsoc_parsers`] and hands normalised
//! [`ncsoc_model::Event`]s to the store writer; what cannot be parsed is kept as a dead
//! letter with its raw bytes.

pub mod config;
pub mod flows;
pub mod hec;
pub mod intake;
pub mod kafka;
pub mod syslog;
pub mod taxii;
mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

pub use config::IntakeConfig;
pub use intake::{Intake, IntakeMetrics};
use tokio::task::JoinSet;

/// The running intake listeners.
pub struct Listeners {
    tasks: JoinSet<()>,
    /// (what, bound address), in configuration order: syslog listeners, then HEC.
    pub bound: Vec<(String, SocketAddr)>,
}

impl Listeners {
    /// Binds every configured listener (failing on the first that cannot bind) and starts them.
    pub async fn start(cfg: &IntakeConfig, intake: Intake) -> anyhow::Result<Self> {
        cfg.validate().map_err(anyhow::Error::msg)?;
        let mut tasks = JoinSet::new();
        let mut bound = Vec::new();
        for l in &cfg.syslog {
            let (b, addr) = syslog::bind(l).await?;
            tracing::info!(protocol = ?l.protocol, %addr, sector = %l.sector, source = %l.source, "syslog listener");
            bound.push((format!("syslog-{:?}", l.protocol).to_lowercase(), addr));
            tasks.spawn(syslog::run(b, l.clone(), intake.clone()));
        }
        for f in &cfg.flows {
            let (sock, addr) = flows::bind(f).await?;
            tracing::info!(%addr, sector = %f.sector, exporters = f.exporters.len(), "flow listener (NetFlow, IPFIX, sFlow)");
            bound.push(("flows".into(), addr));
            let counters = Arc::new(flows::FlowCounters {
                port: addr.port(),
                sector: f.sector.clone(),
                ..Default::default()
            });
            intake
                .metrics
                .flows
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(counters.clone());
            tasks.spawn(flows::run(sock, f.clone(), intake.clone(), counters));
        }
        for k in &cfg.kafka {
            #[cfg(feature = "kafka")]
            {
                tasks.spawn(kafka::run_feed(k.clone(), intake.clone()));
            }
            #[cfg(not(feature = "kafka"))]
            anyhow::bail!(
                "intake.kafka ({}): this ncsoc was built without the `kafka` feature",
                k.topic
            );
        }
        if let Some(h) = &cfg.hec {
            let listener = tokio::net::TcpListener::bind(h.listen)
                .await
                .map_err(|e| anyhow::anyhow!("binding the HTTP intake on {}: {e}", h.listen))?;
            let addr = listener.local_addr()?;
            tracing::info!(%addr, tokens = h.tokens.len(), "HTTP intake (HEC, NDJSON)");
            bound.push(("hec".into(), addr));
            let router = hec::router(h, intake.clone())?;
            tasks.spawn(async move {
                if let Err(e) = axum::serve(listener, router).await {
                    tracing::error!(error = %e, "HTTP intake stopped");
                }
            });
        }
        Ok(Self { tasks, bound })
    }

    /// Stops every listener (in-flight messages already queued stay queued).
    pub async fn stop(mut self) {
        self.tasks.shutdown().await;
    }
}
