"""End to end: the engine runs nodes on the workers of workers.json. An ssh
worker that cannot be reached takes no job and is shown down; a disabled
worker takes no new job until enabled again (workers.json read again on a
control request); a job its worker lost without an exit code fails as
worker_lost and is queued again requeue_lost times; an invalid workers.json
is refused with its line, and the engine goes on.

Every run of the toy project writes its pid and process group to
pids/NODE, then waits until the test makes the file `gate`."""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402


def gated_workdir(d, workers=None):
    g = os.path.join(d, "g")
    os.makedirs(os.path.join(g, "pids"))
    train = ("import os, time\n"
             "g, node = %r, os.environ['HYPOTOP_NODE']\n"
             "tmp = os.path.join(g, 'pids', '.' + node)\n"
             "with open(tmp, 'w') as f:\n"
             "    f.write('%%d %%d' %% (os.getpid(), os.getpgrp()))\n"
             "os.rename(tmp, os.path.join(g, 'pids', node))\n"
             "while not os.path.exists(os.path.join(g, 'gate')):\n"
             "    time.sleep(0.02)\n"
             "print('val_loss=1.0', flush=True)\n" % g)
    src = lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.5}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "goal": "min", "max_iterations": 1, "patience": 0,
           "max_concurrency": 1, "seed": 0,
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"uniform": [0.01, 1.0]}}}}
    wd = lib.init_config(d, cfg)
    if workers is not None:
        write_workers(wd, workers)
    return wd, g


def write_workers(wd, text):
    tmp = os.path.join(wd, ".workers.json")
    with open(tmp, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(text, indent=2) + "\n")
    os.rename(tmp, os.path.join(wd, "workers.json"))


def started(g):
    return sorted(n for n in os.listdir(os.path.join(g, "pids")) if not n.startswith("."))


def open_gate(g):
    open(os.path.join(g, "gate"), "w").close()


def reload(wd):
    """The control request {"op":"workers"}, as a client sends it; its answer."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(30)
        s.connect(os.path.join(wd, "engine", "control.sock"))
        s.sendall(b'{"op":"workers"}\n')
        answer = b""
        while not answer.endswith(b"\n"):
            chunk = s.recv(4096)
            check(chunk, "the engine closed the connection without an answer")
            answer += chunk
    finally:
        s.close()
    return json.loads(answer)


def free_port():
    """A port on 127.0.0.1 where nothing listens (bound, then let go)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def view(wd):
    """engine/workers.json by worker name."""
    try:
        with open(os.path.join(wd, "engine", "workers.json")) as f:
            return {w["name"]: w for w in json.load(f)["workers"]}
    except (FileNotFoundError, ValueError):
        return {}


