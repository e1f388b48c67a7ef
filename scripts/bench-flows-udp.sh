#!/usr/bin/env bash
# NetFlow v9 over UDP, side by side with nfcapd (nfdump) on the same stream: N export
# datagrams of 24 flows each (scripts/gen-netflow.py), sent to each receiver in turn at
# RATE datagrams/s from one paced sender on loopback. ncsoc (`ncsoc serve` with a flow
# listener) decodes, normalises and stores the flows in its embedded SQLite store; nfcapd
# decodes and writes its binary flow files. Both get a 4 MiB socket receive buffer. Reported per receiver: flows stored, flows lost
# (sent - stored), kernel drops on its socket, and its CPU time, as flows per CPU-second.
#
#   N=20000 RATE=5000 scripts/bench-flows-udp.sh
#
# Needs nfdump (apt-get install nfdump).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${N:-20000}
rate=${RATE:-5000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin ncsoc
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
python3 scripts/gen-netflow.py "$tmp/stream.bin" "$n"
flows=$((n * 24))
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
send() { python3 - "$tmp/stream.bin" "$1" "$rate" <<'PY'
import socket, struct, sys, time
path, port, rate = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = open(path, "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
i, k, start = 0, 0, time.perf_counter()
while i < len(data):
    (l,) = struct.unpack_from("!H", data, i)
    s.sendto(data[i + 2:i + 2 + l], ("127.0.0.1", port))
    i += 2 + l
    k += 1
    if k == 1:
        time.sleep(0.2)  # the template first
        start = time.perf_counter() - 1 / rate
    ahead = k / rate - (time.perf_counter() - start)
    if ahead > 0.002:
        time.sleep(ahead)
PY
}
cpu() { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat"; }
udp_drops() { awk -v p="$(printf '%04X' "$1")" 'NR > 1 { split($2, a, ":"); if (a[2] == p) d += $NF } END { print d + 0 }' /proc/net/udp; }

# --- ncsoc
port=$(free_port); http=$(free_port)
cat >"$tmp/ncsoc.toml" <<TOML
[server]
listen = "127.0.0.1:$http"
log = "warn"
[store]
data_dir = "$tmp/ncsoc-data"
batch_size = 10000
[[intake.flows]]
listen = "127.0.0.1:$port"
source = "bench"
sector = "energy"
TOML
"$target/release/ncsoc" serve -c "$tmp/ncsoc.toml" & pids+=($!)
until curl -sf "http://127.0.0.1:$http/healthz" >/dev/null; do sleep 0.05; done
start=$(date +%s.%N)
send "$port"
sent_secs=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
metric() { curl -s "http://127.0.0.1:$http/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
last=-1
while :; do
  w=$(metric 'ncsoc_store_rows_written_total{backend="sqlite"}'); w=${w%.*}
  [[ $w == "$last" ]] && break
  last=$w; sleep 1
done
ncsoc_drops=$(udp_drops "$port")
ncsoc_cpu=$(cpu "${pids[0]}")
ncsoc_stored=$last

# --- nfcapd
port=$(free_port)
mkdir -p "$tmp/nfcapd"
nfcapd -w "$tmp/nfcapd" -p "$port" -b 127.0.0.1 -t 3600 -I bench -B 4194304 >"$tmp/nfcapd.log" 2>&1 & pids+=($!)
sleep 1
send "$port"
sleep 2
nf_drops=$(udp_drops "$port")
nf_cpu=$(cpu "${pids[1]}")
kill -TERM "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
nf_stored=$(nfdump -R "$tmp/nfcapd" -q -o 'fmt:%pr' | wc -l)

echo "stream: $n datagrams × 24 = $flows flows at $rate datagrams/s ($((rate * 24)) flows/s offered), sent in ${sent_secs}s; $(nfcapd -V 2>&1 | head -1)"
echo
echo "| receiver | flows stored | lost | kernel drops (datagrams) | CPU seconds | flows per CPU-second |"
echo "|---|---:|---:|---:|---:|---:|"
awk -v s="$ncsoc_stored" -v f="$flows" -v d="$ncsoc_drops" -v c="$ncsoc_cpu" 'BEGIN { printf "| ncsoc serve (decode → ECS → SQLite) | %d | %d | %d | %.2f | %.0f |\n", s, f - s, d, c, s / c }'
awk -v s="$nf_stored" -v f="$flows" -v d="$nf_drops" -v c="$nf_cpu" 'BEGIN { printf "| nfcapd (decode → nfcapd file) | %d | %d | %d | %.2f | %.0f |\n", s, f - s, d, c, (c > 0 ? s / c : 0) }'
