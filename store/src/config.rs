//! The `[store]` section of `ncsoc.toml`.

use std::path::PathBuf;

use serde::Deserialize;

use crate::StoreError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Embedded SQLite under `data_dir`: no server needed.
    #[default]
    Sqlite,
    /// A ClickHouse server over HTTP (`[store.clickhouse]`).
    Clickhouse,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (default) or `clickhouse`.
    pub backend: Backend,
    /// Where the SQLite database and the spool live.
    pub data_dir: PathBuf,
    /// Events, flows and dead letters older than this many days (event time) are deleted.
    pub retention_days: u32,
    /// Rows per insert: a batch is written when it has this many rows...
    pub batch_size: usize,
    /// ...or when its oldest row has waited this long.
    pub batch_max_delay_ms: u64,
    /// Events queued in memory before senders are pushed back.
    pub channel_capacity: usize,
    pub clickhouse: ClickHouseConfig,
    pub sqlite: SqliteConfig,
    pub spool: SpoolConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SqliteConfig {
    /// How long a write waits for a database locked by another process before the batch
    /// is spooled.
    pub busy_timeout_ms: u64,
}

impl Default for SqliteConfig {
    fn default() -> Self {
        Self {
            busy_timeout_ms: 5_000,
        }
    }
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: Backend::Sqlite,
            data_dir: PathBuf::from("data"),
            retention_days: 30,
            batch_size: 10_000,
            batch_max_delay_ms: 1_000,
            channel_capacity: 100_000,
            clickhouse: ClickHouseConfig::default(),
            sqlite: SqliteConfig::default(),
            spool: SpoolConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClickHouseConfig {
    /// HTTP interface of the server.
    pub url: String,
    /// Created if missing.
    pub database: String,
    pub user: String,
    /// Prefer the environment: `NCSOC_STORE__CLICKHOUSE__PASSWORD`. Never logged.
    pub password: String,
    /// Per-request timeout; a batch that times out is spooled and retried idempotently.
    pub timeout_secs: u64,
    /// LZ4-compress inserts on the wire.
    pub compression: bool,
}

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "ncsoc".into(),
            user: "default".into(),
            password: String::new(),
            timeout_secs: 30,
            compression: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpoolConfig {
    /// Upper bound of the on-disk spool; when full, intake is pushed back.
    pub max_bytes: u64,
    /// How often a waiting spool retries the backend.
    pub retry_interval_ms: u64,
}

impl Default for SpoolConfig {
    fn default() -> Self {
        Self {
            max_bytes: 1 << 30,
            retry_interval_ms: 1_000,
        }
    }
}

impl StoreConfig {
    /// Reads a `--store URL`: `sqlite:DIR` (or `sqlite://DIR`), or
    /// `clickhouse://HOST:PORT/DATABASE` / `http(s)://HOST:PORT/DATABASE`.
    pub fn apply_url(&mut self, url: &str) -> Result<(), StoreError> {
        if let Some(dir) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if dir.is_empty() {
                return Err(StoreError::Config(
                    "`sqlite:` needs a directory, e.g. sqlite:data".into(),
                ));
            }
            self.backend = Backend::Sqlite;
            self.data_dir = PathBuf::from(dir);
            return Ok(());
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            StoreError::Config(format!(
                "store URL `{url}` has no scheme (sqlite:, clickhouse://, http://)"
            ))
        })?;
        let scheme = match scheme {
            "clickhouse" => "http",
            "http" | "https" => scheme,
            other => {
                return Err(StoreError::Config(format!(
                    "unknown store URL scheme `{other}`"
                )))
            }
        };
        let (host, db) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            return Err(StoreError::Config(format!("store URL `{url}` has no host")));
        }
        self.backend = Backend::Clickhouse;
        self.clickhouse.url = format!("{scheme}://{host}");
        if !db.is_empty() {
            self.clickhouse.database = db.trim_end_matches('/').to_string();
        }
        Ok(())
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), StoreError> {
        let bad = |m: &str| Err(StoreError::Config(m.to_string()));
        if self.batch_size == 0 || self.batch_size > 1_000_000 {
            return bad("store.batch_size must be between 1 and 1000000");
        }
        if self.channel_capacity == 0 {
            return bad("store.channel_capacity must be at least 1");
        }
        if self.spool.max_bytes < 1 << 20 {
            return bad("store.spool.max_bytes must be at least 1 MiB");
        }
        if !is_identifier(&self.clickhouse.database) {
            return bad("store.clickhouse.database must be letters, digits and `_`");
        }
        Ok(())
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_urls() {
        let mut c = StoreConfig::default();
        c.apply_url("sqlite:/tmp/x").unwrap();
        assert_eq!(
            (c.backend, c.data_dir.to_str().unwrap()),
            (Backend::Sqlite, "/tmp/x")
        );
        c.apply_url("clickhouse://127.0.0.1:8123/soc").unwrap();
        assert_eq!(c.backend, Backend::Clickhouse);
        assert_eq!(c.clickhouse.url, "http://127.0.0.1:8123");
        assert_eq!(c.clickhouse.database, "soc");
        assert!(c.apply_url("ftp://x").is_err());
        assert!(c.apply_url("nothing").is_err());
        assert!(c.apply_url("sqlite:").is_err());
    }

    #[test]
    fn validation_names_the_key() {
        let c = StoreConfig {
            batch_size: 0,
            ..StoreConfig::default()
        };
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("store.batch_size"));
        let mut c = StoreConfig::default();
        c.clickhouse.database = "x; DROP".into();
        assert!(c.validate().is_err());
    }
}
