"""The Slurm tests' harness itself (tests/tools/slurm.sh through
lib.Slurm): a real one-node Slurm whose batch jobs run and write their
output and their own exit-code file; squeue and scontrol show them as the
Slurm worker will read them (squeue of many ids with one unknown too);
several 1-CPU jobs run at once, as many as the node's CPUs, which may be
more than the machine's; a running job outlives a restart of
slurmctld; a requeued job runs again within seconds; stop() ends the jobs
too, and a start that fails stops what it started; two clusters run side
by side."""

import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import Fail, Slurm, check, finish, test, tmpdir, wait_for  # noqa: E402

# A job that says it started, waits until the test creates "go" in its
# folder, writes its exit code to its own file and exits with it.
WAITS = """echo $$ > started.$SLURM_JOB_ID
while [ ! -e go ]; do sleep 0.05; done
echo "ran $SLURM_JOB_ID"
echo %d > exit_code.$SLURM_JOB_ID
exit %d
"""

SQUEUE = ("squeue", "-h", "-t", "all", "-o", "%i|%T|%r|%N|%S")


def squeue(s, *jobs):
    """squeue's line per job id of this cluster."""
    out = s.run(*SQUEUE, "-j", ",".join(jobs)).stdout
    return {line.split("|")[0]: line for line in out.splitlines()}


def go(d):
    open(os.path.join(d, "go"), "w").close()


def started(d, job):
    return os.path.exists(os.path.join(d, "started." + job))


def start_waiting(s, code):
    """A job of WAITS that exits with code, in a folder of its own, once
    its script runs; returns (job id, folder)."""
    d = tmpdir()
    job = s.submit(WAITS % (code, code), "-o", os.path.join(d, "out.%j"), cwd=d)
    wait_for(lambda: started(d, job), "job %s to start" % job, timeout=30)
    return job, d


def write_script(d, body):
    path = os.path.join(d, "job.sh")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    return path


@test
def a_batch_job_runs_and_writes_its_output_and_exit_code():
    with Slurm() as s:
        d = tmpdir()
        go(d)
        r = s.run("sbatch", "--parsable", "-o", os.path.join(d, "out.%j"),
                  write_script(d, WAITS % (3, 3)), cwd=d)
        check(re.fullmatch(r"\d+\n", r.stdout), "sbatch --parsable printed %r" % r.stdout)
        job = r.stdout.strip()
        s.wait_state(job, "FAILED")
        with open(os.path.join(d, "out." + job)) as f:
            check(f.read() == "ran %s\n" % job, "the output file")
        with open(os.path.join(d, "exit_code." + job)) as f:
            check(f.read() == "3\n", "the exit-code file")
        line = squeue(s, job)[job]
        check(re.fullmatch(r"%s\|FAILED\|NonZeroExitCode\|localhost\|\d{4}-\d\d-\d\dT[\d:]{8}" % job,
                           line), "squeue: %r" % line)
        info = s.job(job)
        check(info["JobState"] == "FAILED" and info["ExitCode"] == "3:0", "scontrol: %s" % info)
        check(info["StdOut"] == os.path.join(d, "out." + job), "StdOut=%s" % info["StdOut"])


@test
def squeue_shows_a_held_job_pending_and_a_running_one_on_its_node():
    with Slurm() as s:
        d = tmpdir()
        held = s.submit(WAITS % (0, 0), "-H", "-o", "/dev/null", cwd=d)
        run = s.submit(WAITS % (0, 0), "-o", "/dev/null", cwd=d)
        s.wait_state(run, "RUNNING")
        wait_for(lambda: started(d, run), "the job's script to start")
        lines = squeue(s, held, run)
        check(lines[held] == "%s|PENDING|JobHeldUser||N/A" % held, "held: %r" % lines[held])
        check(re.fullmatch(r"%s\|RUNNING\|None\|localhost\|[\d:T-]{19}" % run, lines[run]),
              "running: %r" % lines[run])
        s.run("scontrol", "release", held)
        s.wait_state(held, "RUNNING", "COMPLETED")
        go(d)
        s.wait_state(run, "COMPLETED")
        s.wait_state(held, "COMPLETED")
        check(s.job(run)["ExitCode"] == "0:0", "exit code")


def as_many_at_once_as_cpus(s):
    """One job more than the node has CPUs: all but one run at once."""
    d = tmpdir()
    jobs = [s.submit(WAITS % (0, 0), "-o", "/dev/null", cwd=d) for _ in range(s.cpus + 1)]
    wait_for(lambda: sum(started(d, j) for j in jobs) == s.cpus,
             "%d jobs to run at once" % s.cpus, timeout=30)
    states = sorted(squeue(s, *jobs)[j].split("|")[1] for j in jobs)
    check(states == ["PENDING"] + ["RUNNING"] * s.cpus, "states %s" % states)
    go(d)
    for j in jobs:
        s.wait_state(j, "COMPLETED")


@test
def as_many_one_cpu_jobs_run_at_once_as_the_machine_has_cpus():
    with Slurm() as s:
        check(s.cpus == os.cpu_count() or s.cpus == len(os.sched_getaffinity(0)),
              "the node has %d CPUs" % s.cpus)
        as_many_at_once_as_cpus(s)


@test
def a_node_with_more_cpus_than_the_machine_runs_as_many_jobs():
    with Slurm(cpus=os.cpu_count() + 3) as s:
        check(s.cpus == os.cpu_count() + 3, "the node has %d CPUs" % s.cpus)
        as_many_at_once_as_cpus(s)


