"""End to end: `hypotop vast` against a fake Vast.ai API on 127.0.0.1
(fake_vast.py): the key (refused, absent, from the CLI's file), listing
instances over pages beside workers.json, 429 and 5xx retried, malformed
answers named, reconcile with and without --fix, offers, and a rented
instance whose SSH is a real sshd (lib.Sshd) running the quickstart, then
released. The key is never in a file of the workdir nor in a job's
environment."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402


def workdir(d, fake, *extra):
    """A quickstart workdir whose vast.base_url is the fake's."""
    src, wd = lib.quickstart(d, *extra)
    use_fake(wd, fake)
    return src, wd


def use_fake(wd, fake):
    lib.set_config(wd, vast={"base_url": fake.url})


def write_workers(wd, workers):
    with open(os.path.join(wd, "workers.json"), "w") as f:
        json.dump({"version": 1, "workers": [{"name": "local", "kind": "local"}] + workers},
                  f, indent=2)


def read_workers(wd):
    with open(os.path.join(wd, "workers.json")) as f:
        return {w["name"]: w for w in json.load(f)["workers"]}


def vast(fake, wd, *args, key=None, home=None):
    return hypotop("vast", wd, *args, env=fake.env(key=key, home=home))


def inst(iid, port, status="running", host="127.0.0.1", gpu="RTX_4090", dph=0.4):
    return {"id": iid, "actual_status": status, "intended_status": "running",
            "gpu_name": gpu, "num_gpus": 1, "dph_total": dph, "ssh_host": host,
            "ssh_port": port, "label": None, "start_date": 1.7e9}


def box(name, iid, port, host="127.0.0.1"):
    return {"name": name, "kind": "ssh", "host": host, "port": port, "vast_id": iid}


