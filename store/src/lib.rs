//! Storage for ncsoc: one [`Store`] trait with two real backends, the embedded SQLite
//! store (the zero-setup default, [`sqlite::SqliteStore`]) and ClickHouse
//! ([`clickhouse::ClickHouseStore`]), plus the [`writer::Writer`] that batches by size and
//! time and falls back to a bounded on-disk [`spool::Spool`] when the backend is down.
//!
//! Every query takes the caller's sector scope ([`Scope`]) and filters by it in the query
//! itself, so an analyst limited to some sectors cannot read others' rows through any
//! path that goes through this crate.

pub mod clickhouse;
mod codec;
pub mod config;
pub mod control;
pub mod metrics;
pub mod row;
pub mod search;
pub mod spool;

pub mod sqlite;
pub mod synth;
pub mod writer;

use std::net::IpAddr;
use std::sync::Arc;

use async_trait::async_trait;
use ncsoc_model::{
    DeadLetter, Event, Incident, IncidentKind, Indicator, Severity, Status, Timestamp,
};

pub use config::{Backend, StoreConfig};
pub use control::ControlStore;
pub use metrics::StoreMetrics;
pub use search::{
    Bucket, Cursor, Field, FieldFilter, FieldValue, IndicatorQuery, Metric, Order, TopBy, TopEntry,
};
pub use writer::{Writer, WriterHandle};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or failed mid-request: the write may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("invalid query: {0}")]
    BadQuery(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("spool: {0}")]
    Spool(String),
    #[error("configuration: {0}")]
    Config(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which table a count or search reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Events,
    Flows,
    DeadLetters,
}

impl Table {
    pub fn name(self) -> &'static str {
        match self {
            Table::Events => "events",
            Table::Flows => "flows",
            Table::DeadLetters => "dead_letters",
        }
    }
}

/// The sectors a caller may read. `All` is for admins and internal use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    All,
    Sectors(Vec<String>),
}

impl Scope {
    pub fn allows(&self, sector: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Sectors(s) => s.iter().any(|x| x == sector),
        }
    }
}

/// A search over events, flows or dead letters. Every filter is optional except the scope.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub scope: Scope,
    /// Narrows further within the scope.
    pub sector: Option<String>,
    /// Event time, inclusive lower bound.
    pub from: Option<Timestamp>,
    /// Event time, exclusive upper bound.
    pub to: Option<Timestamp>,
    /// Source or destination address within this prefix.
    pub ip: Option<(IpAddr, u8)>,
    /// Source or destination port.
    pub port: Option<u16>,
    pub ids: Vec<String>,
    /// Exact-value filters on allow-listed fields, all of which must match.
    pub fields: Vec<FieldFilter>,
    /// Free-text terms ([`search::parse_text_terms`], lowercased), each of which must
    /// appear, regardless of case, in some text value of the record: the original line,
    /// the message, any text field, or the JSON of its other fields.
    pub text: Vec<String>,
    /// Which end of the time range results start from (searches only).
    pub order: Order,
    /// Only rows after this one in `order` (searches only).
    pub after: Option<Cursor>,
    pub limit: usize,
}

impl EventQuery {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            sector: None,
            from: None,
            to: None,
            ip: None,
            port: None,
            ids: Vec::new(),
            fields: Vec::new(),
            text: Vec::new(),
            order: Order::OldestFirst,
            after: None,
            limit: 1000,
        }
    }
}

/// What the incident list is ordered by. Ties are broken by id in the same direction, so
/// every incident has one exact position and a cursor names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncidentSortKey {
    LastSeen,
    FirstSeen,
    /// By severity (low < medium < high < critical).
    Severity,
    Score,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentSort {
    pub key: IncidentSortKey,
    pub descending: bool,
}

impl Default for IncidentSort {
    /// Newest activity first.
    fn default() -> Self {
        Self {
            key: IncidentSortKey::LastSeen,
            descending: true,
        }
    }
}

