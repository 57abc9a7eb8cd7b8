#!/usr/bin/env bash
# The installed pg_gdpr_sidecar's command line: help for every command, the
# documented exit codes (0 done, 1 a job failed, 2 usage or configuration,
# 3 cannot connect, 4 locked), one clear line on stderr for each error,
# precedence command line > environment > config file, secrets refused on
# the command line, bad keys refused before anything is done.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/sidecar_suite.sh
suite_workspace sidecar_cli_empty
unreachable="host=$work/no-server port=1 connect_timeout=2"

# expect CODE ARGS...: exit code, and for errors exactly one line on stderr
expect() {
  local want=$1; shift
  "$SIDECAR" "$@" >"$work/out" 2>"$work/err"
  local got=$? lines
  lines=$(wc -l <"$work/err")
  if [ "$got" -ne "$want" ]; then
    fail "pg_gdpr_sidecar $*: exit $got, expected $want ($(head -c 300 "$work/err"))"
  elif [ "$want" -ne 0 ] && [ "$lines" -ne 1 ]; then
    fail "pg_gdpr_sidecar $*: $lines lines on stderr, expected one: $(cat "$work/err")"
  else
    echo "ok: exit $want for: $*"
  fi
}
expect_stderr() {  # PATTERN: the last command's stderr matches
  grep -qE "$1" "$work/err" || fail "stderr does not match /$1/: $(cat "$work/err")"
}

expect 0 --help
grep -q "expire-backups" "$work/out" || fail "--help does not list the commands"
for command in purge backup verify-backups expire-backups restore status run; do
  expect 0 "$command" --help
  grep -q "Usage: pg_gdpr_sidecar $command" "$work/out" || fail "$command --help has no usage line"
done
grep -q -- "--schedule.purge" "$work/out" || fail "run --help does not show the schedule"
expect 0 --version
grep -q "^pg_gdpr_sidecar 0.2.0$" "$work/out" || fail "--version prints the wrong version"

# usage errors: 2
expect 2
expect 2 --no-such-option purge
expect_stderr "unrecognised option|unrecognized option"
expect 2 frobnicate
expect 2 purge extra-argument
expect 2 purge --log-format yaml
expect 2 purge --batch-rows 0
expect 2 purge --config "$work/missing.conf"
expect_stderr "cannot read config file"
printf 'no-such-key = 1\n' >"$work/bad.conf"
expect 2 purge --config "$work/bad.conf"
expect_stderr "in config file"
expect 2 restore --backup-target "$work" --backup-key-file "$work/k"
PG_GDPR_SIDECAR_NO_SUCH=1 expect 2 purge
expect_stderr "PG_GDPR_SIDECAR_NO_SUCH"

# secrets are refused on the command line
expect 2 backup --backup-key 00112233 --backup-target "$work"
expect_stderr "refused on the command line"
expect 2 purge --dbname "host=localhost password=hunter2"
expect_stderr "password"
expect 2 purge --dbname "postgresql://app:hunter2@db.example/crm"
printf 'backup-key = 0011\n' >"$work/secret.conf"
expect 2 backup --config "$work/secret.conf" --backup-target "$work"

# the backup key: missing, readable by others, malformed, failing command
expect 2 backup --backup-target "$work/b" --backup-key-file "$work/no-key" -d "$unreachable"
expect_stderr "cannot read backup key file"
random_key_hex >"$work/open.key"
chmod 644 "$work/open.key"
expect 2 backup --backup-target "$work/b" --backup-key-file "$work/open.key" -d "$unreachable"
expect_stderr "readable by others"
printf 'not hex\n' >"$work/bad.key"
chmod 600 "$work/bad.key"
expect 2 backup --backup-target "$work/b" --backup-key-file "$work/bad.key" -d "$unreachable"
expect_stderr "64 hexadecimal digits"
expect 2 backup --backup-target "$work/b" --backup-key-command "exit 3" -d "$unreachable"
expect 2 backup --backup-target "$work/b" -d "$unreachable"
expect_stderr "needs the backup key"

# cannot connect: 3, one line
expect 3 purge -d "$unreachable"
expect_stderr "cannot connect"
expect 3 status -d "$unreachable"

# precedence: command line > environment > config file (seen in the error's format)
printf 'log-format = json\nlock-timeout = 1000\n' >"$work/json.conf"
expect 3 purge --config "$work/json.conf" -d "$unreachable"
head -c1 "$work/err" | grep -q '{' || fail "the config file's log-format json was not used: $(cat "$work/err")"
PG_GDPR_SIDECAR_LOG_FORMAT=text expect 3 purge --config "$work/json.conf" -d "$unreachable"
grep -q '^pg_gdpr_sidecar: error' "$work/err" || fail "the environment did not override the config file"
PG_GDPR_SIDECAR_LOG_FORMAT=text expect 3 purge --config "$work/json.conf" -d "$unreachable" --log-format json
python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).read()); assert r["level"]=="error" and "cannot connect" in r["message"] and "time" in r' "$work/err" \
  || fail "the command line did not override the environment, or the JSON line is wrong: $(cat "$work/err")"
PG_GDPR_SIDECAR_DBNAME="$unreachable" expect 3 purge
PG_GDPR_SIDECAR_CONFIG="$work/json.conf" expect 3 purge -d "$unreachable"
head -c1 "$work/err" | grep -q '{' || fail "PG_GDPR_SIDECAR_CONFIG was not read"

# the example configuration in the repository is valid (it fails only at connecting)
expect 3 status --config sidecar/deploy/sidecar.conf.example -d "$unreachable"
grep -q "ExecStart=.*pg_gdpr_sidecar run --config" sidecar/deploy/pg_gdpr_sidecar.service || fail "the systemd unit does not run the daemon"

# no extension in the database: the job fails (1) with one line
q -d postgres -c "CREATE DATABASE sidecar_cli_empty" >/dev/null
expect 1 purge -d "dbname=sidecar_cli_empty"
expect_stderr "pg_gdpr is not installed"
finish_suite "sidecar CLI"
