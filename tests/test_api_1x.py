"""The public API of VizTracer 1.1.1, name by name: what a 1.x program calls must work here and
write what 1.1.1 writes (compared side by side with VizTracer 1.1.1 on the same calls)."""
from __future__ import annotations

import builtins
import importlib
import inspect
import io
import json
import os
import sys
import threading
import time
import warnings

import pytest
from conftest import assert_same_events, calls, load_report, names

import viztracer
from viztracer import VizTracer, get_tracer
from viztracer.report.combine import combine_reports
from viztracer.report.loader import load_report as load_any


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


FIB = f"fib ({__file__}:{fib.__code__.co_firstlineno})"


def others(report, ph):
    return [e for e in report["traceEvents"] if e["ph"] == ph]


@pytest.fixture
def tracer():
    t = VizTracer(verbose=0)
    yield t
    t.stop()


# -- names and module paths -------------------------------------------------------------------------

def test_all_is_the_1_x_list():
    assert sorted(viztracer.__all__) == sorted([
        "__version__", "VizTracer", "ignore_function", "trace_and_save", "log_sparse", "get_tracer",
        "load_ipython_extension"])
    for name in viztracer.__all__:
        assert getattr(viztracer, name) is not None


@pytest.mark.parametrize(("module", "name"), [
    ("viztracer.vizcounter", "VizCounter"), ("viztracer.vizobject", "VizObject"),
    ("viztracer.event_base", "_EventBase"), ("viztracer.vizlogging", "VizLoggingHandler"),
    ("viztracer.vizplugin", "VizPluginBase"), ("viztracer.vizplugin", "VizPluginError"),
    ("viztracer.decorator", "ignore_function"), ("viztracer.decorator", "log_sparse"),
    ("viztracer.decorator", "trace_and_save"), ("viztracer.vizevent", "VizEvent"),
    ("viztracer", "VizCounter"), ("viztracer", "VizObject"), ("viztracer", "VizLoggingHandler"),
])
def test_module_paths_users_import(module, name):
    assert inspect.isclass(getattr(importlib.import_module(module), name)) or callable(
        getattr(importlib.import_module(module), name))


def test_unknown_attribute_of_the_package_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        viztracer.nope  # noqa: B018


# Every public method and property of 1.1.1's VizTracer that isn't about other processes,
# with the parameters 1.1.1 gives it (names and defaults).
SIGNATURES_1_1_1 = {
    "add_counter": None, "add_func_args": None, "add_instant": None, "add_object": None, "add_raw": None,
    "add_func_exec": "(self, name, val, lineno)",
    "add_garbage_collection": "(self, phase, info)",
    "add_variable": "(self, name, var, event='instant')",
    "clear": None, "cleanup": None, "dump": None, "enable_thread_tracing": "(self)",
    "exit_routine": "(self)", "get_base_time": None, "get_func_args": None, "get_sync_marker": None,
    "getts": None, "install": "(self)", "label_file_to_write": "(self)", "load": None,
    "log_event": "(self, event_name)",
    "log_instant": "(self, name, args=None, scope='t', cond=True)",
    "log_var": "(self, name, var, cond=True)",
    "overload_print": "(self)", "parse": "(self)", "pause": None, "register_global": "(self)",
    "restore_print": "(self)", "resume": None, "run": "(self, command, output_file=None)",
    "save": "(self, output_file=None, file_info=None, verbose=None)",
    "set_sync_marker": None, "shield_ignore": "(self, func, *args, **kwargs)", "start": "(self)",
    "stop": "(self, stop_option=None)", "terminate": "(self)",
}
PROPERTIES_1_1_1 = [
    "exclude_files", "ignore_c_function", "ignore_frozen", "include_files", "init_kwargs",
    "lib_file_path", "log_async", "log_func_args", "log_func_repr", "log_func_retval", "log_gc",
    "max_stack_depth", "min_duration", "pid_suffix", "process_name", "trace_self", "verbose",
    "data", "enable", "parsed", "total_entries", "tracer_entries", "output_file", "file_info",
    "log_print", "log_sparse", "log_audit", "log_torch", "dump_raw", "minimize_memory",
    "sanitize_function_name", "system_print", "threadtracefunc", "cwd", "viztmp",
]


def _plain(sig: inspect.Signature) -> str:
    return str(sig.replace(parameters=[p.replace(annotation=inspect.Parameter.empty)
                                       for p in sig.parameters.values()],
                           return_annotation=inspect.Signature.empty))


