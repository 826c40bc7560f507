"""The experiment loop end to end on this machine: the quickstart, SIGKILL at
random moments, re-attachment to a job that ended while hypotop was down,
and runs that fail in each way the loop must survive."""

import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop, quickstart  # noqa: E402


def run_headless(wd, timeout=300):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=timeout)
    return r.returncode, r.stderr


def tree(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return json.load(f)


def branches(src):
    out = lib.sh("git", "branch", "--list", "hypotop/*", "--format=%(refname:short) %(objectname)",
                 cwd=src).stdout.split("\n")
    return dict(line.split() for line in out if line.strip())


@lib.test
def quickstart_loop_end_to_end():
    d = lib.tmpdir()
    src, wd = quickstart(d, "--max-iterations", "4")
    rc, err = run_headless(wd)
    check(rc == 0, "engine exit %d: %s" % (rc, err[-2000:]))
    check("planning stops: max_iterations (4) reached" in err, "stop reason: %s" % err[-800:])
    t = tree(wd)
    nodes = {n["id"]: n for n in t["nodes"]}
    check(len(nodes) >= 2 + 4 * 2, "only %d nodes" % len(nodes))
    check(all(n["status"] in ("completed", "failed") for n in nodes.values()),
          "unfinished: %s" % [(n["id"], n["status"]) for n in nodes.values()])
    br = branches(src)
    for n in nodes.values():
        check(br.get("hypotop/" + n["id"]) == n["commit"],
              "%s: branch %s, node commit %s" % (n["id"], br.get("hypotop/" + n["id"]), n["commit"]))
        if n["parent"] and n["change"] and n["change"]["kind"] == "params":
            parent = lib.sh("git", "rev-parse", n["commit"] + "^", cwd=src).stdout.strip()
            check(parent == nodes[n["parent"]]["commit"], "%s: commit's parent" % n["id"])
            hp = json.loads(lib.sh("git", "show", n["commit"] + ":hparams.json", cwd=src).stdout)
            for k, v in n["change"]["params"].items():
                check(hp[k] == v, "%s: hparams.json %s=%s, change says %s" % (n["id"], k, hp[k], v))
    with open(os.path.join(wd, "master_table.tsv")) as f:
        rows = [r.split("\t") for r in f.read().splitlines()]
    check(rows[0][:5] == ["id", "parent", "name", "status", "metric"], "header %s" % rows[0])
    table = {r[0]: r for r in rows[1:]}
    check(set(table) == set(nodes), "table rows %s vs nodes %s" % (sorted(table), sorted(nodes)))
    for nid, r in table.items():
        n = nodes[nid]
        check(r[3] == n["status"], "%s status" % nid)
        if n["metric"] is not None:
            check(abs(float(r[4]) - n["metric"]) <= 1e-5 * max(1, abs(n["metric"])), "%s metric" % nid)
        run = os.path.join(wd, "runs", nid)
        check(os.path.exists(os.path.join(run, "analysis.md")), "%s: no analysis.md" % nid)
        check(os.path.exists(os.path.join(run, "metrics.json")), "%s: no metrics.json" % nid)
    base = nodes["n0000"]["metric"]
    best = t["state"]["best"]
    check(best and nodes[best]["metric"] < base, "no better val_loss than the baseline %s" % base)
    with open(os.path.join(wd, "summary.md")) as f:
        summary = f.read()
    check(best in summary and "val_loss" in summary, "summary lacks the best: %s" % summary)
    # Work trees are gone; branches stay.
    left = glob.glob(os.path.join(wd, "worktrees", "*"))
    check(not left, "work trees left: %s" % left)
    s = lib.status_json(wd)
    check(s["best"]["node"] == best and s["engine"]["state"] == "stopped", "status: %s" % s)


@lib.test
def a_branch_a_crash_lost_is_made_again():
    # Branches are written without waiting for the disk, so a power cut can
    # lose the newest; the journal holds every node's commit. An engine that
    # starts after one that did not stop cleanly makes them again.
    d = lib.tmpdir()
    src, wd = quickstart(d, "--max-iterations", "1")
    rc, err = run_headless(wd)
    check(rc == 0, "engine exit %d: %s" % (rc, err[-2000:]))
    nodes = {n["id"]: n for n in tree(wd)["nodes"]}
    lost = sorted(nodes)[-1]
    lib.sh("git", "update-ref", "-d", "refs/heads/hypotop/" + lost, cwd=src)
    check("hypotop/" + lost not in branches(src), "the branch is still there")
    # After a clean stop nothing is looked for.
    rc, err = run_headless(wd)
    check(rc == 0 and "made again" not in err, "after a clean stop: %s" % err[-1500:])
    check("hypotop/" + lost not in branches(src), "made again after a clean stop")
    # engine_state.json as an engine that died leaves it.
    state = os.path.join(wd, "engine", "engine_state.json")
    with open(state) as f:
        st = json.load(f)
    st["state"] = "running"
    with open(state, "w") as f:
        json.dump(st, f)
    rc, err = run_headless(wd)
    check(rc == 0, "engine exit %d: %s" % (rc, err[-2000:]))
    check("made again 1 branch the last engine's crash lost" in err, "not said: %s" % err[-1500:])
    br = branches(src)
    check(br.get("hypotop/" + lost) == nodes[lost]["commit"],
          "hypotop/%s at %s, the node's commit is %s" % (lost, br.get("hypotop/" + lost),
                                                       nodes[lost]["commit"]))
    check(all(br.get("hypotop/" + n) == nodes[n]["commit"] for n in nodes), "branches: %s" % br)


def launches(wd):
    """How often each run's wrapper started the launch command, from the logs."""
    out = {}
    for log in glob.glob(os.path.join(wd, "runs", "*", "log")):
        with open(log, errors="replace") as f:
            out[log.split(os.sep)[-2]] = f.read().count("[hypotop] launch:")
    return out


@lib.test
def sigkill_at_random_moments_loses_and_repeats_nothing():
    d = lib.tmpdir()
    src, wd = quickstart(d, "--max-iterations", "40", "--patience", "0")
    rng = random.Random(42)
    kills = finished = 0
    while kills < 25:
        p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            p.wait(timeout=rng.uniform(0.02, 0.5))
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
            lib.status_json(wd)  # the workdir loads after every kill
            continue
        err = p.stderr.read()
        check(p.returncode == 0, "engine exit %d: %s" % (p.returncode, err[-1500:]))
        finished += 1
        check(finished < 4, "the loop ended before 25 kills (%d)" % kills)
        # Ended early: give it more rounds and go on killing.
        cfg_path = os.path.join(wd, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        cfg["max_iterations"] += 20
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
    # The final run finishes what is queued and plans no more.
    cfg_path = os.path.join(wd, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["max_iterations"] = tree(wd)["state"]["iteration"]
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    rc, err = run_headless(wd)
    check(rc == 0, "final run: %d %s" % (rc, err[-1500:]))
    t = tree(wd)
    ids = [n["id"] for n in t["nodes"]]
    check(len(ids) == len(set(ids)), "a node exists twice")
    check(all(n["status"] in ("completed", "failed") for n in t["nodes"]),
          "unfinished after the final run: %s" % [(n["id"], n["status"]) for n in t["nodes"]])
    counts = launches(wd)
    twice = {k: v for k, v in counts.items() if v > 1}
    check(not twice, "experiments started more than once: %s" % twice)
    for n in t["nodes"]:
        if n["status"] == "completed":
            check(counts.get(n["id"]) == 1, "%s completed without one launch" % n["id"])
    # Every branch belongs to a node, and every node that ran has its branch.
    br = branches(src)
    for n in t["nodes"]:
        if n["commit"] and n["parent"]:
            check(br.get("hypotop/" + n["id"]) == n["commit"], "%s: branch" % n["id"])
    print("# %d kills, %d nodes" % (kills, len(ids)))


def small_repo(d, train):
    return lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.1}\n'})


def waiting_baseline(d, tail, *init_args):
    """A workdir whose baseline prints a step, waits for the file `go`, then
    runs `tail` (Python); returns (src, wd, go)."""
    go = os.path.join(d, "go")
    train = ("import os, time\nprint('step=1 loss=1.0', flush=True)\n"
             "while not os.path.exists(%r):\n    time.sleep(0.02)\n" % go) + tail
    src = small_repo(d, train)
    wd = os.path.join(d, "wd")
    rc, out, err = hypotop("init", wd, "--source-dir", src, "--launch", "python3 train.py",
                           "--metric", "val_loss", *init_args)
    check(rc == 0, err)
    return src, wd, go


def start_until_baseline_runs(wd, **popen):
    """Start the engine; return it and the baseline job's pid once it runs."""
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         **(popen or {"stderr": subprocess.DEVNULL}))
    record = os.path.join(wd, "runs", "n0000", "job.json")
    lib.wait_for(lambda: os.path.exists(record), "the baseline to start", timeout=30)
    with open(record) as f:
        return p, json.load(f)["pid"]


@lib.test
def the_reports_follow_the_live_status():
    # master_table.tsv and summary.md say what status says while a run goes
    # on, not only once something has ended.
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(d, "print('val_loss=0.5', flush=True)\n")
    p, job_pid = start_until_baseline_runs(wd)
    try:
        def row():
            try:
                with open(os.path.join(wd, "master_table.tsv")) as f:
                    return f.read().splitlines()[1].split("\t")
            except (OSError, IndexError):
                return None
        lib.wait_for(lambda: row() and row()[3] == "running",
                     "master_table.tsv to say n0000 runs", timeout=15)

        def summary():
            try:
                with open(os.path.join(wd, "summary.md")) as f:
                    return f.read()
            except OSError:
                return ""
        # The two are written one after the other: summary.md follows within
        # the same step, never only when something ends.
        lib.wait_for(lambda: "| running | 1 |" in summary(), "summary.md to say n0000 runs",
                     timeout=15)
        check(lib.status_json(wd)["running"][0]["id"] == "n0000",
              "n0000 ended before summary.md said it runs")
    finally:
        open(go, "w").close()
        p.wait(timeout=60)


@lib.test
def reattach_to_a_job_that_ended_while_down():
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(
        d, "print('val_loss=0.25', flush=True)\nraise SystemExit(3)\n")
    p, job_pid = start_until_baseline_runs(wd)
    p.send_signal(signal.SIGKILL)
    p.wait()
    open(go, "w").close()
    lib.wait_for(lambda: os.path.exists(os.path.join(wd, "runs", "n0000", "exit_code")),
                 "the job to end", timeout=30)
    check(lib.status_json(wd)["running"][0]["id"] == "n0000", "not recorded as running")
    rc, err = run_headless(wd)
    check(rc == 0, "restart: %s" % err)
    check("re-attached" in err, "no re-attach said: %s" % err)
    n = tree(wd)["nodes"][0]
    check(n["status"] == "failed" and n["failure"]["kind"] == "crash", "node: %s" % n)
    check(n["metric"] == 0.25, "metric not collected: %s" % n["metric"])
    with open(os.path.join(wd, "runs", "n0000", "analysis.md")) as f:
        check("status 3" in f.read(), "exit code not in the analysis")
    check(launches(wd)["n0000"] == 1, "relaunched")
    try:
        os.kill(job_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    check(not alive or open("/proc/%d/stat" % job_pid).read().split()[2] == "Z", "job lingers")


@lib.test
def a_job_recorded_as_running_that_never_started_runs_after_a_restart():
    # The engine died after it recorded the node as running and before the
    # job wrote job.json: the restarted engine prepares it again and runs it.
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(d, "print('val_loss=0.5', flush=True)\n",
                                   "--max-iterations", "0")
    p, job_pid = start_until_baseline_runs(wd)
    p.send_signal(signal.SIGKILL)
    p.wait()
    os.killpg(job_pid, signal.SIGKILL)
    run = os.path.join(wd, "runs", "n0000")
    lib.wait_for(lambda: os.path.exists(os.path.join(run, "exit_code")), "the job to end",
                 timeout=30)
    for name in os.listdir(run):
        os.unlink(os.path.join(run, name))
    check(lib.status_json(wd)["running"][0]["id"] == "n0000", "not recorded as running")
    open(go, "w").close()
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0, "restart: %s" % err)
    check("was never started" in err, "not said: %s" % err)
    n = tree(wd)["nodes"][0]
    check(n["status"] == "completed" and n["metric"] == 0.5, "node: %s" % n)
    check(launches(wd)["n0000"] == 1, "launches: %s" % launches(wd))


def attempts_baseline(d):
    """A workdir whose baseline counts its attempts in the file `attempts`,
    waits for the file `go<N>` (N its attempt), and then ends: the first
    attempt with status 42, a later one with val_loss=0.5; returns (wd, go)
    with go(N) making that file."""
    train = ("import os, time\n"
             "with open(%r, 'a') as f:\n    f.write('x')\n"
             "n = len(open(%r).read())\n"
             "print('step=1 loss=1.0 attempt=%%d' %% n, flush=True)\n"
             "deadline = time.time() + 120\n"
             "while not os.path.exists(%r + str(n)) and time.time() < deadline:\n"
             "    time.sleep(0.02)\n"
             "if n == 1:\n    raise SystemExit(42)\n"
             "print('val_loss=0.5', flush=True)\n"
             % ((os.path.join(d, "attempts"),) * 2 + (os.path.join(d, "go"),)))
    src = small_repo(d, train)
    wd = os.path.join(d, "wd")
    rc, out, err = hypotop("init", wd, "--source-dir", src, "--launch", "python3 train.py",
                           "--metric", "val_loss", "--max-iterations", "0")
    check(rc == 0, err)

    def go(n):
        open(os.path.join(d, "go%d" % n), "w").close()
    return wd, go


def attempts(d):
    """How many attempts of attempts_baseline's job have started."""
    try:
        with open(os.path.join(d, "attempts")) as f:
            return len(f.read())
    except FileNotFoundError:
        return 0


def stop(p, go):
    """Kill engine p if it still runs, and let every attempt end: nothing outlives a test."""
    if p.poll() is None:
        p.kill()
        p.wait()
    go(1)
    go(2)


def ended(record):
    """Whether the process a job.json names is gone (reaped, or its pid another's)."""
    try:
        with open("/proc/%d/stat" % record["pid"]) as f:
            return int(f.read().rsplit(")", 1)[1].split()[19]) != record["start_time"]
    except (FileNotFoundError, ProcessLookupError):  # gone before or while it was read
        return True


@lib.test
def a_job_whose_run_folder_was_made_anew_writes_nothing_there():
    # The engine keeps running while the job's folder is deleted and made
    # again, as for another attempt. The job's supervisor writes its end
    # only into the folder it started the job in: that one is gone, so the
    # end is recorded from what the supervisor told the engine.
    d = lib.tmpdir()
    wd, go = attempts_baseline(d)
    run = os.path.join(wd, "runs", "n0000")
    p, _ = start_until_baseline_runs(wd, stderr=subprocess.PIPE, text=True)
    try:
        lib.wait_for(lambda: attempts(d) == 1, "the job to start", timeout=30)
        with open(os.path.join(run, "job.json")) as f:
            first = json.load(f)
        shutil.rmtree(run)
        os.mkdir(run)
        other = '{"executor": "local", "node": "n0000", "note": "another attempt"}\n'
        with open(os.path.join(run, "job.json"), "w") as f:
            f.write(other)
        go(1)
        err = p.communicate(timeout=60)[1]
    finally:
        stop(p, go)
    check(p.returncode == 0, "engine exit %d: %s" % (p.returncode, err[-1500:]))
    check(ended(first), "the first attempt still runs")
    with open(os.path.join(run, "job.json")) as f:
        check(f.read() == other, "job.json of the new folder was rewritten")
    left = [f for f in os.listdir(run) if f in ("exit_code", "build_exit", "log")
            or f.endswith(".partial")]
    check(not left, "the first attempt's supervisor wrote into the new folder: %s" % left)
    n = tree(wd)["nodes"][0]
    check(n["status"] == "failed" and n["failure"]["kind"] == "crash", "node: %s" % n)
    with open(os.path.join(run, "analysis.md")) as f:
        check("status 42" in f.read(), "the exit code is not in the analysis")


@lib.test
def a_restart_that_runs_a_node_again_is_not_given_the_first_jobs_end():
    # The engine dies and a person deletes the running job's folder: the
    # restarted engine finds no job.json and runs the node again, in a new
    # folder of the same path. The first job, still under its own
    # supervisor, then ends with 42: that must land neither in the new
    # folder nor on the node, which ends as its second attempt does.
    d = lib.tmpdir()
    wd, go = attempts_baseline(d)
    run = os.path.join(wd, "runs", "n0000")
    p, _ = start_until_baseline_runs(wd)
    lib.wait_for(lambda: attempts(d) == 1, "the job to start", timeout=30)
    p.send_signal(signal.SIGKILL)
    p.wait()
    with open(os.path.join(run, "job.json")) as f:
        first = json.load(f)
    shutil.rmtree(run)
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        lib.wait_for(lambda: attempts(d) == 2, "the second attempt", timeout=30)
        go(1)
        lib.wait_for(lambda: ended(first), "the first attempt to end", timeout=30)
        check(not os.path.exists(os.path.join(run, "exit_code")),
              "the first attempt's end was written into the new folder")
        check([r["id"] for r in lib.status_json(wd)["running"]] == ["n0000"],
              "the node is no longer running: %s" % tree(wd)["nodes"][0])
        go(2)
        err = p.communicate(timeout=60)[1]
    finally:
        stop(p, go)
    check(p.returncode == 0, "restart: %s" % err[-1500:])
    check("was never started" in err, "not said: %s" % err[-1500:])
    n = tree(wd)["nodes"][0]
    check(n["status"] == "completed" and n["metric"] == 0.5, "node: %s" % n)
    with open(os.path.join(run, "exit_code")) as f:
        check(f.read() == "0\n", "exit_code is not the second attempt's")


@lib.test
def a_restart_never_lends_a_running_jobs_work_tree():
    # The baseline and its two seed copies wait for `go`: two run, the third
    # is prepared ahead. After a SIGKILL the restarted engine re-attaches the
    # two and prepares the third again, in a work tree of its own.
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(d, "print('val_loss=0.5', flush=True)\n",
                                   "--max-iterations", "0", "--max-concurrency", "2")
    cfg_path = os.path.join(wd, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["noise"] = {"seeds": 3, "k": 1}
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    rc, out, err = hypotop("init", os.path.join(d, "wd2"), "--config", cfg_path)
    wd = os.path.join(d, "wd2")
    check(rc == 0, "init: %s" % err)
    records = [os.path.join(wd, "runs", n, "job.json") for n in ("n0000", "n0001")]
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    lib.wait_for(lambda: all(os.path.exists(f) for f in records), "two jobs to start", timeout=30)
    lib.wait_for(lambda: any(n["id"] == "n0002" for n in lib.status_json(wd)["running"]),
                 "the third to be taken from the queue", timeout=30)
    p.send_signal(signal.SIGKILL)
    p.wait()

    def checkouts(node):
        """The work trees whose HEAD names node's branch, each with when HEAD was written."""
        out = set()
        for head in glob.glob(os.path.join(src, ".git", "worktrees", "*", "HEAD")):
            with open(head) as f:
                if f.read().strip() == "ref: refs/heads/hypotop/" + node:
                    st = os.stat(head)
                    out.add((head, st.st_ino, st.st_mtime_ns))
        return out

    before = checkouts("n0002")
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)

    def reattached_and_prepared_again():
        with open(os.path.join(wd, "logs", "hypotop.log")) as f:
            since = f.read().split("engine pid")[-1]
        return since.count("re-attached (still running)") == 2 and checkouts("n0002") - before
    lib.wait_for(reattached_and_prepared_again, "the restart to prepare the third again",
                 timeout=30)
    open(go, "w").close()
    err = p.communicate(timeout=120)[1]
    check(p.returncode == 0, "restart: %s" % err[-1500:])
    check("re-attached" in err, "no re-attach said: %s" % err[-1500:])
    cwd = {}
    for n in ("n0000", "n0001", "n0002"):
        with open(os.path.join(wd, "runs", n, "job.json")) as f:
            cwd[n] = json.load(f)["cwd"]
    check(cwd["n0002"] not in (cwd["n0000"], cwd["n0001"]) and cwd["n0000"] != cwd["n0001"],
          "a work tree lent twice: %s" % cwd)
    check(all(n["status"] == "completed" for n in tree(wd)["nodes"]),
          "nodes: %s" % [(n["id"], n["status"]) for n in tree(wd)["nodes"]])
    check(all(v == 1 for v in launches(wd).values()), "launches: %s" % launches(wd))


def failing(d, name, launch, build=None, extra_files=None):
    files = {"train.py": "print('val_loss=1.0')\n", "hparams.json": '{"lr": 0.1}\n'}
    files.update(extra_files or {})
    sub = os.path.join(d, name)
    os.makedirs(sub)
    src = lib.make_repo(sub, files=files)
    wd = os.path.join(sub, "wd")
    cfg = {"source_dir": src, "launch": launch, "metric": "val_loss", "max_iterations": 1,
           "search_space": {"file": "hparams.json", "params": {"lr": {"log_uniform": [0.001, 1]}}}}
    if build:
        cfg["build"] = build
    with open(os.path.join(sub, "c.json"), "w") as f:
        json.dump(cfg, f)
    rc, out, err = hypotop("init", wd, "--config", os.path.join(sub, "c.json"))
    check(rc == 0, err)
    return wd


@lib.test
def a_node_whose_build_ends_is_recorded_as_running():
    # The build writes a file and ends; the run then waits for `go`. The
    # node must go from building to running while its job still runs.
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(d, "print('val_loss=0.5', flush=True)\n",
                                   "--build", "echo built > built.txt", "--max-iterations", "0")
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        lib.wait_for(lambda: [n["status"] for n in lib.status_json(wd)["running"]] == ["running"],
                     "the node to be recorded as running once built", timeout=30)
        with open(os.path.join(wd, "runs", "n0000", "build_exit")) as f:
            check(f.read().strip() == "0", "build_exit")
        open(go, "w").close()
        check(p.wait(timeout=60) == 0, "engine exit %d" % p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
    ops = []
    with open(os.path.join(wd, "engine", "journal.jsonl")) as f:
        for line in f:
            ev = json.loads(line)
            if ev.get("node", {}).get("id") == "n0000":
                ops.append(ev["op"])
    check(tree(wd)["nodes"][0]["status"] == "completed", "node: %s" % tree(wd)["nodes"][0])
    check(not ops or ops.index("build") < ops.index("run"), "journal order: %s" % ops)


@lib.test
def failures_are_recorded_and_the_loop_goes_on():
    d = lib.tmpdir()
    cases = [
        ("notfound", "no-such-command-xyz", None, None, "launch", "127"),
        ("build", "python3 train.py", "echo compiling; exit 4", None, "build", "status 4"),
        ("nometric", "echo training done", None, None, "no_metric", "never printed val_loss"),
        ("crash", "python3 -c 'raise SystemExit(9)'", None, None, "crash", "status 9"),
        ("nan", "echo step=1 loss=nan; sleep 30; echo val_loss=1", None, None, "nan", "nan"),
    ]
    for name, launch, build, files, kind, why in cases:
        wd = failing(d, name, launch, build, files)
        rc, err = run_headless(wd, timeout=60)
        check(rc == 0, "%s: engine exit %d: %s" % (name, rc, err))
        n = tree(wd)["nodes"][0]
        check(n["status"] == "failed" and n["failure"]["kind"] == kind,
              "%s: %s %s" % (name, n["status"], n["failure"]))
        with open(os.path.join(wd, "runs", "n0000", "analysis.md")) as f:
            text = f.read()
        check(why in text, "%s: analysis lacks %r:\n%s" % (name, why, text))
        check("the baseline failed" in err, "%s: loop did not stop cleanly: %s" % (name, err))


@lib.test
def a_retried_baseline_that_works_lets_planning_go_on():
    d = lib.tmpdir()
    wd = failing(d, "fixed", "no-such-command-xyz")
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0 and "the baseline failed (launch)" in err, "%d %s" % (rc, err))
    # A retry that fails again keeps planning stopped, and says why.
    rc, out, err = hypotop("retry", wd, "n0000")
    check(rc == 0 and out.startswith("n0001 queued"), "retry: %d %s %s" % (rc, out, err))
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0 and "planning stops: the baseline failed, and its newest run n0001 too "
          "(launch)" in err, "%d %s" % (rc, err))
    # The person fixes the launch in config.json and retries the baseline.
    path = os.path.join(wd, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg["launch"] = "python3 train.py"
    with open(path, "w") as f:
        json.dump(cfg, f)
    rc, out, err = hypotop("retry", wd, "n0000")
    check(rc == 0 and out.startswith("n0002 queued"), "retry: %d %s %s" % (rc, out, err))
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0, "engine exit %d: %s" % (rc, err))
    check("n0002: completed" in err, "the retry did not complete: %s" % err)
    check("the baseline failed" not in err, "planning still stopped: %s" % err)
    check("round 1:" in err and "max_iterations (1) reached" in err,
          "no planning after the retry: %s" % err)
    planned = [n for n in tree(wd)["nodes"] if n.get("parent") == "n0002"]
    check(planned, "no proposal under the working baseline: %s" % tree(wd)["nodes"])


