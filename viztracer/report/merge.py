"""Append the reports of a run's child processes to the parent's report, in place.

The parent's report is written first, as always (streamed or saved at the end); the children's
reports, each a whole report of the same format written by a process of its own, are then
appended to it without decoding their events:

- ``.json``: each child's events are copied, as bytes, between the parent's last event and its
  closing (``viztracer_metadata`` and ``file_info``), which is then written again, merged.
- ``.pftrace``: a trace file may follow another (each of ours starts every packet sequence
  afresh, and tracks are numbered by pid), so each child's file is copied after the parent's;
  packets describing every process again and the merged metadata close the file.

A child's report cut short (a streamed child that was killed) is copied up to its last whole
event or packet. Every child also gets a name, a sort index (its place after the parent) and,
when it was lost or cut short, a label saying so: ``process_name``, ``process_sort_index``
and ``process_labels`` metadata events in JSON, process descriptors in Perfetto.
"""
from __future__ import annotations

import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from .. import _perfetto, _pftrace_scan
from ..errors import ReportError
from .combine import merge_file_info

# How our JSON reports begin and where their closing starts (report/chrome_json.py).
JSON_HEAD = b'{"traceEvents":[\n'
JSON_TAIL = b'\n],"viztracer_metadata":'
JSON_SEPARATOR = b",\n"

COMPLETE, CUT_SHORT, LOST = "complete", "cut short", "lost"


@dataclass
class ChildReport:
    """One child process's part: its report file (None when it left none) and how it ended."""

    pid: int
    name: str
    path: str | None
    state: str = COMPLETE       # COMPLETE, CUT_SHORT or LOST
    why: str = ""               # for a lost or cut-short one: what happened, for the user


def is_perfetto(path: str) -> bool:
    return path.lower().endswith((".pftrace", ".perfetto-trace"))


@contextmanager
def _mapped(path: str) -> Iterator[mmap.mmap | bytes]:
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            yield b""
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield mm


def _copy(src: str, start: int, end: int, out: Any) -> None:
    """Copy bytes [start, end) of the file ``src`` to the end of the open file ``out``."""
    out.flush()
    with open(src, "rb") as f:
        offset = start
        while offset < end:
            try:
                n = os.copy_file_range(f.fileno(), out.fileno(), end - offset, offset)
            except (AttributeError, OSError):      # no such call here, or not between these files
                f.seek(offset)
                while offset < end:
                    chunk = f.read(min(end - offset, 1 << 24))
                    if not chunk:
                        return
                    out.write(chunk)
                    offset += len(chunk)
                return
            if n == 0:
                return
            offset += n


def merge_metadata(parent: dict[str, Any], children: list[tuple[ChildReport, dict | None]]) -> dict[str, Any]:
    """The parent's ``viztracer_metadata`` with what the children add: overflow, dropped
    entries, and each child's pid, name and state."""
    merged = dict(parent)
    for _, metadata in children:
        if not isinstance(metadata, dict):
            continue
        merged["overflow"] = bool(merged.get("overflow")) or bool(metadata.get("overflow"))
        if metadata.get("dropped_entries"):
            merged["dropped_entries"] = merged.get("dropped_entries", 0) + metadata["dropped_entries"]
    merged["child_processes"] = [{"pid": c.pid, "name": c.name, "state": c.state} for c, _ in children]
    return merged


def _labels(child: ChildReport) -> list[str]:
    return [] if child.state == COMPLETE else [child.state]


# -- JSON ------------------------------------------------------------------------------------------

def _json_closing(data: mmap.mmap | bytes) -> tuple[int, dict[str, Any]] | None:
    """Where a JSON report's closing starts, and the closing's entries; None when it has none."""
    at = data.rfind(JSON_TAIL)
    if at < 0:
        return None
    try:
        closing = orjson.loads(b"{" + data[at + len(b"\n],"):])
    except orjson.JSONDecodeError:
        return None
    return (at, closing) if isinstance(closing, dict) else None


FILE_INFO = b',"file_info":{"files":'
FUNCTIONS = b',"functions":'


def _json_child_closing(data: mmap.mmap | bytes) -> tuple[int, dict | None, dict] | None:
    """A child's closing, read lightly: where it starts, its metadata, and its file_info's
    functions. Its sources are not read (most are the parent's too: read from disk for the
    others), which spares decoding a megabyte of them per child. The layout is our writer's
    (``chrome_json._tail``); anything else is read whole."""
    at = data.rfind(JSON_TAIL)
    if at < 0:
        return None
    start = at + len(JSON_TAIL)
    info = data.find(FILE_INFO, start)
    try:
        if info < 0 and data[-2:] == b"}}":
            return at, orjson.loads(data[start:len(data) - 1]), {}
        functions_at = data.rfind(FUNCTIONS)
        if info >= 0 and functions_at > info and data[-3:] == b"}}}":
            functions = orjson.loads(data[functions_at + len(FUNCTIONS):len(data) - 2])
            return at, orjson.loads(data[start:info]), functions
    except orjson.JSONDecodeError:
        pass
    found = _json_closing(data)
    if found is None:
        return None
    info_of = found[1].get("file_info")
    return found[0], found[1].get("viztracer_metadata"), (info_of or {}).get("functions") or {}


