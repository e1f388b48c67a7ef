#!/usr/bin/env bash
# The one command to check ncsoc on a fresh Debian/Ubuntu machine (also what CI runs):
# installs missing system packages and the tansu Kafka broker (built once into a cache), starts
# ClickHouse on 127.0.0.1:8123 (stopped again on exit, failures included), then runs cargo fmt
# --check, clippy -D warnings and the workspace tests (which start their own brokers).
# Honours CARGO_TARGET_DIR if the caller sets it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
clickhouse=$(pwd)/scripts/clickhouse.sh

section() { printf '\n==== %s ====\n' "$*"; }

section "System packages"
# clickhouse.sh adds clickhouse-server, clickhouse-client and curl if missing, and runs a single
# apt-get update + install only when something is missing.
extra=()
command -v pkg-config >/dev/null || extra+=(pkg-config)
[[ $(dpkg-query -W -f='${Status}' build-essential 2>/dev/null) == *'ok installed'* ]] || extra+=(build-essential)
# The intake tests send with real clients: util-linux logger, curl, openssl, gzip.
# librdkafka (the `kafka` feature) links the system's OpenSSL and zlib.
for pkg in libssl-dev zlib1g-dev; do
  [[ $(dpkg-query -W -f='${Status}' $pkg 2>/dev/null) == *'ok installed'* ]] || extra+=($pkg)
done
command -v logger >/dev/null || extra+=(bsdutils)
command -v openssl >/dev/null || extra+=(openssl)
command -v gzip >/dev/null || extra+=(gzip)
command -v python3 >/dev/null || extra+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || extra+=(python3-venv)
# The dashboard's browser tests: Debian's Chromium, driven from node (npm ci below).
[ -x /usr/bin/chromium ] || extra+=(chromium)
command -v node >/dev/null || extra+=(nodejs)
command -v npm >/dev/null || extra+=(npm)
"$clickhouse" install ${extra[@]+"${extra[@]}"}
command -v cargo >/dev/null || { echo "cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }

section "Python test tools (schemathesis, openapi-spec-validator)"
venv=${NCSOC_TEST_VENV:-$(pwd)/.venv-test}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export NCSOC_SCHEMATHESIS=$venv/bin/st
export NCSOC_OPENAPI_VALIDATOR=$venv/bin/python

section "Browser test tools (tests/e2e: npm ci, playwright-core)"
(cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error)

section "Kafka-protocol broker (tansu, cached in \${NCSOC_TOOLS_DIR:-~/.cache/ncsoc/tools})"
# The tests start their own broker on a loopback port (tests/kafka_scale.rs).
NCSOC_TEST_TANSU=$(scripts/tansu.sh install)
export NCSOC_TEST_TANSU

section "ClickHouse"
trap '"$clickhouse" stop || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$clickhouse" start
export NCSOC_TEST_CLICKHOUSE_URL=http://127.0.0.1:8123
export NCSOC_CLICKHOUSE_SCRIPT=$clickhouse

section "cargo fmt --all -- --check"
cargo fmt --all -- --check

section "cargo clippy --workspace --all-targets --locked -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

section "cargo test --workspace --locked"
cargo test --workspace --locked

section "All checks passed"