def alerts(wd, event):
    """The lines of logs/alerts.jsonl for event."""
    path = os.path.join(wd, "logs", "alerts.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [a for a in map(json.loads, f) if a["rule"] == event]


def files_hold(top, text):
    """The files under top whose bytes hold text."""
    hits = []
    for root, _, names in os.walk(top):
        for n in names:
            p = os.path.join(root, n)
            try:
                if text.encode() in lib.read_bytes(p):
                    hits.append(p)
            except OSError:
                pass
    return hits


@lib.test
def the_key_is_needed_refused_clearly_and_read_from_the_cli_file():
    d = lib.tmpdir()
    with lib.FakeVast() as fake:
        _, wd = workdir(d, fake)
        home = os.path.join(d, "home")
        os.makedirs(home)
        rc, out, err = vast(fake, wd, "instances", key="", home=home)
        check(rc == 1 and "no Vast.ai API key" in err and "VAST_API_KEY" in err,
              "no key: %d %s" % (rc, err))
        rc, out, err = vast(fake, wd, "instances", key="wrong-key-123")
        check(rc == 1 and "refused (HTTP 401)" in err and "GET /api/v1/instances/" in err
              and "wrong-key-123" not in err + out, "refused: %d %s" % (rc, err))
        os.makedirs(os.path.join(home, ".config", "vastai"))
        with open(os.path.join(home, ".config", "vastai", "vast_api_key"), "w") as f:
            f.write(fake.key + "\n")
        rc, out, err = vast(fake, wd, "instances", key="", home=home)
        check(rc == 0 and "no instances" in out, "key file: %d %s%s" % (rc, out, err))
        check(all(r["auth"] for r in fake.control("log")[2:]), "key not sent as Bearer")


@lib.test
def instances_are_listed_over_pages_beside_the_workers():
    d = lib.tmpdir()
    with lib.FakeVast() as fake:
        _, wd = workdir(d, fake)
        fake.control("instances", [inst(11, 2201), inst(12, 2202, status="stopped"),
                                   inst(13, 2203, gpu="H100\x1b[31m")])
        write_workers(wd, [box("b11", 11, 2201), box("b99", 99, 2299)])
        rc, out, err = vast(fake, wd, "instances")
        check(rc == 0, "instances: %d %s" % (rc, err))
        lines = {ln.split()[0]: ln for ln in out.splitlines()[1:]}
        check("b11" in lines["11"] and "127.0.0.1:2201" in lines["11"], out)
        check("(untracked)" in lines["12"] and "stopped" in lines["12"], out)
        check("(gone)" in lines["99"] and "b99" in lines["99"], out)
        check("\x1b" not in out and "H100\\e[31m" in out, "escape not shown safely: %r" % out)
        paths = [r["path"] for r in fake.control("log")]
        check(len(paths) == 2 and "after_token=2" in paths[1], "pages: %s" % paths)
        rc, out, err = vast(fake, wd, "instances", "--json")
        j = json.loads(out)
        check([i["worker"] for i in j["instances"]] == ["b11", None, None]
              and j["gone"] == [{"worker": "b99", "vast_id": 99}], "json: %s" % j)
        rc, out, err = vast(fake, wd, "instances", "--bogus")
        check(rc == 2 and "--bogus" in err, "bad option: %d %s" % (rc, err))


@lib.test
def busy_and_failing_answers_are_retried_and_malformed_ones_named():
    d = lib.tmpdir()
    with lib.FakeVast() as fake:
        _, wd = workdir(d, fake)
        fake.control("instances", [inst(11, 2201)])
        fake.control("faults", [{"status": 429, "headers": {"retry-after": "1"}},
                                {"status": 503}])
        rc, out, err = vast(fake, wd, "instances")
        check(rc == 0 and out.splitlines()[1].startswith("11 "), "after 429, 503: %d %s%s"
              % (rc, out, err))
        check(len(fake.control("log")) == 3, "tries: %s" % fake.control("log"))
        fake.control("faults", [{"raw": '{"instances": [{"id": "x"}]}'}])
        rc, out, err = vast(fake, wd, "instances")
        check(rc == 1 and "GET /api/v1/instances/" in err and "instances[0].id" in err,
              "bad id: %d %s" % (rc, err))
        fake.control("faults", [{"raw": '{"instances": [{"id": 5, "ssh_port": "22"}]}'}])
        rc, out, err = vast(fake, wd, "instances")
        check(rc == 1 and "instances[0].ssh_port" in err, "bad port: %d %s" % (rc, err))
        fake.control("faults", [{"raw": "<html>busy</html>"}])
        rc, out, err = vast(fake, wd, "reconcile")
        check(rc == 1 and "not a JSON object" in err, "not json: %d %s" % (rc, err))
        fake.control("faults", [{"raw": '{"offers": 3}'}])
        rc, out, err = vast(fake, wd, "offers")
        check(rc == 1 and "POST /api/v0/bundles/" in err and '"offers"' in err,
              "bad offers: %d %s" % (rc, err))
        fake.control("faults", [{"status": 500}] * 5)
        rc, out, err = vast(fake, wd, "instances")
        check(rc == 1 and "HTTP 500 after 5 tries" in err, "500s: %d %s" % (rc, err))


@lib.test
def reconcile_reports_drift_gone_and_untracked_and_fixes_them():
    d = lib.tmpdir()
    with lib.FakeVast() as fake:
        _, wd = workdir(d, fake)
        fake.control("instances", [inst(11, 2201), inst(12, 2202), inst(13, 2203),
                                   inst(14, 2204, status="stopped")])
        write_workers(wd, [box("same", 11, 2201), box("moved", 12, 2999, host="10.0.0.9"),
                           box("lost", 99, 2299), box("asleep", 14, 2204)])
        before = lib.read_bytes(os.path.join(wd, "workers.json"))
        rc, out, err = vast(fake, wd, "reconcile")
        check(rc == 0, "reconcile: %d %s" % (rc, err))
        check("drift: worker moved: instance 12 answers SSH at 127.0.0.1:2202, "
              "workers.json has 10.0.0.9:2999" in out, out)
        check("gone: worker lost: instance 99" in out, out)
        check("untracked: instance 13" in out and "stopped: worker asleep" in out, out)
        check("same" not in out and "--fix" in out, out)
        check(lib.read_bytes(os.path.join(wd, "workers.json")) == before,
              "workers.json changed without --fix")
        rc, out, err = vast(fake, wd, "reconcile", "--fix")
        check(rc == 0 and "updating workers.json" in out and "disabling the worker" in out,
              "fix: %d %s%s" % (rc, out, err))
        w = read_workers(wd)
        check(w["moved"]["host"] == "127.0.0.1" and w["moved"]["port"] == 2202, w["moved"])
        check(w["lost"]["enabled"] is False and "enabled" not in w["same"], w)
        rc, out, err = vast(fake, wd, "reconcile")
        check(rc == 0 and "drift" not in out and "gone" not in out
              and "untracked: instance 13" in out, "after fix: %s" % out)


@lib.test
def offers_are_filtered_and_ordered():
    d = lib.tmpdir()
    with lib.FakeVast() as fake:
        _, wd = workdir(d, fake)
        fake.control("offers", [
            {"id": 1, "gpu_name": "RTX_4090", "num_gpus": 1, "dph_total": 0.5, "dlperf": 40,
             "dlperf_per_dphtotal": 80, "reliability": 0.99, "rentable": True},
            {"id": 2, "gpu_name": "RTX_4090", "num_gpus": 1, "dph_total": 0.3, "dlperf": 20,
             "dlperf_per_dphtotal": 66, "reliability": 0.90, "rentable": True},
            {"id": 3, "gpu_name": "H100_SXM", "num_gpus": 1, "dph_total": 2.0, "dlperf": 200,
             "dlperf_per_dphtotal": 100, "reliability": 0.999, "rentable": True}])
        rc, out, err = vast(fake, wd, "offers", "--json")
        check(rc == 0 and [o["id"] for o in json.loads(out)] == [2, 1, 3], "by $/h: %s%s"
              % (out, err))
        rc, out, err = vast(fake, wd, "offers", "--sort", "dlperf-per-dph", "--json")
        check([o["id"] for o in json.loads(out)] == [3, 1, 2], "by value: %s" % out)
        rc, out, err = vast(fake, wd, "offers", "--gpu", "RTX_4090", "--min-reliability",
                            "0.95")
        check(rc == 0 and [ln.split()[0] for ln in out.splitlines()[1:]] == ["1"],
              "filtered: %s%s" % (out, err))
        rc, out, err = vast(fake, wd, "offers", "--max-dph", "1")
        check(rc == 0 and "H100" not in out, out)
        rc, out, err = vast(fake, wd, "offers", "--sort", "price")
        check(rc == 2 and "--sort" in err, "bad sort: %d %s" % (rc, err))


@lib.test
def a_rented_instance_runs_the_quickstart_and_is_released():
    d = lib.tmpdir()
    with lib.FakeVast() as fake, lib.Sshd() as sshd:
        _, wd = workdir(d, fake, "--max-iterations", "1")
        ws = sshd.folder("ws")
        fake.control("offers", [{"id": 7, "gpu_name": "RTX_4090", "num_gpus": 1,
                                 "dph_total": 0.25, "rentable": True, "ssh_host": "127.0.0.1",
                                 "ssh_port": sshd.port, "loading": 1}])
        rc, out, err = vast(fake, wd, "rent", "7", "--name", "gpu1", "--user", sshd.user,
                            "--key", sshd.key, "--known-hosts", sshd.known_hosts,
                            "--workspace", ws, "--image", "img:1", "--disk", "20")
        check(rc == 0, "rent: %d %s%s" % (rc, out, err))
        check("instance 1000: loading" in out and "instance 1000: running; trying SSH" in out
              and "worker gpu1 added" in out, out)
        state = fake.control("state")
        check(state["1000"]["image"] == "img:1" and state["1000"]["disk"] == 20
              and state["1000"]["label"] == "gpu1", state)
        w = read_workers(wd)["gpu1"]
        check(w["vast_id"] == 1000 and w["dph"] == 0.25 and w["port"] == sshd.port
              and w["user"] == sshd.user and w["accept_new_host_key"] is True
              and abs(w["rented_at"] - time.time()) < 120, w)
        rc, out, err = hypotop("worker", "disable", wd, "local")
        check(rc == 0, err)
        lib.run_engine(wd)
        nodes = lib.tree_nodes(wd)
        check(nodes and all(n["status"] == "completed" for n in nodes.values()),
              "nodes: %s" % {i: n["status"] for i, n in nodes.items()})
        check(all(lib.job_json(wd, i)["worker"] == "gpu1" for i in nodes), "not on gpu1")
        check(not files_hold(wd, fake.key) and not files_hold(ws, fake.key),
              "the key is in %s" % (files_hold(wd, fake.key) + files_hold(ws, fake.key)))
        rc, out, err = vast(fake, wd, "release", "gpu1")
        check(rc == 0 and "instance 1000 destroyed" in out, "release: %d %s%s" % (rc, out, err))
        w = read_workers(wd)["gpu1"]
        check(fake.control("state") == {} and w["enabled"] is False
              and w["rented_at"] <= w["released_at"] <= time.time() + 1,
              "after release: %s %s" % (fake.control("state"), w))
        st = lib.status_json(wd)
        check(0 < st["rent_usd"] < 0.25 and st["spend_usd"] == st["rent_usd"] + st["llm_usd"],
              "spend: %s" % st)
        rc, out, err = vast(fake, wd, "release", "local")
        check(rc == 2 and "no Vast.ai instance" in err, "release local: %d %s" % (rc, err))


# A run that waits for the test's gate file (its text: the exit code), and
# notes "NODE" in a ledger on the worker when it starts.
GATED = r'''import os, sys, time
g, node = %r, os.environ["HYPOTOP_NODE"]
with open(os.path.join(g, "ledger"), "a") as f:
    f.write(node + "\n")
print("started " + node, flush=True)
while not os.path.exists(os.path.join(g, "gate")):
    time.sleep(0.05)
print("val_loss=%%d.5" %% int(open(os.path.join(g, "gate")).read()), flush=True)
'''


def ledger(g):
    try:
        with open(os.path.join(g, "ledger")) as f:
            return f.read().split()
    except FileNotFoundError:
        return []


def rent_gated(d, fake, sshd, port, cfg):
    """A workdir of the gated project (config cfg besides its launch) whose
    only worker is gpu1, instance 1000 rented from the fake, its SSH at
    port (which leads to sshd): (wd, g, ws)."""
    g, ws = sshd.folder("g"), sshd.folder("ws")
    src = lib.make_repo(d, files={"train.py": GATED % g, "hparams.json": '{"lr": 0.5}\n'})
    wd = lib.init_config(d, dict(cfg, source_dir=src, launch="python3 train.py",
                                 metric="val_loss"))
    use_fake(wd, fake)
    kh = os.path.join(d, "known_hosts")
    lib.sh("cp", sshd.known_hosts, kh)
    fake.control("offers", [{"id": 7, "gpu_name": "RTX_4090", "num_gpus": 1,
                             "dph_total": 0.25, "ssh_host": "127.0.0.1", "ssh_port": port}])
    rc, out, err = vast(fake, wd, "rent", "7", "--name", "gpu1", "--user", sshd.user,
                        "--key", sshd.key, "--known-hosts", kh, "--workspace", ws)
    check(rc == 0 and read_workers(wd)["gpu1"]["port"] == port, "rent: %d %s%s" % (rc, out, err))
    rc, out, err = hypotop("worker", "disable", wd, "local")
    check(rc == 0, err)
    return wd, g, ws


@lib.test
def a_moved_instance_is_healed_by_the_engine_and_every_job_collected_once():
    d = lib.tmpdir()
    with lib.FakeVast() as fake, lib.Sshd() as sshd:
        first, second = lib.PortForward(sshd.port), None
        try:
            wd, g, ws = rent_gated(d, fake, sshd, first.port, {
                "goal": "min", "max_iterations": 1, "patience": 0, "max_concurrency": 1,
                "seed": 0, "search_space": {"file": "hparams.json", "params": {
                    "lr": {"uniform": [0.01, 1.0]}}}})
            e = lib.Engine(d, wd, env=fake.env())
            try:
                lib.wait_for(lambda: ledger(g), "a run started on gpu1 (%s)" % e.said()[-1500:],
                             timeout=90)
                # The instance restarts elsewhere: its old port is dead, a new one leads there.
                second = lib.PortForward(sshd.port)
                fake.control("move", {"id": 1000, "ssh_port": second.port})
                first.stop()
                lib.wait_for(lambda: "moved to 127.0.0.1:%d" % second.port in e.said(),
                             "the engine healing gpu1: %s" % e.said()[-2000:], timeout=90)
                with open(os.path.join(g, "gate"), "w") as f:
                    f.write("0\n")
                check(e.p.wait(timeout=300) == 0, "engine exit: %s" % e.said()[-2000:])
            finally:
                e.stop()
            said = e.said()
            check("worker gpu1 is down" in said and said.count("moved to") == 1, said[-3000:])
            al = alerts(wd, "vast_moved")
            check(len(al) == 1 and al[0]["severity"] == "info", "move alerts: %s" % al)
            nodes = lib.tree_nodes(wd)
            check(len(nodes) >= 2 and all(n["status"] == "completed" for n in nodes.values()),
                  "nodes: %s" % {i: n["status"] for i, n in nodes.items()})
            check(sorted(ledger(g)) == sorted(nodes) and len(set(ledger(g))) == len(ledger(g)),
                  "runs started %s for nodes %s" % (ledger(g), sorted(nodes)))
            w = read_workers(wd)["gpu1"]
            check(w["port"] == second.port and w.get("enabled", True), "gpu1: %s" % w)
            rc, out, err = vast(fake, wd, "release", "gpu1")
            check(rc == 0 and fake.control("state") == {}, "release: %d %s%s" % (rc, out, err))
        finally:
            first.stop()
            if second:
                second.stop()


@lib.test
def a_destroyed_instance_disables_its_worker():
    d = lib.tmpdir()
    with lib.FakeVast() as fake, lib.Sshd() as sshd:
        first = lib.PortForward(sshd.port)
        try:
            wd, g, ws = rent_gated(d, fake, sshd, first.port, {"max_iterations": 0})
            e = lib.Engine(d, wd, env=fake.env())
            try:
                lib.wait_for(lambda: ledger(g), "a run started on gpu1 (%s)" % e.said()[-1500:],
                             timeout=90)
                fake.control("lose", {"id": 1000})
                first.stop()
                lib.wait_for(lambda: "instance 1000 is gone: disabled" in e.said(),
                             "the engine disabling gpu1: %s" % e.said()[-2000:], timeout=90)
                check(read_workers(wd)["gpu1"]["enabled"] is False, read_workers(wd))
                # Its job went with it: lost, and queued again once (requeue_lost).
                lib.wait_for(lambda: "n0000: lost by its worker; queued again as n0001"
                             in e.said(), "n0000 settled: %s" % e.said()[-2000:], timeout=30)
            finally:
                e.stop()
            nodes = lib.tree_nodes(wd)
            check(nodes["n0000"]["status"] == "failed"
                  and "worker_lost" in json.dumps(nodes["n0000"]["failure"])
                  and nodes["n0001"]["status"] == "queued", nodes)
            al = alerts(wd, "vast_gone")
            check(len(al) == 1 and al[0]["severity"] == "critical", "gone alerts: %s" % al)
        finally:
            first.stop()
            with open(os.path.join(g, "gate"), "w") as f:  # the run left on the machine ends
                f.write("0\n")


@lib.test
def release_refuses_while_jobs_run_unless_forced_which_requeues_them():
    d = lib.tmpdir()
    with lib.FakeVast() as fake, lib.Sshd() as sshd:
        wd, g, ws = rent_gated(d, fake, sshd, sshd.port, {"max_iterations": 0})
        e = lib.Engine(d, wd, env=fake.env())
        try:
            lib.wait_for(lambda: ledger(g), "a run started on gpu1 (%s)" % e.said()[-1500:],
                         timeout=90)
            refused = lib.wait_for(lambda: (lambda r: r if r[0] == 2 else None)(
                vast(fake, wd, "release", "gpu1")), "release refused while n0000 runs",
                timeout=30)
            check("1 of hypotop's jobs run on gpu1" in refused[2] and "--force" in refused[2]
                  and "1000" in fake.control("state"), "refusal: %s" % (refused,))
            rc, out, err = vast(fake, wd, "release", "gpu1", "--force")
            check(rc == 0 and "n0000 stopped; queued again as n0001" in out
                  and "instance 1000 destroyed" in out, "force: %d %s%s" % (rc, out, err))
            check(fake.control("state") == {}, "left: %s" % fake.control("state"))
        finally:
            e.stop()
            with open(os.path.join(g, "gate"), "w") as f:
                f.write("0\n")
        nodes = lib.tree_nodes(wd)
        # The copy waits for a worker (none is left enabled), prepared ahead or queued.
        check(nodes["n0000"]["status"] == "cancelled"
              and nodes["n0001"]["status"] in ("queued", "preparing"),
              {i: n["status"] for i, n in nodes.items()})


@lib.test
def a_rent_that_never_answers_ssh_destroys_the_instance():
    d = lib.tmpdir()
    with lib.FakeVast() as fake:
        _, wd = workdir(d, fake)
        # A port where nothing listens: the instance runs, SSH never answers.
        fake.control("offers", [{"id": 8, "gpu_name": "RTX_4090", "num_gpus": 1,
                                 "dph_total": 0.1, "rentable": True, "ssh_host": "127.0.0.1",
                                 "ssh_port": 9}])
        rc, out, err = vast(fake, wd, "rent", "8", "--key", os.path.join(d, "nokey"))
        check(rc == 2 and "--key" in err and "no readable file" in err, "key: %d %s" % (rc, err))
        rc, out, err = vast(fake, wd, "rent", "--disk", "20")
        check(rc == 2 and "give OFFER_ID" in err, "no offer: %d %s" % (rc, err))
        check(fake.control("state") == {} and not fake.control("log"), "rented on bad input")
        rc, out, err = vast(fake, wd, "rent", "8", "--timeout", "3")
        check(rc == 1 and "did not run and answer SSH within 3 s" in err
              and "destroyed, so that it costs nothing" in err, "rent: %d %s%s" % (rc, out, err))
        check(fake.control("state") == {}, "left: %s" % fake.control("state"))
        check("vast-" not in lib.read_bytes(os.path.join(wd, "workers.json")).decode()
              if os.path.exists(os.path.join(wd, "workers.json")) else True, "worker added")


@lib.test
def the_key_is_in_no_job_environment():
    d = lib.tmpdir()
    train = "import os\nprint('env=' + repr(dict(os.environ)))\nprint('val_loss=1.0')\n"
    src = lib.make_repo(d, files={"train.py": train, "hparams.json": '{"lr": 0.01}\n'})
    wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py",
                             "metric": "val_loss", "max_iterations": 0})
    key = "vast-secret-for-the-env-test-81c3"
    env = dict(os.environ, VAST_API_KEY=key)
    r = lib.subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                           timeout=240, env=env)
    check(r.returncode == 0, "engine: %s" % r.stderr[-2000:])
    log = lib.read_bytes(os.path.join(wd, "runs", "n0000", "log")).decode()
    check("env={" in log and "HYPOTOP_NODE" in log, "the job did not print its env: %s" % log)
    check(key not in log and not files_hold(wd, key), "the key reached the job: %s"
          % files_hold(wd, key))


