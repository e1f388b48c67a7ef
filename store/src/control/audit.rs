//! The append-only audit log of analyst and admin actions. SQLite triggers refuse any
//! UPDATE or DELETE on it, so not even a bug in ncsoc can rewrite history through this
//! connection.

use rusqlite::params;
use rusqlite::types::Value as SqlValue;

use super::ControlStore;
use crate::Result;
use ncsoc_model::Timestamp;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at INTEGER NOT NULL,
    token_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_log_at ON audit_log (at);
CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

/// One recorded action.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AuditEntry {
    /// Assigned on append; ignored when appending.
    #[serde(default)]
    pub seq: i64,
    pub at: Timestamp,
    pub token_id: String,
    /// The token's name.
    pub actor: String,
    pub role: String,
    /// `incident.update`, `incident.note`, `token.create`, `webhook.delete`, ...
    pub action: String,
    /// What it acted on: an incident id, a token id, ...
    pub target: String,
    /// `ok`, or `denied` / `invalid` for refused attempts.
    pub outcome: String,
    /// What changed, as JSON (never a secret).
    pub detail: serde_json::Value,
}

/// Filters for reading the log; newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub target: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    /// Only entries older than this sequence number (cursor for the next page).
    pub before_seq: Option<i64>,
    pub limit: usize,
}

impl ControlStore {
    /// Appends an entry and returns its sequence number.
    pub fn append_audit(&self, e: &AuditEntry) -> Result<i64> {
        let detail = e.detail.to_string();
        self.call(|c| {
            c.execute(
                "INSERT INTO audit_log (at, token_id, actor, role, action, target, outcome, detail) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![e.at.nanos(), e.token_id, e.actor, e.role, e.action, e.target, e.outcome, detail],
            )?;
            Ok(c.last_insert_rowid())
        })
    }

    pub fn audit(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let mut conds = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        for (col, v) in [
            ("actor", &q.actor),
            ("action", &q.action),
            ("target", &q.target),
        ] {
            if let Some(v) = v {
                conds.push(format!("{col} = ?"));
                params.push(SqlValue::Text(v.clone()));
            }
        }
        if let Some(t) = q.from {
            conds.push("at >= ?".into());
            params.push(SqlValue::Integer(t.nanos()));
        }
        if let Some(t) = q.to {
            conds.push("at < ?".into());
            params.push(SqlValue::Integer(t.nanos()));
        }
        if let Some(s) = q.before_seq {
            conds.push("seq < ?".into());
            params.push(SqlValue::Integer(s));
        }
        let cond = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT seq, at, token_id, actor, role, action, target, outcome, detail FROM audit_log{cond} \
             ORDER BY seq DESC LIMIT {}",
            q.limit.clamp(1, 10_000)
        );
        self.call(|c| {
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(params), |r| {
                let detail: String = r.get(8)?;
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    at: Timestamp(r.get(1)?),
                    token_id: r.get(2)?,
                    actor: r.get(3)?,
                    role: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    outcome: r.get(7)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_is_append_only() {
        let c = ControlStore::in_memory().unwrap();
        let e = AuditEntry {
            seq: 0,
            at: Timestamp::from_secs(10),
            token_id: "tok_1".into(),
            actor: "alice".into(),
            role: "analyst".into(),
            action: "incident.update".into(),
            target: "inc-1".into(),
            outcome: "ok".into(),
            detail: serde_json::json!({"status": "acknowledged"}),
        };
        let s1 = c.append_audit(&e).unwrap();
        let s2 = c
            .append_audit(&AuditEntry {
                action: "incident.note".into(),
                ..e.clone()
            })
            .unwrap();
        assert!(s2 > s1);
        let all = c
            .audit(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].action, "incident.note", "newest first");
        assert_eq!(all[1].detail, e.detail);
        let only = c
            .audit(&AuditQuery {
                action: Some("incident.update".into()),
                limit: 10,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(only.len(), 1);
        assert!(c.call(|c| c.execute("DELETE FROM audit_log", [])).is_err());
        assert!(c
            .call(|c| c.execute("UPDATE audit_log SET actor = 'mallory'", []))
            .is_err());
        assert_eq!(
            c.audit(&AuditQuery {
                limit: 10,
                ..Default::default()
            })
            .unwrap()
            .len(),
            2
        );
    }
}