@test
def a_running_job_outlives_a_restart_of_slurmctld():
    with Slurm() as s:
        job, d = start_waiting(s, 4)
        pid = s.ctld_pid
        s.stop_ctld()
        r = s.run("squeue", "-h", "-j", job, check_rc=False, timeout=60)
        check(r.returncode != 0 and "Unable to contact slurm controller" in r.stderr,
              "squeue while slurmctld is down: exit %d, %r" % (r.returncode, r.stderr))
        s.start_ctld()
        check(s.ctld_pid != pid, "the same slurmctld")
        check(s.state(job) == "RUNNING", "after the restart the job is %s" % s.state(job))
        go(d)
        s.wait_state(job, "FAILED")
        info = s.job(job)
        check(info["ExitCode"] == "4:0", "scontrol after the restart: %s" % info)
        with open(os.path.join(d, "exit_code." + job)) as f:
            check(f.read() == "4\n", "the exit-code file")


@test
def squeue_of_many_ids_leaves_out_an_unknown_one_and_fails_only_alone():
    with Slurm() as s:
        d = tmpdir()
        go(d)
        job = s.submit(WAITS % (0, 0), "-o", "/dev/null", cwd=d)
        s.wait_state(job, "COMPLETED")
        lines = squeue(s, job, "99999")
        check(list(lines) == [job], "squeue -j %s,99999: %s" % (job, lines))
        r = s.run(*SQUEUE, "-j", "99999,99998", check_rc=False)
        check(r.returncode == 0 and r.stdout == "", "two unknown: exit %d %r" % (r.returncode, r.stdout))
        r = s.run(*SQUEUE, "-j", "99999", check_rc=False)
        check(r.returncode == 1 and "Invalid job id specified" in r.stderr,
              "one unknown: exit %d %r" % (r.returncode, r.stderr))
        r = s.run("squeue", "-h", "-o", "%i|%T", "-j", job)
        check(r.stdout == "", "without -t all a finished job is left out: %r" % r.stdout)


@test
def a_requeued_job_runs_again_under_its_id_within_seconds():
    with Slurm() as s:
        job, d = start_waiting(s, 0)
        first = open(os.path.join(d, "started." + job)).read()
        os.unlink(os.path.join(d, "started." + job))
        s.run("scontrol", "requeue", job)
        check(s.wait_state(job, "PENDING") and s.job(job)["Reason"] == "BeginTime",
              "requeued: %s" % s.job(job))
        # cred_expire=10 in slurm.conf: 120 s by default.
        wait_for(lambda: started(d, job), "the requeued job to start again", timeout=30)
        check(open(os.path.join(d, "started." + job)).read() != first, "the same process")
        info = s.job(job)
        check(info["JobState"] == "RUNNING" and info["Restarts"] == "1", "after: %s" % info)
        go(d)
        s.wait_state(job, "COMPLETED")


@test
def stop_ends_the_jobs_and_the_daemons():
    s = Slurm()
    d = tmpdir()
    job = s.submit("setsid sleep 300 & echo $! > child\n" + WAITS % (0, 0), "-o", "/dev/null", cwd=d)
    wait_for(lambda: started(d, job) and os.path.exists(os.path.join(d, "child")),
             "the job to start", timeout=30)
    pids = [int(open(os.path.join(d, n)).read()) for n in ("started." + job, "child")]
    pids.append(s.ctld_pid)
    s.stop()
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                check(f.read().split(") ")[1][0] == "Z", "pid %d still runs" % p)
        except FileNotFoundError:
            pass
    r = s.run("squeue", check_rc=False)
    check(r.returncode != 0, "squeue still answers")


def running_in(d):
    """Pids of live processes whose command line or environment names d."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as f:
                if f.read().split(") ")[1][0] == "Z":
                    continue
            text = b""
            for name in ("cmdline", "environ"):
                with open("/proc/%s/%s" % (pid, name), "rb") as f:
                    text += f.read()
        except OSError:
            continue
        if d.encode() in text:
            found.append(int(pid))
    return found


@test
def a_start_that_fails_says_why_and_leaves_nothing_running():
    d = tmpdir()
    os.chmod(d, 0o755)
    os.mkdir(os.path.join(d, "bin"))
    with open(os.path.join(d, "bin", "sinfo"), "w") as f:
        f.write("#!/bin/sh\necho inval\n")  # as sinfo says of a node slurmctld refused
    os.chmod(os.path.join(d, "bin", "sinfo"), 0o755)
    r = subprocess.run(["sh", Slurm.SCRIPT, "start", os.path.join(d, "slurm")],
                       env=dict(os.environ, PATH=os.path.join(d, "bin") + ":" + os.environ["PATH"]),
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 1 and "the node is inval, not idle" in r.stderr and
          "slurmctld.log:" in r.stderr and "slurmd.log:" in r.stderr, "start: %d %r" % (r.returncode, r.stderr))
    left = running_in(d)
    check(not left, "still running: %s" % left)


@test
def two_clusters_side_by_side():
    with Slurm() as a, Slurm() as b:
        check(a.conf != b.conf, "one conf")
        da, db = tmpdir(), tmpdir()
        go(da)
        go(db)
        ja = a.submit(WAITS % (0, 0), "-o", "/dev/null", cwd=da)
        jb = b.submit(WAITS % (5, 5), "-o", "/dev/null", cwd=db)
        check(ja == jb == "1", "job ids %s and %s" % (ja, jb))
        a.wait_state(ja, "COMPLETED")
        b.wait_state(jb, "FAILED")
        if a.state(ja) != "COMPLETED":
            raise Fail("b's job changed a's")


finish()
