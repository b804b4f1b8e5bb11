"""The viewer's HTTP server: the page in ``static/``, the list of reports, and their data.

URLs (all same-origin; errors are a non-200 status with a one-line ``text/plain`` body):

- ``GET /``: ``static/index.html``; the HTML report itself when that is what was given, or
  for ``/?file=<name>.html`` (an HTML report picked from a directory).
- ``GET /static/<name>``: a file under ``static/``, nothing outside it.
- ``GET /api/files``: ``{"mode": "file" | "dir", "files": [{"name", "size", "mtime"}]}``.
- ``GET /api/trace?file=<name>``: the report converted for the page (``columns.trace_blob``),
  converted once per (path, mtime, size) and kept in memory (and on disk: ``disk_cache``).
- ``GET /api/progress?file=<name>``: how far its conversion has got (``BlobCache.progress``),
  which the page polls while its ``/api/trace`` request is pending.
- ``GET /api/raw?file=<name>``: the report file's own bytes.
- ``GET /api/tile?file=<name>&level=<k>&index=<j>``: one level-of-detail tile of the report
  (``tiles.py``); ``GET /api/slice?file=<name>&i=<n>``: one slice's details as JSON. A report
  with more slices than ``tiles.threshold()`` is answered by ``/api/trace`` as an overview
  without its slices, which the page then fetches tile by tile; ``&q=<text>`` adds to a tile
  how many of each box's slices match that search.
- For such a report the server also answers what the page would compute from the slices
  (``query.py``), as JSON: ``GET /api/search?file=&q=<text>`` (matching names and how many
  slices carry them; with ``&dir=1|-1`` and ``&from=<slice>`` the next or previous match),
  ``GET /api/range?file=&a=&b=&limit=`` (per-function statistics of [a, b] ns) and
  ``GET /api/flame?file=&a=&b=`` or ``&i=<slice>`` (the flame graph's nodes).
- ``POST /api/loaded``: the page has drawn its first timeline; with ``once`` the server stops
  (with ``perfetto``, once the raw file has been sent: the Perfetto UI draws it).

Which names may be read is decided by :class:`~viztracer.viewer.reports.Reports`. When the
server listens on a loopback address it also refuses requests whose ``Host`` is not a loopback
name, so a web page cannot reach it through a DNS name rebound to 127.0.0.1.
"""
from __future__ import annotations

import ipaddress
import json
import math
import mimetypes
import os
import socket
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .._slice_columns import Progress
from ..report import ReportError
from .disk_cache import BlobFile, DiskCache, TempBlob
from .reports import NotFound, Refused, Reports, is_html

STATIC_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_MAX_POST = 64 * 1024
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
    ".gz": "application/gzip",
}


def content_type(name: str) -> str:
    """The Content-Type for a file name (JavaScript modules need a JavaScript type)."""
    ext = os.path.splitext(name)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _default_convert(path: str, progress: Progress, out: Any = None) -> bytes:
    from .columns import trace_blob  # the page's format; imported when first needed

    return trace_blob(path, progress, out)


_FROM_ENV = object()
SAVE_AFTER = 5.0    # seconds a cache file waits for the first page to draw (BlobCache._save_later)
# Bytes of blob past which it is written to a file while it is made (``columns.Out``), and served
# from that file's map once written: held in memory while its tiles' levels were built, 98.7M
# calls peaked at 4.66 GB (blob 3.4 GB, levels 0.9 GB); mapped first, at most what the conversion
# took (3.6 GB). The page is answered from memory meanwhile: what is left of the write when the
# conversion ends (6 to 8 s of 3.6 GB at the disk's pace here) would delay its first frame; only
# the levels below a view of the whole trace wait for the map. Smaller blobs are written once the
# page has drawn (SAVE_AFTER).
WRITE_FIRST = 1 << 30