def _with_functions(file_info: dict[str, Any], functions: dict[str, Any]) -> dict[str, Any]:
    """The parent's file_info with the children's functions, and the sources of their files that
    the parent did not record (read from disk, as the writer does)."""
    from .chrome_json import file_info as read_file_info

    files = file_info.setdefault("files", {})
    known = file_info.setdefault("functions", {})
    missing = []
    for name, where in functions.items():
        if name not in known and isinstance(where, list) and len(where) == 2:
            known[name] = where
            if where[0] not in files:
                missing.append((name, where[0], where[1]))
    if missing:
        files.update(read_file_info(missing)["files"])
    return file_info


def _json_events_end(data: mmap.mmap | bytes) -> int:
    """A JSON report cut short: the end of its last whole event. Events are one a line, every
    line after the first begun by the separator; the last line counts when it parses."""
    last = data.rfind(JSON_SEPARATOR)
    cut, line = (last, last + len(JSON_SEPARATOR)) if last >= len(JSON_HEAD) else (len(JSON_HEAD),) * 2
    try:
        if isinstance(orjson.loads(bytes(data[line:])), dict):
            return len(data)
    except orjson.JSONDecodeError:
        pass
    return cut


def _append_json(report: str, children: list[ChildReport]) -> None:
    with open(report, "r+b") as out:
        with _mapped(report) as data:
            found = _json_closing(data)
        if found is None:
            raise ReportError(f"cannot add the child processes to {report!r}: "
                              "it does not end as a report does")
        at, closing = found
        out.truncate(at)
        out.seek(at)
        read: list[tuple[ChildReport, dict | None]] = []
        functions: dict[str, Any] = {}
        for child in children:
            metadata = None
            if child.path is not None and os.path.exists(child.path):
                with _mapped(child.path) as data:
                    if data[:len(JSON_HEAD)] != JSON_HEAD:
                        end = 0
                    else:
                        light = _json_child_closing(data)
                        if light is not None:
                            end, metadata, child_functions = light
                            functions.update(child_functions)
                        else:
                            end = _json_events_end(data)
                if end > len(JSON_HEAD):
                    out.write(JSON_SEPARATOR)
                    _copy(child.path, len(JSON_HEAD), end, out)
                elif child.state == CUT_SHORT:
                    child.state = LOST
            read.append((child, metadata))
        names = []
        for index, child in enumerate(children, 1):
            names.append({"ph": "M", "pid": child.pid, "tid": child.pid, "name": "process_name",
                          "args": {"name": child.name}})
            names.append({"ph": "M", "pid": child.pid, "tid": child.pid, "name": "process_sort_index",
                          "args": {"sort_index": index}})
            if child.state != COMPLETE:
                names.append({"ph": "M", "pid": child.pid, "tid": child.pid, "name": "process_labels",
                              "args": {"labels": child.state}})
        for event in names:
            out.write(JSON_SEPARATOR + orjson.dumps(event))
        closing["viztracer_metadata"] = merge_metadata(closing.get("viztracer_metadata") or {}, read)
        if isinstance(closing.get("file_info"), dict):
            closing["file_info"] = _with_functions(closing["file_info"], functions)
        out.write(b"\n]," + orjson.dumps(closing)[1:])


# -- Perfetto --------------------------------------------------------------------------------------

def _append_perfetto(report: str, parent_pid: int, parent_name: str, children: list[ChildReport]) -> None:
    with _mapped(report) as data:
        closing = _pftrace_scan.metadata_of(data) if len(data) else None
    if closing is None:
        raise ReportError(f"cannot add the child processes to {report!r}: it has no metadata packet")
    read: list[tuple[ChildReport, dict | None]] = []
    infos = [closing.get("file_info")]
    with open(report, "ab") as out:
        for child in children:
            metadata = None
            if child.path is not None and os.path.exists(child.path):
                with _mapped(child.path) as data:
                    whole = _pftrace_scan.framing(data)[0] if len(data) else 0
                    entries = _pftrace_scan.metadata_of(data) if whole else None
                if whole:
                    _copy(child.path, 0, whole, out)
                if entries is not None:
                    metadata = entries.get("viztracer_metadata")
                    infos.append(entries.get("file_info"))
                elif child.state == COMPLETE:      # no metadata packet: it was cut short after all
                    child.state = CUT_SHORT
                if not whole and child.state == CUT_SHORT:
                    child.state = LOST
            read.append((child, metadata))
        closing["viztracer_metadata"] = merge_metadata(closing.get("viztracer_metadata") or {}, read)
        if "file_info" in closing:
            closing["file_info"] = merge_file_info([i for i in infos if isinstance(i, dict)])
        processes = [(parent_pid, parent_name, [])] + [(c.pid, c.name, _labels(c)) for c in children]
        out.write(_perfetto.closing_packets(processes, closing))


def append_children(report: str, parent_pid: int, parent_name: str, children: list[ChildReport]) -> None:
    """Append ``children`` (their files in ``report``'s format) to the report file ``report``.
    A child whose file holds nothing usable becomes LOST (its state is updated)."""
    try:
        if is_perfetto(report):
            _append_perfetto(report, parent_pid, parent_name, children)
        else:
            _append_json(report, children)
    except OSError as e:
        raise ReportError(f"cannot add the child processes to {report!r}: {e.strerror or e}") from e
