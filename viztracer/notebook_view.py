"""What a ``%%viztracer`` cell leaves under its output: a button that opens the report in
``vizviewer`` (with ipywidgets), or the command that does (without).

The viewer runs as ``python -m viztracer.viewer --once`` in a process of its own, as
``viztracer --open`` runs it: the notebook's kernel keeps no server thread, and the viewer
stops by itself once the page has loaded the report (or when no page comes, after its
``--timeout``).
"""
from __future__ import annotations

import html
import queue
import re
import shlex
import subprocess
import sys
import threading
import webbrowser
from typing import Any

BUTTON_LABEL = "Show VizTracer Report"
# How long a click waits for the viewer to say where it serves, or why it can't: it checks the
# report's framing before it listens, which is quick even for a large one.
STARTUP_TIMEOUT = 30.0
_SERVING = re.compile(r"\bserving .* at (http://\S+)")


class ReportViewer:
    """Starts ``vizviewer`` on one report in the background; each click of the button asks it."""

    def __init__(self, path: str, port: int | None) -> None:
        self.path = path
        self.port = port
        self.process: subprocess.Popen[str] | None = None
        self.url: str | None = None

    def command(self) -> list[str]:
        """The viewer's command line: the port asked for, else 9001 (any free port when taken)."""
        from .viewer.cli import default_port_or_any

        port = self.port if self.port is not None else default_port_or_any()
        return [sys.executable, "-m", "viztracer.viewer", "--once", "--port", str(port), self.path]

    def open(self) -> str:
        """Start the viewer (it opens the browser itself) and return what to tell the user: the
        URL it serves, or its one-line error. A viewer still waiting for its page is reused."""
        if self.process is not None and self.process.poll() is None and self.url:
            webbrowser.open(self.url)
            return f"vizviewer serves the report at {self.url}"
        self.url = None
        try:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True)
        except OSError as exc:
            return f"vizviewer could not start: {exc.strerror or exc}"
        lines: queue.Queue[str | None] = queue.Queue()
        # The viewer's output is read to its end on a thread, so that its pipe never fills.
        threading.Thread(target=_pump, args=(self.process, lines), name="vizviewer-output",
                         daemon=True).start()
        last = ""
        while True:
            try:
                line = lines.get(timeout=STARTUP_TIMEOUT)
            except queue.Empty:
                return f"vizviewer said nothing for {STARTUP_TIMEOUT:g} s; its last words: {last or 'none'}"
            if line is None:    # it ended before serving: its last line says why
                return last or f"vizviewer ended with status {self.process.wait()}"
            last = line.strip() or last
            found = _SERVING.search(line)
            if found:
                self.url = found.group(1)
                return f"vizviewer serves the report at {self.url}"

    def stop(self) -> None:
        """Stop the viewer if it still runs (it stops by itself once its page has loaded)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _pump(process: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.put(line)
    process.stdout.close()
    process.wait()
    lines.put(None)


def viewer_command_text(path: str, port: int | None) -> str:
    """The ``vizviewer`` command a user can type to see the report."""
    port_part = f"--port {port} " if port is not None else ""
    return f"vizviewer {port_part}{shlex.quote(path)}"


def show_report(path: str, port: int | None) -> Any:
    """Display, under the cell, a button that opens the report at ``path`` in vizviewer (on
    ``port``); without ipywidgets, the command to run. Returns the widget displayed, or None."""
    from IPython.display import display

    try:
        import ipywidgets
    except ImportError:
        command = viewer_command_text(path, port)
        text = (f"viztracer: report saved to {path}\n"
                f"show it with: {command}\n"
                "(install ipywidgets to get a button that opens it)")
        page = (f"<p>viztracer: report saved to <code>{html.escape(path)}</code><br>"
                f"show it with: <code>{html.escape(command)}</code><br>"
                "(install <code>ipywidgets</code> to get a button that opens it)</p>")
        display({"text/plain": text, "text/html": page}, raw=True)
        return None

    viewer = ReportViewer(path, port)
    button = ipywidgets.Button(description=BUTTON_LABEL, tooltip=path, icon="chart-bar")
    status = ipywidgets.HTML(value=f"report: <code>{html.escape(path)}</code>")
    button.viewer = viewer     # for whoever holds the widget (tests: to stop the viewer)

    def clicked(_: Any) -> None:
        message = viewer.open()
        if viewer.url:
            link = f'<a href="{html.escape(viewer.url)}" target="_blank">{html.escape(viewer.url)}</a>'
            status.value = html.escape(message).replace(html.escape(viewer.url), link)
        else:
            status.value = f"<code>{html.escape(message)}</code>"

    button.on_click(clicked)
    box = ipywidgets.HBox([button, status])
    display(box)
    return box
