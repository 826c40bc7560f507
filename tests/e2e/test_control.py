"""End to end: an engine started while a queue command holds the lock."""

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


lib.finish()
