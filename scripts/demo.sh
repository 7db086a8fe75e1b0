#!/usr/bin/env bash
# The local demo: no AWS account needed. Creates the Python tool virtualenv if missing,
# starts moto (a local AWS emulator) on 127.0.0.1, runs every trailwarden function against
# it on the matching sample events with real SDK calls, runs the `trailwarden` command over the
# trail bucket it filled (scan and validate straight from S3), shows what happened, and stops moto.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

source scripts/moto.sh

# Everything below talks to the emulator only: fake credentials, loopback endpoint.
export AWS_ENDPOINT_URL="$TRAILWARDEN_MOTO_ENDPOINT"
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
export LOG_LEVEL="${LOG_LEVEL:-warn}"
cargo build -q -p trailwarden-tests --example demo
# The `trailwarden` command: the demo's last step runs `scan` and `validate` on the trail bucket.
cargo build -q -p trailwarden-cli
export TRAILWARDEN_BIN="$CARGO_TARGET_DIR/debug/trailwarden"
# log-delivery writes CloudWatch metric lines (Embedded Metric Format) to stdout, as in
# Lambda; the demo leaves them out.
"$CARGO_TARGET_DIR/debug/examples/demo" | grep --line-buffered -v '"_aws":{"CloudWatchMetrics"' 
