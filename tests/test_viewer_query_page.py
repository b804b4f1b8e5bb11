"""Search, range statistics and the flame graph of a tiled trace in Chromium: the same report
served whole (the page computes them) and tiled (the server does, ``/api/search``,
``/api/range``, ``/api/flame``) shows the same counts, highlights, steps, tables and trees."""
from __future__ import annotations

import json
import random

import pytest
from test_viewer_page import drag
from test_viewer_tiles_page import settle, whole_or_tiled


def x(name, ts, dur, tid=1):
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid}


def nested_report():
    """Two threads of wide calls holding recursion (rec > rec > leaf) and bursts of tiny calls,
    some with a child: enough slices to be tiled at several levels, merged boxes of mixed names."""
    rng = random.Random(11)
    events = []
    for tid in (1, 2):
        t = 0.0
        for k in range(30):
            top = t
            t += 2
            events += [x("rec", t, 40, tid), x("rec", t + 5, 30, tid), x("leaf", t + 10, 10, tid)]
            t += 45
            for _ in range(rng.randrange(60, 140)):
                dur = rng.choice([0.2, 0.5, 1, 3])
                events.append(x(f"tiny{rng.randrange(5)}", round(t, 3), dur, tid))
                if dur == 3:
                    events.append(x("child", round(t + 1, 3), 1, tid))
                t += dur + rng.choice([0.1, 0.4, 2])
            t += 3
            events.append(x(f"outer{k % 3}", top, round(t - top, 3), tid))
            t += 20
    return {"traceEvents": events}


@pytest.fixture
def pages(browser, tmp_path, monkeypatch):
    """``open_(tiled)``: the report opened whole, or tiled."""
    (tmp_path / "nested.json").write_text(json.dumps(nested_report()))
    yield from whole_or_tiled(browser, tmp_path / "nested.json", monkeypatch)


def both(pages):
    whole, tiled = pages(False), pages(True)
    assert len(tiled.vt("tiles")["levels"]) >= 3
    return whole, tiled


# Per drawn box [track, depth, i, count, x, lit]: lit 1 when its pixel (its middle when it is
# 4 px or wider, else where its fill begins) is its name's colour (or black, a match's
# outline), 0 when it is the faded colour, -1 when neither (an outline next to it blends in)
# or when the next box begins in the same pixel.
HIGHLIGHTS = """() => {
  const c = document.getElementById('timeline'), ctx = c.getContext('2d'), r = window.devicePixelRatio || 1;
  const img = ctx.getImageData(0, 0, c.width, c.height).data;
  const drawn = window.__vt.drawn;
  const px = d => Math.round((d.x - VT.L.LABEL_W) * r) + Math.round(VT.L.LABEL_W * r);
  return drawn.map((d, k) => {
    const next = drawn[k + 1];
    const x = d.width >= 4 ? Math.floor(d.x + d.width / 2) : px(d);
    const o = (Math.floor((d.y + 8) * r) * c.width + x) * 4;
    const rgb = [img[o], img[o + 1], img[o + 2]].join(), f = VT.faded(VT.rgbOf(d.name)).join();
    let lit = rgb === f ? 0 : rgb === VT.rgbOf(d.name).join() || rgb === '0,0,0' ? 1 : -1;
    if (next && next.track === d.track && next.depth === d.depth && px(next) <= x) lit = -1;
    return [d.track, d.depth, d.i, d.count || 1, d.x, lit];
  });
}"""


def highlights(page):
    settle(page)
    page.redraw()
    return page.page.evaluate(HIGHLIGHTS)


def matching(page, text):
    """Per slice of the whole page's model, whether its name contains ``text`` (any case)."""
    names, column = page.page.evaluate("() => [VT.model.names, Array.from(VT.model.name)]")
    return [text.lower() in names[n].lower() for n in column]


def check_rule(boxes, match):
    """Every box whose colour could be read is lit exactly when one of its slices (a box holds
    slices i .. i + count of the whole trace's columns) matches; how many merged boxes were seen."""
    merged = 0
    for track, depth, i, count, bx, lit in boxes:
        if lit < 0:
            continue
        assert lit == any(match[i:i + count]), (track, depth, i, count, bx)
        merged += count > 1
    return merged


def search_count(page):
    return page.page.text_content("#search-count")


def step_to(page, key, pos):
    page.page.press("#search", key)
    page.page.wait_for_function(f"window.__vt.search && window.__vt.search.pos === {pos}"
                                " && window.__vt.selected !== null")
    return page.vt("selected"), search_count(page)


