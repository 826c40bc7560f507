"""rss_flat.py: the engine's memory while one job prints a very long log
(SPEC §8, issue: RSS flat within 1 MB over 10^7 lines).

The real engine (`hypotop run --headless`, health rules and pruning on)
runs one job that prints BENCH_RSS_LINES (10 000 000) metric lines,
`step=N loss=X grad_norm=Y`, as fast as it can. The engine's resident
set is read from /proc every 0.2 s; it prints the RSS once the first
tenth of the lines is in (the ring buffers and reservoirs are full by
then), the peak after, and their difference. Never fails on a figure."""

import json
import os
import subprocess
import sys
import tempfile
import time

from slots import ROOT, git

SCRIPT = r'''import sys
n = int(sys.argv[1])
w = sys.stdout.write
for i in range(n):
    w("step=%d loss=%.6f grad_norm=%.3f\n" % (i, 1.0 / (1 + i * 1e-5), 1 + (i % 7) * 0.1))
print("val_loss=%.6f" % (1.0 / (1 + n * 1e-5)))
'''


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def main():
    lines = int(os.environ.get("BENCH_RSS_LINES", "10000000"))
    binary = os.path.join(ROOT, "hypotop")
    with tempfile.TemporaryDirectory(prefix="hypotop-bench-rss.") as d:
        src = os.path.join(d, "src")
        os.makedirs(src)
        with open(os.path.join(src, "train.py"), "w") as f:
            f.write(SCRIPT)
        git("init", "-q", cwd=src)
        git("add", ".", cwd=src)
        git("commit", "-qm", "long log", cwd=src)
        cfg = {"source_dir": src, "launch": "python3 train.py %d" % lines, "metric": "val_loss",
               "max_iterations": 0, "stall_seconds": 600,
               "health": {"phase1_steps": lines}, "prune": {"series": "loss"}}
        path = os.path.join(d, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        wd = os.path.join(d, "workdir")
        r = subprocess.run([binary, "init", wd, "--config", path], capture_output=True, text=True)
        if r.returncode:
            print("rss: init failed: %s" % r.stderr.strip())
            return 0
        log = os.path.join(wd, "runs", "n0000", "log")
        expect = lines * 30  # bytes, about
        p = subprocess.Popen([binary, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        first, peak, t0 = None, 0, time.monotonic()
        while p.poll() is None:
            rss = rss_kib(p.pid)
            size = os.path.getsize(log) if os.path.exists(log) else 0
            if rss:
                if first is None and size >= expect // 10:
                    first = rss
                if first is not None:
                    peak = max(peak, rss)
            time.sleep(0.2)
        err = p.stderr.read()
        if first is None:
            print("rss: the job's log never reached a tenth of its lines: %s" % err[-300:])
            return 0
        print("rss: one job printing %d lines in %.0f s: engine RSS %.1f MB after the first "
              "tenth, peak %.1f MB after, growth %+.2f MB (target within 1 MB)"
              % (lines, time.monotonic() - t0, first / 1024, peak / 1024, (peak - first) / 1024))
    return 0


if __name__ == "__main__":
    sys.exit(main())
