"""``vizviewer --use_external_processor``: Perfetto's trace processor loads the report natively.

``trace_processor_shell --httpd --http-port PORT FILE`` parses the trace outside the browser (no
RAM limit of a tab) and answers the Perfetto UI's queries on 127.0.0.1; the UI is opened with
``rpc_port=PORT`` so it uses that processor. The binary is looked for in this order: the
``--trace_processor`` option, the ``VIZTRACER_TRACE_PROCESSOR`` environment variable,
``trace_processor_shell`` / ``trace_processor`` on PATH, and the copy the ``perfetto`` Python
package keeps after it downloaded one (we never download anything ourselves).
"""
from __future__ import annotations

import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import webbrowser
from collections.abc import Mapping

from .stopping import StopSignals

ENV_VAR = "VIZTRACER_TRACE_PROCESSOR"
DOWNLOAD_URL = "https://get.perfetto.dev/trace_processor"
PATH_NAMES = ("trace_processor_shell", "trace_processor")
# The UI probes 9001; other ports need its "relax CSP" flag, which allows any local port.
DEFAULT_UI_PORT = 9001
CSP_FLAG_URL = "https://ui.perfetto.dev/#!/flags/cspAllowAnyWebsocketPort"


def ui_url(port: int) -> str:
    """The Perfetto UI, told to use the trace processor listening on ``port``."""
    return f"https://ui.perfetto.dev/#!/?rpc_port={port}"


class ProcessorError(Exception):
    """The external processor can't be found or run; the message is one line."""


def _checked(path: str, where: str) -> str:
    if not os.path.isfile(path):
        raise ProcessorError(f"{where} {path!r} is not a file; give the path of trace_processor_shell "
                             f"(download it from {DOWNLOAD_URL})")
    if not os.access(path, os.X_OK):
        raise ProcessorError(f"{where} {path!r} is not executable; make it so with chmod +x")
    return os.path.abspath(path)


def perfetto_package_binary() -> str | None:
    """The trace processor the ``perfetto`` package downloaded earlier, if it did."""
    try:
        from perfetto.prebuilts.manifests.trace_processor_shell import TRACE_PROCESSOR_SHELL_MANIFEST
    except Exception:  # not installed, or a version laid out differently
        return None
    plat, machine = sys.platform.lower(), platform.machine().lower()
    # Where perfetto.prebuilts caches its downloads: <name>-<first 16 digits of sha256><ext>,
    # and plain <name> in older versions.
    folder = os.path.join(os.path.expanduser("~"), ".local", "share", "perfetto", "prebuilts")
    for entry in TRACE_PROCESSOR_SHELL_MANIFEST:
        if entry.get("platform") != plat or machine not in entry.get("machine", ()):
            continue
        file_name = entry.get("file_name", "trace_processor_shell")
        root, ext = os.path.splitext(file_name)
        for name in (f"{root}-{entry.get('sha256', '')[:16]}{ext}", file_name):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and os.access(path, os.X_OK):
                return path
    return None


def find_trace_processor(option: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The trace processor to run; ProcessorError saying how to get one when there is none."""
    environ = os.environ if environ is None else environ
    if option:
        return _checked(option, "--trace_processor")
    if environ.get(ENV_VAR):
        return _checked(environ[ENV_VAR], f"${ENV_VAR}")
    for name in PATH_NAMES:
        found = shutil.which(name, path=environ.get("PATH"))
        if found:
            return found
    found = perfetto_package_binary()
    if found:
        return found
    raise ProcessorError(
        f"no Perfetto trace processor found (looked at --trace_processor, ${ENV_VAR}, PATH and the "
        f"perfetto package's downloads); download it from {DOWNLOAD_URL}, chmod +x it, and give it "
        "with --trace_processor PATH")


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


# Ctrl+C in a terminal reaches the processor too, which may end before we notice the signal.
_STOPPED = (-signal.SIGINT, -signal.SIGTERM)


def _ended(status: int) -> str:
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def _last_line(log) -> str:
    log.seek(0)
    lines = [line.strip() for line in log.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "it printed nothing"


def run(path: str, port: int, binary: str, open_browser: bool = True) -> int:
    """Run the trace processor on ``path`` and open the Perfetto UI on it; wait until it ends.

    Returns 0 after Ctrl+C or when the processor exits cleanly; ProcessorError when it fails.
    """
    name = os.path.basename(path)
    print(f"vizviewer: loading {name} into {os.path.basename(binary)} ...", flush=True)
    with tempfile.TemporaryFile() as log, StopSignals() as stop:
        try:
            proc = subprocess.Popen([binary, "--httpd", "--http-port", str(port), path],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        except OSError as exc:
            raise ProcessorError(f"cannot run {binary!r}: {exc.strerror or exc}") from None
        try:
            while not _listening(port):
                if stop.received is not None:
                    return 0
                if proc.poll() is not None:
                    if proc.returncode in _STOPPED:  # Ctrl+C reached it first
                        return 0
                    raise ProcessorError(f"{os.path.basename(binary)} {_ended(proc.returncode)} "
                                         f"before serving {name}: {_last_line(log)}")
                time.sleep(0.1)
            url = ui_url(port)
            print(f"vizviewer: Perfetto's trace processor serves {name} on 127.0.0.1:{port}; "
                  f"open {url} (press Ctrl+C to stop)", flush=True)
            if port != DEFAULT_UI_PORT:
                print(f"vizviewer: the Perfetto UI looks for the processor on port {DEFAULT_UI_PORT}; for "
                      f"port {port} turn on its flag once: {CSP_FLAG_URL}", flush=True)
            if open_browser:  # in a thread: a browser command may not return at once
                threading.Thread(target=_open_browser, args=(url,), daemon=True).start()
            while (status := proc.poll()) is None and stop.received is None:
                time.sleep(0.1)
        finally:
            _stop(proc)
        if stop.received is not None or status in _STOPPED:
            return 0
        if status != 0:
            raise ProcessorError(f"{os.path.basename(binary)} {_ended(status)}: {_last_line(log)}")
    return 0


def _open_browser(url: str) -> None:
    try:
        opened = webbrowser.open(url)
    except Exception:  # a broken BROWSER setting: say so below
        opened = False
    if not opened:
        print(f"vizviewer: no browser could be opened; open {url} yourself", file=sys.stderr, flush=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
