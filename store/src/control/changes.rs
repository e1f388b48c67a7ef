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
    /// oldest first, at most `limit`. The scope is applied in the query, before the
    /// limit, so fewer than `limit` changes means there are no more for now.
    pub fn changes_since(
        &self,
        after_seq: i64,
        scope: &Scope,
        limit: usize,
    ) -> Result<Vec<Change>> {
        let mut params: Vec<rusqlite::types::Value> = vec![after_seq.into()];
        let scope_cond = scope_condition(scope, &mut params);
        let Some(scope_cond) = scope_cond else {
            return Ok(Vec::new());
        };
        params.push((limit.clamp(1, 100_000) as i64).into());
        self.read_changes(
            &format!(
                "SELECT seq, at, kind, actor, doc FROM incident_changes c WHERE seq > ?{scope_cond} \
                 ORDER BY seq LIMIT ?"
            ),
            params,
        )
    }

    /// The newest `limit` changes of one incident, oldest first (the caller has checked
    /// that it may see the incident).
    pub fn changes_for(&self, incident_id: &str, limit: usize) -> Result<Vec<Change>> {
        let mut out = self.read_changes(
            "SELECT seq, at, kind, actor, doc FROM incident_changes WHERE incident_id = ? \
             ORDER BY seq DESC LIMIT ?",
            vec![
                incident_id.to_string().into(),
                (limit.clamp(1, 100_000) as i64).into(),
            ],
        )?;
        out.reverse();
        Ok(out)
    }

    fn read_changes(&self, sql: &str, params: Vec<rusqlite::types::Value>) -> Result<Vec<Change>> {
        let rows: Vec<(i64, i64, String, String, String)> = self.call(|c| {
            let mut st = c.prepare_cached(sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect()
        })?;
        rows.into_iter()
            .map(|(seq, at, kind, actor, doc)| {
                let incident: Incident = serde_json::from_str(&doc)
                    .map_err(|e| StoreError::Corrupt(format!("change {seq}: {e}")))?;
                Ok(Change {
                    seq,
                    at: Timestamp(at),
                    kind: kind.parse()?,
                    actor,
                    incident,
                })
            })
            .collect()
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
    /// sequence numbers never go back, and every change a webhook destination has not yet
    /// turned into deliveries (its cursor). Returns how many were dropped.
    pub fn prune_changes(&self, cutoff: Timestamp) -> Result<usize> {
        self.call(|c| {
            c.execute(
                "DELETE FROM incident_changes WHERE at < ?1 \
                 AND seq < (SELECT MAX(seq) FROM incident_changes) \
                 AND seq <= COALESCE((SELECT MIN(last_seq) FROM webhook_destinations), seq)",
                [cutoff.nanos()],
            )
        })
    }
}

/// ` AND <one of the change's sectors is in scope>` over `incident_changes c`, with its
/// parameters appended; `None` when the scope allows nothing.
fn scope_condition(scope: &Scope, params: &mut Vec<rusqlite::types::Value>) -> Option<String> {
    match scope {
        Scope::All => Some(String::new()),
        Scope::Sectors(s) if s.is_empty() => None,
        Scope::Sectors(s) => {
            params.extend(s.iter().map(|v| v.clone().into()));
            Some(format!(
                " AND EXISTS (SELECT 1 FROM json_each(c.sectors) j WHERE j.value IN ({}))",
                vec!["?"; s.len()].join(",")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ncsoc_model::{IncidentKind, Severity, Status};

    fn incident(id: &str, sectors: &[&str]) -> Incident {
        Incident {
            id: id.into(),
            title: id.into(),
            kind: IncidentKind::PortScan,
            severity: Severity::Low,
            score: 10,
            status: Status::New,
            sectors: sectors.iter().map(|s| s.to_string()).collect(),
            entities: vec![],
            first_seen: Timestamp(0),
            last_seen: Timestamp(0),
            evidence: vec![],
            attack: vec![],
            assignee: None,
            notes: vec![],
            tags: vec![],
            dedup_key: String::new(),
            signal_count: 1,
            updated_at: Timestamp(0),
            merged_into: None,
            merged_from: vec![],
            merged_signal_count: 0,
        }
    }

    #[test]
    fn pruning_keeps_what_a_webhook_destination_has_not_dispatched() {
        let c = ControlStore::in_memory().unwrap();
        let inc = incident("a", &["energy"]);
        c.append_change(Timestamp(1), ChangeKind::Opened, "detector", &inc)
            .unwrap();
        c.create_webhook_destination(
            "cc",
            super::super::webhooks::DestinationSource::Api,
            &serde_json::json!({}),
            "s",
            Timestamp(1),
        )
        .unwrap(); // its cursor: seq 1
        for n in 2..=10 {
            c.append_change(Timestamp(n), ChangeKind::Updated, "detector", &inc)
                .unwrap();
        }
        // Everything is old, but the destination has dispatched only up to seq 1.
        assert_eq!(c.prune_changes(Timestamp(100)).unwrap(), 1);
        assert_eq!(c.changes_since(0, &Scope::All, 100).unwrap()[0].seq, 2);
        c.call(|c| c.execute("UPDATE webhook_destinations SET last_seq = 7", []))
            .unwrap();
        assert_eq!(c.prune_changes(Timestamp(100)).unwrap(), 6);
        c.call(|c| c.execute("DELETE FROM webhook_destinations", []))
            .unwrap();
        // Without destinations all but the newest go; sequence numbers never go back.
        assert_eq!(c.prune_changes(Timestamp(100)).unwrap(), 2);
        assert_eq!(c.last_change_seq().unwrap(), 10);
    }

    #[test]
    fn scope_applies_before_the_limit() {
        let c = ControlStore::in_memory().unwrap();
        for n in 0..50 {
            c.append_change(
                Timestamp(n),
                ChangeKind::Opened,
                "detector",
                &incident(&format!("e{n}"), &["energy"]),
            )
            .unwrap();
        }
        c.append_change(
            Timestamp(99),
            ChangeKind::Opened,
            "detector",
            &incident("f", &["finance", "health"]),
        )
        .unwrap();
        let health = Scope::Sectors(vec!["health".into()]);
        // One page of 10 reaches past the 50 energy changes to the one health may see.
        let got = c.changes_since(0, &health, 10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].incident.id, "f");
        assert_eq!(got[0].seq, 51);
        assert!(c
            .changes_since(0, &Scope::Sectors(vec![]), 10)
            .unwrap()
            .is_empty());
        assert_eq!(c.changes_since(45, &Scope::All, 100).unwrap().len(), 6);
    }

    #[test]
    fn changes_of_one_incident_newest_kept_oldest_first() {
        let c = ControlStore::in_memory().unwrap();
        for (n, kind) in [
            ChangeKind::Opened,
            ChangeKind::Updated,
            ChangeKind::Worked,
            ChangeKind::Noted,
        ]
        .into_iter()
        .enumerate()
        {
            c.append_change(Timestamp(n as i64), kind, "x", &incident("a", &["energy"]))
                .unwrap();
            c.append_change(Timestamp(n as i64), kind, "x", &incident("b", &["energy"]))
                .unwrap();
        }
        let got = c.changes_for("a", 3).unwrap();
        let kinds: Vec<ChangeKind> = got.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [ChangeKind::Updated, ChangeKind::Worked, ChangeKind::Noted]
        );
        assert!(got.iter().all(|c| c.incident.id == "a"));
        assert!(c.changes_for("zzz", 3).unwrap().is_empty());
    }
}