impl IncidentSort {
    /// The names the API takes: `last_seen`, `first_seen`, `severity`, `score`, each
    /// ascending, or descending with a leading `-` (`-last_seen`).
    pub const NAMES: &'static [&'static str] = &[
        "last_seen",
        "-last_seen",
        "first_seen",
        "-first_seen",
        "severity",
        "-severity",
        "score",
        "-score",
    ];

    pub fn parse(s: &str) -> Result<Self> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(n) => (true, n),
            None => (false, s),
        };
        let key = match name {
            "last_seen" => IncidentSortKey::LastSeen,
            "first_seen" => IncidentSortKey::FirstSeen,
            "severity" => IncidentSortKey::Severity,
            "score" => IncidentSortKey::Score,
            _ => {
                return Err(StoreError::BadQuery(format!(
                    "unknown sort `{}`; one of {}",
                    s.chars().take(32).collect::<String>(),
                    Self::NAMES.join(", ")
                )))
            }
        };
        Ok(Self { key, descending })
    }

    pub fn as_str(self) -> &'static str {
        let i = match self.key {
            IncidentSortKey::LastSeen => 0,
            IncidentSortKey::FirstSeen => 2,
            IncidentSortKey::Severity => 4,
            IncidentSortKey::Score => 6,
        };
        Self::NAMES[i + usize::from(self.descending)]
    }

    /// The column both backends store the sort key in.
    pub fn column(self) -> &'static str {
        match self.key {
            IncidentSortKey::LastSeen => "last_seen",
            IncidentSortKey::FirstSeen => "first_seen",
            IncidentSortKey::Severity => "severity_rank",
            IncidentSortKey::Score => "score",
        }
    }

    /// The incident's value of the sort key, as the backends store it.
    pub fn key_of(self, i: &Incident) -> i64 {
        match self.key {
            IncidentSortKey::LastSeen => i.last_seen.nanos(),
            IncidentSortKey::FirstSeen => i.first_seen.nanos(),
            IncidentSortKey::Severity => severity_rank(i.severity),
            IncidentSortKey::Score => i64::from(i.score),
        }
    }

    /// The cursor that continues a list after `last`.
    pub fn cursor_after(self, last: &Incident) -> IncidentCursor {
        IncidentCursor {
            key: self.key_of(last),
            id: last.id.clone(),
        }
    }

    /// `(key, id)` after the cursor in this order, as SQL over `column()` and `id` with
    /// three parameters (key, key, id). Written out rather than as a row-value comparison,
    /// which ClickHouse 18.16 does not have.
    pub fn after_condition(self) -> String {
        let (col, op) = (self.column(), if self.descending { "<" } else { ">" });
        format!("({col} {op} ? OR ({col} = ? AND id {op} ?))")
    }

    pub fn order_by(self) -> String {
        let dir = if self.descending { "DESC" } else { "ASC" };
        format!("{} {dir}, id {dir}", self.column())
    }
}

/// A position in the incident list: the sort key and id of the last incident returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentCursor {
    pub key: i64,
    pub id: String,
}

/// Severity as a number that orders (low 0 .. critical 3), stored beside the name.
pub fn severity_rank(s: Severity) -> i64 {
    match s {
        Severity::Low => 0,
        Severity::Medium => 1,
        Severity::High => 2,
        Severity::Critical => 3,
    }
}

/// What the incident list's text filter looks in: the title and every entity value,
/// lowercased (the filter lowercases its needle the same way).
pub fn incident_search_text(i: &Incident) -> String {
    let mut s = i.title.to_lowercase();
    for e in &i.entities {
        s.push('\n');
        s.push_str(&e.value.to_lowercase());
    }
    s
}

