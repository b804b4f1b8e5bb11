"""Print what ``log_sparse`` costs when no function is decorated: traced time over untraced time
of the shared workloads, for viztracer and optionally VizTracer 1.x.

usage: python benchmarks/log_sparse.py [--anchor PYTHON] [--ours PYTHON] [--workloads fib,cfuncs]
                                       [--procs 5] [--reps 5]
                                       [--workloads-file ../shared/bench/workloads.py]

Two ways, each in subprocesses of the measured interpreter (``--ours`` defaults to this one):

- api: ``VizTracer(log_sparse=True)``; each rep times the workload untraced, then
  ``start(); work(); stop()``, in one process;
- cli: ``python prog.py`` against ``python -m viztracer --log_sparse -o r.json prog.py``,
  where ``prog.py`` times the workload itself (so start-up and saving are left out), the two
  commands alternating.

Each figure is the median over ``--procs`` processes x ``--reps`` reps, implementations and
modes interleaved process by process; the last column says whether a profile or trace function
was installed while traced. Target: traced / untraced <= 1.2 on fib and cfuncs.
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

API = """
import json, sys, time
sys.path.insert(0, {wdir!r})
import workloads
from viztracer import VizTracer
work = workloads.ALL[{name!r}]
tracer = VizTracer(log_sparse=True, verbose=0)
work()
tracer.start(); hook = sys.getprofile() is not None or sys.gettrace() is not None; work(); tracer.stop()
untraced, traced = [], []
for _ in range({reps}):
    t0 = time.perf_counter(); work(); untraced.append(time.perf_counter() - t0)
    t0 = time.perf_counter(); tracer.start(); work(); tracer.stop(); traced.append(time.perf_counter() - t0)
print("BENCH " + json.dumps({{"untraced": untraced, "traced": traced, "hook": hook}}))
"""

PROG = """
import json, sys, time
sys.path.insert(0, {wdir!r})
import workloads
work = workloads.ALL[{name!r}]
work()
times = []
for _ in range({reps}):
    t0 = time.perf_counter(); work(); times.append(time.perf_counter() - t0)
hook = sys.getprofile() is not None or sys.gettrace() is not None
print("BENCH " + json.dumps({{"times": times, "hook": hook}}))
"""


def bench_line(cmd: list[str], cwd: str):
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=600)
    lines = [line for line in out.stdout.splitlines() if line.startswith("BENCH ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{' '.join(cmd)}: rc={out.returncode} {out.stderr.strip()[-2000:]}")
    return json.loads(lines[-1][len("BENCH "):])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", default=sys.executable, help="interpreter whose viztracer is this project")
    ap.add_argument("--anchor", help="interpreter whose viztracer is VizTracer 1.1.1")
    ap.add_argument("--workloads", default="fib,cfuncs")
    ap.add_argument("--workloads-file", default=DEFAULT_WORKLOADS)
    ap.add_argument("--procs", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    wdir = os.path.dirname(os.path.abspath(args.workloads_file))
    impls = {"ours": args.ours, **({"anchor": args.anchor} if args.anchor else {})}
    names = args.workloads.split(",")
    samples: dict[tuple, list[float]] = {}
    hooks: dict[tuple, bool] = {}  # a profile or trace function was installed while traced
    with tempfile.TemporaryDirectory() as tmp:  # cwd: not the repository, whose viztracer would win
        for name in names:
            api = os.path.join(tmp, f"api_{name}.py")
            prog = os.path.join(tmp, f"prog_{name}.py")
            with open(api, "w") as f:
                f.write(API.format(wdir=wdir, name=name, reps=args.reps))
            with open(prog, "w") as f:
                f.write(PROG.format(wdir=wdir, name=name, reps=args.reps))
        for _ in range(args.procs):
            for name in names:
                for impl, python in impls.items():
                    api = bench_line([python, os.path.join(tmp, f"api_{name}.py")], tmp)
                    for key in ("untraced", "traced"):
                        samples.setdefault((impl, name, "api", key), []).extend(api[key])
                    hooks[(impl, name, "api")] = api["hook"]
                    prog = os.path.join(tmp, f"prog_{name}.py")
                    runs = {"untraced": [python, prog],
                            "traced": [python, "-m", "viztracer", "--log_sparse", "-o",
                                       os.path.join(tmp, "r.json"), prog]}
                    for key, cmd in runs.items():
                        result = bench_line(cmd, tmp)
                        samples.setdefault((impl, name, "cli", key), []).extend(result["times"])
                    hooks[(impl, name, "cli")] = result["hook"]
    print(f"median of {args.procs} x {args.reps} runs; ratio = traced / untraced (target <= 1.2)")
    print("| workload | implementation | mode | untraced ms | traced ms | ratio | hook installed |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        for impl in impls:
            for mode in ("api", "cli"):
                un = statistics.median(samples[(impl, name, mode, "untraced")])
                tr = statistics.median(samples[(impl, name, mode, "traced")])
                hook = "yes" if hooks[(impl, name, mode)] else "no"
                print(f"| {name} | {impl} | {mode} | {un * 1e3:.1f} | {tr * 1e3:.1f} | {tr / un:.2f} "
                      f"| {hook} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
