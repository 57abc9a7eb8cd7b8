#!/usr/bin/env python3
"""Generated schemas against gdpr_erase and gdpr_export, with an oracle that
does not use pg_gdpr's plan: it follows foreign keys through the data itself.

For each seed: a random graph of tables under a root (depth up to 4; one or
two foreign keys per table, some composite; CASCADE, SET NULL, NO ACTION,
RESTRICT; nullable and NOT NULL), a second kind whose subjects reference the
first, a linked table without a foreign key, a legal hold with recent, old
and NULL dates, tagged columns of several types, random rows, and a random
subject S. Checked:

  (some foreign keys are DEFERRABLE INITIALLY DEFERRED)

  rollback      an erase rolled back changes nothing
  others        a row that does not reference S, directly or through other
                rows, is unchanged
  shared        a row that references S and also another subject (of either
                kind), with no ON DELETE SET NULL link on the way, is not
                deleted
  detached      a row that references S only through ON DELETE SET NULL
                foreign keys is not deleted; one whose own SET NULL key
                points at S's row and that is tied to nobody else at all
                loses its tagged value (it was S's)
  nothing left  a row that belongs to S alone (not shared, not detached, not
                held) is gone, or stays with its tagged values anonymized
  linked        no linked row carries S's id afterwards
  parent side   an address row (tagged, outside the map) that S's rows
                referred to and that no row refers to afterwards is gone;
                one that others still refer to, or that S never referred
                to, is unchanged
  export        every row the erase deleted or changed was in S's export;
                a row tied to anyone else shows no plaintext tagged value
                there, a row of S alone shows its own

A failing seed prints its schema, data and subject as a script that
reproduces it. Usage: erase_fuzz.py --seeds 1-40 (psql from PATH / PG*
environment, database from PGDATABASE).
"""
import argparse
import json
import os
import random
import subprocess
import sys

PSQL = os.path.join(os.environ.get("PG_BINDIR", ""), "psql") if os.environ.get("PG_BINDIR") else "psql"


def psql(sql, db):
    out = subprocess.run([PSQL, "-X", "-At", "-q", "-v", "ON_ERROR_STOP=1", "-d", db],
                         input=sql, capture_output=True, text=True)
    return out.returncode, out.stdout, out.stderr


class Table:
    def __init__(self, name, composite):
        self.name = name
        self.composite = composite          # primary key (a, b) instead of (id)
        self.fks = []                       # (parent, cols, action, nullable)
        self.depth = 0
        self.rows = []

    def pk_cols(self):
        return ["a", "b"] if self.composite else ["id"]


