"""The engine with a model (SPEC §7) against the fake server of fake_llm.py:
the loop end to end, an unavailable model, a stop asked once more before
it is accepted (across a restart too), and a restart in the middle of a
call, which repeats that call and nothing else."""

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

SRV = lib.FakeLLM()
atexit.register(SRV.stop)
KEY = "sk-ant-test-%s-marker" % uuid.uuid4().hex


def anth_json(obj, when):
    """A scripted Anthropic answer to the next call of kind `when`."""
    return {"when": when, "status": 200, "body": {
        "id": "msg_s", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": json.dumps(obj)}], "stop_reason": "end_turn",
        "usage": {"input_tokens": 100, "output_tokens": 50, "cache_creation_input_tokens": 0,
                  "cache_read_input_tokens": 0}}}


def stop(reason):
    return {"stop": True, "reason": reason, "proposals": []}


def user_text(req):
    content = req["body"]["messages"][-1]["content"]
    return "".join(b.get("text", "") for b in content)


def start(wd):
    return subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=engine_env())


def run_to_end(wd):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300, env=engine_env())
    check(r.returncode == 0, "engine: exit %d: %s" % (r.returncode, r.stderr[-1500:]))
    return r.stderr


def kill_when(pred, what, p):
    """SIGKILL the engine once the fake server's log shows pred, within a deadline."""
    try:
        lib.wait_for(lambda: pred(SRV.requests()), what, timeout=120)
    finally:
        p.kill()
        p.wait(timeout=30)


def state(wd):
    with open(os.path.join(wd, "state.json")) as f:
        return json.load(f)


def engine_wd(max_iterations=2, train=None, **extra):
    """The quickstart project with the anthropic provider on the fake server
    (train: the text of train.py instead of the quickstart's)."""
    d = lib.tmpdir()
    qs = os.path.join(lib.ROOT, "examples", "quickstart")
    files = {n: open(os.path.join(qs, n)).read() for n in ("train.py", "hparams.json")}
    if train is not None:
        files["train.py"] = train
    src = lib.make_repo(d, files=files)
    with open(os.path.join(qs, "hypotop.json")) as f:
        cfg = json.load(f)
    cfg.update({"source_dir": src, "max_iterations": max_iterations, "noise": {"seeds": 1},
                "fixed_experiments": [],
                "llm": {"provider": "anthropic", "base_url": SRV.url,
                        "model": "claude-sonnet-5-5"}})
    cfg.update(extra)
    with open(os.path.join(d, "c.json"), "w") as f:
        json.dump(cfg, f)
    wd = os.path.join(d, "wd")
    rc, out, err = lib.hypotop("init", wd, "--config", os.path.join(d, "c.json"))
    check(rc == 0, "init: %s" % err)
    return src, wd


def agent_file(d, name, text):
    """An executable script in folder d: a command provider."""
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o755)
    return path


def engine_env():
    e = dict(os.environ, ANTHROPIC_API_KEY=KEY)
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    return e


# A command provider that records where it ran and what it was told, then
# answers: an analysis, or one proposal of a higher lr.
AGENT = r"""#!/usr/bin/env python3
import json, os, subprocess, sys
sys.stdin.read()
kind = os.environ.get("HYPOTOP_LLM_KIND", "")
cwd = os.getcwd()
head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cwd)
rec = {"kind": kind, "cwd": cwd, "head": head.stdout.strip(),
       "hparams": open("hparams.json").read() if os.path.exists("hparams.json") else None,
       "source_dir": os.environ.get("HYPOTOP_SOURCE_DIR"),
       "node": os.environ.get("HYPOTOP_NODE"), "commit": os.environ.get("HYPOTOP_COMMIT")}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(rec) + "\n")
if kind == "analyse":
    print(json.dumps({"summary": "judged", "verdict": "no_change", "bottleneck": "none",
                      "evidence": ["seen"], "hypothesis_supported": None}))
else:
    print(json.dumps({"stop": False, "reason": "one more", "proposals": [
        {"name": "lr-up", "hypothesis": "a higher lr", "priority": 0, "needs_rebuild": False,
         "change": {"kind": "params", "params": {"lr": 0.02}}}]}))
"""


