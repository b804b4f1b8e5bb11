"""A report of three processes, as the viewer gets it from a multi-process run: a parent with
threads and an asyncio task lane, a child cut short and a child whose data was lost.

The pids are chosen so that sorting by pid, or by first use in the file, gives another order
than the one the viewer must show (parent first, by first event); within the parent, the
tids sort otherwise than their first events do. ``three_process_pftrace`` writes the same
report as a ``.pftrace`` whose process descriptors carry the labels (ProcessDescriptor field 8).
"""
from __future__ import annotations

from pathlib import Path

PARENT, CUT, LOST = 300, 120, 250
MAIN_TID, WORKER_TID, TASK_TID = 300, 305, 99999    # a task lane is a thread with a synthetic tid
CHILD_TID2 = 121

# The order the viewer must show: processes, then each process's lanes as (pid, lane label).
PROCESS_ORDER = [PARENT, CUT, LOST]
LANE_ORDER = [(PARENT, "MainThread (300)"), (PARENT, "Task-1 main() (99999)"), (PARENT, "worker (305)"),
              (CUT, "MainThread (120)"), (CUT, f"Thread {CHILD_TID2}")]


def x(name: str, ts: float, dur: float, pid: int, tid: int) -> dict:
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": pid, "tid": tid}


def meta(what: str, pid: int, tid: int, **args) -> dict:
    return {"ph": "M", "name": what, "pid": pid, "tid": tid, "args": args}


def three_process_report(labels: bool = True) -> dict:
    """Parent 300 (from 1000 us; its worker thread, tid 305, starts after the task lane, tid
    99999), child 120 cut short (from 1200 us; its second thread has no name), child 250 lost
    (only its M events). The worker's events come first in the file."""
    events = [
        x("work", 1300, 200, PARENT, WORKER_TID), x("inner", 1320, 50, PARENT, WORKER_TID),
        meta("process_name", LOST, LOST, name="Child-2"),
        x("child_main", 1200, 300, CUT, CUT), x("child_thread", 1250, 100, CUT, CHILD_TID2),
        meta("process_name", CUT, CUT, name="Child-1"),
        x("main", 1000, 1000, PARENT, MAIN_TID), x("step", 1050, 300, PARENT, MAIN_TID),
        x("coro", 1100, 400, PARENT, TASK_TID),
        meta("process_name", PARENT, PARENT, name="MainProcess"),
        meta("thread_name", PARENT, MAIN_TID, name="MainThread"),
        meta("thread_name", PARENT, WORKER_TID, name="worker"),
        meta("thread_name", PARENT, TASK_TID, name="Task-1 main()"),
        meta("thread_name", CUT, CUT, name="MainThread"),
        {"ph": "i", "name": "child mark", "ts": 1400, "pid": CUT, "tid": CUT, "s": "p"},
    ]
    if labels:
        events += [meta("process_labels", LOST, LOST, labels="lost"),
                   meta("process_labels", CUT, CUT, labels="cut short")]
    return {"traceEvents": events, "viztracer_metadata": {"overflow": False}}


def three_process_pftrace(path: Path, labels: dict[int, list[str]] | None = None) -> Path:
    """The report written by our own Perfetto writer, then each process descriptor given its
    labels (``{pid: [label, ...]}``, by default cut short and lost) with Perfetto's own
    message classes, as a writer that knows about labels would write them."""
    from perfetto.protos.perfetto.trace import perfetto_trace_pb2

    from viztracer.report import perfetto

    if labels is None:
        labels = {CUT: ["cut short"], LOST: ["lost"]}
    plain = path.with_suffix(".plain.pftrace")
    perfetto.write_from_report(three_process_report(labels=False), str(plain), compress=False)
    trace = perfetto_trace_pb2.Trace.FromString(plain.read_bytes())
    plain.unlink()
    described = set()
    for packet in trace.packet:
        d = packet.track_descriptor
        if packet.HasField("track_descriptor") and d.HasField("process"):
            d.process.process_labels.extend(labels.get(d.process.pid, []))
            described.add(d.process.pid)
    assert described >= set(labels), f"the writer described processes {described}"
    path.write_bytes(trace.SerializeToString())
    return path
