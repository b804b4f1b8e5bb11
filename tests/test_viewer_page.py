"""The viewer page in a real browser (headless Chromium), served by the real vizviewer server.

The page exposes ``window.__vt`` (what the last frame drew, the visible range, the selection);
tests read it and check the canvas pixels where it says a slice is.
"""
from __future__ import annotations

import json
import os
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest_viewer_helpers import fmt_duration, serving

from viztracer import VizTracer

CALLS = 3
GRID = (0xEE, 0xF0, 0xF3)     # the time axis's grid lines across the plot (timeline.js)
VIEWPORT = {"width": 1200, "height": 700}


def known_leaf(x):
    time.sleep(0.002)
    return x * 2


def known_mid(x):
    return known_leaf(x) + 1


def known_program(tracer):
    for i in range(CALLS):
        known_mid(i)
    worker = threading.Thread(target=known_mid, args=(10,), name="worker")
    worker.start()
    worker.join()
    tracer.add_instant("checkpoint", args={"step": 1})
    tracer.add_counter("queue", {"depth": 3, "workers": 1})
    time.sleep(0.001)
    tracer.add_counter("queue", {"depth": 5, "workers": 2})
    tracer.add_object("N", "0x42", "Cache")
    tracer.add_object("O", "0x42", "Cache", {"entries": 7})
    tracer.add_object("D", "0x42", "Cache")




@pytest.fixture(scope="module")
def reports_dir(tmp_path_factory):
    """A folder with the known program's report (known.json) and a synthetic one (exact.json)."""
    folder = tmp_path_factory.mktemp("reports")
    tracer = VizTracer(verbose=0, log_func_args=True, log_func_retval=True, ignore_c_function=True)
    tracer.start()
    try:
        known_program(tracer)
    finally:
        tracer.stop()
    tracer.save(str(folder / "known.json"))
    (folder / "exact.json").write_text(json.dumps(exact_report()))
    return folder


def x(name, ts, dur, tid=1, **extra):
    return {"ph": "X", "name": name, "ts": ts, "dur": dur, "pid": 1, "tid": tid, **extra}


def exact_report():
    """Hand-made times: root 0-100 us with a (0-60: c 0-30) and b (60-90); counters and instants."""
    events = [
        {"ph": "M", "name": "process_name", "pid": 1, "tid": 1, "args": {"name": "MainProcess"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "MainThread"}},
        x("root", 1000, 100), x("a", 1000, 60), x("c", 1000, 30), x("b", 1060, 30),
        {"ph": "i", "name": "mark", "ts": 1050, "pid": 1, "tid": 1, "s": "t"},
        {"ph": "C", "name": "load", "ts": 1000, "pid": 1, "tid": 1, "args": {"cpu": 10, "io": 2}},
        {"ph": "C", "name": "load", "ts": 1040, "pid": 1, "tid": 1, "args": {"cpu": 90, "io": 4}},
        {"ph": "C", "name": "load", "ts": 1080, "pid": 1, "tid": 1, "args": {"cpu": 20, "io": 1}},
    ]
    return {"traceEvents": events, "viztracer_metadata": {"overflow": False}}


@pytest.fixture(scope="module")
def server(reports_dir):
    with serving(reports_dir) as (srv, url):
        yield srv, url


class Page:
    """A browser page on the viewer, with helpers for the debug hook and the canvas."""

    def __init__(self, browser, url):
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)

    def ready(self):
        # window.__vt is missing for a moment while a link loads the next page: not an error
        self.page.wait_for_function("window.__vt && (window.__vt.ready || window.__vt.error)",
                                    timeout=30000)
        assert self.page.evaluate("window.__vt.error") is None
        return self

    def vt(self, expr):
        return self.page.evaluate(f"window.__vt.{expr}")

    def redraw(self):
        self.page.evaluate("window.__vt.redraw()")

    def pixel(self, x, y, canvas="timeline"):
        return self.page.evaluate(
            "([c, x, y]) => { const r = window.devicePixelRatio || 1;"
            " return Array.from(document.getElementById(c).getContext('2d')"
            ".getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1).data.slice(0, 3)); }",
            [canvas, x, y])

    def row_colors(self, y, canvas="timeline"):
        """The distinct colours of the timeline's plot (right of the labels) along row ``y``."""
        colors = self.page.evaluate(
            "([c, y]) => { const r = window.devicePixelRatio || 1; const el = document.getElementById(c);"
            " const x0 = Math.ceil(VT.L.LABEL_W * r);"
            " const d = el.getContext('2d').getImageData(x0, Math.floor(y * r), el.width - x0, 1).data;"
            " const out = new Set();"
            " for (let i = 0; i < d.length; i += 4) out.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);"
            " return Array.from(out); }",
            [canvas, y])
        return [tuple(int(v) for v in c.split(",")) for c in colors]

    def color(self, name):
        return self.page.evaluate("n => window.__vt.colorOf(n)", name)

    def box(self, selector="#timeline"):
        return self.page.locator(selector).bounding_box()

    def click_canvas(self, x, y, selector="#timeline"):
        b = self.box(selector)
        self.page.mouse.click(b["x"] + x, b["y"] + y)

    def drawn(self, prefix=""):
        self.redraw()
        return [d for d in self.vt("drawn") if d["name"].startswith(prefix)]

    def close(self):
        errors = self.errors
        self.page.close()
        assert not errors, errors


