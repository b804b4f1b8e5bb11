"""read_pftrace: hand-built Perfetto traces read back as the Chrome JSON report's dict."""
from __future__ import annotations

import gc
import json
import random
import threading
import zlib

import pytest
from conftest import assert_same_events, load_report

from viztracer import VizTracer
from viztracer.report import ReportError
from viztracer.report.perfetto_pb2 import Trace, TrackEvent
from viztracer.report.pftrace_reader import read_pftrace

PID, TID, TID2 = 4242, 4243, 4244


PROCESS, THREAD, THREAD2, GLOBAL, RSS, VMS = 1, 2, 3, 4, 5, 6


def annotate(a, value) -> None:
    """Encode a JSON value into a DebugAnnotation the way the contract says the writer does."""
    if value is None:
        a.legacy_json_value = "null"
    elif isinstance(value, bool):
        a.bool_value = value
    elif isinstance(value, int):
        a.int_value = value
    elif isinstance(value, float):
        a.double_value = value
    elif isinstance(value, str):
        a.string_value = value
    elif isinstance(value, dict):
        for k, v in value.items():
            annotate(a.dict_entries.add(name=k), v)
    elif isinstance(value, list):
        for v in value:
            annotate(a.array_values.add(), v)
    else:
        raise TypeError(value)


class Builder:
    """A trace on one sequence, interning names in the packet that first uses them."""

    def __init__(self, with_tracks: bool = True) -> None:
        self.trace = Trace()
        self.iids: dict[tuple[str, str], int] = {}
        first = self.packet()
        first.sequence_flags = 1
        first.first_packet_on_sequence = True
        first.incremental_state_cleared = True
        self.counter_tracks: dict[str, list[str]] = {}
        if with_tracks:
            self.process(PROCESS, PID, "MainProcess")
            self.thread(THREAD, PID, TID, "MainThread")
            self.thread(THREAD2, PID, TID2, "Thread-1 (work)")
            self.global_track(GLOBAL)

    def packet(self, ts: int | None = None):
        p = self.trace.packet.add(trusted_packet_sequence_id=1)
        if len(self.trace.packet) > 1:
            p.sequence_flags = 2
        if ts is not None:
            p.timestamp = ts
        return p

    def iid(self, p, kind: str, name: str) -> int:
        key = (kind, name)
        if key not in self.iids:
            self.iids[key] = iid = len(self.iids) + 1
            getattr(p.interned_data, kind).add(iid=iid, name=name)
        return self.iids[key]

    def process(self, uuid, pid, name):
        d = self.packet().track_descriptor
        d.uuid = uuid
        d.process.pid, d.process.process_name = pid, name

    def thread(self, uuid, pid, tid, name):
        d = self.packet().track_descriptor
        d.uuid, d.parent_uuid = uuid, PROCESS
        d.thread.pid, d.thread.tid, d.thread.thread_name = pid, tid, name

    def global_track(self, uuid):
        d = self.packet().track_descriptor
        d.uuid, d.name = uuid, "Global"

    def counter_track(self, uuid, name, key):
        d = self.packet().track_descriptor
        d.uuid, d.parent_uuid, d.name = uuid, PROCESS, f"{name}.{key}"
        d.counter.SetInParent()
        self.counter_tracks[str(uuid)] = [name, key]

    def event(self, ts, track, kind, category=None, name=None, args=None):
        p = self.packet(ts)
        ev = p.track_event
        ev.type = kind
        ev.track_uuid = track
        if category is not None:
            ev.category_iids.append(self.iid(p, "event_categories", category))
        if name is not None:
            ev.name_iid = self.iid(p, "event_names", name)
        for key, value in (args or {}).items():
            annotate(ev.debug_annotations.add(name_iid=self.iid(p, "debug_annotation_names", key)), value)
        return ev

    def begin(self, ts, track, name, args=None):
        return self.event(ts, track, TrackEvent.TYPE_SLICE_BEGIN, "FEE", name, args)

    def end(self, ts, track):
        return self.event(ts, track, TrackEvent.TYPE_SLICE_END)

    def instant(self, ts, track, name, args=None, category="instant"):
        return self.event(ts, track, TrackEvent.TYPE_INSTANT, category, name, args)

    def counter(self, ts, track, value):
        ev = self.event(ts, track, TrackEvent.TYPE_COUNTER)
        if isinstance(value, float):
            ev.double_counter_value = value
        else:
            ev.counter_value = value

    def obj(self, ts, track, ph, obj_id, name, snapshot=None):
        args = {"ph": ph, "id": obj_id}
        if snapshot is not None:
            args["snapshot"] = snapshot
        return self.instant(ts, track, name, args, category="object")

    def raw(self, ts, track, event: dict):
        p = self.packet(ts)
        ev = p.track_event
        ev.type = TrackEvent.TYPE_INSTANT
        ev.track_uuid = track
        ev.category_iids.append(self.iid(p, "event_categories", "raw"))
        ev.debug_annotations.add(name_iid=self.iid(p, "debug_annotation_names", "event"),
                                 legacy_json_value=json.dumps(event))

    def metadata(self, viztracer_metadata=None, file_info=None):
        bundle = self.packet().chrome_events
        if viztracer_metadata is not None:
            bundle.metadata.add(name="viztracer_metadata", json_value=json.dumps(viztracer_metadata))
        if file_info is not None:
            bundle.metadata.add(name="file_info", json_value=json.dumps(file_info))
        bundle.metadata.add(name="viztracer_counter_tracks", json_value=json.dumps(self.counter_tracks))

    def write(self, path) -> str:
        path.write_bytes(self.trace.SerializeToString())
        return str(path)


