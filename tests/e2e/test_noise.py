"""Noise, honestly: σ pooled from every group of repeats, improvements only
where the repeats support them, seed repeats shown as repeats, and the
headlines of status, summary.md and report.md comparing means of runs."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

# Each arm prints a val_loss per seed: the baseline's runs are 1.0, 1.1 and
# 0.9; "good" beats them on every seed; "lucky" only on its first run.
TRAIN = ("import json, os\n"
         "arm = json.load(open('hparams.json'))['arm']\n"
         "k = int(os.environ['HYPOTOP_SEED'])\n"
         "runs = {'base': [1.0, 1.1, 0.9], 'good': [0.5, 0.52, 0.48],\n"
         "        'lucky': [0.3, 1.5, 1.5]}\n"
         "print('step=190 loss=%g' % runs[arm][k % 3])\n"
         "print('val_loss=%g' % runs[arm][k % 3])\n")


def arms(d, seeds):
    src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"arm": "base"}\n'})
    cfg = {"launch": "python3 train.py", "metric": "val_loss", "goal": "min",
           "max_iterations": 0, "max_concurrency": 2, "seed": 0,
           "noise": {"seeds": seeds, "k": 1.0},
           "search_space": {"file": "hparams.json",
                            "params": {"arm": {"choice": ["base", "good", "lucky"]}}},
           "fixed_experiments": [
               {"name": arm, "hypothesis": "arm " + arm,
                "change": {"kind": "params", "params": {"arm": arm}}}
               for arm in ("good", "lucky")]}
    cfg_path = os.path.join(d, "cfg.json")
    with open(cfg_path, "w") as f:
        json.dump(cfg, f)
    wd = os.path.join(d, "wd")
    rc, out, err = hypotop("init", wd, "--config", cfg_path, "--source-dir", src)
    check(rc == 0, "init: %s" % err)
    return wd, out + err


def run_headless(wd):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stderr


def read(wd, *rel):
    with open(os.path.join(wd, *rel)) as f:
        return f.read()


def section(text, title):
    return text.split("## " + title)[1].split("\n## ")[0]


_three = {}


def three_seeds():
    """One run of the arms with noise.seeds 3, shared by the tests below."""
    if not _three:
        d = lib.tmpdir()
        wd, _ = arms(d, 3)
        err = run_headless(wd)
        with open(os.path.join(wd, "engine", "tree.json")) as f:
            nodes = {n["id"]: n for n in json.load(f)["nodes"]}
        _three.update(wd=wd, err=err, nodes=nodes,
                      by_name={n["name"]: n for n in nodes.values()})
    return _three


@lib.test
def a_candidate_best_is_confirmed_with_more_seeds():
    r = three_seeds()
    wd, nodes, err = r["wd"], r["nodes"], r["err"]
    good, lucky = r["by_name"]["good"], r["by_name"]["lucky"]
    check(good["improved"] is True, "good not confirmed: %s" % err[-1500:])
    check(lucky["improved"] is False, "lucky kept on one run: %s" % err[-1500:])
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        state = json.load(f)["state"]
    check(state["best"] == good["id"], "best: %s" % state)
    for c in (good, lucky):
        reps = sorted((n for n in nodes.values() if n["parent"] == c["id"]),
                      key=lambda n: n["seed"])
        check([n.get("seed") for n in reps] == [1, 2],
              "%s repeats: %s" % (c["name"], [(n["id"], n.get("seed")) for n in reps]))
        check(all(n["status"] == "completed" and n["commit"] == c["commit"] and
                  n.get("change") is None for n in reps),
              "%s repeats ran other code: %s" % (c["name"], reps))
    check("good" in err and "confirmed over 3 runs" in err, "no confirmation said: %s" % err)
    check("not confirmed over 3 runs" in err, "no refusal said: %s" % err)
    counts = {}
    for nid in nodes:
        counts[nid] = read(wd, "runs", nid, "log").count("[hypotop] launch:")
    check(all(v == 1 for v in counts.values()) and len(counts) == len(nodes),
          "launches: %s" % counts)


@lib.test
def sigma_pools_every_group_of_repeats_and_says_on_how_many_runs():
    r = three_seeds()
    s = lib.status_json(r["wd"])
    # Groups: the baseline (sd 0.1), good (sd 0.02) and lucky (sd 0.69), three runs each.
    want = ((2 * 0.01 + 2 * 0.0004 + 2 * 0.48) / 6) ** 0.5
    check(s.get("noise") and s["noise"]["runs"] == 9 and s["noise"]["groups"] == 3 and
          abs(s["noise"]["sigma"] - want) < 1e-6, "status noise: %s" % s.get("noise"))
    rc, out, err = hypotop("status", r["wd"])
    check("\u03c3 0.40 from 9 runs" in out, "status text: %s" % out)
    good = r["by_name"]["good"]["id"]
    analysis = read(r["wd"], "runs", good, "analysis.md")
    check("from 9 runs" in analysis or "from 6 runs" in analysis or "from 3 runs" in analysis,
          "the analysis does not say how many runs \u03c3 rests on: %s" % analysis)


@lib.test
def only_what_the_engine_confirmed_is_improved_anywhere():
    r = three_seeds()
    wd, nodes, by_name = r["wd"], r["nodes"], r["by_name"]
    good, lucky = by_name["good"], by_name["lucky"]
    check(good["improved"] is True and lucky["improved"] is False, "keep rule: %s" % r["err"])
    # lucky's first run beat the best, but its repeats did not confirm it.
    a = read(wd, "runs", lucky["id"], "analysis.md")
    check("Verdict: improved" not in a and "improved." not in a,
          "lucky's analysis claims an improvement: %s" % a)
    res = json.loads(read(wd, "engine", "nodes", lucky["id"], "result.json"))
    check(res["verdict"]["verdict"] != "improved", "lucky's verdict: %s" % res["verdict"])
    # good's analysis says the repeats confirmed it.
    a = read(wd, "runs", good["id"], "analysis.md")
    check("confirmed" in a.lower(), "good's analysis says nothing of its confirmation: %s" % a)
    rows = {row.split("\t")[0]: row.split("\t") for row in read(wd, "master_table.tsv").splitlines()[1:]}
    check(rows[good["id"]][6] == "yes" and rows[lucky["id"]][6] == "no",
          "master_table: %s %s" % (rows[good["id"]], rows[lucky["id"]]))
    # The delta compares like with like: the mean of lucky's runs (1.1) with
    # the mean of the baseline's (1.0), not its lucky first run.
    check(rows[lucky["id"]][5] == "+0.1", "master_table delta: %s" % rows[lucky["id"]])
    rc, out, err = hypotop("report", wd)
    check(rc == 0, err)
    report = read(wd, "report.md")
    helped, hurt = section(report, "What helped"), section(report, "What hurt")
    check(good["id"] in helped and lucky["id"] not in helped, "helped: %s" % helped)
    repeats = [n for n in nodes.values() if n["parent"] and n.get("seed") and not n["change"]]
    check(len(repeats) == 4, "repeats: %s" % repeats)
    for n in repeats:
        check(n["id"] not in helped and n["id"] not in hurt,
              "repeat %s in helped/hurt: %s %s" % (n["id"], helped, hurt))
        check(rows[n["id"]][6] == "", "repeat %s improved column: %s" % (n["id"], rows[n["id"]]))
        a = read(wd, "runs", n["id"], "analysis.md")
        check("repeat of %s" % n["parent"] in a and "Verdict: improved" not in a and
              "Verdict: regressed" not in a, "repeat %s analysis: %s" % (n["id"], a))
    table = section(report, "Experiments")
    check("| %s | n0000 | lucky | completed | 0.3 | +0.1 |" % lucky["id"] in table,
          "report table: %s" % table)
    check("Analyses" in report and "**%s** improved" % lucky["id"] not in report,
          "report analyses: %s" % section(report, "Analyses"))


@lib.test
def the_baseline_is_the_reference_not_a_verdict():
    r = three_seeds()
    wd = r["wd"]
    a = read(wd, "runs", "n0000", "analysis.md")
    check("Verdict: no_change" not in a and "baseline" in a.lower(), "baseline analysis: %s" % a)
    # The report's list of analyses says so too.
    rc, out, err = hypotop("report", wd)
    rows = [ln for ln in read(wd, "report.md").splitlines() if ln.startswith("- **n0000**")]
    check(rc == 0 and rows and "no_change" not in rows[0] and "reference" in rows[0],
          "report's analysis of the baseline: %s" % rows)
    # Its seed copies are runs of the baseline, never the best.
    check("n0001: completed, val_loss=1.1 (best so far)" not in r["err"] and
          "n0002: completed, val_loss=0.9 (best so far)" not in r["err"], r["err"])
    # The best's row is the best's mean, not the baseline's.
    lucky = r["by_name"]["lucky"]["id"]
    a = read(wd, "runs", lucky, "analysis.md")
    for line in a.splitlines():
        if line.startswith("| best (n0000"):
            check(("1.0 \u00b1 0.1 (3 runs)" in line or "1.00 \u00b1 0.10 (3 runs)" in line),
                  "best row: %s" % line)


@lib.test
def headlines_compare_means_of_runs():
    r = three_seeds()
    wd, good = r["wd"], r["by_name"]["good"]["id"]
    summary = read(wd, "summary.md")
    check("**%s**" % good in summary and "0.50 \u00b1 0.02 (3 runs)" in summary and
          "1.00 \u00b1 0.10 (3 runs)" in summary, "summary: %s" % summary)
    rc, out, err = hypotop("status", wd)
    check("0.50 \u00b1 0.02 (3 runs)" in out and "1.00 \u00b1 0.10 (3 runs)" in out,
          "status: %s" % out)
    s = lib.status_json(wd)
    check(s["best"]["node"] == good and s["best"]["runs"] == 3 and
          abs(s["best"]["mean"] - 0.5) < 1e-9 and s["baseline"]["runs"] == 3 and
          abs(s["baseline"]["mean"] - 1.0) < 1e-9, "status json: %s" % s)
    rc, out, err = hypotop("report", wd)
    best = section(read(wd, "report.md"), "Best result")
    check("0.50 \u00b1 0.02 (3 runs)" in best and "1.00 \u00b1 0.10 (3 runs)" in best,
          "report: %s" % best)


@lib.test
def numbers_in_analyses_keep_their_precision():
    r = three_seeds()
    a = read(r["wd"], "runs", "n0000", "analysis.md")
    check("1.9e+02" not in a and "| step" not in a or "190" in a, a)
    check("1.9e+02" not in read(r["wd"], "runs", "n0000", "metrics.json"),
          read(r["wd"], "runs", "n0000", "metrics.json"))


@lib.test
def one_seed_is_said_loudly():
    d = lib.tmpdir()
    wd, said = arms(d, 1)
    check("noise.seeds" in said and "3" in said and "strict" in said,
          "init says nothing of noise.seeds 1: %s" % said)
    run_headless(wd)
    summary = read(wd, "summary.md")
    check("noise.seeds" in summary and "strict" in summary, "summary: %s" % summary)


@lib.test
def a_change_that_never_applied_costs_no_analyse_call():
    d = lib.tmpdir()
    src = lib.make_repo(d)
    calls = os.path.join(d, "calls.txt")
    agent = os.path.join(d, "agent.sh")
    answer = {"summary": "s", "verdict": "no_change", "bottleneck": "b", "evidence": [],
              "hypothesis_supported": None}
    with open(agent, "w") as f:
        f.write("#!/bin/sh\ncat > /dev/null\necho \"$HYPOTOP_LLM_KIND\" >> %s\necho '%s'\n"
                % (calls, json.dumps(answer)))
    os.chmod(agent, 0o755)
    wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py",
                             "metric": "val_loss", "max_iterations": 0, "repair_attempts": 0,
                             "llm": {"provider": "command", "command": agent}})
    lib.add_patch(wd, "n0000", "a patch that does not apply",
                  "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
                  "@@ -1 +1 @@\n-print('nothing like this')\n+print('val_loss=0.5')\n")
    run_headless(wd)
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        tree = {n["id"]: n for n in json.load(f)["nodes"]}
    check(tree["n0001"]["status"] == "failed" and
          (tree["n0001"].get("failure") or {}).get("kind") == "patch_conflict",
          "n0001: %s" % tree["n0001"])
    with open(calls) as f:
        kinds = f.read().split()
    check(kinds == ["analyse"], "model calls: %s (only the baseline's analysis)" % kinds)
    a = read(wd, "runs", "n0001", "analysis.md")
    check("never applied" in a, "analysis.md: %s" % a)


lib.finish()
