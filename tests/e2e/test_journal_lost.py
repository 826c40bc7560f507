"""A journal deleted or emptied loses the changes since the last
checkpoint: every command says so, with what to do, instead of carrying
on with fewer nodes; and a node id is never given twice, even after such
a loss: branches hypotop/nNNNN and runs/ and engine/nodes/ folders of
nodes the workdir no longer knows keep their ids."""

import json
import os
import re
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

TRAIN = "import json\nprint('val_loss=%g' % json.load(open('hparams.json'))['lr'])\n"
LOADERS = [("status", "{wd}"), ("pause", "{wd}", "n0000"), ("run", "--headless", "{wd}")]


def engine_killed_after_some_nodes(d):
    """A workdir whose engine was SIGKILLed with nodes recorded only in
    its journal; returns (src, wd)."""
    src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"lr": 0.01}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 100, "patience": 1000, "max_concurrency": 2,
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"log_uniform": [0.001, 0.3]}}}}
    wd = lib.init_config(d, cfg)
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] >= 3,
                     "three completed nodes", timeout=60)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    # Its jobs run on; they are over when each has written its exit code.
    runs = os.path.join(wd, "runs")
    lib.wait_for(lambda: all(os.path.exists(os.path.join(runs, r, "exit_code"))
                             for r in os.listdir(runs)
                             if os.path.exists(os.path.join(runs, r, "job.json"))),
                 "the jobs to end", timeout=60)
    return src, wd


def tree(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return json.load(f)


def branches(src):
    out = lib.sh("git", "for-each-ref", "--format=%(refname:short) %(objectname)",
                 "refs/heads/hypotop/", cwd=src).stdout.split("\n")
    return dict(line.split() for line in out if line.strip())


def highest(ids):
    return max(int(i[1:]) for i in ids)


def state_files(wd):
    """The workdir's files but those of runs/, where the jobs of a killed
    engine may still write."""
    return {k: v for k, v in lib.snapshot(wd).items() if not k.startswith("runs" + os.sep)}


def refused_everywhere(wd, *wants):
    before = state_files(wd)
    for args in LOADERS:
        rc, out, err = hypotop(*[a.format(wd=wd) for a in args])
        check(rc == 2, "%s: exit %d, want 2 (%s)" % (args[0], rc, err.strip()))
        for w in wants:
            check(w in err, "%s: message %r lacks %r" % (args[0], err.strip(), w))
        check(state_files(wd) == before, "%s changed files" % args[0])
    return err


@lib.test
def a_deleted_journal_is_refused_and_no_id_is_given_twice():
    d = lib.tmpdir()
    src, wd = engine_killed_after_some_nodes(d)
    known = lib.status_json(wd)["total"]
    t = tree(wd)
    check(len(t["nodes"]) < known, "the test needs nodes that only the journal holds")
    runs = sorted(os.listdir(os.path.join(wd, "runs")))
    top = max(highest(runs), highest(b.split("/")[1] for b in branches(src)))
    old_branches = branches(src)
    with open(os.path.join(wd, "runs", "n0001", "log")) as f:
        old_log = f.read()
    journal = os.path.join(wd, "engine", "journal.jsonl")
    os.unlink(journal)
    header = '{"journal":1,"base":%d}' % t["seq"]
    err = refused_everywhere(wd, "engine/journal.jsonl is missing", "engine/tree.json",
                             "runs/n%04d" % highest(runs), "backup", header)
    # Doing what the message says to go on without the lost changes.
    m = re.search(r"echo '(\{[^']*\})' > (\S+)", err)
    check(m and m.group(1) == header and m.group(2) == journal, "no step to go on: %r" % err)
    with open(m.group(2), "w") as f:
        f.write(m.group(1) + "\n")
    rc, out, err = hypotop("status", wd)
    check(rc == 0, "status after the header was written back: %s" % err)
    check("runs/n%04d belongs to no node" % highest(runs) in err,
          "the lost nodes are not said: %r" % err)
    rc, out, err = hypotop("add", wd, "n0000", "a hypothesis after the loss")
    check(rc == 0 and out.startswith("n%04d queued" % (top + 1)),
          "add after the loss, want n%04d: %d %r %r" % (top + 1, rc, out, err))
    # The loop carries on beside the lost nodes, never over them.
    cfg_path = os.path.join(wd, "config.json")
    with open(cfg_path) as f:
        cfg = json.load(f)
    cfg["max_iterations"] = lib.status_json(wd)["iteration"] + 1
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, "run: %d %s" % (r.returncode, r.stderr[-1500:]))
    ids = [n["id"] for n in tree(wd)["nodes"]]
    check(len(ids) > 2 and all(int(i[1:]) > top for i in ids[1:]),
          "an id of a lost node was given again: %s (lost up to n%04d)" % (ids, top))
    now = branches(src)
    check(all(now[b] == c for b, c in old_branches.items()), "a lost node's branch moved")
    with open(os.path.join(wd, "runs", "n0001", "log")) as f:
        check(f.read() == old_log, "a lost node's run folder was written again")


@lib.test
def an_emptied_journal_is_refused():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    for h in ("first", "second"):
        rc, out, err = hypotop("add", wd, "n0000", h)
        check(rc == 0, "add: %s" % err)
    open(os.path.join(wd, "engine", "journal.jsonl"), "w").close()
    refused_everywhere(wd, "engine/journal.jsonl is empty", "backup",
                       '{"journal":1,"base":%d}' % tree(wd)["seq"])


@lib.test
def ids_skip_the_branches_and_folders_of_unknown_nodes():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    with open(os.path.join(wd, "config.json")) as f:
        src = json.load(f)["source_dir"]
    lib.sh("git", "branch", "hypotop/n0007", cwd=src)
    rc, out, err = hypotop("add", wd, "n0000", "after a branch")
    check(rc == 0 and out.startswith("n0008 queued"), "want n0008: %r %r" % (out, err))
    os.makedirs(os.path.join(wd, "runs", "n0011"))
    rc, out, err = hypotop("add", wd, "n0000", "after a run folder")
    check(rc == 0 and out.startswith("n0012 queued"), "want n0012: %r %r" % (out, err))
    check("runs/n0011 belongs to no node" in err, "not said: %r" % err)
    os.makedirs(os.path.join(wd, "engine", "nodes", "n0014"))
    rc, out, err = hypotop("add", wd, "n0008", "after a node folder")
    check(rc == 0 and out.startswith("n0015 queued"), "want n0015: %r %r" % (out, err))
    s = lib.status_json(wd)
    check([q["id"] for q in s["queue"]] == ["n0000", "n0008", "n0012", "n0015"],
          "queue: %s" % s["queue"])


lib.finish()