@lib.test
def a_command_provider_runs_in_a_checkout_of_the_nodes_commit():
    d = lib.tmpdir()
    agent = agent_file(d, "agent.py", AGENT)
    calls = os.path.join(d, "calls.jsonl")
    src, wd = engine_wd(max_iterations=1, llm={"provider": "command",
                                               "command": "%s %s" % (agent, calls)})
    # What an engine killed during a call leaves: a checkout and its branch.
    stale = os.path.join(wd, "worktrees", "call-9")
    lib.sh("git", "worktree", "add", "-q", "-b", "hypotop-call/call-9", stale, cwd=src)
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300, env=engine_env(), cwd=d)
    check(r.returncode == 0, "engine: exit %d: %s" % (r.returncode, r.stderr[-1500:]))
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        commits = {n["id"]: n["commit"] for n in json.load(f)["nodes"]}
    with open(calls) as f:
        recs = [json.loads(ln) for ln in f]
    kinds = sorted(x["kind"] for x in recs)
    check(kinds.count("analyse") == 2 and kinds.count("plan") == 1, "calls %s" % kinds)
    for x in recs:
        what = "%s of %s" % (x["kind"], x["node"])
        check(x["node"] in commits, "%s: HYPOTOP_NODE %r" % (what, x["node"]))
        check(x["commit"] == commits[x["node"]], "%s: HYPOTOP_COMMIT %r, the node's %r"
              % (what, x["commit"], commits[x["node"]]))
        check(x["source_dir"] == src, "%s: HYPOTOP_SOURCE_DIR %r" % (what, x["source_dir"]))
        check(x["head"] == x["commit"], "%s: ran at %r (%s), not in a checkout of the node's "
              "commit" % (what, x["cwd"], x["head"] or "no commit"))
        check(os.path.realpath(x["cwd"]) not in (os.path.realpath(d), os.path.realpath(src)),
              "%s: ran in %s" % (what, x["cwd"]))
        check(not os.path.exists(x["cwd"]), "%s: the checkout %s is left" % (what, x["cwd"]))
    up = [x for x in recs if x["kind"] == "analyse" and x["node"] != "n0000"]
    check(up and json.loads(up[0]["hparams"])["lr"] == 0.02, "the child's checkout: %r" % up)
    branches = lib.sh("git", "branch", "--list", cwd=src).stdout
    check("call" not in branches, "branches left: %s" % branches)
    check(not os.path.exists(stale), "the last engine's checkout %s is left" % stale)
    trees = lib.sh("git", "worktree", "list", cwd=src).stdout
    check("call-9" not in trees, "git still lists the checkout: %s" % trees)



@lib.test
def the_loop_runs_on_a_model_end_to_end():
    SRV.script([{"auto": 2, "sticky": True}])
    src, wd = engine_wd()
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=300, env=engine_env())
    check(r.returncode == 0, "engine: %s" % r.stderr[-1500:])
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        t = json.load(f)
    kids = [n for n in t["nodes"] if n["name"].startswith("lr-")]
    check(len(kids) == 4, "children from two plans: %s" % [n["name"] for n in t["nodes"]])
    for n in kids:
        hp = json.loads(lib.sh("git", "show", n["commit"] + ":hparams.json", cwd=src).stdout)
        check(hp["lr"] == n["change"]["params"]["lr"], "%s: commit does not carry the change"
              % n["id"])
        with open(os.path.join(wd, "runs", n["id"], "analysis.md")) as f:
            check("judged" in f.read(), "%s: the model's analysis is not in analysis.md" % n["id"])
    with open(os.path.join(wd, "state.json")) as f:
        state = json.load(f)
    calls = [x for x in os.listdir(os.path.join(wd, "logs")) if x.endswith("_raw.json")]
    check(len(calls) >= 5 and state["llm_usd"] > 0, "calls %d, spend %s" % (len(calls),
                                                                          state["llm_usd"]))
    check("planning stops" in r.stderr, "no stop said: %s" % r.stderr[-500:])
    for base, dirs, files in os.walk(wd):
        for name in files:
            with open(os.path.join(base, name), "rb") as f:
                check(KEY.encode() not in f.read(), "the key is in %s" % name)


