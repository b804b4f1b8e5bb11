"""A report of three processes in a real browser (headless Chromium): the parent first, then the
child cut short, then the lost child, each a group of its named lanes, the two children marked.

The same page is checked on the JSON report and the .pftrace served by vizviewer's server, and
on the standalone .html report opened from disk. What is drawn is read from ``window.__vt``
(the lanes and slices of the last frame) and from the canvas's pixels where it says a header is.
"""
from __future__ import annotations

import json

import pytest
from conftest_process_reports import (
    CUT,
    LANE_ORDER,
    LOST,
    PARENT,
    PROCESS_ORDER,
    TASK_TID,
    three_process_pftrace,
    three_process_report,
)
from conftest_viewer_helpers import serving

from viztracer.report.html import write_html_from_report
from viztracer.report.loader import load_report

VIEWPORT = {"width": 1200, "height": 700}
# The header bands' colours (timeline.js, HEADER): a plain process, a child cut short, a lost one.
BAND = {None: [0xE8, 0xEB, 0xF0], "cut": [0xFC, 0xE8, 0xC0], "lost": [0xF8, 0xD7, 0xD5]}
HEADERS = [(PARENT, "MainProcess (pid 300)", "", None),
           (CUT, "Child-1 (pid 120)", "cut short", "cut"),
           (LOST, "Child-2 (pid 250)", "lost \u2014 no data", "lost")]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """three.json, three.pftrace (labels in its process descriptors) and three.html."""
    folder = tmp_path_factory.mktemp("procs")
    (folder / "three.json").write_text(json.dumps(three_process_report()))
    three_process_pftrace(folder / "three.pftrace")
    write_html_from_report(load_report(str(folder / "three.json")), str(folder / "three.html"))
    return folder


@pytest.fixture(scope="module")
def server_url(reports):
    with serving(reports) as (_, url):
        yield url


@pytest.fixture
def page_on(browser, reports, server_url):
    """``page_on(name)``: a ready page on the report ``name``, served (.json, .pftrace) or
    opened from disk (.html); no page errors allowed."""
    pages = []

    def open_(name):
        page = browser.new_page(viewport=VIEWPORT)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        pages.append((page, errors))
        url = (reports / name).as_uri() if name.endswith(".html") else f"{server_url}/?file={name}"
        page.goto(url)
        page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=30000)
        assert page.evaluate("window.__vt.error") is None
        return page

    yield open_
    for page, errors in pages:
        page.close()
        assert not errors, errors


def pixel(page, x, y):
    return page.evaluate(
        "([x, y]) => { const r = window.devicePixelRatio || 1;"
        " return Array.from(document.getElementById('timeline').getContext('2d')"
        ".getImageData(Math.floor(x * r), Math.floor(y * r), 1, 1).data.slice(0, 3)); }", [x, y])


@pytest.mark.parametrize("name", ["three.json", "three.pftrace", "three.html"])
def test_processes_are_groups_parent_first_and_marked(page_on, name):
    page = page_on(name)
    page.evaluate("window.__vt.redraw()")
    lanes = page.evaluate("window.__vt.lanes()")
    # Groups in order: each process header, then its lanes; the lost child an empty group.
    headers = [(lane["pid"], lane["label"], lane["mark"], lane["state"]) for lane in lanes
               if lane["kind"] == "process"]
    assert headers == HEADERS
    assert [p for p, *_ in headers] == PROCESS_ORDER
    groups, current = [], None
    for lane in lanes:
        if lane["kind"] == "process":
            current = lane["pid"]
        else:
            assert lane["pid"] == current, lane  # every lane sits under its own process
            groups.append((current, lane["kind"], lane["label"]))
    assert [(pid, label) for pid, kind, label in groups if kind == "thread"] == LANE_ORDER
    assert [(pid, kind) for pid, kind, _ in groups if kind != "thread"] == [(LOST, "empty")]
    empty = next(lane for lane in lanes if lane["kind"] == "empty")
    assert empty["text"] == "no data arrived from this process"
    # The slices are drawn on their lanes: the task's coroutine on the task lane, inside it.
    by_track = {lane["track"]: lane for lane in lanes if lane["kind"] == "thread"}
    drawn = {d["name"]: d for d in page.evaluate("window.__vt.drawn")}
    assert set(drawn) == {"main", "step", "coro", "work", "inner", "child_main", "child_thread"}
    for slice_name, label in [("coro", f"Task-1 main() ({TASK_TID})"), ("work", "worker (305)"),
                              ("child_main", "MainThread (120)"), ("child_thread", "Thread 121")]:
        lane = by_track[drawn[slice_name]["track"]]
        assert lane["label"] == label
        assert lane["y"] <= drawn[slice_name]["y"] < lane["y"] + lane["height"]
        assert pixel(page, drawn[slice_name]["x"] + 1, drawn[slice_name]["y"] + 2) == page.evaluate(
            "n => window.__vt.colorOf(n)", slice_name)
    # Each header's band is drawn in its own colour, across the plot (right of the last slice)
    # and in the label column; a marked one has a bar of its mark's colour at the left edge.
    width = page.locator("#timeline").bounding_box()["width"]
    colours = {}
    for lane in lanes:
        if lane["kind"] == "process":
            colours[lane["pid"]] = pixel(page, width - 4, lane["y"] + 3)
            assert pixel(page, 196, lane["y"] + 2) == colours[lane["pid"]], lane
            bar = pixel(page, 1, lane["y"] + 10)
            assert (bar != colours[lane["pid"]]) == (lane["state"] is not None), lane
    assert colours == {pid: BAND[state] for pid, _, _, state in HEADERS}
    # Listed in the side panel in the same order, with the same marks; named in the notice.
    items = page.locator("#processes li")
    assert items.all_inner_texts() == [
        "MainProcess (pid 300)", "Child-1 (pid 120) cut short", "Child-2 (pid 250) lost \u2014 no data"]
    assert [items.nth(k).get_attribute("class") for k in range(3)] == [None, "cut", "lost"]
    notice = page.locator("#notice").inner_text()
    assert "Process 120 was cut short" in notice and "Process 250 was lost" in notice


def test_the_process_list_scrolls_to_a_group(page_on):
    page = page_on("three.json")
    page.set_viewport_size({"width": 1200, "height": 300})
    page.wait_for_function("window.__vt.redraw() >= 0")

    def header_y(pid):
        return next(lane["y"] for lane in page.evaluate("window.__vt.lanes()")
                    if lane["kind"] == "process" and lane["pid"] == pid)

    before = header_y(LOST)
    page.locator(f'#processes a[data-pid="{LOST}"]').click()
    page.wait_for_function(
        f"window.__vt.lanes().find(l => l.kind === 'process' && l.pid === {LOST}).y < {before}")
    assert header_y(LOST) < before and header_y(PARENT) < 26  # scrolled up and out of sight


def test_a_single_unmarked_process_is_not_listed(page_on, reports):
    report = {"traceEvents": [{"ph": "X", "name": "only", "ts": 1, "dur": 2, "pid": 5, "tid": 5}]}
    (reports / "single.json").write_text(json.dumps(report))
    page = page_on("single.json")
    assert page.locator("#processes-box").is_hidden()
    assert page.locator("#notice").is_hidden()
    [header] = [lane for lane in page.evaluate("window.__vt.lanes()") if lane["kind"] == "process"]
    assert (header["label"], header["mark"], header["state"]) == ("Process 5 (pid 5)", "", None)
