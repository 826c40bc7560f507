"""slurm_poll.py: the Slurm executor against Slurm's own commands, on real
one-node Slurms (tests/tools/slurm.sh, lib.Slurm; root only). Two figures,
each printed with its ratio; never fails on a figure, and exits 3 saying
why when Slurm cannot start.

1. Submitting N jobs: hypotop's launch scripts (tests/tools/slurm_bench),
   run one after another by /bin/sh as a Slurm worker on this machine runs
   them, against a shell loop of `sbatch --parsable JOB.sh` over N plain
   scripts. hypotop's launch does more a job: the node's work tree of the
   commit (shipped once, as a bundle of a small repository), its run folder
   and job.sh, launched/ made before sbatch (the once-only guard) and the
   job id written after. Both submit with --hold, so that no job runs
   while the figures are taken; each to a Slurm of its own (so that the
   poll below lists hypotop's jobs and no more), in BENCH_SLURM_BLOCKS
   (4) interleaved blocks, so that the load of the machine falls on both
   alike; jobs/s of each.
2. Polling hypotop's N submitted jobs, pending in Slurm's queue, each with
   a run folder (launched/, slurm_id, a line of log): one hypotop poll
   (remote_slurm_poll_script run by /bin/sh: one squeue for all, then the
   run folders; its output parsed) against N `scontrol show job -o ID`
   calls in a shell loop, and beside them the one squeue alone.
   BENCH_SLURM_REPS rounds (3), the median taken. The figure is void
   (and said so) when the poll did not see every job pending.

BENCH_SLURM_N: jobs (200)."""

import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import lib  # noqa: E402

N = int(os.environ.get("BENCH_SLURM_N", "200"))
REPS = int(os.environ.get("BENCH_SLURM_REPS", "3"))
BLOCKS = max(1, min(N, int(os.environ.get("BENCH_SLURM_BLOCKS", "4"))))
TOOL = os.path.join(ROOT, "build", "tools", "slurm_bench")
SLURM_DOWN = 3


