# Helpers of the sidecar suites: the installed binary, psql, checks that
# count failures, and a cluster of their own when run alone (make check
# runs them on its cluster, PGHOST/PGPORT set).
. test/lib/cluster.sh
if [ -z "${PGHOST:-}" ]; then
  cluster_start
fi
SIDECAR=$(pg_config --bindir)/pg_gdpr_sidecar
failures=0
q() { "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
qv() { "$PG_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# check "what" "expected" "actual"
check() {
  if [ "$2" != "$3" ]; then fail "$1: expected [$2], got [$3]"; else echo "ok: $1"; fi
}
# The server's data directory (the socket directory is the cluster's directory).
server_datadir() { echo "$PGHOST/data"; }
restart_server() {
  as_postgres "$PG_BINDIR/pg_ctl" -D "$(server_datadir)" -l "$PGHOST/server.log" -m fast -w -t 60 restart >/dev/null
}
# suite_workspace DB...: a work directory ($work) and the named databases,
# fresh; both removed on exit, with any sidecar still running in the
# background and the cluster if the suite started it.
suite_workspace() {
  suite_databases=("$@")
  work=$(mktemp -d)
  trap suite_cleanup EXIT
  drop_suite_databases
}
drop_suite_databases() {
  local d
  for d in "${suite_databases[@]}"; do
    q -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1
  done
}
suite_cleanup() {
  jobs -p | xargs -r kill -9 2>/dev/null
  rm -rf "$work"
  drop_suite_databases
  cluster_stop
}
finish_suite() {
  echo "$1: $failures failures"
  [ "$failures" -eq 0 ]
}
