"""``--stream`` / ``VizTracer(stream=True)``: the report is written while the program runs.

Runs far longer than the ring keep every call; threads; every way a process can end, through
the real command (the file is complete, or after ``kill -9`` / ``os._exit`` holds what was
flushed); drops counted and marked when the writer is starved; ``--dump_on``; both formats read
back by our loader and, for ``.pftrace``, parsed with the ``perfetto`` package's protos.
"""
from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import time
import weakref
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from conftest_cli_helpers import COMMANDS, check_one_line_error, clean_env, run, write

from viztracer import VizTracer
from viztracer.report.loader import load_report

FORMATS = ["json", "pftrace"]
VIZTRACER = COMMANDS["console-script"]


def calls_named(report: dict, prefix: str) -> list[dict]:
    return [e for e in report["traceEvents"] if e.get("ph") == "X" and e["name"].startswith(prefix)]


def bursts(n_bursts: int, per_burst: int, tracer: VizTracer | None = None) -> None:
    """Calls in bursts smaller than a small ring, each followed by a pause that lets the
    writer thread in. With ``tracer``, each pause lasts until the writer has drained the ring
    (a loaded machine may not run it for a while): nothing is dropped, counts are exact."""
    def leaf(i):
        return i
    for _ in range(n_bursts):
        for i in range(per_burst):
            leaf(i)
        time.sleep(0.003)
        if tracer is not None:
            wait_for_the_writer(tracer, below=per_burst)


def streamed_bursts(out: Path, entries: int, n_bursts: int, per_burst: int) -> VizTracer:
    """A tracer streaming to ``out`` through a ring of ``entries``, run over ``bursts`` (each
    pause waiting for the writer) and stopped: the file is complete."""
    tracer = VizTracer(tracer_entries=entries, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    bursts(n_bursts, per_burst, tracer)
    tracer.stop()
    return tracer


def wait_for_the_writer(tracer: VizTracer, below: int = 1) -> None:
    """Wait (10 s at most) until fewer than ``below`` entries wait for the stream's writer."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        first, end = tracer._core.stream_span()
        if end - first < below:
            return
        time.sleep(0.001)


def assert_nested(report: dict) -> None:
    """Per thread, every two X events are disjoint or one holds the other."""
    by_thread: dict = {}
    for e in report["traceEvents"]:
        if e.get("ph") == "X":
            by_thread.setdefault(e["tid"], []).append((e["ts"], -(e["ts"] + e["dur"]), e["name"]))
    for events in by_thread.values():
        events.sort()
        stack: list[float] = []
        for ts, neg_end, _name in events:
            end = -neg_end
            while stack and stack[-1] <= ts:
                stack.pop()
            assert not stack or end <= stack[-1] + 0.002, "slices overlap without nesting"
            stack.append(end)


def pftrace_packets(path: Path) -> list:
    """Every TracePacket of a .pftrace, compressed chunks inflated, by the perfetto package."""
    import zlib

    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    packets = []
    for p in Trace.FromString(path.read_bytes()).packet:
        if p.HasField("compressed_packets"):
            packets += Trace.FromString(zlib.decompress(p.compressed_packets)).packet
        else:
            packets.append(p)
    return packets


# -- the API ------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_run_far_longer_than_the_ring_keeps_every_call(tmp_path, fmt):
    out = tmp_path / f"r.{fmt}"
    streamed_bursts(out, 2000, 60, 500)  # 30,000 calls of leaf through a ring of 2,000 entries
    report = load_report(str(out))
    assert len(calls_named(report, "bursts.<locals>.leaf")) == 30000
    assert report["viztracer_metadata"]["dropped_entries"] == 0
    assert report["viztracer_metadata"]["stream"] is True
    assert not report["viztracer_metadata"]["overflow"]
    assert_nested(report)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_program_faster_than_the_writer_waits_for_it_and_loses_nothing(tmp_path, fmt):
    """No pause for the writer: the ring fills again and again, and each time the program
    waits (without the GIL) until the writer has freed slots."""
    def leaf(i):
        return i

    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=1000, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    for i in range(40000):
        leaf(i)
    tracer.stop()
    report = load_report(str(out))
    assert report["viztracer_metadata"]["dropped_entries"] == 0
    leaves = calls_named(report, "test_a_program_faster_than_the_writer_waits_for_it_and_loses_nothing"
                                 ".<locals>.leaf")
    assert len(leaves) == 40000
    assert all(a["ts"] + a["dur"] <= b["ts"] for a, b in pairwise(leaves))     # in order, none twice


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_writer_goes_from_part_to_part_without_going_back_to_python(tmp_path, fmt, monkeypatch):
    """Going back to Python between parts costs the writer a wait for the GIL: while the
    program fills part after part, one call of the format's ``part`` writes several."""
    from viztracer.report import chrome_json, perfetto
    stream_class = chrome_json.Stream if fmt == "json" else perfetto.Stream
    written = []
    part = stream_class.part

    def counting_part(self, recording, *args):
        written.append(part(self, recording, *args))
        return written[-1]

    monkeypatch.setattr(stream_class, "part", counting_part)
    tail = []       # what the program's thread encodes at the stop (JSON), not through ``part``
    encode_tail = getattr(stream_class, "encode_tail", None)
    if encode_tail is not None:
        def counting_encode_tail(self, recording):
            tail.append(recording.span[1] - recording.span[0])
            return encode_tail(self, recording)

        monkeypatch.setattr(stream_class, "encode_tail", counting_encode_tail)

    def leaf(i):
        return i

    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=8000, stream=True, output_file=str(out), verbose=0)
    tracer.start()      # parts of 2,000 entries
    for i in range(100000):
        leaf(i)
    tracer.stop()
    assert sum(written) + sum(tail) >= 100000
    assert max(written) > 2000      # more than a part in one call
    assert len(calls_named(load_report(str(out)), "test_the_writer_goes_from_part_to_part")) == 100000


