#!/usr/bin/env bash
# pcap file → metered flows, side by side with softflowd and argus on the same file.
# A synthetic capture (scripts/gen-pcap.py: N packets over F TCP/UDP conversations) is
# metered by `ncsoc flows --meter` (JSON lines to /dev/null), `softflowd -r` (NetFlow v9
# export to a loopback port nobody reads) and `argus -r` (its binary records to a file).
# Each run is timed from start to exit; the table gives packets/s and the ratios.
#
#   N=2000000 F=50000 scripts/bench-meter.sh
#
# Needs softflowd and argus-server (apt-get install softflowd argus-server).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
n=${N:-2000000}
f=${F:-50000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q --bin ncsoc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 scripts/gen-pcap.py "$tmp/in.pcap" "$n" "$f"
echo "input: $n packets, $f conversations, $(stat -c %s "$tmp/in.pcap") bytes; $(nproc) cores"
# Warm the page cache so every tool reads from memory.
cat "$tmp/in.pcap" >/dev/null

secs() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }; e=$(date +%s.%N); awk -v a="$s" -v b="$e" 'BEGIN { printf "%.3f", b - a }'; }

ncsoc_s=$(secs "$target/release/ncsoc" flows --meter "$tmp/in.pcap")
flows=$("$target/release/ncsoc" flows --meter "$tmp/in.pcap" 2>/dev/null | wc -l)
soft_s=$(secs softflowd -r "$tmp/in.pcap" -n 127.0.0.1:9 -v 9 -d)
argus_s=$(secs argus -r "$tmp/in.pcap" -w "$tmp/out.argus")

echo
echo "| meter | seconds | packets/s | flows out |"
echo "|---|---:|---:|---:|"
awk -v n="$n" -v s="$ncsoc_s" -v fl="$flows" 'BEGIN { printf "| ncsoc flows --meter (JSON lines) | %.2f | %.0f | %d |\n", s, n/s, fl }'
awk -v n="$n" -v s="$soft_s" 'BEGIN { printf "| softflowd -r (NetFlow v9 export) | %.2f | %.0f | - |\n", s, n/s }'
awk -v n="$n" -v s="$argus_s" 'BEGIN { printf "| argus -r (argus records) | %.2f | %.0f | - |\n", s, n/s }'
awk -v a="$ncsoc_s" -v b="$soft_s" -v c="$argus_s" 'BEGIN { printf "\nncsoc vs softflowd: %.2f×, vs argus: %.2f×\n", b/a, c/a }'
