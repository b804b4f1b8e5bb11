"""The report -> columns conversion the viewer page draws (viztracer/viewer/columns.py)."""
from __future__ import annotations

import json

import pytest

from viztracer import VizTracer
from viztracer.report import ReportError
from viztracer.viewer.columns import read_blob, report_blob, trace_blob

CALLS = 5


def g(x):
    return x + 1


def f():
    return g(1)


def run_known():
    for _ in range(CALLS):
        f()


def slices(meta, cols):
    """Every slice as a dict, in blob order."""
    out = []
    for i in range(meta["slice_count"]):
        out.append({"name": meta["names"][cols["name"][i]], "start": cols["start"][i], "dur": cols["dur"][i],
                    "track": cols["track"][i], "depth": cols["depth"][i], "parent": cols["parent"][i],
                    "args": cols["args"][i]})
    return out


def args_of(cols, k):
    return json.loads(bytes(cols["args_json"]))[k]


def decode(report):
    return read_blob(report_blob(report))


def x(name, ts, dur, tid=1, pid=1, **extra):
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": pid, "tid": tid, "cat": "FEE", **extra}


def test_traced_program_gives_its_calls_nested(trace):
    report = trace(run_known, log_func_args=True, log_func_retval=True)
    meta, cols = decode(report)
    s = slices(meta, cols)
    fs = [e for e in s if e["name"].startswith("f (")]
    gs = [e for e in s if e["name"].startswith("g (")]
    assert len(fs) == CALLS and len(gs) == CALLS
    assert {e["depth"] for e in gs} == {fs[0]["depth"] + 1}
    for e in gs:
        parent = s[e["parent"]]
        assert parent["name"] == fs[0]["name"]
        assert parent["start"] <= e["start"] and e["start"] + e["dur"] <= parent["start"] + parent["dur"] + 1
        assert args_of(cols, e["args"]) == {"func_args": {"x": "1"}, "return_value": "2"}
    assert [t["name"] for t in meta["tracks"]] == ["MainThread"]
    assert meta["processes"][0]["name"] == "MainProcess"
    source, lines = meta["file_info"]["files"][__file__]
    assert "def run_known" in source and lines == source.count("\n")
    assert meta["file_info"]["functions"][fs[0]["name"]] == [__file__, f.__code__.co_firstlineno]


def test_times_are_nanoseconds_after_the_first_timestamp():
    meta, cols = decode({"traceEvents": [x("a", 1000.5, 2.001), x("b", 1001.0, 0.5), x("c", 1010.25, 1)]})
    s = {e["name"]: e for e in slices(meta, cols)}
    assert meta["t0_us"] == 1000.5
    assert (s["a"]["start"], s["a"]["dur"]) == (0, 2001)
    assert (s["b"]["start"], s["b"]["dur"]) == (500, 500)
    assert s["c"]["start"] == 9750
    assert meta["end"] == 10750


def test_depth_from_nesting_whatever_the_event_order():
    # Children before parents (the order the tracer writes), equal starts, and a child whose
    # end was rounded 1 ns past its parent's.
    events = [x("leaf", 12, 1), x("child", 11, 4.001), x("parent", 10, 5), x("same_start", 10, 1),
              x("next", 15, 1), x("other_thread", 10, 100, tid=2)]
    meta, cols = decode({"traceEvents": events})
    s = {e["name"]: e for e in slices(meta, cols)}
    assert {n: e["depth"] for n, e in s.items()} == {
        "parent": 0, "same_start": 1, "child": 1, "leaf": 2, "next": 0, "other_thread": 0}
    names = meta["names"]
    assert names[cols["name"][s["leaf"]["parent"]]] == "child"
    assert s["parent"]["parent"] == -1
    assert s["other_thread"]["track"] != s["parent"]["track"]


def test_rows_are_start_sorted_runs_covering_every_slice():
    events = [x(f"n{i % 7}", (i * 37) % 1000, 0.5, tid=i % 3) for i in range(300)]
    meta, cols = decode({"traceEvents": events})
    rows = meta["rows"]
    covered = 0
    for k in range(0, len(rows), 4):
        track, depth, first, count = rows[k:k + 4]
        starts = list(cols["start"][first:first + count])
        assert starts == sorted(starts)
        assert set(cols["track"][first:first + count]) == {track}
        assert set(cols["depth"][first:first + count]) == {depth}
        assert first == covered  # rows are contiguous and in order
        covered += count
    assert covered == meta["slice_count"] == 300


