"""Print the cost of one custom event on a live tracer: log_instant, log_var, add_counter and a
VizCounter attribute write, in microseconds per call, for viztracer and optionally VizTracer 1.x.

usage: python benchmarks/custom_events.py [--anchor PYTHON] [--ours PYTHON] [--calls 20000]
                                          [--rounds 5] [--procs 5]

Each implementation runs the same code in its own subprocess (``--ours`` defaults to this
interpreter; ``--anchor`` is one whose ``viztracer`` is VizTracer 1.1.1): a started tracer, then
for each call kind a loop of ``--calls`` calls from a traced function, timed as a whole; the
tracer is cleared between loops, outside the timing. The kinds are interleaved within a round
and the two implementations alternate process by process; the figure is the median over
``--procs`` x ``--rounds`` loops. A figure includes the loop itself (0.02-0.04 us an iteration)
and the profile hook's events for the call (the tracer is live, as in a traced program).
Targets: log_instant, log_var and add_counter <= 1 us a call, VizCounter <= 2 us.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

KINDS = ("log_instant", "log_var", "add_counter", "VizCounter")


def loop_log_instant(tracer, counter, n):
    for _ in range(n):
        tracer.log_instant("instant")


def loop_log_var(tracer, counter, n):
    for i in range(n):
        tracer.log_var("var", i)


def loop_add_counter(tracer, counter, n):
    for i in range(n):
        tracer.add_counter("counter", {"a": i})


def loop_VizCounter(tracer, counter, n):
    for i in range(n):
        counter.a = i


def child(calls: int, rounds: int) -> None:
    """Run in the measured interpreter: print one JSON line of seconds per call, per kind."""
    from viztracer import VizTracer
    from viztracer.vizcounter import VizCounter

    loops = {kind: globals()["loop_" + kind] for kind in KINDS}
    tracer = VizTracer(tracer_entries=4 * calls + 100_000, verbose=0)
    counter = VizCounter(tracer, "vizcounter")
    times: dict[str, list[float]] = {kind: [] for kind in KINDS}
    tracer.start()
    for kind in KINDS:  # warm-up: imports, caches, the ring's first touch
        loops[kind](tracer, counter, min(calls, 1000))
    for r in range(rounds):
        order = KINDS[r % len(KINDS):] + KINDS[:r % len(KINDS)]
        for kind in order:
            tracer.clear()
            t0 = time.perf_counter()
            loops[kind](tracer, counter, calls)
            times[kind].append((time.perf_counter() - t0) / calls)
    # Sanity: the calls were recorded (one instant, three counter samples an iteration).
    tracer.clear()
    for kind in KINDS:
        loops[kind](tracer, counter, 10)
    tracer.stop()
    tracer.parse()
    phases = [e.get("ph") for e in tracer.data["traceEvents"]]
    print(json.dumps({"version": getattr(sys.modules["viztracer"], "__version__", "?"),
                      "times": times, "instants": phases.count("i"), "counters": phases.count("C")}))


def run(python: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as cwd:  # not the repository: its viztracer would win
        out = subprocess.run([python, os.path.abspath(__file__), "--child", "--calls", str(args.calls),
                              "--rounds", str(args.rounds)], capture_output=True, text=True, cwd=cwd,
                             timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{python}: {out.stderr.strip()[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", default=sys.executable, help="interpreter whose viztracer is this project")
    ap.add_argument("--anchor", help="interpreter whose viztracer is VizTracer 1.1.1")
    ap.add_argument("--calls", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--procs", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.calls, args.rounds)
        return 0
    impls = {"ours": args.ours}
    if args.anchor:
        impls["anchor"] = args.anchor
    samples: dict[str, dict[str, list[float]]] = {name: {k: [] for k in KINDS} for name in impls}
    versions = {}
    for _ in range(args.procs):
        for name, python in impls.items():
            result = run(python, args)
            versions[name] = result["version"]
            if result["instants"] < 10 or result["counters"] < 30:
                print(f"warning: {name} recorded {result['instants']} instants and "
                      f"{result['counters']} counter samples of 10 and 30", file=sys.stderr)
            for kind in KINDS:
                samples[name][kind] += result["times"][kind]
    print(f"us per call, median of {args.procs} x {args.rounds} loops of {args.calls} calls; "
          + ", ".join(f"{name} = viztracer {v}" for name, v in versions.items()))
    head = ["call"] + [f"{name} us" for name in impls] + (["ours/anchor"] if args.anchor else [])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for kind in KINDS:
        med = {name: statistics.median(samples[name][kind]) * 1e6 for name in impls}
        cells = [kind] + [f"{med[name]:.3f}" for name in impls]
        if args.anchor:
            cells.append(f"{med['ours'] / med['anchor']:.2f}")
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
