"""A stand-in for how the Python autoresearch engines keep their state: the
whole state is one JSON document (engine/checkpoint.json) rewritten after
every change — json.dump to a temp file, fsync, rename — and read back with
json.load. Run beside bench_state so both are measured on the same disk.

    peer_state.py journal DIR N     N changes, each a durable rewrite
    peer_state.py fill DIR N        a checkpoint of N nodes
    peer_state.py load DIR          load it; time and memory
"""

import json
import os
import resource
import sys
import time


def node(i):
    return {"id": "n%04d" % i, "parent": "n0000", "name": "variant-%d" % i,
            "hypothesis": "halve the learning rate after warm-up, variant %d" % i,
            "change": None, "priority": i % 10, "status": "queued",
            "created": 1795458009087, "commit": None, "worker": None, "metric": None,
            "improved": None, "failure": None}


def save(path, state):
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, path)
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    os.fsync(fd)
    os.close(fd)


def main():
    mode, d = sys.argv[1], sys.argv[2]
    path = os.path.join(d, "checkpoint.json")
    if mode == "load":
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t0 = time.monotonic()
        with open(path) as f:
            state = json.load(f)
        t = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        n = len(state["nodes"])
        print("nodes=%d load_ms=%.1f peak_rss_kib=%d bytes_per_node=%.0f"
              % (n, t * 1000, after, (after - before) * 1024.0 / n))
        return
    n = int(sys.argv[3])
    state = {"version": 1, "nodes": [node(0)]}
    t0 = time.monotonic()
    if mode == "fill":
        state["nodes"] += [node(i) for i in range(1, n + 1)]
        save(path, state)
    else:
        for i in range(1, n + 1):
            state["nodes"].append(node(i))
            save(path, state)
    t = time.monotonic() - t0
    print("ops=%d seconds=%.3f ops_per_s=%.0f" % (n, t, n / t))


main()
