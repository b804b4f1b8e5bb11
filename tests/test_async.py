"""log_async: each asyncio task's calls on a lane of their own, named after the task.

The lanes are thread tracks of the process: in JSON, ``X`` events with the task's synthetic
``tid`` and a ``thread_name`` record; in a .pftrace, a thread track named after the task. What
the event loop runs outside any task stays on the thread's own lane.
"""
from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from conftest_cli_helpers import COMMANDS, TIMEOUT, both_commands, clean_env, run, write

from viztracer import VizTracer
from viztracer.report.loader import load_report

HERE = os.path.abspath(__file__)
TASK_N = re.compile(r"Task-\d+")

PROGRAM = """
import asyncio

async def leaf(n):
    await asyncio.sleep(0)
    return n

async def child():
    return await leaf(1)

async def mid():
    inner = asyncio.create_task(child(), name="inner")
    await leaf(2)
    return await inner

async def grouped(n):
    await asyncio.sleep(0)
    return n

async def forever():
    await asyncio.sleep(3600)

async def sleeper():
    await asyncio.sleep(3600)

def done(future):
    pass

async def main():
    t = asyncio.create_task(mid(), name="midtask")
    gathered = asyncio.gather(leaf(3), leaf(4))
    gathered.add_done_callback(done)
    await gathered
    async with asyncio.TaskGroup() as group:
        group.create_task(grouped(1), name="group-1")
        group.create_task(grouped(2), name="group-2")
    c = asyncio.create_task(forever(), name="cancelme")
    await asyncio.sleep(0)
    c.cancel()
    try:
        await c
    except asyncio.CancelledError:
        pass
    await t

asyncio.run(main())

# a task still pending when the program ends (and tracing stops): its lane holds what it ran
loop = asyncio.new_event_loop()
pending = loop.create_task(sleeper(), name="pending")
loop.run_until_complete(asyncio.sleep(0))
"""

# function of PROGRAM -> the lanes its calls are on
EXPECTED = {
    "<module>": {"MainThread"},
    "done": {"MainThread"},             # a done callback: the loop runs it outside any task
    "main": {"Task-1"},                 # asyncio.run's task
    "mid": {"midtask"},
    "child": {"inner"},
    "grouped": {"group-1", "group-2"},
    "forever": {"cancelme"},
    "sleeper": {"pending"},
}


# -- reading lanes out of a report ----------------------------------------------------------------

def lane_names(report: dict[str, Any]) -> dict[tuple[int, int], str]:
    """(pid, tid) -> the lane's name, from the thread_name records."""
    lanes = {}
    for e in report["traceEvents"]:
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            key = (e["pid"], e["tid"])
            assert key not in lanes, f"two names for lane {key}"
            lanes[key] = e["args"]["name"]
    return lanes


