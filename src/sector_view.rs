//! What `GET /sectors` shows of the detector: a snapshot the detector thread publishes
//! every few seconds while records queue up (at once when a sector appears, and whenever
//! it has caught up with its input), which the API reads without waiting for the
//! detector. Each sector's scoring profile is kept as a copy of its seasonal baseline,
//! turned into the per-slot profile only when asked.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

use ncsoc_api::sectors::{BinStatus, ProfileSlot, SectorStatus, Tracked, VolumeProfile};
use ncsoc_api::SectorView;
use ncsoc_detector::stats::SeasonalBaseline;
use ncsoc_detector::{Detector, DetectorConfig};
use ncsoc_model::Timestamp;
use ncsoc_store::Scope;

/// How often the detector thread publishes while records flow.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// 1970-01-05, a Monday, and 1970-01-10, a Saturday (UTC), in seconds: where the weekday
/// and weekend profiles are read.
const MONDAY: i64 = 4 * 86_400;
const SATURDAY: i64 = 9 * 86_400;

pub struct SectorBoard {
    bin_secs: u32,
    slot_secs: u32,
    lateness_ms: i64,
    board: RwLock<Board>,
}

#[derive(Default)]
struct Board {
    at: Option<Timestamp>,
    /// By sector name.
    sectors: Vec<(SectorStatus, SeasonalBaseline)>,
}

fn ms_time(ms: i64) -> String {
    Timestamp::from_millis(ms).to_rfc3339()
}

impl SectorBoard {
    pub fn new(cfg: &DetectorConfig) -> Self {
        Self {
            bin_secs: cfg.bin_secs,
            slot_secs: cfg.volume.slot_secs.clamp(60, 86_400),
            lateness_ms: i64::from(cfg.lateness_secs) * 1000,
            board: RwLock::default(),
        }
    }

    /// Takes a snapshot of `d` (on the detector thread: a few microseconds per sector).
    pub fn publish(&self, d: &Detector) {
        let mut open: HashMap<&str, u64> = HashMap::new();
        for inc in d.open_incidents() {
            for s in &inc.sectors {
                *open.entry(s.as_str()).or_default() += 1;
            }
        }
        let mut sectors: Vec<(SectorStatus, SeasonalBaseline)> = d
            .sectors()
            .iter()
            .map(|s| {
                let snap = &s.snapshot;
                let seen = s.max_ms != i64::MIN;
                let mut tracked = Tracked {
                    beacon_pairs: s.beacons.len() as u64,
                    ..Tracked::default()
                };
                for b in &s.fast.bins {
                    tracked.sources += b.sources.len() as u64;
                    tracked.destinations += b.dests.len() as u64;
                    tracked.pairs += b.pairs.len() as u64;
                }
                let closed = snap.bin_start_ms != 0 || snap.flows != 0;
                let status = SectorStatus {
                    sector: s.name.clone(),
                    watermark: seen.then(|| ms_time(s.max_ms.saturating_sub(self.lateness_ms))),
                    latest_record: seen.then(|| ms_time(s.max_ms)),
                    learning_since: s.first_ms.map(ms_time),
                    warm: snap.warm,
                    last_bin: closed.then(|| BinStatus {
                        start: ms_time(snap.bin_start_ms),
                        width_seconds: self.bin_secs,
                        flows: snap.flows,
                        bytes: snap.bytes,
                        expected_flows: snap.expected_flows,
                        deviation: snap.deviation,
                        score: snap.score,
                        src_entropy: snap.src_entropy,
                        dst_entropy: snap.dst_entropy,
                        port_entropy: snap.port_entropy,
                    }),
                    tracked,
                    late_records: s.late,
                    open_incidents: open.get(s.name.as_str()).copied().unwrap_or(0),
                };
                (status, s.volume_frozen.clone())
            })
            .collect();
        sectors.sort_by(|a, b| a.0.sector.cmp(&b.0.sector));
        let mut board = self.board.write().unwrap_or_else(|p| p.into_inner());
        *board = Board {
            at: Some(Timestamp::now()),
            sectors,
        };
    }
}

impl SectorView for SectorBoard {
    fn as_of(&self) -> Option<Timestamp> {
        self.board.read().ok().and_then(|b| b.at)
    }

    fn sectors(&self, scope: &Scope) -> Vec<SectorStatus> {
        let board = self.board.read().unwrap_or_else(|p| p.into_inner());
        board
            .sectors
            .iter()
            .filter(|(s, _)| scope.allows(&s.sector))
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn profile(&self, sector: &str, scope: &Scope) -> Option<VolumeProfile> {
        if !scope.allows(sector) {
            return None;
        }
        let board = self.board.read().unwrap_or_else(|p| p.into_inner());
        let (_, baseline) = board.sectors.iter().find(|(s, _)| s.sector == sector)?;
        let slots = |day: i64| -> Vec<ProfileSlot> {
            (0..baseline.slots_per_day())
                .map(|i| {
                    let offset = i64::from(i) * i64::from(self.slot_secs);
                    let e = baseline.expected(day + offset);
                    ProfileSlot {
                        start: format!("{:02}:{:02}", offset / 3600, offset / 60 % 60),
                        expected: e.map(|e| e.mean),
                        deviation: e.map(|e| e.deviation),
                        observations: e.map_or(0, |e| e.observations),
                    }
                })
                .collect()
        };
        Some(VolumeProfile {
            sector: sector.to_string(),
            slot_seconds: self.slot_secs,
            bin_seconds: self.bin_secs,
            weekday: slots(MONDAY),
            weekend: slots(SATURDAY),
        })
    }
}
