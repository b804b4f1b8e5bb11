"""Print the size of the fib workload's report as JSON, xz -9 of that JSON, our .cvf and
VizTracer 1.1.1's .cvf, and how long --compress and --decompress take on a 1M-event report.

usage: python benchmarks/compress.py [--anchor VIZTRACER_1_1_1_COMMAND] [--shared ../shared/bench]
                                     [--events 1000000] [--reps 1]

The fib report is ``workloads.fib()`` of the shared benchmarks (``--shared``) traced by our
VizTracer. The timed report is ``--events`` calls of two small functions. Times are of the
whole commands (``viztracer --compress in.json -o out.cvf``, ``viztracer --decompress out.cvf
-o back.json``), reading and writing the files included, best of ``--reps``; ours also split
into the .cvf encoding and decoding alone. ``--anchor`` is 1.1.1's ``viztracer`` command;
without it, its columns are left out.
"""
from __future__ import annotations

import argparse
import importlib.util
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
SHARED = os.path.join(HERE, "..", "..", "shared", "bench")
OURS = [sys.executable, "-m", "viztracer"]

from viztracer import VizTracer  # noqa: E402
from viztracer.report import cvf  # noqa: E402
from viztracer.report.loader import load_report  # noqa: E402


def fib_report(shared: str, path: str) -> None:
    spec = importlib.util.spec_from_file_location("workloads", os.path.join(shared, "workloads.py"))
    workloads = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(workloads)
    tracer = VizTracer(verbose=0, tracer_entries=2_000_000)
    tracer.start()
    workloads.fib()
    tracer.stop()
    tracer.save(path, verbose=0)


def leaf(i):
    return i


def mid(i):
    return leaf(i) + leaf(i + 1)


def large_report(events: int, path: str) -> None:
    tracer = VizTracer(verbose=0, tracer_entries=events + 1000, ignore_c_function=True)
    tracer.start()
    for i in range(events // 3):
        mid(i)
    tracer.stop()
    tracer.save(path, verbose=0)


def xz9(path: str) -> int:
    if shutil.which("xz"):
        return len(subprocess.run(["xz", "-9", "-c", path], capture_output=True, check=True).stdout)
    with open(path, "rb") as f:
        return len(lzma.compress(f.read(), preset=9))


def command_seconds(cmd: list[str], *args: str, reps: int) -> float:
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([*cmd, *args], check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anchor", help="VizTracer 1.1.1's viztracer command")
    ap.add_argument("--shared", default=SHARED, help="the folder of the shared workloads.py")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    anchor = [args.anchor] if args.anchor else None
    with tempfile.TemporaryDirectory() as tmp:
        path = {name: os.path.join(tmp, name) for name in
                ("fib.json", "fib.cvf", "fib_1.cvf", "big.json", "big.cvf", "big_1.cvf", "back.json")}
        fib_report(args.shared, path["fib.json"])
        subprocess.run([*OURS, "--compress", path["fib.json"], "-o", path["fib.cvf"]], check=True,
                       capture_output=True)
        size = os.path.getsize(path["fib.json"])
        rows = [("JSON", size), ("xz -9 of the JSON", xz9(path["fib.json"])),
                ("our .cvf", os.path.getsize(path["fib.cvf"]))]
        if anchor:
            subprocess.run([*anchor, "--compress", path["fib.json"], "-o", path["fib_1.cvf"]], check=True,
                           capture_output=True)
            rows.append(("1.1.1's .cvf", os.path.getsize(path["fib_1.cvf"])))
        events = len(load_report(path["fib.json"])["traceEvents"])
        print(f"fib workload report, {events} events:")
        for label, n in rows:
            print(f"  {label:20} {n:>12,} bytes  (JSON / this = {size / n:6.1f}x)")

        large_report(args.events, path["big.json"])
        report = load_report(path["big.json"])
        count = len(report["traceEvents"])
        t0 = time.perf_counter()
        data = cvf.encode(report)
        encode_s = time.perf_counter() - t0
        del report
        t0 = time.perf_counter()
        cvf.decode(data, "big.cvf")
        decode_s = time.perf_counter() - t0
        print(f"\n{count} events ({os.path.getsize(path['big.json']):,} bytes of JSON), seconds:")
        print(f"  {'':24} {'--compress':>11} {'--decompress':>13}")
        reps = args.reps
        ours_c = command_seconds(OURS, "--compress", path["big.json"], "-o", path["big.cvf"], reps=reps)
        ours_d = command_seconds(OURS, "--decompress", path["big.cvf"], "-o", path["back.json"], reps=reps)
        print(f"  {'ours, the command':24} {ours_c:11.2f} {ours_d:13.2f}")
        print(f"  {'ours, .cvf coding alone':24} {encode_s:11.2f} {decode_s:13.2f}")
        if anchor:
            big, big_1 = path["big.json"], path["big_1.cvf"]
            one_c = command_seconds(anchor, "--compress", big, "-o", big_1, reps=reps)
            one_d = command_seconds(anchor, "--decompress", big_1, "-o", path["back.json"], reps=reps)
            print(f"  {'1.1.1, the command':24} {one_c:11.2f} {one_d:13.2f}")
        print(f"  sizes: our .cvf {os.path.getsize(path['big.cvf']):,} bytes"
              + (f", 1.1.1's {os.path.getsize(path['big_1.cvf']):,}" if anchor else ""))


if __name__ == "__main__":
    main()
