"""Which report files the viewer serves, and a quick check that a file is a whole trace.

``Reports`` is what ``vizviewer`` was given: one file, or a directory whose trace files are
listed (recursively, hidden folders left out) anew on every request. Every name a request
carries goes through ``Reports.resolve``, the one place that decides what may be read: names
with ``..``, absolute paths, backslashes, hidden parts, symlinks that lead out of the directory
and files that are not trace files are refused (``Refused``, 403); names of nothing are
``NotFound`` (404).

``check_trace_file`` is the start-up check: it reads a file's framing, not its events, so a
missing, unreadable or foreign file is a one-line error before the server starts, while
converting the trace is left to the first request that needs it. A report of ours cut short
(its writer killed, or still writing it) passes: the conversion reads it up to the cut.
"""
from __future__ import annotations

import mmap
import os
import zlib
from dataclasses import dataclass

from .. import _pftrace_scan
from ..report import ReportError
from ..report.cvf import check_cvf_framing
from ..report.loader import STREAM_HEAD, reading, report_kind

HTML_EXTENSIONS = (".html",)
TRACE_EXTENSIONS = (".json", ".json.gz", ".pftrace", ".perfetto-trace", ".cvf", *HTML_EXTENSIONS)
_CHUNK = 1 << 20
_WHITESPACE = b" \t\r\n"


class Refused(Exception):
    """A request names something it may not read (HTTP 403)."""


class NotFound(Exception):
    """A request names no file that is served here (HTTP 404)."""


def is_trace_name(name: str) -> bool:
    """Whether ``name`` ends with one of the extensions of a trace file."""
    return name.lower().endswith(TRACE_EXTENSIONS)


def is_html(name: str) -> bool:
    """Whether ``name`` is an HTML report (served as a page, not converted)."""
    return name.lower().endswith(HTML_EXTENSIONS)


# -- the start-up check -----------------------------------------------------------------------------

def check_trace_file(path: str) -> None:
    """Raise ReportError (one line) unless ``path`` is a readable, whole trace or HTML report."""
    with reading(path):
        size = os.path.getsize(path)
        if size == 0:
            raise ReportError(f"{path!r} is empty, not a trace")
        if is_html(path):
            _check_html(path)
            return
        kind = report_kind(path)
        if kind == "pftrace":
            _check_pftrace(path)
        elif kind == "cvf":
            check_cvf_framing(path)
        elif kind == "json.gz":
            _check_json_stream(path, _gzip_chunks(path))
        else:
            _check_json_stream(path, _head_and_tail(path))


def _check_html(path: str) -> None:
    with open(path, "rb") as f:
        head = f.read(512).lstrip(b"\xef\xbb\xbf" + _WHITESPACE)
    if not head.startswith(b"<"):
        raise ReportError(f"{path!r} is not an HTML report: it does not start with '<'")


def _head_and_tail(path: str):
    """The chunks that decide: the head (and on until "traceEvents" is met), then the tail."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(_CHUNK)
        yield head
        found = b'"traceEvents"' in head
        while not found and (chunk := f.read(_CHUNK)):
            found = b'"traceEvents"' in chunk or b'"traceEvents"' in head[-16:] + chunk[:16]
            head = chunk
            yield chunk
        if f.tell() < size:
            f.seek(max(f.tell(), size - 4096))
            yield f.read()


def _gzip_chunks(path: str):
    """The inflated text of a gzip file, chunk by chunk; a stream cut short ends at the cut."""
    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        with open(path, "rb") as f:
            while raw := f.read(_CHUNK):
                while raw:
                    yield member.decompress(raw)
                    if not member.eof:
                        break
                    raw = member.unused_data.lstrip(b"\0")  # another member may follow
                    member = zlib.decompressobj(16 + zlib.MAX_WBITS)
    except zlib.error as exc:
        raise ReportError(f"{path!r} is not a readable gzip file ({exc})") from None


def _check_json_stream(path: str, chunks) -> None:
    """First and last characters are those of a JSON object or array; an object names traceEvents.

    A JSON report cut short (a program killed while saving, or a --stream report still being
    written) ends without its closing bracket: one that starts as our reports do is read up to
    the cut by the conversion; any other is refused. The events themselves are parsed by the
    conversion, on the first request.
    """
    first = last = head = b""
    has_events = False
    tail = b""
    for chunk in chunks:
        if len(head) < len(STREAM_HEAD):
            head += chunk[:len(STREAM_HEAD)]
        stripped = chunk.strip(_WHITESPACE)
        if not stripped:
            continue
        if not first:
            first = stripped[:1]
            if first not in (b"{", b"["):
                raise ReportError(f"{path!r} is not a trace: it is not a JSON object or array")
        last = stripped[-1:]
        if not has_events:
            has_events = b'"traceEvents"' in tail + chunk
            tail = chunk[-16:]
    if not first:
        raise ReportError(f"{path!r} is empty, not a trace")
    if head.startswith(STREAM_HEAD):
        return  # ours, whole or cut short
    if first == b"{" and not has_events:
        raise ReportError(f"{path!r} is JSON but not a trace: it has no \"traceEvents\" list")
    closing = b"}" if first == b"{" else b"]"
    if last != closing:
        raise ReportError(f"{path!r} is cut short: its JSON does not end with "
                          f"{closing.decode()}, and it does not start as a viztracer report does")


def _check_pftrace(path: str) -> None:
    """Walk the trace's packet framing: every packet is field 1 and ends inside the file, but
    the last, which a file cut short leaves incomplete (the reader stops before it)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        whole, stray = _pftrace_scan.framing(data)
    if stray >= 0:
        raise ReportError(f"{path!r} is not a Perfetto trace: unexpected byte at offset {stray}")
    if whole == 0:
        raise ReportError(f"{path!r} is cut short inside its first packet: nothing to show")


