CREATE DATABASE IF NOT EXISTS `ncsoc` ON CLUSTER `soc`;

CREATE TABLE IF NOT EXISTS `ncsoc`.`events_local` ON CLUSTER `soc` (
    `id` String CODEC(ZSTD(1)),
    `ts` Int64 CODEC(Delta, ZSTD(1)),
    `sector` LowCardinality(String),
    `source` LowCardinality(String),
    `created` Nullable(Int64) CODEC(Delta, ZSTD(1)),
    `kind` LowCardinality(Nullable(String)),
    `category` Array(String),
    `event_type` Array(String),
    `action` LowCardinality(Nullable(String)),
    `outcome` LowCardinality(Nullable(String)),
    `severity` Nullable(Int64),
    `dataset` LowCardinality(Nullable(String)),
    `module` LowCardinality(Nullable(String)),
    `original` Nullable(String) CODEC(ZSTD(3)),
    `message` Nullable(String) CODEC(ZSTD(3)),
    `observer_vendor` LowCardinality(Nullable(String)),
    `observer_product` LowCardinality(Nullable(String)),
    `observer_version` LowCardinality(Nullable(String)),
    `observer_hostname` Nullable(String),
    `host_name` Nullable(String),
    `src_ip` Nullable(FixedString(16)),
    `src_port` Nullable(UInt16),
    `dst_ip` Nullable(FixedString(16)),
    `dst_port` Nullable(UInt16),
    `transport` LowCardinality(Nullable(String)),
    `protocol` LowCardinality(Nullable(String)),
    `bytes` Nullable(UInt64),
    `packets` Nullable(UInt64),
    `direction` LowCardinality(Nullable(String)),
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
    `flow_version` LowCardinality(Nullable(String)),
    `flow_sampling` Nullable(UInt32),
    `flow_bytes_raw` Nullable(UInt64),
    `flow_packets_raw` Nullable(UInt64),
    `flow_start` Nullable(Int64) CODEC(Delta, ZSTD(1)),
    `flow_end` Nullable(Int64) CODEC(Delta, ZSTD(1)),
    `flow_tcp_flags` Nullable(UInt8),
    `flow_in_if` Nullable(UInt32),
    `flow_out_if` Nullable(UInt32),
    `extra` String CODEC(ZSTD(3))
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/ncsoc/events', '{replica}')
PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000000000)))
ORDER BY (sector, ts)
TTL toDateTime(intDiv(ts, 1000000000)) + INTERVAL 30 DAY
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `ncsoc`.`events` ON CLUSTER `soc` (
    `id` String,
    `ts` Int64,
    `sector` LowCardinality(String),
    `source` LowCardinality(String),
    `created` Nullable(Int64),
    `kind` LowCardinality(Nullable(String)),
    `category` Array(String),
    `event_type` Array(String),
    `action` LowCardinality(Nullable(String)),
    `outcome` LowCardinality(Nullable(String)),
    `severity` Nullable(Int64),
    `dataset` LowCardinality(Nullable(String)),
    `module` LowCardinality(Nullable(String)),
    `original` Nullable(String),
    `message` Nullable(String),
    `observer_vendor` LowCardinality(Nullable(String)),
    `observer_product` LowCardinality(Nullable(String)),
    `observer_version` LowCardinality(Nullable(String)),
    `observer_hostname` Nullable(String),
    `host_name` Nullable(String),
    `src_ip` Nullable(FixedString(16)),
    `src_port` Nullable(UInt16),
    `dst_ip` Nullable(FixedString(16)),
    `dst_port` Nullable(UInt16),
    `transport` LowCardinality(Nullable(String)),
    `protocol` LowCardinality(Nullable(String)),
    `bytes` Nullable(UInt64),
    `packets` Nullable(UInt64),
    `direction` LowCardinality(Nullable(String)),
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
    `flow_version` LowCardinality(Nullable(String)),
    `flow_sampling` Nullable(UInt32),
    `flow_bytes_raw` Nullable(UInt64),
    `flow_packets_raw` Nullable(UInt64),
    `flow_start` Nullable(Int64),
    `flow_end` Nullable(Int64),
    `flow_tcp_flags` Nullable(UInt8),
    `flow_in_if` Nullable(UInt32),
    `flow_out_if` Nullable(UInt32),
    `extra` String
) ENGINE = Distributed('soc', 'ncsoc', 'events_local', if(isNull(src_ip), cityHash64(id), cityHash64(assumeNotNull(src_ip))));

