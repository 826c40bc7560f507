"""End to end: `hypotop worker add|remove|enable|disable` edit workers.json
(the other workers as they were, bad input refused with the file unchanged,
a running engine told), and `hypotop workers [--json]` reads it beside
engine/workers.json."""

import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402


def workers_file(wd):
    with open(os.path.join(wd, "workers.json")) as f:
        return json.load(f)


def raw(wd):
    with open(os.path.join(wd, "workers.json"), "rb") as f:
        return f.read()


def write_workers(wd, text):
    with open(os.path.join(wd, "workers.json"), "w") as f:
        f.write(text)


def by_name(doc):
    return {w["name"]: w for w in doc["workers"]}


def worker(*args, **kw):
    return lib.hypotop("worker", *args, **kw)


# A person's own file: keys in their order, an explicit default, a slurm worker.
HAND = """{"version": 1, "workers": [
  {"kind": "local", "name": "local", "slots": 2, "gpus": [0]},
  {"name": "old-box", "kind": "ssh", "host": "10.0.0.9", "port": 22, "user": "me",
   "workspace": "/scratch/me", "enabled": true, "setup": "pip install -r r.txt"},
  {"name": "cluster", "kind": "slurm", "workspace": "/shared/me", "partition": "gpu"}
]}
"""


def hand_workdir():
    """A workdir with HAND as its workers.json, and a readable key file beside it."""
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    write_workers(wd, HAND)
    key = os.path.join(d, "id_test")
    with open(key, "w") as f:
        f.write("not a real key, but a readable file\n")
    os.chmod(key, 0o600)
    return d, wd, key


def refused_all(wd, cases):
    """Each (args, words): exit 2, every word said, workers.json untouched."""
    before = raw(wd)
    for args, words in cases:
        rc, out, err = worker(*args)
        check(rc == 2, "worker %s: exit %d, not 2: %r" % (" ".join(args), rc, err))
        for w in words:
            check(w in err, "worker %s: %r does not say %r" % (" ".join(args), err, w))
        check(raw(wd) == before, "worker %s changed workers.json" % " ".join(args))


@lib.test
def add_then_remove_keeps_the_others():
    d, wd, key = hand_workdir()
    before = workers_file(wd)
    rc, out, err = worker("add", wd, "gpu-box", "--host", "gpu.example", "--port", "2222",
                          "--user", "train", "--key", "id_test", "--workspace", "/data/hy",
                          "--slots", "2", "--gpus", "0,1", "--setup", "make deps",
                          "--known-hosts", "kh", "--accept-new-host-key", cwd=d)
    check(rc == 0, "worker add failed (%d): %s" % (rc, err))
    check("applies when it next starts" in out, "no engine: it should say when: %r" % out)
    after = workers_file(wd)
    names = [w["name"] for w in after["workers"]]
    check(names == ["local", "old-box", "cluster", "gpu-box"], "workers now %r" % names)
    for w in before["workers"]:
        check(by_name(after)[w["name"]] == w,
              "%s changed: %r -> %r" % (w["name"], w, by_name(after)[w["name"]]))
    new = by_name(after)["gpu-box"]
    want = {"name": "gpu-box", "kind": "ssh", "host": "gpu.example", "port": 2222,
            "user": "train", "key_file": os.path.realpath(key), "workspace": "/data/hy",
            "slots": 2, "gpus": [0, 1], "setup": "make deps",
            "known_hosts": os.path.join(os.path.realpath(d), "kh"),
            "accept_new_host_key": True}
    check(new == want, "the new worker is %r, not %r" % (new, want))
    # The layout: one key a line, so that a message names the line of a key.
    lines = raw(wd).decode().splitlines()
    check(any(line.strip() == '"port": 2222,' for line in lines),
          "not one key a line:\n%s" % raw(wd).decode())
    # The key order of the other workers is theirs.
    check(list(by_name(after)["local"]) == ["kind", "name", "slots", "gpus"],
          "the local worker's keys were reordered: %r" % list(by_name(after)["local"]))
    # The file still validates for the engine: status opens the workdir.
    lib.status_json(wd)
    rc, out, err = worker("remove", wd, "gpu-box")
    check(rc == 0, "worker remove failed (%d): %s" % (rc, err))
    check(workers_file(wd) == before, "remove did not give the file back: %r"
          % workers_file(wd))


