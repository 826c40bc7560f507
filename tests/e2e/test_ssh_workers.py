"""End to end: the engine runs nodes on an ssh worker, a real OpenSSH sshd on
127.0.0.1 (lib.Sshd) logged into as the test user, added with `hypotop
worker add`. The quickstart there gives what it gives here; a remote job
is paused, resumed and cancelled; sshd is killed under running jobs and
comes back; a job killed on the worker is lost and queued again; the
engine is SIGKILLed and re-attaches; host keys, a wrong key and an
unwritable workspace are refused with their reasons; a remote log's
escapes reach the local log byte for byte and the screen harmlessly.

The gated project's runs append "NODE PID PGID" to a ledger on the worker
when they start, then wait until the test writes gate-NODE (or gate, for
every node), whose text is the exit code."""

import glob
import json
import os
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

GATED = r'''import os, sys, time
g, node = %r, os.environ["HYPOTOP_NODE"]
with open(os.path.join(g, "ledger"), "a") as f:
    f.write("%%s %%d %%d\n" %% (node, os.getpid(), os.getpgrp()))
print("started " + node, flush=True)
mine, every = os.path.join(g, "gate-" + node), os.path.join(g, "gate")
while not os.path.exists(mine) and not os.path.exists(every):
    time.sleep(0.05)
with open(mine if os.path.exists(mine) else every) as f:
    code = int(f.read().strip() or 0)
print("val_loss=%%d.5" %% code, flush=True)
sys.exit(code)
'''


def add_box(wd, sshd, ws, *extra, key=None, known_hosts=None):
    """`hypotop worker add` of the harness's sshd as the worker "box"."""
    rc, out, err = hypotop("worker", "add", wd, "box", "--host", "127.0.0.1",
                           "--port", str(sshd.port), "--user", sshd.user,
                           "--key", key or sshd.key,
                           "--known-hosts", known_hosts or sshd.known_hosts,
                           "--workspace", ws, *extra)
    check(rc == 0, "worker add: %s%s" % (out, err))
    return out


def only_box(wd, sshd, ws, *extra, **kw):
    add_box(wd, sshd, ws, *extra, **kw)
    rc, out, err = hypotop("worker", "disable", wd, "local")
    check(rc == 0, "worker disable local: %s" % err)


def tree(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return json.load(f)


def nodes_of(wd):
    return {n["id"]: n for n in tree(wd)["nodes"]}


def job_of(wd, node):
    with open(os.path.join(wd, "runs", node, "job.json")) as f:
        return json.load(f)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def workers_json(wd):
    rc, out, err = hypotop("workers", wd, "--json")
    check(rc == 0, "workers --json: %s" % err)
    return json.loads(out)


def box_of(wd):
    return {w["name"]: w for w in workers_json(wd)["workers"]}["box"]


def box_down(wd):
    """box as `hypotop workers --json` says it, once down with a reason."""
    b = box_of(wd)
    return b if b["state"] == "down" and b["reason"] else None


def headless(wd, timeout=300):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=timeout)
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stderr


def remote_runs(ws):
    """Every run folder the worker made, a launch each."""
    return glob.glob(os.path.join(ws, "runs", "*", "*", "launched"))


def starts(log):
    """How often the quickstart started in a log: its first line, once a start."""
    return read_bytes(log).count(b"total_steps=")


def tree_hashes(src):
    """Each hypotop/ branch with the tree of its commit: the code, whoever committed it."""
    out = lib.sh("git", "for-each-ref", "--format=%(refname:short) %(objectname)",
                 "refs/heads/hypotop/", cwd=src).stdout.split()
    return {b: lib.sh("git", "rev-parse", c + "^{tree}", cwd=src).stdout.strip()
            for b, c in zip(out[::2], out[1::2])}


def outcome(n):
    return (n["name"], n["parent"], json.dumps(n["change"], sort_keys=True), n["status"],
            n["metric"])


