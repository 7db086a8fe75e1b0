#!/usr/bin/env bash
# Memory of `trailwarden scan s3://...` when large log files lie under the prefix: the same
# production-shaped file as scripts/bench-scan.sh (uncompressed SIZE_MB), uploaded COPIES times
# to a bucket in moto (loopback), scanned with the default read-ahead budget (files larger than
# their share are streamed) and with a budget large enough to hold every file whole (how the
# command read objects before the budget existed), and the same file scanned locally. Prints
# peak RSS of each and checks that the three give the same findings.
#
#   scripts/bench-s3-scan.sh
#   SIZE_MB=256 COPIES=4 scripts/bench-s3-scan.sh
#
#   SIZE_MB    uncompressed size of each file (default 256: about 54 MB gzip)
#   COPIES     files under the prefix (default 4), all fetched at once (--concurrency COPIES)
#   BENCH_DIR  where generated files are kept and reused (default ~/.cache/trailwarden/bench)
#
# Memory only: the command is the debug build the tests use (no long release build of the
# AWS SDK), and moto on loopback is far slower than S3, so times here say nothing about speed
# (scripts/bench-scan.sh measures the scanner's throughput).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailwarden/target}"
SIZE_MB="${SIZE_MB:-256}"
COPIES="${COPIES:-4}"
# shellcheck source=scripts/bench-file.sh
source "$root/scripts/bench-file.sh"

echo "building..." >&2
(cd "$root" && cargo build --quiet -p trailwarden-cli \
  && cargo build --release --quiet -p trailwarden-shared --no-default-features --example gen_cloudtrail)
cli="$CARGO_TARGET_DIR/debug/trailwarden"
file="$(bench_file "$SIZE_MB")"

# shellcheck source=scripts/moto.sh
source "$root/scripts/moto.sh"
export AWS_ENDPOINT_URL="$TRAILWARDEN_MOTO_ENDPOINT" AWS_REGION=us-east-1 \
  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
unset AWS_PROFILE
bucket=bench-trail
python3 - "$file" "$bucket" "$COPIES" <<'EOF'
# Multipart, as the AWS CLI uploads large files (moto refuses one request this large).
import os, sys, boto3
from boto3.s3.transfer import TransferConfig
path, bucket, copies = sys.argv[1], sys.argv[2], int(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
s3.create_bucket(Bucket=bucket)
folder = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/01"
config = TransferConfig(multipart_threshold=8 << 20, multipart_chunksize=8 << 20)
for i in range(copies):
    name = f"123456789012_CloudTrail_us-east-1_20260301T{i:02d}05Z_Bench{i:04d}Xy7pQ2mN.json.gz"
    s3.upload_file(path, bucket, f"{folder}/{name}", Config=config)
print(f"uploaded {copies} x {os.path.getsize(path)} bytes", file=sys.stderr)
EOF

measure() { # label, then the command's arguments -> label, peak RSS, what was found
  local label="$1"; shift
  local out err
  out="$(mktemp)"; err="$(mktemp)"
  /usr/bin/time -v "$cli" --format json "$@" >"$out" 2>"$err" || true
  local rss
  rss="$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$err")"
  local sum
  sum="$(python3 -c "
import json, sys
v = json.load(open(sys.argv[1]))
print(sum(f['count'] for f in v['findings']), len(v['findings']), len(v['files']))" "$out")"
  printf '%-46s %8.1f MiB   %s\n' "$label" "$(python3 -c "print($rss/1024)")" "$sum"
  found+=("$sum")
  rm -f "$out" "$err"
}
found=()

uri="s3://$bucket/AWSLogs/"
mb=$(( $(stat -c %s "$file") / 1000000 ))
echo
echo "$COPIES files of $SIZE_MB MB of JSON ($mb MB gzip) under $uri; --concurrency $COPIES"
printf '%-46s %12s   %s\n' "" "peak RSS" "records matched, findings, files read"
measure "scan s3:// (default read-ahead, 32 MiB)" scan "$uri" --concurrency "$COPIES"
measure "scan s3:// --read-ahead-mib 65536 (all whole)" scan "$uri" --concurrency "$COPIES" --read-ahead-mib 65536
copies=()
for i in $(seq "$COPIES"); do copies+=("$file"); done
measure "scan of the local file, $COPIES times" scan "${copies[@]}"
if [ "$(printf '%s\n' "${found[@]}" | sort -u | wc -l)" != 1 ]; then
  echo "the three scans DIFFER in what they found" >&2
  exit 3
fi
echo "the three scans found the same"
