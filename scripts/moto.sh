#!/usr/bin/env bash
# Sourced by the project's scripts: starts moto_server (the local AWS emulator) on a free
# 127.0.0.1 port, waits until it answers, exports TRAILWARDEN_MOTO_ENDPOINT, and stops it when
# the calling script exits. The one place moto is started; the tests' own fallback
# (testkit::Moto, when TRAILWARDEN_MOTO_ENDPOINT is unset) uses the same settings.
#
#   MOTO_LOG   where moto's log goes (default: $TMPDIR/trailwarden-moto-<port>.log)
# Needs moto_server on PATH (scripts/env.sh); when it is not, env.sh is sourced here.
command -v moto_server >/dev/null 2>&1 || source "$(dirname "${BASH_SOURCE[0]}")/env.sh" >&2
_tw_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
MOTO_LOG="${MOTO_LOG:-${TMPDIR:-/tmp}/trailwarden-moto-$_tw_port.log}"
MOTO_IAM_LOAD_MANAGED_POLICIES=true moto_server -H 127.0.0.1 -p "$_tw_port" >"$MOTO_LOG" 2>&1 &
_tw_moto_pid=$!
trap 'kill $_tw_moto_pid 2>/dev/null || true' EXIT
_tw_up=false
for _ in $(seq 1 150); do
  if curl -s -o /dev/null "http://127.0.0.1:$_tw_port/moto-api/"; then _tw_up=true; break; fi
  if ! kill -0 "$_tw_moto_pid" 2>/dev/null; then break; fi
  sleep 0.2
done
if ! $_tw_up; then
  echo "trailwarden: moto_server did not start on 127.0.0.1:$_tw_port (log: $MOTO_LOG)" >&2
  tail -n 20 "$MOTO_LOG" >&2 || true
  return 1 2>/dev/null || exit 1
fi
export TRAILWARDEN_MOTO_ENDPOINT="http://127.0.0.1:$_tw_port"
echo "moto_server on $TRAILWARDEN_MOTO_ENDPOINT (pid $_tw_moto_pid, log: $MOTO_LOG)" >&2

# Executed rather than sourced (`scripts/moto.sh --serve-for PID`, what testkit does when the
# tests run outside scripts/test.sh): print the endpoint on stdout and keep moto up until PID
# exits.
if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = "--serve-for" ]; then
  echo "$TRAILWARDEN_MOTO_ENDPOINT"
  while kill -0 "$2" 2>/dev/null && kill -0 "$_tw_moto_pid" 2>/dev/null; do sleep 1; done
fi
