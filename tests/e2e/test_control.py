"""End to end: an engine started while a queue command holds the lock, and
something other than a socket in the control socket's place."""

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


def finish(p, timeout=120):
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise lib.Fail("the engine did not finish within %d s" % timeout)


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
