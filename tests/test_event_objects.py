"""VizCounter, VizObject, ``_EventBase`` and VizLoggingHandler: the events they log.

Where we deliberately differ from VizTracer 1.1.1 (each is also noted at its test):

- A value a VizCounter can't count is a ValueError at the write that brings it, and the
  attribute keeps its value; 1.1.1 raises a plain Exception after storing the value, so every
  later write fails too. Bools count as 0 and 1 (1.1.1 refuses them).
- A VizObject value that is not JSON is a ValueError at its write; 1.1.1 leaves it out of the
  snapshot silently (and leaves out bools and None, which we log).
- With a tracer of None nothing is checked either: a no-op, as 1.1.1.
- ``name`` defaults to the class's name, as the manual says; 1.1.1 uses "".
- An unknown keyword to the constructor is a ValueError like ``config``'s; 1.1.1 ignores it.
- ``include_attributes="a"`` means the attribute ``a``.
- Class-level values (class attributes, properties) are in the snapshot when they can be
  logged and left out otherwise; 1.1.1 raised on a counter class's string constant.
- A method decorated with ``triggerlog`` is recorded in the trace as if undecorated; 1.1.1
  leaves it out (its wrapper lives in viztracer's directory).
- A VizLoggingHandler whose tracer fails reports it like any logging handler
  (``handleError``); 1.1.1 lets the exception out of the logging call.
"""
from __future__ import annotations

import gc
import logging
import os
import threading

import pytest
from conftest import calls, load_report, names
from conftest_cli_helpers import COMMANDS, run, write

import viztracer
from viztracer import VizTracer
from viztracer.report.loader import load_report as load_any_report

HERE = os.path.abspath(__file__)


def fname(func) -> str:
    func = getattr(func, "__wrapped__", func)
    code = func.__code__
    return f"{func.__qualname__} ({code.co_filename}:{code.co_firstlineno})"


def leaf():
    return len([1])


@pytest.fixture
def tracer():
    t = VizTracer(verbose=0, register_global=False)
    t.start()
    yield t
    t.stop()


def events(tracer, tmp_path, ph: str, output: str = "r.json") -> list[dict]:
    """Save the tracer's report and return its events of the phases in ``ph``, without the
    timestamps, pid and tid."""
    tracer.stop()
    path = tmp_path / output
    tracer.save(str(path), verbose=0)
    report = load_any_report(str(path))
    return [{k: v for k, v in e.items() if k not in ("ts", "pid", "tid")}
            for e in report["traceEvents"] if e["ph"] in ph]


def counter_args(tracer, tmp_path, output="r.json") -> list[tuple[str, dict]]:
    return [(e["name"], e["args"]) for e in events(tracer, tmp_path, "C", output)]


# -- the names users import ------------------------------------------------------------------------

def test_the_import_paths_of_the_manual():
    from viztracer import (  # noqa: F401
        VizCounter,
        VizLoggingHandler,
        VizObject,
        get_tracer,
        ignore_function,
        log_sparse,
        trace_and_save,
    )
    from viztracer.event_base import _EventBase
    from viztracer.vizcounter import VizCounter as counter_class
    from viztracer.vizlogging import VizLoggingHandler as handler_class
    from viztracer.vizobject import VizObject as object_class

    assert VizCounter is counter_class and VizObject is object_class
    assert VizLoggingHandler is handler_class
    assert issubclass(VizCounter, _EventBase) and issubclass(VizObject, _EventBase)
    assert issubclass(VizLoggingHandler, logging.Handler)
    assert VizCounter.__module__ == "viztracer.vizcounter"
    assert VizObject.__module__ == "viztracer.vizobject"
    assert _EventBase.__module__ == "viztracer.event_base"


