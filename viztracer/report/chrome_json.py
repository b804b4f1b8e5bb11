"""Chrome trace event JSON (``.json``, ``.json.gz``), the shape VizTracer 1.x writes.

The events are streamed by the compiled encoder (``viztracer._export``); this module adds the
process and thread name records, ``viztracer_metadata`` and ``file_info``.
"""
from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, BinaryIO

from .. import _export

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
        if filename not in files and os.path.isfile(filename):
            try:
                with open(filename, encoding="utf-8", errors="replace") as f:
                    source = f.read()
            except OSError:
                continue
            files[filename] = [source, source.count("\n")]
    return {"files": files, "functions": funcs}


def write_stream(recording: Recording, write: Callable[[bytes], Any],
                 with_file_info: bool) -> tuple[int, list]:
    """Write the report through ``write`` (bytes chunks); returns the number of events and
    the Python functions met, as ``(name, file, first line)``."""
    write(b'{"traceEvents":[')
    write(",".join(json.dumps(e, separators=(",", ":")) for e in _name_events(recording)).encode())
    count, functions = _export.write_chrome_events(recording, write)
    write(b'],"viztracer_metadata":')
    write(json.dumps(recording.metadata, separators=(",", ":")).encode())
    if with_file_info:
        write(b',"file_info":')
        write(json.dumps(file_info(functions), separators=(",", ":")).encode())
    write(b"}")
    return count, functions


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