@pytest.mark.parametrize("method", sorted(SIGNATURES_1_1_1))
def test_every_method_of_1_1_1(method, tracer):
    func = getattr(VizTracer, method)
    assert callable(func)
    if SIGNATURES_1_1_1[method] is not None:
        assert _plain(inspect.signature(func)) == SIGNATURES_1_1_1[method]


def test_every_property_of_1_1_1(tracer):
    for name in PROPERTIES_1_1_1:
        getattr(tracer, name)


def test_the_constructor_takes_1_1_1_keywords_in_order():
    params = list(inspect.signature(VizTracer.__init__).parameters)[1:]
    assert params[:28] == [
        "tracer_entries", "verbose", "max_stack_depth", "include_files", "exclude_files",
        "ignore_c_function", "ignore_frozen", "log_func_retval", "log_func_args", "log_func_repr",
        "log_func_with_objprint", "log_print", "log_gc", "log_sparse", "log_async", "log_torch",
        "log_audit", "pid_suffix", "file_info", "register_global", "trace_self", "min_duration",
        "minimize_memory", "dump_raw", "sanitize_function_name", "process_name", "output_file",
        "plugins"]


def test_get_tracer_and_the_builtins_slot_of_1_x():
    t = VizTracer(verbose=0)
    assert get_tracer() is t and builtins.__dict__["__viz_tracer__"] is t
    other = VizTracer(verbose=0, register_global=False)
    assert get_tracer() is t
    other.register_global()
    assert get_tracer() is other and builtins.__dict__["__viz_tracer__"] is other


# -- instants, variables, counters, objects, raw events ----------------------------------------------

def test_instants_have_1_1_1s_shape(trace):
    def work():
        t = get_tracer()
        t.log_instant("plain")
        t.log_instant("with args", args={"a": 1}, scope="p")
        t.log_instant("text", args="x", scope="g")
        t.log_instant("skipped", cond=False)
        t.add_instant("added")
        t.add_instant("added args", {"k": [1, 2]})

    report = trace(work)
    got = [{k: v for k, v in e.items() if k not in ("ts", "pid", "tid")} for e in others(report, "i")]
    assert got == [
        {"ph": "i", "cat": "INSTANT", "name": "plain", "s": "t", "args": None},
        {"ph": "i", "cat": "INSTANT", "name": "with args", "s": "p", "args": {"a": 1}},
        {"ph": "i", "cat": "INSTANT", "name": "text", "s": "g", "args": "x"},
        {"ph": "i", "cat": "INSTANT", "name": "added", "s": "g", "args": None},
        {"ph": "i", "cat": "INSTANT", "name": "added args", "s": "g", "args": {"k": [1, 2]}},
    ]
    assert all(e["pid"] == os.getpid() and e["tid"] == threading.get_native_id() for e in others(report, "i"))


def test_a_bad_scope_is_a_value_error(tracer):
    tracer.start()
    for call in (lambda: tracer.log_instant("x", scope="q"), lambda: tracer.add_instant("x", scope="T")):
        with pytest.raises(ValueError, match="scope must be one of 'g', 'p' or 't'"):
            call()


class Point:
    def __init__(self):
        self.x, self.y = 1, 2


class Unprintable:
    def __repr__(self):
        raise RuntimeError("no repr")

    __str__ = __repr__


def test_log_var_numbers_are_counters_and_the_rest_objprint_text(trace):
    def work():
        t = get_tracer()
        t.log_var("i", 3)
        t.log_var("f", 2.5)
        t.log_var("b", True)
        t.log_var("s", "hello")
        t.log_var("l", [1, 2])
        t.log_var("none", None)
        t.log_var("point", Point())
        t.log_var("bad", Unprintable())
        t.log_var("skipped", 1, cond=False)

    report = trace(work)
    assert [(e["name"], e["args"]) for e in others(report, "C")] == [
        ("i", {"value": 3}), ("f", {"value": 2.5}), ("b", {"value": True})]
    instants = {e["name"]: e for e in others(report, "i")}
    assert list(instants) == ["s", "l", "none", "point", "bad"]
    assert all(e["s"] == "t" and e["cat"] == "INSTANT" for e in instants.values())
    assert instants["s"]["args"] == {"object": "'hello'"}
    assert instants["l"]["args"] == {"object": "[1, 2]"}
    assert instants["none"]["args"] == {"object": "None"}
    text = instants["point"]["args"]["object"]
    assert text.startswith("<Point 0x") and ".x = 1" in text and ".y = 2" in text
    assert instants["bad"]["args"] == {"object": "Not Displayable"}


