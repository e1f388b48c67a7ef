#!/usr/bin/env bash
# Analyst API latency at scale, as recorded in BENCHMARKS.md: fills a data directory with
# ROWS synthetic events and flows and INCIDENTS incidents (api/examples/api_latency.rs), starts
# the real `ncsoc serve` on it, and measures p50/p99 of real HTTP requests per query type —
# on the embedded store, then on a throwaway ClickHouse (scripts/clickhouse.sh).
#
#   ROWS=10000000 INCIDENTS=100000 REQUESTS=500 scripts/bench-api.sh [sqlite|clickhouse|both]
#
# QUERIES=incidents (any part of a query's name) measures only those queries over HTTP.
# The filled data is kept in BENCH_DIR (default /tmp/ncsoc-bench-api) and reused by the next
# run with the same ROWS and INCIDENTS; `rm -rf` it when done (10 M rows: ~5 GB in SQLite).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
which=${1:-both}
rows=${ROWS:-10000000}
incidents=${INCIDENTS:-100000}
requests=${REQUESTS:-500}
base=${BENCH_DIR:-/tmp/ncsoc-bench-api}
ch_http=${CH_HTTP_PORT:-18941}
ch_tcp=${CH_TCP_PORT:-19941}
api_port=${API_PORT:-18942}
target=${CARGO_TARGET_DIR:-target}

cargo build --release -q --bin ncsoc -p ncsoc
cargo build --release -q -p ncsoc-api --example api_latency
bench=$target/release/examples/api_latency
ncsoc=$target/release/ncsoc

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg); $rows rows, $incidents incidents, $requests requests per query"

serve_and_measure() { # LABEL DIR [--store URL]
  local label=$1 dir=$2; shift 2
  # No retention pass: the synthetic rows are dated 2025-11-27..29.
  NCSOC_SERVER__LISTEN=127.0.0.1:$api_port NCSOC_STORE__DATA_DIR=$dir NCSOC_STORE__RETENTION_DAYS=0 RUST_LOG=warn \
    NCSOC_API__SECURITY__RATE_LIMIT_PER_SECOND=0 \
    "$ncsoc" serve "$@" 2>"$dir/serve.log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$api_port/healthz" >/dev/null && break; sleep 0.2; done
  "$bench" measure "$label" "127.0.0.1:$api_port" "$dir" "$requests" || { kill "$pid"; return 1; }
  kill "$pid"; wait "$pid" || true
}

if [ "$which" = sqlite ] || [ "$which" = both ]; then
  dir=$base/sqlite-$rows-$incidents
  if [ ! -f "$dir/bench-tokens.json" ]; then
    rm -rf "$dir"
    "$bench" fill sqlite "$dir" "$rows" "$incidents"
  fi
  echo "sqlite: $(du -sh "$dir/ncsoc.db" | cut -f1) database"
  serve_and_measure sqlite "$dir"
  "$bench" store-incidents sqlite "$dir" "$requests" | tail -n +1
fi

if [ "$which" = clickhouse ] || [ "$which" = both ]; then
  dir=$base/clickhouse-$rows-$incidents
  db=ncsoc_bench_api
  url=http://127.0.0.1:$ch_http
  scripts/clickhouse.sh start --http-port "$ch_http" --tcp-port "$ch_tcp" --dir "$base/clickhouse-server"
  trap 'scripts/clickhouse.sh stop --http-port "$ch_http" --dir "$base/clickhouse-server"' EXIT
  if [ ! -f "$dir/bench-tokens.json" ]; then
    rm -rf "$dir"
    curl -sS --fail --data-binary "DROP DATABASE IF EXISTS $db" "$url/" >/dev/null
    "$bench" fill clickhouse "$dir" "$rows" "$incidents" "$url" "$db"
  fi
  echo "clickhouse: $(curl -sS --data-binary "SELECT formatReadableSize(sum(bytes)) FROM system.parts WHERE database = '$db' AND active" "$url/") on disk"
  serve_and_measure clickhouse "$dir" --store "clickhouse://127.0.0.1:$ch_http/$db"
  "$bench" store-incidents clickhouse "$dir" "$requests" "$url" "$db"
fi
