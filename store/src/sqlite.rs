//! The embedded store: one SQLite database (`ncsoc.db`, WAL mode) under the data directory.
//!
//! Writes go through one connection in a blocking task, one transaction per batch, with
//! `INSERT OR IGNORE` on the unique event id so a retried batch stores each row once.
//! Reads use a second connection, which WAL lets run beside the writer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ncsoc_model::{DeadLetter, Event, Incident, Indicator, Timestamp};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};

use crate::row::{
    cidr_range, DeadLetterRow, EventRow, EventRowRef, DEAD_LETTER_COLUMNS, EVENT_COLUMNS,
};
use crate::{
    EventQuery, IncidentQuery, Result, Scope, Store, StoreConfig, StoreError, Table, WriteMode,
};

const SCHEMA_VERSION: i64 = 1;

/// A value written as one SQLite column (the borrowed row of the write path). Unsigned
/// 64-bit values are stored bit for bit in SQLite's signed integer.
pub trait SqlColumn {
    fn to_sql(&self) -> ToSqlOutput<'_>;
}

/// A value read back from one SQLite column (the owned row of the read path).
pub trait FromColumn: Sized {
    fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self>;
}

macro_rules! int_column {
    ($($t:ty),*) => {$(
        impl SqlColumn for $t {
            fn to_sql(&self) -> ToSqlOutput<'_> {
                ToSqlOutput::Owned(SqlValue::Integer(*self as i64))
            }
        }
        impl FromColumn for $t {
            fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
                Ok(row.get::<_, i64>(idx)? as $t)
            }
        }
        impl SqlColumn for Option<$t> {
            fn to_sql(&self) -> ToSqlOutput<'_> {
                ToSqlOutput::Owned(self.map_or(SqlValue::Null, |v| SqlValue::Integer(v as i64)))
            }
        }
        impl FromColumn for Option<$t> {
            fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
                Ok(row.get::<_, Option<i64>>(idx)?.map(|v| v as $t))
            }
        }
    )*};
}
int_column!(u8, u16, u32, u64, i64);

impl SqlColumn for &str {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes()))
    }
}

impl SqlColumn for Option<&str> {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        self.map_or(ToSqlOutput::Owned(SqlValue::Null), |s| {
            ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
        })
    }
}

/// Keyword arrays as JSON text, NULL when empty.
impl SqlColumn for &[String] {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        if self.is_empty() {
            ToSqlOutput::Owned(SqlValue::Null)
        } else {
            ToSqlOutput::Owned(SqlValue::Text(
                serde_json::to_string(self).unwrap_or_default(),
            ))
        }
    }
}

impl SqlColumn for String {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        ToSqlOutput::Borrowed(ValueRef::Text(self.as_bytes()))
    }
}

impl FromColumn for String {
    fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
        row.get(idx)
    }
}

impl FromColumn for Option<String> {
    fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
        row.get(idx)
    }
}

impl FromColumn for Vec<String> {
    fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
        match row.get::<_, Option<String>>(idx)? {
            None => Ok(Vec::new()),
            Some(s) => serde_json::from_str(&s).map_err(|e| {
                rusqlite::Error::FromSqlConversionFailure(
                    idx,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            }),
        }
    }
}

impl SqlColumn for Option<[u8; 16]> {
    fn to_sql(&self) -> ToSqlOutput<'_> {
        self.as_ref()
            .map_or(ToSqlOutput::Owned(SqlValue::Null), |b| {
                ToSqlOutput::Borrowed(ValueRef::Blob(b))
            })
    }
}

impl FromColumn for Option<[u8; 16]> {
    fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
        match row.get_ref(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) => <[u8; 16]>::try_from(b).map(Some).map_err(|_| {
                rusqlite::Error::InvalidColumnType(
                    idx,
                    "16-byte address".into(),
                    rusqlite::types::Type::Blob,
                )
            }),
            other => Err(rusqlite::Error::InvalidColumnType(
                idx,
                "address".into(),
                other.data_type(),
            )),
        }
    }
}

impl rusqlite::ToSql for dyn SqlColumn + '_ {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(SqlColumn::to_sql(self))
    }
}

fn sqlite_type(ch: &str) -> &'static str {
    let inner = ch
        .strip_prefix("Nullable(")
        .map_or(ch, |s| s.trim_end_matches(')'));
    if inner.starts_with("String") || inner.starts_with("Array") {
        "TEXT"
    } else if inner.starts_with("FixedString") {
        "BLOB"
    } else {
        "INTEGER"
    }
}

