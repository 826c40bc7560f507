"""The terminal UI end to end: the real binary in a real terminal (tmux on a
private socket), keys sent as a person types them, the screen read back with
capture-pane and the effect checked on disk (status --json). Every wait polls
for the expected state with a deadline; nothing sleeps to synchronise.
Needs tmux ('make deps' installs it)."""

import json
import os
import shlex
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import Tmux, check, hypotop, need_tmux  # noqa: E402

# A run that reports progress, tries to take over the terminal through its
# log, then waits for the test to let it finish.
TRAIN = r'''import os, sys, time
go = sys.argv[1]
print("total_steps=100", flush=True)
print("step=1 loss=1.0", flush=True)
sys.stdout.write("\x1b]0;PWNED\x07evil title\n\x1b[2J\x1b[31mred\x1b[0m after clear\n")
sys.stdout.flush()
while not os.path.exists(go):
    time.sleep(0.05)
print("step=100 loss=0.5", flush=True)
print("val_loss=0.5", flush=True)
'''

# A run that floods its log: 5 million lines a second (100 MB/s) until the
# stop file exists, every one with a metric value, then the final value.
FLOOD = r'''import os, sys, time
stop = sys.argv[1]
block = b"step=1 val_loss=0.5\n" * 50000
rate = 100e6
out = sys.stdout.buffer
t0 = time.monotonic()
n = 0
while not os.path.exists(stop) and n < 6e9:
    ahead = n / rate - (time.monotonic() - t0)
    if ahead > 0:
        time.sleep(ahead)
    out.write(block)
    n += len(block)
out.flush()
print("val_loss=0.25", flush=True)
'''


def workdir(d):
    src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"lr": 0.01}\n'})
    wd = os.path.join(d, "wd")
    go = os.path.join(d, "go")
    rc, out, err = hypotop("init", wd, "--source-dir", src, "--launch",
                           "python3 train.py " + shlex.quote(go), "--metric", "val_loss",
                           "--max-concurrency", "1")
    check(rc == 0, "init: %s" % err)
    for h in ("first idea", "second idea", "third idea"):
        rc, out, err = hypotop("add", wd, "n0000", h)
        check(rc == 0, "add: %s" % err)
    return wd, go


def ui_command(d, wd, n):
    """hypotop WORKDIR in the pane; its exit status lands in exit-N."""
    ex = os.path.join(d, "exit-%d" % n)
    return "%s %s 2>%s; %s" % (shlex.quote(lib.BIN), shlex.quote(wd),
                               shlex.quote(ex + ".err"), status_to(ex)), ex


def status_to(path):
    """Shell words that write $? to path whole: it exists only once complete."""
    return "echo $? > %s.tmp && mv %s.tmp %s" % ((shlex.quote(path),) * 3)


def leave(t, question, ex):
    """q asks the question, y answers it: the UI ends with status 0."""
    t.keys("q")
    t.wait_screen(lambda s: question in s, "the question %r" % question)
    t.keys("y")
    lib.wait_for(lambda: os.path.exists(ex) and os.path.getsize(ex) > 0,
                 "the UI to exit and its status written")
    with open(ex) as f:
        status = f.read().strip()
    check(status == "0", "exit status %s after %r" % (status, question))


def open_ui(x, y):
    """A new workdir (workdir()) and hypotop WORKDIR in an x by y terminal."""
    need_tmux()
    d = lib.tmpdir()
    wd, go = workdir(d)
    cmd, ex = ui_command(d, wd, 1)
    return d, wd, go, ex, Tmux(d, cmd, x=x, y=y)


def node(st, nid):
    for q in st["queue"]:
        if q["id"] == nid:
            return q
    return None


def queue_ids(wd):
    return [q["id"] for q in lib.status_json(wd)["queue"]]


def tree_status(wd, nid):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        for n in json.load(f)["nodes"]:
            if n["id"] == nid:
                return n["status"]
    return None


