"""Helpers for the end-to-end tests: run the real hypotop binary against
real git repositories in temp folders, report "ok - NAME" / "not ok - NAME",
and poll for expected states with deadlines instead of sleeping."""

import atexit
import hashlib
import http.client
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("HYPOTOP_BIN", os.path.join(ROOT, "hypotop"))
_failed = 0
_tmp = []
_clusters = []  # lib.Slurm clusters not stopped yet


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def tmpdir():
    d = tempfile.mkdtemp(prefix="hypotop-e2e.")
    _tmp.append(d)
    return d


def sh(*args, cwd=None, check_rc=True, env=None):
    r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=env)
    if check_rc and r.returncode != 0:
        raise Fail("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def hypotop(*args, cwd=None, env=None):
    """Run the binary; returns (exit status, stdout, stderr)."""
    r = subprocess.run([BIN] + list(args), cwd=cwd, capture_output=True, text=True,
                       env=env, timeout=120)
    return r.returncode, r.stdout, r.stderr


def make_repo(parent, name="src", files=None):
    """A git repository with one commit; returns its path."""
    path = os.path.join(parent, name)
    os.makedirs(path)
    files = files or {"train.py": "print('val_loss=1.0')\n", "hparams.json": '{"lr": 0.01}\n'}
    for rel, text in files.items():
        full = os.path.join(path, rel)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    sh("git", "init", "-q", path)
    sh("git", "add", ".", cwd=path)
    sh("git", "commit", "-qm", "initial", cwd=path, env=env)
    return path


def make_workdir(parent, *extra):
    src = make_repo(parent)
    wd = os.path.join(parent, "wd")
    rc, out, err = hypotop("init", wd, "--source-dir", src, "--launch", "python3 train.py",
                           "--metric", "val_loss", *extra)
    check(rc == 0, "init failed: %s" % err)
    return wd


def init_config(parent, cfg):
    """hypotop init of parent/wd from the config document cfg; returns the workdir."""
    path = os.path.join(parent, "c.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    wd = os.path.join(parent, "wd")
    rc, out, err = hypotop("init", wd, "--config", path)
    check(rc == 0, "init: %s" % err)
    return wd


def set_config(wd, **keys):
    """Top-level keys of the workdir's config.json set after the fact, as a person would."""
    path = os.path.join(wd, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    cfg.update(keys)
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)


QUICKSTART = os.path.join(ROOT, "examples", "quickstart")


def quickstart(d, *extra):
    """A git repository with the quickstart in d, and a workdir for it: (src, wd)."""
    files = {}
    for name in ("train.py", "hparams.json"):
        with open(os.path.join(QUICKSTART, name)) as f:
            files[name] = f.read()
    src = make_repo(d, files=files)
    wd = os.path.join(d, "wd")
    rc, out, err = hypotop("init", wd, "--config", os.path.join(QUICKSTART, "hypotop.json"),
                           "--source-dir", src, *extra)
    check(rc == 0, "init: %s" % err)
    return src, wd


def add_patch(wd, parent, hypothesis, patch):
    """hypotop add of a node under parent whose change is the text patch."""
    path = os.path.join(tmpdir(), "change.diff")
    with open(path, "w") as f:
        f.write(patch)
    rc, out, err = hypotop("add", wd, parent, hypothesis, "--patch", path)
    check(rc == 0, "add: %s" % err)
    return out


def snapshot(path):
    """Every file under path with its bytes' hash, to prove nothing changed."""
    out = {}
    for base, dirs, files in os.walk(path):
        for f in files:
            full = os.path.join(base, f)
            if os.path.islink(full) or not os.path.isfile(full):
                out[os.path.relpath(full, path)] = "special"
                continue
            with open(full, "rb") as fh:
                out[os.path.relpath(full, path)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def status_json(wd):
    rc, out, err = hypotop("status", wd, "--json")
    check(rc == 0, "status --json failed (%d): %s" % (rc, err))
    return json.loads(out)


def run_engine(wd, key=None, timeout=240):
    """hypotop run --headless to its end, with ANTHROPIC_API_KEY set to key
    (and loopback outside any proxy); its stderr."""
    e = dict(os.environ)
    if key:
        e["ANTHROPIC_API_KEY"] = key
    e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
    r = subprocess.run([BIN, "run", "--headless", wd], capture_output=True, text=True,
                       timeout=timeout, env=e)
    check(r.returncode == 0, "engine exit %d: %s" % (r.returncode, r.stderr[-2000:]))
    return r.stderr


def tree_json(wd):
    """engine/tree.json, whole."""
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return json.load(f)


def tree_nodes(wd):
    """engine/tree.json's nodes by id."""
    return {n["id"]: n for n in tree_json(wd)["nodes"]}


def job_json(wd, node):
    """A run folder's job.json."""
    with open(os.path.join(wd, "runs", node, "job.json")) as f:
        return json.load(f)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def outcome(n):
    """What a node tried and got, to compare runs of one project on two
    workers. Not its parent: the planner places a proposal under the
    nearest run completed when it plans, which depends on how fast runs
    end, not on where they run."""
    return (n["name"], json.dumps(n["change"], sort_keys=True), n["status"], n["metric"])


def wait_for(pred, what, timeout=10.0, interval=0.01):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise Fail("timed out after %.0f s waiting for %s" % (timeout, what))


class Engine:
    """`hypotop run --headless wd`, what it says kept in d/engine.err."""

    def __init__(self, d, wd, env=None):
        self.errpath = os.path.join(d, "engine.err")
        err = open(self.errpath, "w")
        self.p = subprocess.Popen([BIN, "run", "--headless", wd],
                                  stdout=subprocess.DEVNULL, stderr=err, env=env)
        err.close()

    def said(self):
        with open(self.errpath) as f:
            return f.read()

    def stop(self):
        """SIGTERM, if it still runs, and wait for it."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            self.p.wait(timeout=60)


def json_request(port, method, path, body=None):
    """A JSON request to a fake server on 127.0.0.1:port; its JSON answer."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = json.loads(r.read())
    c.close()
    return data


class FakeLLM:
    """tests/e2e/fake_llm.py in a process of its own: a model API on a free
    port of 127.0.0.1 that answers from the script a test posts, and its
    control endpoints."""

    def __init__(self):
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen([sys.executable, os.path.join(here, "fake_llm.py")],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port
        self.seen = 0

    def _req(self, method, path, body=None):
        return json_request(self.port, method, path, body)

    def script(self, steps):
        """Set the answers of the next requests; forget the requests seen so far."""
        self.seen = len(self._req("GET", "/_log"))
        self._req("POST", "/_script", steps)

    def requests(self):
        return self._req("GET", "/_log")[self.seen:]

    def kinds(self):
        """Requests per kind of call since the last script with routes."""
        return self._req("GET", "/_kinds")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class FakeVast:
    """tests/e2e/fake_vast.py in a process of its own: a Vast.ai API on a
    free port of 127.0.0.1 that takes key, and its control endpoints.
    env() is the environment a hypotop command needs to reach it."""

    def __init__(self, key="vast-test-key-5f2d"):
        here = os.path.dirname(os.path.abspath(__file__))
        self.key = key
        self.proc = subprocess.Popen([sys.executable, os.path.join(here, "fake_vast.py"), key],
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port

    def control(self, what, body=None):
        return json_request(self.port, "POST" if body is not None else "GET", "/_" + what, body)

    def env(self, key=None, home=None):
        e = dict(os.environ, VAST_API_KEY=self.key if key is None else key)
        e["NO_PROXY"] = e["no_proxy"] = "127.0.0.1,localhost"
        if home:
            e["HOME"] = home
        if key == "":
            del e["VAST_API_KEY"]
        return e

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class PortForward:
    """tests/e2e/forward.py in a process of its own: .port leads to
    127.0.0.1:target until stop(), which drops every connection through it."""

    def __init__(self, target):
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen([sys.executable, os.path.join(here, "forward.py"),
                                      str(target)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Tmux:
    """One tmux server on a private socket, one session "t" running cmd: the
    real binary in a real terminal, keys sent as a person types them, the
    screen read back with capture-pane."""

    def __init__(self, d, cmd, x=120, y=40, env=None):
        self.sock = os.path.join(d, "tmux.sock")
        self.env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", HOME=d,
                        XDG_CONFIG_HOME=os.path.join(d, "config"), **(env or {}))
        self.env.pop("NO_COLOR", None)
        self.env.pop("HYPOTOP_THEME", None)
        self.env.pop("TMUX", None)
        self.tmux("new-session", "-d", "-s", "t", "-x", str(x), "-y", str(y), cmd)

    def tmux(self, *args, check_rc=True):
        return sh("tmux", "-f", "/dev/null", "-S", self.sock, *args, env=self.env,
                      check_rc=check_rc)

    def screen(self):
        r = self.tmux("capture-pane", "-p", "-t", "t", check_rc=False)
        return r.stdout if r.returncode == 0 else ""

    def keys(self, *keys):
        self.tmux("send-keys", "-t", "t", *keys)

    def wait_screen(self, pred, what, timeout=20):
        return wait_for(lambda: pred(self.screen()), what + "; the screen:\n" + self.screen(),
                            timeout=timeout)

    def title(self):
        return self.tmux("display-message", "-p", "-t", "t", "#{pane_title}").stdout.strip()

    def close(self):
        self.tmux("kill-server", check_rc=False)


class Sshd:
    """A real OpenSSH sshd on 127.0.0.1 (tests/tools/sshd.sh) in a temp
    folder of its own: .port, .key (the client's private key), .known_hosts
    (the host's line), .user (hypotop-test, shell /bin/sh), .dir. kill()
    drops it and its connections at once, start_again() brings it back on
    the same port with the same host key, stop() ends it. Use it as a
    context manager. Fails (never skips) when sshd cannot start."""

    SCRIPT = os.path.join(ROOT, "tests", "tools", "sshd.sh")

    def __init__(self, env=None):
        parent = tmpdir()
        os.chmod(parent, 0o755)  # the test user reads the keys and the fake nvidia-smi
        self.dir = os.path.join(parent, "sshd")
        self.port = None
        # What every login gets in its environment besides PATH (SetEnv).
        self.env = " ".join("%s=%s" % kv for kv in (env or {}).items())
        self._start()

    def _start(self):
        args = ["sh", self.SCRIPT, "start", self.dir]
        if self.port:
            args.append(str(self.port))
        r = subprocess.run(args, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SSHD_SETENV=self.env))
        check(r.returncode == 0, "sshd did not start: %s" % r.stderr.strip())
        vals = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        self.port, self.pid = int(vals["port"]), int(vals["pid"])
        self.key, self.known_hosts = vals["key"], vals["known_hosts"]
        self.user = vals["user"]

    def start_again(self):
        self._start()

    def kill(self):
        sh("sh", self.SCRIPT, "kill", self.dir)

    def stop(self):
        sh("sh", self.SCRIPT, "stop", self.dir)

    def gpus(self, csv):
        """What the fake nvidia-smi prints for --query-gpu (None: no driver)."""
        path = os.path.join(self.dir, "gpus.csv")
        if csv is None:
            os.unlink(path)
            return
        with open(path, "w") as f:
            f.write(csv)
        os.chmod(path, 0o644)

    def folder(self, name):
        """A folder under the sshd's own that the test user owns (a workspace)."""
        path = os.path.join(self.dir, name)
        os.makedirs(path, exist_ok=True)
        pw = pwd.getpwnam(self.user)
        os.chown(path, pw.pw_uid, pw.pw_gid)
        return path

    def ssh(self, cmd, check_rc=True):
        """cmd run as the test user with the OpenSSH client."""
        return sh("ssh", "-i", self.key, "-p", str(self.port), "-o", "BatchMode=yes",
                  "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=" + self.known_hosts,
                  "%s@127.0.0.1" % self.user, cmd, check_rc=check_rc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Slurm:
    """A real one-node Slurm (tests/tools/slurm.sh: munged, slurmctld and
    slurmd; node "localhost" with this machine's CPUs, or cpus; partitions
    "debug", the default, and "other") in a temp folder of its own: .dir,
    .conf, .cpus. env() is what a command needs in its environment to
    reach it (SLURM_CONF), run() runs one; submit(), state(),
    wait_state() and job() are sbatch, squeue and scontrol for a test.
    stop_ctld()/start_ctld() stop slurmctld and start it again from its
    saved state; stop() ends it all, the jobs too. Use it as a context
    manager; finish(), or the exit of a test file that dies before it,
    stops one left running. Fails (never skips) when Slurm cannot start,
    with the daemon's log."""

    SCRIPT = os.path.join(ROOT, "tests", "tools", "slurm.sh")

    def __init__(self, cpus=None):
        parent = tmpdir()
        os.chmod(parent, 0o755)  # munged wants every folder above its socket searchable
        self.dir = os.path.join(parent, "slurm")
        args = ["sh", self.SCRIPT, "start", self.dir] + ([str(cpus)] if cpus else [])
        vals = self._script(args, "Slurm did not start")
        self.dir, self.conf, self.cpus = vals["dir"], vals["conf"], int(vals["cpus"])
        self.ctld_pid = int(vals["ctld_pid"])
        _clusters.append(self)

    def _script(self, args, what):
        r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "%s: %s" % (what, r.stderr.strip()))
        return dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)

    def env(self):
        return {"SLURM_CONF": self.conf}

    def run(self, *args, check_rc=True, cwd=None, timeout=60):
        """A Slurm command (sbatch, squeue, scontrol ...) against this cluster."""
        r = subprocess.run(list(args), cwd=cwd, capture_output=True, text=True,
                           env=dict(os.environ, **self.env()), timeout=timeout)
        if check_rc and r.returncode != 0:
            raise Fail("%s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
        return r

    def submit(self, script, *args, cwd=None):
        """sbatch --parsable of a shell script's text, run in cwd (a temp
        folder when None); returns the job id."""
        cwd = cwd or tmpdir()
        path = os.path.join(cwd, "job.%d.sh" % time.monotonic_ns())
        with open(path, "w") as f:
            f.write("#!/bin/sh\n" + script)
        return self.run("sbatch", "--parsable", *args, path, cwd=cwd).stdout.strip().split(";")[0]

    def state(self, job):
        """squeue's state of a job (PENDING, RUNNING, COMPLETED ...), or
        None when squeue does not know it."""
        r = self.run("squeue", "-h", "-t", "all", "-o", "%T", "-j", job, check_rc=False)
        return (r.stdout.strip() or None) if r.returncode == 0 else None

    def wait_state(self, job, *states, timeout=30):
        """Poll squeue until the job is in one of states; returns it."""
        seen = []

        def now():
            seen.append(self.state(job))
            return seen[-1] if seen[-1] in states else None
        try:
            return wait_for(now, "job %s to be %s" % (job, " or ".join(states)),
                            timeout=timeout, interval=0.05)
        except Fail as e:
            raise Fail("%s; it is %s" % (e, seen[-1]))

    def job(self, job):
        """scontrol show job -o's fields of a job as a dict."""
        out = self.run("scontrol", "show", "job", "-o", job).stdout.strip()
        return dict(f.split("=", 1) for f in out.split(" ") if "=" in f)

    def stop_ctld(self):
        self._script(["sh", self.SCRIPT, "stop-ctld", self.dir], "slurmctld did not stop")

    def start_ctld(self):
        vals = self._script(["sh", self.SCRIPT, "start-ctld", self.dir],
                            "slurmctld did not start again")
        self.ctld_pid = int(vals["ctld_pid"])

    def stop(self):
        if self in _clusters:
            _clusters.remove(self)
            sh("sh", self.SCRIPT, "stop", self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def need_tmux():
    check(shutil.which("tmux"), "tmux is not installed: 'make deps' installs it")


def test(fn):
    """Decorator: run fn now and report it."""
    global _failed
    try:
        fn()
        print("ok - %s" % fn.__name__, flush=True)
    except Fail as e:
        _failed += 1
        print("not ok - %s: %s" % (fn.__name__, e), flush=True)
    except Exception as e:  # a crash of the test itself is a failure too
        _failed += 1
        print("not ok - %s: %s: %s" % (fn.__name__, type(e).__name__, e), flush=True)
        traceback.print_exc(file=sys.stdout)
    return fn


def _stop_clusters():
    """Stop the Slurm clusters a test left running; False if one would not."""
    ok = True
    for c in list(_clusters):
        try:
            c.stop()
        except Fail as e:
            ok = False
            print("not ok - stopping the Slurm in %s: %s" % (c.dir, e), flush=True)
    return ok


# Also when a test file dies before finish().
atexit.register(_stop_clusters)


def finish():
    global _failed
    if not _stop_clusters():
        _failed += 1
    for d in _tmp:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(1 if _failed else 0)
