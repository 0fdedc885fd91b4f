#!/usr/bin/env bash
# L2's bound: CPU per argon2id verification at congvu's full cost for each implementation a
# Rust server could use (RustCrypto argon2 0.5 and 0.6, libsodium, Debian's libargon2 that
# slapd's argon2 module calls), pinned to one core, in one process, three runs by default.
# Prints a Markdown table for docs/PERFORMANCE.md. Needs libargon2-dev (and a C compiler,
# for libsodium, which is built from source).
# Usage: bench/argon2.sh [RUNS] [CHECKS PER RUN]
set -euo pipefail
cd "$(dirname "$0")/argon2"
if [[ ! -e /usr/lib/x86_64-linux-gnu/libargon2.so && ! -e /usr/lib/libargon2.so ]]; then
    echo "bench/argon2.sh: libargon2 not found; install it with: apt-get install libargon2-dev" >&2
    exit 1
fi
cargo build --release -q
exec taskset -c "$(($(nproc) - 1))" "${CARGO_TARGET_DIR:-target}/release/congvu-bench-argon2" "$@"