def name_events(threads=((TID, "MainThread"), (TID2, "Thread-1 (work)"))):
    return [{"ph": "M", "pid": PID, "tid": PID, "name": "process_name", "args": {"name": "MainProcess"}}] + [
        {"ph": "M", "pid": PID, "tid": tid, "name": "thread_name", "args": {"name": name}}
        for tid, name in threads]


def X(ts, dur, name, tid=TID, args=None):
    e = {"pid": PID, "tid": tid, "ts": ts, "ph": "X", "cat": "FEE", "dur": dur, "name": name}
    if args is not None:
        e["args"] = args
    return e


def instant(ts, name, scope, tid=TID, args=None):
    e = {"pid": PID, "tid": tid, "ts": ts, "ph": "i", "cat": "INSTANT", "name": name, "s": scope}
    if args is not None:
        e["args"] = args
    return e


META = {"version": "1.0.0", "overflow": False}
FILE_INFO = {"files": {"/a.py": ["def f():\n    pass\n", 2]}, "functions": {"f (/a.py:1)": ["/a.py", 1]}}


def test_every_kind_of_event(tmp_path):
    b = Builder()
    b.counter_track(RSS, "memory", "rss")
    b.counter_track(VMS, "memory", "vms")
    outer, inner = "main (/app/main.py:1)", "helper (/app/main.py:9)"
    b.begin(1_000_000, THREAD, outer)
    b.begin(1_000_500, THREAD, inner, {"func_args": {"n": "3"}, "return_value": "None"})
    b.end(1_002_500, THREAD)
    b.instant(1_003_000, THREAD, "checkpoint", {"step": 1})
    b.counter(1_004_000, RSS, 10)
    b.counter(1_004_000, VMS, 2.5)
    b.counter(1_004_500, RSS, 11)
    b.instant(1_004_600, PROCESS, "process-wide")
    b.instant(1_004_700, GLOBAL, "everyone", {"why": "because"})
    b.obj(1_004_800, THREAD, "N", "0x7f", "Car", {"speed": 3.5})
    b.obj(1_004_900, THREAD, "D", "0x7f", "Car")
    b.raw(1_004_950, THREAD, {"ph": "i", "name": "raw one", "pid": 1, "tid": 2, "ts": 3.5, "s": "g"})
    b.end(1_005_000, THREAD)
    b.begin(1_006_000, THREAD2, "work (/app/w.py:3)")
    b.end(1_006_001, THREAD2)
    b.metadata(META, FILE_INFO)
    report = read_pftrace(b.write(tmp_path / "t.pftrace"))
    assert report["viztracer_metadata"] == META
    assert report["file_info"] == FILE_INFO
    assert report["traceEvents"] == name_events() + [
        X(1000.5, 2.0, inner, args={"func_args": {"n": "3"}, "return_value": "None"}),
        instant(1003.0, "checkpoint", "t", args={"step": 1}),
        {"pid": PID, "tid": PID, "ts": 1004.0, "ph": "C", "name": "memory", "args": {"rss": 10, "vms": 2.5}},
        {"pid": PID, "tid": PID, "ts": 1004.5, "ph": "C", "name": "memory", "args": {"rss": 11}},
        instant(1004.6, "process-wide", "p", tid=PID),
        instant(1004.7, "everyone", "g", tid=PID, args={"why": "because"}),
        {"pid": PID, "tid": TID, "ts": 1004.8, "ph": "N", "id": "0x7f", "name": "Car",
         "args": {"snapshot": {"speed": 3.5}}},
        {"pid": PID, "tid": TID, "ts": 1004.9, "ph": "D", "id": "0x7f", "name": "Car"},
        {"ph": "i", "name": "raw one", "pid": 1, "tid": 2, "ts": 3.5, "s": "g"},
        X(1000.0, 5.0, outer),
        X(1006.0, 0.001, "work (/app/w.py:3)", tid=TID2),
    ]
    counters = [e for e in report["traceEvents"] if e["ph"] == "C"]
    assert isinstance(counters[0]["args"]["rss"], int) and isinstance(counters[0]["args"]["vms"], float)


