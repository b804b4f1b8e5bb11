"""The Perfetto protobuf writer, checked with the `perfetto` package's own trace protos."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import zlib

import pytest
from conftest import calls, load_report

from viztracer import VizTracer, _tracer, get_tracer
from viztracer.report import perfetto
from viztracer.report.pftrace_reader import read_pftrace

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


def packets(trace):
    """Every packet of a trace, deflated chunks (``compressed_packets``) expanded in place."""
    for packet in trace.packet:
        if packet.HasField("compressed_packets"):
            yield from packets(pb2.Trace.FromString(zlib.decompress(packet.compressed_packets)))
        else:
            yield packet


class Sequence:
    """What a consumer keeps per packet sequence."""

    def __init__(self):
        self.names, self.cats, self.ann = {}, {}, {}
        self.default_track = None
        self.clock = None       # the reading of the sequence's incremental clock, once set
        self.offset = 0


class Decoded:
    """Walks a trace like a consumer would: state per sequence, clocks, slices per track."""

    def __init__(self, trace):
        self.tracks, self.slices, self.instants, self.counters = {}, [], [], []
        self.metadata, self.open, self.sequences = {}, [], {}
        stacks: dict[int, list] = {}
        for packet in packets(trace):
            seq_id = packet.trusted_packet_sequence_id
            assert seq_id, "every packet belongs to a sequence"
            if seq_id not in self.sequences:
                assert packet.sequence_flags & 1 and packet.first_packet_on_sequence, \
                    "a sequence's first packet clears its incremental state"
                self.sequences[seq_id] = Sequence()
            seq = self.sequences[seq_id]
            if packet.HasField("trace_packet_defaults"):
                defaults = packet.trace_packet_defaults
                seq.default_track = defaults.track_event_defaults.track_uuid
                assert defaults.timestamp_clock_id in (0, 64)
            if packet.HasField("clock_snapshot"):
                clocks = {c.clock_id: c for c in packet.clock_snapshot.clocks}
                assert clocks[64].is_incremental and 6 in clocks
                seq.clock = clocks[64].timestamp
                seq.offset = clocks[6].timestamp - clocks[64].timestamp
            if packet.HasField("interned_data"):
                for n in packet.interned_data.event_names:
                    seq.names[n.iid] = n.name
                for c in packet.interned_data.event_categories:
                    seq.cats[c.iid] = c.name
                for d in packet.interned_data.debug_annotation_names:
                    seq.ann[d.iid] = d.name
            if packet.HasField("track_descriptor"):
                self.tracks[packet.track_descriptor.uuid] = packet.track_descriptor
            if packet.HasField("chrome_events"):
                for m in packet.chrome_events.metadata:
                    self.metadata[m.name] = json.loads(m.json_value)
            if not packet.HasField("track_event"):
                continue
            assert packet.HasField("timestamp")
            if seq.clock is not None:
                seq.clock += packet.timestamp
                ts = seq.clock + seq.offset
            else:
                ts = packet.timestamp
            ev = packet.track_event
            if not ev.HasField("track_uuid"):
                ev.track_uuid = seq.default_track
            assert ev.track_uuid in self.tracks, "track described before use"
            for iid in ev.category_iids:
                assert iid in seq.cats, "category interned on its sequence before use"
            args = {}
            for a in ev.debug_annotations:
                assert a.name_iid in seq.ann, "annotation name interned on its sequence before use"
                args[seq.ann[a.name_iid]] = annotation_value(a)
            if ev.type in (TE.TYPE_SLICE_BEGIN, TE.TYPE_INSTANT):
                if ev.HasField("name_iid"):
                    assert ev.name_iid in seq.names, "event name interned on its sequence before use"
            if ev.type == TE.TYPE_SLICE_BEGIN:
                stacks.setdefault(ev.track_uuid, []).append((seq.names[ev.name_iid], ts, args))
            elif ev.type == TE.TYPE_SLICE_END:
                name, start, args = stacks[ev.track_uuid].pop()
                assert ts >= start
                self.slices.append({"name": name, "ts": start, "dur": ts - start,
                                    "track": ev.track_uuid, "args": args})
            elif ev.type == TE.TYPE_INSTANT:
                name = seq.names[ev.name_iid] if ev.HasField("name_iid") else ev.name
                self.instants.append({"name": name, "ts": ts, "track": ev.track_uuid, "args": args,
                                      "cat": seq.cats[ev.category_iids[0]]})
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
    assert by_name["thing"]["args"] == {"ph": "O", "id": "obj1", "args": {"x": 1}}
    assert by_name["raw-one"]["args"]["event"]["name"] == "raw-one"
    assert sorted((n, v) for n, _, v in decoded.counters) == [("load cpu", 3), ("load mem", 2.5)]
    assert decoded.metadata["viztracer_counter_tracks"]
    (block,) = [s for s in decoded.slices if s["name"] == f"block ({__file__}:193)"]
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
    for packet in packets(trace):
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
    tracer.save(str(tmp_path / "r.json"), file_info=False)
    tracer.save(str(tmp_path / "r.pftrace"), file_info=False)
    perfetto.write(tracer.recording(), str(tmp_path / "plain.pftrace"), with_file_info=False,
                   compress=False)
    size = os.path.getsize(tmp_path / "r.json")
    assert os.path.getsize(tmp_path / "r.pftrace") * 8 < size
    assert os.path.getsize(tmp_path / "plain.pftrace") * 4 < size
    compressed, plain = Decoded(read(tmp_path / "r.pftrace")), Decoded(read(tmp_path / "plain.pftrace"))
    assert len(compressed.slices) == len(plain.slices) == 1973
    assert compressed.slices == plain.slices
    assert all(not p.HasField("compressed_packets") for p in read(tmp_path / "plain.pftrace").packet)


def test_each_thread_is_a_sequence_with_an_incremental_clock(tmp_path):
    def work():
        fib(6)
        threads = [threading.Thread(target=fib, args=(5,), name=f"w{i}") for i in range(2)]
        for t in threads:
            t.start()
            t.join()

    report, decoded = trace_both(tmp_path, work)
    # sequence 1 for tracks and other events, one more per thread that ran calls
    assert len(decoded.sequences) == 4
    slice_packets = [p for p in packets(read(tmp_path / "r.pftrace")) if p.HasField("track_event")]
    by_sequence = {}
    for p in slice_packets:
        by_sequence.setdefault(p.trusted_packet_sequence_id, []).append(p)
    assert len(by_sequence) == 3
    for seq_packets in by_sequence.values():
        # every event names its track through the sequence's defaults, and its time as the
        # delta from the previous one: small numbers, far below an absolute time
        assert not any(p.track_event.HasField("track_uuid") for p in seq_packets)
        assert max(p.timestamp for p in seq_packets[1:]) < 10**9
    fibs_per_thread = {}
    for s in decoded.slices:
        if s["name"] == FIB:
            tid = decoded.tid_of(s["track"])
            fibs_per_thread[tid] = fibs_per_thread.get(tid, 0) + 1
    assert sorted(fibs_per_thread.values()) == [15, 15, 25]


@pytest.mark.parametrize("args", [{}, [], [1, {}], {"a": []}, "text", 3, None, {"big": 1 << 70}])
def test_arguments_of_every_json_shape_come_back(tmp_path, args):
    tracer = VizTracer(verbose=0)
    tracer.start()
    tracer.add_instant("point", args=args)
    tracer.stop()
    tracer.save(str(tmp_path / "r.pftrace"))
    report = read_pftrace(str(tmp_path / "r.pftrace"))
    (point,) = [e for e in report["traceEvents"] if e.get("name") == "point"]
    assert point["args"] == args    # None too: "args": null, as in the JSON report


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
