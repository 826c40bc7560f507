"""Bad input: each case gets a clear message naming the file, the line or
field and the fix, exit status 2, and every file of the workdir is left
byte-for-byte as it was — whichever command meets it."""

import json
import os
import re
import resource
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check, hypotop  # noqa: E402

# Commands that load a workdir: a reader, a queue writer and the engine.
LOADERS = [("status", "{wd}"), ("pause", "{wd}", "n0000"), ("run", "--headless", "{wd}")]


def fresh():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    rc, out, err = hypotop("add", wd, "n0000", "a queued child")
    check(rc == 0, "setup add: %s" % err)
    return wd


def edit(wd, rel, fn):
    path = os.path.join(wd, rel)
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(fn(text))


def refused_everywhere(wd, *wants):
    before = lib.snapshot(wd)
    for args in LOADERS:
        rc, out, err = hypotop(*[a.format(wd=wd) for a in args])
        check(rc == 2, "%s: exit %d, want 2 (%s)" % (args[0], rc, err.strip()))
        for w in wants:
            check(w in err, "%s: message %r lacks %r" % (args[0], err.strip(), w))
        check(err.count("\n") <= 2, "%s: message too long: %r" % (args[0], err))
        after = lib.snapshot(wd)
        changed = [k for k in set(before) | set(after) if before.get(k) != after.get(k)]
        check(not changed, "%s changed %s" % (args[0], changed))
    return err


@lib.test
def malformed_config_json():
    wd = fresh()
    edit(wd, "config.json", lambda t: t.replace('"patience":', '"patience"', 1))
    refused_everywhere(wd, "config.json:", "malformed JSON", "fix the JSON")


@lib.test
def malformed_checkpoint_json():
    wd = fresh()
    edit(wd, "engine/checkpoint.json", lambda t: t.replace('"queue": [', '"queue": [,', 1))
    refused_everywhere(wd, "engine/checkpoint.json:4:", "malformed JSON")


@lib.test
def checkpoint_seq_not_a_number():
    # Removing the file is offered, with what it gives up.
    wd = fresh()
    edit(wd, "engine/checkpoint.json", lambda t: re.sub(r'"seq": \d+', '"seq": "x"', t, 1))
    refused_everywhere(wd, "engine/checkpoint.json:3:", '"seq" must be a whole number',
                       "remove it, which drops only the edits made in it")


