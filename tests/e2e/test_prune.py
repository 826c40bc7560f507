#!/usr/bin/env python3
"""Early stopping by curve (prune in the config): once three runs have
completed, a run whose loss is worse than the best run's at every step past
the warm-up is stopped early as pruned, with its reason in its analysis, the
time saved in summary.md, and no repair; a run that starts slowly but
catches up within the patience runs to its end."""

import json
import os
import re

import lib

STEPS = 100

# loss at a step: the same curve for every mode but "bad" (twice as high
# throughout) and "slow" (twice as high until step 22, then the same).
TRAIN = r'''
import json, sys, time
hp = json.load(open("hparams.json"))
mode = hp["mode"]
for step in range(1, %d + 1):
    loss = 1.0 / (1 + 0.05 * step) + 0.0001 * hp["lr"]
    if mode == "bad" or (mode == "slow" and step < 22):
        loss *= 2
    print("step=%%d loss=%%.6f" %% (step, loss), flush=True)
    # The bad run slower, so that even a busy engine sees it before it ends.
    time.sleep(0.06 if mode == "bad" else 0.03)
print("val_loss=%%.6f" %% loss, flush=True)
''' % STEPS


# A command provider that keeps each prompt it is given (by kind and node)
# and answers: an analysis, or a plan that stops.
AGENT = r'''#!/usr/bin/env python3
import json, os, sys
prompt = sys.stdin.read()
kind = os.environ.get("HYPOTOP_LLM_KIND", "")
with open(os.path.join(sys.argv[1], "%s-%s.md" % (kind, os.environ.get("HYPOTOP_NODE"))),
          "w") as f:
    f.write(prompt)
if kind == "analyse":
    print(json.dumps({"summary": "judged", "verdict": "no_change", "bottleneck": "none",
                      "evidence": ["seen"], "hypothesis_supported": None}))
else:
    print(json.dumps({"stop": True, "reason": "enough", "proposals": []}))
'''