def test_begin_end_pairs_match_per_thread_and_open_ones_run_to_the_end():
    events = [
        {"ph": "B", "name": "outer", "ts": 0, "pid": 1, "tid": 1, "args": {"a": 1}},
        {"ph": "B", "name": "other", "ts": 1, "pid": 1, "tid": 2},
        {"ph": "B", "name": "inner", "ts": 2, "pid": 1, "tid": 1},
        {"ph": "E", "ts": 3, "pid": 1, "tid": 2},
        {"ph": "E", "ts": 4, "pid": 1, "tid": 1},
        {"ph": "E", "ts": 9, "pid": 1, "tid": 1, "args": {"b": 2}},
        {"ph": "E", "ts": 9.5, "pid": 1, "tid": 3},  # an end with no begin is dropped
        {"ph": "B", "name": "never_ends", "ts": 5, "pid": 1, "tid": 2},
        x("last", 10, 2, tid=2),
    ]
    meta, cols = decode({"traceEvents": events})
    s = {e["name"]: e for e in slices(meta, cols)}
    assert set(s) == {"outer", "other", "inner", "never_ends", "last"}
    assert (s["outer"]["dur"], s["outer"]["depth"]) == (9000, 0)
    assert (s["inner"]["dur"], s["inner"]["depth"]) == (2000, 1)
    assert (s["other"]["dur"], s["other"]["track"]) == (2000, s["never_ends"]["track"])
    assert s["never_ends"]["dur"] == 12000 - 5000  # up to the trace's end, 12 us
    assert args_of(cols, s["outer"]["args"]) == {"a": 1, "b": 2}
    assert s["inner"]["args"] == -1
    assert meta["unfinished"] == 1


def test_track_and_process_names_come_from_metadata_events():
    events = [
        {"ph": "M", "name": "process_name", "pid": 7, "tid": 7, "args": {"name": "Worker"}},
        {"ph": "M", "name": "thread_name", "pid": 7, "tid": 8, "args": {"name": "io"}},
        {"ph": "M", "name": "thread_name", "pid": 7, "tid": 7, "args": {"name": "MainThread"}},
        x("a", 0, 1, pid=7, tid=8), x("b", 0, 1, pid=7, tid=7), x("c", 0, 1, pid=3, tid=9),
    ]
    meta, _ = decode({"traceEvents": events})
    ordered = [meta["tracks"][k] for k in meta["track_order"]]
    assert [(t["pid"], t["tid"], t["name"]) for t in ordered] == [
        (3, 9, "Thread 9"), (7, 7, "MainThread"), (7, 8, "io")]
    assert [(p["pid"], p["name"], p["labels"]) for p in meta["processes"]] == [
        (3, "Process 3", []), (7, "Worker", [])]


def test_counters_instants_objects():
    events = [
        x("a", 0, 10),
        {"ph": "C", "name": "mem", "ts": 1, "pid": 1, "tid": 1, "args": {"rss": 10, "heap": 4}},
        {"ph": "C", "name": "mem", "ts": 3, "pid": 1, "tid": 1, "args": {"rss": 12, "label": "x"}},
        {"ph": "C", "name": "mem", "ts": 2, "pid": 2, "tid": 5, "args": {"rss": 1}},
        {"ph": "i", "name": "tick", "ts": 5, "pid": 1, "tid": 1, "s": "g", "args": {"n": 1}},
        {"ph": "i", "name": "tick", "ts": 4, "pid": 1, "tid": 1, "s": "g"},
        {"ph": "N", "name": "Obj", "id": "0x1", "ts": 1, "pid": 1, "tid": 1},
        {"ph": "O", "name": "Obj", "id": "0x1", "ts": 2, "pid": 1, "tid": 1, "args": {"snapshot": {"v": 3}}},
        {"ph": "D", "name": "Obj", "id": "0x1", "ts": 6, "pid": 1, "tid": 1},
    ]
    meta, cols = decode({"traceEvents": events})
    counters = {(c["pid"], c["name"]): c for c in meta["counters"]}
    assert set(counters) == {(1, "mem"), (2, "mem")}
    series = {s["key"]: s for s in counters[(1, "mem")]["series"]}
    assert set(series) == {"rss", "heap"}  # "label" is not a number
    rss = series["rss"]
    assert list(cols["cnt_time"][rss["first"]:rss["first"] + rss["count"]]) == [1000, 3000]
    assert list(cols["cnt_value"][rss["first"]:rss["first"] + rss["count"]]) == [10, 12]
    assert (rss["min"], rss["max"]) == (10, 12)
    assert list(cols["inst_time"]) == [4000, 5000]
    assert [meta["names"][k] for k in cols["inst_name"]] == ["tick", "tick"]
    assert cols["inst_args"][0] == -1 and args_of(cols, cols["inst_args"][1]) == {"n": 1}
    (obj,) = meta["objects"]
    assert (obj["name"], obj["id"]) == ("Obj", "0x1")
    assert [(e["ph"], e["time"]) for e in obj["events"]] == [("N", 1000), ("O", 2000), ("D", 6000)]
    assert obj["events"][1]["args"] == {"snapshot": {"v": 3}}


