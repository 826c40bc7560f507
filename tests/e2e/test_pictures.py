"""The workdir's pictures (SPEC §8): hypothesis_tree.svg, laid out by
graphviz's dot, and progress.svg, drawn by hypotop, after a headless run of
the quickstart: well-formed XML, rendered to PNG by rsvg-convert and not
blank, every node and the best one in the tree; a name full of XML and DOT
specials still gives valid files; without dot the tree is skipped, said
once, and progress.svg is still drawn, at most every 10 s while runs end."""

import json
import os
import struct
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import lib  # noqa: E402
from lib import check  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
# Every special of XML and of a DOT string, and text that looks like a reference.
ODD = "w<&\"i'd>&#1;&amp;\\n"


def run(wd, env=None):
    r = subprocess.run([lib.BIN, "run", "--headless", wd], capture_output=True, text=True,
                       env=env, timeout=300)
    check(r.returncode == 0, "run: exit %d: %s" % (r.returncode, r.stderr[-2000:]))


def parse(path):
    check(os.path.isfile(path), "%s was not written" % os.path.basename(path))
    try:
        return ET.parse(path).getroot()
    except ET.ParseError as e:
        raise lib.Fail("%s is not well-formed XML: %s" % (os.path.basename(path), e))


def png_pixels(data):
    """The distinct pixels of an 8-bit PNG, read with zlib alone."""
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    check(depth == 8 and ctype in (0, 2, 4, 6), "PNG depth %d, colour type %d" % (depth, ctype))
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    raw, stride = zlib.decompress(idat), w * bpp
    prev, seen = bytearray(stride), set()
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        for i in range(0, stride, bpp):
            seen.add(bytes(line[i:i + bpp]))
        prev = line
    return seen


def check_renders(path):
    """rsvg-convert makes a PNG of it that is not one colour."""
    r = subprocess.run(["rsvg-convert", "--width", "360", path], capture_output=True,
                       timeout=60)
    check(r.returncode == 0, "rsvg-convert %s: %s" % (path, r.stderr[-500:]))
    colours = png_pixels(r.stdout)
    check(len(colours) > 1, "%s renders blank: %r" % (os.path.basename(path), colours))


def texts(root):
    return ["".join(e.itertext()) for e in root.iter() if e.tag in (SVG + "text", SVG + "title")]


def tree_nodes(wd):
    with open(os.path.join(wd, "engine", "tree.json")) as f:
        return json.load(f)["nodes"]


@lib.test
def quickstart_pictures_render():
    d = lib.tmpdir()
    src, wd = lib.quickstart(d)
    run(wd)
    tree_svg, progress_svg = (os.path.join(wd, n) for n in ("hypothesis_tree.svg", "progress.svg"))
    tree, progress = parse(tree_svg), parse(progress_svg)
    check_renders(tree_svg)
    check_renders(progress_svg)
    nodes = tree_nodes(wd)
    # dot titles each node's group with its name in the graph: the id.
    drawn = {"".join(g.find(SVG + "title").itertext()): g for g in tree.iter(SVG + "g")
             if g.get("class", "").split()[:1] == ["node"]}
    check(sorted(drawn) == sorted(n["id"] for n in nodes),
          "nodes drawn %r, in the tree %r" % (sorted(drawn), [n["id"] for n in nodes]))
    for n in nodes:
        label = texts(drawn[n["id"]])
        check(n["id"] in label and n["name"] in label, "%s labelled %r" % (n["id"], label))
    best = lib.status_json(wd)["best"]["node"]
    marked = [g for g in tree.iter(SVG + "g") if "best" in g.get("class", "").split()]
    check(len(marked) == 1 and marked[0].get("id") == "best" and
          "".join(marked[0].find(SVG + "title").itertext()) == best,
          "the best %s is not the one node marked: %r" % (best, [g.attrib for g in marked]))
    # One point a completed run, in the order they ended; the improved ones marked.
    done = sorted((n for n in nodes if n["status"] == "completed" and n.get("metric") is not None),
                  key=lambda n: (n["finished"], n["id"]))
    points = [c for c in progress.iter(SVG + "circle") if c.get("class") in ("run", "improved")]
    order = ["".join(c.itertext()).split()[0] for c in points]
    check(order == [n["id"] for n in done], "points %r, runs %r" % (order, [n["id"] for n in done]))
    improved = sorted("".join(c.itertext()).split()[0] for c in points
                      if c.get("class") == "improved")
    with open(os.path.join(wd, "master_table.tsv")) as f:
        rows = [r.split("\t") for r in f.read().splitlines()[1:]]
    check(improved and improved == sorted(r[0] for r in rows if r[6] == "yes"),
          "improved points %r, table %r" % (improved, rows))
    line = [p for p in progress.iter(SVG + "polyline") if p.get("class") == "best-so-far"]
    check(len(line) == 1 and len(line[0].get("points").split()) >= len(done),
          "no best-so-far line: %r" % [p.attrib for p in line])


