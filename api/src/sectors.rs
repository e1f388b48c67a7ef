//! Sectors: each one's detector state (watermark, tracked entities, the last closed bin
//! against its learned baseline, open incidents) and its learned volume profile, with the
//! observed flow counts beside the expected band for charts.
//!
//! The detector runs on its own thread; it publishes a snapshot every few seconds into a
//! [`SectorView`] that the handlers read, so a request never waits for the detector.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::Json;
use ncsoc_model::Timestamp;
use ncsoc_store::control::Role;
use ncsoc_store::search::bucket_range;
use ncsoc_store::{EventQuery, Scope, Table};
use utoipa::openapi::path::{Parameter, ParameterIn};
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::params::{check_sector, query_param, time_schema, Params};
use crate::AppState;

/// What the detector publishes about the sectors it tracks.
pub trait SectorView: Send + Sync {
    /// When the snapshot was taken (wall time); `None` before the first one.
    fn as_of(&self) -> Option<Timestamp>;
    /// The sectors `scope` may see, by name.
    fn sectors(&self, scope: &Scope) -> Vec<SectorStatus>;
    /// A sector's learned volume profile, if `scope` may see it and the detector tracks it.
    fn profile(&self, sector: &str, scope: &Scope) -> Option<VolumeProfile>;
}

/// A sector's detector state.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct SectorStatus {
    pub sector: String,
    /// Event time up to which the sector's time bins are closed: its latest record minus the
    /// allowed lateness (RFC 3339); null before its first record.
    pub watermark: Option<String>,
    /// Event time of its latest record.
    pub latest_record: Option<String>,
    /// Event time of its first record: the baseline has learned since then.
    pub learning_since: Option<String>,
    /// Whether the warm-up is over (volume anomalies are scored only then).
    pub warm: bool,
    /// The last closed fast bin against the baseline; null until one has closed.
    pub last_bin: Option<BinStatus>,
    /// Entities in the open bins and long-lived tables.
    pub tracked: Tracked,
    /// Records that arrived after their bin had closed.
    pub late_records: u64,
    /// Incidents of this sector the detector holds open for correlation.
    pub open_incidents: u64,
}

/// One closed fast bin of a sector against its seasonal baseline.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct BinStatus {
    /// Start of the bin (RFC 3339).
    pub start: String,
    pub width_seconds: u32,
    /// Flow records observed in the bin.
    pub flows: u64,
    pub bytes: u64,
    /// What the baseline expected for this slot (flow records per bin); null while the
    /// slot is still learning.
    pub expected_flows: Option<f64>,
    /// The expected spread (σ estimate) around it.
    pub deviation: Option<f64>,
    /// The anomaly score of the bin, if scored.
    pub score: Option<f64>,
    /// Shannon entropy (bits) of source addresses, destination addresses, destination ports.
    pub src_entropy: f64,
    pub dst_entropy: f64,
    pub port_entropy: f64,
}

/// Sizes of a sector's tracking tables.
#[derive(Debug, Clone, Default, serde::Serialize, utoipa::ToSchema)]
pub struct Tracked {
    /// Sources in the open bins.
    pub sources: u64,
    /// Destinations in the open bins.
    pub destinations: u64,
    /// Source-destination pairs in the open bins.
    pub pairs: u64,
    /// Pairs followed for beaconing.
    pub beacon_pairs: u64,
}

/// The sectors' detector state.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SectorList {
    /// When the detector published this state (wall time, RFC 3339); null if it has not.
    pub as_of: Option<String>,
    pub items: Vec<SectorStatus>,
}

/// A sector's learned volume profile: expected flow records per fast bin, for each slot of
/// a weekday and of a weekend day (UTC).
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct VolumeProfile {
    pub sector: String,
    /// Width of a profile slot.
    pub slot_seconds: u32,
    /// Width of the fast bins the profile counts.
    pub bin_seconds: u32,
    /// Monday to Friday, from 00:00 UTC.
    pub weekday: Vec<ProfileSlot>,
    /// Saturday and Sunday, from 00:00 UTC.
    pub weekend: Vec<ProfileSlot>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ProfileSlot {
    /// Time of day the slot starts (`HH:MM`, UTC).
    pub start: String,
    /// Expected flow records per bin; null while the slot is still learning.
    pub expected: Option<f64>,
    pub deviation: Option<f64>,
    /// Bins the slot has learned from.
    pub observations: u64,
}

impl VolumeProfile {
    /// The slot of the profile that time `t` falls in.
    pub fn slot_at(&self, t: Timestamp) -> Option<&ProfileSlot> {
        let secs = t.secs();
        // 1970-01-01 was a Thursday: with Monday = 0 it is day 3.
        let weekend = (secs.div_euclid(86_400) + 3).rem_euclid(7) >= 5;
        let slot = (secs.rem_euclid(86_400) / i64::from(self.slot_seconds.max(1))) as usize;
        if weekend {
            self.weekend.get(slot)
        } else {
            self.weekday.get(slot)
        }
    }
}

/// Observed against expected, bin by bin.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BaselineChart {
    pub profile: VolumeProfile,
    pub from: String,
    pub to: String,
    /// One point per fast bin of the window that had flow records or an expectation.
    pub points: Vec<BaselinePoint>,
}

#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BaselinePoint {
    /// Start of the bin (RFC 3339).
    pub start: String,
    /// Flow records stored for the sector in the bin.
    pub observed: u64,
    /// Expected flow records per bin in this slot, and the spread; null while learning.
    pub expected: Option<f64>,
    pub deviation: Option<f64>,
}

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(utoipa_axum::routes!(list_sectors))
        .routes(utoipa_axum::routes!(sector_baseline))
}

