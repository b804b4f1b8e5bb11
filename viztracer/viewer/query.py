"""Search, range statistics and the flame graph, answered by the server for a tiled trace.

A trace past ``tiles.threshold()`` slices reaches the page as an overview and tiles
(``tiles.py``), so the page cannot walk its slices the way it does for a trace it holds whole.
The server holds the columns and answers the same questions with the same rules, walking them
in compiled loops (``pyx/query.pyx``):

- search: the names that contain the query (case-insensitive), how many slices carry them, and
  the match after or before a given one in the page's order (start, track, position);
- range statistics: per name, the time clipped to [a, b] (a call inside a call of the same name
  counted once, by its outermost one), self time and calls, as ``VT.rangeStats``;
- the flame graph: identical stacks aggregated over [a, b], or under one slice, as ``flame.js``
  builds it, answered as flat node lists the page turns back into its tree.
"""
from __future__ import annotations

import math
import threading
from array import array
from collections import OrderedDict
from typing import Any

from .. import _query

SEARCH_KEPT = 8  # queries whose name flags are kept (tiles asked with a query reuse them)


class TraceQuery:
    """The queries over one trace's columns (``meta`` and typed views ``cols`` of its blob)."""

    def __init__(self, meta: dict, cols: dict[str, Any]) -> None:
        self.meta = meta
        self.cols = cols
        self.names: list[str] = meta["names"]
        self.slice_count = len(cols["start"])
        flat = meta["rows"]
        runs = sorted((flat[k], flat[k + 1], flat[k + 2], flat[k + 3]) for k in range(0, len(flat), 4))
        # In (track, depth) order, as the page walks them: a parent comes before its children.
        self.rows = array("i", [v for run in runs for v in run])
        self._lock = threading.Lock()
        self._lowered: list[str] | None = None
        self._counts: array | None = None
        self._flags: OrderedDict[str, bytes] = OrderedDict()

    # -- search ----------------------------------------------------------------------------------

    @staticmethod
    def normal(query: str) -> str:
        """The text a query looks for: trimmed and lower-cased, as the page's search does."""
        return query.strip().lower()

    def flags(self, query: str) -> bytes:
        """One byte per name: 1 when the name contains ``query`` (case-insensitive)."""
        q = self.normal(query)
        with self._lock:
            found = self._flags.get(q)
            if found is not None:
                self._flags.move_to_end(q)
                return found
            if self._lowered is None:
                self._lowered = [n.lower() for n in self.names]
            lowered = self._lowered
        flags = bytes(1 if q and q in n else 0 for n in lowered)
        with self._lock:
            self._flags[q] = flags
            while len(self._flags) > SEARCH_KEPT:
                self._flags.popitem(last=False)
        return flags

    def _name_counts(self) -> array:
        with self._lock:
            if self._counts is None:
                self._counts = _query.name_counts(self.cols["name"], len(self.names))
            return self._counts

    def search(self, query: str, current: int = -1, direction: int = 0) -> dict:
        """``{"query", "names": [matching name indices], "total": slices matching}``; with a
        ``direction`` (1 or -1) also ``"match"``: the match after (before) slice ``current`` in
        (start, track, position) order, wrapping around, or the first (last) one when
        ``current`` is -1, as ``{"i", "rank", "start", "dur", "track", "depth", "name"}``, None
        when nothing matches. ValueError for a ``current`` that is no slice."""
        flags = self.flags(query)
        counts = self._name_counts()
        names = [n for n, f in enumerate(flags) if f]
        out: dict[str, Any] = {"query": query, "names": names, "total": sum(counts[n] for n in names)}
        if direction:
            if not -1 <= current < self.slice_count:
                raise ValueError(f"slice {current} is not between 0 and {self.slice_count - 1}")
            c = self.cols
            at_start = c["start"][current] if current >= 0 else 0.0
            at_track = c["track"][current] if current >= 0 else 0
            i, rank = _query.search_step(c["start"], c["name"], self.rows, flags, current, at_start, at_track,
                                         1 if direction > 0 else -1)
            out["match"] = None if i < 0 else {
                "i": i, "rank": rank, "start": c["start"][i], "dur": c["dur"][i], "track": c["track"][i],
                "depth": c["depth"][i], "name": c["name"][i]}
        return out

    def box_matches(self, query: str, first: array, count: array) -> array:
        """For boxes holding slices ``first[k] .. first[k] + count[k]``: how many of them match."""
        return _query.box_matches(self.cols["name"], first, count, self.flags(query))

    # -- a time range ----------------------------------------------------------------------------

    @staticmethod
    def _check_range(a: float, b: float) -> None:
        if not (math.isfinite(a) and math.isfinite(b)) or b < a:
            raise ValueError("the range must be two finite times, a <= b")

    def range_stats(self, a: float, b: float, limit: int = 50) -> dict:
        """Per-name statistics of [a, b] (ns) as ``VT.rangeStats`` gives them: ``{"functions":
        [{"name", "total", "self", "count"}] by total (then count, then name order), the first
        ``limit``; "more": names left off; "calls": calls counted}``."""
        self._check_range(a, b)
        c = self.cols
        total, self_, count, calls = _query.range_stats(
            c["start"], c["dur"], c["name"], c["parent"], self.rows, a, b, len(self.names))
        used = [n for n in range(len(self.names)) if count[n]]
        used.sort(key=lambda n: (-total[n], -count[n], n))
        top = [{"name": self.names[n], "total": total[n], "self": max(self_[n], 0.0), "count": count[n]}
               for n in used[:max(limit, 0)]]
        return {"functions": top, "more": len(used) - len(top), "calls": calls}

    def flame_range(self, a: float, b: float) -> dict:
        """The flame graph of [a, b]: ``{"parent", "name", "total"}``, one entry per node in the
        order they were made, node 0 the root (name -1)."""
        self._check_range(a, b)
        c = self.cols
        parent, name, total = _query.flame_range(
            c["start"], c["dur"], c["name"], c["parent"], self.rows, a, b)
        return {"parent": parent.tolist(), "name": name.tolist(), "total": total.tolist()}

    def flame_slice(self, i: int) -> dict:
        """The flame graph under slice ``i`` (the root is ``i`` itself), as ``flame_range``;
        ValueError when there is no such slice."""
        if not 0 <= i < self.slice_count:
            raise ValueError(f"slice {i} is not between 0 and {self.slice_count - 1}")
        c = self.cols
        track, depth = c["track"][i], c["depth"][i]
        rows = self.rows
        deeper = array("i")
        for k in range(0, len(rows), 4):
            if rows[k] == track and rows[k + 1] > depth:
                deeper.extend(rows[k:k + 4])
        parent, name, total = _query.flame_slice(c["start"], c["dur"], c["name"], c["parent"], deeper, i)
        return {"parent": parent.tolist(), "name": name.tolist(), "total": total.tolist()}
