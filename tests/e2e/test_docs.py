"""The documentation against the binary: every config key, command, queue
operation, journal operation, status field, failure kind and planner
failure kind the program knows is in the man page, and config.example.json uses every key and is
accepted by `hypotop init`."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402

MAN = os.path.join(lib.ROOT, "man", "hypotop.1")
EXAMPLE = os.path.join(lib.ROOT, "config.example.json")
QUEUE_OPS = ["add", "pause", "resume", "cancel", "prio", "retry"]


def read(path):
    with open(path) as f:
        return f.read()


def man_text():
    """The man page source with roff escapes undone, for plain searching."""
    text = read(MAN)
    text = text.replace("\\-", "-").replace("\\(dq", '"').replace("\\(aq", "'")
    return re.sub(r"\\f[BIRP]", "", text)


def man_section(text, name):
    """Text of one .SH section (up to the next .SH)."""
    m = re.search(r"^\.SH \"?%s\"?\s*$(.*?)(?=^\.SH |\Z)" % re.escape(name), text,
                  re.M | re.S)
    lib.check(m, "man page has no %s section" % name)
    return m.group(1)


def config_keys():
    rc, out, err = lib.hypotop("config-keys")
    lib.check(rc == 0, "config-keys failed (%d): %s" % (rc, err))
    keys = [line.split()[0] for line in out.splitlines() if line and not line[0].isspace()]
    lib.check(len(keys) > 10, "config-keys printed too few keys: %r" % keys)
    return keys


def field_names(value, out):
    """Every object key anywhere inside a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            out.add(k)
            field_names(v, out)
    elif isinstance(value, list):
        for v in value:
            field_names(v, out)
    return out


@lib.test
def every_config_key_in_man_page():
    text = man_text()
    conf = man_section(text, "CONFIGURATION")
    for key in config_keys():
        lib.check(re.search(r"^\.B %s$" % re.escape(key), conf, re.M),
                  "config key %s is not an entry of CONFIGURATION in man/hypotop.1" % key)
    # The section carries the reference exactly as the binary prints it.
    rc, ref, err = lib.hypotop("config-keys", "--man")
    lib.check(rc == 0, "config-keys --man failed: %s" % err)
    lib.check(ref in read(MAN),
              "CONFIGURATION differs from 'hypotop config-keys --man'; paste it again")


@lib.test
def every_config_key_in_example():
    doc = json.loads(read(EXAMPLE))
    for key in config_keys():
        node = doc
        parts = key.split(".")
        for i, part in enumerate(parts):
            lib.check(isinstance(node, dict) and part in node,
                      "config.example.json lacks %s (as %s)"
                      % (key, " -> ".join(parts[: i + 1])))
            node = node[part]


def headings(section):
    """First words of the entry headings of a section: .SS titles and the
    line after each .TP."""
    out = set()
    lines = section.splitlines()
    for i, line in enumerate(lines):
        head = None
        if line.startswith(".SS "):
            head = line[4:]
        elif line == ".TP" and i + 1 < len(lines):
            head = re.sub(r"^\.[BIR]+ ", "", lines[i + 1])
        if head:
            words = head.strip('"').split()
            if words:
                out.add(words[0].strip('"'))
    return out


@lib.test
def every_command_in_man_page():
    rc, out, err = lib.hypotop("--help")
    lib.check(rc == 0, "--help failed (%d): %s" % (rc, err))
    commands = re.findall(r"^  hypotop (\S+)", out, re.M)
    lib.check(len(commands) >= 4, "--help lists too few commands: %r" % commands)
    for name in QUEUE_OPS:
        lib.check(name in commands, "--help does not list the queue command %s" % name)
    text = man_text()
    section = man_section(text, "COMMANDS")
    synopsis = man_section(text, "SYNOPSIS")
    entries = headings(section)
    for name in sorted(set(commands) | set(QUEUE_OPS)):
        lib.check(name in entries, "command %s has no entry in the COMMANDS section" % name)
        lib.check(re.search(r"hypotop %s\b" % re.escape(name), synopsis),
                  "command %s is not in the SYNOPSIS" % name)
    # Every option the help shows, init's included, is documented.
    for flag in sorted(set(re.findall(r"--[a-z][a-z-]*", out))):
        lib.check(flag in section, "option %s is not in the COMMANDS section" % flag)


