"""The ssh tests' harness itself (tests/tools/sshd.sh through lib.Sshd): a
real sshd on 127.0.0.1 that the OpenSSH client reaches with the harness's
key and known_hosts, as the test user, with the fake nvidia-smi first on
its PATH; killed and started again on the same port with the same host
key."""

import os
import pwd
import sys

sys.path.insert(0, os.path.dirname(__file__))
from lib import Sshd, check, finish, test  # noqa: E402


@test
def sshd_logs_in_the_test_user_with_strict_host_keys():
    with Sshd() as s:
        r = s.ssh("id -un; echo $PATH")
        user, path = r.stdout.split("\n")[:2]
        check(user == s.user == "hypotop-test", "logged in as %r" % user)
        check(path.startswith(os.path.join(s.dir, "bin") + ":"), "PATH is %r" % path)
        with open(s.known_hosts) as f:
            line = f.read()
        check(line.startswith("[127.0.0.1]:%d ssh-ed25519 " % s.port), "known_hosts: %r" % line)
        r = s.ssh("echo hi", check_rc=False)
        check(r.returncode == 0 and r.stdout == "hi\n", "a second login: %s" % r.stderr)


@test
def fake_nvidia_smi_prints_what_the_test_wrote():
    with Sshd() as s:
        q = "nvidia-smi --query-gpu=index,utilization.gpu --format=csv,noheader,nounits"
        check(s.ssh(q).stdout == "0, 35, 1024, 81920, 45\n1, 0, 0, 81920, 30\n",
              "the default two GPUs")
        s.gpus("0, 99, 2048, 81920, 80\n")
        check(s.ssh(q).stdout == "0, 99, 2048, 81920, 80\n", "the GPUs the test wrote")
        s.gpus(None)
        r = s.ssh(q, check_rc=False)
        check(r.returncode == 9 and "driver" in r.stderr, "no driver: exit %d" % r.returncode)


@test
def killed_and_started_again_on_the_same_port_and_key():
    with Sshd() as s:
        port, pid = s.port, s.pid
        s.kill()
        r = s.ssh("true", check_rc=False)
        check(r.returncode == 255, "still answers after kill: %d" % r.returncode)
        s.start_again()
        check(s.port == port and s.pid != pid, "port %d pid %d" % (s.port, s.pid))
        # The old known_hosts line still holds: the same host key.
        check(s.ssh("echo back").stdout == "back\n", "not back")


@test
def a_folder_for_the_test_user():
    with Sshd() as s:
        ws = s.folder("ws")
        check(os.stat(ws).st_uid == pwd.getpwnam(s.user).pw_uid, "not the user's")
        s.ssh("echo x > %s/made" % ws)
        check(os.stat(os.path.join(ws, "made")).st_uid == pwd.getpwnam(s.user).pw_uid,
              "the user cannot write there")


finish()
