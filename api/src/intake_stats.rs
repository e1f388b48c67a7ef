//! `GET /intake`: what the intake listeners have received since `ncsoc serve` started, per
//! source and per flow listener, with the rejected and dropped counts, limited to the
//! caller's sectors. The figures are the same counters `/metrics` publishes (read from its
//! renderers, so the dashboard and Prometheus never disagree); listener-wide counters that
//! belong to no sector (refused senders, kernel drops without a sector, store spooling) are
//! shown to callers who may see every sector only.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use ncsoc_store::control::Role;
use ncsoc_store::Scope;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Principal;
use crate::error::{ApiResult, ErrorBody};
use crate::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(utoipa_axum::routes!(intake))
}

/// Live intake counters since the server started.
#[derive(Debug, Default, Serialize, ToSchema, PartialEq)]
pub struct IntakeStats {
    /// Seconds since the server started (the counters start at zero then).
    pub uptime_secs: u64,
    /// One row per (listener kind, sector, source): syslog, HEC and JSON intake.
    pub sources: Vec<SourceStats>,
    /// One row per NetFlow/IPFIX/sFlow listener.
    pub flow_listeners: Vec<FlowListenerStats>,
    /// Counters that belong to no sector; present only for callers who see every sector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub global: Option<GlobalStats>,
}

#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Clone)]
pub struct SourceStats {
    /// `syslog_udp`, `syslog_tcp`, `syslog_tls`, `hec`, ...
    pub listener: String,
    pub sector: String,
    pub source: String,
    /// Messages received (frames, datagrams, HEC events).
    pub received: u64,
    pub bytes: u64,
    /// Normalised and queued for the store.
    pub parsed: u64,
    /// Not parsed or refused (kept as dead letters).
    pub rejected: u64,
}

#[derive(Debug, Default, Serialize, ToSchema, PartialEq, Clone)]
pub struct FlowListenerStats {
    pub port: u16,
    pub sector: String,
    /// Export datagrams received.
    pub datagrams: u64,
    /// Flow records decoded and queued for the store.
    pub flows: u64,
    /// Datagrams that were not a decodable export.
    pub rejected: u64,
    /// Data sets dropped: held over the limits, or whose template never came.
    pub dropped: u64,
    /// Datagrams the kernel dropped on the listener's socket (receive buffer full).
    pub kernel_drops: u64,
}

#[derive(Debug, Default, Serialize, ToSchema, PartialEq)]
pub struct GlobalStats {
    pub senders_refused: u64,
    pub connections_refused: u64,
    pub tls_handshake_failures: u64,
    pub frames_too_long: u64,
    /// HTTP intake requests answered 503 because the store pushed back.
    pub hec_busy: u64,
    pub hec_unauthorized: u64,
    pub store_rows_written: u64,
    pub store_write_errors: u64,
    pub store_rows_spooled: u64,
    /// Times intake had to wait because the spool was full.
    pub store_backpressure_waits: u64,
}

