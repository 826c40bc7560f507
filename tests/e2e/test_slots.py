"""End to end: slots stay busy while there is work (planning overlaps the
runs, rounds follow the free slots, confirmation repeats side by side),
and a person's queue operations reach nodes prepared ahead.

Every run of the toy project says it started (started/NODE: its commit and
seed), then waits until the test opens its gate (gate/NODE, whose text is
the val_loss it prints, or gate/all for 1.0), so that the test decides
when each run ends and what it scores."""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402


def gated_workdir(d, slots, seeds=1, max_iterations=20):
    g = os.path.join(d, "g")
    for sub in ("started", "gate", "ended"):
        os.makedirs(os.path.join(g, sub))
    train = ("import os, time\n"
             "g, node = %r, os.environ['HYPOTOP_NODE']\n"
             "with open(os.path.join(g, '.' + node), 'w') as f:\n"
             "    f.write(os.environ['HYPOTOP_COMMIT'] + ' ' + os.environ['HYPOTOP_SEED'])\n"
             "os.rename(os.path.join(g, '.' + node), os.path.join(g, 'started', node))\n"
             "print('step=1 loss=1.0', flush=True)\n"
             "mine, every = os.path.join(g, 'gate', node), os.path.join(g, 'gate', 'all')\n"
             "while not os.path.exists(mine) and not os.path.exists(every):\n"
             "    time.sleep(0.02)\n"
             "v = open(mine).read().strip() if os.path.exists(mine) else '1.0'\n"
             "open(os.path.join(g, 'ended', node), 'w').close()\n"
             "print('val_loss=' + v, flush=True)\n" % g)
    src = lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.5}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "goal": "min", "max_iterations": max_iterations, "patience": 0,
           "max_concurrency": slots, "seed": 0, "noise": {"seeds": seeds, "k": 1.0},
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"uniform": [0.01, 1.0]}}}}
    return lib.init_config(d, cfg), g


def started(g):
    return sorted(os.listdir(os.path.join(g, "started")))


def running(g):
    """The runs that have started and not ended."""
    return [n for n in started(g) if not os.path.exists(os.path.join(g, "ended", n))]


def open_gate(g, node, value="1.0"):
    tmp = os.path.join(g, "gate", "." + node)
    with open(tmp, "w") as f:
        f.write(value)
    os.rename(tmp, os.path.join(g, "gate", node))


def commit_of(g, node):
    with open(os.path.join(g, "started", node)) as f:
        return f.read().split()[0]


class Engine(lib.Engine):
    def __init__(self, d, wd, g):
        super().__init__(d, wd)
        self.g = g

    def stop(self):
        open_gate(self.g, "all")
        super().stop()


def status(wd):
    st = lib.status_json(wd)
    return {n["id"]: n["status"] for n in st["running"] + st["queue"]}


def past_the_baseline(d, slots):
    """The engine on a workdir of `slots` slots, its baseline run and ended
    (val_loss 1.0). Returns (wd, g, engine)."""
    wd, g = gated_workdir(d, slots=slots)
    e = Engine(d, wd, g)
    try:
        lib.wait_for(lambda: running(g) == ["n0000"], "the baseline", timeout=30)
    except lib.Fail:
        e.stop()
        raise
    open_gate(g, "n0000")
    return wd, g, e


@lib.test
def rounds_fill_every_free_slot_and_plan_while_runs_go():
    wd, g, e = past_the_baseline(lib.tmpdir(), slots=4)
    try:
        # The first round: one proposal for each of the four slots.
        lib.wait_for(lambda: len(running(g)) == 4, "four runs side by side (%s)" % e.said(),
                     timeout=30)
        first = running(g)
        # One ends: the next round is planned while the other three still run.
        open_gate(g, first[0])
        lib.wait_for(lambda: first[0] not in running(g), "%s to end" % first[0], timeout=30)
        lib.wait_for(lambda: len(running(g)) == 4 and set(first[1:]) <= set(running(g)),
                     "a run of the next round beside the three (%s)" % running(g), timeout=30)
        lib.wait_for(lambda: "round 2:" in e.said(), "the second round to be said",
                     timeout=30)
    finally:
        e.stop()