def median(values):
    v = sorted(values)
    return v[(len(v) - 1) // 2]


def words(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def timed_sh(slurm, script, cwd=None):
    """sh -c script against the cluster; (ms, stdout). Fails when it does."""
    t0 = time.monotonic()
    r = subprocess.run(["sh", "-c", script], cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, **slurm.env()), timeout=600)
    ms = (time.monotonic() - t0) * 1000
    lib.check(r.returncode == 0, "sh -c %r: exit %d: %s"
              % (script[:60], r.returncode, r.stderr.strip()[-500:]))
    return ms, r.stdout


def bench_tool(slurm, *args):
    """slurm_bench ARGS against the cluster; its output lines. Fails when it does."""
    r = subprocess.run([TOOL] + [str(a) for a in args], capture_output=True, text=True,
                       env=dict(os.environ, **slurm.env()), timeout=600)
    lib.check(r.returncode == 0, "slurm_bench %s failed: %s" % (args[0], r.stderr.strip()[-2000:]))
    return r.stdout.splitlines()


def submit(ours, peer):
    """N submissions by hypotop on the cluster ours, N by a shell loop of
    sbatch on peer, in BLOCKS interleaved blocks; (hypotop's launch
    figures, its ms in all, the loop's ms in all, the loop's job count)."""
    workspace = os.path.join(lib.tmpdir(), "ws")
    src = lib.make_repo(lib.tmpdir())
    commit = lib.sh("git", "-C", src, "rev-parse", "HEAD").stdout.strip()
    scripts = lib.tmpdir()
    for i in range(N):
        with open(os.path.join(scripts, "job%03d.sh" % i), "w") as f:
            f.write("#!/bin/sh\nsleep 600\n")
    launches, ours_ms, peer_ms, ids = [], 0.0, 0.0, []
    for k in range(BLOCKS):
        first, last = N * k // BLOCKS, N * (k + 1) // BLOCKS
        w = words(bench_tool(ours, "launch", workspace, src, commit, first, last - first,
                             "--hold")[-1])
        lib.check(w["launched"] == str(last - first), "hypotop launched %s" % w)
        if first == 0:
            ship_ms, ship_bytes = float(w["ship_ms"]), w["bundle_bytes"]
        launches += [float(v) for v in w["launch_ms"].split(",")]
        ours_ms += float(w["total_ms"])
        names = " ".join("job%03d.sh" % i for i in range(first, last))
        ms, out = timed_sh(peer, 'for f in %s; do sbatch --parsable --hold "$f" || exit 1; '
                           'done' % names, cwd=scripts)
        peer_ms += ms
        ids += out.split()
    return workspace, {"first": launches[0], "median": median(launches), "max": max(launches),
                       "ship": ship_ms, "bytes": ship_bytes}, ours_ms, peer_ms, len(ids)


def poll(slurm, workspace):
    """REPS rounds of hypotop's poll, N scontrol calls and one squeue; their medians in ms."""
    runs = [os.path.join(workspace, "runs", "bench", "r%03d" % i) for i in range(N)]
    ids = []
    for r in runs:
        with open(os.path.join(r, "slurm_id")) as f:
            ids.append(f.read().strip())
        with open(os.path.join(r, "log"), "a") as f:
            f.write("step loss=0.5\n")
    scontrol = "for j in %s; do scontrol show job -o \"$j\" || exit 1; done" % " ".join(ids)
    squeue = "squeue -h -t all -u \"$(id -un)\" -o '%i|%T|%r|%N|%M|%V'"
    ours, peer, one, void = [], [], [], []
    for _ in range(REPS):
        for line in bench_tool(slurm, "poll", workspace, N, 1):
            w = words(line)
            ours.append(float(w["ms"]))
            if w["seen"] != str(N) or w["pending"] != str(N) or w["down"] != "0":
                void.append(line)
        ms, out = timed_sh(slurm, scontrol)
        peer.append(ms)
        shown = sum(1 for line in out.splitlines() if line.startswith("JobId="))
        lib.check(shown == N, "scontrol showed %d of %d jobs" % (shown, N))
        ms, out = timed_sh(slurm, squeue)
        one.append(ms)
    return median(ours), median(peer), median(one), void


def bench(ours, peer):
    print("== a Slurm worker: submitting %d jobs, then polling them (one-node Slurms here, "
          "jobs held)" % N)
    workspace, up, ours_ms, peer_ms, peer_n = submit(ours, peer)
    lib.check(peer_n == N, "the sbatch loop submitted %d of %d jobs" % (peer_n, N))
    o_ms, p_ms, q_ms, void = poll(ours, workspace)
    ours_js = N / (ours_ms / 1000)
    peer_js = N / (peer_ms / 1000)
    print("-- submitting: what is measured: hypotop's launch script a job, by /bin/sh, one "
          "after another (the node's work tree of the commit, shipped once as a bundle; run "
          "folder and job.sh; launched/ made first; sbatch; the id recorded) against a shell "
          "loop of 'sbatch --parsable --hold JOB.sh' over %d plain scripts" % N)
    print("hypotop, %d launch scripts:     %7.1f jobs/s (%.0f ms in all; a launch's median "
          "%.0f ms, its longest %.0f ms, the first, which fetches the bundle, %.0f ms; "
          "the %s-byte bundle made in %.0f ms)"
          % (N, ours_js, ours_ms, up["median"], up["max"], up["first"], up["bytes"],
             up["ship"]))
    print("shell loop, %d x sbatch:        %7.1f jobs/s (%.0f ms in all)" % (N, peer_js, peer_ms))
    print("ratio: hypotop submits at %.2fx the shell loop's jobs/s (doing more a job: "
          "see above)" % (ours_js / peer_js))
    print("-- polling: what is measured: one hypotop poll of the %d pending jobs (its script "
          "by /bin/sh: one squeue for all, then each run folder read; its output parsed) "
          "against %d 'scontrol show job -o ID' in a shell loop; medians of %d rounds"
          % (N, N, REPS))
    print("hypotop, one poll:               %7.1f ms" % o_ms)
    print("%d x scontrol show job -o:      %7.1f ms (%.1f ms each)" % (N, p_ms, p_ms / N))
    print("one squeue of every job, alone:  %7.1f ms" % q_ms)
    if void:
        print("ratio: void, the poll did not see all %d jobs pending: %s" % (N, void[0]))
    else:
        print("ratio: a hypotop poll %.1fx faster than %d scontrol calls" % (p_ms / o_ms, N))


def main():
    try:
        try:
            ours, peer = lib.Slurm(), lib.Slurm()
        except lib.Fail as e:
            print("slurm_poll: Slurm could not start, no figure: %s" % e)
            return SLURM_DOWN
        with ours, peer:
            try:
                bench(ours, peer)
            except (lib.Fail, subprocess.SubprocessError, OSError) as e:
                print("slurm_poll: %s" % e)
                return 1
        return 0
    finally:
        for c in list(lib._clusters):  # one started when the other could not
            c.stop()
        for d in lib._tmp:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
