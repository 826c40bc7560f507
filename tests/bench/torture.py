"""torture.py: SIGKILL the engine at random moments while queue commands
hit the workdir, then fill the disk under it (SPEC §4, §12).

    python3 tests/bench/torture.py            (TORTURE_KILLS, default 20)
    TORTURE_KILLS=1000 python3 tests/bench/torture.py

Kills: `hypotop run --headless` is started, SIGKILLed after a random
delay and started again, TORTURE_KILLS times, while two threads run queue
commands against the same workdir: one adds hypotheses (each with its own
text), the other pauses, resumes, cancels and re-prioritises the nodes it
was told about. Every job's launch command appends its node id to a file
outside the workdir. At the end the engine runs undisturbed until the
queue is done, and the workdir is read back:
  - every acknowledged add is a node, exactly once, with the id it was
    given; no hypothesis is a node twice, acknowledged or not;
  - no node's job was launched twice (a retry or a noise repeat is a node
    of its own, so a node id twice in the file is never deliberate);
  - an acknowledged cancel stays cancelled;
  - the workdir loads after every kill.

Disk full: a workdir on a 2 MB tmpfs (needs root: mount -t tmpfs), the
tmpfs filled while jobs run and adds come in; the engine should stop with
a clear message. Space is freed, the engine runs again, and nothing
acknowledged may be lost.

Prints figures and one line per failure ("torture: FAIL ..."); exits 1
when any check failed (TORTURE_KEEP=1 keeps the folder to look at).
Timings are never judged."""

import collections
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("HYPOTOP_BIN", os.path.join(ROOT, "hypotop"))
KILLS = int(os.environ.get("TORTURE_KILLS", "20"))
SEED = int(os.environ.get("TORTURE_SEED", "20261206"))
FAILS = []


def fail(what):
    FAILS.append(what)
    print("torture: FAIL %s" % what, flush=True)


def hypotop(*args, timeout=120):
    r = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def make_repo(path):
    os.makedirs(path)
    with open(os.path.join(path, "train.py"), "w") as f:
        f.write("print('val_loss=1')\n")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    for cmd in (["git", "init", "-q"], ["git", "add", "."], ["git", "commit", "-qm", "init"]):
        subprocess.run(cmd, cwd=path, env=env, check=True, capture_output=True)


def init(wd, src, launches, *extra):
    # The launch line is the job's first act: one line per start of the command.
    launch = "echo $HYPOTOP_NODE >> %s; sleep 0.1; echo val_loss=1" % launches
    rc, _, err = hypotop("init", wd, "--source-dir", src, "--launch", launch,
                         "--metric", "val_loss", "--max-iterations", "0",
                         "--max-concurrency", "2", *extra)
    if rc != 0:
        raise SystemExit("torture: hypotop init failed: %s" % err)


def read_nodes(wd):
    """The workdir's nodes by id: engine/tree.json and the journal after it,
    read independently of hypotop (a torn last line is ignored)."""
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        tree = json.load(f)
    nodes = {n["id"]: n for n in tree["nodes"]}
    seq = tree["seq"]
    try:
        with open(os.path.join(wd, "engine", "journal.jsonl"), "rb") as f:
            lines = f.read().split(b"\n")
    except FileNotFoundError:
        lines = []
    for line in lines[1:]:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get("seq", 0) > seq and "node" in ev:
            nodes[ev["node"]["id"]] = ev["node"]
    return nodes


def launch_counts(path):
    try:
        with open(path) as f:
            return collections.Counter(line.strip() for line in f if line.strip())
    except FileNotFoundError:
        return collections.Counter()


