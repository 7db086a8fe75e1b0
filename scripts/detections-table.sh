#!/usr/bin/env bash
# Rewrites the README's table of built-in detections, between the lines
# `<!-- detections:start -->` and `<!-- detections:end -->`, from
# `trailwarden detections --markdown` (the test `readme_lists_every_builtin_detection` checks it).
#
#   scripts/detections-table.sh           rewrite README.md
#   scripts/detections-table.sh --check   only say whether README.md is up to date (exit 1 if not)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/trailwarden/target}"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

start='<!-- detections:start -->'
end='<!-- detections:end -->'
if [ "$(grep -cxF "$start" README.md)" != 1 ] || [ "$(grep -cxF "$end" README.md)" != 1 ] \
  || [ "$(grep -nxF "$start" README.md | cut -d: -f1)" -ge "$(grep -nxF "$end" README.md | cut -d: -f1)" ]; then
  echo "README.md needs exactly one '$start' line followed by one '$end' line" >&2
  exit 1
fi

table="$(mktemp)"
updated="$(mktemp)"
trap 'rm -f "$table" "$updated"' EXIT
cargo run -q -p trailwarden-cli -- detections --markdown >"$table"
rows=$(($(wc -l <"$table") - 2))
if [ "$rows" -lt 1 ]; then
  echo "trailwarden detections --markdown printed no detections" >&2
  exit 1
fi

awk -v start="$start" -v end="$end" -v table="$table" '
  $0 == start { print; while ((getline line < table) > 0) print line; skipping = 1; next }
  $0 == end   { skipping = 0 }
  !skipping   { print }
' README.md >"$updated"

if cmp -s README.md "$updated"; then
  echo "README.md: the detection table is up to date ($rows detections)"
  exit 0
fi
if $check; then
  echo "README.md: the detection table is out of date; run scripts/detections-table.sh" >&2
  diff -u README.md "$updated" | head -40 >&2 || true
  exit 1
fi
cat "$updated" >README.md
echo "README.md: detection table rewritten ($rows detections)"
