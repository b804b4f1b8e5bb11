"""The ``vizviewer`` command: its flags, its errors, the browser it opens, how it stops, the
hand-off to Perfetto's trace processor, and ``viztracer --open``.

Everything runs the real command in a subprocess; a fake ``BROWSER`` records the URL it is asked
to open and, like the page, posts ``/api/loaded``. The trace processor is a small stand-in that
listens like ``trace_processor_shell --httpd`` does (the real binary is downloaded from the
network, which the test machines don't have).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_cli_helpers import COMMANDS, both_commands, clean_env, write
from conftest_viewer_helpers import (  # noqa: F401 - fixtures
    TIMEOUT,
    VIEWER,
    VIEWER_COMMANDS,
    Viewer,
    both_viewer_commands,
    browser_env_fixture,
    free_port,
    make_trace,
    post_loaded,
    request,
    viewers_fixture,
)

from viztracer.report.loader import load_report
from viztracer.version import __version__
from viztracer.viewer.external import CSP_FLAG_URL, DOWNLOAD_URL, ENV_VAR


def run_viewer(*args: str, cwd: Path, cmd: list[str] = VIEWER, env: dict[str, str] | None = None,
               timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env())


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *words: str, code: int = 2) -> str:
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("vizviewer: error: "), lines[0]
    for word in words:
        assert word in lines[0]
    assert proc.returncode == code, proc.stderr
    return lines[0]


def _port_9001_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
        try:
            probe.bind(("127.0.0.1", 9001))
        except OSError:
            return False
    return True


# -- the command itself ------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", list(VIEWER_COMMANDS.values()), ids=list(VIEWER_COMMANDS))
def test_version_and_help(cmd, tmp_path):
    version = run_viewer("--version", cwd=tmp_path, cmd=cmd)
    assert version.returncode == 0
    assert version.stdout.strip() == __version__
    usage = run_viewer("-h", cwd=tmp_path, cmd=cmd)
    assert usage.returncode == 0
    for flag in ("--server_only", "--port", "--host", "--once", "--timeout", "--flamegraph",
                 "--use_external_processor", "--trace_processor", "--perfetto"):
        assert flag in usage.stdout


# -- errors: one line, non-zero, before anything is served ---------------------------------------------

BAD_FILES = {
    "not-a-trace.txt": (lambda p: p.write_text("hello, world\n"), "not a trace"),
    "empty.json": (lambda p: p.write_bytes(b""), "empty"),
    "other.json": (lambda p: p.write_text('{"name": "not a trace"}'), "traceEvents"),
    "garbage.pftrace": (lambda p: p.write_bytes(b"\x00\x01garbage"), "not a Perfetto trace"),
    # a report cut short is served (tests/test_cut_reports.py), but not one with nothing in it
    "cut-in-first-packet.pftrace": (lambda p: p.write_bytes(make_trace(p, n=6).read_bytes()[:5]),
                                    "inside its first packet"),
    "not-gzip.json.gz": (lambda p: p.write_bytes(b"plain text, not gzip"), "gzip"),
    "fake.html": (lambda p: p.write_text("just text"), "not an HTML report"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_a_file_that_is_not_a_whole_trace_is_refused_at_start(name, tmp_path):
    make, words = BAD_FILES[name]
    make(tmp_path / name)
    proc = run_viewer("-s", "-p", str(free_port()), name, cwd=tmp_path)
    assert_one_line_error(proc, name, words)


def test_large_json_reports_are_checked_at_both_ends(viewers, tmp_path):
    padding = "x" * (3 << 20)  # past the first chunk the check reads
    late = tmp_path / "late.json"
    late.write_text(json.dumps({"otherData": padding, "traceEvents": []}))
    viewer = viewers(["-s", "-p", "0", "late.json"], cwd=tmp_path)
    assert viewer.interrupt() == 0
    cut = tmp_path / "cut.json"
    cut.write_text(json.dumps({"traceEvents": [{"ph": "i", "name": padding}]})[:-40])
    assert_one_line_error(run_viewer("-s", "cut.json", cwd=tmp_path), "cut short")
    no_events = tmp_path / "no-events.json"
    no_events.write_text(json.dumps({"otherData": padding}))
    assert_one_line_error(run_viewer("-s", "no-events.json", cwd=tmp_path), "traceEvents")


@both_viewer_commands
def test_a_missing_file_is_an_error(cmd, tmp_path):
    proc = run_viewer("-s", "nothing.json", cwd=tmp_path, cmd=cmd)
    assert_one_line_error(proc, "'nothing.json' does not exist")


def test_without_a_file_it_looks_for_result_json(tmp_path):
    proc = run_viewer("-s", cwd=tmp_path)
    assert_one_line_error(proc, "'result.json' does not exist", "vizviewer REPORT")


def test_a_broken_symlink_is_an_error(tmp_path):
    (tmp_path / "link.json").symlink_to(tmp_path / "gone.json")
    assert_one_line_error(run_viewer("-s", "link.json", cwd=tmp_path), "broken symbolic link")


def as_unprivileged() -> list[str]:
    """A prefix that runs a command without root's power to read any file (or skips the test)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: every file is readable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def test_an_unreadable_file_is_an_error(tmp_path):
    report = make_trace(tmp_path / "result.json")
    report.chmod(0)
    try:
        proc = run_viewer("-s", "result.json", cwd=tmp_path, cmd=[*as_unprivileged(), *VIEWER])
    finally:
        report.chmod(0o644)
    assert_one_line_error(proc, "'result.json' cannot be read: permission denied")


