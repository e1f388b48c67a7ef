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
use ncsoc_model::{DeadLetter, Event, Incident, Indicator, Timestamp};

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
            order: Order::OldestFirst,
            after: None,
            limit: 1000,
        }
    }
}

/// Filters for the incident list; results are newest `last_seen` first.
#[derive(Debug, Clone)]
pub struct IncidentQuery {
    pub scope: Scope,
    pub status: Option<ncsoc_model::Status>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

impl IncidentQuery {
    pub fn new(scope: Scope) -> Self {
        Self {
            scope,
            status: None,
            from: None,
            to: None,
            limit: 100,
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