# -- VizCounter ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_each_public_write_logs_every_logged_attribute(tracer, tmp_path, output):
    counter = viztracer.VizCounter(tracer, "my counter")
    counter.a = 1
    counter.b = 2.5
    counter.a = 3
    counter._private = 100      # never logged, never in a sample
    counter.b = -1
    assert counter_args(tracer, tmp_path, output) == [
        ("my counter", {"a": 1}), ("my counter", {"a": 1, "b": 2.5}),
        ("my counter", {"a": 3, "b": 2.5}), ("my counter", {"a": 3, "b": -1})]


def test_counter_event_shape_is_1_1_1_s(tracer, tmp_path):
    counter = viztracer.VizCounter(tracer, "c")
    counter.value = 7
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"), verbose=0)
    (event,) = calls(load_report(tmp_path / "r.json"), "C")
    assert sorted(event) == ["args", "name", "ph", "pid", "tid", "ts"]
    assert event["pid"] == os.getpid() and event["tid"] == threading.get_native_id()


def test_trigger_on_change_off_and_log(tracer, tmp_path):
    counter = viztracer.VizCounter(tracer, "c", trigger_on_change=False)
    counter.a = 1
    counter.b = 1
    counter.log()
    other = viztracer.VizCounter(tracer, "d")
    other.config("trigger_on_change", False)
    other.x = 5
    other.x = 6
    other.log()
    other.config("trigger_on_change", True)
    other.x = 7
    assert counter_args(tracer, tmp_path) == [("c", {"a": 1, "b": 1}), ("d", {"x": 6}), ("d", {"x": 7})]


def test_config_refuses_unknown_keys(tracer):
    """1.1.1 raises ValueError in config too; for the constructor 1.1.1 ignores unknown keys,
    we refuse them the same way."""
    counter = viztracer.VizCounter(tracer, "c")
    with pytest.raises(ValueError, match="no config named 'trigger'"):
        counter.config("trigger", False)
    with pytest.raises(ValueError, match="exclude_attribtues"):
        counter._viztracer_set_config("exclude_attribtues", ["a"])
    with pytest.raises(ValueError, match="no config named"):
        viztracer.VizCounter(tracer, "c", trigger_on_chang=False)


def test_include_attributes(tracer, tmp_path):
    counter = viztracer.VizCounter(tracer, "c", include_attributes=["a", "missing"])
    counter.a = 1
    counter.b = 2           # not included: no sample, not in the samples
    counter.a = 3
    single = viztracer.VizCounter(tracer, "s")
    single.config("include_attributes", "ab")       # one name, not "a" and "b"
    single.a = 1
    single.ab = 2
    assert counter_args(tracer, tmp_path) == [("c", {"a": 1}), ("c", {"a": 3}), ("s", {"ab": 2})]


def test_exclude_attributes(tracer, tmp_path):
    counter = viztracer.VizCounter(tracer, "c", exclude_attributes=["b"])
    counter.a = 1
    counter.b = 2           # excluded: no sample, not in the samples
    counter.a = 3
    counter.config("exclude_attributes", [])
    counter.c = 4
    assert counter_args(tracer, tmp_path) == [
        ("c", {"a": 1}), ("c", {"a": 3}), ("c", {"a": 3, "b": 2, "c": 4})]


def test_a_non_number_is_a_value_error_at_its_write(tracer, tmp_path):
    """1.1.1 raises a plain Exception, after the value is stored (so every later write fails
    too); we raise ValueError at that write and keep the old value."""
    counter = viztracer.VizCounter(tracer, "c")
    counter.a = 1
    for bad in ("2", None, [1], {"x": 1}, object()):
        with pytest.raises(ValueError, match="a must be a number"):
            counter.a = bad
        assert counter.a == 1
    with pytest.raises(ValueError):
        counter.fresh = "text"
    assert not hasattr(counter, "fresh")
    counter.a = 2           # the counter still works
    counter.flag = True     # a bool counts as 1 (1.1.1 refuses it)
    assert counter_args(tracer, tmp_path) == [("c", {"a": 1}), ("c", {"a": 2}), ("c", {"a": 2, "flag": 1})]