def test_an_unreadable_directory_is_an_error(tmp_path):
    folder = tmp_path / "reports"
    make_trace(folder / "a.json")
    folder.chmod(0)
    try:
        proc = run_viewer("-s", "reports", cwd=tmp_path, cmd=[*as_unprivileged(), *VIEWER])
    finally:
        folder.chmod(0o755)
    assert_one_line_error(proc, "directory 'reports' cannot be read: permission denied")


@pytest.mark.parametrize("args, words", [
    (["-p", "abc"], ["--port", "'abc'"]),
    (["--port", "70000"], ["--port", "70000"]),
    (["-p", "-1"], ["--port"]),
    (["--once", "--timeout", "0"], ["--timeout", "'0'"]),
    (["--once", "--timeout", "soon"], ["--timeout", "'soon'"]),
    (["--once", "--timeout", "inf"], ["--timeout"]),
    (["--no_such_flag"], ["--no_such_flag"]),
    (["--use_external_processor", "--once"], ["--once", "--use_external_processor"]),
    (["--use_external_processor", "--flamegraph"], ["--flamegraph"]),
    (["--use_external_processor", "-p", "0"], ["port"]),
])
def test_bad_flag_values_are_errors(args, words, tmp_path):
    make_trace(tmp_path / "result.json")
    proc = run_viewer("-s", *args, "result.json", cwd=tmp_path)
    assert_one_line_error(proc, *words)


def test_external_processor_needs_one_trace_file(tmp_path):
    make_trace(tmp_path / "reports" / "a.json")
    (tmp_path / "r.html").write_text("<!doctype html>")
    assert_one_line_error(run_viewer("--use_external_processor", "reports", cwd=tmp_path), "directory")
    assert_one_line_error(run_viewer("--use_external_processor", "r.html", cwd=tmp_path), "HTML")
    assert_one_line_error(run_viewer("--perfetto", "r.html", cwd=tmp_path), "--perfetto", "HTML")
    from viztracer.report import cvf
    (tmp_path / "r.cvf").write_bytes(cvf.encode(load_report(str(tmp_path / "reports" / "a.json"))))
    for flag in ("--perfetto", "--use_external_processor"):
        assert_one_line_error(run_viewer(flag, "r.cvf", cwd=tmp_path), flag, ".cvf", "--decompress")


@both_viewer_commands
def test_a_busy_port_is_an_error(cmd, tmp_path):
    make_trace(tmp_path / "result.json")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_viewer("-s", "-p", str(port), "result.json", cwd=tmp_path, cmd=cmd)
    assert_one_line_error(proc, f"port {port}", "in use", "--port", code=1)


@pytest.mark.parametrize("host", ["256.0.0.1", "no-such-host.invalid", "192.0.2.1"])
def test_a_host_that_is_not_this_machine_is_an_error(host, tmp_path):
    make_trace(tmp_path / "result.json")
    proc = run_viewer("-s", "-p", "0", "--host", host, "result.json", cwd=tmp_path)
    assert_one_line_error(proc, host, "--host", code=1)


# -- serving -----------------------------------------------------------------------------------------

