"""End to end: init, status, the queue commands with and without an engine,
the lock, the control socket and SIGTERM, on the real binary."""

import json
import os
import platform
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402


def start_engine(wd):
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    sock = os.path.join(wd, "engine", "control.sock")
    lib.wait_for(lambda: os.path.exists(sock) or p.poll() is not None, "the control socket")
    if p.poll() is not None:
        raise lib.Fail("engine exited early: %s" % p.stderr.read())
    return p


def stop_engine(p, sig=signal.SIGTERM):
    p.send_signal(sig)
    out, err = p.communicate(timeout=20)
    return p.returncode, err


@lib.test
def help_and_version():
    rc, out, err = hypotop("--help")
    check(rc == 0 and "hypotop init" in out and "hypotop status" in out, "help: %s" % out)
    rc, out, err = hypotop("--version")
    check(rc == 0 and out.startswith("hypotop "), "version: %r" % out)
    rc, out, err = hypotop("frobnicate")
    check(rc == 2 and "not a command" in err, "unknown command: %d %s" % (rc, err))
    rc, out, err = hypotop("status", "--help")
    check(rc == 0 and "usage: hypotop status" in out, "status --help: %s" % out)


@lib.test
def init_records_baseline_commit():
    d = lib.tmpdir()
    wd = lib.make_workdir(d, "--goal", "max", "--max-iterations", "7", "--patience", "3")
    head = lib.sh("git", "rev-parse", "HEAD", cwd=os.path.join(d, "src")).stdout.strip()
    with open(os.path.join(wd, "config.json")) as f:
        cfg = json.load(f)
    check(cfg["goal"] == "max" and cfg["max_iterations"] == 7 and cfg["patience"] == 3,
          "flags not in config: %s" % cfg)
    check(os.path.isabs(cfg["source_dir"]), "source_dir not absolute")
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        tree = json.load(f)
    base = tree["nodes"][0]
    check(base["id"] == "n0000" and base["commit"] == head and base["status"] == "queued",
          "baseline: %s" % base)
    for rel in ("state.json", "workers.json", "engine/checkpoint.json",
                "engine/journal.jsonl", "engine/engine_state.json", "runs", "logs"):
        check(os.path.exists(os.path.join(wd, rel)), "missing %s" % rel)
    # No temp folders or partial files are left beside it.
    check(sorted(os.listdir(d)) == ["src", "wd"], "leftovers: %s" % os.listdir(d))


@lib.test
def init_refuses_an_existing_folder():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    before = lib.snapshot(wd)
    rc, out, err = hypotop("init", wd, "--source-dir", os.path.join(d, "src"),
                           "--launch", "x", "--metric", "m")
    check(rc == 2 and "already exists" in err, "%d %s" % (rc, err))
    check(lib.snapshot(wd) == before, "workdir changed")