def test_a_non_number_is_refused_when_not_triggering_too(tracer, tmp_path):
    counter = viztracer.VizCounter(tracer, "c", trigger_on_change=False)
    with pytest.raises(ValueError):
        counter.a = "x"
    assert not hasattr(counter, "a")
    counter.a = 1
    counter.log()
    assert counter_args(tracer, tmp_path) == [("c", {"a": 1})]


def test_a_tracer_not_started_logs_nothing_but_still_checks(tmp_path):
    tracer = VizTracer(verbose=0, register_global=False)
    counter = viztracer.VizCounter(tracer, "c")
    counter.a = 1
    with pytest.raises(ValueError):
        counter.a = "x"
    tracer.start()
    counter.a = 2
    assert counter_args(tracer, tmp_path) == [("c", {"a": 2})]


def test_tracer_none_makes_everything_a_no_op():
    """As the manual says (and as 1.1.1): instrumented code runs unchanged without a tracer,
    even with values the counter could not log."""
    class Mine(viztracer.VizCounter):
        @viztracer.VizCounter.triggerlog(when="both")
        def work(self):
            return 5

    counter = viztracer.VizCounter(None, "c")
    counter.a = 1
    counter.a = "text"
    counter.log()
    counter.config("trigger_on_change", False)
    mine = Mine(None, "m")
    assert mine.work() == 5
    obj = viztracer.VizObject(None, "o")
    obj.x = object()
    obj.log()
    del obj
    gc.collect()
    assert counter.a == "text"


def test_name_defaults_to_the_class_name(tracer, tmp_path):
    """The manual: "If not specified, class name will be used" (1.1.1 uses "")."""
    class Memory(viztracer.VizCounter):
        def __init__(self, tracer):
            super().__init__(tracer)
            self.rss = 1

    Memory(tracer)
    viztracer.VizCounter(tracer).x = 2
    assert counter_args(tracer, tmp_path) == [("Memory", {"rss": 1}), ("VizCounter", {"x": 2})]


class Usage(viztracer.VizCounter):
    unit = "MB"             # a class constant a counter can't log: left out
    limit = 100             # a class attribute that is a number: in every sample

    def __init__(self, tracer):
        super().__init__(tracer, "usage", trigger_on_change=True)
        self.used = 10

    @property
    def free(self):
        return self.limit - self.used

    def helper(self):       # methods are not attributes to log
        return 1

    @viztracer.VizCounter.triggerlog
    def grow(self, n):
        self.__dict__["used"] += n      # no write through setattr: the decorator logs
        return leaf()

    @viztracer.VizCounter.triggerlog(when="before")
    def before(self):
        pass

    @viztracer.VizCounter.triggerlog(when="both")
    def both(self):
        pass

    @viztracer.event_base._EventBase.triggerlog(when="after")
    def after(self):
        pass


def test_subclass_with_super_init_class_attributes_and_properties(tracer, tmp_path):
    usage = Usage(tracer)
    usage.used = 30
    assert counter_args(tracer, tmp_path) == [
        ("usage", {"used": 10, "free": 90, "limit": 100}),
        ("usage", {"used": 30, "free": 70, "limit": 100})]


@pytest.mark.parametrize("method, count", [("grow", 1), ("before", 1), ("both", 2), ("after", 1)])
def test_triggerlog_logs_before_after_or_both(tracer, tmp_path, method, count):
    usage = Usage(tracer)
    usage.config("trigger_on_change", False)
    result = getattr(usage, method)(*([5] if method == "grow" else []))
    assert result == (1 if method == "grow" else None)
    used = 15 if method == "grow" else 10
    assert counter_args(tracer, tmp_path) == [
        ("usage", {"used": 10, "free": 90, "limit": 100})] + [
        ("usage", {"used": used, "free": 100 - used, "limit": 100})] * count


