#!/usr/bin/env bash
# The installed pg_gdpr_sidecar answers --help/--version and uses its
# documented exit codes (0 ok, 64 usage error, 69 command not available).
set -uo pipefail
sidecar=$(pg_config --bindir)/pg_gdpr_sidecar
failures=0
expect() {
  local want=$1; shift
  "$sidecar" "$@" >/dev/null 2>&1
  local got=$?
  if [ "$got" -ne "$want" ]; then
    echo "pg_gdpr_sidecar $*: exit $got, expected $want"
    failures=$((failures + 1))
  fi
}
expect 0 --help
expect 0 --version
expect 64 --no-such-option
expect 64
expect 69 purge
"$sidecar" --version | grep -q "^pg_gdpr_sidecar 0.1.0$" || { echo "--version prints the wrong version"; failures=$((failures + 1)); }
echo "sidecar CLI: $failures failures"
[ "$failures" -eq 0 ]
