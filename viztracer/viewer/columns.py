"""A report turned into the columns the viewer page draws, packed into one binary blob.

The page gets typed arrays it can view without copying, and a small JSON header with
everything that is not per-slice (names, tracks, counters, objects, metadata, sources).

Blob layout (all numbers little-endian)::

    0   8 bytes   magic b"VZTCOLS1"
    8   uint32    length of the meta JSON in bytes
    12  uint32    0 (reserved)
    16  meta JSON (UTF-8), padded with spaces to a multiple of 8
    ..  arrays, each starting at a multiple of 8; meta["arrays"][name] = [type, offset, length]
        with type "f64" (Float64Array), "i32" (Int32Array) or "u8" (Uint8Array)

Times are float64 nanoseconds after the trace's first timestamp (``meta["t0_us"]``, in the
report's microseconds), whole numbers, so 1 ns precision is kept for traces up to 104 days.

Slices (``X`` events, and ``B``/``E`` pairs matched per thread; a ``B`` without its ``E`` runs
to the end of the trace) are ordered by (track, depth, start); ``meta["rows"]`` is a flat list of
(track, depth, first, count), so a row is a contiguous, start-sorted run the page can
binary-search. Columns: ``start``, ``dur`` (f64), ``name`` (index into ``meta["names"]``),
``track`` (index into ``meta["tracks"]``), ``depth``, ``parent`` (slice position or -1),
``args`` (index into the args table or -1). The args table is one JSON array stored as bytes
(``args_json``, u8): the page parses it the first time it shows a slice's details.
Instants: ``inst_time``, ``inst_track``, ``inst_name``, ``inst_args``, ``inst_proc`` (index
into ``meta["processes"]``), ordered by the lane that shows them (by their scope: the global
lane, a process's lane, a thread's lane), then by time; ``meta["instant_lanes"]`` lists each
lane's run (see ``_instants``).
Counters: ``meta["counters"]`` lists one counter track per (pid, name), each with one series
per key; a series is the run ``first .. first+count`` of ``cnt_time`` / ``cnt_value``.
Processes: ``meta["processes"]``, in the order the page shows them (see ``_ProcessInfo``),
each ``{"pid", "name", "labels", "first", "sort_index"}``; ``meta["track_order"]`` lists the
tracks process by process, in the order of their lanes.
"""
from __future__ import annotations

import contextlib
import gc
import json
import math
import struct
from array import array
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .. import _columns, _nested_layout, _slice_columns

MAGIC = b"VZTCOLS1"
_TYPES = {"d": "f64", "i": "i32", "B": "u8"}


def trace_blob(path: str, progress: _slice_columns.Progress | None = None, out: Out | None = None) -> bytes:
    """The blob for the report in ``path`` (.json, .json.gz, .pftrace, .cvf); ReportError if
    unreadable. ``progress``, when given, follows the conversion for another thread: its
    ``phase`` ("reading", "scanning", "building"), and while scanning the events and bytes read.
    ``out``, when given, is asked once the blob's size is known for where to write it too
    (see ``Out``)."""
    from ..report import ReportError
    from ..report.loader import load_report, reading, report_kind
    progress = progress if progress is not None else _slice_columns.Progress()
    with _no_gc():
        with reading(path):
            kind = report_kind(path)
            if kind == "cvf":  # no scanner of its own: decoded into the report dict below
                blob = None
            else:
                progress.phase = "reading"
                blob = (_pftrace_blob(path, progress, out) if kind == "pftrace"
                        else _json_blob(path, kind, progress, out))
            if blob is not None:
                return blob
        progress.phase = "reading"  # the whole report at once: no events to count
        report = load_report(path)
        progress.phase = "building"
        try:
            return _blob(_handed(_columns.scan_events(_events_of(report))), report, out=out)
        except (TypeError, ValueError, AttributeError) as e:  # events of a shape no tool writes
            raise ReportError(f"{path!r} has events the viewer cannot read: {e}") from None