def generate(seed):
    rnd = random.Random(seed)
    s = f"fz{seed}"
    root = Table("root", False)
    tables = [root]
    n = rnd.randint(3, 7)
    for i in range(1, n + 1):
        t = Table(f"t{i}", rnd.random() < 0.3)
        parents = rnd.sample(tables, min(len(tables), rnd.choice([1, 1, 2])))
        for p in parents:
            if p.depth >= 3:
                p = root
            if any(fk[0] is p for fk in t.fks):
                continue
            action = rnd.choice(["CASCADE", "SET NULL", "NO ACTION", "RESTRICT"])
            nullable = action == "SET NULL" or rnd.random() < 0.4
            cols = [f"{p.name}_{c}" for c in p.pk_cols()]
            t.fks.append((p, cols, action, nullable))
        t.depth = 1 + max(fk[0].depth for fk in t.fks)
        tables.append(t)
    held = rnd.choice(tables[1:]) if rnd.random() < 0.6 else None
    # the parent side: an address table some tables refer to (its own
    # random stream, so the rest of a seed's schema stays as it was)
    arnd = random.Random(seed * 7919 + 1)
    with_addr = {t.name for t in tables if arnd.random() < 0.5}
    other_kind = rnd.random() < 0.6
    ddl = [f"CREATE SCHEMA {s};"]
    ddl.append(f"CREATE TABLE {s}.addr (id int PRIMARY KEY, note text);")
    ddl.append(f"CREATE TABLE {s}.root (id bigint PRIMARY KEY, note text, label varchar(12) NOT NULL"
               f"{f', addr_id int REFERENCES {s}.addr' if 'root' in with_addr else ''});")
    for t in tables[1:]:
        cols = ["a int, b int" if t.composite else "id int"]
        for p, fcols, action, nullable in t.fks:
            types = ["int", "int"] if p.composite else (["bigint"] if p is root else ["int"])
            cols += [f"{c} {ty}{'' if nullable else ' NOT NULL'}" for c, ty in zip(fcols, types)]
        cols.append("note text")
        if t is held:
            cols.append("dated date")
        if t.name in with_addr:
            cols.append(f"addr_id int REFERENCES {s}.addr")
        cols.append(f"PRIMARY KEY ({', '.join(t.pk_cols())})")
        for p, fcols, action, nullable in t.fks:
            deferred = " DEFERRABLE INITIALLY DEFERRED" if arnd.random() < 0.2 else ""
            cols.append(f"FOREIGN KEY ({', '.join(fcols)}) REFERENCES {s}.{p.name} ON DELETE {action}{deferred}")
        ddl.append(f"CREATE TABLE {s}.{t.name} ({', '.join(cols)});")
        for p, fcols, action, nullable in t.fks:
            ddl.append(f"CREATE INDEX ON {s}.{t.name} ({', '.join(fcols)});")
    ddl.append(f"CREATE TABLE {s}.events (event_id int PRIMARY KEY, sid bigint NOT NULL, note text);")
    if other_kind:
        ddl.append(f"CREATE TABLE {s}.agents (agent_id int PRIMARY KEY, root_id bigint NOT NULL "
                   f"REFERENCES {s}.root, note text);")
    ddl.append(f"SELECT gdpr_register_subject('{s}', '{s}.root', 'id');")
    ddl.append(f"SELECT gdpr_link('{s}.events', '{s}', 'sid');")
    if other_kind:
        ddl.append(f"SELECT gdpr_register_subject('{s}a', '{s}.agents', 'agent_id');")
    ddl.append(f"SELECT gdpr_tag('{s}.root', 'note', 'personal');")
    ddl.append(f"SELECT gdpr_tag('{s}.root', 'label', 'personal');")
    for t in tables[1:]:
        ddl.append(f"SELECT gdpr_tag('{s}.{t.name}', 'note', 'personal');")
    ddl.append(f"SELECT gdpr_tag('{s}.events', 'note', 'usage');")
    ddl.append(f"SELECT gdpr_tag('{s}.addr', 'note', 'personal');")
    if held:
        ddl.append(f"SELECT gdpr_hold('{s}.{held.name}', '7 years', 'dated', 'fuzz hold');")

    data = []
    for i in range(8):
        data.append(f"INSERT INTO {s}.addr VALUES ({i}, 'note-addr-{i}');")

    def addr_value(t):
        if t.name not in with_addr:
            return []
        return [str(arnd.randrange(8)) if arnd.random() < 0.7 else "NULL"]

    subjects = list(range(1, 7))
    root.rows = [{"id": i} for i in subjects]
    for i in subjects:
        vals = [str(i), f"'note-root-{i}'", f"'label-{i}'"] + addr_value(root)
        data.append(f"INSERT INTO {s}.root VALUES ({', '.join(vals)});")
    for t in tables[1:]:
        for k in range(rnd.randint(2, 7)):
            key = {"a": k, "b": k % 2} if t.composite else {"id": k}
            vals = [str(key["a"]), str(key["b"])] if t.composite else [str(k)]
            for p, fcols, action, nullable in t.fks:
                if nullable and rnd.random() < 0.2 or not p.rows:
                    vals += ["NULL"] * len(fcols)
                else:
                    pr = rnd.choice(p.rows)
                    vals += [str(pr[c]) for c in p.pk_cols()]
            vals.append(f"'note-{t.name}-{'-'.join(vals[:len(t.pk_cols())])}'")
            if t is held:
                vals.append(rnd.choice(["current_date", "current_date - 4000", "NULL"]))
            vals += addr_value(t)
            data.append(f"INSERT INTO {s}.{t.name} VALUES ({', '.join(vals)});")
            t.rows.append(key)
    for k in range(rnd.randint(1, 5)):
        data.append(f"INSERT INTO {s}.events VALUES ({k}, {rnd.choice(subjects)}, 'event');")
    if other_kind:
        for k in range(rnd.randint(1, 3)):
            data.append(f"INSERT INTO {s}.agents VALUES ({k}, {rnd.choice(subjects)}, 'agent');")
    subject = rnd.choice(subjects)
    return s, tables, held, other_kind, ddl, data, subject


def snapshot(s, tables, other_kind, db):
    names = [t.name for t in tables] + ["events", "addr"] + (["agents"] if other_kind else [])
    sql = "SELECT json_build_object(" + ", ".join(
        f"'{n}', (SELECT coalesce(json_agg(row_to_json(x)), '[]') FROM {s}.{n} x)" for n in names) + ");"
    rc, out, err = psql(sql, db)
    if rc != 0:
        raise RuntimeError(err)
    return json.loads(out)


def pk_of(table, row):
    if table == "events":
        return (row["event_id"],)
    if table == "agents":
        return (row["agent_id"],)
    return (row["a"], row["b"]) if "a" in row and "b" in row and "id" not in row else (row["id"],)


