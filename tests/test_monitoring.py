"""The sys.monitoring hook (3.12+): the same report as the profile hook, every thread, other
tools beside it, and a clear error when another profiler holds its tool id."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from conftest import load_report, names
from conftest_cli_helpers import COMMANDS, clean_env, write
from conftest_hook_helpers import MONITORING, hook_installed

from viztracer import VizTracer

pytestmark = pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
PROFILE_HOOK = "the tracer uses the profile hook here (before 3.12, or VIZTRACER_HOOK=setprofile)"

VIZTRACER = COMMANDS["console-script"]

PROGRAM = """
    import asyncio
    import helper

    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    def gen(n):
        for i in range(n):
            yield i

    def raises():
        raise ValueError("x")

    def catches():
        try:
            raises()
        except ValueError:
            pass
        try:
            int("x")            # a C function that raises
        except ValueError:
            pass

    class Box:
        def __init__(self):
            self.items = []

        def add(self, x):
            self.items.append(x)    # a method descriptor called with its self
            return len(self.items)

    async def sub(i):
        await asyncio.sleep(0)
        return helper.twice(i)

    async def main():
        return await asyncio.gather(*(sub(i) for i in range(3)))

    fib(8)
    list(gen(4))
    sum(gen(3))
    catches()
    box = Box()
    [box.add(i) for i in range(3)]
    ", ".join(["a", "b"])
    sorted([3, 1, 2], key=lambda v: -v)
    asyncio.run(main())
    for f in [divmod, fib] * 20:    # one call site, C and Python functions in turn
        f(7, 2) if f is divmod else f(2)
"""

HELPER = """
    def twice(x):
        return inner(x) * 2

    def inner(x):
        return abs(x)
