"""A fake Vast.ai REST API on 127.0.0.1 (REFERENCE.md "Vast.ai REST API")
for the vast tests: instances and offers in memory, the key checked.

    python3 fake_vast.py KEY     prints the port it listens on, then serves

The API, as the official client uses it (Authorization: Bearer KEY, else 401):
    GET    /api/v1/instances/?limit=N&after_token=T   {instances, next_token, total_instances}
                                                     (pages of at most 2, to make paging real)
    GET    /api/v0/instances/                         410, as the real one since 2026-09
    POST   /api/v0/bundles/                           {"offers": [...]} filtered by q, ordered
    PUT    /api/v0/asks/OFFER/                        {"success": true, "new_contract": ID}
    DELETE /api/v0/instances/ID/                      {"success": true}
    PUT    /api/v0/instances/ID/ {"state": S}         {"success": true}

Control endpoints (no key):
    POST /_offers     a list of offers; "ssh_host"/"ssh_port" of an offer are
                      those of the instance rented from it, "loading": N makes
                      it report "loading" for its first N listings
    POST /_instances  a list of instances to add as they are (untracked ones)
    POST /_move       {"id", "ssh_host", "ssh_port"}: the instance moved
    POST /_lose       {"id"}: the instance vanished
    POST /_faults     a list of answers given, in turn, to the next API
                      requests instead of theirs: {"status", "headers", "body"}
                      or {"raw": TEXT} (status 200)
    GET  /_log        every API request: method, path, body, auth (true when
                      the key was right)
    GET  /_state      the instances by id
"""

import json
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEY = sys.argv[1] if len(sys.argv) > 1 else "test-key"
LOCK = threading.Lock()
INSTANCES = {}
OFFERS = []
FAULTS = []
LOG = []
NEXT = [1000]
PAGE = 2

OPS = {
    "eq": lambda a, b: a == b,
    "neq": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and a > b,
    "lt": lambda a, b: a is not None and a < b,
    "gte": lambda a, b: a is not None and a >= b,
    "lte": lambda a, b: a is not None and a <= b,
    "in": lambda a, b: a in b,
    "notin": lambda a, b: a not in b,
}


