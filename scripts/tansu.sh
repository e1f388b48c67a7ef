#!/usr/bin/env bash
# The Kafka-protocol broker the tests run against: tansu 0.6 (Apache-2.0, crates.io), built
# once with its in-memory storage engine into a cache the next runs reuse, and always bound to
# loopback by the tests (its own default is 0.0.0.0).
#
#   scripts/tansu.sh install   # builds it if missing (about 12 minutes on two cores); prints the path
#   scripts/tansu.sh path      # prints the path (fails if not installed)
#
# The cache is $NCSOC_TOOLS_DIR (default ~/.cache/ncsoc/tools).
set -euo pipefail

version=0.6.0
root=${NCSOC_TOOLS_DIR:-$HOME/.cache/ncsoc/tools}
bin=$root/bin/tansu

installed() {
  [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"
}

case ${1:-} in
  install)
    if ! installed; then
      echo "building tansu $version into $root (once; about 12 minutes on two cores)" >&2
      # Its own target directory, removed afterwards: the build is large and not reused.
      tmp=$(mktemp -d)
      trap 'rm -rf "$tmp"' EXIT
      CARGO_TARGET_DIR=$tmp cargo install tansu --version "=$version" --locked \
        --features dynostore --root "$root" >&2
    fi
    installed || { echo "tansu $version did not install into $root" >&2; exit 1; }
    echo "$bin"
    ;;
  path)
    installed || { echo "tansu $version is not installed (scripts/tansu.sh install)" >&2; exit 1; }
    echo "$bin"
    ;;
  *)
    echo "usage: $0 install|path" >&2
    exit 2
    ;;
esac
