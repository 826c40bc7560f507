"""A full disk: the workdir on a small tmpfs of its own (mounted here, which
needs root) fills up while an engine runs jobs. The engine stops with a
message that names the file and says to free space; nothing it wrote is
torn or doubled, and once space is freed the workdir loads and the loop
carries on, every node recorded before the disk filled there once."""

import errno
import json
import os
import re
import resource
import signal
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

TRAIN = "import json\nprint('val_loss=%g' % json.load(open('hparams.json'))['lr'])\n"


def mount_small_disk(d):
    mnt = os.path.join(d, "disk")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                       capture_output=True, text=True)
    check(r.returncode == 0, "cannot mount a 2 MB tmpfs at %s (this test needs root): %s"
          % (mnt, r.stderr.strip()))
    return mnt


def unmount(mnt):
    subprocess.run(["umount", "-l", mnt], capture_output=True)


def recorded_nodes(wd):
    """Every node the files hold: tree.json, then the journal's whole lines."""
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        t = json.load(f)
    nodes = {n["id"]: n for n in t["nodes"]}
    with open(os.path.join(wd, "engine", "journal.jsonl")) as f:
        lines = f.read().split("\n")[1:-1]  # the header; an unfinished last line
    for line in lines:
        ev = json.loads(line)
        if ev["seq"] > t["seq"] and "node" in ev:
            nodes[ev["node"]["id"]] = ev["node"]
    return nodes


def fill(mnt, leave, name="filler"):
    """A file that leaves `leave` bytes free, or none."""
    st = os.statvfs(mnt)
    left = st.f_bavail * st.f_frsize - leave
    with open(os.path.join(mnt, name), "wb", buffering=0) as f:
        while left > 0:
            try:
                left -= f.write(b"x" * min(left, 65536))
            except OSError as e:
                check(e.errno == errno.ENOSPC, "filling the disk: %s" % e)
                break


def partials(wd):
    return [os.path.join(b, f) for b, _, fs in os.walk(wd) for f in fs if ".partial" in f]