def test_triggerlog_before_sees_the_values_before_the_call(tracer, tmp_path):
    class Steps(viztracer.VizCounter):
        @viztracer.VizCounter.triggerlog(when="both")
        def step(self):
            self.__dict__["n"] += 1

    steps = Steps(tracer, "steps", trigger_on_change=False)
    steps.n = 0
    steps.step()
    steps.step()
    assert [args for _, args in counter_args(tracer, tmp_path)] == [{"n": 0}, {"n": 1}, {"n": 1}, {"n": 2}]


def test_triggerlog_refuses_an_unknown_when():
    with pytest.raises(ValueError, match="when"):
        viztracer.VizCounter.triggerlog(when="during")


def test_triggerlog_keeps_the_method_s_name():
    assert Usage.grow.__name__ == "grow" and Usage.grow.__wrapped__.__code__.co_name == "grow"


@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_a_triggerlog_method_is_recorded_as_if_undecorated(tmp_path, output):
    """The method and what it calls, nested under its caller, no wrapper frame and none of
    viztracer's calls (1.1.1 leaves the method out)."""
    def main():
        usage.grow(1)

    tracer = VizTracer(verbose=0, register_global=False)
    usage = Usage(tracer)
    tracer.start()
    main()
    tracer.stop()
    tracer.save(str(tmp_path / output), verbose=0)
    report = load_any_report(str(tmp_path / output))
    xs = sorted(calls(report), key=lambda e: (e["ts"], -e["dur"]))
    assert [e["name"] for e in xs] == [fname(main), fname(Usage.grow), fname(leaf), "builtins.len"]
    outer, method = xs[0], xs[1]
    assert outer["ts"] <= method["ts"] and method["ts"] + method["dur"] <= outer["ts"] + outer["dur"] + 0.001
    assert [e["args"] for e in calls(report, "C")] == [{"used": 11, "free": 89, "limit": 100}]


def test_a_triggerlog_method_under_max_stack_depth(tmp_path):
    """The wrapper is no level of max_stack_depth: the method is at level 2 as undecorated."""
    def main():
        usage.grow(1)

    tracer = VizTracer(verbose=0, register_global=False, max_stack_depth=2)
    usage = Usage(tracer)
    tracer.start()
    main()
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"), verbose=0)
    assert names(load_report(tmp_path / "r.json")) == [fname(Usage.grow), fname(main)]