@lib.test
def enable_disable():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    rc, out, err = worker("disable", wd, "local")
    check(rc == 0, "disable local failed (%d): %s" % (rc, err))
    check(by_name(workers_file(wd))["local"].get("enabled") is False,
          "local not disabled: %r" % workers_file(wd))
    rc, out, err = lib.hypotop("workers", wd, "--json")
    check(rc == 0 and json.loads(out)["workers"][0]["state"] == "disabled",
          "workers --json does not show local disabled: %s %s" % (out, err))
    # Again: nothing to do, said so, the file untouched.
    before = raw(wd)
    rc, out, err = worker("disable", wd, "local")
    check(rc == 0 and "already" in out and raw(wd) == before,
          "a second disable: %d %r %r" % (rc, out, err))
    rc, out, err = worker("enable", wd, "local")
    check(rc == 0, "enable failed (%d): %s" % (rc, err))
    check(by_name(workers_file(wd))["local"].get("enabled", True) is True,
          "local not enabled again: %r" % workers_file(wd))
    # A workers.json that is missing means the local worker alone.
    os.unlink(os.path.join(wd, "workers.json"))
    rc, out, err = worker("disable", wd, "local")
    check(rc == 0, "disable without a workers.json failed: %s" % err)
    check(workers_file(wd) == {"version": 1, "workers": [
        {"name": "local", "kind": "local", "enabled": False}]}, "%r" % workers_file(wd))


@lib.test
def bad_input_changes_nothing():
    d, wd, key = hand_workdir()
    cases = [
        (("add", wd, "old-box", "--host", "h"), ["old-box", "already", "another name"]),
        (("add", wd, "x", "--host", "h", "--port", "70000"), ["--port 70000", "1 to 65535"]),
        (("add", wd, "x", "--host", "h", "--port", "ssh"), ["--port ssh", "must be a number"]),
        (("add", wd, "x", "--host", "h", "--slots", "0"), ["--slots 0", "from 1"]),
        (("add", wd, "x", "--host", "h", "--gpus", "0,a"), ["--gpus 0,a", "GPU indices"]),
        (("add", wd, "x", "--host", "h", "--key", os.path.join(d, "none")),
         ["--key", "no readable file"]),
        (("add", wd, "b@d", "--host", "h"), ['NAME "b@d"', "letters, digits"]),
        (("add", wd, "x"), ["--host is needed"]),
        (("add", wd, "x", "--host", "h", "--bogus", "1"), ["unknown option --bogus"]),
        (("add", wd, "x", "--host", "h", "--port", "1", "--port", "2"), ["given twice"]),
        (("remove", wd, "local"), ["local", "cannot be removed", "worker disable"]),
        (("remove", wd, "nope"), ['no worker named "nope"', "local, old-box, cluster"]),
        (("disable", wd, "nope"), ['no worker named "nope"']),
        (("enable", wd, "nope", "--port", "1"), ["unknown option --port"]),
        (("frob", wd, "x"), ["not add, remove, enable or disable"]),
        (("add", os.path.join(d, "nowhere"), "x", "--host", "h"), ["no such workdir"]),
    ]
    refused_all(wd, cases)
    # A file that does not validate is named with its line, and left alone.
    broken = HAND.replace('"partition"', '"partitoin"')
    write_workers(wd, broken)
    rc, out, err = worker("add", wd, "x", "--host", "h")
    check(rc == 2 and "workers.json:5:" in err and '"partition"' in err and
          "fix the file first" in err, "a broken workers.json: %d %r" % (rc, err))
    check(raw(wd) == broken.encode(), "a broken workers.json was rewritten")