def slices(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(lane name, function name, phase) of every call (X, and B for calls open at stop)."""
    lanes = lane_names(report)
    return [(lanes[(e["pid"], e["tid"])], e["name"], e["ph"])
            for e in report["traceEvents"] if e.get("ph") in ("X", "B")]


def lanes_of(report: dict[str, Any], path: str) -> dict[str, list[str]]:
    """For each function defined in ``path``: the lane of each of its calls, in report order."""
    out: dict[str, list[str]] = {}
    suffix = f" ({path}:"
    for lane, name, _ in slices(report):
        if suffix in name:
            out.setdefault(name.split(" (")[0], []).append(lane)
    return out


def lanes_of_named(report: dict[str, Any], prefix: str) -> set[str]:
    """The lanes holding calls whose name starts with ``prefix`` (library functions)."""
    return {lane for lane, name, _ in slices(report) if name.startswith(prefix)}


def assert_nested(report: dict[str, Any]) -> None:
    """On each lane, two calls are disjoint or one holds the other."""
    by_lane: dict = {}
    for e in report["traceEvents"]:
        if e.get("ph") == "X":
            by_lane.setdefault((e["pid"], e["tid"]), []).append((e["ts"], -(e["ts"] + e["dur"])))
    for events in by_lane.values():
        events.sort()
        stack: list[float] = []
        for ts, neg_end in events:
            while stack and stack[-1] <= ts:
                stack.pop()
            assert not stack or -neg_end <= stack[-1] + 0.002, "calls overlap without nesting"
            stack.append(-neg_end)


def check_program_lanes(report: dict[str, Any], path: str) -> None:
    """The lanes of PROGRAM's report, function by function."""
    lanes = lanes_of(report, path)
    for func, expected in EXPECTED.items():
        assert set(lanes[func]) == expected, func
    # the two gathered coroutines are tasks of their own, named by asyncio
    gathered = set(lanes["leaf"]) - {"midtask", "inner"}
    assert len(gathered) == 2 and all(TASK_N.fullmatch(n) and n != "Task-1" for n in gathered), lanes["leaf"]
    assert set(lanes["leaf"]) == gathered | {"midtask", "inner"}
    # each resumption of a coroutine is a slice of its own
    assert len(lanes["main"]) >= 4
    assert len(lanes["mid"]) == 3          # started, after leaf(2), after inner
    assert len(lanes["forever"]) == 2      # started, then resumed to be cancelled
    assert len(lanes["sleeper"]) == 1      # never resumed
    assert lanes["grouped"].count("group-1") == lanes["grouped"].count("group-2") == 2
    # what a coroutine calls is on its task's lane; the loop's own work on the thread's
    assert lanes_of_named(report, "create_task (") == {"Task-1", "midtask"}
    assert lanes_of_named(report, "BaseEventLoop._run_once (") == {"MainThread"}
    assert lanes_of_named(report, "gather.<locals>._done_callback (") == {"MainThread"}
    # every lane is one of the process's, with one name
    pids = {pid for pid, _ in lane_names(report)}
    assert len(pids) == 1
    names = list(lane_names(report).values())
    for name in ("midtask", "inner", "group-1", "group-2", "cancelme", "pending", "Task-1"):
        assert names.count(name) == 1, name
    assert_nested(report)


# -- the command line -------------------------------------------------------------------------

@both_commands
def test_cli_gives_each_task_a_lane(cmd, tmp_path):
    prog = write(tmp_path / "prog.py", PROGRAM)
    proc = run(cmd, "--log_async", "-o", "r.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "no effect" not in proc.stderr
    check_program_lanes(load_report(str(tmp_path / "r.json")), str(prog))


@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
@pytest.mark.parametrize("stream", [False, True], ids=["ring", "stream"])
def test_cli_lanes_in_both_formats_and_streamed(tmp_path, output, stream):
    prog = write(tmp_path / "prog.py", PROGRAM)
    options = ["--stream"] if stream else []
    proc = run(COMMANDS["console-script"], "--log_async", *options,
               "-o", output, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_program_lanes(load_report(str(tmp_path / output)), str(prog))


def test_cli_pftrace_has_a_thread_track_per_task(tmp_path):
    decoded = pytest.importorskip("test_pftrace_writer")
    prog = write(tmp_path / "prog.py", PROGRAM)
    proc = run(COMMANDS["python-m"], "--log_async", "-o", "r.pftrace", "prog.py",
               cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    trace = decoded.Decoded(decoded.read(tmp_path / "r.pftrace"))
    process = [t for t in trace.tracks.values() if t.HasField("process")]
    assert len(process) == 1
    threads = {t.thread.thread_name: t for t in trace.tracks.values() if t.HasField("thread")}
    for name in ("MainThread", "Task-1", "midtask", "inner", "group-1", "group-2", "cancelme", "pending"):
        track = threads[name]
        assert track.parent_uuid == process[0].uuid and track.thread.pid == process[0].process.pid
    assert len({t.thread.tid for t in threads.values()}) == len(threads)
    on = {}
    for s in trace.slices:
        if f" ({prog}:" in s["name"]:
            on.setdefault(s["name"].split(" (")[0], set()).add(trace.tracks[s["track"]].thread.thread_name)
    assert on["mid"] == {"midtask"} and on["child"] == {"inner"} and on["main"] == {"Task-1"}
    assert on["forever"] == {"cancelme"} and on["sleeper"] == {"pending"}
    assert on["<module>"] == {"MainThread"}
    assert trace.open == []


@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_without_log_async_everything_stays_on_the_thread(tmp_path, output):
    prog = write(tmp_path / "prog.py", PROGRAM)
    proc = run(COMMANDS["python-m"], "-o", output, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_report(str(tmp_path / output))
    assert list(lane_names(report).values()) == ["MainThread"]
    lanes = lanes_of(report, str(prog))
    assert set(lanes) >= set(EXPECTED)
    assert {lane for calls in lanes.values() for lane in calls} == {"MainThread"}


THREADS_PROGRAM = """
import asyncio
import threading

async def work(tag):
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    return tag

async def loop_main(tag):
    await asyncio.gather(asyncio.create_task(work(tag), name=tag + "-work"),
                         asyncio.create_task(work(tag), name=tag + "-work2"))

def thread_main(tag):
    asyncio.run(loop_main(tag))

threads = [threading.Thread(target=thread_main, args=(tag,), name=tag + "-thread") for tag in "ab"]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_cli_threads_with_their_own_loops(tmp_path):
    prog = write(tmp_path / "prog.py", THREADS_PROGRAM)
    proc = run(COMMANDS["python-m"], "--log_async", "-o", "r.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_report(str(tmp_path / "r.json"))
    lanes = lanes_of(report, str(prog))
    assert set(lanes["thread_main"]) == {"a-thread", "b-thread"}
    assert set(lanes["work"]) == {"a-work", "a-work2", "b-work", "b-work2"}
    assert all(lanes["work"].count(name) == 3 for name in set(lanes["work"]))
    assert len(lanes["loop_main"]) == 4 and all(TASK_N.fullmatch(n) for n in lanes["loop_main"])
    assert len(set(lanes["loop_main"])) == 2        # one main task per loop
    assert lanes_of_named(report, "BaseEventLoop._run_once (") == {"a-thread", "b-thread"}
    assert_nested(report)


def test_cli_coroutines_without_a_loop_stay_on_the_thread(tmp_path):
    prog = write(tmp_path / "prog.py", """
        async def by_hand():
            return 1

        coro = by_hand()
        try:
            coro.send(None)
        except StopIteration:
            pass
    """)
    proc = run(COMMANDS["python-m"], "--log_async", "-o", "r.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_report(str(tmp_path / "r.json"))
    assert list(lane_names(report).values()) == ["MainThread"]
    assert lanes_of(report, str(prog))["by_hand"] == ["MainThread"]


def test_cli_log_async_from_the_rcfile(tmp_path):
    prog = write(tmp_path / "prog.py", PROGRAM)
    write(tmp_path / ".viztracerrc", """
        [default]
        log_async = True
    """)
    proc = run(COMMANDS["python-m"], "-o", "r.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    check_program_lanes(load_report(str(tmp_path / "r.json")), str(prog))


# -- inline ----------------------------------------------------------------------------------------

async def leaf(n):
    await asyncio.sleep(0)
    return n


async def named_child():
    return await leaf(1)


async def cancelled():
    await asyncio.sleep(3600)


async def inline_main():
    child = asyncio.create_task(named_child(), name="child")
    await asyncio.gather(leaf(2), leaf(3))
    async with asyncio.TaskGroup() as group:
        group.create_task(leaf(4), name="in-group")
    c = asyncio.create_task(cancelled(), name="cancelled")
    await asyncio.sleep(0)
    c.cancel()
    await asyncio.gather(c, return_exceptions=True)
    await child


async def top(coro, name):
    """Run ``coro`` in a task of that name (asyncio.run can't name its task before 3.12)."""
    return await asyncio.create_task(coro, name=name)


def traced(tmp_path: Path, work, output: str = "r.json", **options) -> dict[str, Any]:
    tracer = VizTracer(verbose=0, log_async=True, **options)
    tracer.start()
    try:
        work(tracer)
    finally:
        tracer.stop()
    tracer.save(str(tmp_path / output))
    return load_report(str(tmp_path / output))


@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_inline_lanes(tmp_path, output):
    report = traced(tmp_path, lambda _: asyncio.run(top(inline_main(), "inline-main")), output)
    lanes = lanes_of(report, HERE)
    assert set(lanes["inline_main"]) == {"inline-main"} and len(lanes["inline_main"]) >= 4
    assert set(lanes["named_child"]) == {"child"}
    assert set(lanes["cancelled"]) == {"cancelled"} and len(lanes["cancelled"]) == 2
    gathered = set(lanes["leaf"]) - {"child", "in-group"}
    assert len(gathered) == 2 and all(TASK_N.fullmatch(n) for n in gathered)
    assert set(lanes["leaf"]) == gathered | {"child", "in-group"}
    assert TASK_N.fullmatch(lanes["top"][0]) and len(set(lanes["top"])) == 1    # asyncio.run's task
    assert set(lanes["test_inline_lanes.<locals>.<lambda>"]) == {"MainThread"}
    assert_nested(report)


def test_inline_without_log_async_everything_stays_on_the_thread(tmp_path):
    tracer = VizTracer(verbose=0)
    tracer.start()
    asyncio.run(top(inline_main(), "inline-main"))
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    report = load_report(str(tmp_path / "r.json"))
    assert list(lane_names(report).values()) == ["MainThread"]
    lanes = lanes_of(report, HERE)
    assert {lane for calls in lanes.values() for lane in calls} == {"MainThread"}
    assert len(lanes["leaf"]) == 4 * 2      # four calls, each started and resumed


def test_log_async_no_longer_warns(tmp_path):
    # in a process of its own: a warning of this kind is given once per process
    proc = subprocess.run([sys.executable, "-W", "error", "-c",
                           "from viztracer import VizTracer; VizTracer(verbose=0, log_async=True)"],
                          capture_output=True, text=True, cwd=tmp_path, env=clean_env(), timeout=TIMEOUT)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_a_task_pending_at_stop_keeps_what_it_ran(tmp_path, output):
    async def sleeper():
        await asyncio.sleep(3600)

    async def stopper(tracer):
        pending = asyncio.create_task(sleeper(), name="pending")
        await asyncio.sleep(0)
        tracer.stop()           # stopper's own calls are still open: begin events on its lane
        pending.cancel()

    report = traced(tmp_path, lambda tracer: asyncio.run(top(stopper(tracer), "stopper")), output)
    on = slices(report)
    assert [lane for lane, name, ph in on if name.startswith(sleeper.__qualname__ + " (")] == ["pending"]
    opened = [(lane, name.split(" (")[0]) for lane, name, ph in on if ph == "B"]
    assert ("stopper", stopper.__qualname__) in opened
    assert {lane for lane, _ in opened} == {"MainThread", "stopper"}


def test_a_renamed_task_is_named_as_at_the_end(tmp_path):
    async def renamed():
        await asyncio.sleep(0)
        asyncio.current_task().set_name("after")
        await asyncio.sleep(0)

    async def renamed_later():
        await asyncio.sleep(0)
        asyncio.current_task().set_name("later")

    async def run_both():
        kept = asyncio.create_task(renamed_later(), name="before-2")
        await asyncio.create_task(renamed(), name="before")
        await kept

    report = traced(tmp_path, lambda _: asyncio.run(run_both()))
    lanes = lanes_of(report, HERE)
    assert set(lanes[renamed.__qualname__]) == {"after"}
    assert set(lanes[renamed_later.__qualname__]) == {"later"}
    assert "before" not in lane_names(report).values()


def test_custom_events_stay_on_the_thread_lane(tmp_path):
    async def noting(tracer):
        await asyncio.sleep(0)
        tracer.log_instant("in a task")

    report = traced(tmp_path, lambda tracer: asyncio.run(top(noting(tracer), "noting")))
    lanes = lane_names(report)
    instants = [e for e in report["traceEvents"] if e.get("ph") == "i" and e["name"] == "in a task"]
    assert len(instants) == 1 and lanes[(instants[0]["pid"], instants[0]["tid"])] == "MainThread"
    assert set(lanes_of(report, HERE)[noting.__qualname__]) == {"noting"}


def test_a_thread_with_its_own_loop(tmp_path):
    async def in_thread():
        await asyncio.sleep(0)

    def thread_main():
        asyncio.run(top(in_thread(), "thread-task"))

    def work(_):
        t = threading.Thread(target=thread_main, name="looper")
        t.start()
        t.join()
        asyncio.run(top(leaf(1), "main-task"))

    report = traced(tmp_path, work)
    lanes = lanes_of(report, HERE)
    assert set(lanes[in_thread.__qualname__]) == {"thread-task"}
    assert set(lanes[thread_main.__qualname__]) == {"looper"}
    assert set(lanes["leaf"]) == {"main-task"}
    tids = [tid for _, tid in lane_names(report)]
    assert len(set(tids)) == len(tids)


def test_lanes_survive_a_restart_and_tasks_are_not_kept_alive(tmp_path):
    import gc
    import weakref

    tracer = VizTracer(verbose=0, log_async=True)
    refs = []

    async def short():
        refs.append(weakref.ref(asyncio.current_task()))
        await asyncio.sleep(0)

    for _ in range(2):
        tracer.start()
        asyncio.run(top(short(), "short"))
        tracer.stop()
    gc.collect()
    assert refs and all(r() is None for r in refs)
    tracer.save(str(tmp_path / "r.json"))
    report = load_report(str(tmp_path / "r.json"))
    short_lanes = lanes_of(report, HERE)[short.__qualname__]
    assert short_lanes == ["short"] * 4
    # two tasks (one a run) of the same name: two lanes
    assert list(lane_names(report).values()).count("short") == 2


@pytest.mark.skipif(sys.version_info < (3, 12), reason="eager tasks are 3.12+")
@pytest.mark.parametrize("ignore_c_function", [False, True])
def test_eager_tasks_start_on_their_own_lane(tmp_path, ignore_c_function):
    async def eager_body():
        return 1

    async def creator():
        # the task's first step runs inside these calls, on the creator's stack
        asyncio.get_running_loop().set_task_factory(asyncio.eager_task_factory)
        by_factory = asyncio.create_task(eager_body(), name="by-factory")
        direct = asyncio.Task(eager_body(), loop=asyncio.get_running_loop(), name="direct", eager_start=True)
        await by_factory
        await direct

    report = traced(tmp_path, lambda _: asyncio.run(top(creator(), "creator")),
                    ignore_c_function=ignore_c_function)
    lanes = lanes_of(report, HERE)
    assert sorted(lanes[eager_body.__qualname__]) == ["by-factory", "direct"]
    assert set(lanes[creator.__qualname__]) == {"creator"}
