"""Helpers for the viewer tests: start the real ``vizviewer`` command, talk HTTP to it.

A viewer runs in a subprocess on a free port (``-p 0`` unless a test names one); ``Viewer``
reads its output on a thread, so a test waits for the serving line with a timeout and a broken
server can't hang the suite. ``browser_env`` makes a ``BROWSER`` that records the URL it is
asked to open and, like the page does, posts ``/api/loaded``.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from conftest_cli_helpers import clean_env

from viztracer.viewer.reports import Reports
from viztracer.viewer.server import ViewerServer

VIEWER_COMMANDS = {
    "console-script": [os.path.join(os.path.dirname(sys.executable), "vizviewer")],
    "python-m": [sys.executable, "-m", "viztracer.viewer"],
    "python-m-vizviewer": [sys.executable, "-m", "vizviewer"],
}
VIEWER = VIEWER_COMMANDS["python-m"]
both_viewer_commands = pytest.mark.parametrize(
    "cmd", [VIEWER_COMMANDS["console-script"], VIEWER_COMMANDS["python-m"]],
    ids=["console-script", "python-m"])
TIMEOUT = 30
URL_RE = re.compile(r"http://\S+?(?=[\s)]|$)")


@contextlib.contextmanager
def serving(path) -> Iterator[tuple[ViewerServer, str]]:
    """The viewer's server on ``path`` (a report or a folder) in a thread of this process, on a
    free port: ``(server, base URL)``; shut down on leaving."""
    server = ViewerServer(Reports(str(path)), port=0)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server_close()


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def request(port: int, path: str, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Response:
    """Send ``path`` exactly as given (no normalisation of ``..``) and read the whole answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    finally:
        conn.close()


def post_loaded(port: int, info: dict | None = None) -> Response:
    data = json.dumps(info or {"file": "result.json", "events": 1, "ms": 1}).encode()
    return request(port, "/api/loaded", "POST", data, {"Content-Type": "application/json"})


class Viewer:
    """A running ``vizviewer`` subprocess and what it printed."""

    def __init__(self, cmd: list[str], args: list[str], cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen([*cmd, *args], cwd=cwd, env=env or clean_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.stderr, False), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.url = ""

    def _read(self, stream, into: list[str], signal_lines: bool) -> None:
        for line in stream:
            into.append(line.rstrip("\n"))
            if signal_lines:
                self._lines.put(line)
        if signal_lines:
            self._lines.put(None)

    def wait_serving(self) -> Viewer:
        """Wait for the ``serving ... at URL`` line; fail with the output if it never comes."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            match = URL_RE.search(line)
            if "serving" in line and match:
                self.url = match.group(0)
                return self
        self.kill()
        pytest.fail(f"vizviewer did not start serving: stdout={self.stdout} stderr={self.stderr}")

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 80

    def get(self, path: str, **kw) -> Response:
        return request(self.port, path, **kw)

    def wait(self, timeout: float = TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"vizviewer did not exit: stdout={self.stdout} stderr={self.stderr}")
        for reader in self._readers:
            reader.join(timeout=5)
        return code

    def interrupt(self, sig: int = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.wait()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(name="viewers")
def viewers_fixture():
    """``viewers(args, cwd=..., cmd=..., env=...)`` starts a viewer; all are killed at the end."""
    started: list[Viewer] = []

    def start(args: list[str], cwd: Path, cmd: list[str] = VIEWER, env: dict[str, str] | None = None,
              wait: bool = True) -> Viewer:
        viewer = Viewer(cmd, args, cwd, env)
        started.append(viewer)
        return viewer.wait_serving() if wait else viewer

    yield start
    for viewer in started:
        viewer.kill()


BROWSER_SCRIPT = '''\
#!{python}
"""A stand-in browser: records the URL, then does what the page does when asked to."""
import json, os, sys, urllib.request
from urllib.parse import urlsplit

url = sys.argv[-1]
with open(os.environ["VIZ_RECORD"], "a") as f:
    f.write(url + "\\n")
if os.environ.get("VIZ_POST_LOADED") == "1" and url.startswith("http://"):
    base = "http://" + urlsplit(url).netloc
    files = json.load(urllib.request.urlopen(base + "/api/files", timeout=20))
    name = files["files"][0]["name"] if files["files"] else ""
    req = urllib.request.Request(base + "/api/loaded", method="POST",
                                 data=json.dumps({{"file": name, "events": 7, "ms": 1}}).encode(),
                                 headers={{"Content-Type": "application/json"}})
    urllib.request.urlopen(req, timeout=20).read()
'''


@dataclass
class FakeBrowser:
    env: dict[str, str]
    record: Path

    def urls(self) -> list[str]:
        return self.record.read_text().splitlines() if self.record.exists() else []


@pytest.fixture(name="browser_env")
def browser_env_fixture(tmp_path_factory):
    """``browser_env(post_loaded=True)``: an environment whose BROWSER records (and loads) URLs."""
    def make(post_loaded: bool = True, **extra: str) -> FakeBrowser:
        folder = tmp_path_factory.mktemp("browser")
        script = folder / "fake-browser"
        script.write_text(BROWSER_SCRIPT.format(python=sys.executable))
        script.chmod(0o755)
        record = folder / "urls.txt"
        env = clean_env(BROWSER=str(script), VIZ_RECORD=str(record),
                        VIZ_POST_LOADED="1" if post_loaded else "0", **extra)
        env.pop("DISPLAY", None)
        return FakeBrowser(env, record)

    return make


def make_trace(path: Path, n: int = 3) -> Path:
    """A small report written by viztracer itself (``.json``, ``.json.gz`` or ``.pftrace``)."""
    from viztracer import VizTracer

    def work(k: int) -> int:
        return k if k < 2 else work(k - 1) + work(k - 2)

    tracer = VizTracer(verbose=0)
    tracer.start()
    work(n)
    tracer.stop()
    path.parent.mkdir(parents=True, exist_ok=True)
    tracer.save(str(path))
    return path


def fmt_duration(ns: float) -> str:
    """What the viewer page prints for a duration in ns (``VT.formatDuration`` in data.js)."""
    def trim(s: str) -> str:
        return s.rstrip("0").rstrip(".") if "." in s else s
    a = abs(ns)
    if a < 1e3:
        return trim(f"{ns:.0f}") + " ns"
    if a < 1e6:
        return trim(f"{ns / 1e3:.3f}") + " \u00b5s"
    if a < 1e9:
        return trim(f"{ns / 1e6:.6f}") + " ms"
    return trim(f"{ns / 1e9:.9f}") + " s"
