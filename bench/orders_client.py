#!/usr/bin/env python3
"""bench/orders' HTTP client and critical-path report (Python 3 standard library only).

  seed <gateway> <skus> <qty>          restock SKU-0001..SKU-<skus> with <qty> each (through the
                                       API, so it is in the journal) and wait until every SKU
                                       reads back (GET /inventory/<sku> 200: the gateway knows it)
  idle <gateway> <n> <run> <out>       places <n> orders one at a time (each 1-3 distinct random
                                       lines, qty 1-3, POST /orders?wait=10000); writes one line
                                       per order: order_id status sent_us answered_us
  report <idle file> <events file>     idle p50/p99, and the critical path of a typical order from
                                       its journal events (order_id position xid stream type us)
  tail <events file> <wrk p50> <wrk p99>
                                       where the load run's latency goes: each order's own
                                       journal steps (stream type us, its order stream only), their
                                       p50/p99, and which step the slowest 1% of orders spent on

Times are the system clock in microseconds since the epoch on both sides: the client's before
sending and after the whole answer, PostgreSQL's clock_timestamp() at each event's insert.
"""

import http.client
import json
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from urllib.parse import urlsplit

HEADERS = {"Content-Type": "application/json", "X-Client-Id": "bench"}


def connect(gateway):
    u = urlsplit(gateway)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def call(conn, method, path, body=None, headers=None):
    conn.request(method, path, body=body, headers=headers or HEADERS)
    r = conn.getresponse()
    return r.status, r.read()


