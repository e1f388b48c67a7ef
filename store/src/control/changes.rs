//! The incident change log: every change to an incident (opened by the detector, updated
//! by new signals, escalated, worked by an analyst, merged) is appended here with a
//! sequence number. The live stream (SSE ids, resume with `Last-Event-ID`) and the webhook
//! dispatcher read from it, so neither loses a change across a restart.

use rusqlite::params;

use super::{json_list, ControlStore};
use crate::{Result, Scope, StoreError};
use ncsoc_model::{Incident, Timestamp};

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS incident_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    incident_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    sectors TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incident_changes_incident ON incident_changes (incident_id, seq);";

/// What happened to an incident. Also the `X-Ncsoc-Event` of a webhook delivery
/// (`incident.<kind>`) and the SSE event name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// The detector opened it.
    Opened,
    /// New signals folded in, nothing a person must react to.
    Updated,
    /// Severity went up, or a new sector joined.
    Escalated,
    /// An analyst changed status, assignee or tags.
    Worked,
    /// An analyst added a note.
    Noted,
    /// It was merged into another incident (the change carries the one it was merged into).
    Merged,
    /// A resolved or closed incident saw new activity and is new again.
    Reopened,
}

impl ChangeKind {
    pub const ALL: &'static [ChangeKind] = &[
        ChangeKind::Opened,
        ChangeKind::Updated,
        ChangeKind::Escalated,
        ChangeKind::Worked,
        ChangeKind::Noted,
        ChangeKind::Merged,
        ChangeKind::Reopened,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Opened => "opened",
            ChangeKind::Updated => "updated",
            ChangeKind::Escalated => "escalated",
            ChangeKind::Worked => "worked",
            ChangeKind::Noted => "noted",
            ChangeKind::Merged => "merged",
            ChangeKind::Reopened => "reopened",
        }
    }

    /// The webhook / SSE event name.
    pub fn event_name(self) -> String {
        format!("incident.{}", self.as_str())
    }
}

impl std::str::FromStr for ChangeKind {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.strip_prefix("incident.").unwrap_or(s);
        ChangeKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                StoreError::BadQuery(format!(
                    "unknown change kind `{}`",
                    s.chars().take(32).collect::<String>()
                ))
            })
    }
}

/// One entry of the log: the incident as it was right after the change.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Change {
    pub seq: i64,
    pub at: Timestamp,
    pub kind: ChangeKind,
    /// `detector`, or the token name of the analyst.
    pub actor: String,
    pub incident: Incident,
}

impl ControlStore {
    /// Appends a change; returns its sequence number.
    pub fn append_change(
        &self,
        at: Timestamp,
        kind: ChangeKind,
        actor: &str,
        incident: &Incident,
    ) -> Result<i64> {
        let doc =
            serde_json::to_string(incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.call(|c| {
            c.execute(
                "INSERT INTO incident_changes (at, incident_id, kind, actor, sectors, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    at.nanos(),
                    incident.id,
                    kind.as_str(),
                    actor,
                    json_list(&incident.sectors),
                    doc
                ],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Changes after `after_seq` that `scope` may see (one of the incident's sectors),
    /// oldest first, at most `limit`.
    pub fn changes_since(
        &self,
        after_seq: i64,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Change>> {
        let limit = limit.clamp(1, 100_000) as i64;
        let rows: Vec<(i64, i64, String, String, String)> = self.call(|c| {
            let mut st = c.prepare_cached(
                "SELECT seq, at, kind, actor, doc FROM incident_changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let rows = st.query_map(params![after_seq, limit], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect()
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (seq, at, kind, actor, doc) in rows {
            let incident: Incident = serde_json::from_str(&doc)
                .map_err(|e| StoreError::Corrupt(format!("change {seq}: {e}")))?;
            if !incident.sectors.iter().any(|s| scope.allows(s)) {
                continue;
            }
            out.push(Change {
                seq,
                at: Timestamp(at),
                kind: kind.parse()?,
                actor,
                incident,
            });
        }
        Ok(out)
    }

    /// The newest sequence number (0 when the log is empty).
    pub fn last_change_seq(&self) -> Result<i64> {
        self.call(|c| {
            c.query_row(
                "SELECT COALESCE(MAX(seq), 0) FROM incident_changes",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Drops changes older than `cutoff` (wall clock), keeping at least the newest one so
    /// sequence numbers never go back. Returns how many were dropped.
    pub fn prune_changes(&self, cutoff: Timestamp) -> Result<usize> {
        self.call(|c| {
            c.execute(
                "DELETE FROM incident_changes WHERE at < ?1 AND seq < (SELECT MAX(seq) FROM incident_changes)",
                [cutoff.nanos()],
            )
        })
    }
}
