"""The health rules and their alerts, end to end: real runs of the binary
whose jobs misbehave on purpose (NaN, a gradient spike, a checkpoint that
stops changing), a fake nvidia-smi on the engine's PATH for the GPU rules,
a small tmpfs for the disk rule, and an HTTP server of the test's own for
the webhook."""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

# A job that prints its steps until the file GO exists, then its metric.
UNTIL_GO = """
import os, time
i = 0
while not os.path.exists(%(go)r):
    print("step=%%d loss=%%g grad_norm=1.0" %% (i, %(loss)s), flush=True)
    i += 1
    time.sleep(%(pause)s)
print("val_loss=0.5", flush=True)
"""


def project(d, train, cfg=None):
    """A source repository whose train.py is train, and its workdir."""
    src = lib.make_repo(d, files={"train.py": train})
    doc = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "max_iterations": 0}
    doc.update(cfg or {})
    return lib.init_config(d, doc)


def until_go(d, pause=0.001, loss="1.0 / (i + 1)"):
    """The GO file (in folder d), and a train.py that prints loss (an expression of
    the step i) until it exists."""
    go = os.path.join(d, "GO")
    return go, UNTIL_GO % {"go": go, "pause": pause, "loss": loss}


def alerts(wd, rule=None):
    path = os.path.join(wd, "logs", "alerts.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        out = [json.loads(line) for line in f if line.strip()]
    return [a for a in out if rule is None or a["rule"] == rule]


def node(wd, nid="n0000"):
    try:
        return lib.tree_nodes(wd).get(nid)
    except (OSError, ValueError):
        return None


def count(wd, status):
    """How many nodes are status now, as the journal says (engine/tree.json may lag)."""
    return lib.status_json(wd)["counts"][status]


def fake_gpu(d, util, temp, mem=1000):
    """A bin folder whose nvidia-smi reports one GPU (of 80000 MiB); an environment with
    it first on PATH."""
    bindir = os.path.join(d, "bin")
    os.makedirs(bindir)
    path = os.path.join(bindir, "nvidia-smi")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho '0, %d, %d, 80000, %d'\n" % (util, mem, temp))
    os.chmod(path, 0o755)
    return dict(os.environ, PATH=bindir + ":" + os.environ["PATH"],
                NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")


def proc_state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def group_states(pgid):
    """The states of the processes of a process group."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    out.append(fields[0])
            except (OSError, IndexError):
                pass
    return out


@lib.test
def nan_at_step_50_stops_the_run_in_phase_1_with_an_alert():
    d = lib.tmpdir()
    train = ("import time\n"
             "for i in range(200):\n"
             "    print('step=%d loss=%s' % (i, 1.0 / (i + 1) if i < 50 else float('nan')), "
             "flush=True)\n"
             "time.sleep(60)\nprint('val_loss=1')\n")
    wd = project(d, train)
    t0 = time.monotonic()
    err = lib.run_engine(wd, timeout=60)
    check(time.monotonic() - t0 < 30, "the run was not stopped early")
    n = node(wd)
    check(n["status"] == "failed" and n["failure"]["kind"] == "nan", "node: %s" % n)
    got = alerts(wd, "loss_finite")
    check(len(got) == 1, "alerts: %s" % alerts(wd))
    a = got[0]
    check(a["step"] == 50 and a["action"] == "stop" and a["severity"] == "critical" and
          a["node"] == "n0000" and a["worker"] == "local" and a["value"] is None,
          "alert: %s" % a)
    check("alert: n0000: health rule loss_finite at step 50" in err, "said: %s" % err)


@lib.test
def stall_seconds_is_the_log_silence_rule():
    d = lib.tmpdir()
    train = "import time\nprint('step=1 loss=1', flush=True)\ntime.sleep(60)\n"
    wd = project(d, train, {"stall_seconds": 1})
    t0 = time.monotonic()
    lib.run_engine(wd, timeout=60)
    check(time.monotonic() - t0 < 30, "the silent run was not stopped early")
    n = node(wd)
    check(n["status"] == "failed" and n["failure"]["kind"] == "stalled", "node: %s" % n)
    got = alerts(wd, "log_silence")
    check(len(got) == 1 and got[0]["value"] > 1 and got[0]["threshold"] == 1 and
          got[0]["action"] == "stop", "alerts: %s" % alerts(wd))


@lib.test
def a_grad_norm_spike_pauses_the_job_and_resume_goes_on():
    d = lib.tmpdir()
    go = os.path.join(d, "GO")
    train = ("import os, time\n"
             "for i in range(20):\n"
             "    print('step=%%d grad_norm=1.0' %% i, flush=True)\n"
             "print('step=20 grad_norm=5000', flush=True)\n"
             "i = 21\n"
             "while not os.path.exists(%r):\n"
             "    print('step=%%d grad_norm=1.0' %% i, flush=True)\n"
             "    i += 1\n"
             "    time.sleep(0.01)\n"
             "print('val_loss=0.5', flush=True)\n" % go)
    wd = project(d, train, {"health": {"rules": {"grad_norm": {"threshold": 100,
                                                               "action": "pause"}}}})
    en = lib.Engine(d, wd)
    try:
        lib.wait_for(lambda: count(wd, "paused") == 1, "the pause", 30)
        pid = lib.job_json(wd, "n0000")["pid"]
        pgid = os.getpgid(pid)
        lib.wait_for(lambda: group_states(pgid) and all(s == "T" for s in group_states(pgid)),
                     "the job's processes stopped (SIGSTOP)", 10)
        got = alerts(wd, "grad_norm")
        check(len(got) == 1 and got[0]["value"] == 5000 and got[0]["step"] == 20 and
              got[0]["action"] == "pause" and got[0]["threshold"] == 100, "alerts: %s" % got)
        size = os.path.getsize(os.path.join(wd, "runs", "n0000", "log"))
        rc, out, err = lib.hypotop("resume", wd, "n0000")
        check(rc == 0, "resume: %s %s" % (out, err))
        lib.wait_for(lambda: "T" not in group_states(pgid), "the job running again", 10)
        check(count(wd, "running") == 1, "not running: %s" % lib.status_json(wd)["counts"])
        lib.wait_for(lambda: os.path.getsize(os.path.join(wd, "runs", "n0000", "log")) > size,
                     "the log growing again", 10)
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 30)
        check(len(alerts(wd, "grad_norm")) == 1, "alerts: %s" % alerts(wd))
        check("paused by the health rule grad_norm" in en.said(), en.said())
    finally:
        open(go, "w").close()
        en.stop()


@lib.test
def low_gpu_utilisation_warns_once_per_repeat_interval_not_per_line():
    d = lib.tmpdir()
    go, train = until_go(d, pause=0.0002)
    wd = project(d, train, {"gpus": [0],
                            "health": {"gpu_warmup_steps": 0},
                            "alerts": {"repeat_seconds": 3600}})
    en = lib.Engine(d, wd, env=fake_gpu(d, 3, 50, mem=79500))
    try:
        lib.wait_for(lambda: alerts(wd, "gpu_util"), "the gpu_util alert", 30)
        log = os.path.join(wd, "runs", "n0000", "log")
        size = os.path.getsize(log)
        # Thousands of lines more, each one judged, while the GPU stays at 3 %.
        lib.wait_for(lambda: os.path.getsize(log) > size + 100000, "more lines", 30)
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 30)
        got = alerts(wd, "gpu_util")
        check(len(got) == 1, "alerts: %s" % got)
        check(got[0]["value"] == 3 and got[0]["threshold"] == 10 and
              got[0]["severity"] == "warning" and got[0]["worker"] == "local:gpu0",
              "alert: %s" % got[0])
        check(en.said().count("health rule gpu_util") == 1, en.said())
        check("GPU rules are off" not in en.said(), en.said())
        mem = alerts(wd, "gpu_mem")
        check(len(mem) == 1 and round(mem[0]["value"], 2) == 99.38 and
              mem[0]["threshold"] == 98, "gpu_mem alerts: %s" % mem)
    finally:
        open(go, "w").close()
        en.stop()


@lib.test
def without_gpu_readings_the_gpu_rules_are_off_and_say_so_once():
    d = lib.tmpdir()
    go, train = until_go(d, pause=0.01)
    wd = project(d, train, {"gpus": [0], "health": {"gpu_warmup_steps": 0}})
    env = dict(os.environ, PATH="/usr/bin:/bin")  # no nvidia-smi there
    check(not os.path.exists("/usr/bin/nvidia-smi"), "this machine has an nvidia-smi")
    en = lib.Engine(d, wd, env=env)
    try:
        lib.wait_for(lambda: "GPU rules are off" in en.said(), "the GPU rules said off", 30)
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 30)
        check(en.said().count("GPU rules are off") == 1, en.said())
        check(not alerts(wd), "alerts: %s" % alerts(wd))
    finally:
        open(go, "w").close()
        en.stop()


HOOK_SERVER = r"""
import http.server, json, sys
out = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    n = 0
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        H.n += 1
        code = 500 if H.n == 1 else 200
        with open(out, "a") as f:
            f.write(json.dumps({"code": code, "type": self.headers["Content-Type"],
                                "body": body.decode()}) + "\n")
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"""


@lib.test
def a_hot_gpu_is_critical_and_reaches_the_webhook_after_a_500():
    d = lib.tmpdir()
    got_path = os.path.join(d, "posts.jsonl")
    server = subprocess.Popen([sys.executable, "-c", HOOK_SERVER, got_path],
                              stdout=subprocess.PIPE, text=True)
    go = os.path.join(d, "GO")
    en = None
    try:
        port = int(server.stdout.readline())
        go, train = until_go(d, pause=0.01)
        wd = project(d, train, {"gpus": [0], "health": {"patrol_seconds": 1},
                                "alerts": {"webhook_url": "http://127.0.0.1:%d/hook" % port}})
        en = lib.Engine(d, wd, env=fake_gpu(d, 50, 95))

        def posts():
            if not os.path.exists(got_path):
                return []
            with open(got_path) as f:
                return [json.loads(line) for line in f]
        lib.wait_for(lambda: len(posts()) >= 2, "the webhook posted twice", 30)
        p = posts()
        check([x["code"] for x in p[:2]] == [500, 200], "posts: %s" % p)
        check(p[0]["body"] == p[1]["body"], "the retry is another post: %s" % p)
        check(p[0]["type"] == "application/json", "content type: %s" % p[0])
        body = json.loads(p[1]["body"])
        check(body["text"].startswith("hypotop %s: n0000: health rule gpu_temp" % wd) and
              "95 (threshold 85)" in body["text"], body)
        check(body["alert"]["severity"] == "critical" and body["alert"]["rule"] == "gpu_temp",
              body)
        got = alerts(wd, "gpu_temp")
        check(len(got) == 1 and got[0]["value"] == 95, "alerts: %s" % got)
        check("alert: n0000: health rule gpu_temp" in en.said(), en.said())
        # Not critical: the file and the bar, not the webhook.
        check(not alerts(wd, "gpu_util"), "gpu_util at 50 %%: %s" % alerts(wd))
    finally:
        open(go, "w").close()
        if en:
            en.stop()
        server.kill()
        server.wait()


@lib.test
def a_webhook_that_never_answers_holds_nothing_up():
    d = lib.tmpdir()
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections wait in the backlog; none is ever answered
    port = silent.getsockname()[1]
    go, train = until_go(d, pause=0.01)
    wd = project(d, train, {"gpus": [0], "health": {"patrol_seconds": 1},
                            "alerts": {"webhook_url": "http://127.0.0.1:%d/" % port}})
    en = lib.Engine(d, wd, env=fake_gpu(d, 50, 95))
    try:
        lib.wait_for(lambda: alerts(wd, "gpu_temp"), "the gpu_temp alert", 30)
        log = os.path.join(wd, "runs", "n0000", "log")
        size = os.path.getsize(log)
        # The engine goes on reading the log and collecting while the post hangs.
        lib.wait_for(lambda: (node(wd) or {}).get("lines", 0) or os.path.getsize(log) > size,
                     "the job going on", 10)
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 5)
        # max_iterations 0: the engine ends, giving the post up.
        t0 = time.monotonic()
        en.p.wait(timeout=10)
        check(time.monotonic() - t0 < 5, "the engine waited for the webhook")
        check(en.p.returncode == 0, "engine exit %d: %s" % (en.p.returncode, en.said()))
    finally:
        open(go, "w").close()
        en.stop()
        silent.close()


@lib.test
def a_webhook_given_up_is_said_without_its_url():
    d = lib.tmpdir()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every try is refused at once
    go, train = until_go(d, pause=0.01)
    url = "http://127.0.0.1:%d/services/SECRET-TOKEN" % port
    wd = project(d, train, {"gpus": [0], "health": {"patrol_seconds": 1},
                            "alerts": {"webhook_url": url}})
    en = lib.Engine(d, wd, env=fake_gpu(d, 50, 95))
    try:
        lib.wait_for(lambda: "webhook post (alerts.webhook_url) was given up after 4 tries"
                     in en.said(), "the post given up (%s)" % en.said()[-800:], 30)
        check("SECRET-TOKEN" not in en.said(), "the URL was said: %s" % en.said())
        with open(os.path.join(wd, "logs", "hypotop.log")) as f:
            check("SECRET-TOKEN" not in f.read(), "the URL is in hypotop.log")
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 30)
    finally:
        open(go, "w").close()
        en.stop()


@lib.test
def little_free_disk_under_the_run_stops_it_as_unhealthy():
    d = lib.tmpdir()
    go, train = until_go(d, pause=0.01)
    wd = project(d, train, {"health": {"patrol_seconds": 1, "rules": {
        "disk_free": {"threshold": 0.1, "action": "stop"}}}})
    runs = os.path.join(wd, "runs")
    os.makedirs(runs, exist_ok=True)
    # A 16 MiB file system under the runs: 0.1 GiB is more than it has.
    r = lib.sh("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", runs, check_rc=False)
    check(r.returncode == 0, "cannot mount a tmpfs (this test needs root): %s" % r.stderr)
    en = None
    try:
        en = lib.Engine(d, wd)
        lib.wait_for(lambda: alerts(wd, "disk_free"), "the disk_free alert", 30)
        a = alerts(wd, "disk_free")[0]
        check(0 < a["value"] <= 16 / 1024 and a["threshold"] == 0.1 and a["action"] == "stop",
              "alert: %s" % a)
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "failed", "the stop", 30)
        n = node(wd)
        check(n["failure"]["kind"] == "unhealthy", "node: %s" % n)
        check(en.p.wait(timeout=30) == 0, "engine: %s" % en.said())
    finally:
        open(go, "w").close()
        if en:
            en.stop()
        lib.sh("umount", runs, check_rc=False)


@lib.test
def a_checkpoint_that_stops_changing_is_an_alert():
    d = lib.tmpdir()
    go = os.path.join(d, "GO")
    stopped = os.path.join(d, "stopped")
    # Written every 0.2 s for 5 s (several patrols), then left alone.
    train = ("import os, time\n"
             "os.makedirs('ckpt', exist_ok=True)\n"
             "t0 = time.time(); i = 0\n"
             "while not os.path.exists(%r):\n"
             "    if time.time() - t0 < 5:\n"
             "        open('ckpt/model.pt', 'w').write(str(i))\n"
             "    elif not os.path.exists(%r):\n"
             "        open(%r, 'w').write(repr(os.stat('ckpt/model.pt').st_mtime))\n"
             "    print('step=%%d' %% i, flush=True); i += 1\n"
             "    time.sleep(0.2)\n"
             "print('val_loss=0.5', flush=True)\n" % (go, stopped, stopped))
    wd = project(d, train, {"health": {"patrol_seconds": 1, "checkpoint_glob": "ckpt/*.pt",
                                       "rules": {"checkpoint_age": {"threshold": 3}}}})
    en = lib.Engine(d, wd)
    try:
        lib.wait_for(lambda: alerts(wd, "checkpoint_age"), "the checkpoint_age alert", 30)
        a = alerts(wd, "checkpoint_age")[0]
        check(os.path.exists(stopped), "an alert while the checkpoint still changed: %s" % a)
        with open(stopped) as f:
            last = float(f.read())
        check(a["value"] > 3 and a["time"] / 1000 >= last + 3, "alert: %s" % a)
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 30)
    finally:
        open(go, "w").close()
        en.stop()


@lib.test
def a_loss_that_stops_improving_is_an_info_alert_in_the_file_only():
    d = lib.tmpdir()
    # Falls for 100 steps, then stays flat.
    go, train = until_go(d, pause=0.01, loss="max(1.0, 3.0 - i * 0.02)")
    wd = project(d, train, {"health": {"patrol_seconds": 1,
                                       "rules": {"loss_plateau": {"threshold": 2}}}})
    en = lib.Engine(d, wd)
    try:
        lib.wait_for(lambda: alerts(wd, "loss_plateau"), "the loss_plateau alert", 30)
        a = alerts(wd, "loss_plateau")[0]
        check(a["value"] == 2 and a["severity"] == "info" and a["step"] > 100, "alert: %s" % a)
        check("loss_plateau" not in en.said(), "an info alert in the bar: %s" % en.said())
        open(go, "w").close()
        lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion", 30)
    finally:
        open(go, "w").close()
        en.stop()


def only_box(wd, sshd, ws, *extra):
    """The harness's sshd as the worker "box", the only one enabled."""
    rc, out, err = lib.hypotop("worker", "add", wd, "box", "--host", "127.0.0.1",
                               "--port", str(sshd.port), "--user", sshd.user,
                               "--key", sshd.key, "--known-hosts", sshd.known_hosts,
                               "--workspace", ws, *extra)
    check(rc == 0, "worker add: %s%s" % (out, err))
    rc, out, err = lib.hypotop("worker", "disable", wd, "local")
    check(rc == 0, "worker disable local: %s" % err)


@lib.test
def an_ssh_workers_gpu_readings_judge_its_job():
    # GPU figures come from the worker the job runs on: here its poll of the
    # sshd's fake nvidia-smi, GPU 0 at 95 degrees.
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        go, train = until_go(sshd.folder("gate"), pause=0.01)  # the worker's user sees it
        wd = project(d, train, {"health": {"patrol_seconds": 1}})
        sshd.gpus("0, 35, 1024, 81920, 95\n")
        ws = sshd.folder("ws")
        only_box(wd, sshd, ws, "--gpus", "0")
        en = lib.Engine(d, wd)
        try:
            lib.wait_for(lambda: alerts(wd, "gpu_temp"), "the gpu_temp alert (%s)"
                         % en.said()[-1000:], 90)
            a = alerts(wd, "gpu_temp")[0]
            check(a["worker"] == "box:gpu0" and a["value"] == 95 and
                  a["severity"] == "critical", "alert: %s" % a)
            open(go, "w").close()
            lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion",
                         60)
        finally:
            open(go, "w").close()
            en.stop()


@lib.test
def a_worker_out_of_reach_for_a_patrol_is_an_alert():
    d = lib.tmpdir()
    with lib.Sshd() as sshd:
        go, train = until_go(sshd.folder("gate"), pause=0.01)
        wd = project(d, train, {"health": {"patrol_seconds": 1}})
        ws = sshd.folder("ws")
        only_box(wd, sshd, ws)
        en = lib.Engine(d, wd)
        try:
            log = os.path.join(wd, "runs", "n0000", "log")
            lib.wait_for(lambda: os.path.exists(log) and os.path.getsize(log) > 1000,
                         "the job running on box (%s)" % en.said()[-800:], 90)
            check(not alerts(wd, "process_alive"), "alerts: %s" % alerts(wd))
            sshd.kill()
            lib.wait_for(lambda: alerts(wd, "process_alive"), "the process_alive alert (%s)"
                         % en.said()[-800:], 60)
            a = alerts(wd, "process_alive")[0]
            check(a["worker"] == "box" and a["value"] >= 1 and a["action"] == "warn",
                  "alert: %s" % a)
            sshd.start_again()
            open(go, "w").close()
            lib.wait_for(lambda: (node(wd) or {}).get("status") == "completed", "completion",
                         90)
        finally:
            open(go, "w").close()
            en.stop()


lib.finish()
