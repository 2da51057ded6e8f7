"""Dynamic segments (SPEC §5.4): 201 with the evaluated size, 202 with the job past
SEGMENTD_SYNC_TIMEOUT, rule changes, :refresh, dependent segments (409 / ?force), cycles, and
the change feed mirrored by a client while writers, member changes and refreshes run at once.
The tests named *_follow_writes need the membership step in the customer and event write
paths."""
import json
import random
import threading
import time
import urllib.parse


def q(s):
    return urllib.parse.quote(s, safe="")


def spath(sid, rest=""):
    return "/v1/segments/" + q(str(sid)) + rest


def put_customers(t, key, docs, daemon=None):
    lines = "".join(json.dumps({"id": i, "attributes": a}) + "\n" for i, a in docs.items())
    r = t.req("POST", "/v1/customers:import", raw_body=lines, ctype="application/x-ndjson",
              key=key, daemon=daemon)
    t.expect_json(r, 200)


def members(t, key, sid, daemon=None):
    out, cursor = [], None
    while True:
        u = spath(sid, "/members?limit=1000") + ("&cursor=" + q(cursor) if cursor else "")
        d = t.expect_json(t.req("GET", u, key=key, daemon=daemon), 200)
        out += [m["customer_id"] for m in d["items"]]
        cursor = d["next_cursor"]
        if not cursor:
            return out


def country(c):
    return {"attr": "country", "op": "eq", "value": c}


def create(t, key, rule, name=None, status=(201,), daemon=None):
    r = t.req("POST", "/v1/segments", {"name": name or t.uid("dyn"), "type": "dynamic",
                                       "rule": rule}, key=key, daemon=daemon)
    return t.expect_json(r, *status), r


