"""VizTracer 1.x custom events in the viewer page, from real recordings, in headless Chromium.

One program logs every kind of custom event (instants of each scope with every kind of args,
printed text, log_var, VizCounter, VizObject, add_object, log_event, gc, exceptions, logging,
audit). Its report is saved as ``.json``, ``.pftrace`` and ``.html``; each test opens it and
checks what a user sees: where a mark is drawn, what the details panel says after a click, the
values a counter graph shows.
"""
from __future__ import annotations

import gc
import json
import logging
import sys
import threading
from pathlib import Path

import pytest
from conftest_cli_helpers import COMMANDS, line_of, run, write
from conftest_viewer_helpers import fmt_duration, serving

from viztracer import VizCounter, VizObject, VizTracer
from viztracer.report.loader import load_report
from viztracer.vizlogging import VizLoggingHandler

VIEWPORT = {"width": 1200, "height": 800}
LABEL_W = 200                                   # the lane labels' column, VT.L.LABEL_W
COUNTER_H = 50                                  # one counter series' row, VT.L.COUNTER_H
COUNTER_BG = [247, 249, 252]
PRINTED = "first line\n  indented\tline " + "x" * 300 + "\n"   # what the print() below writes
AUDIT_EVENT = "viztest.custom"
FORMATS = ["json", "pftrace"]
SCOPE_NAMES = {"t": "thread", "p": "process", "g": "global"}
BACKGROUNDS = (COUNTER_BG, [255, 255, 255])

# The instants the program adds itself: name -> (scope, args).
INSTANTS = {
    "t dict": ("t", {"k": [1, 2], "s": "v"}),
    "p string": ("p", "a  string\nover two lines"),
    "g number": ("g", 42),
    "t null": ("t", None),
    "t list": ("t", [1, "two", None]),
    "g dict": ("g", {"nested": {"deep": True}}),
}
WORKER_INSTANTS = {
    "worker t": ("t", {"w": 1}),
    "worker p": ("p", {"from": "worker"}),
}


def inner(n):
    return sum(range(n))


def raise_key_error():
    try:
        {}["x"]
    except KeyError:
        pass


def worker(tracer):
    for name, (scope, args) in WORKER_INSTANTS.items():
        tracer.add_instant(name, args=args, scope=scope)


def program(tracer):
    print("first line\n  indented\tline", "x" * 300)
    for name, (scope, args) in INSTANTS.items():
        tracer.add_instant(name, args=args, scope=scope)
    t = threading.Thread(target=worker, args=(tracer,), name="worker")
    t.start()
    t.join()
    tracer.log_var("n_items", 3)
    tracer.log_var("flag", True)
    tracer.log_var("label", "some text")
    counter = VizCounter(tracer, "pool")
    counter.a = 1
    counter.b = 2.5
    counter.a = 4
    obj = VizObject(tracer, "conf")
    obj.size = 3
    obj.tags = ["x"]
    del obj
    tracer.add_object("N", "0x7", "Cache")
    tracer.add_object("O", "0x7", "Cache", {"entries": 7})
    tracer.add_object("D", "0x7", "Cache")
    with tracer.log_event("block"):
        inner(10)
    cycle = []
    cycle.append(cycle)
    del cycle
    gc.collect()
    raise_key_error()
    logger = logging.getLogger("viztest.custom")
    handler = VizLoggingHandler()
    handler.setTracer(tracer)
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        logger.info("logged %d items", 5)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    sys.audit(AUDIT_EVENT, "a", 1)


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """The program's report as custom.json, custom.pftrace and custom.html, and the JSON loaded."""
    folder = tmp_path_factory.mktemp("custom")
    tracer = VizTracer(verbose=0, log_print=True, log_gc=True, log_exception=True,
                       log_audit=[AUDIT_EVENT.replace(".", r"\.")])
    tracer.start()
    try:
        program(tracer)
    finally:
        tracer.stop()
    for ext in ("json", "pftrace", "html"):
        tracer.save(str(folder / f"custom.{ext}"))
    with open(folder / "custom.json") as f:
        report = json.load(f)
    return folder, Report(report)


