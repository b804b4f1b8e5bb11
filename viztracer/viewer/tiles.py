"""Level-of-detail tiles: a large trace's slices served a piece at a time, at the detail the
page can show.

The server keeps the converted blob (``columns.py``) and builds, once per trace, a reduced copy
of every (track, depth) row per zoom level k, with buckets ``w_k = w_0 * 4**k`` ns wide: at
level k, consecutive slices narrower than ``w_k`` that start in the same bucket are one box
(start of the first, the latest end, how many it holds, the name that holds most of their
time), and slices ``w_k`` wide or wider stay as they are. A row's boxes stay disjoint and
sorted by start. The levels go up until one tile covers the whole trace.

``w_0`` is chosen so that a level-0 tile holds about ``per_tile`` slices on average; a view
finer than ``w_0`` per pixel is drawn from the slices themselves ("raw" tiles, level -1). The
widths follow from the slice count and the trace's end alone (``level_widths``), so the
overview, which needs only them, is answered before any level exists.

Each level is made straight from the slices (``_tiles.merge_level``, a pass over them without
the GIL), so its dominant names are exact, by a thread of its own that ``TiledTrace`` starts:
the two a view of the whole trace draws first (``build_order``), then down to level 0. A
tile waits for its own level only (raw tiles for none), and ``levels_blob`` for all of them; a
level that could not be built makes them raise ``LevelsFailed``. Levels read back from the disk
cache are there at once.

Tile (k, j) covers ``[j * BUCKETS * w_k, (j + 1) * BUCKETS * w_k)`` ns after the trace start
(raw tiles use level 0's span). It is a blob in the ``columns.py`` layout with columns
``start``, ``dur`` (f64), ``name``, ``count``, ``first`` (i32: the position of the box's first
slice in the full columns, which ``/api/slice`` takes) and meta ``{level, index, t0, t1,
rows}``, ``rows`` a flat (track, depth, first, count) list of the rows that have boxes in it:
those overlapping the tile, the one box that starts before it included. A tile asked with a
search query has one more column, ``match`` (i32): how many of a box's slices match it.

A trace with more slices than ``threshold()`` is sent to the page as an overview instead of
the whole blob (``TiledTrace.overview``): everything but the per-slice columns, with
``meta["tiled"] = {"levels": [w_0, w_1, ...], "buckets": BUCKETS, "slice_count": n}``.
"""
from __future__ import annotations

import bisect
import json
import math
import os
import struct
import threading
from array import array
from typing import Any

from .. import _columns, _tiles
from .columns import MAGIC, _json, _pack
from .query import TraceQuery

BUCKETS = 1024
PER_TILE = 1 << 16          # slices in a level-0 tile, on average
THRESHOLD = 4_000_000       # slices above which the page gets an overview and tiles
_SLICE_COLUMNS = ("start", "dur", "name", "track", "depth", "parent", "args")
_LEVEL_COLUMNS = ("start", "dur", "name", "count", "first", "rows")
_FORMATS = {"f64": "d", "i32": "i", "u8": "B"}
# In ``levels_blob``'s meta: 2 since each level is made from the slices (exact dominant names);
# levels cached by the former cascade are built again.
_LEVELS_FORMAT = 2


def build_order(top: int) -> list[int]:
    """The order the levels 0..``top`` are built in. First the two a view of the whole trace,
    the first one, draws: the page takes the coarsest level whose width is at most a pixel, so
    the top one on a canvas at most ``end / w_top`` px wide (256 to 1024 px), else the one
    below it (up to four times as wide): that one first, as most screens are wider. They have
    the fewest boxes, so they are quick. Then down to level 0."""
    return [top - 1, top, *range(top - 2, -1, -1)] if top >= 1 else [top]


def threshold() -> int:
    """Slices above which ``/api/trace`` answers the overview; ``VIZVIEWER_TILE_THRESHOLD``
    overrides it (tests lower it to tile small traces)."""
    value = os.environ.get("VIZVIEWER_TILE_THRESHOLD")
    try:
        return int(value) if value else THRESHOLD
    except ValueError:
        return THRESHOLD


def _per_tile() -> int:
    """Slices per level-0 tile: ``VIZVIEWER_TILE_SLICES`` (for tests: several levels on a small trace)."""
    value = os.environ.get("VIZVIEWER_TILE_SLICES")
    try:
        return max(1, int(value)) if value else PER_TILE
    except ValueError:
        return PER_TILE


def read_meta(blob: bytes) -> dict:
    """The meta JSON of a blob, without touching its arrays."""
    if blob[:8] != MAGIC:
        raise ValueError("not a viewer blob")
    (meta_len, _) = struct.unpack_from("<II", blob, 8)
    return json.loads(bytes(memoryview(blob)[16:16 + meta_len]))


