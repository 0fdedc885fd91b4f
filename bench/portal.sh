#!/usr/bin/env bash
# W1: the officials' portal under load: 200 officials at once signing in and opening their
# account pages on congvu started on loopback, against the hashing floor and the same
# server's IMAP login unloaded, both measured in each run; writes the figures to
# docs/PERFORMANCE.md. Usage: bench/portal.sh [--runs N] [--users N] [--seconds N] …
# (congvu-bench portal --help). A quick check: bench/portal.sh --runs 1 --seconds 5 --warmup 5
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/portal.sh: not found: ${missing[*]}" >&2
    echo "  install it with: apt-get install util-linux" >&2
    exit 1
fi
# 200 keep-alive connections and the server's own on each side of loopback.
ulimit -n "$(ulimit -Hn)"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench
exec "$target/release/congvu-bench" portal \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    "$@"
