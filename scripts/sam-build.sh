#!/usr/bin/env bash
# `sam build` of every function for arm64 with cargo-lambda (zig from the virtualenv), as a
# user would run it, timed. The cargo target directory is shared with the tests (see
# scripts/env.sh), so rebuilds only compile what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu
build_dir="${TRAILWARDEN_SAM_BUILD_DIR:-$(dirname "$CARGO_TARGET_DIR")/sam-build}"
start=$(date +%s)
sam build --template-file template.yaml --build-dir "$build_dir" --region us-east-1
end=$(date +%s)
for f in "$build_dir"/*Function/bootstrap; do
  printf '%-60s %s\n' "$f" "$(file -b "$f" | cut -d, -f1-2)"
  file -b "$f" | grep -q 'ARM aarch64' || { echo "not an arm64 binary: $f" >&2; exit 1; }
done
echo "sam build: $(ls "$build_dir"/*Function/bootstrap | wc -l) functions built for arm64 in $((end - start)) s"
