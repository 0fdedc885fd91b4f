#!/usr/bin/env bash
# G1, G2: `congvu-admin migrate imap` pulling mailboxes from a private Dovecot (the I1 corpus
# in one mailbox; 200 accounts × 200 messages with --concurrency 8) against Dovecot's own
# `doveadm backup -R imapc:` pulling the same mailboxes into a second private Dovecot, and
# writes the figures to docs/PERFORMANCE.md. Run as root (Dovecot's master starts as root).
# Usage: bench/migrate.sh [--messages N] [--accounts N] [--per-account N] [--concurrency N]
# [--runs N] [--workloads g1,g2] (congvu-bench migrate --help). A quick check:
# bench/migrate.sh --messages 500 --accounts 10 --per-account 20 --runs 1
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in dovecot doveadm; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/migrate.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install dovecot-imapd; stop the system instance afterwards" >&2
    echo "  (systemctl disable --now dovecot): the benchmark starts its own two" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-admin -p congvu-bench

# congvu's databases go under "$work/data", the two Dovecot instances under "$work/tmp" (the
# benchmark's temporary directory); Dovecot's mail processes (user mail) walk into both. The
# benchmark stops what it started when it ends or fails; this trap also covers an
# interrupted run: each Dovecot master leads a process group of its own, found by its pid
# file.
work="$(mktemp -d "${TMPDIR:-/tmp}/congvu-migrate-bench.XXXXXX")"
mkdir -p "$work/tmp"
chmod 755 "$work" "$work/tmp"
cleanup() {
    for pid_file in "$work"/tmp/congvu-dovecot-*/run/master.pid; do
        [[ -f "$pid_file" ]] && kill -KILL -- "-$(cat "$pid_file")" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMPDIR="$work/tmp" "$target/release/congvu-bench" migrate \
    --admin "$target/release/congvu-admin" \
    --doveadm "$(command -v doveadm)" \
    --work-dir "$work/data" \
    "$@"
