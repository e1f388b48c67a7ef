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
    /// A cluster in the servers' `remote_servers`: the tables are replicated local tables
    /// on every node behind `Distributed` tables (see `clickhouse::ddl`). Empty: one server.
    pub cluster: String,
    /// Cluster mode: ZooKeeper/Keeper path of the replicated tables, before
    /// `/<database>/<table>`; its macros (`{shard}`) are expanded by each server.
    pub zookeeper_path: String,
    /// Cluster mode: the replica name, a macro each server defines.
    pub replica_name: String,
    /// Cluster mode: the integer expression that spreads events and flows over the shards.
    pub sharding_key: String,
}

/// The default [`ClickHouseConfig::sharding_key`]: the source address, so one source's
/// rows stay on one shard (as they stay on one Kafka partition and one detector shard);
/// rows without one are spread by id. Nullable keys are refused by `Distributed`.
pub const DEFAULT_SHARDING_KEY: &str =
    "if(isNull(src_ip), cityHash64(id), cityHash64(assumeNotNull(src_ip)))";

impl Default for ClickHouseConfig {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8123".into(),
            database: "ncsoc".into(),
            user: "default".into(),
            password: String::new(),
            timeout_secs: 30,
            compression: true,
            cluster: String::new(),
            zookeeper_path: "/clickhouse/tables/{shard}".into(),
            replica_name: "{replica}".into(),
            sharding_key: DEFAULT_SHARDING_KEY.into(),
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
        self.clickhouse.validate_cluster()
    }
}

impl ClickHouseConfig {
    /// Checks the cluster keys; they are read only when `cluster` is set.
    pub fn validate_cluster(&self) -> Result<(), StoreError> {
        if self.cluster.is_empty() {
            return Ok(());
        }
        let bad = |m: String| Err(StoreError::Config(m));
        let c = &self.cluster;
        if c.len() > 128
            || !c
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
        {
            return bad(format!(
                "store.clickhouse.cluster `{c}` must be at most 128 letters, digits, `_`, `-` or `.`"
            ));
        }
        let p = &self.zookeeper_path;
        if !p.starts_with('/')
            || p.ends_with('/')
            || p.contains("//")
            || p.len() > 256
            || !p
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-./{}".contains(&b))
        {
            return bad(format!(
                "store.clickhouse.zookeeper_path `{p}` must be an absolute path without a trailing `/`, \
                 at most 256 letters, digits, `_`, `-`, `.`, `/` and {{macros}}, e.g. /clickhouse/tables/{{shard}}"
            ));
        }
        match macros(p) {
            Some(m) if !m.is_empty() => {}
            _ => {
                return bad(format!(
                "store.clickhouse.zookeeper_path `{p}` needs a macro such as {{shard}}, so each \
                     shard replicates under its own path (and well-formed braces)"
            ))
            }
        }
        let r = &self.replica_name;
        if r.len() > 128
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_-.{}".contains(&b))
            || !matches!(macros(r), Some(m) if !m.is_empty())
        {
            return bad(format!(
                "store.clickhouse.replica_name `{r}` must be a macro such as {{replica}} (at most \
                 128 letters, digits, `_`, `-`, `.`), so each server names its replica differently"
            ));
        }
        check_expression(&self.sharding_key).map_err(|why| {
            StoreError::Config(format!(
                "store.clickhouse.sharding_key `{}`: {why}",
                self.sharding_key
            ))
        })
    }
}

/// The `{macro}` names in `s`; `None` if its braces are not well formed.
pub(crate) fn macros(s: &str) -> Option<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return None;
        }
        let after = &rest[open + 1..];
        let close = after.find('}')?;
        let name = &after[..close];
        if !is_identifier(name) {
            return None;
        }
        out.push(name);
        rest = &after[close + 1..];
    }
    Some(out)
}