@lib.test
def queue_commands_without_engine():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    rc, out, err = hypotop("add", wd, "n0000", "raise the learning rate", "--param", "lr=0.1",
                           "--priority", "3")
    check(rc == 0 and out.startswith("n0001 queued"), "add: %d %s %s" % (rc, out, err))
    rc, out, err = hypotop("add", wd, "n0000", "smaller batches", "--name", "bs16",
                           "--param", "batch_size=16")
    check(rc == 0 and out.startswith("n0002"), "add 2: %s" % err)
    rc, out, err = hypotop("prio", wd, "n0002", "-5")
    check(rc == 0 and out.strip() == "n0002 queued", "prio: %r %s" % (out, err))
    rc, out, err = hypotop("pause", wd, "n0001")
    check(rc == 0 and out.strip() == "n0001 paused", "pause: %r" % out)
    s = lib.status_json(wd)
    order = [(q["id"], q["priority"], q["status"]) for q in s["queue"]]
    check(order == [("n0002", -5, "queued"), ("n0000", 0, "queued"), ("n0001", 3, "paused")],
          "queue order: %s" % order)
    check(s["counts"]["queued"] == 2 and s["counts"]["paused"] == 1 and s["total"] == 3,
          "counts: %s" % s["counts"])
    rc, out, err = hypotop("resume", wd, "n0001")
    check(rc == 0 and out.strip() == "n0001 queued", "resume: %r" % out)
    rc, out, err = hypotop("cancel", wd, "n0001")
    check(rc == 0 and out.strip() == "n0001 cancelled", "cancel: %r" % out)
    rc, out, err = hypotop("retry", wd, "n0001")
    check(rc == 0 and out.startswith("n0003 queued (copy of n0001)"), "retry: %r" % out)
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        json.load(f)  # still valid JSON
    # Without an engine each change is folded into the checkpoint at once, so
    # checkpoint.json shows the queue a person may edit; each was one event.
    with open(os.path.join(wd, "engine", "checkpoint.json")) as f:
        cp = json.load(f)
    check(cp["seq"] == 7, "seq %s after 7 changes" % cp["seq"])
    check([q["id"] for q in cp["queue"]] == ["n0002", "n0000", "n0003"], "checkpoint: %s" % cp)
    with open(os.path.join(wd, "engine", "journal.jsonl")) as f:
        check(f.read().count("\n") == 1, "journal not folded")
    # The text status shows the queue too.
    rc, out, err = hypotop("status", wd)
    check(rc == 0 and "queue (3)" in out and "smaller" not in out and "bs16" in out,
          "text status:\n%s" % out)


@lib.test
def engine_takes_queue_commands_over_its_socket():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")  # nothing to launch
    p = start_engine(wd)
    try:
        s = lib.status_json(wd)
        check(s["engine"]["running"] and s["engine"]["pid"] == p.pid, "engine: %s" % s["engine"])
        rc, out, err = hypotop("add", wd, "n0000", "deeper network", "--param", "layers=4")
        check(rc == 0 and out.startswith("n0001 queued"), "add via socket: %d %s" % (rc, err))
        rc, out, err = hypotop("pause", wd, "n0001")
        check(rc == 0 and out.strip() == "n0001 paused", "pause via socket: %s" % err)
        rc, out, err = hypotop("prio", wd, "n0042", "1")
        check(rc == 2 and "no node" in err, "refusal via socket: %d %s" % (rc, err))
        # A second engine is refused, naming the first one's pid.
        rc, out, err = hypotop("run", "--headless", wd)
        check(rc == 2 and ("engine pid %d" % p.pid) in err, "second engine: %d %s" % (rc, err))
        # A reader sees the change while the engine runs.
        s = lib.status_json(wd)
        check([(q["id"], q["status"]) for q in s["queue"]] == [("n0000", "paused"), ("n0001", "paused")],
              "queue: %s" % s["queue"])
    finally:
        rc, err = stop_engine(p)
    check(rc == 0, "engine exit %d: %s" % (rc, err))
    s = lib.status_json(wd)
    check(not s["engine"]["running"] and s["engine"]["state"] == "interrupted",
          "after SIGTERM: %s" % s["engine"])
    check(s["queue"][1]["status"] == "paused", "pause lost: %s" % s["queue"])
    check(not os.path.exists(os.path.join(wd, "runs", "n0000", "log")), "a paused node ran")
    check(not os.path.exists(os.path.join(wd, "engine", "control.sock")), "socket left behind")
    # After a clean stop the journal was folded into a checkpoint.
    with open(os.path.join(wd, "engine", "checkpoint.json")) as f:
        cp = json.load(f)
    check([q["id"] for q in cp["queue"]] == ["n0000", "n0001"], "checkpoint: %s" % cp)


