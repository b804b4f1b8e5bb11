"""Processes in the viewer's columns: their order (sort index, else parent first by first
event), their labels ("cut short", "lost"), a lost process with no events still listed, and
the lanes of each process in order (sort index, else main thread first, then by first event).
The same from a JSON report, a .pftrace (labels in ProcessDescriptor.process_labels), the
compiled scanners and the dict path."""
from __future__ import annotations

import json

import pytest
from conftest_process_reports import (
    CUT,
    LANE_ORDER,
    LOST,
    PARENT,
    PROCESS_ORDER,
    TASK_TID,
    WORKER_TID,
    meta,
    three_process_pftrace,
    three_process_report,
    x,
)

from viztracer.report.loader import load_report
from viztracer.report.pftrace_reader import read_pftrace
from viztracer.viewer import columns
from viztracer.viewer.columns import read_blob, report_blob


def decode(report: dict) -> dict:
    return read_blob(report_blob(report))[0]


def lanes(m: dict) -> list[tuple]:
    """Each lane in track_order as (pid, the label the page gives it)."""
    out = []
    for k in m["track_order"]:
        t = m["tracks"][k]
        label = t["name"] if t["name"] == f"Thread {t['tid']}" else f"{t['name']} ({t['tid']})"
        out.append((t["pid"], label))
    return out


def check_three(m: dict) -> None:
    procs = {p["pid"]: p for p in m["processes"]}
    assert [p["pid"] for p in m["processes"]] == PROCESS_ORDER
    assert [p["name"] for p in m["processes"]] == ["MainProcess", "Child-1", "Child-2"]
    assert procs[PARENT]["labels"] == [] and procs[PARENT]["first"] == 0
    assert procs[CUT]["labels"] == ["cut short"] and procs[CUT]["first"] == 200_000
    assert procs[LOST]["labels"] == ["lost"] and procs[LOST]["first"] is None
    assert lanes(m) == LANE_ORDER


def test_json_processes_parent_first_with_labels(tmp_path):
    report = three_process_report()
    check_three(decode(report))
    path = tmp_path / "three.json"
    path.write_text(json.dumps(report))
    fast = columns._json_blob(str(path), "json")
    assert fast is not None, "the compiled JSON scanner read it"
    assert fast == report_blob(load_report(str(path)))
    check_three(read_blob(fast)[0])


def test_pftrace_processes_parent_first_with_labels(tmp_path):
    path = three_process_pftrace(tmp_path / "three.pftrace")
    report = read_pftrace(str(path))
    found = {e["pid"]: e["args"]["labels"] for e in report["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_labels"}
    assert found == {CUT: "cut short", LOST: "lost"}
    fast = columns._pftrace_blob(str(path))
    assert fast is not None, "the compiled reader read it"
    assert fast == report_blob(load_report(str(path)))
    check_three(read_blob(fast)[0])


def test_pftrace_keeps_every_label_of_a_process(tmp_path):
    path = three_process_pftrace(tmp_path / "labels.pftrace",
                                 labels={CUT: ["cut short", "gpu worker"], PARENT: ["parent"]})
    m = read_blob(columns._pftrace_blob(str(path)))[0]
    procs = {p["pid"]: p["labels"] for p in m["processes"]}
    assert procs == {PARENT: ["parent"], CUT: ["cut short", "gpu worker"], LOST: []}
    # without labels, the lost child is still listed (it has a name), after those with events
    assert [p["pid"] for p in m["processes"]] == PROCESS_ORDER


def test_without_labels_nothing_is_marked():
    m = decode(three_process_report(labels=False))
    assert [p["pid"] for p in m["processes"]] == PROCESS_ORDER
    assert all(p["labels"] == [] for p in m["processes"])


def test_a_lost_process_known_only_by_its_label_is_listed():
    report = {"traceEvents": [x("a", 5, 1, 1, 1), meta("process_labels", 9, 9, labels="lost")]}
    m = decode(report)
    assert [(p["pid"], p["name"], p["labels"], p["first"]) for p in m["processes"]] == [
        (1, "Process 1", [], 0), (9, "Process 9", ["lost"], None)]
    assert [t["pid"] for t in m["tracks"]] == [1]


def test_process_sort_index_comes_before_time():
    report = three_process_report()
    report["traceEvents"] += [meta("process_sort_index", LOST, LOST, sort_index=-1),
                              meta("process_sort_index", PARENT, PARENT, sort_index=5),
                              meta("process_sort_index", CUT, CUT, sort_index="x")]  # not a number
    m = decode(report)
    # lost (-1), then cut short (no index: 0), then the parent (5)
    assert [p["pid"] for p in m["processes"]] == [LOST, CUT, PARENT]
    assert [p["sort_index"] for p in m["processes"]] == [-1, None, 5]
    assert [pid for pid, _ in lanes(m)] == [CUT, CUT, PARENT, PARENT, PARENT]


def test_thread_sort_index_comes_before_main_thread_and_time():
    report = three_process_report()
    report["traceEvents"] += [meta("thread_sort_index", PARENT, WORKER_TID, sort_index=-2),
                              meta("thread_sort_index", PARENT, TASK_TID, sort_index=-1)]
    m = decode(report)
    assert lanes(m)[:3] == [(PARENT, "worker (305)"), (PARENT, "Task-1 main() (99999)"),
                            (PARENT, "MainThread (300)")]


@pytest.mark.parametrize("first", ["counter", "instant", "object"])
def test_a_process_starts_at_its_first_event_of_any_kind(first):
    """Child 2's slices start after child 1's, but an earlier counter, process instant or
    object puts it first; equal times fall back to the pid."""
    early = {
        "counter": {"ph": "C", "name": "mem", "ts": 10, "pid": 2, "tid": 2, "args": {"rss": 1}},
        "instant": {"ph": "i", "name": "go", "ts": 10, "pid": 2, "tid": 2, "s": "p"},
        "object": {"ph": "N", "name": "Obj", "id": "0x1", "ts": 10, "pid": 2, "tid": 2},
    }[first]
    events = [x("late", 50, 1, 2, 2), x("one", 20, 1, 1, 1), early]
    assert [p["pid"] for p in decode({"traceEvents": events})["processes"]] == [2, 1]
    if first == "object":   # listed apart from the timeline: an object alone makes no process
        assert [p["pid"] for p in decode({"traceEvents": events[1:]})["processes"]] == [1]
    tie = [x("a", 20, 1, 7, 7), x("b", 20, 1, 3, 3)]
    assert [p["pid"] for p in decode({"traceEvents": tie})["processes"]] == [3, 7]


def test_a_thread_starts_at_its_first_slice_or_instant():
    events = [x("late", 50, 5, 1, 4), x("deep", 52, 1, 1, 4), x("mid", 30, 1, 1, 3),
              {"ph": "i", "name": "early", "ts": 20, "pid": 1, "tid": 5, "s": "t"},
              x("main", 40, 1, 1, 1)]
    m = decode({"traceEvents": events})
    assert [m["tracks"][k]["tid"] for k in m["track_order"]] == [1, 5, 3, 4]
