"""viztracer --combine / --align_combine, and converting a report from one format to another."""
from __future__ import annotations

import json

import pytest
from conftest_cli_helpers import COMMANDS, both_commands, run, write

from viztracer import VizTracer
from viztracer.report import perfetto
from viztracer.report.combine import combine_reports
from viztracer.report.loader import load_report

F_SCRIPT = """
def f():
    pass
for _ in range(3):
    f()
"""
G_SCRIPT = """
import threading
def g():
    pass
t = threading.Thread(target=g, name="helper")
t.start()
t.join()
"""


def named(report, prefix):
    return [e for e in report["traceEvents"] if e.get("ph") == "X" and e["name"].startswith(prefix)]


@pytest.fixture
def two_reports(tmp_path):
    """A .json report of one program and a .pftrace report of another, by the real command."""
    cmd = COMMANDS["console-script"]
    for name, source, out in (("f.py", F_SCRIPT, "a.json"), ("g.py", G_SCRIPT, "b.pftrace")):
        script = write(tmp_path / name, source)
        proc = run(cmd, "--quiet", "-o", out, str(script), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    return tmp_path


@both_commands
@pytest.mark.parametrize("out", ["all.pftrace", "all.json", "all.json.gz"])
def test_combine_a_json_and_a_pftrace(cmd, two_reports, out):
    proc = run(cmd, "--combine", "a.json", "b.pftrace", "-o", out, cwd=two_reports)
    assert proc.returncode == 0, proc.stderr
    assert "Combined 2 reports" in proc.stdout and out in proc.stdout
    report = load_report(str(two_reports / out))
    fs, gs = named(report, "f ("), named(report, "g (")
    assert len(fs) == 3 and len(gs) == 1
    assert fs[0]["pid"] != gs[0]["pid"], "each report keeps its own process"
    threads = {(e["pid"], e["args"]["name"]) for e in report["traceEvents"]
               if e.get("ph") == "M" and e["name"] == "thread_name"}
    assert (gs[0]["pid"], "helper") in threads
    assert report["viztracer_metadata"]["overflow"] is False
    assert set(report["file_info"]["functions"]) >= {fs[0]["name"], gs[0]["name"]}


def test_align_combine_starts_every_report_at_zero(two_reports):
    proc = run(COMMANDS["console-script"], "--align_combine", "a.json", "b.pftrace", "-o", "al.json",
               cwd=two_reports)
    assert proc.returncode == 0, proc.stderr
    report = load_report(str(two_reports / "al.json"))
    for prefix in ("f (", "g ("):
        pid = named(report, prefix)[0]["pid"]
        starts = [e["ts"] for e in report["traceEvents"] if e.get("pid") == pid and e.get("ph") == "X"]
        assert min(starts) == 0
    a = load_report(str(two_reports / "a.json"))
    shift = min(e["ts"] for e in a["traceEvents"] if e.get("ph") == "X")
    shifted = [e["ts"] - shift for e in named(a, "f (")]
    assert [e["ts"] for e in named(report, "f (")] == pytest.approx(shifted)


@pytest.mark.parametrize("args, message", [
    (["--combine", "a.json", "missing.json"], "'missing.json' does not exist"),
    (["--combine", "a.json", "junk.json"], "not valid JSON"),
    (["--combine", "a.json", "b.pftrace", "-o", "out.txt"], "unknown report extension"),
    (["--combine"], "needs the reports to combine"),
    (["--combine", "a.json", "--align_combine", "b.pftrace"], "can't be used together"),
])
def test_bad_combine_command_lines_are_one_line_errors(two_reports, args, message):
    (two_reports / "junk.json").write_text('{"traceEvents": [')
    proc = run(COMMANDS["console-script"], *args, cwd=two_reports)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_combine_runs_no_program(two_reports):
    proc = run(COMMANDS["console-script"], "--combine", "a.json", "--", "f.py", cwd=two_reports)
    assert proc.returncode == 2 and "runs no program" in proc.stderr


# -- conversion ------------------------------------------------------------------------------------

def work(n):
    return n if n < 2 else work(n - 1) + work(n - 2)


def comparable(report):
    """Events as sorted tuples: times in integer ns, so a 1 ns difference would show."""
    out = []
    for e in report["traceEvents"]:
        e = dict(e)
        for key in ("ts", "dur"):
            if key in e:
                e[key] = round(e[key] * 1000)
        out.append(json.dumps(e, sort_keys=True))
    return sorted(out)


def test_json_to_pftrace_to_json_keeps_every_event(tmp_path):
    tracer = VizTracer(verbose=0, log_func_args=True, log_func_retval=True)
    tracer.start()
    work(6)
    tracer.add_instant("mark", args={"k": [1, 2]}, scope="p")
    tracer.add_counter("load", {"a": 1, "b": 2.5})
    tracer.add_object("N", "0x1", "Obj", {"x": 1})
    tracer.add_raw({"ph": "i", "name": "raw", "pid": 1, "tid": 1, "ts": 5, "s": "g"})
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    original = load_report(str(tmp_path / "r.json"))
    perfetto.write_from_report(original, str(tmp_path / "c.pftrace"))
    back = load_report(str(tmp_path / "c.pftrace"))
    assert comparable(back) == comparable(original)
    assert len(named(back, "work (")) == 25
    assert back["file_info"] == original["file_info"]


def test_reports_of_other_tools_convert_without_loss(tmp_path):
    report = {"traceEvents": [
        {"ph": "M", "pid": 7, "tid": 7, "name": "process_name", "args": {"name": "other"}},
        {"ph": "M", "pid": 7, "tid": 7, "name": "process_sort_index", "args": {"sort_index": 1}},
        {"ph": "B", "pid": 7, "tid": 8, "ts": 10.0, "name": "outer"},
        {"ph": "X", "pid": 7, "tid": 8, "ts": 11.0, "dur": 2.5, "name": "inner", "args": [1, 2]},
        {"ph": "E", "pid": 7, "tid": 8, "ts": 20.0},
        {"ph": "B", "pid": 7, "tid": 8, "ts": 30.0, "name": "never ends"},
        {"ph": "s", "pid": 7, "tid": 8, "ts": 12.0, "name": "flow", "id": 1},
        {"ph": "C", "pid": 7, "tid": 8, "ts": 13.0, "name": "level", "args": {"v": 3}},
    ]}
    perfetto.write_from_report(report, str(tmp_path / "o.pftrace"))
    back = load_report(str(tmp_path / "o.pftrace"))
    events = back["traceEvents"]
    by_name = {e.get("name"): e for e in events}
    assert by_name["outer"]["ph"] == "X" and by_name["outer"]["dur"] == 10.0
    assert by_name["inner"]["args"] == [1, 2] and by_name["inner"]["dur"] == 2.5
    assert by_name["never ends"]["ph"] == "B"
    assert by_name["flow"] == report["traceEvents"][6]
    assert by_name["process_sort_index"] == report["traceEvents"][1]
    assert by_name["level"]["args"] == {"v": 3}
    assert by_name["process_name"]["args"] == {"name": "other"}


def test_combining_the_same_report_twice_doubles_the_events(tmp_path):
    tracer = VizTracer(verbose=0)
    tracer.start()
    work(4)
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    report = load_report(str(tmp_path / "r.json"))
    both = combine_reports([report, report])
    assert len(named(both, "work (")) == 2 * 9