def small_workdir(d, name, first="", **over):
    """The quickstart, its fixed experiment named name, its config changed by over
    (one planning round unless said), train.py starting with the line first."""
    with open(os.path.join(lib.QUICKSTART, "hypotop.json")) as f:
        cfg = json.load(f)
    cfg["max_iterations"] = 1
    cfg.update(over)
    cfg["fixed_experiments"][0]["name"] = name
    path = os.path.join(d, "hypotop.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    files = {}
    for rel in ("train.py", "hparams.json"):
        with open(os.path.join(lib.QUICKSTART, rel)) as f:
            files[rel] = f.read()
    files["train.py"] = first + files["train.py"]
    src = lib.make_repo(d, files=files)
    wd = os.path.join(d, "wd")
    rc, out, err = lib.hypotop("init", wd, "--config", path, "--source-dir", src)
    check(rc == 0, "init: %s" % err)
    return wd


@lib.test
def odd_name_gives_valid_files():
    wd = small_workdir(lib.tmpdir(), ODD)
    run(wd)
    odd = [n for n in tree_nodes(wd) if n["name"] == ODD]
    check(len(odd) == 1, "no node named %r" % ODD)
    for name in ("hypothesis_tree.svg", "progress.svg"):
        path = os.path.join(wd, name)
        root = parse(path)
        check_renders(path)
        shown = texts(root)
        if name == "hypothesis_tree.svg":
            ok = ODD in shown  # a line of its label
        else:
            ok = any(t.startswith("%s %s: " % (odd[0]["id"], ODD)) for t in shown)
        check(ok, "%s does not show %r: %r" % (name, ODD, shown))


def path_without_dot(d):
    """The same PATH, every program but dot."""
    bin_dir = os.path.join(d, "bin")
    os.mkdir(bin_dir)
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            link = os.path.join(bin_dir, name)
            if name != "dot" and not os.path.lexists(link):
                os.symlink(os.path.join(folder, name), link)
    return bin_dir


@lib.test
def without_dot_progress_is_drawn_at_most_every_10_s():
    d = lib.tmpdir()
    # Runs of half a second one by one: well past the first 10 s.
    wd = small_workdir(d, "wider", "import time; time.sleep(0.5)\n", max_iterations=5,
                       max_concurrency=1)
    progress = os.path.join(wd, "progress.svg")
    start = time.monotonic()
    en = lib.Engine(d, wd, env=dict(os.environ, PATH=path_without_dot(d)))
    # Each drawing renames a new file over the old one: a new inode.
    drawn, last = [start], None
    deadline = time.monotonic() + 240
    while en.p.poll() is None and time.monotonic() < deadline:
        try:
            ino = os.stat(progress).st_ino
        except FileNotFoundError:
            ino = None
        if ino is not None and ino != last:
            drawn.append(time.monotonic())
            last = ino
        time.sleep(0.02)
    en.stop()
    check(en.p.returncode == 0, "run: %s" % en.said()[-2000:])
    gaps = [b - a for a, b in zip(drawn, drawn[1:])]
    # From the start on; the last may come sooner: the work is over.
    check(len(gaps) >= 2 and all(g > 9.5 for g in gaps[:-1]), "drawn after %r s" % gaps)
    parse(progress)
    check_renders(progress)
    check(not os.path.exists(os.path.join(wd, "hypothesis_tree.svg")),
          "hypothesis_tree.svg was written without dot")
    # Each drawing tried dot again; it is said once.
    with open(os.path.join(wd, "logs", "hypotop.log")) as f:
        said = [l for l in f if "hypothesis_tree.svg is not drawn" in l]
    check(len(said) == 1 and "dot is not on PATH" in said[0], "said %r" % said)


lib.finish()
