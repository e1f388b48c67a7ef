//! Webhook destinations, the dispatcher's cursor in the change log, and the delivery
//! outbox (pending, delivered, dead).
//!
//! Each destination keeps its own cursor (`last_seq`) in the incident change log. The
//! dispatcher reads changes after the cursor, decides which ones the destination wants,
//! and in ONE transaction inserts their deliveries and moves the cursor, so a crash
//! between the two can neither lose a change nor enqueue it twice (a delivery is also
//! unique per destination and change). A delivery's body is fixed when it is enqueued:
//! every retry sends the same bytes under the same idempotency key (the delivery id).
//!
//! What a destination wants and how a body looks is the API crate's business: the store
//! keeps the destination's settings as an opaque JSON document, and its secret apart.

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter, OptionalExtension};

use super::{json_list, ControlStore};
use crate::{Result, Scope, StoreError};
use ncsoc_model::Timestamp;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS webhook_destinations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    spec TEXT NOT NULL,
    secret TEXT NOT NULL,
    last_seq INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY,
    destination_id INTEGER NOT NULL REFERENCES webhook_destinations (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    sectors TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    status TEXT NOT NULL,
    last_error TEXT,
    last_status INTEGER,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER,
    UNIQUE (destination_id, seq)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due
    ON webhook_deliveries (destination_id, status, next_attempt_at, seq);
CREATE INDEX IF NOT EXISTS webhook_deliveries_status
    ON webhook_deliveries (status, destination_id, seq);";

/// Where a destination was defined: `ncsoc.toml` (upserted at every start, removed when
/// it leaves the file) or the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationSource {
    Config,
    Api,
}

impl DestinationSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DestinationSource::Config => "config",
            DestinationSource::Api => "api",
        }
    }
}

/// A destination as stored. `spec` is the API crate's settings document (URL, filter,
/// format, timeouts); `secret` is empty when the secret comes from the environment.
#[derive(Clone, PartialEq)]
pub struct Destination {
    pub id: i64,
    pub name: String,
    pub source: DestinationSource,
    pub spec: serde_json::Value,
    pub secret: String,
    /// The last change-log sequence number the dispatcher has looked at for it.
    pub last_seq: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Destination")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("source", &self.source)
            .field("spec", &self.spec)
            .field(
                "secret",
                &if self.secret.is_empty() {
                    ""
                } else {
                    "<hidden>"
                },
            )
            .field("last_seq", &self.last_seq)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not yet acknowledged; sent (again) at `next_attempt_at`.
    Pending,
    /// The destination answered 2xx.
    Delivered,
    /// Every attempt failed; kept with the last error until an admin requeues it.
    Dead,
}

impl DeliveryStatus {
    pub const ALL: &'static [DeliveryStatus] = &[
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Dead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        DeliveryStatus::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                StoreError::BadQuery(format!(
                    "unknown delivery status `{}` (pending, delivered, dead)",
                    s.chars().take(32).collect::<String>()
                ))
            })
    }
}

/// A delivery to enqueue: its id (the idempotency key) and body are made by the caller.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub seq: i64,
    pub event: String,
    pub incident_id: String,
    pub sectors: Vec<String>,
    pub content_type: String,
    pub body: String,
}

/// What the dispatcher decided for one destination over a stretch of the change log:
/// the cursor moves from `from_seq` to `to_seq`, and these deliveries are enqueued.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    pub destination_id: i64,
    /// The cursor the decision was made from; if it moved meanwhile, nothing is done.
    pub from_seq: i64,
    pub to_seq: i64,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: String,
    pub destination_id: i64,
    pub destination: String,
    pub seq: i64,
    pub event: String,
    pub incident_id: String,
    pub sectors: Vec<String>,
    pub content_type: String,
    pub body: String,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub status: DeliveryStatus,
    pub last_error: Option<String>,
    pub last_status: Option<u16>,
    pub created_at: Timestamp,
    pub delivered_at: Option<Timestamp>,
}

