#!/usr/bin/env bash
# Per-object figures of the backfill's batch handler (README "Backfill": cost and duration for
# 1 million objects are computed from these).
#
#   scripts/backfill-figures.sh [--repeat N] [--mb MB]
#
# Starts moto (scripts/moto.sh), builds the function's handler in release mode
# (functions/backfill/examples/batch_figures.rs) and runs it, one process per object so each
# peak RSS is that object's, on:
#   - the sample log files (events/logs, events/trail: small files, as quiet accounts write),
#   - a production-shaped log file from the bench generator (shared/examples/gen_cloudtrail.rs,
#     --mb MB uncompressed, default 5),
#   - the sample digests (events/trail: signature, every listed log file hashed, the chain).
# Prints one JSON line per object, then a table. CPU time is this process's (all threads);
# moto's own work serving the objects is not counted, so wall time on a busy machine is an
# upper bound for the handler.
set -euo pipefail
cd "$(dirname "$0")/.."
repeat=5
mb=5
while [ $# -gt 0 ]; do
  case "$1" in
    --repeat) repeat="$2"; shift 2 ;;
    --mb) mb="$2"; shift 2 ;;
    *) echo "usage: $0 [--repeat N] [--mb MB]" >&2; exit 2 ;;
  esac
done
source scripts/env.sh
source scripts/moto.sh
work="$(mktemp -d)"
trap 'rm -rf "$work"; kill $_tw_moto_pid 2>/dev/null || true' EXIT

echo "building (release) ..." >&2
cargo build -q --release -p backfill --example batch_figures
cargo run -q --release -p trailwarden-shared --no-default-features --example gen_cloudtrail -- \
  --mb "$mb" --out "$work/production-shaped-${mb}mb.json.gz" >&2
bin="$CARGO_TARGET_DIR/release/examples/batch_figures"

{
  for f in events/logs/*.json.gz \
           $(find events/trail/AWSLogs -path '*/CloudTrail/*' -name '*.json.gz' | sort | head -n 2) \
           "$work/production-shaped-${mb}mb.json.gz"; do
    "$bin" --endpoint "$TRAILWARDEN_MOTO_ENDPOINT" --repeat "$repeat" --log "$f"
  done
  "$bin" --endpoint "$TRAILWARDEN_MOTO_ENDPOINT" --repeat "$repeat" --trail events/trail
} | tee "$work/figures.jsonl"

echo
echo "machine: $(nproc) CPU(s), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
python3 - "$work/figures.jsonl" <<'EOF'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"{'object':<46} {'kind':<6} {'gz KB':>7} {'MB':>6} {'records':>8} {'wall ms':>8} {'cpu ms':>7} {'peak MiB':>8}")
for r in rows:
    name = os.path.basename(r["file"])[-46:]
    mb = (r.get("uncompressed_bytes") or 0) / 1e6
    print(f"{name:<46} {r['kind']:<6} {r['compressed_bytes']/1024:>7.1f} {mb:>6.2f} {r.get('records') or 0:>8} "
          f"{r['wall_ms_median']:>8.1f} {r['cpu_ms_median']:>7.1f} {r['peak_rss_mib']:>8.1f}")
print(f"(medians of {rows[0]['runs']} runs; RSS with the function built and nothing read: {rows[0]['rss_mib_ready']} MiB)")
EOF
