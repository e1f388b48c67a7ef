CREATE DATABASE IF NOT EXISTS `ncsoc`;

CREATE TABLE IF NOT EXISTS `ncsoc`.`events` (
    `id` String,
    `ts` Int64,
    `sector` String,
    `source` String,
    `created` Nullable(Int64),
    `kind` Nullable(String),
    `category` Array(String),
    `event_type` Array(String),
    `action` Nullable(String),
    `outcome` Nullable(String),
    `severity` Nullable(Int64),
    `dataset` Nullable(String),
    `module` Nullable(String),
    `original` Nullable(String),
    `message` Nullable(String),
    `observer_vendor` Nullable(String),
    `observer_product` Nullable(String),
    `observer_version` Nullable(String),
    `observer_hostname` Nullable(String),
    `host_name` Nullable(String),
    `src_ip` Nullable(FixedString(16)),
    `src_port` Nullable(UInt16),
    `dst_ip` Nullable(FixedString(16)),
    `dst_port` Nullable(UInt16),
    `transport` Nullable(String),
    `protocol` Nullable(String),
    `bytes` Nullable(UInt64),
    `packets` Nullable(UInt64),
    `direction` Nullable(String),
    `community_id` Nullable(String),
    `user_name` Nullable(String),
    `process_name` Nullable(String),
    `process_pid` Nullable(UInt32),
    `rule_id` Nullable(String),
    `rule_name` Nullable(String),
    `url` Nullable(String),
    `dns_question` Nullable(String),
    `tls_sni` Nullable(String),
    `is_flow` UInt8,
    `flow_exporter` Nullable(FixedString(16)),
    `flow_domain` Nullable(UInt32),
    `flow_version` Nullable(String),
    `flow_sampling` Nullable(UInt32),
    `flow_bytes_raw` Nullable(UInt64),
    `flow_packets_raw` Nullable(UInt64),
    `flow_start` Nullable(Int64),
    `flow_end` Nullable(Int64),
    `flow_tcp_flags` Nullable(UInt8),
    `flow_in_if` Nullable(UInt32),
    `flow_out_if` Nullable(UInt32),
    `extra` String
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000000000)))
ORDER BY (sector, ts)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `ncsoc`.`flows` (
    `id` String,
    `ts` Int64,
    `sector` String,
    `source` String,
    `created` Nullable(Int64),
    `kind` Nullable(String),
    `category` Array(String),
    `event_type` Array(String),
    `action` Nullable(String),
    `outcome` Nullable(String),
    `severity` Nullable(Int64),
    `dataset` Nullable(String),
    `module` Nullable(String),
    `original` Nullable(String),
    `message` Nullable(String),
    `observer_vendor` Nullable(String),
    `observer_product` Nullable(String),
    `observer_version` Nullable(String),
    `observer_hostname` Nullable(String),
    `host_name` Nullable(String),
    `src_ip` Nullable(FixedString(16)),
    `src_port` Nullable(UInt16),
    `dst_ip` Nullable(FixedString(16)),
    `dst_port` Nullable(UInt16),
    `transport` Nullable(String),
    `protocol` Nullable(String),
    `bytes` Nullable(UInt64),
    `packets` Nullable(UInt64),
    `direction` Nullable(String),
    `community_id` Nullable(String),
    `user_name` Nullable(String),
    `process_name` Nullable(String),
    `process_pid` Nullable(UInt32),
    `rule_id` Nullable(String),
    `rule_name` Nullable(String),
    `url` Nullable(String),
    `dns_question` Nullable(String),
    `tls_sni` Nullable(String),
    `is_flow` UInt8,
    `flow_exporter` Nullable(FixedString(16)),
    `flow_domain` Nullable(UInt32),
    `flow_version` Nullable(String),
    `flow_sampling` Nullable(UInt32),
    `flow_bytes_raw` Nullable(UInt64),
    `flow_packets_raw` Nullable(UInt64),
    `flow_start` Nullable(Int64),
    `flow_end` Nullable(Int64),
    `flow_tcp_flags` Nullable(UInt8),
    `flow_in_if` Nullable(UInt32),
    `flow_out_if` Nullable(UInt32),
    `extra` String
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000000000)))
ORDER BY (sector, ts)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `ncsoc`.`dead_letters` (
    `id` String,
    `received` Int64,
    `sector` String,
    `source` String,
    `format` String,
    `reason` String,
    `raw` String
) ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(toDateTime(intDiv(received, 1000000000)))
ORDER BY (sector, received)
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `ncsoc`.`incidents` (
    `id` String,
    `updated_at` Int64,
    `first_seen` Int64,
    `last_seen` Int64,
    `status` String,
    `severity` String,
    `kind` String,
    `score` UInt8,
    `sectors` Array(String),
    `doc` String,
    `severity_rank` UInt8,
    `entity_values` Array(String),
    `search` String
) ENGINE = ReplacingMergeTree(updated_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS `ncsoc`.`indicators` (
    `id` String,
    `kind` String,
    `value` String,
    `source` String,
    `valid_from` Int64,
    `valid_until` Nullable(Int64),
    `tlp` String,
    `version` Int64,
    `doc` String
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS `ncsoc`.`node_state` (
    `id` String,
    `version` Int64,
    `value` Array(UInt8)
) ENGINE = ReplacingMergeTree(version)
ORDER BY id;
