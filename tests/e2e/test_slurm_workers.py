"""End to end: the engine runs nodes on a slurm worker, a real one-node
Slurm on this machine (lib.Slurm), added with `hypotop worker add --kind
slurm`. The quickstart there gives what it gives here; 20 jobs through 4
slots survive three SIGKILLs of the engine, each run once with its real
exit code; Slurm's own ends (scancel from outside, --time) are failures
with Slurm's state in the reason, a bad partition fails at submit without
marking the worker down; slurmctld stopped and started again under
running jobs makes the worker down, then up with every job re-attached;
a waiting and a running job are paused and resumed.

The gated project's runs append "NODE SLURM_JOB_ID" to a ledger when they
start, then wait until the test writes gate-NODE (or gate, for every
node), whose text is the exit code."""

import json
import os
import pwd
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

GATED = r'''import os, sys, time
g, node = %r, os.environ["HYPOTOP_NODE"]
with open(os.path.join(g, "ledger"), "a") as f:
    f.write("%%s %%s\n" %% (node, os.environ.get("SLURM_JOB_ID", "-")))
print("started " + node, flush=True)
mine, every = os.path.join(g, "gate-" + node), os.path.join(g, "gate")
while not os.path.exists(mine) and not os.path.exists(every):
    time.sleep(0.05)
with open(mine if os.path.exists(mine) else every) as f:
    code = int(f.read().strip() or 0)
print("val_loss=%%d.5" %% code, flush=True)
sys.exit(code)
'''


def cluster():
    """A Slurm of its own, reached by every command of this test (SLURM_CONF)."""
    s = lib.Slurm()
    os.environ.update(s.env())
    return s


def add_cluster(wd, ws, *extra):
    rc, out, err = hypotop("worker", "add", wd, "hpc", "--kind", "slurm", "--workspace", ws,
                           *extra)
    check(rc == 0, "worker add: %s%s" % (out, err))
    rc, out, err = hypotop("worker", "disable", wd, "local")
    check(rc == 0, "worker disable local: %s" % err)


def hpc(wd):
    rc, out, err = hypotop("workers", wd, "--json")
    check(rc == 0, "workers --json: %s" % err)
    return {w["name"]: w for w in json.loads(out)["workers"]}["hpc"]


def gated(d, fixed=0, slots=1, extra=(), job_timeout=None, codes=None):
    """A workdir of the gated project whose only worker is hpc, the
    baseline and `fixed` experiments of its own lr each, no planning:
    (wd, g, ws)."""
    g = os.path.join(d, "g")
    ws = os.path.join(d, "ws")
    os.makedirs(g)
    src = lib.make_repo(d, files={"train.py": GATED % g, "hparams.json": '{"lr": 0.5}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "goal": "min", "max_iterations": 0, "patience": 0, "max_concurrency": 1,
           "seed": 0,
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"uniform": [0.001, 1.0]}}},
           "fixed_experiments": [
               {"name": "lr-%d" % i, "hypothesis": "lr %d" % i,
                "change": {"kind": "params", "params": {"lr": 0.001 * (i + 1)}}}
               for i in range(fixed)]}
    if job_timeout:
        cfg["job_timeout"] = job_timeout
    wd = lib.init_config(d, cfg)
    add_cluster(wd, ws, "--max-jobs", str(slots), *extra)
    return wd, g, ws


def gate(g, node, code):
    """Let node's run end with code (node None: every run)."""
    path = os.path.join(g, "gate" if node is None else "gate-" + node)
    with open(path + ".partial", "w") as f:
        f.write("%d\n" % code)
    os.rename(path + ".partial", path)


def ledger(g):
    """[(node, slurm job id)] of every start, in order."""
    try:
        with open(os.path.join(g, "ledger")) as f:
            return [tuple(w) for w in map(str.split, f) if len(w) == 2]
    except FileNotFoundError:
        return []


def started(g, n, e, timeout=90):
    return lib.wait_for(lambda: ledger(g)[:n] if len(ledger(g)) >= n else None,
                        "%d starts (%s; %s)" % (n, ledger(g), e.said()[-1500:]),
                        timeout=timeout)[:n]


def live(wd):
    """The status of each node the running engine works on, as status --json says it."""
    return {r["id"]: r["status"] for r in lib.status_json(wd)["running"]}


def slurm_job(wd, node):
    """What hpc's slot of node says of its Slurm job, once it says something."""
    for w in json.loads(hypotop("workers", wd, "--json")[1])["workers"]:
        for j in w["jobs"]:
            if j["node"] == node and j.get("slurm"):
                return j["slurm"]
    return None