@lib.test
def every_call_carries_the_knowledge_base_first_and_plans_the_guidance():
    SRV.script([{"auto": 1, "sticky": True}])
    src, wd = engine_wd(max_iterations=1)
    marker = "kb-%s: the loss spikes at step 300 are the data loader's fault" % uuid.uuid4().hex
    with open(os.path.join(wd, "knowledge.md"), "w") as f:
        f.write("# Notes\n\n" + marker + "\n")
    guide = "guide-%s: try warmup" % uuid.uuid4().hex
    with open(os.path.join(wd, "directive.md"), "w") as f:
        f.write("- " + guide + "\n")
    run_to_end(wd)
    reqs = SRV.requests()
    kinds = {r["kind"] for r in reqs}
    check({"analyse", "plan"} <= kinds, "calls: %s" % sorted(kinds))
    check(all(guide in user_text(r) for r in reqs if r["kind"] == "plan"),
          "a plan call lacks the person's guidance (directive.md)")
    for r in reqs:
        text = user_text(r)
        check(marker in text, "a %s call lacks the knowledge base" % r["kind"])
        check(text.index(marker) < text.index("# Project"),
              "the knowledge base is not first in a %s call" % r["kind"])
    # Without the file the prompts have no such part.
    os.remove(os.path.join(wd, "knowledge.md"))
    SRV.script([{"auto": 1, "sticky": True}])
    rc, out, err = lib.hypotop("retry", wd, "n0000")
    check(rc == 0, "retry: %s" % err)
    run_to_end(wd)
    later = SRV.requests()
    check(later and all("# Knowledge base" not in user_text(r) for r in later),
          "a knowledge base without the file")


@lib.test
def an_unavailable_model_is_asked_again_later():
    SRV.script([{"status": 529, "sticky": True, "body": {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}}])
    src, wd = engine_wd()
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True, env=engine_env())
    try:
        log = os.path.join(wd, "logs", "hypotop.log")
        lib.wait_for(lambda: os.path.exists(log) and "planning again in" in open(log).read(),
                     "planning to wait for the model", timeout=120)
        check(p.poll() is None, "the engine gave up on an unavailable model")
        s = lib.status_json(wd)
        check(s["iteration"] == 0, "a failed round was counted: %s" % s["iteration"])
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    check(p.returncode == 0, "exit %s" % p.returncode)



@lib.test
def a_stop_is_asked_once_more_then_accepted():
    SRV.script([anth_json(stop("nothing left to try"), "plan"),
                anth_json(stop("still nothing"), "plan"), {"auto": 0, "sticky": True}])
    src, wd = engine_wd(max_iterations=5, patience=3)
    err = run_to_end(wd)
    plans = [r for r in SRV.requests() if r["kind"] == "plan"]
    check(len(plans) == 2, "%d plan requests" % len(plans))
    check("previous answer for this round was stop" not in user_text(plans[0]), "asked as a confirmation first")
    second = user_text(plans[1])
    check("previous answer for this round was stop" in second and "nothing left to try" in second
          and "patience allows 3 more rounds" in second, "the second ask: %r" % second[-600:])
    check("asking it once more" in err and "the planner says stop: still nothing" in err,
          err[-800:])
    check(state(wd)["iteration"] == 1, "rounds %r" % state(wd)["iteration"])


@lib.test
def a_stop_that_is_not_confirmed_plans_on():
    plan = {"stop": False, "reason": "one more idea", "proposals": [
        {"name": "lr-0p05", "hypothesis": "a larger step", "priority": 1, "needs_rebuild": False,
         "change": {"kind": "params", "params": {"lr": 0.05}}}]}
    SRV.script([anth_json(stop("done"), "plan"), anth_json(plan, "plan"),
                anth_json(stop("done now"), "plan"), anth_json(stop("really done"), "plan"),
                {"auto": 0, "sticky": True}])
    src, wd = engine_wd(max_iterations=5, patience=3)
    err = run_to_end(wd)
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        names = [n["name"] for n in json.load(f)["nodes"]]
    check(names.count("lr-0p05") == 1, "nodes %r" % names)
    plans = [r for r in SRV.requests() if r["kind"] == "plan"]
    # stop, proposals (round 1), then stop asked again and confirmed (round 2).
    check(len(plans) == 4, "%d plan requests" % len(plans))
    check("done now" in user_text(plans[3]), "the confirmation quotes the wrong stop")
    check(state(wd)["iteration"] == 2, "rounds %r" % state(wd)["iteration"])


