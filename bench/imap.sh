#!/usr/bin/env bash
# I1 and M1: congvu's IMAP service against a private Dovecot instance, both started on loopback
# with the same officials and the same mailbox, synced by mbsync and fetched by the load
# generator, then left holding idle connections for the memory figure; with i2 named, SEARCH
# TEXT and BODY over a 50,000-message INBOX (--search-messages N), on both and on Dovecot with
# Debian's fts-xapian plugin (package dovecot-fts-xapian, needed only then), and with i3 named,
# SELECT of a 400,000-message INBOX (--large-messages N), on both as well; writes the figures to
# docs/PERFORMANCE.md. Run as root (Dovecot's master starts as root). Usage: bench/imap.sh
# [--messages N] [--runs N] [--sessions N] [--seconds N] [--idle N] [--workloads i1,m1,i2,i3] …
# (congvu-bench imap --help). A quick check: bench/imap.sh --messages 500 --idle 50
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=()
packages="dovecot-imapd isync"
for tool in dovecot doveadm mbsync taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
# I2 also searches through Dovecot's FTS: `--workloads i2`, `--workloads=i1,i2`, …
fts_plugin=/usr/lib/dovecot/modules/lib21_fts_xapian_plugin.so
if [[ " $* " =~ \ --workloads[=\ ][^\ ]*i2 ]]; then
    packages+=" dovecot-fts-xapian"
    [[ -f "$fts_plugin" ]] || missing+=("$fts_plugin")
fi
if ((${#missing[@]})); then
    echo "bench/imap.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install $packages (taskset: util-linux); stop" >&2
    echo "  the system instance afterwards (systemctl disable --now dovecot): the benchmark" >&2
    echo "  starts its own" >&2
    exit 1
fi
# M1 holds over a thousand connections open on each side of loopback.
ulimit -n "$(ulimit -Hn)"
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench

# Both servers keep their data here. The benchmark stops what it started when it ends or
# fails; this trap also covers an interrupted run: congvu-server and Dovecot's master share
# this terminal's process group, and a master left behind is stopped through its pid file.
work="$(mktemp -d "${TMPDIR:-/tmp}/congvu-imap-bench.XXXXXX")"
cleanup() {
    if [[ -f "$work/dovecot-run/master.pid" ]]; then
        kill "$(cat "$work/dovecot-run/master.pid")" 2>/dev/null || true
        sleep 1
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$target/release/congvu-bench" imap \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    --dovecot "$(command -v dovecot)" \
    --doveadm "$(command -v doveadm)" \
    --mbsync "$(command -v mbsync)" \
    --work-dir "$work" \
    "$@"
