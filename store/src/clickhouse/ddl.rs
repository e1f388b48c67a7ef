//! ClickHouse DDL, generated from the shared row columns for the server it talks to.
//!
//! Debian's `clickhouse-server` 18.16 (what CI installs) has none of LowCardinality (19.0),
//! column codecs (19.1) or table TTL (19.6); newer servers get all three from the same
//! code. Times are `Int64` nanoseconds on every version (DateTime64 needs 20.1), so rows
//! are encoded identically in RowBinary whatever the server. Tables are partitioned by
//! day of event time and ordered by `(sector, ts)`, the filter of nearly every analyst query.

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

fn column_type(name: &str, ch: &str, f: Features) -> String {
    let mut ty = ch.to_string();
    if f.low_cardinality && LOW_CARDINALITY.contains(&name) {
        ty = format!("LowCardinality({ty})");
    }
    if f.codecs {
        let codec = match name {
            "ts" | "created" | "received" | "flow_start" | "flow_end" => {
                Some("CODEC(Delta, ZSTD(1))")
            }
            "original" | "message" | "extra" | "raw" | "reason" => Some("CODEC(ZSTD(3))"),
            "id" => Some("CODEC(ZSTD(1))"),
            _ => None,
        };
        if let Some(c) = codec {
            ty = format!("{ty} {c}");
        }
    }
    ty
}

fn day_of(col: &str) -> String {
    format!("toDateTime(intDiv({col}, 1000000000))")
}

fn merge_tree_table(
    db: &str,
    table: &str,
    cols: &[(&str, &str)],
    time_col: &str,
    f: Features,
    retention_days: u32,
) -> String {
    let cols: Vec<String> = cols
        .iter()
        .map(|(n, t)| format!("    `{n}` {}", column_type(n, t, f)))
        .collect();
    let ttl = if f.ttl && retention_days > 0 {
        format!("\nTTL {} + INTERVAL {retention_days} DAY", day_of(time_col))
    } else {
        String::new()
    };
    format!(
        "CREATE TABLE IF NOT EXISTS `{db}`.`{table}` (\n{}\n) ENGINE = MergeTree()\nPARTITION BY toYYYYMMDD({})\nORDER BY (sector, {time_col}){ttl}\nSETTINGS index_granularity = 8192",
        cols.join(",\n"),
        day_of(time_col)
    )
}

/// Columns of the incidents table that only the incident list's filters read (the whole
/// incident is in `doc`). Tables created before them get them added at connect.
pub const INCIDENT_FILTER_COLUMNS: &[(&str, &str)] = &[
    ("severity_rank", "UInt8"),
    ("entity_values", "Array(String)"),
    ("search", "String"),
];

/// Every statement that creates the schema, in order. All are `IF NOT EXISTS`, so running
/// them again on start is how the schema is kept current.
pub fn schema(db: &str, f: Features, retention_days: u32) -> Vec<String> {
    let lc = |t: &str| {
        if f.low_cardinality {
            format!("LowCardinality({t})")
        } else {
            t.to_string()
        }
    };
    vec![
        format!("CREATE DATABASE IF NOT EXISTS `{db}`"),
        merge_tree_table(db, "events", EVENT_COLUMNS, "ts", f, retention_days),
        merge_tree_table(db, "flows", EVENT_COLUMNS, "ts", f, retention_days),
        merge_tree_table(db, "dead_letters", DEAD_LETTER_COLUMNS, "received", f, retention_days),
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`incidents` (\n    `id` String,\n    `updated_at` Int64,\n    `first_seen` Int64,\n    \
             `last_seen` Int64,\n    `status` {s},\n    `severity` {s},\n    `kind` {s},\n    `score` UInt8,\n    `sectors` Array(String),\n    \
             `doc` String,\n    {}\n) ENGINE = ReplacingMergeTree(updated_at)\nORDER BY id",
            INCIDENT_FILTER_COLUMNS
                .iter()
                .map(|(n, t)| format!("`{n}` {t}"))
                .collect::<Vec<_>>()
                .join(",\n    "),
            s = lc("String")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`indicators` (\n    `id` String,\n    `kind` {s},\n    `value` String,\n    `source` {s},\n    \
             `valid_from` Int64,\n    `valid_until` Nullable(Int64),\n    `tlp` {s},\n    `version` Int64,\n    `doc` String\n) \
             ENGINE = ReplacingMergeTree(version)\nORDER BY id",
            s = lc("String")
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS `{db}`.`node_state` (\n    `key` String,\n    `version` Int64,\n    `value` Array(UInt8)\n) \
             ENGINE = ReplacingMergeTree(version)\nORDER BY key"
        ),
    ]
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
}
