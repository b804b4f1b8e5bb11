"""Read any report we write back into one in-memory shape.

``load_report(path)`` returns the dict ``json.load`` gives for a Chrome JSON report:
``{"traceEvents": [...], "viztracer_metadata": {...}, "file_info": {...}}`` (the last two may
be missing in reports from other tools). It takes ``.json``, ``.json.gz``, ``.pftrace`` /
``.perfetto-trace`` and ``.cvf`` (see ``cvf``); a file with another name is recognised by its
first bytes. Everything that consumes a report (combining, conversion, the viewer) goes
through here, so each of them accepts every format. A file that cannot be read is a
ReportError with a one-line message.

A report whose writer was killed (``--stream`` writes the file while the program runs) ends
at an arbitrary byte. Such a file is read up to its last whole event, marked with
``viztracer_metadata["cut_short"] = True`` (``mark_cut_short``), and announced by one line on
stderr (``announce_cut_short``). A JSON report of ours starts with ``STREAM_HEAD`` and writes
every event after the first on a line of its own (``,\\n{...}``), so ``repair_cut_json`` can
close the event list after the last whole one; a ``.json.gz`` cut short gives the text that
inflates before the cut. ``.pftrace`` files: see ``pftrace_reader``.
"""
from __future__ import annotations

import gc
import json
import os
import sys
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
CVF_EXTENSIONS = (".cvf",)
# How a .cvf starts, before its version byte (defined here: cvf is imported when one is read)
CVF_MAGIC = b"\x8fVZCVF\x00"
READABLE = JSON_EXTENSIONS + PFTRACE_EXTENSIONS + CVF_EXTENSIONS
_GZIP_MAGIC = b"\x1f\x8b"
# How every JSON report of ours starts; a file cut short that starts so can be repaired.
STREAM_HEAD = b'{"traceEvents":['
_WHITESPACE = b" \t\r\n"


def report_kind(path: str) -> str:
    """``"json"``, ``"json.gz"``, ``"pftrace"`` or ``"cvf"``: by extension, else by the file's
    first bytes."""
    lower = path.lower()
    if lower.endswith(".json.gz"):
        return "json.gz"
    if lower.endswith(".json"):
        return "json"
    if lower.endswith(PFTRACE_EXTENSIONS):
        return "pftrace"
    if lower.endswith(CVF_EXTENSIONS):
        return "cvf"
    with open(path, "rb") as f:
        head = f.read(64)
    if head.startswith(CVF_MAGIC):
        return "cvf"
    if head.startswith(_GZIP_MAGIC):
        return "json.gz"
    if head.lstrip()[:1] in (b"{", b"["):
        return "json"
    if head[:1] == b"\x0a":  # field 1 (packet), length-delimited: how every Trace starts
        return "pftrace"
    raise ReportError(f"{path!r} is not a trace: expected a .json, .json.gz, .pftrace or .cvf report")


def _parse_json(data: bytes) -> Any:
    """``data`` parsed: by orjson, about twice as fast as json on large reports, when it is
    installed and takes the text; by json otherwise (NaN and Infinity, the error message when
    the text is not JSON at all, and any text that may hold an integer beyond 64 bits, which
    orjson would turn into a float: see ``has_digit_run``)."""
    if orjson is not None and not _json_scan.has_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            if e.pos >= _text_end(data):
                raise  # the text ends inside the document (cut short): json would only fail slower
    return json.loads(data)


def _text_end(data: bytes) -> int:
    """The length of ``data`` without its trailing whitespace (without copying it)."""
    end = len(data)
    while end and data[end - 1] in _WHITESPACE:
        end -= 1
    return end


def read_json_bytes(path: str, kind: str) -> tuple[bytes, bool]:
    """The text of a ``.json`` report, or of a ``.json.gz`` one inflated, and whether its gzip
    stream was cut short (the text is then what inflates before the cut); ReportError when the
    gzip stream is broken."""
    with open(path, "rb") as f:
        data = f.read()
    if kind != "json.gz":
        return data, False
    try:
        return _gunzip(data)
    except zlib.error as e:
        raise ReportError(f"{path!r} is not a readable gzip file ({e})") from None


