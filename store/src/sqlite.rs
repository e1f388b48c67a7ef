//! The embedded store: one SQLite database (`ncsoc.db`, WAL mode) under the data directory.
//!
//! Writes go through one connection in a blocking task, one transaction per batch, with
//! `INSERT OR IGNORE` on the unique event id so a retried batch stores each row once.
//! Reads use a second connection, which WAL lets run beside the writer.

mod search;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use ncsoc_model::{DeadLetter, Event, Incident, Indicator, Timestamp};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, OptionalExtension};

use crate::row::{
    cidr_range, DeadLetterRow, EventRow, EventRowRef, DEAD_LETTER_COLUMNS, EVENT_COLUMNS,
};
use crate::{
    incident_search_text, severity_rank, Bucket, EventQuery, IncidentQuery, IndicatorQuery, Metric,
    Result, Scope, Store, StoreConfig, StoreError, Table, TopBy, TopEntry, WriteMode,
};

/// Version 1 stored one column per field and indexed both addresses per row; version 2
/// stores the filter columns plus the encoded row ([`crate::codec`]), and finds addresses
/// through the `*_addr_hours` summary tables; version 3 adds the incident list's filter
/// columns (`severity_rank`, `search`), the `incident_entities` table and the sort indexes.
const SCHEMA_VERSION: i64 = 3;

/// Nanoseconds in the hour buckets of the address summary tables.
const HOUR_NANOS: i64 = 3_600_000_000_000;

/// A value read back from one SQLite column (the owned row of the read path).
pub trait FromColumn: Sized {
    fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self>;
}