@lib.test
def a_missing_job_supervisor_fails_the_node_and_says_where_it_looked():
    d = lib.tmpdir()
    wd = failing(d, "nosupervisor", "python3 train.py")
    missing = os.path.join(d, "nowhere", "hypotop-job")
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=60, env=dict(os.environ, HYPOTOP_JOB=missing))
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr))
    n = tree(wd)["nodes"][0]
    check(n["status"] == "failed" and n["failure"]["kind"] == "launch", "node: %s" % n)
    with open(os.path.join(wd, "runs", "n0000", "analysis.md")) as f:
        text = f.read()
    check(missing in text and "make install" in text, "analysis lacks the path:\n%s" % text)


@lib.test
def a_job_the_supervisor_cannot_record_is_not_run():
    # job.json is how a restarted engine finds a job: none, no run. A
    # folder in its place makes the supervisor's rename fail.
    d = lib.tmpdir()
    ran = os.path.join(d, "ran")
    wd = failing(d, "norecord", "touch %s; echo val_loss=1" % ran)
    os.makedirs(os.path.join(wd, "runs", "n0000", "job.json", "x"))
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0, "engine exit %d: %s" % (rc, err))
    n = tree(wd)["nodes"][0]
    check(n["status"] == "failed", "node: %s" % n)
    check(not os.path.exists(ran), "the job ran unrecorded")
    with open(os.path.join(wd, "runs", "n0000", "log")) as f:
        log = f.read()
    check("cannot write job.json" in log, "not said: %r" % log)
    with open(os.path.join(wd, "runs", "n0000", "exit_code")) as f:
        check(f.read() == "127\n", "exit_code is not 127")


