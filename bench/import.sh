#!/usr/bin/env bash
# P1/P2: times `congvu-admin user import` of 10,000 officials into SQLite and PostgreSQL
# and writes the figures to docs/PERFORMANCE.md. Usage: bench/import.sh [--officials N] [--no-postgres]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-admin -p congvu-bench
exec "$target/release/congvu-bench" import --admin "$target/release/congvu-admin" "$@"
