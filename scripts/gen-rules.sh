#!/usr/bin/env bash
# Regenerates the EventBridge rules of the real-time catalog function from the built-in
# detection catalog: in template.yaml (the catalog function's events) and in
# forwarder/template.yaml (the same patterns in other regions, sent to the catalog's event
# bus), each between "# BEGIN generated catalog rules" and "# END generated catalog rules".
# Run it after adding or changing a built-in detection; tests/tests/template.rs fails while
# either template's rules are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/trailwarden/target}"
cargo run -q -p trailwarden-cli -- rules --write-template template.yaml \
  --write-forwarder forwarder/template.yaml
# member.yaml forwards the same events from member accounts (tests/tests/org_templates.rs).
scripts/gen-member-rules.sh