def test_counters_and_their_one_line_error(tracer):
    tracer.start()
    tracer.add_counter("load", {"cpu": 3, "mem": 2.5})
    with pytest.raises(ValueError, match="counter 'load': the value of 'cpu' must be a number, got str"):
        tracer.add_counter("load", {"cpu": "high"})
    with pytest.raises(ValueError, match="must be a dict"):
        tracer.add_counter("load", [1])
    tracer.stop()
    tracer.parse()
    assert [e["args"] for e in others(tracer.data, "C")] == [{"cpu": 3, "mem": 2.5}]


def test_add_variable_as_instant_and_counter(trace):
    def work():
        t = get_tracer()
        t.add_variable("a", [1])
        t.add_variable("n", 5, event="counter")
        with pytest.raises(ValueError, match=r"s\('x'\) is not a number"):
            t.add_variable("s", "x", event="counter")
        with pytest.raises(ValueError, match="event must be 'instant' or 'counter'"):
            t.add_variable("s", 1, event="other")

    report = trace(work)
    (inst,) = others(report, "i")
    assert (inst["name"], inst["s"], inst["args"]) == ("a = [1]", "p", None)
    assert [(e["name"], e["args"]) for e in others(report, "C")] == [("n", {"n": 5})]


def test_objects_keep_the_args_they_are_given(trace):
    def work():
        t = get_tracer()
        t.add_object("N", "7", "thing")
        t.add_object("O", "7", "thing", {"x": 1})
        t.add_object("O", "7", "thing", {"snapshot": {"x": 2}})
        t.add_object("D", "7", "thing")

    report = trace(work)
    got = [{k: v for k, v in e.items() if k in ("ph", "id", "name", "args")}
           for e in report["traceEvents"] if e["ph"] in "NOD"]
    assert got == [
        {"ph": "N", "id": "7", "name": "thing"},
        {"ph": "O", "id": "7", "name": "thing", "args": {"x": 1}},
        {"ph": "O", "id": "7", "name": "thing", "args": {"snapshot": {"x": 2}}},
        {"ph": "D", "id": "7", "name": "thing"},
    ]


def test_add_object_refuses_a_phase_that_is_not_an_object_phase(tracer):
    with pytest.raises(ValueError, match="ph must be one of 'N', 'O' or 'D'"):
        tracer.add_object("X", "1", "thing")


def test_raw_events_get_pid_and_tid_when_missing(trace):
    own = {"ph": "i", "name": "given", "ts": 5, "s": "g", "pid": 1, "tid": 2}
    seen = {}

    def work():
        t = get_tracer()
        t.add_raw({"ph": "i", "name": "bare", "ts": t.getts(), "s": "g"})
        t.add_raw(own)
        th = threading.Thread(target=lambda: (t.add_raw({"ph": "i", "name": "thread", "ts": 1}),
                                              seen.setdefault("tid", threading.get_native_id())))
        th.start()
        th.join()

    report = trace(work)
    raw = {e["name"]: e for e in report["traceEvents"] if e["ph"] == "i"}
    assert raw["bare"]["pid"] == os.getpid() and raw["bare"]["tid"] == threading.get_native_id()
    assert raw["given"] == own
    assert raw["thread"]["tid"] == seen["tid"]


def test_log_event_names_carry_where_they_were_opened(trace):
    def work():
        with get_tracer().log_event("outer"):
            fib(3)
            with get_tracer().log_event("inner"):
                pass

    line = work.__code__.co_firstlineno
    report = trace(work)
    by_name = {e["name"]: e for e in calls(report)}
    outer, inner = by_name[f"outer ({__file__}:{line + 1})"], by_name[f"inner ({__file__}:{line + 3})"]
    assert outer["cat"] == inner["cat"] == "FEE"
    assert outer["ts"] <= by_name[FIB]["ts"] and inner["ts"] + inner["dur"] <= outer["ts"] + outer["dur"]


