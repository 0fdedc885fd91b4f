#!/usr/bin/env bash
# B1–B3: `congvu-admin backup create` and `backup restore` against `sqlite3 .backup` + zstd
# (SQLite) and `pg_dump -Fc`/`pg_restore` (PostgreSQL) on the same seeded officials and
# messages, and the SMTP p99 of the release server while a backup runs; writes the figures to
# docs/PERFORMANCE.md. B2 needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust; override
# with --postgres URL); it creates databases of its own there (congvu_bench_PID_…) and drops
# them at the end, also when it fails, though not when it is killed.
# Usage: bench/backup.sh [--officials N] [--messages N] [--runs N] [--workloads b1,b2,b3]
# (congvu-bench backup --help). Run it as root: each timed step starts with the page cache
# emptied (/proc/sys/vm/drop_caches), and the report says so when it could not be. A quick check:
# bench/backup.sh --officials 200 --messages 2000 --runs 1
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
for tool in sqlite3 zstd; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/backup.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install ${missing[*]}" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench

# The seeded database, the archives, copies and restored databases (about five times the
# database's size at the peak) go here; removed when the benchmark ends, however it ends.
# The server B3 starts shares this terminal's process group.
work="$(mktemp -d "${TMPDIR:-/tmp}/congvu-backup-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

"$target/release/congvu-bench" backup \
    --admin "$target/release/congvu-admin" \
    --server "$target/release/congvu-server" \
    --sqlite3 "$(command -v sqlite3)" \
    --zstd "$(command -v zstd)" \
    --work-dir "$work/data" \
    "$@"
