//! The ClickHouse backend: the official `clickhouse` crate over HTTP, RowBinary inserts,
//! schema validation off (Debian's 18.16 server cannot describe tables the way the crate's
//! validation expects), schema created and kept current by [`ddl`] at connect.
//!
//! A fresh batch is one `INSERT` per table. A retried batch (after a timeout or from the
//! spool) first asks which of its ids are already stored, in the batch's own sector and
//! time range so the primary key narrows the scan, and inserts only the rest: every row
//! arrives exactly once even when an earlier attempt's outcome was unknown.
//!
//! If the server is down at start, ncsoc still starts: the schema is created on the first
//! write that reaches it, and until then batches go to the spool.
//!
//! With `cluster` set the same code runs over a cluster: [`ddl::Layout`] creates replicated
//! local tables behind `Distributed` tables of the usual names, and the few statements a
//! `Distributed` table refuses (retention's partition drops, the parts it reads for disk
//! use) go to the local tables on every node.

pub mod ddl;
mod search;

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use ncsoc_model::{DeadLetter, Event, Incident, Indicator, Timestamp};
use tokio::sync::Mutex;

use crate::config::ClickHouseConfig;
use crate::row::{cidr_range, DeadLetterRow, EventRowRef, DEAD_LETTER_COLUMNS};
use crate::{
    incident_search_text, severity_rank, Bucket, EventQuery, IncidentQuery, IndicatorQuery, Metric,
    Result, Scope, Store, StoreError, Table, TopBy, TopEntry, WriteMode,
};
use ddl::{Features, Layout};

/// Ids per existence check of a retried batch; keeps each query far below `max_query_size`.
const ID_CHECK_CHUNK: usize = 2_000;

pub struct ClickHouseStore {
    client: ::clickhouse::Client,
    admin: ::clickhouse::Client,
    database: String,
    retention_days: u32,
    timeout: Duration,
    layout: Layout,
    features: Mutex<Option<Features>>,
}

fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("clickhouse: {e}"))
}

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct IdRow {
    id: String,
}

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct IdDocRow {
    id: String,
    doc: String,
}

#[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
struct DocRow {
    doc: String,
}

#[derive(Debug, ::clickhouse::Row, serde::Serialize)]
struct IncidentRow<'a> {
    id: &'a str,
    updated_at: i64,
    first_seen: i64,
    last_seen: i64,
    status: &'a str,
    severity: &'a str,
    kind: &'a str,
    score: u8,
    sectors: &'a [String],
    doc: String,
    severity_rank: u8,
    entity_values: Vec<&'a str>,
    search: String,
}

#[derive(Debug, ::clickhouse::Row, serde::Serialize)]
struct IndicatorRow {
    id: String,
    kind: String,
    value: String,
    source: String,
    valid_from: i64,
    valid_until: Option<i64>,
    tlp: String,
    version: i64,
    doc: String,
}

#[derive(Debug, ::clickhouse::Row, serde::Serialize, serde::Deserialize)]
struct StateRow {
    id: String,
    version: i64,
    value: Vec<u8>,
}

impl ClickHouseStore {
    /// Connects and creates or updates the schema; a server that is down is not an error
    /// here (see the module docs), a wrong password or bad config is.
    pub async fn connect(config: &ClickHouseConfig, retention_days: u32) -> Result<Self> {
        if !crate::config::is_identifier(&config.database) {
            return Err(StoreError::Config(format!(
                "invalid ClickHouse database name `{}`",
                config.database
            )));
        }
        let mut admin = ::clickhouse::Client::default()
            .with_url(&config.url)
            .with_user(&config.user)
            .with_validation(false)
            .with_compression(if config.compression {
                ::clickhouse::Compression::Lz4
            } else {
                ::clickhouse::Compression::None
            });
        if !config.password.is_empty() {
            admin = admin.with_password(&config.password);
        }
        let layout = Layout::from_config(config)?;
        let mut client = admin.clone().with_database(&config.database);
        if layout.cluster().is_some() {
            // An insert is acknowledged once its rows are on their shards, so a retried
            // batch's existence check sees them; an `IN (SELECT ...)` over a Distributed
            // table runs on each shard's local table (incidents are sharded by id, so each
            // shard answers for its own).
            client = client
                .with_setting("insert_distributed_sync", "1")
                .with_setting("distributed_product_mode", "local");
        }
        let store = Self {
            client,
            admin,
            database: config.database.clone(),
            retention_days,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            layout,
            features: Mutex::new(None),
        };
        match store.ensure_schema().await {
            Ok(f) => {
                tracing::info!(url = %config.url, version = ?f.version, "connected to ClickHouse")
            }
            Err(StoreError::Unavailable(e)) => {
                tracing::warn!(url = %config.url, error = %e, "ClickHouse unreachable at start; writes go to the spool until it answers")
            }
            Err(e) => return Err(e),
        }
        Ok(store)
    }

