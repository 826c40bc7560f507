"""search.py: how well the offline planner searches (SPEC §7), beside
Optuna's default TPE sampler and random search on the same problems with
the same number of runs.

Each problem is a tiny "training script" in a git repository of its own:
it reads its params from hparams.json and prints val_loss, a known
function of them (with noise where the problem says), at once. hypotop
runs it through the real engine (`hypotop run --headless`, the offline
planner, 3 slots, noise.seeds 1): the baseline and then rounds of 3
proposals, max_iterations rounds, so 19 runs for 6 rounds and 40 for 13.
Optuna gets the baseline as its first trial and the same number of
trials in all; random search too. Each method searches 40 runs once per
seed; the figures at 19 are those of its first 19 runs (the same rounds,
or trials, as a search of 19), the kept best then being the lowest metric
among them, as the keep rule has it with noise.seeds 1.

Per problem, budget and method it prints, over the seeds: the median
true (noise-free) objective of the kept best (hypotop: the engine's kept
best node; Optuna and random: the best trial), and the median number of
runs until one lands near the optimum (true objective within the
problem's `near`; a seed that never does counts as budget + 1).
Lower is better for both. Target: hypotop at least as good as TPE on
every problem and better than random search, at 19 and 40 runs.

BENCH_SEARCH_SEEDS: seeds per problem (5); BENCH_SEARCH_PROBLEMS: a
comma-separated list of the problems to run (all); BENCH_SEARCH_JOBS:
engine runs at once (4). BENCH_SEARCH_BEFORE=REV also
builds git revision REV in a temp folder and measures it the same way.
Never fails on a figure."""

import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

from slots import ROOT, build, engine, git

SLOTS = 3
BUDGETS = (19, 40)


def log10(x):
    return math.log10(x)


# ---- the problems: a space, a baseline, the true objective, the noise ----
# Each objective is 0 at its optimum; `near` is what counts as landing there.

def lr_wd(p):
    """2 parameters, a learning rate 2 decades from its optimum."""
    return (log10(p["lr"]) - log10(3e-3)) ** 2 + 40 * (p["weight_decay"] - 0.02) ** 2


def mixed(p):
    """4 parameters of all four kinds; the learning rate's optimum moves with the depth."""
    opt = {"adam": 0.0, "rmsprop": 0.15, "sgd": 0.45}
    best_lr = log10(0.02) - 0.15 * (p["layers"] - 5)
    return ((log10(p["lr"]) - best_lr) ** 2 + 4 * (p["dropout"] - 0.25) ** 2
            + 0.04 * (p["layers"] - 5) ** 2 + opt[p["optimizer"]])


def wide(p):
    """6 parameters, a noisy metric; the learning rate's optimum moves with the batch size."""
    best_lr = log10(1e-3) + 0.5 * log10(p["batch_size"] / 64)
    return ((log10(p["lr"]) - best_lr) ** 2 + 3 * (p["momentum"] - 0.9) ** 2
            + 0.3 * (log10(p["width"]) - log10(256)) ** 2
            + 0.25 * (log10(p["wd"]) - log10(1e-4)) ** 2
            + 5 * (p["warmup"] - 0.1) ** 2 + 0.01 * abs(log10(p["batch_size"] / 64) / log10(2)))


PROBLEMS = [
    {"name": "lr_wd", "f": lr_wd, "noise": 0.0, "near": 0.05,
     "space": {"lr": {"log_uniform": [1e-5, 1.0]}, "weight_decay": {"uniform": [0.0, 0.1]}},
     "base": {"lr": 0.3, "weight_decay": 0.05}},
    {"name": "mixed", "f": mixed, "noise": 0.0, "near": 0.1,
     "space": {"lr": {"log_uniform": [1e-4, 1.0]}, "dropout": {"uniform": [0.0, 0.8]},
               "layers": {"int": [1, 8]}, "optimizer": {"choice": ["sgd", "adam", "rmsprop"]}},
     "base": {"lr": 0.5, "dropout": 0.0, "layers": 2, "optimizer": "sgd"}},
    {"name": "wide_noisy", "f": wide, "noise": 0.03, "near": 0.15,
     "space": {"lr": {"log_uniform": [1e-5, 1.0]}, "momentum": {"uniform": [0.0, 0.99]},
               "width": {"int": [16, 1024]}, "batch_size": {"choice": [16, 32, 64, 128, 256]},
               "wd": {"log_uniform": [1e-6, 1e-2]}, "warmup": {"uniform": [0.0, 0.3]}},
     "base": {"lr": 0.05, "momentum": 0.0, "width": 32, "batch_size": 32, "wd": 1e-6,
              "warmup": 0.0}},
]