CREATE TABLE IF NOT EXISTS `ncsoc`.`flows_local` ON CLUSTER `soc` (
    `id` String CODEC(ZSTD(1)),
    `ts` Int64 CODEC(Delta, ZSTD(1)),
    `sector` LowCardinality(String),
    `source` LowCardinality(String),
    `created` Nullable(Int64) CODEC(Delta, ZSTD(1)),
    `kind` LowCardinality(Nullable(String)),
    `category` Array(String),
    `event_type` Array(String),
    `action` LowCardinality(Nullable(String)),
    `outcome` LowCardinality(Nullable(String)),
    `severity` Nullable(Int64),
    `dataset` LowCardinality(Nullable(String)),
    `module` LowCardinality(Nullable(String)),
    `original` Nullable(String) CODEC(ZSTD(3)),
    `message` Nullable(String) CODEC(ZSTD(3)),
    `observer_vendor` LowCardinality(Nullable(String)),
    `observer_product` LowCardinality(Nullable(String)),
    `observer_version` LowCardinality(Nullable(String)),
    `observer_hostname` Nullable(String),
    `host_name` Nullable(String),
    `src_ip` Nullable(FixedString(16)),
    `src_port` Nullable(UInt16),
    `dst_ip` Nullable(FixedString(16)),
    `dst_port` Nullable(UInt16),
    `transport` LowCardinality(Nullable(String)),
    `protocol` LowCardinality(Nullable(String)),
    `bytes` Nullable(UInt64),
    `packets` Nullable(UInt64),
    `direction` LowCardinality(Nullable(String)),
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
    `flow_version` LowCardinality(Nullable(String)),
    `flow_sampling` Nullable(UInt32),
    `flow_bytes_raw` Nullable(UInt64),
    `flow_packets_raw` Nullable(UInt64),
    `flow_start` Nullable(Int64) CODEC(Delta, ZSTD(1)),
    `flow_end` Nullable(Int64) CODEC(Delta, ZSTD(1)),
    `flow_tcp_flags` Nullable(UInt8),
    `flow_in_if` Nullable(UInt32),
    `flow_out_if` Nullable(UInt32),
    `extra` String CODEC(ZSTD(3))
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/ncsoc/flows', '{replica}')
PARTITION BY toYYYYMMDD(toDateTime(intDiv(ts, 1000000000)))
ORDER BY (sector, ts)
TTL toDateTime(intDiv(ts, 1000000000)) + INTERVAL 30 DAY
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `ncsoc`.`flows` ON CLUSTER `soc` (
    `id` String,
    `ts` Int64,
    `sector` LowCardinality(String),
    `source` LowCardinality(String),
    `created` Nullable(Int64),
    `kind` LowCardinality(Nullable(String)),
    `category` Array(String),
    `event_type` Array(String),
    `action` LowCardinality(Nullable(String)),
    `outcome` LowCardinality(Nullable(String)),
    `severity` Nullable(Int64),
    `dataset` LowCardinality(Nullable(String)),
    `module` LowCardinality(Nullable(String)),
    `original` Nullable(String),
    `message` Nullable(String),
    `observer_vendor` LowCardinality(Nullable(String)),
    `observer_product` LowCardinality(Nullable(String)),
    `observer_version` LowCardinality(Nullable(String)),
    `observer_hostname` Nullable(String),
    `host_name` Nullable(String),
    `src_ip` Nullable(FixedString(16)),
    `src_port` Nullable(UInt16),
    `dst_ip` Nullable(FixedString(16)),
    `dst_port` Nullable(UInt16),
    `transport` LowCardinality(Nullable(String)),
    `protocol` LowCardinality(Nullable(String)),
    `bytes` Nullable(UInt64),
    `packets` Nullable(UInt64),
    `direction` LowCardinality(Nullable(String)),
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
    `flow_version` LowCardinality(Nullable(String)),
    `flow_sampling` Nullable(UInt32),
    `flow_bytes_raw` Nullable(UInt64),
    `flow_packets_raw` Nullable(UInt64),
    `flow_start` Nullable(Int64),
    `flow_end` Nullable(Int64),
    `flow_tcp_flags` Nullable(UInt8),
    `flow_in_if` Nullable(UInt32),
    `flow_out_if` Nullable(UInt32),
    `extra` String
) ENGINE = Distributed('soc', 'ncsoc', 'flows_local', if(isNull(src_ip), cityHash64(id), cityHash64(assumeNotNull(src_ip))));

CREATE TABLE IF NOT EXISTS `ncsoc`.`dead_letters_local` ON CLUSTER `soc` (
    `id` String CODEC(ZSTD(1)),
    `received` Int64 CODEC(Delta, ZSTD(1)),
    `sector` LowCardinality(String),
    `source` LowCardinality(String),
    `format` LowCardinality(String),
    `reason` String CODEC(ZSTD(3)),
    `raw` String CODEC(ZSTD(3))
) ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/ncsoc/dead_letters', '{replica}')
PARTITION BY toYYYYMMDD(toDateTime(intDiv(received, 1000000000)))
ORDER BY (sector, received)
TTL toDateTime(intDiv(received, 1000000000)) + INTERVAL 30 DAY
SETTINGS index_granularity = 8192;

CREATE TABLE IF NOT EXISTS `ncsoc`.`dead_letters` ON CLUSTER `soc` (
    `id` String,
    `received` Int64,
    `sector` LowCardinality(String),
    `source` LowCardinality(String),
    `format` LowCardinality(String),
    `reason` String,
    `raw` String
) ENGINE = Distributed('soc', 'ncsoc', 'dead_letters_local', cityHash64(id));

CREATE TABLE IF NOT EXISTS `ncsoc`.`incidents_local` ON CLUSTER `soc` (
    `id` String,
    `updated_at` Int64,
    `first_seen` Int64,
    `last_seen` Int64,
    `status` LowCardinality(String),
    `severity` LowCardinality(String),
    `kind` LowCardinality(String),
    `score` UInt8,
    `sectors` Array(String),
    `doc` String,
    `severity_rank` UInt8,
    `entity_values` Array(String),
    `search` String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ncsoc/incidents', '{replica}', updated_at)
ORDER BY id;

CREATE TABLE IF NOT EXISTS `ncsoc`.`incidents` ON CLUSTER `soc` (
    `id` String,
    `updated_at` Int64,
    `first_seen` Int64,
    `last_seen` Int64,
    `status` LowCardinality(String),
    `severity` LowCardinality(String),
    `kind` LowCardinality(String),
    `score` UInt8,
    `sectors` Array(String),
    `doc` String,
    `severity_rank` UInt8,
    `entity_values` Array(String),
    `search` String
) ENGINE = Distributed('soc', 'ncsoc', 'incidents_local', cityHash64(id));

CREATE TABLE IF NOT EXISTS `ncsoc`.`indicators_local` ON CLUSTER `soc` (
    `id` String,
    `kind` LowCardinality(String),
    `value` String,
    `source` LowCardinality(String),
    `valid_from` Int64,
    `valid_until` Nullable(Int64),
    `tlp` LowCardinality(String),
    `version` Int64,
    `doc` String
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ncsoc/indicators', '{replica}', version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS `ncsoc`.`indicators` ON CLUSTER `soc` (
    `id` String,
    `kind` LowCardinality(String),
    `value` String,
    `source` LowCardinality(String),
    `valid_from` Int64,
    `valid_until` Nullable(Int64),
    `tlp` LowCardinality(String),
    `version` Int64,
    `doc` String
) ENGINE = Distributed('soc', 'ncsoc', 'indicators_local', cityHash64(id));

CREATE TABLE IF NOT EXISTS `ncsoc`.`node_state_local` ON CLUSTER `soc` (
    `id` String,
    `version` Int64,
    `value` Array(UInt8)
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/ncsoc/node_state', '{replica}', version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS `ncsoc`.`node_state` ON CLUSTER `soc` (
    `id` String,
    `version` Int64,
    `value` Array(UInt8)
) ENGINE = Distributed('soc', 'ncsoc', 'node_state_local', cityHash64(id));