/// The next thing a destination's sender should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Due {
    /// Send this one now (the oldest due delivery of the destination, by change order).
    Now(Box<Delivery>),
    /// Nothing is due before this time.
    At(Timestamp),
    /// Nothing is pending.
    Idle,
}

/// The outcome of one failed attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub at: Timestamp,
    /// The HTTP status, when the destination answered.
    pub status: Option<u16>,
    pub error: String,
    /// When to try again; `None` makes the delivery dead.
    pub retry_at: Option<Timestamp>,
}

/// Deliveries of one destination by status, for the gauges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub destination: String,
    pub pending: u64,
    pub delivered: u64,
    pub dead: u64,
}

/// Filters for listing deliveries; oldest change first.
#[derive(Debug, Clone)]
pub struct DeliveryQuery {
    pub scope: Scope,
    pub destination_id: i64,
    pub status: Option<DeliveryStatus>,
    /// Only deliveries of changes after this sequence number (cursor for the next page).
    pub after_seq: i64,
    pub limit: usize,
}

const DESTINATION_COLUMNS: &str =
    "id, name, source, spec, secret, last_seq, created_at, updated_at";

fn read_destination(r: &rusqlite::Row<'_>) -> rusqlite::Result<Destination> {
    let source: String = r.get(2)?;
    let spec: String = r.get(3)?;
    Ok(Destination {
        id: r.get(0)?,
        name: r.get(1)?,
        source: if source == "config" {
            DestinationSource::Config
        } else {
            DestinationSource::Api
        },
        spec: serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null),
        secret: r.get(4)?,
        last_seq: r.get(5)?,
        created_at: Timestamp(r.get(6)?),
        updated_at: Timestamp(r.get(7)?),
    })
}

const DELIVERY_COLUMNS: &str = "d.id, d.destination_id, w.name, d.seq, d.event, d.incident_id, \
     d.sectors, d.content_type, d.body, d.attempts, d.next_attempt_at, d.status, d.last_error, \
     d.last_status, d.created_at, d.delivered_at";

fn read_delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    let sectors: String = r.get(6)?;
    let status: String = r.get(11)?;
    Ok(Delivery {
        id: r.get(0)?,
        destination_id: r.get(1)?,
        destination: r.get(2)?,
        seq: r.get(3)?,
        event: r.get(4)?,
        incident_id: r.get(5)?,
        sectors: super::parse_json_list(&sectors),
        content_type: r.get(7)?,
        body: r.get(8)?,
        attempts: r.get::<_, i64>(9)?.clamp(0, i64::from(u32::MAX)) as u32,
        next_attempt_at: Timestamp(r.get(10)?),
        status: status.parse().unwrap_or(DeliveryStatus::Pending),
        last_error: r.get(12)?,
        last_status: r
            .get::<_, Option<i64>>(13)?
            .and_then(|s| u16::try_from(s).ok()),
        created_at: Timestamp(r.get(14)?),
        delivered_at: r.get::<_, Option<i64>>(15)?.map(Timestamp),
    })
}

/// The SQL condition (and its parameters) that a delivery's sectors meet `scope`.
fn scope_condition(scope: &Scope, args: &mut Vec<SqlValue>) -> String {
    match scope {
        Scope::All => "1".into(),
        Scope::Sectors(sectors) => {
            if sectors.is_empty() {
                return "0".into();
            }
            let marks = vec!["?"; sectors.len()].join(", ");
            args.extend(sectors.iter().map(|s| SqlValue::Text(s.clone())));
            format!(
                "EXISTS (SELECT 1 FROM json_each(d.sectors) WHERE json_each.value IN ({marks}))"
            )
        }
    }
}

