#!/usr/bin/env bash
# `sam build` of every function for arm64 with cargo-lambda (zig from the virtualenv), as a
# user would run it, timed. The cargo target directory is shared with the tests (see
# scripts/env.sh), so rebuilds only compile what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$' \
  || rustup target add aarch64-unknown-linux-gnu
build_dir="${TRAILWARDEN_SAM_BUILD_DIR:-$(dirname "$CARGO_TARGET_DIR")/sam-build}"
start=$(date +%s)
sam build --template-file template.yaml --build-dir "$build_dir" --region us-east-1
end=$(date +%s)
# Every function of the built template must point at an arm64 bootstrap. Functions with the
# same build definition share one artifact (SAM builds it once), e.g. UnapprovedUserFunction-Shared.
python3 - "$build_dir" <<'PY'
import os, subprocess, sys, yaml
class Loader(yaml.SafeLoader):
    pass
# CloudFormation short forms (!Ref, !Sub, ...) are irrelevant here: read them as plain data.
Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
build = sys.argv[1]
doc = yaml.load(open(os.path.join(build, "template.yaml")), Loader=Loader)
functions = {k: v for k, v in doc["Resources"].items() if v.get("Type") == "AWS::Serverless::Function"}
artifacts = set()
for name, res in sorted(functions.items()):
    uri = res["Properties"]["CodeUri"]
    boot = os.path.join(build, uri, "bootstrap")
    kind = subprocess.run(["file", "-b", boot], capture_output=True, text=True).stdout
    print(f"{name:<28} {boot}: {', '.join(kind.split(', ')[:2])}")
    if "ARM aarch64" not in kind:
        sys.exit(f"not an arm64 binary: {boot}")
    artifacts.add(uri)
print(f"{len(functions)} functions, {len(artifacts)} artifact(s)")
PY
echo "sam build: $(( end - start )) s"