def tree(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return {n["id"]: n for n in json.load(f)["nodes"]}


class Engine(lib.Engine):
    def wait(self):
        """Its exit status once it has ended by itself (the work is done)."""
        try:
            return self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise lib.Fail("the engine did not end: %s" % self.said()[-1500:])

    def stop(self, g):
        open_gate(g)
        super().stop()


def baseline_running(d, workers=None):
    """A gated workdir and its engine, once the baseline runs: (wd, g, engine)."""
    wd, g = gated_workdir(d, workers=workers)
    e = Engine(d, wd)
    try:
        lib.wait_for(lambda: started(g) == ["n0000"], "the baseline (%s)" % e.said(), timeout=30)
    except lib.Fail:
        e.stop(g)
        raise
    return wd, g, e


def apply(wd, workers):
    """workers.json rewritten, and the engine told to read it again."""
    write_workers(wd, {"version": 1, "workers": workers})
    a = reload(wd)
    check(a == {"ok": True}, "reload refused: %s" % a)


@lib.test
def an_ssh_worker_out_of_reach_is_down_and_every_node_runs_here():
    d = lib.tmpdir()
    wd, g, e = baseline_running(d, workers={"version": 1, "workers": [
        {"name": "local", "kind": "local"},
        {"name": "gpu-box", "kind": "ssh", "host": "127.0.0.1", "port": free_port(),
         "workspace": os.path.join(d, "remote"), "slots": 2}]})
    try:
        def box_down(w):
            box = w.get("gpu-box")
            return box if box and box["state"] == "down" and box["reason"] else None
        lib.wait_for(lambda: box_down(view(wd)), "engine/workers.json: gpu-box down (%s)"
                     % view(wd), timeout=30)
        st = lib.status_json(wd)
        ws = {w["name"]: w for w in st["workers"]}
        check(box_down(ws), "status --json: gpu-box not down with a reason: %s" % ws)
        check([s["node"] for s in ws["gpu-box"]["slots"]] == ["", ""],
              "gpu-box has a job: %s" % ws["gpu-box"])
        check(ws["local"]["state"] == "up" and ws["local"]["enabled"]
              and [s["node"] for s in ws["local"]["slots"]] == ["n0000"],
              "status --json: local not up with n0000: %s" % ws["local"])
        check(set(ws["local"]) == set(view(wd)["local"]),
              "status --json and engine/workers.json differ in fields: %s" % ws["local"])
        check([r["worker"] for r in st["running"]] == ["local"], "running: %s" % st["running"])
        open_gate(g)
        check(e.wait() == 0, "engine exit: %s" % e.said()[-1500:])
    finally:
        e.stop(g)
    nodes = tree(wd)
    check(len(nodes) > 1, "no round ran: %s" % e.said()[-1500:])
    failed = {i: n for i, n in nodes.items() if n["status"] != "completed"}
    check(not failed, "not all completed: %s" % failed)
    for i in nodes:
        with open(os.path.join(wd, "runs", i, "job.json")) as f:
            job = json.load(f)
        check(job["worker"] == "local", "%s ran on %s" % (i, job["worker"]))
        check(nodes[i]["worker"] == "local", "%s: worker %s" % (i, nodes[i]["worker"]))


@lib.test
def a_disabled_worker_takes_no_new_job_until_enabled_again():
    wd, g, e = baseline_running(lib.tmpdir())
    try:
        apply(wd, [{"name": "local", "kind": "local", "enabled": False}])
        lib.wait_for(lambda: view(wd).get("local", {}).get("state") == "disabled",
                     "local disabled in engine/workers.json (%s)" % view(wd), timeout=30)
        # The running job goes on and ends; the round planned after it is queued.
        open_gate(g)

        def queued():
            st = lib.status_json(wd)
            return st if st["queue"] and not st["running"] else None
        st = lib.wait_for(queued, "the round's nodes queued", timeout=30)
        check(all(q["status"] == "queued" for q in st["queue"]), "queue: %s" % st["queue"])
        check(started(g) == ["n0000"], "launched on a disabled worker: %s" % started(g))
        check(st["engine"]["running"], "the engine stopped: %s" % e.said()[-1500:])
        apply(wd, [{"name": "local", "kind": "local"}])
        want = ["n0000"] + [q["id"] for q in st["queue"]]
        lib.wait_for(lambda: started(g) == sorted(want), "the queued nodes to run once "
                     "enabled (%s)" % started(g), timeout=30)
        check(e.wait() == 0, "engine exit: %s" % e.said()[-1500:])
    finally:
        e.stop(g)
    said = e.said()
    check("worker local: disabled" in said and "worker local: enabled" in said,
          "not said: %s" % said[-1500:])


@lib.test
def an_invalid_workers_file_is_refused_with_its_line_and_the_engine_goes_on():
    wd, g, e = baseline_running(lib.tmpdir())
    try:
        lib.wait_for(lambda: view(wd).get("local"), "engine/workers.json", timeout=30)
        before = view(wd)
        write_workers(wd, '{\n  "version": 1,\n  "workers": [\n'
                          '    {"name": "local", "kind": "local"},\n'
                          '    {"name": "box", "kind": "ssh", "host": "h", "port": 0}\n  ]\n}\n')
        a = reload(wd)
        check(a.get("ok") is False and "workers.json:5:" in a.get("error", "")
              and "port" in a["error"], "answer: %s" % a)
        check(e.p.poll() is None, "the engine stopped: %s" % e.said()[-1500:])
        check(set(view(wd)) == set(before), "the workers changed: %s" % view(wd))
        check("workers.json:5:" in e.said(), "not said: %s" % e.said()[-1500:])
        # Fixed, it is taken.
        apply(wd, [{"name": "local", "kind": "local"}])
        open_gate(g)
        check(e.wait() == 0, "engine exit: %s" % e.said()[-1500:])
    finally:
        e.stop(g)


@lib.test
def a_job_found_after_a_restart_is_watched_on_its_worker_though_renamed():
    # The engine dies while the baseline runs on "local"; meanwhile this
    # machine's worker is renamed "here". The restarted engine watches the
    # job on the worker it ran on, until it ends; new jobs run on "here".
    d = lib.tmpdir()
    wd, g, e = baseline_running(d)
    try:
        e.p.kill()
        e.p.wait()
        write_workers(wd, {"version": 1, "workers": [{"name": "here", "kind": "local"}]})
        e = Engine(d, wd)
        lib.wait_for(lambda: "n0000: re-attached (still running) on local" in e.said(),
                     "the baseline re-attached (%s)" % e.said(), timeout=30)
        lib.wait_for(lambda: set(view(wd)) == {"here", "local"}, "both workers in "
                     "engine/workers.json (%s)" % view(wd), timeout=30)
        check([s["node"] for s in view(wd)["local"]["slots"]] == ["n0000"],
              "local: %s" % view(wd)["local"])
        open_gate(g)
        check(e.wait() == 0, "engine exit: %s" % e.said()[-1500:])
    finally:
        e.stop(g)
    nodes = tree(wd)
    check(len(nodes) > 1 and all(n["status"] == "completed" for n in nodes.values()),
          "nodes: %s" % nodes)
    check(nodes["n0000"]["worker"] == "local", "n0000: %s" % nodes["n0000"])
    for i in sorted(nodes)[1:]:
        check(nodes[i]["worker"] == "here", "%s: %s" % (i, nodes[i]))
    check(set(view(wd)) == {"here"}, "the renamed worker stayed: %s" % view(wd))


PR_SET_CHILD_SUBREAPER = 36


def supervisor_of(pid):
    """The hypotop-job process above pid."""
    while pid > 1:
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() == "hypotop-job":
                return pid
        with open("/proc/%d/stat" % pid) as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
    raise lib.Fail("no hypotop-job above the job")


def reaped(pid):
    """Whether pid is gone; reaped here when it was left to this process."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass
    return not os.path.exists("/proc/%d" % pid)


def lose(g, node):
    """SIGKILL the job of node and its supervisor: no exit code is written."""
    with open(os.path.join(g, "pids", node)) as f:
        pid, pgid = map(int, f.read().split())
    os.kill(supervisor_of(pid), signal.SIGKILL)
    os.killpg(pgid, signal.SIGKILL)
    # The job's processes are left to this process (a subreaper), which
    # reaps them: a zombie would still look like the running job.
    lib.wait_for(lambda: reaped(pgid) and reaped(pid), "the job of %s to be gone" % node,
                 timeout=30)


@lib.test
def a_lost_job_fails_as_worker_lost_and_is_queued_again_once():
    libc = ctypes.CDLL(None, use_errno=True)
    check(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, "prctl: subreaper refused")
    wd, g, e = baseline_running(lib.tmpdir())
    try:
        lose(g, "n0000")
        lib.wait_for(lambda: "n0001" in started(g), "the copy of n0000 to run (%s)"
                     % e.said()[-1500:], timeout=30)
        lose(g, "n0001")
        # The baseline's line failed twice: nothing is left to run or plan.
        check(e.wait() == 0, "engine exit: %s" % e.said()[-1500:])
    finally:
        e.stop(g)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
    nodes = tree(wd)
    check(sorted(nodes) == ["n0000", "n0001"], "nodes: %s" % sorted(nodes))
    for i in nodes:
        n = nodes[i]
        check(n["status"] == "failed" and n["failure"]["kind"] == "worker_lost",
              "%s: %s" % (i, n))
    check(nodes["n0001"].get("retry_of") == "n0000", "n0001: %s" % nodes["n0001"])
    said = e.said()
    check("n0000: lost by its worker; queued again as n0001" in said
          and "n0001: lost by its worker, 2 times in its line: not queued again" in said,
          "not said: %s" % said[-1500:])


lib.finish()