@lib.test
def a_restart_between_the_two_asks_asks_once_more_only():
    hold = os.path.join(lib.tmpdir(), "release")
    SRV.script([anth_json(stop("first reason"), "plan"),
                dict(anth_json(stop("never seen"), "plan"), wait_file=hold),
                {"auto": 0, "sticky": True}])
    src, wd = engine_wd(max_iterations=5, patience=3)
    p = start(wd)
    kill_when(lambda reqs: len([r for r in reqs if r["kind"] == "plan"]) == 2,
              "the confirmation to be in flight", p)
    open(hold, "w").close()
    before = len(SRV.requests())
    SRV.script([anth_json(stop("second reason"), "plan"), {"auto": 0, "sticky": True}])
    err = run_to_end(wd)
    plans = [r for r in SRV.requests() if r["kind"] == "plan"]
    check(len(plans) == 1, "%d plan requests after the restart" % len(plans))
    text = user_text(plans[0])
    check("previous answer for this round was stop" in text and "first reason" in text,
          "the first stop was lost: %r" % text[-500:])
    check("the planner says stop: second reason" in err, err[-800:])
    check(before >= 3, "requests before the kill: %d" % before)


def node_of(req):
    """The node an analyse request is about, from its prompt."""
    text = user_text(req)
    return text.split("Node: ", 1)[1].split()[0] if "Node: " in text else None


@lib.test
def a_restart_mid_call_repeats_that_call_only():
    d = lib.tmpdir()
    hold, launches = os.path.join(d, "release"), os.path.join(d, "launches")
    SRV.script([{"when": "analyse", "wait_file": hold, "auto": 1}, {"auto": 1, "sticky": True}])
    src, wd = engine_wd(max_iterations=1, launch='echo "$HYPOTOP_NODE" >> %s; python3 train.py'
                        % launches)
    p = start(wd)
    kill_when(lambda reqs: any(r["kind"] == "analyse" for r in reqs),
              "the baseline's analysis to be in flight", p)
    first = SRV.requests()
    check([(r["kind"], node_of(r)) for r in first] == [("analyse", "n0000")],
          "requests before the kill: %r" % [(r["kind"], node_of(r)) for r in first])
    logs_before = sorted(os.listdir(os.path.join(wd, "logs")))
    check(not [n for n in logs_before if n[:3].isdigit()],
          "a call in flight left log files: %r" % logs_before)
    open(hold, "w").close()
    SRV.script([{"auto": 1, "sticky": True}])
    run_to_end(wd)
    after = SRV.requests()
    # The call cut short is the first one asked again, with the same prompt.
    check(after[0]["kind"] == "analyse" and node_of(after[0]) == "n0000",
          "first request after the restart: %r" % ((after[0]["kind"], node_of(after[0])),))
    check(after[0]["body"]["messages"] == first[0]["body"]["messages"],
          "the repeated call asks something else")
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        nodes = json.load(f)["nodes"]
    ids = [n["id"] for n in nodes]
    analysed = [node_of(r) for r in after if r["kind"] == "analyse"]
    check(sorted(analysed) == sorted(ids), "analyses after the restart %r, nodes %r"
          % (analysed, ids))
    plans = [r for r in after if r["kind"] == "plan"]
    check(len(plans) == 1, "%d plan requests" % len(plans))
    kids = [(n["parent"], n["name"]) for n in nodes if n["parent"]]
    check(len(kids) == 2 and len(set(kids)) == 2, "children %r" % kids)
    with open(launches) as f:
        launched = f.read().split()
    check(sorted(launched) == sorted(ids), "launches %r for nodes %r" % (launched, ids))
    logs = os.listdir(os.path.join(wd, "logs"))
    for i in ids:
        mine = [n for n in logs if n.endswith("_analyse_%s_raw.json" % i)]
        check(len(mine) == 1, "%s: analyse logs %r" % (i, mine))
    check(len([n for n in logs if "_plan_" in n and n.endswith("_raw.json")]) == 1,
          "plan logs %r" % sorted(logs))

# A command provider that keeps every prompt it is given: its first plan
# changes the code (a whole file, as no param file applies), its second stops.
CODER = r"""#!/usr/bin/env python3
import json, os, sys
prompt = sys.stdin.read()
kind = os.environ.get("HYPOTOP_LLM_KIND", "")
with open(sys.argv[1], "a") as f:
    f.write(json.dumps({"kind": kind, "node": os.environ.get("HYPOTOP_NODE"),
                        "prompt": prompt}) + "\n")
if kind == "analyse":
    print(json.dumps({"summary": "judged", "verdict": "no_change", "bottleneck": "none",
                      "evidence": ["seen"], "hypothesis_supported": None}))
elif os.environ.get("HYPOTOP_NODE") == "n0000":
    print(json.dumps({"stop": False, "reason": "smaller", "proposals": [
        {"name": "smaller", "hypothesis": "a smaller loss", "priority": 0,
         "needs_rebuild": False, "change": {"kind": "files", "files": [
             {"path": "model_cfg.py", "content": "LOSS = 0.5  # changed-%s\n" % sys.argv[2]}]}}]}))
else:
    print(json.dumps({"stop": True, "reason": "enough", "proposals": []}))
"""


