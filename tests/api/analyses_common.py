"""What the API tests of the analysis types share (not a test file: run.py loads test_*.py).

Analyses are created, awaited and read through the API; the reference figures come from
NumPy, SciPy and scikit-learn in Debian's /usr/bin/python3 (the python3 running the tests may
not have them), fed the test's data as JSON on stdin by a script of the test's own.
"""
import json
import os
import subprocess
import time
import urllib.parse

NUMPY_PY = "/usr/bin/python3"


def q(s):
    return urllib.parse.quote(s, safe="")


def reference(t, script, data, timeout=120):
    """Runs script (Python source) under NUMPY_PY with data as JSON on stdin; returns its JSON
    output. Skips the test where that interpreter or one of its modules is missing."""
    if not os.path.exists(NUMPY_PY):
        raise t.Skip("no %s with NumPy for the reference computation" % NUMPY_PY)
    p = subprocess.run([NUMPY_PY, "-c", script], input=json.dumps(data).encode(),
                       capture_output=True, timeout=timeout)
    if p.returncode != 0 and b"No module named" in p.stderr:
        raise t.Skip("NumPy/SciPy/scikit-learn missing: " + p.stderr.decode()[-200:])
    if p.returncode != 0:
        raise AssertionError("the reference failed: " + p.stderr.decode()[-2000:])
    return json.loads(p.stdout)


def create(t, key, typ, params, status=202, daemon=None):
    """POST /v1/analyses; returns (the analysis, the response)."""
    r = t.req("POST", "/v1/analyses", {"type": typ, "params": params}, key=key, daemon=daemon)
    return t.expect_json(r, status), r


def wait(t, key, aid, timeout=120, daemon=None, job=False):
    """The analysis once its run ended (with job: once its job did too, so that whatever the
    job does after the run's commit is over)."""
    deadline = time.time() + timeout
    a = None
    while time.time() < deadline:
        a = t.expect_json(t.req("GET", "/v1/analyses/" + aid, key=key, daemon=daemon), 200)
        if a["status"] in ("succeeded", "failed", "cancelled"):
            if not job or not a.get("job_id"):
                return a
            j = t.expect_json(t.req("GET", "/v1/jobs/" + a["job_id"], key=key,
                                    daemon=daemon), 200)
            if j["status"] in ("succeeded", "failed", "cancelled"):
                return a
        time.sleep(0.05)
    t.fail("analysis %s did not finish within %ds: %s" % (aid, timeout, a))


def run(t, key, typ, params, daemon=None, job=False):
    a, _ = create(t, key, typ, params, daemon=daemon)
    return wait(t, key, a["id"], daemon=daemon, job=job)


def paged(t, key, path, daemon=None):
    """Every item of a paged list."""
    items, cursor = [], None
    while True:
        sep = "&" if "?" in path else "?"
        page = t.expect_json(t.req("GET", path + sep + "limit=500" + (
            "&cursor=" + q(cursor) if cursor else ""), key=key, daemon=daemon), 200)
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def all_customers(t, key, aid):
    """Each customer's own result of analysis aid."""
    return paged(t, key, "/v1/analyses/%s/customers" % aid)


def register(t, key, name, typ="number"):
    t.expect(t.req("PUT", "/v1/attributes/" + q(name), {"type": typ, "category": "other"},
                   key=key), 201, 200)


def import_customers(t, key, docs):
    body = "".join(json.dumps(d) + "\n" for d in docs)
    r = t.req("POST", "/v1/customers:import", raw_body=body, ctype="application/x-ndjson",
              key=key, timeout=300)
    t.eq(t.expect_json(r, 200)["rejected"], 0, "customers rejected", r)


def maxdiff(got, want):
    """The largest |got - want| over nested lists (None only where the other is None)."""
    if isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            return float("inf")
        return max([maxdiff(g, w) for g, w in zip(got, want)] or [0.0])
    if want is None or got is None:
        return 0.0 if want is None and got is None else float("inf")
    return abs(float(got) - float(want))