@lib.test
def steer_the_queue_from_the_ui_quit_and_reopen():
    need_tmux()
    d = lib.tmpdir()
    wd, go = workdir(d)
    cmd, ex = ui_command(d, wd, 1)
    t = Tmux(d, cmd)
    try:
        t.wait_screen(lambda s: "n0003" in s and "third-idea" in s, "the tree")
        lib.wait_for(lambda: any(r["id"] == "n0000" for r in lib.status_json(wd)["running"]),
                     "the baseline running")
        check(queue_ids(wd) == ["n0001", "n0002", "n0003"], "queue %s" % queue_ids(wd))

        # + on the last queued node: one less than the node before it.
        t.keys("G")
        t.wait_screen(lambda s: "Log n0003" in s, "n0003 selected")
        t.keys("+")
        lib.wait_for(lambda: queue_ids(wd) == ["n0003", "n0001", "n0002"],
                     "n0003 first after +")
        check(node(lib.status_json(wd), "n0003")["priority"] == -1, "priority after +")
        # - : one more than the node after it.
        t.keys("-")
        lib.wait_for(lambda: queue_ids(wd) == ["n0001", "n0002", "n0003"],
                     "n0003 last after -")
        check(node(lib.status_json(wd), "n0003")["priority"] == 1, "priority after -")

        # p holds a queued node.
        t.keys("p")
        lib.wait_for(lambda: node(lib.status_json(wd), "n0003")["status"] == "paused",
                     "n0003 paused")
        t.wait_screen(lambda s: "p resume" in s, "the hint offers resume")

        # c asks, y cancels.
        t.keys("k")
        t.wait_screen(lambda s: "Log n0002" in s, "n0002 selected")
        t.keys("c")
        t.wait_screen(lambda s: "cancel n0002" in s and "(y/n)" in s, "the question")
        t.keys("y")
        lib.wait_for(lambda: node(lib.status_json(wd), "n0002") is None, "n0002 cancelled")

        # The runs go on; the held node is not launched.
        with open(go, "w"):
            pass
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 2,
                     "the baseline and n0001 completed", timeout=60)
        st = lib.status_json(wd)
        check(st["counts"]["paused"] == 1 and node(st, "n0003")["status"] == "paused",
              "n0003 not held: %s" % st["queue"])
        check(not os.path.exists(os.path.join(wd, "runs", "n0003")), "n0003 was launched")
        check(not st["running"], "still running: %s" % st["running"])

        # The log's escapes neither retitle the terminal nor clear the screen.
        t.keys("g")
        t.wait_screen(lambda s: "evil title" in s and "red after clear" in s, "n0000's log")
        s = t.screen()
        check("PWNED" not in s and "PWNED" not in t.title(), "the log set the title")
        check("Hypotheses" in s and "n0003" in s, "the screen was cleared:\n" + s)

        # Resize to 80x24 and back.
        t.tmux("resize-window", "-t", "t", "-x", "80", "-y", "24")
        t.wait_screen(lambda s: len(s.rstrip("\n").splitlines()) == 24 and "Hypotheses" in s
                      and "failed 0" not in s and " q quit" in s, "the 80x24 layout")
        check(all(len(ln) <= 80 for ln in t.screen().splitlines()), "lines wider than 80")
        t.tmux("resize-window", "-t", "t", "-x", "120", "-y", "40")
        t.wait_screen(lambda s: len(s.rstrip("\n").splitlines()) >= 39 and "failed 0" in s,
                      "the 120x40 layout")

        # q asks; y quits; the engine checkpoints as interrupted.
        leave(t, "quit hypotop?", ex)
        st = lib.status_json(wd)
        check(not st["engine"]["running"] and st["engine"]["state"] == "interrupted",
              "engine after quit: %s" % st["engine"])
    finally:
        t.close()

    # Reopen: the state is as it was left; resume the held node and let it run.
    cmd, ex = ui_command(d, wd, 2)
    t = Tmux(d, cmd, x=80, y=24)
    try:
        t.wait_screen(lambda s: "n0003" in s and "third-idea" in s, "the tree again")
        t.keys("G")
        t.wait_screen(lambda s: "Log n0003" in s and "p resume" in s, "n0003 held")
        t.keys("p")
        lib.wait_for(lambda: tree_status(wd, "n0003") == "completed" or
                     lib.status_json(wd)["counts"]["completed"] == 3,
                     "n0003 ran after resume", timeout=60)
        t.wait_screen(lambda s: "DONE" in s, "the engine done, the UI still open")
        t.keys("q")
        t.wait_screen(lambda s: "quit hypotop?" in s, "the quit question")
        t.keys("y")
        lib.wait_for(lambda: os.path.exists(ex), "hypotop to exit")
        check(lib.status_json(wd)["engine"]["state"] == "stopped", "state after done")
    finally:
        t.close()


