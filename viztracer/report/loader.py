"""Read any report we write back into one in-memory shape.

``load_report(path)`` returns the dict ``json.load`` gives for a Chrome JSON report:
``{"traceEvents": [...], "viztracer_metadata": {...}, "file_info": {...}}`` (the last two may
be missing in reports from other tools). It takes ``.json``, ``.json.gz`` and ``.pftrace`` /
``.perfetto-trace``; a file with another name is recognised by its first bytes. Everything
that consumes a report (combining, conversion, the viewer) goes through here, so each of them
accepts every format. A file that cannot be read is a ReportError with a one-line message.
"""
from __future__ import annotations

import gc
import gzip
import json
import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import _json_scan
from . import ReportError

try:
    import orjson
except ImportError:  # a platform without its wheels: the json module does the same, slower
    orjson = None

JSON_EXTENSIONS = (".json", ".json.gz")
PFTRACE_EXTENSIONS = (".pftrace", ".perfetto-trace")
READABLE = JSON_EXTENSIONS + PFTRACE_EXTENSIONS
_GZIP_MAGIC = b"\x1f\x8b"


def report_kind(path: str) -> str:
    """``"json"``, ``"json.gz"`` or ``"pftrace"``: by extension, else by the file's first bytes."""
    lower = path.lower()
    if lower.endswith(".json.gz"):
        return "json.gz"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(PFTRACE_EXTENSIONS):
        return "pftrace"
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(_GZIP_MAGIC):
        return "json.gz"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    if head[:1] == b"\x0a":  # field 1 (packet), length-delimited: how every Trace starts
        return "pftrace"
    raise ReportError(f"{path!r} is not a trace: expected a .json, .json.gz or .pftrace report")


def _parse_json(data: bytes) -> Any:
    """``data`` parsed: by orjson, about twice as fast as json on large reports, when it is
    installed and takes the text; by json otherwise (NaN and Infinity, the error message when
    the text is not JSON at all, and any text with 19 digits in a row: orjson would turn an
    integer beyond 64 bits into a float)."""
    if orjson is not None and not _json_scan.has_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(data)


def _load_json(path: str, kind: str) -> Any:
    opener = gzip.open if kind == "json.gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise ReportError(f"{path!r} is not a readable gzip file ({e}); was it cut short?") from None
    # Millions of new dicts and no cycles among them: the cyclic GC would only slow this down.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_json(data)
    except UnicodeDecodeError:
        raise ReportError(f"{path!r} is not a trace: it is not UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{path!r} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno});"
                          " was it cut short?") from None
    finally:
        if gc_was_enabled:
            gc.enable()


@contextmanager
def reading(path: str) -> Iterator[None]:
    """Turn the OSError of reading ``path`` into a one-line ReportError naming it."""
    if os.path.isdir(path):
        raise ReportError(f"{path!r} is a directory, not a report file")
    try:
        yield
    except FileNotFoundError:
        raise ReportError(f"{path!r} does not exist") from None
    except PermissionError:
        raise ReportError(f"{path!r} cannot be read: permission denied") from None
    except IsADirectoryError:
        raise ReportError(f"{path!r} is a directory, not a report file") from None
    except OSError as e:
        raise ReportError(f"{path!r} cannot be read: {e.strerror or e}") from None


def load_report(path: str) -> dict:
    """The report in ``path`` as a dict with a ``traceEvents`` list; ReportError if it is not one."""
    with reading(path):
        kind = report_kind(path)
        if kind == "pftrace":
            from .pftrace_reader import read_pftrace
            return read_pftrace(path)
        data = _load_json(path, kind)
    if isinstance(data, list):  # the Chrome format's bare array of events
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ReportError(f"{path!r} is JSON but not a trace: it has no \"traceEvents\" list")
    return data
