#!/usr/bin/env bash
# S1–S3: congvu's SMTP service against a private Postfix instance delivering to Maildir, both
# started on loopback with the same officials, and writes the figures to docs/PERFORMANCE.md.
# Run as root (Postfix's master starts as root). Usage: bench/smtp.sh [--runs N] [--messages N]
# [--officials N] [--workloads s1,s2,s3] [--circular-to list|rcpt] … (congvu-bench smtp --help)
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in postfix postmap smtp-source taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/smtp.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install postfix (taskset: util-linux); stop the system" >&2
    echo "  instance afterwards (systemctl disable --now postfix): the benchmark starts its own" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench

# Both servers keep their data here. The benchmark stops what it started when it ends or
# fails; this trap also covers an interrupted run: congvu-server shares this terminal's
# process group, while Postfix's master runs detached and is stopped by its config directory.
work="$(mktemp -d "${TMPDIR:-/tmp}/congvu-smtp-bench.XXXXXX")"
cleanup() {
    if [[ -f "$work/postfix/main.cf" ]]; then
        postfix -c "$work/postfix" abort >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$target/release/congvu-bench" smtp \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    --postfix "$(command -v postfix)" \
    --postmap "$(command -v postmap)" \
    --smtp-source "$(command -v smtp-source)" \
    --work-dir "$work" \
    "$@"