@pytest.fixture
def open_page(browser):
    pages = []

    def open_(url, wait=True):
        p = Page(browser, url)
        pages.append(p)
        return p.ready() if wait else p

    yield open_
    for p in pages:
        p.close()


def report_slices(path, prefix):
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    found = [e for e in events if e["ph"] == "X" and e["name"].startswith(prefix)]
    return sorted(found, key=lambda e: e["ts"])


def test_draws_the_traced_calls_on_their_threads(server, open_page, reports_dir):
    srv, url = server
    page = open_page(f"{url}/?file=known.json")
    lanes = {lane["label"].split(" (")[0]: lane for lane in page.vt("lanes()") if lane["kind"] == "thread"}
    assert set(lanes) == {"MainThread", "worker"}
    mids, leaves = page.drawn("known_mid ("), page.drawn("known_leaf (")
    assert len(mids) == len(leaves) == CALLS + 1
    assert not any(d["merged"] for d in mids + leaves)
    main, worker = lanes["MainThread"]["track"], lanes["worker"]["track"]
    assert sorted(d["track"] for d in mids) == sorted([main] * CALLS + [worker])
    for mid in mids:
        leaf = next(d for d in leaves if d["track"] == mid["track"] and d["x"] >= mid["x"] - 0.5
                    and d["x"] + d["width"] <= mid["x"] + mid["width"] + 0.5)
        assert leaf["depth"] == mid["depth"] + 1
        assert leaf["y"] == mid["y"] + (leaf["depth"] - mid["depth"]) * 18
    # The canvas has each slice's colour where the hook says it drew it, and nothing below the lanes.
    for d in (mids[0], leaves[-1]):
        assert page.pixel(d["x"] + 1, d["y"] + 2) == page.color(d["name"])
    last_lane = max(lane["y"] + lane["height"] for lane in page.vt("lanes()"))
    # below the lanes: white, crossed by the time axis's grid lines wherever its ticks fall
    assert set(page.row_colors(last_lane + 40)) <= {(255, 255, 255), GRID}
    assert (255, 255, 255) in page.row_colors(last_lane + 40)
    assert page.page.locator("#overflow").is_hidden()
    assert srv.loaded["file"] == "known.json" and srv.loaded["events"] > 2 * (CALLS + 1)
    assert all(u.startswith(url + "/") for u in page.requests), page.requests  # nothing from elsewhere


def test_clicking_a_slice_shows_name_duration_args_and_source(server, open_page, reports_dir):
    _, url = server
    page = open_page(f"{url}/?file=known.json")
    leaf = page.drawn("known_leaf (")[1]
    page.click_canvas(leaf["x"] + leaf["width"] / 2, leaf["y"] + 8)
    selected = page.vt("selected")
    assert selected["name"] == leaf["name"] and selected["depth"] == leaf["depth"]
    expected = report_slices(reports_dir / "known.json", "known_leaf (")[1]
    assert selected["dur"] == round(expected["dur"] * 1000)
    loc = page.page.locator
    assert loc("#detail-name").inner_text() == expected["name"]
    assert loc("#detail-duration").inner_text() == fmt_duration(round(expected["dur"] * 1000))
    assert loc("#detail-ts").inner_text().startswith(f"{expected['ts']:.3f} \u00b5s")
    assert loc("#detail-args").inner_text().split() == ["x", "1"]
    assert loc("#detail-return").inner_text() == "2"
    line = known_leaf.__code__.co_firstlineno
    assert loc("#source-file").inner_text().endswith(f"{os.path.basename(__file__)}:{line}")
    current = loc("#source .line.current")
    assert "def known_leaf(x):" in current.inner_text()
    src, cur = loc("#source").bounding_box(), current.bounding_box()
    assert src["y"] <= cur["y"] and cur["y"] + cur["height"] <= src["y"] + src["height"]  # scrolled to it