def project(d, prune, llm=None):
    src = lib.make_repo(d, files={"train.py": TRAIN,
                                  "hparams.json": '{"mode": "good", "lr": 1}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 0, "max_concurrency": 1, "stall_seconds": 60,
           "search_space": {"file": "hparams.json", "params": {
               "mode": {"choice": ["good", "bad", "slow"]},
               "lr": {"uniform": [0, 10]}}}}
    if llm:
        cfg.update({"llm": llm, "max_iterations": 1})
    if prune:
        cfg["prune"] = {"series": "loss", "warmup_steps": 20, "min_runs": 3,
                        "patience": 3, "margin_relative": 0.1}
    wd = lib.init_config(d, cfg)
    # Two more runs of the baseline's curve first (lr does not move it beyond
    # the margin), then the two to judge.
    for i, (mode, lr, prio) in enumerate([("good", 2, 1), ("good", 3, 1),
                                          ("bad", 4, 5), ("slow", 5, 6)]):
        rc, out, err = lib.hypotop("add", wd, "n0000", "mode %s run %d" % (mode, i),
                                   "--param", "mode=%s" % mode, "--param", "lr=%d" % lr,
                                   "--priority", str(prio))
        lib.check(rc == 0, "add: %s" % err)
    return wd


def last_step(wd, node):
    with open(os.path.join(wd, "runs", node, "log")) as f:
        steps = re.findall(r"step=(\d+)", f.read())
    return int(steps[-1]) if steps else 0


def read(wd, *rel):
    with open(os.path.join(wd, *rel)) as f:
        return f.read()


@lib.test
def test_worse_run_is_pruned_and_slow_start_is_not():
    d = lib.tmpdir()
    wd = project(d, prune=True)
    lib.run_engine(wd)
    nodes = lib.tree_nodes(wd)
    by_mode = {n["hypothesis"].split()[1]: n for n in nodes.values()
               if n["hypothesis"].startswith("mode ")}
    bad, slow = by_mode["bad"], by_mode["slow"]
    lib.check(bad["status"] == "pruned", "the bad run: %s" % bad["status"])
    stopped = last_step(wd, bad["id"])
    lib.check(22 <= stopped < STEPS, "the bad run stopped early, at step %d" % stopped)
    lib.check(slow["status"] == "completed", "the slow starter: %s" % slow["status"])
    lib.check(last_step(wd, slow["id"]) == STEPS, "the slow starter ran to its end")
    for n in nodes.values():
        lib.check(n["status"] in ("completed", "pruned"), "%s: %s" % (n["id"], n["status"]))
    lib.check(len(nodes) == 5, "no repair or retry was added: %d nodes" % len(nodes))

    rec = json.loads(read(wd, "runs", bad["id"], "pruned.json"))
    lib.check(rec["series"] == "loss" and 22 <= rec["step"] <= stopped,
              "pruned.json: %s" % rec)
    lib.check(rec["value"] > rec["reference_value"] * 1.1, "worse by the margin: %s" % rec)
    lib.check(rec["saved_s"] > 0, "time saved: %s" % rec)
    analysis = read(wd, "runs", bad["id"], "analysis.md")
    lib.check("## Pruned" in analysis and "pruned at step %g" % rec["step"] in analysis,
              "its analysis says why: %s" % analysis[:1500])
    lib.check("Its partial curve of loss" in analysis, "and its partial curve")
    lib.check("## Failure" not in analysis, "no failure: %s" % analysis[:1500])

    summary = read(wd, "summary.md")
    m = re.search(r"(\d+) runs? stopped early; .*?([0-9.]+) (s|min|h) of run time", summary)
    lib.check(m and m.group(1) == "1" and float(m.group(2)) > 0, "summary.md: %s" % summary)
    lib.check("| pruned | 1 |" in summary, "summary.md counts it: %s" % summary)
    st = lib.status_json(wd)
    lib.check(st["counts"].get("pruned") == 1, "status --json: %s" % st["counts"])
    table = read(wd, "master_table.tsv")
    lib.check("\tpruned\t" in table, "master_table.tsv: %s" % table)
    # The report tells it apart from the failures.
    rc, out, err = lib.hypotop("report", wd, "--offline")
    lib.check(rc == 0, "report: %s" % err)
    report = read(wd, "report.md")
    lib.check("No experiment failed." in report and
              "Stopped early by their curve (pruned, no failure of their code): %s."
              % bad["id"] in report, "report.md: %s" % report)


@lib.test
def test_the_model_is_told():
    """The pruned run's analysis prompt gives its reason and partial curve; the plan's
    history lists it as pruned with its step."""
    d = lib.tmpdir()
    prompts = os.path.join(d, "prompts")
    os.makedirs(prompts)
    agent = os.path.join(d, "agent.py")
    with open(agent, "w") as f:
        f.write(AGENT)
    os.chmod(agent, 0o755)
    wd = project(d, prune=True, llm={"provider": "command",
                                      "command": "%s %s" % (agent, prompts)})
    lib.run_engine(wd)
    bad = [n for n in lib.tree_nodes(wd).values() if n["hypothesis"].startswith("mode bad")][0]
    lib.check(bad["status"] == "pruned", "the bad run: %s" % bad["status"])
    step = json.loads(read(wd, "runs", bad["id"], "pruned.json"))["step"]
    analyse = read(prompts, "analyse-%s.md" % bad["id"])
    lib.check("Status: pruned (pruned at step %g: its loss" % step in analyse,
              "the analysis prompt: %s" % analyse[:3000])
    lib.check('"loss"' in analyse and '"recent"' in analyse, "its partial curve")
    plans = [f for f in os.listdir(prompts) if f.startswith("plan-")]
    lib.check(len(plans) == 1, "plan prompts: %s" % plans)
    plan = read(prompts, plans[0])
    lib.check(re.search(r"\| %s \| n0000 \| [a-z0-9-]+ \| pruned \| [^|]* \| pruned at step "
                        r"%g \(loss " % (bad["id"], step), plan),
              "the plan's history: %s" % plan[:4000])
    lib.check(not os.path.exists(os.path.join(prompts, "repair-%s.md" % bad["id"])),
              "a repair was asked for the pruned run")


@lib.test
def test_off_by_default():
    d = lib.tmpdir()
    wd = project(d, prune=False)
    lib.run_engine(wd)
    statuses = sorted(n["status"] for n in lib.tree_nodes(wd).values())
    lib.check(statuses == ["completed"] * 5, "without prune every run ends: %s" % statuses)
    lib.check("Pruning" not in read(wd, "summary.md"), "no pruning line in summary.md")


lib.finish()