def stopped_job(s, job, want=True):
    """The processes of a job's batch step all stopped (want) or none (not want)."""
    pids = subprocess.run(["pgrep", "-f", "train.py"], capture_output=True,
                          text=True).stdout.split()
    states = []
    for p in pids:
        try:
            with open("/proc/%s/environ" % p, "rb") as f:
                if ("SLURM_JOB_ID=%s" % job).encode() not in f.read().split(b"\0"):
                    continue
            with open("/proc/%s/stat" % p) as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        except OSError:
            continue
    if want:
        return bool(states) and all(st == "T" for st in states)
    return bool(states) and all(st != "T" for st in states)


@lib.test
def the_quickstart_on_a_slurm_worker_gives_what_it_gives_here():
    here_src, here_wd = lib.quickstart(lib.tmpdir(), "--max-iterations", "1")
    lib.run_engine(here_wd)
    here = lib.tree_nodes(here_wd)

    d = lib.tmpdir()
    src, wd = lib.quickstart(d, "--max-iterations", "1")
    with cluster() as s:
        ws = os.path.join(d, "ws")
        add_cluster(wd, ws, "--max-jobs", "2")
        lib.run_engine(wd)
        there = lib.tree_nodes(wd)
        check({i: lib.outcome(n) for i, n in there.items()} == {i: lib.outcome(n) for i, n in here.items()},
              "here and on hpc differ:\n%s\n%s" % (
                  sorted((i, lib.outcome(n)) for i, n in here.items()),
                  sorted((i, lib.outcome(n)) for i, n in there.items())))
        check(lib.tree_json(wd)["state"]["best"] == lib.tree_json(here_wd)["state"]["best"], "best differs")
        for i, n in there.items():
            job = lib.job_json(wd, i)
            check(job["executor"] == "slurm" and job["worker"] == "hpc" and n["worker"] == "hpc",
                  "%s ran on %s" % (i, job))
            check(job.get("slurm_job_id", 0) > 0, "%s: no Slurm job id in job.json: %s"
                  % (i, job))
            sj = s.job(str(job["slurm_job_id"]))
            check(sj.get("JobName") == "hypotop-" + i and sj.get("JobState") == "COMPLETED",
                  "%s: Slurm says %s" % (i, sj))
            log = os.path.join(wd, "runs", i, "log")
            check(lib.read_bytes(log) == lib.read_bytes(os.path.join(job["remote"], "log")),
                  "%s: the local log is not the job's" % i)
            text = lib.read_bytes(log).decode()
            check(text.count("total_steps=") == 1 and "val_loss=%.6f" % n["metric"] in text,
                  "%s: log:\n%s" % (i, text))


@lib.test
def twenty_jobs_through_four_slots_survive_three_engine_kills():
    d = lib.tmpdir()
    with cluster() as s:
        wd, g, ws = gated(d, fixed=19, slots=4)
        # Every odd experiment exits 3: its real code must come back.
        codes = {"n%04d" % i: (3 if i % 2 else 0) for i in range(20)}
        kills = 0
        for _ in range(3):
            e = lib.Engine(d, wd)
            try:
                # Some running, some waiting in Slurm's queue or in hypotop's.
                n = len(ledger(g))
                started(g, n + 2, e, timeout=120)
                e.p.send_signal(signal.SIGKILL)
                e.p.wait(timeout=30)
                kills += 1
            finally:
                e.stop()
            for node, _ in ledger(g):
                gate(g, node, codes[node])
        for node in codes:
            gate(g, node, codes[node])
        said = lib.run_engine(wd)
        check(kills == 3, "%d kills" % kills)
        runs = sorted(x[0] for x in ledger(g))
        check(runs == sorted(codes), "runs: %s" % runs)
        ids = [x[1] for x in ledger(g)]
        check(len(set(ids)) == 20, "Slurm job ids: %s" % ids)
        nodes = lib.tree_nodes(wd)
        check(sorted(nodes) == sorted(codes), "nodes: %s" % sorted(nodes))
        for node, code in codes.items():
            n = nodes[node]
            if code:
                check(n["status"] == "failed" and n["failure"]["kind"] == "crash",
                      "%s: %s" % (node, n))
            else:
                check(n["status"] == "completed" and n["metric"] == 0.5, "%s: %s" % (node, n))
        # Slurm ran each once too.
        out = s.run("squeue", "-h", "-t", "all", "-o", "%j").stdout.split()
        check(sorted(out) == sorted("hypotop-" + n for n in codes), "Slurm's jobs: %s" % out)