class BlobCache:
    """Converted reports, by path; an entry is valid while the file's mtime and size are.

    Each file is converted once even when several requests ask at the same time; a file that
    is not a trace keeps its error until it changes. ``convert(path, progress, out)`` makes a
    blob (``columns.trace_blob``: ``out`` may ask for a cache file to write it to meanwhile)
    and keeps ``progress`` (a ``_slice_columns.Progress``) up to date for ``progress()``. A
    conversion that took long enough is also written to ``disk`` (a :class:`DiskCache`, by
    default where ``$VIZVIEWER_CACHE_DIR`` says) and read back from there by the next viewer,
    mapped rather than copied.

    Least recently used blobs are dropped beyond ``budget`` bytes held in memory, with their
    tiles' levels while those are built in memory (the newest is always kept); once written to
    the disk cache, the levels too are read from a map. A mapped blob holds no memory of ours
    (its pages are the kernel's file cache, dropped under pressure), so it does not count; but
    it holds a file descriptor, so no more than ``max_mapped`` are kept.
    """

    def __init__(self, convert: Callable[[str, Progress, Any], bytes] = _default_convert,
                 budget: int = 1 << 30, disk: DiskCache | None | object = _FROM_ENV,
                 max_mapped: int = 64) -> None:
        self.convert = convert
        self.budget = budget
        self.max_mapped = max_mapped
        self.disk: DiskCache | None = DiskCache.from_env() if disk is _FROM_ENV else disk  # type: ignore[assignment]
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, _Blob] = OrderedDict()
        self._saving: list[threading.Thread] = []
        self._write_now = threading.Event()     # see _save_later

    def get(self, path: str) -> bytes | memoryview:
        """The blob of ``path``; ReportError when it is not a trace, OSError when unreadable."""
        st = os.stat(path)
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            blob = self._entries.get(path)
            if blob is None or blob.key != key:
                blob = self._entries[path] = _Blob(key)
            self._entries.move_to_end(path)
        with blob.lock:
            if blob.data is None and blob.error is None:
                blob.busy = True
                try:
                    blob.data = self._load(path, st, blob)
                except ReportError as exc:
                    blob.error = exc
                finally:
                    blob.busy = False
                self._trim()
        if blob.error is not None:
            raise blob.error
        assert blob.data is not None
        return blob.data

    def _load(self, path: str, st: os.stat_result, entry: _Blob) -> bytes | memoryview:
        disk = self.disk
        progress = entry.progress
        if disk is not None:
            progress.phase = "cache"
            if (cached := disk.load(path, st)) is not None:
                return cached
        started = time.monotonic()
        files: list[BlobFile] = []  # the file a large blob is written to while it is made

        def out(size: int) -> BlobFile | None:
            if size < WRITE_FIRST:
                return None
            # with no disk cache (or none that can be written), an unlinked temporary file
            file = disk.open(path, st, size) if disk is not None else None
            file = file if file is not None else TempBlob.open(size)
            if file is not None:
                files.append(file)
            return file

        try:
            data = self.convert(path, progress, out)
        except BaseException:
            for file in files:
                file.abandon()
            raise
        try:
            now = os.stat(path)
        except OSError:
            now = None
        changed = now is None or (now.st_mtime_ns, now.st_size) != (st.st_mtime_ns, st.st_size)
        if files and (changed and not isinstance(files[0], TempBlob)):
            files.pop().abandon()   # the blob may be of either version: not for the disk cache
        if files:   # written as it was made; a write that failed (a full disk) is not tried again
            entry.settled.clear()   # the levels that need the whole blob wait for the map
            self._save_later(path, files[0].finish, data, at_once=True, then=entry.settled.set)
            return data
        if disk is None or time.monotonic() - started < disk.min_seconds or changed:
            return data
        self._save_later(path, lambda: disk.store(path, st, data), data)
        return data

    def _save_later(self, path: str, store: Callable[[], Any], data: Any = None, at_once: bool = False,
                    then: Callable[[], None] | None = None) -> None:
        """Write a cache file by a thread of its own, so the page is answered meanwhile (a
        10M-event blob takes 1 to 2 s to write here), once the first page has drawn
        (``write_now``) or ``SAVE_AFTER`` seconds have passed, unless ``at_once`` (a file
        written while its blob was made: only the end of it is left): written at once, it took
        the cores from the page's first frame (10M events: that frame 0.25 to 0.33 s after the
        answer, against 0.23 to 0.245 s deferred, in alternating runs). Once
        written, ``path``'s entry and its tiles are served from the mapped file, if ``data``
        (``store``'s bytes) is what they hold, so the converted bytes leave our memory; then
        ``then`` is called, written or not. Not a daemon: the command waits for it at exit
        (``--once`` stops right after the page has drawn; a stopping viewer calls
        ``write_now``)."""
        def save() -> None:
            try:
                if not at_once:
                    self._write_now.wait(SAVE_AFTER)
                mapped = store()
                if data is not None and mapped is not None:
                    self._serve_mapped(path, data, mapped)
            finally:
                if then is not None:
                    then()
        # daemon=False said: a thread takes its maker's flag, and a request's thread is a daemon
        thread = threading.Thread(target=save, name="vizviewer-cache", daemon=False)
        with self._lock:
            self._saving = [t for t in self._saving if t.is_alive()] + [thread]
        thread.start()

    def _serve_mapped(self, path: str, data: Any, mapped: memoryview) -> None:
        """Serve ``path``'s entry and its tiles from ``mapped`` (``data``, written to a file)
        if ``data`` is what it holds, so the converted bytes leave our memory."""
        with self._lock:
            entry = self._entries.get(path)
        if entry is None:
            return
        with entry.lock:    # held by get() until it has set the entry's data to ``data``
            with self._lock:
                if entry.data is not data or self._entries.get(path) is not entry:
                    return
                entry.data = mapped
                if entry.tiles is not None:
                    entry.tiles.rebind(mapped)
        self._trim()

    def write_now(self) -> None:
        """Write the cache files waiting to be, and from now on each at once."""
        self._write_now.set()

    def saved(self) -> None:
        """Wait until the cache files being written are (tests; the command waits at exit)."""
        self.write_now()
        with self._lock:
            saving = list(self._saving)
        for thread in saving:
            thread.join()

    def progress(self, path: str) -> dict:
        """Where the conversion of ``path`` stands, for the page's progress bar: ``state`` is
        "idle" (not asked for, or changed since), "converting", "ready" or "error"; while
        converting, ``phase``, ``events`` and ``bytes_read`` of ``bytes_total`` so far."""
        try:
            st = os.stat(path)
        except OSError:
            return {"state": "idle"}
        with self._lock:
            blob = self._entries.get(path)
        if blob is None or blob.key != (st.st_mtime_ns, st.st_size):
            return {"state": "idle"}
        if blob.error is not None:
            return {"state": "error", "error": str(blob.error)}
        if blob.data is None and not blob.busy:
            return {"state": "idle"}  # a conversion that failed by a bug of ours: asked again
        p = blob.progress
        return {"state": "converting" if blob.data is None else "ready", "phase": p.phase,
                "events": p.events, "bytes_read": p.bytes_read, "bytes_total": p.bytes_total}

    def tiles(self, path: str):
        """The level-of-detail tiles of ``path`` (``tiles.TiledTrace``), built once and kept
        with its blob (its levels counted in ``budget`` while in memory); the same errors as
        ``get``."""
        from .tiles import TiledTrace
        data = self.get(path)
        with self._lock:
            blob = self._entries.get(path)
        if blob is None or blob.data is not data:  # replaced meanwhile: build for this answer only
            return TiledTrace(data)
        with blob.tiles_lock:
            if blob.tiles is None:
                blob.tiles = self._tiles_of(path, blob.key, data, blob.settled)
            return blob.tiles

    def _tiles_of(self, path: str, key: tuple[int, int], data: bytes | memoryview, settled: threading.Event):
        """The tiles of ``data`` (``path``'s blob, converted while its (mtime, size) was
        ``key``): their levels read from the disk cache, else built (those below a whole view
        once ``settled``) and written there."""
        from .tiles import LevelsFailed, TiledTrace
        disk = self.disk
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if disk is None or st is None or (st.st_mtime_ns, st.st_size) != key:
            return TiledTrace(data, hold=settled)
        tiles = TiledTrace(data, levels=disk.load(path, st, "tiles"), hold=settled)
        if not tiles.read_back:
            # Written while the page is answered (250 MB for 10M slices), once the levels are
            # built (by their own thread); none when they could not be: the tiles asked say so.
            def store() -> Any:
                try:
                    levels = tiles.levels_blob()
                except LevelsFailed:
                    return None
                mapped = disk.store(path, st, levels, "tiles")
                if mapped is not None:
                    tiles.rebind_levels(mapped)     # the built arrays leave memory
                    self._trim()
                return mapped
            self._save_later(path, store)
        return tiles

    def _trim(self) -> None:
        with self._lock:
            entries = list(self._entries.items())
            own = {path: _held(b) for path, b in entries}
            held = sum(own.values())
            mapped = sum(isinstance(b.data, memoryview) for _, b in entries)
            for path, blob in entries[:-1]:
                if held <= self.budget and mapped <= self.max_mapped:
                    break
                # Only what is over: bytes past the budget (blobs, and levels built in memory),
                # maps past their number. Dropping a mapped blob does not unmap it under a
                # response still sending it: the map lives until its last view is gone.
                if own[path] and held > self.budget:
                    del self._entries[path]
                    held -= own[path]
                    mapped -= isinstance(blob.data, memoryview)
                elif isinstance(blob.data, memoryview) and mapped > self.max_mapped:
                    del self._entries[path]
                    mapped -= 1
                    held -= own[path]


