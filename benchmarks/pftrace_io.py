"""Print how long a large ``.pftrace`` takes to write and to read back, and its size.

usage: python benchmarks/pftrace_io.py [--calls 1000000] [--reps 3]

Records ``--calls`` Python calls (a flat loop over a small function, so every event is one
call), then writes them as JSON, as a compressed and as a plain ``.pftrace``, reads each
``.pftrace`` back with ``read_pftrace`` and converts the JSON to ``.pftrace`` (what
``viztracer --combine r.json -o r.pftrace`` does). Each time is the best of ``--reps``.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from viztracer import VizTracer  # noqa: E402
from viztracer.report import perfetto  # noqa: E402
from viztracer.report.loader import load_report  # noqa: E402
from viztracer.report.pftrace_reader import read_pftrace  # noqa: E402


def leaf(i):
    return i


def record(calls: int) -> VizTracer:
    tracer = VizTracer(verbose=0, tracer_entries=calls + 1000, ignore_c_function=True)
    tracer.start()
    for i in range(calls):
        leaf(i)
    tracer.stop()
    return tracer


def best(func, reps: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(reps):
        result = None  # the previous result is garbage before the next run, not during it
        t0 = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    tracer = record(args.calls)
    with tempfile.TemporaryDirectory() as tmp:
        names = ("r.json", "r.pftrace", "plain.pftrace", "c.pftrace")
        paths = {name: os.path.join(tmp, name) for name in names}
        rows = []
        t, _ = best(lambda: tracer.save(paths["r.json"], verbose=0), args.reps)
        rows.append(("write .json", t, os.path.getsize(paths["r.json"])))
        t, _ = best(lambda: tracer.save(paths["r.pftrace"], verbose=0), args.reps)
        rows.append(("write .pftrace (compressed)", t, os.path.getsize(paths["r.pftrace"])))
        t, _ = best(lambda: perfetto.write(tracer.recording(), paths["plain.pftrace"], compress=False),
                    args.reps)
        rows.append(("write .pftrace (plain)", t, os.path.getsize(paths["plain.pftrace"])))
        for name in ("r.pftrace", "plain.pftrace"):
            t, report = best(lambda name=name: read_pftrace(paths[name]), args.reps)
            calls = sum(1 for e in report["traceEvents"] if e.get("ph") == "X")
            rows.append((f"read {name} ({calls} calls)", t, None))
        report = load_report(paths["r.json"])
        t, _ = best(lambda: perfetto.write_from_report(report, paths["c.pftrace"]), args.reps)
        rows.append(("convert loaded .json -> .pftrace", t, os.path.getsize(paths["c.pftrace"])))
    print(f"{args.calls} calls")
    print("| step | best s | MB |")
    print("|---|---|---|")
    for step, t, size in rows:
        print(f"| {step} | {t:.3f} | {'' if size is None else f'{size / 1e6:.1f}'} |")


if __name__ == "__main__":
    main()