impl ControlStore {
    /// Creates a destination, or (same name) replaces its settings and secret while
    /// keeping its cursor and outbox. A new destination starts at the end of the change
    /// log: it receives what happens from now on. Returns it and whether it is new.
    pub fn upsert_webhook_destination(
        &self,
        name: &str,
        source: DestinationSource,
        spec: &serde_json::Value,
        secret: &str,
        now: Timestamp,
    ) -> Result<(Destination, bool)> {
        let spec = spec.to_string();
        self.call(|c| {
            let tx = c.transaction()?;
            let existed: bool = tx
                .query_row(
                    "SELECT 1 FROM webhook_destinations WHERE name = ?1",
                    [name],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            tx.execute(
                "INSERT INTO webhook_destinations (name, source, spec, secret, last_seq, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) FROM incident_changes), ?5, ?5) \
                 ON CONFLICT (name) DO UPDATE SET source = excluded.source, spec = excluded.spec, \
                 secret = excluded.secret, updated_at = excluded.updated_at",
                params![name, source.as_str(), spec, secret, now.nanos()],
            )?;
            let d = tx.query_row(
                &format!("SELECT {DESTINATION_COLUMNS} FROM webhook_destinations WHERE name = ?1"),
                [name],
                read_destination,
            )?;
            tx.commit()?;
            Ok((d, !existed))
        })
    }

    /// Creates a destination unless one of that name exists (then `None`).
    pub fn create_webhook_destination(
        &self,
        name: &str,
        source: DestinationSource,
        spec: &serde_json::Value,
        secret: &str,
        now: Timestamp,
    ) -> Result<Option<Destination>> {
        let spec = spec.to_string();
        self.call(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO webhook_destinations (name, source, spec, secret, last_seq, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, (SELECT COALESCE(MAX(seq), 0) FROM incident_changes), ?5, ?5)",
                params![name, source.as_str(), spec, secret, now.nanos()],
            )?;
            if n == 0 {
                return Ok(None);
            }
            c.query_row(
                &format!("SELECT {DESTINATION_COLUMNS} FROM webhook_destinations WHERE name = ?1"),
                [name],
                read_destination,
            )
            .map(Some)
        })
    }

    /// Every destination, by name.
    pub fn webhook_destinations(&self) -> Result<Vec<Destination>> {
        self.call(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {DESTINATION_COLUMNS} FROM webhook_destinations ORDER BY name"
            ))?;
            let rows = st.query_map([], read_destination)?;
            rows.collect()
        })
    }

    pub fn webhook_destination(&self, name: &str) -> Result<Option<Destination>> {
        self.call(|c| {
            c.query_row(
                &format!("SELECT {DESTINATION_COLUMNS} FROM webhook_destinations WHERE name = ?1"),
                [name],
                read_destination,
            )
            .optional()
        })
    }

    pub fn webhook_destination_by_id(&self, id: i64) -> Result<Option<Destination>> {
        self.call(|c| {
            c.query_row(
                &format!("SELECT {DESTINATION_COLUMNS} FROM webhook_destinations WHERE id = ?1"),
                [id],
                read_destination,
            )
            .optional()
        })
    }

    /// Deletes a destination and its whole outbox. Returns how many deliveries were
    /// still pending, or `None` when there was no such destination.
    pub fn delete_webhook_destination(&self, name: &str) -> Result<Option<u64>> {
        self.call(|c| {
            let tx = c.transaction()?;
            let Some(id): Option<i64> = tx
                .query_row(
                    "SELECT id FROM webhook_destinations WHERE name = ?1",
                    [name],
                    |r| r.get(0),
                )
                .optional()?
            else {
                return Ok(None);
            };
            let pending: i64 = tx.query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE destination_id = ?1 AND status = 'pending'",
                [id],
                |r| r.get(0),
            )?;
            tx.execute("DELETE FROM webhook_deliveries WHERE destination_id = ?1", [id])?;
            tx.execute("DELETE FROM webhook_destinations WHERE id = ?1", [id])?;
            tx.commit()?;
            Ok(Some(pending.max(0) as u64))
        })
    }

    /// Enqueues deliveries and moves cursors, all in one transaction. A destination
    /// whose cursor is no longer at `from_seq` (or that was deleted) is skipped whole.
    /// Returns how many deliveries were enqueued.
    pub fn enqueue_webhook_deliveries(&self, batch: &[Dispatch], now: Timestamp) -> Result<usize> {
        self.call(|c| {
            let tx = c.transaction()?;
            let mut enqueued = 0;
            for d in batch {
                debug_assert!(d.to_seq >= d.from_seq);
                let moved = tx.execute(
                    "UPDATE webhook_destinations SET last_seq = ?1 WHERE id = ?2 AND last_seq = ?3",
                    params![d.to_seq, d.destination_id, d.from_seq],
                )?;
                if moved == 0 {
                    continue;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR IGNORE INTO webhook_deliveries (id, destination_id, seq, event, incident_id, \
                     sectors, content_type, body, attempts, next_attempt_at, status, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, 'pending', ?9)",
                )?;
                for n in &d.deliveries {
                    debug_assert!(n.seq > d.from_seq && n.seq <= d.to_seq);
                    enqueued += st.execute(params![
                        n.id,
                        d.destination_id,
                        n.seq,
                        n.event,
                        n.incident_id,
                        json_list(&n.sectors),
                        n.content_type,
                        n.body,
                        now.nanos()
                    ])?;
                }
            }
            tx.commit()?;
            Ok(enqueued)
        })
    }

    /// What the sender of `destination_id` should do at `now`: the due pending delivery
    /// of the earliest change, else when the next one falls due.
    pub fn due_webhook_delivery(&self, destination_id: i64, now: Timestamp) -> Result<Due> {
        self.call(|c| {
            let due = c
                .query_row(
                    &format!(
                        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                         JOIN webhook_destinations w ON w.id = d.destination_id \
                         WHERE d.destination_id = ?1 AND d.status = 'pending' AND d.next_attempt_at <= ?2 \
                         ORDER BY d.seq LIMIT 1"
                    ),
                    params![destination_id, now.nanos()],
                    read_delivery,
                )
                .optional()?;
            if let Some(d) = due {
                return Ok(Due::Now(Box::new(d)));
            }
            let next: Option<i64> = c.query_row(
                "SELECT MIN(next_attempt_at) FROM webhook_deliveries \
                 WHERE destination_id = ?1 AND status = 'pending'",
                [destination_id],
                |r| r.get(0),
            )?;
            Ok(next.map_or(Due::Idle, |t| Due::At(Timestamp(t))))
        })
    }

    /// Records a 2xx answer. Returns false if the delivery is gone or no longer pending.
    pub fn mark_webhook_delivered(&self, id: &str, at: Timestamp, status: u16) -> Result<bool> {
        self.call(|c| {
            c.execute(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, \
                 delivered_at = ?2, last_status = ?3, last_error = NULL \
                 WHERE id = ?1 AND status = 'pending'",
                params![id, at.nanos(), status],
            )
            .map(|n| n == 1)
        })
    }

    /// Records a failed attempt: pending again at `retry_at`, or dead without one.
    pub fn mark_webhook_failed(&self, id: &str, f: &Failure) -> Result<bool> {
        let (status, next) = match f.retry_at {
            Some(t) => ("pending", t.nanos()),
            None => ("dead", f.at.nanos()),
        };
        self.call(|c| {
            c.execute(
                "UPDATE webhook_deliveries SET status = ?2, attempts = attempts + 1, \
                 next_attempt_at = ?3, last_status = ?4, last_error = ?5 \
                 WHERE id = ?1 AND status = 'pending'",
                params![id, status, next, f.status, f.error],
            )
            .map(|n| n == 1)
        })
    }

    /// One delivery, if `scope` may see one of its incident's sectors.
    pub fn webhook_delivery(&self, id: &str, scope: &Scope) -> Result<Option<Delivery>> {
        let mut args = vec![SqlValue::Text(id.to_string())];
        let cond = scope_condition(scope, &mut args);
        self.call(|c| {
            c.query_row(
                &format!(
                    "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
                     JOIN webhook_destinations w ON w.id = d.destination_id \
                     WHERE d.id = ? AND {cond}"
                ),
                params_from_iter(args),
                read_delivery,
            )
            .optional()
        })
    }

    /// Deliveries of one destination that `scope` may see, oldest change first.
    pub fn webhook_deliveries(&self, q: &DeliveryQuery) -> Result<Vec<Delivery>> {
        let mut args = vec![
            SqlValue::Integer(q.destination_id),
            SqlValue::Integer(q.after_seq),
        ];
        let mut sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d \
             JOIN webhook_destinations w ON w.id = d.destination_id \
             WHERE d.destination_id = ? AND d.seq > ?"
        );
        if let Some(s) = q.status {
            sql.push_str(" AND d.status = ?");
            args.push(SqlValue::Text(s.as_str().into()));
        }
        let cond = scope_condition(&q.scope, &mut args);
        sql.push_str(&format!(" AND {cond} ORDER BY d.seq LIMIT ?"));
        args.push(SqlValue::Integer(q.limit.clamp(1, 10_000) as i64));
        self.call(|c| {
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(params_from_iter(args), read_delivery)?;
            rows.collect()
        })
    }

    /// Puts a dead delivery back in the queue with a fresh set of attempts, due at
    /// `now`. `Ok(None)`: no such delivery in `scope`; `Ok(Some(false))`: it is not dead.
    pub fn requeue_webhook_delivery(
        &self,
        id: &str,
        scope: &Scope,
        now: Timestamp,
    ) -> Result<Option<bool>> {
        let Some(d) = self.webhook_delivery(id, scope)? else {
            return Ok(None);
        };
        if d.status != DeliveryStatus::Dead {
            return Ok(Some(false));
        }
        self.call(|c| {
            c.execute(
                "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = ?2 \
                 WHERE id = ?1 AND status = 'dead'",
                params![id, now.nanos()],
            )
            .map(|n| Some(n == 1))
        })
    }

    /// Deliveries per destination and status (every destination, even with none).
    pub fn webhook_delivery_counts(&self) -> Result<Vec<DeliveryCounts>> {
        self.call(|c| {
            let mut st = c.prepare_cached(
                "SELECT w.name, \
                 (SELECT COUNT(*) FROM webhook_deliveries WHERE destination_id = w.id AND status = 'pending'), \
                 (SELECT COUNT(*) FROM webhook_deliveries WHERE destination_id = w.id AND status = 'delivered'), \
                 (SELECT COUNT(*) FROM webhook_deliveries WHERE destination_id = w.id AND status = 'dead') \
                 FROM webhook_destinations w ORDER BY w.name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(DeliveryCounts {
                    destination: r.get(0)?,
                    pending: r.get::<_, i64>(1)?.max(0) as u64,
                    delivered: r.get::<_, i64>(2)?.max(0) as u64,
                    dead: r.get::<_, i64>(3)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// Drops delivered deliveries older than `cutoff` (pending and dead ones stay).
    pub fn prune_webhook_deliveries(&self, cutoff: Timestamp) -> Result<usize> {
        self.call(|c| {
            c.execute(
                "DELETE FROM webhook_deliveries WHERE status = 'delivered' AND delivered_at < ?1",
                [cutoff.nanos()],
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::ChangeKind;
    use ncsoc_model::{Incident, IncidentKind, Severity, Status};

    fn incident(id: &str, sector: &str) -> Incident {
        Incident {
            id: id.into(),
            title: "t".into(),
            kind: IncidentKind::PortScan,
            severity: Severity::High,
            score: 70,
            status: Status::New,
            sectors: vec![sector.into()],
            entities: vec![],
            first_seen: Timestamp::from_secs(1),
            last_seen: Timestamp::from_secs(2),
            evidence: vec![],
            attack: vec![],
            assignee: None,
            notes: vec![],
            tags: vec![],
            dedup_key: String::new(),
            signal_count: 1,
            updated_at: Timestamp::from_secs(2),
            merged_into: None,
            merged_from: vec![],
            merged_signal_count: 0,
        }
    }

    fn new_delivery(id: &str, seq: i64, sector: &str) -> NewDelivery {
        NewDelivery {
            id: id.into(),
            seq,
            event: "incident.opened".into(),
            incident_id: format!("inc-{seq}"),
            sectors: vec![sector.into()],
            content_type: "application/json".into(),
            body: format!("{{\"seq\":{seq}}}"),
        }
    }

    fn spec() -> serde_json::Value {
        serde_json::json!({"url": "http://127.0.0.1:9/hook"})
    }

    #[test]
    fn new_destinations_start_at_the_end_of_the_log_and_upserts_keep_the_cursor() {
        let c = ControlStore::in_memory().unwrap();
        let now = Timestamp::from_secs(100);
        for i in 0..3 {
            c.append_change(
                now,
                ChangeKind::Opened,
                "detector",
                &incident(&format!("i{i}"), "energy"),
            )
            .unwrap();
        }
        let (d, created) = c
            .upsert_webhook_destination(
                "cc",
                DestinationSource::Config,
                &spec(),
                "s3cret-s3cret-s3cret",
                now,
            )
            .unwrap();
        assert!(created);
        assert_eq!(d.last_seq, 3);
        assert!(!format!("{d:?}").contains("s3cret"));
        c.enqueue_webhook_deliveries(
            &[Dispatch {
                destination_id: d.id,
                from_seq: 3,
                to_seq: 5,
                deliveries: vec![],
            }],
            now,
        )
        .unwrap();
        let (again, created) = c
            .upsert_webhook_destination(
                "cc",
                DestinationSource::Config,
                &serde_json::json!({"url": "x"}),
                "",
                now,
            )
            .unwrap();
        assert!(!created);
        assert_eq!((again.id, again.last_seq), (d.id, 5));
        assert_eq!(again.spec["url"], "x");
        assert!(c
            .create_webhook_destination("cc", DestinationSource::Api, &spec(), "", now)
            .unwrap()
            .is_none());
    }

    #[test]
    fn enqueue_moves_the_cursor_with_the_deliveries_or_not_at_all() {
        let c = ControlStore::in_memory().unwrap();
        let now = Timestamp::from_secs(100);
        let (d, _) = c
            .upsert_webhook_destination("cc", DestinationSource::Api, &spec(), "k", now)
            .unwrap();
        let batch = [Dispatch {
            destination_id: d.id,
            from_seq: 0,
            to_seq: 2,
            deliveries: vec![
                new_delivery("a", 1, "energy"),
                new_delivery("b", 2, "finance"),
            ],
        }];
        assert_eq!(c.enqueue_webhook_deliveries(&batch, now).unwrap(), 2);
        // The same decision again (a stale cursor) changes nothing.
        assert_eq!(c.enqueue_webhook_deliveries(&batch, now).unwrap(), 0);
        assert_eq!(c.webhook_destination("cc").unwrap().unwrap().last_seq, 2);
        // A second key for a change already enqueued is refused by the unique constraint.
        let dup = [Dispatch {
            destination_id: d.id,
            from_seq: 2,
            to_seq: 2,
            deliveries: vec![],
        }];
        assert_eq!(c.enqueue_webhook_deliveries(&dup, now).unwrap(), 0);
        let all = c
            .webhook_deliveries(&DeliveryQuery {
                scope: Scope::All,
                destination_id: d.id,
                status: None,
                after_seq: 0,
                limit: 10,
            })
            .unwrap();
        assert_eq!(
            all.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(all[0].destination, "cc");
        // Sector scope is applied in the query.
        let finance = c
            .webhook_deliveries(&DeliveryQuery {
                scope: Scope::Sectors(vec!["finance".into()]),
                destination_id: d.id,
                status: None,
                after_seq: 0,
                limit: 10,
            })
            .unwrap();
        assert_eq!(finance.len(), 1);
        assert_eq!(finance[0].id, "b");
        assert!(c
            .webhook_delivery("a", &Scope::Sectors(vec!["finance".into()]))
            .unwrap()
            .is_none());
        assert!(c
            .webhook_delivery("a", &Scope::Sectors(vec![]))
            .unwrap()
            .is_none());
    }

    #[test]
    fn retries_in_change_order_then_dead_then_requeued() {
        let c = ControlStore::in_memory().unwrap();
        let t0 = Timestamp::from_secs(100);
        let (d, _) = c
            .upsert_webhook_destination("cc", DestinationSource::Api, &spec(), "k", t0)
            .unwrap();
        c.enqueue_webhook_deliveries(
            &[Dispatch {
                destination_id: d.id,
                from_seq: 0,
                to_seq: 2,
                deliveries: vec![
                    new_delivery("a", 1, "energy"),
                    new_delivery("b", 2, "energy"),
                ],
            }],
            t0,
        )
        .unwrap();
        let Due::Now(first) = c.due_webhook_delivery(d.id, t0).unwrap() else {
            panic!("a is due")
        };
        assert_eq!(first.id, "a");
        let retry_at = Timestamp::from_secs(110);
        assert!(c
            .mark_webhook_failed(
                "a",
                &Failure {
                    at: t0,
                    status: Some(500),
                    error: "HTTP 500".into(),
                    retry_at: Some(retry_at)
                }
            )
            .unwrap());
        // While a backs off, b goes out.
        let Due::Now(next) = c.due_webhook_delivery(d.id, t0).unwrap() else {
            panic!("b is due")
        };
        assert_eq!(next.id, "b");
        assert!(c.mark_webhook_delivered("b", t0, 204).unwrap());
        assert!(!c.mark_webhook_delivered("b", t0, 204).unwrap());
        assert_eq!(c.due_webhook_delivery(d.id, t0).unwrap(), Due::At(retry_at));
        assert!(c
            .mark_webhook_failed(
                "a",
                &Failure {
                    at: retry_at,
                    status: None,
                    error: "timed out".into(),
                    retry_at: None
                }
            )
            .unwrap());
        assert_eq!(c.due_webhook_delivery(d.id, retry_at).unwrap(), Due::Idle);
        let dead = c.webhook_delivery("a", &Scope::All).unwrap().unwrap();
        assert_eq!(dead.status, DeliveryStatus::Dead);
        assert_eq!(dead.attempts, 2);
        assert_eq!(dead.last_error.as_deref(), Some("timed out"));
        let counts = c.webhook_delivery_counts().unwrap();
        assert_eq!(
            counts,
            vec![DeliveryCounts {
                destination: "cc".into(),
                pending: 0,
                delivered: 1,
                dead: 1
            }]
        );
        assert_eq!(
            c.requeue_webhook_delivery("b", &Scope::All, retry_at)
                .unwrap(),
            Some(false)
        );
        assert_eq!(
            c.requeue_webhook_delivery("zz", &Scope::All, retry_at)
                .unwrap(),
            None
        );
        assert_eq!(
            c.requeue_webhook_delivery("a", &Scope::All, retry_at)
                .unwrap(),
            Some(true)
        );
        let Due::Now(again) = c.due_webhook_delivery(d.id, retry_at).unwrap() else {
            panic!("a is due again")
        };
        assert_eq!((again.id.as_str(), again.attempts), ("a", 0));
        assert_eq!(again.body, first.body);
        // Delivered ones are pruned; the pending one stays; deleting drops the rest.
        assert_eq!(
            c.prune_webhook_deliveries(Timestamp::from_secs(1_000))
                .unwrap(),
            1
        );
        assert_eq!(c.delete_webhook_destination("cc").unwrap(), Some(1));
        assert_eq!(c.delete_webhook_destination("cc").unwrap(), None);
        assert!(c.webhook_delivery("a", &Scope::All).unwrap().is_none());
    }
}
