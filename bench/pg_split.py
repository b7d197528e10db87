#!/usr/bin/env python3
"""Where PostgreSQL's CPU goes under bench/orders (Python 3 standard library only).

  snap <postmaster pid> <out>     CPU ticks (user + system) of each of the postmaster's children
                                  now: one line per process, "pid ticks cmdline"
  report <snap before> <snap after> <activity> <statements> <orders> <pg cpu s>
                                  CPU ms per order by connection role (each backend's CPU between
                                  the two snaps, its role from the last statement it ran), and per
                                  statement class from pg_stat_statements (calls per order and
                                  execution ms per order: wall time inside the executor, without
                                  parse, commit or the WAL flush)

<activity> holds "pid|query" lines (pg_stat_activity after the run), <statements> holds
"calls|exec ms|plan ms|rows|plans|query" lines (pg_stat_statements of the run), newlines squeezed.
"""

import os
import re
import sys
from collections import defaultdict

# (class, pattern on the statement's text), first match wins.
STATEMENT_CLASSES = [
    ("journal: append INSERT", r"^INSERT INTO events"),
    ("journal: append (checked)", r"^WITH ev AS"),
    ("journal: stream versions after a conflict", r"max\(stream_version\) FROM events WHERE stream_id = ANY"),
    ("recovery: snapshot + events (recover)", r"WITH s AS \(SELECT stream_version, snapshot_type"),
    ("recovery: events after a version (read_stream)", r"FROM events e WHERE e\.stream_id = \$1 AND e\.stream_version >= \$2"),
    ("recovery: snapshot write", r"^INSERT INTO snapshots"),
    ("recovery: unfinished sagas", r"NOT EXISTS \(SELECT 1 FROM events f"),
    ("projection: read the log after its checkpoint", r"ORDER BY e\.transaction_id, e\.global_position LIMIT"),
    ("projection: log end", r"ORDER BY e\.transaction_id DESC"),
    ("projection: advisory lock", r"pg_advisory_xact_lock"),
    ("projection: read the page's orders + lines", r"FROM read_orders o LEFT JOIN (LATERAL \(SELECT \* FROM )?read_order_lines l .*WHERE o\.order_id = ANY"),
    ("projection: read the page's inventory", r"FROM read_inventory WHERE sku = ANY"),
    ("projection: read the page's holds", r"JOIN read_inventory_holds h"),
    ("projection: upsert orders", r"^INSERT INTO read_orders.*ON CONFLICT"),
    ("projection: upsert order lines", r"^INSERT INTO read_order_lines.*ON CONFLICT"),
    ("projection: upsert inventory", r"^INSERT INTO read_inventory \(.*ON CONFLICT"),
    ("projection: insert orders", r"^INSERT INTO read_orders"),
    ("projection: insert order lines", r"^INSERT INTO read_order_lines"),
    ("projection: insert inventory", r"^INSERT INTO read_inventory \("),
    ("projection: upsert holds", r"^INSERT INTO read_inventory_holds"),
    ("projection: delete holds", r"^DELETE FROM read_inventory_holds"),
    ("projection: checkpoint write", r"^INSERT INTO subscription_checkpoints"),
    ("projection: checkpoint load", r"FROM subscription_checkpoints"),
    ("projection: newest position (lag gauge)", r"max\(global_position\)"),
    ("gateway: get order", r"WHERE o\.order_id = \$1"),
    ("gateway: list orders", r"WHERE customer_id = \$1"),
    ("gateway: get inventory", r"FROM read_inventory WHERE sku = \$1"),
    ("transaction: BEGIN", r"^BEGIN"),
    ("transaction: COMMIT", r"^COMMIT"),
]

# A backend's role from the last statement it ran.
ROLE_OF_CLASS = [
    ("journal:", "journal writers (append + commit)"),
    ("recovery:", "readers (recovery)"),
    ("projection: read the log", "projection: log reads (its store connection)"),
    ("projection: log end", "projection: log reads (its store connection)"),
    ("projection:", "projection: page writes (its page connection)"),
    # Only the page connection runs transaction blocks (a page and its checkpoint).
    ("transaction:", "projection: page writes (its page connection)"),
    ("gateway:", "gateway reads"),
]

