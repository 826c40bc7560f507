"""A fake model server on 127.0.0.1 for the provider tests: it speaks the
wire formats of the Anthropic Messages API (POST /v1/messages) and of
OpenAI-compatible chat completions (POST /v1/chat/completions), and answers
each request with the next step of a script the test posts first.

    python3 fake_llm.py          prints the port it listens on, then serves

Control endpoints:
    POST /_script   a JSON list of steps; replaces what is left of the script
                    and starts the count of "auto" plans again
    GET  /_log      every model request so far: path, headers, body, kind, time

A step: {"status": 200, "headers": {...}, "body": JSON} or {"raw": TEXT};
{"drop": true} closes the connection without answering; {"hang": S}
answers only after S seconds (for client timeouts); {"echo_key": true}
puts the key the client sent into the body's error message.
{"auto": N} answers whatever is asked with a valid analysis, a plan of
two learning-rate proposals (a plan that stops after N plans), or a short
report; with "sticky": true the step stays at the head of the script.
{"when": KIND} makes a step wait for a request of that kind (analyse, plan,
repair, instrument, report): a request takes the first step of the script
it fits.
{"route": {KIND: [ANSWER, ...]}} answers by the kind of call: the next
answer of that kind's list, a JSON object put in the wire format (a
string is the answer's text as it is); {"_status": S} answers with that
HTTP error, {"_hang": S} waits S seconds first. An analysis with no list
left gets a valid one; another kind gets a 500. Requests seen per kind:
GET /_kinds.
{"wait_file": PATH} answers only once PATH exists (at most 120 s), so a
test can hold a call in flight for as long as it needs.
"""

import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
SCRIPT = []
LOG = []
STOP = threading.Event()
PLANS = [0]
KINDS = {}


def request_system(body):
    if isinstance(body, dict) and "system" in body:
        return "".join(b.get("text", "") for b in body["system"])
    msgs = body.get("messages", []) if isinstance(body, dict) else []
    return msgs[0].get("content", "") if msgs else ""


def call_kind(body):
    """Which call a request is, from the contract its instructions carry."""
    system = request_system(body)
    if "hypothesis_supported" in system:
        return "analyse"
    if "needs_rebuild" in system:
        return "plan"
    if '"fix"' in system:
        return "repair"
    if "step_time" in system:
        return "instrument"
    return "report"


def wire(body, answer):
    """An answer in the format the request came in: a contract's JSON, a
    text as it is, or a report's Markdown for None."""
    text = (answer if isinstance(answer, str) else json.dumps(answer) if answer is not None
            else "# Report\n\nAll went well.\n")
    if isinstance(body, dict) and "system" in body:
        return {"id": "msg_fake", "type": "message", "role": "assistant",
                "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 1000, "output_tokens": 100,
                          "cache_creation_input_tokens": 0, "cache_read_input_tokens": 500}}
    return {"id": "fake", "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1000, "completion_tokens": 100}}


def route_answer(body, routes):
    """(status, payload, hang seconds) for a request under a route step."""
    kind = call_kind(body)
    with LOCK:
        KINDS[kind] = KINDS.get(kind, 0) + 1
        queue = routes.get(kind) or []
        answer = queue.pop(0) if queue else None
    if answer is None and kind == "analyse":
        answer = {"summary": "judged", "verdict": "no_change", "bottleneck": "",
                  "evidence": [], "hypothesis_supported": None}
    if answer is None:
        return 500, {"type": "error", "error": {"type": "api_error",
                                                "message": "no %s answer scripted" % kind}}, 0
    if isinstance(answer, str):
        return 200, wire(body, answer), 0
    if "_status" in answer:
        return answer["_status"], {"type": "error", "error": {
            "type": "invalid_request_error", "message": "scripted failure"}}, 0
    hang = answer.get("_hang", 0)
    answer = {k: v for k, v in answer.items() if k != "_hang"}
    return 200, wire(body, answer), hang


def auto_answer(body, limit):
    """A valid answer to an Anthropic or OpenAI request, as its kind wants."""
    kind = call_kind(body)
    if kind == "analyse":
        answer = {"summary": "judged", "verdict": "no_change", "bottleneck": "",
                  "evidence": ["a number"], "hypothesis_supported": None}
    elif kind == "report":
        answer = None
    else:
        with LOCK:
            PLANS[0] += 1
            k = PLANS[0]
        if k > limit:
            answer = {"stop": True, "reason": "enough", "proposals": []}
        else:
            answer = {"stop": False, "reason": "round %d" % k, "proposals": [
                {"name": "lr-%d-%d" % (k, i), "hypothesis": "lr step %d" % i, "priority": i,
                 "needs_rebuild": False,
                 "change": {"kind": "params", "params": {"lr": 0.001 * (k * 2 + i)}}}
                for i in (1, 2)]}
    return wire(body, answer)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status, body, headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        self.close_connection = True

    def do_GET(self):
        if self.path == "/_log":
            with LOCK:
                self._send(200, LOG)
        elif self.path == "/_kinds":
            with LOCK:
                self._send(200, KINDS)
        else:
            self._send(404, {"error": "no such path"})

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        if self.path == "/_script":
            with LOCK:
                SCRIPT[:] = json.loads(raw)
                KINDS.clear()
                PLANS[0] = 0
            self._send(200, {"ok": True})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", "replace")
        kind = call_kind(body)
        with LOCK:
            LOG.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": body, "kind": kind, "t": time.monotonic()})
            at = next((i for i, s in enumerate(SCRIPT) if s.get("when", kind) == kind), None)
            step = SCRIPT[at] if at is not None else None
            if step is not None and not step.get("sticky"):
                SCRIPT.pop(at)
        if step is None:
            self._send(500, {"type": "error", "error": {"type": "api_error",
                                                        "message": "the test script is used up"}})
            return
        if step.get("drop"):
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if step.get("hang"):
            STOP.wait(step["hang"])
        if step.get("wait_file"):
            deadline = time.monotonic() + 120
            while not os.path.exists(step["wait_file"]) and time.monotonic() < deadline:
                if STOP.wait(0.02):
                    break
        payload = step.get("body", {})
        status = step.get("status", 200)
        if "route" in step:
            status, payload, hang = route_answer(body, step["route"])
            if hang:
                STOP.wait(hang)
        if "auto" in step:
            payload = auto_answer(body, step["auto"])
        if step.get("echo_key"):
            key = self.headers.get("x-api-key") or self.headers.get("authorization") or ""
            payload = {"type": "error", "error": {"type": "authentication_error",
                                                  "message": "invalid x-api-key: %s" % key}}
        if "raw" in step:
            payload = step["raw"].encode()
        try:
            self._send(status, payload, step.get("headers"))
        except (BrokenPipeError, ConnectionResetError):
            pass


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    finally:
        STOP.set()


if __name__ == "__main__":
    sys.exit(main())