@lib.test
def a_job_is_recorded_by_the_pid_of_its_shell():
    # The pid in job.json leads the job's process group: it is the shell
    # that runs the launch command, and its start time is /proc's.
    d = lib.tmpdir()
    wd = failing(d, "pid", 'echo $$ > "$HYPOTOP_RUN_DIR/shell_pid"; echo val_loss=1')
    mark = os.path.join(wd, "runs", "n0000", "shell_pid")
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0, "engine exit %d: %s" % (rc, err))
    check(tree(wd)["nodes"][0]["status"] == "completed", "node: %s" % tree(wd)["nodes"][0])
    with open(os.path.join(wd, "runs", "n0000", "job.json")) as f:
        rec = json.load(f)
    with open(mark) as f:
        shell = int(f.read())
    check(rec["node"] == "n0000" and rec["pid"] == shell, "record %s, shell %d" % (rec, shell))
    check(isinstance(rec["start_time"], int) and rec["start_time"] > 0, "record: %s" % rec)
    check(isinstance(rec["launched"], int) and rec["launched"] > 0, "record: %s" % rec)


@lib.test
def bad_param_file_fails_the_node_not_the_loop():
    d = lib.tmpdir()
    # init refuses a param file that does not parse at the baseline's commit.
    sub = os.path.join(d, "atinit")
    os.makedirs(sub)
    src = lib.make_repo(sub, files={"train.py": "print('val_loss=1.0')\n",
                                    "hparams.json": '{"lr": 0.1,\n "layers": oops}\n'})
    with open(os.path.join(sub, "c.json"), "w") as f:
        json.dump({"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
                   "search_space": {"file": "hparams.json",
                                    "params": {"lr": {"log_uniform": [0.001, 1]}}}}, f)
    rc, out, err = hypotop("init", os.path.join(sub, "wd"), "--config", os.path.join(sub, "c.json"))
    check(rc == 2 and "search_space.file: hparams.json:2" in err, "%d %s" % (rc, err))
    # A node that breaks the file runs (the program does not read it); its
    # child, which changes a param in it, fails.
    wd = failing(d, "badparams", "python3 train.py")
    patch = os.path.join(d, "break.patch")
    with open(patch, "w") as f:
        f.write("diff --git a/hparams.json b/hparams.json\n--- a/hparams.json\n"
                "+++ b/hparams.json\n@@ -1 +1,2 @@\n-{\"lr\": 0.1}\n+{\"lr\": 0.1,\n"
                "+ \"layers\": oops}\n")
    rc, out, err = hypotop("add", wd, "n0000", "break the param file", "--patch", patch)
    check(rc == 0, err)
    rc, out, err = hypotop("add", wd, "n0001", "lower the learning rate", "--param", "lr=0.01")
    check(rc == 0, err)
    rc, err = run_headless(wd, timeout=60)
    check(rc == 0, "engine: %s" % err)
    nodes = {n["id"]: n for n in tree(wd)["nodes"]}
    check(nodes["n0001"]["status"] == "completed", "the breaking node: %s" % nodes["n0001"])
    child = nodes["n0002"]
    check(child["status"] == "failed" and child["failure"]["kind"] == "params_invalid",
          "child: %s" % child)
    with open(os.path.join(wd, "runs", "n0002", "analysis.md")) as f:
        text = f.read()
    check("hparams.json:2" in text, "the analysis does not name the file and line:\n%s" % text)