AUX = ["walwriter", "checkpointer", "background writer", "autovacuum launcher",
       "autovacuum worker", "logical replication launcher", "stats collector", "walsender"]


def classify(query):
    q = query.strip()
    for name, pattern in STATEMENT_CLASSES:
        if re.search(pattern, q):
            return name
    return "other: " + q[:60]


def role(query):
    c = classify(query)
    for prefix, name in ROLE_OF_CLASS:
        if c.startswith(prefix):
            return name
    return "other connections (" + c + ")"


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        line = f.read()
    rest = line[line.rindex(")") + 2:].split()
    return int(rest[11]) + int(rest[12]), int(rest[1])


def snap(postmaster, out):
    rows = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            t, ppid = ticks(name)
            if ppid != int(postmaster):
                continue
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue
        rows.append(f"{name} {t} {cmd}")
    with open(out, "w") as f:
        f.write("\n".join(rows) + "\n")


def read_snap(path):
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) >= 2:
                out[parts[0]] = (int(parts[1]), parts[2] if len(parts) > 2 else "")
    return out


def report(before, after, activity, statements, orders, pg_cpu_s):
    orders = int(orders)
    pg_cpu_ms = float(pg_cpu_s) * 1000
    tick_ms = 1000.0 / os.sysconf("SC_CLK_TCK")
    s0, s1 = read_snap(before), read_snap(after)
    last_query = {}
    with open(activity) as f:
        for line in f:
            pid, _, query = line.rstrip("\n").partition("|")
            last_query[pid] = query
    by_role = defaultdict(lambda: [0.0, 0])
    for pid, (t1, cmd) in s1.items():
        used = (t1 - s0.get(pid, (0, ""))[0]) * tick_ms
        aux = next((a for a in AUX if a in cmd), None)
        if aux:
            name = "background: " + aux
        elif pid in last_query:
            name = role(last_query[pid])
        else:
            name = "other processes (" + cmd[:40] + ")"
        by_role[name][0] += used
        by_role[name][1] += 1
    listed = sum(v[0] for v in by_role.values())
    by_role["postmaster + processes that exited during the run"] = [max(0.0, pg_cpu_ms - listed), 0]

    print(f"  PostgreSQL CPU by connection role ({orders} orders placed; ms per order, share):")
    for name, (ms, n) in sorted(by_role.items(), key=lambda kv: -kv[1][0]):
        if ms <= 0 and n == 0:
            continue
        procs = f" [{n} processes]" if n else ""
        print(f"    {ms / orders:7.3f}  {100 * ms / pg_cpu_ms if pg_cpu_ms else 0:5.1f}%  {name}{procs}")

    classes = defaultdict(lambda: [0, 0.0, 0.0, 0, 0])
    with open(statements) as f:
        for line in f:
            parts = line.rstrip("\n").split("|", 5)
            if len(parts) < 6:
                continue
            c = classes[classify(parts[5])]
            for i in range(5):
                c[i] += float(parts[i]) if i in (1, 2) else int(parts[i])
    total = sum(v[1] + v[2] for v in classes.values())
    print("  pg_stat_statements by statement class (per order: calls, plans, execution ms, planning"
          " ms, rows; share of all statement time; times are wall time, waits included):")
    for name, (calls, ex, plan, rows, plans) in sorted(classes.items(), key=lambda kv: -(kv[1][1] + kv[1][2])):
        print(f"    {calls / orders:6.2f} {plans / orders:6.2f} {ex / orders:7.3f} {plan / orders:6.3f}"
              f" {rows / orders:7.2f}"
              f"  {100 * (ex + plan) / total if total else 0:5.1f}%  {name}")


def main(argv):
    if len(argv) == 4 and argv[1] == "snap":
        snap(argv[2], argv[3])
    elif len(argv) == 8 and argv[1] == "report":
        report(*argv[2:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