# The training script: the objective's source, its params from hparams.json.
SCRIPT = '''import json, math, random, sys
from math import log10
%s
p = json.load(open("hparams.json"))
n = random.Random(json.dumps(p, sort_keys=True) + "%s").gauss(0, %r)
print("val_loss=%%.6g" %% (%s(p) + n))
'''


def script(prob, seed):
    import inspect
    return SCRIPT % (inspect.getsource(prob["f"]), seed, prob["noise"], prob["f"].__name__)


def noisy(prob, p, seed):
    """What the script prints for p: the same noise for the same params and seed."""
    n = random.Random(json.dumps(p, sort_keys=True) + str(seed)).gauss(0, prob["noise"])
    return prob["f"](p) + n


# ---- hypotop ----

def node_params(nodes, base, i):
    """A node's effective params: the baseline's with each change down its path applied."""
    chain = []
    while i is not None:
        chain.append(nodes[i])
        i = nodes[i].get("parent")
    p = dict(base)
    for n in reversed(chain):
        ch = n.get("change")
        ch = json.loads(ch) if isinstance(ch, str) else ch
        if isinstance(ch, dict) and ch.get("kind") == "params":
            p.update(ch["params"])
    return p


def node_index(nid):
    return None if nid is None else int(str(nid).lstrip("n"))


def hypotop(binary, d, prob, seed, budget):
    """The runs in the order they were made, as (metric, true objective), and
    the index of the engine's kept best among them; or what went wrong."""
    src = os.path.join(d, "src")
    os.makedirs(src)
    with open(os.path.join(src, "train.py"), "w") as f:
        f.write(script(prob, seed))
    with open(os.path.join(src, "hparams.json"), "w") as f:
        json.dump(prob["base"], f)
    git("init", "-q", cwd=src)
    git("add", ".", cwd=src)
    git("commit", "-qm", "problem", cwd=src)
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss", "goal": "min",
           "max_iterations": (budget - 1) // SLOTS, "patience": 0, "max_concurrency": SLOTS,
           "seed": seed, "noise": {"seeds": 1},
           "search_space": {"file": "hparams.json", "params": prob["space"]}}
    wd, err = engine(binary, d, cfg, 600)
    if not wd:
        return err
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        nodes = {node_index(n["id"]): n for n in json.load(f)["nodes"]}
    for n in nodes.values():
        n["parent"] = node_index(n.get("parent"))
    with open(os.path.join(wd, "state.json")) as f:
        best = json.load(f).get("best")
    best = node_index(best.get("node") if isinstance(best, dict) else best)
    ids = [i for i in sorted(nodes) if nodes[i].get("metric") is not None]
    runs = [(nodes[i]["metric"], prob["f"](node_params(nodes, prob["base"], i))) for i in ids]
    if best not in ids or len(runs) != budget:
        return "%d runs with a metric, want %d: %s" % (len(runs), budget, err.strip()[-300:])
    return runs, ids.index(best)


# ---- Optuna and random search ----

def suggest(trial, space):
    p = {}
    for name, spec in space.items():
        (kind, arg), = spec.items()
        if kind == "log_uniform":
            p[name] = trial.suggest_float(name, arg[0], arg[1], log=True)
        elif kind == "uniform":
            p[name] = trial.suggest_float(name, arg[0], arg[1])
        elif kind == "int":
            p[name] = trial.suggest_int(name, arg[0], arg[1])
        else:
            p[name] = trial.suggest_categorical(name, arg)
    return p


def optuna_search(prob, seed, budget, sampler):
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.enqueue_trial(prob["base"])
    runs = []

    def objective(trial):
        p = suggest(trial, prob["space"])
        runs.append((noisy(prob, p, seed), prob["f"](p)))
        return runs[-1][0]
    study.optimize(objective, n_trials=budget)
    return runs, study.best_trial.number


def tpe(prob, seed, budget):
    import optuna
    return optuna_search(prob, seed, budget, optuna.samplers.TPESampler(seed=seed))


def rand(prob, seed, budget):
    import optuna
    return optuna_search(prob, seed, budget, optuna.samplers.RandomSampler(seed=seed))


# ---- the table ----

