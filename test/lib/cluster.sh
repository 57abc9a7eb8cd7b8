# Throwaway PostgreSQL clusters for tests, the demo and benchmarks.
# Source this file, then: cluster_start; ...; cluster_stop (cluster_start
# installs an EXIT trap that stops the cluster whatever happens).
#
# The cluster runs as the postgres OS user (PostgreSQL refuses root), in a
# fresh temporary directory that is also its only socket directory, with no
# TCP listener: it cannot collide with or touch any other cluster.

PG_BINDIR=$(pg_config --bindir)
CLUSTER_PORT=${CLUSTER_PORT:-54329}

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

random_key_hex() {
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n'
}

# Writes master key files: v1 (one version), v12 (versions 1 and 2), v2,
# wrong (a different key claiming to be version 1) and readable (mode 0644).
write_master_keys() {
  local dir=$1 k1 k2
  k1=$(random_key_hex)
  k2=$(random_key_hex)
  mkdir -p "$dir"
  printf '# pg_gdpr master keys\n1:%s\n' "$k1" >"$dir/master_v1.keys"
  printf '1:%s\n2:%s\n' "$k1" "$k2" >"$dir/master_v12.keys"
  printf '2:%s\n' "$k2" >"$dir/master_v2.keys"
  printf '1:%s\n' "$(random_key_hex)" >"$dir/master_wrong.keys"
  printf '1:%s\n' "$k1" >"$dir/master_readable.keys"
  chmod 600 "$dir"/*.keys
  chmod 644 "$dir/master_readable.keys"
}

cluster_start() {
  CLUSTER_DIR=$(mktemp -d /tmp/pg_gdpr_cluster.XXXXXX)
  chmod 755 "$CLUSTER_DIR"
  write_master_keys "$CLUSTER_DIR/keys"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres: "$CLUSTER_DIR"; fi
  trap cluster_stop EXIT
  as_postgres "$PG_BINDIR/initdb" -D "$CLUSTER_DIR/data" -U postgres --auth=trust \
    -E UTF8 --locale=C.UTF-8 >"$CLUSTER_DIR/initdb.log" 2>&1 || {
    cat "$CLUSTER_DIR/initdb.log" >&2
    return 1
  }
  cat >>"$CLUSTER_DIR/data/postgresql.conf" <<CONF
listen_addresses = ''
port = $CLUSTER_PORT
unix_socket_directories = '$CLUSTER_DIR'
shared_preload_libraries = 'pg_gdpr'
pg_gdpr.master_key_file = '$CLUSTER_DIR/keys/master_v1.keys'
fsync = off
synchronous_commit = off
full_page_writes = off
max_prepared_transactions = 5
log_line_prefix = '%m [%p] %q%a '
${CLUSTER_EXTRA_CONF:-}
CONF
  as_postgres "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -l "$CLUSTER_DIR/server.log" \
    -w -t 60 start >/dev/null || {
    cat "$CLUSTER_DIR/server.log" >&2
    return 1
  }
  export PGHOST=$CLUSTER_DIR PGPORT=$CLUSTER_PORT PGUSER=postgres PGDATABASE=postgres
  export PG_GDPR_TEST_KEYDIR=$CLUSTER_DIR/keys
}

cluster_stop() {
  local status=$?
  if [ -n "${CLUSTER_DIR:-}" ] && [ -d "$CLUSTER_DIR/data" ]; then
    as_postgres "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" -m fast -w -t 60 stop \
      >/dev/null 2>&1 || as_postgres "$PG_BINDIR/pg_ctl" -D "$CLUSTER_DIR/data" \
      -m immediate stop >/dev/null 2>&1 || true
    if [ "${KEEP_CLUSTER:-0}" != 1 ]; then rm -rf "$CLUSTER_DIR"; fi
  fi
  CLUSTER_DIR=
  trap - EXIT
  return $status
}

psql_q() {
  "$PG_BINDIR/psql" -X -v ON_ERROR_STOP=1 -q "$@"
}
