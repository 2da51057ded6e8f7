"""Numbers that are valid JSON but would grow without bound when PostgreSQL writes them out.

A number is kept exactly as PostgreSQL's numeric prints it, so 1e-16383 would come back as
16,385 bytes. The daemon refuses (422, with a JSON pointer to the number) a number that prints
too long (1e300, 301 digits; 1e-400; 1e-16383) while 1e299 and 300-digit numbers are kept, and
a document whose numbers would grow by more than 65,536 bytes when written out; an import
rejects such a line and goes on with the others.
"""
import json
import urllib.parse

TINY = b"1e-16383"


def cpath(cid):
    return "/v1/customers/" + urllib.parse.quote(cid, safe="")


def literal(body):
    """The JSON body with every number kept as the exact text the server sent."""
    return json.loads(body.decode("utf-8"), parse_int=str, parse_float=str)


def put_raw(t, cid, attrs_json, method="PUT"):
    return t.req(method, cpath(cid), raw_body=b'{"attributes": ' + attrs_json + b"}",
                 ctype="application/json")


def expect_pointer(t, r, pointer, what):
    p = t.problem(r, 422)
    ptrs = t.pointers(p)
    t.check(ptrs and ptrs[0] == pointer, "%s: expected 422 with errors[0].pointer %r, got "
            "pointers %r" % (what, pointer, ptrs), r)


def absent(t, cid, what):
    r = t.req("GET", cpath(cid))
    t.check(r.status == 404, "%s: customer %s must not exist (GET answered %d)"
            % (what, cid, r.status), r)


def test_put_1e_minus_16383_422_pointer(t):
    cid = t.uid("num")
    r = put_raw(t, cid, b'{"x": ' + TINY + b"}")
    expect_pointer(t, r, "/attributes/x", "PUT attributes.x = 1e-16383 (prints as 16,385 bytes)")
    absent(t, cid, "after the refused PUT")


def test_put_1e300_422_pointer(t):
    cid = t.uid("num")
    r = put_raw(t, cid, b'{"x": 1e300}')
    expect_pointer(t, r, "/attributes/x", "PUT attributes.x = 1e300 (301 digits)")
    absent(t, cid, "after the refused PUT")


def test_1e299_and_300_digits_stored_exactly(t):
    cid = t.uid("num")
    digits300 = ("1234567890" * 30).encode()
    r = put_raw(t, cid, b'{"big": 1e299, "d300": ' + digits300 + b"}")
    t.check(r.status == 201, "1e299 (300 digits) and a 300-digit integer must be accepted", r)
    r = t.req("GET", cpath(cid))
    a = literal(t.expect(r, 200).body)["attributes"]
    t.eq(a.get("big"), "1" + "0" * 299, "1e299 read back as PostgreSQL prints it", r)
    t.eq(a.get("d300"), digits300.decode(), "a 300-digit integer read back exactly", r)


def test_trailing_zeros_kept(t):
    cid = t.uid("num")
    t.expect(put_raw(t, cid, b'{"x": 123.4500, "y": 0.10}'), 201)
    r = t.req("GET", cpath(cid))
    a = literal(t.expect(r, 200).body)["attributes"]
    t.eq((a.get("x"), a.get("y")), ("123.4500", "0.10"), "numbers keep their trailing zeros", r)


def test_nested_pointer_is_escaped(t):
    cid = t.uid("num")
    r = put_raw(t, cid, b'{"a": [1, {"b~/c": 1e-400}]}')
    expect_pointer(t, r, "/attributes/a/1/b~0~1c",
                   "a too-long number inside an array and a member named \"b~/c\" (RFC 6901: "
                   "~ is ~0, / is ~1)")
    absent(t, cid, "after the refused PUT")


def test_numbers_growing_the_document_past_64_kib_422(t):
    """Each 1e-250 (6 bytes) prints as 252 bytes ("0." and 250 digits): it grows by 246. The
    bound of 65,536 bytes of growth is first passed by the 267th number, index 266."""
    grow = len("0." + "0" * 249 + "1") - len("1e-250")
    t.eq(grow, 246, "test setup: growth of one 1e-250")
    first_over = next(i for i in range(300) if (i + 1) * grow > 65536)
    t.eq(first_over, 266, "test setup: index where the growth passes 65,536")
    cid = t.uid("num")
    r = put_raw(t, cid, b'{"x": [' + b", ".join([b"1e-250"] * 300) + b"]}")
    expect_pointer(t, r, "/attributes/x/266", "300 numbers 1e-250 (growth 73,800 bytes)")
    absent(t, cid, "after the refused PUT")
    # 266 of them grow the document by 65,436 bytes: accepted and read back in full
    r = put_raw(t, cid, b'{"x": [' + b", ".join([b"1e-250"] * 266) + b"]}")
    t.check(r.status == 201, "266 numbers 1e-250 (growth 65,436 bytes, under the bound) must "
            "be accepted", r)
    r = t.req("GET", cpath(cid))
    x = literal(t.expect(r, 200).body)["attributes"]["x"]
    t.eq((len(x), x[0]), (266, "0." + "0" * 249 + "1"), "the 266 numbers read back", r)


