#!/usr/bin/env bash
# Sourced by the benchmark scripts: the production-shaped CloudTrail log files they measure on,
# made by shared/examples/gen_cloudtrail.rs (built by the caller, release) and kept in
# BENCH_DIR (default ~/.cache/trailwarden/bench) for the next run.
#
#   bench_file SIZE_MB [PROFILE]   prints the path of a SIZE_MB file (uncompressed) of PROFILE
#                                  (varied, the default, or uniform), generating it when missing
BENCH_DIR="${BENCH_DIR:-$HOME/.cache/trailwarden/bench}"
mkdir -p "$BENCH_DIR"
_tw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The generator's source hash is part of the file name, so a changed generator regenerates.
_tw_gen_hash="$(sha256sum "$_tw_root/shared/examples/gen_cloudtrail.rs" | cut -c1-8)"
bench_file() {
  local profile="${2:-varied}"
  local f="$BENCH_DIR/cloudtrail-$profile-$1mb-$_tw_gen_hash.json.gz"
  if [ ! -s "$f" ]; then
    echo "generating a $1 MB CloudTrail log file..." >&2
    "${CARGO_TARGET_DIR:?}/release/examples/gen_cloudtrail" --mb "$1" --profile "$profile" \
      --out "$f.tmp" && mv "$f.tmp" "$f"
  fi
  echo "$f"
}
