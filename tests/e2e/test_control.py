"""End to end: the control socket under misuse (idle clients by the
hundred, other users, a folder in its place), an engine that runs short of
file descriptors, and an engine started while a queue command holds the
lock."""

import fcntl
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

IDLE_S = 5  # CTL_IDLE_MS: how long a client may take to send its request


def waiting_workdir(d, fixed=3, max_iterations=1, slots=2):
    """A workdir whose runs wait for the file `go`, then print a val_loss;
    the baseline, `fixed` fixed experiments and max_iterations rounds of
    the offline planner. Returns (wd, go)."""
    go = os.path.join(d, "go")
    train = ("import json, os, time\n"
             "while not os.path.exists(%r):\n    time.sleep(0.02)\n"
             "print('val_loss=%%g' %% json.load(open('hparams.json'))['lr'])\n" % go)
    src = lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.5}\n'})
    cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
           "goal": "min", "max_iterations": max_iterations, "max_concurrency": slots, "seed": 0,
           "noise": {"seeds": 1},
           "search_space": {"file": "hparams.json",
                            "params": {"lr": {"uniform": [0.01, 1.0]}}},
           "fixed_experiments": [
               {"name": "f%d" % i, "hypothesis": "a smaller step %d" % i,
                "change": {"kind": "params", "params": {"lr": 0.1 + i / 100}}}
               for i in range(fixed)]}
    return lib.init_config(d, cfg), go


def start(wd, d, **popen):
    """The engine, headless, its standard error in d/engine.err."""
    err = open(os.path.join(d, "engine.err"), "w")
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=err, **popen)
    err.close()
    return p


def said(d):
    with open(os.path.join(d, "engine.err")) as f:
        return f.read()