@lib.test
def a_plan_prompt_carries_the_code_at_the_nodes_commit():
    d = lib.tmpdir()
    mark = uuid.uuid4().hex
    agent, calls = agent_file(d, "coder.py", CODER), os.path.join(d, "calls.jsonl")
    src = lib.make_repo(d, files={
        "train.py": "# launch-%s\nfrom model_cfg import LOSS\nprint('val_loss=%%g' %% LOSS)\n"
                    % mark,
        "model_cfg.py": "LOSS = 1.0\n",
        "weights.bin": "\0\1\2 binary-%s\n" % mark})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 2, "noise": {"seeds": 1}, "repair_attempts": 0,
           "llm": {"provider": "command", "command": "%s %s %s" % (agent, calls, mark),
                   "context": ["*.bin"], "context_bytes": 4096}}
    with open(os.path.join(d, "c.json"), "w") as f:
        json.dump(cfg, f)
    wd = os.path.join(d, "wd")
    rc, out, err = lib.hypotop("init", wd, "--config", os.path.join(d, "c.json"))
    check(rc == 0, "init: %s" % err)
    run_to_end(wd)
    with open(calls) as f:
        plans = [x for x in map(json.loads, f) if x["kind"] == "plan"]
    check([x["node"] for x in plans][:2] == ["n0000", "n0001"], "plans under %s"
          % [x["node"] for x in plans])
    for x in plans:
        p = x["prompt"]
        check("# launch-%s" % mark in p, "plan of %s: no launch script" % x["node"])
        check("binary-%s" % mark not in p and "weights.bin" not in p,
              "plan of %s: a binary file" % x["node"])
        check('"kind": "params"' not in p, "plan of %s: params offered without a param file "
              "or {NAME}" % x["node"])
    p = plans[1]["prompt"]
    check("File `model_cfg.py`:\n\n    LOSS = 0.5  # changed-%s" % mark in p,
          "the changed file is not shown whole: %s" % p[-3000:])
    check("+LOSS = 0.5  # changed-%s" % mark in p, "no diff against the baseline")
    logs = os.path.join(wd, "logs")
    raws = [json.load(open(os.path.join(logs, n))) for n in sorted(os.listdir(logs))
            if n.endswith("_plan_n0001_raw.json")]
    check(raws and raws[0].get("prompt_bytes", 0) >= len(p.encode()) // 2,
          "the prompt's size is not logged: %r" % [r.get("prompt_bytes") for r in raws])


# A command provider that can change the code only by quoting it from its
# prompt: the line of train.py that sets the steps, found in the source the
# plan prompt shows, becomes the search text of an edit. It says why, and
# fails, when the prompt does not show that line.
QUOTER = r"""#!/usr/bin/env python3
import json, os, re, sys
prompt = sys.stdin.read()
kind = os.environ.get("HYPOTOP_LLM_KIND", "")
if kind == "analyse":
    print(json.dumps({"summary": "judged", "verdict": "no_change", "bottleneck": "none",
                      "evidence": ["seen"], "hypothesis_supported": None}))
    sys.exit(0)
m = re.search(r"File `train\.py`:\n\n((?:    .*\n|\n)+)", prompt)
hits = [ln[4:] for ln in (m.group(1).split("\n") if m else []) if ln.startswith("    steps = int(")]
if len(hits) != 1:
    sys.exit("quoter: the plan prompt does not show train.py's steps line once: %r" % hits)
with open(sys.argv[1], "w") as f:
    f.write(hits[0])
print(json.dumps({"stop": False, "reason": "quicker", "proposals": [
    {"name": "fewer-steps", "hypothesis": "200 steps are enough", "priority": 0,
     "needs_rebuild": False, "change": {"kind": "edit", "edits": [
         {"path": "train.py", "search": hits[0], "replace": "steps = 200"}]}}]}))
"""


