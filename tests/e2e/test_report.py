"""`hypotop report` (SPEC §3): the built-in report of a finished demo
workdir, checked against the workdir's own files; a model's report through
the fake server, with its log files, cost and budget; and the model left
alone while an engine runs."""

import atexit
import json
import os
import stat
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

SRV = lib.FakeLLM()
atexit.register(SRV.stop)
KEY = "sk-ant-test-%s-marker" % uuid.uuid4().hex


def demo_workdir():
    """A finished run of the quickstart: a tree with improvements and regressions."""
    d = lib.tmpdir()
    rc, out, err = lib.hypotop("demo", "--headless", os.path.join(d, "demo"))
    check(rc == 0, "demo: %s" % err[-500:])
    return os.path.join(d, "demo", "workdir")


def read(path):
    with open(path) as f:
        return f.read()


def env(**extra):
    e = dict(os.environ, ANTHROPIC_API_KEY=KEY)
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    e.update(extra)
    return e


def use_model(wd, **budget):
    path = os.path.join(wd, "config.json")
    cfg = json.loads(read(path))
    cfg["llm"] = {"provider": "anthropic", "base_url": SRV.url, "model": "claude-sonnet-5-5"}
    if budget:
        cfg["budget"] = budget
    with open(path, "w") as f:
        json.dump(cfg, f)


def report(wd, *extra, e=None):
    r = subprocess.run([lib.BIN, "report", wd] + list(extra), capture_output=True, text=True,
                       env=e or env(), timeout=120)
    return r.returncode, r.stdout, r.stderr


WD = demo_workdir()


@lib.test
def builtin_report_matches_the_workdir():
    rc, out, err = report(WD)
    check(rc == 0, "exit %d: %s" % (rc, err))
    text = read(os.path.join(WD, "report.md"))
    st = lib.status_json(WD)
    with open(os.path.join(WD, "engine", "tree.json")) as f:
        nodes = json.load(f)["nodes"]
    best = st["best"]["node"]
    check("**%s**" % best in text.split("## Best result")[1].split("##")[0],
          "the best node %s is not the best result" % best)
    for n in nodes:
        check("| %s | " % n["id"] in text, "%s is not in the table" % n["id"])
    # The path from the baseline (or one of its seed repeats) ends at the best,
    # each step a child of the one before.
    parent = {n["id"]: n["parent"] for n in nodes}
    path = text.split("The path from the baseline:")[1].split("\n\n")[1]
    ids = [r.split(" | ")[1] for r in path.splitlines() if r.startswith("| ") and r[2].isdigit()]
    check(parent[ids[0]] is None and ids[-1] == best, "path %r" % ids)
    check(all(parent[b] == a for a, b in zip(ids, ids[1:])), "path %r" % ids)
    improved = [n["id"] for n in nodes if n.get("improved") is True]
    helped = text.split("## What helped")[1].split("## What hurt")[0]
    for i in improved:
        check("**%s**" % i in helped, "%s improved but is not under What helped" % i)
    check(os.listdir(WD).count("report.md") == 1 and
          not [f for f in os.listdir(WD) if f.startswith(".report") or f.endswith(".tmp")],
          "a temp file is left: %r" % os.listdir(WD))
    rc2, out2, err2 = report(WD)
    check(rc2 == 0 and read(os.path.join(WD, "report.md")) == text, "not deterministic")


@lib.test
def bad_usage_is_refused():
    rc, out, err = report(WD, "--bogus")
    check(rc == 2 and "usage: hypotop report" in err, "exit %d: %s" % (rc, err))
    rc, out, err = lib.hypotop("report")
    check(rc == 2, "no workdir: exit %d" % rc)
    rc, out, err = lib.hypotop("report", os.path.join(lib.tmpdir(), "none"))
    check(rc == 2 and "no such workdir" in err, "exit %d: %s" % (rc, err))
    rc, out, err = lib.hypotop("report", "--help")
    check(rc == 0 and "report WORKDIR" in out, "help: %d %r" % (rc, out))