/// The DDL of the embedded store, generated from the shared row columns.
pub fn schema_sql() -> String {
    let mut sql = String::new();
    for table in ["events", "flows"] {
        let cols: Vec<String> = EVENT_COLUMNS
            .iter()
            .map(|(name, ch)| {
                let null = if ch.starts_with("Nullable") || ch.starts_with("Array") {
                    ""
                } else {
                    " NOT NULL"
                };
                format!("{name} {}{null}", sqlite_type(ch))
            })
            .collect();
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {table} ({});\n\
             CREATE UNIQUE INDEX IF NOT EXISTS {table}_id ON {table}(id);\n\
             CREATE INDEX IF NOT EXISTS {table}_sector_ts ON {table}(sector, ts);\n\
             CREATE INDEX IF NOT EXISTS {table}_src_ip ON {table}(src_ip) WHERE src_ip IS NOT NULL;\n\
             CREATE INDEX IF NOT EXISTS {table}_dst_ip ON {table}(dst_ip) WHERE dst_ip IS NOT NULL;\n",
            cols.join(", ")
        ));
    }
    sql.push_str(
        "CREATE TABLE IF NOT EXISTS dead_letters (id TEXT NOT NULL, received INTEGER NOT NULL, sector TEXT NOT NULL, \
           source TEXT NOT NULL, format TEXT NOT NULL, reason TEXT NOT NULL, raw BLOB NOT NULL);\n\
         CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_id ON dead_letters(id);\n\
         CREATE INDEX IF NOT EXISTS dead_letters_sector_received ON dead_letters(sector, received);\n\
         CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, first_seen INTEGER NOT NULL, \
           last_seen INTEGER NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL, score INTEGER NOT NULL, \
           doc TEXT NOT NULL);\n\
         CREATE INDEX IF NOT EXISTS incidents_last_seen ON incidents(last_seen);\n\
         CREATE TABLE IF NOT EXISTS incident_sectors (incident_id TEXT NOT NULL, sector TEXT NOT NULL, \
           PRIMARY KEY (incident_id, sector)) WITHOUT ROWID;\n\
         CREATE INDEX IF NOT EXISTS incident_sectors_sector ON incident_sectors(sector, incident_id);\n\
         CREATE TABLE IF NOT EXISTS indicators (id TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, \
           source TEXT NOT NULL, valid_from INTEGER NOT NULL, valid_until INTEGER, tlp TEXT NOT NULL, doc TEXT NOT NULL);\n\
         CREATE INDEX IF NOT EXISTS indicators_value ON indicators(kind, value);\n",
    );
    sql
}

pub struct SqliteStore {
    path: PathBuf,
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
}

fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("sqlite: {e}"))
}

