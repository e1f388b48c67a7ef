#!/usr/bin/env bash
# Runs the dashboard's browser tests: installs playwright-core (npm ci) when missing, then the
# cargo test that replays replay-data/ into a real `ncsoc serve` and drives headless Chromium
# (Debian's /usr/bin/chromium, or $CHROMIUM) against it.
#
#   tests/e2e/run.sh                 the tests
#   tests/e2e/run.sh --screenshots   the tests, refreshing docs/dashboard-*.png (1366×768)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ -f node_modules/playwright-core/package.json ] || npm ci --no-audit --no-fund --loglevel=error
cd ../..
if [ "${1:-}" = --screenshots ]; then
  export NCSOC_DASHBOARD_SCREENSHOTS=$PWD/docs
fi
exec cargo test --test dashboard_e2e -- --nocapture
