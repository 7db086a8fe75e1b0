#!/usr/bin/env bash
# Lints every template: the SAM template, the forwarder, and the organization templates
# (member.yaml for StackSets, log-archive.yaml): cfn-lint, then `sam validate --lint`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
templates=(template.yaml forwarder/template.yaml member.yaml log-archive.yaml)
echo "cfn-lint ${templates[*]}"
cfn-lint "${templates[@]}"
echo "sam validate --lint"
for t in "${templates[@]}"; do
  sam validate --lint --template-file "$t" --region us-east-1
done
echo "template checks: $((1 + ${#templates[@]})) passed, 0 failed"