@lib.test
def patch_through_a_symlink_is_rejected():
    d = lib.tmpdir()
    outside = os.path.join(d, "outside")
    os.makedirs(outside)
    sub = os.path.join(d, "p")
    os.makedirs(sub)
    src = lib.make_repo(sub, files={"train.py": "print('val_loss=1.0')\n"})
    os.symlink(outside, os.path.join(src, "escape"))
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    lib.sh("git", "add", "escape", cwd=src)
    lib.sh("git", "commit", "-qm", "a link", cwd=src, env=env)
    wd = os.path.join(sub, "wd")
    rc, out, err = hypotop("init", wd, "--source-dir", src, "--launch", "python3 train.py",
                           "--metric", "val_loss", "--max-iterations", "0")
    check(rc == 0, err)
    lib.add_patch(wd, "n0000", "write through the link",
                  "diff --git a/escape/evil.py b/escape/evil.py\nnew file mode 100644\n"
                  "--- /dev/null\n+++ b/escape/evil.py\n@@ -0,0 +1 @@\n+print('pwned')\n")
    rc, err = run_headless(wd, timeout=60)
    n = {x["id"]: x for x in tree(wd)["nodes"]}["n0001"]
    check(n["status"] == "failed" and n["failure"]["kind"] == "patch_rejected", "node: %s" % n)
    check(not os.listdir(outside), "a file was written outside the tree: %s" % os.listdir(outside))
    # A patch naming ../ is refused before it is even queued.
    patch = os.path.join(d, "p.diff")
    with open(patch, "w") as f:
        f.write("diff --git a/../x b/../x\n--- a/../x\n+++ b/../x\n")
    rc, out, err = hypotop("add", wd, "n0000", "climb out", "--patch", patch)
    check(rc == 2 and "outside the source tree" in err, "%d %s" % (rc, err))


