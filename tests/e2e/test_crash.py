"""The workdir survives SIGKILL at any instant: a process applying thousands
of queue operations is killed at random moments (60 times, through journal
appends, group commits and checkpoints); after each kill the real binary
loads the workdir, and every operation acknowledged before the kill is
there, exactly once."""

import os
import random
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

WRITER = os.path.join(lib.ROOT, "build", "tools", "crash_writer")
KILLS = 60


def run_until_killed(wd, first_k, seed, delay):
    """Start the writer, SIGKILL it after `delay` seconds, return its acks."""
    p = subprocess.Popen([WRITER, wd, str(first_k), str(seed), "97"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acks = []

    def read():
        for line in p.stdout:
            if line.endswith("\n"):  # a line cut by the kill was never acknowledged
                acks.append(line.split())

    t = threading.Thread(target=read)
    t.start()
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGKILL)
    p.wait()
    t.join()
    err = p.stderr.read()
    check(p.returncode == -signal.SIGKILL, "writer ended by itself (%s): %s" % (p.returncode, err))
    return acks


@lib.test
def acknowledged_operations_survive_sigkill():
    check(os.access(WRITER, os.X_OK), "%s not built (make check builds it)" % WRITER)
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    rng = random.Random(20261123)
    added, prio, paused = set(), {}, set()
    next_k, total_acks, torn_seen = 0, 0, 0
    for kill in range(KILLS):
        acks = run_until_killed(wd, next_k, kill, rng.uniform(0.005, 0.25))
        for a in acks:
            if a[0] == "add":
                added.add(a[1])
            elif a[0] == "prio":
                prio[a[1]] = int(a[2])
            elif a[0] == "pause":
                paused.add(a[1])
        total_acks += len(acks)
        # Operations the writer made but never acknowledged may exist, so the
        # next run starts its names far beyond anything used so far.
        next_k += 100000
        rc, out, err = lib.hypotop("status", wd, "--json")
        check(rc == 0, "kill %d: workdir does not load: %s" % (kill, err))
        torn_seen += "torn" in err
        import json
        s = json.loads(out)
        names = [q["name"] for q in s["queue"]]
        check(len(names) == len(set(names)), "kill %d: a node exists twice" % kill)
        check(s["total"] == len(names) + s["counts"]["cancelled"] + s["counts"]["completed"]
              + s["counts"]["failed"], "kill %d: nodes outside the queue" % kill)
        by_name = {q["name"]: q for q in s["queue"]}
        missing = added - set(by_name)
        check(not missing, "kill %d: acknowledged adds lost: %s" % (kill, sorted(missing)[:5]))
        for name, p in prio.items():
            check(by_name[name]["priority"] == p, "kill %d: %s priority %s, acknowledged %d"
                  % (kill, name, by_name[name]["priority"], p))
        for name in paused:
            check(by_name[name]["status"] == "paused", "kill %d: %s not paused" % (kill, name))
    check(total_acks > 1000, "too few operations acknowledged (%d) to mean much" % total_acks)
    print("# %d kills, %d acknowledged operations, %d nodes, %d torn tails seen"
          % (KILLS, total_acks, len(added), torn_seen))


lib.finish()
