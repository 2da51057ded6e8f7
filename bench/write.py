#!/usr/bin/env python3
"""bench/write.py BASE KEY N LABEL: N sequential PATCHes of random customers over one keep-alive
connection; prints LABEL p50 p99 (ms). Used by bench/write.sh."""
import http.client, json, random, sys, time, urllib.parse

base, key, n, label = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
u = urllib.parse.urlparse(base)
conn = http.client.HTTPConnection(u.hostname, u.port)
hdr = {"Authorization": "Bearer " + key, "Content-Type": "application/json"}
random.seed(7)
lat = []
for i in range(n):
    cid = "c-%d" % random.randint(1, 10000)
    body = json.dumps({"attributes": {"age": random.randint(18, 90), "plan": random.choice(["free", "pro", "team"])}})
    t0 = time.perf_counter()
    conn.request("PATCH", "/v1/customers/" + cid, body, hdr)
    r = conn.getresponse()
    r.read()
    t1 = time.perf_counter()
    if r.status != 200:
        sys.exit("PATCH %s: %d" % (cid, r.status))
    lat.append((t1 - t0) * 1000)
lat.sort()
print("%s %.3f %.3f" % (label, lat[len(lat) // 2], lat[int(len(lat) * 0.99)]))
