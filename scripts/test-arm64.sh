#!/usr/bin/env bash
# Runs the shared crate's unit tests (record splitter, detection engine, patterns, ...) built
# for arm64, the architecture the Lambda functions run on, under qemu's user-mode emulation:
# the log-file scanner uses 16-byte vector compares, NEON there and SSE2 here, and this is
# where the NEON side is tested. Not part of scripts/test.sh or CI (it takes a few minutes).
#
#   scripts/test-arm64.sh              the shared crate's unit tests
#   scripts/test-arm64.sh logfile      only the tests whose names contain "logfile"
#
# Installs what it needs when missing (as root, with apt-get): qemu-user, an aarch64 linker
# and C library (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross), and the Rust target.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null \
  || [ ! -d /usr/aarch64-linux-gnu/lib ]; then
  echo "installing qemu-user and the aarch64 cross toolchain..." >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross >/dev/null
fi
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
# The SDK-free build: the unit tests that need no AWS SDK (the scanner and the engine).
cargo test --target aarch64-unknown-linux-gnu -p trailwarden-shared --no-default-features \
  --lib -- "$@"