@pytest.mark.parametrize("fmt", FORMATS)
def test_what_is_left_at_the_stop_is_written_whole_and_in_order(tmp_path, fmt, monkeypatch):
    """The program keeps the GIL for the whole run (a switch interval longer than the run), so
    the writer thread writes nothing meanwhile and all of it is left for the stop. There, for
    JSON, the program's thread encodes the newest parts while the writer writes the oldest,
    then writes its own after the writer's: every call once, in the order the calls ended."""
    from viztracer.report import chrome_json
    tails = []
    encode_tail = chrome_json.Stream.encode_tail

    def counting_encode_tail(self, recording):
        tails.append(recording.span[1] - recording.span[0])
        return encode_tail(self, recording)

    monkeypatch.setattr(chrome_json.Stream, "encode_tail", counting_encode_tail)

    def leaf(i):
        return i

    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=100000, stream=True, output_file=str(out), verbose=0)
    interval = sys.getswitchinterval()
    tracer.start()      # parts of 8,192 entries
    try:
        sys.setswitchinterval(100)
        for i in range(60000):
            leaf(i)
        left = tracer._core.stream_span()
    finally:
        sys.setswitchinterval(interval)
        tracer.stop()
    assert left[1] - left[0] >= 60000
    if fmt == "json":   # the program's thread took two parts at least (the writer is at 0)
        assert len(tails) >= 2 and all(n == 8192 for n in tails)
    else:               # a .pftrace stop is written by the program's thread alone
        assert tails == []
    report = load_report(str(out))
    leaves = calls_named(report, "test_what_is_left_at_the_stop_is_written_whole_and_in_order"
                                 ".<locals>.leaf")
    assert len(leaves) == 60000
    assert all(a["ts"] + a["dur"] <= b["ts"] for a, b in pairwise(leaves))     # in order, none twice
    assert report["viztracer_metadata"]["dropped_entries"] == 0
    tracer.start()      # and the writer is not held back by the last stop's limit
    for i in range(30000):
        leaf(i)
    tracer.stop()
    assert len(calls_named(load_report(str(out)), "test_what_is_left_at_the_stop")) == 90000