@lib.test
def example_config_accepted_by_init():
    d = lib.tmpdir()
    # The example's project: lr and dropout in its param file, the others flags.
    src = lib.make_repo(d, files={"train.py": "print('val_loss=1.0')\n",
                                  "hparams.json": '{"lr": 0.001, "dropout": 0.1}\n'})
    wd = os.path.join(d, "wd")
    rc, out, err = lib.hypotop("init", wd, "--config", EXAMPLE, "--source-dir", src)
    lib.check(rc == 0, "init --config config.example.json failed (%d): %s" % (rc, err))
    lib.check("baseline n0000" in out, "init printed %r" % out)
    written = json.loads(read(os.path.join(wd, "config.json")))
    example = json.loads(read(EXAMPLE))
    lib.check(written["source_dir"] == os.path.realpath(src),
              "source_dir is %r, not the --source-dir given" % written["source_dir"])
    del written["source_dir"], example["source_dir"]
    lib.check(written == example, "config.json differs from config.example.json")
    # A fresh workdir queues the baseline, its noise.seeds - 1 repeats (roots at
    # the same commit) and the fixed experiments as children of the baseline.
    st = lib.status_json(wd)
    seeds = example["noise"]["seeds"]
    fixed = [f["name"] for f in example["fixed_experiments"]]
    lib.check(st["total"] == seeds + len(fixed) and st["counts"]["queued"] == st["total"],
              "a fresh workdir should hold the baseline, %d repeats and %d fixed "
              "experiments, all queued: %r" % (seeds - 1, len(fixed), st))
    queue = {q["id"]: q for q in st["queue"]}
    lib.check(queue.get("n0000", {}).get("parent", "x") is None,
              "the baseline n0000 is not a queued root: %r" % st["queue"])
    roots = sorted(q["name"] for q in st["queue"] if q["parent"] is None)
    lib.check(roots == sorted(["baseline"] + ["baseline-seed-%d" % k for k in range(1, seeds)]),
              "the roots of a fresh workdir are %r" % roots)
    children = [q["name"] for q in st["queue"] if q["parent"] == "n0000"]
    lib.check(sorted(children) == sorted(fixed),
              "the fixed experiments %r are not queued under n0000: %r" % (fixed, st["queue"]))


@lib.test
def every_status_field_in_man_page():
    d = lib.tmpdir()
    wd = lib.make_workdir(d)
    # Nodes in several statuses, so the queue entries have every field.
    for args in (("add", wd, "n0000", "A larger learning rate", "--param", "lr=0.03"),
                 ("add", wd, "n0000", "Dropout helps", "--priority", "-2"),
                 ("pause", wd, "n0002"),
                 ("cancel", wd, "n0001")):
        rc, out, err = lib.hypotop(*args)
        lib.check(rc == 0, "%s failed (%d): %s" % (args[0], rc, err))
    st = lib.status_json(wd)
    fields = field_names(st, set())
    # The keys of "counts" are the statuses; the rest are field names.
    statuses = set(st["counts"])
    text = man_text()
    # Documented means a bold term or a quoted key in the prose, not only in
    # the example output.
    doc = re.sub(r"^\.nf$.*?^\.fi$", "", man_section(text, "STATUS JSON"), flags=re.M | re.S)
    for name in sorted(fields - statuses):
        lib.check(re.search(r'^\.BR? %s\b|"%s"' % (re.escape(name), re.escape(name)), doc,
                            re.M),
                  "status --json field %r is not documented in STATUS JSON" % name)
    nodes = man_section(text, "NODE STATUSES")
    for s in statuses:
        lib.check(re.search(r"^\.B %s$" % re.escape(s), nodes, re.M),
                  "status %s is not in NODE STATUSES" % s)


