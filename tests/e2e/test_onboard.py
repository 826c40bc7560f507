"""Onboarding a real project: params passed as command-line flags from the
search space, the checks init makes of the param file and the source
folder, and `hypotop check` on a project before the loop runs it."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

# An argparse training script, as most projects are: flags, no param file.
# Its loss depends on every flag and on HYPOTOP_SEED, and it writes a
# checkpoint where it is told to.
TRAIN = r'''
import argparse, os, random
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--n-layer", type=int, required=True)
p.add_argument("--act", required=True)
p.add_argument("--out", default="out")
a = p.parse_args()
print(vars(a), flush=True)
random.seed(int(os.environ.get("HYPOTOP_SEED", "0")))
loss = 1.0 + abs(a.lr - 0.01) * 10 + abs(a.n_layer - 4) * 0.1 + (0.05 if a.act == "relu" else 0)
for step in range(1, 4):
    print("step=%d loss=%.6f" % (step, loss + random.random() * 0.01), flush=True)
os.makedirs(os.path.join(os.environ.get("HYPOTOP_RUN_DIR", "."), "ckpt"), exist_ok=True)
os.makedirs(a.out, exist_ok=True)
open(os.path.join(a.out, "model.pt"), "w").write("weights")
print("val_loss=%.6f" % (loss + random.random() * 0.01), flush=True)
'''

SPACE = {
    "lr": {"log_uniform": [0.001, 0.1], "default": 0.003},
    "n_layer": {"int": [2, 8], "default": 4},
    "act": {"choice": ["gelu", "relu", "two words"], "default": "gelu"},
}
LAUNCH = "python3 train.py --lr {lr} --n-layer {n_layer} --act {act}"


def flags_config(src, **over):
    cfg = {"source_dir": src, "launch": LAUNCH, "metric": "val_loss", "max_iterations": 2,
           "patience": 5, "search_space": {"params": SPACE}}
    cfg.update(over)
    return cfg


def write_config(d, cfg):
    path = os.path.join(d, "c.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


@lib.test
def params_as_flags_need_no_param_file():
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": TRAIN})
    cfg = flags_config(src, fixed_experiments=[
        {"name": "relu-deep", "hypothesis": "h",
         "change": {"kind": "params", "params": {"act": "two words", "n_layer": 6}}}])
    wd = lib.init_config(d, cfg)
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, "run: %s" % r.stderr[-1500:])
    st = lib.status_json(wd)
    check(st["counts"].get("failed", 0) == 0 and st["counts"]["completed"] >= 3,
          "counts %s: %s" % (st["counts"], r.stderr[-1500:]))
    with open(os.path.join(wd, "runs", "n0000", "job.json")) as f:
        job = json.load(f)
    check(job["launch"] == "python3 train.py --lr 0.003 --n-layer 4 --act gelu", job["launch"])
    with open(os.path.join(wd, "runs", "n0001", "job.json")) as f:
        job = json.load(f)
    check(job["launch"] == "python3 train.py --lr 0.003 --n-layer 6 --act 'two words'",
          job["launch"])
    with open(os.path.join(wd, "runs", "n0001", "log")) as f:
        log = f.read()
    check("'act': 'two words'" in log and "'n_layer': 6" in log, log[-600:])
    msg = lib.sh("git", "-C", src, "log", "-1", "--format=%B", "hypotop/n0001").stdout
    check("Launch: python3 train.py --lr 0.003 --n-layer 6 --act 'two words'" in msg, msg)
    # The planner's proposals run with their values as flags, each its own command.
    launches = set()
    for n in sorted(os.listdir(os.path.join(wd, "runs"))):
        with open(os.path.join(wd, "runs", n, "job.json")) as f:
            launches.add(json.load(f)["launch"])
    check(len(launches) >= 4, "the planner's nodes ran the same commands: %s" % launches)
    # The echoed arguments make no series.
    with open(os.path.join(wd, "runs", "n0000", "metrics.json")) as f:
        series = sorted(json.load(f)["series"])
    check(series == ["loss", "val_loss"], series)


@lib.test
def a_bad_placeholder_is_refused_at_init():
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": TRAIN})
    for launch, want in [
            ("python3 train.py --lr {lr} --wd {wd}", ["{wd} is not a param", "{{wd}}"]),
            ("awk '{print $1}' x", ["column 6", "{{"])]:
        path = write_config(d, flags_config(src, launch=launch))
        rc, out, err = hypotop("init", os.path.join(d, "wd"), "--config", path)
        check(rc == 2 and "c.json:3: \"launch\"" in err and all(w in err for w in want),
              "%d %s" % (rc, err))
        check(not os.path.exists(os.path.join(d, "wd")), "a workdir was made")


@lib.test
def a_search_space_param_missing_from_the_param_file_is_refused():
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": "print('val_loss=1')\n",
                                  "hparams.json": '{"lr": 0.01}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "search_space": {"file": "hparams.json", "params": {
               "lr": {"log_uniform": [0.001, 0.1]}, "dropout": {"uniform": [0, 0.3]}}}}
    path = write_config(d, cfg)
    rc, out, err = hypotop("init", os.path.join(d, "wd"), "--config", path)
    check(rc == 2 and "search_space.params.dropout" in err and "hparams.json" in err and
          "has no \"dropout\"" in err and "{dropout}" in err, "%d %s" % (rc, err))
    check(not os.path.exists(os.path.join(d, "wd")), "a workdir was made")
    cfg["search_space"]["file"] = "nope.json"
    path = write_config(d, cfg)
    rc, out, err = hypotop("init", os.path.join(d, "wd"), "--config", path)
    check(rc == 2 and "search_space.file" in err and "nope.json" in err, "%d %s" % (rc, err))


@lib.test
def a_source_folder_inside_a_repository_runs_there():
    d = lib.tmpdir()
    train = ("import json\nlr = json.load(open('hparams.json'))['lr']\n"
             "print('val_loss=%g' % (1 + lr), flush=True)\n")
    src = lib.make_repo(d, files={"proj {x}/train.py": train,
                                  "proj {x}/hparams.json": '{"lr": 0.01}\n', "README": "x\n"})
    sub = os.path.join(src, "proj {x}")
    cfg = {"source_dir": sub, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 0,
           "search_space": {"file": "hparams.json", "params": {"lr": {"uniform": [0, 1]}}},
           "fixed_experiments": [{"name": "lr-half", "hypothesis": "h",
                                  "change": {"kind": "params", "params": {"lr": 0.5}}}]}
    path = write_config(d, cfg)
    wd = os.path.join(d, "wd")
    rc, out, err = hypotop("init", wd, "--config", path)
    check(rc == 0 and "the folder proj {x} of the git repository %s" % src in err,
          "%d %s" % (rc, err))
    with open(os.path.join(wd, "config.json")) as f:
        written = json.load(f)
    check(written["source_dir"] == os.path.realpath(src) and
          written["launch"] == "cd 'proj {{x}}' && python3 train.py" and
          written["search_space"]["file"] == "proj {x}/hparams.json", written)
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=120)
    check(r.returncode == 0, r.stderr[-1500:])
    with open(os.path.join(wd, "runs", "n0001", "log")) as f:
        log = f.read()
    check("val_loss=1.5" in log, log[-500:])
    with open(os.path.join(wd, "runs", "n0001", "job.json")) as f:
        check(json.load(f)["launch"] == "cd 'proj {x}' && python3 train.py", "job.json")
    shown = lib.sh("git", "-C", src, "show", "hypotop/n0001:proj {x}/hparams.json").stdout
    check('"lr": 0.5' in shown, shown)
    # The repository's .git is refused, with the folder to give instead.
    rc, out, err = hypotop("init", os.path.join(d, "wd2"), "--source-dir",
                           os.path.join(src, ".git"), "--launch", "python3 train.py",
                           "--metric", "val_loss")
    check(rc == 2 and ".git" in err and "--source-dir %s" % src in err, "%d %s" % (rc, err))
    check(not os.path.exists(os.path.join(d, "wd2")), "a workdir was made")


def check_cmd(wd, *extra):
    r = subprocess.run([lib.BIN, "check", wd] + list(extra), capture_output=True, text=True,
                       timeout=120)
    return r.returncode, r.stdout, r.stderr


@lib.test
def check_runs_the_baseline_and_says_what_it_found():
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": TRAIN})
    wd = lib.init_config(d, flags_config(src, noise={"seeds": 2}))
    before = lib.snapshot(wd)
    rc, out, err = check_cmd(wd)
    check(rc == 0, "exit %d: %s %s" % (rc, out, err))
    for want in ["python3 train.py --lr 0.003 --n-layer 4 --act gelu",
                 "ok    metric val_loss: read 1 time",
                 "val_loss=",
                 "ok    series read: loss, val_loss",
                 "ok    HYPOTOP_SEED: loss differs between seeds 0 and 1",
                 "warn  the run wrote 1 file into its work tree: out/model.pt (7 B)",
                 "$HYPOTOP_RUN_DIR",
                 "ok    lr: a flag; at 0.1 the command is: python3 train.py --lr 0.1 ",
                 "ok    act: a flag; at \"relu\" the command is:",
                 "passed: 0 failed, 1 warning"]:
        check(want in out, "%r not in:\n%s" % (want, out))
    check(lib.snapshot(wd) == before, "check changed the workdir")
    check(lib.status_json(wd)["counts"]["queued"] == 2, "check ran nodes of the workdir")


@lib.test
def check_fails_a_run_without_metric_or_seed():
    d = lib.tmpdir()
    train = "import time\nprint('epoch 1 loss 0.5', flush=True)\ntime.sleep(600)\n"
    src = lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.01}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "noise": {"seeds": 3}, "metrics": {"patterns": {"loss": "loss ([0-9.]+)"}},
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"log_uniform": [0.001, 0.1]}}}}
    wd = lib.init_config(d, cfg)
    rc, out, err = check_cmd(wd, "--seconds", "4")
    check(rc == 1, "exit %d: %s %s" % (rc, out, err))
    for want in ["at most 4 s", "run (seed 0): stopped after ",
                 "FAIL  metric val_loss: never read",
                 "--seconds 0",
                 "FAIL  HYPOTOP_SEED: seeds 0 and 1 printed the same values",
                 "ok    lr: in hparams.json; at 0.1 the file changes",
                 "the end of the first run's output:\nepoch 1 loss 0.5",
                 "FAILED: 2 failed"]:
        check(want in out, "%r not in:\n%s" % (want, out))
    rc, out, err = check_cmd(wd, "--seconds", "soon")
    check(rc == 2 and "--seconds" in err, "%d %s" % (rc, err))
    rc, out, err = hypotop("check", "--help")
    check(rc == 0 and "usage: hypotop check WORKDIR [--seconds S]" in out, out)


lib.finish()
