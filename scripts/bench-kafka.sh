#!/usr/bin/env bash
# Intake → Kafka → analysis, end to end on this machine: one `ncsoc serve --role intake`
# takes N ECS JSON authentication events over TCP (newline framing, 65 536 source addresses
# so the records spread over the partitions), publishes them to a tansu broker on loopback
# (in-memory storage), and ANALYZERS `ncsoc serve --role analyze` nodes consume them as one
# group, run the detector and store them. Reported: when the intake had published everything
# (intake → Kafka), when the analysis nodes had read everything (→ analyze), and when it was
# all stored (→ store), each as events/s from the first byte sent.
#
#   N=500000 ANALYZERS=1 STORE=sqlite scripts/bench-kafka.sh
#   N=500000 ANALYZERS=2 STORE=clickhouse CLICKHOUSE_URL=http://127.0.0.1:8123 scripts/bench-kafka.sh
#
# Needs tansu (scripts/tansu.sh install) and netcat-openbsd. Producer settings: LINGER_MS
# (default 20), COMPRESSION (lz4), BATCH_BYTES (1000000), PARTITIONS (12).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${N:-500000}
analyzers=${ANALYZERS:-1}
store=${STORE:-sqlite}
partitions=${PARTITIONS:-12}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin ncsoc
ncsoc=$target/release/ncsoc
tansu=$(scripts/tansu.sh path)
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
metric() { curl -s "http://$1/metrics" | awk -v m="$2" '$1 == m { s += $2 } END { print s + 0 }'; }
# Sum of a metric over the analysis nodes.
metric_all() { local s=0; for a in "${analyze_http[@]}"; do s=$((s + $(metric "$a" "$1" | cut -d. -f1))); done; echo $s; }
wait_for() { # wait_for CMD... : until it prints >= n (or stalls 20 s); prints "value time"
  local last=-1 reached; reached=$(now)
  while :; do
    local c; c=$("$@"); c=${c%.*}; c=${c:-0}
    if [[ $c != "$last" ]]; then last=$c; reached=$(now); fi
    [[ $c -ge $n ]] && break
    awk -v a="$(now)" -v b="$reached" 'BEGIN { exit !(a - b > 20) }' && break
    sleep 0.05
  done
  echo "$last $reached"
}

python3 - "$n" >"$tmp/input.ndjson" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    src = "198.%d.%d.%d" % (18 + (i >> 16) % 2, (i >> 8) & 255, i & 255)
    outcome = "failure" if i % 7 == 0 else "success"
    s = i % 3600
    out.write('{"@timestamp":"2026-03-02T10:%02d:%02d.%03dZ","ecs":{"version":"8.11.0"},"event":{"category":["authentication"],"outcome":"%s","action":"ssh_login"},"source":{"ip":"%s","port":%d},"destination":{"ip":"10.3.%d.%d","port":22},"user":{"name":"u%d"},"host":{"name":"jump-%d"}}\n'
              % (s // 60, s % 60, i % 1000, outcome, src, 1024 + i % 60000, (i >> 4) & 255, i & 15, i % 500, i % 8))
PY
bytes=$(stat -c %s "$tmp/input.ndjson")

broker=$(free_port)
"$tansu" broker --listener-url "tcp://127.0.0.1:$broker" --advertised-listener-url "tcp://127.0.0.1:$broker" \
  --storage-engine memory://tansu/ >"$tmp/tansu.log" 2>&1 & pids+=($!)
until nc -z 127.0.0.1 "$broker" 2>/dev/null; do sleep 0.05; done

port=$(free_port)
db=ncsoc_bench_kafka_$$
cat >"$tmp/ncsoc.toml" <<TOML
[server]
log = "warn"
[store]
batch_size = 10000
$([[ $store == clickhouse ]] && printf 'backend = "clickhouse"\n[store.clickhouse]\nurl = "%s"\ndatabase = "%s"\n' "${CLICKHOUSE_URL:?CLICKHOUSE_URL for STORE=clickhouse}" "$db")
[kafka]
brokers = "127.0.0.1:$broker"
partitions = $partitions
compression = "${COMPRESSION:-lz4}"
linger_ms = ${LINGER_MS:-20}
batch_bytes = ${BATCH_BYTES:-1000000}
[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:$port"
sector = "health"
source = "bench"
format = "json"
max_frame_bytes = 65536
TOML
rules=$(mktemp -d)   # no Sigma rules: the network detector only
start_node() { # start_node ROLE NAME: sets node_http
  local http; http=$(free_port)
  NCSOC_SERVER__LISTEN=127.0.0.1:$http NCSOC_STORE__DATA_DIR=$tmp/$2 NCSOC_RULES__DIR=$rules \
    "$ncsoc" serve --role "$1" -c "$tmp/ncsoc.toml" >/dev/null 2>"$tmp/$2.log" & pids+=($!)
  until curl -sf "http://127.0.0.1:$http/healthz" >/dev/null; do
    kill -0 "${pids[-1]}" 2>/dev/null || { echo "ncsoc $1 did not start:" >&2; cat "$tmp/$2.log" >&2; exit 1; }
    sleep 0.05
  done
  node_http=127.0.0.1:$http
}
start_node intake intake
intake_http=$node_http
analyze_http=()
for i in $(seq 1 "$analyzers"); do
  start_node analyze "analyze$i"
  analyze_http+=("$node_http")
done
# Until the group has handed out every partition.
shared() { # every partition owned once, every node owning some
  [[ $(metric_all ncsoc_analyze_partitions) -eq $partitions ]] || return 1
  local a; for a in "${analyze_http[@]}"; do [[ $(metric "$a" ncsoc_analyze_partitions) -gt 0 ]] || return 1; done
}
until shared; do sleep 0.2; done
echo "partitions per node: $(for a in "${analyze_http[@]}"; do printf "%s " "$(metric "$a" ncsoc_analyze_partitions)"; done)"

echo "input: $n events, $bytes bytes; $partitions partitions; $analyzers analysis node(s); store $store; machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(now)
nc -N 127.0.0.1 "$port" <"$tmp/input.ndjson"
read -r published t1 < <(wait_for metric "$intake_http" ncsoc_kafka_published_total)
read -r consumed t2 < <(wait_for metric_all ncsoc_analyze_consumed_total)
backend=$([[ $store == clickhouse ]] && echo clickhouse || echo sqlite)
read -r stored t3 < <(wait_for metric_all "ncsoc_store_rows_written_total{backend=\"$backend\"}")
records=$(metric_all ncsoc_detector_records_total)
[[ $store == clickhouse ]] && curl -s --data-binary "DROP DATABASE IF EXISTS $db" "$CLICKHOUSE_URL" >/dev/null

echo
echo "| stage | events | seconds from first byte | events/s |"
echo "|---|---:|---:|---:|"
for row in "intake → Kafka (acknowledged):$published:$t1" "→ analysis nodes (read, detector):$consumed:$t2" "→ store ($store):$stored:$t3"; do
  IFS=: read -r name count t <<<"$row"
  awk -v name="$name" -v c="$count" -v a="$t0" -v b="$t" 'BEGIN { printf "| %s | %d | %.2f | %.0f |\n", name, c, b - a, c / (b - a) }'
done
echo
echo "detector records: $records; compression ${COMPRESSION:-lz4}, linger.ms ${LINGER_MS:-20}, batch.size ${BATCH_BYTES:-1000000}"
