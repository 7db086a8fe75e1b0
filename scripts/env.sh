#!/usr/bin/env bash
# Sourced by the project's scripts: puts the Python tools (moto_server, cfn-lint, sam,
# cargo-lambda) from a project virtualenv on PATH, creating it on first use, and points
# cargo at a target directory outside the clone so repeated runs reuse compiled crates.
#
#   TRAILWARDEN_VENV   virtualenv to use/create   (default: ~/.cache/trailwarden/venv-<hash>)
#   CARGO_TARGET_DIR   cargo build directory      (default: ~/.cache/trailwarden/target)
# Sourced, so it leaves the caller's shell options alone and reports failures itself.
_tw_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_tw_cache="${XDG_CACHE_HOME:-$HOME/.cache}/trailwarden"
mkdir -p "$_tw_cache"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$_tw_cache/target}"

_tw_req="$_tw_root/scripts/requirements.txt"
_tw_hash="$(sha256sum "$_tw_req" | cut -c1-12)"
export TRAILWARDEN_VENV="${TRAILWARDEN_VENV:-$_tw_cache/venv-$_tw_hash}"
if [ ! -x "$TRAILWARDEN_VENV/bin/moto_server" ] || [ ! -f "$TRAILWARDEN_VENV/.complete" ]; then
  echo "trailwarden: creating Python tool virtualenv at $TRAILWARDEN_VENV" >&2
  if python3 -m venv "$TRAILWARDEN_VENV" \
    && "$TRAILWARDEN_VENV/bin/python" -m pip install --quiet --upgrade pip >&2 \
    && "$TRAILWARDEN_VENV/bin/python" -m pip install --quiet -r "$_tw_req" >&2; then
    touch "$TRAILWARDEN_VENV/.complete"
  else
    echo "trailwarden: could not install the Python tools into $TRAILWARDEN_VENV (needs python3 with venv and pip, and access to the package index)" >&2
    return 1 2>/dev/null || exit 1
  fi
fi
export PATH="$TRAILWARDEN_VENV/bin:$PATH"
# SAM CLI: no telemetry, no update checks (these machines have no general network).
export SAM_CLI_TELEMETRY=0
export SAM_CLI_CHECK_VERSION=0