/// Filters for the incident list. Every filter is optional except the scope; lists of
/// values match any of them.
#[derive(Debug, Clone)]
pub struct IncidentQuery {
    pub scope: Scope,
    pub statuses: Vec<Status>,
    /// This severity or higher.
    pub min_severity: Option<Severity>,
    pub kinds: Vec<IncidentKind>,
    /// Incidents touching any of these sectors (narrows further within the scope).
    pub sectors: Vec<String>,
    /// An entity with exactly this value (any type, any role).
    pub entity: Option<String>,
    /// Active at or after this time: `last_seen >= from`.
    pub from: Option<Timestamp>,
    /// Active before this time: `first_seen < to`.
    pub to: Option<Timestamp>,
    /// Case-insensitive substring of the title or an entity value.
    pub text: Option<String>,
    pub sort: IncidentSort,
    /// Continue after this position of `sort`.
    pub after: Option<IncidentCursor>,
    pub limit: usize,
}

impl IncidentQuery {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            statuses: Vec::new(),
            min_severity: None,
            kinds: Vec::new(),
            sectors: Vec::new(),
            entity: None,
            from: None,
            to: None,
            text: None,
            sort: IncidentSort::default(),
            after: None,
            limit: 100,
        }
    }

    /// The severities `min_severity` admits, lowest first (empty: any).
    pub fn severities(&self) -> Vec<Severity> {
        match self.min_severity {
            None => Vec::new(),
            Some(min) => Severity::ALL
                .iter()
                .copied()
                .filter(|s| *s >= min)
                .collect(),
        }
    }
}

/// Whether a batch is written for the first time, or again after an attempt whose outcome
/// is unknown (a timeout, a crash, a spooled batch). Backends make retries idempotent by
/// event id, so a retried batch is stored exactly once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    Fresh,
    Retry,
}

/// Where the store writer ([`Writer`]) sends its batches: a [`Store`] (through
/// [`StoreSink`]), or, on an intake node of a scaled-out deployment, the message bus that
/// the analysis nodes read. A sink that cannot take a batch answers
/// [`StoreError::Unavailable`], and the writer spools the batch until it can.
#[async_trait]
pub trait Sink: Send + Sync + 'static {
    /// Names the spool folder (`<data_dir>/spool/<name>`) and the logs.
    fn name(&self) -> &'static str;
    async fn write_events(&self, events: &[Event], mode: WriteMode) -> Result<()>;
    async fn write_dead_letters(&self, letters: &[DeadLetter], mode: WriteMode) -> Result<()>;
}

/// A [`Store`] as the writer's [`Sink`].
pub struct StoreSink(pub Arc<dyn Store>);

#[async_trait]
impl Sink for StoreSink {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    async fn write_events(&self, events: &[Event], mode: WriteMode) -> Result<()> {
        self.0.write_events(events, mode).await
    }
    async fn write_dead_letters(&self, letters: &[DeadLetter], mode: WriteMode) -> Result<()> {
        self.0.write_dead_letters(letters, mode).await
    }
}