def test_timestamps_are_the_json_writers_microseconds(tmp_path):
    b = Builder()
    b.begin(123_456_789_012_345_678, THREAD, "f")
    b.end(123_456_789_012_346_679, THREAD)
    b.metadata(META)
    [event] = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    # What json.loads gives for the JSON writer's "ts":123456789012345.678,"dur":1.001.
    assert event["ts"] == json.loads("123456789012345.678") and isinstance(event["ts"], float)
    assert event["dur"] == json.loads("1.001")


def test_process_labels_become_a_process_labels_event(tmp_path):
    """ProcessDescriptor.process_labels (repeated) are one comma-joined string, as Chrome
    JSON's process_labels M event holds them; a process with labels and no name has them too."""
    b = Builder(with_tracks=False)
    d = b.packet().track_descriptor
    d.uuid = PROCESS
    d.process.pid, d.process.process_name = PID, "Child"
    d.process.process_labels.extend(["cut short", "gpu"])
    d = b.packet().track_descriptor
    d.uuid = 7 << 24
    d.process.pid = 7
    d.process.process_labels.append("lost")
    b.metadata(META)
    report = read_pftrace(b.write(tmp_path / "t.pftrace"))
    assert report["traceEvents"] == [
        {"ph": "M", "pid": PID, "tid": PID, "name": "process_name", "args": {"name": "Child"}},
        {"ph": "M", "pid": PID, "tid": PID, "name": "process_labels", "args": {"labels": "cut short,gpu"}},
        {"ph": "M", "pid": 7, "tid": 7, "name": "process_labels", "args": {"labels": "lost"}},
    ]


def test_deep_nesting_and_repeated_calls_each_get_their_own_event(tmp_path):
    b = Builder()
    for depth in range(50):
        b.begin(1000 * depth, THREAD, "rec (/r.py:1)")
    for depth in reversed(range(50)):
        b.end(100_000 - 1000 * depth, THREAD)
    for i in range(3):
        b.begin(200_000 + 10 * i, THREAD, "leaf (/r.py:5)", {"i": i})
        b.end(200_005 + 10 * i, THREAD)
    b.metadata(META)
    events = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    recs = events[:50]
    assert [e["ts"] for e in recs] == [float(d) for d in reversed(range(50))], "inner calls end first"
    assert [e["dur"] for e in recs] == [(100_000 - 2000 * d) / 1000 for d in reversed(range(50))]
    assert len({id(e) for e in recs}) == 50
    leaves = events[50:]
    assert [e["args"] for e in leaves] == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_identical_events_do_not_share_args(tmp_path):
    b = Builder()
    for ts in (10, 20):
        b.begin(ts, THREAD, "f", {"func_args": {"x": "1"}})
        b.end(ts + 5, THREAD)
    b.metadata(META)
    first, second = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    assert first["args"] == second["args"]
    first["args"]["func_args"]["x"] = "changed"
    assert second["args"] == {"func_args": {"x": "1"}}


def test_open_slices_become_B_events_after_the_rest(tmp_path):
    b = Builder()
    b.begin(1000, THREAD, "main", {"a": 1})
    b.begin(2000, THREAD, "inner")
    b.begin(1500, THREAD2, "worker")
    b.begin(2500, THREAD2, "done")
    b.end(3000, THREAD2)
    b.metadata(META)
    events = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    assert events == [
        X(2.5, 0.5, "done", tid=TID2),
        {"pid": PID, "tid": TID, "ts": 1.0, "ph": "B", "cat": "FEE", "name": "main", "args": {"a": 1}},
        {"pid": PID, "tid": TID2, "ts": 1.5, "ph": "B", "cat": "FEE", "name": "worker"},
        {"pid": PID, "tid": TID, "ts": 2.0, "ph": "B", "cat": "FEE", "name": "inner"},
    ]


