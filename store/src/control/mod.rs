//! The control store: API tokens, the audit log, the incident change log (what the live
//! stream and the webhooks read), and the webhook outbox.
//!
//! It is always SQLite (`control.db` under the data directory), whichever backend holds
//! events and flows: these are small, transactional, read-modify-write tables that a
//! column store serves badly. In a multi-node deployment the API node owns it.

pub mod audit;
pub mod changes;
pub mod tokens;
pub mod webhooks;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;

use crate::{Result, StoreError};

pub use audit::{AuditEntry, AuditQuery};
pub use changes::{Change, ChangeKind};
pub use tokens::{Role, TokenRecord};
pub use webhooks::{
    Delivery, DeliveryCounts, DeliveryQuery, DeliveryStatus, Destination, DestinationSource,
    Dispatch, Due, Failure, NewDelivery,
};

/// Every table of the control store, created if missing. Each part keeps its own DDL.
fn schema() -> String {
    [
        tokens::SCHEMA,
        audit::SCHEMA,
        changes::SCHEMA,
        webhooks::SCHEMA,
    ]
    .join("\n")
}

pub struct ControlStore {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for ControlStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ControlStore")
            .field("path", &self.path)
            .finish()
    }
}

pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("control store: {e}"))
}

impl ControlStore {
    /// Opens (creating if needed) `DIR/control.db`.
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Config(format!(
                "cannot create data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join("control.db");
        let conn = Connection::open(&path).map_err(sql_err)?;
        Self::init(conn, path)
    }

    /// A private in-memory store, for unit tests and one-shot commands.
    pub fn in_memory() -> Result<Self> {
        let conn = Connection::open_in_memory().map_err(sql_err)?;
        Self::init(conn, PathBuf::from(":memory:"))
    }

    fn init(conn: Connection, path: PathBuf) -> Result<Self> {
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000; \
             PRAGMA foreign_keys=ON;",
        )
        .map_err(sql_err)?;
        conn.execute_batch(&schema()).map_err(sql_err)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection. The control tables are small and indexed, so calls
    /// are short; on a multi-threaded runtime the worker hands its other tasks away first
    /// ([`crate::block_here`]).
    pub fn call<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        crate::block_here(|| {
            let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut c).map_err(sql_err)
        })
    }
}

/// A JSON list column (sectors, kinds) as stored.
pub(crate) fn json_list(v: &[String]) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(crate) fn parse_json_list(s: &str) -> Vec<String> {
    serde_json::from_str(s).unwrap_or_default()
}