def oracle(s, tables, held, other_kind, before, subject):
    """Which rows reference S (and how), computed from the data alone."""
    by_name = {t.name: t for t in tables}
    rows = {t.name: {pk_of(t.name, r): r for r in before[t.name]} for t in tables}
    # for each row: the set of (root id) it reaches, and whether every path to S
    # passes a SET NULL foreign key
    memo = {}

    def reaches(tname, key):
        """{root_id: only_through_set_null} for every root row this row reaches."""
        if (tname, key) in memo:
            return memo[(tname, key)]
        memo[(tname, key)] = {}
        if tname == "root":
            res = {key[0]: False}
        else:
            res = {}
            t = by_name[tname]
            r = rows[tname][key]
            for p, fcols, action, nullable in t.fks:
                vals = tuple(r[c] for c in fcols)
                if any(v is None for v in vals):
                    continue
                for rid, via_null in reaches(p.name, vals).items():
                    v = via_null or action == "SET NULL"
                    res[rid] = min(res.get(rid, True), v) if rid in res else v
        memo[(tname, key)] = res
        return res

    info = {}
    agents_of = {}
    if other_kind:
        for a in before["agents"]:
            agents_of.setdefault(a["root_id"], []).append(a["agent_id"])
    for t in tables:
        for key in rows[t.name]:
            info[(t.name, key)] = reaches(t.name, key)
    return info


