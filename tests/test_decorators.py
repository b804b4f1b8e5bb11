"""``@ignore_function``, ``@trace_and_save`` and ``@log_sparse`` (viztracer/decorator.py).

Where we deliberately differ from VizTracer 1.1.1 (each is also noted at its test):

- ``@log_sparse`` slices are named like any traced call, ``qualname (file:line)``
  (``K.meth (...)``); 1.1.1 names them with ``co_name`` (``meth (...)``).
- ``@log_sparse(stack_depth=-1)`` is a ValueError when decorating; 1.1.1 treats it as 0.
- ``@trace_and_save`` writes its report from a background thread (1.1.1 forks a process or
  saves in the caller), names it ``result_<func>_<time>_<pid>_<n>.json`` (1.1.1:
  ``result_<func>_<time>.json``, which collides for calls within 10 µs), prints nothing
  unless given ``verbose=1``, saves the report when the function raises, and restores the
  global tracer after the call (1.1.1 leaves its tracer registered for good). When the
  calling thread is traced already (the program runs under ``viztracer``), the call goes into
  that trace and no file is written: 1.1.1 started a second tracer, which cut the running
  trace short.
- A method decorated with ``triggerlog`` or ``@log_sparse`` under a tracer that records
  everything is recorded as if undecorated; 1.1.1 leaves out the ``triggerlog`` method.
"""
from __future__ import annotations

import builtins
import functools
import json
import os
import re
import sys
import threading
from collections import Counter

import pytest
from conftest import calls, load_report, names
from conftest_cli_helpers import COMMANDS, both_commands, line_of, run, write
from conftest_hook_helpers import MONITORING

import viztracer
import viztracer.decorator as decorator_module
import viztracer.tracer as tracer_module
from viztracer import VizTracer, get_tracer, ignore_function, log_sparse, trace_and_save
from viztracer.report.loader import load_report as load_any_report

HERE = os.path.abspath(__file__)


def fname(func) -> str:
    """The report name of a Python function: ``qualname (file:first line)``."""
    func = getattr(func, "__wrapped__", func)
    code = func.__code__
    return f"{func.__qualname__} ({code.co_filename}:{code.co_firstlineno})"


def tree(report: dict, tid: int | None = None) -> list:
    """The X events of one thread as a nested list of ``(name, [children])``, from their
    timestamps. By default the main thread's, whose native id is the pid on Linux."""
    if tid is None:
        tid = calls(report)[0]["pid"] if calls(report) else os.getpid()
    events = sorted((e for e in calls(report) if e["tid"] == tid), key=lambda e: (e["ts"], -e["dur"]))
    root: list = []
    stack: list[tuple[float, list]] = [(float("inf"), root)]
    for e in events:
        end = e["ts"] + e["dur"]
        while end > stack[-1][0] + 0.0015:
            stack.pop()
        children: list = []
        stack[-1][1].append((e["name"], children))
        stack.append((end, children))
    return root


@pytest.fixture(autouse=True)
def no_global_tracer(monkeypatch):
    """Each test starts with no global tracer (other tests leave theirs registered)."""
    monkeypatch.setattr(tracer_module, "_global_tracer", None)
    monkeypatch.delitem(builtins.__dict__, "__viz_tracer__", raising=False)


def save_and_load(tracer: VizTracer, path) -> dict:
    tracer.save(str(path), verbose=0)
    return load_any_report(str(path))


# -- programs ---------------------------------------------------------------------------------------

def leaf():
    return len([1])


def middle():
    return leaf()


def top():
    return middle()


LEN = "builtins.len"


# -- @ignore_function -------------------------------------------------------------------------------

@ignore_function
def ignored(x):
    """An ignored function."""
    top()
    return x * 2


def calls_ignored():
    leaf()
    assert ignored(21) == 42
    leaf()


def test_ignore_function_leaves_out_the_function_and_all_it_calls(trace):
    report = trace(calls_ignored)
    assert tree(report) == [(fname(calls_ignored), [(fname(leaf), [(LEN, [])]), (fname(leaf), [(LEN, [])])])]
    assert fname(ignored) not in names(report) and fname(top) not in names(report)


