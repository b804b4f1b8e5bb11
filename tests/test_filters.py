"""Filters applied while recording, and the extra data logged with calls."""
from __future__ import annotations

import importlib
import os
import sys
import time

import pytest
from conftest import calls, names

from viztracer import get_tracer

HERE = os.path.abspath(__file__)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


FIB = f"fib ({HERE}:{fib.__code__.co_firstlineno})"

LIB = """
def inner(n):
    return n * 2

def outer(n):
    return inner(n) + len([n])
"""


@pytest.fixture
def lib(tmp_path):
    """A module in its own folder: outer() calls inner() and len()."""
    folder = tmp_path / "libdir"
    folder.mkdir()
    (folder / "vizlib_mod.py").write_text(LIB)
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module("vizlib_mod")
        yield module, str(folder)
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("vizlib_mod", None)


def mine(module):
    return module.outer(1)


def short(name: str) -> str:
    return name.split(" ")[0]


def test_max_stack_depth(trace):
    def work():
        fib(6)

    depths = {}
    for depth in (1, 2, 3, 4):
        report = trace(work, max_stack_depth=depth)
        depths[depth] = names(report).count(FIB)
    # depth 1 is work() itself; each further level adds one row of the fib tree
    assert depths == {1: 0, 2: 1, 3: 3, 4: 7}


def test_include_files_keeps_only_matching_files_and_their_callees(trace, lib):
    module, folder = lib
    report = trace(lambda: module.outer(1), include_files=[folder])
    # the lambda is not in the folder: it and everything it calls are left out
    assert names(report) == []
    report = trace(lambda: [mine(module) for _ in range(3)], include_files=[os.path.dirname(HERE)])
    found = [short(n) for n in names(report)]
    assert found.count("mine") == 3
    assert "outer" not in found and "inner" not in found and "builtins.len" not in found


def test_include_files_records_c_calls_of_included_code(trace, lib):
    module, folder = lib

    def work():
        for _ in range(2):
            mine(module)

    # relative paths are matched too, through their absolute form
    rel = os.path.relpath(folder)
    report = trace(lambda: [module.outer(i) for i in range(2)], include_files=[rel])
    assert names(report) == []
    report = trace(work, include_files=[folder, HERE])
    found = [short(n) for n in names(report)]
    assert found.count("mine") == 2 and found.count("vizlib_mod.outer") == 0
    assert found.count("outer") == 2 and found.count("inner") == 2 and found.count("builtins.len") == 2


def test_exclude_files_drops_matching_files_and_their_callees(trace, lib):
    module, folder = lib

    def work():
        for _ in range(3):
            mine(module)

    found = [short(n) for n in names(trace(work, exclude_files=[folder]))]
    assert found.count("mine") == 3
    assert "outer" not in found and "inner" not in found and "builtins.len" not in found
    found = [short(n) for n in names(trace(work))]
    assert found.count("outer") == 3 and found.count("inner") == 3 and found.count("builtins.len") == 3


def test_ignore_c_function(trace):
    def work():
        data = []
        for i in range(5):
            data.append(len(str(i)))
        fib(3)

    with_c = names(trace(work))
    assert with_c.count("list.append") == 5 and with_c.count("builtins.len") == 5
    without = names(trace(work, ignore_c_function=True))
    assert all(" (" in n for n in without), "only Python functions are left"
    assert without.count(FIB) == 5


def test_ignore_frozen(trace, tmp_path):
    (tmp_path / "frozen_probe_mod.py").write_text("def f():\n    return 1\n")
    sys.path.insert(0, str(tmp_path))
    try:
        def work():
            importlib.import_module("frozen_probe_mod").f()

        normal = names(trace(work))
        assert any("<frozen importlib._bootstrap>" in n for n in normal)
        sys.modules.pop("frozen_probe_mod", None)
        ignored = names(trace(work, ignore_frozen=True))
        assert not any("<frozen" in n for n in ignored)
        assert any(n.startswith("f (") for n in ignored)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("frozen_probe_mod", None)


