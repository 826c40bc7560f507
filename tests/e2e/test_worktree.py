"""Work trees lent again: what a job left in one (a symlink out of the tree, a
fifo, a file where a folder was) is removed before the next node's checkout,
without writing through it, and the next node sees exactly its commit."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")


def nodes_of(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return {n["id"]: n for n in json.load(f)["nodes"]}


def run_jobs(d, files, launch, links=None, patch=None, src=None):
    """A repository of files (or src, made already; and symlinks: name ->
    target), one slot, and
    four nodes on the baseline's commit (the last with patch, when given):
    more nodes than the pool has trees, so trees are lent again. Returns
    the workdir, its nodes, and the folder each node ran in."""
    src = src or lib.make_repo(d, files=files)
    for name, target in (links or {}).items():
        os.symlink(target, os.path.join(src, name))
        lib.sh("git", "add", name, cwd=src)
        lib.sh("git", "commit", "-qm", "a link", cwd=src, env=GIT_ENV)
    wd = lib.init_config(d, {"source_dir": src, "launch": launch, "metric": "val_loss",
                             "max_iterations": 0, "max_concurrency": 1})
    for i in range(3):
        args = ["add", wd, "n0000", "again %d" % i]
        if patch and i == 2:
            path = os.path.join(d, "change.diff")
            with open(path, "w") as f:
                f.write(patch)
            args += ["--patch", path]
        rc, out, err = hypotop(*args)
        check(rc == 0, "add: %s" % err)
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    nodes = nodes_of(wd)
    cwd = {}
    for nid in nodes:
        with open(os.path.join(wd, "runs", nid, "job.json")) as f:
            cwd[nid] = json.load(f)["cwd"]
    # The test means nothing unless a tree was lent again.
    check(len(set(cwd.values())) < len(cwd), "no work tree was reused: %s" % cwd)
    return wd, nodes, cwd


def all_saw_the_commit(nodes):
    bad = {k: (n["status"], n["metric"]) for k, n in nodes.items()
           if n["status"] != "completed" or n["metric"] != 1}
    check(not bad, "nodes that did not find their commit's files: %s" % bad)


@lib.test
def a_symlink_in_place_of_a_tracked_folder_is_not_written_through():
    d = lib.tmpdir()
    outside = os.path.join(d, "outside")
    os.makedirs(outside)
    with open(os.path.join(outside, "f.txt"), "w") as f:
        f.write("outside\n")
    # Each job checks that data/ is the commit's folder, then replaces it with
    # a link to a folder outside that holds a file of the same name.
    launch = ("if test -d data -a ! -L data && grep -qx tracked data/f.txt; "
              "then echo val_loss=1; else echo val_loss=9; fi; "
              "rm -rf data && ln -s %s data" % outside)
    patch = ("diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
             "@@ -1 +1 @@\n-print('val_loss=1.0')\n+print('val_loss=2.0')\n")
    wd, nodes, cwd = run_jobs(d, {"train.py": "print('val_loss=1.0')\n",
                                  "data/f.txt": "tracked\n"}, launch, patch=patch)
    with open(os.path.join(outside, "f.txt")) as f:
        check(f.read() == "outside\n", "the checkout wrote through the link")
    check(os.listdir(outside) == ["f.txt"], "outside: %s" % os.listdir(outside))
    all_saw_the_commit(nodes)


@lib.test
def a_fifo_or_a_changed_type_left_by_a_job_is_replaced():
    d = lib.tmpdir()
    # Each job checks model.txt is a plain file and cfg/ a folder, then
    # leaves a fifo for the one, a plain file for the other.
    launch = ("if test -f model.txt -a ! -p model.txt && grep -qx weights model.txt && "
              "test -d cfg && grep -qx a cfg/a.txt; "
              "then echo val_loss=1; else echo val_loss=9; fi; "
              "rm -f model.txt && mkfifo model.txt && rm -rf cfg && echo x > cfg")
    wd, nodes, cwd = run_jobs(d, {"train.py": "print('val_loss=1.0')\n",
                                  "model.txt": "weights\n", "cfg/a.txt": "a\n"}, launch)
    all_saw_the_commit(nodes)


@lib.test
def symlinks_the_commit_tracks_are_kept():
    d = lib.tmpdir()
    # The commit has a link to a folder in the tree; each job checks it,
    # points it elsewhere and links a checkpoint out of the tree.
    outside = os.path.join(d, "outside")
    os.makedirs(outside)
    launch = ("if test \"$(readlink latest)\" = conf && grep -qx a latest/a.txt && "
              "! test -e ckpt; then echo val_loss=1; else echo val_loss=9; fi; "
              "rm latest && ln -s %s latest && mkdir -p ckpt && ln -s %s ckpt/out"
              % (outside, outside))
    wd, nodes, cwd = run_jobs(d, {"train.py": "print('val_loss=1.0')\n", "conf/a.txt": "a\n"},
                              launch, links={"latest": "conf"})
    check(os.listdir(outside) == [], "outside: %s" % os.listdir(outside))
    all_saw_the_commit(nodes)


@lib.test
def a_tree_whose_git_link_a_job_replaced_is_made_again():
    # A .git that leads to the source repository, or a link in place of the
    # tree itself, would have the next checkout write into the user's own
    # repository: its HEAD, its index, its files.
    # Each job checks it runs in a work tree of its own (.git a file, not the
    # repository's folder), then plants the link, where it is in one.
    for what, plant in ((".git", "rm .git && ln -s {src}/.git .git"),
                        ("the tree", "d=$(pwd) && cd .. && rm -rf \"$d\" && ln -s {src} \"$d\"")):
        d = lib.tmpdir()
        src = lib.make_repo(d, files={"train.py": "print('val_loss=1.0')\n"})
        with open(os.path.join(src, "mine.txt"), "w") as f:
            f.write("work in progress\n")
        head = lib.sh("git", "symbolic-ref", "HEAD", cwd=src).stdout
        launch = ("if test -f .git; then echo val_loss=1; " + plant.format(src=src) +
                  "; else echo val_loss=9; fi")
        wd, nodes, cwd = run_jobs(d, {"train.py": "print('val_loss=1.0')\n"}, launch, src=src)
        check(lib.sh("git", "symbolic-ref", "HEAD", cwd=src).stdout == head,
              "%s: the source repository's HEAD was moved" % what)
        check(lib.sh("git", "status", "--porcelain", cwd=src).stdout == "?? mine.txt\n",
              "%s: the source repository changed: %s" % (what, lib.sh("git", "status",
                                                                      "--porcelain", cwd=src).stdout))
        all_saw_the_commit(nodes)


lib.finish()
