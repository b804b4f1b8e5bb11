"""Level-of-detail tiles (viztracer/viewer/tiles.py): the boxes of each level against their
definition computed straight from the slices, the tiles, the overview and the endpoints, and
the levels built by a thread: the overview and the top level served first, a failed build
raised to the requests."""
from __future__ import annotations

import json
import math
import random
import threading
import urllib.error
import urllib.request

import pytest
from conftest_viewer_helpers import serving

from viztracer import _columns
from viztracer.viewer import tiles as tiles_module
from viztracer.viewer.columns import read_blob, report_blob
from viztracer.viewer.tiles import BUCKETS, LevelsFailed, TiledTrace, base_width, build_order, level_widths


def x(name, ts, dur, tid=1, **extra):
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid, **extra}


def random_report(seed=3, calls=3000):
    """Top-level calls of random length with random children, on two threads, and a few
    instants (one with args)."""
    rng = random.Random(seed)
    events = []
    for tid in (1, 2):
        t = 0.0
        for k in range(calls // 2):
            dur = rng.choice([0.001, 0.05, 0.3, 1, 4, 40, 900])
            events.append(x(f"f{rng.randrange(5)}", round(t, 3), dur, tid=tid, args={"k": k}))
            if dur >= 4:
                events.append(x(f"g{rng.randrange(3)}", round(t + dur / 4, 3), dur / 2, tid=tid))
            t += dur + rng.choice([0, 0.002, 0.5, 7])
    events.append({"ph": "i", "name": "mark", "ts": 5, "pid": 1, "tid": 1, "s": "t", "args": {"why": "test"}})
    events.append({"ph": "i", "name": "bare", "ts": 6, "pid": 1, "tid": 1, "s": "p"})
    return {"traceEvents": events}


def rows_of(meta):
    r = meta["rows"]
    return [tuple(r[k:k + 4]) for k in range(0, len(r), 4)]


def expected_level(cols, meta, width):
    """The boxes of a level by its definition, from the slices: per row, consecutive slices
    narrower than ``width`` starting in the same bucket merged; [(start, end, count, first, names)]."""
    out = {}
    S, D, N = cols["start"], cols["dur"], cols["name"]
    for track, depth, first, count in rows_of(meta):
        boxes = []
        i, hi = first, first + count
        while i < hi:
            if D[i] >= width:
                boxes.append((S[i], S[i] + D[i], 1, i, {N[i]: D[i]}))
                i += 1
                continue
            b, j, end, names = math.floor(S[i] / width), i, S[i] + D[i], {}
            while j < hi and D[j] < width and math.floor(S[j] / width) == b:
                end = max(end, S[j] + D[j])
                names[N[j]] = names.get(N[j], 0) + D[j]
                j += 1
            boxes.append((S[i], end, j - i, i, names))
            i = j
        out[(track, depth)] = boxes
    return out


def level_boxes(lv):
    out = {}
    r = lv.rows
    for k in range(0, len(r), 4):
        lo, n = r[k + 2], r[k + 3]
        out[(r[k], r[k + 1])] = [(lv.start[i], lv.start[i] + lv.dur[i], lv.count[i], lv.first[i], lv.name[i])
                                 for i in range(lo, lo + n)]
    return out


def first_row_by_level(events):
    """The tiles of a one-track report with a level-0 tile per slice, and the boxes of its
    first row at level k, with their names: ``boxes(k)``."""
    tiled = TiledTrace(report_blob({"traceEvents": events}), per_tile=1)
    names = tiled.meta["names"]

    def boxes(k):
        return [(s, e, c, f, names[n]) for s, e, c, f, n in level_boxes(tiled.levels[k])[(0, 0)]]

    return tiled, boxes


@pytest.mark.parametrize("per_tile", [4, 64, 1 << 16])
def test_every_level_is_its_definition(per_tile):
    blob = report_blob(random_report())
    meta, cols = read_blob(blob)
    tiled = TiledTrace(blob, per_tile=per_tile)
    widths = tiled.widths
    assert widths[0] == base_width(meta["end"], meta["slice_count"], per_tile)
    assert all(b == 4 * a for a, b in zip(widths, widths[1:], strict=False))
    assert BUCKETS * widths[-1] >= meta["end"] and (len(widths) == 1 or BUCKETS * widths[-2] < meta["end"])
    assert widths == level_widths(meta["end"], meta["slice_count"], per_tile)
    if per_tile == 4:
        assert len(widths) >= 4  # the test covers several merged levels
    row_counts = {(t, d): c for t, d, _f, c in rows_of(meta)}
    for k, lv in enumerate(tiled.levels):
        got, want = level_boxes(lv), expected_level(cols, meta, widths[k])
        assert got.keys() == want.keys()
        for key, boxes in got.items():
            assert [b[:4] for b in boxes] == [w[:4] for w in want[key]], (k, key)
            assert sum(b[2] for b in boxes) == row_counts[key]
            for (s0, e0, *_), (s1, *_) in zip(boxes, boxes[1:], strict=False):
                assert e0 <= s1 and s0 < s1  # disjoint, sorted
            for b, w in zip(boxes, want[key], strict=True):
                names = w[4]
                # exact at every level: the name with most of the time, the first among equals
                assert names[b[4]] == max(names.values())
                assert b[4] == next(n for n, t in names.items() if t == max(names.values()))
                # each box is the union of its slices
                sl = range(b[3], b[3] + b[2])
                assert b[0] == min(cols["start"][i] for i in sl)
                assert b[1] == max(cols["start"][i] + cols["dur"][i] for i in sl)


def test_a_known_row_at_each_level():
    # ts in us. 7 slices over 7000.1 us: w_0 = 512 ns (7,000,100 / (1024 x 7) = 977, rounded
    # down to a power of two), then 2048 and 8192 (1024 x 8192 covers the trace).
    events = [x("a", 0, 0.2), x("b", 0.3, 0.5), x("a", 1.1, 0.1), x("wide", 2, 3), x("b", 5.5, 0.2),
              x("b", 5.8, 0.1), x("c", 7000, 0.1)]
    tiled, boxes = first_row_by_level(events)
    assert tiled.widths == [512, 2048, 8192]
    # 512: a and b start in bucket 0 (b has more time); the b's at 5.5 and 5.8 us are in two buckets
    assert boxes(0) == [(0, 800, 2, 0, "b"), (1100, 1200, 1, 2, "a"), (2000, 5000, 1, 3, "wide"),
                        (5500, 5700, 1, 4, "b"), (5800, 5900, 1, 5, "b"), (7_000_000, 7_000_100, 1, 6, "c")]
    # 2048: the first three in bucket 0, wide (3000 ns) stays, the two b's share bucket 2
    assert boxes(1) == [(0, 1200, 3, 0, "b"), (2000, 5000, 1, 3, "wide"), (5500, 5900, 2, 4, "b"),
                        (7_000_000, 7_000_100, 1, 6, "c")]
    # 8192: everything up to 5.9 us in bucket 0; wide holds most of the time
    assert boxes(2) == [(0, 5900, 6, 0, "wide"), (7_000_000, 7_000_100, 1, 6, "c")]


def test_a_coarse_level_names_its_box_by_the_time_of_the_slices_it_merges():
    # w_0 = 512 ns (4,000,100 / (1024 x 5) = 781, rounded down), then 2048 and 8192. Level 0:
    # [a 280, b 180] in bucket 0 is "a", [b 180, c 280] in bucket 1 is "c". Level 1 holds all
    # four: b has 360 ns, a and c 280 each, so it is "b" (merging the level-0 boxes by their
    # names would weigh a and c 460 each and say "a").
    events = [x("a", 0, 0.28), x("b", 0.3, 0.18), x("b", 0.6, 0.18), x("c", 0.8, 0.28), x("z", 4000, 0.1)]
    tiled, boxes = first_row_by_level(events)
    assert tiled.widths == [512, 2048, 8192]
    assert boxes(0) == [(0, 480, 2, 0, "a"), (600, 1080, 2, 2, "c"), (4_000_000, 4_000_100, 1, 4, "z")]
    assert boxes(1) == [(0, 1080, 4, 0, "b"), (4_000_000, 4_000_100, 1, 4, "z")]
    assert boxes(2) == boxes(1)
    # the same in the tile the page gets
    tmeta, tcols = read_blob(tiled.tile(1, 0))
    assert [tiled.meta["names"][n] for n in tcols["name"]] == ["b"] and list(tcols["count"]) == [4]


def test_the_levels_a_whole_view_draws_are_built_first():
    assert build_order(4) == [3, 4, 2, 1, 0]
    assert build_order(1) == [0, 1]
    assert build_order(0) == [0]


def test_the_overview_and_a_whole_views_levels_are_served_before_the_levels_below():
    """The widths are known without building: the overview is answered at once, and tiles of
    the two top levels (built first) while the levels below are held back; a level-0 tile
    waits for its level, a raw tile for none."""
    hold = threading.Event()
    blob = report_blob(random_report())
    meta, _ = read_blob(blob)
    try:
        tiled = TiledTrace(blob, per_tile=4, hold=hold)
        top = len(tiled.widths) - 1
        assert top >= 3
        ometa, _ = read_blob(tiled.overview)
        assert ometa["tiled"]["levels"] == level_widths(meta["end"], meta["slice_count"], 4)
        top_tiles = [tiled.tile(k, 0) for k in (top, top - 1)]
        assert [read_blob(t)[0]["level"] for t in top_tiles] == [top, top - 1]
        raw = tiled.tile(-1, 0)
        waiting: list[bytes] = []
        asker = threading.Thread(target=lambda: waiting.append(tiled.tile(0, 0)), daemon=True)
        asker.start()
        asker.join(0.2)
        assert asker.is_alive() and not waiting  # level 0 cannot be there: its build is held
    finally:
        hold.set()
    asker.join(30)
    assert not asker.is_alive() and len(waiting) == 1
    again = TiledTrace(blob, per_tile=4)  # not held: the same tiles once all are built
    assert [again.tile(k, 0) for k in (top, top - 1, 0, -1)] == [*top_tiles, waiting[0], raw]


class FailingBelowWholeView:
    """Stands in for the compiled module: ``merge_level`` fails below the two top levels."""

    def __init__(self, width):
        self.width = width
        self.compiled = tiles_module._tiles

    def merge_level(self, *args):
        if args[4] < self.width:
            raise MemoryError("no room for the level")
        return self.compiled.merge_level(*args)


def test_a_level_that_cannot_be_built_is_an_error_for_who_asks_not_a_hang(monkeypatch, capfd):
    blob = report_blob(random_report())
    meta, _ = read_blob(blob)
    widths = level_widths(meta["end"], meta["slice_count"], 4)
    top = len(widths) - 1
    monkeypatch.setattr(tiles_module, "_tiles", FailingBelowWholeView(widths[top - 1]))
    hooked: list = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    tiled = TiledTrace(blob, per_tile=4)
    assert [read_blob(tiled.tile(k, 0))[0]["level"] for k in (top, top - 1, -1)] == [top, top - 1, -1]
    for ask in (lambda: tiled.tile(0, 0), lambda: tiled.tile(top - 2, 0), tiled.levels_blob):
        with pytest.raises(LevelsFailed, match="MemoryError") as raised:
            ask()
        assert isinstance(raised.value.__cause__, MemoryError)
    assert hooked == [] and capfd.readouterr().err == ""


def test_raw_tiles_are_the_slices_in_range_and_level_tiles_the_boxes():
    blob = report_blob(random_report())
    meta, cols = read_blob(blob)
    tiled = TiledTrace(blob, per_tile=64)
    S, D = cols["start"], cols["dur"]
    for level in (-1, 0, 2):
        span = tiled.span(level)
        assert span == BUCKETS * tiled.widths[max(level, 0)]
        for index in (0, 3, int(meta["end"] // span)):
            tmeta, tcols = read_blob(tiled.tile(level, index))
            t0, t1 = index * span, (index + 1) * span
            assert (tmeta["level"], tmeta["index"], tmeta["t0"], tmeta["t1"]) == (level, index, t0, t1)
            got = {}
            for track, depth, first, count in rows_of(tmeta):
                got[(track, depth)] = [tuple(tcols[c][i] for c in ("start", "dur", "name", "count", "first"))
                                       for i in range(first, first + count)]
            want = {}
            if level < 0:
                for track, depth, first, count in rows_of(meta):
                    run = [(S[i], D[i], cols["name"][i], 1, i) for i in range(first, first + count)
                           if S[i] < t1 and S[i] + D[i] >= t0]
                    if run:
                        want[(track, depth)] = run
            else:
                for key, boxes in level_boxes(tiled.levels[level]).items():
                    run = [(s, e - s, n, c, f) for s, e, c, f, n in boxes if s < t1 and e >= t0]
                    if run:
                        want[key] = run
            assert got == want, (level, index)
            assert all(sum(1 for b in run if b[0] < t0) <= 1 for run in got.values())
    with pytest.raises(ValueError):
        tiled.tile(len(tiled.levels), 0)
    with pytest.raises(ValueError):
        tiled.tile(0, -1)
    with pytest.raises(ValueError):
        tiled.tile(-1, int(meta["end"] // tiled.span(-1)) + 2)


def test_overview_keeps_all_but_the_slices():
    blob = report_blob(random_report())
    meta, cols = read_blob(blob)
    tiled = TiledTrace(blob, per_tile=64)
    ometa, ocols = read_blob(tiled.overview)
    assert ometa["tiled"] == {"levels": tiled.widths, "buckets": BUCKETS, "slice_count": meta["slice_count"]}
    for key in ("names", "tracks", "rows", "processes", "track_order", "instant_lanes", "slice_count", "end"):
        assert ometa[key] == meta[key]
    for key in ("start", "dur", "name", "track", "depth", "parent", "args"):
        assert len(ocols[key]) == 0
    assert list(ocols["inst_time"]) == list(cols["inst_time"])
    args = json.loads(bytes(ocols["args_json"]))
    assert [args[a] if a >= 0 else None for a in ocols["inst_args"]] == [
        json.loads(bytes(cols["args_json"]))[a] if a >= 0 else None for a in cols["inst_args"]]
    assert {"why": "test"} in args and len(args) == 1


def test_slice_details_with_self_time_and_parents():
    events = [x("root", 0, 100), x("a", 10, 50, args={"func_args": {"n": 1}}), x("b", 20, 10), x("c", 40, 5)]
    blob = report_blob({"traceEvents": events})
    meta, cols = read_blob(blob)
    tiled = TiledTrace(blob)
    names = [meta["names"][n] for n in cols["name"]]
    a = tiled.slice_details(names.index("a"))
    assert (a["name"], a["start"], a["dur"], a["self"], a["depth"]) == ("a", 10000, 50000, 35000, 1)
    assert a["args"] == {"func_args": {"n": 1}} and [p["name"] for p in a["parents"]] == ["root"]
    b = tiled.slice_details(names.index("b"))
    assert [p["name"] for p in b["parents"]] == ["a", "root"] and b["args"] is None
    with pytest.raises(ValueError):
        tiled.slice_details(len(names))


def random_json(rng, depth=0):
    kind = rng.randrange(7 if depth < 3 else 4)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -7, 2**70, 1.5e-300, float("nan")])
    if kind in (2, 3):   # strings with what could end an element or the array if not skipped
        tricky = ['"', "\\", ",", "]", "}", "[", "{", "x", "\u00e9", " "]
        return "".join(rng.choice(tricky) for _ in range(rng.randrange(6)))
    if kind in (4, 5):
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {str(k): random_json(rng, depth + 1) for k in range(rng.randrange(4))}


@pytest.mark.parametrize("separators", [(",", ":"), (", ", ": ")])
def test_each_entry_of_a_json_array_is_found_without_parsing_the_rest(separators):
    rng = random.Random(5)
    values = [random_json(rng) for _ in range(300)]
    text = json.dumps(values, separators=separators).encode()
    starts = _columns.json_array_starts(text)
    assert len(starts) == len(values) + 1
    got = [json.loads(text[starts[k]:starts[k + 1] - 1]) for k in range(len(values))]
    assert json.dumps(got) == json.dumps(values)    # NaN is not equal to itself
    assert list(_columns.json_array_starts(b" [ ] ")) == [4]
    for k in (1023, 1024, 1025):    # around where the positions' buffer grows
        starts = _columns.json_array_starts(json.dumps(list(range(k))).encode())
        assert len(starts) == k + 1 and starts[-1] == len(json.dumps(list(range(k))))
    for bad, why in [(b"", "not a JSON array"), (b'{"a": 1}', "not a JSON array"),
                     (b"[1, [2]", "cut short"), (b'["a]', "cut short")]:
        with pytest.raises(ValueError, match=why):
            _columns.json_array_starts(bad)


def test_details_and_the_overview_parse_only_the_args_they_show(monkeypatch):
    report = random_report()
    blob = report_blob(report)
    tiled = TiledTrace(blob)
    table = len(read_blob(blob)[1]["args_json"])
    parsed = []
    real = json.loads
    monkeypatch.setattr(tiles_module.json, "loads", lambda text: parsed.append(len(text)) or real(text))
    details = tiled.slice_details(5)
    overview = tiled.overview
    monkeypatch.undo()
    ometa, ocols = read_blob(overview)
    assert details["args"] == {"k": 5} and {"why": "test"} in json.loads(bytes(ocols["args_json"]))
    assert table > 20_000 and parsed and max(parsed) < 100


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_endpoints_answer_tiles_slices_and_the_overview_past_the_threshold(tmp_path, monkeypatch):
    report = random_report()
    (tmp_path / "r.json").write_text(json.dumps(report))
    with serving(tmp_path / "r.json") as (_srv, url):
        status, whole = get(url + "/api/trace?file=r.json")
        meta, cols = read_blob(whole)
        assert status == 200 and "tiled" not in meta
        monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", str(meta["slice_count"] - 1))
        monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "64")
        status, body = get(url + "/api/trace?file=r.json")
        ometa, ocols = read_blob(body)
        assert status == 200 and ometa["tiled"]["slice_count"] == meta["slice_count"]
        assert len(ocols["start"]) == 0 and len(ometa["tiled"]["levels"]) > 1
        status, body = get(url + "/api/tile?file=r.json&level=-1&index=0")
        tmeta, tcols = read_blob(body)
        assert status == 200 and tmeta["level"] == -1 and len(tcols["start"]) > 0
        assert list(tcols["count"]) == [1] * len(tcols["count"])
        status, body = get(url + "/api/slice?file=r.json&i=3")
        details = json.loads(body)
        assert status == 200 and details["i"] == 3 and details["start"] == cols["start"][3]
        assert details["name"] == meta["names"][cols["name"][3]]
        assert details["args"] == json.loads(bytes(cols["args_json"]))[cols["args"][3]]
        for query, code in [("level=99&index=0", 404), ("level=0&index=-1", 404), ("level=x&index=0", 400),
                            ("level=0", 400)]:
            status, body = get(url + "/api/tile?file=r.json&" + query)
            assert status == code and body.count(b"\n") == 1, (query, body)
        for query, code in [("i=" + str(meta["slice_count"]), 404), ("i=", 400)]:
            status, body = get(url + "/api/slice?file=r.json&" + query)
            assert status == code and body.count(b"\n") == 1, (query, body)
        status, body = get(url + "/api/tile?file=other.json&level=0&index=0")
        assert status in (403, 404) and body.count(b"\n") == 1


def test_a_tile_of_a_level_that_could_not_be_built_is_an_error_answer(tmp_path, monkeypatch, capfd):
    report = random_report()
    (tmp_path / "r.json").write_text(json.dumps(report))
    monkeypatch.setenv("VIZVIEWER_CACHE_DIR", "")
    monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", "1")
    monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "64")
    monkeypatch.setattr(tiles_module, "_tiles", FailingBelowWholeView(float("inf")))  # no level at all
    with serving(tmp_path / "r.json") as (_srv, url):
        status, body = get(url + "/api/trace?file=r.json")
        assert status == 200 and read_blob(body)[0]["tiled"]["slice_count"] > 0
        status, body = get(url + "/api/tile?file=r.json&level=0&index=0")
        assert status == 500 and body.count(b"\n") == 1 and b"MemoryError" in body, body
        status, body = get(url + "/api/tile?file=r.json&level=-1&index=0")
        assert status == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and "MemoryError" in err, err