@lib.test
def engine_pause_from_the_ui():
    d, wd, go, ex, t = open_ui(100, 30)
    try:
        t.wait_screen(lambda s: "RUNNING" in s, "the engine running")
        t.keys("P")
        t.wait_screen(lambda s: "PAUSED" in s, "the engine paused")
        with open(os.path.join(wd, "engine", "engine_state.json")) as f:
            check(json.load(f)["state"] == "paused", "engine_state.json not paused")
        # Paused: the baseline finishes, nothing new starts.
        with open(go, "w"):
            pass
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 1,
                     "the baseline completed", timeout=60)
        st = lib.status_json(wd)
        check(not st["running"] and len(st["queue"]) == 3, "launched while paused: %s" % st)
        t.keys("P")
        t.wait_screen(lambda s: "RUNNING" in s or "DONE" in s, "the engine resumed")
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 4,
                     "the queue run after resume", timeout=60)
        t.keys("q", "y")
        lib.wait_for(lambda: os.path.exists(ex), "hypotop to exit")
    finally:
        t.close()


def divider_column(screen):
    """The column of the pane divider in the tree's first row, or None."""
    rows = screen.splitlines()
    return rows[1].find("│") if len(rows) > 1 and "│" in rows[1] else None


@lib.test
def closing_a_pager_gives_back_the_divider_and_leaves_nothing():
    d, wd, go, ex, t = open_ui(100, 30)
    try:
        # The log pane has the line the log pager is known by: the pager shows no less.
        t.wait_screen(lambda s: "n0003" in s and divider_column(s) and "evil title" in s,
                      "the tree, the divider and the log")
        col = divider_column(t.screen())
        rows = range(1, 27)  # the panes: below the title row, above the bars
        for key, shown in (("?", "Help"), ("d", "no change"), ("s", "spec.json"),
                           ("l", "evil title")):
            t.keys(key)
            t.wait_screen(lambda s: shown in s and "│" not in "".join(
                ln[col:col + 1] for ln in s.splitlines()[2:20]), "the pager of %s" % key)
            t.keys("q")

            def restored(s):
                lines = s.splitlines()
                return len(lines) > 27 and all(lines[r][col:col + 1] == "│" for r in rows)
            t.wait_screen(restored, "the divider back after the pager of %s" % key, timeout=5)
        t.keys("q", "y")
        lib.wait_for(lambda: os.path.exists(ex), "hypotop to exit")
    finally:
        t.close()


@lib.test
def d_shows_the_git_diff_of_the_nodes_commit():
    need_tmux()
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"lr": 0.01}\n'})
    go = os.path.join(d, "go")
    with open(go, "w"):
        pass
    wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py " + shlex.quote(go),
                             "metric": "val_loss", "max_concurrency": 1, "max_iterations": 0,
                             "search_space": {"file": "hparams.json",
                                              "params": {"lr": {"log_uniform": [1e-3, 1]}}}})
    rc, out, err = hypotop("add", wd, "n0000", "a higher lr", "--param", "lr=0.02")
    check(rc == 0, "add: %s" % err)
    cmd, ex = ui_command(d, wd, 1)
    t = Tmux(d, cmd, x=120, y=40)
    try:
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 2, "n0001 run",
                     timeout=60)
        t.keys("G")
        t.wait_screen(lambda s: "Log n0001" in s, "n0001 selected")
        t.keys("d")
        t.wait_screen(lambda s: "diff --git a/hparams.json b/hparams.json" in s and
                      '-{"lr": 0.01}' in s and '+{"lr": 0.02}' in s,
                      "the diff of n0001's commit against n0000's")
        t.keys("q", "g", "d")
        t.wait_screen(lambda s: "n0000" in s and "no change" in s, "the baseline's diff")
        t.keys("q", "q", "y")
        lib.wait_for(lambda: os.path.exists(ex), "hypotop to exit")
    finally:
        t.close()


