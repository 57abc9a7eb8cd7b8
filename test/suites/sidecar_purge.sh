#!/usr/bin/env bash
# pg_gdpr_sidecar purge with the real binary on a real cluster: exactly the
# due rows of a 1,000,000-row table deleted and of another anonymized; kill
# -9 mid-purge, SIGTERM, a server restart mid-purge and two sidecars at
# once, each followed by the same final state and no row done twice; the
# erase rule, verified erasure requests and ended legal holds.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib/sidecar_suite.sh
db=sidecar_purge
suite_workspace $db
q -d postgres -c "CREATE DATABASE $db" >/dev/null
q -d $db -c "CREATE EXTENSION pg_gdpr" >/dev/null
purge() { "$SIDECAR" purge -d "dbname=$db" "$@"; }
# in the background, without a subshell between (so that $! is the sidecar)
purge_bg() { "$SIDECAR" purge -d "dbname=$db" "$@" & }

# ---- 1,000,000 rows, 24 % due (half a day away from the boundary) -------------
q -d $db >/dev/null <<'SQL'
CREATE TABLE logins (login_id bigint PRIMARY KEY, ip inet, at timestamptz NOT NULL);
INSERT INTO logins SELECT g, '192.0.2.1', now() - (g % 120) * interval '1 day' - interval '12 hours'
  FROM generate_series(1, 1000000) g;
CREATE TABLE usage_events (event_id bigint PRIMARY KEY, user_ref bigint, ip inet, feature text NOT NULL,
                           occurred_at timestamptz NOT NULL);
INSERT INTO usage_events SELECT g, g % 1000, '198.51.100.7', 'report', now() - (g % 1000) * interval '1 day' - interval '12 hours'
  FROM generate_series(1, 200000) g;
ANALYZE logins, usage_events;
SELECT gdpr_tag('logins', 'ip', 'technical');
SELECT gdpr_tag('usage_events', 'ip', 'technical');
SELECT gdpr_tag('usage_events', 'user_ref', 'personal');
SELECT gdpr_tag('usage_events', 'feature', 'usage');
SELECT gdpr_set_retention('logins', '90 days', 'at', 'delete');
SELECT gdpr_set_retention('usage_events', '24 months', 'occurred_at', 'anonymize');
SQL
expected_logins=$(qv -d $db -c "SELECT count(*) || ' ' || sum(login_id) FROM logins WHERE at >= now() - interval '90 days'")
due_logins=$(qv -d $db -c "SELECT count(*) FROM logins WHERE at < now() - interval '90 days'")
due_events=$(qv -d $db -c "SELECT count(*) FROM usage_events WHERE occurred_at < now() - interval '24 months'")
t0=$(date +%s%3N)
purge --log-format json 2>"$work/purge.log"
check "purge of 1,000,000 rows exits 0" 0 $?
echo "   (took $(( $(date +%s%3N) - t0 )) ms for $due_logins deleted and $due_events anonymized rows)"
check "exactly the rows that were not due are left" "$expected_logins" \
  "$(qv -d $db -c "SELECT count(*) || ' ' || sum(login_id) FROM logins")"
check "no due row left" 0 "$(qv -d $db -c "SELECT count(*) FROM logins WHERE at < now() - interval '90 days'")"
check "every row kept, exactly the due ones anonymized, usage kept" "200000 $due_events 0 200000" \
  "$(qv -d $db -c "SELECT count(*), count(*) FILTER (WHERE ip IS NULL AND user_ref IS NULL),
                          count(*) FILTER (WHERE (ip IS NULL) <> (occurred_at < now() - interval '24 months')),
                          count(*) FILTER (WHERE feature = 'report') FROM usage_events" | tr '|' ' ')"
check "the audit log counts each deleted row once" "$due_logins" \
  "$(qv -d $db -c "SELECT sum((details->>'rows')::bigint) FROM gdpr.audit_log WHERE action = 'retention_purge' AND details->>'table' = 'public.logins'")"
python3 - "$work/purge.log" <<'PY' || fail "the JSON log lines are not what the README documents"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert lines, "no log lines"
for r in lines:
    assert {"time", "level", "message"} <= r.keys(), r