@lib.test
def long_workdir_path_reaches_the_socket():
    d = lib.tmpdir()
    deep = os.path.join(d, *(["a-rather-long-folder-name"] * 5))
    os.makedirs(deep)
    wd = lib.make_workdir(deep)
    check(len(os.path.join(wd, "engine/control.sock")) > 108, "path not long enough")
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")
    p = start_engine(wd)
    try:
        rc, out, err = hypotop("prio", wd, "n0000", "4")
        check(rc == 0 and out.strip() == "n0000 paused", "prio: %d %s" % (rc, err))
    finally:
        stop_engine(p)
    check(lib.status_json(wd)["queue"][0]["priority"] == 4, "priority lost")


@lib.test
def sigkilled_engine_leaves_a_loadable_workdir():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")
    p = start_engine(wd)
    rc, out, err = hypotop("add", wd, "n0000", "acknowledged before the kill")
    check(rc == 0, "add: %s" % err)
    stop_engine(p, signal.SIGKILL)
    s = lib.status_json(wd)
    check(not s["engine"]["running"], "a dead engine shown as running")
    check(any(q["name"] == "acknowledged-before-the-kill" for q in s["queue"]),
          "acknowledged add lost: %s" % s["queue"])
    # The stale socket does not fool the next command; the lock is free.
    rc, out, err = hypotop("prio", wd, "n0001", "2")
    check(rc == 0 and out.strip() == "n0001 queued", "after kill: %d %s" % (rc, err))
    hypotop("pause", wd, "n0001")
    p = start_engine(wd)
    stop_engine(p)


@lib.test
def add_with_a_request_id_adds_once():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")  # nothing to launch
    args = ("add", wd, "n0000", "wider layers", "--param", "width=256", "--request-id", "job-7")
    rc, first, err = hypotop(*args)
    check(rc == 0 and first.startswith("n0001 queued"), "add: %d %r %s" % (rc, first, err))
    # Again without an engine, through one, after its clean stop and after a
    # SIGKILL (the id read back from the checkpoint, then from the journal).
    rc, out, err = hypotop(*args)
    check(rc == 0 and out == first, "again: %d %r, want %r (%s)" % (rc, out, first, err))
    for hyp, made, how in (("narrower", "n0002", signal.SIGTERM),
                           ("shallower", "n0003", signal.SIGKILL)):
        p = start_engine(wd)
        try:
            rc, out, err = hypotop(*args)
            check(rc == 0 and out == first, "via the engine: %d %r (%s)" % (rc, out, err))
            rc, out, err = hypotop("add", wd, "n0000", hyp, "--request-id", hyp)
            check(rc == 0 and out.startswith(made + " queued"), "a new id: %d %r %s"
                  % (rc, out, err))
        finally:
            stop_engine(p, how)
    for a, made in ((args, "n0001"),
                    (("add", wd, "n0000", "shallower", "--request-id", "shallower"), "n0003")):
        rc, out, err = hypotop(*a)
        check(rc == 0 and out.startswith(made + " queued"), "after SIGKILL: %d %r %s"
              % (rc, out, err))
    names = [q["name"] for q in lib.status_json(wd)["queue"]]
    check(sorted(names) == ["baseline", "narrower", "shallower", "wider-layers"],
          "nodes: %s" % names)
    # The id of another add is refused, naming the node it made.
    before = lib.snapshot(wd)
    rc, out, err = hypotop("add", wd, "n0000", "something else", "--request-id", "job-7")
    check(rc == 2 and "job-7" in err and "n0001" in err, "reused id: %d %r" % (rc, err))
    rc, out, err = hypotop("add", wd, "n0000", "h", "--request-id", "has space")
    check(rc == 2 and "--request-id" in err, "bad id: %d %r" % (rc, err))
    check(lib.snapshot(wd) == before, "a refused add changed files")


# poll(2) and ppoll(2) by machine, for where /proc/PID/wchan says nothing.
POLL_CALLS = {"x86_64": ("7", "271"), "aarch64": ("73",)}


def waiting_in_poll(pid):
    """Whether pid sleeps in poll(2): a queue command that has sent its whole
    request and waits for the engine's answer (it polls nowhere else)."""
    try:
        with open("/proc/%d/wchan" % pid) as f:
            if "poll" in f.read():
                return True
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] in POLL_CALLS.get(platform.machine(), ())
    except (OSError, IndexError):
        return False


