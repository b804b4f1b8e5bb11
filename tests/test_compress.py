"""viztracer --compress / --decompress and the .cvf format, through the real command."""
from __future__ import annotations

import json
import math

import pytest
from conftest_cli_helpers import COMMANDS, both_commands, check_one_line_error, run, write

from viztracer.errors import ReportError
from viztracer.report import cvf
from viztracer.report.loader import load_report
from viztracer.viewer.columns import report_blob, trace_blob
from viztracer.viewer.reports import check_trace_file

PROGRAM = """
import threading
from viztracer import get_tracer

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

def work():
    fib(12)

t = threading.Thread(target=work, name="helper")
t.start()
fib(10)
t.join()
tracer = get_tracer()
tracer.log_instant("marker", args={"note": "caf\\u00e9", "big": 2 ** 70})
tracer.add_counter("load", {"a": 1, "b": 2.5})
"""
CONSOLE = COMMANDS["console-script"]


def trace(tmp_path, output="r.json"):
    """The report of PROGRAM (function arguments logged) written by the real command."""
    script = write(tmp_path / "prog.py", PROGRAM)
    proc = run(CONSOLE, "--quiet", "--log_func_args", "-o", output, str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return tmp_path / output


def assert_same_events(original, back):
    """Every event equal, in order, apart from times, which may differ by rounding to 1 ns."""
    a, b = original["traceEvents"], back["traceEvents"]
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys(), (x, y)
        for key in x:
            if key in ("ts", "dur") and isinstance(x[key], float):
                assert math.isclose(x[key], y[key], abs_tol=0.001), (x, y)
            else:
                assert x[key] == y[key], (key, x, y)


@both_commands
def test_round_trip_keeps_every_event(cmd, tmp_path):
    report_path = trace(tmp_path)
    proc = run(cmd, "--compress", "r.json", "-o", "r.cvf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "r.cvf" in proc.stdout
    assert (tmp_path / "r.cvf").read_bytes().startswith(cvf.MAGIC)
    proc = run(cmd, "--decompress", "r.cvf", "-o", "back.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    original = load_report(str(report_path))
    with open(tmp_path / "back.json") as f:
        back = json.load(f)
    assert_same_events(original, back)
    assert back["viztracer_metadata"] == original["viztracer_metadata"]
    assert back["file_info"] == original["file_info"]
    calls = [e for e in back["traceEvents"] if e["ph"] == "X"]
    assert sum(e["name"].startswith("fib ") for e in calls) == 465 + 177  # fib(12) and fib(10)
    assert any(e.get("args", {}).get("func_args", {}).get("n") == "12" for e in calls)
    marker = next(e for e in back["traceEvents"] if e.get("name") == "marker")
    assert marker["args"] == {"note": "caf\u00e9", "big": 2 ** 70}
    assert (tmp_path / "r.cvf").stat().st_size * 5 < report_path.stat().st_size


@pytest.mark.parametrize("source", ["r.json.gz", "r.pftrace"])
def test_other_formats_compress(tmp_path, source):
    report_path = trace(tmp_path, source)
    proc = run(CONSOLE, "--compress", source, "-o", "r.cvf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_events(load_report(str(report_path)), load_report(str(tmp_path / "r.cvf")))


def test_default_output_names_are_those_of_1_x(tmp_path):
    trace(tmp_path)
    assert run(CONSOLE, "--compress", "r.json", cwd=tmp_path).returncode == 0
    assert (tmp_path / "result.cvf").exists()
    assert run(CONSOLE, "--decompress", "result.cvf", cwd=tmp_path).returncode == 0
    assert_same_events(load_report(str(tmp_path / "r.json")), load_report(str(tmp_path / "result.json")))


def test_combine_reads_cvf(tmp_path):
    trace(tmp_path)
    assert run(CONSOLE, "--compress", "r.json", "-o", "r.cvf", cwd=tmp_path).returncode == 0
    proc = run(CONSOLE, "--combine", "r.cvf", "r.json", "-o", "both.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    original = load_report(str(tmp_path / "r.json"))
    both = load_report(str(tmp_path / "both.json"))
    assert len(both["traceEvents"]) == 2 * len(original["traceEvents"])
    # and a .cvf is written by --combine, like any format
    proc = run(CONSOLE, "--combine", "r.json", "-o", "copy.cvf", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert_same_events(original, load_report(str(tmp_path / "copy.cvf")))


def test_the_viewer_reads_cvf(tmp_path):
    trace(tmp_path)
    assert run(CONSOLE, "--compress", "r.json", "-o", "r.cvf", cwd=tmp_path).returncode == 0
    check_trace_file(str(tmp_path / "r.cvf"))
    # the blob the page gets is the one the JSON report gives (its times have three decimals of
    # microseconds: rounding to the nanosecond changes none of them)
    assert trace_blob(str(tmp_path / "r.cvf")) == report_blob(load_report(str(tmp_path / "r.json")))
    # recognised by its first bytes under any name
    (tmp_path / "r.data").write_bytes((tmp_path / "r.cvf").read_bytes())
    assert len(load_report(str(tmp_path / "r.data"))["traceEvents"]) == len(
        load_report(str(tmp_path / "r.json"))["traceEvents"])


def test_tracing_straight_to_cvf(tmp_path):
    trace(tmp_path, "r.cvf")
    calls = [e for e in load_report(str(tmp_path / "r.cvf"))["traceEvents"] if e["ph"] == "X"]
    assert sum(e["name"].startswith("fib ") for e in calls) == 465 + 177


ODD_EVENTS = [
    {"ph": "X", "name": "a", "ts": 1.5, "dur": 2, "pid": 1, "tid": 1},                # no cat, int dur
    {"ph": "X", "name": "b", "ts": 3, "dur": 0.001, "pid": 1, "tid": 1, "cat": "FEE"},
    {"ph": "X", "name": "c", "ts": 1e12 + 0.25, "dur": 0, "pid": "p", "tid": "t", "args": [1]},
    {"ph": "X", "name": "d", "ts": 4, "dur": 1, "pid": True, "tid": 1},               # bool pid
    {"ph": "X", "name": "e", "ts": 5, "dur": 1, "pid": 1, "tid": 1, "args": None},   # null args
    {"ph": "X", "name": "f", "ts": 6, "dur": 1, "pid": 1, "tid": 1, "extra": {"k": 1}},
    {"ph": "X", "name": 7, "ts": 6, "dur": 1, "pid": 1, "tid": 1},
    {"ph": "X", "name": "g", "ts": 7, "pid": 1, "tid": 1},                            # no dur
    {"ph": "i", "name": "h", "ts": 8, "pid": 1, "tid": 1, "s": "g"},
    {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "main"}},
    "not even an event",
]


def test_odd_events_come_back_as_they_were():
    report = {"traceEvents": ODD_EVENTS, "other": [1, None]}
    back = cvf.decode(cvf.encode(report), "x.cvf")
    assert back == report
    assert [type(e.get("pid")) for e in back["traceEvents"][:4]] == [int, int, str, bool]


def test_an_empty_report():
    assert cvf.decode(cvf.encode({"traceEvents": []}), "x.cvf") == {"traceEvents": []}


def test_many_groups_and_large_values():
    events = [{"ph": "X", "name": f"n{i % 300}", "ts": i * 1.001, "dur": (i % 7) * 1e6 if i % 1000 else 1e9,
               "pid": i % 3, "tid": i % 5, "cat": "FEE"} for i in range(20000)]
    back = cvf.decode(cvf.encode({"traceEvents": events}), "x.cvf")
    assert_same_events({"traceEvents": events}, back)


@both_commands
def test_a_file_that_is_not_cvf(cmd, tmp_path):
    trace(tmp_path)
    proc = run(cmd, "--decompress", "r.json", "-o", "back.json", cwd=tmp_path)
    check_one_line_error(proc, "'r.json'", "not a .cvf report", "--compress", status=1)
    (tmp_path / "fake.cvf").write_text("hello")
    proc = run(cmd, "--combine", "fake.cvf", "-o", "out.json", cwd=tmp_path)
    check_one_line_error(proc, "'fake.cvf'", "not a .cvf report", status=1)


@both_commands
def test_a_cvf_cut_short(cmd, tmp_path):
    trace(tmp_path)
    assert run(cmd, "--compress", "r.json", "-o", "r.cvf", cwd=tmp_path).returncode == 0
    data = (tmp_path / "r.cvf").read_bytes()
    for size in (len(cvf.MAGIC) - 1, len(cvf.MAGIC) + 10, len(data) // 2, len(data) - 1):
        (tmp_path / "cut.cvf").write_bytes(data[:size])
        proc = run(cmd, "--decompress", "cut.cvf", "-o", "back.json", cwd=tmp_path)
        check_one_line_error(proc, "'cut.cvf'", "cut short", "compress the original report again", status=1)
        assert not (tmp_path / "back.json").exists()
        with pytest.raises(ReportError, match="cut short"):
            check_trace_file(str(tmp_path / "cut.cvf"))
    (tmp_path / "new.cvf").write_bytes(cvf.MAGIC[:-1] + bytes([cvf.VERSION + 1]) + data[len(cvf.MAGIC):])
    proc = run(cmd, "--decompress", "new.cvf", cwd=tmp_path)
    check_one_line_error(proc, "'new.cvf'", "version", "upgrade viztracer", status=1)


@both_commands
def test_missing_files_and_bad_command_lines(cmd, tmp_path):
    proc = run(cmd, "--decompress", "nothing.cvf", cwd=tmp_path)
    check_one_line_error(proc, "'nothing.cvf'", "does not exist", status=1)
    proc = run(cmd, "--compress", "nothing.json", cwd=tmp_path)
    check_one_line_error(proc, "'nothing.json'", "does not exist", status=1)
    proc = run(cmd, "--compress", cwd=tmp_path)
    check_one_line_error(proc, "--compress needs the report", status=2)
    proc = run(cmd, "--decompress", cwd=tmp_path)
    check_one_line_error(proc, "--decompress needs the report", status=2)
    proc = run(cmd, "--compress", "r.json", "-o", "r.json.gz", cwd=tmp_path)
    check_one_line_error(proc, "--compress writes a .cvf report", "-o NAME.cvf", status=2)
    proc = run(cmd, "--compress", "a.json", "--decompress", "b.cvf", cwd=tmp_path)
    check_one_line_error(proc, "can't be used together", status=2)
    proc = run(cmd, "--compress", "r.json", "-o", "no/such/dir/r.cvf", cwd=tmp_path)
    check_one_line_error(proc, "does not exist", status=2)
    assert not list(tmp_path.iterdir())