def _views(blob: bytes, meta: dict) -> dict[str, memoryview]:
    """Each array of the blob as a typed memoryview on the blob's bytes (no copy)."""
    whole = memoryview(blob)
    out = {}
    for key, (kind, offset, length) in meta["arrays"].items():
        fmt = _FORMATS[kind]
        size = array(fmt).itemsize
        out[key] = whole[offset:offset + length * size].cast(fmt)
    return out


def _copy(view: memoryview, lo: int, hi: int) -> array:
    out = array(view.format)
    out.frombytes(view[lo:hi].cast("B"))
    return out


def base_width(end: float, slices: int, per_tile: int) -> int:
    """``w_0``: the power of two (ns) that puts about ``per_tile`` slices in a tile on average."""
    if slices <= 0 or end <= 0:
        return 1
    ideal = per_tile * end / (BUCKETS * slices)
    return 1 << max(0, math.floor(math.log2(ideal))) if ideal >= 1 else 1


def level_widths(end: float, slices: int, per_tile: int) -> list[float]:
    """The bucket widths of the levels: ``w_0 = base_width(...)``, then ``w_k = w_0 * 4**k`` up
    to the first level whose tile (``BUCKETS * w_k``) covers the trace."""
    widths = [base_width(end, slices, per_tile)]
    while BUCKETS * widths[-1] < end:
        widths.append(widths[-1] * 4)
    return widths


class LevelsFailed(RuntimeError):
    """A level of detail could not be built (the building thread's error is the cause)."""


class _Level:
    """One zoom level: its bucket width and its boxes, row by row."""

    def __init__(self, width: float, start: array, dur: array, name: array, count: array,
                 first: array, rows: array) -> None:
        self.width = width
        self.start, self.dur, self.name, self.count, self.first = start, dur, name, count, first
        self.rows = rows