def test_a_triggerlog_method_is_recorded_on_the_command_line(tmp_path):
    """There VizCounter is imported (lazily, from the package) once the tracer runs."""
    prog = write(tmp_path / "prog.py", """
        from viztracer import VizCounter, get_tracer

        class Steps(VizCounter):
            @VizCounter.triggerlog
            def step(self):
                self.n = 1

        Steps(get_tracer(), "steps").step()
    """)
    proc = run(COMMANDS["python-m"], "-o", "result.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_report(tmp_path / "result.json")
    assert names(report).count(f"Steps.step ({prog}:4)") == 1
    assert [e["args"] for e in calls(report, "C")] == [{"n": 1}, {"n": 1}]


def test_counters_from_threads(tracer, tmp_path):
    counter = viztracer.VizCounter(tracer, "c")

    def work(i):
        setattr(counter, f"t{i}", i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    samples = counter_args(tracer, tmp_path)
    assert len(samples) == 3 and samples[-1][1] == {"t0": 0, "t1": 1, "t2": 2}


# -- VizObject ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_object_created_snapshots_and_collected(tracer, tmp_path, output):
    obj = viztracer.VizObject(tracer, "my object")
    obj_id = str(id(obj))
    obj.a = {"k": [1, 2.5, "s"]}
    obj._hidden = object()              # private: anything goes, never logged
    obj.b = "text"
    obj.c = None
    obj.d = True
    obj.e = (1, 2)
    del obj
    gc.collect()
    got = events(tracer, tmp_path, "NOD", output)
    assert got == [
        {"ph": "N", "id": obj_id, "name": "my object"},
        {"ph": "O", "id": obj_id, "name": "my object", "args": {"snapshot": {"a": {"k": [1, 2.5, "s"]}}}},
        {"ph": "O", "id": obj_id, "name": "my object",
         "args": {"snapshot": {"a": {"k": [1, 2.5, "s"]}, "b": "text"}}},
        {"ph": "O", "id": obj_id, "name": "my object",
         "args": {"snapshot": {"a": {"k": [1, 2.5, "s"]}, "b": "text", "c": None}}},
        {"ph": "O", "id": obj_id, "name": "my object",
         "args": {"snapshot": {"a": {"k": [1, 2.5, "s"]}, "b": "text", "c": None, "d": True}}},
        {"ph": "O", "id": obj_id, "name": "my object",
         "args": {"snapshot": {"a": {"k": [1, 2.5, "s"]}, "b": "text", "c": None, "d": True, "e": [1, 2]}}},
        {"ph": "D", "id": obj_id, "name": "my object"},
    ]


def test_object_values_must_be_json(tracer, tmp_path):
    """1.1.1 leaves such values out of the snapshot without a word; we refuse them."""
    obj = viztracer.VizObject(tracer, "o")
    obj.a = [1]
    for bad in (object(), {1: "int key"}, [1, {2}], b"bytes", {"k": {"deep": object()}}):
        with pytest.raises(ValueError, match="a must be JSON"):
            obj.a = bad
        assert obj.a == [1]
    got = events(tracer, tmp_path, "O")
    assert [e["args"] for e in got] == [{"snapshot": {"a": [1]}}]


def test_object_trigger_on_change_off_and_log(tracer, tmp_path):
    obj = viztracer.VizObject(tracer, "o", trigger_on_change=False)
    obj.a = 1
    obj.b = [2]
    obj.log()
    got = events(tracer, tmp_path, "NO")
    assert [e["ph"] for e in got] == ["N", "O"] and got[1]["args"] == {"snapshot": {"a": 1, "b": [2]}}


def test_object_subclass_as_in_the_manual(tracer, tmp_path):
    """Each snapshot holds the values as they were then, though the list is the same object
    (1.1.1 keeps a reference: every snapshot shows the list as it is at save time)."""
    class MyClass(viztracer.VizObject):
        def __init__(self, tracer):
            super().__init__(tracer, "my name", trigger_on_change=False)
            self.items = []

        @viztracer.VizObject.triggerlog
        def add(self, item):
            self.items.append(item)

    mine = MyClass(tracer)
    mine.add("x")
    mine.add("y")
    mine.log()
    got = events(tracer, tmp_path, "NO")
    assert [(e["ph"], e.get("args")) for e in got] == [
        ("N", None), ("O", {"snapshot": {"items": ["x"]}}), ("O", {"snapshot": {"items": ["x", "y"]}}),
        ("O", {"snapshot": {"items": ["x", "y"]}})]


def test_object_without_a_started_tracer_logs_nothing(tmp_path):
    tracer = VizTracer(verbose=0, register_global=False)
    obj = viztracer.VizObject(tracer, "o")
    obj.a = 1
    tracer.start()
    obj.a = 2
    got = events(tracer, tmp_path, "NOD")
    assert [(e["ph"], e.get("args")) for e in got] == [("O", {"snapshot": {"a": 2}})]


def test_a_subclass_that_skips_super_init_still_works():
    class Forgetful(viztracer.VizObject):
        def __init__(self):
            self.a = 1

    obj = Forgetful()
    obj.a = 2
    assert obj.a == 2
    del obj
    gc.collect()


def test_event_base_is_abstract(tracer):
    from viztracer.event_base import _EventBase

    base = _EventBase(tracer, "base")
    with pytest.raises(NotImplementedError):
        base.log()
    with pytest.raises(NotImplementedError):
        base.a = 1


# -- VizLoggingHandler ---------------------------------------------------------------------------------

@pytest.fixture
def logger():
    log = logging.getLogger("viztracer-test")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log
    for handler in list(log.handlers):
        log.removeHandler(handler)


def instants(tracer, tmp_path, output="r.json") -> list[dict]:
    return events(tracer, tmp_path, "i", output)


@pytest.mark.parametrize("output", ["r.json", "r.pftrace"])
def test_logging_records_become_process_instants(tracer, tmp_path, logger, output):
    handler = viztracer.VizLoggingHandler()
    handler.setTracer(tracer)
    logger.addHandler(handler)
    logger.info("hello %s", "world")
    logger.debug("second")
    assert instants(tracer, tmp_path, output) == [
        {"ph": "i", "cat": "INSTANT", "name": "logging - hello world", "s": "p", "args": None},
        {"ph": "i", "cat": "INSTANT", "name": "logging - second", "s": "p", "args": None}]


def test_logging_handler_applies_its_formatter_and_level(tracer, tmp_path, logger):
    handler = viztracer.VizLoggingHandler(level=logging.INFO)
    handler.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    handler.setTracer(tracer)
    logger.addHandler(handler)
    logger.debug("below the handler's level")
    logger.warning("careful")
    assert [e["name"] for e in instants(tracer, tmp_path)] == ["logging - WARNING:viztracer-test:careful"]


def test_logging_handler_without_a_tracer_is_a_no_op(tracer, tmp_path, logger):
    handler = viztracer.VizLoggingHandler()
    logger.addHandler(handler)
    logger.warning("before setTracer")
    handler.setTracer(tracer)
    logger.warning("recorded")
    handler.setTracer(None)
    logger.warning("after setTracer(None)")
    assert [e["name"] for e in instants(tracer, tmp_path)] == ["logging - recorded"]


def test_logging_handler_as_in_the_manual_with_basic_config(tracer, tmp_path):
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    handler = viztracer.VizLoggingHandler()
    handler.setTracer(tracer)
    try:
        logging.basicConfig(handlers=[handler], force=True)
        logging.warning("from the root logger")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    # basicConfig's format
    assert [e["name"] for e in instants(tracer, tmp_path)] == ["logging - WARNING:root:from the root logger"]


def test_logging_from_a_thread(tracer, tmp_path, logger):
    handler = viztracer.VizLoggingHandler()
    handler.setTracer(tracer)
    logger.addHandler(handler)
    t = threading.Thread(target=logger.error, args=("in a thread",))
    t.start()
    t.join()
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"), verbose=0)
    (event,) = calls(load_report(tmp_path / "r.json"), "i")
    assert event["name"] == "logging - in a thread" and event["s"] == "p"
    assert event["pid"] == os.getpid()


def test_logging_handler_reports_a_failing_tracer_like_logging_does(logger, capsys, monkeypatch):
    """logging's convention (1.1.1 lets the exception out of the logging call)."""
    class Broken:
        def add_instant(self, *args, **kwargs):
            raise RuntimeError("tracer broke")

    monkeypatch.setattr(logging, "raiseExceptions", True)
    handler = viztracer.VizLoggingHandler()
    handler.setTracer(Broken())
    logger.addHandler(handler)
    logger.warning("goes nowhere")
    err = capsys.readouterr().err
    assert "--- Logging error ---" in err and "tracer broke" in err


def test_logging_handler_call_is_not_in_the_trace(tracer, tmp_path, logger):
    handler = viztracer.VizLoggingHandler()
    handler.setTracer(tracer)
    logger.addHandler(handler)
    logger.warning("x")
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"), verbose=0)
    found = names(load_report(tmp_path / "r.json"))
    assert "Handler.handle" in " ".join(found)
    assert not [n for n in found if "vizlogging" in n or "VizLoggingHandler" in n]
