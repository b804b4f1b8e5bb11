"""The page's progress bar in a real browser (headless Chromium): shown while the server
converts the trace (the conversion held by the test), gone once the timeline is drawn."""
from __future__ import annotations

import threading

from conftest_viewer_helpers import make_trace

from viztracer.viewer.columns import trace_blob
from viztracer.viewer.reports import Reports
from viztracer.viewer.server import BlobCache, ViewerServer


class Held:
    """The real converter, stopped midway (as if scanning a large trace) until released."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def __call__(self, path: str, progress, out=None) -> bytes:
        progress.phase = "scanning"
        progress.events, progress.bytes_read, progress.bytes_total = 1_234_567, 300, 1200
        self.release.wait(60)
        return trace_blob(path, progress)


def test_a_progress_bar_while_the_trace_is_converted(tmp_path, browser):
    report = make_trace(tmp_path / "r.json", n=8)
    held = Held()
    server = ViewerServer(Reports(str(report)), "127.0.0.1", 0, cache=BlobCache(held, disk=None))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    page = browser.new_page()
    try:
        server.warm_up()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#progress", state="visible", timeout=20_000)
        label = page.inner_text("#progress-label")
        assert "1,234,567 events read (25% of the file)" in label, label
        assert page.eval_on_selector("#progress-bar", "b => b.value") == 0.25
        assert not page.evaluate("window.__vt.ready")

        held.release.set()
        page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=20_000)
        assert page.evaluate("window.__vt.error") is None
        assert page.evaluate("window.__vt.drawn.length") > 0
        assert page.is_hidden("#progress")
    finally:
        held.release.set()
        page.close()
        server.shutdown()
        server.server_close()


def test_no_progress_bar_for_a_trace_already_converted(tmp_path, browser):
    report = make_trace(tmp_path / "r.json", n=8)
    cache = BlobCache(disk=None)
    cache.get(str(report))
    server = ViewerServer(Reports(str(report)), "127.0.0.1", 0, cache=cache)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    page = browser.new_page()
    try:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=20_000)
        assert page.is_hidden("#progress")
        assert page.evaluate("window.__vt.error") is None
    finally:
        page.close()
        server.shutdown()
        server.server_close()


class SlowAnswer(ViewerServer):
    """Converts as usual, then holds the answer (as building a large trace's tiles does)."""

    release = threading.Event()

    def trace_answer(self, path: str):
        answer = super().trace_answer(path)
        self.release.wait(60)
        return answer


def test_the_bar_says_so_once_converted_while_the_answer_is_made(tmp_path, browser):
    report = make_trace(tmp_path / "r.json", n=8)
    held = Held()
    server = SlowAnswer(Reports(str(report)), "127.0.0.1", 0, cache=BlobCache(held, disk=None))
    server.release = threading.Event()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    page = browser.new_page()
    try:
        server.warm_up()
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#progress", state="visible", timeout=20_000)
        held.release.set()   # converted; the answer still held
        page.wait_for_function("document.getElementById('progress-label').textContent"
                               ".startsWith('Preparing the timeline')", timeout=20_000)
        server.release.set()
        page.wait_for_function("window.__vt.ready || window.__vt.error", timeout=20_000)
        assert page.evaluate("window.__vt.error") is None
        assert page.is_hidden("#progress")
    finally:
        held.release.set()
        server.release.set()
        page.close()
        server.shutdown()
        server.server_close()
