"""vizviewer's conversion cache on disk (``viewer/disk_cache.py``) and its use by ``BlobCache``.

A second viewer on the same, unchanged report reads the blob back instead of converting (the
converter is counted); any change to the report, and any damage to the cache file, means a new
conversion; a cache that cannot be written means no cache, never an error.
"""
from __future__ import annotations

import os
import tempfile
import threading
import time

import pytest
from conftest_viewer_helpers import make_trace, request

from viztracer.viewer import disk_cache
from viztracer.viewer import server as server_module
from viztracer.viewer.columns import MAGIC, trace_blob
from viztracer.viewer.disk_cache import DiskCache
from viztracer.viewer.reports import Reports
from viztracer.viewer.server import BlobCache, ViewerServer
from viztracer.viewer.tiles import TiledTrace


class Counting:
    """The real converter, counted."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path: str, progress, out=None) -> bytes:
        self.calls.append(os.path.basename(path))
        return trace_blob(path, progress, out)


def cache_files(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".vzblob"))


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


class Saved(BlobCache):
    """A BlobCache whose ``get`` also waits for the cache file it writes meanwhile, and gives
    what it serves once that is written."""

    def get(self, path):
        data = super().get(path)
        self.saved()
        with self._lock:
            entry = self._entries.get(path)
        return entry.data if entry is not None and entry.data is not None else data


def viewer_cache(cache_dir, convert=None, **kw) -> BlobCache:
    """A BlobCache as a new vizviewer makes it, caching every conversion (however quick); its
    ``get`` returns once the cache file is written (see ``Saved``)."""
    return Saved(convert or Counting(), disk=DiskCache(str(cache_dir), min_seconds=0, **kw))


def test_written_on_first_open_and_read_back_on_the_second(tmp_path, cache_dir):
    report = str(make_trace(tmp_path / "r.json", n=10))
    first = viewer_cache(cache_dir)
    blob = first.get(report)
    assert first.convert.calls == ["r.json"]
    assert len(cache_files(cache_dir)) == 1

    second = viewer_cache(cache_dir)  # a new viewer on the same, unchanged report
    again = second.get(report)
    assert second.convert.calls == []
    assert isinstance(again, memoryview)  # mapped, not read into memory
    assert bytes(again) == bytes(blob) == trace_blob(report)


def test_served_from_the_cache_byte_for_byte(tmp_path, cache_dir):
    report = make_trace(tmp_path / "r.pftrace", n=10)
    viewer_cache(cache_dir).get(str(report))
    cache = viewer_cache(cache_dir)
    server = ViewerServer(Reports(str(report)), "127.0.0.1", 0, cache=cache)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        resp = request(server.port, "/api/trace")
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status == 200
    assert resp.body == trace_blob(str(report))
    assert cache.convert.calls == []


@pytest.mark.parametrize("change", ["mtime", "size"])
def test_a_changed_report_is_converted_again(tmp_path, cache_dir, change):
    path = tmp_path / "r.json"
    report = str(make_trace(path, n=10))
    viewer_cache(cache_dir).get(report)
    st = os.stat(report)
    if change == "mtime":
        os.utime(report, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    else:
        make_trace(path, n=11)
        os.utime(report, ns=(st.st_atime_ns, st.st_mtime_ns))
    cache = viewer_cache(cache_dir)
    assert bytes(cache.get(report)) == trace_blob(report)
    assert cache.convert.calls == ["r.json"]


@pytest.mark.parametrize("damage", ["truncated", "empty", "magic", "key", "blob magic", "longer"])
def test_a_damaged_cache_file_is_ignored_and_rewritten(tmp_path, cache_dir, damage):
    report = str(make_trace(tmp_path / "r.json", n=10))
    viewer_cache(cache_dir).get(report)
    [name] = cache_files(cache_dir)
    file = cache_dir / name
    data = bytearray(file.read_bytes())
    key_end = 16 + data[8]
    if damage == "truncated":
        data = data[:len(data) // 2]
    elif damage == "empty":
        data = bytearray()
    elif damage == "magic":
        data[0] ^= 1
    elif damage == "key":
        data[key_end - 3] ^= 1
    elif damage == "blob magic":
        data[-len(bytes(viewer_cache(cache_dir).get(report))) + 1] ^= 1
    else:
        data += b"\0" * 8
    file.write_bytes(bytes(data))

    cache = viewer_cache(cache_dir)
    assert bytes(cache.get(report)) == trace_blob(report)
    assert cache.convert.calls == ["r.json"]
    # rewritten whole: the next viewer reads it back
    third = viewer_cache(cache_dir)
    assert bytes(third.get(report)) == trace_blob(report)
    assert third.convert.calls == []


def test_an_unwritable_cache_directory_means_no_cache(tmp_path, capsys):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    report = make_trace(tmp_path / "r.json", n=10)
    cache = viewer_cache(blocker / "cache")
    server = ViewerServer(Reports(str(report)), "127.0.0.1", 0, cache=cache)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        resp = request(server.port, "/api/trace")
        again = request(server.port, "/api/trace")
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status == again.status == 200
    assert resp.body == again.body == trace_blob(str(report))
    assert cache.convert.calls == ["r.json"]  # kept in memory as before
    captured = capsys.readouterr()
    assert captured.err == captured.out == ""


def test_quick_conversions_are_not_cached(tmp_path, cache_dir):
    report = str(make_trace(tmp_path / "r.json", n=10))
    cache = BlobCache(Counting(), disk=DiskCache(str(cache_dir), min_seconds=60))
    cache.get(report)
    assert not cache_dir.exists() or cache_files(cache_dir) == []


def test_the_budget_drops_the_least_recently_used_files(tmp_path, cache_dir):
    reports = [str(make_trace(tmp_path / f"{name}.json", n=10)) for name in "abcd"]
    size = len(trace_blob(reports[0])) + 200  # a cache file: the blob and its key
    disk = DiskCache(str(cache_dir), budget=int(size * 2.5), min_seconds=0)   # room for two
    cache = Saved(Counting(), disk=disk)
    for k, report in enumerate(reports[:2]):
        cache.get(report)
        file = disk.file_of(disk.key(report, os.stat(report)))
        os.utime(file, (1000 + k, 1000 + k))   # a and b, in that order, long ago
    assert disk.load(reports[0], os.stat(reports[0])) is not None  # a used again now: b is older
    cache.get(reports[2])  # c written: past the budget, b goes
    assert len(cache_files(cache_dir)) == 2
    after = viewer_cache(cache_dir)
    for report in reports[:3]:
        after.get(report)
    assert after.convert.calls == ["b.json"]


def test_a_report_keeps_its_blob_and_levels_however_large(tmp_path, cache_dir):
    old, big = (str(make_trace(tmp_path / f"{name}.json", n=10)) for name in ("old", "big"))
    blob = trace_blob(big)
    disk = DiskCache(str(cache_dir), budget=len(blob), min_seconds=0)    # not even blob + levels
    disk.store(old, os.stat(old), trace_blob(old))
    assert disk.store(big, os.stat(big), blob) is not None      # the old report's file goes
    levels = MAGIC + b"levels" * 1000     # a blob of its own kind
    assert disk.store(big, os.stat(big), levels, "tiles") is not None
    assert sorted(os.path.basename(f) for f in cache_files(cache_dir)) == sorted(
        os.path.basename(disk.file_of(disk.key(big, os.stat(big), kind))) for kind in ("", "tiles"))
    assert disk.load(big, os.stat(big)) == blob
    assert disk.load(big, os.stat(big), "tiles") == levels
    assert disk.load(old, os.stat(old)) is None


def test_the_cache_file_is_written_once_the_first_page_has_drawn(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(server_module, "SAVE_AFTER", 60.0)
    report = str(make_trace(tmp_path / "r.json", n=10))
    cache = BlobCache(Counting(), disk=DiskCache(str(cache_dir), min_seconds=0))
    server = ViewerServer(Reports(report), "127.0.0.1", 0, cache=cache)
    try:
        assert server.trace_answer(report) == trace_blob(report)
        time.sleep(0.5)
        assert not cache_dir.exists() or cache_files(cache_dir) == []   # the page draws first
        server.page_loaded({"file": "r.json"})
        deadline = time.monotonic() + 30
        while not (cache_dir.exists() and cache_files(cache_dir)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(cache_files(cache_dir)) == 1
    finally:
        server.server_close()
        cache.saved()


@pytest.mark.parametrize("ext", [".json", ".pftrace"])
def test_a_blob_past_write_first_is_written_while_made_and_then_served_from_its_map(tmp_path, cache_dir,
                                                                                 monkeypatch, ext):
    """A blob too large to hold with its tiles' levels (100M calls: 3.4 GB) is written to the
    disk cache while it is made, and answered from memory until the rest is written (no page
    draws here: nothing waits for one); then it is served from the map, so the converted
    bytes leave memory before the levels below a whole view are built."""
    monkeypatch.setattr(server_module, "SAVE_AFTER", 60.0)
    report = str(make_trace(tmp_path / f"r{ext}", n=10))
    converted = trace_blob(report)
    monkeypatch.setattr(server_module, "WRITE_FIRST", len(converted))
    cache = BlobCache(Counting(), disk=DiskCache(str(cache_dir), min_seconds=0))
    server = ViewerServer(Reports(report), "127.0.0.1", 0, cache=cache)
    try:
        assert cache.get(report) == converted
        wait_for(lambda: isinstance(cache.get(report), memoryview))
        served = cache.get(report)
        assert len(cache_files(cache_dir)) == 1
        assert bytes(served) == converted
        assert server.trace_answer(report) == converted
        assert cache.get(report) is served and cache.convert.calls == [f"r{ext}"]
    finally:
        server.server_close()
        cache.saved()
    monkeypatch.setattr(server_module, "WRITE_FIRST", len(converted) + 1)   # one byte short
    small = BlobCache(Counting(), disk=DiskCache(str(cache_dir / "other"), min_seconds=0))
    try:
        assert isinstance(small.get(report), bytes)     # written once the page has drawn
    finally:
        small.write_now()
        small.saved()


def test_with_no_disk_cache_a_blob_past_write_first_is_served_from_a_temporary_file(tmp_path, monkeypatch):
    """A viewer with no disk cache still serves a blob past WRITE_FIRST from a map, not from
    memory: an unlinked temporary file, gone with the viewer."""
    report = str(make_trace(tmp_path / "r.pftrace", n=10))
    converted = trace_blob(report)
    monkeypatch.setattr(server_module, "WRITE_FIRST", len(converted))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", None)      # TMPDIR read again
    cache = BlobCache(Counting(), disk=None)
    assert cache.get(report) == converted
    cache.saved()
    served = cache.get(report)
    assert isinstance(served, memoryview) and bytes(served) == converted
    assert os.listdir(tmp_path / "tmp") == []       # unlinked: nothing to clean up
    assert cache.get(report) is served and cache.convert.calls == ["r.pftrace"]


def test_past_write_first_the_levels_below_a_whole_view_wait_for_the_map(tmp_path, cache_dir, monkeypatch):
    """While the file of a blob past WRITE_FIRST is being written the blob is in memory: only
    the levels a whole view draws are built from it; the levels below (0.9 GB at 100M calls)
    are built once the blob is served from the map, from the map."""
    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "4")
    report = str(make_trace(tmp_path / "r.pftrace", n=12))
    converted = trace_blob(report)
    monkeypatch.setattr(server_module, "WRITE_FIRST", len(converted))
    written = threading.Event()
    real_finish = disk_cache.CacheFile.finish

    def held_finish(self):
        assert written.wait(20)
        return real_finish(self)

    monkeypatch.setattr(disk_cache.CacheFile, "finish", held_finish)
    cache = BlobCache(Counting(), disk=DiskCache(str(cache_dir), min_seconds=0))
    try:
        assert cache.get(report) == converted
        tiles = cache.tiles(report)
        top = len(tiles.widths) - 1
        assert top >= 3
        assert [tiles.level(k).width for k in (top, top - 1)] == tiles.widths[-1:-3:-1]
        time.sleep(0.2)
        assert not any(tiles._built[k].is_set() for k in range(top - 1))  # held: no map yet
        written.set()
        assert [tiles.level(k).width for k in range(top - 1)] == tiles.widths[:top - 1]
        assert isinstance(cache.get(report), memoryview) and isinstance(tiles.blob, memoryview)
        expected = TiledTrace(converted)
        assert [tiles.tile(k, 0) for k in range(top + 1)] == [expected.tile(k, 0) for k in range(top + 1)]
    finally:
        written.set()
        cache.saved()


class Ranges:
    """A sink for ``trace_blob``'s ``out`` keeping each range as it was when handed over."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, bytes]] = []
        self.size = 0

    def __call__(self, size: int) -> Ranges:
        self.size = size
        return self

    def write(self, offset: int, data: memoryview) -> None:
        self.ranges.append((offset, bytes(data)))


