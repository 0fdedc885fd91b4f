#!/usr/bin/env bash
# V1: congvu's S1 delivery with every recipient's 20-rule Sieve script active, against itself
# without scripts, and a private Postfix delivering over LMTP to a private Dovecot with
# Pigeonhole running the same script (and without it); writes the figures to
# docs/PERFORMANCE.md. Builds the release binaries first. Run as root (Postfix's and Dovecot's
# masters start as root). Needs the Debian packages postfix, dovecot-lmtpd and dovecot-sieve.
# Usage: bench/sieve.sh [--runs N] [--messages N] … (congvu-bench sieve --help)
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in postfix postmap dovecot sievec taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/sieve.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install postfix dovecot-lmtpd dovecot-sieve" >&2
    echo "  (taskset: util-linux); stop the system instances afterwards (systemctl disable --now" >&2
    echo "  postfix dovecot): the benchmark starts its own" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench

# The servers keep their data here. The benchmark stops what it started when it ends or
# fails; this trap also covers an interrupted run: congvu-server and Dovecot's master share
# this terminal's process group, while Postfix's master runs detached and is stopped by its
# config directory.
work="$(mktemp -d "${TMPDIR:-/tmp}/congvu-sieve-bench.XXXXXX")"
cleanup() {
    if [[ -f "$work/postfix/main.cf" ]]; then
        postfix -c "$work/postfix" abort >/dev/null 2>&1 || true
    fi
    if [[ -f "$work/dovecot/dovecot-run/master.pid" ]]; then
        kill -TERM "$(cat "$work/dovecot/dovecot-run/master.pid")" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$target/release/congvu-bench" sieve \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    --postfix "$(command -v postfix)" \
    --postmap "$(command -v postmap)" \
    --dovecot "$(command -v dovecot)" \
    --sievec "$(command -v sievec)" \
    --work-dir "$work" \
    "$@"