@lib.test
def an_idle_rented_worker_is_released():
    d = lib.tmpdir()
    with lib.FakeVast() as fake, lib.Sshd() as sshd:
        # gpu1 is rented and disabled: the baseline runs here, held by its gate,
        # while gpu1 has no job and nothing is queued.
        wd, g, ws = rent_gated(d, fake, sshd, sshd.port, {"max_iterations": 0})
        check(hypotop("worker", "enable", wd, "local")[0] == 0, "enable local")
        check(hypotop("worker", "disable", wd, "gpu1")[0] == 0, "disable gpu1")
        lib.set_config(wd, vast={"base_url": fake.url, "idle_release_minutes": 0.05})
        e = lib.Engine(d, wd, env=fake.env())
        try:
            lib.wait_for(lambda: "Vast.ai instance 1000 released ($0.250/h" in e.said(),
                         "gpu1 released: %s" % e.said()[-2000:], timeout=60)
            check(fake.control("state") == {}, "instance left: %s" % fake.control("state"))
            w = read_workers(wd)["gpu1"]
            check(w["enabled"] is False and w["released_at"] >= w["rented_at"], w)
            al = alerts(wd, "vast_release")
            check(len(al) == 1 and al[0]["worker"] == "gpu1" and al[0]["value"] == 0.25
                  and al[0]["severity"] == "warning", "release alerts: %s" % al)
        finally:
            with open(os.path.join(g, "gate"), "w") as f:
                f.write("0\n")
            e.stop()