@lib.test
def a_full_disk_stops_the_engine_and_loses_nothing():
    d = lib.tmpdir()
    mnt = mount_small_disk(d)
    try:
        src = lib.make_repo(d, files={"train.py": TRAIN, "hparams.json": '{"lr": 0.01}\n'})
        cfg = {"source_dir": src, "launch": "python3 train.py", "metric": "val_loss",
               "goal": "min", "max_iterations": 500, "patience": 1000, "max_concurrency": 2,
               "search_space": {"file": "hparams.json",
                                "params": {"lr": {"log_uniform": [0.001, 0.3]}}}}
        wd = lib.init_config(mnt, cfg)
        p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        try:
            lib.wait_for(lambda: lib.status_json(wd)["counts"]["completed"] >= 3,
                         "three completed nodes", timeout=60)
            before = recorded_nodes(wd)
            fill(mnt, 16384)
            err = p.communicate(timeout=120)[1]
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        check(p.returncode == 1, "engine exit %d on a full disk: %s" % (p.returncode, err[-1500:]))
        check("No space left on device" in err and "free some space" in err
              and "run hypotop again" in err, "no clear message: %s" % err[-1500:])
        check(any(wd in line and "No space" in line for line in err.splitlines()),
              "the message names no file of the workdir: %s" % err[-1500:])
        check(not partials(wd), "half-written files left: %s" % partials(wd))

        # A queue command on the full disk is refused, and changes nothing. Its
        # line is longer than a page, so that it cannot fit in the journal's
        # last page however full that is.
        fill(mnt, 0, "filler2")
        snap = lib.snapshot(wd)
        rc, out, qerr = hypotop("add", wd, "n0000", "a hypothesis " + "x" * 8192)
        check(rc != 0 and "journal.jsonl: write: No space left on device" in qerr
              and "free some space" in qerr, "add on a full disk: %d %r" % (rc, qerr))
        now = lib.snapshot(wd)
        # A job outlives the engine and goes on writing its own log (more
        # often now that slots stay busy): that is not the add's doing.
        changed = sorted(k for k in set(snap) | set(now) if snap.get(k) != now.get(k)
                         and not re.fullmatch(r"runs/n[0-9]+/log", k))
        check(not changed, "a refused add changed %s" % changed)
        os.unlink(os.path.join(mnt, "filler2"))

        os.unlink(os.path.join(mnt, "filler"))
        rc, out, serr = hypotop("status", wd, "--json")
        check(rc == 0, "status after space was freed: %s" % serr)
        after = recorded_nodes(wd)
        for nid, n in before.items():
            check(nid in after and after[nid]["name"] == n["name"]
                  and after[nid]["parent"] == n["parent"],
                  "%s (%s) lost or changed: %s" % (nid, n["name"], after.get(nid)))
            if n["status"] == "completed":
                check(after[nid]["status"] == "completed", "%s is %s" % (nid, after[nid]["status"]))

        # The loop carries on: a few more rounds, to a clean stop.
        with open(os.path.join(wd, "config.json")) as f:
            c = json.load(f)
        c["max_iterations"] = lib.status_json(wd)["iteration"] + 2
        with open(os.path.join(wd, "config.json"), "w") as f:
            json.dump(c, f)
        r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                           timeout=300)
        check(r.returncode == 0, "run after space was freed: %d %s"
              % (r.returncode, r.stderr[-1500:]))
        with open(os.path.join(wd, "engine", "tree.json")) as f:
            final = json.load(f)["nodes"]
        ids = [n["id"] for n in final]
        check(len(ids) == len(set(ids)), "a node is in tree.json twice")
        final = {n["id"]: n for n in final}
        check(len(final) > len(after), "no new nodes after the restart: %s" % r.stderr[-1500:])
        for nid, n in before.items():
            check(nid in final and final[nid]["name"] == n["name"], "%s lost" % nid)
        check(all(n["status"] in ("completed", "failed") for n in final.values()),
              "unfinished: %s" % [(i, n["status"]) for i, n in final.items()
                                  if n["status"] not in ("completed", "failed")])
    finally:
        unmount(mnt)


def small_files():
    """In the child, before exec: files may not grow past 2050 bytes (a
    full disk, for a file of that size), and a write past that fails
    instead of killing the process."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2050, resource.RLIM_INFINITY))


@lib.test
def a_change_recorded_before_its_checkpoint_failed_is_done_once():
    # The add's journal line fits (about 1900 bytes with the header);
    # tree.json, with the baseline too (about 2250), does not. The add is
    # recorded, so it is done, and said so: repeating it would add it twice.
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    hyp = "a hypothesis " + "y" * 1500
    r = subprocess.run([lib.BIN, "add", wd, "n0000", hyp], capture_output=True, text=True,
                       preexec_fn=small_files, timeout=60)
    check(r.returncode == 0 and r.stdout.startswith("n0001 queued"),
          "add: %d %r %r" % (r.returncode, r.stdout, r.stderr))
    check("tree.json" in r.stderr and "File too large" in r.stderr
          and "recorded" in r.stderr, "the failed checkpoint is not said: %r" % r.stderr)
    check(not partials(wd), "half-written files left: %s" % partials(wd))
    s = lib.status_json(wd)
    check(s["total"] == 2 and [q["id"] for q in s["queue"]] == ["n0000", "n0001"],
          "status: %s" % s)
    # The next command folds it into a checkpoint.
    rc, out, err = hypotop("pause", wd, "n0001")
    check(rc == 0, "pause: %s" % err)
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        nodes = json.load(f)["nodes"]
    check([n["id"] for n in nodes] == ["n0000", "n0001"] and nodes[1]["hypothesis"] == hyp,
          "tree.json: %s" % [n["id"] for n in nodes])


lib.finish()