def first_near(runs, near, budget):
    return next((k + 1 for k, (_, v) in enumerate(runs) if v <= near), budget + 1)


def kept(runs):
    """The index of the best of the runs as the keep rule has it with
    noise.seeds 1: the lowest metric, the first of equals."""
    return min(range(len(runs)), key=lambda k: (runs[k][0], k))


def figures(result, budget, near):
    """(true objective of the kept best, runs until one is near) after the
    first budget runs of a search, or None. The runs of a shorter search are
    the first runs of a longer one: the same rounds, planned alike."""
    runs, best = result
    if budget < len(runs):
        runs = runs[:budget]
        best = kept(runs)
    elif best != kept(runs):
        print("  note: the engine kept run %d, the lowest metric is run %d" % (best, kept(runs)))
    return runs[best][1], first_near(runs, near, budget)


def main():
    seeds = int(os.environ.get("BENCH_SEARCH_SEEDS", "5"))
    before = os.environ.get("BENCH_SEARCH_BEFORE")
    only = os.environ.get("BENCH_SEARCH_PROBLEMS")
    jobs = int(os.environ.get("BENCH_SEARCH_JOBS", "4"))
    try:
        import optuna  # noqa: F401
        have_optuna = True
    except ImportError:
        have_optuna = False
    with tempfile.TemporaryDirectory(prefix="hypotop-bench-search.") as d:
        print("== search: the offline planner beside Optuna's TPE and random search, same"
              " problems, same runs; %d seeds; median true objective of the kept best and"
              " median runs until one is near the optimum (lower is better)" % seeds,
              flush=True)
        methods = [("hypotop", lambda *a: hypotop(os.path.join(ROOT, "hypotop"), *a))]
        if before:
            old = build(before, os.path.join(d, "build"), "search")
            if old:
                methods.insert(0, (before[:12], lambda *a: hypotop(old, *a)))
        if have_optuna:
            methods += [("optuna-tpe", lambda dd, *a: tpe(*a)),
                        ("random", lambda dd, *a: rand(*a))]
        else:
            print("optuna: not installed (make deps installs python3-optuna): TPE and random"
                  " search skipped")
        verdicts = []
        for prob in PROBLEMS:
            if only and prob["name"] not in only.split(","):
                continue
            results = {}
            for label, fn in methods:
                t0 = time.monotonic()

                def one(seed):
                    sub = os.path.join(d, "%s-%s-%d" % (prob["name"], label, seed))
                    r = fn(sub, prob, seed, max(BUDGETS))
                    shutil.rmtree(sub, ignore_errors=True)
                    return r
                # The engine mostly waits (processes, fsync): several at once.
                with ThreadPoolExecutor(jobs) as pool:
                    results[label] = list(pool.map(one, range(1, seeds + 1)))
                for seed, r in enumerate(results[label], 1):
                    if isinstance(r, str):
                        print("  %s seed %d: %s" % (label, seed, r), flush=True)
                results[label] = [r for r in results[label] if not isinstance(r, str)]
                if label == "hypotop":
                    print("%s: %d searches of %d runs through the engine in %.0f s" % (
                        prob["name"], len(results[label]), max(BUDGETS),
                        time.monotonic() - t0), flush=True)
            for budget in BUDGETS:
                print("%s (%d params%s), %d runs; near: true objective <= %g" % (
                    prob["name"], len(prob["space"]),
                    ", noise sd %g" % prob["noise"] if prob["noise"] else "", budget,
                    prob["near"]), flush=True)
                table = {}
                for label, _ in methods:
                    figs = [figures(r, budget, prob["near"]) for r in results[label]]
                    if not figs:
                        continue
                    table[label] = (statistics.median(f[0] for f in figs),
                                    statistics.median(f[1] for f in figs))
                    print("  %-12s kept best %.4f   runs to near %4.1f   (%d seeds)"
                          % (label, table[label][0], table[label][1], len(figs)), flush=True)
                ours = table.get("hypotop")
                for peer in ("optuna-tpe", "random"):
                    if ours and peer in table:
                        ok = ours[0] <= table[peer][0]
                        verdicts.append(ok)
                        print("  hypotop vs %s: kept best %s" % (
                            peer, "as good or better" if ok else "WORSE"))
        if verdicts:
            print("search: hypotop at least as good on %d of %d comparisons (target: all)"
                  % (sum(verdicts), len(verdicts)))
        if not before:
            print("(BENCH_SEARCH_BEFORE=REV measures an earlier revision beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