@both_viewer_commands
def test_serves_on_the_port_given_and_says_where(cmd, viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    port = free_port()
    viewer = viewers(["-s", "--port", str(port), "result.json"], cwd=tmp_path, cmd=cmd)
    assert viewer.url == f"http://127.0.0.1:{port}/?file=result.json"
    assert "Ctrl+C" in viewer.stdout[0]
    assert len(viewer.stdout) == 1
    assert request(port, "/api/files").status == 200


def test_default_port_is_9001(viewers, tmp_path):
    if not _port_9001_free():
        pytest.skip("port 9001 is in use on this machine")
    make_trace(tmp_path / "result.json")
    viewer = viewers(["-s", "result.json"], cwd=tmp_path)
    assert viewer.url.startswith("http://127.0.0.1:9001/")


def test_host_is_the_address_listened_on(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["-s", "-p", "0", "--host", "127.0.0.2", "result.json"], cwd=tmp_path)
    assert viewer.url.startswith("http://127.0.0.2:")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", viewer.port), timeout=5).close()
    with socket.create_connection(("127.0.0.2", viewer.port), timeout=5):
        pass


def test_listening_beyond_this_machine_warns(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["-s", "-p", "0", "--host", "0.0.0.0", "result.json"], cwd=tmp_path)
    assert viewer.url.startswith("http://127.0.0.1:")
    # Any host name is then fine: the server is meant to be reached from elsewhere.
    assert request(viewer.port, "/api/files", headers={"Host": "my-laptop.example"}).status == 200
    assert viewer.interrupt() == 0
    assert viewer.stderr[0] == (f"vizviewer: warning: listening on 0.0.0.0: whoever can reach this "
                                f"machine on port {viewer.port} can read the reports")


@both_viewer_commands
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_stops_cleanly(cmd, sig, viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["-s", "-p", "0", "result.json"], cwd=tmp_path, cmd=cmd)
    assert request(viewer.port, "/api/files").status == 200
    assert viewer.interrupt(sig) == 0
    assert "Traceback" not in "\n".join(viewer.stderr)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", viewer.port), timeout=5).close()


def test_ctrl_c_pressed_again_while_stopping_still_stops_cleanly(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    for attempt in range(10):  # the second signal lands at different moments of the stop
        viewer = viewers(["-s", "-p", "0", "result.json"], cwd=tmp_path)
        viewer.proc.send_signal(signal.SIGINT)
        time.sleep(0.002 * attempt)
        if viewer.proc.poll() is None:
            viewer.proc.send_signal(signal.SIGINT)
        assert viewer.wait() == 0, viewer.stderr
        assert "Traceback" not in "\n".join(viewer.stderr)


# -- the browser -------------------------------------------------------------------------------------

@both_viewer_commands
def test_opens_the_browser_on_the_report_and_once_exits_after_the_page_loaded(cmd, viewers, browser_env,
                                                                               tmp_path):
    make_trace(tmp_path / "result.json")
    browser = browser_env(post_loaded=True)
    viewer = viewers(["--once", "-p", "0", "result.json"], cwd=tmp_path, cmd=cmd, env=browser.env)
    assert viewer.wait() == 0
    assert browser.urls() == [viewer.url]
    assert viewer.url.endswith("/?file=result.json")
    assert "loaded result.json (7 events)" in viewer.stdout[-1]
    assert viewer.stderr == []


def test_server_only_opens_no_browser(viewers, browser_env, tmp_path):
    make_trace(tmp_path / "result.json")
    browser = browser_env(post_loaded=True)
    viewer = viewers(["--once", "-s", "-p", "0", "result.json"], cwd=tmp_path, env=browser.env)
    assert post_loaded(viewer.port).status == 200
    assert viewer.wait() == 0
    assert browser.urls() == []


@pytest.mark.parametrize("flags, expected", [
    (["--flamegraph"], "/?file=result.json&view=flamegraph"),
    (["--perfetto"], "/?file=result.json&perfetto=1"),
])
def test_page_options_are_in_the_url(flags, expected, viewers, browser_env, tmp_path):
    make_trace(tmp_path / "result.json")
    browser = browser_env(post_loaded=True)
    viewer = viewers(["--once", "-p", "0", *flags, "result.json"], cwd=tmp_path, env=browser.env)
    assert viewer.wait() == 0
    assert browser.urls() == [f"http://127.0.0.1:{viewer.port}{expected}"]


def test_once_with_perfetto_stops_after_the_raw_file_is_sent(viewers, tmp_path):
    report = make_trace(tmp_path / "result.pftrace")
    viewer = viewers(["--once", "-s", "-p", "0", "--perfetto", "result.pftrace"], cwd=tmp_path)
    assert request(viewer.port, "/api/files").status == 200
    assert viewer.proc.poll() is None
    assert request(viewer.port, "/api/raw?file=result.pftrace").body == report.read_bytes()
    assert viewer.wait() == 0


def test_a_directory_opens_the_list(viewers, browser_env, tmp_path):
    make_trace(tmp_path / "reports" / "a.json")
    browser = browser_env(post_loaded=True)
    viewer = viewers(["--once", "-p", "0", "reports"], cwd=tmp_path, env=browser.env)
    assert viewer.wait() == 0
    assert browser.urls() == [f"http://127.0.0.1:{viewer.port}/"]
    assert "loaded a.json" in viewer.stdout[-1]


def test_once_with_an_html_report_stops_after_serving_it(viewers, tmp_path):
    html = tmp_path / "result.html"
    html.write_text("<!doctype html><p>report</p>")
    viewer = viewers(["--once", "-s", "-p", "0", "result.html"], cwd=tmp_path)
    assert viewer.url == f"http://127.0.0.1:{viewer.port}/"
    assert request(viewer.port, "/").body == html.read_bytes()
    assert viewer.wait() == 0


def test_a_browser_that_fails_is_reported_and_the_server_stays(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    env = clean_env(BROWSER="false")
    env.pop("DISPLAY", None)
    viewer = viewers(["--once", "-p", "0", "result.json"], cwd=tmp_path, env=env)
    deadline = time.monotonic() + TIMEOUT
    while not viewer.stderr and time.monotonic() < deadline:
        time.sleep(0.05)
    assert viewer.stderr and "open http://127.0.0.1" in viewer.stderr[0]
    assert post_loaded(viewer.port).status == 200
    assert viewer.wait() == 0


# -- --once and --timeout ----------------------------------------------------------------------------

def test_once_gives_up_after_timeout_without_a_page(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["--once", "-s", "-p", "0", "--timeout", "0.5", "result.json"], cwd=tmp_path)
    assert viewer.wait() == 1
    assert len(viewer.stderr) == 1
    assert viewer.stderr[0].startswith("vizviewer: error: ")
    assert "--timeout" in viewer.stderr[0] and viewer.url in viewer.stderr[0]


def test_a_connection_that_sends_nothing_is_not_activity(viewers, tmp_path):
    # Browsers open connections ahead of need; one left idle must not keep --once waiting.
    make_trace(tmp_path / "result.json")
    viewer = viewers(["--once", "-s", "-p", "0", "--timeout", "0.5", "result.json"], cwd=tmp_path)
    with socket.create_connection(("127.0.0.1", viewer.port), timeout=5):
        assert viewer.wait() == 1
    assert "--timeout" in viewer.stderr[0]


def test_once_timeout_tells_the_last_error_the_page_got(viewers, tmp_path):
    root = tmp_path / "reports"
    (root / "broken.json").parent.mkdir()
    (root / "broken.json").write_text('{"traceEvents": [{"ph": "X", "name": "f", "ts": "soon"')
    viewer = viewers(["--once", "-s", "-p", "0", "--timeout", "0.5", "reports"], cwd=tmp_path)
    assert request(viewer.port, "/api/trace?file=broken.json").status == 422
    assert viewer.wait() == 1
    assert len(viewer.stderr) == 1
    assert "the last answer was 422 for /api/trace?file=broken.json: " in viewer.stderr[0]
    assert "broken.json" in viewer.stderr[0].split("422", 1)[1]


def test_timeout_counts_time_without_requests(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["--once", "-s", "-p", "0", "--timeout", "1.5", "result.json"], cwd=tmp_path)
    end = time.monotonic() + 3  # twice the timeout, with a request every 0.1 s
    while time.monotonic() < end:
        assert request(viewer.port, "/api/files").status == 200
        time.sleep(0.1)
    assert viewer.proc.poll() is None
    assert post_loaded(viewer.port).status == 200
    assert viewer.wait() == 0


def test_timeout_without_once_warns(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["-s", "-p", "0", "--timeout", "1", "result.json"], cwd=tmp_path)
    assert request(viewer.port, "/api/files").status == 200
    assert viewer.interrupt() == 0
    assert viewer.stderr[0] == "vizviewer: warning: --timeout has no effect without --once"


def test_without_once_the_loaded_signal_does_not_stop_the_server(viewers, tmp_path):
    make_trace(tmp_path / "result.json")
    viewer = viewers(["-s", "-p", "0", "result.json"], cwd=tmp_path)
    assert post_loaded(viewer.port).status == 200
    time.sleep(0.5)  # five turns of the main loop: room for a wrong stop to happen
    assert request(viewer.port, "/api/files").status == 200
    assert viewer.proc.poll() is None
    assert viewer.interrupt() == 0
    assert not any("has loaded" in line for line in viewer.stdout)


# -- the external trace processor ----------------------------------------------------------------------

FAKE_PROCESSOR = '''\
#!{python}
"""Stands in for trace_processor_shell --httpd: records how it was run, then serves HTTP."""
import http.server, json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_TP_RECORD"], "w") as f:
    json.dump({{"argv": args, "pid": os.getpid()}}, f)
if os.environ.get("FAKE_TP_FAIL"):
    print("Loading trace: 0.00 MB", file=sys.stderr)
    print("could not parse the trace: unknown format", file=sys.stderr)
    sys.exit(3)
port = int(args[args.index("--http-port") + 1])

class Status(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")
        if os.environ.get("FAKE_TP_EXIT_AFTER_REQUEST"):
            print("processor closing down", file=sys.stderr, flush=True)
            os._exit(int(os.environ["FAKE_TP_EXIT_AFTER_REQUEST"]))
    def log_message(self, *args):
        pass

http.server.HTTPServer(("127.0.0.1", port), Status).serve_forever()
'''


def fake_processor(folder: Path, name: str = "trace_processor_shell") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(FAKE_PROCESSOR.format(python=sys.executable))
    path.chmod(0o755)
    return path


def external_env(tmp_path: Path, base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """No trace processor anywhere but where a test puts one: empty HOME, PATH of one folder."""
    env = dict(base or clean_env())
    env.pop(ENV_VAR, None)
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir(exist_ok=True)
    env.update(HOME=str(home), PATH=str(empty_bin), FAKE_TP_RECORD=str(tmp_path / "tp.json"), **extra)
    return env


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_external_processor_serves_the_report_and_opens_perfetto(viewers, browser_env, tmp_path):
    report = make_trace(tmp_path / "result.pftrace")
    binary = fake_processor(tmp_path / "tp")
    browser = browser_env(post_loaded=False)
    env = external_env(tmp_path, browser.env)
    port = free_port()
    viewer = Viewer(VIEWER, ["--use_external_processor", "--trace_processor", str(binary), "-p", str(port),
                             "result.pftrace"], tmp_path, env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not browser.urls() and time.monotonic() < deadline and viewer.proc.poll() is None:
            time.sleep(0.05)
        assert browser.urls() == [f"https://ui.perfetto.dev/#!/?rpc_port={port}"]
        run = json.loads((tmp_path / "tp.json").read_text())
        assert run["argv"] == ["--httpd", "--http-port", str(port), str(report)]
        assert request(port, "/status").status == 200
        assert viewer.interrupt() == 0
    finally:
        viewer.kill()
    assert not _pid_alive(run["pid"])
    assert "Traceback" not in "\n".join(viewer.stderr)
    assert any(f"rpc_port={port}" in line and "Ctrl+C" in line for line in viewer.stdout)
    if port != 9001:  # the UI must be told once that another port is fine
        assert any(CSP_FLAG_URL in line for line in viewer.stdout)


@pytest.mark.parametrize("where", ["env", "path", "perfetto-package"])
def test_external_processor_is_found(where, tmp_path):
    env = external_env(tmp_path)
    if where == "env":
        env[ENV_VAR] = str(fake_processor(tmp_path / "tp", "my-processor"))
    elif where == "path":
        fake_processor(Path(env["PATH"]))
    else:
        from perfetto.prebuilts.manifests.trace_processor_shell import TRACE_PROCESSOR_SHELL_MANIFEST

        entry = next((e for e in TRACE_PROCESSOR_SHELL_MANIFEST if e.get("platform") == sys.platform
                      and os.uname().machine.lower() in e.get("machine", ())), None)
        if entry is None:
            pytest.skip("the perfetto package has no prebuilt for this machine")
        fake_processor(Path(env["HOME"], ".local", "share", "perfetto", "prebuilts"),
                       f"trace_processor_shell-{entry['sha256'][:16]}")
    make_trace(tmp_path / "result.json")
    port = free_port()
    viewer = Viewer(VIEWER, ["--use_external_processor", "-s", "-p", str(port), "result.json"], tmp_path, env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not any("rpc_port" in line for line in viewer.stdout):
            assert time.monotonic() < deadline and viewer.proc.poll() is None, viewer.stderr
            time.sleep(0.05)
        assert request(port, "/status").status == 200
        assert viewer.interrupt() == 0
    finally:
        viewer.kill()
    assert viewer.stderr == []  # --server_only: no browser asked for, none missed
    # The stand-in put where this test looked is what ran.
    assert json.loads((tmp_path / "tp.json").read_text())["argv"][-1] == str(tmp_path / "result.json")


@pytest.mark.parametrize("code", [0, 5])
def test_vizviewer_ends_with_the_processor(code, tmp_path):
    make_trace(tmp_path / "result.json")
    binary = fake_processor(tmp_path / "tp")
    env = external_env(tmp_path, FAKE_TP_EXIT_AFTER_REQUEST=str(code))
    port = free_port()
    viewer = Viewer(VIEWER, ["--trace_processor", str(binary), "-s", "-p", str(port), "result.json"],
                    tmp_path, env)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not any("rpc_port" in line for line in viewer.stdout):
            assert time.monotonic() < deadline and viewer.proc.poll() is None, viewer.stderr
            time.sleep(0.05)
        request(port, "/status")  # the stand-in exits after answering
        status = viewer.wait()
    finally:
        viewer.kill()
    if code == 0:
        assert status == 0 and viewer.stderr == []
    else:
        assert status == 1
        assert viewer.stderr == ["vizviewer: error: trace_processor_shell exited with status 5: "
                                 "processor closing down"]


def test_ctrl_c_in_a_terminal_stops_vizviewer_and_the_processor_cleanly(tmp_path):
    make_trace(tmp_path / "result.json")
    binary = fake_processor(tmp_path / "tp")
    proc = subprocess.Popen([*VIEWER, "--trace_processor", str(binary), "-s", "-p", str(free_port()),
                             "result.json"], cwd=tmp_path, env=external_env(tmp_path), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        for line in proc.stdout:
            if "rpc_port" in line:
                break
        os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl+C: the whole group, processor included
        _, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr
    assert stderr == ""
    assert not _pid_alive(json.loads((tmp_path / "tp.json").read_text())["pid"])


def test_a_processor_killed_while_serving_is_reported(tmp_path):
    make_trace(tmp_path / "result.json")
    binary = fake_processor(tmp_path / "tp")
    port = free_port()
    viewer = Viewer(VIEWER, ["--trace_processor", str(binary), "-s", "-p", str(port), "result.json"],
                    tmp_path, external_env(tmp_path))
    try:
        deadline = time.monotonic() + TIMEOUT
        while not any("rpc_port" in line for line in viewer.stdout):
            assert time.monotonic() < deadline and viewer.proc.poll() is None, viewer.stderr
            time.sleep(0.05)
        os.kill(json.loads((tmp_path / "tp.json").read_text())["pid"], signal.SIGKILL)
        assert viewer.wait() == 1
    finally:
        viewer.kill()
    assert viewer.stderr == [
        "vizviewer: error: trace_processor_shell was killed by SIGKILL: it printed nothing"]


def test_no_external_processor_says_how_to_get_one(tmp_path):
    make_trace(tmp_path / "result.json")
    proc = run_viewer("--use_external_processor", "-s", "result.json", cwd=tmp_path,
                      env=external_env(tmp_path))
    assert_one_line_error(proc, DOWNLOAD_URL, "--trace_processor PATH", ENV_VAR, code=1)


def test_a_bad_trace_processor_path_is_an_error(tmp_path):
    make_trace(tmp_path / "result.json")
    not_executable = tmp_path / "tp"
    not_executable.write_text("#!/bin/sh\n")
    env = external_env(tmp_path)
    proc = run_viewer("--trace_processor", str(not_executable), "-s", "result.json", cwd=tmp_path, env=env)
    assert_one_line_error(proc, "chmod +x", code=1)
    proc = run_viewer("--trace_processor", "missing", "-s", "result.json", cwd=tmp_path, env=env)
    assert_one_line_error(proc, "'missing' is not a file", DOWNLOAD_URL, code=1)
    env[ENV_VAR] = str(tmp_path / "gone")
    proc = run_viewer("--use_external_processor", "-s", "result.json", cwd=tmp_path, env=env)
    assert_one_line_error(proc, ENV_VAR, "is not a file", code=1)


def test_a_processor_that_fails_is_reported_with_its_last_words(tmp_path):
    make_trace(tmp_path / "result.json")
    env = external_env(tmp_path, FAKE_TP_FAIL="1")
    binary = fake_processor(tmp_path / "tp")
    proc = run_viewer("--trace_processor", str(binary), "-s", "-p", str(free_port()), "result.json",
                      cwd=tmp_path, env=env)
    assert_one_line_error(proc, "exited with status 3", "could not parse the trace: unknown format", code=1)


def test_external_processor_on_a_busy_port_is_an_error(tmp_path):
    make_trace(tmp_path / "result.json")
    binary = fake_processor(tmp_path / "tp")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run_viewer("--trace_processor", str(binary), "-s", "-p", str(port), "result.json",
                          cwd=tmp_path, env=external_env(tmp_path))
    assert_one_line_error(proc, f"port {port}", "in use", code=1)
    assert not (tmp_path / "tp.json").exists()  # the processor was not started


# -- viztracer --open ---------------------------------------------------------------------------------

@both_commands
def test_viztracer_open_shows_the_report_and_keeps_the_programs_status(cmd, browser_env, tmp_path):
    if not _port_9001_free():
        pytest.skip("port 9001 is in use on this machine")
    write(tmp_path / "prog.py", """
        import sys
        def work():
            return sum(range(10))
        work()
        sys.exit(3)
    """)
    browser = browser_env(post_loaded=True)
    proc = subprocess.run([*cmd, "--open", "-o", "out.json", "prog.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT, env=browser.env)
    assert proc.returncode == 3, proc.stderr
    assert browser.urls() == ["http://127.0.0.1:9001/?file=out.json"]
    assert "vizviewer: serving out.json" in proc.stdout
    assert "loaded out.json (7 events)" in proc.stdout
    assert "has no effect" not in proc.stderr
    assert "Traceback" not in proc.stderr


def test_viztracer_open_takes_another_port_when_9001_is_taken(browser_env, tmp_path):
    write(tmp_path / "prog.py", "print('done')\n")
    browser = browser_env(post_loaded=True)
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past connections in TIME_WAIT
        try:
            busy.bind(("127.0.0.1", 9001))
        except OSError:
            pass  # taken already: just as good
        else:
            busy.listen()
        proc = subprocess.run([*COMMANDS["python-m"], "--open", "prog.py"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=TIMEOUT, env=browser.env)
    assert proc.returncode == 0, proc.stderr
    [url] = browser.urls()
    assert url.startswith("http://127.0.0.1:") and ":9001/" not in url
    assert "error" not in proc.stderr


def test_viztracer_open_does_not_show_the_report_of_a_terminated_program(browser_env, tmp_path):
    write(tmp_path / "prog.py", """
        import os, signal
        os.kill(os.getpid(), signal.SIGTERM)
    """)
    browser = browser_env(post_loaded=True)
    proc = subprocess.run([*COMMANDS["python-m"], "--open", "prog.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=TIMEOUT, env=browser.env)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert (tmp_path / "result.json").exists()
    assert browser.urls() == []
    assert "vizviewer: serving" not in proc.stdout


def test_viztracer_open_an_html_report(browser_env, tmp_path):
    if not _port_9001_free():
        pytest.skip("port 9001 is in use on this machine")
    write(tmp_path / "prog.py", "print('done')\n")
    browser = browser_env(post_loaded=True)
    proc = subprocess.run([*COMMANDS["console-script"], "-o", "result.html", "--open", "prog.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT, env=browser.env)
    assert proc.returncode == 0, proc.stderr
    assert browser.urls() == ["http://127.0.0.1:9001/"]
    assert "vizviewer: serving result.html" in proc.stdout


def test_viztracer_open_ctrl_c_ends_the_viewer_cleanly(browser_env, tmp_path):
    if not _port_9001_free():
        pytest.skip("port 9001 is in use on this machine")
    write(tmp_path / "prog.py", "print('done')\n")
    browser = browser_env(post_loaded=False)
    proc = subprocess.Popen([*COMMANDS["python-m"], "--open", "prog.py"], cwd=tmp_path, env=browser.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not browser.urls():
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl+C in a terminal does: the whole group
        stdout, stderr = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, stderr
    assert "done" in stdout and "vizviewer: serving result.json" in stdout
    assert "Traceback" not in stderr


# -- the real page in a real browser -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["result.json", "result.pftrace"])
def test_the_page_in_chromium_draws_the_report_and_once_ends_the_viewer(name, viewers, browser, tmp_path):
    report = make_trace(tmp_path / name, n=6)
    calls = [e for e in load_report(str(report))["traceEvents"] if e["ph"] == "X"]
    viewer = viewers(["--once", "-s", "-p", "0", name], cwd=tmp_path)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(viewer.url)
        assert viewer.wait() == 0
        assert page.title().startswith(name)
        assert page.evaluate("window.__vt.timing.drawn > 0")
    finally:
        page.close()
    assert errors == []
    assert viewer.stdout[-1] == (f"vizviewer: the page has loaded {name} ({len(calls)} events); "
                                 "stopping (--once)")


def test_the_page_in_chromium_opens_on_the_flame_graph_with_flamegraph(viewers, browser_env, browser,
                                                                      tmp_path):
    make_trace(tmp_path / "result.json", n=6)
    fake = browser_env(post_loaded=False)
    viewer = viewers(["--once", "-p", "0", "--flamegraph", "result.json"], cwd=tmp_path, env=fake.env)
    deadline = time.monotonic() + TIMEOUT
    while not fake.urls():
        assert time.monotonic() < deadline, "vizviewer opened no browser"
        time.sleep(0.05)
    page = browser.new_page()
    try:
        page.goto(fake.urls()[0])  # the URL vizviewer asked the browser to open
        assert viewer.wait() == 0
        assert page.evaluate("window.__vt.mode") == "flame"
        assert page.evaluate("window.__vt.flame.length") > 0
    finally:
        page.close()


def test_the_page_in_chromium_shows_an_html_report_served_by_vizviewer(viewers, browser, tmp_path):
    make_trace(tmp_path / "result.html", n=6)
    viewer = viewers(["--once", "-s", "-p", "0", "result.html"], cwd=tmp_path)
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(viewer.url)
        assert viewer.wait() == 0  # --once: the standalone report needs nothing more
        page.wait_for_function("window.__vt.ready", timeout=TIMEOUT * 1000)
        assert page.evaluate("window.__vt.drawn.length") > 0
    finally:
        page.close()
    assert errors == []


def test_the_page_in_chromium_lists_a_directory_and_opens_the_report_clicked(viewers, browser, tmp_path):
    make_trace(tmp_path / "reports" / "a.json")
    make_trace(tmp_path / "reports" / "nested" / "b.pftrace", n=5)
    viewer = viewers(["--once", "-s", "-p", "0", "reports"], cwd=tmp_path)
    page = browser.new_page()
    try:
        page.goto(viewer.url)
        links = page.locator("a.report-link")
        links.first.wait_for(timeout=TIMEOUT * 1000)
        assert links.all_text_contents() == ["a.json", "nested/b.pftrace"]
        page.get_by_text("nested/b.pftrace").click()
        assert viewer.wait() == 0
    finally:
        page.close()
    assert viewer.stdout[-1].startswith("vizviewer: the page has loaded nested/b.pftrace (")


def test_the_page_in_chromium_opens_an_html_report_picked_from_a_directory(viewers, browser, tmp_path):
    make_trace(tmp_path / "reports" / "a.json")
    make_trace(tmp_path / "reports" / "b.html", n=5)
    viewer = viewers(["--once", "-s", "-p", "0", "reports"], cwd=tmp_path)
    page = browser.new_page()
    try:
        page.goto(viewer.url)
        page.get_by_text("b.html").click()
        page.wait_for_function("window.__vt && window.__vt.ready", timeout=TIMEOUT * 1000)
        assert page.evaluate("window.__vt.drawn.length") > 0
        assert viewer.wait() == 0
    finally:
        page.close()
    assert viewer.stdout[-1] == "vizviewer: the page has loaded b.html; stopping (--once)"