def test_overflow_metadata_reaches_the_page(tmp_path):
    tracer = VizTracer(verbose=0, tracer_entries=20)
    tracer.start()
    for i in range(50):
        abs(i)
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    meta, _ = read_blob(trace_blob(str(tmp_path / "r.json")))
    assert meta["metadata"]["overflow"] is True
    assert meta["metadata"]["dropped_entries"] > 0


def test_arrays_are_aligned_for_typed_array_views():
    blob = report_blob({"traceEvents": [x("a", 0, 1), {"ph": "i", "name": "i", "ts": 0, "pid": 1, "tid": 1}]})
    meta, _ = read_blob(blob)
    assert meta["arrays"]
    for kind, offset, length in meta["arrays"].values():
        assert offset % 8 == 0
        assert offset + length * {"f64": 8, "i32": 4, "u8": 1}[kind] <= len(blob)


@pytest.mark.parametrize("ext", [".json", ".json.gz", ".pftrace"])
def test_trace_blob_reads_every_report_format(tmp_path, ext):
    tracer = VizTracer(verbose=0)
    tracer.start()
    run_known()
    tracer.stop()
    path = str(tmp_path / ("r" + ext))
    tracer.save(path)
    meta, cols = read_blob(trace_blob(path))
    names = [meta["names"][k] for k in cols["name"]]
    assert sum(n.startswith("g (") for n in names) == CALLS
    assert sum(n.startswith("f (") for n in names) == CALLS


def test_unreadable_report_is_a_report_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ReportError):
        trace_blob(str(bad))


def test_empty_report():
    meta, cols = decode({"traceEvents": []})
    assert meta["slice_count"] == 0 and meta["tracks"] == [] and len(cols["start"]) == 0


def test_events_with_odd_fields_are_skipped_not_fatal(tmp_path):
    events = [x("ok", 0, 5), x("string_ts", "soon", 1), x("no_dur", 1, None), {"ph": "X"}, "not an event",
              {"ph": "B", "ts": "x", "pid": 1, "tid": 1}, {"ph": "C", "name": "c", "ts": 2, "args": "oops"}]
    meta, cols = decode({"traceEvents": events})
    s = {e["name"]: e for e in slices(meta, cols)}
    assert set(s) == {"ok", "no_dur"} and s["no_dur"]["dur"] == 0
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"traceEvents": [x("a", 0, 1, pid=[1], tid=2)]}))
    with pytest.raises(ReportError, match="cannot read"):
        trace_blob(str(bad))


def test_non_finite_numbers_reach_the_page_as_json_it_can_parse():
    events = [x("a", 0, 5, args={"func_args": {"v": float("nan")}, "return_value": "NaN"}),
              {"ph": "C", "name": "c", "ts": 1, "pid": 1, "tid": 1, "args": {"k": float("inf"), "j": 2}},
              {"ph": "O", "name": "o", "id": 1, "ts": 1, "pid": 1, "tid": 1, "args": {"x": float("-inf")}}]
    blob = report_blob({"traceEvents": events})
    meta_len = int.from_bytes(blob[8:12], "little")
    strict = {"parse_constant": lambda c: pytest.fail(f"{c} in the JSON")}
    meta = json.loads(blob[16:16 + meta_len], **strict)
    assert meta["objects"][0]["events"][0]["args"] == {"x": "-inf"}
    assert [s["key"] for s in meta["counters"][0]["series"]] == ["j"]  # an infinite value is no point
    _, cols = read_blob(blob)
    args = json.loads(bytes(cols["args_json"]), **strict)
    assert args == [{"func_args": {"v": "nan"}, "return_value": "NaN"}]