@lib.test
def model_report_is_logged_costed_and_counted():
    wd = demo_workdir()
    use_model(wd)
    usage = {"input_tokens": 3000, "output_tokens": 700, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}
    md = "# What the loop found\n\nThe learning rate mattered most.\n"
    SRV.script([{"when": "report", "status": 200, "body": {
        "id": "msg_r", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": md}], "stop_reason": "end_turn", "usage": usage}}])
    before = lib.status_json(wd)["llm_usd"]
    rc, out, err = report(wd)
    check(rc == 0, "exit %d: %s" % (rc, err))
    text = read(os.path.join(wd, "report.md"))
    logs = sorted(os.listdir(os.path.join(wd, "logs")))
    names = [n for n in logs if "_report_all_" in n]
    check(len(names) == 3, "report logs %r" % names)
    nnn = names[0][:3]
    check(text.startswith(md.rstrip()) and "logs/%s_report_all_" % nnn in text, text[:300])
    reqs = SRV.requests()
    check(len(reqs) == 1 and reqs[0]["kind"] == "report", "requests %r" % len(reqs))
    user = "".join(b["text"] for b in reqs[0]["body"]["messages"][0]["content"])
    analysis = read(os.path.join(wd, "runs", "n0004", "analysis.md"))
    check("## Best result" in user and analysis.splitlines()[0] in user,
          "the prompt lacks the facts or the analyses")
    check(names == ["%s_report_all_%s" % (nnn, s) for s in ("output.md", "prompt.md", "raw.json")],
          "report logs %r" % names)
    for n in names:
        check(n in logs, "%s missing: %r" % (n, logs))
        mode = stat.S_IMODE(os.stat(os.path.join(wd, "logs", n)).st_mode)
        check(mode == 0o600, "%s has mode %o" % (n, mode))
    raw = json.loads(read(os.path.join(wd, "logs", names[2])))
    want = (3000 * 2 + 700 * 10) / 1e6
    check(raw["kind"] == "report" and abs(raw["cost_usd"] - want) < 1e-9, "raw %r" % raw)
    st = lib.status_json(wd)
    check(abs(st["llm_report_usd"] - want) < 1e-9 and abs(st["llm_usd"] - before - want) < 1e-9,
          "status spend %r %r" % (st["llm_usd"], st["llm_report_usd"]))
    for base, dirs, files in os.walk(wd):
        for n in files:
            with open(os.path.join(base, n), "rb") as f:
                check(KEY.encode() not in f.read(), "the key is in %s" % n)
    # The report's spend counts against the cap: with the cap at it, nothing is sent.
    use_model(wd, llm_usd=want)
    SRV.script([{"when": "report", "auto": 0}])
    rc, out, err = report(wd)
    check(rc == 1 and "llm_budget" in err, "exit %d: %s" % (rc, err))
    check(not SRV.requests(), "a request was made past the budget")
    check(read(os.path.join(wd, "report.md")) == text, "report.md changed after a failure")


@lib.test
def prompt_override_and_a_failing_model():
    wd = demo_workdir()
    use_model(wd)
    os.makedirs(os.path.join(wd, "prompts"), exist_ok=True)
    with open(os.path.join(wd, "prompts", "report.md"), "w") as f:
        f.write("Write three bullet points only.\n")
    SRV.script([{"when": "report", "status": 401, "body": {"type": "error", "error": {
        "type": "authentication_error", "message": "invalid x-api-key"}}}])
    rc, out, err = report(wd)
    check(rc == 1 and "llm_auth" in err and "report.md is unchanged" in err,
          "exit %d: %s" % (rc, err))
    check(not os.path.exists(os.path.join(wd, "report.md")), "a report was written")
    system = SRV.requests()[0]["body"]["system"][0]["text"]
    check(system.startswith("Write three bullet points only."), system[:100])
    rc, out, err = report(wd, e=env(ANTHROPIC_API_KEY=""))
    check(rc == 2 and "ANTHROPIC_API_KEY" in err, "no key: exit %d: %s" % (rc, err))


@lib.test
def the_model_is_not_asked_while_an_engine_runs():
    d = lib.tmpdir()
    src = lib.make_repo(d)
    wd = os.path.join(d, "wd")
    rc, out, err = lib.hypotop("init", wd, "--source-dir", src, "--launch",
                               "sleep 15; echo val_loss=1", "--metric", "val_loss")
    check(rc == 0, "init: %s" % err)
    use_model(wd)
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=env())
    try:
        lib.wait_for(lambda: lib.status_json(wd)["engine"]["running"], "the engine", 30)
        SRV.script([{"auto": 0, "sticky": True}])
        rc, out, err = report(wd)
        check(rc == 0 and "an engine is running" in err, "exit %d: %s" % (rc, err))
        check("built-in reporter" in out and not SRV.requests(), "the model was asked")
        check("n0000" in read(os.path.join(wd, "report.md")), "no report")
    finally:
        p.terminate()
        p.wait(timeout=30)


SRV.stop()
lib.finish()
