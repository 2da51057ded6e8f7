"""The CSV export of a segment's members streams: a 300,000-member export (about 80 MB) read by
a slow client raises the daemon's peak memory by a small fraction of its size."""
import http.client
import json
import os
import time

# AddressSanitizer keeps freed memory in quarantine: peak memory says nothing there
SANITIZED = os.environ.get("SEGMENTD_SANITIZED") == "1"


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def test_members_csv_memory_stays_flat(t):
    tenant_key = t.new_tenant()[1]
    n = 300000
    pad = "x" * 200
    for start in range(0, n, 50000):
        lines = "".join(json.dumps({"id": "e%07d" % i, "attributes": {"pad": pad}}) + "\n"
                        for i in range(start, start + 50000))
        r = t.req("POST", "/v1/customers:import", raw_body=lines,
                  ctype="application/x-ndjson", key=tenant_key, timeout=300)
        t.expect_json(r, 200)
    s = t.expect_json(t.req("POST", "/v1/segments", {"name": "everyone", "type": "static"},
                            key=tenant_key), 201)
    for start in range(0, n, 10000):
        ids = ["e%07d" % i for i in range(start, start + 10000)]
        r = t.req("POST", "/v1/segments/%s/members" % s["id"], {"customer_ids": ids},
                  key=tenant_key, timeout=120)
        t.eq(t.expect_json(r, 200)["added"], 10000, "added")

    small = t.expect_json(t.req("POST", "/v1/segments", {"name": "some", "type": "static"},
                                key=tenant_key), 201)
    for start in range(0, 60000, 10000):
        ids = ["e%07d" % i for i in range(start, start + 10000)]
        t.expect_json(t.req("POST", "/v1/segments/%s/members" % small["id"],
                            {"customer_ids": ids}, key=tenant_key, timeout=120), 200)

    # Two request workers, so that both exports run on the same threads (each worker's malloc
    # arena keeps about one batch: memory is bounded by workers x batch, not by the export).
    d = t.start_daemon([], "export", env={"SEGMENTD_REQUEST_WORKERS": "2"})
    try:
        t.expect_json(t.req("GET", "/v1/segments/%s" % s["id"], key=tenant_key, daemon=d), 200)
        h0 = vm_hwm_kb(d.proc.pid)
        total1, rows1, _ = export(t, d, tenant_key, small["id"])
        h1 = vm_hwm_kb(d.proc.pid)
        total, rows, tail = export(t, d, tenant_key, s["id"])
        h2 = vm_hwm_kb(d.proc.pid)
        t.eq(rows1, 60000 + 1, "every member of the small one and the header")
        t.eq(rows, n + 1, "every member and the header")
        t.check(b"e%07d" % (n - 1) in tail and tail.endswith(b"\r\n"),
                "ends with the last member", None)
        t.check(total > 60 * 1024 * 1024, "the export is large (%d bytes)" % total, None)
        first, more = (h1 - h0) / 1024.0, (h2 - h1) / 1024.0
        print("# export: %.0f MB then %.0f MB; peak memory +%.1f MB, then +%.1f MB"
              % (total1 / 1048576.0, total / 1048576.0, first, more))
        if SANITIZED:
            return
        t.check(first < 40, "peak memory grew by %.1f MB for a %.0f MB export"
                % (first, total1 / 1048576.0), None)
        t.check(more < 8, "an export five times larger raised the peak by %.1f MB more (%.0f MB)"
                % (more, total / 1048576.0), None)
    finally:
        t.stop_daemon(d)


def export(t, d, key, sid):
    """Reads the CSV export like a slow client at first; returns bytes, lines and the tail."""
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
    c.request("GET", "/v1/segments/%s/members?attributes=pad" % sid,
              headers={"Authorization": "Bearer " + key, "Accept": "text/csv"})
    resp = c.getresponse()
    t.eq(resp.status, 200, "status")
    total, rows, reads, tail = 0, 0, 0, b""
    while True:
        chunk = resp.read(65536)
        if not chunk:
            break
        total += len(chunk)
        rows += chunk.count(b"\n")  # no line breaks inside these fields
        tail = (tail + chunk)[-1000:]
        reads += 1
        if reads <= 300:  # a slow client for the first 20 MB
            time.sleep(0.005)
    c.close()
    return total, rows, tail
