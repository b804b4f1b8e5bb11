"""VizTracer: the user-facing tracer object.

It holds the options, drives the compiled core (``viztracer._tracer.Tracer``), and hands the
recorded ring to a report writer chosen by the output file's extension.
"""
from __future__ import annotations

import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from . import _tracer
from .report import open_hint, write_report
from .version import __version__

_global_tracer: VizTracer | None = None

# Options that VizTracer 1.x accepts and that later milestones of this project implement.
# Passing one with a non-default value warns once instead of failing, so scripts keep running.
_NOT_YET = {
    "log_func_repr": None,
    "log_func_with_objprint": False,
    "log_print": False,
    "log_gc": False,
    "log_sparse": False,
    "log_async": False,
    "log_torch": False,
    "log_audit": None,
    "pid_suffix": False,
    "trace_self": False,
    "minimize_memory": False,
    "dump_raw": False,
    "sanitize_function_name": False,
    "plugins": None,
}
_warned_not_yet: set[str] = set()


def get_tracer() -> VizTracer | None:
    """Return the globally registered tracer, or None when there is none."""
    return _global_tracer


def _paths(files: Sequence[str] | str | None) -> list[str]:
    """Normalise include/exclude entries: each is matched as given and as an absolute path."""
    if files is None:
        return []
    if isinstance(files, str):
        files = [files]
    out: list[str] = []
    for f in files:
        f = os.fspath(f)
        for cand in (f, os.path.abspath(f)):
            if cand not in out:
                out.append(cand)
    return out


class VizEvent:
    """A duration event opened by ``VizTracer.log_event``; use it in a ``with`` statement."""

    def __init__(self, tracer: VizTracer, name: str) -> None:
        self._tracer = tracer
        self.name = name
        self._start = 0

    def __enter__(self) -> VizEvent:
        self._start = _tracer.now_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        self._tracer._core.add_duration(self.name, self._start, _tracer.now_ticks())