class Report:
    """The recorded events, and times as the page shows them (ns after the first timestamp)."""

    def __init__(self, report):
        self.events = report["traceEvents"]
        self.t0 = min(e["ts"] for e in self.events if "ts" in e)

    def ns(self, ts):
        return round((ts - self.t0) * 1000)

    def one(self, ph, name=None, pred=lambda e: True):
        found = [e for e in self.events if e["ph"] == ph and (name is None or e["name"] == name) and pred(e)]
        assert len(found) == 1, (ph, name, found)
        return found[0]

    def all(self, ph, name):
        return sorted((e for e in self.events if e["ph"] == ph and e["name"] == name), key=lambda e: e["ts"])


@pytest.fixture(scope="module")
def url(reports):
    with serving(reports[0]) as (_, base):
        yield base


class Page:
    """A viewer page, with the debug hook (``window.__vt``), the canvas and the details panel."""

    def __init__(self, browser, url):
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=30000)
        assert self.page.evaluate("window.__vt.error") is None

    def vt(self, expr):
        return self.page.evaluate(f"window.__vt.{expr}")

    def set_view(self, start, end):
        self.page.evaluate("([a, b]) => window.__vt.setView(a, b)", [start, end])

    def x_of(self, t):
        """Canvas x of time t (ns) in the current view."""
        v = self.vt("view")
        return LABEL_W + (t - v["start"]) * self.plot_width() / (v["end"] - v["start"])

    def plot_width(self):
        return self.page.locator("#timeline").bounding_box()["width"] - LABEL_W

    def lanes(self, kind=None):
        return [lane for lane in self.vt("lanes()") if kind is None or lane["kind"] == kind]

    def lane(self, kind, label_prefix=""):
        (found,) = [lane for lane in self.lanes(kind) if lane["label"].startswith(label_prefix)]
        return found

    def click(self, x, y):
        box = self.page.locator("#timeline").bounding_box()
        self.page.mouse.click(box["x"] + x, box["y"] + y)

    def pixel(self, x, y):
        self.page.evaluate("window.__vt.redraw()")
        return self.page.evaluate(
            "([x, y]) => { const r = window.devicePixelRatio || 1;"
            " return Array.from(document.getElementById('timeline').getContext('2d')"
            ".getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1).data.slice(0, 3)); }", [x, y])

    def color(self, name):
        return self.page.evaluate("n => window.__vt.colorOf(n)", name)

    def drawn_instant(self, name):
        self.page.evaluate("window.__vt.redraw()")
        (found,) = [d for d in self.vt("instants") if d["name"] == name]
        return found

    def drawn_slices(self, name):
        self.page.evaluate("window.__vt.redraw()")
        return [d for d in self.vt("drawn") if d["name"] == name]

    def slice_at(self, name, t):
        """The one slice ``name`` drawn starting at time t (ns)."""
        (found,) = [d for d in self.drawn_slices(name) if abs(d["x"] - self.x_of(t)) <= 1]
        return found

    def show_lane(self, kind, label_prefix=""):
        """Scroll (Shift+wheel, as a user does) until the lane is in sight; the lane."""
        box = self.page.locator("#timeline").bounding_box()
        self.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        for _ in range(50):
            lane = self.lane(kind, label_prefix)
            if lane["y"] >= 26 and lane["y"] + lane["height"] <= box["height"]:
                return lane
            self.page.keyboard.down("Shift")
            self.page.mouse.wheel(0, 100 if lane["y"] + lane["height"] > box["height"] else -100)
            self.page.keyboard.up("Shift")
        raise AssertionError(f"could not scroll to the {kind} lane {label_prefix!r}")

    def text(self, selector):
        return self.page.locator(selector).text_content()

    def rows(self, selector):
        """The rows of a details table as {label: value text}."""
        return dict(self.page.locator(selector).evaluate(
            "t => Array.from(t.rows).map(r => [r.cells[0].textContent, r.cells[1].textContent])"))

    def focus_instant(self, report, event):
        """Zoom to 1 us around the instant (as a user zooms in until marks stand apart) and
        return the mark drawn for it."""
        t = report.ns(event["ts"])
        self.set_view(t - 500, t + 500)
        mark = self.drawn_instant(event["name"])
        assert mark["x"] == pytest.approx(self.x_of(t), abs=0.5)   # drawn at its time
        return mark

    def close(self):
        self.page.close()
        assert not self.errors, self.errors


@pytest.fixture
def open_page(browser):
    pages = []

    def open_(address):
        pages.append(Page(browser, address))
        return pages[-1]

    yield open_
    for p in pages:
        p.close()


