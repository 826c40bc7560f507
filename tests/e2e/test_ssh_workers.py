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


def remote_runs(ws):
    """Every run folder the worker made, a launch each."""
    return glob.glob(os.path.join(ws, "runs", "*", "*", "launched"))


def starts(log):
    """How often the quickstart started in a log: its first line, once a start."""
    return lib.read_bytes(log).count(b"total_steps=")


def tree_hashes(src):
    """Each hypotop/ branch with the tree of its commit: the code, whoever committed it."""
    out = lib.sh("git", "for-each-ref", "--format=%(refname:short) %(objectname)",
                 "refs/heads/hypotop/", cwd=src).stdout.split()
    return {b: lib.sh("git", "rev-parse", c + "^{tree}", cwd=src).stdout.strip()
            for b, c in zip(out[::2], out[1::2])}


def gated(d, sshd, slots=1, ws=None, train=GATED, launch="python3 train.py", **box):
    """A workdir of the gated project whose only worker is box (add_box's
    key and known_hosts in box): (wd, g, ws)."""
    g = sshd.folder("g")
    src = lib.make_repo(d, files={"train.py": train % g, "hparams.json": '{"lr": 0.5}\n'})
    wd = lib.init_config(d, {"source_dir": src, "launch": launch,
                             "metric": "val_loss", "goal": "min", "max_iterations": 1,
                             "patience": 0, "max_concurrency": 1, "seed": 0,
                             "search_space": {"file": "hparams.json",
                                              "params": {"lr": {"uniform": [0.01, 1.0]}}}})
    ws = ws or sshd.folder("ws")
    only_box(wd, sshd, ws, "--slots", str(slots), *box.pop("extra", ()), **box)
    return wd, g, ws


def gate(g, node, code):
    """Let node's run end with code (node None: every run)."""
    path = os.path.join(g, "gate" if node is None else "gate-" + node)
    with open(path + ".partial", "w") as f:
        f.write("%d\n" % code)
    os.chmod(path + ".partial", 0o644)
    os.rename(path + ".partial", path)


def ledger(g):
    """[(node, pid, pgid)] of every start on the worker, in order."""
    try:
        with open(os.path.join(g, "ledger")) as f:
            return [(w[0], int(w[1]), int(w[2])) for w in map(str.split, f) if len(w) == 3]
    except FileNotFoundError:
        return []


def started(g, n, e):
    """The first n starts of the ledger, once there are n."""
    return lib.wait_for(lambda: ledger(g)[:n] if len(ledger(g)) >= n else None,
                        "%d starts on the worker (%s; %s)" % (n, ledger(g), e.said()[-1500:]),
                        timeout=90)[:n]


def group(sshd, pgid):
    """[(pid, stat, args)] of the test user's processes in process group pgid."""
    r = lib.sh("ps", "-o", "pid=,pgid=,stat=,args=", "-u", sshd.user, check_rc=False)
    rows = [ln.split(None, 3) for ln in r.stdout.splitlines()]
    return [(int(w[0]), w[2], w[3] if len(w) > 3 else "") for w in rows
            if len(w) >= 3 and int(w[1]) == pgid]


def round_running(d, sshd):
    """The gated project on box with 2 slots, the baseline let through, once
    two nodes of the round it plans run there: (wd, g, ws, engine, [nodes])."""
    wd, g, ws = gated(d, sshd, slots=2)
    gate(g, "n0000", 0)
    e = lib.Engine(d, wd)
    try:
        return wd, g, ws, e, [x[0] for x in started(g, 3, e)[1:]]
    except lib.Fail:
        gate(g, None, 0)
        e.stop()
        raise


def started_once(wd, g, ws):
    """Every node started once on the worker, from one launch each."""
    starts = sorted(x[0] for x in ledger(g))
    nodes = sorted(lib.tree_nodes(wd))
    check(starts == nodes, "starts %s, nodes %s" % (starts, nodes))
    check(len(remote_runs(ws)) == len(nodes), "launches: %s" % remote_runs(ws))


def running(wd):
    """The nodes status --json says run (not those prepared ahead)."""
    return sorted(r["id"] for r in lib.status_json(wd)["running"] if r["status"] == "running")


