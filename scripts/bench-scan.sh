#!/usr/bin/env bash
# Benchmarks the log-file scanner end to end, as log-delivery and `trailwarden scan` run it:
# gunzip + record splitting + the whole detection catalog, on one thread (pinned to one core
# when taskset exists), built in release mode without the AWS SDK (a quick build).
#
#   scripts/bench-scan.sh
#   SIZE_MB=512 BIG_MB=2048 RUNS=5 scripts/bench-scan.sh
#
#   SIZE_MB    uncompressed size of the throughput file            (default 256)
#   BIG_MB     uncompressed size of the memory (peak RSS) file     (default 1024; 0 skips it)
#   RUNS       runs per measurement; the fastest (CPU time) counts (default 3)
#   BENCH_DIR  where generated files are kept and reused          (default ~/.cache/trailwarden/bench)
#
# Prints MB/s of uncompressed JSON and records/s over CPU time (what one core does, whatever
# else shares the machine) and over wall time, peak RSS, and the time ratio of a catalog ten
# times the size of the built-in one.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailwarden/target}"
SIZE_MB="${SIZE_MB:-256}"
BIG_MB="${BIG_MB:-1024}"
RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-$HOME/.cache/trailwarden/bench}"
mkdir -p "$BENCH_DIR"

echo "building (release, shared crate without the AWS SDK)..." >&2
(cd "$root" && cargo build --release --quiet -p trailwarden-shared --no-default-features \
  --example gen_cloudtrail --example bench_scan)
bin="$CARGO_TARGET_DIR/release/examples"

# The generator's source hash is part of the file name, so a changed generator regenerates.
gen_hash="$(sha256sum "$root/shared/examples/gen_cloudtrail.rs" | cut -c1-8)"
file_for() { echo "$BENCH_DIR/cloudtrail-$1mb-$gen_hash.json.gz"; }
generate() {
  local f; f="$(file_for "$1")"
  if [ ! -s "$f" ]; then
    echo "generating a $1 MB CloudTrail log file..." >&2
    "$bin/gen_cloudtrail" --mb "$1" --out "$f.tmp" && mv "$f.tmp" "$f"
  fi
  echo "$f"
}

pin=()
if command -v taskset >/dev/null 2>&1; then pin=(taskset -c 0); fi

bench() { # file catalog -> one JSON line
  "${pin[@]}" "$bin/bench_scan" "$1" --catalog "$2" --repeat "$RUNS"
}

field() { python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])" "$1" "$2"; }

small="$(generate "$SIZE_MB")"
builtin="$(bench "$small" builtin)"
x10="$(bench "$small" x10)"

printf '\nfile: %s (%s bytes gzip), %s records, %s MB of JSON\n' "$(basename "$small")" \
  "$(stat -c %s "$small")" "$(field "$builtin" records)" "$(python3 -c "print(round($(field "$builtin" bytes)/1e6,1))")"
printf '%-8s %6s %8s %8s %10s %10s %12s %10s\n' catalog detect. "cpu s" "wall s" "MB/s cpu" "MB/s wall" "records/s cpu" "peak RSS"
for row in "$builtin" "$x10"; do
  printf '%-8s %6s %8s %8s %10s %10s %12s %8s MiB\n' "$(field "$row" catalog)" "$(field "$row" detections)" \
    "$(field "$row" cpu_seconds)" "$(field "$row" seconds)" "$(field "$row" mb_per_cpu_s)" \
    "$(field "$row" mb_per_s)" "$(field "$row" records_per_cpu_s)" "$(field "$row" peak_rss_mib)"
done
python3 - "$builtin" "$x10" <<'EOF'
import json, sys
b, x = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(f"x10 catalog / built-in: {x['cpu_seconds'] / b['cpu_seconds']:.2f}x the CPU time "
      f"({x['seconds'] / b['seconds']:.2f}x wall)")
EOF

if [ "$BIG_MB" != "0" ]; then
  big="$(generate "$BIG_MB")"
  timing="$BENCH_DIR/time-v.txt"
  if [ -x /usr/bin/time ]; then
    row="$(/usr/bin/time -v -o "$timing" "${pin[@]}" "$bin/bench_scan" "$big" --catalog builtin)"
    rss_kib="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$timing")"
    rss="$(python3 -c "print(round($rss_kib/1024,1))") MiB (/usr/bin/time -v)"
  else
    row="$(bench "$big" builtin)"
    rss="$(field "$row" peak_rss_mib) MiB (VmHWM)"
  fi
  printf '\n%s MB file (%s records): %s MB/s cpu, %s MB/s wall, peak RSS %s\n' "$BIG_MB" \
    "$(field "$row" records)" "$(field "$row" mb_per_cpu_s)" "$(field "$row" mb_per_s)" "$rss"
fi
