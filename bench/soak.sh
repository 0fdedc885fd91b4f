#!/usr/bin/env bash
# The crash soak: builds congvu-server and congvu-bench in release, then kills the server with
# SIGKILL at a random moment of each round under mixed SMTP and IMAP load, 1,000 times unless
# told otherwise, checking the database against every acknowledged message after each kill,
# and prints the report (figures for docs/RELIABILITY.md). Exits non-zero if a promise broke;
# the database is then kept and named in the report.
# Usage: bench/soak.sh [--kills N] [--postgres URL] [--seed N] [--quiet] … (congvu-bench soak --help)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-bench
echo "bench/soak.sh: started $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(nproc) cores" >&2
exec "$target/release/congvu-bench" soak --server "$target/release/congvu-server" "$@"