def nodes(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        t = json.load(f)
    return t["nodes"], t["state"]


def finish(p, timeout=120):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise lib.Fail("the engine did not finish within %d s" % timeout)


def fds(pid):
    return [int(n) for n in os.listdir("/proc/%d/fd" % pid)]


def cpu_s(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_clients(sock, n):
    """Up to n connections that never send a byte: those the engine takes,
    and those its socket's backlog holds."""
    conns = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.connect(sock)
            conns.append(s)
        except (BlockingIOError, ConnectionRefusedError):
            s.close()
    return conns


def closed(s):
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def all_done(wd, d, rc, rounds):
    check(rc == 0, "engine exit %d: %s" % (rc, said(d)[-2000:]))
    ns, st = nodes(wd)
    bad = [(n["id"], n["status"], n.get("failure")) for n in ns if n["status"] != "completed"]
    check(not bad, "nodes not completed: %s\n%s" % (bad, said(d)[-2000:]))
    # Every round planned was one the engine meant to plan, and its nodes ran.
    check(st["iteration"] == rounds, "planning rounds: %s, want %d" % (st["iteration"], rounds))
    check(len(ns) > 1 + 3, "no proposals ran: %s" % [n["id"] for n in ns])
    failed = [line for line in said(d).splitlines()
              if "Too many open files" in line and "out of file descriptors" not in line]
    check(not failed, "a step failed for want of descriptors:\n%s" % "\n".join(failed))
    with open(os.path.join(wd, "engine", "engine_state.json")) as f:
        check(json.load(f)["state"] == "stopped", "engine state not stopped")


@lib.test
def idle_clients_beyond_the_descriptor_limit_do_not_hurt_the_engine():
    limit = 64
    d = lib.tmpdir()
    wd, go = waiting_workdir(d)
    p = start(wd, d, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,
                                                            (limit, limit)))
    try:
        lib.wait_for(lambda: os.path.exists(os.path.join(wd, "runs", "n0000", "job.json")) or
                     p.poll() is not None, "the baseline to run", timeout=30)
        check(p.poll() is None, "engine exited: %s" % said(d))
        t0 = time.monotonic()
        conns = idle_clients(os.path.join(wd, "engine", "control.sock"), limit + 40)
        check(len(conns) > limit, "only %d connections made" % len(conns))
        # The first ones taken are closed once their time is up; the engine runs on.
        first = lib.wait_for(lambda: [s for s in conns if closed(s)] or p.poll() is not None,
                             "an idle client to be closed", timeout=IDLE_S + 10)
        check(p.poll() is None, "engine exited: %s" % said(d)[-2000:])
        took = time.monotonic() - t0
        check(took >= IDLE_S - 0.5, "an idle client closed after %.1f s" % took)
        check(len(fds(p.pid)) < limit - 8, "the engine holds %d descriptors" % len(fds(p.pid)))
        open(go, "w").close()
        rc = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
    check(len(first) >= 1, "none closed")
    all_done(wd, d, rc, 1)
    for s in conns:
        s.close()


@lib.test
def running_out_of_descriptors_delays_steps_and_fails_none():
    d = lib.tmpdir()
    # One slot: a fixed experiment would otherwise run beside the baseline,
    # and the descriptors its end gives back would end the shortage.
    wd, go = waiting_workdir(d, slots=1)
    p = start(wd, d)
    client = None
    try:
        lib.wait_for(lambda: os.path.exists(os.path.join(wd, "runs", "n0000", "job.json")) or
                     p.poll() is not None, "the baseline to run", timeout=30)
        check(p.poll() is None, "engine exited: %s" % said(d))
        # Wait until the engine reads the baseline's log, then leave it no
        # descriptor to spare: the limit at its lowest free number.
        log = os.path.join(wd, "runs", "n0000", "log")
        lib.wait_for(lambda: any(os.path.realpath("/proc/%d/fd/%d" % (p.pid, fd)) == log
                                 for fd in fds(p.pid)), "the engine to open the log")
        used = set(fds(p.pid)) & set(fds(p.pid))  # not one open for a moment
        low = min(n for n in range(len(used) + 1) if n not in used)
        hard = resource.prlimit(p.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (low, hard))
        # A queue command now waits: the engine cannot take it, and does not spin.
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(os.path.join(wd, "engine", "control.sock"))
        client.sendall(b'{"op":"add","node":"n0000","hypothesis":"sent while short"}\n')
        open(go, "w").close()
        lib.wait_for(lambda: "out of file descriptors" in said(d) or p.poll() is not None,
                     "the shortage to be said", timeout=30)
        # The baseline's children wait to be prepared, each tried again later.
        lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] == 1,
                     "the baseline to be recorded", timeout=30)
        check(p.poll() is None, "engine exited: %s" % said(d)[-2000:])
        before = cpu_s(p.pid)
        t0 = time.monotonic()
        lib.wait_for(lambda: time.monotonic() - t0 >= 2 or p.poll() is not None,
                     "two seconds of shortage")
        check(p.poll() is None, "engine exited: %s" % said(d)[-2000:])
        check(cpu_s(p.pid) - before < 1.0, "the engine spins while short of descriptors")
        s = lib.status_json(wd)
        check(s["counts"]["failed"] == 0, "failed: %s\n%s" % (s["counts"], said(d)[-2000:]))
        check(s["iteration"] == 0, "a round was planned while short: %s" % s)
        resource.prlimit(p.pid, resource.RLIMIT_NOFILE, (hard, hard))
        client.settimeout(30)
        answer = json.loads(client.makefile().readline())
        check(answer["ok"] is True and answer["status"] == "queued", "answer: %s" % answer)
        rc = finish(p)
    finally:
        if p.poll() is None:
            p.kill()
        if client:
            client.close()
    all_done(wd, d, rc, 1)
    check(said(d).count("out of file descriptors") == 1,
          "the shortage said %d times:\n%s" % (said(d).count("out of file descriptors"),
                                               said(d)[-3000:]))


@lib.test
def the_socket_is_private_under_a_permissive_umask():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")
    p = start(wd, d, preexec_fn=lambda: os.umask(0))
    sock = os.path.join(wd, "engine", "control.sock")
    try:
        lib.wait_for(lambda: os.path.exists(sock) or p.poll() is not None, "the socket")
        check(p.poll() is None, "engine exited: %s" % said(d))
        rc, out, err = hypotop("prio", wd, "n0000", "1")  # it listens: the file is as it stays
        check(rc == 0, "prio: %s" % err)
        mode = os.stat(sock).st_mode & 0o777
        check(mode == 0o600, "control.sock has mode %o" % mode)
    finally:
        p.send_signal(signal.SIGTERM)
        finish(p)


