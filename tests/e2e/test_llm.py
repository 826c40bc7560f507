"""The model providers (SPEC §7) against a fake server on 127.0.0.1 that
speaks the real wire formats and answers from a script per request:
retries and their delays, the failures that are not retried, answers in
prose, fences, cut off or refused, the contract retry, the log files and
their cost, the API key kept out of every file, the command provider, and
calls on several threads at once. Driven through tests/tools/llm_probe;
the engine with a model is in test_model_loop.py."""

import atexit
import json
import os
import stat
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

PROBE = os.path.join(lib.ROOT, "build", "tools", "llm_probe")
KEY = "sk-ant-test-%s-marker" % uuid.uuid4().hex

GOOD_ANALYSIS = {"summary": "val_loss 0.8 beats the best 0.9.", "verdict": "improved",
                 "bottleneck": "the learning rate schedule", "evidence": ["val_loss 0.8"],
                 "hypothesis_supported": True}
GOOD_PLAN = {"stop": False, "reason": "two more steps down the learning rate",
             "proposals": [
                 {"name": "lr-3e-4", "hypothesis": "lower still", "priority": 1,
                  "needs_rebuild": False, "change": {"kind": "params", "params": {"lr": 0.0003}}},
                 {"name": "dropout-0-2", "hypothesis": "more regularisation", "priority": 2,
                  "needs_rebuild": False, "change": {"kind": "params", "params": {"dropout": 0.2}}}]}


# ---- the fake server -------------------------------------------------------

SRV = lib.FakeLLM()
atexit.register(SRV.stop)


def anth(text, stop="end_turn", usage=None):
    return {"status": 200, "body": {
        "id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [{"type": "text", "text": text}], "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage or {"input_tokens": 100, "output_tokens": 50,
                           "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}}}


def anth_err(status, etype, message, headers=None, details=None):
    err = {"type": etype, "message": message}
    if details:
        err["details"] = details
    return {"status": status, "headers": headers or {},
            "body": {"type": "error", "error": err, "request_id": "req_011"}}


def oai(text, finish="stop", usage=None, refusal=None):
    msg = {"role": "assistant", "content": text}
    if refusal:
        msg = {"role": "assistant", "content": None, "refusal": refusal}
    return {"status": 200, "body": {
        "id": "chatcmpl-1", "object": "chat.completion", "model": "local",
        "choices": [{"index": 0, "message": msg, "finish_reason": finish}],
        "usage": usage or {"prompt_tokens": 120, "completion_tokens": 40, "total_tokens": 160}}}


def workdir(llm, **extra):
    d = lib.tmpdir()
    cfg = {"source_dir": os.path.join(d, "src"), "launch": "python3 train.py",
           "metric": "val_loss", "llm": llm,
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"log_uniform": [1e-5, 1e-1]},
                                       "dropout": {"uniform": [0.0, 0.5]}}}}
    cfg.update(extra)
    wd = os.path.join(d, "wd")
    os.makedirs(wd)
    with open(os.path.join(wd, "config.json"), "w") as f:
        json.dump(cfg, f)
    return wd


def anthropic_wd(model="claude-sonnet-5-5", **extra):
    return workdir({"provider": "anthropic", "base_url": SRV.url, "model": model}, **extra)


def probe(wd, kind, *opts, env=None, key=KEY):
    e = dict(os.environ)
    e.pop("ANTHROPIC_API_KEY", None)
    e.pop("OPENAI_API_KEY", None)
    if key is not None:
        e["ANTHROPIC_API_KEY"] = key
    # The fake server is on loopback: no proxy of the environment may stand in between.
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    e.update(env or {})
    t0 = time.monotonic()
    r = subprocess.run([PROBE, os.path.join(wd, "config.json"), wd, kind,
                        "--backoff-ms", "20", "--timeout-ms", "5000"] + list(opts),
                       capture_output=True, text=True, env=e, timeout=60)
    check(r.returncode in (0, 1), "llm_probe exited %d: %s" % (r.returncode, r.stderr))
    out = json.loads(r.stdout)
    out["elapsed"] = time.monotonic() - t0
    out["stdout"], out["stderr"] = r.stdout, r.stderr
    return out


def call(out, i=0):
    return out["calls"][i]


def ok(out):
    c = call(out)
    check(c["rc"] == 0, "the call failed: %s: %s" % (c["kind"], c["error"]))
    return c