def test_search_counts_highlights_and_steps_alike(pages):
    whole, tiled = both(pages)
    for p in (whole, tiled):
        p.page.fill("#search", "Tiny1")
        p.page.wait_for_function("window.__vt.search && window.__vt.search.count > 0")
    assert search_count(whole) == search_count(tiled)
    total = whole.vt("search")["count"]
    assert tiled.vt("search")["count"] == total and total > 100

    # The whole trace: a merged box is highlighted when any of its calls matches. Boxes differ
    # a little between the pages (a tile's box may join neighbouring pixels), so each page is
    # held to that rule, box by box.
    match = matching(whole, "tiny1")
    hw, ht = highlights(whole), highlights(tiled)
    assert check_rule(hw, match) > 200 and check_rule(ht, match) > 200
    assert {lit for *_, lit in ht if lit >= 0} == {0, 1}

    # Zoomed in (the slices themselves): the same boxes, highlighted alike, and the same picture.
    levels = tiled.vt("tiles")["levels"]
    view = [3 * levels[0] * 1024 + 1000, 3 * levels[0] * 1024 + 1000 + levels[0] * 500]
    for p in (whole, tiled):
        p.page.evaluate("v => window.__vt.setView(v[0], v[1])", view)
    near_w, near_t = highlights(whole), highlights(tiled)
    assert tiled.vt("tiles")["level"] == -1
    assert len(near_w) > 20 and near_w == near_t
    check_rule(near_t, match)
    assert {lit for *_, lit in near_t if lit >= 0} == {0, 1}

    # Stepping: the same slices in the same order, the count the same, wrapping both ways.
    steps = {id(p): [] for p in (whole, tiled)}
    for p in (whole, tiled):
        for k in range(6):
            steps[id(p)].append(step_to(p, "Enter", k))
        steps[id(p)].append(step_to(p, "Shift+Enter", 4))
        for _ in range(4):
            p.page.click("#search-prev")
        steps[id(p)].append(step_to(p, "Shift+Enter", total - 1))  # wrapped past the first
        steps[id(p)].append(step_to(p, "Enter", 0))
    assert steps[id(whole)] == steps[id(tiled)]
    sel, count = steps[id(tiled)][2]
    assert count == f"3 of {total}" and sel["name"] == "tiny1"
    starts = [s["start"] for s, _ in steps[id(tiled)][:6]]
    assert starts == sorted(starts)
    # The view is centred on the match, and its details are the server's.
    view = tiled.vt("view")
    sel = tiled.vt("selected")
    assert abs((view["start"] + view["end"]) / 2 - (sel["start"] + sel["dur"] / 2)) < 1
    tiled.page.wait_for_function("document.getElementById('detail-name').textContent === 'tiny1'")

    # Cleared: nothing faded any more.
    for p in (whole, tiled):
        p.page.fill("#search", "")
        p.page.wait_for_function("window.__vt.search === null")
    assert all(lit != 0 for *_, lit in highlights(tiled))


def select_range(page, x0, x1, y):
    drag(page, x0, x1, y, shift=True)
    page.page.wait_for_function("window.__vt.rangeStats !== null")
    return page.vt("selection"), page.vt("rangeStats")


def table(page):
    return page.page.locator("#range-stats tbody tr").all_inner_texts()


def flame(page):
    page.page.wait_for_function("window.__vt.flame.length > 0")
    return page.vt("flame"), page.page.text_content("#flame-scope")


def test_range_statistics_and_flame_graph_alike(pages):
    whole, tiled = both(pages)
    # The whole trace's flame graph first (the visible range).
    results = []
    for p in (whole, tiled):
        p.page.click("#toggle-view")
        results.append(flame(p))
        p.page.click("#toggle-view")
    assert results[0] == results[1]
    frames = {f["name"] for f in results[1][0]}
    assert {"all", "outer0", "rec", "leaf", "tiny3", "child"} <= frames

    # A range over a few wide calls: the same table, to the nanosecond, and the same flame graph.
    y = whole.vt("lanes()")[1]["y"] + 8
    for x0, x1 in ((330, 520), (700, 706)):
        results = []
        for p in (whole, tiled):
            sel, stats = select_range(p, x0, x1, y)
            p.page.click("#toggle-view")
            results.append((sel, stats, table(p), flame(p)))
            p.page.click("#toggle-view")
        assert results[0] == results[1]
        sel, stats, rows, (fl, scope) = results[1]
        assert stats["calls"] > 3 and rows and scope.startswith("Selected range")
        names = {f["name"] for f in stats["functions"]}
        assert "rec" in names or x1 - x0 < 10
    # Recursion is counted once by the outermost call: rec's total is not its calls' sum.
    _sel, stats = select_range(tiled, 250, 900, y)
    rec = next(f for f in stats["functions"] if f["name"] == "rec")
    assert rec["count"] >= 4 and rec["total"] < rec["count"] * 30000

    # A selected slice's flame graph: its subtree.
    results = []
    for p in (whole, tiled):
        p.page.keyboard.press("Escape")
        p.page.evaluate("window.__vt.setView(0, 200000)")
        settle(p)
        outer = next(d for d in p.vt("drawn") if d["name"] == "outer0")
        p.click_canvas(outer["x"] + 5, outer["y"] + 5)
        p.page.wait_for_function("window.__vt.selected && window.__vt.selected.name === 'outer0'")
        p.page.click("#toggle-view")
        results.append(flame(p))
    assert results[0] == results[1]
    assert results[1][1].startswith("Selected slice: outer0")
    assert {f["name"] for f in results[1][0]} >= {"outer0", "rec", "leaf", "tiny0"}