# -- what is served ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Entry:
    """A served file: its name in URLs, and its size and modification time."""

    name: str
    size: int
    mtime: float

    def as_json(self) -> dict:
        return {"name": self.name, "size": self.size, "mtime": self.mtime}


class Reports:
    """One report file (``mode == "file"``) or a directory of them (``mode == "dir"``)."""

    def __init__(self, path: str) -> None:
        self.given = path  # as the user wrote it, for messages
        self.path = os.path.abspath(path)
        self.mode = "dir" if os.path.isdir(self.path) else "file"
        self.root = os.path.realpath(self.path if self.mode == "dir" else os.path.dirname(self.path))
        self.name = os.path.basename(self.path) if self.mode == "file" else ""

    @property
    def html_page(self) -> str | None:
        """The path of the HTML report given as the file, served as the page itself."""
        return self.path if self.mode == "file" and is_html(self.name) else None

    def check(self) -> None:
        """The start-up check; ReportError (one line) when there is nothing to serve."""
        if self.mode == "file":
            check_trace_file(self.given)
            return
        try:
            os.listdir(self.path)
        except PermissionError:
            raise ReportError(f"directory {self.given!r} cannot be read: permission denied") from None
        except OSError as exc:
            raise ReportError(f"directory {self.given!r} cannot be read: {exc.strerror or exc}") from None

    def entries(self) -> list[Entry]:
        """The served files, sorted by name; a directory is scanned anew on every call."""
        if self.mode == "file":
            entry = _entry(self.name, self.path)
            return [entry] if entry else []
        found = []
        for folder, dirs, files in os.walk(self.path, onerror=lambda exc: None):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            rel_folder = os.path.relpath(folder, self.path)
            for file in files:
                if file.startswith(".") or not is_trace_name(file):
                    continue
                name = file if rel_folder == "." else f"{rel_folder}/{file}".replace(os.sep, "/")
                full = os.path.join(folder, file)
                if not self._inside(os.path.realpath(full)):
                    continue
                entry = _entry(name, full)
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda e: e.name)

    def resolve(self, name: str | None) -> str:
        """The path of the served file called ``name``; Refused or NotFound otherwise.

        In file mode a missing name means the file given.
        """
        if self.mode == "file" and (name is None or name == self.name):
            return self.path
        if not name:
            raise NotFound("no file named: add ?file=<name> from /api/files")
        if "\0" in name or "\\" in name or name.startswith("/") or os.path.isabs(name):
            raise Refused(f"{name!r}: only names listed by /api/files are served")
        parts = name.split("/")
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise Refused(f"{name!r}: only names listed by /api/files are served")
        if self.mode == "file":
            if os.path.lexists(os.path.join(os.path.dirname(self.path), *parts)):
                raise Refused(f"{name!r} is not the report this viewer was started on")
            raise NotFound(f"{name!r}: no such report here")
        candidate = os.path.join(self.path, *parts)
        real = os.path.realpath(candidate)
        if not self._inside(real):
            raise Refused(f"{name!r} leads out of the served directory")
        if not os.path.lexists(candidate) or not os.path.exists(real):
            raise NotFound(f"{name!r}: no such report here")
        if not os.path.isfile(real) or not is_trace_name(name) or not is_trace_name(real):
            raise Refused(f"{name!r} is not a trace file")
        return real

    def _inside(self, real: str) -> bool:
        return real.startswith(os.path.join(self.root, ""))  # the root with one trailing separator


def _entry(name: str, path: str) -> Entry | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not os.path.isfile(path):
        return None
    return Entry(name, st.st_size, st.st_mtime)