def test_custom_events_are_ignored_when_not_tracing(tracer):
    tracer.log_instant("before")
    tracer.log_var("v", 1)
    tracer.add_counter("c", {"a": 1})
    tracer.start()
    tracer.log_instant("during")
    tracer.stop()
    tracer.log_instant("after")
    with tracer.log_event("after event"):
        pass
    tracer.parse()
    assert [e["name"] for e in tracer.data["traceEvents"] if e["ph"] not in "M"] == ["during"]


# -- clocks, sync markers ----------------------------------------------------------------------------

def test_getts_and_get_base_time_agree_with_the_clocks(tracer):
    before = time.monotonic_ns() / 1000
    ts = tracer.getts()
    after = time.monotonic_ns() / 1000
    assert before <= ts <= after
    wall = (tracer.get_base_time() + ts * 1000) / 1e9
    assert abs(wall - time.time()) < 1.0


def test_sync_marker_and_align_combine(tmp_path):
    reports, expected = [], []
    for i in range(2):
        t = VizTracer(verbose=0)
        t.start()
        time.sleep(0.002 * (i + 1))
        assert t.get_sync_marker() is None
        t.set_sync_marker()
        fib(2)
        t.stop()
        marker = t.get_sync_marker()
        path = t.save(str(tmp_path / f"r{i}.json"))
        report = load_report(path)
        assert report["viztracer_metadata"]["sync_marker"] == marker
        reports.append(report)
        expected.append(sorted(round(e["ts"] - marker, 3) for e in calls(report) if e["name"] == FIB))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t.set_sync_marker()
    assert [str(w.message) for w in caught] == ["Synchronization marker already set"]
    combined = combine_reports([load_any(str(tmp_path / f"r{i}.json")) for i in range(2)], align=True)
    fibs = [round(e["ts"], 3) for e in calls(combined) if e["name"] == FIB]
    # each report is shifted by its own marker: fib(2) came after it, the sleep before it
    assert sorted(fibs) == sorted(expected[0] + expected[1]) and all(t >= 0 for t in fibs)
    assert len([e for e in calls(combined) if e["name"] == "time.sleep" and e["ts"] < 0]) == 2


def test_align_combine_without_markers_starts_each_report_at_zero(tmp_path):
    paths = []
    for i in range(2):
        t = VizTracer(verbose=0)
        t.start()
        fib(3)
        t.stop()
        paths.append(t.save(str(tmp_path / f"r{i}.json")))
    combined = combine_reports([load_any(p) for p in paths], align=True)
    assert min(e["ts"] for e in calls(combined)) == 0


# -- print, data, dump, load, save ---------------------------------------------------------------------

def test_overload_print_and_restore_print(tracer, capsys):
    original = builtins.print
    tracer.start()
    tracer.overload_print()
    print("captured", 1, sep="-")
    print("no newline", end="")
    tracer.restore_print()
    assert builtins.print is original
    print("printed")
    tracer.stop()
    tracer.parse()
    assert [(e["name"], e["s"]) for e in others(tracer.data, "i")] == [
        ("print - captured-1\n", "g"), ("print - no newline", "g")]
    assert capsys.readouterr().out == "printed\n"
    assert tracer.system_print is original


def test_log_print_restores_print_at_stop(capsys):
    original = builtins.print
    t = VizTracer(verbose=0, log_print=True)
    t.start()
    assert builtins.print is not original
    print("inside")
    t.stop()
    assert builtins.print is original
    print("outside")
    t.parse()
    assert [e["name"] for e in others(t.data, "i")] == ["print - inside\n"]
    assert capsys.readouterr().out == "outside\n"


def test_parse_data_load_and_dump(tracer, tmp_path):
    assert tracer.data == {}
    tracer.start()
    fib(3)
    tracer.log_instant("mark")
    tracer.stop()
    events = tracer.load()
    assert [e["name"] for e in events if e["ph"] == "M"] == ["process_name", "thread_name"]
    assert tracer.load() == events    # reading does not consume the recording
    count = tracer.parse()
    assert count == 6 == tracer.total_entries   # fib(3): 5 calls, and the instant
    assert set(tracer.data) == {"traceEvents", "viztracer_metadata"}
    assert tracer.data["traceEvents"] == events and tracer.parsed
    tracer.dump(str(tmp_path / "dumped.json"))
    dumped = load_report(tmp_path / "dumped.json")
    assert dumped["traceEvents"] == events