def test_ignore_function_keeps_the_name_and_docstring():
    assert ignored.__name__ == "ignored" and ignored.__doc__ == "An ignored function."
    assert ignored.__wrapped__.__code__.co_name == "ignored"


def test_ignore_function_with_its_own_tracer_and_no_global_one(tmp_path):
    tracer = VizTracer(verbose=0, register_global=False)
    assert get_tracer() is None

    @ignore_function(tracer=tracer)
    def hidden():
        return top()

    def main():
        hidden()
        leaf()

    tracer.start()
    main()
    tracer.stop()
    report = save_and_load(tracer, tmp_path / "r.json")
    assert tree(report) == [(fname(main), [(fname(leaf), [(LEN, [])])])]


def test_ignore_function_without_any_tracer_is_a_name_error():
    """As 1.1.1: NameError at the call when there is neither a tracer given nor a global one."""
    @ignore_function
    def bare():
        return 1

    @ignore_function()
    def with_parentheses():
        return 1

    with pytest.raises(NameError):
        bare()
    with pytest.raises(NameError):
        with_parentheses()
    VizTracer(verbose=0)        # registered globally: now it works, even not tracing
    assert bare() == 1 and with_parentheses() == 1


def test_ignore_function_leaves_out_only_the_calling_thread(trace):
    inside = threading.Event()
    done = threading.Event()

    def other_thread_work():
        return middle()

    @ignore_function
    def waits_in_ignored():
        leaf()
        inside.set()
        assert done.wait(30)
        leaf()

    def other():
        assert inside.wait(30)
        other_thread_work()     # runs while the main thread is inside the ignored function
        done.set()

    def main():
        t = threading.Thread(target=other)
        t.start()
        waits_in_ignored()
        t.join()

    report = trace(main)
    by_thread = Counter((e["name"], e["tid"] == threading.get_native_id()) for e in calls(report))
    assert by_thread[(fname(other_thread_work), False)] == 1
    assert by_thread[(fname(leaf), False)] == 1
    assert by_thread[(fname(leaf), True)] == 0
    assert fname(waits_in_ignored) not in names(report)


def test_ignore_function_ends_the_hidden_region_when_it_raises(trace):
    @ignore_function
    def fails():
        leaf()
        raise KeyError("x")

    def main():
        with pytest.raises(KeyError):
            fails()
        leaf()

    report = trace(main)
    assert [n for n in names(report) if n != "builtins.hasattr"][-3:] == [LEN, fname(leaf), fname(main)]
    assert names(report).count(fname(leaf)) == 1


@pytest.mark.parametrize("output", ["result.json", "result.pftrace"])
def test_ignore_function_in_both_formats(tmp_path, output):
    tracer = VizTracer(verbose=0)
    tracer.start()
    calls_ignored()
    tracer.stop()
    report = save_and_load(tracer, tmp_path / output)
    assert Counter(names(report)) == Counter({fname(calls_ignored): 1, fname(leaf): 2, LEN: 2})


# -- @trace_and_save --------------------------------------------------------------------------------

REPORT_NAME = re.compile(r"result_(\w+)_(\d+)_(\d+)_(\d+)\.json")


def flush_saves() -> None:
    """Wait until the background writer has written every report handed to it so far."""
    decorator_module._saver().submit(lambda: None).result(timeout=60)


def reports_in(folder) -> dict[str, dict]:
    flush_saves()
    return {p.name: load_report(p) for p in sorted(folder.iterdir())}


def test_trace_and_save_writes_one_report_per_call_with_the_function_s_calls(tmp_path):
    out = tmp_path / "logs" / "deeper"

    @trace_and_save(output_dir=str(out))
    def work(n):
        return middle() + n

    assert [work(i) for i in range(3)] == [1, 2, 3]
    reports = reports_in(out)
    assert len(reports) == 3
    for name, report in reports.items():
        m = REPORT_NAME.fullmatch(name)
        assert m and m.group(1) == "work" and int(m.group(3)) == os.getpid()
        assert tree(report) == [(fname(work), [(fname(middle), [(fname(leaf), [(LEN, [])])])])]
        assert set(report) == {"traceEvents", "viztracer_metadata", "file_info"}
    assert sorted(int(REPORT_NAME.fullmatch(n).group(4)) for n in reports) == \
        sorted({int(REPORT_NAME.fullmatch(n).group(4)) for n in reports})
    assert sys.getprofile() is None


