"""The calls that ask the model for code, against the fake model server on
127.0.0.1. Repairs of runs that die at start-up (SPEC §5): a proposal that
breaks the training script is repaired and the repair runs to the end;
repair_attempts bounds the repairs of one experiment, and a repair
interrupted by SIGKILL is asked again, once; a repair that cannot be had
leaves the node failed; the offline planner says it cannot repair code.
llm.instrument (SPEC §7): step timing is added to the baseline's commit
once, survives a restart, and a failed call or a change that does not
apply leaves the baseline on the source commit. A server that echoes an
API key (SPEC §12): an analysis or a report keeps its text with the key
redacted, a plan, repair or instrument answer that carried it is refused,
and the key is found nowhere in the workdir or the source repository."""

import atexit
import json
import os
import signal
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

KEY = "sk-ant-test-%s-marker" % uuid.uuid4().hex
# Another provider's key, only in the environment, and one llm.api_key_env names.
OTHER = "sk-openai-echo-%s" % uuid.uuid4().hex
NAMED = "sk-named-echo-%s" % uuid.uuid4().hex
SRV = lib.FakeLLM()
atexit.register(SRV.stop)

TRAIN = ("import json\n"
         "hp = json.load(open('hparams.json'))\n"
         "for step in range(1, 4):\n"
         "    print('step=%d loss=%.3f' % (step, 1.0 / step), flush=True)\n"
         "print('val_loss=%.6f' % (0.5 + hp['lr']), flush=True)\n")
# A syntax error: python exits 1 before it prints anything.
BROKEN = TRAIN.replace("(step, 1.0 / step)", "(step, 1.0 / step")
FIXED = TRAIN.replace("0.5 + hp['lr']", "0.25 + hp['lr']")


def files_change(content):
    return {"kind": "files", "files": [{"path": "train.py", "content": content}]}


def plan(*names, content=BROKEN):
    return {"stop": False, "reason": "try it", "proposals": [
        {"name": n, "hypothesis": "a rewrite of the loop", "priority": 1, "needs_rebuild": False,
         "change": files_change(content)} for n in names]}


# A stop is asked once more while patience remains: scripts answer it twice.
STOP = {"stop": True, "reason": "enough", "proposals": []}
TIMED = TRAIN.replace("import json\n", "import json\nimport time\n").replace(
    "    print('step=%d loss=%.3f' % (step, 1.0 / step), flush=True)\n",
    "    t0 = time.monotonic()\n"
    "    print('step=%d loss=%.3f' % (step, 1.0 / step), flush=True)\n"
    "    print('step=%d step_time=%.6f' % (step, time.monotonic() - t0), flush=True)\n")


def repair(content, fix="close the parenthesis of the print call"):
    return {"fix": fix, "change": files_change(content)}


def project(llm=None, train=TRAIN, **extra):
    d = lib.tmpdir()
    src = lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.1}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 1, "patience": 0, "stall_seconds": 60,
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"log_uniform": [0.001, 0.5]}}},
           "llm": llm or {"provider": "anthropic", "base_url": SRV.url,
                          "model": "claude-sonnet-5-5"}}
    cfg.update(extra)
    return src, lib.init_config(d, cfg)


def env():
    e = dict(os.environ, ANTHROPIC_API_KEY=KEY, OPENAI_API_KEY=OTHER, HYPOTOP_E2E_KEY=NAMED)
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    return e


def run(wd):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=240, env=env())
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stderr


def nodes(wd):
    """The tree as recorded: the checkpoint, then the journal's newer events."""
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        t = json.load(f)
    out = {n["id"]: n for n in t["nodes"]}
    with open(os.path.join(wd, "engine", "journal.jsonl")) as f:
        for line in f:
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line torn by SIGKILL
            if ev.get("seq", 0) > t["seq"] and "node" in ev:
                out[ev["node"]["id"]] = ev["node"]
    return out


def logs(wd, kind):
    d = os.path.join(wd, "logs")
    return sorted(x for x in os.listdir(d) if "_%s_" % kind in x)


def read(*parts):
    with open(os.path.join(*parts)) as f:
        return f.read()


