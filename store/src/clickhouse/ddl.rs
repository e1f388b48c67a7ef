//! ClickHouse DDL, generated from the shared row columns for the server it talks to.
//!
//! Debian's `clickhouse-server` 18.16 (what CI installs) has none of LowCardinality (19.0),
//! column codecs (19.1) or table TTL (19.6); newer servers get all three from the same
//! code. Times are `Int64` nanoseconds on every version (DateTime64 needs 20.1), so rows
//! are encoded identically in RowBinary whatever the server. Tables are partitioned by
//! day of event time and ordered by `(sector, ts)`, the filter of nearly every analyst query.
//!
//! The same tables on a cluster are replicated local tables behind `Distributed` ones:
//! see [`Layout`].

use crate::row::{DEAD_LETTER_COLUMNS, EVENT_COLUMNS};

/// What the connected server supports, from its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    pub version: (u32, u32),
    pub low_cardinality: bool,
    pub codecs: bool,
    pub ttl: bool,
}

impl Features {
    /// From `SELECT version()`, e.g. `18.16.1` or `24.8.4.13`.
    pub fn from_version(v: &str) -> Self {
        let mut parts = v.trim().split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        Self {
            version,
            low_cardinality: version >= (19, 0),
            codecs: version >= (19, 1),
            ttl: version >= (19, 6),
        }
    }
}

/// Columns whose values repeat a lot: dictionary-encoded where the server can.
const LOW_CARDINALITY: &[&str] = &[
    "sector",
    "source",
    "kind",
    "action",
    "outcome",
    "dataset",
    "module",
    "observer_vendor",
    "observer_product",
    "observer_version",
    "transport",
    "protocol",
    "direction",
    "flow_version",
    "format",
];

/// A column of a table: name, type, and the codec the local table stores it with.
struct Column {
    name: String,
    ty: String,
    codec: Option<&'static str>,
}

impl Column {
    fn plain(name: &str, ty: impl Into<String>) -> Self {
        Self {
            name: name.to_string(),
            ty: ty.into(),
            codec: None,
        }
    }

    /// A shared row column, typed for the server (LowCardinality where it can).
    fn row(name: &str, ch: &str, f: Features) -> Self {
        let mut ty = ch.to_string();
        if f.low_cardinality && LOW_CARDINALITY.contains(&name) {
            ty = format!("LowCardinality({ty})");
        }
        let codec = if f.codecs {
            match name {
                "ts" | "created" | "received" | "flow_start" | "flow_end" => {
                    Some("CODEC(Delta, ZSTD(1))")
                }
                "original" | "message" | "extra" | "raw" | "reason" => Some("CODEC(ZSTD(3))"),
                "id" => Some("CODEC(ZSTD(1))"),
                _ => None,
            }
        } else {
            None
        };
        Self {
            name: name.to_string(),
            ty,
            codec,
        }
    }
}

