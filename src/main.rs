//! `ncsoc`: the command line, wiring the crates together.

#[cfg(feature = "kafka")]
mod analyze;
mod config;
mod detect;
mod flows;
mod intel;
mod parse;
mod replay;
mod sector_view;
mod simulate;
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use ncsoc_model::Timestamp;
use ncsoc_store::{StoreMetrics, Writer};

use crate::config::Config;

// glibc's allocator spends more time than ncsoc's own code on the event path (measured with
// perf on the store benchmark); mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// National cyber security operations centre: ingest every sector's events and flows,
/// store them, and correlate across sectors.
#[derive(Parser)]
#[command(name = "ncsoc", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the platform: intake listeners (syslog, HEC, flow exports), the store, HTTP
    /// (/healthz, /metrics). Embedded SQLite store by default.
    Serve {
        /// Configuration file (see ncsoc.example.toml); defaults apply without one.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Store URL overriding the config: sqlite:DIR or clickhouse://HOST:PORT/DB.
        #[arg(long)]
        store: Option<String>,
        /// `all`: everything in one process, no Kafka. `intake`: listeners publish to
        /// Kafka (`[kafka]`), nothing is stored or analysed here. `analyze`: a member of
        /// the consumer group that stores, detects and serves the analyst API.
        #[arg(long, value_enum, default_value_t = Role::All)]
        role: Role,
    },
    /// Parse log lines from stdin: one normalised event per line as JSON on stdout; a line
    /// that does not parse gives a JSON error record on stderr, and the rest go on.
    Parse {
        /// auto (per line), syslog, cef, leef, json, eve or zeek.
        #[arg(long, default_value = "auto")]
        format: String,
        /// The sector the events belong to (`ncsoc.sector`).
        #[arg(long, default_value = "unassigned")]
        sector: String,
        /// The source recorded on the events (`ncsoc.source`).
        #[arg(long, default_value = "stdin")]
        source: String,
        /// UTC offset in minutes of RFC 3164 timestamps, which carry no zone.
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        utc_offset_minutes: i32,
    },
    /// Decode the NetFlow/IPFIX/sFlow export packets in pcap or pcapng files (and with
    /// --meter, meter the other packets into flows): one flow record per line as JSON on
    /// stdout, a summary on stderr.
    Flows {
        /// Capture files, read in order through one decoder (templates carry over).
        #[arg(required = true)]
        pcaps: Vec<PathBuf>,
        /// The sector the flows belong to (`ncsoc.sector`).
        #[arg(long, default_value = "unassigned")]
        sector: String,
        /// The source recorded on the flows (`ncsoc.source`).
        #[arg(long, default_value = "pcap")]
        source: String,
        /// Also meter the other packets into bidirectional flows (idle timeout 60 s,
        /// active timeout 30 min, in packet time).
        #[arg(long)]
        meter: bool,
    },
    /// Run the whole pipeline in event time over recorded input — pcaps (flow exports or
    /// raw traffic), Zeek TSV logs, log files (format detected per line) — several sectors
    /// at once, merged in event time; print the incidents as JSON lines when drained.
    Replay {
        /// SECTOR=PATH, one per input file.
        #[arg(required = true)]
        inputs: Vec<String>,
        /// Write the incidents here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Also store the events and incidents: sqlite:DIR or clickhouse://HOST:PORT/DB.
        #[arg(long)]
        store: Option<String>,
        /// Configuration file for the detector settings (`[detector]`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print every incident change as it happens instead of the final incidents.
        #[arg(long)]
        updates: bool,
        /// Match against the indicators of these STIX bundles or MISP events (besides
        /// those in the store given with --store).
        #[arg(long)]
        intel: Vec<PathBuf>,
        /// Evaluate the Sigma and threshold rules of this folder too (e.g. `rules`).
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Simulate several sectors of traffic with benign traps and injected attacks (ground
    /// truth known), run the detector over it, and print the evaluation table: detection
    /// rate per kind, false alarms per attack-free sector-day, detection delay.
    Simulate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 7)]
        days: u32,
        /// Hosts per sector (default 200).
        #[arg(long)]
        hosts: Option<u32>,
        /// Also write the simulated events as JSON lines.
        #[arg(long)]
        events: Option<PathBuf>,
        /// Write the ground truth (attacks, benign bursts) as JSON.
        #[arg(long)]
        truth: Option<PathBuf>,
        /// Write the incidents as JSON lines.
        #[arg(long)]
        incidents: Option<PathBuf>,
        /// Write the full score as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Configuration file for the detector settings (`[detector]`).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print this sector's state after every closed bin on stderr (for tuning).
        #[arg(long)]
        trace: Option<String>,
    },
    /// Create, list and revoke API tokens (kept as digests in <data_dir>/control.db; works
    /// while `ncsoc serve` runs).
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Threat intelligence: import STIX 2.1 bundles and MISP events into the store.
    Intel {
        #[command(subcommand)]
        command: intel::IntelCommand,
    },
    /// Detection rules: `ncsoc rules check DIR` validates a folder of Sigma and threshold
    /// rules (each invalid rule as file:line: reason; exit status 1 if any).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Check a configuration file and print the effective settings (secrets hidden).
    CheckConfig {
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

/// What one `ncsoc serve` process does in a deployment (README, "Scaling out").
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
enum Role {
    All,
    Intake,
    Analyze,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Load every rule under DIR as `ncsoc serve` would and report the invalid ones.
    Check {
        /// The rules folder (for example `rules`).
        dir: PathBuf,
    },
}

/// `ncsoc rules check`: prints each invalid rule and a summary; true when all are valid.
fn rules_check(dir: &std::path::Path) -> anyhow::Result<bool> {
    if !dir.is_dir() {
        anyhow::bail!("{} is not a folder", dir.display());
    }
    let set = ncsoc_detector::sigma::RuleSet::load_dir(dir);
    for e in set.errors() {
        println!("{e}");
    }
    let s = set.summary();
    println!(
        "{} files: {} rules ({} active, {} dormant: no logsource mapping), {} correlation/threshold rules, {} invalid",
        s.files, s.rules, s.active, s.dormant, s.correlations, s.invalid
    );
    for r in set.rules().iter().filter(|r| !r.is_active()) {
        println!(
            "dormant: {}:{}: {} ({})",
            r.meta.file, r.meta.line, r.meta.title, r.meta.logsource
        );
    }
    Ok(s.invalid == 0)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve {
            config,
            store,
            role,
        } => {
            let mut cfg = Config::load(config.as_deref(), std::env::vars())?;
            if let Some(url) = store {
                cfg.store.apply_url(&url)?;
                cfg.store.validate()?;
            }
            init_logging(&cfg.server.log);
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(async move {
                    match role {
                        Role::Intake => serve_intake(cfg).await,
                        _ => serve(cfg, role).await,
                    }
                })
        }
        Command::Parse {
            format,
            sector,
            source,
            utc_offset_minutes,
        } => parse::run(&format, &sector, &source, utc_offset_minutes),
        Command::Flows {
            pcaps,
            sector,
            source,
            meter,
        } => flows::run(&pcaps, &sector, &source, meter),
        Command::Replay {
            inputs,
            out,
            store,
            config,
            updates,
            intel,
            rules,
        } => {
            let mut cfg = Config::load(config.as_deref(), std::env::vars())?;
            let inputs = replay::parse_inputs(&inputs)?;
            let mut indicators = Vec::new();
            for r in intel::read_files(&intel, None) {
                eprintln!("{}", intel::report(&r, None));
                match r.result {
                    Ok((_, imported)) => indicators.extend(imported.indicators),
                    Err(_) => anyhow::bail!("{}: not usable as intelligence", r.path.display()),
                }
            }
            let opts = replay::Options {
                out,
                detector: cfg.detector.clone(),
                updates,
                indicators,
                rules,
            };
            match store {
                None => replay::run(inputs, &opts, |_| {}).map(|_| ()),
                Some(url) => {
                    cfg.store.apply_url(&url)?;
                    cfg.store.validate()?;
                    replay_into_store(inputs, &opts, &cfg)
                }
            }
        }
        Command::Simulate {
            seed,
            days,
            hosts,
            events,
            truth,
            incidents,
            json,
            config,
            trace,
        } => {
            let cfg = Config::load(config.as_deref(), std::env::vars())?;
            simulate::run(simulate::Options {
                seed,
                days,
                hosts,
                events,
                truth,
                incidents,
                json,
                detector: cfg.detector,
                trace,
            })
        }
        Command::Token { command } => token::run(command),
        Command::Intel { command } => intel::run(command),
        Command::Rules {
            command: RulesCommand::Check { dir },
        } => {
            if !rules_check(&dir)? {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::CheckConfig { config } => {
            let mut cfg = Config::load(config.as_deref(), std::env::vars())?;
            if !cfg.store.clickhouse.password.is_empty() {
                cfg.store.clickhouse.password = "<hidden>".into();
            }
            println!("configuration is valid:\n{cfg:#?}");
            Ok(())
        }
    }
}

/// `ncsoc replay --store`: events are written in batches as they are replayed, the
/// incidents at the end.
fn replay_into_store(
    inputs: Vec<replay::Input>,
    opts: &replay::Options,
    cfg: &Config,
) -> anyhow::Result<()> {
    use ncsoc_store::WriteMode;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let store = rt
        .block_on(ncsoc_store::open(&cfg.store))
        .context("opening the store")?;
    // The store's indicators are matched too.
    let mut opts = replay::Options {
        indicators: opts.indicators.clone(),
        out: opts.out.clone(),
        detector: opts.detector.clone(),
        updates: opts.updates,
        rules: opts.rules.clone(),
    };
    opts.indicators.extend(
        rt.block_on(store.indicators(cfg.intel.max_indicators))
            .context("loading the indicators")?,
    );
    let opts = &opts;
    let mut batch = Vec::with_capacity(cfg.store.batch_size);
    let mut failure: Option<anyhow::Error> = None;
    let incidents = replay::run(inputs, opts, |e| {
        if failure.is_some() {
            return;
        }
        batch.push(e.clone());
        if batch.len() >= cfg.store.batch_size {
            if let Err(e) = rt.block_on(store.write_events(&batch, WriteMode::Fresh)) {
                failure = Some(anyhow::anyhow!("writing events: {e}"));
            }
            batch.clear();
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    rt.block_on(async {
        store
            .write_events(&batch, WriteMode::Fresh)
            .await
            .context("writing events")?;
        for inc in &incidents {
            store.put_incident(inc).await.context("writing incidents")?;
        }
        anyhow::Ok(())
    })
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(default))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Where incidents come from in this process.
enum Analysis {
    /// The detector in this process, fed by the store writer (`--role all`).
    Local(detect::DetectorTask),
    /// A member of the analysis consumer group (`--role analyze`).
    #[cfg(feature = "kafka")]
    Bus(analyze::AnalyzeTask),
}

/// `--role analyze`: the store writer writes idempotently (records can be read twice
/// from the bus), and the consumer group feeds the detectors.
#[cfg(feature = "kafka")]
fn start_analysis(
    cfg: &Config,
    store: &Arc<dyn ncsoc_store::Store>,
    metrics: &Arc<StoreMetrics>,
    state: &ncsoc_api::AppState,
    intel_set: tokio::sync::watch::Receiver<Option<Arc<ncsoc_intel::IndicatorSet>>>,
    rules: detect::RulesSetup,
) -> anyhow::Result<(Writer, Analysis)> {
    let writer = Writer::start_sink(
        Arc::new(ncsoc_store::StoreSink(store.clone())),
        &cfg.store,
        metrics.clone(),
        None,
        ncsoc_store::WriteMode::Retry,
    )?;
    let task = analyze::start(
        cfg.kafka.clone(),
        cfg.detector.clone(),
        store.clone(),
        writer.handle(),
        state.hub.clone(),
        intel_set,
        rules,
    )
    .context("joining the analysis consumer group")?;
    Ok((writer, Analysis::Bus(task)))
}

#[cfg(not(feature = "kafka"))]
fn start_analysis(
    _: &Config,
    _: &Arc<dyn ncsoc_store::Store>,
    _: &Arc<StoreMetrics>,
    _: &ncsoc_api::AppState,
    _: tokio::sync::watch::Receiver<Option<Arc<ncsoc_intel::IndicatorSet>>>,
    _: detect::RulesSetup,
) -> anyhow::Result<(Writer, Analysis)> {
    anyhow::bail!("--role analyze: this ncsoc was built without the `kafka` feature")
}

/// `--role intake`: the listeners parse and normalise, and the store writer publishes to
/// the bus (spooling to disk while the brokers do not acknowledge). HTTP serves
/// `/healthz` (the brokers answer) and `/metrics` only: nothing is stored here.
#[cfg(feature = "kafka")]
async fn serve_intake(cfg: Config) -> anyhow::Result<()> {
    use ncsoc_collectors::kafka::{ensure_topics, KafkaSink};
    let tls = cfg
        .server
        .tls()
        .map(|(cert, key)| ncsoc_api::tls_acceptor(cert, key))
        .transpose()
        .context("TLS for the API listener ([server] tls_cert, tls_key)")?;
    if cfg.kafka.create_topics {
        // Brokers that are down now are not fatal: batches wait in the spool.
        if let Err(e) = ensure_topics(&cfg.kafka).await {
            tracing::warn!(error = %format!("{e:#}"), "Kafka topics not checked; publishing anyway");
        }
    }
    let sink = Arc::new(KafkaSink::new(&cfg.kafka)?);
    tracing::info!(brokers = %sink.brokers(), events = %cfg.kafka.events_topic, flows = %cfg.kafka.flows_topic, "intake node publishing to Kafka");
    let metrics = Arc::new(StoreMetrics::new("kafka"));
    let writer = Writer::start_sink(
        sink.clone(),
        &cfg.store,
        metrics.clone(),
        None,
        ncsoc_store::WriteMode::Fresh,
    )?;
    // Forwarder tokens (`ncsoc token create --role forwarder`) live in the control store.
    let control = Arc::new(
        ncsoc_store::ControlStore::open(&cfg.store.data_dir)
            .context("opening the control store")?,
    );
    let intake_metrics = Arc::new(ncsoc_collectors::IntakeMetrics::default());
    let listeners = ncsoc_collectors::Listeners::start(
        &cfg.intake,
        ncsoc_collectors::Intake {
            writer: writer.handle(),
            metrics: intake_metrics.clone(),
            control: Some(control),
        },
    )
    .await
    .context("starting the intake listeners")?;
    let bus = sink.metrics.clone();
    let renderers: Vec<Arc<dyn ncsoc_api::RenderMetrics>> = vec![
        metrics.clone(),
        Arc::new(move |out: &mut String| intake_metrics.render(out)),
        Arc::new(move |out: &mut String| bus.render(out)),
    ];
    let ping_sink = sink.clone();
    let health: ncsoc_api::HealthCheck = Arc::new(move || {
        let s = ping_sink.clone();
        Box::pin(async move { s.ping().await })
    });
    ncsoc_api::serve(
        cfg.server.listen,
        ncsoc_api::node_router("kafka", health, renderers),
        tls,
        &cfg.api.security,
        shutdown_signal(),
    )
    .await
    .with_context(|| format!("serving HTTP on {}", cfg.server.listen))?;
    tracing::info!("shutting down: closing the listeners, publishing what is queued");
    listeners.stop().await;
    writer.shutdown().await;
    tracing::info!(
        published = sink
            .metrics
            .published
            .load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(())
}

#[cfg(not(feature = "kafka"))]
async fn serve_intake(_: Config) -> anyhow::Result<()> {
    anyhow::bail!("--role intake: this ncsoc was built without the `kafka` feature")
}

async fn serve(cfg: Config, role: Role) -> anyhow::Result<()> {
    let tls = cfg
        .server
        .tls()
        .map(|(cert, key)| ncsoc_api::tls_acceptor(cert, key))
        .transpose()
        .context("TLS for the API listener ([server] tls_cert, tls_key)")?;
    let store = ncsoc_store::open(&cfg.store)
        .await
        .context("opening the store")?;
    tracing::info!(backend = store.name(), data_dir = %cfg.store.data_dir.display(), "store open");
    let metrics = Arc::new(StoreMetrics::new(store.name()));
    let control = Arc::new(
        ncsoc_store::ControlStore::open(&cfg.store.data_dir)
            .context("opening the control store")?,
    );
    let mut state = ncsoc_api::AppState::new(store.clone(), control, cfg.api.clone());
    // Webhooks first: a destination whose secret is missing stops the start before intake opens.
    let webhooks = ncsoc_api::webhooks::start(&state)
        .map_err(anyhow::Error::msg)
        .context("starting the webhook sender")?;
    // Threat indicators for the detector, reloaded when they change (see src/intel.rs).
    let intel_metrics = Arc::new(intel::IntelMetrics::default());
    let (intel_set, intel_reloader) = intel::start_reloader(
        store.clone(),
        &cfg.intel,
        state.intel_version.clone(),
        intel_metrics.clone(),
    )
    .await?;
    let taxii = intel::start_taxii(
        &cfg.intel,
        &cfg.store.data_dir,
        store.clone(),
        state.intel_version.clone(),
        &intel_metrics,
    )?;
    let rules_setup = detect::RulesSetup {
        dir: cfg.rules.folder(),
        reload_secs: cfg.rules.reload_secs,
    };
    let (writer, analysis) = if role == Role::Analyze {
        start_analysis(&cfg, &store, &metrics, &state, intel_set, rules_setup)?
    } else {
        // Durable events go on to the detector; its incidents come back to the store.
        let (tap, detector_input) = tokio::sync::mpsc::channel(64);
        let writer = Writer::start_with_tap(store.clone(), &cfg.store, metrics.clone(), Some(tap))?;
        // The detector records its incidents through the API state's hub.
        let detector = detect::start(
            cfg.detector.clone(),
            &cfg.store.data_dir,
            state.hub.clone(),
            detector_input,
            intel_set,
            rules_setup,
        )
        .context("starting the detector")?;
        (writer, Analysis::Local(detector))
    };
    let intake_metrics = Arc::new(ncsoc_collectors::IntakeMetrics::default());
    // An analysis node reads the bus only; its peers in the intake tier listen.
    let listeners = if role == Role::Analyze {
        None
    } else {
        Some(
            ncsoc_collectors::Listeners::start(
                &cfg.intake,
                ncsoc_collectors::Intake {
                    writer: writer.handle(),
                    metrics: intake_metrics.clone(),
                    control: Some(state.control.clone()),
                },
            )
            .await
            .context("starting the intake listeners")?,
        )
    };

    let change_log = {
        let (control, days) = (state.control.clone(), i64::from(cfg.api.change_log_days));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let cutoff = Timestamp(Timestamp::now().nanos() - days * 86_400 * 1_000_000_000);
                match control.prune_changes(cutoff) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(dropped = n, "incident change log pruned"),
                    Err(e) => tracing::warn!(error = %e, "pruning the change log failed"),
                }
            }
        })
    };
    let retention = if cfg.store.retention_days > 0 {
        let (store, days) = (store.clone(), i64::from(cfg.store.retention_days));
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                let cutoff = Timestamp(Timestamp::now().nanos() - days * 86_400 * 1_000_000_000);
                if let Err(e) = store.enforce_retention(cutoff).await {
                    tracing::warn!(error = %e, "retention pass failed; retrying in an hour");
                }
            }
        }))
    } else {
        None
    };

    state.metrics = vec![
        metrics.clone(),
        Arc::new(move |out: &mut String| intake_metrics.render(out)),
        webhooks.metrics.clone(),
        state.guard.clone(),
        Arc::new(move |out: &mut String| intel_metrics.render(out)),
    ];
    match &analysis {
        Analysis::Local(d) => {
            state.sectors = Some(d.sectors.clone());
            state.rules = Some(d.rules.clone());
            let m = d.metrics.clone();
            state
                .metrics
                .push(Arc::new(move |out: &mut String| m.render(out)));
        }
        #[cfg(feature = "kafka")]
        Analysis::Bus(a) => {
            // The sector view needs every partition's baselines in one place; an analysis
            // node holds only its own, so `GET /sectors` answers 404 here.
            state.rules = Some(a.rules.clone());
            let (m, d) = (a.metrics.clone(), a.detector_metrics.clone());
            state.metrics.push(Arc::new(move |out: &mut String| {
                d.render(out);
                m.render(out);
            }));
        }
    }
    let hub = state.hub.clone();
    ncsoc_api::serve(
        cfg.server.listen,
        ncsoc_api::router(state),
        tls,
        &cfg.api.security,
        async move {
            shutdown_signal().await;
            hub.close(); // live streams end, so open requests can finish
        },
    )
    .await
    .with_context(|| format!("serving HTTP on {}", cfg.server.listen))?;

    tracing::info!("shutting down: closing the listeners, flushing the store writer");
    if let Some(l) = listeners {
        l.stop().await;
    }
    if let Some(r) = retention {
        r.abort();
    }
    change_log.abort();
    intel_reloader.abort();
    for t in taxii {
        t.abort();
    }
    match analysis {
        Analysis::Local(detector) => {
            // The detector's input closes with the writer.
            writer.shutdown().await;
            detector.stop().await;
        }
        #[cfg(feature = "kafka")]
        Analysis::Bus(a) => {
            // What was read is stored, checkpointed and committed before leaving the group.
            a.stop().await;
            writer.shutdown().await;
        }
    }
    webhooks.stop().await;
    tracing::info!(
        rows = metrics
            .rows_written
            .load(std::sync::atomic::Ordering::Relaxed),
        "stopped"
    );
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received"),
        _ = term => tracing::info!("SIGTERM received"),
    }
}