def stopped(rows):
    return bool(rows) and all(r[1].startswith("T") for r in rows)


@lib.test
def the_quickstart_on_an_ssh_worker_gives_what_it_gives_here():
    # Here alone, then on box alone: the same nodes, code, metrics and best.
    here_src, here_wd = lib.quickstart(lib.tmpdir(), "--max-iterations", "1")
    lib.run_engine(here_wd)
    here = lib.tree_nodes(here_wd)

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
        there = lib.tree_nodes(wd)
        check({i: lib.outcome(n) for i, n in there.items()} == {i: lib.outcome(n) for i, n in here.items()},
              "here and on box differ:\n%s\n%s" % (
                  sorted((i, lib.outcome(n)) for i, n in here.items()),
                  sorted((i, lib.outcome(n)) for i, n in there.items())))
        check(lib.tree_json(wd)["state"]["best"] == lib.tree_json(here_wd)["state"]["best"], "best differs")
        check(tree_hashes(src) == tree_hashes(here_src), "branches differ:\n%s\n%s"
              % (tree_hashes(here_src), tree_hashes(src)))
        check(len(remote_runs(ws)) == len(there), "%d launches for %d nodes: %s"
              % (len(remote_runs(ws)), len(there), remote_runs(ws)))
        for i, n in there.items():
            job = lib.job_json(wd, i)
            check(job["worker"] == "box" and n["worker"] == "box", "%s ran on %s" % (i, job))
            log = os.path.join(wd, "runs", i, "log")
            # The mirror is the worker's log, byte for byte.
            check(lib.read_bytes(log) == lib.read_bytes(os.path.join(job["remote"], "log")),
                  "%s: the local log is not the worker's" % i)
            text = lib.read_bytes(log).decode()
            check(starts(log) == 1 and "step=1500 loss=" in text
                  and "val_loss=%.6f" % n["metric"] in text, "%s: log:\n%s" % (i, text))
            check(os.path.exists(os.path.join(wd, "runs", i, "metrics.json")),
                  "%s: no metrics.json" % i)

        # Here and box together: both take jobs; none runs twice.
        d = lib.tmpdir()
        src, wd = lib.quickstart(d, "--max-iterations", "2")
        ws = sshd.folder("ws2")
        add_box(wd, sshd, ws, "--slots", "2")
        lib.run_engine(wd)
        both = lib.tree_nodes(wd)
        where = {i: lib.job_json(wd, i)["worker"] for i in both}
        check(set(where.values()) == {"local", "box"}, "workers used: %s" % where)
        check(all(n["status"] == "completed" for n in both.values()),
              "not all completed: %s" % {i: n["status"] for i, n in both.items()})
        for i in both:
            check(starts(os.path.join(wd, "runs", i, "log")) == 1, "%s started twice" % i)
        on_box = [i for i in both if where[i] == "box"]
        check(len(remote_runs(ws)) == len(on_box), "%d launches on box for %s"
              % (len(remote_runs(ws)), on_box))


@lib.test
def a_remote_job_is_paused_resumed_and_cancelled():
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        wd, g, ws = gated(d, sshd)
        e = lib.Engine(d, wd)
        try:
            [(node, pid, pgid)] = started(g, 1, e)
            check(node == "n0000" and not stopped(group(sshd, pgid)),
                  "the job: %s %s" % (node, group(sshd, pgid)))
            check(any(p == pid and "train.py" in a for p, _, a in group(sshd, pgid)),
                  "the training script not in its group: %s" % group(sshd, pgid))
            rc, out, err = hypotop("pause", wd, "n0000")
            check(rc == 0 and out == "n0000 paused\n", "pause: %d %s%s" % (rc, out, err))
            lib.wait_for(lambda: stopped(group(sshd, pgid)), "the job stopped (T): %s"
                         % group(sshd, pgid), timeout=30)
            rc, out, err = hypotop("resume", wd, "n0000")
            check(rc == 0 and out == "n0000 running\n", "resume: %d %s%s" % (rc, out, err))
            lib.wait_for(lambda: not any(r[1].startswith("T") for r in group(sshd, pgid)),
                         "the job running again: %s" % group(sshd, pgid), timeout=30)
            check(group(sshd, pgid), "the job is gone after resume")
            rc, out, err = hypotop("cancel", wd, "n0000")
            check(rc == 0 and out == "n0000 cancelled\n", "cancel: %d %s%s" % (rc, out, err))
            lib.wait_for(lambda: not group(sshd, pgid), "the job gone: %s" % group(sshd, pgid),
                         timeout=30)
            n = lib.wait_for(lambda: lib.tree_nodes(wd)["n0000"]["status"] == "cancelled"
                             and lib.tree_nodes(wd)["n0000"], "n0000 cancelled in tree.json",
                             timeout=30)
            check(n["failure"]["kind"] == "cancelled", "n0000: %s" % n)
        finally:
            gate(g, None, 0)
            e.stop()
        check([x[0] for x in ledger(g)] == ["n0000"], "starts: %s" % ledger(g))