def _json_blob(path: str, kind: str, progress: _slice_columns.Progress | None = None,
               out: Out | None = None) -> bytes | None:
    """The blob of a JSON report by the compiled scanner (no dict per slice), or None when the
    text holds anything it does not read: then ``load_report`` parses it, or names the fault.
    A report cut short (the scan ran out of text) is repaired as ``load_report`` does it."""
    from .. import _json_scan
    from ..report import ReportError
    from ..report.loader import announce_cut_short, mark_cut_short, read_json_bytes, repair_cut_json
    try:
        data, gzip_cut = read_json_bytes(path, kind)
    except ReportError:
        return None
    cut_events = None  # the number of events read, for a report cut short
    if progress is not None:
        progress.phase = "scanning"
    try:
        try:
            scanned, rest = _json_scan.scan_json(data, progress)
            if gzip_cut:
                mark_cut_short(rest)
                cut_events = _event_count(scanned)
        except _json_scan.Truncated:
            repaired = repair_cut_json(data)
            if repaired is None:
                return None
            del data  # a cut report can be large: keep one copy of it
            scanned, rest = _json_scan.scan_json(repaired, progress)
            mark_cut_short(rest)
            cut_events = _event_count(scanned)
        if progress is not None:
            progress.phase = "building"
        handed = _handed(scanned)
        del scanned
        blob = _blob(handed, rest, out=out)
    except (_json_scan.Unsupported, TypeError, ValueError, AttributeError, KeyError):
        return None
    if cut_events is not None:
        announce_cut_short(path, cut_events)
    return blob


def _pftrace_blob(path: str, progress: _slice_columns.Progress | None = None,
                  out: Out | None = None) -> bytes | None:
    """The blob of a ``.pftrace`` by the compiled reader, with the calls in its columns (no
    dict per call), or None when the file is broken: then ``load_report`` names the fault. A
    file cut short is read up to the cut, as ``read_pftrace`` does it."""
    from .. import _pftrace_scan
    from ..report.loader import announce_cut_short, mark_cut_short
    with open(path, "rb") as f:
        data = f.read()
    if progress is not None:
        progress.phase = "scanning"
    try:
        scanned, metadata, whole = _pftrace_scan.scan_pftrace(data, progress)
        if not whole:
            mark_cut_short(metadata)
            events = _event_count(scanned)
        if progress is not None:
            progress.phase = "building"
        del data  # the file's bytes: no longer needed
        handed = _handed(scanned)
        del scanned
        blob = _blob(handed, metadata, out=out)
    except (_pftrace_scan.Malformed, TypeError, ValueError, AttributeError, KeyError, IndexError):
        return None
    if not whole:
        announce_cut_short(path, events)
    return blob


def _handed(scanned: tuple) -> list:
    """The scan's result as a list ``_blob`` empties once it has taken the columns out: with
    the caller's own reference to the scan's tuple dropped before the call (``del``), the
    scanned columns are freed as soon as they are laid out, before the blob is packed."""
    return list(scanned)


def _event_count(scanned: tuple) -> int:
    """How many events the report scanned had: the slices in the columns and the others
    (before ``_blob``, which adds the B/E pairs to the columns)."""
    return len(scanned[0]) + len(scanned[8])


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """The cycle collector off while millions of acyclic dicts are made and dropped.

    Loading a report allocates one dict per event; each allocation burst triggers collections
    that walk every dict made so far (5M events: 13 s to load with it, 5 s without).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _number(value: Any) -> float | None:
    """A finite JSON number as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class _Tracks:
    """Thread tracks by (pid, tid), numbered in order of first use."""

    def __init__(self, keys: list[tuple[Any, Any]]):
        self.keys = list(keys)
        self.ids = {k: i for i, k in enumerate(self.keys)}

    def id(self, pid: Any, tid: Any) -> int:
        key = (pid, tid)
        found = self.ids.get(key)
        if found is None:
            found = self.ids[key] = len(self.keys)
            self.keys.append(key)
        return found


def _sort_key(value: Any) -> tuple[int, Any]:
    return (0, value) if isinstance(value, (int, float)) else (1, str(value))


def report_blob(report: dict, title: str | None = None) -> bytes:
    """Encode an already-loaded report (the dict ``load_report`` returns) into the viewer blob."""
    return _blob(_handed(_columns.scan_events(_events_of(report))), report, title)