# An editor for `a`: writes a patch into the file, or leaves it as it is
# when the file "empty" exists beside it.
EDITOR = r"""#!/bin/sh
here=$(dirname "$0")
[ -e "$here/empty" ] && exit 0
printf 'diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1 +1 @@\n-import os, sys, time\n+import os, sys, time  # patched\n' >> "$1"
"""


def tree_node(wd, nid):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return next((n for n in json.load(f)["nodes"] if n["id"] == nid), None)


@lib.test
def a_asks_for_the_change_params_or_a_patch_in_the_editor():
    need_tmux()
    d = lib.tmpdir()
    wd, go = workdir(d)
    editor = os.path.join(d, "editor.sh")
    with open(editor, "w") as f:
        f.write(EDITOR)
    os.chmod(editor, 0o755)
    cmd, ex = ui_command(d, wd, 1)
    t = Tmux(d, cmd, env={"EDITOR": editor, "VISUAL": ""})
    try:
        t.wait_screen(lambda s: "n0003" in s and "Log n0000" in s, "the tree")

        def add(hypothesis, change):
            """a under n0000, the hypothesis, then the change (None: Enter alone)."""
            t.keys("g", "a")
            t.wait_screen(lambda s: "hypothesis under n0000" in s, "the question")
            t.keys("-l", hypothesis)
            t.keys("Enter")
            t.wait_screen(lambda s: "name=value" in s and "$EDITOR" in s, "the change asked for")
            if change:
                t.keys("-l", change)
            t.keys("Enter")

        add("a higher lr", "lr=0.02")
        lib.wait_for(lambda: node(lib.status_json(wd), "n0004"), "n0004 added")
        add("mark the import", None)
        lib.wait_for(lambda: node(lib.status_json(wd), "n0005"), "n0005 added")
        t.wait_screen(lambda s: "Hypotheses" in s and "n0005" in s, "the screen back")
        with open(os.path.join(d, "empty"), "w"):
            pass
        add("nothing really", None)
        t.wait_screen(lambda s: "nothing added" in s and "no change" in s, "the refusal")
        check(node(lib.status_json(wd), "n0006") is None, "a node with no change was added")
        t.keys("q", "y")
        lib.wait_for(lambda: os.path.exists(ex), "hypotop to exit")
    finally:
        t.close()
    # tree.json, written as the engine stops, has the changes.
    n = tree_node(wd, "n0004")
    check(n["hypothesis"] == "a higher lr" and
          n["change"] == {"kind": "params", "params": {"lr": 0.02}}, "n0004: %s" % n)
    n = tree_node(wd, "n0005")
    check(n["change"]["kind"] == "patch" and "# patched" in n["change"]["patch"] and
          "# The patch" not in n["change"]["patch"], "n0005: %s" % n)
    check(tree_node(wd, "n0006") is None, "n0006 in tree.json")


