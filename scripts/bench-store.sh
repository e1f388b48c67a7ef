#!/usr/bin/env bash
# Store throughput on this machine, as recorded in BENCHMARKS.md:
#  1. ncsoc's writer path into SQLite and into ClickHouse, batch-size sweep (store_bench);
#  2. the reference: the ClickHouse server itself inserting the very same rows, sent by curl
#     as a ready-made RowBinary body (no client-side work), to show where the ceiling is.
# Needs ClickHouse on 127.0.0.1:8123 (scripts/clickhouse.sh start).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rows=${ROWS:-1000000}
batches=${BATCHES:-1000,10000,100000}
ch=${CLICKHOUSE_URL:-http://127.0.0.1:8123}
cargo build --release -q -p ncsoc-store --example store_bench
bench=${CARGO_TARGET_DIR:-target}/release/examples/store_bench
q() { curl -sS --fail --data-binary "$1" "$ch/"; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); ClickHouse $(q 'SELECT version()')"
"$bench" sqlite "$rows" "$batches"
"$bench" clickhouse "$rows" "$batches" | tail -n +3
last=${batches##*,}
NCSOC_BENCH_KEEP_DB=1 "$bench" clickhouse "$rows" "$last" >/dev/null
db=ncsoc_bench_$last
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"; q "DROP DATABASE IF EXISTS $db" >/dev/null' EXIT
q "SELECT * FROM $db.events FORMAT RowBinary" >"$tmp/rows.bin"
n=$(q "SELECT count() FROM $db.events")
q "CREATE TABLE $db.copy AS $db.events"
start=$(date +%s.%N)
curl -sS --fail --data-binary @"$tmp/rows.bin" "$ch/?query=INSERT%20INTO%20$db.copy%20FORMAT%20RowBinary"
end=$(date +%s.%N)
awk -v n="$n" -v s="$start" -v e="$end" -v b="$(stat -c %s "$tmp/rows.bin")" \
  'BEGIN { printf "| clickhouse server alone (curl, RowBinary body ready) | %d | %d | %.2f | %.0f | %d bytes/row on the wire |\n", n, n, e-s, n/(e-s), b/n }'