@pytest.mark.parametrize("fmt", FORMATS)
def test_threads_custom_events_and_args_are_streamed(tmp_path, fmt):
    import threading
    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=3000, stream=True, output_file=str(out), verbose=0,
                       log_func_args=True)

    def worker(n):
        bursts(20, 400, tracer)

    tracer.start()
    threads = [threading.Thread(target=worker, args=(k,), name=f"worker-{k}") for k in range(3)]
    for t in threads:
        t.start()
    tracer.log_instant("hello", args={"k": 1})
    tracer.log_var("answer", 42)
    for t in threads:
        t.join()
    tracer.stop()
    report = load_report(str(out))
    leaves = calls_named(report, "bursts.<locals>.leaf")
    assert len(leaves) == 3 * 20 * 400
    assert len({e["tid"] for e in leaves}) == 3
    assert all(e["args"] == {"func_args": {"i": e["args"]["func_args"]["i"]}} for e in leaves)
    assert {e["args"]["func_args"]["i"] for e in leaves} == {str(i) for i in range(400)}
    thread_names = {e["args"]["name"] for e in report["traceEvents"]
                    if e.get("ph") == "M" and e["name"] == "thread_name"}
    assert {"worker-0", "worker-1", "worker-2"} <= thread_names
    instants = [e for e in report["traceEvents"] if e.get("ph") == "i" and e["name"] == "hello"]
    assert len(instants) == 1 and instants[0]["args"] == {"k": 1}
    counters = [e for e in report["traceEvents"] if e.get("ph") == "C" and e["name"] == "answer"]
    assert counters and counters[0]["args"] == {"value": 42}
    assert_nested(report)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_writer_thread_is_never_traced_even_with_trace_self(tmp_path, fmt):
    """The writer is a bare thread (started without waiting for it): it is known as ours
    before the hook is installed, so not one of its calls is recorded, even when viztracer's
    own code is (``trace_self``), and it has no lane of its own."""
    import threading
    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=2000, stream=True, output_file=str(out), verbose=0,
                       trace_self=True)
    tracer.start()
    bursts(10, 500, tracer)
    tracer.stop()
    report = load_report(str(out))
    calls = [e for e in report["traceEvents"] if e.get("ph") == "X"]
    assert len(calls_named(report, "bursts.<locals>.leaf")) == 10 * 500
    assert {e["tid"] for e in calls} == {threading.get_native_id()}
    assert [e for e in calls if e["name"].startswith("StreamWriter.flush")]    # own code: traced


def test_a_streamed_pftrace_parses_with_perfettos_protos(tmp_path):
    out = tmp_path / "r.pftrace"
    streamed_bursts(out, 1000, 30, 300)
    packets = pftrace_packets(out)
    # each thread sequence is cleared again at every part, and stays balanced
    depth: Counter = Counter()
    cleared: Counter = Counter()
    begins = 0
    for p in packets:
        seq = p.trusted_packet_sequence_id
        if p.sequence_flags & 1:
            cleared[seq] += 1
            assert depth[seq] == 0, "a part ended with slices still open"
        if p.HasField("track_event"):
            if p.track_event.type == 1:
                depth[seq] += 1
                begins += 1
            elif p.track_event.type == 2:
                depth[seq] -= 1
                assert depth[seq] >= 0
    assert begins >= 9000
    assert max(cleared.values()) > 5        # many parts were written
    report = load_report(str(out))
    assert len(calls_named(report, "bursts.<locals>.leaf")) == 9000


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_starved_writer_drops_counts_and_marks(tmp_path, fmt, monkeypatch, capsys):
    monkeypatch.setenv("VIZTRACER_TEST_STREAM_DELAY", "0.3")
    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=500, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    bursts(10, 2000)        # 20,000 calls; the writer sleeps 0.3 s before each flush
    tracer.stop()
    report = load_report(str(out))
    dropped = report["viztracer_metadata"]["dropped_entries"]
    kept = len(calls_named(report, "bursts.<locals>.leaf"))
    assert dropped > 0
    assert kept + dropped >= 20000      # every call is kept or counted (bursts itself may be too)
    markers = [e for e in report["traceEvents"] if e.get("ph") == "i" and e["name"].startswith("viztracer: ")]
    assert markers and sum(m["args"]["dropped"] for m in markers) == dropped
    assert all("fell behind" in m["args"]["reason"] for m in markers)
    err = capsys.readouterr().err
    assert f"{dropped} entries were dropped" in err and err.count("\n") == 1


def test_stop_then_start_goes_on_in_the_same_file(tmp_path):
    out = tmp_path / "r.json"
    tracer = streamed_bursts(out, 1000, 2, 100)
    assert len(calls_named(json.loads(out.read_text()), "bursts.<locals>.leaf")) == 200
    tracer.start()
    bursts(3, 100, tracer)
    tracer.stop()
    report = json.loads(out.read_text())      # complete JSON again
    assert len(calls_named(report, "bursts.<locals>.leaf")) == 500