def test_trace_and_save_bare_decorator_saves_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    @trace_and_save
    def bare():
        return leaf()

    assert bare() == 1
    reports = reports_in(tmp_path)
    assert [REPORT_NAME.fullmatch(n).group(1) for n in reports] == ["bare"]
    assert Counter(names(next(iter(reports.values())))) == Counter({fname(bare): 1, fname(leaf): 1, LEN: 1})


def test_trace_and_save_creates_the_folder_and_does_not_wait_for_the_report(tmp_path):
    """The caller gets the result while the background writer is still busy; the folder is
    there at once, the report once the writer gets to it."""
    out = tmp_path / "new"
    release = threading.Event()
    blocker = decorator_module._saver().submit(release.wait, 60)

    @trace_and_save(output_dir=str(out))
    def quick():
        return leaf()

    try:
        assert quick() == 1
        assert out.is_dir()
        assert list(out.iterdir()) == []    # not written yet: the writer is busy
    finally:
        release.set()
        blocker.result(timeout=60)
    assert len(reports_in(out)) == 1


def test_trace_and_save_passes_its_keywords_to_the_tracer(tmp_path):
    @trace_and_save(output_dir=str(tmp_path), ignore_c_function=True, log_func_args=True)
    def work(n):
        return middle() + len([n])

    work(5)
    (report,) = reports_in(tmp_path).values()
    assert Counter(names(report)) == Counter({fname(work): 1, fname(middle): 1, fname(leaf): 1})
    (event,) = [e for e in calls(report) if e["name"] == fname(work)]
    assert event["args"] == {"func_args": {"n": "5"}}


def test_trace_and_save_max_stack_depth_keyword(tmp_path):
    @trace_and_save(output_dir=str(tmp_path), max_stack_depth=2)
    def work():
        return middle()

    work()
    (report,) = reports_in(tmp_path).values()
    assert tree(report) == [(fname(work), [(fname(middle), [])])]


def test_trace_and_save_many_quick_calls_never_share_a_name(tmp_path):
    @trace_and_save(output_dir=str(tmp_path))
    def tiny():
        pass

    for _ in range(200):
        tiny()
    reports = reports_in(tmp_path)
    assert len(reports) == 200
    assert all(names(r) == [fname(tiny)] for r in reports.values())


