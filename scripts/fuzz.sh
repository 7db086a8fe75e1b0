#!/usr/bin/env bash
# Runs each cargo-fuzz target in fuzz/ for a bounded time and prints, per target, how many
# inputs were executed and how many crashes were found.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
#   SECONDS          time per target (default: $FUZZ_SECONDS or 60)
#   TARGET           targets to run (default: all: payload logfile digest signature pattern alert)
#   FUZZ_DIR         corpora, crash artifacts and logs (default: ~/.cache/trailwarden/fuzz)
#   FUZZ_TARGET_DIR  cargo build directory (default: ~/.cache/trailwarden/fuzz-target)
#   FUZZ_JOBS        cargo build jobs (default: 2)
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seed corpora come
# from events/ and shared/detections/. Inputs that once crashed a target are kept in
# fuzz/regressions/<target>/ (each is also a test in tests/tests/fuzz_regressions.rs) and are
# replayed first: the summary says how many still crash. A target that crashes is restarted
# for the rest of its time (a crash stops libFuzzer), so one run can report several crashes;
# each crash input is kept in $FUZZ_DIR/artifacts/<target>/ and is to become a regression
# test. Exit status: 1 when any target crashed or a regression input still crashes, else 0.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/trailwarden"
seconds="${1:-${FUZZ_SECONDS:-60}}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(payload logfile digest signature pattern alert)
work="${FUZZ_DIR:-$cache/fuzz}"
target_dir="${FUZZ_TARGET_DIR:-$cache/fuzz-target}"
jobs="${FUZZ_JOBS:-2}"

case "$seconds" in
  '' | *[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: needs the nightly toolchain and cargo-fuzz: rustup toolchain install nightly && cargo install cargo-fuzz" >&2
  exit 2
fi

# Seed corpora (only files that are not there yet; the fuzzer adds its own).
seed() {
  local t="$1"
  local dir="$work/corpus/$t"
  mkdir -p "$dir"
  case "$t" in
    payload)
      for f in "$root"/events/*.json; do cp -n "$f" "$dir/" ; done ;;
    logfile)
      # Byte 0: mode (bit 0 = gzip the rest), byte 1: chunk-size seed, then the JSON.
      local i=0
      for f in "$root"/events/trail/AWSLogs/*/CloudTrail/*/*/*/*/*.json.gz; do
        [ -f "$f" ] || continue
        i=$((i + 1))
        { printf '\001\007'; gzip -dc "$f"; } > "$dir/seed-log-$i"
      done
      printf '\000\003{"Records":[{"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com","userIdentity":{"type":"Root"},"additionalEventData":{"MFAUsed":"No"},"responseElements":{"ConsoleLogin":"Success"}},1,"x",[],null]}' \
        > "$dir/seed-small" ;;
    digest)
      local i=0
      for f in "$root"/events/trail/AWSLogs/*/CloudTrail-Digest/*/*/*/*/*.json.gz; do
        [ -f "$f" ] || continue
        i=$((i + 1))
        { printf '\000\011'; cat "$f"; } > "$dir/seed-digest-gz-$i"
        { printf '\001\005'; gzip -dc "$f"; } > "$dir/seed-digest-json-$i"
      done ;;
    pattern)
      # Each built-in detection's pattern, 0xFF, one of its matching examples.
      python3 - "$root/shared/detections" "$dir" <<'PY'
import glob, json, sys
dets = [d for f in sorted(glob.glob(sys.argv[1] + "/*.json")) for d in json.load(open(f))["detections"]]
for i, d in enumerate(dets):
    ex = (d.get("examples") or {}).get("match") or [{}]
    with open(f"{sys.argv[2]}/seed-{i}", "wb") as f:
        f.write(json.dumps(d["pattern"]).encode() + b"\xff" + json.dumps(ex[0]).encode())
PY
      ;;
    signature)
      # Byte 0: which bit of the message to flip, then the message: the sample key document.
      { printf '\005'; cat "$root/events/trail/public-keys.json"; } > "$dir/seed-keys" ;;
    alert) ;;
  esac
}

echo "building fuzz targets (nightly, target dir $target_dir)..." >&2
mkdir -p "$work"
for t in "${targets[@]}"; do
  (cd "$root" && CARGO_BUILD_JOBS="$jobs" cargo +nightly fuzz build --fuzz-dir fuzz \
    --target-dir "$target_dir" "$t") >&2 || { echo "fuzz.sh: $t does not build" >&2; exit 1; }
done

bin_dir="$target_dir/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
status=0
results=()
for t in "${targets[@]}"; do
  seed "$t"
  artifacts="$work/artifacts/$t"
  logs="$work/logs/$t"
  mkdir -p "$artifacts" "$logs"
  rm -f "$logs"/run-*.log
  # Inputs that crashed this target before.
  regressions=0
  still=0
  for f in "$root/fuzz/regressions/$t"/*; do
    [ -f "$f" ] || continue
    regressions=$((regressions + 1))
    if ! "$bin_dir/$t" "$f" >"$logs/regression-$(basename "$f").log" 2>&1; then
      still=$((still + 1))
      echo "fuzz.sh: $t still crashes on $f (log: $logs/regression-$(basename "$f").log)" >&2
    fi
  done
  [ "$still" -eq 0 ] || status=1
  before=$(find "$artifacts" -type f | wc -l)
  remaining="$seconds"
  runs=0
  execs=0
  while [ "$remaining" -gt 0 ] && [ "$runs" -lt 10 ]; do
    runs=$((runs + 1))
    log="$logs/run-$runs.log"
    start=$(date +%s)
    set +e
    # The binary itself (built above), so that the time goes to fuzzing, not to rebuilds.
    "$bin_dir/$t" "$work/corpus/$t" -max_total_time="$remaining" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" -rss_limit_mb=4096 -timeout=20 >"$log" 2>&1
    rc=$?
    set -e
    n=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
    if [ -z "$n" ]; then
      # A crash ends the run before the final statistics: take the last progress line.
      n=$(grep -o '^#[0-9]*' "$log" | tail -1 | tr -d '#')
    fi
    execs=$((execs + ${n:-0}))
    remaining=$((remaining - ($(date +%s) - start)))
    [ "$rc" -eq 0 ] && break
  done
  after=$(find "$artifacts" -type f | wc -l)
  crashes=$((after - before))
  [ "$crashes" -eq 0 ] || status=1
  results+=("$(printf '%-8s %6ss %12s executions %4s crashes  %s/%s old crash inputs still crash  (artifacts: %s)' \
    "$t" "$seconds" "$execs" "$crashes" "$still" "$regressions" "$artifacts")")
  echo "${results[-1]}"
done

echo
echo "summary ($seconds s per target):"
printf '%s\n' "${results[@]}"
exit "$status"