@lib.test
def autorent_rents_one_machine_when_the_queue_waits_and_runs_work_there():
    d = lib.tmpdir()
    with lib.FakeVast() as fake, lib.Sshd() as sshd:
        g, ws = sshd.folder("g"), sshd.folder("ws")
        src = lib.make_repo(d, files={"train.py": GATED % g, "hparams.json": '{"lr": 0.5}\n'})
        fixed = [{"name": "lr-%s" % v, "hypothesis": "lr %s" % v,
                  "change": {"kind": "params", "params": {"lr": v}}} for v in (0.1, 0.2)]
        wd = lib.init_config(d, {"source_dir": src, "launch": "python3 train.py",
                                 "metric": "val_loss", "max_iterations": 0,
                                 "max_concurrency": 1, "fixed_experiments": fixed,
                                 "search_space": {"file": "hparams.json", "params": {
                                     "lr": {"uniform": [0.01, 1.0]}}}})
        # Runs here (as this user) and on the machine (as the test user) share the ledger.
        open(os.path.join(g, "ledger"), "w").close()
        os.chmod(os.path.join(g, "ledger"), 0o666)
        kh = os.path.join(d, "known_hosts")
        lib.sh("cp", sshd.known_hosts, kh)
        fake.control("offers", [
            {"id": 8, "gpu_name": "RTX_4090", "num_gpus": 1, "dph_total": 0.30,
             "ssh_host": "127.0.0.1", "ssh_port": sshd.port},
            {"id": 7, "gpu_name": "RTX_4090", "num_gpus": 1, "dph_total": 0.25,
             "ssh_host": "127.0.0.1", "ssh_port": sshd.port}])
        lib.set_config(wd, vast={"base_url": fake.url, "autorent": True, "max_instances": 1,
                                 "offer": {"gpu_name": "RTX_4090", "max_dph": 0.5},
                                 "user": sshd.user, "key_file": sshd.key,
                                 "known_hosts": kh, "workspace": ws},
                       budget={"usd": 10})
        e = lib.Engine(d, wd, env=fake.env())
        try:
            lib.wait_for(lambda: len(ledger(g)) == 2, "two runs started, one on a rented "
                         "machine: %s" % e.said()[-2000:], timeout=120)
            check("autorent: rented Vast.ai instance 1000 (1x RTX_4090, $0.250/h) as worker "
                  "vast-1000" in e.said(), e.said()[-2000:])
            check(list(fake.control("state")) == ["1000"], "rented: %s" % fake.control("state"))
            al = alerts(wd, "vast_rent")
            check(len(al) == 1 and al[0]["worker"] == "vast-1000" and al[0]["value"] == 0.25,
                  "rent alerts: %s" % al)
            with open(os.path.join(g, "gate"), "w") as f:
                f.write("0\n")
            check(e.p.wait(timeout=300) == 0, "engine exit: %s" % e.said()[-2000:])
        finally:
            e.stop()
            with open(os.path.join(g, "gate"), "w") as f:
                f.write("0\n")
        check(list(fake.control("state")) == ["1000"], "past max_instances: %s"
              % fake.control("state"))
        nodes = lib.tree_nodes(wd)
        where = {i: lib.job_json(wd, i)["worker"] for i in nodes}
        check(all(n["status"] == "completed" for n in nodes.values())
              and "vast-1000" in where.values() and "local" in where.values(),
              "%s %s" % ({i: n["status"] for i, n in nodes.items()}, where))
        w = read_workers(wd)["vast-1000"]
        check(w["dph"] == 0.25 and w["user"] == sshd.user and w["workspace"] == ws, w)
        # No room left in budget.usd for an hour of it: nothing is rented.
        lib.set_config(wd, budget={"usd": 0.1})
        check(vast(fake, wd, "release", "vast-1000")[0] == 0, "release")
        rc, out, err = hypotop("add", wd, "n0000", "one more", "--param", "lr=0.3")
        check(rc == 0, err)
        check(hypotop("worker", "disable", wd, "local")[0] == 0, "disable local")
        e = lib.Engine(d, wd, env=fake.env())
        try:
            lib.wait_for(lambda: "autorent: no machine rented: budget.usd leaves $0.10, less "
                         "than an hour of the best offer ($0.300/h)" in e.said(),
                         "autorent held back by the budget: %s" % e.said()[-2000:], timeout=60)
            check(fake.control("state") == {}, "rented past budget: %s" % fake.control("state"))
        finally:
            e.stop()