done = [r for r in lines if r.get("table") == "public.logins" and "done" in r["message"]]
assert done and done[0]["rows"] > 0 and "duration_ms" in done[0], lines
PY
check "the run is recorded" "t" "$(qv -d $db -c "SELECT succeeded FROM gdpr.job_run WHERE job = 'purge'")"
purge --progress always 2>"$work/progress.log"
grep -q "rows/s" "$work/progress.log" || fail "no progress line with --progress always"

# ---- stopping mid-purge: kill -9, SIGTERM, a server restart, a second sidecar ----
# A fresh table per case; tiny batches (--batch-target 1) make the purge
# last long enough to be interrupted.
make_table() {
  q -d $db <<SQL
DROP TABLE IF EXISTS $1;
CREATE TABLE $1 (id bigint PRIMARY KEY, ip inet, at timestamptz NOT NULL);
INSERT INTO $1 SELECT g, '192.0.2.1', now() - (g % 120) * interval '1 day' - interval '12 hours' FROM generate_series(1, 150000) g;
ANALYZE $1;
SELECT gdpr_tag('$1', 'ip', 'technical');
SELECT gdpr_drop_retention(rel, action) FROM gdpr.retention_rule;
SELECT gdpr_set_retention('$1', '90 days', 'at', 'delete');
SQL
}
fingerprint() { qv -d $db -c "SELECT count(*) || ' ' || sum(id) FROM $1 WHERE at >= now() - interval '90 days'"; }
state() { qv -d $db -c "SELECT count(*) || ' ' || sum(id) FROM $1"; }
due_of() { qv -d $db -c "SELECT count(*) FROM $1 WHERE at < now() - interval '90 days'"; }
audited() { qv -d $db -c "SELECT coalesce(sum((details->>'rows')::bigint), 0) FROM gdpr.audit_log WHERE action = 'retention_purge' AND details->>'table' = 'public.$1'"; }
slow=(--batch-rows 200 --batch-target 1)
wait_for_progress() {  # until some rows of $1 are gone
  for _ in $(seq 1 100); do
    [ "$(audited "$1")" -gt 0 ] && return 0
    sleep 0.1
  done
  return 1
}

# kill -9
make_table killed >/dev/null
expected=$(fingerprint killed); initial_due=$(due_of killed)
purge_bg "${slow[@]}" 2>/dev/null
pid=$!
wait_for_progress killed || fail "the purge made no progress before kill -9"
kill -9 $pid; wait $pid 2>/dev/null
# its server session notices the client is gone at the end of the batch
# it was running (client_connection_check_interval), and ends
for _ in $(seq 1 100); do
  [ "$(qv -d $db -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_gdpr_sidecar'")" = 0 ] && break
  sleep 0.1
done
left=$(due_of killed)
if [ "$left" -gt 0 ] && [ "$left" -lt "$initial_due" ]; then echo "ok: killed mid-purge ($left of $initial_due due rows left)";
else fail "kill -9 did not land mid-purge ($left of $initial_due left)"; fi
check "after kill -9 the audit log matches the rows deleted so far" "$((initial_due - left))" "$(audited killed)"
purge 2>/dev/null
check "rerun after kill -9 exits 0" 0 $?
check "after kill -9 and a rerun: the same final state as an uninterrupted run" "$expected" "$(state killed)"
check "after kill -9 and a rerun: each row deleted once" "$initial_due" "$(audited killed)"

# SIGTERM finishes the batch and exits 1, saying so
make_table termed >/dev/null
expected=$(fingerprint termed); initial_due=$(due_of termed)
purge_bg "${slow[@]}" 2>"$work/term.log"
pid=$!
wait_for_progress termed || fail "the purge made no progress before SIGTERM"
kill -TERM $pid; wait $pid
check "SIGTERM: exit 1 (not everything done)" 1 $?
grep -q "stopped" "$work/term.log" || fail "SIGTERM: no 'stopped' message: $(cat "$work/term.log")"
check "SIGTERM: the audit log matches the rows deleted" "$((initial_due - $(due_of termed)))" "$(audited termed)"
purge 2>/dev/null
check "after SIGTERM and a rerun: the same final state" "$expected" "$(state termed)"
check "after SIGTERM and a rerun: each row deleted once" "$initial_due" "$(audited termed)"