    /// The server's features, creating the schema the first time the server answers.
    pub async fn ensure_schema(&self) -> Result<Features> {
        let mut guard = self.features.lock().await;
        if let Some(f) = *guard {
            return Ok(f);
        }
        let version: String = self
            .timed(self.admin.query("SELECT version()").fetch_one::<String>())
            .await?;
        let features = Features::from_version(&version);
        let mut engines = self.table_engines().await?;
        if let Some(c) = self.layout.cluster() {
            self.check_cluster(c).await?;
        }
        // On a cluster, `ON CLUSTER` statements wait for every node: once the tables exist
        // they are not run again, so a restart does not hang on a node that is down.
        if !(self.layout.cluster().is_some() && self.layout.has_all_tables(&engines)) {
            for stmt in self
                .layout
                .schema(&self.database, features, self.retention_days)
            {
                self.timed(self.admin.query(&stmt).execute()).await?;
            }
            engines = self.table_engines().await?;
        }
        self.layout
            .check_engines(&self.database, &engines)
            .map_err(StoreError::Config)?;
        self.upgrade_incidents(features).await?;
        *guard = Some(features);
        Ok(features)
    }

    /// (name, engine) of the database's tables on the server connected to.
    async fn table_engines(&self) -> Result<Vec<(String, String)>> {
        self.timed(
            self.admin
                .query("SELECT name, engine FROM system.tables WHERE database = ?")
                .bind(&self.database)
                .fetch_all::<(String, String)>(),
        )
        .await
    }

