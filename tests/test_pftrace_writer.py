"""The Perfetto protobuf writer, checked with the `perfetto` package's own trace protos."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from conftest import calls, load_report

from viztracer import VizTracer, _tracer, get_tracer

pb2 = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
TE = pb2.TrackEvent
HERE = os.path.abspath(__file__)


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


FIB = f"fib ({HERE}:{fib.__code__.co_firstlineno})"


def read(path) -> pb2.Trace:
    with open(path, "rb") as f:
        return pb2.Trace.FromString(f.read())


def annotation_value(a):
    kind = a.WhichOneof("value")
    if a.dict_entries:
        return {e.name: annotation_value(e) for e in a.dict_entries}
    if a.array_values:
        return [annotation_value(v) for v in a.array_values]
    if kind == "legacy_json_value":
        return json.loads(a.legacy_json_value)
    return getattr(a, kind) if kind else None


class Decoded:
    """Walks a trace like a consumer would: interned state per sequence, slices per track."""

    def __init__(self, trace):
        self.names, self.cats, self.ann = {}, {}, {}
        self.tracks, self.slices, self.instants, self.counters = {}, [], [], []
        self.metadata, self.open = {}, []
        stacks: dict[int, list] = {}
        default_track = None
        for i, packet in enumerate(trace.packet):
            assert packet.trusted_packet_sequence_id == 1
            if i == 0:
                assert packet.sequence_flags & 1 and packet.first_packet_on_sequence
                default_track = packet.trace_packet_defaults.track_event_defaults.track_uuid
            if packet.HasField("interned_data"):
                for n in packet.interned_data.event_names:
                    self.names[n.iid] = n.name
                for c in packet.interned_data.event_categories:
                    self.cats[c.iid] = c.name
                for d in packet.interned_data.debug_annotation_names:
                    self.ann[d.iid] = d.name
            if packet.HasField("track_descriptor"):
                self.tracks[packet.track_descriptor.uuid] = packet.track_descriptor
            if packet.HasField("chrome_events"):
                for m in packet.chrome_events.metadata:
                    self.metadata[m.name] = json.loads(m.json_value)
            if not packet.HasField("track_event"):
                continue
            ev = packet.track_event
            if not ev.HasField("track_uuid"):
                ev.track_uuid = default_track
            assert ev.track_uuid in self.tracks, "track described before use"
            for iid in ev.category_iids:
                assert iid in self.cats, "category interned before use"
            args = {}
            for a in ev.debug_annotations:
                assert a.name_iid in self.ann, "annotation name interned before use"
                args[self.ann[a.name_iid]] = annotation_value(a)
            if ev.type in (TE.TYPE_SLICE_BEGIN, TE.TYPE_INSTANT):
                if ev.HasField("name_iid"):
                    assert ev.name_iid in self.names, "event name interned before use"
            ts = packet.timestamp
            if ev.type == TE.TYPE_SLICE_BEGIN:
                stacks.setdefault(ev.track_uuid, []).append((self.names[ev.name_iid], ts, args))
            elif ev.type == TE.TYPE_SLICE_END:
                name, start, args = stacks[ev.track_uuid].pop()
                assert ts >= start
                self.slices.append({"name": name, "ts": start, "dur": ts - start,
                                    "track": ev.track_uuid, "args": args})
            elif ev.type == TE.TYPE_INSTANT:
                name = self.names[ev.name_iid] if ev.HasField("name_iid") else ev.name
                self.instants.append({"name": name, "ts": ts, "track": ev.track_uuid, "args": args,
                                      "cat": self.cats[ev.category_iids[0]]})
            elif ev.type == TE.TYPE_COUNTER:
                value = ev.double_counter_value if ev.HasField("double_counter_value") else ev.counter_value
                self.counters.append((self.tracks[ev.track_uuid].name, ts, value))
        for stack in stacks.values():
            self.open.extend(name for name, _, _ in stack)

    def tid_of(self, track):
        return self.tracks[track].thread.tid


def trace_both(tmp_path, work, **options):
    options.setdefault("verbose", 0)
    tracer = VizTracer(**options)
    tracer.start()
    work()
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    tracer.save(str(tmp_path / "r.pftrace"))
    return load_report(tmp_path / "r.json"), Decoded(read(tmp_path / "r.pftrace"))


def test_fib_slices_match_the_json_report(tmp_path):
    def work():
        fib(10)
        t = threading.Thread(target=fib, args=(4,), name="worker")
        t.start()
        t.join()

    report, decoded = trace_both(tmp_path, work)
    assert [s["name"] for s in decoded.slices].count(FIB) == 177 + 9
    as_json = sorted((e["name"], round(e["ts"] * 1000), round(e["dur"] * 1000), e["tid"])
                     for e in calls(report))
    as_proto = sorted((s["name"], s["ts"], s["dur"], decoded.tid_of(s["track"])) for s in decoded.slices)
    assert len(as_json) == len(as_proto)
    for j, p in zip(as_json, as_proto, strict=True):
        assert j[0] == p[0] and j[3] == p[3]
        assert abs(j[1] - p[1]) <= 1 and abs(j[2] - p[2]) <= 1
    assert decoded.open == []
    threads = {t.thread.thread_name for t in decoded.tracks.values() if t.HasField("thread")}
    assert threads == {"MainThread", "worker"}
    process = [t for t in decoded.tracks.values() if t.HasField("process")]
    assert process[0].process.pid == os.getpid() and process[0].process.process_name == "MainProcess"


def test_args_and_return_values_are_debug_annotations(tmp_path):
    report, decoded = trace_both(tmp_path, lambda: fib(2), log_func_args=True, log_func_retval=True)
    fibs = sorted((s for s in decoded.slices if s["name"] == FIB), key=lambda s: s["ts"])
    assert [s["args"] for s in fibs] == [{"func_args": {"n": "2"}, "return_value": "1"},
                                         {"func_args": {"n": "1"}, "return_value": "1"},
                                         {"func_args": {"n": "0"}, "return_value": "0"}]


def test_custom_events(tmp_path):
    def work():
        tracer = get_tracer()
        tracer.add_instant("boom", {"why": "test", "n": [1, 2.5, None, True]}, scope="g")
        tracer.add_instant("mine", {"x": 1}, scope="t")
        tracer.add_counter("load", {"cpu": 3, "mem": 2.5})
        tracer.add_object("O", "obj1", "thing", {"x": 1})
        tracer.add_raw({"ph": "i", "name": "raw-one", "pid": 1, "tid": 1, "ts": 1, "s": "g"})
        with tracer.log_event("block"):
            fib(1)

    _, decoded = trace_both(tmp_path, work)
    by_name = {i["name"]: i for i in decoded.instants}
    assert by_name["boom"]["args"] == {"why": "test", "n": [1, 2.5, None, True]}
    assert decoded.tracks[by_name["boom"]["track"]].name == "Global"
    assert decoded.tracks[by_name["mine"]["track"]].HasField("thread")
    assert by_name["thing"]["cat"] == "object"
    assert by_name["thing"]["args"] == {"ph": "O", "id": "obj1", "snapshot": {"x": 1}}
    assert by_name["raw-one"]["args"]["event"]["name"] == "raw-one"
    assert sorted((n, v) for n, _, v in decoded.counters) == [("load cpu", 3), ("load mem", 2.5)]
    assert decoded.metadata["viztracer_counter_tracks"]
    (block,) = [s for s in decoded.slices if s["name"] == "block"]
    (inner,) = [s for s in decoded.slices if s["name"] == FIB]
    assert block["ts"] <= inner["ts"] and inner["ts"] + inner["dur"] <= block["ts"] + block["dur"]


def test_metadata_and_file_info(tmp_path):
    _, decoded = trace_both(tmp_path, lambda: fib(2))
    assert decoded.metadata["viztracer_metadata"]["overflow"] is False
    assert decoded.metadata["file_info"]["functions"][FIB] == [HERE, fib.__code__.co_firstlineno]
    assert HERE in decoded.metadata["file_info"]["files"]


def test_open_calls_are_unterminated_begins(tmp_path):
    tracer = VizTracer(verbose=0)

    def outer():
        fib(1)
        tracer.stop()

    tracer.start()
    outer()
    tracer.save(str(tmp_path / "r.pftrace"))
    decoded = Decoded(read(tmp_path / "r.pftrace"))
    expected = "test_open_calls_are_unterminated_begins.<locals>.outer"
    assert [n.split(" ")[0] for n in decoded.open] == [expected]
    assert [s["name"] for s in decoded.slices] == [FIB]


def test_tied_timestamps_nest_children_inside_parents(tmp_path):
    tracer = VizTracer(verbose=0)
    core = tracer._core
    base = _tracer.now_ticks()
    step = 10_000
    # parent and child share both ends; a zero-length call at the start; a sibling starts
    # exactly where the parent ends
    core.add_duration("parent", base, base + 2 * step)
    core.add_duration("child", base, base + 2 * step)
    core.add_duration("zero", base, base)
    core.add_duration("sibling", base + 2 * step, base + 3 * step)
    tracer.save(str(tmp_path / "r.pftrace"))
    trace = read(tmp_path / "r.pftrace")
    order = []
    names = {}
    for packet in trace.packet:
        for n in packet.interned_data.event_names:
            names[n.iid] = n.name
        ev = packet.track_event
        if packet.HasField("track_event") and ev.type == TE.TYPE_SLICE_BEGIN:
            order.append("B " + names[ev.name_iid])
        elif packet.HasField("track_event") and ev.type == TE.TYPE_SLICE_END:
            order.append("E")
    assert order == ["B parent", "B child", "B zero", "E", "E", "E", "B sibling", "E"]
    decoded = Decoded(trace)
    spans = {s["name"]: (s["ts"], s["dur"]) for s in decoded.slices}
    assert spans["parent"] == spans["child"] and spans["zero"][1] == 0


def test_several_times_smaller_than_json(tmp_path):
    tracer = VizTracer(verbose=0)
    tracer.start()
    fib(15)
    tracer.stop()
    for name in ("r.json", "r.pftrace"):
        tracer.save(str(tmp_path / name), file_info=False)
    assert os.path.getsize(tmp_path / "r.pftrace") * 3 < os.path.getsize(tmp_path / "r.json")


@pytest.mark.parametrize("ext", [".pftrace", ".perfetto-trace"])
def test_command_line_writes_pftrace(tmp_path, ext):
    script = tmp_path / "prog.py"
    script.write_text("def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nfib(10)\n")
    out = tmp_path / f"out{ext}"
    proc = subprocess.run([sys.executable, "-m", "viztracer", "-o", str(out), str(script)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    decoded = Decoded(read(out))
    assert [s["name"] for s in decoded.slices].count(f"fib ({script}:1)") == 177