def test_save_to_open_file_objects(tracer, tmp_path):
    tracer.start()
    fib(2)
    tracer.stop()
    text = io.StringIO()
    assert tracer.save(text) is None
    binary = io.BytesIO()
    tracer.save(binary)
    with open(tmp_path / "f.json", "w") as f:
        tracer.save(f)
    for data in (text.getvalue(), binary.getvalue().decode(), (tmp_path / "f.json").read_text()):
        report = json.loads(data)
        assert names(report).count(FIB) == 3 and "file_info" in report


def test_save_while_running_goes_on_recording(tracer, tmp_path):
    tracer.start()
    fib(1)
    tracer.save(str(tmp_path / "first.json"))
    assert tracer.enable
    fib(2)
    tracer.stop()
    tracer.save(str(tmp_path / "second.json"))
    assert names(load_report(tmp_path / "first.json")).count(FIB) == 1
    assert names(load_report(tmp_path / "second.json")).count(FIB) == 4


def test_pid_suffix(tmp_path):
    t = VizTracer(verbose=0, pid_suffix=True, output_file=str(tmp_path / "out.json.gz"))
    with pytest.raises(ValueError, match="pid_suffix must be True or False"):
        t.pid_suffix = 1
    t.start()
    fib(1)
    t.stop()
    path = t.save()
    assert path == str(tmp_path / f"out_{os.getpid()}.json.gz") and os.path.exists(path)


def test_run_traces_the_command_and_saves(tmp_path):
    t = VizTracer(verbose=0)
    t.run("fib(4)", output_file=str(tmp_path / "run.json"))
    report = load_report(tmp_path / "run.json")
    assert names(report).count(FIB) == 9 and "builtins.exec" in names(report)


def test_exit_routine_saves_once_and_removes_the_placeholder(tmp_path):
    out = tmp_path / "exit.json"
    t = VizTracer(verbose=0, output_file=str(out), pid_suffix=True)
    t.label_file_to_write()
    placeholder = tmp_path / f"exit_{os.getpid()}.json.viztmp"
    assert t.viztmp == str(placeholder) and placeholder.exists()
    t.start()
    fib(2)
    t.exit_routine()
    t.exit_routine()
    assert not placeholder.exists()
    assert names(load_report(tmp_path / f"exit_{os.getpid()}.json")).count(FIB) == 3


# -- options as attributes, between runs --------------------------------------------------------------

def test_options_set_between_runs_take_effect(tracer):
    tracer.start()
    fib(5)
    tracer.stop()
    tracer.parse()
    assert [e["name"] for e in calls(tracer.data)].count(FIB) == 15
    tracer.clear()
    tracer.max_stack_depth = 2
    tracer.ignore_c_function = True
    tracer.start()
    fib(5)
    len([])
    tracer.stop()
    tracer.parse()
    recorded = [e["name"] for e in calls(tracer.data)]
    assert recorded.count(FIB) == 3 and "builtins.len" not in recorded


def test_init_kwargs_rebuild_the_same_tracer():
    t = VizTracer(verbose=0, max_stack_depth=4, log_gc=True, ignore_c_function=True, log_audit=["open"],
                  register_global=False)
    kwargs = t.init_kwargs
    assert kwargs["max_stack_depth"] == 4 and kwargs["log_gc"] is True and kwargs["log_audit"] == ["open"]
    copy = VizTracer(**{**kwargs, "register_global": False})
    assert copy.init_kwargs == kwargs


def test_log_gc_must_be_a_bool(tracer):
    with pytest.raises(TypeError, match="log_gc must be True or False"):
        tracer.log_gc = "yes"


