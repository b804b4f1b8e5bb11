"""Print how long the viewer's server takes to answer a tiled trace's search, range statistics
and flame graph (``viztracer/viewer/query.py``), on synthetic columns.

usage: python benchmarks/viewer_query.py [--tops 625000] [--names 200]

Two tracks, each a row of ``tops`` top-level calls of 1 us holding a call, a recursive ``rec``
and, under it, ``rec`` again next to another call: 10 slices per top call across both tracks
(6.25M by default). Names are drawn from ``names`` at random, so the flame graph has many
distinct stacks; ``--names 5`` gives a realistic few hundred. Best of three runs each.
"""
from __future__ import annotations

import argparse
import random
import time
from array import array

from viztracer.viewer.query import TraceQuery


def columns(tops: int, nnames: int) -> tuple[dict, dict]:
    rng = random.Random(1)
    names = [f"f{k}" for k in range(nnames)] + ["rec"]
    rec = nnames
    cols = {k: array("d") for k in ("start", "dur")}
    cols.update({k: array("i") for k in ("name", "parent", "track", "depth")})
    rows: list[int] = []

    def add(t, d, s, du, n, p):
        cols["start"].append(s)
        cols["dur"].append(du)
        cols["name"].append(n)
        cols["parent"].append(p)
        cols["track"].append(t)
        cols["depth"].append(d)

    for t in range(2):
        above = -1
        for d in range(4):
            first = len(cols["start"])
            for k in range(tops):
                s0, p = k * 1000.0, above + k if d else -1
                if d < 2:
                    add(t, d, s0, 1000 - 200 * d, rng.randrange(nnames), p)
                elif d == 2:
                    add(t, d, s0 + 100, 600, rec, p)
                else:
                    add(t, d, s0 + 200, 100, rec, p)
                    add(t, d, s0 + 400, 100, rng.randrange(nnames), p)
            rows += [t, d, first, len(cols["start"]) - first]
            above = first
    return {"names": names, "rows": rows}, cols


def best(f, reps: int = 3) -> float:
    out = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        out = min(out, time.perf_counter() - t0)
    return out * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tops", type=int, default=625_000)
    parser.add_argument("--names", type=int, default=200)
    args = parser.parse_args(argv)
    meta, cols = columns(args.tops, args.names)
    q = TraceQuery(meta, cols)
    end = args.tops * 1000.0
    print(f"{len(cols['start']):,} slices, {args.names} names")
    # the first search also counts the slices of every name (kept): timed once
    print(f"search 'f1', names and count: {best(lambda: q.search('f1'), reps=1):.1f} ms (first search)")
    print(f"search 'f1', a step:          {best(lambda: q.search('f1', 5, 1)):.1f} ms")
    print(f"range statistics, whole trace: {best(lambda: q.range_stats(0, end)):.1f} ms")
    a, b = end / 2, end / 2 + end / 100
    print(f"range statistics, 1%:          {best(lambda: q.range_stats(a, b)):.1f} ms")
    print(f"flame graph, whole trace:      {best(lambda: q.flame_range(0, end)):.1f} ms "
          f"({len(q.flame_range(0, end)['parent']):,} nodes)")
    print(f"flame graph, 1%:               {best(lambda: q.flame_range(a, b)):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