@lib.test
def gpu_slots_are_never_shared():
    d = lib.tmpdir()
    sub = os.path.join(d, "g")
    os.makedirs(sub)
    src = lib.make_repo(sub)
    wd = os.path.join(sub, "wd")
    trace = os.path.join(d, "gpu.trace")
    launch = ('echo "$CUDA_VISIBLE_DEVICES $HYPOTOP_NODE start" >> %s; sleep 0.1; '
              'echo "$CUDA_VISIBLE_DEVICES $HYPOTOP_NODE end" >> %s; echo val_loss=1' % (trace, trace))
    cfg = {"source_dir": src, "launch": launch, "metric": "val_loss", "max_iterations": 0,
           "max_concurrency": 4, "gpus": [3, 5], "noise": {"seeds": 8}}
    with open(os.path.join(sub, "c.json"), "w") as f:
        json.dump(cfg, f)
    rc, out, err = hypotop("init", wd, "--config", os.path.join(sub, "c.json"))
    check(rc == 0, err)
    # Eight runs of the baseline (noise.seeds) compete for two GPUs.
    rc, err = run_headless(wd, timeout=120)
    check(rc == 0, "engine: %s" % err)
    busy = {}
    seen = set()
    with open(trace) as f:
        for line in f:
            gpu, node, what = line.split()
            check(gpu in ("3", "5"), "CUDA_VISIBLE_DEVICES=%r" % gpu)
            if what == "start":
                check(gpu not in busy, "GPU %s given to %s while %s runs" % (gpu, node, busy.get(gpu)))
                busy[gpu] = node
                seen.add(gpu)
            else:
                check(busy.pop(gpu, None) == node, "GPU %s: %s ended out of turn" % (gpu, node))
    check(seen == {"3", "5"}, "GPUs used: %s" % seen)
    nodes = tree(wd)["nodes"]
    check(len(nodes) == 8 and all(n["status"] == "completed" for n in nodes), "nodes: %s"
          % [(n["id"], n["status"]) for n in nodes])