@lib.test
def closing_the_terminal_stops_the_engine_cleanly():
    need_tmux()
    d = lib.tmpdir()
    wd, go = workdir(d)
    cmd, ex = ui_command(d, wd, 1)
    t = Tmux(d, cmd)
    try:
        t.wait_screen(lambda s: "RUNNING" in s and "Log n0000" in s, "the UI")
        lib.wait_for(lambda: lib.status_json(wd)["running"], "the baseline running")
    finally:
        t.close()  # the terminal goes away under hypotop: SIGHUP
    # The engine releases its lock, then writes its last checkpoint and state.
    lib.wait_for(lambda: lib.status_json(wd)["engine"]["state"] == "interrupted" and
                 not lib.status_json(wd)["engine"]["running"],
                 "the engine to stop as interrupted", timeout=20)
    # The job was left running, and the next start re-attaches to it.
    with open(go, "w"):
        pass
    rc, out, err = hypotop("run", "--headless", wd)
    check(rc == 0 and "re-attached" in err, "%d %s" % (rc, err[-800:]))
    check(lib.status_json(wd)["counts"]["completed"] == 4, "not all ran")


@lib.test
def the_ui_attaches_to_a_headless_engine_steers_it_and_detaches():
    need_tmux()
    d = lib.tmpdir()
    wd, go = workdir(d)
    with open(os.path.join(d, "engine.err"), "w") as err:
        p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=err)
    t = None
    try:
        lib.wait_for(lambda: lib.status_json(wd)["running"], "the baseline running", timeout=30)
        cmd, ex = ui_command(d, wd, 1)
        t = Tmux(d, cmd)
        t.wait_screen(lambda s: "attached to pid %d" % p.pid in s and "q detaches" in s and
                      "third-idea" in s, "the UI attached to the engine")
        # The running baseline's log, read from its file; its slot in the workers pane.
        t.wait_screen(lambda s: "Log n0000" in s and "step=1 loss=1.0" in s and
                      "1/1 slots busy" in s, "the baseline's log and slot")

        # Live: a node another command adds shows up.
        rc, out, e = hypotop("add", wd, "n0000", "fourth idea")
        check(rc == 0 and out.startswith("n0004"), "add: %s %s" % (out, e))
        t.wait_screen(lambda s: "n0004" in s and "fourth-idea" in s, "n0004 on the screen")

        # p on a queued node is the engine's pause: journalled, and said in its log.
        t.keys("G")
        t.wait_screen(lambda s: "Log n0004" in s, "n0004 selected")
        t.keys("p")
        lib.wait_for(lambda: node(lib.status_json(wd), "n0004")["status"] == "paused",
                     "n0004 paused by the engine")
        t.wait_screen(lambda s: "p resume" in s, "the hint offers resume")
        with open(os.path.join(wd, "engine", "journal.jsonl")) as f:
            ops = [json.loads(ln) for ln in f if ln.strip()]
        check(any(ev.get("op") == "pause" and ev["node"]["id"] == "n0004" for ev in ops),
              "no pause of n0004 in the journal")
        with open(os.path.join(wd, "logs", "hypotop.log")) as f:
            check("pause n0004: n0004 is paused" in f.read(), "the engine did not say so")
        # The engine's own pause is not a control operation: the key says why.
        t.keys("P")
        t.wait_screen(lambda s: "P pauses the engine only" in s, "why P does nothing")

        # q detaches; the engine and its job go on.
        leave(t, "detach from the engine", ex)
        check(p.poll() is None, "the engine stopped with the UI")
        st = lib.status_json(wd)
        check(st["engine"]["running"] and st["engine"]["pid"] == p.pid and st["running"],
              "engine after detaching: %s" % st["engine"])
        with open(go, "w"):
            pass
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 4,
                     "the engine to run the queue after the UI left", timeout=60)
    finally:
        if t:
            t.close()
        p.terminate()
        p.wait(timeout=30)
    check(p.returncode == 0, "engine exit %d" % p.returncode)


@lib.test
def without_a_terminal_the_ui_says_so():
    d = lib.tmpdir()
    wd, go = workdir(d)
    r = subprocess.run([lib.BIN, wd], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2 and "needs a terminal" in r.stderr and "run --headless" in r.stderr,
          "%d %s" % (r.returncode, r.stderr))
    check(not lib.status_json(wd)["engine"]["running"], "an engine was left running")


