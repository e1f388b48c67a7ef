#!/usr/bin/env bash
# End-to-end syslog over TCP, side by side with syslog-ng on the same machine and the same
# stream: N RFC 3164 lines (newline framing) sent with `nc` as fast as the receiver takes
# them. ncsoc parses, normalises to ECS and writes to its embedded SQLite store; syslog-ng
# parses and writes each message as JSON (format-json) to a file. The clock runs from the
# first byte sent until the last message is written (ncsoc: rows_written on /metrics;
# syslog-ng: lines in its output file), and lost = sent - written.
#
#   N=1000000 scripts/bench-intake.sh
#
# Needs syslog-ng-core and netcat-openbsd (apt-get install syslog-ng-core netcat-openbsd).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${N:-1000000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin ncsoc
ncsoc=$target/release/ncsoc
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

python3 - "$n" >"$tmp/input.log" <<'PY'
import sys
n = int(sys.argv[1])
hosts = ["fw-edge-01", "vpn-gw", "dc01.corp.example", "scada-hmi-7", "core-sw-2"]
apps = [("sshd", "Failed password for invalid user admin from 203.0.113.{} port {} ssh2"),
        ("kernel", "IN=eth0 OUT= SRC=198.51.100.{} DST=10.0.0.5 PROTO=TCP SPT={} DPT=445 SYN"),
        ("sudo", "operator : TTY=pts/{} ; PWD=/home/operator ; USER=root ; COMMAND=/bin/systemctl restart plc-bridge-{}"),
        ("named", "client 192.0.2.{}#{} (example.org): query: example.org IN A +E(0)")]
months = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
out = sys.stdout
for i in range(n):
    app, text = apps[i % 4]
    s = i % 86400
    out.write("<%d>%s %2d %02d:%02d:%02d %s %s[%d]: %s\n" % (
        8 * (i % 24) + (i % 8), months[(i // 86400) % 12], 1 + (i // 3600) % 28,
        s // 3600, (s // 60) % 60, s % 60, hosts[i % 5], app, 1000 + i % 50000,
        text.format(i % 254 + 1, 1024 + i % 60000)))
PY
bytes=$(stat -c %s "$tmp/input.log")
echo "input: $n lines, $bytes bytes; machine: $(nproc) cores; $(syslog-ng --version | head -1)"

now() { date +%s.%N; }
metric() { curl -s "http://$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }
# Waits until `count` stops growing for 3 s or reaches n; prints the time it reached its last value.
wait_done() {
  local last=-1 since; since=$(now)
  local reached=$since
  while :; do
    local c; c=$("$@")
    c=${c%.*}; c=${c:-0}
    if [[ $c != "$last" ]]; then last=$c; reached=$(now); fi
    [[ $c -ge $n ]] && break
    awk -v a="$(now)" -v b="$reached" 'BEGIN { exit !(a - b > 3) }' && break
    sleep 0.05
  done
  echo "$last $reached"
}

# --- ncsoc
port=$(free_port); http=$(free_port)
cat >"$tmp/ncsoc.toml" <<TOML
[server]
listen = "127.0.0.1:$http"
log = "warn"
[store]
data_dir = "$tmp/ncsoc-data"
batch_size = 10000
[[intake.syslog]]
protocol = "tcp"
listen = "127.0.0.1:$port"
sector = "energy"
source = "bench"
format = "syslog"
TOML
"$ncsoc" serve -c "$tmp/ncsoc.toml" & pids+=($!)
until curl -sf "http://127.0.0.1:$http/healthz" >/dev/null; do
  kill -0 "${pids[0]}" 2>/dev/null || { echo "ncsoc did not start" >&2; exit 1; }
  sleep 0.05
done
t0=$(now)
nc -N 127.0.0.1 "$port" <"$tmp/input.log"
read -r written t1 < <(wait_done metric "127.0.0.1:$http" 'ncsoc_store_rows_written_total{backend="sqlite"}')
rejected=$(metric "127.0.0.1:$http" 'ncsoc_intake_rejected_total{listener="syslog_tcp",sector="energy",source="bench"}')
ncsoc_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

# --- syslog-ng
port=$(free_port)
cat >"$tmp/syslog-ng.conf" <<CONF
@version: 3.38
options { flush_lines(1000); log_fifo_size(1000000); chain_hostnames(no); keep_hostname(yes); };
source s_net { network(ip("127.0.0.1") port($port) transport("tcp") log_iw_size(1000000) max_connections(10)); };
destination d_json { file("$tmp/syslog-ng.json" template("\$(format-json --scope rfc5424 --scope nv-pairs --key ISODATE)\n")); };
log { source(s_net); destination(d_json); flags(flow-control); };
CONF
syslog-ng -F --no-caps -f "$tmp/syslog-ng.conf" -p "$tmp/sng.pid" -R "$tmp/sng.persist" -c "$tmp/sng.ctl" 2>"$tmp/sng.err" & pids+=($!)
until nc -z 127.0.0.1 "$port" 2>/dev/null; do
  kill -0 "${pids[1]}" 2>/dev/null || { echo "syslog-ng did not start:" >&2; cat "$tmp/sng.err" >&2; exit 1; }
  sleep 0.05
done
t0=$(now)
nc -N 127.0.0.1 "$port" <"$tmp/input.log"
lines() { [[ -f "$tmp/syslog-ng.json" ]] && wc -l <"$tmp/syslog-ng.json" || echo 0; }
read -r sng_written t1 < <(wait_done lines)
sng_secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')

echo
echo "| receiver | messages | seconds | messages/s | MB/s | written | lost | rejected |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
awk -v n="$n" -v s="$ncsoc_secs" -v b="$bytes" -v w="$written" -v r="${rejected:-0}" 'BEGIN {
  printf "| ncsoc serve (TCP → parse → ECS → SQLite) | %d | %.2f | %.0f | %.1f | %d | %d | %d |\n", n, s, n/s, b/s/1e6, w, n-w-r, r }'
awk -v n="$n" -v s="$sng_secs" -v b="$bytes" -v w="$sng_written" 'BEGIN {
  printf "| syslog-ng 3.38 (TCP → parse → JSON file) | %d | %.2f | %.0f | %.1f | %d | %d | - |\n", n, s, n/s, b/s/1e6, w, n-w }'
awk -v a="$ncsoc_secs" -v b="$sng_secs" 'BEGIN { printf "\nncsoc / syslog-ng throughput ratio: %.2f\n", b / a }'