def test_search_highlights_and_steps_through_matches(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=known.json")
    search = page.page.locator("#search")
    search.fill("KNOWN_LEAF")
    search.press("Enter")
    count = page.page.locator("#search-count")
    assert count.inner_text() == f"1 of {CALLS + 1}"
    starts = []
    for k in range(CALLS + 1):
        sel = page.vt("selected")
        assert sel["name"].startswith("known_leaf (")
        view = page.vt("view")
        centre = (view["start"] + view["end"]) / 2
        assert abs(centre - (sel["start"] + sel["dur"] / 2)) < 1e-6 * view["end"] + 1
        starts.append(sel["start"])
        if k < CALLS:
            search.press("Enter")
            assert count.inner_text() == f"{k + 2} of {CALLS + 1}"
    assert starts == sorted(starts) and len(set(starts)) == CALLS + 1
    page.page.click("#search-next")  # wraps around
    assert count.inner_text() == f"1 of {CALLS + 1}"
    page.page.click("#search-prev")
    assert count.inner_text() == f"{CALLS + 1} of {CALLS + 1}"
    # Matches keep their colour, everything else is faded.
    page.page.click("#reset-view")
    search.fill("known_leaf")
    page.page.wait_for_function("window.__vt.search && window.__vt.search.count > 0")
    leaf, mid = page.drawn("known_leaf (")[0], page.drawn("known_mid (")[0]
    assert page.pixel(leaf["x"] + 2, leaf["y"] + 3) == page.color(leaf["name"])
    faded = page.pixel(mid["x"] + 2, mid["y"] + 3)
    assert faded != page.color(mid["name"]) and min(faded) > min(page.color(mid["name"]))


def test_wheel_keys_and_drag_zoom_and_pan(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=exact.json")
    # Tick labels of the 100 us trace: round microseconds, evenly spaced by 1, 2 or 5 x 10^k.
    ticks = page.vt("ticks")
    assert all(t.endswith(" \u00b5s") for t in ticks), ticks
    values = [float(t.split()[0]) for t in ticks]
    steps = {round(b - a, 6) for a, b in zip(values[:-1], values[1:], strict=True)}
    assert len(ticks) >= 4 and len(steps) == 1 and steps.pop() in (10, 20, 50)
    assert values[0] == 0 and values[-1] <= 101
    box = page.box()
    start = page.vt("view")
    span = start["end"] - start["start"]
    # Wheel up at 300 px into the canvas: narrower, and the time under the pointer stays put.
    px = 300
    at = start["start"] + (px - 200) / (box["width"] - 200) * span
    page.page.mouse.move(box["x"] + px, box["y"] + 100)
    page.page.mouse.wheel(0, -300)
    page.page.wait_for_function(f"window.__vt.view.end - window.__vt.view.start < {span * 0.9}")
    v = page.vt("view")
    assert abs(v["start"] + (px - 200) / (box["width"] - 200) * (v["end"] - v["start"]) - at) < span * 1e-6
    page.page.mouse.move(box["x"] + 200 + (box["width"] - 200) / 2, box["y"] + 100)
    before = page.vt("view")
    page.page.keyboard.press("w")
    after = page.vt("view")
    assert after["end"] - after["start"] < (before["end"] - before["start"]) * 0.9
    page.page.keyboard.press("s")
    page.page.keyboard.press("s")
    wider = page.vt("view")
    assert wider["end"] - wider["start"] > after["end"] - after["start"]
    page.page.keyboard.press("d")
    right = page.vt("view")
    assert right["start"] > wider["start"] and right["end"] - right["start"] == pytest.approx(
        wider["end"] - wider["start"])
    page.page.keyboard.press("a")
    assert page.vt("view")["start"] < right["start"]
    # Drag 200 px to the left: the view moves right by 200 px worth of time.
    v = page.vt("view")
    per_px = (v["end"] - v["start"]) / (box["width"] - 200)
    page.page.mouse.move(box["x"] + 700, box["y"] + 60)
    page.page.mouse.down()
    page.page.mouse.move(box["x"] + 600, box["y"] + 60)
    page.page.mouse.move(box["x"] + 500, box["y"] + 60)
    page.page.mouse.up()
    moved = page.vt("view")
    assert moved["start"] - v["start"] == pytest.approx(200 * per_px, rel=1e-6)
    assert page.vt("selected") is None  # a drag is not a click


def test_shift_wheel_scrolls_down_to_lanes_below(tmp_path, open_page):
    events = [x(f"work_{t}", 0, 100, tid=t) for t in range(1, 61)]
    (tmp_path / "threads.json").write_text(json.dumps({"traceEvents": events}))
    with serving(tmp_path / "threads.json") as (_, url):
        page = open_page(url + "/")
        assert "work_60" not in {d["name"] for d in page.drawn()}
        box = page.box()
        page.page.mouse.move(box["x"] + 600, box["y"] + 300)
        page.page.keyboard.down("Shift")
        for _ in range(20):
            page.page.mouse.wheel(0, 400)
        page.page.keyboard.up("Shift")
        page.page.wait_for_function(
            "window.__vt.lanes().some(l => l.label.startsWith('Thread 60') && l.y < 700)")
        names = {d["name"] for d in page.drawn()}
        assert "work_60" in names and "work_1" not in names
        assert page.vt("view")["end"] - page.vt("view")["start"] == pytest.approx(102_000)  # no zoom


def test_zooming_in_shows_what_was_merged(tmp_path, open_page):
    # 20000 back-to-back 1 us calls in one row: a 1000 px view cannot show them one by one.
    events = [x("tiny", 10 * i, 1) for i in range(20000)] + [x("wide", 0, 200000, tid=2)]
    (tmp_path / "many.json").write_text(json.dumps({"traceEvents": events}))
    with serving(tmp_path / "many.json") as (_, url):
        page = open_page(url + "/")
        tiny = page.drawn("tiny")
        assert len(tiny) < 2000 and all(d["merged"] for d in tiny)
        assert sum(d["count"] for d in tiny) == 20000
        assert page.pixel(tiny[5]["x"] + 0.5, tiny[5]["y"] + 2) == page.color("tiny")
        page.page.evaluate("window.__vt.setView(50000, 150000)")
        tiny = page.drawn("tiny")
        assert [round(d["x"]) for d in tiny] == sorted(round(d["x"]) for d in tiny)
        assert not any(d["merged"] for d in tiny) and 10 <= len(tiny) <= 11


def test_flame_graph_aggregates_with_proportional_widths(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=exact.json&view=flamegraph")
    assert page.vt("mode") == "flame"
    frames = {f["name"]: f for f in page.vt("flame")}
    assert set(frames) == {"all", "root", "a", "b", "c"}
    width = frames["root"]["width"]
    assert frames["all"]["width"] == pytest.approx(width)
    assert frames["a"]["width"] == pytest.approx(0.6 * width, abs=0.5)
    assert frames["b"]["width"] == pytest.approx(0.3 * width, abs=0.5)
    assert frames["c"]["width"] == pytest.approx(0.3 * width, abs=0.5)
    assert frames["c"]["x"] == pytest.approx(frames["a"]["x"])
    assert frames["c"]["depth"] == frames["a"]["depth"] + 1
    a = frames["a"]
    assert page.pixel(a["x"] + 2, a["y"] + 2, canvas="flame") == page.color("a")
    # Click a: it fills the width, c is half of it.
    page.click_canvas(a["x"] + a["width"] / 2, a["y"] + 9, selector="#flame")
    frames = {f["name"]: f for f in page.vt("flame") if not f["ancestor"]}
    assert set(frames) == {"a", "c"}
    assert frames["a"]["width"] == pytest.approx(width)
    assert frames["c"]["width"] == pytest.approx(width / 2, abs=0.5)
    # Back to the timeline, select b: the flame graph is b's.
    page.page.click("#toggle-view")
    assert page.vt("mode") == "timeline"
    b = page.drawn("b")[0]
    page.click_canvas(b["x"] + b["width"] / 2, b["y"] + 8)
    page.page.click("#toggle-view")
    assert [f["name"] for f in page.vt("flame")] == ["b"]
    assert "Selected slice: b" in page.page.locator("#flame-scope").inner_text()


def test_counters_instants_and_objects_are_drawn(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=exact.json")
    page.redraw()
    counters = page.vt("counters")
    assert [(c["counter"], c["key"]) for c in counters] == [("load", "cpu"), ("load", "io")]
    assert all(c["points"] == 3 for c in counters)
    lanes = page.vt("lanes()")
    counter_lane = next(lane for lane in lanes if lane["kind"] == "counter")
    assert counter_lane["label"] == "load"
    # The cpu step graph is high (90) between 40 and 80 us and low (10) before: sample inside it.
    root = page.drawn("root")[0]
    per_us = root["width"] / 100
    cpu = counters[0]
    high_y = cpu["y"] + cpu["height"] * 0.5
    assert page.pixel(root["x"] + 60 * per_us, high_y) != [255, 255, 255]
    assert page.pixel(root["x"] + 20 * per_us, high_y) in ([247, 249, 252], [255, 255, 255])
    # Hovering the counter lane at 60 us shows the values set at 40 us.
    page.page.mouse.move(page.box()["x"] + root["x"] + 60 * per_us, page.box()["y"] + high_y)
    title = page.page.locator("#timeline").get_attribute("title")
    assert "cpu: 90" in title and "io: 4" in title
    (mark,) = page.vt("instants")
    assert mark["name"] == "mark" and mark["x"] == pytest.approx(root["x"] + 50 * per_us, abs=0.5)
    assert page.pixel(mark["x"], mark["y"]) == page.color("mark")
    page.click_canvas(mark["x"], mark["y"])
    assert page.page.locator("#detail-name").inner_text() == "mark"


def test_objects_are_listed_and_show_their_snapshots(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=known.json")
    link = page.page.locator("#objects a")
    assert link.count() == 1 and link.inner_text().startswith("Cache 0x42")
    link.click()
    assert page.page.locator("#detail-name").inner_text() == "Cache"
    assert '"entries": 7' in page.page.locator(".object-snapshot").inner_text()


def test_overflow_banner_when_the_ring_wrapped(tmp_path, open_page):
    tracer = VizTracer(verbose=0, tracer_entries=30)
    tracer.start()
    for i in range(100):
        abs(i)
    tracer.stop()
    tracer.save(str(tmp_path / "wrapped.json"))
    with serving(tmp_path / "wrapped.json") as (_, url):
        page = open_page(url + "/")
        banner = page.page.locator("#overflow")
        assert banner.is_visible()
        assert "wrapped" in banner.inner_text() and "tracer_entries (now 30)" in banner.inner_text()


def test_directory_listing_links_and_refreshes(tmp_path, open_page, reports_dir):
    shutil.copy(reports_dir / "exact.json", tmp_path / "first.json")
    with serving(tmp_path) as (_, url):
        page = open_page(url + "/", wait=False)
        links = page.page.locator("#files a.report-link")
        links.first.wait_for()
        assert links.all_inner_texts() == ["first.json"]
        shutil.copy(reports_dir / "exact.json", tmp_path / "second.json")
        page.page.wait_for_function("document.querySelectorAll('#files a.report-link').length == 2",
                                    timeout=10000)
        assert links.all_inner_texts() == ["first.json", "second.json"]
        links.nth(1).click()
        page.ready()
        assert page.vt("file") == "second.json"
        assert [d["name"] for d in page.drawn("root")] == ["root"]


def test_server_errors_show_in_the_error_banner(tmp_path, open_page):
    (tmp_path / "broken.json").write_text('{"traceEvents": [')
    with serving(tmp_path) as (_, url):
        page = open_page(url + "/?file=broken.json", wait=False)
        page.page.wait_for_function("window.__vt.error")
        banner = page.page.locator("#error")
        assert banner.is_visible() and "broken.json" in banner.inner_text()
        page2 = open_page(url + "/?file=nothere.json", wait=False)
        page2.page.wait_for_function("window.__vt.error")
        assert "nothere.json" in page2.page.locator("#error").inner_text()


FAKE_PERFETTO = b"""<!DOCTYPE html><title>fake perfetto</title><script>
window.got = null;
window.addEventListener("message", function (ev) {
  if (ev.data === "PING") { ev.source.postMessage("PONG", "*"); return; }
  if (ev.data && ev.data.perfetto) {
    const p = ev.data.perfetto;
    window.got = {bytes: p.buffer.byteLength, title: p.title, fileName: p.fileName, origin: ev.origin};
  }
});
</script>"""


class _FakePerfetto(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(FAKE_PERFETTO)))
        self.end_headers()
        self.wfile.write(FAKE_PERFETTO)


def test_perfetto_hand_off_posts_the_raw_file(server, reports_dir, browser):
    _, url = server
    fake = ThreadingHTTPServer(("127.0.0.1", 0), _FakePerfetto)
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    page = browser.new_page()
    try:
        target = f"http://127.0.0.1:{fake.server_address[1]}/"
        with page.context.expect_page() as popup_info:
            page.goto(f"{url}/?file=known.json&perfetto=1&perfetto_url={target}")
        popup = popup_info.value
        popup.wait_for_function("window.got !== null", timeout=15000)
        got = popup.evaluate("window.got")
        assert got["bytes"] == os.path.getsize(reports_dir / "known.json")
        assert got["fileName"] == "known.json" and got["title"] == "known.json"
        assert got["origin"] == url
        page.wait_for_function("window.__vt.perfettoSent === true")
        popup.close()
        # The toolbar's Perfetto button of a page that draws the trace does the same.
        page.goto(f"{url}/?file=exact.json&perfetto_url={target}")
        page.wait_for_function("window.__vt.ready")
        with page.context.expect_page() as popup_info:
            page.click("#open-perfetto")
        popup = popup_info.value
        popup.wait_for_function("window.got !== null", timeout=15000)
        assert popup.evaluate("window.got.bytes") == os.path.getsize(reports_dir / "exact.json")
        popup.close()
    finally:
        page.close()
        fake.shutdown()
        fake.server_close()


def drag(page, x0, x1, y, shift=False):
    """Drag over the timeline from canvas x0 to x1 at height y, in steps, with Shift held or not."""
    b = page.box()
    if shift:
        page.page.keyboard.down("Shift")
    page.page.mouse.move(b["x"] + x0, b["y"] + y)
    page.page.mouse.down()
    for k in range(1, 5):
        page.page.mouse.move(b["x"] + x0 + (x1 - x0) * k / 4, b["y"] + y)
    page.page.mouse.up()
    if shift:
        page.page.keyboard.up("Shift")


def time_at(page, view, x):
    """The time at canvas x in `view`, as the page converts it (200 px of lane labels)."""
    return view["start"] + (x - 200) / (page.box()["width"] - 200) * (view["end"] - view["start"])


def clipped_stats(page, a, b):
    """Brute force over every slice of the page's model: {name: (total, self, count)} in [a, b]."""
    cols = page.page.evaluate("() => { const m = VT.model; return [m.names, Array.from(m.start),"
                              " Array.from(m.dur), Array.from(m.name), Array.from(m.parent)]; }")
    names, start, dur, name, parent = cols
    clip = [max(min(s + d, b) - max(s, a), 0) for s, d in zip(start, dur, strict=True)]
    out = {}
    for i, c in enumerate(clip):
        if c > 0:
            total, self_, count = out.get(names[name[i]], (0, 0, 0))
            kids = sum(clip[k] for k in range(len(clip)) if parent[k] == i)
            out[names[name[i]]] = (total + c, self_ + c - kids, count + 1)
    return out


def test_shift_drag_selects_a_range_with_its_functions_and_flame_graph(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=known.json")
    main = next(lane["track"] for lane in page.vt("lanes()") if lane["label"].startswith("MainThread"))
    leaves = [d for d in page.drawn("known_leaf (") if d["track"] == main]
    # From the middle of the first call's leaf to the middle of the second's.
    x0, x1 = round(leaves[0]["x"] + leaves[0]["width"] / 2), round(leaves[1]["x"] + leaves[1]["width"] / 2)
    view = page.vt("view")
    drag(page, x0, x1, leaves[0]["y"] + 8, shift=True)
    sel = page.vt("selection")
    per_px = (view["end"] - view["start"]) / (page.box()["width"] - 200)
    assert sel["start"] == pytest.approx(time_at(page, view, x0), abs=per_px / 100)
    assert sel["end"] == pytest.approx(time_at(page, view, x1), abs=per_px / 100)
    assert page.vt("view") == view and page.vt("selected") is None  # no pan, no slice selected
    loc = page.page.locator
    assert loc("#range-length").inner_text() == fmt_duration(sel["end"] - sel["start"])
    # The functions in it: two calls of known_mid and known_leaf, inside the one known_program.
    stats = {f["name"].split(" (")[0]: f for f in page.vt("rangeStats")["functions"]}
    assert set(stats) == {"known_program", "known_mid", "known_leaf"}
    assert [stats[n]["count"] for n in ("known_program", "known_mid", "known_leaf")] == [1, 2, 2]
    expected = {k.split(" (")[0]: v for k, v in clipped_stats(page, sel["start"], sel["end"]).items()}
    for n, f in stats.items():
        assert (f["total"], f["self"], f["count"]) == pytest.approx(expected[n], abs=1e-3)
    assert stats["known_program"]["total"] == pytest.approx(sel["end"] - sel["start"])
    rows = loc("#range-stats tbody tr").all_inner_texts()
    assert [r.split(" (")[0] for r in rows] == ["known_program", "known_mid", "known_leaf"]  # by total
    assert page.pixel((x0 + x1) / 2, page.vt("lanes()")[-1]["y"] + 20) != [255, 255, 255]  # the band
    # The flame graph of the range: widths in proportion to the clipped times.
    page.page.click("#toggle-view")
    frames = {f["name"].split(" (")[0]: f for f in page.vt("flame")}
    whole = frames["known_program"]["width"]
    assert frames["all"]["width"] == pytest.approx(whole)
    for n in ("known_mid", "known_leaf"):
        share = stats[n]["total"] / stats["known_program"]["total"]
        assert frames[n]["width"] == pytest.approx(whole * share, abs=0.5)
    assert loc("#flame-scope").inner_text().startswith("Selected range")
    # Esc clears it, and the flame graph is the visible range's again.
    page.page.keyboard.press("Escape")
    assert page.vt("selection") is None and page.vt("rangeStats") is None
    assert "Selected range" not in loc("#flame-scope").inner_text()
    assert {f["name"].split(" (")[0] for f in page.vt("flame")} >= {"known_program", "Thread.run"}


def test_range_on_exact_times_then_plain_drag_pans_and_click_clears(server, open_page):
    _, url = server
    page = open_page(f"{url}/?file=exact.json")
    root = page.drawn("root")[0]
    per_us = root["width"] / 100
    y = root["y"] + 8
    # 15 us to 75 us of root (0-100) > a (0-60) > c (0-30), and b (60-90).
    x0, x1 = round(root["x"] + 15 * per_us), round(root["x"] + 75 * per_us)  # the mouse is at whole px
    view = page.vt("view")
    drag(page, x0, x1, y, shift=True)
    sel = page.vt("selection")
    assert sel["start"] == pytest.approx(time_at(page, view, x0), abs=1)
    assert sel["end"] == pytest.approx(time_at(page, view, x1), abs=1)
    assert 14000 < sel["start"] < 16000 and 74000 < sel["end"] < 76000
    a, b = sel["start"], sel["end"]
    stats = {f["name"]: (f["total"], f["self"], f["count"]) for f in page.vt("rangeStats")["functions"]}
    expected = {"root": (b - a, 0, 1), "a": (60000 - a, 30000, 1), "c": (30000 - a, 30000 - a, 1),
                "b": (b - 60000, b - 60000, 1)}
    assert set(stats) == set(expected)
    for n, row in expected.items():
        assert stats[n] == pytest.approx(row, abs=1e-6), n
    page.page.click("#toggle-view")
    frames = {f["name"]: f for f in page.vt("flame")}
    w = frames["root"]["width"]
    for n in ("a", "b", "c"):
        assert frames[n]["width"] == pytest.approx(w * stats[n][0] / (b - a), abs=0.5)
    page.page.click("#toggle-view")
    # A plain drag pans and leaves the range as it was; a click on empty space clears it.
    drag(page, 700, 500, y)
    assert page.vt("view")["start"] > view["start"] and page.vt("selection") == sel
    below = max(lane["y"] + lane["height"] for lane in page.vt("lanes()")) + 40
    page.click_canvas(600, below)
    assert page.vt("selection") is None
    assert page.page.locator("#details .hint").is_visible()
    drag(page, 500, 700, y)
    assert page.vt("selection") is None and page.vt("selected") is None