def set_budget(wd, **caps):
    lib.set_config(wd, budget=caps)


@lib.test
def budgets_stop_dispatch_at_the_cap_with_rented_workers_counted():
    d = lib.tmpdir()
    _, wd = lib.quickstart(d, "--max-iterations", "1")
    # A rented worker (disabled: it runs nothing) that has cost an hour at $10/h.
    write_workers(wd, [{"name": "gpu1", "kind": "ssh", "host": "127.0.0.1", "port": 9,
                        "vast_id": 5, "dph": 10, "rented_at": time.time() - 3600,
                        "enabled": False}])
    set_budget(wd, usd=5)
    said = lib.run_engine(wd)
    check("no new jobs: budget.usd is reached: $10.00 spent ($0.00 on the model, $10.00 on "
          "rented workers) of $5.00" in said and "planning stops: budget.usd" in said, said)
    st = lib.status_json(wd)
    check(st["counts"]["completed"] == 0 and st["counts"]["queued"] >= 1, st["counts"])
    check(9.9 < st["rent_usd"] < 10.1 and 9.9 < st["spend_usd"] < 10.1
          and 0.99 < st["rent_gpu_hours"] < 1.01, st)
    rc, out, err = hypotop("status", wd)
    check("rented   $10.0" in out and "of $5.00 (budget.usd)" in out, out)
    set_budget(wd, gpu_hours=0.5)
    said = lib.run_engine(wd)
    check("budget.gpu_hours is reached: 1.00 GPU-hours rented of 0.50" in said, said)
    check(lib.status_json(wd)["counts"]["completed"] == 0, "ran past budget.gpu_hours")
    # Room left: the runs go.
    set_budget(wd, usd=100, gpu_hours=10)
    lib.run_engine(wd)
    nodes = lib.tree_nodes(wd)
    check(nodes and all(n["status"] == "completed" for n in nodes.values()),
          {i: n["status"] for i, n in nodes.items()})


lib.finish()