def test_trace_and_save_from_several_threads(tmp_path):
    barrier = threading.Barrier(4)

    @trace_and_save(output_dir=str(tmp_path))
    def work(i):
        return middle() + i

    def worker(results):
        barrier.wait(30)
        for i in range(5):
            results.append((threading.get_native_id(), work(i)))

    results: list = []
    threads = [threading.Thread(target=worker, args=(results,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20
    reports = reports_in(tmp_path)
    assert len(reports) == 20
    per_thread = Counter()
    for report in reports.values():
        (tid,) = {e["tid"] for e in calls(report)}
        per_thread[tid] += 1
        assert tree(report, tid) == [(fname(work), [(fname(middle), [(fname(leaf), [(LEN, [])])])])]
    assert per_thread == Counter(tid for tid, _ in results)


def test_trace_and_save_reports_are_complete_after_the_interpreter_exits(tmp_path):
    """The program ends right after its last call: every report, written by the background
    thread, is there and whole (the interpreter waits for the writer)."""
    write(tmp_path / "prog.py", """
        import threading
        from viztracer import trace_and_save

        def leaf():
            return len([1])

        @trace_and_save(output_dir="logs")
        def work(i):
            return [leaf() for _ in range(200)]

        running = threading.Barrier(4)

        def worker():
            running.wait()
            for i in range(10):
                work(i)

        # every thread runs before the first call: one still starting when a call's tracer
        # starts would take that tracer's hook, and its calls would go into that report
        threads = [threading.Thread(target=worker) for _ in range(3)]
        for t in threads:
            t.start()
        running.wait()
        for i in range(30):
            work(i)
        for t in threads:
            t.join()
    """)
    proc = run([sys.executable], "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""
    files = sorted((tmp_path / "logs").iterdir())
    assert len(files) == 60
    pids = set()
    for f in files:
        m = REPORT_NAME.fullmatch(f.name)
        assert m and m.group(1) == "work"
        pids.add(m.group(3))
        report = load_report(f)
        counts = Counter(names(report))
        assert counts[LEN] == 200 and counts["work (" + str(tmp_path / "prog.py") + ":7)"] == 1
    assert len(pids) == 1


def test_trace_and_save_makes_its_tracer_the_global_one_during_the_call(tmp_path):
    """As in 1.1.1, ``get_tracer()`` inside the function is the call's tracer, so ``log_event``
    there goes to its report. Unlike 1.1.1, the previous global tracer is back afterwards."""
    seen = []

    @trace_and_save(output_dir=str(tmp_path))
    def work():
        tracer = get_tracer()
        seen.append((tracer, tracer is not None and tracer.enable))
        with tracer.log_event("inside"):
            leaf()

    work()
    assert get_tracer() is None
    assert seen[0][1] is True
    (report,) = reports_in(tmp_path).values()
    line = work.__wrapped__.__code__.co_firstlineno + 4
    assert tree(report) == [(fname(work), [
        ("list.append", []), (f"inside ({HERE}:{line})", [(fname(leaf), [(LEN, [])])])])]
    # a tracer registered before is the global one again after the call
    outer = VizTracer(verbose=0)
    work()
    assert get_tracer() is outer and seen[1][0] is not outer


def test_trace_and_save_register_global_false_keeps_the_global_tracer(tmp_path):
    seen = []

    @trace_and_save(output_dir=str(tmp_path), register_global=False)
    def work():
        seen.append(get_tracer())

    work()
    assert seen == [None]
    assert len(reports_in(tmp_path)) == 1


def test_trace_and_save_still_saves_when_the_function_raises(tmp_path):
    @trace_and_save(output_dir=str(tmp_path))
    def fails():
        leaf()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        fails()
    assert sys.getprofile() is None
    (report,) = reports_in(tmp_path).values()
    assert Counter(names(report)) == Counter({fname(fails): 1, fname(leaf): 1, LEN: 1})
    assert get_tracer() is None


def test_trace_and_save_inside_a_running_trace_goes_into_that_trace(tmp_path):
    """A thread has one profile hook: the running trace records the call, nested where it
    was made, and no file is written. (1.1.1 started a second tracer, which cut the running
    trace short and wrote the call alone.)"""
    out = tmp_path / "logs"

    @trace_and_save(output_dir=str(out))
    def work():
        return middle()

    def main():
        leaf()
        work()
        leaf()

    tracer = VizTracer(verbose=0)
    tracer.start()
    main()
    tracer.stop()
    report = save_and_load(tracer, tmp_path / "outer.json")
    leaf_tree = (fname(leaf), [(LEN, [])])
    assert tree(report) == [(fname(main), [
        leaf_tree, (fname(work), [(fname(middle), [leaf_tree])]), leaf_tree])]
    flush_saves()
    assert not out.exists() or list(out.iterdir()) == []


def test_trace_and_save_in_a_thread_of_a_traced_program(tmp_path):
    """A thread started while the global tracer runs is traced by it: same as above."""
    out = tmp_path / "logs"

    @trace_and_save(output_dir=str(out))
    def work():
        return leaf()

    def main():
        t = threading.Thread(target=work)
        t.start()
        t.join()

    tracer = VizTracer(verbose=0)
    tracer.start()
    main()
    tracer.stop()
    report = save_and_load(tracer, tmp_path / "outer.json")
    thread_calls = [e for e in calls(report) if e["tid"] != os.getpid()]
    (thread_root,) = [n for n in tree(report, thread_calls[0]["tid"]) if n[0].startswith("Thread.run")]
    assert thread_root[1] == [(fname(work), [(fname(leaf), [(LEN, [])])])]
    flush_saves()
    assert not out.exists() or list(out.iterdir()) == []


def test_trace_and_save_in_a_thread_that_was_running_before_the_global_tracer(tmp_path):
    """With the profile hook, a thread that was running before the global tracer started has
    no hook: the call gets its own report, and the global tracer still traces the threads
    started afterwards. sys.monitoring traces that thread too: the global tracer records the
    call, which has no report of its own."""
    out = tmp_path / "logs"
    go = threading.Event()

    @trace_and_save(output_dir=str(out))
    def work():
        return leaf()

    def early():
        assert go.wait(30)
        work()

    def late():
        middle()

    early_thread = threading.Thread(target=early)
    early_thread.start()
    tracer = VizTracer(verbose=0)
    tracer.start()
    go.set()
    early_thread.join()
    assert threading.getprofile() == (None if MONITORING else tracer.threadtracefunc)
    late_thread = threading.Thread(target=late)
    late_thread.start()
    late_thread.join()
    tracer.stop()
    report = save_and_load(tracer, tmp_path / "outer.json")
    assert Counter(names(report))[fname(late)] == 1
    flush_saves()
    if MONITORING:
        # between the end of the wait it was in when tracing began and the thread's own end
        assert (fname(work), [(fname(leaf), [(LEN, [])])]) in tree(report, early_thread.native_id)
        assert not out.exists() or list(out.iterdir()) == []
        return
    assert fname(work) not in names(report)
    (saved,) = reports_in(out).values()
    assert tree(saved, early_thread.native_id) == [(fname(work), [(fname(leaf), [(LEN, [])])])]


def test_trace_and_save_under_a_sparse_tracer_writes_its_report(tmp_path):
    """A tracer in log_sparse mode does not hook the thread: the call gets its own report."""
    out = tmp_path / "logs"

    @trace_and_save(output_dir=str(out))
    def work():
        return leaf()

    with VizTracer(verbose=0, log_sparse=True, output_file=str(tmp_path / "sparse.json")) as sparse:
        work()
        assert get_tracer() is sparse
    (report,) = reports_in(out).values()
    assert Counter(names(report)) == Counter({fname(work): 1, fname(leaf): 1, LEN: 1})
    assert names(load_report(tmp_path / "sparse.json")) == []


# -- @log_sparse ------------------------------------------------------------------------------------

SPARSE_PROGRAM = """
    import threading
    from viztracer import get_tracer, log_sparse

    def c():
        return len([1])

    def b():
        return c()

    def a():
        return b()

    @log_sparse
    def plain():
        a()

    @log_sparse(stack_depth=1)
    def depth1():
        a()

    @log_sparse(stack_depth=3)
    def depth3():
        a()

    class K:
        @log_sparse
        def meth(self):
            a()

    def in_thread():
        a()
        plain()

    def main():
        a()
        plain()
        depth1()
        depth3()
        K().meth()
        with get_tracer().log_event("block"):
            a()
        get_tracer().log_instant("mark")
        t = threading.Thread(target=in_thread)
        t.start()
        t.join()

    main()
"""


def sparse_expectations(prog) -> tuple[dict, list]:
    """Names in SPARSE_PROGRAM, and the main thread's expected tree. A decorated function's
    first line is its decorator's."""
    def decorated(qualname, definition):
        return f"{qualname} ({prog}:{line_of(prog, definition) - 1})"

    a, b = f"a ({prog}:{line_of(prog, 'def a')})", f"b ({prog}:{line_of(prog, 'def b')})"
    plain = decorated("plain", "def plain")
    block = f"block ({prog}:{line_of(prog, 'log_event(')})"
    main_tree = [(plain, []), (decorated("depth1", "def depth1"), []),
                 (decorated("depth3", "def depth3"), [(a, [(b, [])])]),
                 (decorated("K.meth", "def meth"), []), (block, [])]
    return {"plain": plain, "a": a, "b": b}, main_tree


@both_commands
def test_log_sparse_on_the_command_line(cmd, tmp_path):
    """Only decorated functions and log_event blocks: each plain @log_sparse call one slice,
    ``stack_depth=3`` the call and two levels below it, ``stack_depth=1`` the call alone. The
    slices are named like any call (1.1.1 uses ``co_name``: ``meth`` for ``K.meth``)."""
    prog = write(tmp_path / "prog.py", SPARSE_PROGRAM)
    proc = run(cmd, "--log_sparse", "-o", "result.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_report(tmp_path / "result.json")
    known, main_tree = sparse_expectations(prog)
    assert tree(report) == main_tree
    others = [e for e in calls(report) if e["tid"] != e["pid"]]
    assert [e["name"] for e in others] == [known["plain"]]
    assert len(calls(report)) == 8
    assert [e["name"] for e in calls(report, "i")] == ["mark"]


def test_log_sparse_on_the_command_line_to_pftrace(tmp_path):
    prog = write(tmp_path / "prog.py", SPARSE_PROGRAM)
    proc = run(COMMANDS["python-m"], "--log_sparse", "-o", "result.pftrace", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_any_report(str(tmp_path / "result.pftrace"))
    known, main_tree = sparse_expectations(prog)
    assert tree(report) == main_tree
    assert Counter(names(report)) == Counter(
        [n for n, _ in main_tree] + [known["a"], known["b"], known["plain"]])


def test_log_sparse_without_the_flag_is_a_normal_trace(tmp_path):
    """``viztracer prog.py`` without --log_sparse: the decorator returned every function
    unchanged, and everything is recorded."""
    prog = write(tmp_path / "prog.py", SPARSE_PROGRAM)
    proc = run(COMMANDS["python-m"], "-o", "result.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    counts = Counter(names(load_report(tmp_path / "result.json")))
    a = f"a ({prog}:{line_of(prog, 'def a')})"
    assert counts[a] == 8
    assert counts[f"main ({prog}:{line_of(prog, 'def main')})"] == 1


def sparse_chain():
    return top()


def test_log_sparse_without_a_tracer_returns_the_function_itself():
    assert log_sparse(sparse_chain) is sparse_chain
    assert log_sparse(stack_depth=3)(sparse_chain) is sparse_chain
    VizTracer(verbose=0)        # a global tracer that is not in sparse mode
    assert log_sparse(sparse_chain) is sparse_chain
    VizTracer(verbose=0, log_sparse=True)
    wrapped = log_sparse(sparse_chain)
    assert wrapped is not sparse_chain and wrapped.__wrapped__ is sparse_chain
    assert wrapped.__name__ == "sparse_chain"


def test_log_sparse_stack_depth_must_be_a_non_negative_integer():
    """Ours: a ValueError when decorating. 1.1.1 took a negative depth as 0."""
    with pytest.raises(ValueError, match="stack_depth"):
        log_sparse(stack_depth=-1)(sparse_chain)
    with pytest.raises(ValueError, match="stack_depth"):
        log_sparse(sparse_chain, stack_depth="2")


@pytest.mark.parametrize("depth, expected", [
    (0, [("sparse_chain", [])]),
    (1, [("sparse_chain", [])]),
    (2, [("sparse_chain", [("top", [])])]),
    (4, [("sparse_chain", [("top", [("middle", [("leaf", [])])])])]),
    (5, [("sparse_chain", [("top", [("middle", [("leaf", [(LEN, [])])])])])]),
])
def test_log_sparse_stack_depth_records_that_many_levels(tmp_path, depth, expected):
    by_short = {f.__name__: fname(f) for f in (sparse_chain, top, middle, leaf)}

    def full(nodes):
        return [(by_short.get(n, n), full(children)) for n, children in nodes]

    tracer = VizTracer(verbose=0, log_sparse=True)
    decorated = log_sparse(sparse_chain, stack_depth=depth)
    tracer.start()
    leaf()
    decorated()
    middle()
    tracer.stop()
    assert sys.getprofile() is None
    assert tree(save_and_load(tracer, tmp_path / "r.json")) == full(expected)


@log_sparse(dynamic_tracer_check=True)
def dyn_plain():
    return top()


@log_sparse(dynamic_tracer_check=True, stack_depth=2)
def dyn_depth2():
    return top()


class Holder:
    @log_sparse(dynamic_tracer_check=True)
    def method(self):
        return leaf()


def dyn_main():
    leaf()
    dyn_plain()
    dyn_depth2()
    Holder().method()


@pytest.mark.parametrize("output", ["result.json", "result.pftrace"])
def test_log_sparse_dynamic_tracer_check_with_a_tracer_made_later(tmp_path, output):
    path = tmp_path / output
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        dyn_main()
    report = load_any_report(str(path))
    assert tree(report) == [(fname(dyn_plain), []), (fname(dyn_depth2), [(fname(top), [])]),
                            (fname(Holder.method), [])]
    line = Holder.method.__wrapped__.__code__.co_firstlineno
    assert fname(Holder.method) == f"Holder.method ({HERE}:{line})"


def test_log_sparse_decorated_inside_the_with_block(tmp_path):
    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        decorated = log_sparse(sparse_chain)
        decorated()
    assert tree(load_report(path)) == [(fname(sparse_chain), [])]
    assert decorated() == 1     # after the block: the plain function, nothing recorded, no error


def test_log_sparse_nested_stack_depth_only_the_outermost_counts(tmp_path):
    @log_sparse(dynamic_tracer_check=True, stack_depth=10)
    def inner_deep():
        return top()

    @log_sparse(dynamic_tracer_check=True, stack_depth=1)
    def outer_shallow():
        return inner_deep()

    @log_sparse(dynamic_tracer_check=True, stack_depth=1)
    def inner_shallow():
        return top()

    @log_sparse(dynamic_tracer_check=True, stack_depth=10)
    def outer_deep():
        return inner_shallow()

    @log_sparse(dynamic_tracer_check=True, stack_depth=5)
    def inner_level2():
        return top()

    @log_sparse(dynamic_tracer_check=True, stack_depth=2)
    def outer_level2():
        return inner_level2()

    @log_sparse(dynamic_tracer_check=True)
    def plain_inside():
        return leaf()

    @log_sparse(dynamic_tracer_check=True, stack_depth=10)
    def outer_with_plain():
        return plain_inside()

    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        outer_shallow()
        outer_deep()
        outer_with_plain()
        outer_level2()
    top_tree = (fname(top), [(fname(middle), [(fname(leaf), [(LEN, [])])])])
    assert tree(load_report(path)) == [
        (fname(outer_shallow), []),
        (fname(outer_deep), [(fname(inner_shallow), [top_tree])]),
        (fname(outer_with_plain), [(fname(plain_inside), [(fname(leaf), [(LEN, [])])])]),
        # the inner function is the second level (1.1.1 records only the outer one here)
        (fname(outer_level2), [(fname(inner_level2), [])]),
    ]


def test_log_sparse_records_a_call_that_raises_and_removes_its_hook(tmp_path):
    @log_sparse(dynamic_tracer_check=True)
    def plain_fails():
        raise KeyError("plain")

    @log_sparse(dynamic_tracer_check=True, stack_depth=3)
    def deep_fails():
        leaf()
        raise KeyError("deep")

    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        with pytest.raises(KeyError):
            plain_fails()
        with pytest.raises(KeyError):
            deep_fails()
        assert sys.getprofile() is None
        leaf()
    assert tree(load_report(path)) == [(fname(plain_fails), []),
                                       (fname(deep_fails), [(fname(leaf), [(LEN, [])])])]


def test_log_sparse_on_a_builtin_records_the_c_call(tmp_path):
    sparse_sorted = log_sparse(dynamic_tracer_check=True)(sorted)
    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        assert sparse_sorted([2, 1]) == [1, 2]
        len([1])
    assert names(load_report(path)) == ["builtins.sorted"]


def test_log_sparse_stack_depth_leaves_another_profiler_s_hook_alone(tmp_path):
    """With a foreign profile hook on the thread, the call is recorded as one slice, and the
    hook is still there afterwards."""
    seen = []

    def other_profiler(frame, event, arg):
        if event == "call":
            seen.append(frame.f_code.co_name)

    @log_sparse(dynamic_tracer_check=True, stack_depth=3)
    def deep():
        return top()

    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        sys.setprofile(other_profiler)
        try:
            deep()
            assert sys.getprofile() is other_profiler
        finally:
            sys.setprofile(None)
    assert tree(load_report(path)) == [(fname(deep), [])]
    assert "top" in seen and "leaf" in seen


def test_log_sparse_in_threads(tmp_path):
    results = {}

    def worker(key):
        leaf()
        dyn_plain()
        dyn_depth2()
        results[key] = threading.get_native_id()

    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)):
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report = load_report(path)
    for tid in results.values():
        assert tree(report, tid) == [(fname(dyn_plain), []), (fname(dyn_depth2), [(fname(top), [])])]
    assert len(calls(report)) == 9


def test_log_sparse_log_event_blocks_are_recorded(tmp_path):
    path = tmp_path / "r.json"
    with VizTracer(verbose=0, log_sparse=True, output_file=str(path)) as tracer:
        with tracer.log_event("work"):
            top()
        dyn_plain()
    line = test_log_sparse_log_event_blocks_are_recorded.__code__.co_firstlineno + 3
    assert tree(load_report(path)) == [(f"work ({HERE}:{line})", []), (fname(dyn_plain), [])]


def plain_main(f):
    leaf()
    f()
    leaf()


def test_log_sparse_under_a_full_tracer_is_recorded_as_if_undecorated(trace):
    """Same names, same nesting, no wrapper frame: a normal trace of a program whose
    functions carry @log_sparse (dynamic_tracer_check, so the wrapper is there) equals the
    trace of the undecorated program."""
    undecorated = trace(functools.partial(plain_main, sparse_chain))
    for decorate in (log_sparse(dynamic_tracer_check=True),
                     log_sparse(dynamic_tracer_check=True, stack_depth=2)):
        decorated = trace(functools.partial(plain_main, decorate(sparse_chain)))
        assert tree(decorated) == tree(undecorated)
    assert tree(undecorated)[0][1][1] == (fname(sparse_chain), [
        (fname(top), [(fname(middle), [(fname(leaf), [(LEN, [])])])])])


def test_log_sparse_method_under_a_full_tracer(trace):
    report = trace(lambda: Holder().method())
    assert tree(report)[0][1] == [(fname(Holder.method), [(fname(leaf), [(LEN, [])])])]


def test_log_sparse_under_max_stack_depth_is_as_if_undecorated(trace):
    """The wrapper's frame is no level of max_stack_depth (1.1.1 counts it, and loses the
    decorated function at the last level)."""
    undecorated = trace(functools.partial(plain_main, sparse_chain), max_stack_depth=3)
    decorated = trace(functools.partial(plain_main, log_sparse(dynamic_tracer_check=True)(sparse_chain)),
                      max_stack_depth=3)
    leaf_tree = (fname(leaf), [(LEN, [])])
    assert tree(undecorated) == [(fname(plain_main), [leaf_tree, (fname(sparse_chain), [(fname(top), [])]),
                                                      leaf_tree])]
    assert tree(decorated) == tree(undecorated)


def test_the_decorators_are_the_package_s():
    assert viztracer.ignore_function is decorator_module.ignore_function
    assert viztracer.log_sparse is decorator_module.log_sparse
    assert viztracer.trace_and_save is decorator_module.trace_and_save
    assert viztracer.get_tracer is tracer_module.get_tracer


def test_report_names_are_json_files(tmp_path):
    @trace_and_save(output_dir=str(tmp_path))
    def work():
        pass

    work()
    (path,) = [tmp_path / n for n in reports_in(tmp_path)]
    with open(path) as f:
        assert json.load(f)["traceEvents"]
