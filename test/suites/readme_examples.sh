#!/usr/bin/env bash
# Runs every ```sql block of README.md, in order, in a fresh database, and
# checks each ```text block that directly follows one against the tail of
# what psql printed. A documentation example that breaks fails make check.
# Expects a running cluster (PGHOST/PGPORT from test/lib/cluster.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
PG_BINDIR=$(pg_config --bindir)
work=$(mktemp -d)
trap 'rm -rf "$work"; "$PG_BINDIR/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS readme_examples" -c "DROP ROLE IF EXISTS crm_app" -c "DROP ROLE IF EXISTS crm_dpo" >/dev/null 2>&1 || true' EXIT

"$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE readme_examples"

# Split README.md into numbered block files: NNN.sql / NNN.text / NNN.other
awk -v dir="$work" '
  /^```/ {
    if (inblock) { inblock = 0; close(file); next }
    lang = substr($0, 4); n++
    kind = (lang == "sql" || lang == "text") ? lang : "other"
    file = sprintf("%s/%03d.%s", dir, n, kind); inblock = 1; printf "" > file; next
  }
  inblock { print >> file }
' README.md

normalize() { sed -e 's/[[:space:]]*$//' -e '/^$/d' -e '/^([0-9]* rows\{0,1\})$/d' "$1"; }

failures=0
checked=0
for block in "$work"/*.sql; do
  n=$(basename "$block" .sql)
  out="$work/$n.out"
  if ! "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d readme_examples -f "$block" >"$out" 2>&1; then
    echo "README example $n failed:"; sed 's/^/  | /' "$block"; sed 's/^/  > /' "$out"
    failures=$((failures + 1))
    continue
  fi
  next_text=$(printf '%s/%03d.text' "$work" $((10#$n + 1)))
  if [ -f "$next_text" ]; then
    checked=$((checked + 1))
    expected_lines=$(normalize "$next_text" | wc -l)
    if ! diff <(normalize "$next_text") <(normalize "$out" | tail -n "$expected_lines") >"$work/diff"; then
      echo "README example $n printed something else than the README shows:"
      sed 's/^/  /' "$work/diff"
      failures=$((failures + 1))
    fi
  fi
done
total=$(ls "$work"/*.sql | wc -l)
echo "README examples: $total SQL blocks run, $checked results compared, $failures failures"
[ "$failures" -eq 0 ]