class Actors:
    """The queue commands that run while the engine is killed and restarted."""

    def __init__(self, wd, rng, tag, pace=0.05):
        self.wd, self.rng, self.tag, self.pace = wd, rng, tag, pace
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = {}        # hypothesis -> node id
        self.refused_adds = 0
        self.cancelled = set()
        self.ops = collections.Counter()
        self.errors = collections.Counter()  # first words of refusals, for the figures
        self.k = 0

    def add_one(self):
        self.k += 1
        hyp = "%s add %d" % (self.tag, self.k)
        try:
            rc, out, err = hypotop("add", self.wd, "n0000", hyp, timeout=60)
        except subprocess.TimeoutExpired:
            rc, out, err = -1, "", "timed out"
        m = re.match(r"(n\d+) queued", out)
        with self.lock:
            if rc == 0 and m:
                self.acked[hyp] = m.group(1)
            else:
                self.refused_adds += 1
                last = err.strip().splitlines()[-1] if err.strip() else "no message"
                self.errors[last.replace(self.wd, "WD")[:100]] += 1

    def adder(self):
        while not self.stop.is_set():
            self.add_one()
            time.sleep(self.rng.uniform(0, 2 * self.pace))

    def operator(self):
        while not self.stop.is_set():
            time.sleep(self.rng.uniform(0, 2 * self.pace))
            with self.lock:
                ids = sorted(set(self.acked.values()))
            if not ids:
                continue
            node = self.rng.choice(ids)
            op = self.rng.choice(["pause", "pause", "resume", "resume", "resume", "cancel",
                                  "prio"])
            args = [op, self.wd, node] + ([str(self.rng.randint(-5, 5))] if op == "prio" else [])
            try:
                rc, _, _ = hypotop(*args, timeout=60)
            except subprocess.TimeoutExpired:
                rc = -1
            with self.lock:
                self.ops[(op, rc == 0)] += 1
                if op == "cancel" and rc == 0:
                    self.cancelled.add(node)

    def start(self):
        self.threads = [threading.Thread(target=self.adder), threading.Thread(target=self.operator)]
        for t in self.threads:
            t.start()

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def engine(wd, log, timeout=None):
    """Start the engine; with a timeout, wait for it (killing it at the end)."""
    with open(log, "a") as f:
        f.write("---- engine start\n")
    err = open(log, "a")
    p = subprocess.Popen([BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL, stderr=err)
    err.close()
    if timeout is not None:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.send_signal(signal.SIGKILL)
            p.wait()
    return p


def busy(log):
    """Whether the engine's last start found a queue command holding the lock."""
    with open(log, errors="replace") as f:
        last = f.read().rsplit("---- engine start\n", 1)[-1]
    # The holder named may be a stale one: a queue command does not say who it is.
    return ": in use by " in last


def unfinished(wd):
    return [n for n in read_nodes(wd).values()
            if n["status"] not in ("completed", "failed", "cancelled")]


def finish(wd, log, deadline_s):
    """Run the engine, undisturbed, until every node is final, resuming the
    paused ones (a stopped job is resumed through the running engine)."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        p = engine(wd, log)
        while p.poll() is None and time.monotonic() < deadline:
            for n in unfinished(wd):
                if n["status"] == "paused":
                    hypotop("resume", wd, n["id"])
            time.sleep(0.2)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            return False
        if p.returncode == 2 and busy(log):
            continue
        if p.returncode != 0:
            return False
        if not unfinished(wd):
            return True
        for n in unfinished(wd):
            hypotop("resume", wd, n["id"])
    return False


def check_result(what, wd, actors, launches, log):
    """The checks shared by both parts; returns the nodes."""
    nodes = read_nodes(wd)
    by_hyp = collections.defaultdict(list)
    for n in nodes.values():
        by_hyp[n.get("hypothesis")].append(n["id"])
    lost = [h for h in actors.acked if h not in by_hyp]
    moved = [h for h, nid in actors.acked.items() if h in by_hyp and by_hyp[h] != [nid]]
    twice = {h: ids for h, ids in by_hyp.items() if len(ids) > 1}
    if lost:
        fail("%s: %d acknowledged adds are not nodes: %s" % (what, len(lost), lost[:5]))
    if moved:
        fail("%s: %d acknowledged adds are not (only) the node they were given: %s"
             % (what, len(moved), [(h, actors.acked[h], by_hyp[h]) for h in moved[:5]]))
    if twice:
        fail("%s: %d hypotheses are nodes more than once: %s"
             % (what, len(twice), list(twice.items())[:5]))
    counts = launch_counts(launches)
    again = {k: v for k, v in counts.items() if v > 1}
    if again:
        with open(log, errors="replace") as f:
            text = f.read()
        why = {k: re.findall(r"%s: [^\n]*" % k, text)[-3:] for k in list(again)[:3]}
        fail("%s: %d nodes launched more than once: %s; the engine said: %s"
             % (what, len(again), sorted(again.items())[:10], why))
    unknown = [k for k in counts if k not in nodes]
    if unknown:
        fail("%s: launches of nodes the workdir does not have: %s" % (what, unknown[:5]))
    kept = [nid for nid in actors.cancelled if nodes.get(nid, {}).get("status") != "cancelled"]
    if kept:
        fail("%s: acknowledged cancels not kept: %s"
             % (what, [(k, nodes.get(k, {}).get("status")) for k in kept[:5]]))
    return nodes, counts


def kills_part(base):
    rng = random.Random(SEED)
    src, wd, launches = (os.path.join(base, x) for x in ("src", "wd", "launches"))
    log = os.path.join(base, "engine.log")
    make_repo(src)
    init(wd, src, launches)
    actors = Actors(wd, random.Random(SEED + 1), "torture")
    actors.start()
    kills = ended = unloadable = refused = 0
    t0 = time.monotonic()
    try:
        while kills < KILLS:
            p = engine(wd, log)
            try:
                p.wait(timeout=rng.uniform(0.005, 1.5))
                if p.returncode == 2 and busy(log):
                    refused += 1  # a queue command held the lock: start again
                    continue
                ended += 1  # the queue ran dry: start it again
                if p.returncode != 0:
                    fail("kill %d: the engine exited %d by itself (%s)"
                         % (kills, p.returncode, log))
                    break
                time.sleep(0.05)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
                kills += 1
            rc, _, err = hypotop("status", wd, "--json")
            if rc != 0:
                unloadable += 1
                fail("kill %d: the workdir does not load: %s" % (kills, err.strip()[:300]))
                break
    finally:
        actors.join()
    secs = time.monotonic() - t0
    done = finish(wd, log, 600)
    if not done:
        fail("kills: the final undisturbed run did not finish the queue (%s)" % log)
    nodes, counts = check_result("kills", wd, actors, launches, log)
    st = collections.Counter(n["status"] for n in nodes.values())
    ok_ops = sum(v for (op, ok), v in actors.ops.items() if ok)
    print("torture: %d kills in %.0f s (%d engine runs ended by themselves, %d found the"
          " workdir busy), %d nodes: %s" % (kills, secs, ended, refused, len(nodes), dict(st)))
    print("torture: adds acknowledged %d, refused %d (%.1f %% of tries); other queue commands"
          " acknowledged %d of %d; launches %d, of %d distinct nodes"
          % (len(actors.acked), actors.refused_adds,
             100.0 * actors.refused_adds / max(1, len(actors.acked) + actors.refused_adds),
             ok_ops, sum(actors.ops.values()), sum(counts.values()), len(counts)))
    if actors.errors:
        print("torture: refused adds said: %s" % dict(actors.errors.most_common(4)))
    print("torture: lost adds %d, duplicated nodes %d, launched twice %d, unloadable after"
          " a kill %d"
          % (len([h for h in actors.acked if h not in {n.get("hypothesis") for n in nodes.values()}]),
             len(nodes) - len({n.get("hypothesis") for n in nodes.values()}),
             len([k for k, v in counts.items() if v > 1]), unloadable))


def disk_full_part(base):
    if os.geteuid() != 0:
        print("torture: disk full: skipped: mounting a tmpfs needs root")
        return
    mnt = os.path.join(base, "small")
    os.makedirs(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("torture: disk full: skipped: mount -t tmpfs failed: %s" % r.stderr.strip())
        return
    try:
        disk_full(base, mnt)
    finally:
        subprocess.run(["umount", "-l", mnt], capture_output=True)


def fill(mnt):
    """Fill the file system: big writes first, then single bytes."""
    path = os.path.join(mnt, "filler")
    n = 0
    with open(path, "ab", buffering=0) as f:
        for size in (65536, 4096, 512, 1):
            while True:
                try:
                    n += f.write(b"x" * size)
                except OSError:
                    break
    return path, n


def disk_full(base, mnt):
    src, wd, launches = (os.path.join(base, "full-src"), os.path.join(mnt, "wd"),
                         os.path.join(base, "full-launches"))
    log = os.path.join(base, "full-engine.log")
    make_repo(src)
    init(wd, src, launches)
    actors = Actors(wd, random.Random(SEED + 2), "diskfull", pace=0.02)
    for _ in range(20):
        actors.add_one()
    acked_before = len(actors.acked)
    # The engine runs with adds coming in; the disk fills under it.
    p = engine(wd, log)
    actors.start()
    # Fill once jobs run: the engine is then writing logs and the journal.
    t0 = time.monotonic()
    while sum(launch_counts(launches).values()) < 2 and time.monotonic() - t0 < 60:
        time.sleep(0.02)
    filler, n = fill(mnt)
    try:
        p.wait(timeout=20)
        stopped = "exited %d" % p.returncode
    except subprocess.TimeoutExpired:
        stopped = "still running 20 s after the disk filled"
        p.send_signal(signal.SIGKILL)
        p.wait()
    actors.join()
    with open(log, errors="replace") as f:
        tail = [ln for ln in f.read().splitlines() if ln.strip()][-3:]
    said_space = any("space" in ln.lower() for ln in tail)
    print("torture: disk full: %d bytes filled the tmpfs; the engine %s; its last words: %s"
          % (n, stopped, tail))
    if not said_space:
        fail("disk full: the engine's last words do not say the disk is full: %s" % tail)
    rc, _, err = hypotop("add", wd, "n0000", "while full")
    print("torture: disk full: 'hypotop add' while full: exit %d: %s" % (rc, err.strip()[:300]))
    # Acknowledged while full is right only if its journal line landed: then it
    # must be a node, once, when space is back.
    acked_while_full = rc == 0
    os.unlink(filler)
    rc, _, err = hypotop("status", wd, "--json")
    if rc != 0:
        fail("disk full: after space was freed the workdir does not load: %s" % err.strip()[:400])
        m = re.search(r"journal\.jsonl:(\d+): ", err)
        if m:
            with open(os.path.join(wd, "engine", "journal.jsonl"), "rb") as f:
                lines = f.read().split(b"\n")
            k = int(m.group(1))
            for i in range(max(1, k - 1), min(len(lines), k + 1) + 1):
                line = lines[i - 1]
                print("torture: disk full: journal line %d (%d bytes, %d event starts): %s ... %s"
                      % (i, len(line), line.count(b'{"seq":'), line[:48].decode(errors="replace"),
                         line[-24:].decode(errors="replace")))
        return
    if not finish(wd, log, 300):
        fail("disk full: after space was freed the engine did not finish the queue (%s)" % log)
    nodes, counts = check_result("disk full", wd, actors, launches, log)
    if acked_while_full:
        n = sum(1 for x in nodes.values() if x.get("hypothesis") == "while full")
        if n != 1:
            fail("disk full: the add acknowledged while the disk was full is %d node(s)" % n)
    print("torture: disk full: adds acknowledged %d (%d before the engine started), "
          "refused %d; %d nodes; %d launches of %d nodes"
          % (len(actors.acked), acked_before, actors.refused_adds, len(nodes),
             sum(counts.values()), len(counts)))


def main():
    if not os.access(BIN, os.X_OK):
        raise SystemExit("torture: %s is not built (make)" % BIN)
    base = tempfile.mkdtemp(prefix="hypotop-torture.")
    try:
        print("== torture (SPEC §4, §12): %d SIGKILLs of the engine under queue commands"
              % KILLS, flush=True)
        kills_part(base)
        print("== torture: disk full", flush=True)
        disk_full_part(base)
    finally:
        if FAILS and os.environ.get("TORTURE_KEEP"):
            print("torture: kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    print("torture: %s" % ("%d check(s) failed" % len(FAILS) if FAILS else "every check held"))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
