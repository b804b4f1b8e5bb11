"""A tiled trace in Chromium: the same report served whole and as tiles (the threshold lowered
below its size) draws the same slices where they are, and a click gives the same details."""
from __future__ import annotations

import json
import random

import pytest
from conftest_viewer_helpers import serving
from test_viewer_page import Page

VIEWPORT_W = 1200


def x(name, ts, dur, tid=1, **extra):
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid, **extra}


def busy_report():
    """Two threads: bursts of tiny calls (some with a child) between wide ones, with args."""
    rng = random.Random(7)
    events = []
    for tid in (1, 2):
        t = 0.0
        for burst in range(40):
            events.append(x(f"wide{burst % 4}", round(t, 3), 150, tid=tid, args={"burst": burst}))
            t += 160
            for _ in range(rng.randrange(50, 150)):
                dur = rng.choice([0.2, 0.5, 1, 3])
                events.append(x(f"tiny{rng.randrange(6)}", round(t, 3), dur, tid=tid))
                if dur == 3:
                    events.append(x("child", round(t + 1, 3), 1, tid=tid))
                t += dur + rng.choice([0.1, 0.5, 2])
    return {"traceEvents": events}


def rows(drawn):
    out = {}
    for d in drawn:
        out.setdefault((d["track"], d["depth"]), []).append(d)
    return out


def covered(boxes):
    return {c for d in boxes for c in range(int(d["x"]), int(d["x"] + max(d["width"], 1) + 0.999))}


def settle(page):
    """Redraw until no tile of the view is on its way; the drawn list then."""
    page.page.wait_for_function(
        "window.__vt.redraw() >= 0 && (!window.__vt.tiles || window.__vt.tiles.missing === 0)", timeout=30000)
    page.redraw()
    return page.vt("drawn")


def key(d):
    return (d["i"], d["name"], round(d["x"], 3), d["y"], round(d["width"], 3), d["merged"], d.get("count", 1))


def whole_or_tiled(browser, path, monkeypatch):
    """For a fixture: ``open_(tiled)`` opens the report at ``path`` whole, or tiled (the same
    server, the tile threshold lowered below its size); the pages are closed at the end."""
    opened = []
    with serving(path) as (_, url):
        def open_(tiled):
            if tiled:
                monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", "100")
                monkeypatch.setenv("VIZVIEWER_TILE_SLICES", "256")
            else:
                monkeypatch.delenv("VIZVIEWER_TILE_THRESHOLD", raising=False)
            p = Page(browser, f"{url}/?file={path.name}").ready()
            assert (p.vt("tiles") is not None) == tiled
            opened.append(p)
            return p
        yield open_
    for p in opened:
        p.close()


@pytest.fixture
def pages(browser, tmp_path, monkeypatch):
    """The report opened whole, then tiled."""
    (tmp_path / "busy.json").write_text(json.dumps(busy_report()))
    yield from whole_or_tiled(browser, tmp_path / "busy.json", monkeypatch)


def test_tiled_and_whole_draw_the_same_and_click_the_same(pages):
    whole = pages(False)
    assert whole.vt("tiles") is None
    full_whole = settle(whole)
    tiled = pages(True)
    state = tiled.vt("tiles")
    assert state is not None and len(state["levels"]) >= 3 and state["level"] >= 1
    full_tiled = settle(tiled)
    assert tiled.vt("summary")["slices"] == whole.vt("summary")["slices"]

    # Whole view: every row holds the same number of calls, the calls wider than a pixel are
    # the same boxes, and boxes cover the same pixels (a tile's box may join neighbouring pixels).
    rw, rt = rows(full_whole), rows(full_tiled)
    assert rw.keys() == rt.keys()
    for row in rw:
        assert sum(d.get("count", 1) for d in rw[row]) == sum(d.get("count", 1) for d in rt[row]), row
        wide_w = {key(d) for d in rw[row] if not d["merged"] and d["width"] > 1.01}
        wide_t = {key(d) for d in rt[row] if not d["merged"] and d["width"] > 1.01}
        assert wide_w == wide_t, row
        cw, ct = covered(rw[row]), covered(rt[row])
        assert all(covered([d]) & cw for d in rt[row]), row   # nothing drawn where there is nothing
        assert all(covered([d]) & ct for d in rw[row]), row   # nothing left out
    assert any(d["merged"] and d["count"] > 1 for d in full_tiled)

    # Zoomed in to below a level-0 bucket per pixel: the slices themselves, drawn alike.
    levels = state["levels"]
    span = levels[0] * 1024
    start = span + 0.3 * span
    view = (start, start + levels[0] * 600)
    for p in (whole, tiled):
        p.page.evaluate("v => window.__vt.setView(v[0], v[1])", list(view))
    near_w, near_t = settle(whole), settle(tiled)
    assert tiled.vt("tiles")["level"] == -1
    assert len(near_w) > 20 and sorted(map(key, near_w)) == sorted(map(key, near_t))

    # A click on a slice gives the same details (the tiled page asks /api/slice for them).
    target = max((d for d in near_w if not d["merged"]), key=lambda d: d["width"])
    details = []
    for p in (whole, tiled):
        p.click_canvas(target["x"] + target["width"] / 2, target["y"] + 5)
        p.page.wait_for_function("window.__vt.selected && document.getElementById('detail-self')"
                                 " && document.getElementById('detail-self').textContent !== '\\u2026'")
        text = p.page.evaluate(
            "Array.from(document.querySelectorAll('#details td, #details h3, #details pre'))"
            ".map(e => e.textContent)")
        details.append((p.vt("selected"), text))
    assert details[0] == details[1]
    assert details[0][0]["i"] == target["i"] and details[0][0]["name"] == target["name"]


