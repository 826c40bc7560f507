"""slots.py: how busy the run slots stay (SPEC §5). The quickstart
(`hypotop demo`'s project and config) with 4 slots, every run padded to
BENCH_SLOTS_RUN_S seconds (30; shorter for a quick try), the offline
planner. Prints the fraction of slot-time idle while the loop had work to
come: from the first launch to the last one, sum over the slots of the
time no job ran in them. Target: under 5 %. Until the baseline's first
result nothing can be planned, so the figure from that result on is
printed too.

BENCH_SLOTS_BEFORE=REV also builds git revision REV in a temp folder and
prints its figure beside this one, measured the same way, one after the
other. Never fails on a figure."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICKSTART = os.path.join(ROOT, "examples", "quickstart")
SLOTS = 4
# The quickstart's own knob: fewer steps, so that the training itself
# stays well under the padded duration on a small machine.
STEPS = 300


def git(*args, cwd):
    env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@b",
               GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@b")
    subprocess.run(["git"] + list(args), cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL)


def project(d):
    src = os.path.join(d, "project")
    os.makedirs(src)
    shutil.copy(os.path.join(QUICKSTART, "train.py"), src)
    with open(os.path.join(QUICKSTART, "hparams.json")) as f:
        hp = json.load(f)
    hp["steps"] = STEPS
    with open(os.path.join(src, "hparams.json"), "w") as f:
        json.dump(hp, f, indent=2)
    git("init", "-q", cwd=src)
    git("add", ".", cwd=src)
    git("commit", "-qm", "quickstart", cwd=src)
    return src


def config(src, run_s):
    with open(os.path.join(QUICKSTART, "hypotop.json")) as f:
        cfg = json.load(f)
    cfg["source_dir"] = src
    cfg["max_concurrency"] = SLOTS
    # The run itself, then a wait to the fixed duration.
    cfg["launch"] = ("python3 -c \"import subprocess, sys, time; t = time.monotonic(); "
                     "r = subprocess.call([sys.executable, 'train.py']); "
                     "time.sleep(max(0.0, %g - (time.monotonic() - t))); sys.exit(r)\""
                     % run_s)
    return cfg


def idle_fraction(runs, t0, t1):
    """The share of SLOTS x [t0, t1] in which no run went."""
    busy = sum(max(0, min(e, t1) - max(s, t0)) for s, e in runs)
    return 1 - busy / (SLOTS * (t1 - t0))


def idle(wd):
    """(idle fraction from the first launch to the last, the same from the
    first result on, window s, runs) from the runs' start and end times."""
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        nodes = json.load(f)["nodes"]
    runs = [(n["started"], n["finished"]) for n in nodes
            if n.get("started") and n.get("finished")]
    if len(runs) < 2:
        return None, None, 0, len(runs)
    t0 = min(s for s, _ in runs)
    t1 = max(s for s, _ in runs)
    first = min(e for _, e in runs)
    if t1 <= first:
        return None, None, 0, len(runs)
    return (idle_fraction(runs, t0, t1), idle_fraction(runs, first, t1), (t1 - t0) / 1000,
            len(runs))


def engine(binary, d, cfg, timeout):
    """A workdir made in d from cfg, run headless to its end: (workdir,
    the engine's stderr), or (None, what went wrong)."""
    path = os.path.join(d, "config.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    wd = os.path.join(d, "workdir")
    r = subprocess.run([binary, "init", wd, "--config", path], capture_output=True, text=True)
    if r.returncode:
        return None, "init failed: %s" % r.stderr.strip()
    try:
        r = subprocess.run([binary, "run", "--headless", wd], capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, "the loop did not end in time"
    return wd, r.stderr


def measure(binary, d, run_s):
    wd, err = engine(binary, d, config(project(d), run_s), 60 * run_s + 600)
    if not wd:
        return err
    frac, after, window, n = idle(wd)
    if frac is None:
        return "too few runs (%d) to measure: %s" % (n, err.strip()[-300:])
    return ("idle=%.1f %% of slot-time (%d runs, %.0f s from the first launch to the last); "
            "%.1f %% from the first result on" % (100 * frac, n, window, 100 * after))


def build(rev, d, who="slots"):
    """hypotop as of git revision rev, built in d; its path, or None.
    Messages start with who."""
    tree = os.path.join(d, "src")
    os.makedirs(tree)
    archive = subprocess.run(["git", "-C", ROOT, "archive", rev], capture_output=True)
    if archive.returncode:
        print("%s: cannot read %s: %s" % (who, rev, archive.stderr.decode().strip()))
        return None
    subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    r = subprocess.run(["make", "-j2", "hypotop"], cwd=tree, capture_output=True, text=True)
    if r.returncode:
        print("%s: building %s failed: %s" % (who, rev, r.stderr.strip()[-300:]))
        return None
    return os.path.join(tree, "hypotop")


def main():
    run_s = float(os.environ.get("BENCH_SLOTS_RUN_S", "30"))
    before = os.environ.get("BENCH_SLOTS_BEFORE")
    d = tempfile.mkdtemp(prefix="hypotop-bench-slots.")
    try:
        print("== slots: the quickstart, %d slots, %g s runs, offline planner;"
              " slot-time idle while the loop has work to come (target < 5 %%)"
              % (SLOTS, run_s), flush=True)
        print("this build:   %s" % measure(os.path.join(ROOT, "hypotop"),
                                           os.path.join(d, "now"), run_s), flush=True)
        if before:
            old = build(before, os.path.join(d, "before"))
            if old:
                print("%-13s %s" % (before + ":", measure(old, os.path.join(d, "then"), run_s)))
        else:
            print("(BENCH_SLOTS_BEFORE=REV measures an earlier revision beside it)")
    finally:
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