def call_args(text, start):
    """The top-level arguments of the call whose '(' is at text[start]."""
    args, depth, cur, i, quote = [], 0, "", start, None
    while i < len(text):
        c = text[i]
        if quote:
            cur += c
            if c == "\\":
                cur += text[i + 1]
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            cur += c
        elif c == "(":
            depth += 1
            if depth > 1:
                cur += c
        elif c == ")":
            depth -= 1
            if depth == 0:
                args.append(cur.strip())
                return args
            cur += c
        elif c == "," and depth == 1:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    return args


def failure_kinds():
    """Every failure kind the engine can record: the kind argument of each
    sched_fail() and the reason of each sched_kill() in src/engine/, and the
    kinds src/vcs/apply.c refuses a change with."""
    kinds = {}
    engine = os.path.join(lib.ROOT, "src", "engine")
    for rel in sorted("src/engine/" + f for f in os.listdir(engine) if f.endswith(".c")):
        text = read(os.path.join(lib.ROOT, rel))
        for m in re.finditer(r"\bsched_(?:fail|kill)\s*(?=\()", text):
            args = call_args(text, m.end())
            if len(args) >= 3:
                for kind in re.findall(r'"([a-z_]+)"', args[2]):
                    kinds.setdefault(kind, rel)
    apply_c = read(os.path.join(lib.ROOT, "src", "vcs", "apply.c"))
    for kind in re.findall(r'^#define KIND_\w+ "([a-z_]+)"', apply_c, re.M):
        kinds.setdefault(kind, "src/vcs/apply.c")
    return kinds


@lib.test
def every_failure_kind_in_man_page():
    kinds = failure_kinds()
    # The extraction itself must keep working as the code changes.
    for known in ("crash", "nan", "no_metric", "build", "launch", "patch_conflict"):
        lib.check(known in kinds, "found no failure kind %r in the sources; the test's "
                  "search is out of date: %r" % (known, sorted(kinds)))
    entries = headings(man_section(man_text(), "FAILURES"))
    for kind, where in sorted(kinds.items()):
        lib.check(kind in entries,
                  "failure kind %s (used in %s) has no entry in FAILURES in man/hypotop.1"
                  % (kind, where))


def journal_ops():
    """The names of JOURNAL_OPS in include/hypotop/workdir.h."""
    text = read(os.path.join(lib.ROOT, "include", "hypotop", "workdir.h"))
    m = re.search(r"^#define JOURNAL_OPS\(X\)(.*?)(?<!\\)$", text, re.M | re.S)
    lib.check(m, "include/hypotop/workdir.h has no JOURNAL_OPS table")
    return re.findall(r'X\("([a-z_]+)"\)', m.group(1))


@lib.test
def every_journal_op_in_man_page():
    ops = journal_ops()
    lib.check(set(QUEUE_OPS) | {"prepare", "state"} <= set(ops),
              "JOURNAL_OPS lacks a queue operation or the search is out of date: %r" % ops)
    text = man_text()
    m = re.search(r"The operations are the queue commands(.*?\n\.BR state \.)", text, re.S)
    lib.check(m, "man/hypotop.1 has no list of the journal's operations")
    listed = re.findall(r"^\.[BR]+ (?:\( )?([a-z_]+)", m.group(1), re.M)
    lib.check(sorted(listed) == sorted(ops),
              "the journal's operations in man/hypotop.1 (%s) are not JOURNAL_OPS (%s)"
              % (sorted(listed), sorted(ops)))


def planner_kinds():
    """The rows of PLANNER_KINDS in include/hypotop/planner.h: (name, pauses,
    doc) for each X(ID, "name", pause, "doc" "...")."""
    text = read(os.path.join(lib.ROOT, "include", "hypotop", "planner.h"))
    m = re.search(r"^#define PLANNER_KINDS\(X\)(.*?)(?<!\\)$", text, re.M | re.S)
    lib.check(m, "include/hypotop/planner.h has no PLANNER_KINDS table")
    body = m.group(1).replace("\\\n", " ")
    rows = []
    for row in re.finditer(r'\bX\(\s*\w+\s*,\s*"([^"]+)"\s*,\s*(true|false)\s*,\s*'
                           r'((?:"(?:[^"\\]|\\.)*"\s*)+)\)', body):
        doc = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', row.group(3)))
        rows.append((row.group(1), row.group(2) == "true", doc))
    return rows


