"""The .pftrace reader's two results agree: the columns it gives the viewer make exactly the blob
that the report it gives ``load_report`` makes."""
from __future__ import annotations

import threading
import zlib

import pytest
from conftest import assert_same_events

from viztracer import VizTracer, _pftrace_scan
from viztracer.report import perfetto
from viztracer.report.loader import load_report
from viztracer.report.perfetto_pb2 import Trace
from viztracer.report.pftrace_reader import read_pftrace
from viztracer.viewer import columns


def work(n):
    return n if n < 2 else work(n - 1) + work(n - 2)


def slow_path_blob(path):
    return columns.report_blob(load_report(str(path)))


def record(tmp_path, name, compress=True, json_too=False, **options):
    """A recording with every kind of event, saved as ``name`` (and as JSON next to it)."""
    tracer = VizTracer(verbose=0, **options)
    tracer.start()
    work(7)
    t = threading.Thread(target=work, args=(5,), name="helper")
    t.start()
    t.join()
    tracer.add_instant("mark", args={"k": [1, {}]}, scope="p")
    tracer.add_instant("everyone", scope="g")
    tracer.add_counter("load", {"a": 1, "b": 2.5})
    tracer.add_counter("load", {"a": 3})
    tracer.add_object("N", "0x1", "Obj", {"x": 1})
    tracer.add_object("D", "0x1", "Obj")
    tracer.add_raw({"ph": "i", "name": "raw", "pid": 1, "tid": 1, "ts": 5, "s": "g"})
    with tracer.log_event("custom"):
        work(3)

    def finish():   # still running when tracing stops: an open call
        tracer.stop()

    finish()
    path = tmp_path / name
    perfetto.write(tracer.recording(), str(path), compress=compress)
    if json_too:
        tracer.save(str(path.with_suffix(".json")))
    tracer.clear()
    return path


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("options", [{}, {"log_func_args": True, "log_func_retval": True}])
def test_same_blob_as_the_report(tmp_path, compress, options):
    path = record(tmp_path, "r.pftrace", compress, **options)
    fast = columns._pftrace_blob(str(path))
    assert fast is not None, "the reader read our own writer's file"
    assert fast == slow_path_blob(path)
    meta, cols = columns.read_blob(fast)
    names = [meta["names"][i] for i in cols["name"]]
    assert sum(n.startswith("work (") for n in names) == 41 + 15 + 5
    assert meta["unfinished"] == 1


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("options", [{}, {"log_func_args": True, "log_func_retval": True}])
def test_read_report_is_the_json_report(tmp_path, compress, options):
    path = record(tmp_path, "r.pftrace", compress, json_too=True, **options)
    report, whole = _pftrace_scan.read_report(path.read_bytes())
    assert whole
    assert report == read_pftrace(str(path))
    from_json = load_report(str(path.with_suffix(".json")))
    assert_same_events(report, from_json)
    assert report["viztracer_metadata"] == from_json["viztracer_metadata"]


def test_a_combined_report_of_two_processes(tmp_path):
    a = load_report(str(record(tmp_path, "a.pftrace")))
    b = load_report(str(record(tmp_path, "b.pftrace")))
    for e in b["traceEvents"]:
        if "pid" in e:
            e["pid"] += 1
    both = {"traceEvents": a["traceEvents"] + b["traceEvents"], "viztracer_metadata": {"version": "x"}}
    perfetto.write_from_report(both, str(tmp_path / "both.pftrace"))
    fast = columns._pftrace_blob(str(tmp_path / "both.pftrace"))
    assert fast is not None and fast == slow_path_blob(tmp_path / "both.pftrace")


def test_a_name_defined_after_its_first_use_is_found(tmp_path):
    path = record(tmp_path, "r.pftrace", compress=False)
    trace = Trace.FromString(path.read_bytes())
    # a name defined only in the last packet of its sequence: the reader searches the sequence
    for p in trace.packet:
        if p.HasField("track_event") and p.HasField("interned_data") and p.interned_data.event_names:
            moved = p.interned_data.event_names[0]
            p.interned_data.ClearField("event_names")
            trace.packet[-1].interned_data.event_names.add(iid=moved.iid, name=moved.name)
            trace.packet[-1].trusted_packet_sequence_id = p.trusted_packet_sequence_id
            break
    odd = tmp_path / "odd.pftrace"
    odd.write_bytes(trace.SerializeToString())
    assert read_pftrace(str(odd)) == read_pftrace(str(path))
    fast = columns._pftrace_blob(str(odd))
    assert fast is not None and fast == slow_path_blob(odd) == slow_path_blob(path)


@pytest.mark.parametrize("content", [b"", b"\x1f\x8b garbage", b"\x0a\x05\x08", b"{}"])
def test_broken_files_are_left_to_load_report(tmp_path, content):
    path = tmp_path / "bad.pftrace"
    path.write_bytes(content)
    assert columns._pftrace_blob(str(path)) is None


def test_a_chunk_that_does_not_inflate(tmp_path):
    outer = Trace()
    outer.packet.add().compressed_packets = zlib.compress(b"\x0a\x02\x50\x01")[:-3]
    path = tmp_path / "t.pftrace"
    path.write_bytes(outer.SerializeToString())
    assert columns._pftrace_blob(str(path)) is None