def _events_of(report: dict) -> list:
    events = report.get("traceEvents") or []
    return events if isinstance(events, list) else list(events)


def _blob(scanned: list, report: dict, title: str | None = None, out: Out | None = None) -> bytes:
    """The blob from ``scan_events``' result (``_handed``: emptied here) and the report's other
    keys (metadata, file_info); ``out`` as ``trace_blob`` has it."""
    (ts, dur, name, track, args, names, track_keys, arg_values, others, first, last, begun) = scanned
    scanned.clear()
    name_ids = {n: i for i, n in enumerate(names)}
    tracks = _Tracks(track_keys)

    def name_id(value: Any) -> int:
        value = value if isinstance(value, str) else str(value)
        found = name_ids.get(value)
        if found is None:
            found = name_ids[value] = len(names)
            names.append(value)
        return found

    def arg_id(value: Any) -> int:
        if value is None:
            return -1
        arg_values.append(value)
        return len(arg_values) - 1

    begins, instants, counters, objects = [], [], [], []
    procs = _ProcessInfo()
    thread_names: dict[tuple[Any, Any], str] = {}
    sort_index: dict[tuple[Any, Any], float] = {}
    for e in others:
        if not isinstance(e, dict):
            continue
        ph = e.get("ph")
        if ph == "M":
            what, margs = e.get("name"), e.get("args")
            margs = margs if isinstance(margs, dict) else {}
            if what == "thread_name":
                thread_names[(e.get("pid"), e.get("tid"))] = str(margs.get("name", ""))
            elif what == "thread_sort_index" and _number(margs.get("sort_index")) is not None:
                sort_index[(e.get("pid"), e.get("tid"))] = float(margs["sort_index"])
            else:
                procs.metadata(what, e.get("pid"), margs)
            continue
        t = _number(e.get("ts"))
        if t is None:
            continue
        first = t if first is None or t < first else first
        last = t if last is None or t > last else last
        if ph in ("B", "E"):
            begins.append(e)
        elif ph in ("i", "I"):
            instants.append(e)
        elif ph == "C":
            counters.append(e)
        elif ph in ("N", "O", "D"):
            objects.append(e)
    if first is None:
        first = last = 0.0

    # B/E pairs, per thread, in time order (stable: the file's order breaks ties).
    begins.sort(key=lambda e: e["ts"])
    open_by_thread: dict[tuple[Any, Any], list[dict]] = {}
    unfinished = 0
    for e in begins:
        stack = open_by_thread.setdefault((e.get("pid"), e.get("tid")), [])
        if e["ph"] == "B":
            stack.append(e)
            continue
        if not stack:
            continue
        b = stack.pop()
        bargs = b.get("args")
        if e.get("args"):
            bargs = {**(bargs or {}), **e["args"]}
        _append_slice(ts, dur, name, track, args, float(b["ts"]), float(e["ts"]) - float(b["ts"]),
                      name_id(b.get("name", "")), tracks.id(b.get("pid"), b.get("tid")), arg_id(bargs))
    for stack in open_by_thread.values():
        for b in stack:
            unfinished += 1
            _append_slice(ts, dur, name, track, args, float(b["ts"]), last - float(b["ts"]),
                          name_id(b.get("name", "")), tracks.id(b.get("pid"), b.get("tid")),
                          arg_id(b.get("args")))

    inst_cols, instant_lanes, instant_pids = _instants(instants, first, tracks, name_id, arg_id)

    counter_meta, cnt_time, cnt_value = _counters(counters, first)
    object_meta = _objects(objects, first)

    if begun is not None:  # calls the scanner placed at their begin, with their nesting
        unfinished += _columns.end_open(ts, dur, last)
    nesting, t0, scale = None, first, 1000.0
    if begun is not None and len(begun[0]) == len(ts):  # no B/E pair appended above
        # which turns ts and dur into whole ns after `first`, for layout_slices too
        nesting = _nested_layout.nest(ts, dur, name, track, args, *begun, len(tracks.keys), first)
        t0, scale = 0.0, 1.0
    if nesting is not None:
        # laid out by _pack, straight into the blob: here only the room they take
        n = nesting.count
        start_ns, dur_ns = _Hole("d", n), _Hole("d", n)
        name, track, depth, parent, args = (_Hole("i", n) for _ in range(5))
        rows, slice_first = nesting.rows, nesting.first_start
    else:
        order, start_ns, dur_ns, depth, parent, rows = _columns.layout_slices(
            ts, dur, track, len(tracks.keys), t0, scale)
        name, track, args = (_columns.take(c, order) for c in (name, track, args))
        slice_first = _row_starts(len(tracks.keys), rows, start_ns)
    del ts, dur, begun
    columns = {
        "start": start_ns, "dur": dur_ns, "name": name, "track": track,
        "depth": depth, "parent": parent, "args": args,
        **inst_cols, "cnt_time": cnt_time, "cnt_value": cnt_value,
        "args_json": array("B", _json(arg_values)),
    }

    track_meta = []
    for pid, tid in tracks.keys:
        label = thread_names.get((pid, tid))
        track_meta.append({"pid": pid, "tid": tid, "name": label if label is not None else f"Thread {tid}"})
    # When each track and process begins (ns after `first`), which orders them.
    track_first = _track_starts(slice_first, instant_lanes, columns["inst_time"])
    for k, (pid, _tid) in enumerate(tracks.keys):
        procs.saw(pid, track_first[k])
    for lane in instant_lanes:
        if lane["scope"] == "p":
            procs.saw(lane["pid"], columns["inst_time"][lane["first"]])
    for c in counter_meta:
        procs.saw(c["pid"], min((cnt_time[s["first"]] for s in c["series"]), default=None))
    for o in object_meta:   # objects are listed apart, so they make no process of their own
        if o["pid"] in procs.first:
            procs.saw(o["pid"], o["events"][0]["time"])
    for pid in instant_pids:
        procs.saw(pid, None)
    processes = procs.ordered()
    process_index = {p["pid"]: k for k, p in enumerate(processes)}
    columns["inst_proc"] = array("i", [process_index[pid] for pid in instant_pids])
    # Process by process; in a process by thread_sort_index, else its main thread (tid == pid)
    # first, then by the first event, the tid breaking ties (a lane without any event last).

    def track_key(i: int) -> tuple:
        pid, tid = tracks.keys[i]
        return (process_index[pid], sort_index.get((pid, tid), 0.0), tid != pid,
                _time_key(track_first[i]), _sort_key(tid))

    track_order = sorted(range(len(tracks.keys)), key=track_key)

    meta = {
        "version": 1,
        "title": title,
        "t0_us": first,
        "end": float(round((last - first) * 1000)),
        "slice_count": len(start_ns),
        "unfinished": unfinished,
        "names": names,
        "tracks": track_meta,
        "track_order": track_order,
        "processes": processes,
        "rows": list(rows),
        "instant_lanes": instant_lanes,
        "counters": counter_meta,
        "objects": object_meta,
        "metadata": report.get("viztracer_metadata") or {},
        "file_info": report.get("file_info") or {"files": {}, "functions": {}},
    }
    del start_ns, dur_ns, name, track, depth, parent, args, inst_cols, cnt_time, cnt_value
    return _pack(meta, columns, nesting, out)   # which empties ``columns``, freeing each once copied