def man_entries(section):
    """Entries of a section: the first word of each .TP heading, with the text
    of its body up to the next macro that ends it."""
    out = {}
    lines = section.splitlines()
    for i, line in enumerate(lines):
        if line != ".TP" or i + 1 >= len(lines):
            continue
        words = re.sub(r"^\.[BIR]+ ", "", lines[i + 1]).strip('"').split()
        if not words:
            continue
        body = []
        for line in lines[i + 2:]:
            if re.match(r"\.(TP|PP|SS|SH|IP|RS)\b", line):
                break
            body.append(re.sub(r"^\.[BIR]+ ", "", line))
        out[words[0].strip('"')] = " ".join(" ".join(body).split())
    return out


@lib.test
def every_planner_kind_in_man_page():
    kinds = planner_kinds()
    # The parse itself must keep working as the header changes.
    names = [k[0] for k in kinds]
    for known in ("llm_unavailable", "llm_invalid", "llm_budget", "llm_auth", "planner"):
        lib.check(known in names, "found no planner kind %r in include/hypotop/planner.h; "
                  "the test's parse is out of date: %r" % (known, names))
    lib.check(any(k[1] for k in kinds) and not all(k[1] for k in kinds),
              "the pause flags of PLANNER_KINDS were not read: %r" % kinds)
    entries = man_entries(man_section(man_text(), "FAILURES"))
    for name, pauses, doc in kinds:
        lib.check(name in entries,
                  "planner failure kind %s has no entry in FAILURES in man/hypotop.1" % name)
        text = entries[name]
        lib.check(" ".join(doc.split()) in text,
                  "the FAILURES entry of %s does not give its doc from planner.h, %r: %r"
                  % (name, doc, text))
        lib.check(("(pauses planning)" in text) == pauses,
                  "the FAILURES entry of %s should %ssay \"(pauses planning)\": %r"
                  % (name, "" if pauses else "not ", text))


def man_subsection(text, name):
    """Text of one .SS subsection (up to the next .SS or .SH)."""
    m = re.search(r'^\.SS "?%s"?\s*$(.*?)(?=^\.S[SH] |\Z)' % re.escape(name), text,
                  re.M | re.S)
    lib.check(m, "man page has no subsection %s" % name)
    return m.group(1)


def sentences(roff):
    """Roff source as prose (macro names dropped, white space folded), in sentences."""
    lines = [line.split(None, 1)[1] if line.startswith(".") and " " in line
             else "" if line.startswith(".") else line for line in roff.splitlines()]
    prose = " ".join(" ".join(lines).replace("\\c", "").split())
    return re.split(r"(?<=[.!?])\s+(?=[A-Z])", prose)


@lib.test
def man_page_says_jobs_never_see_the_api_keys():
    # A job is launched without these variables (sched.c hands them to the
    # executor as unset; local.c's job_environ drops them).
    text = man_text()
    keys = ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "llm.api_key_env")
    for where, part in (("ENVIRONMENT", man_section(text, "ENVIRONMENT")),
                        ("The API key", man_subsection(text, "The API key"))):
        said = [s for s in sentences(part) if s.startswith("Jobs never see")]
        lib.check(said and all(k in said[0] for k in keys),
                  "%s in man/hypotop.1 does not say that jobs never see %s: %r"
                  % (where, ", ".join(keys), said))
    for s in sentences(text):
        lib.check(not (re.search(r"\bjobs?\b", s, re.I) and re.search(r"\binherit", s) and
                       re.search(r"\bkeys?\b", s, re.I) and "never" not in s),
                  "man/hypotop.1 says jobs inherit the API key: %r" % s)


lib.finish()