/// An SQL expression written into DDL as is: one expression, no statement separator or
/// comment, balanced parentheses and quotes, bounded.
fn check_expression(e: &str) -> Result<(), &'static str> {
    if e.trim().is_empty() {
        return Err("must not be empty");
    }
    if e.len() > 512 {
        return Err("must be at most 512 characters");
    }
    if e.chars().any(|c| c.is_control() || !c.is_ascii()) {
        return Err("must be printable ASCII on one line");
    }
    if e.contains(';') || e.contains("--") || e.contains("/*") || e.contains('\\') {
        return Err("must be one expression, without `;`, comments or backslashes");
    }
    let mut depth = 0i32;
    let mut quote = None;
    for c in e.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth -= 1;
                if depth < 0 {
                    return Err("has unbalanced parentheses");
                }
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("has an unclosed quote");
    }
    if depth != 0 {
        return Err("has unbalanced parentheses");
    }
    Ok(())
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

    /// The cluster keys are documented in the example configuration, with their defaults.
    #[test]
    fn cluster_keys_are_in_the_example() {
        let text = include_str!("../../ncsoc.example.toml");
        let section = &text[text.find("\n[store.clickhouse]\n").unwrap() + 1..];
        let section = &section[..section[1..].find("\n[").unwrap() + 2];
        let d = ClickHouseConfig::default();
        for (key, value) in [
            ("cluster", &d.cluster),
            ("zookeeper_path", &d.zookeeper_path),
            ("replica_name", &d.replica_name),
            ("sharding_key", &d.sharding_key),
        ] {
            assert!(
                section.contains(&format!("\n{key} = \"{value}\"\n")),
                "{key} is documented with its default"
            );
        }
    }

    fn cluster_error(f: impl FnOnce(&mut ClickHouseConfig)) -> String {
        let mut c = StoreConfig::default();
        c.clickhouse.cluster = "soc_cluster".into();
        f(&mut c.clickhouse);
        c.validate()
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn cluster_keys_are_checked_only_in_cluster_mode() {
        // Defaults are valid in cluster mode.
        assert_eq!(cluster_error(|_| {}), "");
        // Without a cluster the replicated keys are not read, so not checked.
        let mut c = StoreConfig::default();
        c.clickhouse.zookeeper_path = "relative".into();
        c.clickhouse.validate_cluster().unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn bad_cluster_keys_name_the_key_and_the_fix() {
        let e = cluster_error(|c| c.cluster = "a b".into());
        assert!(e.contains("store.clickhouse.cluster `a b`"), "{e}");
        for (path, why) in [
            ("clickhouse/{shard}", "absolute path"),
            ("/clickhouse/{shard}/", "absolute path"),
            ("/click'house/{shard}", "absolute path"),
            ("/clickhouse/tables", "needs a macro such as {shard}"),
            ("/clickhouse/{shard", "needs a macro"),
            ("/clickhouse/}{", "needs a macro"),
            ("/clickhouse/{1x}", "needs a macro"),
        ] {
            let e = cluster_error(|c| c.zookeeper_path = path.into());
            assert!(
                e.contains("store.clickhouse.zookeeper_path") && e.contains(why),
                "{path}: {e}"
            );
        }
        for name in ["replica_1", "", "{replica}'", "{rep lica}"] {
            let e = cluster_error(|c| c.replica_name = name.into());
            assert!(e.contains("store.clickhouse.replica_name"), "{name}: {e}");
        }
        for (key, why) in [
            ("", "must not be empty"),
            ("cityHash64(id)); DROP TABLE x", "without `;`"),
            ("cityHash64(id) -- x", "without `;`, comments"),
            ("cityHash64(id", "unbalanced parentheses"),
            ("cityHash64(id))(", "unbalanced parentheses"),
            ("cityHash64('a)", "unclosed quote"),
            ("cityHash64(id)\nFORMAT", "one line"),
        ] {
            let e = cluster_error(|c| c.sharding_key = key.into());
            assert!(
                e.contains("store.clickhouse.sharding_key") && e.contains(why),
                "{key}: {e}"
            );
        }
        // Parentheses inside a quoted literal do not count.
        assert_eq!(
            cluster_error(|c| c.sharding_key = "cityHash64(id, ')')".into()),
            ""
        );
        assert_eq!(
            cluster_error(|c| c.zookeeper_path = "/ch/{layer}-{shard}/t".into()),
            ""
        );
    }
}