def assert_shows_args(page, args):
    """The details panel's Args show exactly ``args``: a dict as a table of keys, anything
    else (null included) as one block."""
    if isinstance(args, dict):
        shown = page.rows("#detail-other-args")
        assert list(shown) == list(args)
        for key, value in args.items():
            if isinstance(value, str):
                assert shown[key] == value
            else:
                assert json.loads(shown[key]) == value
    elif isinstance(args, str):
        assert page.text("#detail-args-value") == args
    else:
        assert json.loads(page.text("#detail-args-value")) == args


@pytest.mark.parametrize("fmt", FORMATS)
def test_instants_are_drawn_on_the_lane_of_their_scope(reports, url, open_page, fmt):
    _, report = reports
    page = open_page(f"{url}/?file=custom.{fmt}")
    main = page.lane("thread", "MainThread")
    worker_lane = page.lane("thread", "worker")
    process = page.lane("process")
    glob = page.lane("global")
    assert glob["y"] < process["y"] < main["y"]  # the global lane on top, then the process's
    expected_lane = {"t": None, "p": process, "g": glob}
    for name, (scope, _) in {**INSTANTS, **WORKER_INSTANTS}.items():
        event = report.one("i", name)
        mark = page.focus_instant(report, event)
        assert mark["scope"] == scope
        lane = expected_lane[scope] or (worker_lane if name.startswith("worker") else main)
        assert mark["lane"] == lane["kind"], name
        if scope == "t":
            assert mark["track"] == lane["track"]
            assert lane["y"] <= mark["y"] < lane["y"] + lane["instH"]  # above the thread's slices
        else:
            assert lane["y"] <= mark["y"] < lane["y"] + lane["height"]
        assert page.pixel(mark["x"], mark["y"]) == page.color(name)
    # Lanes hold only their own scope: nothing of the program's thread-scope marks on the global lane.
    assert {"t dict", "t null", "t list", "worker t"}.isdisjoint(
        d["name"] for d in page.vt("instants") if d["lane"] != "thread")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", [*INSTANTS, *WORKER_INSTANTS])
def test_clicking_an_instant_shows_its_name_time_scope_and_args(reports, url, open_page, fmt, name):
    _, report = reports
    scope, args = {**INSTANTS, **WORKER_INSTANTS}[name]
    event = report.one("i", name)
    assert event.get("args") == args and event["s"] == scope  # the report has what the program logged
    page = open_page(f"{url}/?file=custom.{fmt}")
    mark = page.focus_instant(report, event)
    page.click(mark["x"], mark["y"])
    selected = page.vt("selected")
    assert selected["kind"] == "instant" and selected["name"] == name
    assert selected["time"] == report.ns(event["ts"])
    assert page.text("#detail-name") == name
    assert page.text("#detail-start") == fmt_duration(report.ns(event["ts"]))
    assert page.text("#detail-ts").startswith(f"{event['ts']:.3f} \u00b5s")
    assert page.text("#detail-scope") == f'{SCOPE_NAMES[scope]} ("{scope}")'
    if scope == "t":
        thread = "worker" if name.startswith("worker") else "MainThread"
        assert page.text("#detail-thread").startswith(thread + " (pid ")
    else:
        assert page.text("#detail-process").startswith("MainProcess (pid ")
    if name == "worker p" and fmt == "json":   # a .pftrace keeps only the process of these
        assert page.text("#detail-thread").startswith("worker (pid ")
    assert_shows_args(page, args)
    # The selected mark is outlined in black (the right corner of the diamond, 5 px from its centre).
    assert max(page.pixel(mark["x"] + 5, mark["y"])) < 90


@pytest.mark.parametrize("fmt", FORMATS)
def test_printed_text_is_shown_whole_with_its_whitespace(reports, url, open_page, fmt):
    _, report = reports
    event = report.one("i", pred=lambda e: e["name"].startswith("print - "))
    assert event["name"] == "print - " + PRINTED and event["s"] == "g" and event["args"] is None
    page = open_page(f"{url}/?file=custom.{fmt}")
    mark = page.focus_instant(report, event)
    assert mark["lane"] == "global"
    page.click(mark["x"], mark["y"])
    assert page.text("#detail-name") == "print"
    assert page.text("#detail-scope") == 'global ("g")'
    assert page.text("#detail-text") == PRINTED
    assert page.text("#detail-args-value") == "null"
    block = page.page.locator("#detail-text")
    # Spaces, tabs and line breaks as printed, long lines wrapped inside the panel, nothing hidden.
    assert block.evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    assert block.inner_text().startswith("first line\n  indented\tline x")
    size = block.evaluate("e => [e.scrollWidth, e.clientWidth, e.scrollHeight, e.clientHeight]")
    assert size[0] <= size[1] and size[2] <= size[3]
    side, box = page.page.locator("#side").bounding_box(), block.bounding_box()
    assert box["x"] >= side["x"] and box["x"] + box["width"] <= side["x"] + side["width"]
    line_height = block.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 15")
    assert box["height"] > 4 * line_height    # two lines and 300 x's wrapped over several more