def _time_key(t: float | None) -> float:
    return math.inf if t is None else t


class _ProcessInfo:
    """What the report says of each process: ``process_name``, ``process_sort_index`` and
    ``process_labels`` (M events), and the first time one of its events was seen.

    A process is listed when it has events or any of those M events: a child process whose
    data never arrived (labelled ``lost``) may have nothing else. ``ordered`` gives them by
    sort index when the report has one (lower first, 0 when not given, as for threads), then
    by their first event, so a parent, which starts before its children, comes before them;
    the pid breaks ties, and a process with no event at all comes after those with some.
    """

    def __init__(self) -> None:
        self.names: dict[Any, str] = {}
        self.sort_index: dict[Any, float] = {}
        self.labels: dict[Any, list[str]] = {}
        self.first: dict[Any, float | None] = {}

    def metadata(self, what: Any, pid: Any, margs: dict) -> None:
        if what == "process_name":
            self.names[pid] = str(margs.get("name", ""))
        elif what == "process_sort_index":
            if _number(margs.get("sort_index")) is not None:
                self.sort_index[pid] = float(margs["sort_index"])
        elif what == "process_labels":
            labels = margs.get("labels")
            found = labels.split(",") if isinstance(labels, str) else [
                str(v) for v in labels] if isinstance(labels, list) else []
            known = self.labels.setdefault(pid, [])
            known.extend(k for k in (v.strip() for v in found) if k and k not in known)
        else:
            return
        self.first.setdefault(pid, None)

    def saw(self, pid: Any, t: float | None) -> None:
        """An event of ``pid`` at ``t`` (ns), or only that it has events when ``t`` is None."""
        known = self.first.get(pid)
        if known is None or (t is not None and t < known):
            self.first[pid] = t if t is not None else known

    def ordered(self) -> list[dict]:
        pids = sorted(self.first, key=lambda pid: (
            self.sort_index.get(pid, 0.0), _time_key(self.first[pid]), _sort_key(pid)))
        out = []
        for pid in pids:
            name = self.names.get(pid)
            out.append({"pid": pid, "name": name if name else f"Process {pid}",
                        "labels": self.labels.get(pid, []), "first": self.first[pid],
                        "sort_index": self.sort_index.get(pid)})
        return out