    /// The cluster is one the server knows, and it defines the macros of the replicated
    /// paths: a clear error here rather than a failed `ON CLUSTER` statement.
    async fn check_cluster(&self, c: &ddl::Cluster) -> Result<()> {
        let clusters: Vec<String> = self
            .timed(
                self.admin
                    .query("SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster")
                    .fetch_all::<String>(),
            )
            .await?;
        if !clusters.contains(&c.name) {
            return Err(StoreError::Config(format!(
                "store.clickhouse.cluster `{}` is not in the server's remote_servers (it has: {})",
                c.name,
                if clusters.is_empty() {
                    "none".to_string()
                } else {
                    clusters.join(", ")
                }
            )));
        }
        let defined: Vec<String> = self
            .timed(
                self.admin
                    .query("SELECT macro FROM system.macros")
                    .fetch_all::<String>(),
            )
            .await?;
        for (key, value) in [
            ("zookeeper_path", &c.zookeeper_path),
            ("replica_name", &c.replica_name),
        ] {
            for m in crate::config::macros(value).unwrap_or_default() {
                if !defined.iter().any(|d| d == m) {
                    return Err(StoreError::Config(format!(
                        "store.clickhouse.{key} uses the macro {{{m}}}, which the server's <macros> does not define"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The incident filter columns `table` lacks (18.16 has no `ADD COLUMN IF NOT EXISTS`,
    /// so they are found in `system.columns`, of the server connected to).
    async fn missing_incident_columns(&self, table: &str) -> Result<Vec<(&str, &str)>> {
        let have: Vec<String> = self
            .timed(
                self.admin
                    .query("SELECT name FROM system.columns WHERE database = ? AND table = ?")
                    .bind(&self.database)
                    .bind(table)
                    .fetch_all::<String>(),
            )
            .await?;
        Ok(ddl::INCIDENT_FILTER_COLUMNS
            .iter()
            .filter(|(name, _)| !have.iter().any(|h| h == name))
            .copied()
            .collect())
    }

    /// An incidents table created before the list filters lacks their columns: they are
    /// added, and every incident is written again so they are filled. On a cluster they are
    /// added to the local tables on every node, and the Distributed table is made again
    /// with them (see [`Layout::recreate_distributed`]).
    async fn upgrade_incidents(&self, features: Features) -> Result<()> {
        let missing = self
            .missing_incident_columns(&self.layout.storage_table("incidents"))
            .await?;
        if !missing.is_empty() {
            tracing::info!(columns = ?missing, "adding the incident filter columns");
        }
        for (name, ty) in &missing {
            let sql = self
                .layout
                .add_column(&self.database, "incidents", name, ty);
            self.timed(self.admin.query(&sql).execute()).await?;
        }
        if self.layout.cluster().is_some()
            && !self.missing_incident_columns("incidents").await?.is_empty()
        {
            for sql in self
                .layout
                .recreate_distributed(&self.database, "incidents", features)
            {
                self.timed(self.admin.query(&sql).execute()).await?;
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        #[derive(Debug, ::clickhouse::Row, serde::Deserialize)]
        struct Stored {
            updated_at: i64,
            doc: String,
        }
        let rows = self
            .timed(
                self.client
                    .query("SELECT updated_at, doc FROM incidents FINAL")
                    .fetch_all::<Stored>(),
            )
            .await?;
        for chunk in rows.chunks(1000) {
            let incidents: Vec<(i64, Incident)> = chunk
                .iter()
                .map(|r| {
                    serde_json::from_str(&r.doc)
                        .map(|i| (r.updated_at, i))
                        .map_err(|e| StoreError::Corrupt(format!("incident: {e}")))
                })
                .collect::<Result<_>>()?;
            // One past the stored version, so the new row is the one FINAL keeps.
            let rows: Vec<IncidentRow<'_>> = incidents
                .iter()
                .map(|(version, i)| incident_row(i, version + 1))
                .collect::<serde_json::Result<_>>()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let fut = async {
                let mut ins = self.client.insert::<IncidentRow<'_>>("incidents").await?;
                for r in &rows {
                    ins.write(r).await?;
                }
                ins.end().await
            };
            self.timed(fut).await?;
        }
        Ok(())
    }

    async fn timed<T>(
        &self,
        fut: impl std::future::Future<Output = ::clickhouse::error::Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(classify),
            Err(_) => Err(StoreError::Unavailable(format!(
                "clickhouse: no answer within {:?}",
                self.timeout
            ))),
        }
    }

    async fn insert_rows<R>(&self, table: &str, rows: &[R]) -> Result<()>
    where
        R: ::clickhouse::Row + ::clickhouse::RowWrite + for<'a> ::clickhouse::RowOwned,
        for<'a> R: ::clickhouse::Row<Value<'a> = R>,
    {
        if rows.is_empty() {
            return Ok(());
        }
        let fut = async {
            let mut insert = self.client.insert::<R>(table).await?;
            for r in rows {
                insert.write(r).await?;
            }
            insert.end().await
        };
        self.timed(fut).await
    }

    /// Ids among `rows` that `table` already holds.
    async fn existing_ids(&self, table: &str, rows: &[EventRowRef<'_>]) -> Result<HashSet<String>> {
        let mut found = HashSet::new();
        for chunk in rows.chunks(ID_CHECK_CHUNK) {
            let sectors: Vec<&str> = chunk
                .iter()
                .map(|r| r.sector)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let lo = chunk.iter().map(|r| r.ts).min().unwrap_or(0);
            let hi = chunk.iter().map(|r| r.ts).max().unwrap_or(0);
            let ids: Vec<&str> = chunk.iter().map(|r| r.id).collect();
            let sql = format!(
                "SELECT id FROM `{table}` WHERE sector IN {} AND ts >= ? AND ts <= ? AND id IN {}",
                placeholders(sectors.len()),
                placeholders(ids.len())
            );
            let mut binds: Vec<BindValue> = sectors
                .into_iter()
                .map(|s| BindValue::Str(s.to_string()))
                .collect();
            binds.push(BindValue::I64(lo));
            binds.push(BindValue::I64(hi));
            binds.extend(ids.into_iter().map(|s| BindValue::Str(s.to_string())));
            for r in self
                .timed(self.query(&sql, binds).fetch_all::<IdRow>())
                .await?
            {
                found.insert(r.id);
            }
        }
        Ok(found)
    }

    /// Inserts the events (or the flows) of a batch, skipping ids already stored on a retry.
    /// Rows are encoded straight from the events: no intermediate row vector.
    async fn write_table(
        &self,
        table: &str,
        events: &[Event],
        flows: bool,
        mode: WriteMode,
    ) -> Result<()> {
        let wanted = |e: &&Event| e.is_flow() == flows;
        let have = if mode == WriteMode::Retry {
            let rows: Vec<EventRowRef<'_>> = events
                .iter()
                .filter(wanted)
                .map(EventRowRef::from_event)
                .collect();
            self.existing_ids(table, &rows).await?
        } else {
            HashSet::new()
        };
        if !events.iter().filter(wanted).any(|e| !have.contains(&e.id)) {
            return Ok(());
        }
        // A retried batch may also hold one record twice (read twice from a bus that got
        // it twice): only its first copy is written.
        let mut seen: HashSet<&str> = HashSet::new();
        let fut = async {
            let mut insert = self.client.insert::<EventRowRef<'_>>(table).await?;
            for e in events
                .iter()
                .filter(wanted)
                .filter(|e| !have.contains(&e.id))
                .filter(|e| mode == WriteMode::Fresh || seen.insert(e.id.as_str()))
            {
                insert.write(&EventRowRef::from_event(e)).await?;
            }
            insert.end().await
        };
        self.timed(fut).await
    }

    /// Appends ` AND ...` conditions for an event query; `None` if the scope allows nothing.
    fn conditions(q: &EventQuery, time_col: &str) -> Result<Option<(String, Vec<BindValue>)>> {
        let mut sql = String::from(" WHERE 1");
        let mut binds = Vec::new();
        if let Scope::Sectors(s) = &q.scope {
            if s.is_empty() {
                return Ok(None);
            }
            sql.push_str(&format!(" AND sector IN {}", placeholders(s.len())));
            binds.extend(s.iter().cloned().map(BindValue::Str));
        }
        if let Some(s) = &q.sector {
            sql.push_str(" AND sector = ?");
            binds.push(BindValue::Str(s.clone()));
        }
        if let Some(from) = q.from {
            sql.push_str(&format!(" AND {time_col} >= ?"));
            binds.push(BindValue::I64(from.nanos()));
        }
        if let Some(to) = q.to {
            sql.push_str(&format!(" AND {time_col} < ?"));
            binds.push(BindValue::I64(to.nanos()));
        }
        if let Some((net, prefix)) = q.ip {
            let (lo, hi) = cidr_range(net, prefix)?;
            // FixedString(16) compares bytewise; literals are written as unhex() so any byte fits.
            let (lo, hi) = (hex(&lo), hex(&hi));
            sql.push_str(&format!(
                " AND ((src_ip >= unhex('{lo}') AND src_ip <= unhex('{hi}')) OR (dst_ip >= unhex('{lo}') AND dst_ip <= unhex('{hi}')))"
            ));
        }
        if let Some(p) = q.port {
            sql.push_str(" AND (src_port = ? OR dst_port = ?)");
            binds.push(BindValue::I64(i64::from(p)));
            binds.push(BindValue::I64(i64::from(p)));
        }
        if !q.ids.is_empty() {
            sql.push_str(&format!(" AND id IN {}", placeholders(q.ids.len())));
            binds.extend(q.ids.iter().cloned().map(BindValue::Str));
        }
        search::extra_conditions(q, &mut sql, &mut binds)?;
        Ok(Some((sql, binds)))
    }

    fn query(&self, sql: &str, binds: Vec<BindValue>) -> ::clickhouse::query::Query {
        let mut q = self.client.query(sql);
        for b in binds {
            q = match b {
                BindValue::Str(s) => q.bind(s),
                BindValue::I64(i) => q.bind(i),
            };
        }
        q
    }

    /// Drops day partitions older than `cutoff` on servers without TTL (on a cluster, those
    /// of every node's local table).
    async fn drop_old_partitions(&self, table: &str, cutoff: Timestamp) -> Result<()> {
        let (y, m, d, ..) = cutoff.to_civil();
        let cutoff_day = format!("{y:04}{m:02}{d:02}");
        let sql = format!(
            "SELECT DISTINCT partition FROM {} WHERE database = ? AND table = ? AND active",
            self.layout.parts_source()
        );
        let parts: Vec<String> = self
            .timed(
                self.client
                    .query(&sql)
                    .bind(&self.database)
                    .bind(self.layout.storage_table(table))
                    .fetch_all::<String>(),
            )
            .await?;
        for p in parts {
            if p.len() == 8 && p.bytes().all(|b| b.is_ascii_digit()) && p < cutoff_day {
                let sql = self.layout.drop_partition(&self.database, table, &p);
                self.timed(self.client.query(&sql).execute()).await?;
                tracing::info!(table, partition = %p, "dropped partition past retention");
            }
        }
        Ok(())
    }
}

/// A value bound to a `?` of a query; the client escapes it. Lists are bound one
/// element per `?` (see [`placeholders`]): 18.16 reads an array literal after `IN` as an
/// array, not a set.
enum BindValue {
    Str(String),
    I64(i64),
}

/// `(?, ?, ...)` with `n` placeholders (`n` ≥ 1).
fn placeholders(n: usize) -> String {
    format!("({})", vec!["?"; n.max(1)].join(", "))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

/// Server exception codes that mean "try again later" rather than "this request is wrong".
const TRANSIENT_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    999, // KEEPER_EXCEPTION
];

/// An exception the server raised for this request (bad SQL, type mismatch) is not an
/// outage, and retrying the same request would fail forever; network errors, timeouts and
/// the transient codes above are outages and are retried.
fn classify(e: ::clickhouse::error::Error) -> StoreError {
    use ::clickhouse::error::Error as E;
    if let E::BadResponse(msg) = &e {
        if let Some(code) = exception_code(msg) {
            if !TRANSIENT_CODES.contains(&code) {
                return StoreError::BadQuery(format!("clickhouse: {msg}"));
            }
        }
    }
    unavailable(e)
}

fn exception_code(msg: &str) -> Option<u32> {
    let rest = &msg[msg.find("Code: ")? + 6..];
    rest[..rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len())]
        .parse()
        .ok()
}

#[async_trait]
impl Store for ClickHouseStore {
    fn name(&self) -> &'static str {
        "clickhouse"
    }

    async fn write_events(&self, events: &[Event], mode: WriteMode) -> Result<()> {
        self.ensure_schema().await?;
        self.write_table("events", events, false, mode).await?;
        self.write_table("flows", events, true, mode).await
    }

    async fn write_dead_letters(&self, letters: &[DeadLetter], mode: WriteMode) -> Result<()> {
        self.ensure_schema().await?;
        let mut rows: Vec<DeadLetterRow> = letters.iter().map(DeadLetterRow::from).collect();
        if mode == WriteMode::Retry && !rows.is_empty() {
            let mut have = HashSet::new();
            for chunk in rows.chunks(ID_CHECK_CHUNK) {
                let sql = format!(
                    "SELECT id FROM dead_letters WHERE id IN {}",
                    placeholders(chunk.len())
                );
                let binds = chunk.iter().map(|r| BindValue::Str(r.id.clone())).collect();
                have.extend(
                    self.timed(self.query(&sql, binds).fetch_all::<IdRow>())
                        .await?
                        .into_iter()
                        .map(|r| r.id),
                );
            }
            rows.retain(|r| !have.contains(&r.id));
        }
        self.insert_rows("dead_letters", &rows).await
    }

    async fn count(&self, table: Table, q: &EventQuery) -> Result<u64> {
        self.ensure_schema().await?;
        let time_col = if table == Table::DeadLetters {
            "received"
        } else {
            "ts"
        };
        if table == Table::DeadLetters && (q.ip.is_some() || q.port.is_some()) {
            return Err(StoreError::BadQuery(
                "dead letters have no addresses or ports to filter on".into(),
            ));
        }
        let Some((cond, binds)) = Self::conditions(q, time_col)? else {
            return Ok(0);
        };
        let sql = format!("SELECT count() FROM `{}`{cond}", table.name());
        self.timed(self.query(&sql, binds).fetch_one::<u64>()).await
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
        self.ensure_schema().await?;
        let Some((cond, binds)) = Self::conditions(q, "received")? else {
            return Ok(Vec::new());
        };
        let cols: Vec<&str> = DEAD_LETTER_COLUMNS.iter().map(|c| c.0).collect();
        let sql = format!(
            "SELECT {} FROM dead_letters{cond} ORDER BY received, id LIMIT {}",
            cols.join(","),
            q.limit
        );
        let rows = self
            .timed(self.query(&sql, binds).fetch_all::<DeadLetterRow>())
            .await?;
        Ok(rows.into_iter().map(DeadLetter::from).collect())
    }

    async fn put_incident(&self, i: &Incident) -> Result<()> {
        self.ensure_schema().await?;
        let row = incident_row(i, i.updated_at.nanos().max(Timestamp::now().nanos()))
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let fut = async {
            let mut ins = self.client.insert::<IncidentRow<'_>>("incidents").await?;
            ins.write(&row).await?;
            ins.end().await
        };
        self.timed(fut).await
    }

    async fn incident(&self, id: &str, scope: &Scope) -> Result<Option<Incident>> {
        self.ensure_schema().await?;
        let mut q = IncidentQuery::new(scope.clone());
        q.limit = 1;
        let Some((cond, cond_binds)) = incident_conditions(&q) else {
            return Ok(None);
        };
        // `PREWHERE` on the key: every version of the incident shares its id, so FINAL still
        // sees them all, and only the granules holding it are read (a `WHERE` here read the
        // whole `doc` column on 18.16).
        let mut binds = vec![BindValue::Str(id.to_string())];
        binds.extend(cond_binds);
        let sql = format!("SELECT doc FROM incidents FINAL PREWHERE id = ?{cond} LIMIT 1");
        let row = self
            .timed(
                self.query(&sql, binds)
                    .with_setting("optimize_move_to_prewhere", "0")
                    .fetch_optional::<DocRow>(),
            )
            .await?;
        row.map(|r| {
            serde_json::from_str(&r.doc)
                .map_err(|e| StoreError::Corrupt(format!("incident {id}: {e}")))
        })
        .transpose()
    }

    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>> {
        self.ensure_schema().await?;
        let Some((cond, cond_binds)) = incident_conditions(q) else {
            return Ok(Vec::new());
        };
        // A text filter first narrows the incidents FINAL has to merge to those with any
        // version whose text matches (the key in `PREWHERE`, so every version of those is
        // still merged); the `WHERE` then checks the latest version.
        let (prewhere, mut binds) = match &q.text {
            Some(t) => (
                " PREWHERE id IN (SELECT id FROM incidents WHERE position(search, ?) > 0)",
                vec![BindValue::Str(t.to_lowercase())],
            ),
            None => ("", Vec::new()),
        };
        binds.extend(cond_binds);
        // The page in two steps: the ids of the page first, which reads only the narrow
        // filter and sort columns of every incident, then the documents of just those ids
        // (a primary-key lookup in `PREWHERE`, as in `incident`). Reading `doc` for every
        // incident to sort them was what made a large incident table slow to page.
        let sql = format!(
            "SELECT id FROM incidents FINAL{prewhere}{cond} ORDER BY {} LIMIT {}",
            q.sort.order_by(),
            q.limit
        );
        let ids = self
            .timed(
                self.query(&sql, binds)
                    .with_setting("optimize_move_to_prewhere", "0")
                    .fetch_all::<IdRow>(),
            )
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT id, doc FROM incidents FINAL PREWHERE id IN {}",
            placeholders(ids.len())
        );
        let binds = ids.iter().map(|r| BindValue::Str(r.id.clone())).collect();
        let docs = self
            .timed(self.query(&sql, binds).fetch_all::<IdDocRow>())
            .await?;
        let mut by_id: std::collections::HashMap<String, String> =
            docs.into_iter().map(|r| (r.id, r.doc)).collect();
        // In the order of the first step; an incident changed in between is shown as it is
        // now (its row is the latest version either way).
        ids.into_iter()
            .filter_map(|r| by_id.remove(&r.id))
            .map(|doc| {
                serde_json::from_str(&doc)
                    .map_err(|e| StoreError::Corrupt(format!("incident: {e}")))
            })
            .collect()
    }

    async fn put_indicators(&self, indicators: &[Indicator]) -> Result<()> {
        self.ensure_schema().await?;
        let version = Timestamp::now().nanos();
        let rows: Vec<IndicatorRow> = indicators
            .iter()
            .map(|i| {
                Ok(IndicatorRow {
                    id: i.id.clone(),
                    kind: i.kind.as_str().to_string(),
                    value: i.value.clone(),
                    source: i.source.clone(),
                    valid_from: i.valid_from.nanos(),
                    valid_until: i.valid_until.map(Timestamp::nanos),
                    tlp: i.tlp.as_str().to_string(),
                    version,
                    doc: serde_json::to_string(i)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                })
            })
            .collect::<Result<_>>()?;
        self.insert_rows("indicators", &rows).await
    }

    async fn indicators(&self, limit: usize) -> Result<Vec<Indicator>> {
        self.indicator_rows(&IndicatorQuery {
            limit,
            ..IndicatorQuery::default()
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
        let f = self.ensure_schema().await?;
        if f.ttl {
            return Ok(()); // the tables' TTL does it
        }
        for t in ["events", "flows", "dead_letters"] {
            self.drop_old_partitions(t, cutoff).await?;
        }
        Ok(())
    }

    /// On a cluster, the bytes of every node's local table, replicas included.
    async fn disk_bytes(&self, table: Table) -> Result<u64> {
        self.ensure_schema().await?;
        let sql = format!(
            "SELECT toUInt64(sum(bytes)) FROM {} WHERE database = ? AND table = ? AND active",
            self.layout.parts_source()
        );
        let q = self
            .client
            .query(&sql)
            .bind(&self.database)
            .bind(self.layout.storage_table(table.name()));
        self.timed(q.fetch_one::<u64>()).await
    }

    async fn ping(&self) -> Result<()> {
        self.timed(self.admin.query("SELECT 1").fetch_one::<u8>())
            .await
            .map(|_| ())
    }

    async fn put_state(&self, key: &str, value: &[u8]) -> Result<()> {
        crate::check_state(key, value)?;
        self.ensure_schema().await?;
        let row = StateRow {
            id: key.to_string(),
            version: Timestamp::now().nanos(),
            value: value.to_vec(),
        };
        self.insert_rows("node_state", std::slice::from_ref(&row))
            .await
    }

    async fn state(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.ensure_schema().await?;
        // The newest version, whether or not the replacing merge has run yet.
        let q = self
            .client
            .query("SELECT ?fields FROM node_state WHERE id = ? ORDER BY version DESC LIMIT 1")
            .bind(key);
        Ok(self
            .timed(q.fetch_optional::<StateRow>())
            .await?
            .map(|r| r.value))
    }
}

/// The stored row of an incident, with `version` as the ReplacingMergeTree version.
fn incident_row(i: &Incident, version: i64) -> serde_json::Result<IncidentRow<'_>> {
    Ok(IncidentRow {
        id: &i.id,
        updated_at: version,
        first_seen: i.first_seen.nanos(),
        last_seen: i.last_seen.nanos(),
        status: i.status.as_str(),
        severity: i.severity.as_str(),
        kind: i.kind.as_str(),
        score: i.score,
        sectors: &i.sectors,
        doc: serde_json::to_string(i)?,
        severity_rank: severity_rank(i.severity) as u8,
        entity_values: i.entities.iter().map(|e| e.value.as_str()).collect(),
        search: incident_search_text(i),
    })
}

/// The `WHERE` clause of an incident query over `incidents FINAL`; `None` if the scope
/// allows nothing. The conditions must apply to the merged (latest) rows, so queries that
/// use them run with `optimize_move_to_prewhere = 0`: a condition moved to `PREWHERE`
/// would filter versions before `FINAL` picks the latest, and could return a stale one.
fn incident_conditions(q: &IncidentQuery) -> Option<(String, Vec<BindValue>)> {
    let mut sql = String::from(" WHERE 1");
    let mut binds = Vec::new();
    if let Scope::Sectors(s) = &q.scope {
        if s.is_empty() {
            return None;
        }
        sql.push_str(&format!(
            " AND arrayExists(x -> x IN {}, sectors)",
            placeholders(s.len())
        ));
        binds.extend(s.iter().cloned().map(BindValue::Str));
    }
    if !q.sectors.is_empty() {
        sql.push_str(&format!(
            " AND arrayExists(x -> x IN {}, sectors)",
            placeholders(q.sectors.len())
        ));
        binds.extend(q.sectors.iter().cloned().map(BindValue::Str));
    }
    if !q.statuses.is_empty() {
        sql.push_str(&format!(
            " AND status IN {}",
            placeholders(q.statuses.len())
        ));
        binds.extend(q.statuses.iter().map(|s| BindValue::Str(s.as_str().into())));
    }
    if let Some(min) = q.min_severity {
        sql.push_str(" AND severity_rank >= ?");
        binds.push(BindValue::I64(severity_rank(min)));
    }
    if !q.kinds.is_empty() {
        sql.push_str(&format!(" AND kind IN {}", placeholders(q.kinds.len())));
        binds.extend(q.kinds.iter().map(|k| BindValue::Str(k.as_str().into())));
    }
    if let Some(v) = &q.entity {
        sql.push_str(" AND has(entity_values, ?)");
        binds.push(BindValue::Str(v.clone()));
    }
    if let Some(from) = q.from {
        sql.push_str(" AND last_seen >= ?");
        binds.push(BindValue::I64(from.nanos()));
    }
    if let Some(to) = q.to {
        sql.push_str(" AND first_seen < ?");
        binds.push(BindValue::I64(to.nanos()));
    }
    if let Some(t) = &q.text {
        sql.push_str(" AND position(search, ?) > 0");
        binds.push(BindValue::Str(t.to_lowercase()));
    }
    if let Some(c) = &q.after {
        sql.push_str(" AND ");
        sql.push_str(&q.sort.after_condition());
        binds.push(BindValue::I64(c.key));
        binds.push(BindValue::I64(c.key));
        binds.push(BindValue::Str(c.id.clone()));
    }
    Some((sql, binds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_codes() {
        assert_eq!(
            exception_code("Code: 53, e.displayText() = DB::Exception: Type mismatch"),
            Some(53)
        );
        assert_eq!(
            exception_code("Code: 241. DB::Exception: Memory limit"),
            Some(241)
        );
        assert_eq!(exception_code("connection refused"), None);
        assert_eq!(placeholders(3), "(?, ?, ?)");
    }
}
