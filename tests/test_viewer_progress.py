"""Progress while a report is converted: the scanners' counter, and ``GET /api/progress``.

The compiled scanners hold the GIL and run no bytecode, so without their periodic release no
other thread (the server answering ``/api/progress``) would run until the scan is over.
"""
from __future__ import annotations

import json
import threading
import time

import pytest
from conftest_viewer_helpers import make_trace, request

from viztracer import _json_scan, _pftrace_scan
from viztracer._slice_columns import Progress
from viztracer.viewer.columns import trace_blob
from viztracer.viewer.reports import Reports
from viztracer.viewer.server import BlobCache, ViewerServer


def json_text(n: int) -> bytes:
    """A Chrome JSON report of ``n`` X events in one thread."""
    events = ",".join(f'{{"ph":"X","name":"f{k % 50}","ts":{k * 2},"dur":1,"pid":1,"tid":1}}'
                      for k in range(n))
    return ('{"traceEvents":[' + events + ']}').encode()


def test_the_json_scanner_counts_events_and_bytes():
    data = json_text(10_000)
    progress = Progress()
    _json_scan.scan_json(data, progress)
    assert (progress.events, progress.bytes_read, progress.bytes_total) == (10_000, len(data), len(data))


def test_the_pftrace_scanner_counts_packets_and_bytes(tmp_path):
    from viztracer.report import perfetto

    n = 5_000
    report = json.loads(json_text(n))
    perfetto.write_from_report(report, str(tmp_path / "r.pftrace"))
    data = (tmp_path / "r.pftrace").read_bytes()
    progress = Progress()
    _pftrace_scan.scan_pftrace(data, progress)
    assert progress.events >= 2 * n     # a call is a BEGIN and an END packet
    assert progress.bytes_read == progress.bytes_total == len(data)


@pytest.mark.parametrize("name", ["r.json", "r.pftrace", "r.json.gz"])
def test_trace_blob_reports_its_phases(tmp_path, name):
    report = str(make_trace(tmp_path / name, n=10))
    progress = Progress()
    assert progress.phase == "waiting"
    assert trace_blob(report, progress) == trace_blob(report)
    assert progress.phase == "building"
    assert progress.events > 0 and progress.bytes_read == progress.bytes_total > 0


def test_other_threads_run_while_a_report_is_scanned():
    n = 300_000
    data = json_text(n)
    progress = Progress()
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(progress.events)
            time.sleep(0.001)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        _json_scan.scan_json(data, progress)
    finally:
        done.set()
        watcher.join()
    # the watcher ran during the scan, not only before and after it
    assert any(0 < events < n for events in seen), sorted(set(seen))


# -- GET /api/progress --------------------------------------------------------------------------

class Held:
    """A converter that says how far it got, then waits until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self, path: str, progress, out=None) -> bytes:
        progress.phase = "scanning"
        progress.events, progress.bytes_read, progress.bytes_total = 1234, 50, 200
        self.started.set()
        self.release.wait(30)
        return trace_blob(path, progress)


@pytest.fixture
def held_server(tmp_path):
    root = tmp_path / "reports"
    make_trace(root / "r.json")
    (root / "bad.json").write_text("this is no report")
    held = Held()
    server = ViewerServer(Reports(str(root)), "127.0.0.1", 0, cache=BlobCache(held, disk=None))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server, held
    finally:
        held.release.set()
        server.shutdown()
        server.server_close()


def progress_of(server, name: str) -> dict:
    resp = request(server.port, f"/api/progress?file={name}")
    assert resp.status == 200 and resp.headers["content-type"] == "application/json"
    return json.loads(resp.body)


def test_progress_states_of_a_conversion(held_server):
    server, held = held_server
    assert progress_of(server, "r.json") == {"state": "idle"}
    pending = threading.Thread(target=request, args=(server.port, "/api/trace?file=r.json"))
    pending.start()
    assert held.started.wait(30)
    assert progress_of(server, "r.json") == {"state": "converting", "phase": "scanning", "events": 1234,
                                             "bytes_read": 50, "bytes_total": 200}
    held.release.set()
    pending.join(30)
    done = progress_of(server, "r.json")
    assert done["state"] == "ready" and done["phase"] == "building"


def test_progress_of_a_report_that_is_no_trace(held_server):
    server, held = held_server
    held.release.set()
    assert request(server.port, "/api/trace?file=bad.json").status == 422
    state = progress_of(server, "bad.json")
    assert state["state"] == "error" and "bad.json" in state["error"]


def test_progress_of_names_not_served(held_server):
    server, _ = held_server
    assert request(server.port, "/api/progress?file=../secret.json").status == 403
    assert request(server.port, "/api/progress?file=missing.json").status == 404
