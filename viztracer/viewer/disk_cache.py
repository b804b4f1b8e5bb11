"""Converted reports kept on disk, so that opening the same large trace again skips converting it.

A cache file holds one blob (``columns.trace_blob``'s result) and the key it was made for: the
report's real path, size and mtime (ns), the blob's magic and viztracer's version. Its name is a
hash of that key; the key is stored inside too and compared on reading, so a hash collision, a
file cut short or any other damage reads as a miss, and the blob is converted and written again.

Layout (little-endian)::

    0   8 bytes   b"VZCACHE1"
    8   uint32    length K of the key (UTF-8 JSON)
    12  uint32    0 (reserved)
    16  key, padded with spaces to a multiple of 8
    ..  uint64    length of the blob, which takes the rest of the file

A report may have more than one file, each of a ``kind`` (part of the key): the blob (kind
"") and, for a trace served in tiles, its levels of detail ("tiles", ``tiles.TiledTrace``),
which take about as long to build again as the blob takes to read.

Files are written to a temporary name in the same directory and renamed over, so a viewer killed
while writing leaves no half file under a cache name (and a reader that has the old one mapped
keeps its pages: rename never changes a file in place). Read, a blob is mapped (``mmap``), not
copied into the server's memory. Least recently used files (by mtime, set on every use) are
removed beyond ``budget`` bytes. A directory that cannot be made or written means no cache:
never an error for the user.
"""
from __future__ import annotations

import errno
import hashlib
import json
import mmap
import os
import queue
import struct
import tempfile
import threading
import time

from ..version import __version__

ENV = "VIZVIEWER_CACHE_DIR"
_MAGIC = b"VZCACHE1"
_SUFFIX = ".vzblob"
_TMP_PREFIX = ".tmp-"
_STALE_TMP = 3600   # seconds after which a temporary file is one a killed viewer left behind

# A conversion quicker than this is not cached: reading a cache file back costs about as much
# (a blob is 4 to 5 times the size of a .pftrace, about a third of a JSON report), and caching
# every small report opened would only churn the directory. Measured on a shared 2-core
# machine, a .pftrace converts at about 1.4 M events a second and JSON at about 0.9 M, so this
# is about a quarter of a million events, a 2 MB .pftrace or a 25 MB JSON report.
MIN_SECONDS = 0.25
BUDGET = 4 << 30


def default_dir() -> str | None:
    """``$VIZVIEWER_CACHE_DIR`` (empty: no cache), else ``$XDG_CACHE_HOME/viztracer/vizviewer``,
    else ``~/.cache/viztracer/vizviewer``."""
    chosen = os.environ.get(ENV)
    if chosen is not None:
        return chosen or None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "viztracer", "vizviewer")