def test_constructor_errors_are_one_line_value_errors():
    cases = [
        (dict(log_func_repr=repr, log_func_with_objprint=True), "can't be used together"),
        (dict(log_func_repr="repr"), "log_func_repr must be a function"),
        (dict(include_files=["a"], exclude_files=["b"]), "can't be used together"),
        (dict(tracer_entries=0), "positive integer"),
        (dict(log_audit=["("]), r"log_audit: '\(' is not a valid regular expression"),
        (dict(min_duration=-1), "can't be negative"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            VizTracer(verbose=0, register_global=False, **kwargs)
        assert "\n" not in str(info.value)


def test_log_torch_without_torch_is_an_import_error():
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here")
    with pytest.raises(ImportError, match="log_torch needs PyTorch"):
        VizTracer(verbose=0, log_torch=True)


# -- arguments: log_func_repr, objprint, Not Displayable ------------------------------------------------

def takes(obj):
    return obj


def test_log_func_repr_and_objprint(trace):
    report = trace(lambda: takes(Point()), log_func_args=True, log_func_retval=True,
                   log_func_repr=lambda o: f"R<{type(o).__name__}>")
    (call,) = [e for e in calls(report) if e["name"].startswith("takes ")]
    assert call["args"] == {"func_args": {"obj": "R<Point>"}, "return_value": "R<Point>"}
    report = trace(lambda: takes(Point()), log_func_args=True, log_func_retval=True,
                   log_func_with_objprint=True)
    (call,) = [e for e in calls(report) if e["name"].startswith("takes ")]
    text = call["args"]["func_args"]["obj"]
    assert text.startswith("<Point 0x") and "\n  .x = 1" in text and call["args"]["return_value"] == text


def test_a_failing_repr_function_is_not_displayable(trace):
    def boom(obj):
        raise ValueError("nope")

    report = trace(lambda: takes(1), log_func_args=True, log_func_repr=boom)
    (call,) = [e for e in calls(report) if e["name"].startswith("takes ")]
    assert call["args"] == {"func_args": {"obj": "Not Displayable"}}


def test_add_func_exec_and_get_func_args(trace):
    seen = {}

    def worker():
        t = get_tracer()
        seen["before"] = t.get_func_args()
        t.add_func_exec("a", 5, 10)
        t.add_func_exec("b", "x", 11)
        seen["after"] = dict(t.get_func_args())

    report = trace(worker)
    (call,) = [e for e in calls(report) if e["name"].startswith(worker.__qualname__ + " (")]
    assert call["args"] == {"exec_steps": ["(10) a = 5", "(11) b = x"]}
    assert seen == {"before": None, "after": {"exec_steps": ["(10) a = 5", "(11) b = x"]}}


# -- trace_self, sanitize_function_name, shield_ignore ---------------------------------------------------

def test_trace_self_records_viztracer_itself(trace):
    plain = trace(lambda: get_tracer().add_object("N", "1", "x"))
    mine = trace(lambda: get_tracer().add_object("N", "1", "x"), trace_self=True)
    assert not any("VizTracer.add_object" in n for n in names(plain))
    assert any(n.startswith("VizTracer.add_object (") for n in names(mine))


def test_sanitize_function_name(tmp_path):
    source = "def weird():\n    pass\nweird()\n"
    code = compile(source, "bad\udcff.py", "exec")
    for sanitize in (False, True):
        t = VizTracer(verbose=0, sanitize_function_name=sanitize)
        t.start()
        exec(code, {})
        t.stop()
        path = t.save(str(tmp_path / f"s{sanitize}.json"))
        raw = open(path, "rb").read()
        raw.decode("utf-8")     # valid UTF-8 either way: JSON escapes the lone surrogate
        with open(path, encoding="utf-8") as f:
            recorded = names(json.load(f))
        expected = "weird (bad\ufffd.py:1)" if sanitize else "weird (bad\udcff.py:1)"
        assert expected in recorded


def test_shield_ignore_records_what_our_own_code_calls(trace):
    def work():
        get_tracer().shield_ignore(fib, 2)

    report = trace(work)
    assert names(report).count(FIB) == 3
    assert not any(n.startswith("VizTracer.shield_ignore") for n in names(report))


def test_minimize_memory_and_dump_raw_write_the_same_report(trace):
    plain = trace(lambda: fib(4))
    small = trace(lambda: fib(4), minimize_memory=True, dump_raw=True)
    assert names(plain).count(FIB) == names(small).count(FIB) == 9


def test_process_name(trace):
    report = trace(lambda: fib(1), process_name="worker-7")
    (meta,) = [e for e in report["traceEvents"] if e["ph"] == "M" and e["name"] == "process_name"]
    assert meta["args"] == {"name": "worker-7"}


def test_metadata_carries_the_base_time(trace):
    report = trace(lambda: fib(1))
    base = report["viztracer_metadata"]["baseTimeNanoseconds"]
    assert abs(base / 1e9 + time.monotonic() - time.time()) < 1.0


def test_enable_thread_tracing_in_a_thread_not_started_by_threading(tracer):
    import _thread

    done = threading.Event()

    def body():
        get_tracer().enable_thread_tracing()
        fib(2)
        sys.setprofile(None)
        done.set()

    tracer.start()
    _thread.start_new_thread(body, ())
    done.wait(10)
    tracer.stop()
    tracer.parse()
    assert [e["name"] for e in calls(tracer.data)].count(FIB) == 3


# -- the same events in .json and .pftrace --------------------------------------------------------------

def test_every_1_x_event_reads_back_the_same_from_json_and_pftrace(tmp_path):
    import gc

    from viztracer.vizcounter import VizCounter
    from viztracer.vizlogging import VizLoggingHandler
    from viztracer.vizobject import VizObject

    tracer = VizTracer(verbose=0, log_print=True, log_gc=True, log_exception=True, log_audit=["compile"])
    tracer.start()
    try:
        tracer.log_instant("plain")
        tracer.log_instant("args", {"a": [1, None]}, scope="p")
        tracer.log_var("n", 4)
        tracer.log_var("text", "hello")
        tracer.add_variable("v", 1)
        counter = VizCounter(tracer, "counter")
        counter.a = 1
        counter.b = 2.5
        obj = VizObject(tracer, "obj")
        obj.x = {"k": [1, 2]}
        del obj
        tracer.add_object("O", "9", "given", {"x": 1})
        tracer.add_raw({"ph": "i", "name": "raw", "ts": tracer.getts(), "s": "g"})
        print("printed\nlines")
        gc.collect()
        try:
            raise KeyError("k")
        except KeyError:
            pass
        compile("1", "<c>", "eval")
        handler = VizLoggingHandler()
        handler.setTracer(tracer)
        import logging
        logger = logging.getLogger("parity")
        logger.addHandler(handler)
        logger.warning("careful")
        logger.removeHandler(handler)
        with tracer.log_event("block"):
            fib(2)
        # process and global instants of another thread keep their tid in both formats
        worker = threading.Thread(target=lambda: (tracer.log_instant("worker p", scope="p"),
                                                  tracer.log_instant("worker g", {"x": 1}, scope="g")))
        worker.start()
        worker.join()
    finally:
        tracer.stop()
    tracer.save(str(tmp_path / "t.json"))
    tracer.save(str(tmp_path / "t.pftrace"))
    from_json, from_pftrace = load_any(str(tmp_path / "t.json")), load_any(str(tmp_path / "t.pftrace"))

    assert_same_events(from_json, from_pftrace)
    kinds = {(e["ph"], e.get("cat")) for e in from_json["traceEvents"]}
    assert {("i", "INSTANT"), ("C", None), ("N", None), ("O", None), ("D", None), ("X", "FEE")} <= kinds
    from_worker = [e for e in from_pftrace["traceEvents"] if e["name"].startswith("worker ")]
    assert len(from_worker) == 2 and {e["tid"] for e in from_worker} == {worker.native_id}
    recorded = {e["name"] for e in from_json["traceEvents"]}
    assert {"print - printed\nlines\n", "Exception - KeyError('k')", "compile", "logging - careful",
            "garbage collection", "counter", "obj", "given", "raw", "v = 1"} <= recorded


def test_parse_after_a_save_still_fills_data(tracer, tmp_path):
    tracer.start()
    fib(2)
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    assert tracer.parse() == 3 and len(calls(tracer.data)) == 3


def test_log_torch_merges_pytorchs_events_on_the_report_clock(tmp_path):
    torch = pytest.importorskip("torch", reason="PyTorch is not installed here (pip install torch)")

    def work():
        a = torch.ones(32, 32)
        for _ in range(2):
            a = torch.mm(a, a)
        return a

    t = VizTracer(verbose=0, log_torch=True)
    t.start()
    work()
    t.stop()
    report = load_report(t.save(str(tmp_path / "torch.json")))
    (call,) = [e for e in calls(report) if e["name"].startswith("test_log_torch_merges_pytorchs_events_on_"
                                                                 "the_report_clock.<locals>.work (")]
    ops = [e for e in calls(report) if e.get("cat") == "cpu_op" and e["name"] == "aten::mm"]
    assert len(ops) == 2
    # PyTorch's events moved onto the report's clock: inside the call that made them, give or
    # take what converting through the wall clock costs (both sides read it a few us apart)
    slack = 100
    assert all(call["ts"] - slack <= op["ts"] and op["ts"] + op["dur"] <= call["ts"] + call["dur"] + slack
               for op in ops)
    assert ops[0]["ts"] + ops[0]["dur"] <= ops[1]["ts"] + slack