def as_nobody(sock, request):
    """What the engine answers a client of uid 65534."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setuid(65534)
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(30)
            s.connect(sock)
            s.sendall(request)
            os.write(w, s.makefile("rb").readline())
        except Exception as e:
            os.write(w, ("%s: %s" % (type(e).__name__, e)).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        out = f.read()
    os.waitpid(pid, 0)
    check(out.startswith(b"{"), "uid 65534 got no answer: %s" % out)
    return out


@lib.test
def another_users_client_is_refused():
    check(os.geteuid() == 0, "this test needs root, to connect as another user (uid 65534); "
          "run the suite as root, as CI does")
    d = lib.tmpdir()
    os.chmod(d, 0o755)
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")
    p = start(wd, d)
    sock = os.path.join(wd, "engine", "control.sock")
    try:
        lib.wait_for(lambda: os.path.exists(sock) or p.poll() is not None, "the socket")
        check(p.poll() is None, "engine exited: %s" % said(d))
        # Root is let in (and the engine listens: its socket's mode is set).
        rc, out, err = hypotop("prio", wd, "n0000", "4")
        check(rc == 0, "root refused: %s" % err)
        # As if the file's mode let everybody in: the engine itself says no.
        os.chmod(sock, 0o666)
        answer = json.loads(as_nobody(sock, b'{"op":"prio","node":"n0000","priority":9}\n'))
        check(answer["ok"] is False and "uid 65534" in answer["error"] and
              "uid 0" in answer["error"], "answer: %s" % answer)
    finally:
        p.send_signal(signal.SIGTERM)
        finish(p)
    check(lib.status_json(wd)["queue"][0]["priority"] == 4, "priority: root's change lost")


@lib.test
def an_engine_waits_for_a_queue_commands_lock():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    check(hypotop("pause", wd, "n0000")[0] == 0, "pause")
    fd = os.open(os.path.join(wd, "engine", "lock"), os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as a queue command holds it
        p = start(wd, d)
        try:
            p.wait(timeout=0.5)  # the command's moment
        except subprocess.TimeoutExpired:
            pass
        early = p.poll()
    finally:
        os.close(fd)
    try:
        check(early is None, "engine exited %s while a command held the lock: %s" %
              (early, said(d)))
        sock = os.path.join(wd, "engine", "control.sock")
        lib.wait_for(lambda: os.path.exists(sock) or p.poll() is not None, "the socket")
        check(p.poll() is None, "engine exited: %s" % said(d))
        # An engine's lock is refused at once, naming it.
        t0 = time.monotonic()
        rc, out, err = hypotop("run", "--headless", wd)
        check(rc == 2 and ("in use by engine pid %d" % p.pid) in err,
              "second engine: %d %s" % (rc, err))
        check(time.monotonic() - t0 < 3, "the second engine waited %.1f s" %
              (time.monotonic() - t0))
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
        rc = finish(p)
    check(rc == 0, "engine exit %d: %s" % (rc, said(d)))


@lib.test
def something_in_the_sockets_place_is_refused_before_start():
    for kind in ("folder", "file"):
        d = lib.tmpdir()
        wd = lib.make_workdir(d)
        sock = os.path.join(wd, "engine", "control.sock")
        if kind == "folder":
            os.mkdir(sock)
            with open(os.path.join(sock, "keep"), "w") as f:
                f.write("mine")
        else:
            with open(sock, "w") as f:
                f.write("mine")
        before = lib.snapshot(os.path.join(wd, "engine"))
        rc, out, err = hypotop("run", "--headless", wd)
        check(rc == 2, "%s: exit %d: %s" % (kind, rc, err))
        check(sock in err and "a %s" % kind in err and "move it away or remove it" in err,
              "%s: message: %s" % (kind, err))
        check(not os.path.exists(os.path.join(wd, "runs", "n0000")), "%s: a job ran" % kind)
        with open(os.path.join(wd, "engine", "engine_state.json")) as f:
            state = json.load(f)["state"]
        check(state == "created", "%s: engine state %s" % (kind, state))
        after = lib.snapshot(os.path.join(wd, "engine"))
        check({k: v for k, v in after.items() if k.startswith("control.sock")} ==
              {k: v for k, v in before.items() if k.startswith("control.sock")},
              "%s: control.sock changed" % kind)


lib.finish()