class VizTracer:
    """Record every function call of the traced program and save it as a report.

    The constructor takes the options of VizTracer 1.x; see the user manual for each.
    """

    def __init__(
        self,
        tracer_entries: int = 1000000,
        verbose: int = 1,
        max_stack_depth: int = -1,
        include_files: list[str] | None = None,
        exclude_files: list[str] | None = None,
        ignore_c_function: bool = False,
        ignore_frozen: bool = False,
        log_func_retval: bool = False,
        log_func_args: bool = False,
        log_func_repr: Callable[..., str] | None = None,
        log_func_with_objprint: bool = False,
        log_print: bool = False,
        log_gc: bool = False,
        log_sparse: bool = False,
        log_async: bool = False,
        log_torch: bool = False,
        log_audit: Sequence[str] | None = None,
        pid_suffix: bool = False,
        file_info: bool = True,
        register_global: bool = True,
        trace_self: bool = False,
        min_duration: float = 0,
        minimize_memory: bool = False,
        dump_raw: bool = False,
        sanitize_function_name: bool = False,
        process_name: str | None = None,
        output_file: str = "result.json",
        plugins: Sequence[Any] | None = None,
    ) -> None:
        if not isinstance(tracer_entries, int) or isinstance(tracer_entries, bool) or tracer_entries <= 0:
            raise ValueError(f"tracer_entries must be a positive integer, got {tracer_entries!r}")
        if include_files and exclude_files:
            raise ValueError("include_files and exclude_files can't be used together; pick one")
        given = dict(locals())
        for name, default in _NOT_YET.items():
            if given[name] != default and name not in _warned_not_yet:
                _warned_not_yet.add(name)
                warnings.warn(f"VizTracer option {name!r} has no effect yet in this version",
                              stacklevel=2)
        self.tracer_entries = tracer_entries
        self._core = _tracer.Tracer(tracer_entries)
        self.verbose = verbose
        self.max_stack_depth = max_stack_depth
        self.include_files = include_files
        self.exclude_files = exclude_files
        self.ignore_c_function = ignore_c_function
        self.ignore_frozen = ignore_frozen
        self.log_func_retval = log_func_retval
        self.log_func_args = log_func_args
        self.log_func_repr = log_func_repr
        self.log_func_with_objprint = log_func_with_objprint
        self.log_print = log_print
        self.log_gc = log_gc
        self.log_sparse = log_sparse
        self.log_async = log_async
        self.log_torch = log_torch
        self.log_audit = log_audit
        self.pid_suffix = pid_suffix
        self.file_info = file_info
        self.trace_self = trace_self
        self.min_duration = min_duration
        self.minimize_memory = minimize_memory
        self.dump_raw = dump_raw
        self.sanitize_function_name = sanitize_function_name
        self.process_name = process_name
        self.output_file = output_file
        self.plugins = plugins
        self.register_global = register_global
        self.init_kwargs = {k: given[k] for k in given if k not in ("self", "__class__")}
        self.enable = False
        self.parsed = False
        self._stopped_at: int | None = None
        if register_global:
            self.register()

    # -- options ------------------------------------------------------------------------

    @property
    def min_duration(self) -> float:
        """Calls shorter than this many microseconds are not recorded."""
        return self._min_duration

    @min_duration.setter
    def min_duration(self, value: float) -> None:
        if value < 0:
            raise ValueError(f"min_duration can't be negative, got {value!r}")
        self._min_duration = value

    def _configure_core(self) -> None:
        self._core.configure(
            max_stack_depth=self.max_stack_depth,
            include_files=_paths(self.include_files),
            exclude_files=_paths(self.exclude_files),
            ignore_c_function=bool(self.ignore_c_function),
            ignore_frozen=bool(self.ignore_frozen),
            min_duration_ns=int(self.min_duration * 1000),
            log_func_args=bool(self.log_func_args),
            log_func_retval=bool(self.log_func_retval),
            own_dir=os.path.dirname(os.path.abspath(__file__)),
        )

    def register(self) -> None:
        """Make this tracer the one ``get_tracer()`` returns."""
        global _global_tracer
        _global_tracer = self

    # -- recording ------------------------------------------------------------------------

    def start(self) -> None:
        """Start tracing the calling thread and every thread started through ``threading``."""
        if self.include_files and self.exclude_files:
            raise ValueError("include_files and exclude_files can't be used together; pick one")
        self._configure_core()
        self.enable = True
        self.parsed = False
        # Threads started from now on install the hook themselves; this goes first so that
        # the call to threading.setprofile is not recorded.
        threading.setprofile(self._core.thread_bootstrap)
        self._core.start()

    def stop(self, stop_option: str | None = None) -> None:
        """Stop tracing.

        Calls still open become begin (``B``) events; with ``stop_option="flush_as_finish"``
        (what the command line uses when the program ends) they are closed at the stop time.
        """
        if not self.enable:
            return
        threading.setprofile(None)
        self._core.stop(stop_option == "flush_as_finish")
        self.enable = False
        if self._core.failed:
            warnings.warn("viztracer ran out of memory while tracing and stopped early; "
                          "the report holds what was recorded until then", RuntimeWarning, stacklevel=2)

    def pause(self) -> None:
        """Stop recording in this thread until ``resume()``, keeping what was recorded."""
        if self.enable:
            self._core.pause()

    def resume(self) -> None:
        """Resume recording after ``pause()``."""
        if self.enable:
            self._core.resume()

    def clear(self) -> None:
        """Drop everything recorded so far."""
        self._core.clear()
        self.parsed = False

    def cleanup(self) -> None:
        """Drop everything recorded and free the ring's memory."""
        self._core.cleanup()
        self.parsed = False

    def enable_thread_tracing(self) -> None:
        """Trace the calling thread, for threads not started through ``threading``."""
        if self.enable:
            self._core.trace_current_thread()

    def getts(self) -> float:
        """The tracer's current timestamp, in microseconds."""
        return _tracer.now_ns() / 1000

    # -- extra data --------------------------------------------------------------------------

    def add_func_args(self, key: str, value: Any) -> None:
        """Attach ``key: value`` to the arguments of the function being executed."""
        if self.enable:
            self._core.add_func_args(key, value)

    def add_instant(self, name: str, args: Any = None, scope: str = "g") -> None:
        """Record an instant event; ``scope`` is ``g``, ``p`` or ``t``."""
        if scope not in ("g", "p", "t"):
            raise ValueError(f"scope must be one of 'g', 'p' or 't', got {scope!r}")
        if self.enable:
            self._core.add_instant(name, args, scope)

    log_instant = add_instant

    def add_counter(self, name: str, args: dict[str, float]) -> None:
        """Record the values of a counter track."""
        if self.enable:
            self._core.add_counter(name, args)

    def add_object(self, ph: str, obj_id: str, name: str, args: Any = None) -> None:
        """Record an object event (``N`` created, ``O`` snapshot, ``D`` destroyed)."""
        if self.enable:
            self._core.add_object(ph, obj_id, name, args)

    def add_raw(self, raw: dict[str, Any]) -> None:
        """Record a trace event given as a ready Chrome trace event dict."""
        if self.enable:
            self._core.add_raw(raw)

    def log_var(self, name: str, var: Any) -> None:
        """Record a variable: numbers become a counter, anything else an instant event."""
        if isinstance(var, (int, float)) and not isinstance(var, bool):
            self.add_counter(name, {name: var})
        else:
            self.add_instant(name, {"value": repr(var)}, scope="p")

    def log_event(self, event_name: str) -> VizEvent:
        """A duration event for a ``with`` block."""
        return VizEvent(self, event_name)

    # -- saving ----------------------------------------------------------------------------

    def parse(self) -> int:
        """Stop if needed and return the number of recorded entries."""
        self.stop()
        self.parsed = True
        return self._core.entry_count()

    def save(self, output_file: str | None = None, file_info: bool | None = None,
             verbose: int | None = None) -> str:
        """Write the report; the format follows the file's extension. Returns the path."""
        self.stop()
        path = os.fspath(output_file if output_file is not None else self.output_file)
        verbose = self.verbose if verbose is None else verbose
        if self._core.overflowed() and verbose > 0:
            print(f"viztracer: the ring of {self.tracer_entries} entries overflowed; only the "
                  f"latest entries were kept (raise --tracer_entries to keep more)", file=sys.stderr)
        count = write_report(self, path, file_info=self.file_info if file_info is None else file_info)
        if verbose > 0:
            print(f"Saved {count} events to {os.path.abspath(path)}")
            print(open_hint(path))
        self.parsed = True
        return path

    def run(self, command: str, output_file: str | None = None) -> None:
        """Trace ``exec(command)`` and save the report."""
        self.start()
        try:
            exec(command)
        finally:
            self.stop()
            self.save(output_file)

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> VizTracer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.save()

    def metadata(self) -> dict[str, Any]:
        """The ``viztracer_metadata`` object written into every report."""
        return {"version": __version__, "overflow": self._core.overflowed(),
                "dropped_entries": self._core.dropped(), "tracer_entries": self.tracer_entries}
