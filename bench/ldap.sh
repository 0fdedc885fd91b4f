#!/usr/bin/env bash
# L1–L3: congvu's LDAP service against OpenLDAP slapd (back-mdb, argon2 module), both started
# on loopback and seeded with the same officials, and writes the figures to docs/PERFORMANCE.md.
# Usage: bench/ldap.sh [--seconds N] [--officials N] [--no-pin] … (congvu-bench ldap --help)
set -euo pipefail
cd "$(dirname "$0")/.."
PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in slapd slapadd slappasswd ldapadd taskset; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    echo "bench/ldap.sh: not found: ${missing[*]}" >&2
    echo "  install them with: apt-get install slapd ldap-utils (taskset: util-linux)" >&2
    exit 1
fi
target="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p congvu-server -p congvu-admin -p congvu-bench
exec "$target/release/congvu-bench" ldap \
    --server "$target/release/congvu-server" \
    --admin "$target/release/congvu-admin" \
    --slapd "$(command -v slapd)" \
    --slapadd "$(command -v slapadd)" \
    "$@"
