#!/usr/bin/env bash
# Lints the SAM template and the forwarder template: cfn-lint, then `sam validate --lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
echo "cfn-lint template.yaml forwarder/template.yaml"
cfn-lint template.yaml forwarder/template.yaml
echo "sam validate --lint"
sam validate --lint --template-file template.yaml --region us-east-1
echo "template checks: 2 passed, 0 failed"
