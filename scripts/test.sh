#!/usr/bin/env bash
# Runs every test on a fresh machine: creates the Python tool virtualenv (moto, cfn-lint, SAM
# CLI, cargo-lambda) when missing, starts moto_server on 127.0.0.1 for the integration tests,
# runs the Rust tests and the template checks, and stops what it started.
#
#   scripts/test.sh             everything (unit, moto integration, template lint)
#   scripts/test.sh --quick     Rust unit tests only (no moto, no template tools)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

quick=false
[ "${1:-}" = "--quick" ] && quick=true

if $quick; then
  cargo test --workspace --lib --bins
  exit 0
fi

# One moto for the whole run; every test resets it before use.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/trailwarden-moto-$port.log" 2>&1 &
moto_pid=$!
trap 'kill $moto_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
  sleep 0.2
done
export TRAILWARDEN_MOTO_ENDPOINT="http://127.0.0.1:$port"
echo "moto_server on $TRAILWARDEN_MOTO_ENDPOINT (pid $moto_pid)"

cargo test --workspace --no-fail-fast

if [ -x scripts/check-template.sh ]; then
  scripts/check-template.sh
fi
