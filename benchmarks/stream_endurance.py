"""The long-run targets of ``--stream``, through the real ``viztracer`` command.

usage: python benchmarks/stream_endurance.py calls [--calls 100000000]
       python benchmarks/stream_endurance.py kill [--seconds 10] [--runs 5]

``calls``: a program making ``--calls`` calls, run untraced and with ``viztracer --stream -o
x.pftrace`` under ``/usr/bin/time``; prints both peak RSS figures, the calls counted in the file
(every BEGIN slice, read with the ``perfetto`` package's protos, one compressed chunk at a
time), and the dropped entries the report declares. Target: every call in the file, peak RSS at
most 100 MB above the untraced peak, nothing dropped.

``kill``: a program calling a function in a loop for ``--seconds``, killed with SIGKILL at a
random moment; the program counts its calls in a shared memory page, so the number made up to
the kill is known. Prints, per run, the calls made and the calls in the (cut short) file.
Target: at least 90% of the calls made are in the file.
"""
from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zlib

CALLS = """
import sys
def f(i):
    return i
def main(n):
    for i in range(n):
        f(i)
main(int(sys.argv[1]))
"""

KILLED = """
import mmap, sys, time
shared = open(sys.argv[1], "r+b")
counter = mmap.mmap(shared.fileno(), 8)
def f(i):
    return i
def main():
    n = 0
    while True:
        for i in range(1000):
            f(i)
        n += 1000
        counter[0:8] = n.to_bytes(8, "little")
main()
"""


def viztracer() -> list[str]:
    return [os.path.join(os.path.dirname(sys.executable), "viztracer")]


def peak_rss_kb(cmd: list[str], cwd: str) -> int:
    out = subprocess.run(["/usr/bin/time", "-f", "PEAK %M", *cmd], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return int(re.findall(r"PEAK (\d+)", out.stderr)[-1])


WINDOW = 16 << 20     # bytes of packets parsed at a time


def count_slices(path: str) -> tuple[int, dict]:
    """BEGIN slices in a .pftrace, and its viztracer_metadata (empty when cut short)."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    begins, metadata = 0, {}

    def visit(packets) -> None:
        nonlocal begins, metadata
        for p in packets:
            if p.HasField("compressed_packets"):
                visit(Trace.FromString(zlib.decompress(p.compressed_packets)).packet)
            elif p.track_event.type == 1:
                begins += 1
            elif p.HasField("chrome_events"):
                for m in p.chrome_events.metadata:
                    if m.name == "viztracer_metadata":
                        metadata = json.loads(m.json_value)

    from viztracer._pftrace_scan import framing
    data = memoryview(open(path, "rb").read())
    pos = 0
    while pos < len(data):  # a window of whole top-level records at a time (bounded memory);
        window = WINDOW     # a killed writer may have cut the last record short: it is left out
        while True:
            whole, _ = framing(data[pos:pos + window])
            if whole or pos + window >= len(data):
                break
            window *= 2     # a record larger than the window
        if not whole:
            break
        visit(Trace.FromString(bytes(data[pos:pos + whole])).packet)
        pos += whole
    return begins, metadata


def calls(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        prog = os.path.join(d, "calls.py")
        with open(prog, "w") as f:
            f.write(CALLS)
        untraced = peak_rss_kb([sys.executable, prog, str(n)], d)
        t0 = time.perf_counter()
        traced = peak_rss_kb([*viztracer(), "--quiet", "--stream", "-o", "x.pftrace", prog, str(n)], d)
        seconds = time.perf_counter() - t0
        size = os.path.getsize(os.path.join(d, "x.pftrace"))
        begins, metadata = count_slices(os.path.join(d, "x.pftrace"))
    print(f"calls made: {n}, slices in the file: {begins} (f, main, the module and exec: calls + 3)")
    print(f"dropped entries declared: {metadata.get('dropped_entries')}")
    print(f"peak RSS untraced {untraced / 1024:.1f} MB, traced {traced / 1024:.1f} MB, "
          f"difference {(traced - untraced) / 1024:.1f} MB")
    print(f"traced run {seconds:.1f} s, file {size / 1e6:.1f} MB")


def kill(seconds: float, runs: int) -> None:
    for run in range(runs):
        with tempfile.TemporaryDirectory() as d:
            prog = os.path.join(d, "killed.py")
            with open(prog, "w") as f:
                f.write(KILLED)
            counter = os.path.join(d, "count")
            with open(counter, "wb") as f:
                f.write(b"\0" * 8)
            proc = subprocess.Popen([*viztracer(), "--quiet", "--stream", "-o", "x.pftrace", prog, counter],
                                    cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            when = random.uniform(1, seconds)
            time.sleep(when)
            with open(counter, "rb") as f:
                made_before = int.from_bytes(mmap.mmap(f.fileno(), 8, access=mmap.ACCESS_READ)[:8], "little")
            proc.kill()
            proc.wait()
            with open(counter, "rb") as f:
                made = int.from_bytes(f.read(8), "little")
            begins, _ = count_slices(os.path.join(d, "x.pftrace"))
        kept = max(0, begins - 3)
        print(f"run {run + 1}: killed after {when:.1f} s; calls made {made} (>= {made_before} when the "
              f"kill was sent), in the file {kept}: {100 * kept / max(made, 1):.1f}%", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    c = sub.add_parser("calls")
    c.add_argument("--calls", type=int, default=100_000_000)
    k = sub.add_parser("kill")
    k.add_argument("--seconds", type=float, default=10)
    k.add_argument("--runs", type=int, default=5)
    a = p.parse_args()
    if a.what == "calls":
        calls(a.calls)
    else:
        kill(a.seconds, a.runs)


if __name__ == "__main__":
    main()
