"""Chrome trace event JSON (``.json``, ``.json.gz``), the shape VizTracer 1.x writes.

The events are streamed by the compiled encoder (``viztracer._export``); this module adds the
process and thread name records, ``viztracer_metadata`` and ``file_info``.
"""
from __future__ import annotations

import gzip
import json
import linecache
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from .. import _export
from .stream_file import NAMES_KEPT, StreamFile

if TYPE_CHECKING:
    from ..recording import Recording

EXTENSIONS = (".json", ".json.gz")


def _name_events(recording: Recording) -> list[dict]:
    pid = recording.pid
    events = [{"ph": "M", "pid": pid, "tid": pid, "name": "process_name",
               "args": {"name": recording.process_name}}]
    for tid, name in recording.threads:
        events.append({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}})
    return events


def file_info(functions: list[tuple[str, str, int]]) -> dict:
    """Sources of the traced files and where each recorded function starts, for the viewer."""
    files: dict[str, list] = {}
    funcs: dict[str, list] = {}
    for name, filename, line in functions:
        funcs[name] = [filename, line]
        if filename not in files:
            source = _source_of(filename)
            if source is not None:
                files[filename] = [source, source.count("\n")]
    return {"files": files, "functions": funcs}


def _source_of(filename: str) -> str | None:
    if os.path.isfile(filename):
        try:
            with open(filename, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return None
    # Code without a file of its own, such as a notebook cell, is often in linecache: IPython
    # registers every cell there for its tracebacks (a full entry whose mtime is None).
    entry = linecache.cache.get(filename)
    if entry is not None and len(entry) == 4 and entry[1] is None:
        return "".join(entry[2])
    return None


def json_bytes(value: Any) -> bytes:
    """``value`` as compact JSON (UTF-8)."""
    # orjson: several times faster on file_info's sources; json for what it refuses (a name with
    # a lone surrogate, without sanitize_function_name), which it writes as an escape
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def _tail(metadata: dict, functions: list | None) -> bytes:
    """What closes a report: the events list, the metadata, and file_info unless None."""
    tail = b'\n],"viztracer_metadata":' + json_bytes(metadata)
    if functions is not None:
        tail += b',"file_info":' + json_bytes(file_info(functions))
    return tail + b"}"


def write_stream(recording: Recording, write: Callable[[bytes], Any],
                 with_file_info: bool) -> tuple[int, list]:
    """Write the report through ``write`` (bytes chunks); returns the number of events and
    the Python functions met, as ``(name, file, first line)``. One event a line."""
    write(b'{"traceEvents":[\n')
    write(",\n".join(json.dumps(e, separators=(",", ":")) for e in _name_events(recording)).encode())
    count, functions = _export.write_chrome_events(recording, write)
    write(_tail(recording.metadata, functions if with_file_info else None))
    return count, functions


class Stream:
    """A JSON report written while the program runs (``--stream``), one part of the ring at a
    time. Each event is a line of its own and the closing comes last, so a file cut short by
    a kill is read back up to its last whole line (``load_report`` says it was cut).

    The compiled encoder writes the events to the file's descriptor without the GIL."""

    def __init__(self, path: str, pid: int, process_name: str) -> None:
        self.pid = pid
        self.file = StreamFile(path)
        self.threads = 0            # thread slots described so far
        self.functions: set[tuple[str, str, int]] = set()
        self.names = _export.NameTable()    # kept from part to part: each name resolved once
        self.scratch = _export.Scratch()    # the encoder's working memory, kept likewise
        # the stop's tail, encoded by the program's thread while the writer thread writes on
        self.tail_names = _export.NameTable()
        self.tail_scratch = _export.Scratch()
        process = {"ph": "M", "pid": pid, "tid": pid, "name": "process_name", "args": {"name": process_name}}
        self.file.write(b'{"traceEvents":[\n' + json_bytes(process))

    def part(self, recording: Recording, hurry: bool = False, more_parts: int = 0, wait_ns: int = 0,
             hurry_behind: int = 0) -> int:
        """Write the entries of a recording's span, then up to ``more_parts`` whole parts of the
        ring after it, each waited for at most ``wait_ns``; returns how many entries (``hurry``
        changes nothing for JSON: there is no cheaper way to write it)."""
        self._describe_threads(recording)
        self.names = self._bounded(self.names)
        return _export.stream_chrome_part(recording, self.file.fileno(), self.names, self.scratch,
                                          more_parts, wait_ns)

    def _bounded(self, names: _export.NameTable) -> _export.NameTable:
        """``names``, or a new table once it holds more than NAMES_KEPT: it keeps every key
        alive (its functions are kept for the file info)."""
        if names.used <= NAMES_KEPT:
            return names
        self.functions.update(names.functions)
        return _export.NameTable()

    def _describe_threads(self, recording: Recording) -> None:
        self.file.going_on()
        for tid, name in recording.threads[self.threads:]:
            self.file.write(b",\n" + json_bytes({"ph": "M", "pid": self.pid, "tid": tid,
                                                "name": "thread_name", "args": {"name": name}}))
        self.threads = max(self.threads, len(recording.threads))

    # The stop's tail: the program's thread encodes the newest entries left, a part at a time
    # from the newest (with a name table and scratch of its own), while the writer thread
    # writes the oldest to the file; then it writes them after the writer's, in order.
    splits_stop = True

    def encode_tail(self, recording: Recording) -> bytes:
        """A recording's span encoded, not written (its slots emptied)."""
        self.tail_names = self._bounded(self.tail_names)
        return _export.encode_chrome_span(recording, self.tail_names, self.tail_scratch)

    def write_tail(self, recording: Recording, texts: list[bytes]) -> None:
        """Write what ``encode_tail`` gave, oldest first, after what the writer wrote."""
        self._describe_threads(recording)
        for text in texts:
            self.file.write(text)

    def marker(self, ts_ns: int, tid: int, name: str, args: dict) -> None:
        """An instant on the process's track: where entries were dropped, and why."""
        self.file.going_on()
        self.file.write(b",\n" + json_bytes({"pid": self.pid, "tid": tid, "ts": ts_ns / 1000, "ph": "i",
                                          "cat": "INSTANT", "name": name, "s": "p", "args": args}))

    def finish(self, metadata: dict, with_file_info: bool) -> None:
        """Close the report: it is a complete JSON file from here on."""
        self.file.closing()
        self.functions.update(self.names.functions)
        self.functions.update(self.tail_names.functions)
        self.file.write(_tail(metadata, sorted(self.functions) if with_file_info else None))

    def close(self) -> None:
        self.file.close()


def _write(recording: Recording, out: BinaryIO, with_file_info: bool) -> int:
    return write_stream(recording, out.write, with_file_info)[0]


def write(recording: Recording, path: str, with_file_info: bool = True) -> int:
    """Write a recording to ``path`` as Chrome JSON, gzipped when it ends in ``.gz``."""
    if path.lower().endswith(".gz"):
        with gzip.open(path, "wb", compresslevel=6) as f:
            return _write(recording, f, with_file_info)
    with open(path, "wb") as f:
        return _write(recording, f, with_file_info)


def write_from_report(report: dict, path: str) -> int:
    """Write a loaded report (``load_report``'s dict) to ``path`` as Chrome JSON."""
    data = json.dumps(report, separators=(",", ":")).encode()
    if path.lower().endswith(".gz"):
        with gzip.open(path, "wb", compresslevel=6) as f:
            f.write(data)
    else:
        with open(path, "wb") as f:
            f.write(data)
    return len(report["traceEvents"])