def _row_starts(n: int, rows: Any, start_ns: array) -> list[float | None]:
    """The time of each track's first slice (ns), None when it has none.

    A track's earliest slice is the first of its depth-0 row (rows are start-sorted, and a
    child starts within its parent), so this costs the rows, not the slices."""
    first: list[float | None] = [None] * n
    for k in range(0, len(rows), 4):
        if rows[k + 1] == 0 and rows[k + 3]:
            first[rows[k]] = start_ns[rows[k + 2]]
    return first


def _track_starts(slice_first: list[float | None], instant_lanes: list[dict],
                  inst_time: array) -> list[float | None]:
    """The time of each track's first slice or thread instant (ns), None when it has neither,
    from ``slice_first`` (each track's first slice)."""
    first = list(slice_first)
    for lane in instant_lanes:
        if lane["scope"] == "t" and lane["count"]:
            t, known = inst_time[lane["first"]], first[lane["track"]]
            first[lane["track"]] = t if known is None or t < known else known
    return first


def _has_non_finite(text: str) -> bool:
    return "NaN" in text or "Infinity" in text


def _browser_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as strings: JSON.parse rejects them as numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _browser_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_browser_safe(v) for v in value]
    return value


def _json(value: Any) -> bytes:
    """Compact JSON the browser can parse (Python's json writes NaN, which JavaScript's does not read)."""
    text = json.dumps(value, separators=(",", ":"), default=repr)
    if _has_non_finite(text):  # rare; a string that merely mentions NaN only costs a second pass
        text = json.dumps(_browser_safe(value), separators=(",", ":"), default=repr)
    return text.encode()


def _append_slice(ts: array, dur: array, name: array, track: array, args: array,
                  t: float, d: float, n: int, tr: int, a: int) -> None:
    ts.append(t)
    dur.append(d)
    name.append(n)
    track.append(tr)
    args.append(a)


_SCOPES = {"g": 0, "p": 1}  # the lanes instants go to, in this order; any other scope is "t"


