"""Print what ``--stream`` costs: traced time of the shared workloads with the report streamed
to disk while tracing, over ring-only tracing (the ring kept in memory, nothing saved), and
VizTracer 1.x's ring-only time for reference.

usage: python benchmarks/stream.py [--anchor PYTHON] [--ours PYTHON] [--workloads fib,cfuncs]
                                   [--procs 3] [--reps 5] [--entries 1000000]
                                   [--workloads-file ../shared/bench/workloads.py]

Each rep times ``tracer.start(); work(); tracer.stop()`` in a process of its own mode: ``ring``
(``VizTracer()``), ``stream.json`` and ``stream.pftrace`` (``VizTracer(stream=True)``: the
writer thread drains the ring during the run, and ``stop()`` writes the rest and completes the
file, so the figure holds the whole cost of writing the report), and ``anchor`` (1.1.1's
ring-only). Figures are medians over ``--procs`` processes x ``--reps`` reps, modes
interleaved process by process. Target: stream / ring <= 1.15, and below the anchor.

The writer thread works on another core, mostly without the GIL: the last columns give the
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
mode = {mode!r}
work()
times, cpu = [], []
dropped = 0
for i in range({reps}):
    if mode.startswith("stream"):
        out = os.path.join({tmp!r}, f"r{{i}}." + mode.split(".")[1])
        tracer = VizTracer(tracer_entries={entries}, verbose=0, stream=True, output_file=out)
    else:
        tracer = VizTracer(tracer_entries={entries}, verbose=0)
    c0 = time.thread_time(); t0 = time.perf_counter()
    tracer.start(); work(); tracer.stop()
    times.append(time.perf_counter() - t0); cpu.append(time.thread_time() - c0)
    if mode.startswith("stream"):
        dropped += tracer.metadata()["dropped_entries"]
        os.remove(out)
    tracer.clear()
print("BENCH " + json.dumps({{"times": times, "cpu": cpu, "dropped": dropped}}))
"""

MODES = ("ring", "stream.json", "stream.pftrace", "anchor")


def run(python: str, mode: str, name: str, reps: int, entries: int, wdir: str, tmp: str) -> dict:
    code = PROG.format(wdir=wdir, name=name, mode="ring" if mode == "anchor" else mode, reps=reps,
                       entries=entries, tmp=tmp)
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp, timeout=1800)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"{mode} {name} failed:\n{out.stderr[-2000:]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ours", default=sys.executable)
    p.add_argument("--anchor", help="an interpreter with VizTracer 1.1.1 installed")
    p.add_argument("--workloads", default="fib,hanoi,qsort,objects,cfuncs,jsonwork")
    p.add_argument("--workloads-file", default=DEFAULT_WORKLOADS)
    p.add_argument("--procs", type=int, default=3)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--entries", type=int, default=1_000_000)
    a = p.parse_args()
    wdir = os.path.dirname(os.path.abspath(a.workloads_file))
    modes = [m for m in MODES if m != "anchor" or a.anchor]
    print(f"{'workload':10} " + " ".join(f"{m:>15}" for m in modes)
          + f" {'json/ring':>10} {'pftrace/ring':>12} {'cpu json':>9} {'cpu pftrace':>11} {'dropped':>8}")
    for name in a.workloads.split(","):
        times: dict[str, list[float]] = {m: [] for m in modes}
        cpu: dict[str, list[float]] = {m: [] for m in modes}
        dropped = 0
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(a.procs):
                for m in modes:
                    r = run(a.anchor if m == "anchor" else a.ours, m, name, a.reps, a.entries, wdir, tmp)
                    times[m] += r["times"]
                    cpu[m] += r["cpu"]
                    dropped += r["dropped"]
        med = {m: statistics.median(t) for m, t in times.items()}
        mcpu = {m: statistics.median(t) for m, t in cpu.items()}
        print(f"{name:10} " + " ".join(f"{med[m]:15.4f}" for m in modes)
              + f" {med['stream.json'] / med['ring']:10.2f} {med['stream.pftrace'] / med['ring']:12.2f}"
              + f" {mcpu['stream.json'] / mcpu['ring']:9.2f} {mcpu['stream.pftrace'] / mcpu['ring']:11.2f}"
              + f" {dropped:8d}", flush=True)


if __name__ == "__main__":
    main()