def counter_samples(report, name):
    return [(report.ns(e["ts"]), e["args"]) for e in report.all("C", name)]


def click_counter(page, lane, t, row=0):
    """Click the counter lane at time t (in its series row ``row``); the page's selection."""
    page.click(page.x_of(t), lane["y"] + row * COUNTER_H + 25)
    selected = page.vt("selected")
    assert selected["kind"] == "counter" and selected["name"] == lane["label"]
    return selected


@pytest.mark.parametrize("fmt", FORMATS)
def test_counters_draw_a_graph_per_series_and_show_values_at_a_click(reports, url, open_page, fmt):
    _, report = reports
    samples = counter_samples(report, "pool")
    assert [args for _, args in samples] == [{"a": 1}, {"a": 1, "b": 2.5}, {"a": 4, "b": 2.5}]
    (t1, _), (t2, _), (t3, _) = samples
    page = open_page(f"{url}/?file=custom.{fmt}")
    series = [(c["name"], s["key"]) for c in page.vt("summary")["counters"] for s in c["series"]]
    for expected in [("n_items", "value"), ("flag", "value"), ("pool", "a"), ("pool", "b"),
                     ("garbage collection", "collecting"), ("garbage collection", "collected"),
                     ("garbage collection", "uncollectable")]:
        assert expected in series
    lane = page.show_lane("counter", "pool")
    page.set_view(t1 - (t3 - t1), t3 + (t3 - t1))
    a, b = [c for c in page.vt("counters") if c["counter"] == "pool"]
    assert b["y"] >= a["y"] + a["height"]   # each series has its own row
    # The graphs: a's is 1 (a quarter of its height) then 4 (all of it); b's starts at t2.
    mid_a, mid_b = a["y"] + a["height"] / 2, b["y"] + b["height"] / 2
    early, late = page.x_of((t1 + t2) / 2), page.x_of(t3 + (t3 - t2) / 2)
    assert page.pixel(early, mid_a) == COUNTER_BG and page.pixel(late, mid_a) not in BACKGROUNDS
    assert page.pixel(early, mid_b) == COUNTER_BG and page.pixel(late, mid_b) not in BACKGROUNDS
    # Clicking the lane shows every series' value at that time.
    assert click_counter(page, lane, (t1 + t2) / 2)["values"] == {"a": 1, "b": None}
    values = page.rows("#counter-values")
    assert values["a"].startswith("1 ") and values["b"].startswith("\u2013")
    assert click_counter(page, lane, (t2 + t3) / 2, row=1)["values"] == {"a": 1, "b": 2.5}
    assert click_counter(page, lane, t3 + (t3 - t2) / 2)["values"] == {"a": 4, "b": 2.5}
    values = page.rows("#counter-values")
    assert values["a"] == f"4   (set at {fmt_duration(t3)})"
    assert values["b"] == f"2.5   (set at {fmt_duration(t3)})"   # every sample holds both keys
    assert page.text("#detail-name") == "pool"
    # Hovering shows them too.
    box = page.page.locator("#timeline").bounding_box()
    page.page.mouse.move(box["x"] + page.x_of((t2 + t3) / 2), box["y"] + lane["y"] + 25)
    title = page.page.locator("#timeline").get_attribute("title")
    assert "a: 1" in title and "b: 2.5" in title


