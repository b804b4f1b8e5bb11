"""log_gc, log_audit and log_exception through the API: the events, and that nothing of them
is left behind in the interpreter after stop()."""
from __future__ import annotations

import gc
import os
import sys
import threading

import pytest
from conftest import calls

from viztracer import VizTracer, get_tracer


def instants(report, prefix=""):
    return [e for e in report["traceEvents"] if e["ph"] == "i" and e["name"].startswith(prefix)]


class Node:
    pass


def make_cycles(n):
    for _ in range(n):
        a, b = Node(), Node()
        a.other, b.other = b, a


# -- log_gc --------------------------------------------------------------------------------------------

def test_log_gc_records_each_collection(trace):
    def work():
        gc.collect()    # whatever was there before
        make_cycles(5)
        gc.collect()

    was_enabled = gc.isenabled()
    gc.disable()        # only the two explicit collections
    try:
        report = trace(work, log_gc=True)
    finally:
        if was_enabled:
            gc.enable()
    slices = [e for e in calls(report) if e["name"] == "garbage collection"]
    assert len(slices) == 2
    assert [s["args"]["generation"] for s in slices] == [2, 2]
    assert slices[1]["args"]["collected"] == 10 and slices[1]["args"]["uncollectable"] == 0
    (outer,) = [e for e in calls(report) if e["name"] == "gc.collect" and e["ts"] <= slices[1]["ts"]
                and slices[1]["ts"] + slices[1]["dur"] <= e["ts"] + e["dur"]]
    assert outer
    samples = [e["args"] for e in report["traceEvents"]
               if e["ph"] == "C" and e["name"] == "garbage collection"]
    assert samples[2:] == [{"collecting": 1, "collected": 0, "uncollectable": 0},
                           {"collecting": 0, "collected": 10, "uncollectable": 0}]
    assert len(samples) == 4


def test_log_gc_callback_is_removed_at_stop():
    before = list(gc.callbacks)
    t = VizTracer(verbose=0, log_gc=True)
    assert gc.callbacks == before       # only while tracing
    t.start()
    assert len(gc.callbacks) == len(before) + 1
    t.stop()
    assert gc.callbacks == before
    t.log_gc = False
    t.start()
    assert gc.callbacks == before
    t.log_gc = True     # switched on while running: takes effect at once
    assert len(gc.callbacks) == len(before) + 1
    t.stop()
    assert gc.callbacks == before


# -- log_audit -----------------------------------------------------------------------------------------

def test_log_audit_with_patterns(trace, tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("x")

    def work():
        open(target).close()
        compile("1", "<audit>", "eval")

    report = trace(work, log_audit=["open", "comp.*"])
    got = [(e["name"], e["s"], e["args"]) for e in instants(report)]
    assert got == [("open", "t", {"args": [str(target), "r", str(os.O_RDONLY | os.O_CLOEXEC)]}),
                   ("compile", "t", {"args": [str(b"1"), "<audit>"]})]


def test_log_audit_patterns_match_whole_names(trace, tmp_path):
    report = trace(lambda: open(os.devnull).close(), log_audit=["ope"])
    assert instants(report) == []


def test_log_audit_without_patterns_logs_every_event(trace):
    report = trace(lambda: (compile("1", "<a>", "eval"), sys._getframe()), log_audit=[])
    recorded = [e["name"] for e in instants(report)]
    assert "compile" in recorded and "sys._getframe" in recorded


def test_log_audit_stops_with_the_tracer(tmp_path):
    t = VizTracer(verbose=0, log_audit=["open"])
    t.start()
    open(os.devnull).close()
    t.stop()
    open(os.devnull).close()
    t.start()
    open(os.devnull).close()
    t.stop()
    t.parse()
    assert len(instants(t.data, "open")) == 2


# -- log_exception -------------------------------------------------------------------------------------

def raises_deep(n):
    if n == 0:
        raise KeyError("deep")
    return raises_deep(n - 1)


def catches():
    try:
        raises_deep(3)
    except KeyError:
        pass


def reraises():
    try:
        raise ValueError("again")
    except ValueError:
        raise


def from_c():
    try:
        int("not a number")
    except ValueError:
        pass


class Custom(Exception):
    pass


def test_each_raised_exception_once_where_it_was_raised(trace):
    def work():
        catches()
        try:
            reraises()
        except ValueError:
            pass
        from_c()
        try:
            raise Custom("mine")
        except Custom:
            pass

    report = trace(work, log_exception=True)
    got = [(e["name"], e["s"], e["args"]) for e in instants(report, "Exception - ")]
    line = raises_deep.__code__.co_firstlineno
    assert got[0] == ("Exception - KeyError('deep')", "p",
                      {"type": "KeyError", "message": "'deep'", "function": "raises_deep",
                       "file": __file__, "line": line + 2})
    assert [e[0] for e in got] == ["Exception - KeyError('deep')", "Exception - ValueError('again')",
                                   "Exception - ValueError(\"invalid literal for int() with base 10: "
                                   "'not a number'\")", "Exception - Custom('mine')"]
    assert got[2][2]["function"] == "from_c" and got[2][2]["type"] == "ValueError"
    assert got[3][2]["type"] == "test_extra_log.Custom"


def test_exceptions_in_threads(trace):
    def work():
        threads = [threading.Thread(target=catches) for _ in range(3)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()

    report = trace(work, log_exception=True)
    got = instants(report, "Exception - KeyError")
    assert len(got) == 3 and len({e["tid"] for e in got}) == 3


def test_exceptions_of_viztracer_itself_are_left_out(trace):
    def work():
        t = get_tracer()
        with pytest.raises(ValueError):
            t.log_instant("x", scope="bad")     # raised inside viztracer

    report = trace(work, log_exception=True)
    assert instants(report, "Exception - ") == []


def test_log_exception_leaves_nothing_behind():
    t = VizTracer(verbose=0, log_exception=True)
    t.start()
    catches()
    t.stop()
    assert sys.gettrace() is None
    if sys.version_info >= (3, 12):
        assert all(sys.monitoring.get_tool(i) is None for i in (3, 4))
    catches()   # not recorded
    t.parse()
    assert len(instants(t.data, "Exception - ")) == 1


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring is 3.12+")
def test_log_exception_says_when_no_monitoring_tool_id_is_free():
    for i in (3, 4):
        sys.monitoring.use_tool_id(i, "someone else")
    try:
        t = VizTracer(verbose=0, log_exception=True)
        with pytest.raises(RuntimeError, match="log_exception: every sys.monitoring tool id"):
            t.start()
        assert not t.enable and sys.getprofile() is None
    finally:
        for i in (3, 4):
            sys.monitoring.free_tool_id(i)


def test_log_exception_keeps_recording_calls(trace):
    report = trace(catches, log_exception=True)
    assert [e["name"].split(" ")[0] for e in calls(report)].count("raises_deep") == 4
