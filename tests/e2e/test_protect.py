"""protect: the files no change may touch. A node whose work tree does not
have the baseline's protected files (a change rewrote one, a hand edited the
tree, or the job itself did while it ran) fails as `tampered`: before launch
its job never starts, after the run its metric is not taken. The baseline's
files are recorded in engine/protect.json, again when protect changes."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

EVAL = "def score():\n    return 1.0\n"
RIGGED = "def score():\n    return 0.0\n"
TRAIN = "import eval\nprint('started', flush=True)\nprint('val_loss=%s' % eval.score())\n"


def workdir(d, cfg_extra, train=TRAIN):
    """A repository with train.py and eval.py, and a workdir that plans nothing."""
    src = lib.make_repo(d, files={"train.py": train, "eval.py": EVAL})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 0}
    cfg.update(cfg_extra)
    return src, lib.init_config(d, cfg)


def files_change(name, path, content):
    return {"name": name, "hypothesis": name,
            "change": {"kind": "files", "files": [{"path": path, "content": content}]}}


def set_protect(wd, globs):
    """protect set in the workdir's config after the fact, as a person would."""
    lib.set_config(wd, protect=globs)


def run_headless(wd):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stderr


def nodes(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return {n["id"]: n for n in json.load(f)["nodes"]}


def read(wd, *rel):
    path = os.path.join(wd, *rel)
    if not os.path.exists(path):
        return ""
    with open(path) as f:
        return f.read()


def check_tampered(wd, nid, phase, says):
    """nid failed as tampered in phase, its analysis saying says; the baseline is whole."""
    ns = nodes(wd)
    n = ns[nid]
    check(n["status"] == "failed" and n["failure"] == {"kind": "tampered", "phase": phase},
          "%s: %s" % (nid, n))
    check(n.get("metric") is None, "%s: a metric was taken: %s" % (nid, n))
    base = ns["n0000"]
    check(base["status"] == "completed" and base["metric"] == 1.0, "baseline: %s" % base)
    analysis = read(wd, "runs", nid, "analysis.md")
    check(says in analysis and ("protected files may not change" in analysis or
                                "the run changed protected files" in analysis),
          "%s's analysis does not say %r:\n%s" % (nid, says, analysis))
    row = [r for r in read(wd, "master_table.tsv").splitlines() if r.startswith(nid + "\t")]
    check(row and row[0].split("\t")[9] == "tampered", "master_table.tsv: %s" % row)


def recorded(wd):
    with open(os.path.join(wd, "engine", "protect.json")) as f:
        return json.load(f)


def git_blob(src, commit, path):
    return lib.sh("git", "rev-parse", "%s:%s" % (commit, path), cwd=src).stdout.strip()


@lib.test
def a_change_to_a_protected_file_never_runs():
    # The change was queued before protect was set: nothing refused it then.
    d = lib.tmpdir()
    src, wd = workdir(d, {"fixed_experiments": [files_change("rig-the-eval", "eval.py",
                                                             RIGGED)]})
    set_protect(wd, ["eval.py"])
    err = run_headless(wd)
    check_tampered(wd, "n0001", "launch", "eval.py differs from the baseline's")
    check("started" not in read(wd, "runs", "n0001", "log"),
          "the job ran: %s" % read(wd, "runs", "n0001", "log"))
    rec = recorded(wd)
    base = nodes(wd)["n0000"]["commit"]
    check(rec["commit"] == base and rec["globs"] == ["eval.py"] and
          rec["files"] == {"eval.py": git_blob(src, base, "eval.py")}, "record: %s" % rec)
    check("matches no file" not in err, "a warning for a glob that matches: %s" % err)


@lib.test
def protect_changed_after_a_run_is_recorded_again():
    d = lib.tmpdir()
    src, wd = workdir(d, {"protect": ["train.py"]})
    run_headless(wd)
    check(recorded(wd)["globs"] == ["train.py"], "record: %s" % recorded(wd))
    lib.add_patch(wd, "n0000", "a rigged evaluation",
                  "diff --git a/eval.py b/eval.py\n--- a/eval.py\n+++ b/eval.py\n"
                  "@@ -1,2 +1,2 @@\n def score():\n-    return 1.0\n+    return 0.0\n")
    set_protect(wd, ["eval.py", "evl.py"])
    err = run_headless(wd)
    check("recorded again" in err, "no word of the new record: %s" % err[-2000:])
    check('protect: "evl.py" matches no file' in err, "no warning of the typo: %s" % err[-2000:])
    rec = recorded(wd)
    base = nodes(wd)["n0000"]["commit"]
    check(rec["globs"] == ["eval.py", "evl.py"] and
          rec["files"] == {"eval.py": git_blob(src, base, "eval.py")}, "record: %s" % rec)
    # Judged against the baseline's eval.py, not as a file the record lacks.
    check_tampered(wd, "n0001", "launch", "eval.py differs from the baseline's")


@lib.test
def a_job_that_rewrites_a_protected_file_gets_no_result():
    d = lib.tmpdir()
    rigging = ("open('eval.py', 'w').write(%r)\n" % RIGGED) + TRAIN
    src, wd = workdir(d, {"protect": ["eval.py"],
                          "fixed_experiments": [files_change("rig-at-run-time", "train.py",
                                                             rigging)]})
    run_headless(wd)
    check_tampered(wd, "n0001", "run", "eval.py differs from the baseline's")
    check("val_loss=0.0" in read(wd, "runs", "n0001", "log"),
          "the job did not run: %s" % read(wd, "runs", "n0001", "log"))


def tree_of(wd, branch):
    """The work tree under worktrees/ that has branch checked out, or None."""
    top = os.path.join(wd, "worktrees")
    for name in sorted(os.listdir(top)) if os.path.isdir(top) else []:
        r = lib.sh("git", "rev-parse", "--abbrev-ref", "HEAD", cwd=os.path.join(top, name),
                   check_rc=False)
        if r.returncode == 0 and r.stdout.strip() == branch:
            return os.path.join(top, name)
    return None


def prepared(wd, nid):
    for line in read(wd, "engine", "journal.jsonl").splitlines():
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("op") == "prepared" and ev.get("node", {}).get("id") == nid:
            return True
    return False


@lib.test
def a_hand_edit_in_a_prepared_work_tree_stops_its_launch():
    # n0001 runs until the file go exists; meanwhile n0002 is prepared ahead
    # of the one slot, and its work tree edited by hand before its launch.
    d = lib.tmpdir()
    go = os.path.join(d, "go")
    waiting = ("import os, time\nwhile not os.path.exists(%r):\n    time.sleep(0.02)\n"
               % go) + TRAIN
    src, wd = workdir(d, {"protect": ["eval.py"], "fixed_experiments": [
        files_change("waits", "train.py", waiting),
        files_change("harmless", "notes.txt", "nothing protected\n")]})
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        lib.wait_for(lambda: prepared(wd, "n0002"), "n0002 to be prepared ahead", timeout=60)
        tree = tree_of(wd, "hypotop/n0002")
        check(tree, "no work tree has n0002's branch")
        with open(os.path.join(tree, "eval.py"), "w") as f:
            f.write(RIGGED)
        open(go, "w").close()
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    check(p.returncode == 0, "engine exit %d: %s" % (p.returncode, err[-2000:]))
    check(nodes(wd)["n0001"]["status"] == "completed", "n0001: %s" % nodes(wd)["n0001"])
    check_tampered(wd, "n0002", "launch", "eval.py differs from the baseline's")
    check("started" not in read(wd, "runs", "n0002", "log"), "the job ran")


lib.finish()