def test_patch_with_too_long_number_422(t):
    cid = t.uid("num")
    t.expect(t.req("PUT", cpath(cid), {"attributes": {"a": 1}}), 201)
    r = t.req("PATCH", cpath(cid), raw_body=b'{"attributes": {"x": ' + TINY + b"}}",
              ctype="application/merge-patch+json")
    expect_pointer(t, r, "/attributes/x", "PATCH attributes.x = 1e-16383")
    r = t.req("PATCH", cpath(cid), raw_body=b'{"attributes": {"y": [1e300]}}',
              ctype="application/merge-patch+json")
    expect_pointer(t, r, "/attributes/y/0", "PATCH attributes.y = [1e300]")
    r = t.req("GET", cpath(cid))
    t.eq(t.expect_json(r, 200)["attributes"], {"a": 1}, "attributes after the refused PATCHes", r)


def event(cid, amount=b"1"):
    return (b'{"customer_id": "' + cid.encode() + b'", "type": "purchase", '
            b'"occurred_at": "2026-01-01T00:00:00Z", "amount": ' + amount + b"}")


def test_event_amount_too_long_422(t):
    cid = t.uid("numev")
    r = t.req("POST", "/v1/events", raw_body=event(cid, TINY), ctype="application/json")
    expect_pointer(t, r, "/amount", "POST /v1/events with amount 1e-16383")
    r = t.req("POST", "/v1/events", raw_body=b"[" + b", ".join(
        [event(cid), event(cid), event(cid, TINY)]) + b"]", ctype="application/json")
    expect_pointer(t, r, "/2/amount", "POST /v1/events, an array whose third amount is 1e-16383")
    r = t.req("POST", "/v1/events", raw_body=event(cid, b"1e300"), ctype="application/json")
    expect_pointer(t, r, "/amount", "POST /v1/events with amount 1e300")
    absent(t, cid, "after refused event posts (an accepted event creates its customer)")


def check_counts(t, r, want, what, line=3):
    d = t.expect_json(r, 200)
    got = {k: d.get(k) for k in want}
    t.eq(got, want, what, r)
    lines = t.lines(d)
    t.eq(lines, [line], "%s: the rejected line numbers" % what, r)
    return d


def test_customers_import_rejects_only_the_line_with_a_too_long_number(t):
    p = t.uid("numimp")
    lines = []
    for i in range(1, 6):
        num = TINY if i == 3 else b"%d" % i
        lines.append(b'{"id": "%s-%d", "attributes": {"x": %s}}' % (p.encode(), i, num))
    r = t.req("POST", "/v1/customers:import", raw_body=b"\n".join(lines) + b"\n",
              ctype="application/x-ndjson")
    check_counts(t, r, {"received": 5, "inserted": 4, "rejected": 1},
                 "an NDJSON import whose line 3 has 1e-16383 must go on with the others")
    for i in (1, 2, 4, 5):
        c = t.expect_json(t.req("GET", cpath("%s-%d" % (p, i))), 200)
        t.eq(c["attributes"], {"x": i}, "customer of import line %d" % i)
    absent(t, p + "-3", "the rejected import line")


def test_events_import_rejects_only_the_line_with_a_too_long_number(t):
    p = t.uid("numevimp")
    lines = [event("%s-%d" % (p, i), TINY if i == 3 else b"%d.5" % i) for i in range(1, 6)]
    r = t.req("POST", "/v1/events:import", raw_body=b"\n".join(lines) + b"\n",
              ctype="application/x-ndjson")
    check_counts(t, r, {"received": 5, "accepted": 4, "rejected": 1},
                 "an events import whose line 3 has amount 1e-16383 must go on with the others")
    for i in (1, 2, 4, 5):
        c = t.expect_json(t.req("GET", cpath("%s-%d" % (p, i))), 200)
        t.eq(c["metrics"].get("orders"), 1, "orders of the customer of import line %d" % i)
    absent(t, p + "-3", "the customer of the rejected event line")


