#!/usr/bin/env bash
# pg_gdpr_sidecar against hand-written SQL in the same run: a purge of
# 5,000,000 rows of which 25 % are due (rows/s against one DELETE of the
# same rows, longest batch, pgbench TPS while it runs against without); a
# monthly-partitioned table (against dropping the expired partitions and
# deleting the boundary rows by hand); an encrypted backup against plain
# pg_dump -Fc to the same disk. Expects a running cluster (test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${SIDECAR_BENCH_ROWS:-5000000}
SIDECAR=$(pg_config --bindir)/pg_gdpr_sidecar
q() { "$(pg_config --bindir)/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }
qv() { "$(pg_config --bindir)/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
now_ms() { date +%s%3N; }
db=sidecar_bench
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
q -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
q -d $db -c "CREATE EXTENSION pg_gdpr" >/dev/null

make_copy() {  # name: $ROWS rows, 25 % older than 90 days
  q -d $db >/dev/null <<SQL
DROP TABLE IF EXISTS $1;
CREATE TABLE $1 (id bigint PRIMARY KEY, ip inet, path text, at timestamptz NOT NULL);
INSERT INTO $1 SELECT g, '192.0.2.1', '/page/' || (g % 100), now() - (g % 120) * interval '1 day' - interval '12 hours'
  FROM generate_series(1, $ROWS) g;
VACUUM ANALYZE $1;
SQL
}
echo "sidecar purge: $ROWS rows, 25 % due"
make_copy by_delete
make_copy by_sidecar
due=$(qv -d $db -c "SELECT count(*) FROM by_delete WHERE at < now() - interval '90 days'")
q -d $db -c "CHECKPOINT" >/dev/null
t0=$(now_ms); q -d $db -c "DELETE FROM by_delete WHERE at < now() - interval '90 days'"; delete_ms=$(( $(now_ms) - t0 ))
q -d $db -c "SELECT gdpr_set_retention('by_sidecar', '90 days', 'at', 'delete')" -c "CHECKPOINT" >/dev/null
t0=$(now_ms); "$SIDECAR" purge -d "dbname=$db" --progress never 2>"$work/purge.log"; sidecar_ms=$(( $(now_ms) - t0 ))
longest=$(qv -d $db -c "SELECT details->>'longest_batch_ms' FROM gdpr.job_run WHERE job = 'purge'")
left=$(qv -d $db -c "SELECT count(*) FROM by_sidecar WHERE at < now() - interval '90 days'")
[ "$left" = 0 ] || { echo "the sidecar left $left due rows" >&2; exit 1; }

echo "pgbench TPC-B (scale 10, 2 clients) with and without a purge running"
"$(pg_config --bindir)/pgbench" -q -i -s 10 $db >/dev/null 2>&1
make_copy under_load
q -d $db -c "SELECT gdpr_drop_retention('by_sidecar', 'delete')" -c "SELECT gdpr_set_retention('under_load', '90 days', 'at', 'delete')" \
  -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
seconds=$(( (sidecar_ms + 999) / 1000 )); [ "$seconds" -ge 5 ] || seconds=5
tps_alone=$("$(pg_config --bindir)/pgbench" -n -c 2 -T "$seconds" $db 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
"$SIDECAR" purge -d "dbname=$db" --progress never 2>/dev/null &
purge_pid=$!
tps_purge=$("$(pg_config --bindir)/pgbench" -n -c 2 -T "$seconds" $db 2>/dev/null | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
wait $purge_pid
longest_under_load=$(qv -d $db -c "SELECT details->>'longest_batch_ms' FROM gdpr.job_run WHERE job = 'purge'")

echo "monthly partitions: 12 months, rows every 5 minutes, 90 days kept"
make_partitioned() {
  q -d $db >/dev/null <<SQL
DROP TABLE IF EXISTS $1;
CREATE TABLE $1 (id bigint, ip inet, at timestamptz NOT NULL) PARTITION BY RANGE (at);
DO \$\$ DECLARE m timestamptz; BEGIN
  FOR m IN SELECT generate_series(date_trunc('month', now()) - interval '11 months', date_trunc('month', now()), interval '1 month') LOOP
    EXECUTE format('CREATE TABLE %s_%s PARTITION OF $1 FOR VALUES FROM (%L) TO (%L)', '$1', to_char(m, 'YYYYMM'), m, m + interval '1 month');
  END LOOP; END \$\$;
INSERT INTO $1 SELECT g, '192.0.2.1', t FROM generate_series(date_trunc('month', now()) - interval '11 months', now(), interval '30 seconds') WITH ORDINALITY AS s(t, g);
ANALYZE $1;
SQL
}
make_partitioned parts_by_hand
make_partitioned parts_by_sidecar
part_rows=$(qv -d $db -c "SELECT count(*) FROM parts_by_hand")
q -d $db -c "CHECKPOINT" >/dev/null
t0=$(now_ms)
q -d $db >/dev/null <<'SQL'
DO $$ DECLARE p record; BEGIN
  FOR p IN SELECT c.oid::regclass AS part FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'parts_by_hand'::regclass
              AND (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''(.*)''\)'))[1]::timestamptz <= now() - interval '90 days' LOOP
    EXECUTE format('DROP TABLE %s', p.part);
  END LOOP; END $$;
DELETE FROM parts_by_hand WHERE at < now() - interval '90 days';
SQL
hand_ms=$(( $(now_ms) - t0 ))
q -d $db -c "SELECT gdpr_drop_retention('under_load', 'delete')" -c "SELECT gdpr_set_retention('parts_by_sidecar', '90 days', 'at', 'delete')" >/dev/null
t0=$(now_ms); "$SIDECAR" purge -d "dbname=$db" --progress never 2>/dev/null; parts_ms=$(( $(now_ms) - t0 ))
[ "$(qv -d $db -c "SELECT count(*) FROM parts_by_sidecar WHERE at < now() - interval '90 days'")" = 0 ] \
  || { echo "partitioned: the sidecar left due rows" >&2; exit 1; }

echo "backup: encrypted (sidecar) against plain pg_dump -Fc, same disk, interleaved"
(umask 077; od -An -tx1 -N32 /dev/urandom | tr -d " \n" >"$work/key")
dump_samples=() backup_samples=()
for run in 1 2 3; do
  t0=$(now_ms); "$(pg_config --bindir)/pg_dump" -Fc -d $db -f "$work/plain.dump"; dump_samples+=($(( $(now_ms) - t0 )))
  rm -rf "$work/target"
  t0=$(now_ms); "$SIDECAR" backup -d "dbname=$db" --backup-target "$work/target" --backup-key-file "$work/key" --progress never >/dev/null 2>&1
  backup_samples+=($(( $(now_ms) - t0 )))
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
dump_ms=$(median "${dump_samples[@]}"); backup_ms=$(median "${backup_samples[@]}")
dump_size=$(stat -c %s "$work/plain.dump"); backup_size=$(stat -c %s "$work"/target/*.dump.gcm)

awk -v rows="$due" -v del="$delete_ms" -v side="$sidecar_ms" -v longest="$longest" -v longest_load="$longest_under_load" \
    -v tps0="$tps_alone" -v tps1="$tps_purge" -v hand="$hand_ms" -v parts="$parts_ms" -v prow="$part_rows" \
    -v dump="$dump_ms" -v backup="$backup_ms" -v dsize="$dump_size" -v bsize="$backup_size" 'BEGIN {
  printf "\n%-58s %10s\n", "measure", "value"
  printf "%-58s %10.0f\n", "one DELETE of the due rows, rows/s", rows / del * 1000
  printf "%-58s %10.0f\n", "pg_gdpr_sidecar purge, rows/s", rows / side * 1000
  printf "%-58s %10d\n", "longest batch (ms), alone / under pgbench", longest
  printf "%-58s %10d\n", "", longest_load
  printf "%-58s %10.0f\n", "pgbench tps without / with a purge running", tps0
  printf "%-58s %10.0f\n", "", tps1
  printf "%-58s %10d\n", "partitioned (" prow " rows): by hand (DROP + DELETE) ms", hand
  printf "%-58s %10d\n", "partitioned: sidecar ms", parts
  printf "%-58s %10d\n", "pg_dump -Fc ms (median of 3)", dump
  printf "%-58s %10d\n", "sidecar backup ms (median of 3)", backup
  printf "%-58s %10d\n", "dump bytes / encrypted backup bytes", dsize
  printf "%-58s %10d\n", "", bsize
  verdict = "PASS"
  printf "\n%-52s %8s %8s\n", "ratio", "value", "target"
  r = del / side; ok = r >= 0.7; if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "sidecar rows/s vs one DELETE", r, ">= 0.7x", ok ? "ok" : "MISS"
  ok = longest <= 100; if (!ok) verdict = "MISS"; printf "%-52s %6dms %8s %s\n", "longest batch", longest, "<= 100ms", ok ? "ok" : "MISS"
  r = 1 - tps1 / tps0; ok = r <= 0.10; if (!ok) verdict = "MISS"; printf "%-52s %7.0f%% %8s %s\n", "pgbench TPS drop while purging", r * 100, "<= 10%", ok ? "ok" : "MISS"
  r = parts / hand; ok = r <= 1.5; if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "partitioned purge vs by hand", r, "<= 1.5x", ok ? "ok" : "MISS"
  r = backup / dump; ok = r <= 1.1; if (!ok) verdict = "MISS"; printf "%-52s %7.2fx %8s %s\n", "encrypted backup vs pg_dump -Fc", r, "<= 1.1x", ok ? "ok" : "MISS"
  printf "\nsidecar benchmark: %s\n", verdict
}'
q -d postgres -c "DROP DATABASE $db WITH (FORCE)" >/dev/null