@lib.test
def a_broken_proposal_is_repaired_and_the_repair_runs():
    SRV.script([{"route": {"plan": [plan("faster-loop"), STOP, STOP],
                           "repair": [repair(FIXED)]}, "sticky": True}])
    src, wd = project()
    err = run(wd)
    t = nodes(wd)
    broken, fixed = t.get("n0001"), t.get("n0002")
    check(broken and broken["status"] == "failed" and broken["failure"]["kind"] == "crash",
          "the broken proposal: %s" % broken)
    check(fixed is not None, "no repair node: %s" % sorted(t))
    check(fixed["parent"] == "n0001" and fixed.get("repair_of") == "n0001",
          "the repair's links: %s" % fixed)
    check(fixed["name"] == "faster-loop-repair-1", "name %s" % fixed["name"])
    check(fixed["status"] == "completed" and abs(fixed["metric"] - 0.35) < 1e-9,
          "the repair did not run to the end: %s %s" % (fixed["status"], fixed["metric"]))
    # Its branch is the failed commit with the fix on top.
    parent = lib.sh("git", "rev-parse", fixed["commit"] + "^", cwd=src).stdout.strip()
    check(parent == broken["commit"], "repair commit's parent %s, not %s" % (parent,
                                                                           broken["commit"]))
    tip = lib.sh("git", "rev-parse", "hypotop/n0002", cwd=src).stdout.strip()
    check(tip == fixed["commit"], "branch hypotop/n0002 is at %s" % tip)
    shown = lib.sh("git", "show", fixed["commit"] + ":train.py", cwd=src).stdout
    check(shown == FIXED, "the fix is not in the commit")
    check(SRV.kinds().get("repair") == 1, "repair calls: %s" % SRV.kinds())
    # The call's files: the prompt holds the failure, the log and the source.
    files = logs(wd, "repair")
    check(any(x.endswith("_repair_n0001_prompt.md") for x in files), "logs: %s" % files)
    prompt = read(wd, "logs", [x for x in files if x.endswith("prompt.md")][0])
    for want in ("crash", "SyntaxError", "File `train.py`", "repair attempt 1 of 1",
                 "1.0 / step"):
        check(want in prompt, "the repair prompt lacks %r" % want)
    raw = json.loads(read(wd, "logs", [x for x in files if x.endswith("raw.json")][0]))
    check(raw["kind"] == "repair" and raw["cost_usd"] > 0, "raw.json: %s" % raw)
    check("Repair 1 of 1 queued as n0002" in read(wd, "runs", "n0001", "analysis.md"),
          "the failed node's analysis does not name its repair")
    check("repair 1 of 1 queued as n0002" in err, "not said: %s" % err[-1500:])
    out = lib.hypotop("status", wd)[1]
    check("n0002" in out and "repair of n0001" in out, "status:\n%s" % out)
    st = lib.status_json(wd)
    check({"id": "n0002", "repair_of": "n0001", "status": "completed"} in st["repairs"],
          "status --json repairs: %s" % st.get("repairs"))
    for base, dirs, names in os.walk(wd):
        for name in names:
            with open(os.path.join(base, name), "rb") as f:
                check(KEY.encode() not in f.read(), "the key is in %s" % name)


@lib.test
def repair_attempts_bound_the_repairs_of_one_experiment():
    # Every fix is broken too: two repairs, then the experiment is given up.
    SRV.script([{"route": {"plan": [plan("faster-loop"), STOP, STOP],
                           "repair": [repair(BROKEN, "try again")] * 5}, "sticky": True}])
    src, wd = project(repair_attempts=2)
    err = run(wd)
    t = nodes(wd)
    reps = sorted((n for n in t.values() if n.get("repair_of")), key=lambda n: n["id"])
    check([(n["id"], n["repair_of"], n["name"]) for n in reps] ==
          [("n0002", "n0001", "faster-loop-repair-1"), ("n0003", "n0002", "faster-loop-repair-2")],
          "repairs: %s" % [(n["id"], n.get("repair_of"), n["name"]) for n in reps])
    check(all(n["status"] == "failed" for n in reps), "statuses %s" % [n["status"] for n in reps])
    check(SRV.kinds().get("repair") == 2, "repair calls: %s" % SRV.kinds())
    check(len([x for x in logs(wd, "repair") if x.endswith("_raw.json")]) == 2,
          "repair logs: %s" % logs(wd, "repair"))
    check("had its 2 repair attempts" in err, "not said: %s" % err[-1500:])


@lib.test
def no_repair_when_disabled_or_when_the_call_fails():
    SRV.script([{"route": {"plan": [plan("faster-loop"), STOP, STOP]}, "sticky": True}])
    src, wd = project(repair_attempts=0)
    run(wd)
    check(not SRV.kinds().get("repair"), "asked with repair_attempts 0: %s" % SRV.kinds())
    check(len(nodes(wd)) == 2, "nodes: %s" % sorted(nodes(wd)))

    # A refused request is not retried: the node stays failed, the loop ends.
    SRV.script([{"route": {"plan": [plan("faster-loop"), STOP, STOP],
                           "repair": [{"_status": 400}]}, "sticky": True}])
    src, wd = project()
    err = run(wd)
    t = nodes(wd)
    check(len(t) == 2 and t["n0001"]["status"] == "failed", "nodes: %s" % sorted(t))
    check("n0001: no repair (llm_request)" in err, "not said: %s" % err[-1500:])
    check("Repair attempt 1 was asked, and failed" in read(wd, "runs", "n0001", "analysis.md"),
          "the analysis does not say the repair failed")