def check(seed, db, verbose):
    s, tables, held, other_kind, ddl, data, subject = generate(seed)
    script = "\n".join(ddl + data)
    repro = (f"-- seed {seed}: subject {subject}\nSET client_min_messages = warning;\n{script}\n"
             f"SELECT gdpr_erase('{s}', '{subject}', 'fuzz');\n")
    rc, out, err = psql("SET client_min_messages = warning;\n" + script, db)
    if rc != 0:
        return [f"setup failed: {err.strip()}"], repro
    failures = []
    try:
        before = snapshot(s, tables, other_kind, db)
        # rollback
        rc, out, err = psql(f"BEGIN; SELECT gdpr_erase('{s}', '{subject}', 'fuzz'); ROLLBACK;", db)
        if rc != 0:
            failures.append(f"erase failed: {err.strip().splitlines()[0] if err.strip() else err}")
            return failures, repro
        if snapshot(s, tables, other_kind, db) != before:
            failures.append("rollback: data changed")
        rc, exported, err = psql(f"SELECT gdpr_export('{s}', '{subject}') -> 'data';", db)
        if rc != 0:
            return [f"export failed: {err.strip()}"], repro
        exported = json.loads(exported)
        rc, report, err = psql(f"SELECT gdpr_erase('{s}', '{subject}', 'fuzz');", db)
        if rc != 0:
            return [f"erase failed: {err.strip().splitlines()[0]}"], repro
        after = snapshot(s, tables, other_kind, db)
    except (RuntimeError, json.JSONDecodeError) as e:
        return [f"harness: {e}"], repro

    info = oracle(s, tables, held, other_kind, before, subject)
    by_name = {t.name: t for t in tables}
    other_agents = {a["agent_id"] for a in before.get("agents", [])}
    # the parent side, from the data alone: who referred to each address
    # row before, and who still does
    def referrers(snap):
        refs = {}
        for t in tables:
            for r in snap[t.name]:
                if r.get("addr_id") is not None:
                    refs.setdefault(r["addr_id"], []).append((t.name, pk_of(t.name, r)))
        return refs
    refs_before, refs_after = referrers(before), referrers(after)
    exported_addr = {r["id"]: r for r in exported.get(f"{s}.addr", [])}
    after_addr = {r["id"]: r for r in after["addr"]}
    for r in before["addr"]:
        by_s = [(n, k) for n, k in refs_before.get(r["id"], []) if subject in info[(n, k)]]
        if r["id"] not in after_addr:
            if not by_s:
                failures.append(f"others: addr {r['id']} was never referred to by the subject's rows but was deleted")
            if r["id"] not in exported_addr:
                failures.append(f"export: addr {r['id']} was deleted but not in the export")
        elif after_addr[r["id"]] != r:
            failures.append(f"others: addr {r['id']} was changed")
        elif by_s and not refs_after.get(r["id"]) and any(
                info[(n, k)].get(subject) is False and n != "root" or n == "root" and k == (subject,)
                for n, k in by_s):
            failures.append(f"parent side: addr {r['id']} was the subject's and nobody refers to it any more, "
                            f"but it is still there")

    names = [t.name for t in tables] + ["events"] + (["agents"] if other_kind else [])
    for name in names:
        b = {pk_of(name, r): r for r in before[name]}
        a = {pk_of(name, r): r for r in after[name]}
        exp_rows = {pk_of(name, r): r for r in exported.get(f"{s}.{name}", [])}
        exp_keys = set(exp_rows)
        for key, row in b.items():
            gone = key not in a
            changed = not gone and a[key] != row
            if name == "events":
                if row["sid"] == subject and not gone:
                    failures.append(f"linked: events {key} still carries the subject's id")
                if row["sid"] != subject and (gone or changed):
                    failures.append(f"others: events {key} of subject {row['sid']} was {'deleted' if gone else 'changed'}")
                if (gone or changed) and key not in exp_keys:
                    failures.append(f"export: events {key} was erased but not exported")
                continue
            if name == "agents":
                if gone:
                    failures.append(f"shared: agents {key}, another kind's subject, was deleted")
                continue
            reach = info[(name, key)]
            if subject not in reach:
                if gone or changed:
                    failures.append(f"others: {name} {key} does not reference the subject but was "
                                    f"{'deleted' if gone else 'changed'}")
                continue
            # another subject's row only through a path with no SET NULL link:
            # that subject's own erasure would detach, not take, the rest
            others_alive = [r for r, via_null in reach.items() if r != subject and not via_null]
            # tied to someone else: one of the row's own references points
            # at a row owned (through keys that take rows along) by another
            tied_others = sorted({o for p, fcols, action, nullable in (by_name[name].fks if name != "root" else [])
                                  if all(row[c] is not None for c in fcols)
                                  for o, v in reach_of(info, p.name, tuple(row[c] for c in fcols)).items()
                                  if not v and o != subject})
            if name == "root" and other_kind and any(x["root_id"] == subject for x in before["agents"]):
                others_alive.append("agent")
            directly_detached = name != "root" and reach[subject] and any(
                action == "SET NULL" and all(row[c] is not None for c in fcols)
                and reach_of(info, p.name, tuple(row[c] for c in fcols)).get(subject) is False
                for p, fcols, action, nullable in by_name[name].fks)
            if key in exp_rows and name != "root":
                shown = exp_rows[key].get("note")
                if (others_alive or tied_others and reach[subject]) and shown is not None:
                    failures.append(f"export: {name} {key} is tied to {others_alive or tied_others} too, but S's "
                                    f"export shows its tagged value")
                if not others_alive and (not reach[subject] or directly_detached and not tied_others) \
                        and shown != row["note"]:
                    failures.append(f"export: {name} {key} is S's alone, but its export shows {shown!r} "
                                    f"for {row['note']!r}")
            if (gone or changed) and key not in exp_keys:
                failures.append(f"export: {name} {key} was {'deleted' if gone else 'changed'} but not in the export")
            is_held = held is not None and name == held.name and row.get("dated") is not None and \
                row["dated"] >= held_cutoff(db)
            if others_alive and name != "root":
                if gone:
                    failures.append(f"shared: {name} {key} also references {others_alive} but was deleted")
                continue
            if reach[subject] and name != "root":
                if gone:
                    failures.append(f"detached: {name} {key} references the subject only through "
                                    f"SET NULL but was deleted")
                elif directly_detached and not tied_others and not is_held and a[key].get("note") is not None:
                    failures.append(f"detached: {name} {key} was detached from the subject and is tied to "
                                    f"nobody else, but kept its tagged value")
                continue
            if is_held:
                continue
            if not gone and a[key].get("note") is not None:
                failures.append(f"nothing left: {name} {key} belongs to the subject alone and kept its "
                                f"tagged value")
    if verbose:
        print(f"seed {seed}: {len(tables)} tables, subject {subject}, report {report.strip()}")
    return failures, repro


def reach_of(info, tname, key):
    return info.get((tname, key), {})


_cutoff = None


def held_cutoff(db):
    global _cutoff
    if _cutoff is None:
        _cutoff = psql("SELECT (now() - interval '7 years')::date;", db)[1].strip()
    return _cutoff


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="1-20")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--db", default=os.environ.get("PGDATABASE", "postgres"))
    args = ap.parse_args()
    lo, _, hi = args.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    failed = 0
    for seed in seeds:
        failures, repro = check(seed, args.db, args.verbose)
        # each seed's schema goes once checked: compiling a plan reads the
        # whole catalog, and later seeds must not pay for earlier ones
        psql(f"SET client_min_messages = warning; DROP SCHEMA IF EXISTS fz{seed} CASCADE;", args.db)
        if failures:
            failed += 1
            print(f"seed {seed}: FAILED")
            for f in sorted(set(failures)):
                print(f"  {f}")
            print("  reproduce with:")
            print("\n".join("    " + line for line in repro.splitlines()))
    print(f"erase fuzz: {len(seeds)} generated schemas, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