/// How a table orders, versions and ages its rows.
enum Engine {
    /// Append-only rows partitioned by day of `time_col`, with the retention TTL.
    Log { time_col: &'static str },
    /// One row per id; the highest `version` wins at merge and under `FINAL`.
    Replacing { version: &'static str },
}

/// One table of the schema, whatever the layout.
struct TableDef {
    name: &'static str,
    columns: Vec<Column>,
    engine: Engine,
    /// What spreads the rows over a cluster's shards (see [`Layout`]).
    sharding_key: String,
}

/// The tables, by the names the queries use.
pub const TABLE_NAMES: [&str; 6] = [
    "events",
    "flows",
    "dead_letters",
    "incidents",
    "indicators",
    "node_state",
];

/// The sharding key of the tables whose rows are found by id: every version of an incident
/// or indicator (and a deleted indicator's tombstone) lands on the shard that holds the
/// others, so `FINAL` and `argMax` per shard see them all.
const BY_ID: &str = "cityHash64(id)";

fn tables(f: Features, sharding_key: &str) -> Vec<TableDef> {
    let lc = |t: &str| {
        if f.low_cardinality {
            format!("LowCardinality({t})")
        } else {
            t.to_string()
        }
    };
    let row = |cols: &[(&str, &str)]| -> Vec<Column> {
        cols.iter().map(|(n, t)| Column::row(n, t, f)).collect()
    };
    let mut incident_cols = vec![
        Column::plain("id", "String"),
        Column::plain("updated_at", "Int64"),
        Column::plain("first_seen", "Int64"),
        Column::plain("last_seen", "Int64"),
        Column::plain("status", lc("String")),
        Column::plain("severity", lc("String")),
        Column::plain("kind", lc("String")),
        Column::plain("score", "UInt8"),
        Column::plain("sectors", "Array(String)"),
        Column::plain("doc", "String"),
    ];
    incident_cols.extend(
        INCIDENT_FILTER_COLUMNS
            .iter()
            .map(|(n, t)| Column::plain(n, *t)),
    );
    vec![
        TableDef {
            name: "events",
            columns: row(EVENT_COLUMNS),
            engine: Engine::Log { time_col: "ts" },
            sharding_key: sharding_key.to_string(),
        },
        TableDef {
            name: "flows",
            columns: row(EVENT_COLUMNS),
            engine: Engine::Log { time_col: "ts" },
            sharding_key: sharding_key.to_string(),
        },
        TableDef {
            name: "dead_letters",
            columns: row(DEAD_LETTER_COLUMNS),
            engine: Engine::Log {
                time_col: "received",
            },
            sharding_key: BY_ID.to_string(),
        },
        TableDef {
            name: "incidents",
            columns: incident_cols,
            engine: Engine::Replacing {
                version: "updated_at",
            },
            sharding_key: BY_ID.to_string(),
        },
        TableDef {
            name: "indicators",
            columns: vec![
                Column::plain("id", "String"),
                Column::plain("kind", lc("String")),
                Column::plain("value", "String"),
                Column::plain("source", lc("String")),
                Column::plain("valid_from", "Int64"),
                Column::plain("valid_until", "Nullable(Int64)"),
                Column::plain("tlp", lc("String")),
                Column::plain("version", "Int64"),
                Column::plain("doc", "String"),
            ],
            engine: Engine::Replacing { version: "version" },
            sharding_key: BY_ID.to_string(),
        },
        // State a node hands over (`Store::put_state`): a detector checkpoint per partition.
        TableDef {
            name: "node_state",
            columns: vec![
                Column::plain("id", "String"),
                Column::plain("version", "Int64"),
                Column::plain("value", "Array(UInt8)"),
            ],
            engine: Engine::Replacing { version: "version" },
            sharding_key: BY_ID.to_string(),
        },
    ]
}

fn day_of(col: &str) -> String {
    format!("toDateTime(intDiv({col}, 1000000000))")
}

/// Columns of the incidents table that only the incident list's filters read (the whole
/// incident is in `doc`). Tables created before them get them added at connect.
pub const INCIDENT_FILTER_COLUMNS: &[(&str, &str)] = &[
    ("severity_rank", "UInt8"),
    ("entity_values", "Array(String)"),
    ("search", "String"),
];

/// The replicated layout's settings, from `[store.clickhouse]` (checked by
/// `ClickHouseConfig::validate_cluster` before they get here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    /// A cluster of the servers' `remote_servers`.
    pub name: String,
    /// ZooKeeper/Keeper path prefix; `/<database>/<table>` is appended.
    pub zookeeper_path: String,
    /// The replica name, a macro such as `{replica}`.
    pub replica_name: String,
    /// The sharding key of the events and flows tables.
    pub sharding_key: String,
}

/// Where the tables live.
///
/// On one server each table is a `MergeTree` (or `ReplacingMergeTree`) under its own name.
/// On a cluster each table is a replicated `<table>_local` on every node, created
/// `ON CLUSTER`, and the name the rest of the code reads and writes is a `Distributed`
/// table over them, so queries and inserts are the same in both layouts. What a
/// `Distributed` table refuses goes to the local tables instead: partition operations and
/// mutations (`ALTER ... DROP PARTITION`, `ALTER ... DELETE`), and its parts are on the
/// nodes (`system.parts` knows only the local tables). `FINAL` and `PREWHERE` pass through
/// to the shards. Inserts go through it synchronously (`insert_distributed_sync`), so an
/// acknowledged batch is on its shards and a retry's existence check sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    Single,
    Cluster(Cluster),
}

