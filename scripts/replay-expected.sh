#!/usr/bin/env bash
# Regenerates replay-data/expected.jsonl from the current build: the incidents `ncsoc replay`
# gives for the fixtures, reduced to what tests/replay_cli.rs compares. Review the diff
# before committing it: a changed expectation is a changed detector.
#
#     scripts/replay-expected.sh [path/to/ncsoc]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-${CARGO_TARGET_DIR:-target}/release/ncsoc}
d=replay-data
"$bin" replay energy=$d/energy-scan.pcap finance=$d/finance-netflow.pcap \
    health=$d/health-auth.ndjson transport=$d/transport-dns.ndjson 2>/dev/null |
    jq -c '{id, kind, severity, score, sectors,
            entities: ([.entities[] | "\(.type):\(.value):\(.role)"] | sort),
            first_seen, last_seen, signal_count, attack}' > $d/expected.jsonl
cat $d/expected.jsonl
