#!/usr/bin/env bash
# Renders the e-government report of a province-shaped demo database and takes its
# screenshot (docs/egov-report.png): a temporary SQLite database with Vĩnh Phúc's tree
# (1 province office, 20 departments, 9 districts and cities, 136 communes and wards, about
# 8,300 officials) seeded by `congvu-bench egov-demo` (bench/src/egov_demo.rs), the report for the first
# half of 2026 as HTML, and headless Chromium at A4 proportions (1240x1754).
#
# Usage: scripts/egov-report-demo.sh [--png FILE] [--html FILE] [--keep]
#   --png FILE   where to write the screenshot (default docs/egov-report.png)
#   --html FILE  also keep the HTML page there
#   --keep       keep the temporary directory (database, config, HR lists) and print its path
set -euo pipefail
cd "$(dirname "$0")/.."

png="docs/egov-report.png"
html=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --png) png="$2"; shift 2 ;;
        --html) html="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        *) echo "usage: $0 [--png FILE] [--html FILE] [--keep]" >&2; exit 2 ;;
    esac
done
command -v chromium >/dev/null 2>&1 \
    || { echo "chromium is not installed (Debian: apt-get install chromium)" >&2; exit 1; }

target="${CARGO_TARGET_DIR:-target}"
cargo build -q -p congvu-admin -p congvu-bench --bin congvu-admin --bin congvu-bench
admin="$target/debug/congvu-admin"

dir="$(mktemp -d)"
if [ "$keep" = 1 ]; then
    echo "demo files in $dir"
else
    trap 'rm -rf "$dir"' EXIT
fi

"$target/debug/congvu-bench" egov-demo --admin "$admin" --dir "$dir" --from 2026-01-01 --to 2026-06-30
"$admin" --config "$dir/congvu.toml" report egov --from 2026-01-01 --to 2026-06-30 \
    --format html --output "$dir/egov-report.html"
chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --user-data-dir="$dir/chromium" --window-size=1240,1754 \
    --screenshot="$(realpath -m "$png")" "file://$dir/egov-report.html" 2>/dev/null
echo "wrote $png"
if [ -n "$html" ]; then
    cp "$dir/egov-report.html" "$html"
    echo "wrote $html"
fi
