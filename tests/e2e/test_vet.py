"""Every proposal is checked before anything is queued (planner.h, vet.c),
against the fake model server of fake_llm.py and with the offline planner:
a change that does not apply is quoted back to the model in the same call
and its fix runs; one refused twice is dropped alone; params without a
param file, a protected file, a change that changes nothing and a repeat
of an earlier node or proposal are each refused with their reason; and no
failed node is ever made for a proposal that never applied."""

import atexit
import glob
import json
import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

KEY = "sk-ant-test-%s-marker" % uuid.uuid4().hex
SRV = lib.FakeLLM()
atexit.register(SRV.stop)

TRAIN = ("import json\n"
         "lr = json.load(open('hparams.json'))['lr']\n"
         "print('val_loss=%.6f' % (0.5 + lr), flush=True)\n")
FIXED = TRAIN.replace("0.5 + lr", "0.25 + lr")
# Its context names a line train.py does not have.
BAD_PATCH = ("diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
             "@@ -1,2 +1,2 @@\n import json\n-lr = json.load(open('params.json'))['lr']\n"
             "+lr = json.load(open('hparams.json'))['lr']\n")
EVAL = "print('the evaluation')\n"


def proposal(name, change):
    return {"name": name, "hypothesis": "it should help", "priority": 1,
            "needs_rebuild": False, "change": change}


def plan(*props):
    return {"stop": False, "reason": "try these", "proposals": list(props)}


def files(path, content):
    return {"kind": "files", "files": [{"path": path, "content": content}]}


def params(**values):
    return {"kind": "params", "params": values}


STOP = {"stop": True, "reason": "enough", "proposals": []}


def project(train=TRAIN, **extra):
    d = lib.tmpdir()
    lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.1}\n',
                            "eval.py": EVAL})
    cfg = {"source_dir": os.path.join(d, "src"), "launch": "python3 train.py",
           "metric": "val_loss", "max_iterations": 1, "patience": 0, "stall_seconds": 60,
           "repair_attempts": 0, "protect": ["eval.py"],
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"log_uniform": [0.001, 0.5]}}},
           "llm": {"provider": "anthropic", "base_url": SRV.url, "model": "claude-sonnet-5-5"}}
    cfg.update(extra)
    return os.path.join(d, "src"), lib.init_config(d, cfg)


def run(wd):
    e = dict(os.environ, ANTHROPIC_API_KEY=KEY)
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=240, env=e)
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stderr