# two sidecars at once: the second exits 4 with one line
make_table twice >/dev/null
purge_bg "${slow[@]}" 2>/dev/null
pid=$!
wait_for_progress twice || fail "the first purge made no progress"
purge 2>"$work/second.log"
check "a second sidecar while the first purges exits 4" 4 $?
check "with one line on stderr" 1 "$(wc -l <"$work/second.log")"
grep -q "another pg_gdpr_sidecar" "$work/second.log" || fail "the second sidecar does not say why: $(cat "$work/second.log")"
wait $pid
check "the first one finishes" 0 $?

# the server restarts mid-purge: the sidecar reconnects and finishes
make_table restarted >/dev/null
expected=$(fingerprint restarted); initial_due=$(due_of restarted)
purge_bg "${slow[@]}" --reconnect-timeout 60s 2>"$work/restart.log"
pid=$!
wait_for_progress restarted || fail "the purge made no progress before the restart"
restart_server
wait $pid
check "a purge through a server restart exits 0" 0 $?
grep -q "reconnected" "$work/restart.log" || fail "no reconnection logged: $(cat "$work/restart.log")"
check "through a restart: the same final state" "$expected" "$(state restarted)"
check "through a restart: each row deleted once" "$initial_due" "$(audited restarted)"

# ---- whole subjects, requests and holds ----------------------------------------
q -d $db >/dev/null <<'SQL'
SELECT gdpr_drop_retention(rel, action) FROM gdpr.retention_rule;
CREATE TABLE members (member_id bigint PRIMARY KEY, email bytea, name text);
CREATE TABLE subscriptions (subscription_id bigint PRIMARY KEY, member_id bigint NOT NULL REFERENCES members, ended_at date);
CREATE INDEX ON subscriptions (member_id);
CREATE TABLE invoices (invoice_id bigint PRIMARY KEY, member_id bigint NOT NULL REFERENCES members,
                       billing_name text, issued_on date NOT NULL);
CREATE INDEX ON invoices (member_id);
SELECT gdpr_register_subject('member', 'members', 'member_id');
SELECT gdpr_tag('members', 'email', 'personal', 'members.email');
SELECT gdpr_tag('members', 'name', 'personal');
SELECT gdpr_tag('invoices', 'billing_name', 'personal');
SELECT gdpr_hold('invoices', '365 days', 'issued_on', 'tax law');
INSERT INTO members SELECT g, gdpr_encrypt('member', g::text, 'm' || g || '@example.com', 'members.email'), 'Member ' || g
  FROM generate_series(1, 6) g;
INSERT INTO subscriptions VALUES (1, 1, current_date - 40), (2, 2, current_date - 10), (3, 3, NULL), (4, 4, current_date - 31);
INSERT INTO invoices VALUES (1, 4, 'Member 4', current_date - 364);
SELECT gdpr_set_retention('members', '30 days', 'ended_at', 'erase', 'subscriptions');
SELECT gdpr_request('member', '5', 'erasure', 'web form') AS r \gset
SELECT gdpr_verify_request(:r);
SELECT gdpr_request('member', '6', 'erasure', 'web form');  -- not verified: left alone
SQL
purge 2>"$work/erase.log"
check "purge with erase rule and requests exits 0" 0 $?
check "members left: active, open-ended, held (anonymized), unverified request" "2:Member 2 3:Member 3 4: 6:Member 6" \
  "$(qv -d $db -c "SELECT string_agg(member_id || ':' || coalesce(name, ''), ' ' ORDER BY member_id) FROM members")"
check "tombstones of members 1, 4 and 5" 3 "$(qv -d $db -c "SELECT count(*) FROM gdpr.tombstone WHERE kind = 'member'")"
check "the verified request completed, the other not" "completed received" \
  "$(qv -d $db -c "SELECT string_agg(status, ' ' ORDER BY request_id) FROM gdpr.request")"
check "member 4's invoice held" 1 "$(qv -d $db -c "SELECT count(*) FROM invoices")"
q -d $db -c "UPDATE gdpr.hold_release SET release_at = now() - interval '1 minute'" >/dev/null
purge 2>/dev/null
check "an ended hold is released by purge" 0 "$(qv -d $db -c "SELECT count(*) FROM invoices")"
check "and its release audited" 1 "$(qv -d $db -c "SELECT count(*) FROM gdpr.audit_log WHERE action = 'release_holds'")"

finish_suite "sidecar purge"
