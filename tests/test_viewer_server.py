"""The viewer's HTTP API, against a real ``vizviewer --server_only`` on a free port.

What the page relies on (the list of reports, the converted trace, the raw file, the loaded
signal) and what nobody else may get (files outside the served directory, other files next to
the served report, requests from pages that aren't ours).
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from conftest_viewer_helpers import make_trace, post_loaded, request, viewers_fixture  # noqa: F401 - fixture

from viztracer.viewer.server import STATIC_DIR

SECRET = b"SECRET-MARKER-not-for-the-browser"


def serve(viewers, target: Path | str, *extra: str, cwd: Path):
    return viewers(["-s", "-p", "0", *extra, str(target)], cwd=cwd)


@pytest.fixture
def report_dir(tmp_path):
    """A directory of reports next to a secret file, with a nested folder and non-trace files."""
    root = tmp_path / "reports"
    make_trace(root / "a.json")
    make_trace(root / "sub" / "b.pftrace")
    make_trace(root / "sub" / "deeper" / "c.json.gz")
    (root / "notes.txt").write_text("not a report")
    (root / ".hidden").mkdir()
    make_trace(root / ".hidden" / "h.json")
    (tmp_path / "secret.json").write_bytes(b'{"traceEvents": [], "x": "' + SECRET + b'"}')
    (tmp_path / "secret.txt").write_bytes(SECRET)
    return root


def names(resp) -> list[str]:
    return [f["name"] for f in json.loads(resp.body)["files"]]


# -- /api/files --------------------------------------------------------------------------------------

def test_files_in_file_mode_lists_the_report(viewers, tmp_path):
    report = make_trace(tmp_path / "result.json")
    make_trace(tmp_path / "other.json")
    viewer = serve(viewers, "result.json", cwd=tmp_path)
    resp = viewer.get("/api/files")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/json"
    listing = json.loads(resp.body)
    assert listing["mode"] == "file"
    assert listing["files"] == [{"name": "result.json", "size": report.stat().st_size,
                                 "mtime": pytest.approx(report.stat().st_mtime)}]


def test_files_in_dir_mode_lists_trace_files_recursively_and_rescans(viewers, report_dir):
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    first = viewer.get("/api/files")
    assert json.loads(first.body)["mode"] == "dir"
    assert names(first) == ["a.json", "sub/b.pftrace", "sub/deeper/c.json.gz"]
    # A report saved while the viewer runs shows up on the next request.
    make_trace(report_dir / "later.json")
    (report_dir / "page.html").write_text("<!doctype html><title>report</title>")
    assert names(viewer.get("/api/files")) == [
        "a.json", "later.json", "page.html", "sub/b.pftrace", "sub/deeper/c.json.gz"]
    entry = json.loads(viewer.get("/api/files").body)["files"][1]
    assert entry["size"] == (report_dir / "later.json").stat().st_size


def test_names_with_spaces_and_non_ascii_letters(viewers, tmp_path):
    root = tmp_path / "reports"
    report = make_trace(root / "run 2 – café" / "résumé #1.json")
    viewer = serve(viewers, root, cwd=tmp_path)
    assert names(viewer.get("/api/files")) == ["run 2 – café/résumé #1.json"]
    resp = viewer.get("/api/raw?file=" + quote("run 2 – café/résumé #1.json"))
    assert resp.status == 200 and resp.body == report.read_bytes()


def test_files_leave_out_symlinks_that_lead_outside(viewers, report_dir):
    (report_dir / "link.json").symlink_to(report_dir.parent / "secret.json")
    (report_dir / "inside.json").symlink_to(report_dir / "a.json")
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    listed = names(viewer.get("/api/files"))
    assert "link.json" not in listed
    assert "inside.json" in listed


# -- /api/raw and /api/trace ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a.json", "sub/b.pftrace", "sub/deeper/c.json.gz"])
def test_raw_gives_the_file_bytes(viewers, report_dir, name):
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    resp = viewer.get(f"/api/raw?file={quote(name)}")
    assert resp.status == 200
    assert resp.body == (report_dir / name).read_bytes()


def test_raw_and_trace_default_to_the_file_in_file_mode(viewers, tmp_path):
    from viztracer.viewer.columns import trace_blob

    report = make_trace(tmp_path / "result.pftrace")
    viewer = serve(viewers, report, cwd=tmp_path)
    assert viewer.get("/api/raw").body == report.read_bytes()
    resp = viewer.get("/api/trace")
    assert resp.status == 200
    assert resp.headers["content-type"] == "application/octet-stream"
    assert resp.body == trace_blob(str(report))


@pytest.mark.parametrize("name", ["a.json", "sub/b.pftrace", "sub/deeper/c.json.gz"])
def test_trace_is_the_converted_report(viewers, report_dir, name):
    from viztracer.viewer.columns import trace_blob

    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    resp = viewer.get(f"/api/trace?file={quote(name)}")
    assert resp.status == 200
    assert resp.body == trace_blob(str(report_dir / name))
    # Asked again, the same answer (from the cache).
    assert viewer.get(f"/api/trace?file={quote(name)}").body == resp.body


def test_trace_follows_a_report_rewritten_while_serving(viewers, tmp_path):
    from viztracer.viewer.columns import trace_blob

    report = make_trace(tmp_path / "result.json", n=2)
    viewer = serve(viewers, report, cwd=tmp_path)
    before = viewer.get("/api/trace").body
    make_trace(tmp_path / "bigger.json", n=8)
    os.replace(tmp_path / "bigger.json", report)
    after = viewer.get("/api/trace").body
    assert after == trace_blob(str(report))
    assert after != before


def test_trace_of_a_broken_report_in_a_directory_is_a_one_line_error(viewers, report_dir):
    (report_dir / "broken.json").write_text('{"traceEvents": [{"ph": "X", "na')
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    resp = viewer.get("/api/trace?file=broken.json")
    assert resp.status == 422
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text.count("\n") == 1 and "broken.json" in resp.text
    # The other reports are still served.
    assert viewer.get("/api/trace?file=a.json").status == 200


def test_trace_of_an_html_report_points_to_raw(viewers, report_dir):
    (report_dir / "page.html").write_text("<!doctype html><title>report</title>")
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    assert viewer.get("/api/trace?file=page.html").status == 422
    raw = viewer.get("/api/raw?file=page.html")
    assert raw.status == 200 and raw.headers["content-type"].startswith("text/html")


def test_unknown_names_are_404(viewers, report_dir):
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    for path in ("/api/trace?file=missing.json", "/api/raw?file=sub/missing.pftrace",
                 "/api/raw", "/nothing-here", "/static/missing.js"):
        resp = viewer.get(path)
        assert resp.status == 404, path
        assert resp.headers["content-type"].startswith("text/plain")
        assert resp.text.count("\n") == 1


def test_other_methods_and_bad_requests_get_one_line_too(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = serve(viewers, "result.json", cwd=tmp_path)
    resp = viewer.get("/api/raw", method="PUT", body=b"x")
    assert resp.status == 501
    assert resp.headers["content-type"].startswith("text/plain") and resp.text.count("\n") == 1
    with socket.create_connection(("127.0.0.1", viewer.port), timeout=10) as sock:
        sock.sendall(b"GET /api/files HTTP/1.1\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n")
        answer = sock.makefile("rb").read()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431") and b"text/plain" in head
    assert body.count(b"\n") == 1


# -- what must not be served ---------------------------------------------------------------------------

def _absolute(tmp_path: Path) -> str:
    return quote(str(tmp_path / "secret.json"))


TRAVERSALS = [
    "/api/raw?file=../secret.json",
    "/api/raw?file=%2e%2e/secret.json",
    "/api/raw?file=%2E%2E%2Fsecret.json",
    "/api/raw?file=sub/../../secret.json",
    "/api/raw?file=sub%2F..%2F..%2Fsecret.txt",
    "/api/raw?file=..%5Csecret.json",
    "/api/trace?file=../secret.json",
    "/api/raw?file=notes.txt",
    "/api/raw?file=.hidden/h.json",
    "/api/raw?file=sub",
    "/api/raw?file=./a.json",
    "/static/../server.py",
    "/static/%2e%2e/server.py",
    "/static/..%2fcli.py",
    "/static/%2e%2e%2f%2e%2e%2fsecret.txt",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_traversal_is_refused_in_dir_mode(viewers, report_dir, path):
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    resp = viewer.get(path)
    assert resp.status in (403, 404)
    assert SECRET not in resp.body
    assert b"import" not in resp.body  # no source of ours either


def test_absolute_paths_and_symlinks_out_are_refused(viewers, report_dir):
    (report_dir / "link.json").symlink_to(report_dir.parent / "secret.json")
    (report_dir / "linkdir").symlink_to(report_dir.parent)
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    for path in (f"/api/raw?file={_absolute(report_dir.parent)}", "/api/raw?file=link.json",
                 "/api/trace?file=link.json", "/api/raw?file=linkdir/secret.json"):
        resp = viewer.get(path)
        assert resp.status == 403, path
        assert SECRET not in resp.body


def test_file_mode_serves_only_the_file_given(viewers, report_dir):
    viewer = serve(viewers, report_dir / "a.json", cwd=report_dir.parent)
    assert viewer.get("/api/raw?file=a.json").status == 200
    for path, status in (("/api/raw?file=notes.txt", 403), ("/api/raw?file=sub/b.pftrace", 403),
                         ("/api/raw?file=../secret.json", 403), ("/api/raw?file=nothing.json", 404)):
        resp = viewer.get(path)
        assert resp.status == status, path
        assert SECRET not in resp.body


def test_requests_for_another_host_name_are_refused(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = serve(viewers, "result.json", cwd=tmp_path)
    resp = viewer.get("/api/raw", headers={"Host": f"attacker.example:{viewer.port}"})
    assert resp.status == 403
    assert b"traceEvents" not in resp.body
    assert viewer.get("/api/raw", headers={"Host": f"localhost:{viewer.port}"}).status == 200


# -- the page ------------------------------------------------------------------------------------------

def test_root_and_static_serve_the_page(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = serve(viewers, "result.json", cwd=tmp_path)
    index = viewer.get("/")
    assert index.status == 200
    assert index.headers["content-type"].startswith("text/html")
    assert index.body == Path(STATIC_DIR, "index.html").read_bytes()
    scripts = sorted(p for p in os.listdir(STATIC_DIR) if p.endswith(".js"))
    assert scripts, "the page has scripts"
    resp = viewer.get(f"/static/{scripts[0]}")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/javascript")
    assert resp.body == Path(STATIC_DIR, scripts[0]).read_bytes()


def test_an_html_report_is_the_page_itself(viewers, tmp_path):
    html = tmp_path / "result.html"
    html.write_text("<!doctype html><html><body>standalone report</body></html>")
    viewer = serve(viewers, html, cwd=tmp_path)
    resp = viewer.get("/")
    assert resp.status == 200
    assert resp.body == html.read_bytes()
    assert resp.headers["content-type"].startswith("text/html")


def test_an_html_report_in_a_directory_is_its_own_page(viewers, report_dir):
    html = report_dir / "sub" / "page.html"
    html.write_text("<!doctype html><p>standalone</p>")
    viewer = serve(viewers, report_dir, cwd=report_dir.parent)
    resp = viewer.get("/?file=sub/page.html")
    assert resp.status == 200
    assert resp.body == html.read_bytes()
    assert resp.headers["content-type"].startswith("text/html")
    outside = report_dir.parent / "outside.html"
    outside.write_text("<p>" + SECRET.decode() + "</p>")
    for path in ("/?file=../outside.html", "/?file=%2e%2e%2foutside.html", f"/?file={quote(str(outside))}"):
        resp = viewer.get(path)
        assert resp.status == 403, path
        assert SECRET not in resp.body


# -- /api/loaded ---------------------------------------------------------------------------------------

def test_loaded_rejects_bad_bodies_and_other_origins(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = serve(viewers, "result.json", "--once", cwd=tmp_path)
    assert viewer.get("/api/loaded", method="POST", body=b"not json").status == 400
    other = viewer.get("/api/loaded", method="POST", body=b"{}",
                       headers={"Origin": "https://attacker.example"})
    assert other.status == 403
    time.sleep(0.5)  # room for a wrong stop to happen
    assert viewer.proc.poll() is None  # neither stopped the server
    assert post_loaded(viewer.port).status == 200
    assert viewer.wait() == 0


def test_gzip_reports_are_served_as_they_are(viewers, tmp_path):
    report = make_trace(tmp_path / "result.json.gz")
    viewer = serve(viewers, report, cwd=tmp_path)
    resp = viewer.get("/api/raw")
    assert resp.headers["content-type"] == "application/gzip"
    assert json.loads(gzip.decompress(resp.body))["traceEvents"]


def test_a_report_deleted_while_serving_is_404(viewers, tmp_path):
    root = tmp_path / "reports"
    make_trace(root / "gone.json")
    make_trace(root / "kept.json")
    viewer = serve(viewers, root, cwd=tmp_path)
    os.remove(root / "gone.json")
    assert viewer.get("/api/raw?file=gone.json").status == 404
    assert names(viewer.get("/api/files")) == ["kept.json"]
    shutil.rmtree(root)
    assert json.loads(viewer.get("/api/files").body)["files"] == []


def test_a_bug_while_converting_is_a_500_with_one_line(tmp_path, capsys):
    import threading

    from viztracer.viewer.reports import Reports
    from viztracer.viewer.server import BlobCache, ViewerServer

    def broken(path: str, progress, out=None) -> bytes:
        raise ValueError("boom")

    report = make_trace(tmp_path / "result.json")
    server = ViewerServer(Reports(str(report)), "127.0.0.1", 0, cache=BlobCache(broken))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        resp = request(server.port, "/api/trace")
        assert request(server.port, "/api/files").status == 200  # still serving
    finally:
        server.shutdown()
        server.server_close()
    assert resp.status == 500
    assert resp.text.count("\n") == 1 and "ValueError: boom" in resp.text
    assert "ValueError: boom" in capsys.readouterr().err


def test_a_report_is_converted_once_however_many_ask_at_the_same_time(tmp_path):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from viztracer.viewer.reports import Reports
    from viztracer.viewer.server import BlobCache, ViewerServer

    calls: list[str] = []
    release = threading.Event()

    def slow(path: str, progress, out=None) -> bytes:
        calls.append(path)
        release.wait(10)
        return b"blob of " + os.path.basename(path).encode()

    report = make_trace(tmp_path / "result.json")
    server = ViewerServer(Reports(str(report)), "127.0.0.1", 0, cache=BlobCache(slow))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(request, server.port, "/api/trace") for _ in range(4)]
            while not calls:
                time.sleep(0.01)
            time.sleep(0.2)  # the other requests are waiting for the first conversion
            release.set()
            bodies = [a.result().body for a in answers]
        assert bodies == [b"blob of result.json"] * 4
        assert len(calls) == 1
        # Rewritten, it is converted again.
        make_trace(tmp_path / "other.json", n=7)
        os.replace(tmp_path / "other.json", report)
        assert request(server.port, "/api/trace").status == 200
        assert len(calls) == 2
    finally:
        server.shutdown()
        server.server_close()


def test_the_cache_drops_the_least_recently_used_blobs_past_its_budget(tmp_path):
    from viztracer.viewer.server import BlobCache

    calls: list[str] = []

    def convert(path: str, progress, out=None) -> bytes:
        calls.append(os.path.basename(path))
        return b"x" * 100

    paths = [str(make_trace(tmp_path / f"{name}.json")) for name in "abc"]
    cache = BlobCache(convert, budget=250)  # room for two blobs
    for path in paths:
        cache.get(path)
    cache.get(paths[2])  # still there: the newest
    cache.get(paths[1])  # still there
    cache.get(paths[0])  # was dropped: converted again
    assert calls == ["a.json", "b.json", "c.json", "a.json"]