def test_csv_import_rejects_only_the_row_with_a_too_long_number(t):
    score = t.attr_name("score")
    t.expect(t.req("PUT", "/v1/attributes/" + score, {"type": "number", "category": "other"}),
             201)
    p = t.uid("numcsv")
    csv = ("id,%s\n%s-1,1.5\n%s-2,%s\n%s-3,2\n%s-4,3\n"
           % (score, p, p, TINY.decode(), p, p)).encode()
    r = t.req("POST", "/v1/customers:import", raw_body=csv, ctype="text/csv")
    check_counts(t, r, {"received": 4, "inserted": 3, "rejected": 1},
                 "a CSV import whose record 3 has the number cell 1e-16383")
    for i, v in ((1, "1.5"), (3, "2"), (4, "3")):
        r = t.req("GET", cpath("%s-%d" % (p, i)))
        t.eq(literal(t.expect(r, 200).body)["attributes"], {score: v},
             "customer of CSV record %d" % (i + 1), r)
    absent(t, p + "-2", "the rejected CSV record")


def psql(t, sql):
    """Runs SQL on the test database (inside pg_virtualenv); skips the test without psql."""
    import shutil
    import subprocess
    exe = shutil.which("psql")
    if not exe:
        raise t.Skip("psql not found")
    p = subprocess.run([exe, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    t.check(p.returncode == 0, "psql failed: %s" % p.stderr.decode()[-500:])


REFUSE = """
CREATE OR REPLACE FUNCTION seg_test_refuse_c() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.attributes ? 'db_refuses_this' THEN
        RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22003';
    END IF;
    RETURN NEW;
END $$;
CREATE OR REPLACE FUNCTION seg_test_refuse_e() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.properties ? 'db_refuses_this' THEN
        RAISE EXCEPTION 'refused for the test' USING ERRCODE = '22003';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER seg_test_refuse_c BEFORE INSERT OR UPDATE ON customers
    FOR EACH ROW EXECUTE FUNCTION seg_test_refuse_c();
CREATE TRIGGER seg_test_refuse_e BEFORE INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION seg_test_refuse_e();
"""
UNREFUSE = """
DROP TRIGGER IF EXISTS seg_test_refuse_c ON customers;
DROP TRIGGER IF EXISTS seg_test_refuse_e ON events;
DROP FUNCTION IF EXISTS seg_test_refuse_c();
DROP FUNCTION IF EXISTS seg_test_refuse_e();
"""


def test_a_line_the_database_refuses_is_rejected_alone(t):
    """A value that passes every check in C but that PostgreSQL refuses (simulated by a trigger
    raising SQLSTATE 22003 for one line) makes the import store its batch line by line: that
    line is rejected with its number, the others are stored, new and existing customers alike."""
    p = t.uid("dbref")
    psql(t, REFUSE)
    try:
        # new customers (the COPY fast path), then the same ids again (the upsert path)
        for round_, want in ((1, "inserted"), (2, "updated")):
            lines = [b'{"id": "%s-%d", "attributes": {"%s": %d}}'
                     % (p.encode(), i, b"db_refuses_this" if i == 3 else b"x", i)
                     for i in range(1, 6)]
            r = t.req("POST", "/v1/customers:import", raw_body=b"\n".join(lines) + b"\n",
                      ctype="application/x-ndjson")
            check_counts(t, r, {"received": 5, want: 4, "rejected": 1},
                         "round %d: the import goes on around the refused line" % round_)
        for i in (1, 2, 4, 5):
            c = t.expect_json(t.req("GET", cpath("%s-%d" % (p, i))), 200)
            t.eq(c["attributes"], {"x": i}, "customer of import line %d" % i)
        absent(t, p + "-3", "the refused import line")
        # events
        lines = [b'{"customer_id": "%s-e%d", "type": "purchase", '
                 b'"occurred_at": "2026-01-01T00:00:00Z", "amount": 1, "properties": {"%s": 1}}'
                 % (p.encode(), i, b"db_refuses_this" if i == 2 else b"x") for i in range(1, 5)]
        r = t.req("POST", "/v1/events:import", raw_body=b"\n".join(lines) + b"\n",
                  ctype="application/x-ndjson")
        check_counts(t, r, {"received": 4, "accepted": 3, "rejected": 1},
                     "the events import goes on around the refused line", line=2)
    finally:
        psql(t, UNREFUSE)
