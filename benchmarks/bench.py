"""Print viztracer's tracing overhead against untraced and cProfile, its save time and size.

usage: python benchmarks/bench.py [--reps 5] [--workloads fib,hanoi] [--format json,json.gz]

Each figure is the best of ``--reps`` runs in this process. Overhead per call is
(traced - untraced) / recorded calls. The machines are shared and noisy: compare ratios
from one run, not absolute times across runs.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import workloads  # noqa: E402

from viztracer import VizTracer  # noqa: E402


def best(func, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        func()
        times.append(time.perf_counter() - t0)
    return min(times)


def measure(name: str, reps: int, formats: list[str]) -> dict:
    work = workloads.ALL[name]
    work()
    untraced = best(work, reps)

    def profiled():
        p = cProfile.Profile()
        p.enable()
        work()
        p.disable()
    cprofile = best(profiled, reps)

    tracer = VizTracer(tracer_entries=5_000_000, verbose=0)

    def traced():
        tracer.clear()
        tracer.start()
        work()
        tracer.stop()
    viz = best(traced, reps)
    calls = tracer.parse()
    row = {"workload": name, "untraced_ms": untraced * 1e3, "cprofile_x": cprofile / untraced,
           "viztracer_x": viz / untraced, "ns_per_call": (viz - untraced) / max(calls, 1) * 1e9,
           "calls": calls}
    with tempfile.TemporaryDirectory() as d:
        for fmt in formats:
            out = os.path.join(d, "r." + fmt)
            t0 = time.perf_counter()
            tracer.save(out, verbose=0)
            row[f"save_{fmt}_s"] = time.perf_counter() - t0
            row[f"size_{fmt}_MB"] = os.path.getsize(out) / 1e6
    tracer.cleanup()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workloads", default=",".join(workloads.ALL))
    ap.add_argument("--format", default="json,json.gz")
    args = ap.parse_args()
    formats = args.format.split(",")
    rows = [measure(w, args.reps, formats) for w in args.workloads.split(",")]
    cols = ["workload", "untraced_ms", "cprofile_x", "viztracer_x", "ns_per_call", "calls"]
    for fmt in formats:
        cols += [f"save_{fmt}_s", f"size_{fmt}_MB"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in rows:
        cells = [f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
