"""The membership machinery at the database level (tests/db/members.c, built as
BUILD/tests/db_members): the definitions lock and the membership step as every write path uses
them, deleted customers leaving static segments, staged sources, the full refresh (diff, history
point, size), and timings (a step with 100 dynamic segments, a refresh beside hand-written SQL).
Its TAP lines become one test here; its timings are printed as comments."""
import os
import subprocess


def test_members_db_level(t):
    binary = os.path.join(os.path.dirname(t.binary), "tests", "db_members")
    if not os.path.exists(binary):
        raise t.Skip("%s not built" % binary)
    p = subprocess.run([binary, os.environ.get("SEGMENTD_TEST_REFRESH_CUSTOMERS", "20000")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=t.env, timeout=600)
    out = p.stdout.decode("utf-8", "replace")
    for line in out.splitlines():
        if line.startswith("#"):
            print(line, flush=True)
    failed = [l for l in out.splitlines() if l.startswith("not ok")]
    t.check(p.returncode == 0 and not failed and "1.." in out,
            "db_members exited %d:\n%s\n%s" % (p.returncode, "\n".join(failed) or out[-3000:],
                                               p.stderr.decode("utf-8", "replace")[-2000:]))