def public(inst):
    """An instance as the API shows it (without the fake's own keys)."""
    out = {k: v for k, v in inst.items() if not k.startswith("_")}
    if inst.get("_loading", 0) > 0:
        out["actual_status"] = "loading"
        out["ssh_host"] = None
        out["ssh_port"] = None
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body=None, headers=None, raw=None):
        data = raw.encode() if raw is not None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(n).decode() if n else ""
        try:
            return text, json.loads(text) if text else None
        except ValueError:
            return text, None

    def handle_any(self, method):
        url = urllib.parse.urlparse(self.path)
        text, body = self.body()
        if url.path.startswith("/_"):
            return self.control(method, url.path, body)
        auth = self.headers.get("Authorization") == "Bearer " + KEY
        with LOCK:
            LOG.append({"method": method, "path": self.path, "body": text, "auth": auth})
            fault = FAULTS.pop(0) if FAULTS else None
        if not auth:
            return self.answer(401, {"success": False, "error": "invalid_user_key",
                                     "msg": "Invalid user key"})
        if fault:
            if "raw" in fault:
                return self.answer(fault.get("status", 200), raw=fault["raw"])
            return self.answer(fault.get("status", 200), fault.get("body", {}),
                               fault.get("headers"))
        return self.api(method, url, body)

    def api(self, method, url, body):
        parts = [p for p in url.path.split("/") if p]
        q = urllib.parse.parse_qs(url.query)
        with LOCK:
            if method == "GET" and parts == ["api", "v1", "instances"]:
                limit = min(int(q.get("limit", ["25"])[0]), PAGE)
                start = int(q.get("after_token", ["0"])[0])
                ids = sorted(INSTANCES)
                page = [public(INSTANCES[i]) for i in ids[start:start + limit]]
                for i in ids[start:start + limit]:
                    if INSTANCES[i].get("_loading", 0) > 0:
                        INSTANCES[i]["_loading"] -= 1
                more = start + limit < len(ids)
                return self.answer(200, {"instances": page,
                                         "next_token": str(start + limit) if more else None,
                                         "total_instances": len(ids)})
            if parts == ["api", "v0", "instances"]:
                return self.answer(410, {"success": False, "msg": "use /api/v1/instances/"})
            if method == "POST" and parts == ["api", "v0", "bundles"]:
                return self.answer(200, {"offers": self.search(body or {})})
            if method == "PUT" and parts[:3] == ["api", "v0", "asks"] and len(parts) == 4:
                return self.rent(int(parts[3]), body or {})
            if parts[:3] == ["api", "v0", "instances"] and len(parts) == 4:
                iid = int(parts[3])
                if iid not in INSTANCES:
                    return self.answer(404, {"success": False, "error": "no_such_instance",
                                             "msg": "Instance %d not found" % iid})
                if method == "DELETE":
                    del INSTANCES[iid]
                    return self.answer(200, {"success": True})
                if method == "PUT":
                    state = (body or {}).get("state")
                    if state not in ("running", "stopped"):
                        return self.answer(400, {"success": False, "msg": "bad state"})
                    INSTANCES[iid]["actual_status"] = state
                    INSTANCES[iid]["intended_status"] = state
                    return self.answer(200, {"success": True})
        return self.answer(404, {"success": False, "msg": "no such endpoint"})

    def search(self, body):
        out = []
        for o in OFFERS:
            ok = True
            for field, cond in (body.get("q") or {}).items():
                for op, val in cond.items():
                    ok = ok and OPS[op](o.get(field), val)
            if ok:
                out.append({k: v for k, v in o.items()
                            if k not in ("ssh_host", "ssh_port", "loading", "rented")})
        for field, way in reversed(body.get("order") or []):
            out.sort(key=lambda o: o.get(field) or 0, reverse=way == "desc")
        return out[:int(body.get("limit", 64))]

    def rent(self, oid, body):
        offer = next((o for o in OFFERS if o["id"] == oid), None)
        if offer is None or offer.get("rented"):
            return self.answer(404, {"success": False, "error": "no_such_ask",
                                     "msg": "offer %d is not available" % oid})
        if body.get("client_id") != "me" or not isinstance(body.get("image"), str) \
                or not isinstance(body.get("disk"), (int, float)) \
                or body.get("runtype") != "ssh":
            return self.answer(400, {"success": False, "msg": "bad request: %s" % body})
        offer["rented"] = True
        iid = NEXT[0]
        NEXT[0] += 1
        INSTANCES[iid] = {
            "id": iid, "machine_id": oid * 10, "actual_status": "running",
            "intended_status": "running", "gpu_name": offer.get("gpu_name"),
            "num_gpus": offer.get("num_gpus", 1), "dph_total": offer.get("dph_total"),
            "ssh_host": offer.get("ssh_host", "127.0.0.1"), "ssh_port": offer.get("ssh_port"),
            "label": body.get("label"), "image": body["image"], "disk": body["disk"],
            "start_date": 1.7e9, "_loading": offer.get("loading", 0),
        }
        return self.answer(200, {"success": True, "new_contract": iid})

    def control(self, method, path, body):
        with LOCK:
            if path == "/_log":
                return self.answer(200, LOG)
            if path == "/_state":
                return self.answer(200, {str(k): v for k, v in INSTANCES.items()})
            if path == "/_offers":
                OFFERS[:] = [dict({"rented": False, "rentable": True}, **o) for o in body]
            elif path == "/_instances":
                for inst in body:
                    INSTANCES[inst["id"]] = dict(inst)
            elif path == "/_move":
                INSTANCES[body["id"]]["ssh_host"] = body.get("ssh_host", "127.0.0.1")
                INSTANCES[body["id"]]["ssh_port"] = body["ssh_port"]
            elif path == "/_lose":
                INSTANCES.pop(body["id"], None)
            elif path == "/_faults":
                FAULTS[:] = body
            else:
                return self.answer(404, {"msg": "no such control"})
        return self.answer(200, {"ok": True})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