fn lock(c: &Mutex<Connection>) -> std::sync::MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite half-written (the transaction
    // rolls back on drop), so a poisoned lock is safe to take over.
    c.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/ncsoc.db` and brings its schema up to date.
    pub fn open(dir: &Path, config: &StoreConfig) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("ncsoc.db");
        let writer = Connection::open(&path).map_err(sql_err)?;
        writer
            .execute_batch(
                "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; \
                 PRAGMA cache_size=-65536;",
            )
            .map_err(sql_err)?;
        writer
            .busy_timeout(std::time::Duration::from_millis(
                config.sqlite.busy_timeout_ms,
            ))
            .map_err(sql_err)?;
        let version: i64 = writer
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql_err)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Config(format!(
                "{} has schema version {version}, newer than this ncsoc ({SCHEMA_VERSION}); upgrade ncsoc",
                path.display()
            )));
        }
        writer.execute_batch(&schema_sql()).map_err(sql_err)?;
        writer
            .execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
            .map_err(sql_err)?;
        let reader = Connection::open(&path).map_err(sql_err)?;
        reader
            .execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;")
            .map_err(sql_err)?;
        Ok(Self {
            path,
            writer: Arc::new(Mutex::new(writer)),
            reader: Arc::new(Mutex::new(reader)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn with_writer<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.writer.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite task: {e}")))?
            .map_err(sql_err)
    }

    /// Runs `f` on the writer connection without moving its arguments to another thread,
    /// so rows can borrow from the caller's events (see [`crate::block_here`]).
    fn with_writer_here<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        crate::block_here(|| f(&mut lock(&self.writer)).map_err(sql_err))
    }

    async fn with_reader<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let conn = self.reader.clone();
        tokio::task::spawn_blocking(move || f(&lock(&conn)))
            .await
            .map_err(|e| StoreError::Unavailable(format!("sqlite task: {e}")))?
    }
}

/// Builds `WHERE ...` and its parameters for an event query; `None` when the scope allows
/// nothing, so the caller answers empty without touching the database.
fn where_clause(q: &EventQuery, time_col: &str) -> Result<Option<(String, Vec<SqlValue>)>> {
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    if let Scope::Sectors(sectors) = &q.scope {
        if sectors.is_empty() {
            return Ok(None);
        }
        conds.push(format!(
            "sector IN ({})",
            vec!["?"; sectors.len()].join(",")
        ));
        params.extend(sectors.iter().map(|s| SqlValue::Text(s.clone())));
    }
    if let Some(s) = &q.sector {
        conds.push("sector = ?".into());
        params.push(SqlValue::Text(s.clone()));
    }
    if let Some(from) = q.from {
        conds.push(format!("{time_col} >= ?"));
        params.push(SqlValue::Integer(from.nanos()));
    }
    if let Some(to) = q.to {
        conds.push(format!("{time_col} < ?"));
        params.push(SqlValue::Integer(to.nanos()));
    }
    if let Some((net, prefix)) = q.ip {
        let (lo, hi) = cidr_range(net, prefix)?;
        conds.push("((src_ip BETWEEN ? AND ?) OR (dst_ip BETWEEN ? AND ?))".into());
        for _ in 0..2 {
            params.push(SqlValue::Blob(lo.to_vec()));
            params.push(SqlValue::Blob(hi.to_vec()));
        }
    }
    if let Some(port) = q.port {
        conds.push("(src_port = ? OR dst_port = ?)".into());
        params.push(SqlValue::Integer(i64::from(port)));
        params.push(SqlValue::Integer(i64::from(port)));
    }
    if !q.ids.is_empty() {
        conds.push(format!("id IN ({})", vec!["?"; q.ids.len()].join(",")));
        params.extend(q.ids.iter().map(|s| SqlValue::Text(s.clone())));
    }
    let sql = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    Ok(Some((sql, params)))
}

fn check_event_query(table: Table, q: &EventQuery) -> Result<&'static str> {
    if table == Table::DeadLetters && (q.ip.is_some() || q.port.is_some()) {
        return Err(StoreError::BadQuery(
            "dead letters have no addresses or ports to filter on".into(),
        ));
    }
    Ok(if table == Table::DeadLetters {
        "received"
    } else {
        "ts"
    })
}

#[async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn write_events(&self, events: &[Event], _mode: WriteMode) -> Result<()> {
        // INSERT OR IGNORE on the unique id makes fresh writes and retries the same.
        let rows: Vec<EventRowRef<'_>> = events.iter().map(EventRowRef::from_event).collect();
        self.with_writer_here(|conn| {
            let tx = conn.transaction()?;
            {
                let cols: Vec<&str> = EVENT_COLUMNS.iter().map(|c| c.0).collect();
                let marks = vec!["?"; cols.len()].join(",");
                let mut ev = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO events ({}) VALUES ({marks})",
                    cols.join(",")
                ))?;
                let mut fl = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO flows ({}) VALUES ({marks})",
                    cols.join(",")
                ))?;
                for row in &rows {
                    let stmt = if row.is_flow != 0 { &mut fl } else { &mut ev };
                    stmt.execute(rusqlite::params_from_iter(row.sql_values()))?;
                }
            }
            tx.commit()
        })
    }

    async fn write_dead_letters(&self, letters: &[DeadLetter], _mode: WriteMode) -> Result<()> {
        let rows: Vec<DeadLetterRow> = letters.iter().map(DeadLetterRow::from).collect();
        self.with_writer(move |conn| {
            let tx = conn.transaction()?;
            {
                let cols: Vec<&str> = DEAD_LETTER_COLUMNS.iter().map(|c| c.0).collect();
                let mut st = tx.prepare_cached(&format!(
                    "INSERT OR IGNORE INTO dead_letters ({}) VALUES ({})",
                    cols.join(","),
                    vec!["?"; cols.len()].join(",")
                ))?;
                for r in &rows {
                    st.execute(params![
                        r.id, r.received, r.sector, r.source, r.format, r.reason, r.raw
                    ])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn count(&self, table: Table, q: &EventQuery) -> Result<u64> {
        let time_col = check_event_query(table, q)?;
        let Some((cond, params)) = where_clause(q, time_col)? else {
            return Ok(0);
        };
        let sql = format!("SELECT count(*) FROM {}{cond}", table.name());
        self.with_reader(move |c| {
            c.query_row(&sql, rusqlite::params_from_iter(params), |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(sql_err)
        })
        .await
    }

    async fn search(&self, table: Table, q: &EventQuery) -> Result<Vec<Event>> {
        if table == Table::DeadLetters {
            return Err(StoreError::BadQuery(
                "use dead_letters() to read dead letters".into(),
            ));
        }
        let Some((cond, params)) = where_clause(q, "ts")? else {
            return Ok(Vec::new());
        };
        let cols: Vec<&str> = EVENT_COLUMNS.iter().map(|c| c.0).collect();
        let sql = format!(
            "SELECT {} FROM {}{cond} ORDER BY ts, id LIMIT {}",
            cols.join(","),
            table.name(),
            q.limit
        );
        self.with_reader(move |c| {
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params), EventRow::from_sql)
                .map_err(sql_err)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(
                    r.map_err(|e| StoreError::Corrupt(e.to_string()))?
                        .into_event()?,
                );
            }
            Ok(out)
        })
        .await
    }

    async fn dead_letters(&self, q: &EventQuery) -> Result<Vec<DeadLetter>> {
        let time_col = check_event_query(Table::DeadLetters, q)?;
        let Some((cond, params)) = where_clause(q, time_col)? else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT id, received, sector, source, format, reason, raw FROM dead_letters{cond} ORDER BY received, id LIMIT {}",
            q.limit
        );
        self.with_reader(move |c| {
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let rows = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    Ok(DeadLetterRow {
                        id: r.get(0)?,
                        received: r.get(1)?,
                        sector: r.get(2)?,
                        source: r.get(3)?,
                        format: r.get(4)?,
                        reason: r.get(5)?,
                        raw: r.get(6)?,
                    })
                })
                .map_err(sql_err)?;
            rows.map(|r| {
                r.map(DeadLetter::from)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
        })
        .await
    }

    async fn put_incident(&self, incident: &Incident) -> Result<()> {
        let doc =
            serde_json::to_string(incident).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let i = incident.clone();
        self.with_writer(move |conn| {
            let tx = conn.transaction()?;
            tx.execute(
                "INSERT INTO incidents (id, updated_at, first_seen, last_seen, status, severity, kind, score, doc) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT(id) DO UPDATE SET updated_at=excluded.updated_at, \
                 first_seen=excluded.first_seen, last_seen=excluded.last_seen, status=excluded.status, \
                 severity=excluded.severity, kind=excluded.kind, score=excluded.score, doc=excluded.doc",
                params![
                    i.id,
                    i.updated_at.nanos(),
                    i.first_seen.nanos(),
                    i.last_seen.nanos(),
                    i.status.as_str(),
                    i.severity.as_str(),
                    i.kind.as_str(),
                    i.score,
                    doc
                ],
            )?;
            tx.execute("DELETE FROM incident_sectors WHERE incident_id = ?1", [&i.id])?;
            for s in &i.sectors {
                tx.execute("INSERT OR IGNORE INTO incident_sectors (incident_id, sector) VALUES (?1, ?2)", [&i.id, s])?;
            }
            tx.commit()
        })
        .await
    }

    async fn incident(&self, id: &str, scope: &Scope) -> Result<Option<Incident>> {
        let id = id.to_string();
        let scope = scope.clone();
        self.with_reader(move |c| {
            let doc: Option<String> = match &scope {
                Scope::All => c.query_row("SELECT doc FROM incidents WHERE id = ?1", [&id], |r| r.get(0)).optional(),
                Scope::Sectors(s) if s.is_empty() => Ok(None),
                Scope::Sectors(s) => {
                    let sql = format!(
                        "SELECT doc FROM incidents i WHERE id = ? AND EXISTS (SELECT 1 FROM incident_sectors x \
                         WHERE x.incident_id = i.id AND x.sector IN ({}))",
                        vec!["?"; s.len()].join(",")
                    );
                    let params = std::iter::once(&id).chain(s.iter());
                    c.query_row(&sql, rusqlite::params_from_iter(params), |r| r.get(0)).optional()
                }
            }
            .map_err(sql_err)?;
            doc.map(|d| serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("incident {id}: {e}")))).transpose()
        })
        .await
    }

    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>> {
        let mut conds = Vec::new();
        let mut params: Vec<SqlValue> = Vec::new();
        if let Scope::Sectors(s) = &q.scope {
            if s.is_empty() {
                return Ok(Vec::new());
            }
            conds.push(format!(
                "EXISTS (SELECT 1 FROM incident_sectors x WHERE x.incident_id = i.id AND x.sector IN ({}))",
                vec!["?"; s.len()].join(",")
            ));
            params.extend(s.iter().map(|v| SqlValue::Text(v.clone())));
        }
        if let Some(st) = q.status {
            conds.push("status = ?".into());
            params.push(SqlValue::Text(st.as_str().into()));
        }
        if let Some(from) = q.from {
            conds.push("last_seen >= ?".into());
            params.push(SqlValue::Integer(from.nanos()));
        }
        if let Some(to) = q.to {
            conds.push("first_seen < ?".into());
            params.push(SqlValue::Integer(to.nanos()));
        }
        let cond = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        let sql = format!(
            "SELECT doc FROM incidents i{cond} ORDER BY last_seen DESC, id LIMIT {}",
            q.limit
        );
        self.with_reader(move |c| {
            let mut st = c.prepare_cached(&sql).map_err(sql_err)?;
            let docs = st
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(0)
                })
                .map_err(sql_err)?;
            docs.map(|d| {
                let d = d.map_err(sql_err)?;
                serde_json::from_str(&d).map_err(|e| StoreError::Corrupt(format!("incident: {e}")))
            })
            .collect()
        })
        .await
    }

    async fn put_indicators(&self, indicators: &[Indicator]) -> Result<()> {
        let items: Vec<(Indicator, String)> = indicators
            .iter()
            .map(|i| {
                Ok((
                    i.clone(),
                    serde_json::to_string(i).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                ))
            })
            .collect::<Result<_>>()?;
        self.with_writer(move |conn| {
            let tx = conn.transaction()?;
            {
                let mut st = tx.prepare_cached(
                    "INSERT OR REPLACE INTO indicators (id, kind, value, source, valid_from, valid_until, tlp, doc) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for (i, doc) in &items {
                    let kind = serde_json::to_value(i.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                    let tlp = serde_json::to_value(i.tlp).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
                    st.execute(params![i.id, kind, i.value, i.source, i.valid_from.nanos(), i.valid_until.map(Timestamp::nanos), tlp, doc])?;
                }
            }
            tx.commit()
        })
        .await
    }

    async fn indicators(&self, limit: usize) -> Result<Vec<Indicator>> {
        self.with_reader(move |c| {
            let mut st = c
                .prepare_cached("SELECT doc FROM indicators ORDER BY id LIMIT ?1")
                .map_err(sql_err)?;
            let docs = st
                .query_map([limit as i64], |r| r.get::<_, String>(0))
                .map_err(sql_err)?;
            docs.map(|d| {
                serde_json::from_str(&d.map_err(sql_err)?)
                    .map_err(|e| StoreError::Corrupt(format!("indicator: {e}")))
            })
            .collect()
        })
        .await
    }

    async fn enforce_retention(&self, cutoff: Timestamp) -> Result<()> {
        let c = cutoff.nanos();
        self.with_writer(move |conn| {
            // Per sector, so each delete is a range of the (sector, time) index.
            for (table, col) in [
                ("events", "ts"),
                ("flows", "ts"),
                ("dead_letters", "received"),
            ] {
                let sectors: Vec<String> = conn
                    .prepare(&format!("SELECT DISTINCT sector FROM {table}"))?
                    .query_map([], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                for s in sectors {
                    conn.execute(
                        &format!("DELETE FROM {table} WHERE sector = ?1 AND {col} < ?2"),
                        rusqlite::params![s, c],
                    )?;
                }
            }
            Ok(())
        })
        .await
    }

    /// The whole database file: SQLite's bundled build has no per-table page statistics
    /// (`dbstat`), so every table reports the total (tables and indexes together).
    async fn disk_bytes(&self, _table: Table) -> Result<u64> {
        self.with_reader(|c| {
            let pages: i64 = c
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .map_err(sql_err)?;
            let size: i64 = c
                .query_row("PRAGMA page_size", [], |r| r.get(0))
                .map_err(sql_err)?;
            Ok((pages * size) as u64)
        })
        .await
    }

    async fn ping(&self) -> Result<()> {
        self.with_reader(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(sql_err))
            .await
    }
}