@lib.test
def the_next_round_is_planned_while_the_last_run_goes():
    wd, g, e = past_the_baseline(lib.tmpdir(), slots=2)
    try:
        # Round 1: three proposals in two slots, the third prepared ahead.
        lib.wait_for(lambda: running(g) == ["n0001", "n0002"], "the first round", timeout=30)
        open_gate(g, "n0001")
        lib.wait_for(lambda: running(g) == ["n0002", "n0003"], "n0003 in the free slot",
                     timeout=30)
        # n0002 ends: nothing is left for its slot while n0003 runs, so the
        # next round is planned now, not once n0003 has ended.
        open_gate(g, "n0002")
        lib.wait_for(lambda: "n0002" not in running(g), "n0002 to end", timeout=30)
        lib.wait_for(lambda: len(running(g)) == 2 and "n0003" in running(g),
                     "a run of round 2 beside n0003 (%s)" % e.said()[-600:], timeout=30)
        check(not os.path.exists(os.path.join(g, "ended", "n0003")), "n0003 ended")
    finally:
        e.stop()



def best_of(wd):
    b = lib.status_json(wd)["best"]
    return b["node"] if b else None


@lib.test
def a_child_runs_beside_its_running_parent_and_is_judged_on_its_result():
    d = lib.tmpdir()
    wd, g = gated_workdir(d, slots=2, max_iterations=0)
    rc, out, err = hypotop("add", wd, "n0000", "a person's experiment", "--param", "lr=0.1")
    check(rc == 0, "add: %s" % err)
    e = Engine(d, wd, g)
    try:
        # The second slot need not idle while the baseline runs: the child
        # builds on the baseline's code, which exists, not on its result.
        lib.wait_for(lambda: running(g) == ["n0000", "n0001"],
                     "the child beside its running parent (%s)" % e.said()[-600:], timeout=30)
        # It ends first, and better than the baseline will: it is no
        # reference, and it is not judged against nothing.
        open_gate(g, "n0001", "0.5")
        lib.wait_for(lambda: "n0001: completed" in e.said(), "n0001 to complete", timeout=30)
        check(best_of(wd) is None, "best before the baseline's result: %s" % best_of(wd))
        # The baseline's result comes: the child is judged against it.
        open_gate(g, "n0000", "1.0")
        lib.wait_for(lambda: best_of(wd) == "n0001",
                     "n0001 judged against the baseline (%s)" % e.said()[-800:], timeout=30)
        lib.wait_for(lambda: not lib.status_json(wd)["engine"]["running"],
                     "the engine to finish", timeout=30)
        with open(os.path.join(wd, "master_table.tsv")) as f:
            rows = {ln.split("\t")[0]: ln.split("\t") for ln in f}
        head = rows["id"]
        check(rows["n0001"][head.index("improved")] == "yes", "table: %s" % rows["n0001"])
    finally:
        e.stop()


def prepared(wd):
    """Nodes prepared ahead (their commit made, not started): id -> commit."""
    return {n["id"]: n["commit"] for n in lib.status_json(wd)["running"]
            if n["status"] == "preparing" and n["commit"]}