class TiledTrace:
    """The levels of one converted trace, its tiles, its overview and single slices' details."""

    def __init__(self, blob: bytes, per_tile: int | None = None, levels: bytes | None = None,
                 hold: threading.Event | None = None) -> None:
        """The levels of ``blob``: read from ``levels`` (what ``levels_blob`` gave for this
        blob, cached on disk) when it is for the same ``per_tile``, else built; those below a
        view of the whole trace once ``hold`` is set (the blob, held in memory until its file
        is written, is then read from that file's map: ``rebind``)."""
        self.blob = blob
        self._hold = hold
        self.meta = read_meta(blob)
        self.cols = _views(blob, self.meta)
        self.slice_count = len(self.cols["start"])
        self.end = float(self.meta["end"])
        self.row_list = array("i", self.meta["rows"])
        self.row_of = {(self.row_list[k], self.row_list[k + 1]): (self.row_list[k + 2], self.row_list[k + 3])
                       for k in range(0, len(self.row_list), 4)}
        self._lock = threading.Lock()
        self._overview: bytes | None = None
        self._args: array | None = None    # where each args table entry begins (_arg)
        self.query = TraceQuery(self.meta, self.cols)  # search, range statistics, flame graph
        self.per_tile = per_tile or _per_tile()
        self.widths = level_widths(self.end, self.slice_count, self.per_tile)
        self._levels: list[_Level | None] = [None] * len(self.widths)
        self._built = [threading.Event() for _ in self.widths]  # set once a level is there (or failed)
        self._error: Exception | None = None
        self._mapped = False    # the levels are views of a levels blob (read back, or rebound)
        self.read_back = levels is not None and self._read_levels(levels)
        if not self.read_back:
            # A daemon: the levels only live in this process's memory, so one that exits has
            # no use for them, and a viewer stopping (``--once``, Ctrl-C with no disk cache)
            # should not first finish a pass over millions of slices. The one consumer that must
            # finish at exit, the cache file (``BlobCache._save_later``, no daemon), waits for
            # the levels itself through ``levels_blob``. Its passes run without the GIL on
            # memory the thread keeps alive; if the interpreter shuts down meanwhile, the
            # thread never gets the GIL back, so it runs no Python in a finalizing interpreter.
            threading.Thread(target=self._build, name="vizviewer-levels", daemon=True).start()

    def rebind(self, blob: bytes) -> None:
        """Read the slices from ``blob`` from now on: the same bytes elsewhere (the blob's
        mapped cache file, so the converted bytes can be freed). Answers being made keep the
        views they took."""
        cols = _views(blob, self.meta)
        self.blob, self.cols = blob, cols
        self.query.cols = cols

    def rebind_levels(self, levels: bytes | memoryview) -> None:
        """Read the levels from ``levels`` from now on: what ``levels_blob`` gave, mapped from
        its cache file, so the built arrays (0.9 GB at 100M slices) leave memory. Answers
        being made keep the levels they took."""
        self._read_levels(levels)

    def held(self) -> int:
        """The bytes of the levels built in memory (0 once read from a map)."""
        if self._mapped:
            return 0
        return sum(len(getattr(lv, column)) * getattr(lv, column).itemsize
                   for lv in self._levels if lv is not None for column in _LEVEL_COLUMNS)

    def level(self, k: int) -> _Level:
        """Level ``k``, once it is built; LevelsFailed when it could not be."""
        self._built[k].wait()
        lv = self._levels[k]
        if lv is None:
            raise LevelsFailed(f"level {k} of the tiles could not be built: {self._error!r}") from self._error
        return lv

    @property
    def levels(self) -> list[_Level]:
        """Every level, once all are built; LevelsFailed when one could not be."""
        return [self.level(k) for k in range(len(self.widths))]

    def levels_blob(self) -> bytes:
        """The levels in the ``columns.py`` layout (arrays ``<k>.start`` ...), for the disk
        cache: reading them back takes a map, building them a pass over the slices per level.
        Waits for all of them to be built (LevelsFailed when one could not be)."""
        arrays: dict[str, Any] = {}
        for k, lv in enumerate(self.levels):
            for column in _LEVEL_COLUMNS:
                arrays[f"{k}.{column}"] = getattr(lv, column)
        meta = {"levels_of": self.slice_count, "end": self.end, "per_tile": self.per_tile,
                "buckets": BUCKETS, "widths": self.widths, "format": _LEVELS_FORMAT}
        return _pack(meta, arrays)

    def _read_levels(self, levels: bytes) -> bool:
        """Take the levels from a ``levels_blob``; False when it is not one for this trace and
        these settings (then they are built)."""
        try:
            meta = read_meta(levels)
            if [meta.get(k) for k in ("levels_of", "end", "per_tile", "buckets", "widths", "format")] != \
                    [self.slice_count, self.end, self.per_tile, BUCKETS, self.widths, _LEVELS_FORMAT]:
                return False
            views = _views(levels, meta)
            read = [_Level(width, *(views[f"{k}.{column}"] for column in _LEVEL_COLUMNS))
                    for k, width in enumerate(self.widths)]
        except (ValueError, KeyError, TypeError):
            return False
        self._levels[:] = read
        self._mapped = True
        for event in self._built:
            event.set()
        return True

    def _build(self) -> None:
        """The levels from the slices, in ``build_order`` (run by the thread ``__init__``
        starts). An error is kept for the requests that wait for the levels, not raised here,
        where nobody would see it but a traceback on stderr."""
        nnames = len(self.meta["names"])
        top = len(self.widths) - 1
        try:
            for k in build_order(top):
                if k < top - 1 and self._hold is not None:
                    self._hold.wait()
                # the views of now, none kept while waiting: a ``rebind`` meanwhile lets the
                # bytes they were views of go, and leaves these valid
                c = self.cols
                start, dur, name, count, first, rows = _tiles.merge_level(
                    c["start"], c["dur"], c["name"], self.row_list, self.widths[k], nnames)
                del c
                self._levels[k] = _Level(self.widths[k], start, dur, name, count, first, rows)
                self._built[k].set()
        except Exception as exc:  # noqa: BLE001 - raised to whoever waits for a level (``level``)
            self._error = exc
        finally:
            for event in self._built:  # the levels not built: their waiters see LevelsFailed
                event.set()

    def span(self, level: int) -> float:
        """The time a tile of ``level`` covers (raw tiles, -1, cover level 0's span)."""
        return BUCKETS * self.widths[max(level, 0)]

    def tile(self, level: int, index: int, query: str | None = None) -> bytes:
        """The blob of tile (level, index), with a ``match`` column when a search ``query`` is
        given; ValueError for a level or index out of range. Waits for ``level`` to be built
        (LevelsFailed when it could not be); a raw tile (-1) waits for none."""
        if not -1 <= level < len(self.widths):
            raise ValueError(f"level {level} is not between -1 and {len(self.widths) - 1}")
        span = self.span(level)
        if index < 0 or index * span > max(self.end, 0):
            raise ValueError(f"tile {index} of level {level} is outside the trace")
        t0, t1 = index * span, (index + 1) * span
        if level < 0:
            c = self.cols
            start, dur, name, rows = c["start"], c["dur"], c["name"], self.row_list
            count = first = None
        else:
            lv = self.level(level)
            start, dur, name, rows = memoryview(lv.start), memoryview(lv.dur), memoryview(lv.name), lv.rows
            count, first = memoryview(lv.count), memoryview(lv.first)
        out = {"start": array("d"), "dur": array("d"), "name": array("i"), "count": array("i"),
               "first": array("i")}
        out_rows: list[int] = []
        for k in range(0, len(rows), 4):
            lo, hi = rows[k + 2], rows[k + 2] + rows[k + 3]
            a = bisect.bisect_left(start, t0, lo, hi)
            # The box before the first start in the tile may reach into it (a row's boxes are
            # disjoint, so only that one); the page's drawRow looks at it the same way.
            if a > lo and start[a - 1] + dur[a - 1] >= t0:
                a -= 1
            b = bisect.bisect_left(start, t1, a, hi)
            if a == b:
                continue
            out_rows += (rows[k], rows[k + 1], len(out["start"]), b - a)
            out["start"].frombytes(start[a:b].cast("B"))
            out["dur"].frombytes(dur[a:b].cast("B"))
            out["name"].frombytes(name[a:b].cast("B"))
            if count is None or first is None:  # raw: each slice is its own box
                out["count"].extend(array("i", [1]) * (b - a))
                out["first"].extend(array("i", range(a, b)))
            else:
                out["count"].frombytes(count[a:b].cast("B"))
                out["first"].frombytes(first[a:b].cast("B"))
        if query is not None:
            # Per box, not per name: a merged box is highlighted when any slice in it matches
            # (its dominant name may not), as the whole page's prefix count of matches decides.
            out["match"] = self.query.box_matches(query, out["first"], out["count"])
        meta = {"level": level, "index": index, "t0": t0, "t1": t1, "rows": out_rows}
        return _pack(meta, out)

    # -- the overview ----------------------------------------------------------------------------

    def _arg(self, a: int) -> Any:
        """Entry ``a`` of the args table, parsed alone: the table of a program traced with its
        arguments is hundreds of MB, which parsed whole took seconds and gigabytes for one
        click (or for the overview, when an instant has args)."""
        text = self.cols["args_json"]
        with self._lock:
            if self._args is None:
                self._args = _columns.json_array_starts(text) if len(text) else array("q", [0])
            starts = self._args
        if not 0 <= a < len(starts) - 1:
            raise ValueError(f"args {a} is not in the table of {len(starts) - 1}")
        return json.loads(bytes(text[starts[a]:starts[a + 1] - 1]))

    @property
    def overview(self) -> bytes:
        """The blob without the per-slice columns (empty), with ``meta["tiled"]``; the args
        table keeps only the instants' args."""
        if self._overview is not None:
            return self._overview
        meta = {k: v for k, v in self.meta.items() if k != "arrays"}
        meta["tiled"] = {"levels": self.widths, "buckets": BUCKETS, "slice_count": self.slice_count}
        columns: dict[str, array] = {}
        inst_args = self.cols.get("inst_args")
        kept: list[Any] = []
        for key, view in self.cols.items():
            if key in _SLICE_COLUMNS:
                columns[key] = array(view.format)
            elif key == "inst_args" and inst_args is not None:
                renumbered = array("i")
                for a in inst_args:
                    if a >= 0:
                        kept.append(self._arg(a))
                        renumbered.append(len(kept) - 1)
                    else:
                        renumbered.append(-1)
                columns[key] = renumbered
            elif key == "args_json":
                columns[key] = array("B")  # filled below, once the instants' args are known
            else:
                columns[key] = _copy(view, 0, len(view))
        columns["args_json"] = array("B", _json(kept))
        blob = _pack(meta, columns)
        with self._lock:
            self._overview = blob
        return blob

    # -- one slice -------------------------------------------------------------------------------

    def slice_details(self, i: int) -> dict:
        """What the page shows for slice ``i``: name, times, thread, depth, args, self time and
        the chain of its parents (innermost first). ValueError when there is no such slice."""
        if not 0 <= i < self.slice_count:
            raise ValueError(f"slice {i} is not between 0 and {self.slice_count - 1}")
        c, names = self.cols, self.meta["names"]
        track, depth = c["track"][i], c["depth"][i]
        s, d = c["start"][i], c["dur"][i]
        kids = 0.0
        run = self.row_of.get((track, depth + 1))
        if run is not None:
            lo, hi = run[0], run[0] + run[1]
            k = bisect.bisect_left(c["start"], s, lo, hi)
            start, dur, parent = c["start"], c["dur"], c["parent"]
            while k < hi and start[k] < s + d:
                if parent[k] == i:
                    kids += dur[k]
                k += 1
        parents = []
        p = c["parent"][i]
        while p >= 0:
            parents.append({"i": p, "name": names[c["name"][p]], "start": c["start"][p], "dur": c["dur"][p],
                            "depth": c["depth"][p]})
            p = c["parent"][p]
        a = c["args"][i]
        return {"i": i, "name": names[c["name"][i]], "start": s, "dur": d, "self": max(d - kids, 0.0),
                "track": track, "depth": depth, "args": self._arg(a) if a >= 0 else None,
                "parents": parents}