@pytest.mark.parametrize("fmt", FORMATS)
def test_log_var_numbers_and_bools_are_counters_other_values_instants(reports, url, open_page, fmt):
    _, report = reports
    assert report.one("C", "n_items")["args"] == {"value": 3}
    flag = report.one("C", "flag")
    assert flag["args"] == {"value": True}
    label = report.one("i", "label")
    assert label["args"] == {"object": "'some text'"}
    page = open_page(f"{url}/?file=custom.{fmt}")
    for name, value in (("n_items", 3), ("flag", 1)):
        t = report.ns(report.one("C", name)["ts"])
        lane = page.show_lane("counter", name)
        page.set_view(t - 1000, t + 1000)
        (graph,) = [c for c in page.vt("counters") if c["counter"] == name]
        assert graph["key"] == "value" and graph["points"] == 1 and graph["max"] == value
        assert page.pixel(page.x_of(t + 500), graph["y"] + graph["height"] / 2) != COUNTER_BG  # drawn after t
        assert page.pixel(page.x_of(t - 500), graph["y"] + graph["height"] / 2) == COUNTER_BG  # not before
        assert click_counter(page, lane, t + 500)["values"] == {"value": value}
    mark = page.focus_instant(report, label)
    assert mark["lane"] == "thread"
    page.click(mark["x"], mark["y"])
    assert page.text("#detail-name") == "label"
    assert page.rows("#detail-other-args") == {"object": "'some text'"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_object_snapshots_show_in_both_shapes(reports, url, open_page, fmt):
    _, report = reports
    conf = [e for e in report.events if e.get("name") == "conf" and e["ph"] in "NOD"]
    assert [(e["ph"], e.get("args")) for e in conf] == [
        ("N", None), ("O", {"snapshot": {"size": 3}}), ("O", {"snapshot": {"size": 3, "tags": ["x"]}}),
        ("D", None)]
    page = open_page(f"{url}/?file=custom.{fmt}")
    links = page.page.locator("#objects a")
    texts = links.all_inner_texts()
    assert f"conf {conf[0]['id']} (4 events)" in texts and "Cache 0x7 (3 events)" in texts
    expected = {"conf": [{"size": 3}, {"size": 3, "tags": ["x"]}], "Cache": [{"entries": 7}]}
    for name, snapshots in expected.items():
        links.filter(has_text=name + " ").click()
        assert page.text("#detail-name") == name
        heads = page.page.locator("#details h4.object-event").all_inner_texts()
        kinds = [h.split(" at ")[0] for h in heads]
        assert kinds == ["created"] + ["snapshot"] * len(snapshots) + ["destroyed"]
        shown = [json.loads(t) for t in page.page.locator(".object-snapshot").all_text_contents()]
        assert shown == snapshots   # VizObject's {"snapshot": ...} unwrapped, add_object's args as given
        events = report.all("O", name)
        assert heads[1] == "snapshot at " + fmt_duration(report.ns(events[0]["ts"]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_log_event_block_is_a_slice_around_its_calls(reports, url, open_page, fmt):
    _, report = reports
    block = report.one("X", pred=lambda e: e["name"].startswith("block ("))
    line = line_of(Path(__file__), 'tracer.log_event("block")')   # in program(), the first one
    assert block["name"] == f"block ({__file__}:{line})" and block["cat"] == "FEE"
    page = open_page(f"{url}/?file=custom.{fmt}")
    start, dur = report.ns(block["ts"]), round(block["dur"] * 1000)
    page.set_view(start - dur / 4, start + dur * 1.25)
    (slice_,) = page.drawn_slices(block["name"])
    (call,) = [d for d in page.drawn_slices(f"inner ({__file__}:{inner.__code__.co_firstlineno})")]
    assert slice_["x"] == pytest.approx(page.x_of(start), abs=1)
    assert slice_["width"] == pytest.approx(dur * page.plot_width() / (1.5 * dur), abs=1)
    assert call["depth"] == slice_["depth"] + 1 and call["track"] == slice_["track"]
    assert slice_["x"] <= call["x"] and call["x"] + call["width"] <= slice_["x"] + slice_["width"] + 0.5
    assert page.pixel(slice_["x"] + 2, slice_["y"] + 3) == page.color(block["name"])
    page.click(slice_["x"] + 3, slice_["y"] + 8)
    assert page.text("#detail-name") == block["name"]
    # the .pftrace maps the end from the clock, the JSON writes the duration: 1 ns apart at most
    assert page.text("#detail-duration") in {fmt_duration(dur + d) for d in (-1, 0, 1)}
    assert page.text("#source-file") == f"{__file__}:{line}"   # where the block is, from the name
    assert 'tracer.log_event("block")' in page.text("#source .line.current")


@pytest.mark.parametrize("fmt", FORMATS)
def test_gc_slices_carry_their_counts_and_the_gc_counter_follows(reports, url, open_page, fmt):
    _, report = reports
    # The program's gc.collect() is the last full collection.
    collection = [e for e in report.all("X", "garbage collection") if e["args"]["generation"] == 2][-1]
    counts = collection["args"]
    assert set(counts) == {"generation", "collected", "uncollectable"} and counts["collected"] >= 1
    start, dur = report.ns(collection["ts"]), round(collection["dur"] * 1000)
    samples = report.all("C", "garbage collection")
    begin_sample = [e for e in samples if report.ns(e["ts"]) <= start + dur][-1]
    end_sample = next(e for e in samples if report.ns(e["ts"]) >= start + dur)
    assert begin_sample["args"] == {"collecting": 1, "collected": 0, "uncollectable": 0}
    assert end_sample["args"] == {"collecting": 0, "collected": counts["collected"],
                                  "uncollectable": counts["uncollectable"]}
    t_begin, t_end = report.ns(begin_sample["ts"]), report.ns(end_sample["ts"])
    page = open_page(f"{url}/?file=custom.{fmt}")
    page.set_view(start - dur / 2, max(start + dur * 2, t_end + dur))
    slice_ = page.slice_at("garbage collection", start)
    assert page.lane("thread", "MainThread")["track"] == slice_["track"]
    page.click(slice_["x"] + slice_["width"] / 2, slice_["y"] + 8)
    assert page.text("#detail-name") == "garbage collection"
    assert {k: json.loads(v) for k, v in page.rows("#detail-other-args").items()} == counts
    lane = page.show_lane("counter", "garbage collection")
    assert [c["key"] for c in page.vt("counters") if c["counter"] == "garbage collection"] == [
        "collecting", "collected", "uncollectable"]
    during = click_counter(page, lane, (t_begin + t_end) / 2)
    assert during["values"] == begin_sample["args"]
    after = click_counter(page, lane, t_end + dur / 2, row=1)
    assert after["values"] == end_sample["args"]
    assert page.rows("#counter-values")["collected"].startswith(f"{counts['collected']} ")


@pytest.mark.parametrize("fmt", FORMATS)
def test_exception_logging_and_audit_instants(reports, url, open_page, fmt):
    _, report = reports
    exc = report.one("i", "Exception - KeyError('x')", lambda e: e["args"]["function"] == "raise_key_error")
    raise_line = raise_key_error.__code__.co_firstlineno + 2
    assert exc["s"] == "p"
    assert exc["args"] == {"type": "KeyError", "message": "'x'", "function": "raise_key_error",
                           "file": __file__, "line": raise_line}
    logged = report.one("i", "logging - logged 5 items")
    assert logged["s"] == "p" and logged["args"] is None
    audit = report.one("i", AUDIT_EVENT)
    assert audit["s"] == "t" and audit["args"] == {"args": ["a", "1"]}
    page = open_page(f"{url}/?file=custom.{fmt}")

    mark = page.focus_instant(report, exc)
    assert mark["lane"] == "process"
    page.click(mark["x"], mark["y"])
    assert page.text("#detail-name") == "Exception - KeyError('x')"
    assert page.text("#detail-scope") == 'process ("p")'
    assert_shows_args(page, exc["args"])
    assert page.text("#source-file") == f"{__file__}:{raise_line}"   # where it was raised
    assert '{}["x"]' in page.text("#source .line.current")

    mark = page.focus_instant(report, logged)
    assert mark["lane"] == "process"
    page.click(mark["x"], mark["y"])
    assert page.text("#detail-name") == "logging"
    assert page.text("#detail-text") == "logged 5 items"
    assert page.text("#detail-args-value") == "null"

    mark = page.focus_instant(report, audit)
    assert mark["lane"] == "thread" and mark["track"] == page.lane("thread", "MainThread")["track"]
    page.click(mark["x"], mark["y"])
    assert page.text("#detail-name") == AUDIT_EVENT
    assert_shows_args(page, {"args": ["a", "1"]})


def test_the_html_report_shows_the_same(reports, open_page):
    folder, report = reports
    page = open_page((folder / "custom.html").as_uri())
    printed = report.one("i", pred=lambda e: e["name"].startswith("print - "))
    mark = page.focus_instant(report, printed)
    page.click(mark["x"], mark["y"])
    assert page.text("#detail-text") == PRINTED
    (t1, _), (t2, _), (t3, _) = counter_samples(report, "pool")
    page.set_view(t1, t3 + (t3 - t1))
    lane = page.show_lane("counter", "pool")
    assert click_counter(page, lane, t3 + (t3 - t1) / 2)["values"] == {"a": 4, "b": 2.5}
    page.page.locator("#objects a").filter(has_text="Cache ").click()
    snapshots = page.page.locator(".object-snapshot").all_text_contents()
    assert [json.loads(t) for t in snapshots] == [{"entries": 7}]


SCRIPT = """
    import gc

    def work():
        print("from the script", 7)
        try:
            int("seven")
        except ValueError:
            pass
        gc.collect()

    work()
"""


@pytest.mark.parametrize("ext", FORMATS)
def test_a_recording_by_the_viztracer_command(tmp_path, open_page, ext):
    script = write(tmp_path / "script.py", SCRIPT)
    out = tmp_path / f"out.{ext}"
    proc = run(COMMANDS["python-m"], "--log_print", "--log_gc", "--log_exception", "-o", str(out),
               str(script), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "from the script" not in proc.stdout   # it went into the report instead
    report = Report(load_report(str(out)))
    printed = report.one("i", "print - from the script 7\n")
    raised = report.one("i", pred=lambda e: e["name"].startswith("Exception - ValueError"))
    collection = [e for e in report.all("X", "garbage collection") if e["args"]["generation"] == 2][-1]
    with serving(tmp_path) as (_, base):
        page = open_page(f"{base}/?file={out.name}")
        mark = page.focus_instant(report, printed)
        assert mark["lane"] == "global"
        page.click(mark["x"], mark["y"])
        assert page.text("#detail-name") == "print" and page.text("#detail-text") == "from the script 7\n"
        mark = page.focus_instant(report, raised)
        assert mark["lane"] == "process"
        page.click(mark["x"], mark["y"])
        message = "invalid literal for int() with base 10: 'seven'"
        assert page.text("#detail-name") == f"Exception - ValueError({message!r})"
        assert_shows_args(page, {"type": "ValueError", "message": message, "function": "work",
                                 "file": str(script), "line": line_of(script, 'int("seven")')})
        start, dur = report.ns(collection["ts"]), round(collection["dur"] * 1000)
        page.set_view(start - dur, start + 2 * dur)
        slice_ = page.slice_at("garbage collection", start)
        page.click(slice_["x"] + slice_["width"] / 2, slice_["y"] + 8)
        assert json.loads(page.rows("#detail-other-args")["generation"]) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_served_in_tiles_the_custom_events_look_and_click_the_same(reports, url, open_page, fmt,
                                                                     monkeypatch):
    """The same report served whole and as tiles (the threshold lowered below its size): the
    lanes, the instants' marks, the counters' graphs and the objects are the same, and a click
    on a mark or on a counter shows the same details."""
    _, report = reports
    whole = open_page(f"{url}/?file=custom.{fmt}")
    monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", "1")
    tiled = open_page(f"{url}/?file=custom.{fmt}")
    assert whole.vt("tiles") is None and tiled.vt("tiles") is not None

    def seen(page):
        page.page.evaluate("window.__vt.redraw()")
        summary = {k: v for k, v in page.vt("summary").items() if k != "slices"}
        return page.lanes(), page.vt("instants"), page.vt("counters"), summary

    assert seen(whole) == seen(tiled)
    for name in ("t dict", "p string", "g number", "worker t"):
        details = []
        for page in (whole, tiled):
            mark = page.focus_instant(report, report.one("i", name))
            page.click(mark["x"], mark["y"])
            details.append((page.vt("selected"), page.text("#details")))
        assert details[0] == details[1] and details[0][0]["name"] == name
    (t1, _), (t2, _), (t3, _) = counter_samples(report, "pool")
    values = []
    for page in (whole, tiled):
        lane = page.show_lane("counter", "pool")
        page.set_view(t1 - (t3 - t1), t3 + (t3 - t1))
        assert seen(page)[2]
        values.append((click_counter(page, lane, t3 + (t3 - t2) / 2)["values"], page.rows("#counter-values")))
    assert values[0] == values[1] and values[0][0] == {"a": 4, "b": 2.5}
