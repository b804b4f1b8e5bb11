"""The ``vizviewer`` command: show a report, or a directory of reports, in the browser.

``vizviewer [options] [result.json | result.pftrace | result.html | directory]`` checks what it
was given, starts the viewer's HTTP server on 127.0.0.1:9001 and opens the page with
:mod:`webbrowser` (which honours the ``BROWSER`` environment variable). ``--once`` stops the
server after the page has drawn the report; ``--use_external_processor`` hands the report to
Perfetto's trace processor instead (:mod:`viztracer.viewer.external`).

Exit status: 0 after Ctrl+C, SIGTERM, or the page loading with ``--once``; 2 for a bad
command line or a file that can't be shown; 1 when the server can't run (port in use, no trace
processor, ``--timeout`` reached). Every error is one ``vizviewer: error: ...`` line.
"""
from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from ..report import ReportError
from ..version import __version__
from . import external
from .reports import Reports
from .stopping import StopSignals

PROG = "vizviewer"
USAGE_ERROR = 2
FAILURE = 1
DEFAULT_PORT = 9001
DEFAULT_TIMEOUT = 10.0


class ViewerError(Exception):
    """Ends the command with one ``vizviewer: error:`` line and ``exit_code``."""

    def __init__(self, message: str, exit_code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise ViewerError(f"{message} (see vizviewer --help)")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: give 1 to 65535 (0: any free port)")
    return port


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``vizviewer``, with VizTracer 1.x's flags."""
    parser = _ArgumentParser(
        prog=PROG,
        description="Show a viztracer report in the browser: a .json, .json.gz, .pftrace or .html "
                    "report, or a directory whose reports are listed on the page.",
        epilog="Ctrl+C stops the server. The browser is the one Python's webbrowser module picks "
               "(set BROWSER to choose another). Large reports, once converted, are kept in "
               "~/.cache/viztracer/vizviewer (set VIZVIEWER_CACHE_DIR to choose another "
               "directory, or to nothing for no cache).",
    )
    parser.add_argument("file", nargs="?", default="result.json",
                        help="the report or the directory of reports to show (default: result.json)")
    parser.add_argument("--version", action="version", version=__version__,
                        help="print the version and exit")
    parser.add_argument("-s", "--server_only", action="store_true",
                        help="only run the server, don't open a browser")
    parser.add_argument("-p", "--port", type=_port, default=DEFAULT_PORT, metavar="PORT",
                        help=f"the port to serve on (default: {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="the address to serve on (default: 127.0.0.1, this machine only)")
    parser.add_argument("--once", action="store_true",
                        help="stop once the page has loaded the report")
    parser.add_argument("--timeout", type=_seconds, default=None, metavar="SECONDS",
                        help="with --once: give up when no page has asked anything for SECONDS "
                             f"(default: {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--flamegraph", action="store_true",
                        help="open the flame graph instead of the timeline")
    parser.add_argument("--perfetto", action="store_true",
                        help="open the report in the Perfetto UI (ui.perfetto.dev) through the page")
    parser.add_argument("--use_external_processor", action="store_true",
                        help="load the report in Perfetto's trace_processor_shell (no browser memory "
                             "limit) and open the Perfetto UI on it")
    parser.add_argument("--trace_processor", metavar="PATH",
                        help=f"the trace_processor_shell to run (default: ${external.ENV_VAR}, PATH, "
                             "or the perfetto package's download); implies --use_external_processor")
    return parser


# -- checks ------------------------------------------------------------------------------------------

def _reports(args: argparse.Namespace) -> Reports:
    path = args.file
    if not os.path.exists(path):
        if os.path.lexists(path):
            raise ViewerError(f"{path!r} is a broken symbolic link")
        hint = ("give the report to show: vizviewer REPORT" if path == "result.json"
                else "give an existing report file or directory")
        raise ViewerError(f"{path!r} does not exist; {hint}")
    reports = Reports(path)
    try:
        reports.check()
    except ReportError as exc:
        raise ViewerError(str(exc)) from None
    return reports


def _check_combinations(args: argparse.Namespace, reports: Reports) -> None:
    if args.use_external_processor:
        for flag in ("once", "flamegraph", "perfetto"):
            if getattr(args, flag):
                raise ViewerError(f"--{flag} can't be used with --use_external_processor: "
                                  "the Perfetto UI shows the report")
        if reports.mode == "dir":
            raise ViewerError("--use_external_processor needs one report file, not a directory")
        if reports.html_page:
            raise ViewerError("--use_external_processor needs a .json or .pftrace report, not an HTML one")
    if args.perfetto and reports.html_page:
        raise ViewerError("--perfetto needs a .json or .pftrace report, not an HTML one")
    if (args.perfetto or args.use_external_processor) and reports.name.lower().endswith(".cvf"):
        flag = "--perfetto" if args.perfetto else "--use_external_processor"
        raise ViewerError(f"{flag} needs a .json or .pftrace report: Perfetto can't read .cvf; "
                          f"convert it first: viztracer --decompress {reports.given} -o report.json")


def _listen_error(exc: OSError, host: str, port: int) -> ViewerError:
    if exc.errno == errno.EADDRINUSE:
        return ViewerError(f"port {port} on {host} is already in use (another vizviewer?); "
                           "stop that one or pick another port with --port", FAILURE)
    if exc.errno == errno.EACCES:
        return ViewerError(f"no permission to listen on port {port}; pick a port above 1023 with --port",
                           FAILURE)
    if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
        return ViewerError(f"can't listen on {host!r}: {exc.strerror or exc}; "
                           "give an address of this machine with --host", FAILURE)
    return ViewerError(f"can't listen on {host}:{port}: {exc.strerror or exc}", FAILURE)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise _listen_error(exc, host, port) from None


def default_port_or_any() -> int:
    """9001 when it is free, else 0 (any free port): for callers that have no --port to offer."""
    try:
        _check_port_free("127.0.0.1", DEFAULT_PORT)
    except ViewerError:
        return 0
    return DEFAULT_PORT


# -- serving -----------------------------------------------------------------------------------------

def page_url(host: str, port: int, reports: Reports, flamegraph: bool = False, perfetto: bool = False) -> str:
    """The URL of the page showing ``reports`` on a server listening at ``host:port``."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    params = []
    if reports.mode == "file" and not reports.html_page:
        params.append(("file", reports.name))
    if flamegraph:
        params.append(("view", "flamegraph"))
    if perfetto:
        params.append(("perfetto", "1"))
    return f"http://{netloc}/" + (f"?{urlencode(params)}" if params else "")


def _open_browser(url: str) -> None:
    try:
        opened = webbrowser.open(url)
    except Exception as exc:  # a broken BROWSER setting must not stop the server
        print(f"{PROG}: couldn't open a browser ({exc}); open {url} yourself", file=sys.stderr, flush=True)
        return
    if not opened:
        print(f"{PROG}: no browser found; open {url} yourself", file=sys.stderr, flush=True)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the viewer like Ctrl+C does (before the server's threads run)."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGTERM) is handler:  # StopSignals may have set it to ignore
            signal.signal(signal.SIGTERM, previous)


def serve(args: argparse.Namespace, reports: Reports) -> int:
    """Run the viewer's server until Ctrl+C, or until the page has loaded with ``--once``."""
    from .server import ViewerServer

    timeout = args.timeout if args.timeout is not None else DEFAULT_TIMEOUT
    try:
        server = ViewerServer(reports, args.host, args.port, once=args.once, perfetto=args.perfetto)
    except OSError as exc:
        raise _listen_error(exc, args.host, args.port) from None
    url = page_url(args.host, server.port, reports, args.flamegraph, args.perfetto)
    if not server.check_host:
        print(f"{PROG}: warning: listening on {args.host}: whoever can reach this machine on port "
              f"{server.port} can read the reports", file=sys.stderr, flush=True)
    what = reports.name if reports.mode == "file" else f"the reports in {reports.path}"
    until = "; it stops once the page has loaded (--once)" if args.once else ""
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                               name="vizviewer-server", daemon=True)
    # From here on threads run: Ctrl+C and SIGTERM set a flag instead of raising (stopping.py).
    with StopSignals() as stop:
        try:
            print(f"{PROG}: serving {what} at {url} (press Ctrl+C to stop){until}", flush=True)
            serving.start()
            server.warm_up()
            if not args.server_only:
                threading.Thread(target=_open_browser, args=(url,), name="vizviewer-browser",
                                 daemon=True).start()
            while not server.stopped.is_set() and stop.received is None:
                time.sleep(0.1)
                if args.once and server.idle_for() > timeout:
                    why = (f"the last answer was {server.last_error}" if server.last_error
                           else f"open {url} in a browser or raise --timeout")
                    raise ViewerError(f"no page loaded the report: nothing asked the server anything "
                                      f"for {timeout:g} s (--timeout); {why}", FAILURE)
        finally:
            if serving.is_alive():  # shutdown() waits forever for a serve_forever that never ran
                server.shutdown()
            server.server_close()
            server.cache.write_now()    # the cache files still to write: written before exit
    if stop.received is not None:
        print(f"{PROG}: stopped", file=sys.stderr, flush=True)
        return 0
    loaded = server.loaded or {}
    detail = f" ({loaded['events']} events)" if isinstance(loaded.get("events"), int) else ""
    print(f"{PROG}: the page has loaded {loaded.get('file') or what}{detail}; stopping (--once)", flush=True)
    return 0


def run_external(args: argparse.Namespace, reports: Reports) -> int:
    """``--use_external_processor``: Perfetto's trace processor serves the report."""
    try:
        binary = external.find_trace_processor(args.trace_processor)
    except external.ProcessorError as exc:
        raise ViewerError(str(exc), FAILURE) from None
    _check_port_free("127.0.0.1", args.port)
    try:
        return external.run(reports.path, args.port, binary, open_browser=not args.server_only)
    except external.ProcessorError as exc:
        raise ViewerError(str(exc), FAILURE) from None


def run(argv: list[str]) -> int:
    """Parse ``argv``, check it, and show the report; ViewerError for every expected failure."""
    args = build_parser().parse_args(argv)
    if args.trace_processor:
        args.use_external_processor = True
    if args.use_external_processor and args.port == 0:
        raise ViewerError("--use_external_processor needs a port number, not 0")
    reports = _reports(args)
    _check_combinations(args, reports)
    if args.timeout is not None and not args.once:
        print(f"{PROG}: warning: --timeout has no effect without --once", file=sys.stderr)
    if args.use_external_processor:
        return run_external(args, reports)
    return serve(args, reports)


def main(argv: list[str] | None = None) -> int:
    """Run ``vizviewer`` with ``argv`` (``sys.argv[1:]`` by default); return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        with _sigterm_as_interrupt():
            return run(argv)
    except ViewerError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:  # before any thread runs (while the report is being checked)
        print(f"{PROG}: stopped", file=sys.stderr)
        return 0
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else 0


def console_main() -> None:
    """Entry point of the ``vizviewer`` console script and ``python -m viztracer.viewer``."""
    sys.exit(main())
