#!/usr/bin/env bash
# Regenerates member.yaml's forwarding rules for the real-time catalog (the block between
# "# BEGIN forwarded catalog rules" and "# END forwarded catalog rules") from template.yaml's
# generated catalog rules: one forwarding rule per catalog rule, with the same state and
# pattern, sent to the main stack's catalog bus (<stack>-catalog, as forwarder/template.yaml
# does: the other functions' rules on the default bus never see a second copy). Run by
# scripts/gen-rules.sh; tests/tests/org_templates.rs fails while member.yaml's rules differ
# from the main stack's.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 - <<'PY'
import re

template = open("template.yaml").read()
m = re.search(r"^ *# BEGIN generated catalog rules.*?$(.*?)^ *# END generated catalog rules", template, re.S | re.M)
if not m:
    raise SystemExit("template.yaml: no generated catalog block")
rules = []
name = comment = state = None
for line in m.group(1).splitlines():
    s = line.strip()
    if re.fullmatch(r"Catalog[A-Za-z0-9]+:", s):
        name, comment, state = s[:-1], None, None
    elif s.startswith("# ") and name:
        comment = s[2:]
    elif s.startswith("State: ") and name:
        state = s[len("State: "):]
    elif s.startswith("Pattern: ") and name:
        rules.append((name, comment or "", state or "ENABLED", s[len("Pattern: "):]))
        name = None
if not rules:
    raise SystemExit("template.yaml: the generated catalog block holds no rules")

out = ["  # BEGIN forwarded catalog rules: written by scripts/gen-member-rules.sh from template.yaml; do not edit.\n"]
for name, comment, state, pattern in rules:
    out.append(f"""  Forward{name}:
    Type: AWS::Events::Rule
    Condition: ForwardCatalog
    Properties:
      # {comment}
      Description: trailwarden catalog - the events of the real-time detections routed by {name}
      State: {state}
      EventPattern: {pattern}
      Targets:
        - Id: catalog-bus
          Arn: !Sub "arn:${{AWS::Partition}}:events:us-east-1:${{ToolingAccountId}}:event-bus/${{ToolingStackName}}-catalog"
          RoleArn: !GetAtt ForwardRole.Arn
          RetryPolicy: {{ MaximumRetryAttempts: 8, MaximumEventAgeInSeconds: 3600 }}
          DeadLetterConfig: {{ Arn: !GetAtt ForwardDeadLetters.Arn }}
""")
out.append("  # END forwarded catalog rules\n")

member = open("member.yaml").read()
new, n = re.subn(r"^ *# BEGIN forwarded catalog rules.*?^ *# END forwarded catalog rules\n", lambda _: "".join(out), member, flags=re.S | re.M)
if n != 1:
    raise SystemExit("member.yaml: no forwarded catalog block")
open("member.yaml", "w").write(new)
print(f"member.yaml: {len(rules)} forwarded catalog rules")
PY
