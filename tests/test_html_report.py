"""The standalone HTML report: the viewer page with the trace inside, opened from disk."""
from __future__ import annotations

import json

import pytest
from conftest_cli_helpers import COMMANDS, run, write

from viztracer import VizTracer
from viztracer.errors import ReportError
from viztracer.report import write_report_dict
from viztracer.report.html import write_html_from_report
from viztracer.report.loader import load_report

CALLS = 4


def html_leaf(n):
    return n * 3


def html_root():
    return sum(html_leaf(i) for i in range(CALLS))


def open_report(browser, path):
    """A page on file://``path``, ready, and the list of URLs it asked for."""
    page = browser.new_page(viewport={"width": 1200, "height": 700})
    errors, requests = [], []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri())
    page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=30000)
    assert page.evaluate("window.__vt.error") is None
    assert not errors, errors
    return page, requests


def drawn(page, prefix):
    page.evaluate("window.__vt.redraw()")
    return [d for d in page.evaluate("window.__vt.drawn") if d["name"].startswith(prefix)]


def test_saved_html_opens_from_disk_and_draws_the_calls(tmp_path, browser):
    tracer = VizTracer(verbose=0, log_func_args=True, ignore_c_function=True)
    tracer.start()
    html_root()
    tracer.stop()
    tracer.save(str(tmp_path / "report.html"))
    page, requests = open_report(browser, tmp_path / "report.html")
    try:
        assert page.title() == "report.html"
        assert all(u.startswith(("file:", "data:")) for u in requests), requests  # no server, no network
        leaves, roots = drawn(page, "html_leaf ("), drawn(page, "html_root (")
        assert len(roots) == 1
        assert sum(d.get("count", 1) for d in leaves) == CALLS  # short calls may share a pixel
        assert {d["depth"] for d in leaves} == {roots[0]["depth"] + 2}  # called from a generator expression
        box = page.locator("#timeline").bounding_box()
        root = roots[0]
        rgb = page.evaluate("([x, y]) => Array.from(document.getElementById('timeline').getContext('2d')"
                            ".getImageData(x, y, 1, 1).data.slice(0, 3))",
                            [int(root["x"]) + 1, int(root["y"]) + 2])
        assert rgb == page.evaluate("n => window.__vt.colorOf(n)", root["name"])
        page.mouse.click(box["x"] + root["x"] + 3, box["y"] + root["y"] + 8)
        assert page.locator("#detail-name").inner_text() == root["name"]
        assert "def html_root():" in page.locator("#source .line.current").inner_text()
        assert page.locator("#reports-link").is_hidden()
    finally:
        page.close()


def test_cli_writes_an_html_report(tmp_path, browser):
    write(tmp_path / "prog.py", """
        def cli_inner():
            return 1

        def cli_outer():
            return cli_inner() + cli_inner()

        cli_outer()
    """)
    done = run(COMMANDS["python-m"], "-o", "result.html", "prog.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "result.html" in done.stdout + done.stderr
    page, _ = open_report(browser, tmp_path / "result.html")
    try:
        outer, inner = drawn(page, "cli_outer ("), drawn(page, "cli_inner (")
        assert len(outer) == 1 and sum(d.get("count", 1) for d in inner) == 2
        assert {d["depth"] for d in inner} == {outer[0]["depth"] + 1}
    finally:
        page.close()


def test_converting_a_loaded_report(tmp_path, browser):
    report = {"traceEvents": [
        {"ph": "X", "name": "outer", "ts": 10, "dur": 50, "pid": 1, "tid": 1},
        {"ph": "X", "name": "inner", "ts": 20, "dur": 10, "pid": 1, "tid": 1, "args": {"return_value": "7"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "Main"}},
    ], "viztracer_metadata": {"overflow": True, "dropped_entries": 12, "tracer_entries": 100}}
    (tmp_path / "in.json").write_text(json.dumps(report))
    assert write_html_from_report(load_report(str(tmp_path / "in.json")), str(tmp_path / "out.html")) == 3
    page, _ = open_report(browser, tmp_path / "out.html")
    try:
        assert [(d["name"], d["depth"]) for d in drawn(page, "")] == [("outer", 0), ("inner", 1)]
        assert "12 of the oldest entries were dropped" in page.locator("#overflow").inner_text()
        page.evaluate("window.__vt.redraw()")
        inner = drawn(page, "inner")[0]
        box = page.locator("#timeline").bounding_box()
        page.mouse.click(box["x"] + inner["x"] + inner["width"] / 2, box["y"] + inner["y"] + 8)
        assert page.locator("#detail-return").inner_text() == "7"
        assert page.locator("#detail-duration").inner_text() == "10 \u00b5s"
    finally:
        page.close()


def test_viztracer_converts_a_json_report_to_html(tmp_path, browser):
    report = {"traceEvents": [{"ph": "X", "name": "only", "ts": 5, "dur": 2, "pid": 1, "tid": 1}]}
    (tmp_path / "in.json").write_text(json.dumps(report))
    assert write_report_dict(load_report(str(tmp_path / "in.json")), str(tmp_path / "conv.html")) == 1
    done = run(COMMANDS["python-m"], "--combine", "in.json", "-o", "cli.html", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in ("conv.html", "cli.html"):
        page, _ = open_report(browser, tmp_path / name)
        try:
            assert [(d["name"], d["depth"]) for d in drawn(page, "")] == [("only", 0)]
        finally:
            page.close()


def test_a_report_too_large_for_one_page_is_saved_as_json_and_said(tmp_path, monkeypatch):
    """Past vizviewer's tile threshold the page could not hold the trace whole: the calls are
    saved as JSON beside the path asked for, with a one-line error and a non-zero exit."""
    from conftest_cli_helpers import check_one_line_error
    monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", "50")
    write(tmp_path / "prog.py", """
        def big_leaf(i):
            return i

        for i in range(80):
            big_leaf(i)
    """)
    done = run(COMMANDS["python-m"], "-o", "result.html", "prog.py", cwd=tmp_path)
    line = check_one_line_error(done, "too many for a single HTML report", "result.json", "vizviewer",
                                status=1)
    assert "at most 50" in line
    assert not (tmp_path / "result.html").exists()
    saved = load_report(str(tmp_path / "result.json"))
    assert len([e for e in saved["traceEvents"] if e.get("name", "").startswith("big_leaf (")]) == 80


def test_a_report_as_large_as_the_threshold_still_makes_a_page(tmp_path, monkeypatch):
    report = {"traceEvents": [{"ph": "X", "pid": 1, "tid": 1, "ts": i, "dur": 0.5, "name": f"f{i % 3}"}
                              for i in range(50)]}
    monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", "50")
    assert write_html_from_report(report, str(tmp_path / "r.html")) == 50
    assert (tmp_path / "r.html").stat().st_size > 0 and not (tmp_path / "r.json").exists()
    monkeypatch.setenv("VIZVIEWER_TILE_THRESHOLD", "49")
    with pytest.raises(ReportError, match="50 calls are too many"):
        write_html_from_report(report, str(tmp_path / "s.html"))
    assert not (tmp_path / "s.html").exists()
    assert len(load_report(str(tmp_path / "s.json"))["traceEvents"]) == 50
