"""What the analytics reference tests share: running a driver, TAP lines.

A driver reads its input on stdin and prints one JSON document; see README.md.
"""
import json
import os
import subprocess
import sys

_counts = {"ok": 0, "fail": 0}


def build_dir():
    """The build directory given as the first argument (default: build)."""
    return sys.argv[1] if len(sys.argv) > 1 else "build"


def driver(name, args, stdin=b""):
    """Runs build/tests/analytics_NAME with ARGS and STDIN; returns its JSON output."""
    exe = os.path.join(build_dir(), "tests", "analytics_" + name)
    out = subprocess.run([exe] + [str(a) for a in args], input=stdin,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    if out.returncode != 0:
        raise RuntimeError("%s %s: exit %d: %s" % (exe, args, out.returncode,
                                                  out.stderr.decode(errors="replace")[-2000:]))
    return json.loads(out.stdout)


def check(name, cond, detail=""):
    """One TAP line; DETAIL is printed as a comment when the check fails."""
    if cond:
        _counts["ok"] += 1
        print("ok - %s" % name)
    else:
        _counts["fail"] += 1
        print("not ok - %s" % name)
        for line in str(detail).splitlines():
            print("# %s" % line)
    sys.stdout.flush()


def done():
    """Exit status: 1 when a check failed."""
    sys.exit(1 if _counts["fail"] else 0)
