"""Print what ``--stream`` costs: traced time of the shared workloads with the report streamed
to disk while tracing, over ring-only tracing (the ring kept in memory, nothing saved), and
VizTracer 1.x's ring-only time for reference.

usage: python benchmarks/stream.py [--anchor PYTHON] [--ours PYTHON] [--workloads fib,cfuncs]
                                   [--procs 3] [--reps 7] [--entries 1000000]
                                   [--workloads-file ../shared/bench/workloads.py]

Each rep times ``tracer.start(); work(); tracer.stop()`` in each mode in turn, within one
process: ``ring`` (``VizTracer()``), ``stream.json`` and ``stream.pftrace``
(``VizTracer(stream=True)``: the writer thread drains the ring during the run, and ``stop()``
writes the rest and completes the file, so the figure holds the whole cost of writing the
report). The ratios are medians of each rep's ratio to the ``ring`` rep next to it, which holds
when the machine's speed drifts; times are medians over ``--procs`` processes x ``--reps``
reps. ``anchor`` is 1.1.1's ring-only time, in processes of its own. Target: stream / ring <=
1.15, and below the anchor.

The writer thread works on another core, mostly without the GIL: the ``cpu`` columns give the
traced thread's own CPU time, streamed over ring-only, which is what streaming costs the program
when a core is free. On a machine with no core to spare the wall-time ratio is higher (the
writer takes the program's core); they tell the two apart.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WORKLOADS = os.path.join(HERE, "..", "..", "shared", "bench", "workloads.py")

PROG = """
import json, os, sys, time
sys.path.insert(0, {wdir!r})
import workloads
from viztracer import VizTracer
work = workloads.ALL[{name!r}]
modes = {modes!r}
work()
res = {{m: {{"times": [], "cpu": []}} for m in modes}}
dropped = 0
for i in range({reps}):
    for mode in modes:
        if mode.startswith("stream"):
            out = os.path.join({tmp!r}, f"r{{i}}." + mode.split(".")[1])
            tracer = VizTracer(tracer_entries={entries}, verbose=0, stream=True, output_file=out)
        else:
            tracer = VizTracer(tracer_entries={entries}, verbose=0)
        c0 = time.thread_time(); t0 = time.perf_counter()
        tracer.start(); work(); tracer.stop()
        res[mode]["times"].append(time.perf_counter() - t0)
        res[mode]["cpu"].append(time.thread_time() - c0)
        if mode.startswith("stream"):
            dropped += tracer.metadata()["dropped_entries"]
            os.remove(out)
        tracer.clear()
print("BENCH " + json.dumps({{"modes": res, "dropped": dropped}}))
"""

OURS = ("ring", "stream.json", "stream.pftrace")


def run(python: str, modes: tuple[str, ...], name: str, reps: int, entries: int, wdir: str,
        tmp: str) -> dict:
    code = PROG.format(wdir=wdir, name=name, modes=modes, reps=reps, entries=entries, tmp=tmp)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"{modes} {name} failed:\n{out.stderr[-2000:]}")


def paired(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ours", default=sys.executable)
    p.add_argument("--anchor", help="an interpreter with VizTracer 1.1.1 installed")
    p.add_argument("--workloads", default="fib,hanoi,qsort,objects,cfuncs,jsonwork")
    p.add_argument("--workloads-file", default=DEFAULT_WORKLOADS)
    p.add_argument("--procs", type=int, default=3)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--entries", type=int, default=1_000_000)
    a = p.parse_args()
    # The modes run in a scratch directory: a relative interpreter path is made absolute first.
    a.ours, a.anchor = (os.path.abspath(x) if x and os.sep in x else x for x in (a.ours, a.anchor))
    wdir = os.path.dirname(os.path.abspath(a.workloads_file))
    columns = list(OURS) + (["anchor"] if a.anchor else [])
    print(f"{'workload':10} " + " ".join(f"{m:>15}" for m in columns)
          + f" {'json/ring':>10} {'pftrace/ring':>12} {'cpu json':>9} {'cpu pftrace':>11} {'dropped':>8}")
    for name in a.workloads.split(","):
        times: dict[str, list[float]] = {m: [] for m in columns}
        cpu: dict[str, list[float]] = {m: [] for m in columns}
        dropped = 0
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(a.procs):
                r = run(a.ours, OURS, name, a.reps, a.entries, wdir, tmp)
                for m in OURS:
                    times[m] += r["modes"][m]["times"]
                    cpu[m] += r["modes"][m]["cpu"]
                dropped += r["dropped"]
                if a.anchor:
                    r = run(a.anchor, ("ring",), name, a.reps, a.entries, wdir, tmp)
                    times["anchor"] += r["modes"]["ring"]["times"]
        med = {m: statistics.median(t) for m, t in times.items()}
        print(f"{name:10} " + " ".join(f"{med[m]:15.4f}" for m in columns)
              + f" {paired(times['stream.json'], times['ring']):10.2f}"
              + f" {paired(times['stream.pftrace'], times['ring']):12.2f}"
              + f" {paired(cpu['stream.json'], cpu['ring']):9.2f}"
              + f" {paired(cpu['stream.pftrace'], cpu['ring']):11.2f}"
              + f" {dropped:8d}", flush=True)


if __name__ == "__main__":
    main()