/// Sectors and their detector state.
///
/// Every sector the token may read that the detector tracks: its watermark, tracked
/// entities, the last closed bin against the learned baseline, and open incidents. The
/// state is a snapshot the detector publishes every few seconds (`as_of`).
#[utoipa::path(
    get,
    path = "/sectors",
    tag = "sectors",
    responses(
        (status = 200, description = "The sectors' state", body = SectorList),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not read sectors", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn list_sectors(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<SectorList>> {
    principal.require(Role::Analyst)?;
    let scope = principal.scope();
    Ok(Json(match &state.sectors {
        None => SectorList {
            as_of: None,
            items: Vec::new(),
        },
        Some(view) => SectorList {
            as_of: view.as_of().map(Timestamp::to_rfc3339),
            items: view.sectors(&scope),
        },
    }))
}

/// Query parameters of the baseline chart.
pub struct BaselineParams;

impl IntoParams for BaselineParams {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        vec![
            query_param(
                "from",
                "Start of the chart (RFC 3339). Default: `to` minus 6 hours.",
                time_schema(),
            ),
            query_param(
                "to",
                "End of the chart (RFC 3339). Default: now. At most 1440 bins (a day of \
                 60 s bins).",
                time_schema(),
            ),
        ]
    }
}

/// A sector's baseline against what was observed.
///
/// The sector's learned volume profile, and for each fast bin of the window the flow
/// records stored against the expected value and spread — the chart of observed traffic
/// inside its expected band.
#[utoipa::path(
    get,
    path = "/sectors/{sector}/baseline",
    tag = "sectors",
    params(
        ("sector" = String, Path, description = "The sector"),
        BaselineParams
    ),
    responses(
        (status = 200, description = "The profile and the chart", body = BaselineChart),
        (status = 400, description = "A parameter is malformed or out of range", body = ErrorBody),
        (status = 401, description = "No valid token", body = ErrorBody),
        (status = 403, description = "The token may not read sectors", body = ErrorBody),
        (status = 404, description = "No such sector (or not one the token may read)", body = ErrorBody),
        (status = 429, description = "Too many requests", body = ErrorBody),
        (status = 503, description = "The store is unavailable", body = ErrorBody),
    ),
    security(("bearer" = []))
)]
async fn sector_baseline(
    State(state): State<AppState>,
    principal: Principal,
    Path(sector): Path<String>,
    RawQuery(raw): RawQuery,
) -> ApiResult<Json<BaselineChart>> {
    principal.require(Role::Analyst)?;
    check_sector(&sector)?;
    let mut p = Params::parse(raw.as_deref())?;
    let to = p.time("to")?.unwrap_or_else(Timestamp::now);
    let from = p.time("from")?.unwrap_or(Timestamp(
        to.nanos().saturating_sub(6 * 3_600 * 1_000_000_000),
    ));
    p.finish()?;
    let scope = principal.scope();
    let not_found = || ApiError::not_found(format!("no sector `{}`", crate::params::clip(&sector)));
    let view: &Arc<dyn SectorView> = state.sectors.as_ref().ok_or_else(not_found)?;
    let profile = view.profile(&sector, &scope).ok_or_else(not_found)?;
    let (width, lo, hi) = bucket_range(from, to, profile.bin_seconds)?;
    let mut q = EventQuery::new(scope);
    q.sector = Some(sector.clone());
    q.from = Some(from);
    q.to = Some(to);
    let observed = state
        .store
        .timeseries(Table::Flows, &q, profile.bin_seconds)
        .await?;
    let mut counts = observed
        .iter()
        .map(|b| (b.start.nanos(), b.count))
        .peekable();
    let mut points = Vec::new();
    let mut t = lo;
    while t < hi {
        let mut n = 0;
        while let Some((start, c)) = counts.next_if(|(s, _)| *s <= t) {
            if start == t {
                n += c;
            }
        }
        let slot = profile.slot_at(Timestamp(t));
        let expected = slot.and_then(|s| s.expected);
        if n > 0 || expected.is_some() {
            points.push(BaselinePoint {
                start: Timestamp(t).to_rfc3339(),
                observed: n,
                expected,
                deviation: slot.and_then(|s| s.deviation),
            });
        }
        t += width;
    }
    Ok(Json(BaselineChart {
        profile,
        from: from.to_rfc3339(),
        to: to.to_rfc3339(),
        points,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_the_utc_week() {
        let slot = |start: &str, e: f64| ProfileSlot {
            start: start.into(),
            expected: Some(e),
            deviation: None,
            observations: 3,
        };
        let p = VolumeProfile {
            sector: "s".into(),
            slot_seconds: 43_200,
            bin_seconds: 60,
            weekday: vec![slot("00:00", 1.0), slot("12:00", 2.0)],
            weekend: vec![slot("00:00", 3.0), slot("12:00", 4.0)],
        };
        // 2026-11-27 is a Friday, 2026-11-28 a Saturday.
        let t = |s: &str| Timestamp::parse_rfc3339(s).unwrap();
        assert_eq!(
            p.slot_at(t("2026-11-27T13:00:00Z")).unwrap().expected,
            Some(2.0)
        );
        assert_eq!(
            p.slot_at(t("2026-11-28T01:00:00Z")).unwrap().expected,
            Some(3.0)
        );
        assert_eq!(
            p.slot_at(t("2026-11-29T23:59:59Z")).unwrap().expected,
            Some(4.0)
        );
        assert_eq!(
            p.slot_at(t("2026-11-30T00:00:00Z")).unwrap().expected,
            Some(1.0)
        );
    }
}
