"""ssh_poll.py: the ssh executor against OpenSSH's client, on a real
sshd on 127.0.0.1 (tests/tools/sshd.sh; root only), logging in as its test
user. Three figures, each printed with its ratios; never fails on a figure.

1. Reading a remote file 100 times over one sshconn connection
   (tests/tools/ssh_reads), by SFTP and by `cat` commands, against 100 runs
   of `ssh HOST cat FILE` (a new connection each, no ControlMaster).
2. Polling 100 running jobs on one worker (issue 17): 100 real detached
   jobs started by the executor's launch script (tests/tools/ssh_bench),
   then one poll round as the executor makes it (one poll script for all
   jobs, then each log read from where its mirror ends; timed once with
   a line added to every log, once with none) against 100 runs of
   `ssh HOST cat RUN/log` and against one `ssh HOST POLL-SCRIPT`.
   BENCH_SSH_REPS rounds of each (3), the median taken. Every job is
   killed at the end.
3. Shipping a one-line change of a ~50 MB repository (BENCH_SHIP_MB):
   its first commit shipped in full, then a commit that changes one line
   as what the worker lacks (bundle, put, fetch and checkout), beside
   the repository's size and one `scp -r` of its work tree.

BENCH_SSH_N: reads and jobs (100)."""

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import lib  # noqa: E402

N = int(os.environ.get("BENCH_SSH_N", "100"))
REPS = int(os.environ.get("BENCH_SSH_REPS", "3"))
SHIP_MB = int(os.environ.get("BENCH_SHIP_MB", "50"))
TOOL = os.path.join(ROOT, "build", "tools", "ssh_bench")


def openssh(sshd, *cmd):
    """OpenSSH's client as a poller would run it: a new connection, no ControlMaster."""
    return ["ssh", "-i", sshd.key, "-p", str(sshd.port), "-o", "BatchMode=yes",
            "-o", "UserKnownHostsFile=" + sshd.known_hosts, "-o", "ControlMaster=no",
            "-o", "ControlPath=none", "%s@127.0.0.1" % sshd.user] + list(cmd)


def timed_ms(fn):
    t0 = time.monotonic()
    fn()
    return (time.monotonic() - t0) * 1000


