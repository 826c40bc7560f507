"""A node's model calls, seen from the workdir (tree.json, status --json)
and from the UI (M), and a request in flight: named while it runs, and cut
at llm.timeout_s and tried again when it never answers, so the engine never
hangs on the model. The model is a command provider (a script)."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

# Answers as `claude -p --output-format json` does, with its cost and
# tokens: an analysis, or one proposal of a higher lr. With HANG set, the
# first request of that kind blocks on a fifo nobody writes (it never
# answers, and it does not poll).
AGENT = r"""#!/usr/bin/env python3
import json, os, sys
sys.stdin.read()
kind = os.environ.get("HYPOTOP_LLM_KIND", "")
d = os.path.dirname(os.path.abspath(__file__))
hang = os.environ.get("HANG")
if hang == kind and not os.path.exists(os.path.join(d, "hung")):
    open(os.path.join(d, "hung"), "w").close()
    open(os.path.join(d, "fifo")).read()
answer = {"plan": {"stop": False, "reason": "one more", "proposals": [
    {"name": "lr-up", "hypothesis": "a higher lr", "priority": 0, "needs_rebuild": False,
     "change": {"kind": "params", "params": {"lr": 0.02}}}]}}.get(kind, {
    "summary": "judged", "verdict": "no_change", "bottleneck": "none", "evidence": ["seen"],
    "hypothesis_supported": None})
print(json.dumps({"type": "result", "subtype": "success", "is_error": False,
                  "result": json.dumps(answer), "total_cost_usd": 0.0125,
                  "usage": {"input_tokens": 1000, "output_tokens": 200}}))
