#!/usr/bin/env bash
# S4, S5: congvu's MX with sender authentication enforced (S4, against itself with it off)
# and with rspamd and ClamAV on (S5, against a private Postfix using rspamd's milter proxy
# and the same rspamd and clamd), and writes the figures to docs/PERFORMANCE.md. Builds the
# release binaries first. Run as root (Postfix's master starts as root). Needs the Debian
# packages postfix, rspamd, clamav-daemon, python3-dkim (dkimsign) and openssl. Usage:
# bench/inbound.sh [--runs N] [--messages N] [--workloads s4,s5] … (congvu-bench inbound --help)
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in postfix postmap rspamd clamd dkimsign openssl taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/inbound.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install postfix rspamd clamav-daemon python3-dkim openssl" >&2
    echo "  (taskset: util-linux); stop the system Postfix afterwards (systemctl disable --now" >&2
    echo "  postfix): the benchmark starts its own, as it starts its own rspamd and clamd" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench

# The servers keep their data under "$work/data", and the rspamd and clamd the benchmark
# starts theirs under "$work/tmp" (its temporary directory), beside a link to the compiled
# hyperscan cache that every private rspamd shares. The benchmark stops what it started when
# it ends or fails; this trap also covers an interrupted run: congvu-server and clamd share
# this terminal's process group, rspamd leads a group of its own (found by its pid file),
# and Postfix's master runs detached and is stopped by its config directory.
system_tmp="${TMPDIR:-/tmp}"
work="$(mktemp -d "$system_tmp/congvu-inbound-bench.XXXXXX")"
# Postfix's daemons (user postfix) and its delivery agent walk into the data directory.
chmod 755 "$work"
mkdir -p "$work/tmp" "$system_tmp/congvu-rspamd-hyperscan"
ln -s "$system_tmp/congvu-rspamd-hyperscan" "$work/tmp/congvu-rspamd-hyperscan"
cleanup() {
    if [[ -f "$work/data/postfix/main.cf" ]]; then
        postfix -c "$work/data/postfix" abort >/dev/null 2>&1 || true
    fi
    for pid_file in "$work"/tmp/congvu-rspamd-*/run/rspamd.pid; do
        [[ -f "$pid_file" ]] && kill -KILL -- "-$(cat "$pid_file")" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

TMPDIR="$work/tmp" "$target/release/congvu-bench" inbound \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    --postfix "$(command -v postfix)" \
    --postmap "$(command -v postmap)" \
    --work-dir "$work/data" \
    "$@"