macro_rules! int_column {
    ($($t:ty),*) => {$(
        impl FromColumn for $t {
            fn read(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Self> {
                Ok(row.get::<_, i64>(idx)? as $t)
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

/// The DDL of the embedded store.
///
/// Events and flows keep the columns analysts filter on, plus the whole row encoded in
/// `row`. Their indexes are the unique id (deduplication of retried batches) and
/// (sector, time): both take keys nearly in arrival order, so a batch dirties few pages.
/// Addresses are not indexed per row — random keys would dirty a B-tree page per insert —
/// but summarised: `*_addr_hours` holds one (hour, network, sector) entry for every network
/// ([`summary_prefix`]) seen as source or destination in that hour, so an address search
/// seeks the hours and sectors where its network appeared and reads only those ranges of
/// the (sector, time) index.
pub fn schema_sql() -> String {
    let mut sql = String::new();
    for table in ["events", "flows"] {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (id TEXT NOT NULL, ts INTEGER NOT NULL, sector TEXT NOT NULL, \
               source TEXT NOT NULL, src_ip BLOB, dst_ip BLOB, src_port INTEGER, dst_port INTEGER, row BLOB NOT NULL);\n\
             CREATE UNIQUE INDEX IF NOT EXISTS {table}_id ON {table}(id);\n\
             CREATE INDEX IF NOT EXISTS {table}_sector_ts ON {table}(sector, ts);\n\
             CREATE TABLE IF NOT EXISTS {table}_addr_hours (hour INTEGER NOT NULL, addr BLOB NOT NULL, \
               sector TEXT NOT NULL, PRIMARY KEY (hour, addr, sector)) WITHOUT ROWID;\n"
        ));
    }
    sql.push_str(
        "CREATE TABLE IF NOT EXISTS dead_letters (id TEXT NOT NULL, received INTEGER NOT NULL, sector TEXT NOT NULL, \
           source TEXT NOT NULL, format TEXT NOT NULL, reason TEXT NOT NULL, raw BLOB NOT NULL);\n\
         CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_id ON dead_letters(id);\n\
         CREATE INDEX IF NOT EXISTS dead_letters_sector_received ON dead_letters(sector, received);\n\
         CREATE TABLE IF NOT EXISTS incidents (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, first_seen INTEGER NOT NULL, \
           last_seen INTEGER NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL, score INTEGER NOT NULL, \
           doc TEXT NOT NULL, severity_rank INTEGER NOT NULL DEFAULT 0, search TEXT NOT NULL DEFAULT '');\n\
         CREATE TABLE IF NOT EXISTS incident_sectors (incident_id TEXT NOT NULL, sector TEXT NOT NULL, \
           PRIMARY KEY (incident_id, sector)) WITHOUT ROWID;\n\
         CREATE INDEX IF NOT EXISTS incident_sectors_sector ON incident_sectors(sector, incident_id);\n\
         CREATE TABLE IF NOT EXISTS incident_entities (value TEXT NOT NULL, incident_id TEXT NOT NULL, \
           PRIMARY KEY (value, incident_id)) WITHOUT ROWID;\n\
         CREATE INDEX IF NOT EXISTS incident_entities_incident ON incident_entities(incident_id);\n",
    );
    // One index per sort order of the incident list, with id so a cursor position is one
    // seek, and the text filter's `search` so it is evaluated on the index: the row holds
    // the whole document before it. (The indexes without `search` are replaced.)
    for col in ["last_seen", "first_seen", "severity_rank", "score"] {
        sql.push_str(&format!(
            "DROP INDEX IF EXISTS incidents_{col}_id;\n\
             CREATE INDEX IF NOT EXISTS incidents_{col}_id_search ON incidents({col}, id, search);\n"
        ));
    }
    sql.push_str(
        "CREATE INDEX IF NOT EXISTS incidents_status_last_seen ON incidents(status, last_seen);\n\
         CREATE TABLE IF NOT EXISTS indicators (id TEXT PRIMARY KEY, kind TEXT NOT NULL, value TEXT NOT NULL, \
           source TEXT NOT NULL, valid_from INTEGER NOT NULL, valid_until INTEGER, tlp TEXT NOT NULL, doc TEXT NOT NULL);\n\
         CREATE INDEX IF NOT EXISTS indicators_value ON indicators(kind, value);\n\
         CREATE TABLE IF NOT EXISTS node_state (key TEXT PRIMARY KEY, updated INTEGER NOT NULL, value BLOB NOT NULL);\n",
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
        let mut writer = Connection::open(&path).map_err(sql_err)?;
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
        if (1..3).contains(&version) {
            migrate_incidents_v3(&mut writer)?;
        }
        if version == 1 {
            migrate_v1(&mut writer)?;
        }
        writer.execute_batch(&schema_sql()).map_err(sql_err)?;
        writer
            .execute_batch(&format!("PRAGMA user_version={SCHEMA_VERSION}"))
            .map_err(sql_err)?;
        let reader = Connection::open(&path).map_err(sql_err)?;
        reader
            .execute_batch("PRAGMA busy_timeout=5000; PRAGMA query_only=ON;")
            .map_err(sql_err)?;
        search::register_functions(&reader).map_err(sql_err)?;
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

/// The network an address is summarised under: its /24 for IPv4 (stored v4-mapped), its
/// /64 for IPv6. A summary entry per network rather than per address keeps the summaries
/// small when many hosts of one network talk in the same hour (scans, clients behind one
/// prefix); a search reads the hours of the networks its range overlaps, then filters
/// the exact addresses on the rows.
fn summary_prefix(ip: [u8; 16]) -> [u8; 16] {
    let v4 = ip[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
    let keep = if v4 { 15 } else { 8 };
    let mut p = ip;
    p[keep..].fill(0);
    p
}

/// Stores rows in their tables (by [`EventRowRef::is_flow`]) and their addresses in the
/// hour summaries, inside the caller's transaction.
fn insert_rows(tx: &rusqlite::Transaction<'_>, rows: &[EventRowRef<'_>]) -> rusqlite::Result<()> {
    const INSERT: &str = "(id, ts, sector, source, src_ip, dst_ip, src_port, dst_port, row) \
                          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
    let mut ev = tx.prepare_cached(&format!("INSERT OR IGNORE INTO events {INSERT}"))?;
    let mut fl = tx.prepare_cached(&format!("INSERT OR IGNORE INTO flows {INSERT}"))?;
    // (is_flow, hour, address, sector): sorted and deduplicated, so the summary inserts
    // walk their B-tree in order.
    let mut addrs: Vec<(bool, i64, [u8; 16], &str)> = Vec::with_capacity(rows.len() * 2);
    let mut buf = Vec::with_capacity(512);
    for row in rows {
        buf.clear();
        row.encode(&mut buf);
        let is_flow = row.is_flow != 0;
        let stmt = if is_flow { &mut fl } else { &mut ev };
        stmt.execute(params![
            row.id,
            row.ts,
            row.sector,
            row.source,
            row.src_ip.as_ref().map(|b| &b[..]),
            row.dst_ip.as_ref().map(|b| &b[..]),
            row.src_port,
            row.dst_port,
            buf,
        ])?;
        let hour = row.ts.div_euclid(HOUR_NANOS);
        for ip in [row.src_ip, row.dst_ip].into_iter().flatten() {
            addrs.push((is_flow, hour, summary_prefix(ip), row.sector));
        }
    }
    addrs.sort_unstable();
    addrs.dedup();
    let mut ev_addr = tx.prepare_cached(
        "INSERT OR IGNORE INTO events_addr_hours (hour, addr, sector) VALUES (?1, ?2, ?3)",
    )?;
    let mut fl_addr = tx.prepare_cached(
        "INSERT OR IGNORE INTO flows_addr_hours (hour, addr, sector) VALUES (?1, ?2, ?3)",
    )?;
    for (is_flow, hour, addr, sector) in &addrs {
        let stmt = if *is_flow { &mut fl_addr } else { &mut ev_addr };
        stmt.execute(params![hour, &addr[..], sector])?;
    }
    Ok(())
}

/// Moves a version 1 database (one column per field, per-row address indexes) to the
/// current layout, in one transaction: the old tables are renamed, every row is read back
/// and written anew, and the old tables dropped.
fn migrate_v1(conn: &mut Connection) -> Result<()> {
    tracing::info!("migrating the embedded store from schema version 1");
    let tx = conn.transaction().map_err(sql_err)?;
    for t in ["events", "flows"] {
        tx.execute_batch(&format!(
            "DROP INDEX IF EXISTS {t}_id; DROP INDEX IF EXISTS {t}_sector_ts; \
             DROP INDEX IF EXISTS {t}_src_ip; DROP INDEX IF EXISTS {t}_dst_ip; \
             ALTER TABLE {t} RENAME TO {t}_v1;"
        ))
        .map_err(sql_err)?;
    }
    tx.execute_batch(&schema_sql()).map_err(sql_err)?;
    let cols: Vec<&str> = EVENT_COLUMNS.iter().map(|c| c.0).collect();
    for t in ["events", "flows"] {
        let mut st = tx
            .prepare(&format!("SELECT {} FROM {t}_v1", cols.join(",")))
            .map_err(sql_err)?;
        let mut rows = st.query([]).map_err(sql_err)?;
        let mut chunk = Vec::with_capacity(10_000);
        loop {
            let next = rows.next().map_err(sql_err)?;
            if let Some(r) = next {
                let row = EventRow::from_sql(r).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                chunk.push(row.into_event()?);
            }
            if chunk.len() == 10_000 || (next.is_none() && !chunk.is_empty()) {
                let refs: Vec<EventRowRef<'_>> =
                    chunk.iter().map(EventRowRef::from_event).collect();
                insert_rows(&tx, &refs).map_err(sql_err)?;
                drop(refs);
                chunk.clear();
            }
            if next.is_none() {
                break;
            }
        }
    }
    tx.execute_batch("DROP TABLE events_v1; DROP TABLE flows_v1; PRAGMA user_version=2;")
        .map_err(sql_err)?;
    tx.commit().map_err(sql_err)
}

/// Brings the incident tables of a version 1 or 2 database to version 3: the filter
/// columns are added and filled from each stored document, entities indexed, and the old
/// `last_seen` index replaced by the sort indexes (created by [`schema_sql`]).
fn migrate_incidents_v3(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction().map_err(sql_err)?;
    let has_table: bool = tx
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'incidents'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(sql_err)?
        > 0;
    if !has_table {
        return Ok(());
    }
    tracing::info!("migrating the embedded store's incidents to schema version 3");
    let cols: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('incidents')")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(sql_err)?;
    for (col, ddl) in [
        ("severity_rank", "INTEGER NOT NULL DEFAULT 0"),
        ("search", "TEXT NOT NULL DEFAULT ''"),
    ] {
        if !cols.iter().any(|c| c == col) {
            tx.execute_batch(&format!("ALTER TABLE incidents ADD COLUMN {col} {ddl}"))
                .map_err(sql_err)?;
        }
    }
    tx.execute_batch(
        "DROP INDEX IF EXISTS incidents_last_seen; \
         CREATE TABLE IF NOT EXISTS incident_entities (value TEXT NOT NULL, incident_id TEXT NOT NULL, \
           PRIMARY KEY (value, incident_id)) WITHOUT ROWID;",
    )
    .map_err(sql_err)?;
    let docs: Vec<(String, String)> = tx
        .prepare("SELECT id, doc FROM incidents")
        .and_then(|mut st| st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .map_err(sql_err)?;
    for (id, doc) in docs {
        let i: Incident = serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("incident {id}: {e}")))?;
        tx.execute(
            "UPDATE incidents SET severity_rank = ?1, search = ?2 WHERE id = ?3",
            params![severity_rank(i.severity), incident_search_text(&i), id],
        )
        .map_err(sql_err)?;
        put_entities(&tx, &i).map_err(sql_err)?;
    }
    tx.commit().map_err(sql_err)
}

/// Replaces the entity index rows of `i`.
fn put_entities(tx: &rusqlite::Transaction<'_>, i: &Incident) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM incident_entities WHERE incident_id = ?1",
        [&i.id],
    )?;
    let mut st = tx.prepare_cached(
        "INSERT OR IGNORE INTO incident_entities (value, incident_id) VALUES (?1, ?2)",
    )?;
    for e in &i.entities {
        st.execute([&e.value, &i.id])?;
    }
    Ok(())
}

/// The `WHERE` clause (from ` WHERE`, or empty) and its parameters of an incident list
/// query over `incidents AS i`; `None` when the scope allows nothing.
fn incident_where(q: &IncidentQuery) -> Option<(String, Vec<SqlValue>)> {
    // Conditions on the row (and the sort index, which holds `search`) come first and the
    // per-row sector lookups last: SQLite evaluates them in this order, so the cheap ones
    // reject most rows before a subquery runs for them.
    let mut conds: Vec<String> = Vec::new();
    let mut params: Vec<SqlValue> = Vec::new();
    let mut late: Vec<(String, Vec<SqlValue>)> = Vec::new();
    let text = |v: &str| SqlValue::Text(v.to_string());
    let list = |n: usize| vec!["?"; n].join(",");
    if let Scope::Sectors(s) = &q.scope {
        if s.is_empty() {
            return None;
        }
        late.push((
            format!(
                "EXISTS (SELECT 1 FROM incident_sectors x WHERE x.incident_id = i.id AND x.sector IN ({}))",
                list(s.len())
            ),
            s.iter().map(|v| text(v)).collect(),
        ));
    }
    if !q.sectors.is_empty() {
        late.push((
            format!(
                "EXISTS (SELECT 1 FROM incident_sectors y WHERE y.incident_id = i.id AND y.sector IN ({}))",
                list(q.sectors.len())
            ),
            q.sectors.iter().map(|v| text(v)).collect(),
        ));
    }
    if let Some(t) = &q.text {
        conds.push("instr(i.search, ?) > 0".into());
        params.push(SqlValue::Text(t.to_lowercase()));
    }
    if !q.statuses.is_empty() {
        conds.push(format!("i.status IN ({})", list(q.statuses.len())));
        params.extend(q.statuses.iter().map(|v| text(v.as_str())));
    }
    if let Some(min) = q.min_severity {
        conds.push("i.severity_rank >= ?".into());
        params.push(SqlValue::Integer(severity_rank(min)));
    }
    if !q.kinds.is_empty() {
        conds.push(format!("i.kind IN ({})", list(q.kinds.len())));
        params.extend(q.kinds.iter().map(|v| text(v.as_str())));
    }
    if let Some(v) = &q.entity {
        // The few incidents naming the entity, found by its index, rather than a lookup
        // for every incident in sort order.
        conds.push(
            "i.id IN (SELECT n.incident_id FROM incident_entities n WHERE n.value = ?)".into(),
        );
        params.push(text(v));
    }
    if let Some(from) = q.from {
        conds.push("i.last_seen >= ?".into());
        params.push(SqlValue::Integer(from.nanos()));
    }
    if let Some(to) = q.to {
        conds.push("i.first_seen < ?".into());
        params.push(SqlValue::Integer(to.nanos()));
    }
    if let Some(c) = &q.after {
        conds.push(q.sort.after_condition());
        params.push(SqlValue::Integer(c.key));
        params.push(SqlValue::Integer(c.key));
        params.push(text(&c.id));
    }
    for (c, p) in late {
        conds.push(c);
        params.extend(p);
    }
    let cond = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    Some((cond, params))
}

/// The parts of a query over events, flows or dead letters (aliased `e`): an optional
/// `WITH` clause, the `FROM` source, the `WHERE` conditions, and their parameters in
/// textual order. `None` from [`Select::build`] when the scope allows nothing, so the
/// caller answers empty without touching the database.
struct Select {
    with: String,
    from: String,
    cond: String,
    params: Vec<SqlValue>,
}

impl Select {
    fn build(table: Table, q: &EventQuery, time_col: &str) -> Result<Option<Self>> {
        let mut with = String::new();
        let mut from = format!("{} AS e", table.name());
        let mut params: Vec<SqlValue> = Vec::new();
        let mut conds: Vec<String> = Vec::new();
        let mut cond_params: Vec<SqlValue> = Vec::new();
        if let Scope::Sectors(sectors) = &q.scope {
            if sectors.is_empty() {
                return Ok(None);
            }
            conds.push(format!(
                "e.sector IN ({})",
                vec!["?"; sectors.len()].join(",")
            ));
            cond_params.extend(sectors.iter().map(|s| SqlValue::Text(s.clone())));
        }
        if let Some(s) = &q.sector {
            conds.push("e.sector = ?".into());
            cond_params.push(SqlValue::Text(s.clone()));
        }
        if let Some(from) = q.from {
            conds.push(format!("e.{time_col} >= ?"));
            cond_params.push(SqlValue::Integer(from.nanos()));
        }
        if let Some(to) = q.to {
            conds.push(format!("e.{time_col} < ?"));
            cond_params.push(SqlValue::Integer(to.nanos()));
        }
        if let Some((net, prefix)) = q.ip {
            let (lo, hi) = cidr_range(net, prefix)?;
            // The hours (and sectors) where an address of the range appeared, one seek per
            // hour of the asked range; then only those stretches of (sector, ts).
            let summary = format!("{}_addr_hours", table.name());
            let first = q.from.map_or_else(
                || format!("(SELECT min(hour) FROM {summary})"),
                |t| t.nanos().div_euclid(HOUR_NANOS).to_string(),
            );
            let last = q.to.map_or_else(
                || format!("(SELECT max(hour) FROM {summary})"),
                |t| (t.nanos() - 1).div_euclid(HOUR_NANOS).to_string(),
            );
            with = format!(
                "WITH RECURSIVE hrs(h) AS (SELECT {first} UNION ALL SELECT h + 1 FROM hrs WHERE h < {last}) "
            );
            from = format!(
                "(SELECT DISTINCT a.hour AS hour, a.sector AS sector FROM hrs \
                   JOIN {summary} AS a ON a.hour = hrs.h AND a.addr BETWEEN ? AND ?) AS hs \
                 CROSS JOIN {} AS e ON e.sector = hs.sector AND e.ts >= hs.hour * {HOUR_NANOS} \
                   AND e.ts < (hs.hour + 1) * {HOUR_NANOS}",
                table.name()
            );
            params.push(SqlValue::Blob(summary_prefix(lo).to_vec()));
            params.push(SqlValue::Blob(summary_prefix(hi).to_vec()));
            conds.push("((e.src_ip BETWEEN ? AND ?) OR (e.dst_ip BETWEEN ? AND ?))".into());
            for _ in 0..2 {
                cond_params.push(SqlValue::Blob(lo.to_vec()));
                cond_params.push(SqlValue::Blob(hi.to_vec()));
            }
        }
        if let Some(port) = q.port {
            conds.push("(e.src_port = ? OR e.dst_port = ?)".into());
            cond_params.push(SqlValue::Integer(i64::from(port)));
            cond_params.push(SqlValue::Integer(i64::from(port)));
        }
        if !q.ids.is_empty() {
            conds.push(format!("e.id IN ({})", vec!["?"; q.ids.len()].join(",")));
            cond_params.extend(q.ids.iter().map(|s| SqlValue::Text(s.clone())));
        }
        search::extra_conditions(q, &mut conds, &mut cond_params)?;
        params.extend(cond_params);
        let cond = if conds.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", conds.join(" AND "))
        };
        Ok(Some(Self {
            with,
            from,
            cond,
            params,
        }))
    }

    fn sql(&self, what: &str, tail: &str) -> String {
        format!(
            "{}SELECT {what} FROM {}{}{tail}",
            self.with, self.from, self.cond
        )
    }
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
            insert_rows(&tx, &rows)?;
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
        let Some(sel) = Select::build(table, q, time_col)? else {
            return Ok(0);
        };
        self.with_reader(move |c| {
            let sql = sel.sql("count(*)", "");
            c.query_row(&sql, rusqlite::params_from_iter(sel.params), |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(sql_err)
        })
        .await
    }

    async fn search(&self, table: Table, q: &EventQuery) -> Result<Vec<Event>> {
        self.search_rows(table, q).await
    }

    async fn top(
        &self,
        table: Table,
        q: &EventQuery,
        by: TopBy,
        metric: Metric,
        limit: usize,
    ) -> Result<Vec<TopEntry>> {
        self.top_groups(table, q, by, metric, limit).await
    }

    async fn timeseries(
        &self,
        table: Table,
        q: &EventQuery,
        bucket_secs: u32,
    ) -> Result<Vec<Bucket>> {
        self.time_buckets(table, q, bucket_secs).await
    }

    async fn dead_letters(&self, q: &EventQuery) -> Result<Vec<DeadLetter>> {
        let time_col = check_event_query(Table::DeadLetters, q)?;
        let Some(sel) = Select::build(Table::DeadLetters, q, time_col)? else {
            return Ok(Vec::new());
        };
        let sql = sel.sql(
            "e.id, e.received, e.sector, e.source, e.format, e.reason, e.raw",
            &format!(" ORDER BY e.received, e.id LIMIT {}", q.limit),
        );
        let params = sel.params;
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
                "INSERT INTO incidents (id, updated_at, first_seen, last_seen, status, severity, kind, score, doc, \
                 severity_rank, search) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT(id) DO UPDATE SET updated_at=excluded.updated_at, \
                 first_seen=excluded.first_seen, last_seen=excluded.last_seen, status=excluded.status, \
                 severity=excluded.severity, kind=excluded.kind, score=excluded.score, doc=excluded.doc, \
                 severity_rank=excluded.severity_rank, search=excluded.search",
                params![
                    i.id,
                    i.updated_at.nanos(),
                    i.first_seen.nanos(),
                    i.last_seen.nanos(),
                    i.status.as_str(),
                    i.severity.as_str(),
                    i.kind.as_str(),
                    i.score,
                    doc,
                    severity_rank(i.severity),
                    incident_search_text(&i),
                ],
            )?;
            tx.execute("DELETE FROM incident_sectors WHERE incident_id = ?1", [&i.id])?;
            for s in &i.sectors {
                tx.execute("INSERT OR IGNORE INTO incident_sectors (incident_id, sector) VALUES (?1, ?2)", [&i.id, s])?;
            }
            put_entities(&tx, &i)?;
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
        let Some((cond, params)) = incident_where(q) else {
            return Ok(Vec::new());
        };
        let sql = format!(
            "SELECT doc FROM incidents i{cond} ORDER BY {} LIMIT {}",
            q.sort.order_by(),
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
                    let (kind, tlp) = (i.kind.as_str(), i.tlp.as_str());
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

    async fn search_indicators(&self, q: &IndicatorQuery) -> Result<Vec<Indicator>> {
        self.indicator_rows(q).await
    }

    async fn delete_indicator(&self, id: &str) -> Result<bool> {
        self.remove_indicator(id).await
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
            // A summary hour goes once all of it is past the cutoff.
            for table in ["events_addr_hours", "flows_addr_hours"] {
                conn.execute(
                    &format!("DELETE FROM {table} WHERE hour < ?1"),
                    rusqlite::params![c.div_euclid(HOUR_NANOS)],
                )?;
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

    async fn put_state(&self, key: &str, value: &[u8]) -> Result<()> {
        crate::check_state(key, value)?;
        let (key, value) = (key.to_string(), value.to_vec());
        self.with_writer(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO node_state (key, updated, value) VALUES (?1, ?2, ?3)",
            )?
            .execute(rusqlite::params![key, Timestamp::now().nanos(), value])
            .map(|_| ())
        })
        .await
    }

    async fn state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let key = key.to_string();
        self.with_reader(move |c| {
            use rusqlite::OptionalExtension;
            c.prepare_cached("SELECT value FROM node_state WHERE key = ?1")
                .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
                .map_err(sql_err)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth;

    /// A database written by the first schema (one column per field) is migrated on open
    /// and every row reads back, addresses searchable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn version_1_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let start = Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
        let events: Vec<Event> = (0..50).map(|i| synth::event("v1", i, start)).collect();
        {
            let conn = Connection::open(dir.path().join("ncsoc.db")).unwrap();
            for t in ["events", "flows"] {
                let cols: Vec<String> = EVENT_COLUMNS
                    .iter()
                    .map(|(name, ch)| {
                        let ty = if ch.contains("String(16)") {
                            "BLOB"
                        } else if ch.contains("String") || ch.contains("Array") {
                            "TEXT"
                        } else {
                            "INTEGER"
                        };
                        format!("{name} {ty}")
                    })
                    .collect();
                conn.execute_batch(&format!(
                    "CREATE TABLE {t} ({}); CREATE UNIQUE INDEX {t}_id ON {t}(id); \
                     CREATE INDEX {t}_src_ip ON {t}(src_ip);",
                    cols.join(", ")
                ))
                .unwrap();
            }
            conn.execute_batch("PRAGMA user_version=1").unwrap();
            // Only the columns the old writer always filled plus a few fields; the rest
            // NULL, as the old layout stored absent fields.
            for e in &events {
                let t = if e.is_flow() { "flows" } else { "events" };
                let src = e.fields.source_ip.map(crate::row::ip_bytes);
                conn.execute(
                    &format!(
                        "INSERT INTO {t} (id, ts, sector, source, category, src_ip, src_port, is_flow, extra) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, '')"
                    ),
                    params![
                        e.id,
                        e.timestamp.nanos(),
                        e.sector,
                        e.source,
                        serde_json::to_string(&e.fields.category).unwrap(),
                        src.as_ref().map(|b| &b[..]),
                        e.fields.source_port,
                        i64::from(e.is_flow()),
                    ],
                )
                .unwrap();
            }
        }
        let store = SqliteStore::open(dir.path(), &StoreConfig::default()).unwrap();
        let version: i64 = lock(&store.reader)
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let all = EventQuery::new(Scope::All);
        let flows = events.iter().filter(|e| e.is_flow()).count() as u64;
        assert_eq!(store.count(Table::Flows, &all).await.unwrap(), flows);
        assert_eq!(store.count(Table::Events, &all).await.unwrap(), 50 - flows);

        let e = events.iter().find(|e| !e.is_flow()).unwrap();
        let mut q = EventQuery::new(Scope::All);
        q.ip = Some((e.fields.source_ip.unwrap(), 32));
        let got = store.search(Table::Events, &q).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id, e.id);
        assert_eq!(got[0].fields.category, e.fields.category);
        assert_eq!(got[0].fields.source_port, e.fields.source_port);
    }

    /// A version 2 database's incidents get the list's filter columns and entity index.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn version_2_incidents_are_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let i: Incident = serde_json::from_value(serde_json::json!({
            "id": "inc-1", "title": "Port scan from 203.0.113.9", "kind": "port_scan",
            "severity": "high", "score": 70, "status": "acknowledged", "sectors": ["energy"],
            "entities": [{"type": "ip", "value": "203.0.113.9", "role": "attacker"}],
            "first_seen": "2026-03-01T00:00:00Z", "last_seen": "2026-03-01T00:10:00Z"
        }))
        .unwrap();
        {
            let conn = Connection::open(dir.path().join("ncsoc.db")).unwrap();
            conn.execute_batch(
                "CREATE TABLE incidents (id TEXT PRIMARY KEY, updated_at INTEGER NOT NULL, first_seen INTEGER NOT NULL, \
                   last_seen INTEGER NOT NULL, status TEXT NOT NULL, severity TEXT NOT NULL, kind TEXT NOT NULL, \
                   score INTEGER NOT NULL, doc TEXT NOT NULL);
                 CREATE INDEX incidents_last_seen ON incidents(last_seen);
                 CREATE TABLE incident_sectors (incident_id TEXT NOT NULL, sector TEXT NOT NULL, \
                   PRIMARY KEY (incident_id, sector)) WITHOUT ROWID;
                 INSERT INTO incident_sectors VALUES ('inc-1', 'energy');
                 PRAGMA user_version=2;",
            )
            .unwrap();
            conn.execute(
                "INSERT INTO incidents VALUES ('inc-1', 0, ?1, ?2, 'acknowledged', 'high', 'port_scan', 70, ?3)",
                params![i.first_seen.nanos(), i.last_seen.nanos(), serde_json::to_string(&i).unwrap()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(dir.path(), &StoreConfig::default()).unwrap();
        let mut q = IncidentQuery::new(Scope::Sectors(vec!["energy".into()]));
        q.entity = Some("203.0.113.9".into());
        q.min_severity = Some(ncsoc_model::Severity::High);
        q.text = Some("PORT SCAN".into());
        q.sort = crate::IncidentSort::parse("-severity").unwrap();
        assert_eq!(store.incidents(&q).await.unwrap(), vec![i]);
        q.min_severity = Some(ncsoc_model::Severity::Critical);
        assert!(store.incidents(&q).await.unwrap().is_empty());
        // Opening again changes nothing.
        drop(store);
        SqliteStore::open(dir.path(), &StoreConfig::default()).unwrap();
    }
}