def test_the_blob_is_handed_over_a_column_at_a_time_each_once_final(tmp_path):
    """A .pftrace's slice columns are laid out straight into the blob, one after the other:
    each is handed to the cache file as soon as it is final (the write overlaps the layout),
    everything else at once, and together the ranges are the blob, each byte once."""
    report = str(make_trace(tmp_path / "r.pftrace", n=12))
    sink = Ranges()
    blob = trace_blob(report, None, sink)
    assert sink.size == len(blob)
    assert len(sink.ranges) >= 1 + 7      # the header and meta, then each slice column
    at = 0
    for offset, data in sorted(sink.ranges):
        assert offset == at                       # no gap, no overlap
        assert data == blob[offset:offset + len(data)]   # final when handed over
        at += len(data)
    assert at == len(blob)


def test_a_cache_file_waits_for_no_page_longer_than_save_after(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setattr(server_module, "SAVE_AFTER", 0.3)
    report = str(make_trace(tmp_path / "r.json", n=10))
    cache = BlobCache(Counting(), disk=DiskCache(str(cache_dir), min_seconds=0))
    cache.get(report)
    deadline = time.monotonic() + 30
    while not (cache_dir.exists() and cache_files(cache_dir)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(cache_files(cache_dir)) == 1 and not cache._write_now.is_set()


def test_temporary_files_left_by_a_killed_viewer_are_removed(tmp_path, cache_dir):
    cache_dir.mkdir()
    stale, fresh = cache_dir / ".tmp-stale", cache_dir / ".tmp-fresh"
    stale.write_bytes(b"x" * 100)
    fresh.write_bytes(b"x" * 100)   # maybe another viewer writing right now
    os.utime(stale, (1000, 1000))
    viewer_cache(cache_dir).get(str(make_trace(tmp_path / "r.json", n=10)))
    assert not stale.exists() and fresh.exists()


def test_the_cache_directory_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("VIZVIEWER_CACHE_DIR", str(tmp_path / "here"))
    assert DiskCache.from_env().directory == str(tmp_path / "here")
    monkeypatch.setenv("VIZVIEWER_CACHE_DIR", "")
    assert DiskCache.from_env() is None
    assert BlobCache().disk is None
    monkeypatch.delenv("VIZVIEWER_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert disk_cache.default_dir() == str(tmp_path / "xdg" / "viztracer" / "vizviewer")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert disk_cache.default_dir() == str(tmp_path / "home" / ".cache" / "viztracer" / "vizviewer")


def test_mapped_blobs_do_not_count_toward_the_memory_budget(tmp_path, cache_dir):
    reports = [str(make_trace(tmp_path / f"{name}.json", n=10)) for name in "abc"]
    # nothing may be held in memory, two maps may be kept
    cache = Saved(Counting(), budget=0, disk=DiskCache(str(cache_dir), min_seconds=0), max_mapped=2)
    a, b = cache.get(reports[0]), cache.get(reports[1])
    assert isinstance(a, memoryview) and isinstance(b, memoryview)
    assert cache.get(reports[0]) is a and cache.get(reports[1]) is b   # both kept
    cache.get(reports[2])   # a third map: the least recently used (a) is dropped
    assert cache.get(reports[1]) is b
    again = cache.get(reports[0])
    assert again is not a and bytes(again) == bytes(a)   # read back from the disk, not converted
    assert cache.convert.calls == ["a.json", "b.json", "c.json"]


def test_a_write_that_fails_midway_leaves_no_cache_file(tmp_path, cache_dir, monkeypatch):
    report = str(make_trace(tmp_path / "r.json", n=10))

    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(disk_cache.os, "replace", full_disk)   # the blob written, not yet renamed
    cache = viewer_cache(cache_dir)
    assert bytes(cache.get(report)) == trace_blob(report)
    assert os.listdir(cache_dir) == []   # neither a cache file nor the temporary one


@pytest.mark.parametrize("fault", ["disk full", "no room", "report changed", "conversion failed"])
def test_a_blob_written_while_made_leaves_no_cache_file_when_that_goes_wrong(tmp_path, cache_dir,
                                                                          monkeypatch, fault):
    """Past WRITE_FIRST the cache file is written while the blob is made: a write that fails,
    a report that changed meanwhile or a conversion that failed leaves neither a cache file
    nor the temporary one, and the page is answered (or told the error) as without a cache."""
    report = str(make_trace(tmp_path / "r.pftrace", n=10))
    converted = trace_blob(report)
    monkeypatch.setattr(server_module, "WRITE_FIRST", 1)
    monkeypatch.setattr(server_module, "SAVE_AFTER", 60.0)
    real_pwrite = os.pwrite
    writes = []

    def pwrite(fd, data, offset):
        writes.append(offset)
        if fault == "disk full" and offset > 0:
            raise OSError(28, "No space left on device")
        return real_pwrite(fd, data, offset)

    def posix_fallocate(fd, offset, size):     # "no room": known before anything is written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(disk_cache.os, "pwrite", pwrite)
    if fault == "no room":
        monkeypatch.setattr(disk_cache.os, "posix_fallocate", posix_fallocate)

    def convert(path, progress, out=None):
        blob = trace_blob(path, progress, out)
        if fault == "report changed":
            st = os.stat(path)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
        elif fault == "conversion failed":
            raise ValueError("boom")
        return blob

    cache = BlobCache(convert, disk=DiskCache(str(cache_dir), min_seconds=0))
    try:
        if fault == "conversion failed":
            with pytest.raises(ValueError, match="boom"):
                cache.get(report)
        else:
            assert cache.get(report) == converted
            cache.saved()
            served = cache.get(report)      # from memory: no file to map
            assert isinstance(served, bytes) and served == converted
    finally:
        cache.write_now()
        cache.saved()
    # neither a cache file nor a temporary one: no second try to write a cache file either
    assert os.listdir(cache_dir) == []
    if fault == "no room":
        assert writes == []


class HeldDiskCache(DiskCache):
    """A disk cache whose writes wait for ``go`` to be set."""

    def __init__(self, go: threading.Event, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.go = go

    def store(self, *args, **kwargs):
        assert self.go.wait(20)
        return super().store(*args, **kwargs)


def wait_for(predicate, seconds=20.0) -> None:
    import time
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "the cache file never came"
        time.sleep(0.01)


def test_the_levels_of_a_tiled_trace_are_cached_beside_its_blob(tmp_path, cache_dir, monkeypatch):
    """A trace served in tiles: its levels of detail are written to the cache after they are
    built, and a second viewer reads them back instead of building them, with the same tiles;
    levels made with other settings, or damaged, are built again."""
    import json

    from test_viewer_tiles import random_report

    from viztracer.viewer import tiles as tiles_module
    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "200")     # several levels on a small trace
    report = tmp_path / "r.json"
    report.write_text(json.dumps(random_report(calls=3000)))
    first = viewer_cache(cache_dir).tiles(str(report))
    assert not first.read_back and len(first.levels) >= 3
    wait_for(lambda: len(cache_files(cache_dir)) == 2)      # the blob, then the levels
    wait_for(lambda: first.held() == 0)     # once written, read from the map: no longer held
    assert all(isinstance(lv.start, memoryview) for lv in first.levels)
    second = viewer_cache(cache_dir).tiles(str(report))
    assert second.read_back
    assert second.widths == first.widths
    for level in range(-1, len(first.levels)):
        for index in range(int(first.end // first.span(level)) + 1):
            assert second.tile(level, index) == first.tile(level, index)

    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "400")     # other settings: other levels
    other = viewer_cache(cache_dir).tiles(str(report))
    assert not other.read_back and other.widths != first.widths
    built = tiles_module.TiledTrace(viewer_cache(cache_dir).get(str(report)))
    assert [other.tile(k, 0) for k in range(len(other.levels))] == \
        [built.tile(k, 0) for k in range(len(built.levels))]


def test_levels_built_in_memory_count_in_the_memory_budget(tmp_path, monkeypatch):
    import json

    from test_viewer_tiles import random_report
    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "200")
    reports = []
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text(json.dumps(random_report(calls=3000)))
        reports.append(str(tmp_path / f"{name}.json"))
    size = len(trace_blob(reports[0]))
    cache = BlobCache(Counting(), budget=2 * size + 100, disk=None)    # room for the two blobs
    tiles = cache.tiles(reports[0])
    assert len(tiles.levels) >= 3 and tiles.held() > 100
    cache.get(reports[1])     # both blobs fit, not with a's levels: a goes
    cache.get(reports[0])
    assert cache.convert.calls == ["a.json", "b.json", "a.json"]
    assert cache.tiles(reports[0]) is not tiles


def test_levels_that_could_not_be_built_are_not_cached_and_say_nothing(tmp_path, cache_dir, monkeypatch,
                                                                       capfd):
    """The thread writing the levels' cache file waits for them: when their build fails, it
    writes none and raises nothing (no traceback on stderr); the tiles asked for say so."""
    import json

    from test_viewer_tiles import FailingBelowWholeView, random_report

    from viztracer.viewer import tiles as tiles_module
    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "200")
    monkeypatch.setattr(tiles_module, "_tiles", FailingBelowWholeView(float("inf")))
    hooked: list = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    report = tmp_path / "r.json"
    report.write_text(json.dumps(random_report(calls=3000)))
    cache = viewer_cache(cache_dir)
    tiles = cache.tiles(str(report))
    assert not tiles.read_back
    with pytest.raises(tiles_module.LevelsFailed):
        tiles.tile(0, 0)
    cache.saved()
    assert len(cache_files(cache_dir)) == 1         # the blob only
    assert hooked == [] and capfd.readouterr().err == ""


def test_the_page_is_answered_while_the_cache_file_is_written(tmp_path, cache_dir, monkeypatch):
    """The converted bytes are served at once; the cache file is written by a thread of its
    own, and once it is, the blob and its tiles are read from the mapped file."""
    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "16")
    report = str(make_trace(tmp_path / "r.json", n=10))
    go = threading.Event()
    cache = BlobCache(Counting(), disk=HeldDiskCache(go, str(cache_dir), min_seconds=0))
    first = cache.get(report)
    tiles = cache.tiles(report)
    assert isinstance(first, bytes) and tiles.blob is first
    assert cache.progress(report)["state"] == "ready"
    assert not cache_dir.exists() or cache_files(cache_dir) == []
    before = tiles.tile(0, 0)
    go.set()
    cache.saved()
    assert len(cache_files(cache_dir)) == 2         # the blob and the levels
    served = cache.get(report)
    assert isinstance(served, memoryview) and bytes(served) == first
    assert tiles.blob is served and tiles.cols["start"].obj is not None
    assert tiles.tile(0, 0) == before


def test_the_cache_file_is_written_by_no_daemon_even_for_a_request_thread(tmp_path, cache_dir):
    """The server's request threads are daemons, and a thread takes its maker's flag: the
    cache file's writer must still be no daemon, or the process leaves the file half written
    when it exits (``--once``, Ctrl+C, SIGTERM) instead of finishing it."""
    report = str(make_trace(tmp_path / "r.json", n=10))
    go = threading.Event()
    cache = BlobCache(Counting(), disk=HeldDiskCache(go, str(cache_dir), min_seconds=0))
    request = threading.Thread(target=cache.get, args=(report,), daemon=True)
    request.start()
    request.join(30)
    try:
        writers = [t for t in threading.enumerate() if t.name == "vizviewer-cache"]
        assert writers and not any(t.daemon for t in writers)
    finally:
        go.set()
        cache.saved()
    assert len(cache_files(cache_dir)) == 1