impl Layout {
    pub fn from_config(c: &crate::config::ClickHouseConfig) -> Result<Self, crate::StoreError> {
        if c.cluster.is_empty() {
            return Ok(Self::Single);
        }
        c.validate_cluster()?;
        Ok(Self::Cluster(Cluster {
            name: c.cluster.clone(),
            zookeeper_path: c.zookeeper_path.clone(),
            replica_name: c.replica_name.clone(),
            sharding_key: c.sharding_key.clone(),
        }))
    }

    pub fn cluster(&self) -> Option<&Cluster> {
        match self {
            Self::Single => None,
            Self::Cluster(c) => Some(c),
        }
    }

    /// The table that holds `table`'s rows on disk: itself, or `<table>_local` on a cluster.
    pub fn storage_table(&self, table: &str) -> String {
        match self {
            Self::Single => table.to_string(),
            Self::Cluster(_) => format!("{table}_local"),
        }
    }

    fn on_cluster(&self) -> String {
        match self {
            Self::Single => String::new(),
            Self::Cluster(c) => format!(" ON CLUSTER `{}`", c.name),
        }
    }

    /// Every statement that creates the schema, in order. All are `IF NOT EXISTS`, so
    /// running them again on start is how the schema is kept current.
    pub fn schema(&self, db: &str, f: Features, retention_days: u32) -> Vec<String> {
        let key = self.cluster().map_or("", |c| c.sharding_key.as_str());
        let mut out = vec![format!(
            "CREATE DATABASE IF NOT EXISTS `{db}`{}",
            self.on_cluster()
        )];
        for t in tables(f, key) {
            out.push(self.create_storage(db, &t, f, retention_days));
            if let Some(d) = self.create_distributed(db, &t) {
                out.push(d);
            }
        }
        out
    }

