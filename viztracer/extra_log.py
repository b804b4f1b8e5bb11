"""What ``log_print``, ``log_gc``, ``log_audit`` and ``log_exception`` add to a recording.

Each is a small object a ``VizTracer`` installs at ``start()`` and removes at ``stop()``; all of
them write through the tracer's custom-event API, so the events are the same in every format.
Everything here runs inside viztracer's own directory, which the hook leaves out with all it
calls: the work done here never shows up as calls in the report.
"""
from __future__ import annotations

import builtins
import gc
import io
import re
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import _tracer

if TYPE_CHECKING:
    from .tracer import VizTracer


# -- log_print --------------------------------------------------------------------------------------

class PrintCapture:
    """Replaces ``print``: what it would write becomes an instant ``print - <text>`` instead, as
    in VizTracer 1.x (the text is not written to the terminal while the tracer runs)."""

    def __init__(self, tracer: VizTracer) -> None:
        self._tracer = tracer
        self.system_print = builtins.print
        self._capture = self._print     # one bound method, so that ``is`` finds it again

    def install(self) -> None:
        """Put the capturing ``print`` in ``builtins``."""
        if builtins.print is self._capture:
            return
        self.system_print = builtins.print
        builtins.print = self._capture

    def uninstall(self) -> None:
        """Give ``builtins`` back the ``print`` that was there before ``install()``."""
        if builtins.print is self._capture:
            builtins.print = self.system_print

    def _print(self, *args: Any, **kwargs: Any) -> None:
        text = io.StringIO()
        kwargs["file"] = text
        self.system_print(*args, **kwargs)
        self._tracer.add_instant(f"print - {text.getvalue()}")


# -- log_gc -----------------------------------------------------------------------------------------

GC_NAME = "garbage collection"


class GcLog:
    """Each collection of the cyclic garbage collector becomes a duration event named
    ``garbage collection`` (args: generation, collected, uncollectable) and two samples of the
    ``garbage collection`` counter: ``collecting`` 1 when it starts, then 0 with the counts of
    what it found when it ends. (VizTracer 1.x writes each collection's counts on the sample
    that starts it and zeros on the one that ends it: shifted by one sample.)"""

    def __init__(self, tracer: VizTracer) -> None:
        self._tracer = tracer
        self._starts: dict[int, int] = {}  # thread ident -> start of the collection it runs

    def install(self) -> None:
        """Add the callback to ``gc.callbacks``."""
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        """Remove the callback from ``gc.callbacks``."""
        while self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        tracer = self._tracer
        if not tracer.enable:
            return
        core = tracer._core
        if phase == "start":
            self._starts[threading.get_ident()] = _tracer.now_ticks()
            core.add_counter(GC_NAME, {"collecting": 1, "collected": 0, "uncollectable": 0})
            return
        end = _tracer.now_ticks()
        start = self._starts.pop(threading.get_ident(), None)
        collected, uncollectable = info.get("collected", 0), info.get("uncollectable", 0)
        if start is not None:
            core.add_duration(GC_NAME, start, end, {"generation": info.get("generation"),
                                                     "collected": collected,
                                                     "uncollectable": uncollectable})
        core.add_counter(GC_NAME, {"collecting": 0, "collected": collected, "uncollectable": uncollectable})


# -- log_audit --------------------------------------------------------------------------------------

class _AuditState(threading.local):
    busy = False    # our own code is running: its audit events are not the program's


_audit_state = _AuditState()
_audit_log: AuditLog | None = None     # the one the process-wide hook reports to
_audit_hook_added = False


def _audit_hook(event: str, args: tuple) -> None:
    log = _audit_log
    if log is None or _audit_state.busy:
        return
    _audit_state.busy = True
    try:
        log.record(event, args)
    finally:
        _audit_state.busy = False


class quiet_audit:
    """A ``with`` block of our own code whose audit events (``sys._getframe``...) are not the
    traced program's."""

    def __enter__(self) -> None:
        self._was = _audit_state.busy
        _audit_state.busy = True

    def __exit__(self, *exc: object) -> None:
        _audit_state.busy = self._was