@lib.test
def engine_killed_before_answering_is_exit_3():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")  # nothing to launch
    args = ("add", wd, "n0000", "answer lost", "--request-id", "lost-1")
    p = start_engine(wd)
    try:
        # Once it has answered a command, stopped, it cannot read the request
        # of the next; the kernel queues it.
        rc, out, err = hypotop("prio", wd, "n0000", "1")
        check(rc == 0, "prio through the engine: %d %s" % (rc, err))
        p.send_signal(signal.SIGSTOP)
        lib.wait_for(lambda: open("/proc/%d/stat" % p.pid).read().split(") ")[1][0] == "T",
                     "the engine to stop")
        cli = subprocess.Popen([lib.BIN] + list(args), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        try:
            lib.wait_for(lambda: cli.poll() is not None or waiting_in_poll(cli.pid),
                         "the add to wait for the engine's answer")
            if cli.poll() is not None:
                raise lib.Fail("the add ended early: %r" % (cli.communicate(),))
        finally:
            p.send_signal(signal.SIGKILL)
            out, err = cli.communicate(timeout=30)
    finally:
        stop_engine(p, signal.SIGKILL)
    check(cli.returncode == 3, "exit %d, want 3 (outcome unknown): %r" % (cli.returncode, err))
    check("unknown" in err and "--request-id" in err, "message: %r" % err)
    # After a restart, the same add with the same id adds the node once.
    p = start_engine(wd)
    try:
        rc, first, err = hypotop(*args)
        check(rc == 0 and first.startswith("n0001 queued"), "retry: %d %r %s" % (rc, first, err))
        rc, out, err = hypotop(*args)
        check(rc == 0 and out == first, "second retry: %d %r %s" % (rc, out, err))
    finally:
        stop_engine(p)
    names = [q["name"] for q in lib.status_json(wd)["queue"]]
    check(names.count("answer-lost") == 1, "nodes: %s" % names)


@lib.test
def an_unknown_cost_is_shown_as_unknown():
    # A command provider whose command gives no total_cost_usd: its calls'
    # files say "unknown", and so does status, never $0.
    d = lib.tmpdir()
    src = lib.make_repo(d)
    wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py",
                             "metric": "val_loss",
                             "llm": {"provider": "command", "command": "true"}})
    os.makedirs(os.path.join(wd, "logs"), exist_ok=True)
    with open(os.path.join(wd, "logs", "001_analyse_n0000_raw.json"), "w") as f:
        json.dump({"kind": "analyse", "cost_usd": "unknown"}, f)
    rc, out, err = hypotop("status", wd)
    check(rc == 0 and "$0.0000" not in out and "unknown" in out, "status: %s" % out)
    check(lib.status_json(wd).get("llm_cost_known") is False, "status --json: no llm_cost_known")
    # Known costs are summed and said to be complete.
    with open(os.path.join(wd, "logs", "001_analyse_n0000_raw.json"), "w") as f:
        json.dump({"kind": "analyse", "cost_usd": 0.25}, f)
    check(lib.status_json(wd)["llm_cost_known"] is True, "a known cost said unknown")


@lib.test
def demo_without_a_terminal_runs_headless():
    # make demo in a pipe or in CI: the README's first command must succeed.
    d = lib.tmpdir()
    r = subprocess.run([lib.BIN, "demo", os.path.join(d, "demo")], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=120)
    check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr[-800:]))
    check("no terminal" in r.stderr and "headless" in r.stderr.split("\n")[0],
          "does not say it runs headless: %s" % r.stderr[:400])
    check("done: max_iterations" in r.stderr, r.stderr[-400:])
    wd = os.path.join(d, "demo", "workdir")
    check(not lib.status_json(wd)["engine"]["running"], "an engine was left running")


lib.finish()