def seed(gateway, skus, qty):
    todo = [f"SKU-{i:04d}" for i in range(1, skus + 1)]
    lock = threading.Lock()
    failures = []

    def worker(part):
        conn = connect(gateway)
        for sku in part:
            status, body = call(conn, "POST", f"/inventory/{sku}/restock", json.dumps({"qty": qty}))
            if status != 200:
                with lock:
                    failures.append(f"restock {sku}: {status} {body[:200]!r}")
                return
        deadline = time.time() + 60
        for sku in part:
            while True:
                status, _ = call(conn, "GET", f"/inventory/{sku}")
                if status == 200:
                    break
                if time.time() > deadline:
                    with lock:
                        failures.append(f"{sku} not readable 60 s after its restock ({status})")
                    return
                time.sleep(0.05)

    threads = [threading.Thread(target=worker, args=(todo[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        sys.exit("seed failed: " + "; ".join(failures[:5]))


def order_body(rng, customer):
    n = rng.randint(1, 3)
    skus = rng.sample(range(1, 1001), n)
    lines = [{"sku": f"SKU-{s:04d}", "qty": rng.randint(1, 3)} for s in skus]
    units = sum(line["qty"] for line in lines)
    return json.dumps({"customer_id": customer, "lines": lines,
                       "payment": {"card_token": "tok_visa", "amount_cents": units * 1250}})


def answer_status(status, body):
    """confirmed | rejected | cancelled | unfinished | http_<code>, from the answer."""
    if status == 201:
        return "confirmed"
    if status == 409 and b"order-rejected" in body:
        return "rejected"
    if status == 422 and b"order-cancelled" in body:
        return "cancelled"
    if status == 202:
        return "unfinished"
    return f"http_{status}"


def idle(gateway, n, run, out):
    rng = random.Random(run)
    conn = connect(gateway)
    with open(out, "w") as f:
        for i in range(n):
            body = order_body(rng, f"c-{run}-idle-{i}")
            headers = dict(HEADERS, **{"Idempotency-Key": f"k-{run}-idle-{i}"})
            sent = time.time_ns() // 1000
            status, answer = call(conn, "POST", "/orders?wait=10000", body, headers)
            answered = time.time_ns() // 1000
            try:
                order_id = json.loads(answer).get("order_id", "-")
            except ValueError:
                order_id = "-"
            f.write(f"{order_id} {answer_status(status, answer)} {sent} {answered}\n")
            # Let the order's steps after the answer (capture, notify) finish before the next.
            time.sleep(0.02)


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))] if v else 0.0


def kind(stream):
    return stream.split("/", 1)[0]


def report(idle_file, events_file):
    orders = []
    for line in open(idle_file):
        oid, status, sent, answered = line.split()
        orders.append((oid, status, int(sent), int(answered)))
    statuses = Counter(o[1] for o in orders)
    ended = [o for o in orders if o[1] in ("confirmed", "rejected", "cancelled")]
    lat = [(o[3] - o[2]) / 1000 for o in ended]
    print(f"idle, one order at a time: {len(orders)} orders, answers "
          + " ".join(f"{k}={v}" for k, v in sorted(statuses.items())))
    if not lat:
        print("idle single order: no order ended")
        return
    p50, p99 = percentile(lat, 0.5), percentile(lat, 0.99)
    print(f"idle single order (request sent -> answer with its terminal state): "
          f"p50 {p50:.2f} ms, p99 {p99:.2f} ms, mean {sum(lat) / len(lat):.2f} ms")
    print(f"target idle p50 < 10 ms: {'met' if p50 < 10 else 'NOT met'}")
    print(f"idle_p50_ms={p50:.2f} idle_p99_ms={p99:.2f}")

    events = defaultdict(list)
    for line in open(events_file):
        oid, pos, xid, stream, etype, us, message, cause = line.rstrip("\n").split("|")
        events[oid].append((int(us), int(pos), xid, stream, etype, message, cause))
    # Each order's steps in time order, with the answer as a step of its own.
    paths = {}
    for oid, status, sent, answered in ended:
        evs = sorted(events.get(oid, []))
        if not evs:
            continue
        rows = [((us - sent) / 1000, xid, stream, etype, message, cause)
                for us, _, xid, stream, etype, message, cause in evs]
        rows.append(((answered - sent) / 1000, None, "", f"HTTP answer received ({status})", "", ""))
        rows.sort(key=lambda r: r[0])
        paths[oid] = rows
    if not paths:
        print("critical path: none of the idle orders' events were found in the journal")
        return

    def shape(rows):
        return tuple((kind(r[2]), r[3]) if r[1] is not None else ("", "answer") for r in rows)

    shapes = Counter(shape(r) for r in paths.values())
    common, count = shapes.most_common(1)[0]
    group = [(oid, r) for oid, r in paths.items() if shape(r) == common]
    group.sort(key=lambda x: x[1][[i for i, r in enumerate(x[1]) if r[1] is None][0]][0])
    oid, rows = group[len(group) // 2]
    medians = [percentile([r[i][0] for _, r in group], 0.5) for i in range(len(rows))]
    answer_ms = next(r[0] for r in rows if r[1] is None)
    lines_n = len({r[2] for r in rows if kind(r[2]) == "inventory"})  # one inventory stream per line
    print()
    print(f"critical path of a typical idle order ({oid}): the median answer time of the {count} "
          f"of {len(paths)} orders whose steps came in the most common order")
    print("  +ms: since the client sent the request (event: clock_timestamp() at its insert, "
          "before its commit's fsync);")
    print("  gap: since the row above; commit: the writing transaction (journal batch), "
          "numbered in order; median: of that step over the group")
    print(f"  {'+ms':>8} {'gap':>7} {'median':>8}  {'commit':<6} {'stream':<12} step")
    print(f"  {0:8.2f} {'':>7} {0:8.2f}  {'':<6} {'client':<12} HTTP request sent")
    commits, last_ms, last_xid = {}, 0.0, None
    seen = {}  # message id -> (ms, xid, stream, type) of the last event recorded for it
    for i, (ms, xid, stream, etype, message, cause) in enumerate(rows):
        note = ""
        if xid is None:
            who = "client"
            note = "completion back to the request"
        else:
            commits.setdefault(xid, len(commits) + 1)
            who = kind(stream)
            origin = seen.get(cause) if cause else None
            if i == 0:
                note = "HTTP in, gateway, hop to the order, journal wait"
            elif xid == last_xid:
                note = "same commit"
            elif origin and origin[2] == stream and origin[1] != xid and who == "payment":
                # The payment entity recorded the request, called the PSP, recorded its answer.
                note = f"PSP call and journal wait: {ms - origin[0]:.2f} ms since {origin[3]}"
            else:
                note = "hop and journal wait"
            if message:
                seen[message] = (ms, xid, stream, etype)
            last_xid = xid
        after = " (after the answer)" if xid is not None and ms > answer_ms else ""
        commit = f"c{commits[xid]}" if xid is not None else ""
        print(f"  {ms:8.2f} {ms - last_ms:7.2f} {medians[i]:8.2f}  {commit:<6} {who:<12} "
              f"{etype}{after}  [{note}]")
        last_ms = ms
    terminal = [r for r in rows if r[1] is not None and kind(r[2]) == "order"
                and any(w in r[3] for w in ("confirmed", "rejected", "cancelled"))]
    if terminal:
        print(f"  the order ended ({terminal[0][3]}) {terminal[0][0]:.2f} ms after the request was "
              f"sent; its answer arrived {answer_ms - terminal[0][0]:.2f} ms after that")
    before = [r for r in rows if r[1] is not None and r[0] <= answer_ms]
    n_commits = len({r[1] for r in before})
    first = before[0][0] if before else 0.0
    last = before[-1][0] if before else 0.0
    print(f"  this order: {lines_n} line(s), {len(before)} events in {n_commits} commits before "
          f"the answer; first event {first:.2f} ms after sending, last {last:.2f} ms, answer "
          f"{answer_ms - last:.2f} ms after the last; mean {((last - first) / max(1, n_commits - 1)):.2f}"
          f" ms per commit between the first and the last")


# The steps of an order under load, each timed from the event before it. An order records placed,
# then confirmed (its saga ends there; binaries before this one then also recorded payment_captured
# once notified), or rejected/cancelled; its stock is taken once the last line's
# inventory.committed is inserted ("stock taken": the binaries before this one then also recorded
# order.sale_requested, on the path of "stock taken -> ended").
TAKEN = "stock taken (the last line's inventory.committed)"
TAIL_STEPS = [
    ("placed -> stock taken", "order.placed.v1", TAKEN,
     "hops to each line's inventory, their appends"),
    ("stock taken -> ended", TAKEN, None,
     "the answers back (before: the order's sale_requested append), hop to the payment, the PSP "
     "sale, the payment's append, the report back, the order's append"),
]
TERMINAL = ("order.confirmed.v1", "order.rejected.v1", "order.cancelled.v1")


def tail(events_file, wrk_p50, wrk_p99):
    orders = defaultdict(dict)
    for line in open(events_file):
        stream, etype, us = line.rstrip("\n").split("|")
        steps = orders[stream]
        if etype == "inventory.committed.v1":  # one per line: the last one took the stock
            steps[TAKEN] = max(steps.get(TAKEN, 0), int(us))
            continue
        steps.setdefault(etype, int(us))  # the first of a type (stock_committed: per line)
    spans, parts = [], defaultdict(list)
    slow_parts = []
    for steps in orders.values():
        if "order.placed.v1" not in steps:
            continue
        end = next((steps[t] for t in TERMINAL if t in steps), None)
        if end is None:
            continue
        span = (end - steps["order.placed.v1"]) / 1000
        mine = {}
        for name, a, b, _ in TAIL_STEPS:
            if a in steps:
                stop = steps[b] if b else end
                if stop >= steps[a]:
                    mine[name] = (stop - steps[a]) / 1000
                    parts[name].append(mine[name])
        spans.append(span)
        slow_parts.append((span, mine))
    if not spans:
        print("load tail: no order of the load run ended in the journal")
        return
    p50, p99 = percentile(spans, 0.5), percentile(spans, 0.99)
    print()
    print(f"where the load run's latency goes ({len(spans)} orders that ended, their order stream's "
          f"events; recorded_at is clock_timestamp() at each insert):")
    print(f"  {'':<34} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"  {'request sent -> answer (wrk)':<34} {float(wrk_p50):8.2f} {float(wrk_p99):8.2f}")
    print(f"  {'order.placed -> terminal event':<34} {p50:8.2f} {p99:8.2f}")
    for name, _, _, what in TAIL_STEPS:
        v = parts.get(name, [])
        if v:
            print(f"  {name:<34} {percentile(v, 0.5):8.2f} {percentile(v, 0.99):8.2f}  [{what}]")
    print(f"  outside the journal span (HTTP in, admission, hop to the order, its first append; the "
          f"answer back): p50 about {float(wrk_p50) - p50:.2f} ms, p99 about "
          f"{float(wrk_p99) - p99:.2f} ms (differences of percentiles, not per request)")
    slow_parts.sort(key=lambda x: x[0])
    slowest = slow_parts[-max(1, len(slow_parts) // 100):]
    share = defaultdict(float)
    for span, mine in slowest:
        for name, ms in mine.items():
            share[name] += ms
    total = sum(s for s, _ in slowest) or 1.0
    print(f"  the slowest 1% ({len(slowest)} orders, placed -> terminal {slowest[0][0]:.1f}-"
          f"{slowest[-1][0]:.1f} ms) spent: "
          + ", ".join(f"{name} {100 * ms / total:.0f}%" for name, ms in share.items()))
    print(f"load_span_p50_ms={p50:.2f} load_span_p99_ms={p99:.2f}")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "seed":
        seed(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "idle":
        idle(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif cmd == "report":
        report(sys.argv[2], sys.argv[3])
    elif cmd == "tail":
        tail(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