def test_annotation_values_map_back_to_json_values(tmp_path):
    args = {"s": "text", "t": True, "f": False, "i": -7, "big": 2**62, "x": 0.25, "none": None,
            "d": {"nested": {"deeper": [1, "two", None, {"k": False}]}}, "l": [[1, 2], [3.5]]}
    b = Builder()
    b.instant(10, THREAD, "values", args)
    ev = b.instant(20, THREAD, "special")
    u = b.iid(b.trace.packet[-1], "debug_annotation_names", "u")
    ev.debug_annotations.add(name_iid=u, uint_value=2**63)
    ev.debug_annotations.add(name="literal name", legacy_json_value='{"empty": [], "also": {}}')
    b.metadata(META)
    values, special = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    assert values["args"] == args
    assert json.dumps(values["args"]) == json.dumps(args), "key order and types survive"
    assert special["args"] == {"u": 2**63, "literal name": {"empty": [], "also": {}}}


def test_unicode_names_and_values(tmp_path):
    name = "задача ✓ (/home/ünï/代码.py:12)"
    b = Builder(with_tracks=False)
    b.process(PROCESS, PID, "процесс")
    b.thread(THREAD, PID, TID, "线程 🧵")
    b.begin(5, THREAD, name, {"ключ": "значение 🎉"})
    b.end(9, THREAD)
    b.metadata({"version": "1.0", "note": "ü"})
    report = read_pftrace(b.write(tmp_path / "ü.pftrace"))
    assert report["traceEvents"] == [
        {"ph": "M", "pid": PID, "tid": PID, "name": "process_name", "args": {"name": "процесс"}},
        {"ph": "M", "pid": PID, "tid": TID, "name": "thread_name", "args": {"name": "线程 🧵"}},
        X(0.005, 0.004, name, args={"ключ": "значение 🎉"}),
    ]
    assert report["viztracer_metadata"] == {"version": "1.0", "note": "ü"}


def test_interned_data_ahead_of_its_first_use(tmp_path):
    b = Builder()
    early = b.packet()
    iid = b.iid(early, "event_names", "defined early")
    ann = b.iid(early, "debug_annotation_names", "k")
    b.begin(1, THREAD, "other").debug_annotations.add(name_iid=ann, int_value=1)
    b.end(2, THREAD)
    ev = b.event(3, THREAD, TrackEvent.TYPE_SLICE_BEGIN, "FEE")
    ev.name_iid = iid
    b.end(4, THREAD)
    b.metadata(META)
    events = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    assert [(e["name"], e.get("args")) for e in events] == [("other", {"k": 1}), ("defined early", None)]


def test_names_interned_in_an_event_packet_for_later_use(tmp_path):
    b = Builder()
    carrier = b.begin(1, THREAD, "carrier")
    later = b.iid(b.trace.packet[-1], "event_names", "used later")
    b.end(2, THREAD)
    ev = b.event(3, THREAD, TrackEvent.TYPE_SLICE_BEGIN, "FEE")
    ev.name_iid = later
    b.end(4, THREAD)
    b.metadata(META)
    assert carrier.name_iid != later
    events = read_pftrace(b.write(tmp_path / "t.pftrace"))["traceEvents"][3:]
    assert [e["name"] for e in events] == ["carrier", "used later"]


def test_no_file_info_means_no_key(tmp_path):
    b = Builder()
    b.metadata(META)
    report = read_pftrace(b.write(tmp_path / "t.pftrace"))
    assert report == {"traceEvents": name_events(), "viztracer_metadata": META}


def test_perfettos_own_messages_read_the_same_bytes(tmp_path):
    perfetto = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
    b = Builder()
    b.begin(1, THREAD, "f", {"x": [1, None]})
    b.end(2, THREAD)
    b.metadata(META)
    theirs = perfetto.Trace.FromString(b.trace.SerializeToString())
    assert [p.track_event.type for p in theirs.packet if p.HasField("track_event")] == [1, 2]
    assert theirs.packet[-1].chrome_events.metadata[0].name == "viztracer_metadata"


# -- bad input: always a ReportError with one line naming the file ------------------------------