def _instants(events: list[dict], first: float, tracks: _Tracks, name_id: Any, arg_id: Any,
              ) -> tuple[dict[str, array], list[dict], list]:
    """The instant columns, grouped by the lane that shows them, then by time.

    A thread-scope instant (``"s": "t"``, or no scope, as in Chrome's format) goes on its
    thread's lane; a process-scope one (``"p"``) on its process's lane, a global one (``"g"``)
    on the one global lane. ``inst_track`` is the thread an instant was recorded on, or -1 for
    a process or global instant when that thread is not known: it has no lane, or its tid is
    the pid (a ``.pftrace`` puts those instants on the process's track, and reading it back
    gives them the pid as tid, so tid == pid can't be told from "no thread").

    Returns the columns, ``meta["instant_lanes"]`` (one ``{"scope", "pid", "track", "first",
    "count"}`` per lane: global first, then processes, then threads) and the pid of each
    instant in column order (for ``inst_proc``)."""
    rows = []
    for e in events:
        scope = e.get("s")
        if scope not in _SCOPES:
            scope = "t"
        rows.append((scope, e, round((float(e["ts"]) - first) * 1000)))
    recorded = []
    for scope, e, _t in rows:    # thread lanes first, so a p/g instant finds the track they make
        if scope == "t":
            recorded.append(tracks.id(e.get("pid"), e.get("tid")))
    it = iter(recorded)
    keyed = []
    for scope, e, t in rows:
        pid = e.get("pid")
        if scope == "t":
            track = next(it)
            lane = (2, 0, track)
        else:
            tid = e.get("tid")
            track = tracks.ids.get((pid, tid), -1) if tid != pid else -1
            lane = (_SCOPES[scope], _sort_key(pid) if scope == "p" else (0, 0), 0)
        keyed.append((lane, t, track, scope, pid, e))
    keyed.sort(key=lambda r: (r[0], r[1]))
    lanes: list[dict] = []
    last = None
    for k, (lane, _t, track, scope, pid, _e) in enumerate(keyed):
        if lane != last:
            last = lane
            lanes.append({"scope": scope, "pid": pid if scope != "g" else None,
                          "track": track if scope == "t" else -1, "first": k, "count": 0})
        lanes[-1]["count"] += 1
    cols = {
        "inst_track": array("i", [r[2] for r in keyed]),
        "inst_time": array("d", [float(r[1]) for r in keyed]),
        "inst_name": array("i", [name_id(r[5].get("name", "")) for r in keyed]),
        "inst_args": array("i", [arg_id(r[5].get("args")) for r in keyed]),
    }
    return cols, lanes, [r[4] for r in keyed]


def _counter_value(value: Any) -> float | None:
    """A counter sample's value: a finite number, or a bool as 1 or 0 (``log_var`` of a bool
    writes ``{"value": true}``; a ``.pftrace`` stores it as the integer)."""
    if isinstance(value, bool):
        return float(value)
    return _number(value)


def _counters(events: list[dict], first: float) -> tuple[list[dict], array, array]:
    """One counter track per (pid, name), a series per key; numeric values (and bools) only."""
    tracks: dict[tuple[Any, str], dict[str, list[tuple[float, float]]]] = {}
    for e in events:
        values = e.get("args")
        if not isinstance(values, dict):
            continue
        series = tracks.setdefault((e.get("pid"), str(e.get("name", ""))), {})
        t = float(round((float(e["ts"]) - first) * 1000))
        for key, value in values.items():
            v = _counter_value(value)
            if v is not None:
                series.setdefault(str(key), []).append((t, v))
    meta, times, values_out = [], array("d"), array("d")
    for (pid, cname), series in tracks.items():
        entry = {"pid": pid, "name": cname, "series": []}
        for key, points in series.items():
            points.sort(key=lambda p: p[0])
            entry["series"].append({"key": key, "first": len(times), "count": len(points),
                                    "min": min(p[1] for p in points), "max": max(p[1] for p in points)})
            times.extend(p[0] for p in points)
            values_out.extend(p[1] for p in points)
        meta.append(entry)
    return meta, times, values_out


def _objects(events: list[dict], first: float) -> list[dict]:
    """Object lifetimes by (pid, id, name): each with its N/O/D events in time order."""
    found: dict[tuple[Any, Any, str], dict] = {}
    for e in sorted(events, key=lambda e: e["ts"]):
        key = (e.get("pid"), e.get("id"), str(e.get("name", "")))
        obj = found.setdefault(key, {"pid": key[0], "tid": e.get("tid"), "id": key[1], "name": key[2],
                                     "events": []})
        obj["events"].append({"ph": e["ph"], "time": float(round((float(e["ts"]) - first) * 1000)),
                              "args": e.get("args")})
    return list(found.values())