"""


def command_wd(d, hang=None, **llm):
    """The quickstart project with the agent above as its model."""
    agent = os.path.join(d, "agent.py")
    with open(agent, "w") as f:
        f.write(AGENT)
    os.chmod(agent, 0o755)
    os.mkfifo(os.path.join(d, "fifo"))
    qs = os.path.join(lib.ROOT, "examples", "quickstart")
    files = {n: open(os.path.join(qs, n)).read() for n in ("train.py", "hparams.json")}
    src = lib.make_repo(d, files=files)
    with open(os.path.join(qs, "hypotop.json")) as f:
        cfg = json.load(f)
    cmd = ("HANG=%s " % hang if hang else "") + shlex.quote(agent)
    cfg.update({"source_dir": src, "max_iterations": 1, "noise": {"seeds": 1},
                "fixed_experiments": [], "llm": dict({"provider": "command", "command": cmd},
                                                     **llm)})
    with open(os.path.join(d, "c.json"), "w") as f:
        json.dump(cfg, f)
    wd = os.path.join(d, "wd")
    rc, out, err = lib.hypotop("init", wd, "--config", os.path.join(d, "c.json"))
    check(rc == 0, "init: %s" % err)
    return wd


def tree_nodes(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return {n["id"]: n for n in json.load(f)["nodes"]}


def run_to_end(wd):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300)
    check(r.returncode == 0, "engine: exit %d: %s" % (r.returncode, r.stderr[-1500:]))
    return r.stderr


def one_of(stems, kind, node):
    hits = [s for s in stems if s.startswith("logs/") and s.endswith("_%s_%s" % (kind, node))]
    check(len(hits) == 1, "one %s call of %s among %r" % (kind, node, stems))
    return hits[0]


DONE = None


def done_workdir():
    """One workdir run to its end (the baseline, a round, its proposal), shared."""
    global DONE
    if not DONE:
        DONE = command_wd(lib.tmpdir())
        run_to_end(DONE)
    return DONE


@lib.test
def tree_json_and_status_link_each_nodes_calls():
    wd = done_workdir()
    nodes = tree_nodes(wd)
    child = [n for n in nodes.values() if n["parent"] == "n0000"]
    check(len(child) == 1, "one proposal under n0000: %r" % list(nodes))
    cid = child[0]["id"]
    calls = child[0].get("calls", [])
    plan = one_of(calls, "plan", "n0000")
    analyse = one_of(calls, "analyse", cid)
    check(calls.index(plan) < calls.index(analyse), "the plan call first: %r" % calls)
    base = nodes["n0000"].get("calls", [])
    one_of(base, "analyse", "n0000")
    check(not [s for s in base if "_plan_" in s], "n0000 was proposed by no call: %r" % base)
    for stem in calls + base:
        for suffix in ("_prompt.md", "_output.md", "_raw.json"):
            check(os.path.exists(os.path.join(wd, stem + suffix)), "%s%s exists" % (stem, suffix))
    st = lib.status_json(wd)
    mine = [c for c in st["calls"] if c["node"] == cid]
    check([c["log"] for c in mine] == calls, "status --json: %r" % mine)
    check(mine[0]["kind"] == "plan" and mine[1]["kind"] == "analyse", "kinds: %r" % mine)
    for c in mine:
        check(c["seq"] == int(c["log"][5:].split("_")[0]), "its seq: %r" % c)
        check(c["seconds"] >= 0 and c["error"] is None, "a call that worked: %r" % c)
        # What the command's result object said it cost.
        check(c["cost_usd"] == 0.0125 and c["input_tokens"] == 1000 and
              c["output_tokens"] == 200, "its cost and tokens: %r" % c)
    check(st["calls_in_flight"] == [], "no engine, no call in flight: %r" % st["calls_in_flight"])


@lib.test
def M_in_the_ui_shows_the_nodes_calls_with_their_answers_and_prompts():
    lib.need_tmux()
    wd = done_workdir()
    cid = [n["id"] for n in tree_nodes(wd).values() if n["parent"] == "n0000"][0]
    d = lib.tmpdir()
    t = lib.Tmux(d, "%s %s 2>%s" % (shlex.quote(lib.BIN), shlex.quote(wd),
                                    shlex.quote(os.path.join(d, "ui.err"))))
    try:
        t.wait_screen(lambda s: "DONE" in s and cid in s, "the UI on the finished workdir")
        t.keys("j")
        t.wait_screen(lambda s: "Log %s" % cid in s, "%s selected" % cid)
        t.keys("M")
        t.wait_screen(lambda s: "Model calls  %s" % cid in s and " plan " in s and
                      " analyse " in s, "the calls of %s listed" % cid)
        # Each call's answer and prompt are in the pager.
        t.keys("/", "the prompt", "Enter")
        t.wait_screen(lambda s: "_plan_n0000: the prompt (logs/" in s, "the plan's prompt")
        t.keys("/", "proposals", "Enter")
        t.wait_screen(lambda s: "lr-up" in s, "the plan's answer")
        t.keys("q")
        t.wait_screen(lambda s: "Model calls" not in s and "Hypotheses" in s, "back")
        # The baseline was proposed by no call; it has its analysis.
        t.keys("k", "M")
        t.wait_screen(lambda s: "Model calls  n0000" in s and " analyse " in s and
                      " plan " not in s.split("answer and prompt follow")[0],
                      "the baseline's calls")
    finally:
        t.close()


@lib.test
def a_call_that_never_answers_is_cut_at_llm_timeout_s_and_tried_again():
    d = lib.tmpdir()
    wd = command_wd(d, hang="analyse", timeout_s=5)
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    t = None
    try:
        def in_flight():
            st = lib.status_json(wd)
            return [c for c in st["calls_in_flight"]
                    if c["kind"] == "analyse" and c["node"] == "n0000"]
        lib.wait_for(lambda: os.path.exists(os.path.join(d, "hung")),
                     "the first analyse request to hang", timeout=60)
        seen = lib.wait_for(in_flight, "status --json to name the analyse call of n0000")
        check(seen[0]["seconds"] >= 0, "its age: %r" % seen)
        if shutil.which("tmux"):
            # A UI attached to the engine names it in its status bar, with its age.
            t = lib.Tmux(d, "%s %s" % (shlex.quote(lib.BIN), shlex.quote(wd)))
            t.wait_screen(lambda s: re.search(r"RUNNING .* analyse n0000, \d+ s \|", s),
                          "the attached UI's status bar to name the call in flight")
            t.close()
            t = None
        _, err = p.communicate(timeout=120)
    finally:
        if t:
            t.close()
        if p.poll() is None:
            p.kill()
            p.wait()
    check(p.returncode == 0, "engine: exit %d: %s" % (p.returncode, err[-1500:]))
    nodes = tree_nodes(wd)
    check(nodes["n0000"]["status"] == "completed", "the baseline: %r" % nodes["n0000"])
    stem = one_of(nodes["n0000"]["calls"], "analyse", "n0000")
    with open(os.path.join(wd, stem + "_raw.json")) as f:
        raw = json.load(f)
    tries = raw.get("attempts") or []
    check(len(tries) == 1 and "deadline" in tries[0].get("error", ""),
          "one request cut at its deadline, then tried again: %r" % tries)
    check(raw.get("valid") is True, "the second try answered: %r" % raw)
    st = lib.status_json(wd)
    check(st["calls_in_flight"] == [], "nothing in flight after: %r" % st["calls_in_flight"])


lib.finish()