def failed(out, kind):
    c = call(out)
    check(c["rc"] != 0, "the call succeeded; want %s" % kind)
    check(c["kind"] == kind, "kind %r, want %r (%s)" % (c["kind"], kind, c["error"]))
    return c


def logs(wd):
    d = os.path.join(wd, "logs")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def read(wd, name):
    with open(os.path.join(wd, "logs", name)) as f:
        return f.read()


def last_user_text(body):
    content = body["messages"][-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") for b in content)


# ---- anthropic ---------------------------------------------------------------

@lib.test
def anthropic_answer_is_logged_with_usage_and_cost():
    wd = anthropic_wd()
    usage = {"input_tokens": 1000, "output_tokens": 200, "cache_creation_input_tokens": 500,
             "cache_read_input_tokens": 2000}
    SRV.script([anth(json.dumps(GOOD_ANALYSIS), usage=usage)])
    out = probe(wd, "analyse")
    c = ok(out)
    check(c["result"] == GOOD_ANALYSIS, "verdict %r" % c["result"])
    check("## Verdict: improved" in c["analysis"], "analysis: %r" % c["analysis"])
    want = (1000 * 2 + 500 * 2.5 + 2000 * 0.10 + 200 * 10) / 1e6
    check(abs(out["spent_usd"] - want) < 1e-9 and out["spent_known"],
          "spent %r, want %r" % (out["spent_usd"], want))
    names = logs(wd)
    check(names == ["001_analyse_n0003_output.md", "001_analyse_n0003_prompt.md",
                    "001_analyse_n0003_raw.json"], "logs: %r" % names)
    for n in names:
        mode = stat.S_IMODE(os.stat(os.path.join(wd, "logs", n)).st_mode)
        check(mode == 0o600, "%s has mode %o" % (n, mode))
    raw = json.loads(read(wd, "001_analyse_n0003_raw.json"))
    check(raw["usage"] == usage, "raw usage %r" % raw["usage"])
    check(abs(raw["cost_usd"] - want) < 1e-9, "raw cost %r" % raw["cost_usd"])
    check(raw["response"]["id"] == "msg_01" and raw["valid"], "raw: %r" % raw)
    prompt = read(wd, "001_analyse_n0003_prompt.md")
    for w in ("step 3 val_loss=0.8", "lower-lr", "| parent | 1 |", "\"verdict\"",
              "Parameters: {\"lr\":0.001}"):
        check(w in prompt, "prompt.md lacks %r" % w)
    check("cache read 2000" in read(wd, "001_analyse_n0003_output.md"), "output.md usage")
    reqs = SRV.requests()
    check(len(reqs) == 1, "%d requests" % len(reqs))
    h, body = reqs[0]["headers"], reqs[0]["body"]
    check(reqs[0]["path"] == "/v1/messages", "path %s" % reqs[0]["path"])
    check(h.get("x-api-key") == KEY and h.get("anthropic-version") == "2023-06-01",
          "headers %r" % {k: v for k, v in h.items() if k != "x-api-key"})
    check(body["output_config"]["format"]["type"] == "json_schema", "no structured output")
    schema = body["output_config"]["format"]["schema"]
    check(schema["additionalProperties"] is False, "schema not closed")
    check(body["system"][0]["cache_control"] == {"type": "ephemeral"}, "system not cached")
    check(body["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"},
          "stable user part not cached")
    check("temperature" not in body and body["max_tokens"] == 8192, "body %r" % list(body))


@lib.test
def retry_after_is_honoured_on_429():
    wd = anthropic_wd()
    SRV.script([anth_err(429, "rate_limit_error", "slow down", {"retry-after": "1"}),
                anth(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    reqs = SRV.requests()
    check(len(reqs) == 2, "%d requests" % len(reqs))
    gap = reqs[1]["t"] - reqs[0]["t"]
    check(gap >= 0.9, "retried after %.3f s, retry-after said 1 s" % gap)
    raw = json.loads(read(wd, "001_analyse_n0003_raw.json"))
    check([a.get("status") for a in raw["attempts"]] == [429, 200], "attempts %r" % raw["attempts"])


@lib.test
def overloaded_and_server_errors_are_retried_with_backoff():
    wd = anthropic_wd()
    SRV.script([anth_err(529, "overloaded_error", "Overloaded"),
                anth_err(500, "api_error", "Internal"), anth(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    reqs = SRV.requests()
    check(len(reqs) == 3, "%d requests" % len(reqs))
    # Backoff base 20 ms, doubling, at most 25 % less: 15 ms then 30 ms at least.
    check(reqs[1]["t"] - reqs[0]["t"] >= 0.014 and reqs[2]["t"] - reqs[1]["t"] >= 0.029,
          "delays %.3f %.3f" % (reqs[1]["t"] - reqs[0]["t"], reqs[2]["t"] - reqs[1]["t"]))


@lib.test
def errors_that_persist_fail_as_unavailable():
    wd = anthropic_wd()
    SRV.script([anth_err(529, "overloaded_error", "Overloaded")] * 3)
    c = failed(probe(wd, "analyse"), "llm_unavailable")
    check("529" in c["error"] and "overloaded_error" in c["error"], c["error"])
    check(len(SRV.requests()) == 3, "want 1 try + 2 retries")


@lib.test
def x_should_retry_false_is_obeyed():
    wd = anthropic_wd()
    SRV.script([anth_err(500, "api_error", "no", {"x-should-retry": "false"})])
    failed(probe(wd, "analyse"), "llm_unavailable")
    check(len(SRV.requests()) == 1, "retried despite x-should-retry: false")


@lib.test
def dropped_connection_is_retried():
    wd = anthropic_wd()
    SRV.script([{"drop": True}, anth(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    check(len(SRV.requests()) == 2, "%d requests" % len(SRV.requests()))
    raw = json.loads(read(wd, "001_analyse_n0003_raw.json"))
    check("error" in raw["attempts"][0], "attempts %r" % raw["attempts"])


@lib.test
def slow_reply_times_out_and_is_retried():
    wd = anthropic_wd()
    SRV.script([{"hang": 5, **anth(json.dumps(GOOD_ANALYSIS))}, anth(json.dumps(GOOD_ANALYSIS))])
    out = probe(wd, "analyse", "--timeout-ms", "300")
    ok(out)
    check(len(SRV.requests()) == 2, "%d requests" % len(SRV.requests()))
    check(out["elapsed"] < 4, "took %.1f s" % out["elapsed"])


@lib.test
def timeouts_that_persist_fail_as_unavailable():
    wd = anthropic_wd()
    SRV.script([{"hang": 5}] * 2)
    c = failed(probe(wd, "analyse", "--timeout-ms", "200", "--retries", "1"), "llm_unavailable")
    check("within 0.2 s" in c["error"], c["error"])


@lib.test
def llm_timeout_s_is_each_requests_deadline():
    wd = workdir({"provider": "anthropic", "base_url": SRV.url, "model": "claude-sonnet-5-5",
                  "timeout_s": 1})
    SRV.script([{"hang": 5}] * 2)
    c = failed(probe(wd, "analyse", "--retries", "1"), "llm_unavailable")
    check("within 1.0 s" in c["error"], c["error"])
    check(len(SRV.requests()) == 2, "cut and tried again: %d requests" % len(SRV.requests()))


@lib.test
def unauthorised_is_not_retried():
    wd = anthropic_wd()
    SRV.script([anth_err(401, "authentication_error", "invalid x-api-key")])
    c = failed(probe(wd, "analyse"), "llm_auth")
    check("401" in c["error"] and "ANTHROPIC_API_KEY" in c["error"], c["error"])
    check(len(SRV.requests()) == 1, "a 401 was retried")


@lib.test
def bad_request_is_not_retried():
    wd = anthropic_wd()
    SRV.script([anth_err(400, "invalid_request_error", "max_tokens: too large")])
    c = failed(probe(wd, "plan"), "llm_request")
    check("max_tokens: too large" in c["error"], c["error"])
    check(len(SRV.requests()) == 1, "a 400 was retried")


@lib.test
def spend_limit_pauses_planning_without_retry():
    wd = anthropic_wd()
    SRV.script([anth_err(429, "rate_limit_error", "spend limit reached", {"retry-after": "1"},
                         {"error_code": "enforced_spend_limit_reached"})])
    c = failed(probe(wd, "plan"), "llm_spend_limit")
    check("spend limit" in c["error"], c["error"])
    check(len(SRV.requests()) == 1, "a spend-limit 429 was retried")


@lib.test
def cut_off_answer_is_asked_again_with_more_room():
    wd = anthropic_wd()
    text = json.dumps(GOOD_ANALYSIS)
    SRV.script([anth(text[:40], stop="max_tokens"), anth(text)])
    ok(probe(wd, "analyse", "--max-tokens", "1000"))
    reqs = SRV.requests()
    check(len(reqs) == 2, "%d requests" % len(reqs))
    second = reqs[1]["body"]
    check(second["max_tokens"] == 2000, "max_tokens %r" % second["max_tokens"])
    check([m["role"] for m in second["messages"]] == ["user", "assistant", "user"],
          "roles %r" % [m["role"] for m in second["messages"]])
    check("cut off" in last_user_text(second), last_user_text(second))


@lib.test
def full_context_window_is_not_retried():
    wd = anthropic_wd()
    SRV.script([anth("{\"summary\": ", stop="model_context_window_exceeded")])
    c = failed(probe(wd, "analyse"), "llm_request")
    check("context window" in c["error"], c["error"])
    check(len(SRV.requests()) == 1, "retried")


@lib.test
def refusal_fails_without_retry():
    wd = anthropic_wd()
    SRV.script([anth("I can't help with that.", stop="refusal")])
    c = failed(probe(wd, "plan"), "llm_refused")
    check("can't help" in c["error"], c["error"])
    check(len(SRV.requests()) == 1, "a refusal was retried")


@lib.test
def json_in_prose_and_in_a_fence_is_found():
    wd = anthropic_wd()
    SRV.script([anth("Here is my analysis: %s Hope it helps." % json.dumps(GOOD_ANALYSIS)),
                anth("```json\n%s\n```" % json.dumps(GOOD_PLAN, indent=2))])
    check(ok(probe(wd, "analyse"))["result"] == GOOD_ANALYSIS, "prose")
    check(ok(probe(wd, "plan"))["result"] == GOOD_PLAN, "fence")
    check(len(SRV.requests()) == 2, "%d requests" % len(SRV.requests()))


@lib.test
def contract_breach_gets_one_retry_quoting_the_error():
    wd = anthropic_wd()
    bad = dict(GOOD_ANALYSIS, verdict="better")
    SRV.script([anth(json.dumps(bad)), anth(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    reqs = SRV.requests()
    check(len(reqs) == 2, "%d requests" % len(reqs))
    quoted = last_user_text(reqs[1]["body"])
    check("analysis: verdict" in quoted, "retry does not quote the error: %r" % quoted)
    check(reqs[1]["body"]["messages"][1]["content"][0]["text"] == json.dumps(bad),
          "the refused answer is not in the retry")
    names = logs(wd)
    check("001_analyse_n0003_raw.json" in names and "002_analyse_n0003_raw.json" in names,
          "logs %r" % names)
    raw1 = json.loads(read(wd, "001_analyse_n0003_raw.json"))
    check(raw1["valid"] is False and "verdict" in raw1["contract_error"], "raw1 %r" % raw1)


@lib.test
def contract_breach_twice_is_llm_invalid():
    wd = anthropic_wd()
    SRV.script([anth("{\"stop\": false}"), anth("no json at all")])
    c = failed(probe(wd, "plan"), "llm_invalid")
    check("no JSON object found" in c["error"], c["error"])
    check(len(SRV.requests()) == 2, "%d requests" % len(SRV.requests()))


@lib.test
def proposal_outside_the_tree_is_refused_then_fixed():
    wd = anthropic_wd()
    evil = json.loads(json.dumps(GOOD_PLAN))
    evil["proposals"][0]["change"] = {"kind": "files",
                                      "files": [{"path": "../../etc/cron.d/x", "content": "x"}]}
    SRV.script([anth(json.dumps(evil)), anth(json.dumps(GOOD_PLAN))])
    c = ok(probe(wd, "plan"))
    check(c["result"] == GOOD_PLAN, "plan %r" % c["result"])
    quoted = last_user_text(SRV.requests()[1]["body"])
    check("proposals[0].change" in quoted and "outside the source tree" in quoted, quoted)


@lib.test
def structured_output_refused_falls_back_to_plain_json():
    wd = anthropic_wd()
    SRV.script([anth_err(400, "invalid_request_error", "output_config: Extra inputs are not "
                         "permitted"), anth(json.dumps(GOOD_PLAN))])
    ok(probe(wd, "plan"))
    reqs = SRV.requests()
    check(len(reqs) == 2, "%d requests" % len(reqs))
    check("output_config" in reqs[0]["body"] and "output_config" not in reqs[1]["body"],
          "the second request still asks for structured output")


@lib.test
def unknown_model_cost_is_unknown_not_zero():
    wd = anthropic_wd(model="claude-future-9")
    SRV.script([anth(json.dumps(GOOD_ANALYSIS))])
    out = probe(wd, "analyse")
    ok(out)
    check(out["spent_known"] is False, "spend claims to be known: %r" % out)
    raw = json.loads(read(wd, "001_analyse_n0003_raw.json"))
    check(raw["cost_usd"] == "unknown", "cost_usd %r" % raw["cost_usd"])


@lib.test
def dated_model_names_find_their_price():
    wd = anthropic_wd(model="claude-haiku-5-5-20261001")
    usage = {"input_tokens": 1000000, "output_tokens": 0, "cache_creation_input_tokens": 0,
             "cache_read_input_tokens": 0}
    SRV.script([anth(json.dumps(GOOD_ANALYSIS), usage=usage)])
    out = probe(wd, "analyse")
    check(out["spent_known"] and abs(out["spent_usd"] - 0.10) < 1e-9, "spent %r" % out)


@lib.test
def budget_spent_stops_calls_before_they_are_made():
    wd = anthropic_wd(budget={"llm_usd": 1})
    SRV.script([anth(json.dumps(GOOD_PLAN))])
    c = failed(probe(wd, "plan", "--prior", "2"), "llm_budget")
    check("budget.llm_usd" in c["error"], c["error"])
    check(not SRV.requests(), "a request was made past the budget")


@lib.test
def budget_refuses_a_request_whose_worst_case_would_pass_the_cap():
    # claude-sonnet-5-5: output $10 per million tokens, so max_tokens 8192 alone may cost $0.082.
    wd = anthropic_wd(budget={"llm_usd": 0.05})
    SRV.script([anth(json.dumps(GOOD_PLAN))])
    c = failed(probe(wd, "plan"), "llm_budget")
    check("would be passed" in c["error"] and "max_tokens 8192" in c["error"], c["error"])
    check(not SRV.requests(), "a request was sent that could pass the cap")
    # With room for the worst case the same call goes out...
    ok(probe(wd, "plan", "--max-tokens", "1000"))
    check(len(SRV.requests()) == 1, "%d requests" % len(SRV.requests()))
    # ...but not when what is spent already leaves too little.
    SRV.script([anth(json.dumps(GOOD_PLAN))])
    c = failed(probe(wd, "plan", "--max-tokens", "1000", "--prior", "0.04"), "llm_budget")
    check("$0.0400 spent" in c["error"], c["error"])
    check(not SRV.requests(), "a request was sent past the cap")


@lib.test
def budget_holds_the_worst_case_of_calls_in_flight():
    wd = anthropic_wd()
    SRV.script([anth(json.dumps(GOOD_PLAN))])
    ok(probe(wd, "plan", "--max-tokens", "8000"))
    body = json.dumps(SRV.requests()[0]["body"])
    # One call's worst case lies between its output alone (8000 tokens at $10
    # per million) and that plus every byte of the body sent at $2.50 per
    # million: a cap over two upper bounds and under three lower ones.
    low, high = 8000 * 10 / 1e6, 8000 * 10 / 1e6 + (len(body) + 256) * 2.5 / 1e6
    cap = 2 * high + 0.001
    check(cap < 3 * low, "a plan prompt of %d bytes" % len(body))
    wd = anthropic_wd(budget={"llm_usd": cap})
    SRV.script([dict(anth(json.dumps(GOOD_PLAN)), hang=1)] * 4)
    out = probe(wd, "plan", "--max-tokens", "8000", "--threads", "4")
    kinds = sorted(str(call(out, i)["kind"]) for i in range(4))
    check(kinds == ["None", "None", "llm_budget", "llm_budget"], "kinds %r" % kinds)
    check(len(SRV.requests()) == 2, "%d requests in flight at once" % len(SRV.requests()))


@lib.test
def budget_with_an_unknown_price_counts_what_is_spent_only():
    wd = anthropic_wd(model="claude-future-9", budget={"llm_usd": 0.0001})
    SRV.script([anth(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    check(len(SRV.requests()) == 1, "an unpriced model's request was refused")


@lib.test
def missing_key_is_an_auth_failure():
    wd = anthropic_wd()
    c = failed(probe(wd, "analyse", key=None), "llm_auth")
    check("ANTHROPIC_API_KEY" in c["error"], c["error"])


@lib.test
def api_key_env_names_the_variable():
    wd = workdir({"provider": "anthropic", "base_url": SRV.url, "api_key_env": "MY_KEY"})
    SRV.script([anth(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse", key=None, env={"MY_KEY": KEY + "-2"}))
    check(SRV.requests()[0]["headers"]["x-api-key"] == KEY + "-2", "wrong key sent")


@lib.test
def cancel_ends_a_call_in_flight():
    wd = anthropic_wd()
    SRV.script([{"hang": 20}])
    out = probe(wd, "analyse", "--timeout-ms", "30000", "--cancel-after-ms", "300")
    failed(out, "llm_cancelled")
    check(out["elapsed"] < 10, "cancel took %.1f s" % out["elapsed"])


@lib.test
def calls_on_several_threads_share_nothing():
    wd = anthropic_wd()
    SRV.script([anth(json.dumps(GOOD_PLAN))] * 4)
    out = probe(wd, "plan", "--threads", "4")
    for i in range(4):
        check(call(out, i)["rc"] == 0 and call(out, i)["result"] == GOOD_PLAN, "call %d" % i)
    names = logs(wd)
    check(len(names) == 12 and len({n[:3] for n in names}) == 4, "logs %r" % names)
    check(abs(out["spent_usd"] - 4 * (100 * 2 + 50 * 10) / 1e6) < 1e-9, "spent %r" % out)


@lib.test
def log_numbers_go_on_after_a_restart():
    wd = anthropic_wd()
    SRV.script([anth(json.dumps(GOOD_ANALYSIS)), anth(json.dumps(GOOD_PLAN))])
    ok(probe(wd, "analyse"))
    ok(probe(wd, "plan"))
    names = logs(wd)
    check("001_analyse_n0003_raw.json" in names and "002_plan_n0003_raw.json" in names,
          "logs %r" % names)


@lib.test
def prompt_overrides_replace_the_instructions():
    wd = anthropic_wd()
    os.makedirs(os.path.join(wd, "prompts"))
    with open(os.path.join(wd, "prompts", "plan.md"), "w") as f:
        f.write("Only ever change the learning rate.\n")
    SRV.script([anth(json.dumps(GOOD_PLAN))])
    ok(probe(wd, "plan"))
    body = SRV.requests()[0]["body"]
    user = "".join(b["text"] for b in body["messages"][0]["content"])
    check("Keep dropout under 0.3." in user and "converges to a lower loss" in user,
          "directive or hypotheses missing: %r" % user)
    system = body["system"][0]["text"]
    check(system.startswith("Only ever change the learning rate.") and "\"proposals\"" in system,
          "system %r" % system[:200])


@lib.test
def api_key_is_written_nowhere():
    wd = anthropic_wd()
    tail = os.path.join(os.path.dirname(wd), "tail.log")
    with open(tail, "w") as f:
        f.write("env: ANTHROPIC_API_KEY=%s\nstep 3 val_loss=0.8\n" % KEY)
    SRV.script([{"status": 401, "echo_key": True},
                anth("The key is %s. %s" % (KEY, json.dumps(GOOD_ANALYSIS))),
                anth_err(400, "invalid_request_error", "bad key %s" % KEY),
                {"drop": True}, anth("{\"summary\": \"%s\"}" % KEY),
                anth(json.dumps(GOOD_ANALYSIS))])
    outs = [probe(wd, "analyse", "--log-tail", tail) for _ in range(4)]
    failed(outs[0], "llm_auth")
    ok(outs[1])
    failed(outs[2], "llm_request")
    ok(outs[3])
    check(len(logs(wd)) >= 12, "logs %r" % logs(wd))
    for o in outs:
        check(KEY not in o["stdout"] and KEY not in o["stderr"], "the key is in the output")
    for base, dirs, files in os.walk(wd):
        for n in files:
            with open(os.path.join(base, n), "rb") as f:
                check(KEY.encode() not in f.read(), "the key is in %s" % n)
    check("[redacted]" in read(wd, "001_analyse_n0003_raw.json"), "nothing was redacted")


# ---- openai-compatible ------------------------------------------------------------

def openai_wd(**llm):
    cfg = {"provider": "openai", "base_url": SRV.url + "/v1", "model": "qwen-7b"}
    cfg.update(llm)
    return workdir(cfg)


@lib.test
def openai_answer_with_schema_and_usage():
    wd = openai_wd(api_key_env="LOCAL_KEY")
    usage = {"prompt_tokens": 300, "completion_tokens": 40, "total_tokens": 340,
             "prompt_tokens_details": {"cached_tokens": 200}}
    SRV.script([oai(json.dumps(GOOD_PLAN), usage=usage)])
    out = probe(wd, "plan", env={"LOCAL_KEY": "local-secret"})
    check(ok(out)["result"] == GOOD_PLAN, "plan")
    req = SRV.requests()[0]
    check(req["path"] == "/v1/chat/completions", "path %s" % req["path"])
    check(req["headers"].get("authorization") == "Bearer local-secret", "no bearer key")
    rf = req["body"]["response_format"]
    check(rf["type"] == "json_schema" and rf["json_schema"]["name"] == "plan", "rf %r" % rf)
    check([m["role"] for m in req["body"]["messages"]] == ["system", "user"], "roles")
    raw = json.loads(read(wd, "001_plan_n0003_raw.json"))
    check(raw["usage"]["cache_read_input_tokens"] == 200 and raw["usage"]["input_tokens"] == 100,
          "usage %r" % raw["usage"])
    check(raw["cost_usd"] == "unknown" and out["spent_known"] is False, "cost %r" % raw["cost_usd"])


@lib.test
def configured_prices_come_before_the_table():
    wd = openai_wd(prices={"qwen-7b": {"input": 0.5, "output": 2, "cache_read": 0.05}})
    usage = {"prompt_tokens": 300000, "completion_tokens": 100000, "total_tokens": 400000,
             "prompt_tokens_details": {"cached_tokens": 200000}}
    SRV.script([oai(json.dumps(GOOD_ANALYSIS), usage=usage)])
    out = probe(wd, "analyse")
    ok(out)
    want = (100000 * 0.5 + 200000 * 0.05 + 100000 * 2) / 1e6
    check(out["spent_known"] and abs(out["spent_usd"] - want) < 1e-9, "spent %r" % out)
    raw = json.loads(read(wd, "001_analyse_n0003_raw.json"))
    check(abs(raw["cost_usd"] - want) < 1e-9, "cost_usd %r" % raw["cost_usd"])


@lib.test
def openai_without_key_sends_no_authorization():
    wd = openai_wd()
    SRV.script([oai(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    check("authorization" not in SRV.requests()[0]["headers"], "sent an Authorization header")


@lib.test
def openai_error_shapes_are_both_read():
    wd = openai_wd()
    SRV.script([{"status": 401, "body": {"error": {"message": "Incorrect API key provided",
                                                   "type": "invalid_request_error",
                                                   "code": "invalid_api_key"}}},
                {"status": 400, "body": {"object": "error", "message": "This model's maximum "
                                         "context length is 4096 tokens", "type":
                                         "BadRequestError", "param": None, "code": 400}}])
    c = failed(probe(wd, "analyse"), "llm_auth")
    check("Incorrect API key provided" in c["error"], c["error"])
    c = failed(probe(wd, "analyse"), "llm_request")
    check("maximum context length" in c["error"], c["error"])


@lib.test
def openai_loading_server_is_waited_for():
    wd = openai_wd()
    SRV.script([{"status": 503, "body": {"error": {"code": 503, "message": "Loading model",
                                                   "type": "unavailable_error"}}},
                oai(json.dumps(GOOD_ANALYSIS))])
    ok(probe(wd, "analyse"))
    check(len(SRV.requests()) == 2, "%d requests" % len(SRV.requests()))


@lib.test
def openai_length_and_refusal_and_quota():
    wd = openai_wd()
    text = json.dumps(GOOD_ANALYSIS)
    SRV.script([oai(text[:30], finish="length"), oai(text)])
    ok(probe(wd, "analyse"))
    check("cut off" in last_user_text(SRV.requests()[1]["body"]), "no cut-off retry")
    SRV.script([oai(None, refusal="I won't.")])
    failed(probe(wd, "analyse"), "llm_refused")
    SRV.script([{"status": 429, "body": {"error": {"message": "You exceeded your current quota",
                                                   "type": "insufficient_quota",
                                                   "code": "insufficient_quota"}}}])
    failed(probe(wd, "plan"), "llm_spend_limit")
    check(len(SRV.requests()) == 1, "a quota 429 was retried")


# ---- command ---------------------------------------------------------------------

def command_wd(script_text, **extra):
    d = lib.tmpdir()
    script = os.path.join(d, "agent.sh")
    with open(script, "w") as f:
        f.write("#!/bin/sh\n" + script_text)
    os.chmod(script, 0o755)
    wd = workdir({"provider": "command", "command": "%s" % script}, **extra)
    return wd, d


@lib.test
def command_gets_the_prompt_on_stdin():
    wd, d = command_wd('cat > "$(dirname "$0")/stdin.txt"\n'
                       'echo "$HYPOTOP_LLM_KIND" > "$(dirname "$0")/kind.txt"\n'
                       'echo "$HYPOTOP_LLM_SCHEMA" > "$(dirname "$0")/schema.txt"\n'
                       "echo 'Sure! ```json'\necho '%s'\necho '```'\n"
                       % json.dumps(GOOD_ANALYSIS))
    out = probe(wd, "analyse")
    check(ok(out)["result"] == GOOD_ANALYSIS, "result")
    with open(os.path.join(d, "stdin.txt")) as f:
        stdin = f.read()
    check("step 3 val_loss=0.8" in stdin and "\"verdict\"" in stdin, "stdin %r" % stdin[:300])
    with open(os.path.join(d, "kind.txt")) as f:
        check(f.read().strip() == "analyse", "HYPOTOP_LLM_KIND")
    with open(os.path.join(d, "schema.txt")) as f:
        check(json.loads(f.read())["additionalProperties"] is False, "HYPOTOP_LLM_SCHEMA")
    check(out["spent_known"] is False, "a bare command's cost cannot be known")
    check(len(logs(wd)) == 3, "logs %r" % logs(wd))


@lib.test
def command_claude_result_object_is_read():
    result = {"type": "result", "subtype": "success", "is_error": False,
              "result": "done", "structured_output": GOOD_PLAN, "total_cost_usd": 0.0123,
              "usage": {"input_tokens": 10, "output_tokens": 20,
                        "cache_creation_input_tokens": 30, "cache_read_input_tokens": 40}}
    wd, d = command_wd("cat > /dev/null\ncat <<'EOF'\n%s\nEOF\n" % json.dumps(result))
    out = probe(wd, "plan")
    check(ok(out)["result"] == GOOD_PLAN, "result")
    check(out["spent_known"] and abs(out["spent_usd"] - 0.0123) < 1e-12, "spent %r" % out)
    raw = json.loads(read(wd, "001_plan_n0003_raw.json"))
    check(raw["usage"]["cache_read_input_tokens"] == 40, "usage %r" % raw["usage"])


@lib.test
def command_nonzero_exit_fails_even_with_json():
    wd, d = command_wd("cat > /dev/null\necho '%s'\necho 'quota exhausted' >&2\nexit 3\n"
                       % json.dumps(GOOD_ANALYSIS))
    c = failed(probe(wd, "analyse"), "llm_unavailable")
    check("status 3" in c["error"] and "quota exhausted" in c["error"], c["error"])


@lib.test
def command_error_result_and_timeout_fail():
    result = {"type": "result", "subtype": "error_max_turns", "is_error": True, "result": ""}
    wd, d = command_wd("cat > /dev/null\necho '%s'\n" % json.dumps(result))
    c = failed(probe(wd, "analyse"), "llm_unavailable")
    check("error_max_turns" in c["error"], c["error"])
    wd, d = command_wd("exec sleep 30\n")
    out = probe(wd, "analyse", "--command-timeout-ms", "300")
    c = failed(out, "llm_unavailable")
    check("killed" in c["error"] and out["elapsed"] < 10, c["error"])


@lib.test
def command_that_ignores_stdin_is_fine():
    wd, d = command_wd("echo '%s'\n" % json.dumps(GOOD_ANALYSIS))
    ok(probe(wd, "analyse"))


SRV.stop()
lib.finish()