@lib.test
def add_then_remove_a_slurm_worker():
    d, wd, key = hand_workdir()
    before = workers_file(wd)
    rc, out, err = worker("add", wd, "gpu-cluster", "--kind", "slurm", "--workspace", "hy",
                          "--partition", "a100", "--account", "lab42", "--qos", "normal",
                          "--gres", "gpu:1", "--max-jobs", "8", "--sbatch-arg", "--mem=16G",
                          "--sbatch-arg=--constraint=a100", "--via", "old-box", cwd=d)
    check(rc == 0, "worker add --kind slurm failed (%d): %s" % (rc, err))
    check("gpu-cluster added" in out and "applies when it next starts" in out, "%r" % out)
    after = workers_file(wd)
    for w in before["workers"]:
        check(by_name(after)[w["name"]] == w, "%s changed" % w["name"])
    new = by_name(after)["gpu-cluster"]
    # The workspace is on the login node, relative to its home: kept as given.
    want = {"name": "gpu-cluster", "kind": "slurm", "workspace": "hy", "partition": "a100",
            "account": "lab42", "qos": "normal", "gres": "gpu:1", "max_jobs": 8,
            "sbatch_args": ["--mem=16G", "--constraint=a100"], "via": "old-box"}
    check(new == want, "the new worker is %r, not %r" % (new, want))
    check(list(new) == list(want), "keys not in the order given: %r" % list(new))
    lib.status_json(wd)
    # Without --via Slurm runs here: a relative workspace is from the current folder.
    rc, out, err = worker("add", wd, "here", "--kind=slurm", "--workspace", "shared/hy", cwd=d)
    check(rc == 0, "a slurm worker without --via: %s" % err)
    here = by_name(workers_file(wd))["here"]
    check(here == {"name": "here", "kind": "slurm",
                   "workspace": os.path.join(os.path.realpath(d), "shared/hy")},
          "here: %r" % here)
    # The ssh worker a slurm worker goes through stays while that one does.
    rc, out, err = worker("remove", wd, "old-box")
    check(rc == 2 and 'slurm worker "gpu-cluster"' in err and "its \"via\"" in err,
          "removing a slurm worker's via: %d %r" % (rc, err))
    for name in ("gpu-cluster", "here"):
        rc, out, err = worker("remove", wd, name)
        check(rc == 0, "worker remove %s failed (%d): %s" % (name, rc, err))
    check(workers_file(wd) == before, "remove did not give the file back: %r"
          % workers_file(wd))


@lib.test
def slurm_options_refused_by_kind():
    d, wd, key = hand_workdir()
    slurm = ("add", wd, "x", "--kind", "slurm", "--workspace", "/shared/x")
    cases = [(slurm + opt, [opt[0], "does not apply to a slurm worker", instead])
             for opt, instead in [
                 (("--host", "h"), "--via"), (("--port", "22"), "--via"),
                 (("--user", "me"), "--via"), (("--key", key), "--via"),
                 (("--key", os.path.join(d, "none")), "--via"),
                 (("--known-hosts", "kh"), "--via"), (("--accept-new-host-key",), "--via"),
                 (("--slots", "2"), "use --max-jobs"), (("--gpus", "0"), "use --gres"),
                 (("--setup", "make"), "build command")]]
    ssh = ("add", wd, "x", "--host", "h")
    cases += [(ssh + opt, [opt[0], "is for a slurm worker", "--kind slurm"])
              for opt in [("--partition", "gpu"), ("--account", "a"), ("--qos", "q"),
                          ("--gres", "gpu:1"), ("--max-jobs", "2"),
                          ("--sbatch-arg", "--mem=1G"), ("--via", "old-box")]]
    cases += [
        ((ssh + ("--kind", "ssh", "--max-jobs", "2")), ["--max-jobs", "use --slots"]),
        (("add", wd, "x", "--kind", "local"), ["--kind local", "ssh (the default) or slurm"]),
        (("add", wd, "x", "--kind", "vast", "--host", "h"), ["--kind vast"]),
        (slurm + ("--kind", "slurm"), ["--kind is given twice"]),
        (("add", wd, "x", "--kind", "slurm"), ["--workspace is needed", "compute nodes"]),
        (slurm + ("--via", "login"), ['--via login: "via" names "login", which is not a '
                                      'worker', "its ssh workers: old-box"]),
        (slurm + ("--via", "cluster"), ['--via cluster: "via" names "cluster", a slurm '
                                        'worker']),
        (("add", wd, "x", "--kind", "slurm", "--workspace", "rel", "--via", "local"),
         ['"via" names "local", a local worker']),
        (slurm + ("--max-jobs", "0"), ["--max-jobs 0", "from 1 to 4096"]),
        (slurm + ("--partition", "a b"), ["--partition a b", "one word"]),
        (slurm + ("--sbatch-arg", "--mem", "--sbatch-arg", "16G"),
         ["--sbatch-arg", 'item 2, "16G", does not start with "-"']),
        (slurm + ("--sbatch-arg", "--output=/tmp/x"),
         ['"--output=/tmp/x", is an option hypotop gives sbatch itself']),
        (("remove", wd, "cluster", "--kind", "slurm"), ["unknown option --kind"]),
    ]
    refused_all(wd, cases)