"""


def traced(tmp_path: Path, hook: str, *options: str) -> dict:
    out = tmp_path / "out" / f"{hook}.json"    # not beside prog.py: the folder's stat stays
    proc = subprocess.run([*VIZTRACER, *options, "-o", str(out), "prog.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60,
                          env=clean_env(VIZTRACER_HOOK=hook))
    assert proc.returncode == 0, proc.stderr
    return load_report(out)


def events(report: dict) -> Counter:
    """Each complete event as (lane name, name, args), counted. What differs from run to run
    is left out: addresses in the args' reprs (``<function f at 0x...>``), and the arguments
    and return values of the library's functions (file times, clock readings)."""
    lanes = {e["tid"]: e["args"]["name"] for e in report["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    return Counter((lanes[e["tid"]], e["name"], args_of(e))
                   for e in report["traceEvents"] if e["ph"] == "X")


def args_of(event: dict) -> str:
    if not any(f in event["name"] for f in ("prog.py", "helper.py")):
        return ""      # the library's: file times, clock readings
    args = dict(event.get("args") or {})
    if event["name"].startswith("raises ") and sys.version_info[:2] == (3, 12):
        # it raised: 3.12's profile hook has None for its return value, sys.monitoring none
        args.pop("return_value", None)
    return re.sub("0x[0-9a-f]+", "0x", json.dumps(args, sort_keys=True))


@pytest.mark.parametrize("options", [
    (), ("--log_func_args", "--log_func_retval"), ("--ignore_c_function",),
    ("--max_stack_depth", "3"), ("--log_async",), ("--exclude_files", "helper.py"),
    ("--min_duration", "0.001"),
], ids=["default", "args-retval", "ignore-c", "depth", "async", "exclude", "min-duration"])
def test_the_same_events_as_the_profile_hook(tmp_path, options):
    write(tmp_path / "prog.py", PROGRAM)
    write(tmp_path / "helper.py", HELPER)
    if options and options[0] == "--exclude_files":
        options = (options[0], str(tmp_path / "helper.py"))
    # once untraced first, so that both runs import from the same bytecode caches
    subprocess.run([sys.executable, "prog.py"], cwd=tmp_path, check=True, timeout=60, env=clean_env())
    (tmp_path / "out").mkdir()
    monitored = events(traced(tmp_path, "monitoring", *options))
    profiled = events(traced(tmp_path, "setprofile", *options))
    assert monitored == profiled
    if not options:     # and the program's calls are all there
        calls = Counter(name.split(" ")[0] for _, name, _ in monitored.elements())
        assert calls["fib"] == 67 + 20 * 3 and calls["Box.add"] == 3 and calls["builtins.abs"] == 3
        assert calls["builtins.divmod"] == 20 and calls["twice"] == 3


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


FIB = f"fib ({__file__}:{fib.__code__.co_firstlineno})"


@pytest.mark.skipif(not MONITORING, reason=PROFILE_HOOK)
def test_a_thread_running_before_start_is_traced(tmp_path):
    go, done = threading.Event(), threading.Event()

    def early():
        go.wait(30)
        fib(5)
        done.set()

    thread = threading.Thread(target=early, name="early")
    thread.start()
    tracer = VizTracer(verbose=0)
    tracer.start()
    go.set()
    assert done.wait(30)
    thread.join()
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    report = load_report(tmp_path / "r.json")
    lanes = {e["tid"]: e["args"]["name"] for e in report["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    fibs = [e for e in report["traceEvents"] if e["ph"] == "X" and e["name"] == FIB]
    assert len(fibs) == 15 and {lanes[e["tid"]] for e in fibs} == {"early"}


@pytest.mark.skipif(not MONITORING, reason=PROFILE_HOOK)
def test_another_profiler_holding_the_tool_id_is_a_clear_error(tmp_path):
    mon = sys.monitoring
    mon.use_tool_id(mon.PROFILER_ID, "someone")
    try:
        tracer = VizTracer(verbose=0)
        with pytest.raises(RuntimeError, match="in use by 'someone'.*VIZTRACER_HOOK=setprofile"):
            tracer.start()
        assert not tracer.enable and not hook_installed() and sys.getprofile() is None
        assert mon.get_tool(mon.PROFILER_ID) == "someone"
    finally:
        mon.free_tool_id(mon.PROFILER_ID)


@pytest.mark.skipif(not MONITORING, reason=PROFILE_HOOK)
def test_the_command_says_so_in_one_line(tmp_path):
    """The tool id taken before the program runs (by a sitecustomize here)."""
    write(tmp_path / "sitecustomize.py", """
        import sys
        sys.monitoring.use_tool_id(sys.monitoring.PROFILER_ID, "someone")
    """)
    write(tmp_path / "prog.py", "print('ran')\n")
    env = clean_env()
    env["PYTHONPATH"] = f"{tmp_path}:{env['PYTHONPATH']}"
    env.pop("VIZTRACER_HOOK", None)
    proc = subprocess.run([*VIZTRACER, "-o", "r.json", "prog.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by 'someone'" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and "ran" not in proc.stdout


@pytest.mark.skipif(not MONITORING, reason=PROFILE_HOOK)
def test_a_debugger_and_coverage_tools_keep_their_events(tmp_path):
    mon = sys.monitoring
    lines, starts = [], []
    mon.use_tool_id(mon.DEBUGGER_ID, "debugger")
    mon.use_tool_id(mon.COVERAGE_ID, "coverage")
    try:
        mon.register_callback(mon.DEBUGGER_ID, mon.events.LINE,
                              lambda code, line: lines.append(line) if code is fib.__code__ else None)
        mon.register_callback(mon.COVERAGE_ID, mon.events.PY_START,
                              lambda code, offset: starts.append(code.co_name))
        mon.set_events(mon.DEBUGGER_ID, mon.events.LINE)
        mon.set_events(mon.COVERAGE_ID, mon.events.PY_START)
        tracer = VizTracer(verbose=0)
        tracer.start()
        fib(4)
        tracer.stop()
        mon.set_events(mon.DEBUGGER_ID, 0)
        mon.set_events(mon.COVERAGE_ID, 0)
    finally:
        mon.free_tool_id(mon.DEBUGGER_ID)
        mon.free_tool_id(mon.COVERAGE_ID)
    assert len(lines) == 9 and starts.count("fib") == 9
    tracer.save(str(tmp_path / "r.json"))
    assert names(load_report(tmp_path / "r.json")).count(FIB) == 9


@pytest.mark.skipif(not MONITORING, reason=PROFILE_HOOK)
def test_pause_resume_and_a_second_session():
    tracer = VizTracer(verbose=0)
    tracer.start()
    fib(3)
    tracer.pause()
    fib(4)
    tracer.resume()
    fib(2)
    tracer.stop()
    assert not hook_installed()
    first = tracer._core.entry_count()
    tracer.clear()
    tracer.start()
    fib(5)
    tracer.stop()
    assert (first, tracer._core.entry_count()) == (5 + 3, 15)


def call_site(f, x):
    return f(x)


def own(x):
    return x


@pytest.mark.skipif(not MONITORING, reason=PROFILE_HOOK)
def test_a_call_site_left_for_python_calls_is_watched_again_in_the_next_session(tmp_path):
    """A site that calls only Python functions is left for C calls after a while (documented in
    docs/architecture.md); a later session sees its C calls again."""
    tracer = VizTracer(verbose=0)
    tracer.start()
    for _ in range(50):
        call_site(own, 1)
    tracer.stop()
    tracer.clear()
    tracer.start()
    call_site(len, [1])
    call_site(own, 1)
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    assert names(load_report(tmp_path / "r.json")).count("builtins.len") == 1
