#!/usr/bin/env bash
# Shredding reaches hot standbys, and a long-lived session survives DROP /
# CREATE EXTENSION: a real streaming standby made with pg_basebackup -R, and
# sessions kept open across the change (psql coprocesses).
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/cluster.sh

fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
q() { "$PG_BINDIR/psql" -X -At -v ON_ERROR_STOP=1 "$@"; }

STANDBY_DIR=$(mktemp -d /tmp/pg_gdpr_standby.XXXXXX)
STANDBY_PORT=$((PGPORT + 1))
chmod 755 "$STANDBY_DIR"
[ "$(id -u)" -eq 0 ] && chown postgres: "$STANDBY_DIR"
stop_standby() {
  as_postgres "$PG_BINDIR/pg_ctl" -D "$STANDBY_DIR/data" -m immediate -w stop >/dev/null 2>&1
  rm -rf "$STANDBY_DIR"
}
trap 'stop_standby; cluster_stop' EXIT

q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS standby_test" -c "CREATE DATABASE standby_test" >/dev/null
q -d standby_test -c "CREATE EXTENSION pg_gdpr" \
  -c "CREATE TABLE vault (id text PRIMARY KEY, secret bytea)" \
  -c "INSERT INTO vault VALUES ('sb-1', gdpr_encrypt('user', 'sb-1', 'first secret', 'vault.secret')),
                               ('sb-2', gdpr_encrypt('user', 'sb-2', 'second secret', 'vault.secret'))" >/dev/null

as_postgres "$PG_BINDIR/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$STANDBY_DIR/data" -R -X stream \
  >"$STANDBY_DIR/basebackup.log" 2>&1 || { cat "$STANDBY_DIR/basebackup.log"; exit 1; }
cat >>"$STANDBY_DIR/data/postgresql.auto.conf" <<CONF
port = $STANDBY_PORT
unix_socket_directories = '$STANDBY_DIR'
hot_standby = on
CONF
as_postgres "$PG_BINDIR/pg_ctl" -D "$STANDBY_DIR/data" -l "$STANDBY_DIR/server.log" -w -t 60 start >/dev/null \
  || { cat "$STANDBY_DIR/server.log"; exit 1; }

# Waits until the standby has replayed everything the primary wrote so far.
wait_for_replay() {
  local lsn
  lsn=$(q -d postgres -c "SELECT pg_current_wal_insert_lsn()")
  for _ in $(seq 1 300); do
    if [ "$(q -h "$STANDBY_DIR" -p "$STANDBY_PORT" -d postgres \
              -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn")" = t ]; then
      return 0
    fi
    sleep 0.1
  done
  fail "the standby did not replay up to $lsn"
  return 1
}

# A session kept open (a psql coprocess whose input and output descriptors
# are $1 and $2): send SQL, read what it printed back.
ask_session() {
  local to=$1 from=$2 line reply=()
  printf '%s\n\\echo __end__\n' "$3" >&"$to"
  while IFS= read -r -t 30 line <&"$from"; do
    [ "$line" = __end__ ] && break
    reply+=("$line")
  done
  printf '%s' "${reply[*]:-}"
}
coproc STANDBY_SESSION { "$PG_BINDIR/psql" -X -At -h "$STANDBY_DIR" -p "$STANDBY_PORT" -d standby_test 2>&1; }
ask_standby() { ask_session "${STANDBY_SESSION[1]}" "${STANDBY_SESSION[0]}" "$1"; }

wait_for_replay
got=$(ask_standby "SELECT gdpr_decrypt(secret, 'vault.secret') FROM vault WHERE id = 'sb-1';")
[ "$got" = "first secret" ] || fail "the standby session could not read the secret before the shred: '$got'"

q -d standby_test -c "SELECT gdpr_shred_key('user', 'sb-1')" >/dev/null
wait_for_replay
got=$(ask_standby "SELECT coalesce(gdpr_decrypt(secret, 'vault.secret'), '<erased>') FROM vault WHERE id = 'sb-1';")
[ "$got" = "<erased>" ] || fail "a standby session that had the key cached still decrypts after the shred was replayed: '$got'"
got=$(ask_standby "SELECT gdpr_decrypt(secret, 'vault.secret') FROM vault WHERE id = 'sb-2';")
[ "$got" = "second secret" ] || fail "the shred of one subject cost the standby session another's key: '$got'"
got=$(q -h "$STANDBY_DIR" -p "$STANDBY_PORT" -d standby_test \
        -c "SELECT coalesce(gdpr_decrypt(secret, 'vault.secret'), '<erased>') FROM vault WHERE id = 'sb-1'")
[ "$got" = "<erased>" ] || fail "a new standby session decrypts an erased subject: '$got'"
printf '\\q\n' >&"${STANDBY_SESSION[1]}"
# (bash unsets the variable once the coprocess has exited)
wait "${STANDBY_SESSION_PID:-}" 2>/dev/null || true

# DROP / CREATE EXTENSION under a live session: it must not keep encrypting
# under a key that no row holds any more.
coproc PRIMARY_SESSION { "$PG_BINDIR/psql" -X -At -d standby_test 2>&1; }
ask_primary() { ask_session "${PRIMARY_SESSION[1]}" "${PRIMARY_SESSION[0]}" "$1"; }
ask_primary "SELECT length(gdpr_encrypt('user', 'sb-3', 'cached', 'vault.secret')) > 0;" >/dev/null
q -d standby_test -c "DROP TABLE vault" -c "DROP EXTENSION pg_gdpr" -c "CREATE EXTENSION pg_gdpr" >/dev/null
ask_primary "CREATE TABLE vault2 AS SELECT gdpr_encrypt('user', 'sb-3', 'after re-creation', 'vault.secret') AS secret;" >/dev/null
got=$(q -d standby_test -c "SELECT coalesce(gdpr_decrypt(secret, 'vault.secret'), '<unreadable>') FROM vault2")
[ "$got" = "after re-creation" ] || fail "a session that lived through DROP/CREATE EXTENSION encrypted under a lost key: '$got'"
printf '\\q\n' >&"${PRIMARY_SESSION[1]}"

[ $fails -eq 0 ] && echo "standby: a shred replayed on a hot standby reaches its cached sessions; DROP/CREATE EXTENSION resets live sessions" \
  || { echo "standby: $fails failure(s)"; tail -20 "$STANDBY_DIR/server.log"; exit 1; }
