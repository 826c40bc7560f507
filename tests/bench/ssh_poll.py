"""ssh_poll.py: reading a remote file 100 times, as polling 100 jobs on
one worker reads their state: over one sshconn connection (the library
the ssh executor uses; tests/tools/ssh_reads) against 100 runs of
`ssh HOST cat FILE` (OpenSSH, a new connection each, no ControlMaster).

A real sshd on 127.0.0.1 (tests/tools/sshd.sh; root only), logging in as
its test user. Prints each figure and the ratios: SFTP reads and `cat`
commands over the one connection, each against the OpenSSH client. The
ssh executor's own poll, one round trip for all of a worker's jobs, is
measured beside them once it is built. BENCH_SSH_N: reads (100). Never
fails on a figure."""

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


def main():
    print("== polling one worker over SSH: %d reads of a job's state file" % N)
    with lib.Sshd() as sshd:
        path = os.path.join(sshd.dir, "state.json")
        with open(path, "w") as f:
            f.write('{"pid": 12345, "start": 1733480000, "exit": null, "log_size": 65536}\n')
        os.chmod(path, 0o644)
        ssh = ["ssh", "-i", sshd.key, "-p", str(sshd.port), "-o", "BatchMode=yes",
               "-o", "UserKnownHostsFile=" + sshd.known_hosts, "-o", "ControlMaster=no",
               "-o", "ControlPath=none", "%s@127.0.0.1" % sshd.user, "cat", path]
        t0 = time.monotonic()
        for _ in range(N):
            subprocess.run(ssh, check=True, capture_output=True)
        openssh_ms = (time.monotonic() - t0) * 1000
        tool = os.path.join(ROOT, "build", "tools", "ssh_reads")
        r = subprocess.run([tool, "127.0.0.1", str(sshd.port), sshd.user, sshd.key,
                            sshd.known_hosts, path, str(N)],
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            print("ssh_reads failed: %s" % r.stderr.strip())
            return 1
        f = dict(kv.split("=") for kv in r.stdout.split())
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