def valid_bytes(tmp_path) -> bytes:
    b = Builder()
    for i in range(20):
        b.begin(10 * i, THREAD, f"f{i}", {"i": i})
        b.end(10 * i + 5, THREAD)
    b.metadata(META, FILE_INFO)
    return b.trace.SerializeToString()


def assert_report_error(path, *words):
    with pytest.raises(ReportError) as info:
        read_pftrace(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    for word in words:
        assert word in message
    return message


def test_missing_file(tmp_path):
    assert_report_error(tmp_path / "nope.pftrace", "No such file")


def test_directory(tmp_path):
    assert_report_error(tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pftrace"
    path.write_bytes(b"")
    assert_report_error(path, "empty")


def test_cut_in_the_middle_is_read_up_to_the_cut(tmp_path, capsys):
    """A file cut short (a writer killed) is no error: the whole packets before the cut are
    read, and a call whose END was lost is a B event (tests/test_cut_reports.py has more)."""
    data = valid_bytes(tmp_path)
    path = tmp_path / "cut.pftrace"
    path.write_bytes(data[: len(data) // 2])
    report = read_pftrace(path)
    assert report["viztracer_metadata"] == {"cut_short": True}
    calls = [e for e in report["traceEvents"] if e["ph"] in ("X", "B")]
    assert 0 < len(calls) < 20
    assert [e["name"] for e in calls] == [f"f{i}" for i in range(len(calls))]
    assert capsys.readouterr().err.count("was cut short") == 1


def test_cut_before_the_metadata_packet(tmp_path, capsys):
    trace = Trace.FromString(valid_bytes(tmp_path))
    del trace.packet[-1]
    path = tmp_path / "cut.pftrace"
    path.write_bytes(trace.SerializeToString())
    report = read_pftrace(path)
    assert report["viztracer_metadata"] == {"cut_short": True} and "file_info" not in report
    assert len([e for e in report["traceEvents"] if e["ph"] == "X"]) == 20
    assert "was cut short" in capsys.readouterr().err


def test_a_foreign_file_without_metadata_is_still_an_error(tmp_path):
    trace = Trace.FromString(valid_bytes(tmp_path))
    del trace.packet[-1]
    trace.packet[0].sequence_flags = 0  # it no longer starts a sequence as ours do
    trace.packet[0].incremental_state_cleared = False
    path = tmp_path / "foreign.pftrace"
    path.write_bytes(trace.SerializeToString())
    assert_report_error(path, "no viztracer metadata")


def test_json_file_renamed(tmp_path):
    path = tmp_path / "trace.pftrace"
    path.write_text(json.dumps({"traceEvents": [{"ph": "X", "name": "f", "ts": 1, "dur": 2}]}))
    assert_report_error(path, "JSON")


def test_random_bytes(tmp_path):
    rnd = random.Random(7)
    path = tmp_path / "noise.pftrace"
    for size in (1, 7, 100, 5000):
        path.write_bytes(bytes(rnd.randrange(256) for _ in range(size)))
        assert_report_error(path)


def test_corrupted_files_never_raise_anything_else(tmp_path):
    data = valid_bytes(tmp_path)
    rnd = random.Random(11)
    path = tmp_path / "flipped.pftrace"
    for _ in range(300):
        corrupt = bytearray(data)
        for _ in range(rnd.randint(1, 4)):
            corrupt[rnd.randrange(len(corrupt))] = rnd.randrange(256)
        path.write_bytes(bytes(corrupt))
        try:
            read_pftrace(path)
        except ReportError as e:
            assert "\n" not in str(e)


def test_slice_end_without_begin(tmp_path):
    b = Builder()
    b.end(5, THREAD)
    b.metadata(META)
    assert_report_error(b.write(tmp_path / "t.pftrace"), "never begun")


def test_name_never_interned(tmp_path):
    b = Builder()
    ev = b.event(1, THREAD, TrackEvent.TYPE_SLICE_BEGIN, "FEE")
    ev.name_iid = 999
    b.metadata(META)
    assert_report_error(b.write(tmp_path / "t.pftrace"), "iid 999")


def test_event_on_an_undescribed_track(tmp_path):
    b = Builder()
    b.begin(1, 77, "f")
    b.metadata(META)
    assert_report_error(b.write(tmp_path / "t.pftrace"), "undefined track")


# -- what our writer writes reads back as what the JSON writer writes ---------------------------

def test_a_recording_saved_both_ways_reads_back_the_same(tmp_path):
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    tracer = VizTracer(verbose=0, log_func_args=True, log_func_retval=True)
    tracer.start()
    try:
        fib(6)
        with tracer.log_event("a duration event"):
            fib(2)
        tracer.add_instant("on the thread", {"n": 1, "l": [1, 2.5, None, True, "ü"]}, scope="t")
        tracer.add_instant("process-wide", scope="p")
        tracer.add_instant("global", {"d": {"deep": [1]}}, scope="g")
        tracer.add_counter("memory", {"rss": 10, "vms": 2.5})
        tracer.add_counter("memory", {"rss": 11})
        tracer.add_object("N", "0x1", "Car", {"speed": 3})
        tracer.add_object("D", "0x1", "Car")
        tracer.add_raw({"ph": "i", "name": "raw one", "pid": 1, "tid": 1, "ts": 5, "s": "g"})
        worker = threading.Thread(target=fib, args=(4,))
        worker.start()
        worker.join()
    finally:
        tracer.stop()
    tracer.save(str(tmp_path / "t.json"))
    tracer.save(str(tmp_path / "t.pftrace"))
    from_json = load_report(tmp_path / "t.json")
    from_pftrace = read_pftrace(tmp_path / "t.pftrace")
    assert gc.isenabled()

    assert {e["ph"] for e in from_json["traceEvents"]} == {"M", "X", "i", "C", "N", "D"}
    assert_same_events(from_pftrace, from_json)
    assert from_pftrace["viztracer_metadata"] == from_json["viztracer_metadata"]
    assert from_pftrace["file_info"] == from_json["file_info"]


def test_the_garbage_collector_is_back_on_after_an_error(tmp_path):
    path = tmp_path / "bad.pftrace"
    path.write_bytes(b"\x0a\x05")
    with pytest.raises(ReportError):
        read_pftrace(path)
    assert gc.isenabled()


@pytest.mark.parametrize("first_plain", [False, True])
def test_sequences_with_incremental_clocks_in_compressed_chunks(tmp_path, first_plain):
    """Two thread sequences, each with its own interned ids, default track and incremental
    clock (one offset from trace time), inside deflated chunks: what our writer relies on."""
    b = Builder()
    for seq_id, track, base, offset in ((2, THREAD, 1_000_000, 0), (3, THREAD2, 50, 2_000_000)):
        first = b.trace.packet.add(trusted_packet_sequence_id=seq_id, sequence_flags=1,
                                   first_packet_on_sequence=True)
        first.trace_packet_defaults.timestamp_clock_id = 64
        first.trace_packet_defaults.track_event_defaults.track_uuid = track
        first.clock_snapshot.clocks.add(clock_id=6, timestamp=base + offset)
        first.clock_snapshot.clocks.add(clock_id=64, timestamp=base, is_incremental=True)
        # iid 1 means a different name on each sequence
        begin = b.trace.packet.add(trusted_packet_sequence_id=seq_id, timestamp=10)
        begin.interned_data.event_names.add(iid=1, name=f"f{seq_id}")
        begin.track_event.type, begin.track_event.name_iid = TrackEvent.TYPE_SLICE_BEGIN, 1
        end = b.trace.packet.add(trusted_packet_sequence_id=seq_id, timestamp=500)
        end.track_event.type = TrackEvent.TYPE_SLICE_END
    b.metadata(META)
    inner = b.trace.SerializeToString()
    outer = Trace()
    half = len(b.trace.packet) // 2
    first_half = Trace(packet=b.trace.packet[:half]).SerializeToString()
    if first_plain:  # plain packets, then a deflated chunk: inflated where the walk meets it
        outer.MergeFromString(first_half)
    else:
        outer.packet.add().compressed_packets = zlib.compress(first_half)
    outer.packet.add().compressed_packets = zlib.compress(inner[len(first_half):])
    (tmp_path / "t.pftrace").write_bytes(outer.SerializeToString())
    report = read_pftrace(str(tmp_path / "t.pftrace"))
    assert report["traceEvents"] == name_events() + [
        X(1000.010, 0.5, "f2"),
        X(2000.060, 0.5, "f3", tid=TID2),
    ]


def test_a_chunk_that_does_not_inflate(tmp_path):
    outer = Trace()
    outer.packet.add().compressed_packets = zlib.compress(b"\x0a\x02\x50\x01")[:-3]
    (tmp_path / "t.pftrace").write_bytes(outer.SerializeToString())
    with pytest.raises(ReportError, match="does not inflate"):
        read_pftrace(str(tmp_path / "t.pftrace"))