@lib.test
def jobs_do_not_inherit_api_keys():
    d = lib.tmpdir()
    # The job's shell is the supervisor's child: $PPID is the supervisor.
    wd = failing(d, "keys", "env; echo supervisor:; tr '\\0' '\\n' </proc/$PPID/environ; "
                 "echo; cat /proc/$PPID/comm; echo val_loss=1")
    marker = "sk-test-marker-7f3a9"
    env = dict(os.environ, ANTHROPIC_API_KEY=marker, OPENAI_API_KEY=marker)
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=60, env=env)
    check(r.returncode == 0, "engine: %s" % r.stderr)
    with open(os.path.join(wd, "runs", "n0000", "log")) as f:
        log = f.read()
    check("HYPOTOP_NODE=n0000" in log, "the job's environment was not printed")
    check("hypotop-job" in log, "the supervisor's environment was not printed:\n" + log)
    check(marker not in log, "the job or its supervisor has the API key:\n" + log)


def proc_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


@lib.test
def pause_resume_and_cancel_a_running_job():
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(d, "print('val_loss=0.5', flush=True)\n",
                                   "--max-iterations", "0")
    p, job = start_until_baseline_runs(wd)
    try:
        lib.wait_for(lambda: os.path.exists(os.path.join(wd, "engine", "control.sock")), "socket")
        rc, out, err = hypotop("pause", wd, "n0000")
        check(rc == 0 and out.strip() == "n0000 paused", "pause: %s %s" % (out, err))
        lib.wait_for(lambda: proc_state(job) == "T", "the job to stop (SIGSTOP)")
        rc, out, err = hypotop("resume", wd, "n0000")
        check(rc == 0 and out.strip() == "n0000 running", "resume: %s %s" % (out, err))
        lib.wait_for(lambda: proc_state(job) != "T", "the job to go on (SIGCONT)")
        rc, out, err = hypotop("cancel", wd, "n0000")
        check(rc == 0, "cancel: %s" % err)
        lib.wait_for(lambda: tree(wd)["nodes"][0]["status"] == "cancelled"
                     or lib.status_json(wd)["counts"]["cancelled"] == 1, "the node to be cancelled",
                     timeout=20)
        lib.wait_for(lambda: not os.path.exists("/proc/%d" % job) or proc_state(job) == "Z",
                     "the job's process group to be killed", timeout=20)
    finally:
        p.terminate()
        p.wait(timeout=20)
    n = tree(wd)["nodes"][0]
    check(n["status"] == "cancelled" and n["failure"]["kind"] == "cancelled", "node: %s" % n)
    br = branches(src)
    check(br.get("hypotop/n0000") == n["commit"], "a cancelled node keeps its branch")