@lib.test
def a_run_that_made_progress_is_not_repaired():
    crashing = TRAIN.replace("print('val_loss", "raise SystemExit(3)\nprint('val_loss")
    SRV.script([{"route": {"plan": [plan("late-crash", content=crashing), STOP, STOP],
                           "repair": [repair(FIXED)]}, "sticky": True}])
    src, wd = project()
    run(wd)
    t = nodes(wd)
    check(t["n0001"]["failure"]["kind"] == "crash" and len(t) == 2, "nodes: %s" % sorted(t))
    check(not SRV.kinds().get("repair"), "asked to repair a run that printed steps")


@lib.test
def a_repair_cut_short_by_sigkill_is_asked_again_once():
    SRV.script([{"route": {"plan": [plan("faster-loop"), STOP, STOP],
                           "repair": [{"_hang": 60, "fix": "x", "change": None},
                                      repair(FIXED)]}, "sticky": True}])
    src, wd = project()
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env())
    try:
        lib.wait_for(lambda: SRV.kinds().get("repair") == 1, "the repair call", timeout=120)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    check(nodes(wd)["n0001"]["status"] == "analyzing", "recorded: %s" % nodes(wd)["n0001"])
    run(wd)
    t = nodes(wd)
    reps = [n for n in t.values() if n.get("repair_of")]
    check(len(reps) == 1 and reps[0]["status"] == "completed", "repairs: %s" % reps)
    check(SRV.kinds().get("repair") == 2, "repair calls: %s" % SRV.kinds())


@lib.test
def the_offline_planner_says_it_cannot_repair_code():
    # The baseline itself dies at start-up.
    src, wd = project(llm={"provider": "offline"}, train=BROKEN)
    err = run(wd)
    check("n0000: no repair proposed: the offline planner cannot change code" in err,
          "not said: %s" % err[-1500:])
    check("cannot change code" in read(wd, "runs", "n0000", "analysis.md"), "not in analysis")
    check(len(nodes(wd)) == 1, "nodes: %s" % sorted(nodes(wd)))
    check("the baseline failed" in err, "planning went on: %s" % err[-1500:])


def instrumenting(answer, **extra):
    """A project with llm.instrument, whose model answers the instrument call with answer."""
    SRV.script([{"route": {"instrument": [answer], "plan": [STOP, STOP]}, "sticky": True}])
    return project(llm={"provider": "anthropic", "base_url": SRV.url,
                        "model": "claude-sonnet-5-5", "instrument": True}, **extra)


def instrumented(src, wd, **expect):
    """The checks every applied instrumentation must pass; the state."""
    head = lib.sh("git", "rev-parse", "HEAD", cwd=src).stdout.strip()
    with open(os.path.join(wd, "state.json")) as f:
        state = json.load(f)
    base = nodes(wd)["n0000"]
    check(state["instrument"] == "applied" and state["source_commit"] == head,
          "state.json: %s" % state)
    parent = lib.sh("git", "rev-parse", base["commit"] + "^", cwd=src).stdout.strip()
    check(parent == head, "the baseline's commit %s is not one commit on the source" %
          base["commit"])
    tip = lib.sh("git", "rev-parse", "hypotop/instrument", cwd=src).stdout.strip()
    check(tip == base["commit"], "hypotop/instrument is at %s" % tip)
    with open(os.path.join(wd, "runs", "n0000", "metrics.json")) as f:
        series = json.load(f)["series"]
    check(series.get("step_time", {}).get("count") == 3, "metrics: %s" % sorted(series))
    return state