def wait_job(t, key, job_id, daemon=None, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = t.expect_json(t.req("GET", "/v1/jobs/%s" % job_id, key=key, daemon=daemon), 200)
        if j["status"] in ("succeeded", "failed", "cancelled"):
            return j
        time.sleep(0.05)
    t.fail("job %s did not finish within %ds" % (job_id, timeout))


def feed_all(t, key, since=None, daemon=None):
    items, cursor = [], since
    while True:
        u = "/v1/changes?limit=1000" + ("&since=" + q(cursor) if cursor else "")
        d = t.expect_json(t.req("GET", u, key=key, daemon=daemon), 200)
        items += d["items"]
        cursor = d["next_cursor"]
        if not d["items"]:
            return items, cursor


def test_dynamic_create_201_with_size(t):
    key = t.new_tenant()[1]
    put_customers(t, key, {"d1": {"country": "DE"}, "d2": {"country": "DE"},
                           "d3": {"country": "DE"}, "f1": {"country": "FR"}, "x1": {}})
    s, r = create(t, key, country("DE"))
    t.eq(s["size"], 3, "size once evaluated", r)
    t.eq(s["type"], "dynamic", "type", r)
    t.eq(s["rule"], country("DE"), "rule as given", r)
    t.eq(s["source"], "rule", "source", r)
    t.check(s["refreshed_at"] is not None, "refreshed_at set by the refresh", r)
    t.eq(r.header("location"), "/v1/segments/" + s["id"], "Location", r)
    t.eq(members(t, key, s["id"]), ["d1", "d2", "d3"], "members")
    h = t.expect_json(t.req("GET", spath(s["id"], "/history"), key=key), 200)["items"]
    t.eq([(p["size"], p["entered"], p["exited"]) for p in h], [(3, 3, 0)], "first point")
    items, _ = feed_all(t, key)
    t.eq(sorted((c["customer_id"], c["change"]) for c in items if c["segment_id"] == s["id"]),
         [("d1", "entered"), ("d2", "entered"), ("d3", "entered")], "initial members entered")
    d = t.expect_json(t.req("GET", "/v1/customers/d1/segments", key=key), 200)
    t.eq([i["segment_id"] for i in d["items"]], [s["id"]], "d1's segments")


def test_dynamic_202_past_sync_timeout(t):
    key = t.new_tenant()[1]
    d = t.start_daemon([], "sync0", env={"SEGMENTD_SYNC_TIMEOUT": "0"})
    try:
        put_customers(t, key, {"a%d" % i: {"country": "DE"} for i in range(20)}, daemon=d)
        j, r = create(t, key, country("DE"), status=(202,), daemon=d)
        t.eq(j.get("kind"), "segment.refresh", "the job's kind", r)
        t.check(j.get("status") in ("queued", "running", "succeeded"), "job status", r)
        t.eq(r.header("location"), "/v1/jobs/%s" % j["id"], "Location of the job", r)
        seg = j.get("segment") or {}
        t.check(str(seg.get("id", "")).isdigit(), "202 names the segment it created", r)
        done = wait_job(t, key, j["id"], daemon=d)
        t.eq(done["status"], "succeeded", "the refresh succeeded")
        g = t.expect_json(t.req("GET", spath(seg["id"]), key=key, daemon=d), 200)
        t.eq(g["size"], 20, "size after the refresh")
        # a rule change past the timeout: 202 too
        r = t.req("PATCH", spath(seg["id"]), {"rule": country("FR")}, key=key, daemon=d)
        t.expect_json(r, 202)
        t.eq(wait_job(t, key, r.json["id"], daemon=d)["status"], "succeeded", "patch refresh")
        t.eq(members(t, key, seg["id"], daemon=d), [], "nobody in FR")
    finally:
        t.stop_daemon(d)


def test_patch_rule_reevaluates(t):
    key = t.new_tenant()[1]
    put_customers(t, key, {"p1": {"n": 1}, "p2": {"n": 2}, "p3": {"n": 3}})
    s, _ = create(t, key, {"attr": "n", "op": "gte", "value": 2})
    t.eq(s["size"], 2, "size")
    _, cur = feed_all(t, key)
    r = t.req("PATCH", spath(s["id"]), {"rule": {"attr": "n", "op": "lte", "value": 2},
                                         "description": "small"}, key=key)
    p = t.expect_json(r, 200)
    t.eq(p["size"], 2, "size after the change", r)
    t.eq(p["description"], "small", "description", r)
    t.eq(members(t, key, s["id"]), ["p1", "p2"], "members after the change")
    items, _ = feed_all(t, key, since=cur)
    t.eq(sorted((c["customer_id"], c["change"]) for c in items),
         [("p1", "entered"), ("p3", "exited")], "only the differences are recorded")
    h = t.expect_json(t.req("GET", spath(s["id"], "/history"), key=key), 200)["items"]
    t.eq([(x["size"], x["entered"], x["exited"]) for x in h], [(2, 2, 0), (2, 1, 1)],
         "a point per full refresh, oldest first")
    # an unchanged rule queues nothing: 200 at once
    r = t.req("PATCH", spath(s["id"]), {"rule": {"attr": "n", "op": "lte", "value": 2}}, key=key)
    t.expect_json(r, 200)
    # invalid rules: pointers under /rule
    r = t.req("PATCH", spath(s["id"]), {"rule": {"any": [{"attr": "n", "op": "between",
                                                          "value": [1]}]}}, key=key)
    t.check(any(p.startswith("/rule/any/0") for p in t.pointers(t.problem(r, 422))),
            "pointer into the rule", r)
    t.problem(t.req("PATCH", spath(s["id"]), {"rule": None}, key=key), 422)
    t.problem(t.req("PATCH", spath(s["id"]), {"type": "static"}, key=key), 422)


def test_refresh_endpoint(t):
    key = t.new_tenant()[1]
    put_customers(t, key, {"r1": {"v": True}})
    s, _ = create(t, key, {"attr": "v", "op": "eq", "value": True})
    r = t.req("POST", spath(s["id"], ":refresh"), key=key)
    j = t.expect_json(r, 202)
    t.eq(j.get("kind"), "segment.refresh", "kind", r)
    t.eq(r.header("location"), "/v1/jobs/%s" % j["id"], "Location", r)
    t.eq(wait_job(t, key, j["id"])["status"], "succeeded", "refresh ran")
    st = t.expect_json(t.req("POST", "/v1/segments", {"name": t.uid(), "type": "static"},
                             key=key), 201)
    t.problem(t.req("POST", spath(st["id"], ":refresh"), key=key), 409)
    t.problem(t.req("POST", spath("999999999", ":refresh"), key=key), 404)
    t.problem(t.req("POST", spath(s["id"], ":refresh"), key="B"), 404)
    # a dynamic segment's members cannot be changed by hand
    t.problem(t.req("POST", spath(s["id"], "/members"), {"customer_ids": ["r1"]}, key=key), 409)
    t.problem(t.req("DELETE", spath(s["id"], "/members/r1"), key=key), 409)


def test_dependents_and_cycles(t):
    key = t.new_tenant()[1]
    d = t.start_daemon([], "sync0dep", env={"SEGMENTD_SYNC_TIMEOUT": "0"})
    try:
        st = t.expect_json(t.req("POST", "/v1/segments", {"name": "base", "type": "static"},
                                 key=key, daemon=d), 201)
        j1, _ = create(t, key, {"segment": st["id"]}, name="uses-base", status=(202,), daemon=d)
        d1 = j1["segment"]
        j2, _ = create(t, key, {"not": {"segment": d1["id"]}}, name="uses-uses", status=(202,),
                       daemon=d)
        d2 = j2["segment"]
        # cycles: d1 -> d2 -> d1, and d1 -> d1
        for rule, ptr in (({"segment": d2["id"]}, "/rule/segment"),
                          ({"all": [{"segment": st["id"]}, {"segment": d1["id"]}]},
                           "/rule/all/1/segment")):
            r = t.req("PATCH", spath(d1["id"]), {"rule": rule}, key=key, daemon=d)
            ptrs = t.pointers(t.problem(r, 422))
            t.check(any(p == ptr or p.startswith(ptr) or ptr.startswith(p) for p in ptrs),
                    "cycle pointer %s in %s" % (ptr, ptrs), r)
        # deleting a segment that rules use: 409 naming them
        r = t.req("DELETE", spath(st["id"]), key=key, daemon=d)
        p = t.problem(r, 409)
        t.eq(p.get("dependents"), [{"id": d1["id"], "name": "uses-base"}], "dependents", r)
        r = t.req("DELETE", spath(d1["id"]), key=key, daemon=d)
        t.eq(t.problem(r, 409).get("dependents"), [{"id": d2["id"], "name": "uses-uses"}],
             "dependents of d1", r)
        t.problem(t.req("DELETE", spath(st["id"]) + "?force=maybe", key=key, daemon=d), 400)
        t.expect(t.req("DELETE", spath(st["id"]) + "?force=true", key=key, daemon=d), 204)
        t.problem(t.req("GET", spath(st["id"]), key=key, daemon=d), 404)
        t.expect_json(t.req("GET", spath(d1["id"]), key=key, daemon=d), 200)
        t.expect(t.req("DELETE", spath(d2["id"]), key=key, daemon=d), 204)
        t.expect(t.req("DELETE", spath(d1["id"]), key=key, daemon=d), 204)
    finally:
        t.stop_daemon(d)


def test_static_reference_follows_member_changes(t):
    """A dynamic segment over a static one follows its member changes (the step with
    SEG_RULE_DEP_SEGMENTS)."""
    key = t.new_tenant()[1]
    put_customers(t, key, {"s1": {}, "s2": {}, "s3": {}})
    st = t.expect_json(t.req("POST", "/v1/segments", {"name": "st", "type": "static"}, key=key),
                       201)
    dyn, _ = create(t, key, {"segment": st["id"]})
    t.eq(dyn["size"], 0, "empty at first")
    t.expect_json(t.req("POST", spath(st["id"], "/members"), {"customer_ids": ["s1", "s2"]},
                        key=key), 200)
    t.eq(members(t, key, dyn["id"]), ["s1", "s2"], "follows additions")
    t.expect(t.req("DELETE", spath(st["id"], "/members/s1"), key=key), 204)
    t.eq(members(t, key, dyn["id"]), ["s2"], "follows removals")


def test_memberships_follow_writes(t):
    """Needs the membership step in the write paths (PUT, PATCH, DELETE, events)."""
    key = t.new_tenant()[1]
    s, _ = create(t, key, country("DE"))
    buyers, _ = create(t, key, {"metric": "orders", "op": "gte", "value": 1})
    t.expect_json(t.req("PUT", "/v1/customers/w1", {"attributes": {"country": "DE"}}, key=key),
                  201)
    t.eq(members(t, key, s["id"]), ["w1"], "a new customer enters at once")
    t.expect_json(t.req("PATCH", "/v1/customers/w1", {"attributes": {"country": "FR"}},
                        key=key, ctype="application/merge-patch+json"), 200)
    t.eq(members(t, key, s["id"]), [], "a changed customer leaves at once")
    t.expect_json(t.req("POST", "/v1/events", {"customer_id": "w1", "type": "purchase",
                                               "occurred_at": "2026-01-01T00:00:00Z",
                                               "amount": 5}, key=key), 202)
    t.eq(members(t, key, buyers["id"]), ["w1"], "an event brings it into a metric segment")
    t.expect_json(t.req("PATCH", "/v1/customers/w1", {"attributes": {"country": "DE"}},
                        key=key, ctype="application/merge-patch+json"), 200)
    t.expect(t.req("DELETE", "/v1/customers/w1", key=key), 204)
    t.eq(members(t, key, s["id"]), [], "erasure leaves every segment")
    t.eq(members(t, key, buyers["id"]), [], "erasure leaves every segment")
    items, _ = feed_all(t, key)
    t.eq([(c["customer_id"], c["segment_id"], c["change"]) for c in items],
         [("w1", s["id"], "entered"), ("w1", s["id"], "exited"),
          ("w1", buyers["id"], "entered"), ("w1", s["id"], "entered"),
          ] + sorted([("w1", s["id"], "exited"), ("w1", buyers["id"], "exited")],
                     key=lambda x: x[1]),
         "the feed tells it all, in order")


def test_feed_mirror_follow_writes_concurrently(t):
    """A client mirrors memberships from the feed while customers are written, static members
    change and refreshes run, all at once; afterwards its mirror equals the membership.
    "entered twice" / "exited without entering" means that the feed listed two changes of one
    membership in another order than their transactions committed (db/README.md, "Memberships", the feed)."""
    key = t.new_tenant()[1]
    ids = ["m%03d" % i for i in range(150)]
    put_customers(t, key, {i: {"n": random.randint(0, 9)} for i in ids})
    st = t.expect_json(t.req("POST", "/v1/segments", {"name": "st", "type": "static"}, key=key),
                       201)
    low, _ = create(t, key, {"attr": "n", "op": "lt", "value": 5})
    mix, _ = create(t, key, {"any": [{"segment": st["id"]}, {"attr": "n", "op": "eq",
                                                              "value": 7}]})
    segs = [st["id"], low["id"], mix["id"]]
    mirror = {s: set() for s in segs}
    stop = threading.Event()
    errors = []

    def apply(items):
        for c in items:
            m = mirror.setdefault(c["segment_id"], set())
            if c["change"] == "entered":
                if c["customer_id"] in m:
                    errors.append("entered twice: %s" % c)
                m.add(c["customer_id"])
            else:
                if c["customer_id"] not in m:
                    errors.append("exited without entering: %s" % c)
                m.discard(c["customer_id"])

    finish = threading.Event()

    def guarded(fn):
        def run(*a):
            try:
                fn(*a)
            except Exception as e:  # a failed check in a thread fails the test below
                errors.append("%s: %r" % (fn.__name__, e))
        return run

    @guarded
    def reader():
        cursor = None
        while True:
            final = finish.is_set()
            items, cursor = feed_all(t, key, since=cursor)
            apply(items)
            if final:
                return
            time.sleep(0.01)

    @guarded
    def writer(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            c = rnd.choice(ids)
            t.req("PATCH", "/v1/customers/" + c, {"attributes": {"n": rnd.randint(0, 9)}},
                  key=key, ctype="application/merge-patch+json")

    @guarded
    def static_changer(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            pick = rnd.sample(ids, 5)
            t.req("POST", spath(st["id"], "/members"), {"customer_ids": pick}, key=key)
            t.req("DELETE", spath(st["id"], "/members/" + rnd.choice(ids)), key=key)

    @guarded
    def refresher():
        while not stop.is_set():
            for s in (low["id"], mix["id"]):
                t.req("POST", spath(s, ":refresh"), key=key)
            time.sleep(0.05)

    threads = [threading.Thread(target=reader)]
    threads += [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=static_changer, args=(10 + i,)) for i in range(2)]
    threads.append(threading.Thread(target=refresher))
    for th in threads[1:]:
        th.start()
    threads[0].start()
    time.sleep(4)
    stop.set()
    for th in threads[1:]:
        th.join()
    # let the last refreshes finish, then the reader reads to the end
    deadline = time.time() + 60
    while time.time() < deadline:
        jobs = t.expect_json(t.req("GET", "/v1/jobs?status=queued", key=key), 200)["items"]
        running = t.expect_json(t.req("GET", "/v1/jobs?status=running", key=key), 200)["items"]
        if not jobs and not running:
            break
        time.sleep(0.1)
    finish.set()
    threads[0].join()
    t.check(not errors, "feed order: %s" % errors[:5], None)
    for s in segs:
        t.eq(sorted(mirror.get(s, set())), members(t, key, s),
             "the mirror of segment %s equals its membership" % s)


def test_events_batches_skip_only_what_cannot_change(t):
    """An events batch evaluates segments over events and metrics only for customers with an
    event that can change one (its type in an event condition's window, a revenue event for the
    purchase metrics) and for customers it created. After every import, a full refresh of every
    segment must find nothing to change: the step skipped no customer it should have seen."""
    def ago(days):
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - days * 86400))

    def ev(cid, typ, days, amount=None, props=None):
        d = {"customer_id": cid, "type": typ, "occurred_at": ago(days)}
        if amount is not None:
            d["amount"] = amount
        if props is not None:
            d["properties"] = props
        return d

    imports = [
        [ev("c1", "purchase", 100, 40), ev("c2", "purchase", 100, 60), ev("c3", "purchase", 95, 5),
         ev("c4", "purchase", 100, 30), ev("c5", "page_view", 20, props={"channel": "app"}),
         ev("c6", "login", 40)],
        [ev("c6", "login", 2)],                                         # leaves "no login"
        [ev("c7", "page_view", 20, props={"channel": "app"}), ev("c8", "login", 60)],  # too old
        [ev("c1", "purchase", 1, 20), ev("c4", "purchase", 3, 1)],
        [ev("c5", "page_view", 1, props={"channel": "app"}), ev("c9", "page_view", 1, props={}),
         ev("c8", "page_view", 2, props={"channel": "web"})],
        [ev("n1", "page_view", 20), ev("n2", "login", 1), ev("n3", "purchase", 200, 80)],  # new
        [ev("c3", "purchase", 400, 50), ev("c2", "refund", 1)],
    ]
    rules = [
        {"metric": "revenue", "op": "gt", "value": 50},
        {"event": "purchase", "within_days": 30},
        {"event": "page_view", "within_days": 7,
         "where": [{"prop": "channel", "op": "eq", "value": "app"}]},
        {"not": {"event": "login", "within_days": 30}},
        {"all": [{"metric": "orders", "op": "gte", "value": 2},
                 {"not": {"event": "purchase", "within_days": 7}}]},
        {"attr": "tier", "op": "eq", "value": "gold"},
        {"metric": "recency_days", "op": "lte", "value": 10},
        # conditions alike share one aggregate of the step's lateral (db/rulesql.c): the same
        # condition with another threshold, twice in one rule, and one that differs only in a
        # filter's value (which must not share)
        {"event": "purchase", "within_days": 30, "agg": "count", "op": "gte", "value": 2},
        {"any": [{"event": "page_view", "within_days": 7,
                  "where": [{"prop": "channel", "op": "eq", "value": "app"}]},
                 {"not": {"event": "page_view", "within_days": 7, "agg": "count", "op": "lt",
                          "value": 2, "where": [{"prop": "channel", "op": "eq",
                                                 "value": "app"}]}}]},
        {"event": "page_view", "within_days": 7,
         "where": [{"prop": "channel", "op": "eq", "value": "web"}]},
    ]
    for extra in ([], [{"metric": "events", "op": "gte", "value": 2}]):
        key = t.new_tenant()[1]
        put_customers(t, key, {"c%d" % i: {"tier": "gold" if i % 2 else "free"}
                               for i in range(10)})
        ids = [create(t, key, r)[0]["id"] for r in rules + extra]
        ref, _ = create(t, key, {"all": [{"segment": ids[1]}, {"attr": "tier", "op": "eq",
                                                                "value": "gold"}]})
        ids.append(ref["id"])
        sizes = set()
        for n, batch in enumerate(imports):
            body = "".join(json.dumps(e) + "\n" for e in batch)
            d = t.expect_json(t.req("POST", "/v1/events:import", raw_body=body,
                                    ctype="application/x-ndjson", key=key), 200)
            t.eq(d["accepted"], len(batch), "import %d accepted" % n)
            for sid in ids:
                j = t.expect_json(t.req("POST", spath(sid, ":refresh"), key=key), 202)
                j = wait_job(t, key, j["id"])
                t.eq(j["status"], "succeeded", "refresh of %s" % sid)
                res = j["result"]
                t.eq((res["entered"], res["exited"]), (0, 0),
                     "after import %d, segment %s: the step left nothing for the refresh "
                     "(extra rules: %s)" % (n, sid, extra))
                sizes.add((sid, res["size"]))
        # the segments tell customers apart and change along the imports
        t.check(len(sizes) > len(ids) + 4, "memberships changed along the imports: %s" % sizes)