class DiskCache:
    """Blobs in ``directory``, by report; ``load`` a mapped blob or None, ``store`` one."""

    def __init__(self, directory: str, budget: int = BUDGET, min_seconds: float = MIN_SECONDS) -> None:
        self.directory = directory
        self.budget = budget
        self.min_seconds = min_seconds

    @classmethod
    def from_env(cls) -> DiskCache | None:
        directory = default_dir()
        return cls(directory) if directory else None

    def key(self, path: str, st: os.stat_result, kind: str = "") -> str:
        from .columns import MAGIC  # the blob's format: a new one must not read an old cache
        head = [_MAGIC.decode(), MAGIC.decode(), __version__, os.path.realpath(path), st.st_size,
                st.st_mtime_ns]
        return json.dumps(head + [kind] if kind else head)

    def file_of(self, key: str) -> str:
        """The file of ``key``: named by its report (the key without its kind), then its kind,
        so that ``trim`` knows which files are of one report."""
        head = json.loads(key)
        report = hashlib.sha256(json.dumps(head[:6]).encode()).hexdigest()[:40]
        kind = f".{head[6]}" if len(head) > 6 else ""
        return os.path.join(self.directory, report + kind + _SUFFIX)

    @staticmethod
    def _report_of(file: str) -> str:
        """The report part of a cache file's name (``file_of``): the same for its blob and levels."""
        return os.path.basename(file).split(".", 1)[0]

    def load(self, path: str, st: os.stat_result, kind: str = "") -> memoryview | None:
        """The cached blob of ``path`` as it was when stat'ed as ``st``, or None."""
        key = self.key(path, st, kind)
        name = self.file_of(key)
        try:
            with open(name, "rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # missing, unreadable, or empty (mmap refuses length 0)
            return None
        blob = _check(mapped, key)
        if blob is None:
            return None
        try:
            os.utime(name)  # used now: the last to be dropped
        except OSError:
            pass
        return blob

    def store(self, path: str, st: os.stat_result, blob: bytes, kind: str = "") -> memoryview | None:
        """Write ``blob`` for ``path`` (stat'ed as ``st`` before converting), then drop old files
        beyond the budget; the blob as read back, mapped, or None when it could not be written."""
        file = self.open(path, st, len(blob), kind)
        if file is None:
            return None
        file.write(0, memoryview(blob))
        return file.finish()

    def open(self, path: str, st: os.stat_result, size: int, kind: str = "") -> CacheFile | None:
        """A cache file for a blob of ``size`` bytes, to be written a range at a time while the
        blob is made (``CacheFile``); None when the directory cannot be written."""
        key = self.key(path, st, kind)
        head = key.encode()
        head += b" " * (-len(head) % 8)
        try:
            os.makedirs(self.directory, mode=0o700, exist_ok=True)  # traces hold arguments
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=self.directory)
        except OSError:
            return None
        header = _MAGIC + struct.pack("<II", len(key.encode()), 0) + head + struct.pack("<Q", size)
        return CacheFile(self, path, st, kind, fd, tmp, header, size)

    def trim(self, keep: str | None = None) -> None:
        """Remove the least recently used cache files while they take more than the budget,
        and temporary files a killed viewer left. Never the files of ``keep``'s report (the
        one just written, and its blob or levels): a report whose blob and levels alone take
        more than the budget (100M calls: 3.6 and 0.9 GB) keeps both, or it would never open
        warm."""
        report = self._report_of(keep) if keep else None
        now = time.time()
        files = []
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        for name in names:
            full = os.path.join(self.directory, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            if name.startswith(_TMP_PREFIX):
                if now - st.st_mtime > _STALE_TMP:
                    _remove(full)
            elif name.endswith(_SUFFIX):
                files.append((st.st_mtime, st.st_size, full))
        total = sum(size for _, size, _ in files)
        for _, size, full in sorted(files):
            if total <= self.budget:
                break
            if self._report_of(full) != report:
                _remove(full)
                total -= size


class BlobFile:
    """A file written while its blob is made: ``write`` hands over a range of the blob as soon
    as it is final, and a thread of its own writes it (``pwrite``, without the GIL) while the
    conversion goes on; ``finish`` waits for the last range and gives the blob mapped from the
    file (None when it could not be written), ``abandon`` drops the file. The file gets its
    whole size first (``posix_fallocate``): a disk too full for the blob is known before any
    of it is written, and the writes find their blocks allocated. Past the share of memory
    the kernel lets a writer dirty, they go at the disk's pace (3.6 GB: 8.2 s here)."""

    def __init__(self, fd: int, header: bytes, size: int) -> None:
        self.fd, self.base, self.size = fd, len(header), size
        self.error: OSError | None = None
        self.written = 0
        self.ranges: queue.SimpleQueue[tuple[int, memoryview] | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._write_ranges, name="vizviewer-blob-file", daemon=True)
        if header:
            self.ranges.put((-self.base, memoryview(header)))
        self.thread.start()

    def write(self, offset: int, data: memoryview) -> None:
        """Write ``data``, the final bytes of the blob at ``offset`` (kept alive until written)."""
        self.ranges.put((offset, data))

    def _write_ranges(self) -> None:
        try:
            os.posix_fallocate(self.fd, 0, self.base + self.size)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                self.error = e      # no room for it: no file (else written as it comes)
        while (item := self.ranges.get()) is not None:
            offset, data = item
            if self.error is not None:
                continue
            at, done = self.base + offset, 0
            try:
                while done < len(data):
                    done += os.pwrite(self.fd, data[done:], at + done)
                self.written += done
            except OSError as e:    # a full disk...: no file
                self.error = e

    def _written(self) -> bool:
        """Wait for the writes; True when the file holds the whole blob (every byte of it
        written: its size is the blob's from the start)."""
        self.ranges.put(None)
        self.thread.join()
        return self.error is None and self.written == self.base + self.size

    def finish(self) -> memoryview | None:
        raise NotImplementedError

    def abandon(self) -> None:
        self._written()
        _close(self.fd)


class CacheFile(BlobFile):
    """A disk cache file written while its blob is made (``DiskCache.open``): written under a
    temporary name, renamed to its cache name by ``finish``."""

    def __init__(self, cache: DiskCache, path: str, st: os.stat_result, kind: str, fd: int, tmp: str,
                 header: bytes, size: int) -> None:
        self.cache, self.path, self.st, self.kind, self.tmp = cache, path, st, kind, tmp
        super().__init__(fd, header, size)

    def finish(self) -> memoryview | None:
        whole = self._written()
        _close(self.fd)
        name = self.cache.file_of(self.cache.key(self.path, self.st, self.kind))
        try:
            if not whole:
                raise OSError("not written whole")
            os.replace(self.tmp, name)
        except OSError:
            _remove(self.tmp)
            return None
        self.cache.trim(keep=name)
        return self.cache.load(self.path, self.st, self.kind)

    def abandon(self) -> None:
        """No cache file after all (the conversion failed, or the report changed meanwhile)."""
        super().abandon()
        _remove(self.tmp)


class TempBlob(BlobFile):
    """For a viewer with no disk cache: an unlinked temporary file, mapped once written, so
    that a blob too large to hold beside its tiles' levels is served from a map all the same;
    the file goes with the map."""

    @classmethod
    def open(cls, size: int) -> TempBlob | None:
        try:
            fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX)
        except OSError:
            return None
        _remove(tmp)
        return cls(fd, b"", size)

    def finish(self) -> memoryview | None:
        try:
            if self._written():
                return memoryview(mmap.mmap(self.fd, self.size, access=mmap.ACCESS_READ))
            return None
        except (OSError, ValueError):
            return None
        finally:
            _close(self.fd)


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _check(mapped: mmap.mmap, key: str) -> memoryview | None:
    """The blob in a mapped cache file if the file is whole and made for ``key``."""
    from .columns import MAGIC
    n = len(mapped)
    if n < 16 or mapped[:8] != _MAGIC:
        return None
    key_len = struct.unpack_from("<I", mapped, 8)[0]
    start = 16 + key_len + (-key_len % 8)
    if start + 8 > n or mapped[16:16 + key_len] != key.encode():
        return None
    length = struct.unpack_from("<Q", mapped, start)[0]
    start += 8
    if start + length != n or mapped[start:start + len(MAGIC)] != MAGIC:
        return None
    return memoryview(mapped)[start:]


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