    /// The table holding the rows: `MergeTree` on one server, replicated on a cluster.
    fn create_storage(&self, db: &str, t: &TableDef, f: Features, retention_days: u32) -> String {
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| match c.codec {
                Some(codec) => format!("    `{}` {} {codec}", c.name, c.ty),
                None => format!("    `{}` {}", c.name, c.ty),
            })
            .collect();
        let (family, version, tail) = match t.engine {
            Engine::Log { time_col } => {
                let ttl = if f.ttl && retention_days > 0 {
                    format!("\nTTL {} + INTERVAL {retention_days} DAY", day_of(time_col))
                } else {
                    String::new()
                };
                (
                    "MergeTree",
                    None,
                    format!(
                        "\nPARTITION BY toYYYYMMDD({})\nORDER BY (sector, {time_col}){ttl}\nSETTINGS index_granularity = 8192",
                        day_of(time_col)
                    ),
                )
            }
            Engine::Replacing { version } => (
                "ReplacingMergeTree",
                Some(version),
                "\nORDER BY id".to_string(),
            ),
        };
        let engine = match (self, version) {
            (Self::Single, None) => format!("{family}()"),
            (Self::Single, Some(v)) => format!("{family}({v})"),
            (Self::Cluster(c), v) => format!(
                "Replicated{family}('{}/{db}/{}', '{}'{})",
                c.zookeeper_path,
                t.name,
                c.replica_name,
                v.map(|v| format!(", {v}")).unwrap_or_default()
            ),
        };
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`{}`{} (\n{}\n) ENGINE = {engine}{tail}",
            self.storage_table(t.name),
            self.on_cluster(),
            cols.join(",\n")
        )
    }

    /// On a cluster, the `Distributed` table under the table's own name: the same columns
    /// (no codecs: it stores nothing), rows spread by the table's sharding key.
    fn create_distributed(&self, db: &str, t: &TableDef) -> Option<String> {
        let c = self.cluster()?;
        let cols: Vec<String> = t
            .columns
            .iter()
            .map(|c| format!("    `{}` {}", c.name, c.ty))
            .collect();
        Some(format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`{}`{} (\n{}\n) ENGINE = Distributed('{}', '{db}', '{}', {})",
            t.name,
            self.on_cluster(),
            cols.join(",\n"),
            c.name,
            self.storage_table(t.name),
            t.sharding_key
        ))
    }

    /// Adds a column to the table holding `table`'s rows (on every node of a cluster).
    pub fn add_column(&self, db: &str, table: &str, column: &str, ty: &str) -> String {
        format!(
            "ALTER TABLE `{db}`.`{}`{} ADD COLUMN `{column}` {ty}",
            self.storage_table(table),
            self.on_cluster()
        )
    }

    /// Brings a cluster's `Distributed` table to the current columns: it is dropped and
    /// created again (it holds no rows; inserts through it are synchronous). An `ALTER`
    /// cannot do it: 18.16 refuses `ALTER ... ON CLUSTER` on a table that is not replicated
    /// when the cluster's shards are (`internal_replication`). Empty on one server.
    pub fn recreate_distributed(&self, db: &str, table: &str, f: Features) -> Vec<String> {
        let Some(c) = self.cluster() else {
            return Vec::new();
        };
        let Some(t) = tables(f, &c.sharding_key)
            .into_iter()
            .find(|t| t.name == table)
        else {
            return Vec::new();
        };
        let mut out = vec![format!(
            "DROP TABLE IF EXISTS `{db}`.`{table}`{}",
            self.on_cluster()
        )];
        out.extend(self.create_distributed(db, &t));
        out
    }

    /// Checks that the tables found in `db` (name, engine) are the layout's, so a database
    /// made for one server is not taken for a cluster's or the other way round (the
    /// statements that create the schema skip tables that exist, whatever they are).
    pub fn check_engines(&self, db: &str, found: &[(String, String)]) -> Result<(), String> {
        let engine_of = |name: &str| {
            found
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, e)| e.as_str())
        };
        for t in TABLE_NAMES {
            match (self, engine_of(t)) {
                (Self::Single, Some("Distributed")) => {
                    return Err(format!(
                        "table `{db}`.`{t}` is Distributed: the database was made for a cluster; \
                         set store.clickhouse.cluster to its cluster"
                    ))
                }
                (Self::Cluster(_), Some(e)) if e != "Distributed" => {
                    return Err(format!(
                        "table `{db}`.`{t}` is a {e}, not Distributed: the database was made for \
                         one server; give the cluster another store.clickhouse.database"
                    ))
                }
                _ => {}
            }
            if let Self::Cluster(_) = self {
                let local = self.storage_table(t);
                if let Some(e) = engine_of(&local).filter(|e| !e.starts_with("Replicated")) {
                    return Err(format!(
                        "table `{db}`.`{local}` is a {e}, not replicated: create the cluster's \
                         tables in another store.clickhouse.database"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Whether every table of the layout is among `found` (name, engine).
    pub fn has_all_tables(&self, found: &[(String, String)]) -> bool {
        TABLE_NAMES.iter().all(|t| {
            [t.to_string(), self.storage_table(t)]
                .iter()
                .all(|name| found.iter().any(|(n, _)| n == name))
        })
    }

    /// Where the parts of the tables are listed: this server's, or every node's.
    pub fn parts_source(&self) -> String {
        match self {
            Self::Single => "system.parts".to_string(),
            Self::Cluster(c) => format!("cluster('{}', system, parts)", c.name),
        }
    }

    /// Drops one day partition of `table` (`partition` is `YYYYMMDD`, checked by the caller).
    pub fn drop_partition(&self, db: &str, table: &str, partition: &str) -> String {
        match self {
            Self::Single => format!("ALTER TABLE `{table}` DROP PARTITION {partition}"),
            Self::Cluster(_) => format!(
                "ALTER TABLE `{db}`.`{}`{} DROP PARTITION {partition}",
                self.storage_table(table),
                self.on_cluster()
            ),
        }
    }
}

/// The single-server schema (see [`Layout::schema`]).
pub fn schema(db: &str, f: Features, retention_days: u32) -> Vec<String> {
    Layout::Single.schema(db, f, retention_days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_features() {
        let old = Features::from_version("18.16.1");
        assert!(!old.low_cardinality && !old.codecs && !old.ttl);
        let new = Features::from_version("24.8.4.13");
        assert!(new.low_cardinality && new.codecs && new.ttl);
        assert!(!Features::from_version("19.3.5").ttl);
        assert_eq!(Features::from_version("garbage").version, (0, 0));
    }

    #[test]
    fn old_server_ddl_is_plain() {
        let ddl = schema("ncsoc", Features::from_version("18.16.1"), 30).join("\n");
        assert!(!ddl.contains("LowCardinality"));
        assert!(!ddl.contains("CODEC"));
        assert!(!ddl.contains("TTL"));
        assert!(ddl.contains("PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000000000)))"));
        assert!(ddl.contains("ORDER BY (sector, ts)"));
    }

    #[test]
    fn modern_server_ddl_uses_lowcardinality_codecs_and_ttl() {
        let ddl = schema("ncsoc", Features::from_version("23.8.1"), 14);
        let events = &ddl[1];
        assert!(
            events.contains("`sector` LowCardinality(String)"),
            "{events}"
        );
        assert!(
            events.contains("`kind` LowCardinality(Nullable(String))"),
            "{events}"
        );
        assert!(
            events.contains("`ts` Int64 CODEC(Delta, ZSTD(1))"),
            "{events}"
        );
        assert!(events.contains("`extra` String CODEC(ZSTD(3))"), "{events}");
        assert!(
            events.contains("TTL toDateTime(intDiv(ts, 1000000000)) + INTERVAL 14 DAY"),
            "{events}"
        );
        assert!(ddl[3].contains("TTL toDateTime(intDiv(received, 1000000000)) + INTERVAL 14 DAY"));
        assert!(ddl[4].contains("`status` LowCardinality(String)"));
        // Zero retention keeps data forever.
        assert!(!schema("ncsoc", Features::from_version("23.8.1"), 0)[1].contains("TTL"));
    }

    #[test]
    fn every_event_column_is_declared_once() {
        let ddl = &schema("db", Features::from_version("18.16.1"), 1)[1];
        for (name, _) in EVENT_COLUMNS {
            assert_eq!(ddl.matches(&format!("`{name}` ")).count(), 1, "{name}");
        }
    }

    fn cluster() -> Layout {
        Layout::Cluster(Cluster {
            name: "soc".into(),
            zookeeper_path: "/clickhouse/tables/{shard}".into(),
            replica_name: "{replica}".into(),
            sharding_key: crate::config::DEFAULT_SHARDING_KEY.into(),
        })
    }

    const OLD: &str = "18.16.1";
    const NEW: &str = "24.8.4.13";

    /// The single-server schema is the one servers already hold: the files were written by
    /// the generator before the cluster layout existed, and must not change with it (a
    /// new table is only appended: `node_state`).
    #[test]
    fn single_server_schema_is_unchanged() {
        for (v, file) in [
            (OLD, include_str!("testdata/single-18.16.sql")),
            (NEW, include_str!("testdata/single-24.8.sql")),
        ] {
            let got = schema("ncsoc", Features::from_version(v), 30).join(";\n\n") + ";\n";
            assert_eq!(got, file, "{v}");
        }
    }

    /// The whole cluster schema, as the README shows it.
    #[test]
    fn cluster_schema_matches_the_documented_ddl() {
        for (v, file) in [
            (OLD, include_str!("testdata/cluster-18.16.sql")),
            (NEW, include_str!("testdata/cluster-24.8.sql")),
        ] {
            let got = cluster()
                .schema("ncsoc", Features::from_version(v), 30)
                .join(";\n\n")
                + ";\n";
            assert_eq!(got, file, "{v}");
        }
    }

    /// Each replicated local table is the single-server table with only its name, the
    /// `ON CLUSTER` clause and the replicated engine changed: same columns, types, codecs,
    /// partitioning, order and TTL, on both server generations.
    #[test]
    fn cluster_local_tables_keep_the_single_server_layout() {
        for v in [OLD, NEW] {
            let f = Features::from_version(v);
            let single = schema("db", f, 7);
            let clustered = cluster().schema("db", f, 7);
            // The database, then per table the local and the Distributed table.
            assert_eq!(clustered.len(), 1 + 2 * (single.len() - 1), "{v}");
            assert_eq!(
                clustered[0],
                "CREATE DATABASE IF NOT EXISTS `db` ON CLUSTER `soc`"
            );
            for (i, (name, engine, replicated)) in [
                ("events", "MergeTree()", "ReplicatedMergeTree('/clickhouse/tables/{shard}/db/events', '{replica}')"),
                ("flows", "MergeTree()", "ReplicatedMergeTree('/clickhouse/tables/{shard}/db/flows', '{replica}')"),
                ("dead_letters", "MergeTree()", "ReplicatedMergeTree('/clickhouse/tables/{shard}/db/dead_letters', '{replica}')"),
                ("incidents", "ReplacingMergeTree(updated_at)", "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/incidents', '{replica}', updated_at)"),
                ("indicators", "ReplacingMergeTree(version)", "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/db/indicators', '{replica}', version)"),
            ]
            .into_iter()
            .enumerate()
            {
                let expected = single[1 + i]
                    .replace(
                        &format!("`db`.`{name}` ("),
                        &format!("`db`.`{name}_local` ON CLUSTER `soc` ("),
                    )
                    .replace(&format!("ENGINE = {engine}"), &format!("ENGINE = {replicated}"));
                assert_ne!(expected, single[1 + i], "{v} {name}");
                assert_eq!(clustered[1 + 2 * i], expected, "{v} {name}");
            }
        }
    }

    /// The Distributed tables carry the names the queries use, every column of the local
    /// table without its codec, and the sharding keys: the configured one for events and
    /// flows, the id for the tables whose versions must meet on one shard.
    #[test]
    fn distributed_tables_route_by_the_right_key() {
        for v in [OLD, NEW] {
            let f = Features::from_version(v);
            let ddl = cluster().schema("db", f, 7);
            for (i, (name, key)) in [
                ("events", crate::config::DEFAULT_SHARDING_KEY),
                ("flows", crate::config::DEFAULT_SHARDING_KEY),
                ("dead_letters", "cityHash64(id)"),
                ("incidents", "cityHash64(id)"),
                ("indicators", "cityHash64(id)"),
            ]
            .into_iter()
            .enumerate()
            {
                let local = &ddl[1 + 2 * i];
                let dist = &ddl[2 + 2 * i];
                assert!(
                    dist.starts_with(&format!(
                        "CREATE TABLE IF NOT EXISTS `db`.`{name}` ON CLUSTER `soc` (\n"
                    )),
                    "{dist}"
                );
                assert!(
                    dist.ends_with(&format!(
                        "\n) ENGINE = Distributed('soc', 'db', '{name}_local', {key})"
                    )),
                    "{dist}"
                );
                assert!(!dist.contains("CODEC") && !dist.contains("TTL"), "{dist}");
                // Same column lines, codecs aside.
                let columns = |s: &str| -> Vec<String> {
                    s.lines()
                        .filter(|l| l.starts_with("    `"))
                        .map(|l| {
                            let l = l.trim_end_matches(',');
                            l.find(" CODEC(").map_or(l, |p| &l[..p]).to_string()
                        })
                        .collect()
                };
                assert_eq!(columns(dist), columns(local), "{v} {name}");
                assert_eq!(tables(f, "k")[i].name, TABLE_NAMES[i]);
                assert!(!columns(dist).is_empty());
            }
        }
        // A configured key is used as written.
        let mut c = cluster();
        if let Layout::Cluster(c) = &mut c {
            c.sharding_key = "cityHash64(sector)".into();
        }
        let ddl = c.schema("db", Features::from_version(OLD), 0);
        assert!(
            ddl[2].ends_with("'events_local', cityHash64(sector))"),
            "{}",
            ddl[2]
        );
        assert!(
            ddl[8].ends_with("'incidents_local', cityHash64(id))"),
            "{}",
            ddl[8]
        );
    }

    #[test]
    fn cluster_layout_comes_from_the_config() {
        let mut c = crate::config::ClickHouseConfig::default();
        assert_eq!(Layout::from_config(&c).unwrap(), Layout::Single);
        c.cluster = "soc".into();
        assert_eq!(Layout::from_config(&c).unwrap(), cluster());
        c.replica_name = "fixed".into();
        assert!(Layout::from_config(&c)
            .unwrap_err()
            .to_string()
            .contains("replica_name"));
    }

    #[test]
    fn migrations_reach_the_local_and_the_distributed_tables() {
        let f = Features::from_version(OLD);
        assert_eq!(
            Layout::Single.add_column("db", "incidents", "search", "String"),
            "ALTER TABLE `db`.`incidents` ADD COLUMN `search` String"
        );
        assert!(Layout::Single
            .recreate_distributed("db", "incidents", f)
            .is_empty());
        let c = cluster();
        assert_eq!(
            c.add_column("db", "incidents", "search", "String"),
            "ALTER TABLE `db`.`incidents_local` ON CLUSTER `soc` ADD COLUMN `search` String"
        );
        let re = c.recreate_distributed("db", "incidents", f);
        assert_eq!(re.len(), 2);
        assert_eq!(
            re[0],
            "DROP TABLE IF EXISTS `db`.`incidents` ON CLUSTER `soc`"
        );
        // Created again exactly as the schema creates it, so with the new columns.
        assert_eq!(re[1], c.schema("db", f, 30)[8]);
        assert!(re[1].contains("`search` String"));
        assert!(c.recreate_distributed("db", "nonesuch", f).is_empty());
    }

    #[test]
    fn a_database_of_the_other_layout_is_refused() {
        let found = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(n, e)| (n.to_string(), e.to_string()))
                .collect()
        };
        let single = found(&[("events", "MergeTree"), ("incidents", "ReplacingMergeTree")]);
        let clustered = found(&[
            ("events", "Distributed"),
            ("events_local", "ReplicatedMergeTree"),
            ("incidents", "Distributed"),
            ("incidents_local", "ReplicatedReplacingMergeTree"),
        ]);
        Layout::Single.check_engines("db", &single).unwrap();
        // Only a complete schema spares the `ON CLUSTER` statements at connect.
        assert!(!cluster().has_all_tables(&clustered));
        let all: Vec<(String, String)> = TABLE_NAMES
            .iter()
            .flat_map(|t| {
                [
                    (t.to_string(), "Distributed".to_string()),
                    (format!("{t}_local"), "ReplicatedMergeTree".to_string()),
                ]
            })
            .collect();
        assert!(cluster().has_all_tables(&all));
        assert!(!cluster().has_all_tables(&all[1..]));
        assert!(!Layout::Single.has_all_tables(&[]));
        cluster().check_engines("db", &clustered).unwrap();
        let e = Layout::Single.check_engines("db", &clustered).unwrap_err();
        assert!(
            e.contains("`db`.`events` is Distributed") && e.contains("store.clickhouse.cluster"),
            "{e}"
        );
        let e = cluster().check_engines("db", &single).unwrap_err();
        assert!(
            e.contains("`db`.`events` is a MergeTree, not Distributed"),
            "{e}"
        );
        let e = cluster()
            .check_engines("db", &found(&[("flows_local", "MergeTree")]))
            .unwrap_err();
        assert!(
            e.contains("`db`.`flows_local` is a MergeTree, not replicated"),
            "{e}"
        );
    }

    #[test]
    fn retention_targets_the_tables_holding_the_parts() {
        assert_eq!(Layout::Single.parts_source(), "system.parts");
        assert_eq!(
            Layout::Single.drop_partition("db", "events", "20251101"),
            "ALTER TABLE `events` DROP PARTITION 20251101"
        );
        assert_eq!(Layout::Single.storage_table("events"), "events");
        let c = cluster();
        assert_eq!(c.parts_source(), "cluster('soc', system, parts)");
        assert_eq!(c.storage_table("flows"), "flows_local");
        assert_eq!(
            c.drop_partition("db", "flows", "20251101"),
            "ALTER TABLE `db`.`flows_local` ON CLUSTER `soc` DROP PARTITION 20251101"
        );
    }
}