@lib.test
def a_model_edits_the_code_by_quoting_it_from_the_prompt():
    d = lib.tmpdir()
    mark = uuid.uuid4().hex
    agent, quoted = agent_file(d, "quoter.py", QUOTER), os.path.join(d, "quoted.txt")
    with open(os.path.join(lib.ROOT, "examples", "quickstart", "train.py")) as f:
        train = f.read()
    line = 'steps = int(hp.get("steps", 1500))'
    check(train.count(line + "\n") == 1, "the quickstart's train.py lacks %r" % line)
    # Only the prompt can tell the model this line: it ends with a mark of this run.
    train = train.replace(line, "%s  # steps-%s" % (line, mark))
    src, wd = engine_wd(max_iterations=1, train=train,
                        llm={"provider": "command", "command": "%s %s" % (agent, quoted)})
    err = run_to_end(wd)
    check(os.path.exists(quoted), "the model never quoted the line: %s" % err[-1500:])
    with open(quoted) as f:
        search = f.read()
    check(search == "%s  # steps-%s" % (line, mark), "quoted %r" % search)
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        nodes = {n["id"]: n for n in json.load(f)["nodes"]}
    kids = [n for n in nodes.values() if n["name"] == "fewer-steps"]
    check(len(kids) == 1 and kids[0]["status"] == "completed",
          "the edit's node: %r; %s" % ([(n["id"], n["status"]) for n in kids], err[-1500:]))
    n = kids[0]
    parent = nodes[n["parent"]]["commit"]
    names = lib.sh("git", "diff", "--name-only", parent, n["commit"], cwd=src).stdout.split()
    check(names == ["train.py"], "files changed: %r" % names)
    diff = lib.sh("git", "diff", "-U0", parent, n["commit"], cwd=src).stdout
    changed = [ln for ln in diff.splitlines()
               if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    check(changed == ["-" + search, "+steps = 200"], "the branch's diff is not the edit: %s"
          % diff)
    with open(os.path.join(wd, "runs", n["id"], "analysis.md")) as f:
        analysis = f.read()
    check("```diff\n" in analysis and "\n-%s\n+steps = 200\n" % search in analysis,
          "analysis.md lacks the node's diff: %s" % analysis[-2000:])


# A command provider whose first plan breaks train.py and whose second plan
# only records what it was shown.
BREAKER = r"""#!/usr/bin/env python3
import json, os, sys
prompt = sys.stdin.read()
kind = os.environ.get("HYPOTOP_LLM_KIND", "")
if kind == "analyse":
    print(json.dumps({"summary": "analysed-%s" % os.environ.get("HYPOTOP_NODE"),
                      "verdict": "no_change", "bottleneck": "none", "evidence": ["seen"],
                      "hypothesis_supported": None}))
    sys.exit(0)
plans = sys.argv[1]
n = len(os.listdir(plans))
with open(os.path.join(plans, "%d.md" % n), "w") as f:
    f.write(prompt)
if n == 0:
    print(json.dumps({"stop": False, "reason": "break it", "proposals": [
        {"name": "broken", "hypothesis": "h", "priority": 0, "needs_rebuild": False,
         "change": {"kind": "files", "files": [{"path": "train.py", "content":
             "print('about to fail: %s', flush=True)\nraise SystemExit(3)\n" % sys.argv[2]}]}}]}))
else:
    print(json.dumps({"stop": True, "reason": "seen", "proposals": []}))
"""


@lib.test
def a_plan_shows_the_nodes_analysis_and_the_newest_failures_logs():
    d = lib.tmpdir()
    mark, plans = uuid.uuid4().hex, os.path.join(d, "plans")
    os.makedirs(plans)
    agent = agent_file(d, "breaker.py", BREAKER)
    # One slot: the next round waits for the broken run's end.
    src, wd = engine_wd(max_iterations=2, repair_attempts=0, patience=5, max_concurrency=1,
                        llm={"provider": "command", "command": "%s %s %s" % (agent, plans, mark)})
    err = run_to_end(wd)
    prompts = []
    for i in range(len(os.listdir(plans))):
        with open(os.path.join(plans, "%d.md" % i)) as f:
            prompts.append(f.read())
    # The second round, and the stop it answers asked once more.
    check(len(prompts) == 3, "plan calls: %d; %s" % (len(prompts), err[-1500:]))
    check("## Its analysis" in prompts[0] and "analysed-n0000" in prompts[0],
          "the first plan lacks n0000's analysis: %s" % prompts[0][-3000:])
    check("## The newest failed runs" not in prompts[0], "a failure shown before any")
    check("## What a surrogate model of the search space suggests" in prompts[0],
          "the first plan lacks the surrogate's picks: %s" % prompts[0][-3000:])
    want = "### n0001 (crash)"
    check(want in prompts[1] and "about to fail: %s" % mark in prompts[1],
          "the second plan lacks n0001's failure and log: %s" % prompts[1][-3000:])


SRV.stop()
lib.finish()
