"""Per-call tracing overhead on each interpreter, in instructions and in time, against untraced,
cProfile and VizTracer 1.1.1 on the same interpreter: the shared benchmarks (``instr.py``,
callgrind, and ``compare.py``, seconds) run once per interpreter, the tables one after another.

usage: python benchmarks/interpreters.py --ours VENV_PYTHON [--ours ...]
                                         [--anchor VENV_PYTHON ...] [--workloads fib,cfuncs]
                                         [--no-time] [--no-instr] [--shared ../shared/bench]

Each ``--ours`` is a virtualenv's python with this project installed (``.ci/run`` makes one per
interpreter, ``.venv-3.12`` ...); each ``--anchor`` one with ``viztracer==1.1.1``. They are paired
by interpreter version; the untraced and cProfile runs use the interpreter the venv was made from.
Instructions do not move with the machine's load; seconds do: quote ratios from one run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "bench")


def describe(python: str) -> tuple[str, str]:
    """(``3.12``, the base interpreter) of a virtualenv's python."""
    code = "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}'); print(sys._base_executable)"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return out[0], out[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ours", action="append", required=True)
    ap.add_argument("--anchor", action="append", default=[])
    ap.add_argument("--workloads", default="fib,cfuncs")
    ap.add_argument("--no-time", action="store_true", help="skip compare.py (seconds)")
    ap.add_argument("--no-instr", action="store_true", help="skip instr.py (callgrind)")
    ap.add_argument("--shared", default=SHARED, help="the folder of instr.py and compare.py")
    a = ap.parse_args()
    anchors = {describe(p)[0]: p for p in a.anchor}
    for ours in a.ours:
        version, base = describe(ours)
        anchor = anchors.get(version)
        print(f"\n## Python {version}" + ("" if anchor else " (no VizTracer 1.1.1 given for it)"), flush=True)
        if not a.no_instr:
            modes = [f"none={base}", f"cprofile={base}", f"vt:ours={ours}", f"vt_noc:ours_noc={ours}"]
            if anchor:
                modes.append(f"vt:anchor={anchor}")
            if tuple(map(int, version.split("."))) >= (3, 12):     # sys.monitoring's floor
                modes.append(f"floor_mon_rec={base}")
            cmd = [sys.executable, os.path.join(a.shared, "instr.py"), "--workloads", a.workloads]
            for mode in modes:
                cmd += ["--py", mode]
            print("\ninstructions per call above untraced (instr.py):", flush=True)
            subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        if not a.no_time and anchor:
            print("\nseconds (compare.py, run under this interpreter):", flush=True)
            subprocess.run([base, os.path.join(a.shared, "compare.py"), "--anchor", anchor, "--ours", ours,
                            "--workloads", a.workloads], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
