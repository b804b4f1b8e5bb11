"""The tracing core through the VizTracer API: counts, names, nesting, threads, the ring."""
from __future__ import annotations

import _thread
import os
import sys
import threading
import time
import warnings

import pytest
from conftest import calls, load_report, names
from conftest_hook_helpers import MONITORING, hook_installed

import viztracer
from viztracer import VizTracer, _tracer, get_tracer
from viztracer.report import ReportError

HERE = os.path.abspath(__file__)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


FIB = f"fib ({HERE}:{fib.__code__.co_firstlineno})"


class Greeter:
    def hello(self, who):
        return "hello " + who


def test_fib_10_is_177_calls_with_exact_names(trace):
    report = trace(lambda: fib(10))
    assert names(report).count(FIB) == 177


def test_nesting_and_timestamps_make_sense(trace):
    before = time.monotonic_ns() / 1000
    report = trace(lambda: fib(6))
    after = time.monotonic_ns() / 1000
    fibs = sorted((e for e in calls(report) if e["name"] == FIB), key=lambda e: (e["ts"], -e["dur"]))
    assert len(fibs) == 25
    outer = fibs[0]
    for e in fibs:
        assert before <= e["ts"] <= after, "timestamps are CLOCK_MONOTONIC microseconds"
        assert e["dur"] >= 0
        assert outer["ts"] <= e["ts"] and e["ts"] + e["dur"] <= outer["ts"] + outer["dur"] + 0.001
        assert e["pid"] == os.getpid() and e["tid"] == threading.get_native_id()
        assert e["cat"] == "FEE"


def test_python_method_and_c_function_names(trace):
    lock = threading.Lock()

    def work():
        Greeter().hello("you")
        len([1])
        items = []
        items.append(1)
        lock.acquire()
        lock.release()
        {1}.add(2)
        dict.fromkeys("ab")

    found = set(names(trace(work)))
    line = Greeter.hello.__code__.co_firstlineno
    assert f"Greeter.hello ({HERE}:{line})" in found
    for expected in ("builtins.len", "list.append", "_thread.lock.acquire", "_thread.lock.release",
                     "set.add", "dict.fromkeys"):
        assert expected in found


def test_report_shape(trace):
    report = trace(lambda: fib(3))
    assert set(report) == {"traceEvents", "viztracer_metadata", "file_info"}
    meta = calls(report, "M")
    assert {"ph": "M", "pid": os.getpid(), "tid": os.getpid(), "name": "process_name",
            "args": {"name": "MainProcess"}} in meta
    assert any(e["name"] == "thread_name" and e["args"]["name"] == "MainThread" for e in meta)
    assert report["viztracer_metadata"]["version"] == viztracer.__version__
    assert report["viztracer_metadata"]["overflow"] is False
    files = report["file_info"]["files"]
    assert files[HERE][0] == open(HERE).read()
    assert report["file_info"]["functions"][FIB] == [HERE, fib.__code__.co_firstlineno]


def test_our_own_frames_are_never_recorded(trace):
    own = os.path.dirname(viztracer.__file__)

    def work():
        tracer = get_tracer()
        tracer.add_instant("mark")
        tracer.log_var("x", 1)
        with tracer.log_event("block"):
            fib(2)
        tracer.pause()
        tracer.resume()

    report = trace(work)
    for e in calls(report):
        assert own not in e["name"], e
        assert "Tracer" not in e["name"], e
    assert names(report).count(FIB) == 3