class _Hole:
    """A slice column not laid out yet: the room for ``length`` values of ``typecode``, which
    ``_pack`` leaves in the blob and the ``Nesting`` fills."""
    __slots__ = ("typecode", "itemsize", "length")

    def __init__(self, typecode: str, length: int) -> None:
        self.typecode, self.itemsize, self.length = typecode, array(typecode).itemsize, length

    def __len__(self) -> int:
        return self.length


# the columns a Nesting writes, in the order Nesting.place_into takes their offsets
_NESTED = ("start", "dur", "name", "track", "depth", "parent", "args")


class Sink(Protocol):
    def write(self, offset: int, data: memoryview) -> None:
        """Take ``data``, the final bytes of the blob at ``offset`` (``disk_cache.BlobFile``)."""


# Asked with the blob's size, as soon as it is known: a Sink its bytes are also written to, a
# range at a time as each is final (so that writing overlaps with laying out), or None.
Out = Callable[[int], "Sink | None"]


def _pack(meta: dict, columns: dict[str, Any], nesting: Any = None, out: Out | None = None) -> bytes:
    """Header, meta JSON and the 8-byte-aligned arrays (offsets are filled into meta first).
    Empties ``columns``: an array nothing else holds is freed as soon as it is copied. The
    columns that are ``_Hole``s are then written into the blob by ``nesting``, whose inputs
    are freed once it has. ``out`` (see ``Out``) is given each range as it is final."""
    layout = {}
    room = {}   # bytes each array takes, with its padding
    offset = 0
    for key, col in columns.items():
        layout[key] = [_TYPES[col.typecode], offset, len(col)]
        room[key] = (len(col) * col.itemsize + 7) & ~7
        offset += room[key]
    meta["arrays"] = layout
    text = _json(meta)
    text += b" " * (-len(text) % 8)
    base = 16 + len(text)
    for entry in layout.values():
        entry[1] += base
    # The offsets grew by `base`, which may lengthen the JSON: re-encode until it is stable.
    while True:
        again = _json(meta)
        again += b" " * (-len(again) % 8)
        if len(again) == len(text):
            text = again
            break
        grow = len(again) - len(text)
        for entry in layout.values():
            entry[1] += grow
        text = again
    parts: list = [MAGIC, struct.pack("<II", len(text), 0), text]
    for key in list(columns):
        col = columns.pop(key)
        parts.append(len(col) * col.itemsize if isinstance(col, _Hole) else col)
        pad = -(len(col) * col.itemsize) % 8
        if pad:
            parts.append(b"\0" * pad)
    del col
    # Slices placed by a Nesting fill the blob as their inputs' pages are handed back: in
    # 4 KB pages the blob takes those pages again; in huge pages it needs fresh ones, zeroed
    # (98.7M calls: 9 s to place, against 5.4 s; no difference at 10M).
    blob = _columns.join(parts, huge=nesting is None)
    sink = out(len(blob)) if out is not None else None
    holes = [(layout[key][1], room[key]) for key in _NESTED] if nesting is not None else []
    if sink is not None:
        view = memoryview(blob)
        at = 0      # the ranges final now: around the holes (the slice columns, side by side)
        for offset, size in sorted(holes) + [(len(blob), 0)]:
            if offset > at:
                sink.write(at, view[at:offset])
            at = max(at, offset + size)
    if nesting is not None:
        done = None
        if sink is not None:
            def done(k: int) -> None:
                sink.write(holes[k][0], view[holes[k][0]:holes[k][0] + holes[k][1]])
        nesting.place_into(blob, *(offset for offset, _ in holes), release=True, done=done)
    return blob


def read_blob(blob: bytes) -> tuple[dict, dict[str, array]]:
    """Decode a blob back into (meta, columns): for tests and debugging."""
    if blob[:8] != MAGIC:
        raise ValueError("not a viewer blob")
    (meta_len, _) = struct.unpack_from("<II", blob, 8)
    meta = json.loads(blob[16:16 + meta_len])
    codes = {v: k for k, v in _TYPES.items()}
    columns = {}
    for key, (kind, offset, length) in meta["arrays"].items():
        col = array(codes[kind])
        col.frombytes(blob[offset:offset + length * col.itemsize])
        columns[key] = col
    return meta, columns