def _gunzip(data: bytes) -> tuple[bytes, bool]:
    """Every gzip member of ``data`` inflated, and whether the last was cut short: then the
    text is what inflates before the cut (``gzip.decompress`` would give only an EOFError)."""
    parts = []
    cut = False
    while data:
        member = zlib.decompressobj(16 + zlib.MAX_WBITS)
        parts.append(member.decompress(data))
        if not member.eof:
            parts.append(member.flush())
            cut = True
            break
        data = member.unused_data.lstrip(b"\0")  # gzip allows zero padding between members
    return parts[0] if len(parts) == 1 else b"".join(parts), cut


def repair_cut_json(data: bytes) -> bytes | None:
    """The text of a viztracer JSON report cut short, its event list closed after the last
    whole event: a report without its metadata. None when ``data`` does not start as our
    reports do (``STREAM_HEAD``), so a foreign file is never "repaired" into something else.

    Every event after the first is written as ``,\\n{...}`` and holds no raw newline, so all
    that precedes the last newline is whole events; what follows it is one last event, whole
    when it parses on its own, or the cut one, or a piece of the report's closing metadata.
    """
    if not data.startswith(STREAM_HEAD):
        return None
    newline = data.rfind(b"\n")
    start = newline + 1 if newline >= 0 else len(STREAM_HEAD)
    last = _without_comma(data[start:])
    end = start + len(last) if _is_event(last) else start
    return _without_comma(data[:end]) + b"]}"


def _without_comma(text: bytes) -> bytes:
    """``text`` without its trailing whitespace and one trailing comma."""
    text = text.rstrip(_WHITESPACE)
    return text[:-1] if text.endswith(b",") else text


def _is_event(text: bytes) -> bool:
    """Whether ``text`` is one whole JSON object: an event the cut left whole."""
    if not text.startswith(b"{"):
        return False
    try:
        return isinstance(_parse_json(text), dict)
    except ValueError:  # JSONDecodeError, orjson's, UnicodeDecodeError: cut inside it
        return False


def _parse_report_text(data: bytes) -> tuple[Any, bool]:
    """``data`` parsed, and whether it had to be repaired as a report cut short. When it
    cannot be, the error of parsing it as it is propagates."""
    try:
        return _parse_json(data), False
    except ValueError as e:
        error = e
    repaired = repair_cut_json(data)
    if repaired is not None:
        try:
            return _parse_json(repaired), True
        except ValueError:
            pass
    raise error


def _load_json(path: str, kind: str) -> tuple[Any, bool]:
    """The parsed JSON of ``path``, and whether the file was cut short (and read up to the cut)."""
    data, gzip_cut = read_json_bytes(path, kind)
    # Millions of new dicts and no cycles among them: the cyclic GC would only slow this down.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        parsed, repaired = _parse_report_text(data)
        return parsed, repaired or gzip_cut
    except UnicodeDecodeError:
        raise ReportError(f"{path!r} is not a trace: it is not UTF-8 JSON") from None
    except json.JSONDecodeError as e:
        raise ReportError(f"{path!r} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno});"
                          " was it cut short?") from None
    finally:
        if gc_was_enabled:
            gc.enable()


def cut_short_notice(path: str, events: int) -> str:
    """The one line that says a report was read from a file cut short."""
    return (f"viztracer: {path!r} was cut short (its writer stopped before finishing it, or is still"
            f" writing it); read the {events} events written before the cut")


def mark_cut_short(report: dict) -> None:
    """Mark ``report`` (or the dict of a report's keys other than its events) as read from a
    file cut short: ``viztracer_metadata["cut_short"] = True``, the dict made if missing."""
    metadata = report.get("viztracer_metadata")
    if not isinstance(metadata, dict):
        metadata = report["viztracer_metadata"] = {}
    metadata["cut_short"] = True


def announce_cut_short(path: str, events: int) -> None:
    """Say on stderr, in one line, that ``path`` was cut short. A print and not a warning:
    a warning would add its source line, and a command-line user wants one clean line."""
    print(cut_short_notice(path, events), file=sys.stderr, flush=True)


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
        if kind == "cvf":
            from .cvf import read_cvf
            return read_cvf(path)
        data, cut = _load_json(path, kind)
    if isinstance(data, list):  # the Chrome format's bare array of events
        data = {"traceEvents": data}
    if not isinstance(data, dict) or not isinstance(data.get("traceEvents"), list):
        raise ReportError(f"{path!r} is JSON but not a trace: it has no \"traceEvents\" list")
    if cut:
        mark_cut_short(data)
        announce_cut_short(path, len(data["traceEvents"]))
    return data