def test_save_elsewhere_copies_or_converts(tmp_path):
    out = tmp_path / "r.json"
    tracer = VizTracer(tracer_entries=1000, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    bursts(2, 100)
    tracer.stop()
    assert tracer.save() == str(out)
    tracer.save(str(tmp_path / "copy.json"))
    tracer.save(str(tmp_path / "conv.pftrace"))
    for name in ("copy.json", "conv.pftrace"):
        assert len(calls_named(load_report(str(tmp_path / name)), "bursts.<locals>.leaf")) == 200


def test_stream_refuses_a_format_it_cannot_append_to(tmp_path):
    from viztracer.errors import ReportError
    with pytest.raises(ReportError, match="--stream writes .json or .pftrace"):
        VizTracer(stream=True, output_file=str(tmp_path / "r.html"), verbose=0)


# -- the command: every way a process can end ---------------------------------------------------

PROGRAM = """
import os, signal, sys, time
def leaf(i):
    return i
def phase(n):
    for i in range(n):
        leaf(i)
phase(5000)
print("flushed-soon", flush=True)
time.sleep(0.8)         # the writer flushes at least every 0.25 s
print("ready", flush=True)
how = sys.argv[1]
if how == "exception":
    raise RuntimeError("boom")
if how == "exit":
    sys.exit(3)
if how == "os_exit":
    os._exit(4)
if how == "wait":
    while True:
        phase(1000)
        time.sleep(0.01)
"""


def start(tmp_path: Path, fmt: str, how: str, *options: str) -> tuple[subprocess.Popen, Path]:
    """PROGRAM under ``viztracer OPTIONS -o r.<fmt>`` (default options: streaming), running."""
    prog = write(tmp_path / "prog.py", PROGRAM)
    out = tmp_path / f"r.{fmt}"
    options = options or ("--stream", "--tracer_entries", "20000")
    proc = subprocess.Popen([*VIZTRACER, *options, "-o", str(out), str(prog), how], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    return proc, out


def wait_for(proc: subprocess.Popen, word: str) -> None:
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        assert line, f"the program ended before {word!r}: {proc.stderr.read() if proc.stderr else ''}"
        if line.strip() == word:
            return


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how,status", [("normal", 0), ("exception", 1), ("exit", 3)])
def test_the_file_is_complete_however_the_program_ends(tmp_path, fmt, how, status):
    proc, out = start(tmp_path, fmt, how)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    report = load_report(str(out))
    assert "cut_short" not in report["viztracer_metadata"]
    assert len(calls_named(report, "leaf")) == 5000
    assert len(calls_named(report, "phase")) == 1
    if how == "exception":
        assert "RuntimeError: boom" in err and "viztracer/" not in err


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_a_signal_ends_the_program_and_completes_the_file(tmp_path, fmt, signum):
    proc, out = start(tmp_path, fmt, "wait")
    wait_for(proc, "ready")
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    # Ctrl+C shows the program's KeyboardInterrupt as python does; nothing of ours
    assert "viztracer/" not in err and ("Traceback" not in err or signum == signal.SIGINT), err
    report = load_report(str(out))
    assert "cut_short" not in report["viztracer_metadata"]
    assert len(calls_named(report, "leaf")) >= 5000
    # the loop's last call is closed at the stop: nothing left open
    assert not [e for e in report["traceEvents"] if e.get("ph") == "B"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("how", ["kill", "os_exit"])
def test_kill_9_or_os_exit_leaves_what_was_flushed(tmp_path, fmt, how, capsys):
    # os._exit: without the command's children support, which saves the report at os._exit
    untracked = () if how == "kill" else ("--ignore_multiprocess",)
    proc, out = start(tmp_path, fmt, "wait" if how == "kill" else "os_exit",
                      "--stream", "--tracer_entries", "20000", *untracked)
    if how == "kill":
        wait_for(proc, "ready")
        time.sleep(0.3)
        proc.kill()
    proc.communicate(timeout=60)
    report = load_report(str(out))      # a cut-short file: a notice, never a traceback
    assert report["viztracer_metadata"].get("cut_short") is True
    assert "cut short" in capsys.readouterr().err
    # everything before the 0.8 s pause was flushed: the 5,000 calls of phase(5000) at least
    assert len([e for e in calls_named(report, "leaf")]) >= 5000
    assert calls_named(report, "phase")


def test_dump_on_writes_the_ring_to_new_files_and_tracing_goes_on(tmp_path):
    proc, out = start(tmp_path, "json", "wait", "--dump_on", "SIGUSR2")
    wait_for(proc, "ready")
    proc.send_signal(signal.SIGUSR2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGUSR2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    dumps = sorted(tmp_path.glob("r_dump_*.json"))
    assert len(dumps) == 2, (dumps, err)
    assert err.count("viztracer: dumped ") == 2
    first, second = (load_report(str(d)) for d in dumps)
    assert first["viztracer_metadata"]["dump"] is True
    assert len(calls_named(first, "leaf")) >= 5000
    assert len(calls_named(second, "leaf")) > len(calls_named(first, "leaf"))
    final = load_report(str(out))
    assert len(calls_named(final, "leaf")) >= len(calls_named(second, "leaf"))


def test_stream_from_the_rcfile(tmp_path):
    prog = write(tmp_path / "prog.py", PROGRAM)
    (tmp_path / ".viztracerrc").write_text("[default]\nstream = True\ntracer_entries = 20000\n")
    res = run(VIZTRACER, "-o", "r.pftrace", str(prog), "normal", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = load_report(str(tmp_path / "r.pftrace"))
    assert report["viztracer_metadata"]["stream"] is True
    assert len(calls_named(report, "leaf")) == 5000


@pytest.mark.parametrize("args,message", [
    (["--stream", "-o", "r.html"], "--stream writes .json or .pftrace reports"),
    (["--dump_on", "SIGNOPE"], "--dump_on: 'SIGNOPE' is not a signal"),
    (["--dump_on", "SIGKILL"], "--dump_on: SIGKILL can't be caught"),
])
def test_bad_stream_options_are_one_line_errors(tmp_path, args, message):
    prog = write(tmp_path / "prog.py", "print('ran')\n")
    res = run(VIZTRACER, *args, str(prog), cwd=tmp_path)
    check_one_line_error(res, message, status=2)
    assert "ran" not in res.stdout


def test_unique_output_and_output_dir_work_with_stream(tmp_path):
    prog = write(tmp_path / "prog.py", PROGRAM)
    res = run(VIZTRACER, "--stream", "-u", "--output_dir", "out", str(prog), "normal", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    files = list((tmp_path / "out").glob("prog_*.json"))
    assert len(files) == 1
    assert f"Report saved to {files[0]}" in res.stdout
    assert len(calls_named(load_report(str(files[0])), "leaf")) == 5000


if sys.platform != "linux":     # pragma: no cover - the signals above are POSIX ones
    pytestmark = pytest.mark.skip("POSIX signals")


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_forked_child_leaves_the_parents_stream_alone(tmp_path, fmt):
    prog = write(tmp_path / "prog.py", """
        import os, sys
        def leaf(i):
            return i
        def phase(n):
            for i in range(n):
                leaf(i)
        phase(3000)
        pid = os.fork()
        if pid == 0:
            phase(500)
            sys.exit(0)         # the child goes through viztracer's exit too
        os.waitpid(pid, 0)
        phase(2000)
    """)
    out = tmp_path / f"r.{fmt}"
    res = run(VIZTRACER, "--stream", "--tracer_entries", "20000", "-o", str(out), str(prog), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    report = load_report(str(out))
    assert "cut_short" not in report["viztracer_metadata"]
    parent = report["traceEvents"][0]["pid"]
    leaves = calls_named(report, "leaf")
    # the parent's stream holds its own 5,000 calls; the child streamed its 500 to a file of its
    # own, added to the report as a process of its own
    assert len([e for e in leaves if e["pid"] == parent]) == 5000
    assert len([e for e in leaves if e["pid"] != parent]) == 500
    assert [c["state"] for c in report["viztracer_metadata"]["child_processes"]] == ["complete"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_without_children_a_forked_child_saves_beside_the_parents_stream(tmp_path, fmt):
    prog = write(tmp_path / "prog.py", """
        import os, sys
        def leaf(i):
            return i
        leaf(0)
        pid = os.fork()
        if pid == 0:
            leaf(1)
            print("child", os.getpid(), flush=True)
            sys.exit(0)
        os.waitpid(pid, 0)
    """)
    out = tmp_path / f"r.{fmt}"
    res = run(VIZTRACER, "--stream", "--ignore_multiprocess", "-o", str(out), str(prog), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    child = res.stdout.split("child ")[1].split()[0]
    assert len(calls_named(load_report(str(out)), "leaf")) == 1
    assert len(calls_named(load_report(str(tmp_path / f"r_{child}.{fmt}")), "leaf")) == 1


def test_dump_on_while_streaming_flushes(tmp_path):
    out = tmp_path / "r.json"
    tracer = VizTracer(tracer_entries=100000, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    bursts(2, 100)
    assert tracer.dump_ring() == str(out)       # wakes the writer
    wait_for_the_writer(tracer)
    before_stop = load_report(str(out))         # not complete yet: read as cut short
    assert before_stop["viztracer_metadata"]["cut_short"] is True
    assert len(calls_named(before_stop, "bursts.<locals>.leaf")) == 200
    tracer.stop()
    assert not list(tmp_path.glob("*dump*"))


def test_clear_while_streaming_drops_only_what_is_not_written(tmp_path):
    out = tmp_path / "r.json"
    tracer = VizTracer(tracer_entries=100000, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    bursts(1, 100)
    tracer._stream.flush()      # the first 100 are in the file
    bursts(1, 50)
    tracer.clear()              # these 50 were not
    bursts(1, 10)
    tracer.stop()
    assert len(calls_named(load_report(str(out)), "bursts.<locals>.leaf")) == 110


def top_level_slices(path: Path) -> tuple[int, int]:
    """(slice packets written plain, slice packets inside deflated chunks) of a .pftrace."""
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    top = Trace.FromString(path.read_bytes()).packet
    plain = sum(p.HasField("track_event") for p in top)
    return plain, sum(p.HasField("track_event") for p in pftrace_packets(path)) - plain


def test_a_writer_keeping_pace_deflates_and_one_behind_does_not(tmp_path, monkeypatch):
    import viztracer.stream
    out = tmp_path / "pace.pftrace"
    streamed_bursts(out, 2000, 5, 300)  # the writer catches up after every burst
    plain, deflated = top_level_slices(out)
    assert deflated >= 2 * 1500     # the bursts' slices, begin and end
    assert plain < 50               # the few calls left at the stop: not deflated, not waited for

    monkeypatch.setattr(viztracer.stream, "HURRY_PARTS", -1)    # every part finds it behind
    out = tmp_path / "behind.pftrace"
    streamed_bursts(out, 2000, 5, 300)
    plain, deflated = top_level_slices(out)
    assert plain >= 2 * 1500 and deflated == 0
    assert len(calls_named(load_report(str(out)), "bursts.<locals>.leaf")) == 1500


def test_the_closing_metadata_is_written_plain_with_the_sources(tmp_path):
    # stop() waits for the last packet: file_info's sources are not deflated then (deflating
    # them took longer than the last part), and the file still reads back whole.
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace
    out = tmp_path / "meta.pftrace"
    streamed_bursts(out, 2000, 2, 300)
    last = Trace.FromString(out.read_bytes()).packet[-1]
    assert last.HasField("chrome_events") and not last.HasField("compressed_packets")
    names = [m.name for m in last.chrome_events.metadata]
    assert names[-1] == "file_info"
    info = json.loads(last.chrome_events.metadata[-1].json_value)
    assert Path(__file__).resolve().as_posix() in {Path(f).resolve().as_posix() for f in info["files"]}
    assert any(name.startswith("bursts") for name in info["functions"])
    assert len(calls_named(load_report(str(out)), "bursts.<locals>.leaf")) == 600


@pytest.mark.parametrize("names_kept", [None, 7])
@pytest.mark.parametrize("fmt", FORMATS)
def test_names_stay_right_when_code_objects_die_between_parts(tmp_path, fmt, names_kept, monkeypatch):
    # Each burst's function is freed after it, so a new one may get a dead one's address;
    # the stream's name table (kept from part to part, and started afresh past NAMES_KEPT
    # names) must never give a call the name of another.
    import viztracer.report.chrome_json
    import viztracer.report.perfetto
    if names_kept is not None:
        for module in (viztracer.report.chrome_json, viztracer.report.perfetto):
            monkeypatch.setattr(module, "NAMES_KEPT", names_kept)
    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=400, stream=True, output_file=str(out), verbose=0)
    tracer.start()
    for k in range(40):
        scope: dict = {}
        exec(f"def made_{k}(x):\n    return x\n", scope)
        for i in range(30):
            scope[f"made_{k}"](i)
        del scope
        tracer._stream.flush()      # the writer lets go of the function,
        gc.collect()                # and its cycle with its globals is freed
    tracer.stop()
    made = Counter(e["name"].split(" ")[0] for e in calls_named(load_report(str(out)), "made_"))
    assert made == {f"made_{k}": 30 for k in range(40)}


@pytest.mark.parametrize("fmt", FORMATS)
def test_streaming_leaves_every_reference_count_as_it_was(tmp_path, fmt):
    # The writer takes the entries' references out of their slots and drops them afterwards:
    # not one too many, not one too few (args included).
    def leaf(i):
        return i
    args = ("an arg",)
    before = sys.getrefcount(leaf.__code__), sys.getrefcount(args[0])
    out = tmp_path / f"r.{fmt}"
    tracer = VizTracer(tracer_entries=1000, stream=True, output_file=str(out), verbose=0,
                       log_func_args=True)
    tracer.start()
    for _ in range(20):
        for i in range(200):
            leaf(i)
        tracer.log_instant("burst", args={"arg": args[0]})
        wait_for_the_writer(tracer, below=250)      # a part: the writer had its turn
    tracer.stop()
    # the stream's name table holds one reference to each function it named, until it goes
    assert (sys.getrefcount(leaf.__code__) - 1, sys.getrefcount(args[0])) == before
    # and nothing keeps a streaming tracer alive once the program lets go of it (the global
    # tracer is the newest one)
    gone = weakref.ref(tracer)
    del tracer
    VizTracer(verbose=0)
    gc.collect()
    assert gone() is None
    assert (sys.getrefcount(leaf.__code__), sys.getrefcount(args[0])) == before
    leaves = calls_named(load_report(str(out)), "test_streaming_leaves_every_reference_count_as_it_was")
    assert len(leaves) == 4000


@pytest.mark.parametrize("options", [
    {"log_func_args": True, "log_func_retval": True, "ignore_c_function": True},
    {"max_stack_depth": 2},
    # us: only the calls that sleep. The gap is wide because a call that does not sleep can
    # still wait a few milliseconds for the GIL or the CPU on a loaded machine.
    {"min_duration": 20000},
    {"exclude_files": [os.path.dirname(os.__file__)]},
])
@pytest.mark.parametrize("fmt", FORMATS)
def test_options_record_the_same_calls_as_without_streaming(tmp_path, options, fmt):
    def inner(i):
        if i % 10 == 0:
            time.sleep(0.04)
        return os.path.join("a", str(i))

    def outer():
        for i in range(40):
            inner(i)

    def events(**extra):
        out = tmp_path / (f"{len(list(tmp_path.iterdir()))}." + fmt)
        tracer = VizTracer(verbose=0, output_file=str(out), **options, **extra)
        tracer.start()
        outer()
        tracer.stop()
        tracer.save()
        return Counter((e["ph"], e["name"], json.dumps(e.get("args"), sort_keys=True))
                       for e in load_report(str(out))["traceEvents"] if e.get("ph") in ("X", "i", "C"))

    ring, streamed = events(), events(stream=True)
    assert ring == streamed
    inner_calls = sum(n for (_, name, _), n in ring.items() if "inner" in name)
    assert inner_calls == (4 if "min_duration" in options else 40)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_full_disk_is_one_line_and_a_non_zero_exit(tmp_path, fmt):
    prog = write(tmp_path / "prog.py", PROGRAM)
    (tmp_path / f"r.{fmt}").symlink_to("/dev/full")     # every write fails: no space left
    res = run(VIZTRACER, "--stream", "-o", f"r.{fmt}", str(prog), "normal", cwd=tmp_path)
    check_one_line_error(res, "cannot write", "No space left on device", status=1)