@lib.test
def confirmation_repeats_run_side_by_side():
    d = lib.tmpdir()
    wd, g = gated_workdir(d, slots=2, seeds=3, max_iterations=0)
    # Four experiments of a person's, waiting for the baseline.
    for k in range(4):
        rc, out, err = hypotop("add", wd, "n0000", "experiment %d" % k, "--param",
                               "lr=0.%d" % (k + 1))
        check(rc == 0, "add: %s" % err)
    e = Engine(d, wd, g)
    try:
        # The baseline and its two seed copies measure the noise: 1.0 +- 0.01.
        for node, v in (("n0000", "1.0"), ("n0001", "1.01"), ("n0002", "0.99")):
            lib.wait_for(lambda: node in running(g), node, timeout=30)
            open_gate(g, node, v)
        # Two experiments run, the other two are prepared ahead.
        lib.wait_for(lambda: len(running(g)) == 2 and all(n > "n0002" for n in running(g))
                     and len(prepared(wd)) == 2, "two runs and two prepared ahead",
                     timeout=30)
        x, y = running(g)
        # x beats the best by far: two repeats confirm it; its slot goes to
        # a node prepared ahead, which ran before the repeats existed.
        open_gate(g, x, "0.5")
        cx = commit_of(g, x)
        repeats = lambda: [n for n in started(g)  # noqa: E731
                           if n != x and commit_of(g, n) == cx]
        lib.wait_for(lambda: cx in prepared(wd).values(),
                     "a repeat prepared (%s)" % e.said()[-800:], timeout=30)
        lib.wait_for(lambda: len(running(g)) == 2, "a node prepared ahead to take x's slot",
                     timeout=30)
        w = [n for n in running(g) if n != y]
        check(len(w) == 1 and not repeats(), "running: %s" % running(g))
        # The next free slots go to the repeats, before the node prepared earlier.
        open_gate(g, y, "1.0")
        lib.wait_for(lambda: len(repeats()) == 1, "the first repeat to run, before %s"
                     % [n for n in started(g) if n not in (x, y, w[0]) and n > "n0002"],
                     timeout=30)
        lib.wait_for(lambda: cx in prepared(wd).values(), "the second repeat prepared",
                     timeout=30)
        open_gate(g, w[0], "1.0")
        lib.wait_for(lambda: len(repeats()) == 2, "the second repeat to run", timeout=30)
        check(set(repeats()) == set(running(g)), "not side by side: running %s, repeats %s"
              % (running(g), repeats()))
        for r in repeats():
            open_gate(g, r, "0.5")
        lib.wait_for(lambda: "confirmed over 3 runs" in e.said(), "the confirmation",
                     timeout=30)
    finally:
        e.stop()


def op(wd, *args):
    rc, out, err = hypotop(*args[:1], wd, *args[1:])
    return rc, out + err


def one_prepared_ahead(d):
    """One slot and three roots: n0000 runs, n0001 is prepared ahead, n0002
    queued. Returns (wd, g, engine)."""
    wd, g = gated_workdir(d, slots=1, seeds=3, max_iterations=0)
    e = Engine(d, wd, g)
    try:
        lib.wait_for(lambda: running(g) == ["n0000"], "the baseline", timeout=30)
        lib.wait_for(lambda: status(wd).get("n0001") == "preparing", "n0001 prepared ahead",
                     timeout=30)
    except lib.Fail:
        e.stop()
        raise
    return wd, g, e


@lib.test
def queue_operations_reach_nodes_prepared_ahead():
    wd, g, e = one_prepared_ahead(lib.tmpdir())
    try:
        rc, out = op(wd, "prio", "n0001", "5")
        check(rc == 0, "prio of a node prepared ahead: %s" % out)
        open_gate(g, "n0000")
        lib.wait_for(lambda: "n0002" in running(g) or "n0001" in running(g), "the next run",
                     timeout=30)
        check(running(g) == ["n0002"], "n0001 (priority 5) ran before n0002: %s" % running(g))
        lib.wait_for(lambda: status(wd).get("n0001") == "preparing", "n0001 prepared again",
                     timeout=30)
        rc, out = op(wd, "pause", "n0001")
        check(rc == 0, "pause of a node prepared ahead: %s" % out)
        lib.wait_for(lambda: status(wd).get("n0001") == "paused", "n0001 held", timeout=30)
        open_gate(g, "n0002")
        lib.wait_for(lambda: "n0002" not in running(g), "n0002 to end", timeout=30)
        rc, out = op(wd, "resume", "n0001")
        check(rc == 0, "resume: %s" % out)
        lib.wait_for(lambda: running(g) == ["n0001"], "n0001 to run once resumed", timeout=30)
        check(started(g) == ["n0000", "n0001", "n0002"], "started: %s" % started(g))
    finally:
        e.stop()


@lib.test
def pause_without_an_engine_reaches_a_prepared_node():
    wd, g, e = one_prepared_ahead(lib.tmpdir())
    try:
        e.p.send_signal(signal.SIGTERM)
        e.p.wait(timeout=60)
        # No engine: the node prepared ahead has no job, and a person may hold it.
        rc, out = op(wd, "pause", "n0001")
        check(rc == 0, "pause without an engine: %s" % out)
        rc, out = op(wd, "prio", "n0001", "3")
        check(rc == 0, "prio without an engine: %s" % out)
        st = status(wd)
        check(st.get("n0001") == "paused", "status: %s" % st)
    finally:
        e.stop()


lib.finish()