def test_min_duration(trace):
    def slow():
        time.sleep(0.04)

    def work():
        fib(5)
        slow()

    # Microseconds, far from both: a fib call held up on a loaded machine stays below it.
    report = trace(work, min_duration=20000)
    found = [short(n) for n in names(report)]
    assert sorted(found) == ["test_min_duration.<locals>.slow", "test_min_duration.<locals>.work",
                             "time.sleep"]
    assert all(e["dur"] >= 20000 for e in calls(report))


def test_log_func_args(trace):
    report = trace(lambda: fib(2), log_func_args=True)
    args = [e["args"]["func_args"] for e in calls(report) if e["name"] == FIB]
    assert sorted(a["n"] for a in args) == ["0", "1", "2"]


def test_log_func_args_with_star_args(trace):
    def f(a, *rest, key=None, **extra):
        return a

    report = trace(lambda: f(1, 2, 3, key="k", z=5), log_func_args=True)
    (event,) = [e for e in calls(report) if short(e["name"]).endswith("<locals>.f")]
    assert event["args"]["func_args"] == {"a": "1", "rest": "(2, 3)", "key": "'k'", "extra": "{'z': 5}"}


def test_log_func_retval(trace):
    report = trace(lambda: fib(3), log_func_retval=True)
    values = sorted(e["args"]["return_value"] for e in calls(report) if e["name"] == FIB)
    assert values == ["0", "1", "1", "1", "2"]


def test_repr_that_raises_is_contained(trace):
    class Bad:
        def __repr__(self):
            raise RuntimeError("no repr")

    def take(x):
        return x

    report = trace(lambda: take(Bad()), log_func_args=True, log_func_retval=True)
    (event,) = [e for e in calls(report) if short(e["name"]).endswith("take")]
    assert event["args"]["func_args"]["x"] == "Not Displayable"
    assert event["args"]["return_value"] == "Not Displayable"


def test_add_func_args(trace):
    def annotated():
        get_tracer().add_func_args("answer", 42)
        get_tracer().add_func_args("who", {"a": [1]})

    report = trace(annotated)
    (event,) = [e for e in calls(report) if short(e["name"]).endswith("annotated")]
    assert event["args"] == {"answer": 42, "who": {"a": [1]}}


def test_custom_events(trace):
    def work():
        tracer = get_tracer()
        tracer.add_instant("boom", {"why": "test"}, scope="p")
        tracer.add_counter("load", {"cpu": 3})
        tracer.log_var("count", 7)
        tracer.add_object("O", "obj1", "thing", {"x": 1})
        tracer.add_raw({"ph": "i", "name": "raw-one", "pid": 1, "tid": 1, "ts": 1, "s": "g"})
        with tracer.log_event("block"):
            time.sleep(0.001)

    report = trace(work)
    events = report["traceEvents"]
    (instant,) = [e for e in events if e["ph"] == "i" and e["name"] == "boom"]
    assert instant["s"] == "p" and instant["args"] == {"why": "test"}
    counters = {e["name"]: e["args"] for e in events if e["ph"] == "C"}
    assert counters == {"load": {"cpu": 3}, "count": {"value": 7}}
    (obj,) = [e for e in events if e["ph"] == "O"]
    assert obj["id"] == "obj1" and obj["args"] == {"x": 1}
    assert any(e["name"] == "raw-one" for e in events)
    line = work.__code__.co_firstlineno + 7     # the ``with`` line
    (block,) = [e for e in calls(report) if e["name"] == f"block ({__file__}:{line})"]
    assert block["dur"] >= 1000
    sleep = [e for e in calls(report) if e["name"] == "time.sleep"][0]
    assert block["ts"] <= sleep["ts"] and sleep["ts"] + sleep["dur"] <= block["ts"] + block["dur"]


def test_log_func_args_in_threads(trace):
    import threading

    def work():
        t = threading.Thread(target=fib, args=(2,))
        t.start()
        t.join()

    report = trace(work, log_func_args=True, log_func_retval=True)
    args = sorted(e["args"]["func_args"]["n"] for e in calls(report) if e["name"] == FIB)
    assert args == ["0", "1", "2"]