/// What a storage backend offers. Implementations: [`sqlite::SqliteStore`],
/// [`clickhouse::ClickHouseStore`].
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Stores events and flows (each goes to its own table by [`Event::is_flow`]).
    async fn write_events(&self, events: &[Event], mode: WriteMode) -> Result<()>;
    async fn write_dead_letters(&self, letters: &[DeadLetter], mode: WriteMode) -> Result<()>;

    async fn count(&self, table: Table, q: &EventQuery) -> Result<u64>;
    /// Events or flows matching `q`, in `q.order` (ties on time broken by id) after
    /// `q.after`, at most `q.limit`.
    async fn search(&self, table: Table, q: &EventQuery) -> Result<Vec<Event>>;
    /// The `limit` largest groups of the rows matching `q` (its order, cursor and limit
    /// aside) by `metric`, largest first; rows without the key are left out.
    async fn top(
        &self,
        table: Table,
        q: &EventQuery,
        by: TopBy,
        metric: Metric,
        limit: usize,
    ) -> Result<Vec<TopEntry>>;
    /// The rows matching `q` per sector and `bucket_secs`-wide bucket of event time
    /// (aligned to the epoch), ordered by bucket then sector; empty buckets are left out.
    /// `q.from` and `q.to` are required ([`search::bucket_range`]).
    async fn timeseries(
        &self,
        table: Table,
        q: &EventQuery,
        bucket_secs: u32,
    ) -> Result<Vec<Bucket>>;
    async fn dead_letters(&self, q: &EventQuery) -> Result<Vec<DeadLetter>>;

    /// Inserts or replaces an incident by id.
    async fn put_incident(&self, incident: &Incident) -> Result<()>;
    /// The incident, if it exists and the scope may see one of its sectors.
    async fn incident(&self, id: &str, scope: &Scope) -> Result<Option<Incident>>;
    async fn incidents(&self, q: &IncidentQuery) -> Result<Vec<Incident>>;

    async fn put_indicators(&self, indicators: &[Indicator]) -> Result<()>;
    async fn indicators(&self, limit: usize) -> Result<Vec<Indicator>>;
    /// Indicators matching `q`, by id.
    async fn search_indicators(&self, q: &IndicatorQuery) -> Result<Vec<Indicator>>;
    /// Deletes an indicator; false if there was none with this id.
    async fn delete_indicator(&self, id: &str) -> Result<bool>;

    /// Deletes events, flows and dead letters older than `cutoff` (event time), where the
    /// backend does not do it by itself (ClickHouse TTL on new servers).
    async fn enforce_retention(&self, cutoff: Timestamp) -> Result<()>;

    /// Bytes the backend uses on disk for `table`, for capacity planning and benchmarks.
    async fn disk_bytes(&self, table: Table) -> Result<u64>;

    /// Quick liveness check for `/healthz`.
    async fn ping(&self) -> Result<()>;

    /// Keeps `value` under `key`, replacing what was there: the state a node of a
    /// scaled-out deployment hands over to the next owner of its work (the detector's
    /// checkpoint of one partition, with the offsets it covers). At most
    /// [`MAX_STATE_BYTES`].
    async fn put_state(&self, key: &str, value: &[u8]) -> Result<()>;
    /// What [`Store::put_state`] last kept under `key`.
    async fn state(&self, key: &str) -> Result<Option<Vec<u8>>>;
}

/// Largest value [`Store::put_state`] takes.
pub const MAX_STATE_BYTES: usize = 256 << 20;

/// Refuses a state key or value over the limits (a key is at most 256 printable bytes).
pub fn check_state(key: &str, value: &[u8]) -> Result<()> {
    if key.is_empty() || key.len() > 256 || key.bytes().any(|b| b.is_ascii_control()) {
        return Err(StoreError::BadQuery(format!(
            "state key must be 1..=256 bytes without control characters: {key:?}"
        )));
    }
    if value.len() > MAX_STATE_BYTES {
        return Err(StoreError::BadQuery(format!(
            "state value of {} bytes is over the {MAX_STATE_BYTES}-byte limit",
            value.len()
        )));
    }
    Ok(())
}

/// Runs blocking work (a SQLite transaction, a spool file write) on the current thread
/// without moving its arguments elsewhere: on a multi-threaded runtime the worker first
/// hands its other tasks to another thread ([`tokio::task::block_in_place`]); on a
/// current-thread runtime (one-shot commands) it simply blocks.
pub(crate) fn block_here<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Opens the configured backend, creating or migrating its schema.
pub async fn open(config: &StoreConfig) -> Result<Arc<dyn Store>> {
    Ok(match config.backend {
        Backend::Sqlite => Arc::new(sqlite::SqliteStore::open(&config.data_dir, config)?),
        Backend::Clickhouse => Arc::new(
            clickhouse::ClickHouseStore::connect(&config.clickhouse, config.retention_days).await?,
        ),
    })
}