@lib.test
def sshd_killed_under_running_jobs_loses_none_and_runs_none_twice():
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        wd, g, ws, e, ran = round_running(d, sshd)
        try:
            lib.wait_for(lambda: running(wd)
                         == sorted(ran), "%s running (%s)" % (ran, lib.status_json(wd)["running"]),
                         timeout=30)
            sshd.kill()
            b = lib.wait_for(lambda: box_down(wd), "box down in workers --json (%s)"
                             % e.said()[-1500:], timeout=60)
            check(sorted(j["node"] for j in b["jobs"]) == sorted(ran)
                  and all(j["unknown"] for j in b["jobs"]), "box's jobs: %s" % b["jobs"])
            rc, out, err = hypotop("workers", wd)
            check(rc == 0, "workers: %s" % err)
            row = [ln for ln in out.splitlines() if ln.startswith("box ")]
            check(row and " down " in row[0] and all(n + "?" in row[0] for n in ran)
                  and "  down: " + b["reason"] in out, "workers:\n%s" % out)
            st = lib.status_json(wd)
            check(running(wd) == sorted(ran), "running while box is down: %s" % st["running"])
            # Both end on the worker while it is out of reach; one fails.
            gate(g, ran[0], 0)
            gate(g, ran[1], 3)
            for i in ran:
                code = os.path.join(lib.job_json(wd, i)["remote"], "exit_code")
                lib.wait_for(lambda: os.path.exists(code), "%s to end on the worker" % i,
                             timeout=30)
            check(box_down(wd), "box up while sshd is dead: %s" % box_of(wd))
            check(len(ledger(g)) == 3, "launched while box is down: %s" % ledger(g))
            sshd.start_again()
            gate(g, None, 0)
            check(e.p.wait(timeout=300) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        nodes = lib.tree_nodes(wd)
        check(nodes[ran[0]]["status"] == "completed" and nodes[ran[0]]["metric"] == 0.5,
              "%s: %s" % (ran[0], nodes[ran[0]]))
        # The real exit code, recorded here as the worker recorded it.
        code = lib.read_bytes(os.path.join(wd, "runs", ran[1], "exit_code"))
        check(code == b"3\n", "%s: exit_code %r" % (ran[1], code))
        check(nodes[ran[1]]["status"] == "failed" and nodes[ran[1]]["failure"]["kind"] == "crash",
              "%s: %s" % (ran[1], nodes[ran[1]]))
        started_once(wd, g, ws)


@lib.test
def a_job_killed_on_the_worker_is_lost_and_queued_again_once():
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        wd, g, ws = gated(d, sshd)
        e = lib.Engine(d, wd)
        try:
            [(_, _, pgid)] = started(g, 1, e)
            pid = lib.wait_for(lambda: lib.job_json(wd, "n0000").get("pid"),
                               "the wrapper's pid in job.json", timeout=30)
            # Its wrapper, a session of its own, killed: no exit code is written.
            sshd.ssh("kill -s KILL -- -%d" % pid)
            started(g, 2, e)
            check([x[0] for x in ledger(g)] == ["n0000", "n0001"], "starts: %s" % ledger(g))
            alive = [r for r in group(sshd, pgid) if not r[1].startswith("Z")]
            check(not alive, "n0000's job still runs beside its copy: %s" % alive)
            gate(g, None, 0)
            check(e.p.wait(timeout=300) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        n = lib.tree_nodes(wd)
        check(n["n0000"]["status"] == "failed" and n["n0000"]["failure"]["kind"] == "worker_lost",
              "n0000: %s" % n["n0000"])
        check(n["n0001"].get("retry_of") == "n0000", "n0001: %s" % n["n0001"])
        check("n0000: lost by its worker; queued again as n0001" in e.said(),
              "not said: %s" % e.said()[-1500:])
        nodes = lib.tree_nodes(wd)
        check(all(n["status"] == "completed" for i, n in nodes.items() if i != "n0000"),
              "nodes: %s" % {i: n["status"] for i, n in nodes.items()})
        started_once(wd, g, ws)


@lib.test
def the_engine_killed_under_remote_jobs_re_attaches_them():
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        wd, g, ws, e, ran = round_running(d, sshd)
        try:
            e.p.kill()
            e.p.wait()
            e = lib.Engine(d, wd)
            # Found in job.json (the worker may not be reached yet), then collected.
            for i in ran:
                lib.wait_for(lambda: "%s: re-attached (" % i in e.said(),
                             "%s re-attached (%s)" % (i, e.said()[-1500:]), timeout=60)
            gate(g, None, 0)
            check(e.p.wait(timeout=300) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        nodes = lib.tree_nodes(wd)
        check(all(n["status"] == "completed" for n in nodes.values()),
              "nodes: %s" % {i: n["status"] for i, n in nodes.items()})
        started_once(wd, g, ws)


ESCAPES = r"""import os, sys, time
out = sys.stdout.buffer
out.write(b"total_steps=100\n\x1b]0;PWNED\x07evil title\n\x1b[2J\x1b[31mred\x1b[0m after clear\n")
out.write(b"bad utf8 \xff\xfe\xc3( end\n")
out.flush()
while not os.path.exists(os.path.join(%r, "gate")):
    time.sleep(0.05)
print("val_loss=0.5", flush=True)
"""


def fingerprint(known_hosts):
    """The SHA256 fingerprint of the key of a known_hosts file's line."""
    return lib.sh("ssh-keygen", "-l", "-E", "sha256", "-f", known_hosts).stdout.split()[1]


def box_seen(d, sshd, want, **box):
    """box as workers --json says it once its state is want, the gated
    project on it with an engine that runs meanwhile: (box, workdir)."""
    wd, g, ws = gated(d, sshd, **box)
    gate(g, None, 0)
    e = lib.Engine(d, wd)
    try:
        b = lib.wait_for(lambda: box_of(wd)["state"] == want and box_of(wd),
                         "box %s (%s; %s)" % (want, box_of(wd), e.said()[-1000:]), timeout=60)
        rc, out, err = hypotop("workers", wd)
        check(rc == 0, "workers: %s" % err)
        check(want != "down" or "  down: " + b["reason"] + "\n" in out, "workers:\n%s" % out)
        # The engine says so too, as a warning: the status bar's alert.
        if want == "down":
            lib.wait_for(lambda: "warning: worker box is down: " in e.said(),
                         "the engine saying box is down (%s)" % e.said()[-1000:], timeout=30)
        return b, wd
    finally:
        e.stop()


@lib.test
def host_keys_and_login_keys_are_checked_with_their_reasons():
    with lib.Sshd() as sshd:
        fp = fingerprint(sshd.known_hosts)
        with open(sshd.known_hosts) as f:
            host_line = f.read()
        name = "[127.0.0.1]:%d" % sshd.port
        # Not known: refused, saying what to do.
        d = lib.tmpdir()
        kh = os.path.join(d, "known_hosts")
        open(kh, "w").close()
        b, _ = box_seen(d, sshd, "down", known_hosts=kh)
        check(("host key for %s is not known" % name) in b["reason"] and fp in b["reason"]
              and kh in b["reason"] and "accept_new_host_key" in b["reason"],
              "reason: %s" % b["reason"])
        check(os.path.getsize(kh) == 0, "known_hosts written without accept_new_host_key")
        # accept_new_host_key: recorded, and the worker up.
        box_seen(lib.tmpdir(), sshd, "up", known_hosts=kh, extra=["--accept-new-host-key"])
        with open(kh) as f:
            check(f.read().split() == host_line.split(), "known_hosts: %s" % open(kh).read())
        # Changed: refused even with accept_new_host_key, both fingerprints said.
        d = lib.tmpdir()
        other = os.path.join(d, "other")
        lib.sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other)
        with open(other + ".pub") as f:
            kind, key = f.read().split()[:2]
        kh = os.path.join(d, "known_hosts")
        with open(kh, "w") as f:
            f.write("%s %s %s\n" % (name, kind, key))
        before = lib.read_bytes(kh)
        b, _ = box_seen(d, sshd, "down", known_hosts=kh, extra=["--accept-new-host-key"])
        check(("host key for %s changed" % name) in b["reason"] and fp in b["reason"]
              and fingerprint(kh) in b["reason"], "reason: %s" % b["reason"])
        check(lib.read_bytes(kh) == before, "known_hosts changed")
        # A key the worker does not accept: an authentication error naming it.
        b, _ = box_seen(lib.tmpdir(), sshd, "down", key=other)
        check("authentication refused" in b["reason"] and other in b["reason"]
              and sshd.user in b["reason"], "reason: %s" % b["reason"])


@lib.test
def an_unwritable_workspace_fails_the_job_saying_so():
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        ws = os.path.join(sshd.dir, "not-hers")
        os.makedirs(ws)  # root's: the test user cannot write there
        wd, g, _ = gated(d, sshd, ws=ws)
        gate(g, None, 0)
        lib.run_engine(wd)
        n = lib.tree_nodes(wd)["n0000"]
        check(n["status"] == "failed", "n0000: %s" % n)
        log = lib.read_bytes(os.path.join(wd, "runs", "n0000", "log")).decode()
        check(("worker box cannot run the job: cannot write in the workspace %s: "
               "Permission denied" % ws) in log, "log:\n%s" % log)
        check(not ledger(g), "it ran: %s" % ledger(g))


@lib.test
def a_remote_logs_escapes_reach_the_local_log_whole_and_the_screen_harmless():
    lib.need_tmux()
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        wd, g, ws = gated(d, sshd, train=ESCAPES)
        log = os.path.join(wd, "runs", "n0000", "log")
        t = lib.Tmux(d, "%s %s 2>%s" % (shlex.quote(lib.BIN), shlex.quote(wd),
                                       shlex.quote(os.path.join(d, "ui.err"))))
        try:
            lib.wait_for(lambda: os.path.exists(log) and b"end\n" in lib.read_bytes(log),
                         "the log mirrored", timeout=60)
            t.keys("g")
            t.wait_screen(lambda s: "Log n0000" in s and "evil title" in s
                          and "red after clear" in s and "bad utf8" in s, "n0000's log")
            s = t.screen()
            check("PWNED" not in s and "PWNED" not in t.title(), "the log set the title")
            check("Hypotheses" in s, "the screen was cleared:\n" + s)
            # Bytes that are not UTF-8 are shown as escapes.
            check("bad utf8 \\xff\\xfe\\xc3( end" in s, "invalid UTF-8 shown as: %r"
                  % [ln for ln in s.splitlines() if "bad utf8" in ln])
        finally:
            gate(g, None, 0)
            t.close()
        job = lib.job_json(wd, "n0000")
        remote = os.path.join(job["remote"], "log")
        lib.wait_for(lambda: os.path.exists(os.path.join(job["remote"], "exit_code")),
                     "the job to end", timeout=30)
        mine = lib.read_bytes(log)
        check(b"\x1b]0;PWNED\x07evil title\n\x1b[2J\x1b[31mred\x1b[0m after clear\n"
              b"bad utf8 \xff\xfe\xc3( end\n" in mine, "the local log: %r" % mine)
        check(lib.read_bytes(remote).startswith(mine), "the local log is not the worker's: %r\n%r"
              % (mine, lib.read_bytes(remote)))


lib.finish()