def test_definitions_past_the_statement_parameter_limit_are_refused(t):
    """Every write evaluates all of the tenant's dynamic segments in one statement, whose
    parameters PostgreSQL caps at 65,535. A segment whose rule would take the tenant past that
    is refused with 422, and writes keep working (before, every write of the tenant failed)."""
    key = t.new_tenant()[1]
    leaves = [{"attr": "k%d" % i, "op": "eq", "value": i} for i in range(900)]
    created, refused = 0, None
    for n in range(60):
        r = t.req("POST", "/v1/segments", {"name": t.uid("big"), "type": "dynamic",
                                           "rule": {"any": leaves}}, key=key, timeout=120)
        if r.status in (201, 202):
            created += 1
            continue
        refused = r
        break
    t.check(refused is not None, "60 segments of 900 leaves were all accepted")
    p = t.problem(refused, 422)
    t.check(any(e.get("pointer") == "/rule" for e in p.get("errors", [])),
            "the refusal points at /rule: %s" % p)
    t.check(created >= 20, "only %d big segments were accepted before the refusal" % created)
    r = t.req("PUT", "/v1/customers/" + q(t.uid("pl")), {"attributes": {"k3": 3}}, key=key,
              timeout=120)
    t.expect(r, 201)
    body = json.dumps({"customer_id": "pl-ev", "type": "x",
                       "occurred_at": "2026-01-01T00:00:00Z"}) + "\n"
    t.expect_json(t.req("POST", "/v1/events:import", raw_body=body,
                        ctype="application/x-ndjson", key=key, timeout=120), 200)
    # a patch that would grow a rule past the limit is refused the same way
    first = t.expect_json(t.req("GET", "/v1/segments?limit=1", key=key), 200)["items"][0]
    r = t.req("PATCH", spath(first["id"]), {"rule": {"any": leaves + leaves[:800]}}, key=key,
              ctype="application/merge-patch+json", timeout=120)
    t.problem(r, 422)