@lib.test
def instrument_adds_step_timing_to_the_baseline_once():
    src, wd = instrumenting({"summary": "time each step", "change": files_change(TIMED)})
    err = run(wd)
    check(SRV.kinds().get("instrument") == 1, "instrument calls: %s" % SRV.kinds())
    state = instrumented(src, wd)
    check(state["llm_usd"] > 0, "no cost: %s" % state)
    files = logs(wd, "instrument")
    check(any(x.endswith("_instrument_n0000_prompt.md") for x in files), "logs: %s" % files)
    prompt = read(wd, "logs", [x for x in files if x.endswith("prompt.md")][0])
    check("step_time" in prompt and "File `train.py`" in prompt, "the prompt:\n%s" % prompt)
    raw = json.loads(read(wd, "logs", [x for x in files if x.endswith("raw.json")][0]))
    check(raw["kind"] == "instrument" and raw["cost_usd"] > 0, "raw.json: %s" % raw)
    check("instrument:" in err and "is the baseline's commit now" in err, err[-1500:])
    # Once only: a later engine asks nothing more and keeps the commit.
    commit = nodes(wd)["n0000"]["commit"]
    SRV.script([{"route": {"plan": [STOP, STOP]}, "sticky": True}])
    lib.hypotop("retry", wd, "n0000")
    run(wd)
    check(not SRV.kinds().get("instrument"), "asked again: %s" % SRV.kinds())
    copy = [n for n in nodes(wd).values() if n.get("retry_of") == "n0000"]
    check(copy and copy[0]["commit"] == commit and copy[0]["status"] == "completed",
          "the retried baseline: %s" % copy)


@lib.test
def instrument_cut_short_by_sigkill_is_asked_again():
    SRV.script([{"route": {"instrument": [{"_hang": 60, "summary": "x", "change": None},
                                          {"summary": "time each step",
                                           "change": files_change(TIMED)}],
                           "plan": [STOP, STOP]}, "sticky": True}])
    src, wd = project(llm={"provider": "anthropic", "base_url": SRV.url,
                           "model": "claude-sonnet-5-5", "instrument": True})
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env())
    try:
        lib.wait_for(lambda: SRV.kinds().get("instrument") == 1, "the instrument call",
                     timeout=120)
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
    check(nodes(wd)["n0000"]["status"] == "queued", "the baseline did not wait: %s" %
          nodes(wd)["n0000"]["status"])
    run(wd)
    check(SRV.kinds().get("instrument") == 2, "instrument calls: %s" % SRV.kinds())
    instrumented(src, wd)


@lib.test
def without_instrumentation_the_baseline_runs_on_the_source_commit():
    bad_patch = ("diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n"
                 "@@ -1,2 +1,3 @@\n import nothing_like_this\n+import time\n"
                 " hp = json.load(open('hparams.json'))\n")
    for answer, said in (({"_status": 400}, "the model gave no instrumentation (llm_request)"),
                         ({"summary": "add timing", "change": {"kind": "patch",
                                                               "patch": bad_patch}},
                          "the model's change does not apply (patch_conflict)"),
                         ({"summary": "it already prints step times", "change": None},
                          "no change proposed: it already prints step times")):
        src, wd = instrumenting(answer)
        err = run(wd)
        check("instrument: " + said in err, "not said: %s" % err[-1500:])
        check("the baseline runs on the source commit as it is" in err, err[-1500:])
        head = lib.sh("git", "rev-parse", "HEAD", cwd=src).stdout.strip()
        base = nodes(wd)["n0000"]
        check(base["commit"] == head and base["status"] == "completed", "baseline: %s" % base)
        with open(os.path.join(wd, "state.json")) as f:
            state = json.load(f)
        check(state["instrument"] == "skipped" and state["source_commit"] is None,
              "state.json: %s" % state)


@lib.test
def an_instrumentation_that_changes_a_protected_file_is_skipped():
    # The roots would run a training script that is not the baseline's: tampered.
    src, wd = instrumenting({"summary": "time each step", "change": files_change(TIMED)},
                            protect=["train.py"])
    err = run(wd)
    check("instrument: the model's change does not apply (protect): it changes train.py"
          in err, "not said: %s" % err[-1500:])
    head = lib.sh("git", "rev-parse", "HEAD", cwd=src).stdout.strip()
    base = nodes(wd)["n0000"]
    check(base["commit"] == head and base["status"] == "completed", "baseline: %s" % base)