def _held(blob: _Blob) -> int:
    """The bytes an entry holds in memory: its blob unless mapped, its levels unless mapped."""
    tiles = blob.tiles
    levels = tiles.held() if tiles is not None else 0
    return (len(blob.data) if isinstance(blob.data, bytes) else 0) + levels


class _Blob:
    def __init__(self, key: tuple[int, int]) -> None:
        self.key = key
        self.lock = threading.Lock()
        self.data: bytes | memoryview | None = None
        self.error: ReportError | None = None
        self.progress = Progress()
        self.busy = False  # being converted (or read from the disk cache)
        self.tiles_lock = threading.Lock()
        self.tiles = None  # tiles.TiledTrace, made at the first request that needs it
        # Clear while the blob is served from memory until its file is written (WRITE_FIRST):
        # the levels below a whole view, built from the map, wait for it.
        self.settled = threading.Event()
        self.settled.set()


class HttpError(Exception):
    """Answer the request with ``status`` and a one-line message."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class ViewerServer(ThreadingHTTPServer):
    """Serves one report or a directory of reports to the viewer page."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, reports: Reports, host: str = "127.0.0.1", port: int = 9001, *,
                 once: bool = False, perfetto: bool = False, cache: BlobCache | None = None,
                 static_dir: str = STATIC_DIR) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.reports = reports
        self.once = once
        # The page hands the raw file to the Perfetto UI and never draws it itself.
        self.loaded_when_raw_sent = perfetto
        self.cache = cache or BlobCache()
        self.static_dir = os.path.realpath(static_dir)
        self.stopped = threading.Event()  # set when the page has loaded (with once)
        self.loaded: dict | None = None
        self.last_error: str | None = None  # the last error answered, for --timeout's message
        self.last_activity = time.monotonic()
        self.in_flight = 0
        self._activity_lock = threading.Lock()
        self.check_host = _is_loopback(host)
        super().__init__((host, port), ViewerHandler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def warm_up(self) -> None:
        """Start converting the one report given, so that it is (nearly) ready when the page
        asks for it: conversion is most of the time to the first drawn timeline. Errors are
        kept by the cache and answered to the page's request."""
        reports = self.reports
        if reports.mode != "file" or reports.html_page or self.loaded_when_raw_sent:
            return

        def convert() -> None:
            try:
                self.trace_answer(reports.path)
            except Exception:  # noqa: BLE001 - the page's own request reports it
                pass

        threading.Thread(target=convert, name="vizviewer-convert", daemon=True).start()

    def trace_answer(self, path: str) -> bytes:
        """What ``/api/trace`` sends for ``path``: the blob, or for a trace with more slices
        than ``tiles.threshold()`` its overview (answered at once: the levels of its tiles are
        built after it, by a thread of their own)."""
        from .tiles import read_meta, threshold
        blob = self.cache.get(path)
        try:
            large = read_meta(blob)["slice_count"] > threshold()
        except (ValueError, KeyError):  # a converter of another kind (tests): sent as it is
            large = False
        return self.cache.tiles(path).overview if large else blob

    def page_loaded(self, info: dict) -> None:
        """The page drew its first timeline: remember what it said; with ``once``, stop."""
        self.loaded = info
        self.cache.write_now()
        if self.once:
            self.stopped.set()

    def request_started(self) -> None:
        with self._activity_lock:
            self.in_flight += 1
            self.last_activity = time.monotonic()

    def request_finished(self) -> None:
        with self._activity_lock:
            self.in_flight -= 1
            self.last_activity = time.monotonic()

    def idle_for(self) -> float:
        """Seconds since the last request ended; 0 while one is being answered."""
        with self._activity_lock:
            return 0.0 if self.in_flight else time.monotonic() - self.last_activity

    def handle_error(self, request, client_address) -> None:
        """One line on stderr instead of a traceback; a client that went away is no error."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        print(f"vizviewer: internal error while answering a request: {exc!r}", file=sys.stderr)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ViewerHandler(BaseHTTPRequestHandler):
    """One request: routing, the checks of names and hosts, and one-line errors."""

    server: ViewerServer

    def version_string(self) -> str:
        return "vizviewer"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        """Quiet: the viewer prints nothing per request."""

    # A connection that sends nothing (browsers open some ahead of need) is closed after this.
    timeout = 60

    # -- routing ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._answer(self._get)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _answer(self, route: Callable[[str, dict[str, list[str]]], None]) -> None:
        # Counted from the request line read to the answer sent: an idle connection is no activity.
        self.server.request_started()
        try:
            self._route(route)
        finally:
            self.server.request_finished()

    def _route(self, route: Callable[[str, dict[str, list[str]]], None]) -> None:
        try:
            self._check_host()
            url = urlsplit(self.path)
            route(url.path, parse_qs(url.query, keep_blank_values=True))
        except HttpError as exc:
            self._send_text(exc.status, str(exc))
        except Refused as exc:
            self._send_text(HTTPStatus.FORBIDDEN, str(exc))
        except NotFound as exc:
            self._send_text(HTTPStatus.NOT_FOUND, str(exc))
        except (ConnectionError, TimeoutError):
            pass
        except Exception as exc:  # a bug of ours: one line for the page and one on stderr
            message = f"internal error while answering {self.path}: {type(exc).__name__}: {exc}"
            print(f"vizviewer: {message}", file=sys.stderr, flush=True)
            try:
                self._send_text(HTTPStatus.INTERNAL_SERVER_ERROR, message)
            except OSError:
                pass

    def _get(self, path: str, query: dict[str, list[str]]) -> None:
        reports = self.server.reports
        if path in ("/", "/index.html"):
            # An HTML report is its own page: the one given, or one picked from a directory.
            html, file = reports.html_page, _one(query, "file")
            if html is None and file is not None and is_html(file):
                html = reports.resolve(file)
            if html is not None:
                self._send_file(html, "text/html; charset=utf-8")
                if self.server.once:  # a standalone report has no page that reports back
                    self.server.page_loaded({"file": file or reports.name})
            else:
                self._send_file(self._static("index.html"), content_type("index.html"))
        elif path.startswith("/static/"):
            name = unquote(path[len("/static/"):])
            self._send_file(self._static(name), content_type(name))
        elif path == "/api/files":
            body = {"mode": reports.mode, "files": [e.as_json() for e in reports.entries()]}
            self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json")
        elif path == "/api/trace":
            file = reports.resolve(_one(query, "file"))
            blob = self._converted(file, self.server.trace_answer)
            self._send(HTTPStatus.OK, blob, "application/octet-stream")
        elif path == "/api/progress":
            body = self.server.cache.progress(reports.resolve(_one(query, "file")))
            self._send(HTTPStatus.OK, json.dumps(body).encode(), "application/json")
        elif path in ("/api/tile", "/api/slice"):
            self._tiled(path, query)
        elif path in ("/api/search", "/api/range", "/api/flame"):
            self._query(path, query)
        elif path == "/api/raw":
            file = reports.resolve(_one(query, "file"))
            self._send_file(file, content_type(file))
            if self.server.loaded_when_raw_sent:
                self.server.page_loaded({"file": _one(query, "file") or reports.name})
        else:
            raise HttpError(HTTPStatus.NOT_FOUND, f"{path}: no such page")

    def _converted(self, file: str, convert: Callable[[str], Any]) -> Any:
        """``convert(file)`` with the cache's errors as one-line answers."""
        if is_html(file):
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY,
                            f"{os.path.basename(file)!r} is an HTML report: open /api/raw?file= instead")
        try:
            return convert(file)
        except ReportError as exc:
            raise HttpError(HTTPStatus.UNPROCESSABLE_ENTITY, str(exc)) from None
        except OSError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, f"cannot read the report: {exc.strerror or exc}") from None

    def _tiled(self, path: str, query: dict[str, list[str]]) -> None:
        """``/api/tile`` (a tile's blob) and ``/api/slice`` (one slice's details, JSON)."""
        tiles = self._converted(self.server.reports.resolve(_one(query, "file")), self.server.cache.tiles)
        keys = ("level", "index") if path == "/api/tile" else ("i",)
        numbers = []
        for key in keys:
            value = _one(query, key)
            try:
                numbers.append(int(value or ""))
            except ValueError:
                raise HttpError(HTTPStatus.BAD_REQUEST, f"?{key}= must be an integer") from None
        try:
            if path == "/api/tile":
                body = tiles.tile(*numbers, query=_one(query, "q"))
                self._send(HTTPStatus.OK, body, "application/octet-stream")
                return
            from .columns import _json  # JSON the browser reads (no NaN)
            body = _json(tiles.slice_details(numbers[0]))
        except ValueError as exc:
            raise HttpError(HTTPStatus.NOT_FOUND, str(exc)) from None
        self._send(HTTPStatus.OK, body, "application/json")

    def _query(self, path: str, query: dict[str, list[str]]) -> None:
        """``/api/search``, ``/api/range`` and ``/api/flame`` (``query.TraceQuery``), as JSON."""
        tiles = self._converted(self.server.reports.resolve(_one(query, "file")), self.server.cache.tiles)
        q = tiles.query
        try:
            if path == "/api/search":
                text = _one(query, "q")
                if text is None:
                    raise HttpError(HTTPStatus.BAD_REQUEST, "?q= is required")
                direction = _number(query, "dir", int, 0)
                body = q.search(text, _number(query, "from", int, -1), direction)
            elif path == "/api/range":
                body = q.range_stats(_number(query, "a", float), _number(query, "b", float),
                                     _number(query, "limit", int, 50))
            elif _one(query, "i") is not None:
                body = q.flame_slice(_number(query, "i", int))
            else:
                body = q.flame_range(_number(query, "a", float), _number(query, "b", float))
        except ValueError as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, str(exc)) from None
        from .columns import _json  # JSON the browser reads (no NaN)
        self._send(HTTPStatus.OK, _json(body), "application/json")

    def _post(self, path: str, query: dict[str, list[str]]) -> None:
        if path != "/api/loaded":
            raise HttpError(HTTPStatus.NOT_FOUND, f"{path}: nothing to post to")
        origin = self.headers.get("Origin")
        if origin is not None and urlsplit(origin).netloc != self.headers.get("Host"):
            raise HttpError(HTTPStatus.FORBIDDEN, "cross-origin posts are refused")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "bad Content-Length") from None
        if not 0 <= length <= _MAX_POST:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "the body is too large")
        try:
            info = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            raise HttpError(HTTPStatus.BAD_REQUEST, "the body is not JSON") from None
        if not isinstance(info, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "the body is not a JSON object")
        self._send(HTTPStatus.OK, b'{"ok": true}', "application/json")
        self.server.page_loaded(info)

    # -- checks -----------------------------------------------------------------------------------

    def _check_host(self) -> None:
        if not self.server.check_host:
            return
        host = self.headers.get("Host", "")
        if not host:  # not a browser: browsers always name the host
            return
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        name = name.strip("[]").lower()
        if name not in _LOOPBACK_NAMES and not _is_loopback(name):
            raise HttpError(HTTPStatus.FORBIDDEN, f"Host {host!r} is not this machine; use 127.0.0.1")

    def _static(self, name: str) -> str:
        parts = name.split("/")
        if "\\" in name or "\0" in name or any(p in ("", ".", "..") for p in parts):
            raise Refused(f"/static/{name}: not a file of the page")
        path = os.path.realpath(os.path.join(self.server.static_dir, *parts))
        if not path.startswith(self.server.static_dir + os.sep):
            raise Refused(f"/static/{name}: not a file of the page")
        if not os.path.isfile(path):
            raise NotFound(f"/static/{name}: no such file")
        return path

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors the base class finds (a bad request line, a method we don't answer), as one line."""
        self.close_connection = True
        line = " ".join((message or self.responses.get(code, ("error",))[0]).split())
        body = (line + "\n").encode()
        self.send_response(code, message)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    # -- answers ----------------------------------------------------------------------------------

    def _send_file(self, path: str, ctype: str) -> None:
        """Stream a file (reports can be larger than we want to hold in memory twice)."""
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            raise NotFound(f"{os.path.basename(path)!r} no longer exists") from None
        except OSError as exc:
            raise HttpError(HTTPStatus.FORBIDDEN,
                            f"{os.path.basename(path)!r} cannot be read: {exc.strerror or exc}") from None
        with f:
            left = os.fstat(f.fileno()).st_size
            self._send_headers(HTTPStatus.OK, left, ctype)
            # Exactly the announced length, even if the file grows meanwhile; a file cut
            # meanwhile closes the connection short, which the client sees as an error.
            while left > 0 and (chunk := f.read(min(left, 1 << 20))):
                self.wfile.write(chunk)
                left -= len(chunk)
            self.wfile.flush()
            if left:
                self.close_connection = True

    def _send_text(self, status: HTTPStatus, message: str) -> None:
        line = " ".join(message.split())
        self.server.last_error = f"{int(status)} for {self.path}: {line}"
        self._send(status, line.encode() + b"\n", "text/plain; charset=utf-8")

    def _send(self, status: HTTPStatus, body: bytes | memoryview, ctype: str) -> None:
        self._send_headers(status, len(body), ctype)
        self.wfile.write(body)
        self.wfile.flush()

    def _send_headers(self, status: HTTPStatus, length: int, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()


def _number(query: dict[str, list[str]], key: str, kind: type, default: Any = None) -> Any:
    """``?key=`` as an int or a float (finite); ``default`` when absent, else required."""
    value = _one(query, key)
    if value is None and default is not None:
        return default
    try:
        number = kind(value or "")
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise HttpError(HTTPStatus.BAD_REQUEST, f"?{key}= must be {what}") from None
    if kind is float and not math.isfinite(number):
        raise HttpError(HTTPStatus.BAD_REQUEST, f"?{key}= must be a finite number")
    return number


def _one(query: dict[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    if not values:
        return None
    if len(values) > 1:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"give ?{key}= once")
    return values[0]
