"""timed.py [--out FILE] [--err FILE] CMD ARG...: run CMD, print one line
"seconds=S max_rss_kib=K rc=N" (K: the largest resident set among the
processes it waited for, the command itself included). stdout and stderr
go to FILE (or /dev/null); never fails on the command's own status."""

import resource
import subprocess
import sys
import time


def main(argv):
    out = err = "/dev/null"
    while argv and argv[0] in ("--out", "--err"):
        if argv[0] == "--out":
            out = argv[1]
        else:
            err = argv[1]
        argv = argv[2:]
    if not argv:
        sys.stderr.write("usage: timed.py [--out FILE] [--err FILE] CMD [ARG...]\n")
        return 2
    with open(out, "wb") as o, open(err, "wb") as e:
        t0 = time.monotonic()
        rc = subprocess.call(argv, stdout=o, stderr=e)
        t = time.monotonic() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print("seconds=%.3f max_rss_kib=%d rc=%d" % (t, rss, rc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
