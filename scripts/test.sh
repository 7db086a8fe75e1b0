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
source scripts/moto.sh

cargo test --workspace --no-fail-fast

if [ -x scripts/check-template.sh ]; then
  scripts/check-template.sh
fi