@lib.test
def truncated_checkpoint():
    wd = fresh()
    edit(wd, "engine/checkpoint.json", lambda t: t[: len(t) // 2])
    refused_everywhere(wd, "engine/checkpoint.json:", "ends early (truncated?)")


@lib.test
def truncated_tree():
    wd = fresh()
    edit(wd, "engine/tree.json", lambda t: t[: len(t) - 40])
    refused_everywhere(wd, "engine/tree.json:", "restore")


def replace_in_line(wd, rel, line, old, new):
    """Put new for the first old in line `line` of rel; the column just after it."""
    path = os.path.join(wd, rel)
    with open(path) as f:
        lines = f.read().split("\n")
    check(old in lines[line - 1], "%s:%d lacks %r: %r" % (rel, line, old, lines[line - 1]))
    col = lines[line - 1].index(old) + len(new) + 1
    lines[line - 1] = lines[line - 1].replace(old, new, 1)
    edit(wd, rel, lambda t: "\n".join(lines))
    return col


@lib.test
def malformed_node_names_its_position_once():
    # A node's (or a queued spec's) bytes are parsed alone; the error is
    # placed in the whole file.
    wd = fresh()
    col = replace_in_line(wd, "engine/tree.json", 3, '"priority":0,', '"priority":0,,')
    refused_everywhere(wd, "engine/tree.json:3:%d: malformed JSON" % col)

    wd = fresh()
    col = replace_in_line(wd, "engine/checkpoint.json", 6, '"priority":0,', '"priority":0,,')
    refused_everywhere(wd, "engine/checkpoint.json:6:%d: malformed JSON" % col)


@lib.test
def malformed_worker_names_its_position_once():
    wd = fresh()
    with open(os.path.join(wd, "workers.json"), "w") as f:
        f.write('{\n  "version": 1,\n  "workers": [\n    {"name": "local", "kind": "local"},\n'
                '    {"name": "gpu1",, "kind": "ssh"}\n  ]\n}\n')
    refused_everywhere(wd, "workers.json:5:22: malformed JSON")


@lib.test
def malformed_workers_json():
    wd = fresh()
    edit(wd, "workers.json", lambda t: t.replace("]", "", 1))
    refused_everywhere(wd, "workers.json:", "malformed JSON")


@lib.test
def worker_port_out_of_range():
    wd = fresh()
    with open(os.path.join(wd, "workers.json"), "w") as f:
        f.write('{\n  "version": 1,\n  "workers": [\n    {"name": "local", "kind": "local"},\n'
                '    {"name": "gpu1", "kind": "ssh", "host": "10.0.0.5",\n'
                '     "port": 70000}\n  ]\n}\n')
    refused_everywhere(wd, "workers.json:6:", '"port"', "from 1 to 65535")


@lib.test
def worker_unknown_key_suggests():
    wd = fresh()
    with open(os.path.join(wd, "workers.json"), "w") as f:
        f.write('{"version": 1, "workers": [{"name": "a", "kind": "ssh", "hots": "h"}]}\n')
    refused_everywhere(wd, "workers.json:1:", 'unknown key "hots"', 'did you mean "host"')


@lib.test
def unknown_config_key_suggests_nearest():
    wd = fresh()
    edit(wd, "config.json", lambda t: t.replace('"max_iterations"', '"max_iteratons"', 1))
    refused_everywhere(wd, "config.json:", '"max_iteratons"', 'did you mean "max_iterations"')


@lib.test
def config_value_of_wrong_type():
    wd = fresh()
    edit(wd, "config.json", lambda t: t.replace('"patience":\t5', '"patience":\t"five"', 1))
    refused_everywhere(wd, "config.json:", '"patience"', "must be a number")


@lib.test
def config_value_out_of_range():
    wd = fresh()
    edit(wd, "config.json", lambda t: t.replace('"max_concurrency":\t1', '"max_concurrency":\t0', 1))
    refused_everywhere(wd, "config.json:", '"max_concurrency"', "from 1 to 4096")


def append_events(wd, *lines):
    with open(os.path.join(wd, "engine/journal.jsonl"), "a") as f:
        for line in lines:
            f.write(line + "\n")


@lib.test
def journal_damaged_in_the_middle():
    wd = fresh()
    seq = lib.status_json(wd)["seq"]
    node = [n for n in json.load(open(os.path.join(wd, "engine/tree.json")))["nodes"]
            if n["id"] == "n0001"][0]
    node["priority"] = 5
    good = json.dumps({"seq": seq + 2, "op": "prio", "node": node})
    append_events(wd, '{"seq":%d,"op":"prio","node": BROKEN' % (seq + 1), good)
    refused_everywhere(wd, "engine/journal.jsonl:2:", "damaged",
                       "remove this line, which gives up the change it held")


@lib.test
def journal_header_damaged():
    # The way out it offers says what it loses.
    wd = fresh()
    seq = lib.status_json(wd)["seq"]
    edit(wd, "engine/journal.jsonl", lambda t: '{"journal":2}\n' + t.split("\n", 1)[1])
    err = refused_everywhere(wd, "engine/journal.jsonl:1:", "backup",
                             'write {"journal":1,"base":%d} in place of that line alone' % seq,
                             "the events after it are kept")
    check("remove it" not in err, "suggests removing the journal: %r" % err)
    # Doing so keeps the queued node the journal holds.
    edit(wd, "engine/journal.jsonl",
         lambda t: '{"journal":1,"base":%d}\n' % seq + t.split("\n", 1)[1])
    check([q["id"] for q in lib.status_json(wd)["queue"]] == ["n0000", "n0001"], "node lost")


def journal_node(wd, nid="n0001"):
    """Node nid as tree.json holds it, and the seq the next event takes."""
    with open(os.path.join(wd, "engine/tree.json")) as f:
        t = json.load(f)
    return [n for n in t["nodes"] if n["id"] == nid][0], lib.status_json(wd)["seq"] + 1


def small_and_quick():
    """In a loader, before exec: at most 1 GB of memory (a refusal needs
    little; without the bound an id was sized at 13 GB)."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@lib.test
def journal_id_beyond_the_bound():
    wd = fresh()
    node, seq = journal_node(wd)
    node["id"], node["parent"] = "n99999999", "n0001"
    append_events(wd, json.dumps({"seq": seq, "op": "add", "at": 1, "node": node}))
    before = lib.snapshot(wd)
    for args in LOADERS:
        args = [a.format(wd=wd) for a in args]
        try:
            r = subprocess.run([lib.BIN] + args, capture_output=True, text=True, timeout=20,
                               preexec_fn=small_and_quick)
        except subprocess.TimeoutExpired:
            raise lib.Fail("%s: still loading after 20 s" % args[0])
        check(r.returncode == 2, "%s: exit %d, want 2 (%s)" % (args[0], r.returncode, r.stderr))
        for w in ("engine/journal.jsonl:2:", '"id": "n99999999" is beyond the last node id'):
            check(w in r.stderr, "%s: message %r lacks %r" % (args[0], r.stderr.strip(), w))
    check(lib.snapshot(wd) == before, "files changed")


@lib.test
def journal_id_of_another_spelling():
    wd = fresh()
    node, seq = journal_node(wd)
    node["id"], node["priority"] = "n001", 7
    append_events(wd, json.dumps({"seq": seq, "op": "prio", "at": 1, "node": node}))
    refused_everywhere(wd, "engine/journal.jsonl:2:",
                       '"id": "n001" is not how a node id is written: write n0001')


@lib.test
def journal_event_of_no_known_operation():
    wd = fresh()
    node, seq = journal_node(wd)
    append_events(wd, json.dumps({"seq": seq, "op": "teleport", "at": 1, "node": node}))
    refused_everywhere(wd, "engine/journal.jsonl:2:",
                       '"op": "teleport" is not an operation of the journal', "backup")
    wd = fresh()
    node, seq = journal_node(wd)
    append_events(wd, json.dumps({"seq": seq, "at": 1, "node": node}))
    refused_everywhere(wd, "engine/journal.jsonl:2:", '"op": none is not an operation')


@lib.test
def journal_event_without_its_node():
    wd = fresh()
    node, seq = journal_node(wd)
    append_events(wd, json.dumps({"seq": seq, "op": "pause", "at": 1}))
    refused_everywhere(wd, "engine/journal.jsonl:2:",
                       'a "pause" event holds "node" and no "state"', "backup")
    wd = fresh()
    node, seq = journal_node(wd)
    append_events(wd, json.dumps({"seq": seq, "op": "state", "at": 1, "node": node}))
    refused_everywhere(wd, "engine/journal.jsonl:2:", 'a "state" event holds "state"')


@lib.test
def journal_node_name_that_is_a_path():
    wd = fresh()
    node, seq = journal_node(wd)
    node["name"] = "../../evil"
    append_events(wd, json.dumps({"seq": seq, "op": "prio", "at": 1, "node": node}))
    refused_everywhere(wd, "engine/journal.jsonl:2:", '"name": "../../evil" is not a node name',
                       'write it as "evil"')


@lib.test
def command_line_id_of_another_spelling():
    wd = fresh()
    before = lib.snapshot(wd)
    for args, right in ((("pause", wd, "n001"), "write n0001"),
                        (("prio", wd, "n00001", "3"), "write n0001"),
                        (("add", wd, "n0", "h"), "write n0000")):
        rc, out, err = hypotop(*args)
        check(rc == 2 and right in err and "hypotop status" in err,
              "%s %s: %d %r" % (args[0], args[2], rc, err))
    check(lib.snapshot(wd) == before, "files changed")


@lib.test
def torn_journal_tail_is_reported_not_fatal():
    wd = fresh()
    with open(os.path.join(wd, "engine/journal.jsonl"), "a") as f:
        f.write('{"seq":2,"op":"add","node":{"id":"n00')
    rc, out, err = hypotop("status", wd, "--json")
    check(rc == 0, "status failed: %s" % err)
    check("journal.jsonl:2" in err and "torn" in err, "not reported: %r" % err)
    rc, out, err = hypotop("pause", wd, "n0001")
    check(rc == 0, "a writer refused a torn tail: %s" % err)
    rc, out, err = hypotop("status", wd)
    check(rc == 0 and "torn" not in err, "torn tail not cut by the writer: %r" % err)


def init_args(d, **over):
    src = over.pop("src", None) or lib.make_repo(d)
    args = {"--source-dir": src, "--launch": "python3 train.py", "--metric": "val_loss"}
    args.update(over)
    out = ["init", os.path.join(d, "wd")]
    for k, v in args.items():
        if v is not None:
            out += [k, v]
    return out


def init_refused(d, args, *wants):
    rc, out, err = hypotop(*args)
    check(rc == 2, "exit %d, want 2: %s" % (rc, err))
    for w in wants:
        check(w in err, "message %r lacks %r" % (err.strip(), w))
    check(not os.path.exists(os.path.join(d, "wd")), "a workdir was created")
    check(not [x for x in os.listdir(d) if x.startswith("wd")], "leftovers: %s" % os.listdir(d))


@lib.test
def missing_source_dir():
    d = lib.tmpdir()
    init_refused(d, init_args(d, src=os.path.join(d, "nope")), "--source-dir", "no such folder")


@lib.test
def source_dir_not_git():
    d = lib.tmpdir()
    plain = os.path.join(d, "plain")
    os.makedirs(plain)
    init_refused(d, init_args(d, src=plain), "not a git repository", "git init")


@lib.test
def source_dir_without_commits():
    d = lib.tmpdir()
    empty = os.path.join(d, "empty")
    lib.sh("git", "init", "-q", empty)
    init_refused(d, init_args(d, src=empty), "no commit yet", "commit your code")


@lib.test
def source_dir_with_another_workdirs_branches():
    d = lib.tmpdir()
    src = lib.make_repo(d)
    lib.sh("git", "branch", "hypotop/n0000", cwd=src)
    init_refused(d, init_args(d, src=src), "hypotop/* branches", "own clone")


@lib.test
def empty_launch_command():
    d = lib.tmpdir()
    init_refused(d, init_args(d, **{"--launch": "  "}), "--launch", "must not be empty")


@lib.test
def init_flag_out_of_range():
    for flag, value, want in (("--max-concurrency", "0", "from 1 to 4096"),
                              ("--patience", "many", "not a number"),
                              ("--goal", "up", "min|max")):
        d = lib.tmpdir()
        init_refused(d, init_args(d, **{flag: value}), flag, want)


@lib.test
def init_missing_metric():
    d = lib.tmpdir()
    init_refused(d, init_args(d, **{"--metric": None}), '"metric"', "missing")


@lib.test
def second_engine_refused_with_pid():
    wd = fresh()
    for node in ("n0000", "n0001"):  # an idle engine: nothing to launch
        check(hypotop("pause", wd, node)[0] == 0, "pause")
    p = subprocess.Popen([lib.BIN, "run", "--headless", wd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        lib.wait_for(lambda: os.path.exists(os.path.join(wd, "engine/control.sock")), "engine")
        before = lib.snapshot(wd)
        rc, out, err = hypotop("run", "--headless", wd)
        check(rc == 2 and ("engine pid %d" % p.pid) in err and "engine/lock" in err,
              "%d %r" % (rc, err))
        check(lib.snapshot(wd) == before, "second engine changed files")
    finally:
        p.terminate()
        p.wait(timeout=20)


@lib.test
def queue_command_on_missing_node():
    wd = fresh()
    before = lib.snapshot(wd)
    for args in (("pause", wd, "n0042"), ("prio", wd, "n9", "1"), ("add", wd, "n0042", "h"),
                 ("cancel", wd, "banana")):
        rc, out, err = hypotop(*args)
        check(rc == 2 and "no node" in err and "hypotop status" in err,
              "%s: %d %r" % (args[0], rc, err))
    check(lib.snapshot(wd) == before, "files changed")


@lib.test
def queue_command_in_forbidden_status():
    wd = fresh()
    before = lib.snapshot(wd)
    cases = [(("resume", wd, "n0001"), "n0001 is queued; resume applies to a node that is paused"),
             (("retry", wd, "n0001"), "retry applies to a node that is completed, failed, cancelled"),
             (("prio", wd, "n0001", "high"), "not a priority"),
             (("add", wd, "n0001", ""), "hypothesis is empty"),
             (("add", wd, "n0001", "x", "--param", "lr"), "NAME=VALUE")]
    for args, want in cases:
        rc, out, err = hypotop(*args)
        check(rc == 2 and want in err, "%s: %d %r" % (args[0], rc, err))
    check(lib.snapshot(wd) == before, "files changed")
    hypotop("cancel", wd, "n0001")
    rc, out, err = hypotop("pause", wd, "n0001")
    check(rc == 2 and "n0001 is cancelled" in err, "pause of cancelled: %r" % err)


def bounded(*args):
    """Run the binary with 15 s and 1 GiB of address space: a read that hangs
    or grows without end fails the test instead of holding the suite."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
    try:
        r = subprocess.run([lib.BIN] + list(args), capture_output=True, text=True,
                           timeout=15, preexec_fn=limit)
    except subprocess.TimeoutExpired:
        raise lib.Fail("%s: still running after 15 s (a hang)" % " ".join(args[:4]))
    return r.returncode, r.stdout, r.stderr


def special_files(d, big_name, big_text):
    """(path, words the refusal must hold) for each kind of file that is not a
    regular file of a sane size."""
    fifo = os.path.join(d, "fifo")
    os.mkfifo(fifo)
    folder = os.path.join(d, "folder")
    os.makedirs(folder)
    big = os.path.join(d, big_name)
    with open(big, "w") as f:
        f.write(big_text)
    return [("/dev/zero", ["/dev/zero", "character device", "not a regular file"]),
            ("/dev/urandom", ["/dev/urandom", "character device", "not a regular file"]),
            (fifo, [fifo, "a fifo", "not a regular file"]),
            (folder, [folder, "a folder", "not a regular file"]),
            (big, [big, "more than the"])]


@lib.test
def patch_must_be_a_regular_file_of_at_most_16_mib():
    wd = fresh()
    before = lib.snapshot(wd)
    d = lib.tmpdir()
    patch = "diff --git a/train.py b/train.py\n--- a/train.py\n+++ b/train.py\n@@ -1 +1,1 @@\n"
    cases = special_files(d, "big.patch", patch + "+#" + "x" * (17 << 20) + "\n")
    for path, wants in cases:
        rc, out, err = bounded("add", wd, "n0000", "a hypothesis", "--patch", path)
        check(rc == 2, "--patch %s: exit %d, want 2 (%s)" % (path, rc, err.strip()))
        for w in wants + ["--patch"]:
            check(w in err, "--patch %s: message %r lacks %r" % (path, err.strip(), w))
    check("16 MiB" in err, "the limit is not named: %r" % err)
    # A NUL byte would cut the patch short where it is kept as text.
    nul = os.path.join(d, "nul.patch")
    with open(nul, "w") as f:
        f.write(patch + "-print(1)\n+print(2)\0\n")
    rc, out, err = bounded("add", wd, "n0000", "a hypothesis", "--patch", nul)
    check(rc == 2 and nul in err and "NUL byte" in err and "--binary" in err,
          "--patch with a NUL byte: %d %r" % (rc, err))
    check(lib.snapshot(wd) == before, "files changed")


@lib.test
def init_config_must_be_a_regular_file_of_at_most_1_mib():
    d = lib.tmpdir()
    src = lib.make_repo(d)
    files = lib.tmpdir()
    doc = json.dumps({"source_dir": src, "launch": "python3 train.py", "metric": "val_loss"})
    cases = special_files(files, "big.json", doc[:-1] + " " * (2 << 20) + "}")
    for path, wants in cases:
        rc, out, err = bounded("init", os.path.join(d, "wd"), "--config", path)
        check(rc == 2, "--config %s: exit %d, want 2 (%s)" % (path, rc, err.strip()))
        for w in wants + ["--config"]:
            check(w in err, "--config %s: message %r lacks %r" % (path, err.strip(), w))
        check(sorted(os.listdir(d)) == ["src"], "leftovers: %s" % os.listdir(d))
    check("1 MiB" in err, "the limit is not named: %r" % err)


@lib.test
def workdir_files_must_be_regular_files():
    for rel, make in (("config.json", os.mkfifo), ("workers.json", os.mkfifo),
                      ("config.json", os.makedirs)):
        wd = fresh()
        path = os.path.join(wd, rel)
        os.unlink(path)
        make(path)
        for args in (("status", wd), ("pause", wd, "n0001")):
            rc, out, err = bounded(*args)
            check(rc == 2 and path in err and "not a regular file" in err,
                  "%s with %s a %s: %d %r" % (args[0], rel, make.__name__, rc, err))
    wd = fresh()
    with open(os.path.join(wd, "workers.json"), "a") as f:
        f.write(" " * (2 << 20))
    rc, out, err = bounded("status", wd)
    check(rc == 2 and "workers.json" in err and "more than the 1 MiB" in err,
          "an oversize workers.json: %d %r" % (rc, err))



@lib.test
def nul_in_a_config_string():
    # Either spelling would cut the launch command short without a word.
    for nul in ("\\u0000", "\0"):
        wd = fresh()
        edit(wd, "config.json", lambda t: t.replace('"python3 train.py"',
                                                    '"python3 train.py%s; rm -rf ~"' % nul, 1))
        refused_everywhere(wd, "config.json:", '"launch"', "NUL")
    d = lib.tmpdir()
    cfg = os.path.join(d, "c.json")
    with open(cfg, "w") as f:
        f.write('{"source_dir": %s, "launch": "python3 train.py", "metric": "val\\u0000loss"}'
                % json.dumps(lib.make_repo(d)))
    rc, out, err = hypotop("init", os.path.join(d, "wd"), "--config", cfg)
    check(rc == 2 and "c.json:1:" in err and '"metric"' in err and "NUL" in err,
          "init: %d %r" % (rc, err))
    check(not os.path.exists(os.path.join(d, "wd")), "a workdir was created")



@lib.test
def param_value_that_is_not_a_finite_number():
    wd = fresh()
    before = lib.snapshot(wd)
    for kv, want in (("lr=1e999", "too large"), ("lr=-1E400", "too large"),
                     ("wd=NaN", "not a number"), ("wd=nan", "not a number"),
                     ("wd=-Infinity", "not a number"), ("wd=inf", "not a number")):
        rc, out, err = hypotop("add", wd, "n0000", "h", "--param", kv)
        name, value = kv.split("=")
        check(rc == 2 and ("--param %s" % kv) in err and want in err
              and ("%s='\"%s\"'" % (name, value)) in err, "%s: %d %r" % (kv, rc, err))
    check(lib.snapshot(wd) == before, "files changed")
    # A value is JSON as a whole or text: quoted, NaN is text; a number with
    # more after it is text too, not the number it starts with.
    rc, out, err = hypotop("add", wd, "n0000", "h", "--param", 'wd="NaN"', "--param",
                           "lr=0.01abc", "--param", "flag=true_story", "--param", "n=-2.5e3")
    check(rc == 0, "quoted NaN: %d %s" % (rc, err))
    with open(os.path.join(wd, "engine/checkpoint.json")) as f:
        changes = [q["change"] for q in json.load(f)["queue"] if q["change"]]
    check(changes == [{"kind": "params", "params": {"wd": "NaN", "lr": "0.01abc",
                                                    "flag": "true_story", "n": -2500}}],
          "stored as %s" % changes)


lib.finish()