def nowhere(src, wd, *secrets):
    """No byte of any secret in the workdir, nor in the source repository:
    its files and .git (refs, reflogs, messages), every object of its
    store (reachable or not), every branch's history."""
    for top in (wd, src):
        for base, dirs, names in os.walk(top):
            for name in names:
                path = os.path.join(base, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                with open(path, "rb") as f:
                    data = f.read()
                for s in secrets:
                    check(s.encode() not in data, "a key is in %s" % path)
    history = lib.sh("git", "log", "--all", "--reflog", "-p", "--format=raw", cwd=src).stdout
    objects = subprocess.run(["git", "cat-file", "--batch-all-objects", "--batch"], cwd=src,
                             capture_output=True, check=True).stdout
    refs = lib.sh("git", "for-each-ref", cwd=src).stdout
    check(len(history) > 0 and len(objects) > 0, "the source repository shows nothing")
    for s in secrets:
        check(s not in history, "a key is in the history of the source repository")
        check(s.encode() not in objects, "a key is in an object of the source repository")
        check(s not in refs, "a key names a ref of the source repository")


@lib.test
def a_plan_that_echoes_the_key_is_refused_and_an_analysis_is_scrubbed():
    # The key in a hypothesis and in a file's content; the analysis carries
    # both keys, one of them written with a JSON escape.
    leaky = {"stop": False, "reason": "try it", "proposals": [
        {"name": "with-key", "hypothesis": "the key %s helps" % KEY, "priority": 1,
         "needs_rebuild": False, "change": files_change(TRAIN + "# %s\n" % KEY)},
        {"name": "clean", "hypothesis": "a smaller lr", "priority": 2,
         "needs_rebuild": False, "change": {"kind": "params", "params": {"lr": 0.05}}}]}
    analysis = json.dumps({"summary": "the loss fell with %s" % KEY, "verdict": "no_change",
                           "bottleneck": "ESCAPED", "evidence": ["the key " + OTHER],
                           "hypothesis_supported": None})
    analysis = analysis.replace("ESCAPED", KEY.replace("-", "\\u002d"))
    report = "# Report\n\nThe key was %s and the other %s.\n" % (KEY, OTHER)
    SRV.script([{"route": {"analyse": [analysis], "plan": [leaky, STOP, STOP],
                           "report": [report]}, "sticky": True}])
    src, wd = project()
    err = run(wd)
    t = nodes(wd)
    check(sorted(t) == ["n0000"], "a node came of the plan that carried the key: %s" % sorted(t))
    check(SRV.kinds().get("plan") == 1, "plan calls: %s" % SRV.kinds())
    check("the planner failed (llm_secret)" in err and
          "the answer carried the value of ANTHROPIC_API_KEY" in err and "refused" in err,
          "the refusal is not said: %s" % err[-2000:])
    out = [x for x in logs(wd, "plan") if x.endswith("_output.md")]
    check(len(out) == 1 and "[redacted]" in read(wd, "logs", out[0]) and
          "refused" in read(wd, "logs", out[0]), "the plan's log: %s" % out)
    text = read(wd, "runs", "n0000", "analysis.md")
    check(text.count("[redacted]") == 3, "the analysis is not kept scrubbed:\n%s" % text)
    check("the loss fell with [redacted]" in text, "analysis:\n%s" % text)
    rc, o, e = lib.hypotop("report", wd, env=env())
    check(rc == 0, "report: %s" % e)
    check("The key was [redacted] and the other [redacted]." in read(wd, "report.md"),
          "report.md:\n%s" % read(wd, "report.md"))
    nowhere(src, wd, KEY, OTHER)


@lib.test
def repair_and_instrument_answers_that_echo_the_key_are_refused():
    # llm.api_key_env names the key; the baseline dies at start-up.
    timing = {"summary": "time each step with %s" % NAMED,
              "change": files_change(BROKEN + "# %s\n" % NAMED)}
    fix = repair(TRAIN.replace("0.5 + hp['lr']", "0.5 + hp['lr']  # %s" % NAMED))
    SRV.script([{"route": {"instrument": [timing], "repair": [fix], "plan": [STOP, STOP]},
                 "sticky": True}])
    src, wd = project({"provider": "openai", "base_url": SRV.url, "model": "local",
                       "api_key_env": "HYPOTOP_E2E_KEY", "instrument": True}, train=BROKEN)
    err = run(wd)
    check(SRV.kinds().get("instrument") == 1 and SRV.kinds().get("repair") == 1,
          "calls: %s" % SRV.kinds())
    said = "the answer carried the value of HYPOTOP_E2E_KEY"
    check("instrument: the model gave no instrumentation (llm_secret)" in err and said in err,
          "the instrument refusal is not said: %s" % err[-2000:])
    check("n0000: no repair (llm_secret)" in err, "the repair refusal: %s" % err[-2000:])
    t = nodes(wd)
    head = lib.sh("git", "rev-parse", "HEAD", cwd=src).stdout.strip()
    check(sorted(t) == ["n0000"] and t["n0000"]["commit"] == head,
          "nodes: %s" % {k: (n["status"], n.get("commit")) for k, n in t.items()})
    nowhere(src, wd, NAMED)


SRV.stop()
lib.finish()