class AuditLog:
    """Audit events (``sys.audit``, PEP 578) whose name fully matches one of the regexes (every
    event when none is given) become instants named after the event, with
    ``{"args": [str(arg), ...]}``. An audit hook can't be removed, so one hook is added per
    process and reports to whichever AuditLog is installed."""

    def __init__(self, tracer: VizTracer, patterns: Sequence[str]) -> None:
        self._tracer = tracer
        self._patterns = compile_patterns(patterns, "log_audit")

    def install(self) -> None:
        """Report audit events to this log from now on."""
        global _audit_log, _audit_hook_added
        if not _audit_hook_added:
            sys.addaudithook(_audit_hook)
            _audit_hook_added = True
        _audit_log = self

    def uninstall(self) -> None:
        """Stop reporting audit events to this log."""
        global _audit_log
        if _audit_log is self:
            _audit_log = None

    def record(self, event: str, args: tuple) -> None:
        """Called by the hook for every audit event of the process."""
        if self._patterns and not any(p.fullmatch(event) for p in self._patterns):
            return
        self._tracer.add_instant(event, {"args": [_text(a) for a in args]}, scope="t")


def _text(value: object) -> str:
    try:
        return str(value)
    except BaseException:  # a str() of the program's own objects may raise anything
        return _tracer.NOT_DISPLAYABLE


def compile_patterns(patterns: Sequence[str] | str, option: str) -> list[re.Pattern]:
    """The regexes of an option, or a ValueError naming the one that does not compile."""
    if isinstance(patterns, str):
        patterns = [patterns]
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ValueError(f"{option}: {pattern!r} is not a valid regular expression ({exc})") from None
    return compiled


# -- log_exception ----------------------------------------------------------------------------------

class ExceptionLog:
    """Every exception raised while the tracer runs, caught or not, becomes an instant
    ``Exception - <repr>`` in the process scope, with its type, message, and the function, file and
    line it was raised in. Raised in our own code: left out.

    On 3.12 and later, sys.monitoring's RAISE event is the source; before, a C trace function of
    the compiled core (``Tracer.exception_callback``). Both see the exception again in every
    frame it passes through, so it is recorded only where its traceback has one entry."""

    TOOL_IDS = (4, 3)   # sys.monitoring ids no standard tool claims (debugger 0, coverage 1, profiler 2)

    def __init__(self, tracer: VizTracer, own_dir: str) -> None:
        self._tracer = tracer
        self._own_dir = own_dir
        self._tool: int | None = None

    def install(self) -> None:
        """Start reporting raised exceptions (before the tracer's core starts)."""
        if sys.version_info < (3, 12):
            self._tracer._core.exception_callback = self._from_trace
            return
        mon = sys.monitoring
        for tool in self.TOOL_IDS:
            if mon.get_tool(tool) is None:
                mon.use_tool_id(tool, "viztracer log_exception")
                self._tool = tool
                break
        else:
            raise RuntimeError("log_exception: every sys.monitoring tool id viztracer can use "
                               f"({', '.join(map(str, self.TOOL_IDS))}) is taken by another tool")
        mon.register_callback(self._tool, mon.events.RAISE, self._from_monitoring)
        mon.set_events(self._tool, mon.events.RAISE)

    def uninstall(self) -> None:
        """Stop reporting raised exceptions."""
        self._tracer._core.exception_callback = None
        if self._tool is not None:
            mon = sys.monitoring
            mon.set_events(self._tool, 0)
            mon.register_callback(self._tool, mon.events.RAISE, None)
            mon.free_tool_id(self._tool)
            self._tool = None

    def _from_monitoring(self, code: Any, offset: int, exc: BaseException) -> None:
        tb = exc.__traceback__
        if tb is not None and tb.tb_next is not None:
            return      # seen already, in the frame it was raised in
        if code.co_filename.startswith(self._own_dir):
            return
        with quiet_audit():
            frame = sys._getframe(1)
        self._record(exc, code, frame.f_lineno if frame.f_code is code else code.co_firstlineno)

    def _from_trace(self, exc: BaseException, tb: Any) -> None:
        if tb is None:
            return
        code = tb.tb_frame.f_code
        if code.co_filename.startswith(self._own_dir):
            return
        self._record(exc, code, tb.tb_lineno)

    def _record(self, exc: BaseException, code: Any, line: int) -> None:
        kind = type(exc)
        name = kind.__qualname__
        if kind.__module__ != "builtins":
            name = f"{kind.__module__}.{name}"
        self._tracer.add_instant(f"Exception - {_tracer.safe_repr(exc)}", {
            "type": name,
            "message": _text(exc),
            "function": getattr(code, "co_qualname", code.co_name),
            "file": code.co_filename,
            "line": line,
        }, scope="p")
