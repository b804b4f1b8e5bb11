"""The extra-logging and other 1.x flags of ``viztracer``, run for real: the events each adds, in
.json and in .pftrace, their ``.viztracerrc`` keys, their errors, and what ``--help`` says."""
from __future__ import annotations

import json
import os
import re
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from conftest_cli_helpers import (
    FIB,
    TIMEOUT,
    both_commands,
    check_one_line_error,
    clean_env,
    complete_events,
    line_of,
    names,
    run,
    write,
)

from viztracer import VizTracer
from viztracer.cli_options import parse_settings, tracer_options
from viztracer.report import open_hint
from viztracer.report.loader import load_report

VIZTRACER_DIR = os.path.dirname(os.path.abspath(__import__("viztracer").__file__))


def report_of(path: Path) -> dict:
    """A .json or .pftrace report, read the way every consumer reads it."""
    return load_report(str(path))


def instants(report: dict) -> list[dict]:
    return [e for e in report["traceEvents"] if e["ph"] == "i"]


def shape(e: dict) -> tuple:
    """What a .json and a .pftrace of the same program must agree on for an event."""
    return (e["ph"], e["name"], e.get("s"), json.dumps(e.get("args") or None, sort_keys=True))


def traced(cmd: list[str], tmp_path: Path, *args: str, output: str = "result.json") -> dict:
    """Run ``viztracer -o output args...``; the report, after checking that all went well."""
    proc = run(cmd, "--quiet", "-o", output, *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return report_of(tmp_path / output)


def check_usage_error(proc, *needles: str) -> str:
    """A one-line error with status 2 and nothing on stdout: the program did not run."""
    assert proc.stdout == ""
    return check_one_line_error(proc, *needles, status=2)


# -- --log_print ---------------------------------------------------------------------------------------

PRINTS = """
    import sys

    def talk():
        print("hello", 1)
        print("a", "b", sep="-", end="!")
        print("to stderr", file=sys.stderr)

    talk()
    print()
"""
PRINTED = [("i", "print - hello 1\n", "g"), ("i", "print - a-b!", "g"),
           ("i", "print - to stderr\n", "g"), ("i", "print - \n", "g")]


@both_commands
def test_log_print_records_each_print_instead_of_printing(cmd, tmp_path):
    write(tmp_path / "prog.py", PRINTS)
    proc = run(cmd, "--log_print", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    path = tmp_path / "result.json"
    # the program's text is not written anywhere; viztracer's own lines still are
    assert proc.stdout.splitlines() == [f"Report saved to {path}", open_hint(str(path))]
    assert proc.stderr == ""
    events = instants(report_of(path))
    assert [(e["ph"], e["name"], e["s"]) for e in events] == PRINTED
    assert all(not e.get("args") for e in events)
    # print itself is a call of the program, recorded as before
    talk = next(e for e in complete_events(report_of(path)) if e["name"].startswith("talk ("))
    assert all(talk["ts"] <= e["ts"] <= talk["ts"] + talk["dur"] for e in events[:3])


@both_commands
def test_without_log_print_the_program_prints(cmd, tmp_path):
    write(tmp_path / "prog.py", PRINTS)
    proc = run(cmd, "--quiet", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "hello 1\na-b!\n"
    assert proc.stderr == "to stderr\n"
    assert instants(report_of(tmp_path / "result.json")) == []


@both_commands
def test_log_print_in_pftrace(cmd, tmp_path):
    write(tmp_path / "prog.py", PRINTS)
    events = instants(traced(cmd, tmp_path, "--log_print", "prog.py", output="r.pftrace"))
    assert [(e["ph"], e["name"], e["s"]) for e in events] == PRINTED


# -- --log_gc -------------------------------------------------------------------------------------------

GC_PROGRAM = """
    import gc
    gc.disable()
    gc.freeze()     # what exists now is never collected: the counts below are the program's own

    class Node:
        def __init__(self):
            self.other = None

    def make_cycles(n):
        for _ in range(n):
            a, b = Node(), Node()
            a.other, b.other = b, a

    gc.collect()
    make_cycles(5)
    gc.collect()
    make_cycles(3)
    gc.collect(1)
"""
GC_SLICES = [("X", "garbage collection", {"generation": 2, "collected": 0, "uncollectable": 0}),
             ("X", "garbage collection", {"generation": 2, "collected": 10, "uncollectable": 0}),
             ("X", "garbage collection", {"generation": 1, "collected": 6, "uncollectable": 0})]
GC_SAMPLES = [{"collecting": 1, "collected": 0, "uncollectable": 0},
              {"collecting": 0, "collected": 0, "uncollectable": 0},
              {"collecting": 1, "collected": 0, "uncollectable": 0},
              {"collecting": 0, "collected": 10, "uncollectable": 0},
              {"collecting": 1, "collected": 0, "uncollectable": 0},
              {"collecting": 0, "collected": 6, "uncollectable": 0}]


def gc_events(report: dict) -> tuple[list, list]:
    slices = sorted((e for e in report["traceEvents"]
                     if e["ph"] == "X" and e["name"] == "garbage collection"), key=lambda e: e["ts"])
    samples = sorted((e for e in report["traceEvents"] if e["ph"] == "C"), key=lambda e: e["ts"])
    assert {e["name"] for e in samples} <= {"garbage collection"}
    return [(e["ph"], e["name"], e["args"]) for e in slices], [e["args"] for e in samples]


@both_commands
@pytest.mark.parametrize("ext", ["json", "pftrace"])
def test_log_gc_records_each_collection(cmd, tmp_path, ext):
    write(tmp_path / "prog.py", GC_PROGRAM)
    report = traced(cmd, tmp_path, "--log_gc", "prog.py", output=f"r.{ext}")
    assert gc_events(report) == (GC_SLICES, GC_SAMPLES)


@both_commands
def test_without_log_gc_no_collection_is_recorded(cmd, tmp_path):
    write(tmp_path / "prog.py", GC_PROGRAM)
    report = traced(cmd, tmp_path, "prog.py")
    assert gc_events(report) == ([], [])
    assert "gc.collect" in names(report)


# -- --log_exception -----------------------------------------------------------------------------------

EXCEPTIONS = """
    import threading

    class MyError(Exception):
        pass

    def inner():
        raise ValueError("bad value")

    def middle():
        inner()

    def outer():
        try:
            middle()
        except ValueError:
            pass

    def reraise():
        try:
            raise KeyError("k")
        except KeyError:
            raise

    def catch_reraised():
        try:
            reraise()
        except KeyError:
            pass

    def convert():
        try:
            int("x")
        except ValueError:
            pass

    def in_thread():
        try:
            raise MyError("thread")
        except MyError:
            pass

    def chained():
        try:
            try:
                raise OSError("first")
            except OSError as e:
                raise LookupError("second") from e
        except LookupError:
            pass

    outer()
    catch_reraised()
    convert()
    t = threading.Thread(target=in_thread)
    t.start()
    t.join()
    chained()
    raise RuntimeError("uncaught")
"""


def expected_exceptions(script: Path) -> list[tuple]:
    at = lambda text: line_of(script, text)  # noqa: E731
    file = str(script)
    return [
        ("Exception - ValueError('bad value')",
         {"type": "ValueError", "message": "bad value", "function": "inner", "file": file,
          "line": at('raise ValueError("bad value")')}),
        ("Exception - KeyError('k')",
         {"type": "KeyError", "message": "'k'", "function": "reraise", "file": file,
          "line": at('raise KeyError("k")')}),
        ("Exception - ValueError(\"invalid literal for int() with base 10: 'x'\")",
         {"type": "ValueError", "message": "invalid literal for int() with base 10: 'x'",
          "function": "convert", "file": file, "line": at('int("x")')}),
        ("Exception - MyError('thread')",
         {"type": "__main__.MyError", "message": "thread", "function": "in_thread", "file": file,
          "line": at('raise MyError("thread")')}),
        ("Exception - OSError('first')",
         {"type": "OSError", "message": "first", "function": "chained", "file": file,
          "line": at('raise OSError("first")')}),
        ("Exception - LookupError('second')",
         {"type": "LookupError", "message": "second", "function": "chained", "file": file,
          "line": at('raise LookupError("second")')}),
        ("Exception - RuntimeError('uncaught')",
         {"type": "RuntimeError", "message": "uncaught", "function": "<module>", "file": file,
          "line": at('raise RuntimeError("uncaught")')}),
    ]


def program_exceptions(report: dict, script: Path) -> list[dict]:
    """The exception instants raised in the program's own file (the standard library raises and
    catches its own on the way, e.g. in threading, and those are recorded too)."""
    return sorted((e for e in instants(report) if e["args"]["file"] == str(script)), key=lambda e: e["ts"])


@both_commands
@pytest.mark.parametrize("ext", ["json", "pftrace"])
def test_log_exception_records_each_raised_exception_once(cmd, tmp_path, ext):
    script = write(tmp_path / "prog.py", EXCEPTIONS)
    proc = run(cmd, "--quiet", "--log_exception", "-o", f"r.{ext}", "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "RuntimeError: uncaught"
    report = report_of(tmp_path / f"r.{ext}")
    events = program_exceptions(report, script)
    assert [(e["name"], e["args"]) for e in events] == expected_exceptions(script)
    assert {(e["ph"], e["s"]) for e in instants(report)} == {("i", "p")}
    if ext == "json":  # (Perfetto keeps process-scoped instants on the process's track)
        thread_event = events[3]
        main_tid = next(e["tid"] for e in complete_events(report) if e["name"] == "builtins.exec")
        assert thread_event["tid"] != main_tid
        assert all(e["tid"] == main_tid for e in events if e is not thread_event)


@both_commands
def test_without_log_exception_none_is_recorded(cmd, tmp_path):
    write(tmp_path / "prog.py", EXCEPTIONS)
    proc = run(cmd, "--quiet", "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert instants(report_of(tmp_path / "result.json")) == []


# -- --log_exit ---------------------------------------------------------------------------------------

AT_EXIT = """
    import atexit

    def work():
        return 1

    def at_end():
        with open("at_end.txt", "a") as f:
            f.write("ran\\n")
        work()

    atexit.register(at_end)
    work()
"""


@both_commands
def test_log_exit_traces_the_atexit_functions(cmd, tmp_path):
    script = write(tmp_path / "prog.py", AT_EXIT)
    recorded = names(traced(cmd, tmp_path, "--log_exit", "prog.py"))
    work, at_end = f"work ({script}:3)", f"at_end ({script}:6)"
    assert Counter(recorded)[work] == 2
    assert Counter(recorded)[at_end] == 1
    assert recorded.index(at_end) > recorded.index("builtins.exec")  # after the program
    assert (tmp_path / "at_end.txt").read_text() == "ran\n"           # and run once


@both_commands
def test_without_log_exit_the_atexit_functions_run_untraced(cmd, tmp_path):
    script = write(tmp_path / "prog.py", AT_EXIT)
    recorded = names(traced(cmd, tmp_path, "prog.py"))
    assert Counter(recorded)[f"work ({script}:3)"] == 1
    assert f"at_end ({script}:6)" not in recorded
    assert (tmp_path / "at_end.txt").read_text() == "ran\n"


# -- --log_audit --------------------------------------------------------------------------------------

AUDITED = """
    import os
    import sys

    def work():
        with open(os.devnull, "rb"):
            pass
        sys.audit("my.event", 1, "two", [3])
        sys.audit("my.other")
        sys.audit("mine")

    work()
"""
AUDIT_EVENTS = {
    # io.open audits the mode its file object was opened with: "r" for "rb"
    "open": ("i", "open", "t", {"args": [os.devnull, "r", str(os.O_RDONLY | os.O_CLOEXEC)]}),
    "my.event": ("i", "my.event", "t", {"args": ["1", "two", "[3]"]}),
    "my.other": ("i", "my.other", "t", {"args": []}),
    "mine": ("i", "mine", "t", {"args": []}),
}


def audit_shapes(report: dict) -> list[tuple]:
    return [(e["ph"], e["name"], e["s"], e["args"]) for e in instants(report)]


@both_commands
@pytest.mark.parametrize(("regexes", "expected"), [
    (["open", r"my\..*"], ["open", "my.event", "my.other"]),
    (["my.event"], ["my.event"]),
    (["my"], []),           # a name must match a regex whole
    ([".*ine"], ["mine"]),
])
def test_log_audit_records_matching_events(cmd, tmp_path, regexes, expected):
    write(tmp_path / "prog.py", AUDITED)
    report = traced(cmd, tmp_path, "--log_audit", *regexes, "--", "prog.py")
    # args are the audit event's own, as the manual says (VizTracer 1.1.1 writes its argv there)
    assert audit_shapes(report) == [AUDIT_EVENTS[name] for name in expected]


@both_commands
def test_log_audit_without_regex_records_every_event(cmd, tmp_path):
    script = write(tmp_path / "prog.py", AUDITED)
    report = traced(cmd, tmp_path, "--log_audit", "--", "prog.py")
    events = audit_shapes(report)
    program = [e for e in events if e[1] != "sys.setprofile"]
    assert [e[:3] for e in program] == [("i", "exec", "t"), *(AUDIT_EVENTS[n][:3] for n in AUDIT_EVENTS)]
    assert program[0][3]["args"][0].startswith("<code object <module> at ")
    assert program[0][3]["args"][0].endswith(f'file "{script}", line 1>')
    assert program[1:] == list(AUDIT_EVENTS.values())


@both_commands
def test_log_audit_leaves_out_viztracers_own_stop(cmd, tmp_path):
    write(tmp_path / "prog.py", AUDITED)
    report = traced(cmd, tmp_path, "--log_audit", "--", "prog.py")
    assert Counter(e["name"] for e in instants(report))["sys.setprofile"] <= 1  # 1.1.1: its start


@both_commands
def test_log_audit_in_pftrace(cmd, tmp_path):
    write(tmp_path / "prog.py", AUDITED)
    report = traced(cmd, tmp_path, "--log_audit", "open", "my.*", "--", "prog.py", output="r.pftrace")
    assert audit_shapes(report) == [AUDIT_EVENTS[n] for n in ("open", "my.event", "my.other")]


@both_commands
@pytest.mark.parametrize("regex", ["(", "my[", "*"])
def test_log_audit_bad_regex(cmd, tmp_path, regex):
    write(tmp_path / "prog.py", "open('ran', 'w').close()\n")
    proc = run(cmd, "--log_audit", "open", regex, "--", "prog.py", cwd=tmp_path)
    check_usage_error(proc, "--log_audit", repr(regex), "not a valid regular expression")
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "result.json").exists()


@both_commands
def test_log_audit_bad_regex_in_rcfile(cmd, tmp_path):
    write(tmp_path / "prog.py", "open('ran', 'w').close()\n")
    write(tmp_path / ".viztracerrc", "[default]\nlog_audit = open (\n")
    proc = run(cmd, "prog.py", cwd=tmp_path)
    check_usage_error(proc, "--log_audit", "'('", "(set in .viztracerrc)")
    assert not (tmp_path / "ran").exists()


# -- the same events in .json and .pftrace -------------------------------------------------------------

@both_commands
@pytest.mark.parametrize(("flags", "program"), [
    (["--log_print"], PRINTS),
    (["--log_exception"], EXCEPTIONS),
    (["--log_audit", "open", "my.*", "mine", "--"], AUDITED),
    (["--log_gc"], GC_PROGRAM),
    (["--log_print", "--log_exception", "--log_gc"], PRINTS + GC_PROGRAM),
])
def test_json_and_pftrace_hold_the_same_events(cmd, tmp_path, flags, program):
    write(tmp_path / "prog.py", program)
    reports = {}
    for ext in ("json", "pftrace"):
        proc = run(cmd, "--quiet", "-o", f"r.{ext}", *flags, "prog.py", cwd=tmp_path)
        assert proc.returncode in (0, 1), proc.stderr
        reports[ext] = report_of(tmp_path / f"r.{ext}")
    added = {ext: sorted(shape(e) for e in r["traceEvents"]
                         if e["ph"] in ("i", "C") or e["name"] == "garbage collection")
             for ext, r in reports.items()}
    assert added["json"] == added["pftrace"]
    assert added["json"]


# -- --log_sparse ---------------------------------------------------------------------------------------

SPARSE = """
    from viztracer import get_tracer, log_sparse

    def helper():
        return 2

    @log_sparse
    def marked(x):
        return helper() + x

    def plain():
        return helper()

    marked(1)
    plain()
    with get_tracer().log_event("block"):
        plain()
"""


@both_commands
@pytest.mark.parametrize("ext", ["json", "pftrace"])
def test_log_sparse_records_only_the_marked_functions(cmd, tmp_path, ext):
    script = write(tmp_path / "prog.py", SPARSE)
    report = traced(cmd, tmp_path, "--log_sparse", "prog.py", output=f"r.{ext}")
    events = sorted((e for e in report["traceEvents"] if e["ph"] != "M"), key=lambda e: e["ts"])
    assert [(e["ph"], e["name"]) for e in events] == [
        ("X", f"marked ({script}:{line_of(script, '@log_sparse')})"),  # where the code starts
        ("X", f"block ({script}:{line_of(script, 'log_event')})"),
    ]


@both_commands
def test_without_log_sparse_everything_is_recorded(cmd, tmp_path):
    script = write(tmp_path / "prog.py", SPARSE)
    recorded = names(traced(cmd, tmp_path, "prog.py"))
    assert Counter(recorded)[f"helper ({script}:3)"] == 3


# -- --log_func_with_objprint ---------------------------------------------------------------------------

OBJECTS = """
    class Point:
        def __init__(self):
            self.x = 1
            self.name = "n"

    def make(p, k=2):
        return Point()

    make(Point())
"""
OBJPRINT_TEXT = re.compile(r"<Point 0x[0-9a-f]+\n  \.name = 'n',\n  \.x = 1\n>")


@both_commands
def test_log_func_with_objprint_shows_attributes(cmd, tmp_path):
    script = write(tmp_path / "prog.py", OBJECTS)
    report = traced(cmd, tmp_path, "--log_func_with_objprint", "--log_func_args", "--log_func_retval",
                    "prog.py")
    make = next(e for e in complete_events(report) if e["name"] == f"make ({script}:6)")
    assert sorted(make["args"]) == ["func_args", "return_value"]
    assert sorted(make["args"]["func_args"]) == ["k", "p"]
    assert OBJPRINT_TEXT.fullmatch(make["args"]["func_args"]["p"])
    assert make["args"]["func_args"]["k"] == "2"
    assert OBJPRINT_TEXT.fullmatch(make["args"]["return_value"])


@both_commands
def test_log_func_args_without_objprint_uses_repr(cmd, tmp_path):
    script = write(tmp_path / "prog.py", OBJECTS)
    report = traced(cmd, tmp_path, "--log_func_args", "prog.py")
    make = next(e for e in complete_events(report) if e["name"] == f"make ({script}:6)")
    assert re.fullmatch(r"<__main__\.Point object at 0x[0-9a-f]+>", make["args"]["func_args"]["p"])


@both_commands
def test_log_func_with_objprint_alone_adds_nothing(cmd, tmp_path):
    # as in 1.x, it changes how arguments and return values are shown, not whether they are
    script = write(tmp_path / "prog.py", OBJECTS)
    report = traced(cmd, tmp_path, "--log_func_with_objprint", "prog.py")
    make = next(e for e in complete_events(report) if e["name"] == f"make ({script}:6)")
    assert not make.get("args")


def test_log_func_with_objprint_and_log_func_repr_conflict():
    with pytest.raises(ValueError, match="log_func_repr and log_func_with_objprint"):
        VizTracer(verbose=0, log_func_with_objprint=True, log_func_repr=repr)


# -- --sanitize_function_name ---------------------------------------------------------------------------

SURROGATE = """
    ns = {}
    exec("def f():\\n    return 1\\n", ns)
    f = ns["f"]
    f.__code__ = f.__code__.replace(co_name="bad\\udcffname", co_qualname="bad\\udcffname")
    f()
"""


def raw_names(path: Path) -> list[str]:
    """The X event names of a JSON report, parsed by a JSON reader that keeps lone surrogates."""
    return [e["name"] for e in json.loads(path.read_text(encoding="utf-8"))["traceEvents"]
            if e["ph"] == "X"]


@both_commands
def test_sanitize_function_name(cmd, tmp_path):
    write(tmp_path / "prog.py", SURROGATE)
    traced(cmd, tmp_path, "--sanitize_function_name", "prog.py")
    assert "bad\ufffdname (<string>:1)" in raw_names(tmp_path / "result.json")
    assert not any("\udcff" in n for n in raw_names(tmp_path / "result.json"))


@both_commands
def test_without_sanitize_function_name_names_are_kept(cmd, tmp_path):
    write(tmp_path / "prog.py", SURROGATE)
    proc = run(cmd, "--quiet", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "bad\udcffname (<string>:1)" in raw_names(tmp_path / "result.json")


@both_commands
def test_sanitized_names_agree_in_pftrace(cmd, tmp_path):
    write(tmp_path / "prog.py", SURROGATE)
    report = traced(cmd, tmp_path, "--sanitize_function_name", "prog.py", output="r.pftrace")
    assert "bad\ufffdname (<string>:1)" in names(report)


# -- --minimize_memory ----------------------------------------------------------------------------------

@both_commands
@pytest.mark.parametrize("ext", ["json", "pftrace"])
def test_minimize_memory_gives_the_same_report(cmd, tmp_path, ext):
    script = write(tmp_path / "fib.py", FIB)
    plain = traced(cmd, tmp_path, "fib.py", output=f"plain.{ext}")
    small = traced(cmd, tmp_path, "--minimize_memory", "fib.py", output=f"small.{ext}")
    assert sorted(names(small)) == sorted(names(plain))
    assert names(small).count(f"fib ({script}:1)") == 177


# -- --pid_suffix ---------------------------------------------------------------------------------------

PID_PROGRAM = """
    import os
    with open("pid.txt", "w") as f:
        f.write(str(os.getpid()))
"""


@both_commands
@pytest.mark.parametrize(("options", "folder", "stem", "ext"), [
    ([], "", "result", "json"),
    (["-o", "trace.pftrace"], "", "trace", "pftrace"),
    (["--output_dir", "out"], "out", "result", "json"),
    (["--output_dir", "out", "-o", "r.json.gz"], "out", "r", "json.gz"),
])
def test_pid_suffix(cmd, tmp_path, options, folder, stem, ext):
    write(tmp_path / "prog.py", PID_PROGRAM)
    proc = run(cmd, "--pid_suffix", *options, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pid = (tmp_path / "pid.txt").read_text()
    path = tmp_path / folder / f"{stem}_{pid}.{ext}"
    assert proc.stdout.splitlines()[0] == f"Report saved to {path}"
    assert proc.stdout.splitlines()[1] == open_hint(str(path))
    assert sorted(p.name for p in (tmp_path / folder).iterdir() if p.name.startswith(stem)) == [path.name]
    assert report_of(path)["traceEvents"]


# -- --log_torch ----------------------------------------------------------------------------------------

def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


@both_commands
@pytest.mark.skipif(_torch_installed(), reason="torch is installed here")
def test_log_torch_without_torch(cmd, tmp_path):
    write(tmp_path / "prog.py", "open('ran', 'w').close()\n")
    proc = run(cmd, "--log_torch", "prog.py", cwd=tmp_path)
    line = check_usage_error(proc, "torch")
    assert "pip install torch" in line
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "result.json").exists()


# -- --trace_self ---------------------------------------------------------------------------------------

@both_commands
def test_trace_self_records_viztracers_own_calls(cmd, tmp_path):
    write(tmp_path / "fib.py", FIB)
    own = [n for n in names(traced(cmd, tmp_path, "--trace_self", "fib.py")) if VIZTRACER_DIR in n]
    assert own
    assert all(re.fullmatch(r"[\w.<>]+ \(" + re.escape(VIZTRACER_DIR) + r"/[\w/]+\.py:\d+\)", n) for n in own)


@both_commands
def test_without_trace_self_viztracer_is_left_out(cmd, tmp_path):
    write(tmp_path / "fib.py", FIB)
    assert not [n for n in names(traced(cmd, tmp_path, "fib.py")) if VIZTRACER_DIR in n]


# -- .viztracerrc -----------------------------------------------------------------------------------------

# Every key of these flags, and the VizTracer keyword (or setting) it turns into.
RC_KEYS = {
    "log_print = True": ("log_print", True),
    "log_gc = True": ("log_gc", True),
    "log_exception = True": ("log_exception", True),
    "log_sparse = True": ("log_sparse", True),
    "log_func_with_objprint = True": ("log_func_with_objprint", True),
    "sanitize_function_name = True": ("sanitize_function_name", True),
    "minimize_memory = True": ("minimize_memory", True),
    "pid_suffix = True": ("pid_suffix", True),
    "log_torch = True": ("log_torch", True),
    "trace_self = True": ("trace_self", True),
    "log_audit = open my\\..*": ("log_audit", ["open", "my\\..*"]),
    "log_audit =": ("log_audit", []),
    "plugins = vizplugins.cpu_usage other": ("plugins", ["vizplugins.cpu_usage", "other"]),
}


@pytest.mark.parametrize("line", list(RC_KEYS))
def test_rcfile_key_becomes_the_tracer_option(tmp_path, monkeypatch, line):
    monkeypatch.chdir(tmp_path)
    name, value = RC_KEYS[line]
    defaults = tracer_options(parse_settings([], [].append))
    assert defaults[name] != value
    write(tmp_path / ".viztracerrc", f"[default]\n{line}\n")
    warnings: list[str] = []
    assert tracer_options(parse_settings([], warnings.append))[name] == value
    assert warnings == []


def test_rcfile_log_exit(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert parse_settings([], [].append).log_exit is False
    write(tmp_path / ".viztracerrc", "[default]\nlog_exit = True\n")
    assert parse_settings([], [].append).log_exit is True


RC_PROGRAM = """
    import atexit
    import sys

    def at_end():
        return 1

    def fail():
        try:
            raise ValueError("v")
        except ValueError:
            pass

    atexit.register(at_end)
    print("hi")
    sys.audit("my.event", "x")
    sys.audit("my.other")
    fail()
"""


@both_commands
def test_rcfile_extra_logging_flags(cmd, tmp_path):
    script = write(tmp_path / "prog.py", RC_PROGRAM)
    write(tmp_path / ".viztracerrc", """
        [default]
        log_print = True
        log_exit = True
        log_exception = True
        log_audit = my\\.event
        pid_suffix = True
        quiet = True
    """)
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    (path,) = tmp_path.glob("result_*.json")
    report = report_of(path)
    program = [e["name"] for e in instants(report)
               if not e["name"].startswith("Exception") or e["args"]["file"] == str(script)]
    assert program == ["print - hi\n", "my.event", "Exception - ValueError('v')"]
    assert f"at_end ({script}:{line_of(script, 'def at_end')})" in names(report)


@both_commands
def test_rcfile_log_gc_and_command_line_output(cmd, tmp_path):
    write(tmp_path / "prog.py", GC_PROGRAM)
    write(tmp_path / ".viztracerrc", "[default]\nlog_gc = True\n")
    report = traced(cmd, tmp_path, "prog.py", output="r.pftrace")
    assert gc_events(report) == (GC_SLICES, GC_SAMPLES)


# -- --help ----------------------------------------------------------------------------------------------

HELP_GROUPS = {
    "output": ["-o", "-u", "--output_dir", "--quiet", "--open", "--stream", "--dump_on", "--minimize_memory",
               "--pid_suffix", "--ignore_multiprocess"],
    "what to record": ["--tracer_entries", "--max_stack_depth", "--min_duration", "--include_files",
                       "--exclude_files", "--ignore_c_function", "--ignore_frozen", "--log_func_args",
                       "--log_func_retval", "--log_func_with_objprint", "--log_sparse",
                       "--sanitize_function_name", "--trace_self"],
    "extra logging": ["--log_print", "--log_gc", "--log_async", "--log_exception", "--log_exit",
                      "--log_audit", "--log_torch", "--plugins"],
    "logging written into the program": ["--log_var", "--log_number", "--log_attr", "--log_func_exec",
                                         "--log_func_entry", "--magic_comment"],
    "other modes": ["--combine", "--align_combine", "--compress", "--decompress", "--attach",
                    "--attach_installed", "--uninstall", "-t"],
}


def help_sections(text: str) -> dict[str, dict[str, str]]:
    """``--help`` as {group title: {first flag: its whole entry}}."""
    sections: dict[str, dict[str, str]] = {}
    group = entry = None
    for line in text.splitlines():
        if line and not line.startswith(" ") and line.endswith(":"):
            group, entry = line[:-1].split(" (")[0], None  # without what the title adds in brackets
            sections[group] = {}
        elif group is not None and re.match(r"  -", line):
            entry = line.split()[0].rstrip(",")
            sections[group][entry] = line
        elif group is not None and entry is not None and line.startswith("   "):
            sections[group][entry] += " " + line.strip()
        elif not line.strip():
            entry = None
    return sections


@both_commands
def test_help_lists_every_working_option_in_its_group(cmd, tmp_path):
    proc = subprocess.run([*cmd, "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=TIMEOUT, env=clean_env(COLUMNS="100"))
    assert proc.returncode == 0, proc.stderr
    sections = help_sections(proc.stdout)
    for group, flags in HELP_GROUPS.items():
        assert list(sections[group]) == flags, group
    every_entry = {flag: text for entries in sections.values() for flag, text in entries.items()}
    marked = {flag for flag, text in every_entry.items() if "not available" in text}
    assert not marked
    assert not [flag for flag, text in every_entry.items() if "no effect" in text]
    # options that later versions implement are accepted but not listed
    for hidden in ("--patch_only", "--dump_raw", "--file_info"):
        assert hidden not in every_entry
    assert ".pftrace" in every_entry["-o"]


@both_commands
def test_working_flags_no_longer_warn(cmd, tmp_path):
    write(tmp_path / "prog.py", "import sys\n")
    proc = run(cmd, "--log_print", "--log_gc", "--log_async", "--log_exception", "--log_exit", "--log_sparse",
               "--log_func_with_objprint", "--sanitize_function_name", "--minimize_memory",
               "--pid_suffix", "--trace_self", "--log_audit", "--plugins", "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