@lib.test
def workers_lists_a_slurm_worker():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    for args in (("login", "--host", "login.hpc"),
                 ("cluster", "--kind", "slurm", "--via", "login", "--workspace", "hy",
                  "--max-jobs", "8"),
                 ("here", "--kind", "slurm", "--workspace", "/shared/hy")):
        rc, out, err = worker("add", wd, *args)
        check(rc == 0, "add %s: %s" % (args[0], err))
    rc, out, err = lib.hypotop("workers", wd, "--json")
    check(rc == 0, "workers --json failed (%d): %s" % (rc, err))
    ws = {w["name"]: w for w in json.loads(out)["workers"]}
    for name, slots in (("cluster", 8), ("here", 4)):
        w = ws.get(name, {})
        check(w.get("kind") == "slurm" and w.get("slots") == slots and
              w.get("slots_used") == 0 and w.get("state") == "unknown" and
              w.get("host") is None, "%s with no engine: %r" % (name, w))
    rc, out, err = lib.hypotop("workers", wd)
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[2:]}
    check(rc == 0 and rows.get("cluster") == ["slurm", "unknown", "-", "0/8"] and
          rows.get("here") == ["slurm", "unknown", "-", "0/4"], "the rows: %r" % out)


class FakeEngine:
    """An engine as a queue command sees one: engine/lock held with
    "PID engine" in it, and engine/control.sock answering each request with
    answer(request, workers.json as it is then)."""

    def __init__(self, wd, answer):
        self.wd, self.answer, self.requests = wd, answer, []
        self.lock = open(os.path.join(wd, "engine", "lock"), "r+")
        fcntl.flock(self.lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self.lock.truncate(0)
        self.lock.write("%d engine\n" % os.getpid())
        self.lock.flush()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(os.path.join(wd, "engine", "control.sock"))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                self.requests.append((json.loads(data), raw(self.wd)))
                reply = self.answer()
                if reply is not None:
                    c.sendall(reply.encode() + b"\n")

    def close(self):
        self.sock.close()
        os.unlink(os.path.join(self.wd, "engine", "control.sock"))
        self.lock.truncate(0)
        self.lock.close()


@lib.test
def a_running_engine_is_told():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    before = raw(wd)
    eng = FakeEngine(wd, lambda: '{"ok":true}')
    try:
        rc, out, err = worker("add", wd, "box", "--host", "h")
        check(rc == 0, "add with an engine failed (%d): %s" % (rc, err))
        check(len(eng.requests) == 1 and eng.requests[0][0] == {"op": "workers"},
              "the engine was asked %r" % [r[0] for r in eng.requests])
        check(b'"box"' in eng.requests[0][1], "the engine was asked before the file was "
              "written")
        check("running engine has taken the change" in out, "add said %r" % out)
        # Refused: the file goes back as it was, and the reason is said.
        eng.answer = lambda: '{"ok":false,"error":"worker box runs n0003: wait for it"}'
        with_box = raw(wd)
        rc, out, err = worker("remove", wd, "box")
        check(rc == 2 and "engine refused" in err and "runs n0003" in err,
              "a refused remove: %d %r" % (rc, err))
        check(raw(wd) == with_box, "a refused remove left workers.json changed")
        check(b'"box"' not in eng.requests[1][1], "the engine saw no change to refuse")
        # No answer: the outcome is unknown (exit 3), as for a queue command.
        eng.answer = lambda: None
        rc, out, err = worker("disable", wd, "box")
        check(rc == 3 and "unknown" in err, "an engine that never answered: %d %r"
              % (rc, err))
    finally:
        eng.close()
    # With the engine gone, the edit is made under engine/lock and nobody asked.
    rc, out, err = worker("remove", wd, "box")
    check(rc == 0 and "next starts" in out, "remove after the engine: %d %r" % (rc, err))
    check(workers_file(wd) == json.loads(before), "%r" % workers_file(wd))


@lib.test
def concurrent_adds_lose_nothing():
    # With no engine engine/lock orders the edits; with one, the workdir
    # folder's lock does.
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    for engine in (False, True):
        eng = FakeEngine(wd, lambda: '{"ok":true}') if engine else None
        try:
            procs = [subprocess.Popen([lib.BIN, "worker", "add", wd, "w%d%d" % (engine, i),
                                       "--host", "h%d" % i],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                     for i in range(8)]
            for p in procs:
                out, err = p.communicate(timeout=60)
                check(p.returncode == 0, "a concurrent add failed: %s" % err.decode())
        finally:
            if eng:
                eng.close()
    names = sorted(by_name(workers_file(wd)))
    want = ["local"] + ["w%d%d" % (e, i) for e in (0, 1) for i in range(8)]
    check(names == sorted(want), "lost an add: %r" % names)


STAT = {"updated": 0, "workers": [
    {"name": "local", "kind": "local", "enabled": True, "state": "up", "reason": "",
     "heartbeat": 0, "slots": [{"node": "n0003", "gpu": 0, "unknown": False},
                               {"node": "", "gpu": 1, "unknown": False}],
     "gpus": [{"index": 0, "util": 87, "mem_used": 10240, "mem_total": 24576, "temp": 71},
              {"index": 1, "util": None, "mem_used": None, "mem_total": None,
               "temp": None}]},
    {"name": "box", "kind": "ssh", "enabled": True, "state": "down",
     "reason": "connect 10.0.0.7:22: refused \u001b[2J\u001b]0;pwned\u0007",
     "heartbeat": 0, "slots": [{"node": "n0005", "gpu": -1, "unknown": True}],
     "gpus": []},
]}


@lib.test
def workers_json_without_engine():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    rc, out, err = worker("add", wd, "box", "--host", "10.0.0.7", "--gpus", "2")
    check(rc == 0, "add: %s" % err)
    rc, out, err = lib.hypotop("workers", wd, "--json")
    check(rc == 0, "workers --json failed (%d): %s" % (rc, err))
    doc = json.loads(out)
    check(doc["version"] == 1 and doc["engine"] == {"running": False, "pid": None} and
          doc["updated"] is None and doc["age_s"] is None, "header: %r" % doc)
    local, box = doc["workers"]
    check(local["state"] == "unknown" and local["slots"] == 1 and local["jobs"] == [] and
          local["host"] is None, "local with no engine: %r" % local)
    check(box["host"] == "10.0.0.7" and box["port"] == 22 and box["state"] == "unknown" and
          box["gpus"] == [{"index": 2, "util": None, "mem_used": None, "mem_total": None,
                           "temp": None}], "box with no engine: %r" % box)
    rc, out, err = lib.hypotop("workers", wd)
    check(rc == 0 and "no engine has run here" in out and "box" in out, "%r %r" % (out, err))


@lib.test
def workers_from_engine_file():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    rc, out, err = worker("add", wd, "box", "--host", "10.0.0.7")
    check(rc == 0, "add: %s" % err)
    now = int(time.time() * 1000)
    stat = json.loads(json.dumps(STAT))
    stat["updated"] = now - 125000
    stat["workers"][0]["heartbeat"] = now - 3000
    with open(os.path.join(wd, "engine", "workers.json"), "w") as f:
        json.dump(stat, f)
    rc, out, err = lib.hypotop("workers", wd, "--json")
    check(rc == 0, "workers --json failed (%d): %s" % (rc, err))
    doc = json.loads(out)
    check(doc["updated"] == now - 125000 and 120 <= doc["age_s"] <= 135,
          "updated/age_s: %r" % doc)
    local, box = doc["workers"]
    check(local["state"] == "up" and local["slots"] == 2 and local["slots_used"] == 1 and
          local["jobs"] == [{"node": "n0003", "gpu": 0, "unknown": False}] and
          2 <= local["heartbeat_age_s"] <= 15, "local: %r" % local)
    check(local["gpus"][0] == {"index": 0, "util": 87, "mem_used": 10240,
                               "mem_total": 24576, "temp": 71} and
          local["gpus"][1]["util"] is None, "local gpus: %r" % local["gpus"])
    check(box["state"] == "down" and box["reason"].startswith("connect 10.0.0.7:22") and
          box["heartbeat"] is None and box["jobs"] == [
              {"node": "n0005", "gpu": None, "unknown": True}], "box: %r" % box)
    rc, out, err = lib.hypotop("workers", wd)
    check(rc == 0, "workers failed: %s" % err)
    check("2 min ago" in out and "no engine running" in out, "age not said: %r" % out)
    check("\x1b" not in out and "\x07" not in out, "a reason reached the terminal raw: %r"
          % out)
    check("down: connect 10.0.0.7:22: refused" in out, "the reason is not shown: %r" % out)
    check("util 87%" in out and "mem 10240/24576 MiB" in out and "temp 71 C" in out,
          "the GPU line: %r" % out)
    check("util -" in out, "an unknown reading must be '-', not 0: %r" % out)
    row = [line for line in out.splitlines() if line.startswith("local ")]
    check(row and "up" in row[0] and "1/2" in row[0] and "n0003(gpu0)" in row[0],
          "the local row: %r" % row)
    # Every field is documented in the man page's WORKERS JSON.
    with open(os.path.join(lib.ROOT, "man", "hypotop.1")) as f:
        man = f.read().replace("\\-", "-")
    sec = man[man.index(".SH WORKERS JSON"):]
    sec = sec[:sec.index("\n.SH ")]
    fields = set(doc) | set(doc["engine"]) | set(local) | set(local["jobs"][0]) | \
        set(local["gpus"][0])
    for name in sorted(fields):
        check(re.search(r"^\.(B|TQ\n\.B) %s$|\\\(dq%s\\\(dq" % (name, name), sec, re.M),
              "workers --json field %r is not in WORKERS JSON in man/hypotop.1" % name)
    # Disabled in workers.json shows disabled at once, whatever the engine said.
    rc, out, err = worker("disable", wd, "box")
    rc, out, err = lib.hypotop("workers", wd, "--json")
    check(json.loads(out)["workers"][1]["state"] == "disabled", "%r" % out)
    # A garbage status file: said, and the registry still listed.
    with open(os.path.join(wd, "engine", "workers.json"), "w") as f:
        f.write("{not json")
    rc, out, err = lib.hypotop("workers", wd, "--json")
    check(rc == 0 and "engine/workers.json" in err and
          json.loads(out)["workers"][0]["state"] == "unknown", "garbage: %d %r %r"
          % (rc, out, err))


lib.finish()