def nodes(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return {n["id"]: n for n in json.load(f)["nodes"]}


def no_failed(t):
    failed = {i: (n.get("failure") or {}).get("kind") for i, n in t.items()
              if n["status"] != "completed"}
    check(not failed, "nodes that did not complete: %s" % failed)


def plan_requests():
    """The text of each plan request the server saw, as sent."""
    return [json.dumps(r["body"]) for r in SRV.requests() if r.get("kind") == "plan"]


def logged(wd, pattern):
    out = ""
    for path in sorted(glob.glob(os.path.join(wd, "logs", pattern))):
        with open(path) as f:
            out += f.read()
    return out


@lib.test
def a_patch_that_does_not_apply_is_fixed_in_the_same_call():
    SRV.script([{"route": {"plan": [plan(proposal("faster", {"kind": "patch",
                                                              "patch": BAD_PATCH}),
                                         proposal("lr-down", params(lr=0.05))),
                                    plan(proposal("faster", files("train.py", FIXED))),
                                    STOP, STOP]}, "sticky": True}])
    src, wd = project()
    run(wd)
    t = nodes(wd)
    no_failed(t)
    check(sorted(n["name"] for n in t.values() if n.get("parent")) == ["faster", "lr-down"],
          "queued: %s" % [(i, n.get("name")) for i, n in sorted(t.items())])
    faster = [n for n in t.values() if n.get("name") == "faster"][0]
    shown = lib.sh("git", "show", faster["commit"] + ":train.py", cwd=src).stdout
    check(shown == FIXED, "the fix is not in the commit: %r" % shown)
    check(abs(faster["metric"] - 0.35) < 1e-9, "the fix did not run: %s" % faster)
    check(SRV.kinds().get("plan") == 2, "plan requests: %s" % SRV.kinds())
    asked = plan_requests()
    check(len(asked) == 2, "plan requests seen: %d" % len(asked))
    for want in ("faster", "its change does not apply (patch_conflict)",
                 "a replacement for each of these"):
        check(want in asked[1], "the second request lacks %r" % want)
    check("patch_conflict" not in asked[0], "the first request already had it")
    check('- \\"faster\\":' in asked[1] and '- \\"lr-down\\":' not in asked[1],
          "the refused proposal, and it alone, should be quoted back")
    out = logged(wd, "*_plan_*_output.md")
    check("Refused before anything was queued" in out and "patch_conflict" in out,
          "the call's log does not say what was refused:\n%s" % out)
    # The second request is a request like any: logged, and paid for.
    raws = [json.loads(logged(wd, os.path.basename(p)))
            for p in sorted(glob.glob(os.path.join(wd, "logs", "*_plan_*_raw.json")))]
    check([(r["attempt"], r["cost_usd"] > 0) for r in raws] == [(1, True), (2, True)],
          "the plan requests' records: %s" % raws)


@lib.test
def a_second_refusal_drops_only_that_proposal():
    SRV.script([{"route": {"plan": [plan(proposal("faster", {"kind": "patch",
                                                              "patch": BAD_PATCH}),
                                         proposal("lr-down", params(lr=0.05))),
                                    plan(proposal("faster-again", {"kind": "patch",
                                                                   "patch": BAD_PATCH})),
                                    STOP, STOP]}, "sticky": True}])
    src, wd = project()
    err = run(wd)
    t = nodes(wd)
    no_failed(t)
    check(sorted(n["name"] for n in t.values() if n.get("parent")) == ["lr-down"],
          "queued: %s" % [(i, n.get("name")) for i, n in sorted(t.items())])
    check("plan: proposal faster-again dropped: its change does not apply (patch_conflict)"
          in err, "the drop is not said: %s" % err[-2000:])
    check(SRV.kinds().get("plan") == 2, "plan requests: %s" % SRV.kinds())
    out = logged(wd, "*_plan_*_output.md")
    check(out.count("Refused before anything was queued") == 2,
          "each call's log should say what it refused:\n%s" % out)


TRAIN_FLAG = ("import sys\n"
              "lr = float(sys.argv[sys.argv.index('--lr') + 1])\n"
              "print('val_loss=%.6f' % (0.5 + lr), flush=True)\n")


@lib.test
def each_refusal_is_quoted_with_its_reason():
    SRV.script([{"route": {"plan": [plan(proposal("lr-up", params(lr=0.2)),
                                         proposal("dropout", params(dropout=0.5)),
                                         proposal("touch-eval", files("eval.py", "print(0)\n")),
                                         proposal("nothing", files("train.py", TRAIN_FLAG)),
                                         proposal("lr-again", params(lr=0.3)),
                                         proposal("lr-up-twice", params(lr=0.2))),
                                    STOP, STOP, STOP]}, "sticky": True}])
    # No param file: lr is passed as {lr} in launch, and nothing else can be set.
    src, wd = project(train=TRAIN_FLAG, launch="python3 train.py --lr {lr}",
                      search_space={"params": {"lr": {"log_uniform": [0.001, 0.5],
                                                      "default": 0.1}}})
    rc, out, err = lib.hypotop("add", wd, "n0000", "a higher lr", "--param", "lr=0.3")
    check(rc == 0, "add: %s" % err)
    err = run(wd)
    t = nodes(wd)
    no_failed(t)
    check(sorted(t) == ["n0000", "n0001", "n0002"] and t["n0002"]["name"] == "lr-up",
          "queued: %s" % [(i, n.get("name")) for i, n in sorted(t.items())])
    reasons = {
        "dropout": "\\\"dropout\\\" is not passed as {dropout} in the launch command, and the "
                   "project has no param file (search_space.file)",
        "touch-eval": "it changes eval.py, a protected file (protect in config.json): "
                      "protected files may not change",
        "nothing": "it changes nothing: the same source tree and params as its parent n0000",
        "lr-again": "the same experiment as n0001",
        "lr-up-twice": "the same experiment as proposal \\\"lr-up\\\" of this plan",
    }
    asked = plan_requests()
    check(len(asked) == 2, "plan requests: %d" % len(asked))
    for name, why in reasons.items():
        check(why in asked[1], "the second request lacks the reason of %s: %r" % (name, why))
        said = "plan: proposal %s dropped: %s" % (name, json.loads('"%s"' % why))
        check(said in err, "not said: %r in %s" % (said, err[-3000:]))
    check('- \\"lr-up\\":' not in asked[1], "the accepted proposal was quoted back")


@lib.test
def the_offline_planner_does_not_repeat_an_earlier_node():
    # A person's patch sets lr to 0.2 in the param file: the offline planner,
    # which judges by params alone, proposes lr=0.2, the same tree.
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"lr": 0.1}\n'})
    wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py",
                             "metric": "val_loss", "max_iterations": 1, "patience": 0,
                             "search_space": {"file": "hparams.json",
                                              "params": {"lr": {"choice": [0.1, 0.2]}}}})
    lib.add_patch(wd, "n0000", "lr 0.2 by hand",
                  "diff --git a/hparams.json b/hparams.json\n--- a/hparams.json\n"
                  "+++ b/hparams.json\n@@ -1 +1 @@\n-{\"lr\": 0.1}\n+{\"lr\": 0.2}\n")
    err = run(wd)
    t = nodes(wd)
    no_failed(t)
    check(sorted(t) == ["n0000", "n0001"],
          "queued: %s" % [(i, n.get("name"), n.get("change")) for i, n in sorted(t.items())])
    check("dropped: the same experiment as n0001" in err, "not said: %s" % err[-2000:])
    out = logged(wd, "*_plan_*_output.md")
    check("dropped: the same experiment as n0001" in out, "the plan's log:\n%s" % out)


lib.finish()
