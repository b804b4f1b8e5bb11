"""Source instrumentation, run for real through the ``viztracer`` command: ``--log_var``,
``--log_number``, ``--log_attr``, ``--log_func_exec``, ``--log_func_entry`` and
``--magic_comment``; the events each writes (VizTracer 1.1.1's names and values), the lines
tracebacks show, what is left alone (the file, imported modules, programs run without the
options) and each error."""
from __future__ import annotations

import os
import sys

import pytest
from conftest_cli_helpers import (
    both_commands,
    check_one_line_error,
    complete_events,
    line_of,
    load_report,
    run,
    write,
)


def traced(cmd, tmp_path, *args: str) -> dict:
    proc = run(cmd, "--quiet", "-o", "result.json", *args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return load_report(tmp_path / "result.json")


def custom(report: dict) -> list[tuple]:
    """The instants and counters, in order: (ph, name, scope or counter args)."""
    out = []
    for e in report["traceEvents"]:
        if e["ph"] == "i":
            out.append(("i", e["name"], e["s"], e.get("args")))
        elif e["ph"] == "C":
            out.append(("C", e["name"], e["args"]))
    return out


def instant_names(report: dict) -> list[str]:
    return [e["name"] for e in report["traceEvents"] if e["ph"] == "i"]


CMD = [sys.executable, "-m", "viztracer"]

# -- --log_var -------------------------------------------------------------------------------------

ASSIGNMENTS = """
    import contextlib

    a = 5
    a += 2
    b: int = 3
    unset: int
    c, (d, *e) = 1, (2, 3, 4)
    x = y = "s"
    for i in range(2):
        pass
    with contextlib.nullcontext("w") as cm:
        pass
    lst = [0]
    lst[0] = 9
    class Box:
        inside = 1
    box = Box()
    box.a = 7
    ab = "not matched: a|b|... match whole names only"

    def f(p, /, q, *args, k=1, **kw):
        "f's docstring"
        a = p + q
        return a

    f(1, 2)
    print(f.__doc__)
"""
ASSIGNED = [
    "a = 5", "a = 7", "b = 3", "c = 1", "d = 2", "e = [3, 4]", "x = 's'", "y = 's'", "i = 0", "i = 1",
    "cm = 'w'", "lst = [0]", "lst = [9]", "inside = 1",
    "p = 1", "q = 2", "k = 1", "args = ()", "kw = {}", "a = 3",
]


@both_commands
def test_log_var_logs_each_assignment_to_a_matching_name_as_a_process_instant(cmd, tmp_path):
    write(tmp_path / "prog.py", ASSIGNMENTS)
    proc = run(cmd, "--quiet", "--log_var", "a", "b", "[c-e]", "x|y", "i", "cm", "lst", "inside",
               "p", "q", "k", "args", "kw", "unset", "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "f's docstring\n"  # the docstring is still the function's
    report = load_report(tmp_path / "result.json")
    events = [e for e in report["traceEvents"] if e["ph"] == "i"]
    assert [e["name"] for e in events] == [f"Variable Assign - {text}" for text in ASSIGNED]
    assert {e["s"] for e in events} == {"p"}
    # each on the program's thread, while the program runs
    module = next(e for e in complete_events(report) if e["name"].startswith("<module>"))
    assert {e["tid"] for e in events} == {module["tid"]}
    assert all(module["ts"] <= e["ts"] <= module["ts"] + module["dur"] for e in events)


def test_log_var_of_an_attribute_or_item_logs_the_variable_it_changes(tmp_path):
    write(tmp_path / "prog.py", ASSIGNMENTS)
    names = instant_names(traced(CMD, tmp_path, "--log_var", "box", "lst", "--", "prog.py"))
    assert len(names) == 4
    assert names[:2] == ["Variable Assign - lst = [0]", "Variable Assign - lst = [9]"]
    assert names[2].startswith("Variable Assign - box = <__main__.Box object at ")
    assert names[3] == names[2]  # `box.a = 7` logs box again


# -- --log_number ----------------------------------------------------------------------------------

NUMBERS = """
    n = 1
    n += 1.5
    flag = True

    def grow(m):
        m *= 2
        return m

    grow(3)
"""


@both_commands
def test_log_number_makes_a_counter_of_each_matching_variable(cmd, tmp_path):
    write(tmp_path / "prog.py", NUMBERS)
    report = traced(cmd, tmp_path, "--log_number", "n|m|flag", "--", "prog.py")
    assert custom(report) == [
        ("C", "Variable Assign - n", {"Variable Assign - n": 1}),
        ("C", "Variable Assign - n", {"Variable Assign - n": 2.5}),
        ("C", "Variable Assign - flag", {"Variable Assign - flag": 1}),
        ("C", "Variable Assign - m", {"Variable Assign - m": 3}),
        ("C", "Variable Assign - m", {"Variable Assign - m": 6}),
    ]


NOT_A_NUMBER = """
    n = 1
    print("before")
    n = "seven"
    print("after")
"""


@both_commands
def test_log_number_of_a_non_number_is_a_one_line_error_and_the_report_is_saved(cmd, tmp_path):
    prog = write(tmp_path / "prog.py", NOT_A_NUMBER)
    proc = run(cmd, "--quiet", "--log_number", "n", "--", "prog.py", cwd=tmp_path)
    line = f"{prog}:{line_of(prog, 'seven')}"
    check_one_line_error(proc, "--log_number", "n at " + line, "'seven'", "str", "not a number", status=1)
    assert proc.stdout == "before\n"
    report = load_report(tmp_path / "result.json")
    assert custom(report) == [("C", "Variable Assign - n", {"Variable Assign - n": 1})]


def test_log_number_error_is_a_value_error_the_program_can_catch(tmp_path):
    write(tmp_path / "prog.py", """
        try:
            n = "x"
        except ValueError as exc:
            print(type(exc).__name__, exc)
        n = 2
    """)
    proc = run(CMD, "--quiet", "--log_number", "n", "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("LogNumberError --log_number: n at ")
    assert custom(load_report(tmp_path / "result.json")) == [
        ("C", "Variable Assign - n", {"Variable Assign - n": 2})]


def test_log_number_checks_nothing_while_the_tracer_is_stopped(tmp_path):
    write(tmp_path / "prog.py", """
        from viztracer import get_tracer
        n = 1
        get_tracer().stop()
        n = "x"
        print("went on")
    """)
    proc = run(CMD, "--quiet", "--log_number", "n", "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "went on\n"
    assert custom(load_report(tmp_path / "result.json")) == [
        ("C", "Variable Assign - n", {"Variable Assign - n": 1})]


# -- --log_attr ------------------------------------------------------------------------------------

ATTRIBUTES = """
    calls = []

    class Node:
        def __init__(self):
            self.attr = 1
            self.other = 2

    def get(node):
        calls.append(1)
        return node

    o = Node()
    o.attr = "v"
    o.attr += "w"
    nodes = [Node()]
    nodes[0].attr = 5
    a, o.attr = 1, 2
    get(o).attr = 3
    print(len(calls))
"""


@both_commands
def test_log_attr_logs_writes_to_matching_attributes(cmd, tmp_path):
    write(tmp_path / "prog.py", ATTRIBUTES)
    proc = run(cmd, "--quiet", "--log_attr", "attr", "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # `get(o).attr = 3` is not read back: that would call get a second time
    assert proc.stdout == "1\n"
    report = load_report(tmp_path / "result.json")
    assert custom(report) == [("i", f"Attribute Assign - {text}", "p", None) for text in (
        "self.attr = 1", "o.attr = 'v'", "o.attr = 'vw'", "self.attr = 1", "nodes[0].attr = 5",
        "o.attr = 2")]


# -- --log_func_exec and --log_func_entry ----------------------------------------------------------

FUNCTIONS = """
    def work(p):
        q = p + 1
        q += 1
        r: int = 3
        s, t = 4, 5
        for z in range(2):
            pass

        def inner():
            hidden = 1
            return hidden
        inner()
        return q

    def other():
        u = 1
        return u

    work(1)
    work(2)
    other()
"""


@both_commands
def test_log_func_exec_puts_the_assignments_in_the_calls_args(cmd, tmp_path):
    prog = write(tmp_path / "prog.py", FUNCTIONS)
    report = traced(cmd, tmp_path, "--log_func_exec", "work", "--", "prog.py")
    steps = {e["name"]: e.get("args") for e in complete_events(report)}
    q, r, st, z = (line_of(prog, text) for text in ("q = p", "r: int", "s, t", "for z"))
    calls = [e for e in complete_events(report) if e["name"] == f"work ({prog}:1)"]
    assert [e["args"] for e in calls] == [
        {"exec_steps": [f"({q}) q = {p + 1}", f"({q + 1}) q = {p + 2}", f"({r}) r = 3",
                        f"({st}) s = 4", f"({st}) t = 5", f"({z}) z = 0", f"({z}) z = 1"]}
        for p in (1, 2)]
    # neither a nested function nor another function gets exec_steps
    assert not steps[f"work.<locals>.inner ({prog}:{line_of(prog, 'def inner')})"]
    assert not steps[f"other ({prog}:{line_of(prog, 'def other')})"]


@both_commands
def test_log_func_entry_is_an_instant_at_each_call(cmd, tmp_path):
    prog = write(tmp_path / "prog.py", FUNCTIONS)
    report = traced(cmd, tmp_path, "--log_func_entry", "work|inner", "--", "prog.py")
    entries = [e for e in report["traceEvents"] if e["ph"] == "i"]
    assert [(e["name"], e["s"]) for e in entries] == [
        ("Function Entry - work = 'work is called'", "p"),
        ("Function Entry - inner = 'inner is called'", "p"),
    ] * 2
    calls = [e for e in complete_events(report) if e["name"] == f"work ({prog}:1)"]
    assert len(calls) == 2
    for call, entry in zip(calls, entries[::2], strict=True):
        assert call["ts"] <= entry["ts"] <= call["ts"] + call["dur"]


# -- --magic_comment -------------------------------------------------------------------------------

MAGIC = """
    def f():
        return 1
    # !viztracer: log_instant("start logging")
    a = 3
    # !viztracer: log_var("a", a)
    s = "text"
    # !viztracer: log_var("s", s)
    f()  # !viztracer: log
    a = 4  # !viztracer: log
    a = 5  # !viztracer: log if a == 4
    a = 6  # !viztracer: log if a == 6
    # !viztracer: log_var("a", a) if a > 3
    # !viztracer: log_instant("no") if a < 3
    if True:
        # !viztracer: log_instant("indented")
        pass
    a += 1  # !viztracer: log
    text = '''# !viztracer: log_instant("in a string")'''
    n = [1,
         # !viztracer: log_instant("inside brackets")
         2]
    def g():
        return 7  # !viztracer: log
    g()
    # !viztracer: something else entirely
"""
# What 1.1.1 writes for the lines it understands (up to `a += 1`, which it breaks on).
MAGIC_EVENTS = [
    ("i", "start logging", "t", None), ("C", "a", {"value": 3}), ("i", "s", "t", {"object": "'text'"}),
    ("i", "f()", "t", None), ("C", "a", {"value": 4}), ("C", "a", {"value": 6}), ("C", "a", {"value": 6}),
    ("i", "indented", "t", None), ("C", "a", {"value": 7}), ("i", "return 7", "t", None),
]


@both_commands
def test_magic_comments_log_what_they_say(cmd, tmp_path):
    write(tmp_path / "prog.py", MAGIC)
    assert custom(traced(cmd, tmp_path, "--magic_comment", "prog.py")) == MAGIC_EVENTS


def test_magic_comments_after_a_form_feed_line_stay_on_their_line(tmp_path):
    # a form feed ends a line for str.splitlines, not for Python
    source = 'def f():\n    a = 1\n\x0c\n    # !viztracer: log_var("a", a)\n    return a\nf()\n'
    (tmp_path / "prog.py").write_text(source)
    assert custom(traced(CMD, tmp_path, "--magic_comment", "prog.py")) == [("C", "a", {"value": 1})]


def test_without_magic_comment_the_comments_are_comments(tmp_path):
    write(tmp_path / "prog.py", MAGIC)
    assert custom(traced(CMD, tmp_path, "prog.py")) == []


@pytest.mark.parametrize(("line", "message"), [
    ('# !viztracer: log_var("a" a)', "not a valid tracer call"),
    ("for i in []:  # !viztracer: log", "must end the line of a simple statement"),
    ("# !viztracer: log", "goes at the end of the line"),
    ("a = 2  # !viztracer: log if a ==", "condition of this magic comment"),
])
def test_a_magic_comment_that_cannot_work_is_a_syntax_error_at_its_line(tmp_path, line, message):
    prog = write(tmp_path / "prog.py", f"print('ran')\na = 1\n{line}\n    pass\n"
                 if line.startswith("for") else f"print('ran')\na = 1\n{line}\n")
    proc = run(CMD, "--quiet", "--magic_comment", "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout == ""  # nothing ran
    assert f'File "{prog}", line 3' in proc.stderr
    assert line in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith("SyntaxError: ")
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_syntax_error_on_a_rewritten_line_shows_the_line_as_written(tmp_path):
    prog = write(tmp_path / "prog.py", """
        if True:
            b = 2
              # !viztracer: log_var("b", b)
    """)
    proc = run(CMD, "--quiet", "--magic_comment", "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert f'File "{prog}", line 3' in proc.stderr
    assert '    # !viztracer: log_var("b", b)' in proc.stderr
    assert "__viztracer" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == "IndentationError: unexpected indent"


# -- what is left as it was -------------------------------------------------------------------------

FAILING = """
    import helper

    def f(a):
        b = a + 1  # !viztracer: log
        c = 1 / (b - 2)
        return c

    x = helper.value()
    f(x)
"""
HELPER = """
    def value():
        a = 1
        b = a
        return b
"""
EVERY_OPTION = ["--log_var", "a|b|c|x", "--log_number", "b", "--log_attr", "a", "--log_func_exec", "f|value",
                "--log_func_entry", "f|value", "--magic_comment"]


@both_commands
def test_tracebacks_point_at_the_users_lines_and_the_files_are_unchanged(cmd, tmp_path):
    prog = write(tmp_path / "prog.py", FAILING)
    helper = write(tmp_path / "helper.py", HELPER)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (prog, helper)}
    proc = run(cmd, "--quiet", *EVERY_OPTION, "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    # 3.13 marks the call in a line that is only a call too, as it does without the options
    call_marks = ["    ~^^^"] if sys.version_info >= (3, 13) else []
    assert lines[1:] == [
        f'  File "{prog}", line {line_of(prog, "f(x)")}, in <module>', "    f(x)", *call_marks,
        f'  File "{prog}", line {line_of(prog, "c = 1")}, in f', "    c = 1 / (b - 2)",
        "        ~~^~~~~~~~~", "ZeroDivisionError: division by zero"]
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in (prog, helper)} == before
    report = load_report(tmp_path / "result.json")
    # the imported module, compiled from its source in this very run, was not rewritten
    value = next(e for e in complete_events(report) if e["name"].startswith("value ("))
    assert not value.get("args")
    assert custom(report) == [
        ("i", "Variable Assign - x = 1", "p", None),
        ("i", "Function Entry - f = 'f is called'", "p", None),
        ("i", "Variable Assign - a = 1", "p", None),
        ("i", "Variable Assign - b = 2", "p", None),
        ("C", "Variable Assign - b", {"Variable Assign - b": 2}),
        ("C", "b", {"value": 2}),
    ]
    f = next(e for e in complete_events(report) if e["name"].startswith("f ("))
    assert f["args"] == {"exec_steps": [f"({line_of(prog, 'b = a')}) b = 2"]}


CHECK_COST = """
    import sys
    print("viztracer.instrument" in sys.modules, "__viztracer_log__" in globals())
"""


def test_without_the_options_nothing_is_imported_or_added(tmp_path):
    write(tmp_path / "prog.py", CHECK_COST)
    proc = run(CMD, "--quiet", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "False False\n"
    # and the same check sees the difference when an option is given
    proc = run(CMD, "--quiet", "--log_var", "nothing", "--", "prog.py", cwd=tmp_path)
    assert proc.stdout == "True True\n"


def test_without_a_tracer_the_instrumented_code_runs_and_logs_nothing(monkeypatch):
    import re

    from viztracer import instrument, tracer

    monkeypatch.setattr(tracer, "_global_tracer", None)
    options = instrument.Options(log_var=(re.compile("a"),), log_number=(re.compile("n"),),
                                 log_func_exec=(re.compile("f"),), log_func_entry=(re.compile("f"),),
                                 magic_comment=True)
    source = ("def f(a):\n    n = a  # !viztracer: log\n    return n\n"
              "# !viztracer: log_instant('x')\nresult = f('not a number')\n")
    namespace = {instrument.HELPER: instrument.HELPER_OBJECT}
    exec(instrument.compile_program(source, "<test>", options), namespace)
    assert namespace["result"] == "not a number"


# -- -m, -c and .viztracerrc ------------------------------------------------------------------------

@both_commands
def test_a_module_run_with_m_is_instrumented_but_not_what_it_imports(cmd, tmp_path):
    write(tmp_path / "pkg" / "__init__.py", "a = 'package'\n")
    write(tmp_path / "pkg" / "__main__.py", "from pkg import a\na = 1\na += 1\n")
    report = traced(cmd, tmp_path, "--log_var", "a", "-m", "pkg")
    assert instant_names(report) == ["Variable Assign - a = 1", "Variable Assign - a = 2"]


@both_commands
def test_code_run_with_c_is_instrumented(cmd, tmp_path):
    report = traced(cmd, tmp_path, "--log_var", "a", "--magic_comment", "-c",
                    "a = 5\na += 1  # !viztracer: log\n")
    assert custom(report) == [("i", "Variable Assign - a = 5", "p", None),
                              ("i", "Variable Assign - a = 6", "p", None), ("C", "a", {"value": 6})]


def test_the_options_work_from_the_rcfile(tmp_path):
    write(tmp_path / "prog.py", "a = 1\nn = 2\nb = 3  # !viztracer: log\n")
    write(tmp_path / ".viztracerrc", "[default]\nlog_var = a x\nlog_number = n\nmagic_comment = True\n")
    report = traced(CMD, tmp_path, "prog.py")
    assert custom(report) == [("i", "Variable Assign - a = 1", "p", None),
                              ("C", "Variable Assign - n", {"Variable Assign - n": 2}),
                              ("C", "b", {"value": 3})]


# -- errors in the options ---------------------------------------------------------------------------

INSTRUMENT_FLAGS = ["--log_var", "--log_number", "--log_attr", "--log_func_exec", "--log_func_entry"]


@pytest.mark.parametrize("flag", INSTRUMENT_FLAGS)
def test_a_regex_that_does_not_compile_is_a_one_line_usage_error(tmp_path, flag):
    write(tmp_path / "prog.py", "print('ran')\n")
    proc = run(CMD, flag, "ok", "a(", "--", "prog.py", cwd=tmp_path)
    check_one_line_error(proc, flag, "'a('", "not a valid regular expression", status=2)
    assert proc.stdout == ""
    assert not (tmp_path / "result.json").exists()


def test_a_bad_regex_in_the_rcfile_names_the_file(tmp_path):
    write(tmp_path / "prog.py", "print('ran')\n")
    write(tmp_path / ".viztracerrc", "[default]\nlog_attr = [x\n")
    proc = run(CMD, "prog.py", cwd=tmp_path)
    check_one_line_error(proc, "--log_attr", "'[x'", "(set in .viztracerrc)", status=2)


def test_a_flag_without_regex_warns_and_logs_nothing(tmp_path):
    write(tmp_path / "prog.py", "a = 1\n")
    proc = run(CMD, "-o", "result.json", "--log_var", "--", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["viztracer: --log_var was given no REGEX, so it logs nothing"]
    assert custom(load_report(tmp_path / "result.json")) == []
    assert os.path.exists(tmp_path / "result.json")