#[utoipa::path(
    get,
    path = "/intake",
    tag = "intake",
    description = "Intake counters since the server started: per source (received, parsed, \
        rejected) and per flow listener (datagrams, flows, rejected, dropped), limited to the \
        caller's sectors; sector-less counters only for callers who see every sector.",
    responses(
        (status = 200, description = "The counters", body = IntakeStats),
        (status = 401, description = "Missing or unknown token", body = ErrorBody),
        (status = 403, description = "Not an analyst token", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn intake(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<IntakeStats>> {
    principal.require(Role::Analyst)?;
    let mut text = String::with_capacity(8192);
    for m in &state.metrics {
        m.render(&mut text);
    }
    let mut stats = from_exposition(&text, &principal.scope());
    stats.uptime_secs = state.started.elapsed().as_secs();
    Ok(Json(stats))
}

/// Reads the intake, flow and store counters out of a Prometheus text exposition, keeping
/// only what `scope` may see.
pub fn from_exposition(text: &str, scope: &Scope) -> IntakeStats {
    let mut sources: BTreeMap<(String, String, String), SourceStats> = BTreeMap::new();
    let mut flows: BTreeMap<(u16, String), FlowListenerStats> = BTreeMap::new();
    let mut kernel_drops: BTreeMap<u16, u64> = BTreeMap::new();
    let mut global = GlobalStats::default();
    for line in text.lines() {
        let Some(sample) = Sample::parse(line) else {
            continue;
        };
        let label = |k: &str| sample.label(k).unwrap_or_default();
        if let Some(field) = sample.name.strip_prefix("ncsoc_intake_") {
            let key = (label("listener"), label("sector"), label("source"));
            if !key.1.is_empty() || !key.2.is_empty() {
                let row = sources.entry(key.clone()).or_insert_with(|| SourceStats {
                    listener: key.0,
                    sector: key.1,
                    source: key.2,
                    ..Default::default()
                });
                match field {
                    "received_total" => row.received = sample.value,
                    "bytes_total" => row.bytes = sample.value,
                    "parsed_total" => row.parsed = sample.value,
                    "rejected_total" => row.rejected = sample.value,
                    _ => {}
                }
                continue;
            }
            match field {
                "senders_refused_total" => global.senders_refused = sample.value,
                "connections_refused_total" => global.connections_refused = sample.value,
                "tls_handshake_failures_total" => global.tls_handshake_failures = sample.value,
                "frames_too_long_total" => global.frames_too_long = sample.value,
                "hec_busy_total" => global.hec_busy = sample.value,
                "hec_unauthorized_total" => global.hec_unauthorized = sample.value,
                _ => {}
            }
        } else if let Some(field) = sample.name.strip_prefix("ncsoc_flow_") {
            let Ok(port) = label("port").parse::<u16>() else {
                continue;
            };
            if field == "kernel_drops_total" {
                kernel_drops.insert(port, sample.value);
                continue;
            }
            let sector = label("sector");
            let row = flows
                .entry((port, sector.clone()))
                .or_insert_with(|| FlowListenerStats {
                    port,
                    sector,
                    ..Default::default()
                });
            match field {
                "datagrams_total" => row.datagrams = sample.value,
                "flows_total" => row.flows = sample.value,
                "rejected_total" => row.rejected = sample.value,
                "held_dropped_total" | "held_expired_total" => row.dropped += sample.value,
                _ => {}
            }
        } else if let Some(field) = sample.name.strip_prefix("ncsoc_store_") {
            match field {
                "rows_written_total" => global.store_rows_written = sample.value,
                "write_errors_total" => global.store_write_errors = sample.value,
                "rows_spooled_total" => global.store_rows_spooled = sample.value,
                "backpressure_waits_total" => global.store_backpressure_waits = sample.value,
                _ => {}
            }
        }
    }
    for row in flows.values_mut() {
        row.kernel_drops = kernel_drops.get(&row.port).copied().unwrap_or(0);
    }
    IntakeStats {
        uptime_secs: 0,
        sources: sources
            .into_values()
            .filter(|r| scope.allows(&r.sector))
            .collect(),
        flow_listeners: flows
            .into_values()
            .filter(|r| scope.allows(&r.sector))
            .collect(),
        global: (*scope == Scope::All).then_some(global),
    }
}

/// One sample line: `name{label="value",...} number`.
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: u64,
}

impl<'a> Sample<'a> {
    fn parse(line: &'a str) -> Option<Self> {
        if line.starts_with('#') || line.is_empty() {
            return None;
        }
        let name_end = line.find(['{', ' '])?;
        let name = &line[..name_end];
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(mut body) = rest.strip_prefix('{') {
            loop {
                body = body.strip_prefix(',').unwrap_or(body);
                if let Some(after) = body.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let (key, after) = body.split_once("=\"")?;
                let mut value = String::new();
                let mut chars = after.char_indices();
                let end = loop {
                    match chars.next()? {
                        (_, '\\') => match chars.next()?.1 {
                            'n' => value.push('\n'),
                            other => value.push(other),
                        },
                        (i, '"') => break i + 1,
                        (_, c) => value.push(c),
                    }
                };
                labels.push((key.trim(), value));
                body = &after[end..];
                if !body.starts_with([',', '}']) {
                    return None;
                }
            }
        }
        let number = rest.split_whitespace().next()?;
        let value = number.parse::<f64>().ok()?;
        Some(Self {
            name,
            labels,
            value: if value.is_finite() && value > 0.0 {
                value as u64
            } else {
                0
            },
        })
    }

    fn label(&self, key: &str) -> Option<String> {
        self.labels
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP ncsoc_intake_received_total Messages received per intake source.
# TYPE ncsoc_intake_received_total counter
ncsoc_intake_received_total{listener="syslog_udp",sector="energy",source="scada \"north\""} 12
ncsoc_intake_received_total{listener="hec",sector="finance",source="bank-siem"} 5
ncsoc_intake_parsed_total{listener="syslog_udp",sector="energy",source="scada \"north\""} 10
ncsoc_intake_rejected_total{listener="syslog_udp",sector="energy",source="scada \"north\""} 2
ncsoc_intake_bytes_total{listener="hec",sector="finance",source="bank-siem"} 900
ncsoc_intake_senders_refused_total 3
ncsoc_intake_hec_busy_total 1
ncsoc_flow_datagrams_total{port="2055",sector="finance"} 40
ncsoc_flow_flows_total{port="2055",sector="finance"} 1200
ncsoc_flow_held_dropped_total{port="2055",sector="finance"} 2
ncsoc_flow_held_expired_total{port="2055",sector="finance"} 1
ncsoc_flow_kernel_drops_total{port="2055"} 7
ncsoc_store_rows_written_total{backend="sqlite"} 1212
ncsoc_uptime_seconds 3.5
"#;

    #[test]
    fn reads_sources_flows_and_global_counters() {
        let s = from_exposition(TEXT, &Scope::All);
        assert_eq!(s.sources.len(), 2);
        let energy = s.sources.iter().find(|r| r.sector == "energy").unwrap();
        assert_eq!(energy.source, "scada \"north\"");
        assert_eq!(
            (energy.received, energy.parsed, energy.rejected),
            (12, 10, 2)
        );
        let finance = s.sources.iter().find(|r| r.sector == "finance").unwrap();
        assert_eq!((finance.received, finance.bytes), (5, 900));
        assert_eq!(
            s.flow_listeners,
            vec![FlowListenerStats {
                port: 2055,
                sector: "finance".into(),
                datagrams: 40,
                flows: 1200,
                rejected: 0,
                dropped: 3,
                kernel_drops: 7,
            }]
        );
        let g = s.global.unwrap();
        assert_eq!(
            (g.senders_refused, g.hec_busy, g.store_rows_written),
            (3, 1, 1212)
        );
    }

    #[test]
    fn a_sector_limited_caller_sees_its_sectors_and_no_global_counters() {
        let s = from_exposition(TEXT, &Scope::Sectors(vec!["energy".into()]));
        assert_eq!(s.sources.len(), 1);
        assert_eq!(s.sources[0].sector, "energy");
        assert!(s.flow_listeners.is_empty());
        assert!(s.global.is_none());
    }

    #[test]
    fn odd_lines_are_skipped() {
        for line in [
            "",
            "# comment",
            "x{a=\"unterminated} 1",
            "x{a=b} 1",
            "x{a=\"1\"",
            "x NaN",
            "x{a=\"\\",
        ] {
            let _ = Sample::parse(line);
        }
        assert_eq!(Sample::parse("x{a=\"1\",} 4").unwrap().value, 4);
        assert_eq!(Sample::parse("x -1").unwrap().value, 0);
        let s = from_exposition("ncsoc_flow_flows_total{port=\"x\"} 1\n", &Scope::All);
        assert!(s.flow_listeners.is_empty());
    }
}