@lib.test
def demo_opens_the_ui():
    need_tmux()
    d = lib.tmpdir()
    ex, err = os.path.join(d, "exit"), os.path.join(d, "stderr")
    cmd = "%s demo %s 2>%s; %s" % (
        shlex.quote(lib.BIN), shlex.quote(os.path.join(d, "demo")), shlex.quote(err),
        status_to(ex))
    t = Tmux(d, cmd)
    try:
        t.wait_screen(lambda s: "DONE" in s and "max_iterations" in s, "the demo done",
                      timeout=180)
        t.keys("q")
        t.wait_screen(lambda s: "quit hypotop?" in s, "the quit question")
        t.keys("y")
        lib.wait_for(lambda: os.path.exists(ex) and os.path.getsize(ex) > 0,
                     "hypotop to exit and its status written")
        with open(ex) as f, open(err) as e:
            status = f.read().strip()
            check(status == "0", "exit status %s: %s" % (status, e.read()[-1500:]))
    finally:
        t.close()


def answer_time(t, key, want, limit=10.0):
    """Seconds from sending key to the screen showing want; limit if never."""
    t0 = time.monotonic()
    t.keys(key)
    while time.monotonic() - t0 < limit:
        if want in t.screen():
            return time.monotonic() - t0
    return limit


@lib.test
def keys_are_answered_while_a_job_floods_its_log():
    need_tmux()
    d = lib.tmpdir()
    stop = os.path.join(d, "stop")
    src = lib.make_repo(d, files={"train.py": FLOOD, "hparams.json": '{"lr": 0.01}\n'})
    wd = os.path.join(d, "wd")
    rc, out, err = hypotop("init", wd, "--source-dir", src, "--launch",
                           "python3 train.py " + shlex.quote(stop), "--metric", "val_loss",
                           "--max-concurrency", "1")
    check(rc == 0, "init: %s" % err)
    rc, out, err = hypotop("add", wd, "n0000", "second idea")
    check(rc == 0, "add: %s" % err)
    log = os.path.join(wd, "runs", "n0000", "log")
    cmd, ex = ui_command(d, wd, 1)
    t = Tmux(d, cmd)
    try:
        t.wait_screen(lambda s: "Log n0000" in s and "n0001" in s, "the UI")
        lib.wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 64e6,
                     "the flood under way", timeout=60)
        size0, t0 = os.path.getsize(log), time.monotonic()
        # Down to n0001 and back up to the flooding n0000, whose log the pane reads;
        # a key left unanswered leaves the screen as it was: the next is not timed.
        times = []
        for i in range(10):
            times.append(answer_time(t, "j" if i % 2 == 0 else "k",
                                     "Log n0001" if i % 2 == 0 else "Log n0000"))
            if times[-1] >= 1.0:
                break
        rate = (os.path.getsize(log) - size0) / (time.monotonic() - t0) / 1e6
        figures = "key to screen: %s s (the log grew %.0f MB/s meanwhile)" % (
            " ".join("%.3f" % x for x in times), rate)
        print("# " + figures)
        check(max(times) < 1.0, "a key waited too long: " + figures)
        check(not os.path.exists(ex), "hypotop exited during the flood")
        check(lib.status_json(wd)["running"], "the flood ended before the keys were timed")

        # The last line holds the final metric: it is read, whatever was passed over.
        with open(stop, "w"):
            pass
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 2,
                     "the flooding run and the next collected", timeout=120)
        with open(os.path.join(wd, "runs", "n0000", "metrics.json")) as f:
            last = json.load(f)["series"]["val_loss"]["last"]
        check(last == 0.25, "metrics.json: val_loss last %s" % last)
        t.keys("q")
        t.wait_screen(lambda s: "quit hypotop?" in s, "the quit question")
        t.keys("y")
        lib.wait_for(lambda: os.path.exists(ex), "hypotop to exit")
        with open(os.path.join(wd, "engine", "tree.json")) as f:
            n = [n for n in json.load(f)["nodes"] if n["id"] == "n0000"][0]
        check(n["status"] == "completed" and n["metric"] == 0.25, "n0000: %s" % n)
    finally:
        with open(stop, "w"):
            pass
        t.close()


lib.finish()