def median(values):
    v = sorted(values)
    return v[(len(v) - 1) // 2]


def words(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def bench_tool(sshd, workspace, mode, *args):
    """ssh_bench MODE against sshd; its output lines. Fails when it does."""
    r = subprocess.run([TOOL, mode, "127.0.0.1", str(sshd.port), sshd.user, sshd.key,
                        sshd.known_hosts, workspace] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=600)
    lib.check(r.returncode == 0, "ssh_bench %s failed: %s" % (mode, r.stderr.strip()))
    return r.stdout.splitlines()


def commit(repo, *args):
    """git commit ARGS in repo; the new commit's id."""
    lib.sh("git", "-C", repo, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", *args)
    return lib.sh("git", "-C", repo, "rev-parse", "HEAD").stdout.strip()


def repo(files):
    """A git repository whose first commit holds files {name: bytes}; its path and commit."""
    d = os.path.join(lib.tmpdir(), "src")
    os.makedirs(d)
    lib.sh("git", "init", "-q", d)
    with open(os.path.join(d, "train.py"), "w") as f:
        f.write("lr = 0.1\nprint('val_loss=1')\n")
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    lib.sh("git", "-C", d, "add", ".")
    return d, commit(d, "-m", "init")


def reads(sshd):
    print("== polling one worker over SSH: %d reads of a job's state file" % N)
    path = os.path.join(sshd.dir, "state.json")
    with open(path, "w") as f:
        f.write('{"pid": 12345, "start": 1733480000, "exit": null, "log_size": 65536}\n')
    os.chmod(path, 0o644)
    ssh = openssh(sshd, "cat", path)
    openssh_ms = timed_ms(lambda: [subprocess.run(ssh, check=True, capture_output=True)
                                   for _ in range(N)])
    tool = os.path.join(ROOT, "build", "tools", "ssh_reads")
    r = subprocess.run([tool, "127.0.0.1", str(sshd.port), sshd.user, sshd.key,
                        sshd.known_hosts, path, str(N)],
                       capture_output=True, text=True, timeout=600)
    lib.check(r.returncode == 0, "ssh_reads failed: %s" % r.stderr.strip())
    f = words(r.stdout)
    read_ms, exec_ms = float(f["read_ms"]), float(f["exec_ms"])
    print("OpenSSH, %d x 'ssh HOST cat FILE':        %.0f ms (%.1f ms each)"
          % (N, openssh_ms, openssh_ms / N))
    print("sshconn, one connection (made in %s ms):" % f["connect_ms"])
    print("  %d SFTP reads:                         %.0f ms (%.1f ms each)"
          % (N, read_ms, read_ms / N))
    print("  %d 'cat FILE' commands:                %.0f ms (%.1f ms each)"
          % (N, exec_ms, exec_ms / N))
    print("ratio: SFTP reads %.1fx, commands %.1fx faster than OpenSSH's client"
          % (openssh_ms / max(read_ms, 1), openssh_ms / max(exec_ms, 1)))


def poll(sshd):
    print("== polling %d running jobs on one worker: one hypotop poll round, %d rounds each"
          % (N, REPS))
    workspace = sshd.folder("ws-poll")
    src, c1 = repo({})
    try:
        up = bench_tool(sshd, workspace, "launch", src, c1, N)
        print("%d jobs started by the launch script (%s)" % (N, up[-1]))
        runs = [os.path.join(workspace, "runs", "bench", "r%03d" % i) for i in range(N)]
        script = "\n".join(bench_tool(sshd, workspace, "script", N)) + "\n"
        grown, still, cat, one = [], [], [], []
        for _ in range(REPS):
            for line in bench_tool(sshd, workspace, "poll", N, 1):
                w = words(line)
                if "round" in w:
                    lib.check(w["alive"] == str(N), "a job ended under the poll: %s" % line)
                    (grown if w["grown"] == "1" else still).append(float(w["ms"]))
            cat.append(timed_ms(lambda: [subprocess.run(openssh(sshd, "cat", r + "/log"),
                                                        check=True, capture_output=True)
                                         for r in runs]))
            out = []
            one.append(timed_ms(lambda: out.append(subprocess.run(
                openssh(sshd, script), check=True, capture_output=True, text=True).stdout)))
            lib.check(out[0].count("\nJ ") + out[0].startswith("J ") == N,
                      "ssh HOST POLL-SCRIPT did not print a line a job: %r" % out[0][:200])
    finally:
        try:
            print("every job killed: %s" % bench_tool(sshd, workspace, "kill", N)[-1])
        except lib.Fail as e:  # said, not in the way of what failed before
            print("ssh_poll: %s" % e)
    g, s, c, o = median(grown), median(still), median(cat), median(one)
    print("hypotop, one connection: a poll round, every log grown: %7.1f ms (%d reads after it)"
          % (g, N))
    print("hypotop, one connection: a poll round, no log grown:    %7.1f ms" % s)
    print("OpenSSH, %d x 'ssh HOST cat RUN/log':                  %7.1f ms" % (N, c))
    print("OpenSSH, one 'ssh HOST POLL-SCRIPT':                     %7.1f ms" % o)
    print("ratio: a hypotop poll round %.1fx faster than %d x ssh cat (%.1fx with every log "
          "read; target >= 10); %.1fx (%.1fx) faster than one ssh running the poll script"
          % (c / max(s, 0.1), N, c / max(g, 0.1), o / max(s, 0.1), o / max(g, 0.1)))


def ship(sshd):
    print("== shipping a one-line change of a %d MB repository" % SHIP_MB)
    files = {"data%02d.bin" % i: os.urandom(1 << 20) for i in range(SHIP_MB)}
    src, c1 = repo(files)
    with open(os.path.join(src, "train.py"), "w") as f:
        f.write("lr = 0.2\nprint('val_loss=1')\n")
    c2 = commit(src, "-am", "lr 0.2")
    size = sum(os.path.getsize(os.path.join(src, n)) for n in os.listdir(src) if n != ".git")
    workspace = sshd.folder("ws-ship")
    full, change = [words(line) for line in bench_tool(sshd, workspace, "ship", src, c1, c2)[1:]]
    tree = os.path.join(lib.tmpdir(), "tree")
    os.makedirs(tree)
    lib.sh("sh", "-c", "git -C '%s' archive %s | tar -x -C '%s'" % (src, c2, tree))
    dest = sshd.folder("ws-scp")
    scp = ["scp", "-q", "-r", "-i", sshd.key, "-P", str(sshd.port), "-o", "BatchMode=yes",
           "-o", "UserKnownHostsFile=" + sshd.known_hosts, tree,
           "%s@127.0.0.1:%s/" % (sshd.user, dest)]
    scp_ms = timed_ms(lambda: subprocess.run(scp, check=True, capture_output=True))
    for name, w in (("first commit, in full", full), ("one-line change", change)):
        print("%-22s %10s bytes  %7.0f ms (bundle %s, put %s, fetch+checkout+start %s ms)"
              % (name, w["bytes"], float(w["total_ms"]), w["bundle_ms"], w["put_ms"],
                 w["launch_ms"]))
    print("naive copy:            %10d bytes  %7.0f ms (scp -r of the work tree)" % (size, scp_ms))
    print("ratio: the one-line change sends %.0fx fewer bytes than the work tree, %.1fx faster "
          "than scp -r; %.1fx faster than the full ship"
          % (size / max(int(change["bytes"]), 1), scp_ms / max(float(change["total_ms"]), 0.1),
             float(full["total_ms"]) / max(float(change["total_ms"]), 0.1)))


def main():
    with lib.Sshd() as sshd:
        for part in (reads, poll, ship):
            try:
                part(sshd)
            except (lib.Fail, subprocess.SubprocessError) as e:
                print("ssh_poll: %s: %s" % (part.__name__, e))
                return 1
            print()
    return 0


if __name__ == "__main__":
    try:
        rc = main()
    except lib.Fail as e:
        print("ssh_poll: %s" % e)
        rc = 1
    for d in lib._tmp:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
