"""Print what child processes cost: a traced ``multiprocessing.Pool`` from the command line,
ours against VizTracer 1.x, and the time to put many children's reports into the parent's.

usage: python benchmarks/multiprocess.py [--anchor PYTHON] [--ours PYTHON] [--runs 7]
                                         [--children 8] [--calls 200000] [--only pool|merge]

``pool``: ``viztracer prog.py`` on a program mapping ``multiprocessing.Pool(2)`` over 8 tasks,
the whole command timed (start, tracing, the workers' reports, the one report saved), ours and
the anchor's in turn, ``--runs`` times each; medians. Target: ours at most the anchor's.

``merge``: ``--children`` processes each trace ``--calls`` calls and save a report into a
folder as a child of the command does; then the parent's report is saved and every child's
appended to it (``viztracer.report.merge.append_children``), timed, for ``.json`` and
``.pftrace``. Target: at most 3 s for 8 children of 200,000 calls.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HANG = 30      # seconds: a run still going then is counted as hung (1.x's pools hang now and then)

POOL_PROGRAM = """
import multiprocessing as mp
def square(x):
    return x * x
if __name__ == "__main__":
    with mp.Pool(2) as pool:
        print(sum(pool.map(square, range(8))))
"""

CHILD_PROGRAM = """
import sys
from viztracer import VizTracer
def leaf(i):
    return i
tracer = VizTracer(tracer_entries={calls} + 100, verbose=0, output_file=sys.argv[1])
tracer.start()
for i in range({calls} - 1):
    leaf(i)
tracer.stop()
tracer.save()
"""

MERGE_PROGRAM = """
import os, sys, time
from viztracer import VizTracer
from viztracer.report.merge import ChildReport, append_children
folder, ext = sys.argv[1], sys.argv[2]
tracer = VizTracer(verbose=0)
tracer.start(); tracer.stop()
report = os.path.join(folder, "parent" + ext)
tracer.save(report)
children = [ChildReport(int(name.split("_")[1].split(".")[0]), name, os.path.join(folder, name))
            for name in sorted(os.listdir(folder)) if name.startswith("result_")]
t0 = time.perf_counter()
append_children(report, os.getpid(), "MainProcess", children)
print(time.perf_counter() - t0, os.path.getsize(report))
"""


def viztracer_command(python: str) -> list[str]:
    python = os.path.abspath(python)
    script = os.path.join(os.path.dirname(python), "viztracer")
    return [script] if os.path.exists(script) else [python, "-m", "viztracer"]


def time_pool(anchor: str | None, ours: str, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prog = os.path.join(tmp, "pool.py")
        with open(prog, "w") as f:
            f.write(POOL_PROGRAM)
        commands = {"ours": viztracer_command(ours)}
        if anchor:
            commands["1.1.1"] = viztracer_command(anchor)
        times: dict[str, list[float]] = {name: [] for name in commands}
        hung = {name: 0 for name in commands}
        for _ in range(runs):
            for name, cmd in commands.items():
                out = os.path.join(tmp, f"{name}.json")
                t0 = time.perf_counter()
                try:
                    subprocess.run([*cmd, "--quiet", "-o", out, prog], cwd=tmp, check=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=HANG)
                except subprocess.TimeoutExpired:   # its children may live on: killed with the group
                    hung[name] += 1
                    continue
                times[name].append(time.perf_counter() - t0)
        print(f"Pool(2) over 8 tasks, whole command, median of {runs}:")
        for name, values in times.items():
            median = statistics.median(values) if values else float("nan")
            print(f"  {name:6} {median:.3f} s  (min {min(values, default=0):.3f}, max "
                  f"{max(values, default=0):.3f}); hung past {HANG} s: {hung[name]} of {runs}")
        if anchor and times["ours"] and times["1.1.1"]:
            ratio = statistics.median(times["ours"]) / statistics.median(times["1.1.1"])
            print(f"  ours / 1.1.1: {ratio:.2f}")


def time_merge(ours: str, children: int, calls: int) -> None:
    for ext in (".json", ".pftrace"):
        folder = tempfile.mkdtemp(prefix="vt_merge_")
        try:
            prog = os.path.join(folder, "child_prog.py")
            with open(prog, "w") as f:
                f.write(CHILD_PROGRAM.format(calls=calls))
            procs = [subprocess.Popen([ours, prog, os.path.join(folder, f"result_{1000 + i}{ext}")])
                     for i in range(children)]
            for p in procs:
                assert p.wait() == 0
            os.remove(prog)
            size = sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))
            out = subprocess.run([ours, "-c", MERGE_PROGRAM, folder, ext], capture_output=True, text=True,
                                 check=True).stdout.split()
            print(f"merge {children} children x {calls} calls ({ext}, {size / 1e6:.0f} MB of reports): "
                  f"{float(out[0]):.2f} s, report {int(out[1]) / 1e6:.0f} MB")
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--anchor", help="python of a venv with VizTracer 1.1.1")
    parser.add_argument("--ours", default=sys.executable)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--children", type=int, default=8)
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--only", choices=("pool", "merge"))
    args = parser.parse_args()
    if args.only in (None, "pool"):
        time_pool(args.anchor, args.ours, args.runs)
    if args.only in (None, "merge"):
        time_merge(args.ours, args.children, args.calls)


if __name__ == "__main__":
    main()