@lib.test
def slurms_own_ends_are_failures_saying_so():
    d = lib.tmpdir()
    with cluster() as s:
        wd, g, ws = gated(d, fixed=1, slots=2, job_timeout=60)
        e = lib.Engine(d, wd)
        try:
            first = started(g, 2, e)
            # scancel from outside.
            victim = [x for x in first if x[0] == "n0001"][0]
            s.run("scancel", victim[1])
            # The baseline runs past its --time (job_timeout 60 s): Slurm ends it.
            check(e.p.wait(timeout=240) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        nodes = lib.tree_nodes(wd)
        n = nodes["n0001"]
        check(n["status"] == "failed" and n["failure"]["kind"] == "slurm_cancelled", "n0001: %s" % n)
        check(("n0001: failed (slurm_cancelled): Slurm ended job %s: CANCELLED" % victim[1])
              in e.said(), "said: %s" % e.said()[-2000:])
        n = nodes["n0000"]
        check(n["status"] == "failed" and n["failure"]["kind"] == "timeout", "n0000: %s" % n)

    # A partition Slurm does not have: failed at submit with sbatch's word, the worker up.
    d = lib.tmpdir()
    with cluster():
        wd, g, ws = gated(d, extra=("--partition", "nosuch"))
        gate(g, None, 0)
        said = lib.run_engine(wd)
        n = lib.tree_nodes(wd)["n0000"]
        check(n["status"] == "failed" and n["failure"]["kind"] == "submit", "n0000: %s" % n)
        check("worker hpc cannot run the job: sbatch: error: invalid partition" in said,
              "said: %s" % said[-2000:])
        check(not ledger(g), "it ran: %s" % ledger(g))
        e = lib.Engine(d, wd)
        try:
            lib.wait_for(lambda: hpc(wd)["state"] == "up", "hpc up (%s)" % hpc(wd))
        finally:
            e.stop()


@lib.test
def slurmctld_stopped_and_started_again_loses_nothing_and_submits_nothing_twice():
    d = lib.tmpdir()
    with cluster() as s:
        wd, g, ws = gated(d, fixed=3, slots=2)
        e = lib.Engine(d, wd)
        try:
            started(g, 2, e)
            s.stop_ctld()
            b = lib.wait_for(lambda: (lambda w: w if w["state"] == "down" else None)(hpc(wd)),
                             "hpc down (%s)" % e.said()[-1500:], timeout=60)
            check("Slurm" in b["reason"], "reason: %s" % b["reason"])
            for node, _ in ledger(g):
                gate(g, node, 0)
            s.start_ctld()
            lib.wait_for(lambda: hpc(wd)["state"] in ("up", "busy"), "hpc up again",
                         timeout=60)
            gate(g, None, 0)
            check(e.p.wait(timeout=240) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        runs = sorted(x[0] for x in ledger(g))
        check(runs == ["n0000", "n0001", "n0002", "n0003"], "runs: %s" % ledger(g))
        for i, n in lib.tree_nodes(wd).items():
            check(n["status"] == "completed", "%s: %s" % (i, n))


@lib.test
def a_waiting_and_a_running_job_are_paused_and_resumed():
    d = lib.tmpdir()
    with cluster() as s:
        wd, g, ws = gated(d, fixed=1, slots=2, extra=("--sbatch-arg=--cpus-per-task=%d" % s.cpus,))
        e = lib.Engine(d, wd)
        try:
            # The node's whole CPUs each: one runs, the other waits in Slurm's queue.
            first = started(g, 1, e)[0][0]
            other = "n0001" if first == "n0000" else "n0000"
            lib.wait_for(lambda: live(wd).get(other) == "waiting",
                         "%s waiting (%s; %s)" % (other, live(wd), e.said()[-1500:]),
                         timeout=60)
            check(live(wd)[first] == "running", "%s: %s" % (first, live(wd)))
            # Slurm gives a reason once its scheduler has looked at the job.
            job = lib.wait_for(lambda: (lambda j: j if j and j["reason"] else None)(
                slurm_job(wd, other)), "hpc's view of %s's job with a reason" % other)
            check(job["state"] == "PENDING" and job["reason"] in ("Resources", "Priority")
                  and job["since_s"] >= 0, "%s's job: %s" % (other, job))
            job = lib.wait_for(lambda: slurm_job(wd, first), "hpc's view of %s's job" % first)
            check(job["state"] == "RUNNING" and job["node"] == "localhost", "%s's job: %s"
                  % (first, job))
            for node in (other, first):
                rc, out, err = hypotop("pause", wd, node)
                check(rc == 0, "pause %s: %s" % (node, err))
            jid = str(lib.job_json(wd, other)["slurm_job_id"])
            # Held: by its user, or as an admin hold when the user is root.
            lib.wait_for(lambda: s.job(jid).get("Reason") in ("JobHeldUser", "JobHeldAdmin"),
                         "%s held (%s)" % (other, s.job(jid)), timeout=30)
            fid = str(lib.job_json(wd, first)["slurm_job_id"])
            lib.wait_for(lambda: stopped_job(s, fid), "%s's processes stopped" % first,
                         timeout=30)
            for node in (other, first):
                rc, out, err = hypotop("resume", wd, node)
                check(rc == 0, "resume %s: %s" % (node, err))
            lib.wait_for(lambda: stopped_job(s, fid, want=False),
                         "%s's processes continued" % first, timeout=30)
            gate(g, first, 0)
            started(g, 2, e)
            gate(g, None, 0)
            check(e.p.wait(timeout=120) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        for i, n in lib.tree_nodes(wd).items():
            check(n["status"] == "completed", "%s: %s" % (i, n))


@lib.test
def a_slurm_worker_via_an_ssh_login_node_runs_its_jobs_there():
    d = lib.tmpdir()
    with cluster() as s, lib.Sshd(env=s.env()) as sshd:
        g = sshd.folder("g")
        src = lib.make_repo(d, files={"train.py": GATED % g, "hparams.json": '{"lr": 0.5}\n'})
        wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py",
                                 "metric": "val_loss", "goal": "min", "max_iterations": 0,
                                 "patience": 0, "max_concurrency": 1, "seed": 0})
        rc, out, err = hypotop("worker", "add", wd, "login", "--host", "127.0.0.1",
                               "--port", str(sshd.port), "--user", sshd.user, "--key", sshd.key,
                               "--known-hosts", sshd.known_hosts)
        check(rc == 0, "worker add login: %s" % err)
        # The login node takes no job of its own: only its connection is used.
        rc, out, err = hypotop("worker", "disable", wd, "login")
        check(rc == 0, "worker disable login: %s" % err)
        add_cluster(wd, "ws", "--via", "login")
        gate(g, None, 0)
        said = lib.run_engine(wd)
        n = lib.tree_nodes(wd)["n0000"]
        check(n["status"] == "completed" and n["metric"] == 0.5 and n["worker"] == "hpc",
              "n0000: %s; %s" % (n, said[-1500:]))
        job = lib.job_json(wd, "n0000")
        check(job["remote"].startswith("ws/runs/"), "remote: %s" % job["remote"])
        # Submitted by the login's user, run by Slurm: the ledger has its job id.
        sj = s.job(str(job["slurm_job_id"]))
        check(sj.get("UserId", "").startswith(sshd.user + "(") and
              sj.get("JobState") == "COMPLETED", "Slurm says %s" % sj)
        check(ledger(g) == [("n0000", str(job["slurm_job_id"]))], "ledger: %s" % ledger(g))
        remote = os.path.join(pwd.getpwnam(sshd.user).pw_dir, job["remote"], "log")
        check(lib.read_bytes(os.path.join(wd, "runs", "n0000", "log")) == lib.read_bytes(remote),
              "the local log is not the job's")


@lib.test
def a_job_slurm_requeues_waits_again_under_its_node_and_is_not_submitted_again():
    d = lib.tmpdir()
    with cluster() as s:
        wd, g, ws = gated(d)
        e = lib.Engine(d, wd)
        try:
            first = started(g, 1, e)[0]
            lib.wait_for(lambda: live(wd).get("n0000") == "running", "n0000 running")
            s.run("scontrol", "requeue", first[1])
            # Slurm runs it again under the same id; hypotop follows it.
            again = started(g, 2, e, timeout=120)[1]
            check(again == first, "the second start: %s, the first: %s" % (again, first))
            gate(g, None, 0)
            check(e.p.wait(timeout=120) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            gate(g, None, 0)
            e.stop()
        n = lib.tree_nodes(wd)["n0000"]
        check(n["status"] == "completed", "n0000: %s" % n)
        check(len(os.listdir(os.path.join(ws, "runs", os.listdir(os.path.join(ws, "runs"))[0])))
              == 1, "launches: %s" % os.listdir(os.path.join(ws, "runs")))
        log = lib.read_bytes(os.path.join(wd, "runs", "n0000", "log")).decode()
        check(log.count("started n0000") == 2, "log:\n%s" % log)

lib.finish()
