#!/usr/bin/env bash
# N1: two congvu nodes on one PostgreSQL database against one node, SMTP intake and IMAP
# FETCH spread over the nodes, with each queue entry delivered once and IDLE woken across
# nodes checked while both run, and writes the figures to docs/PERFORMANCE.md. Each run
# creates a database of its own on the PostgreSQL server and drops it at the end.
# Usage: bench/nodes.sh [--postgres URL] [--runs N] [--seconds N] [--officials N]
# [--smtp-sessions N] [--imap-sessions N] … (congvu-bench nodes --help)
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v taskset >/dev/null; then
    echo "bench/nodes.sh: taskset not found: apt-get install util-linux" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench

# The nodes keep their configurations and logs here. The benchmark stops the nodes it
# started when it ends or fails (they share this terminal's process group, so an interrupt
# reaches them too) and drops each run's database.
work="$(mktemp -d "${TMPDIR:-/tmp}/congvu-nodes-bench.XXXXXX")"
cleanup() {
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$target/release/congvu-bench" nodes \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    --work-dir "$work" \
    "$@"