@lib.test
def sigterm_leaves_running_jobs_running():
    d = lib.tmpdir()
    src, wd, go = waiting_baseline(d, "print('val_loss=0.5', flush=True)\n")
    p, job = start_until_baseline_runs(wd, stderr=subprocess.PIPE, text=True)
    p.send_signal(signal.SIGTERM)
    err = p.communicate(timeout=30)[1]
    check(p.returncode == 0, "exit %d: %s" % (p.returncode, err))
    s = lib.status_json(wd)
    check(s["engine"]["state"] == "interrupted" and s["running"][0]["id"] == "n0000",
          "after SIGTERM: %s" % s)
    os.kill(job, 0)  # still there
    open(go, "w").close()
    rc, err = run_headless(wd)
    check(rc == 0 and tree(wd)["nodes"][0]["metric"] == 0.5, "after restart: %s" % err)



@lib.test
def analysis_md_carries_the_nodes_diff_fenced_and_bounded():
    d = lib.tmpdir()
    src = lib.make_repo(d)
    # 300 new lines: one holds an escape, one a fence that must not close the block.
    lines = ["line %d" % i for i in range(300)]
    lines[3], lines[4] = "red \x1b[31m here", "````"
    wd = lib.init_config(d, {
        "source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
        "noise": {"seeds": 1},
        "fixed_experiments": [{"name": "big", "hypothesis": "a big file",
                               "change": {"kind": "files", "files": [
                                   {"path": "big.txt", "content": "\n".join(lines) + "\n"}]}}]})
    rc, err = run_headless(wd)
    check(rc == 0, "engine exit %d: %s" % (rc, err[-2000:]))
    kid = [n for n in tree(wd)["nodes"] if n["name"] == "big"][0]
    with open(os.path.join(wd, "runs", kid["id"], "analysis.md")) as f:
        a = f.read()
    check("\x1b" not in a and "+red \\e[31m here\n" in a, "the escape is not shown: %r" % a[:2000])
    check("\n`````diff\ndiff --git a/big.txt b/big.txt\n" in a, "no fence past the diff's "
          "backticks: %r" % a[:2000])
    body = a.split("`````diff\n", 1)[1].split("\n`````\n", 1)
    check(len(body) == 2, "the fence is not closed: %r" % a[-2000:])
    shown = body[0].split("\n")
    # diff --git, new file mode, index, ---, +++, @@: then the file's lines.
    check(len(shown) == 200 and shown[-1] == "+line 193", "lines shown: %d, last %r"
          % (len(shown), shown[-1]))
    check("\n… 106 more lines, in engine/nodes/%s/change.diff\n" % kid["id"] in body[1],
          "the lines left out are not counted: %r" % body[1][:500])


lib.finish()