def test_while_tiles_are_on_their_way_the_tiles_already_here_stand_in(pages):
    """A zoom to a level none of whose tiles is here yet: the rows are drawn at once from the
    coarser tiles already fetched, over the whole view, then from the new tiles once in."""
    tiled = pages(True)
    full = settle(tiled)
    top = tiled.vt("tiles")["level"]
    held = []
    tiled.page.route("**/api/tile?*", lambda route: held.append(route))
    end = tiled.vt("summary")["end"]
    view = [end * 0.4, end * 0.4 + end / 8]
    tiled.page.evaluate("v => window.__vt.setView(v[0], v[1])", view)
    state = tiled.vt("tiles")
    assert state["missing"] > 0 and 0 <= state["level"] < top
    standing = tiled.vt("drawn")
    assert standing and rows(standing).keys() <= rows(full).keys()
    xs = [d["x"] for d in standing]
    plot = tiled.box()["width"]
    assert min(xs) < 200 + 0.1 * (plot - 200) and max(xs) > plot - 0.1 * (plot - 200)   # not a blank stretch
    tiled.page.wait_for_function(f"window.__vt.tiles.pending >= {state['missing']}")
    for route in held:
        route.continue_()
    tiled.page.unroute("**/api/tile?*")
    final = settle(tiled)
    assert tiled.vt("tiles")["level"] == state["level"]
    assert rows(final).keys() == rows(standing).keys()
    assert sum(d.get("count", 1) for d in final) < sum(d.get("count", 1) for d in full)

    # A search asks for the view's tiles again (with the query): meanwhile the same tiles
    # without it stand in, drawn as they were.
    held.clear()
    tiled.page.route("**/api/tile?*", lambda route: held.append(route))
    tiled.page.evaluate("VT.tiles.setQuery('tiny')")
    tiled.redraw()
    assert tiled.vt("tiles")["missing"] > 0
    meanwhile = set(map(key, tiled.vt("drawn")))
    # every box as it was; a box across a tile's edge may be drawn by both tiles meanwhile
    assert set(map(key, final)) <= meanwhile and len(meanwhile) <= len(set(map(key, final))) + 4
    tiled.page.evaluate("VT.tiles.setQuery(null)")
    for route in held:
        route.continue_()
    tiled.page.unroute("**/api/tile?*")
    assert settle(tiled)


def test_the_tiles_kept_stay_within_their_byte_budget(pages):
    """Panning across a whole level keeps only the tiles that fit the budget (the least
    recently used go first, never those of the view), and a view panned back to asks for its
    tiles again and draws the same."""
    tiled = pages(True)
    settle(tiled)
    end = tiled.vt("summary")["end"]
    levels = tiled.vt("tiles")["levels"]
    budget = 20000
    tiled.page.evaluate(f"VT.tiles.setBudget({budget})")
    width = levels[0] * 1024 * 0.9                       # level 0: one or two tiles a view
    first, biggest, t = None, 0, 0.0
    while t + width < end:
        tiled.page.evaluate("v => window.__vt.setView(v[0], v[1])", [t, t + width])
        drawn = settle(tiled)
        first = first or drawn
        state = tiled.vt("tiles")
        biggest = max(biggest, state["bytes"])
        assert state["level"] == 0 and state["loaded"] >= 1
        t += width
    assert budget / 2 < biggest <= budget
    assert tiled.vt("tiles")["loaded"] < int(end // (levels[0] * 1024))
    before = len(tiled.requests)
    tiled.page.evaluate("v => window.__vt.setView(v[0], v[1])", [0, width])
    assert sorted(map(key, settle(tiled))) == sorted(map(key, first))
    assert any("/api/tile?" in u for u in tiled.requests[before:])     # fetched again
    # A budget smaller than one tile: the view's own tiles stay (else they would be fetched
    # and dropped over and over).
    tiled.page.evaluate("VT.tiles.setBudget(1)")
    tiled.page.evaluate("v => window.__vt.setView(v[0], v[1])", [end / 2, end / 2 + width])
    assert settle(tiled)
    asked = len(tiled.requests)
    tiled.page.wait_for_timeout(300)
    tiled.redraw()
    assert len(tiled.requests) == asked and tiled.vt("tiles")["missing"] == 0