@lib.test
def the_quickstart_on_an_ssh_worker_gives_what_it_gives_here():
    # Here alone, then on box alone: the same nodes, code, metrics and best.
    here_src, here_wd = lib.quickstart(lib.tmpdir(), "--max-iterations", "1")
    headless(here_wd)
    here = nodes_of(here_wd)

    d = lib.tmpdir()
    src, wd = lib.quickstart(d, "--max-iterations", "1")
    with lib.Sshd() as sshd:
        ws = sshd.folder("ws")
        only_box(wd, sshd, ws, "--slots", "2")
        e = lib.Engine(d, wd)
        try:
            # Up, with the fake nvidia-smi's readings, while it works.
            def up():
                w = workers_json(wd)
                b = {x["name"]: x for x in w["workers"]}["box"]
                return b if w["engine"]["running"] and b["state"] in ("up", "busy") \
                    and b["gpus"] else None
            b = lib.wait_for(up, "box up with its GPUs in workers --json (%s)"
                             % e.said()[-1500:], timeout=60)
            check(b["gpus"] == [
                {"index": 0, "util": 35, "mem_used": 1024, "mem_total": 81920, "temp": 45},
                {"index": 1, "util": 0, "mem_used": 0, "mem_total": 81920, "temp": 30}],
                "gpus: %s" % b["gpus"])
            check(b["kind"] == "ssh" and b["port"] == sshd.port and b["user"] == sshd.user,
                  "box: %s" % b)
            check(e.p.wait(timeout=300) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            e.stop()
        there = nodes_of(wd)
        check({i: outcome(n) for i, n in there.items()} == {i: outcome(n) for i, n in here.items()},
              "here and on box differ:\n%s\n%s" % (
                  sorted((i, outcome(n)) for i, n in here.items()),
                  sorted((i, outcome(n)) for i, n in there.items())))
        check(tree(wd)["state"]["best"] == tree(here_wd)["state"]["best"], "best differs")
        check(tree_hashes(src) == tree_hashes(here_src), "branches differ:\n%s\n%s"
              % (tree_hashes(here_src), tree_hashes(src)))
        check(len(remote_runs(ws)) == len(there), "%d launches for %d nodes: %s"
              % (len(remote_runs(ws)), len(there), remote_runs(ws)))
        for i, n in there.items():
            job = job_of(wd, i)
            check(job["worker"] == "box" and n["worker"] == "box", "%s ran on %s" % (i, job))
            log = os.path.join(wd, "runs", i, "log")
            # The mirror is the worker's log, byte for byte.
            check(read_bytes(log) == read_bytes(os.path.join(job["remote"], "log")),
                  "%s: the local log is not the worker's" % i)
            text = read_bytes(log).decode()
            check(starts(log) == 1 and "step=1500 loss=" in text
                  and "val_loss=%.6f" % n["metric"] in text, "%s: log:\n%s" % (i, text))
            check(os.path.exists(os.path.join(wd, "runs", i, "metrics.json")),
                  "%s: no metrics.json" % i)

        # Here and box together: both take jobs; none runs twice.
        d = lib.tmpdir()
        src, wd = lib.quickstart(d, "--max-iterations", "2")
        ws = sshd.folder("ws2")
        add_box(wd, sshd, ws, "--slots", "2")
        headless(wd)
        both = nodes_of(wd)
        where = {i: job_of(wd, i)["worker"] for i in both}
        check(set(where.values()) == {"local", "box"}, "workers used: %s" % where)
        check(all(n["status"] == "completed" for n in both.values()),
              "not all completed: %s" % {i: n["status"] for i, n in both.items()})
        for i in both:
            check(starts(os.path.join(wd, "runs", i, "log")) == 1, "%s started twice" % i)
        on_box = [i for i in both if where[i] == "box"]
        check(len(remote_runs(ws)) == len(on_box), "%d launches on box for %s"
              % (len(remote_runs(ws)), on_box))


lib.finish()