def test_threads_started_with_threading_are_traced(trace):
    def work():
        threads = [threading.Thread(target=fib, args=(5,), name=f"worker-{i}") for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    report = trace(work)
    by_tid: dict[int, int] = {}
    for e in calls(report):
        if e["name"] == FIB:
            by_tid[e["tid"]] = by_tid.get(e["tid"], 0) + 1
    assert sorted(by_tid.values()) == [15, 15]
    assert threading.get_native_id() not in by_tid
    thread_names = {e["tid"]: e["args"]["name"] for e in calls(report, "M") if e["name"] == "thread_name"}
    assert sorted(thread_names[t] for t in by_tid) == ["worker-0", "worker-1"]


def test_enable_thread_tracing_for_raw_threads(trace):
    def raw(done):
        get_tracer().enable_thread_tracing()
        fib(4)
        done.release()

    def work():
        done = _thread.allocate_lock()
        done.acquire()
        _thread.start_new_thread(raw, (done,))
        done.acquire()

    report = trace(work)
    fibs = [e for e in calls(report) if e["name"] == FIB]
    assert len(fibs) == 9
    assert all(e["tid"] != threading.get_native_id() for e in fibs)


def test_raw_threads_are_traced_by_sys_monitoring_only(trace):
    """A thread not started by threading: the profile hook is never installed in it (unless
    it asks, see enable_thread_tracing), sys.monitoring sees it as any other."""
    def work():
        done = _thread.allocate_lock()
        done.acquire()
        _thread.start_new_thread(lambda: (fib(4), done.release()), ())
        done.acquire()

    assert names(trace(work)).count(FIB) == (9 if MONITORING else 0)


def test_ring_overflow_keeps_latest_entries(tmp_path, capsys):
    tracer = VizTracer(tracer_entries=100, verbose=1)
    tracer.start()
    fib(12)
    tracer.stop()
    out = tmp_path / "r.json"
    tracer.save(str(out))
    report = load_report(out)
    fibs = calls(report)
    assert len(fibs) == 100
    assert report["viztracer_metadata"]["overflow"] is True
    assert report["viztracer_metadata"]["dropped_entries"] > 0
    # the outermost call returns last, so it survives
    assert max(e["dur"] for e in fibs if e["name"] == FIB) == pytest.approx(
        max(e["dur"] for e in fibs), rel=1e-9)
    assert "overflowed" in capsys.readouterr().err


def test_ring_entry_is_32_bytes():
    assert _tracer.ENTRY_SIZE == 32


def test_bad_tracer_entries():
    for bad in (0, -5, 1.5, "10"):
        with pytest.raises(ValueError, match="tracer_entries"):
            VizTracer(tracer_entries=bad)


def test_include_and_exclude_together_is_an_error():
    with pytest.raises(ValueError, match="can't be used together"):
        VizTracer(include_files=["a"], exclude_files=["b"])


def test_open_calls_become_begin_events_inline(tmp_path):
    tracer = VizTracer(verbose=0)

    def inner():
        fib(2)
        tracer.stop()

    def outer():
        inner()

    tracer.start()
    outer()
    out = tmp_path / "r.json"
    tracer.save(str(out))
    report = load_report(out)
    begins = names(report, "B")
    assert [n.split(" ")[0] for n in begins] == ["test_open_calls_become_begin_events_inline.<locals>.outer",
                                                 "test_open_calls_become_begin_events_inline.<locals>.inner"]
    assert names(report).count(FIB) == 3


def test_flush_as_finish_closes_open_calls(tmp_path):
    tracer = VizTracer(verbose=0)

    def outer():
        fib(2)
        time.sleep(0.002)
        tracer.stop(stop_option="flush_as_finish")

    tracer.start()
    outer()
    out = tmp_path / "r.json"
    tracer.save(str(out))
    report = load_report(out)
    assert names(report, "B") == []
    closed = [e for e in calls(report) if e["name"].startswith("test_flush_as_finish_closes_open_calls")]
    assert len(closed) == 1 and closed[0]["dur"] >= 2000


def test_pause_and_resume(trace):
    def work():
        fib(3)
        get_tracer().pause()
        fib(5)
        get_tracer().resume()
        fib(2)

    assert names(trace(work)).count(FIB) == 5 + 3


def test_clear_and_cleanup(tmp_path):
    tracer = VizTracer(verbose=0)
    tracer.start()
    fib(5)
    tracer.stop()
    assert tracer.parse() >= 15
    tracer.clear()
    assert tracer.parse() == 0
    tracer.start()
    fib(3)
    tracer.stop()
    tracer.cleanup()
    assert tracer.parse() == 0
    tracer.start()
    fib(4)
    tracer.stop()
    out = tmp_path / "r.json"
    tracer.save(str(out))
    assert names(load_report(out)).count(FIB) == 9


def test_restart_accumulates(tmp_path):
    tracer = VizTracer(verbose=0)
    for n in (3, 4):
        tracer.start()
        fib(n)
        tracer.stop()
    out = tmp_path / "r.json"
    tracer.save(str(out))
    assert names(load_report(out)).count(FIB) == 5 + 9


def test_context_manager_saves_to_output_file(tmp_path):
    out = tmp_path / "ctx.json"
    with VizTracer(output_file=str(out), verbose=0):
        fib(4)
    assert names(load_report(out)).count(FIB) == 9
    assert sys.getprofile() is None


def test_json_gz(trace):
    assert names(trace(lambda: fib(5), output="r.json.gz")).count(FIB) == 15


def test_unsupported_extension_is_a_report_error(tmp_path):
    tracer = VizTracer(verbose=0)
    tracer.start()
    fib(2)
    tracer.stop()
    for bad in ("r.txt", "r.xml", "missing/r.txt"):
        with pytest.raises(ReportError):
            tracer.save(str(tmp_path / bad))
    assert not (tmp_path / "missing").exists()
    # a directory that does not exist is created, as VizTracer 1.x does
    tracer.save(str(tmp_path / "missing" / "deeper" / "r.json"))
    assert (tmp_path / "missing" / "deeper" / "r.json").exists()


def test_global_registration():
    tracer = VizTracer(verbose=0)
    assert get_tracer() is tracer
    other = VizTracer(verbose=0, register_global=False)
    assert get_tracer() is tracer and other is not tracer


def test_run_traces_a_command(tmp_path):
    out = tmp_path / "run.json"
    VizTracer(verbose=0).run("sum(range(3))", output_file=str(out))
    assert "builtins.sum" in names(load_report(out))


def test_save_prints_where_the_report_went(tmp_path, capsys):
    tracer = VizTracer()
    tracer.start()
    fib(1)
    tracer.stop()
    out = tmp_path / "r.json"
    tracer.save(str(out))
    printed = capsys.readouterr().out
    assert str(out) in printed and ("vizviewer" in printed or "Perfetto" in printed)


def test_options_not_implemented_yet_warn_once(monkeypatch):
    # no option of the constructor is left without effect: check the mechanism with one
    monkeypatch.setattr(viztracer.tracer, "_NOT_YET", {"log_print": False})
    monkeypatch.setattr(viztracer.tracer, "_warned_not_yet", set())
    with pytest.warns(UserWarning, match="'log_print' has no effect yet"):
        VizTracer(verbose=0, log_print=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        VizTracer(verbose=0, log_print=True)


def test_no_hook_left_after_stop():
    tracer = VizTracer(verbose=0)
    tracer.start()
    assert hook_installed()
    tracer.stop()
    assert not hook_installed()
    assert threading.getprofile() is None


def test_import_viztracer_does_not_load_the_viewer_or_the_writers():
    import subprocess

    code = ("import sys, viztracer; print(sorted(m for m in sys.modules if m.startswith(("
            "'viztracer.viewer', 'viztracer.report.html'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_writers_take_a_recording_not_the_tracer(tmp_path):
    from viztracer.recording import Recording
    from viztracer.report import write_report

    tracer = VizTracer(verbose=0, process_name="rec")
    tracer.start()
    fib(3)
    tracer.stop()
    recording = tracer.recording()
    assert isinstance(recording, Recording) and recording.process_name == "rec"
    assert [tid for tid, _ in recording.threads] == [threading.get_native_id()]
    del tracer      # the recording keeps the ring alive on its own
    for name in ("r.json", "r.pftrace", "r.html"):
        assert write_report(recording, str(tmp_path / name)) == 5
