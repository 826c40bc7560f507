"""A proposal may name its parent (the plan contract's optional "parent"):
the engine checks that it is a completed node, applies the change to that
node's params and commit, and queues the child under it. The offline
planner puts each proposal under the completed run whose params it
changes least, so that a round's proposals end up under different parents
when that is nearer, and its hypothesis says what changes from there."""

import atexit
import glob
import json
import math
import os
import re
import sys
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

KEY = "sk-ant-test-%s-marker" % uuid.uuid4().hex
SRV = lib.FakeLLM()
atexit.register(SRV.stop)

# The optimum is lr 0.01, a smooth bowl in log lr; wd only adds.
TRAIN = ("import json, math\n"
         "p = json.load(open('hparams.json'))\n"
         "print('val_loss=%.6f' % (0.1 + (math.log10(p['lr']) + 2) ** 2 + p['wd']), "
         "flush=True)\n")
STOP = {"stop": True, "reason": "enough", "proposals": []}


def proposal(name, lr, parent=None):
    p = {"name": name, "hypothesis": "it should help", "priority": 1, "needs_rebuild": False,
         "change": {"kind": "params", "params": {"lr": lr}}}
    if parent:
        p["parent"] = parent
    return p


def project(person=("lr=0.0002",), **extra):
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"lr": 0.5, "wd": 0}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 1, "patience": 0, "max_concurrency": 1, "repair_attempts": 0,
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"log_uniform": [0.0001, 1.0]}}}}
    cfg.update(extra)
    wd = lib.init_config(d, cfg)
    # A person's run far from the baseline, so that the tree has two places to branch from.
    args = [a for setting in person for a in ("--param", setting)]
    rc, out, err = lib.hypotop("add", wd, "n0000", "a small lr", *args)
    check(rc == 0, "add: %s" % err)
    return wd


def lr_of(t, i):
    """A node's lr: the baseline's, with each params change down its path."""
    chain = []
    while i:
        chain.append(t[i])
        i = t[i].get("parent")
    lr = 0.5
    for n in reversed(chain):
        ch = n.get("change")
        ch = json.loads(ch) if isinstance(ch, str) else ch
        if isinstance(ch, dict) and ch.get("kind") == "params":
            lr = ch["params"].get("lr", lr)
    return lr


@lib.test
def a_model_names_the_parent_of_a_proposal():
    SRV.script([{"route": {"plan": [{"stop": False, "reason": "try these", "proposals": [
        proposal("from-the-small-lr", 0.01, parent="n0001"),
        proposal("no-such-parent", 0.003, parent="n0042"),
        proposal("nothing-new", 0.0002, parent="n0001"),
        proposal("from-the-best", 0.2)]}, STOP, STOP, STOP]}, "sticky": True}])
    wd = project(person=("lr=0.0002", "wd=0.3"),
                 llm={"provider": "anthropic", "base_url": SRV.url, "model": "claude-sonnet-5-5"})
    err = lib.run_engine(wd, KEY)
    t = lib.tree_nodes(wd)
    names = {n.get("name"): i for i, n in t.items()}
    check("from-the-small-lr" in names and "from-the-best" in names,
          "queued: %s" % [(i, n.get("name"), n.get("parent")) for i, n in sorted(t.items())])
    child = t[names["from-the-small-lr"]]
    check(child.get("parent") == "n0001", "under %s, not n0001" % child.get("parent"))
    # Its change applied to n0001's params: lr 0.01 with n0001's wd 0.3.
    check(child.get("status") == "completed" and abs(child.get("metric") - 0.4) < 1e-6,
          "lr 0.01 from n0001 ran as %s, val_loss %s" % (child.get("status"),
                                                         child.get("metric")))
    best = t[names["from-the-best"]]
    check(best.get("parent") == "n0000", "without parent: under %s" % best.get("parent"))
    for name, why in (("no-such-parent", "its parent n0042 is not a completed node of the "
                                         "history"),
                      ("nothing-new", "it changes nothing: the same source tree and params "
                                      "as its parent n0001")):
        check(name not in names, "%s was queued" % name)
        said = "plan: proposal %s dropped: %s" % (name, why)
        check(said in err, "not said: %r in %s" % (said, err[-3000:]))
    check("proposals under n0000, n0001" in err or "proposals under n0001, n0000" in err,
          "the round does not name both parents: %s" % err[-2000:])


@lib.test
def a_contract_error_names_the_parent_field():
    SRV.script([{"route": {"plan": [{"stop": False, "reason": "r", "proposals": [
        proposal("bad-id", 0.003, parent="12")]}] * 4}, "sticky": True}])
    wd = project(llm={"provider": "anthropic", "base_url": SRV.url,
                      "model": "claude-sonnet-5-5"})
    lib.run_engine(wd, KEY)
    asked = [json.dumps(r["body"]) for r in SRV.requests() if r.get("kind") == "plan"]
    check(any("plan: proposals[0].parent: must be the id of a completed node" in a
              for a in asked), "the retry does not quote the problem: %s" % [a[-600:] for a in asked])


@lib.test
def offline_proposals_go_under_the_nearest_run():
    # One slot: every node made before a round has completed when it plans.
    wd = project(max_iterations=4)
    lib.run_engine(wd, KEY)
    t = lib.tree_nodes(wd)
    for i, n in t.items():
        check(n.get("status") == "completed", "%s: %s" % (i, n.get("status")))
    away_from_best = 0
    rounds = sorted(glob.glob(os.path.join(wd, "logs", "*_plan_*_raw.json")))
    check(len(rounds) == 4, "rounds: %s" % rounds)
    for path in rounds:
        asked = re.search(r"_plan_(n\d+)_raw", path).group(1)
        with open(path) as f:
            props = json.load(f)["proposals"]
        made = [i for i, n in t.items() if n.get("name") in {p["name"] for p in props}]
        check(len(made) == len(props), "%s: nodes %s for %s" % (path, made, props))
        before = [i for i in t if i < min(made)]
        for i in made:
            n, lr = t[i], math.log10(lr_of(t, i))
            parent = n.get("parent")
            away_from_best += parent != asked
            # No run of the tree then is nearer than its parent (a seed repeat aside).
            d = abs(lr - math.log10(lr_of(t, parent)))
            for j in before:
                check(abs(lr - math.log10(lr_of(t, j))) >= d - 1e-9,
                      "%s (lr %g) is under %s, but %s is nearer" % (i, lr_of(t, i), parent, j))
            # Its hypothesis says the change from the parent's value.
            want = "lr %g → %g" % (lr_of(t, parent), lr_of(t, i))
            check(n.get("hypothesis", "").startswith(want),
                  "%s: %r does not start with %r" % (i, n.get("hypothesis"), want))
    check(away_from_best > 0, "every proposal went under the node the round asked about")


lib.finish()
