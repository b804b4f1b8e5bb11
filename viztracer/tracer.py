"""VizTracer: the user-facing tracer object.

It holds the options, drives the compiled core (``viztracer._tracer.Tracer``), adds what the
options ask for around it (``extra_log``, plugins), and hands the recorded ring to a report
writer chosen by the output file's extension.
"""
from __future__ import annotations

import atexit
import builtins
import dataclasses
import io
import os
import shutil
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any

import orjson

from . import _events, _tracer, forksave
from .errors import HookInUse, ReportError
from .extra_log import AuditLog, ExceptionLog, GcLog, PrintCapture, compile_patterns, quiet_audit
from .recording import Recording
from .report import WRITERS, chrome_json, open_hint, write_report, write_report_dict, writer_for
from .stream import StreamWriter, check_stream_path
from .version import __version__
from .vizevent import VizEvent
from .vizplugin import PluginManager, VizPluginBase

if TYPE_CHECKING:
    import multiprocessing

_global_tracer: VizTracer | None = None

# Options of VizTracer 1.x that a later version implements: a value other than the default
# warns once, and the program runs on.
_NOT_YET: dict[str, Any] = {}
_warned_not_yet: set[str] = set()

# The package's own directory: calls into it are left out of the report, with all they call.
LIB_DIR = os.path.dirname(os.path.abspath(__file__))

# Code objects of our wrappers around the program's functions (decorators): left out of the
# report themselves, while what they call is recorded. Filled by the modules that define them.
PASSTHROUGH: set[Any] = set()

# The options that a child process or a copy of this tracer needs (``init_kwargs``).
_INIT_KWARGS = (
    "tracer_entries", "verbose", "output_file", "max_stack_depth", "exclude_files", "include_files",
    "ignore_c_function", "ignore_frozen", "log_func_retval", "log_func_args", "log_func_with_objprint",
    "log_print", "log_gc", "log_sparse", "log_async", "log_audit", "log_torch", "log_exception",
    "pid_suffix", "min_duration", "dump_raw", "minimize_memory", "sanitize_function_name",
    "trace_self", "stream",
)


def get_tracer() -> VizTracer | None:
    """Return the globally registered tracer, or None when there is none."""
    return _global_tracer


def set_global_tracer(tracer: VizTracer | None) -> None:
    """Make ``tracer`` the one ``get_tracer()`` returns (None: no tracer)."""
    global _global_tracer
    _global_tracer = tracer
    if tracer is None:
        builtins.__dict__.pop("__viz_tracer__", None)
    else:
        builtins.__dict__["__viz_tracer__"] = tracer  # where VizTracer 1.x keeps it


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


def _call_weakly(method: Callable[[], None]) -> Callable[[], None]:
    """A callable that calls ``method`` while its object lives, and does nothing after."""
    ref = weakref.WeakMethod(method)

    def call() -> None:
        bound = ref()
        if bound is not None:
            bound()
    return call


# Every tracer of this process, for the fork hook below. Plain weak references: a WeakSet's
# callback, run when a tracer dies, would be recorded by any tracer running then.
_tracers: list[weakref.ref[VizTracer]] = []


def _live_tracers() -> list[VizTracer]:
    live = [t for t in (ref() for ref in _tracers) if t is not None]
    _tracers[:] = [weakref.ref(t) for t in live]
    return live


def _after_fork_in_child() -> None:
    saver = forksave.in_saver()
    for tracer in _live_tracers():
        if saver:
            tracer._stop_in_saver()
        else:
            tracer._after_fork_in_child()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _with_pid(path: str) -> str:
    """``result.json`` -> ``result_<pid>.json`` (``a.json.gz`` -> ``a_<pid>.json.gz``)."""
    folder, name = os.path.split(path)
    lower = name.lower()
    for ext in sorted((ext for exts in WRITERS.values() for ext in exts), key=len, reverse=True):
        if lower.endswith(ext) and len(name) > len(ext):
            return os.path.join(folder, f"{name[:-len(ext)]}_{os.getpid()}{name[-len(ext):]}")
    stem, ext = os.path.splitext(name)
    return os.path.join(folder, f"{stem}_{os.getpid()}{ext}")


class VizTracer:
    """Record every function call of the traced program and save it as a report.

    The constructor takes the options of VizTracer 1.x; see the user manual for each.
    ``log_exception`` (every raised exception as an instant) is this version's addition.
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
        plugins: Sequence[VizPluginBase | str] | None = None,
        log_exception: bool = False,
        stream: bool = False,
    ) -> None:
        if not isinstance(tracer_entries, int) or isinstance(tracer_entries, bool) or tracer_entries <= 0:
            raise ValueError(f"tracer_entries must be a positive integer, got {tracer_entries!r}")
        if include_files and exclude_files:
            raise ValueError("include_files and exclude_files can't be used together; pick one")
        if log_func_repr is not None and log_func_with_objprint:
            raise ValueError("log_func_repr and log_func_with_objprint can't be used together; pick one")
        if log_func_repr is not None and not callable(log_func_repr):
            raise ValueError(f"log_func_repr must be a function, got {type(log_func_repr).__name__}")
        if log_torch:
            _require_torch()
        if log_audit is not None:
            compile_patterns(log_audit, "log_audit")
        if stream:
            check_stream_path(output_file)
            if plugins or log_torch:
                raise ValueError("stream can't be used with plugins or log_torch: they change the "
                                 "report at the end, and a streamed report is written while tracing")
        for name, default in _NOT_YET.items():
            if locals()[name] != default and name not in _warned_not_yet:
                _warned_not_yet.add(name)
                warnings.warn(f"VizTracer option {name!r} has no effect yet in this version", stacklevel=2)
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
        self.log_sparse = log_sparse
        self.log_async = log_async
        self.log_torch = log_torch
        self.log_audit = log_audit
        self.log_exception = log_exception
        self.pid_suffix = pid_suffix
        self.file_info = file_info
        self.trace_self = trace_self
        self.min_duration = min_duration
        self.minimize_memory = minimize_memory
        self.dump_raw = dump_raw
        self.sanitize_function_name = sanitize_function_name
        self.process_name = process_name
        self.output_file = output_file
        self.stream = stream
        self._stream: StreamWriter | None = None    # the streamed report, from the first start()
        self._stream_clock: tuple[int, int, float] | None = None
        self._parents_report: str | None = None     # a forked child's: never to be overwritten
        self._pid = os.getpid()
        self._report_pid: int | None = None    # the pid the report shows, when not this process's (fork_save)
        self._afterfork: tuple[Callable[..., Any], tuple, dict] | None = None
        # The folder of the command line's child processes (viztracer.children), when tracing
        # under it: where init_kwargs sends a child's report.
        self._children_folder: str | None = None
        self._redundant = False     # register_exit() in a process the command traces already
        # Trace the calling thread and those it starts through the profile hook, even where
        # sys.monitoring would trace every thread (@trace_and_save's tracers: a call's report)
        self._per_thread_hook = False
        self.enable = False
        self.parsed = False
        self.data: dict[str, Any] = {}
        self.total_entries = 0
        self.viztmp: str | None = None
        self.cwd = os.getcwd()
        self._exiting = False
        self._functions: list[tuple[str, str, int]] = []
        self._sync_marker: float | None = None
        self._torch_profile: Any = None
        # The wall clock at timestamp 0 of the report's clock (CLOCK_MONOTONIC).
        self._base_time_ns = time.time_ns() - _tracer.now_ns()
        self._print = PrintCapture(self)
        self._gc = GcLog(self)
        self._extras: list[Any] = []    # what start() installed and stop() removes
        self._log_gc = False
        self.log_gc = log_gc
        self._plugin_manager = PluginManager(self, plugins)
        if len(_tracers) > 64:
            _live_tracers()
        _tracers.append(weakref.ref(self))
        if register_global:     # last: a tracer whose plugins failed to load is not registered
            self.register_global()

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

    @property
    def pid_suffix(self) -> bool:
        """Whether ``save()`` puts the process id in the file name (``result_<pid>.json``)."""
        return self._pid_suffix

    @pid_suffix.setter
    def pid_suffix(self, value: bool) -> None:
        if type(value) is not bool:
            raise ValueError(f"pid_suffix must be True or False, got {value!r}")
        self._pid_suffix = value

    @property
    def log_gc(self) -> bool:
        """Whether collections of the garbage collector are recorded."""
        return self._log_gc

    @log_gc.setter
    def log_gc(self, value: bool) -> None:
        if type(value) is not bool:
            raise TypeError(f"log_gc must be True or False, got {value!r}")
        self._log_gc = value
        if self.enable and value:
            self._gc.install()
            if self._gc not in self._extras:
                self._extras.append(self._gc)   # removed at stop() with the others
        elif not value:
            self._gc.uninstall()

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """The options, as keyword arguments that make the same tracer (in a child process).

        Under the ``viztracer`` command the report goes to the folder where the command
        collects its children's reports, one per process: ``VizTracer(**init_kwargs)`` with
        ``register_exit()`` and ``start()`` in a process the command did not start puts that
        process into the command's report (VizTracer 1.x's generic multi-process support)."""
        kwargs = {name: getattr(self, name) for name in _INIT_KWARGS}
        if self._children_folder is not None:
            from .children import child_report_template

            kwargs.update(output_file=child_report_template(self._children_folder, self.output_file),
                          pid_suffix=True, verbose=0)
        return kwargs

    @property
    def lib_file_path(self) -> str:
        """The directory of the viztracer package, whose calls are left out of the report."""
        return LIB_DIR

    @property
    def threadtracefunc(self) -> Callable[..., Any]:
        """The function given to ``threading.setprofile`` while tracing."""
        return self._core.thread_bootstrap

    def _repr_func(self) -> Callable[[Any], str] | None:
        if self.log_func_with_objprint:
            import objprint

            return lambda obj: objprint.objstr(obj, color=False)
        return self.log_func_repr

    def _configure_core(self) -> None:
        try:
            max_depth = int(self.max_stack_depth)
        except (TypeError, ValueError):
            raise ValueError(f"max_stack_depth must be an integer, got {self.max_stack_depth!r}") from None
        self._core.configure(
            max_stack_depth=max_depth,
            include_files=_paths(self.include_files),
            exclude_files=_paths(self.exclude_files),
            ignore_c_function=bool(self.ignore_c_function),
            ignore_frozen=bool(self.ignore_frozen),
            min_duration_ns=int(self.min_duration * 1000),
            log_func_args=bool(self.log_func_args),
            log_func_retval=bool(self.log_func_retval),
            own_dir="" if self.trace_self else LIB_DIR,
            repr_func=self._repr_func(),
            log_async=bool(self.log_async),
        )
        for code in PASSTHROUGH:
            self._core.add_passthrough(code)

    def register_global(self) -> None:
        """Make this tracer the one ``get_tracer()`` returns."""
        set_global_tracer(self)

    register = register_global

    def install(self) -> None:
        """Let ``viztracer --attach_installed PID`` trace this process later: SIGUSR1 starts
        this tracer, SIGUSR2 stops it and saves the report to ``output_file`` (Unix only; call
        it from the main thread; the program must not use these two signals itself)."""
        from .attach import install

        install(self)

    # -- recording ------------------------------------------------------------------------

    def start(self) -> None:
        """Start tracing the calling thread and every thread started through ``threading``.

        With ``log_sparse`` no call is traced: only the functions decorated with
        ``@log_sparse`` and the custom events are recorded.
        """
        if self.enable or self._redundant:
            return
        if self.include_files and self.exclude_files:
            raise ValueError("include_files and exclude_files can't be used together; pick one")
        per_thread = self._per_thread_hook
        hook = _tracer.hook_for(not self.log_sparse, per_thread)
        if hook == "monitoring":
            owner = _tracer.monitoring_owner()   # before anything is started
            if owner not in (None, _tracer.MONITORING_NAME):
                raise HookInUse(_tracer.hook_in_use_message(owner))
        self._configure_core()
        extras = self._extras_to_install()
        self._plugin_manager.event("pre-start")
        installed: list[Any] = []
        try:
            for extra in extras:
                extra.install()
                installed.append(extra)
        except BaseException:
            for extra in reversed(installed):
                extra.uninstall()
            raise
        self._extras = extras
        self.enable = True
        self.parsed = False
        if self.log_torch:
            self._start_torch()
        if self.stream:
            self._start_stream()
        # With the profile hook, threads started from now on install it themselves (this goes
        # first so that the call to threading.setprofile is not recorded); sys.monitoring
        # (3.12+) sees every thread by itself.
        if hook == "setprofile" and (
                not self.log_sparse or self._core.exception_callback is not None):
            threading.setprofile(self._core.thread_bootstrap)
        with quiet_audit():     # installing the hook is an audit event of ours, not the program's
            self._core.start(not self.log_sparse, per_thread)

    def _start_stream(self) -> None:
        """Open the streamed report (first start) and start its writer thread."""
        if self._stream is None:
            path = os.path.abspath(self.output_file)
            if self.pid_suffix:
                path = _with_pid(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self._stream = StreamWriter(self._core, path, self._stream_recording, os.getpid(),
                                        self.process_name or "MainProcess", self.tracer_entries)
            # weakly: neither hook keeps a tracer the program let go of alive
            atexit.register(_call_weakly(self._finish_stream_at_exit))
        self._stream.start()

    def _stream_recording(self, span: tuple[int, int]) -> Recording:
        # One clock mapping for the whole stream, so that slices written in different parts
        # nest exactly: the first part's (the rate is measured from the start until then).
        if self._stream_clock is None:
            self._stream_clock = self._core.clock()
        return self._recording(self._stream_clock, {}, span)

    def _finish_stream_at_exit(self) -> None:
        """A program that never stopped its streaming tracer: complete the file at exit."""
        if self._stream is not None and self._stream.pid == os.getpid():
            self.stop()
            self._stream.close()

    def _after_fork_in_child(self) -> None:
        """In the child of a fork: what the ring holds and the stream are the parent's. The
        child records its own calls from here on, and saves them to a file of its own."""
        self._pid = os.getpid()
        self._forget_stream_in_child()
        if self._children_folder is None:
            # a report of its own: result_<pid>.json beside the parent's result.json
            self.pid_suffix = True
        if self._afterfork is not None:
            callback, args, kwargs = self._afterfork
            callback(self, *args, **kwargs)
        if self.enable:
            self._configure_core()      # with what the callback changed
            self._core.forked()

    def _stop_in_saver(self) -> None:
        """In the child of a fork_save: stop without recording anything of the child's. The ring
        and the threads stay the parent's, as of the fork; the calls the parent had open are
        written as open (begin) events, as ``save()`` of a running tracer does. (Nothing of the
        child is on the stack yet: the fork happened inside fork_save, which is not recorded.)"""
        if not self.enable:
            return
        threading.setprofile(None)
        with quiet_audit():
            self._core.stop()
        self.enable = False
        for extra in reversed(self._extras):
            extra.uninstall()
        self._extras = []

    def set_afterfork(self, callback: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Call ``callback(tracer, *args, **kwargs)`` in every child forked from this process
        while it lives (``os.fork``, multiprocessing's fork and forkserver start methods)."""
        if not callable(callback):
            raise TypeError(f"set_afterfork needs a function, got {type(callback).__name__}")
        self._afterfork = (callback, args, kwargs)

    def register_exit(self) -> None:
        """Save the report when this process ends: at its normal exit, at ``os._exit`` and at
        SIGTERM (it then still dies of SIGTERM). For a child process started with
        ``VizTracer(**get_tracer().init_kwargs)``: its report joins the command's. In a process
        the command traces already, this tracer stands aside (``start`` does nothing)."""
        from . import children

        self.cwd = os.getcwd()
        if children.traced_by_the_command():
            self._redundant = True
            return
        self.label_file_to_write()
        atexit.register(_call_weakly(self.exit_routine))
        children.call_at_exit(self.exit_routine)

    def _forget_stream_in_child(self) -> None:
        """A forked child must never write into its parent's stream: it keeps a ring of its own,
        and ``save()`` leaves the parent's report alone."""
        if self._stream is not None:
            self._parents_report = self._stream.path
            self._stream = None
            self.stream = False
            self._core.stream_end()

    def _extras_to_install(self) -> list[Any]:
        extras: list[Any] = []
        if self.log_print:
            extras.append(self._print)
        if self.log_gc:
            extras.append(self._gc)
        if self.log_audit is not None:
            extras.append(AuditLog(self, self.log_audit))
        if self.log_exception:
            extras.append(ExceptionLog(self, LIB_DIR))
        return extras

    def stop(self, stop_option: str | None = None) -> None:
        """Stop tracing.

        Calls still open become begin (``B``) events; with ``stop_option="flush_as_finish"``
        (what the command line uses when the program ends) they are closed at the stop time.
        """
        if not self.enable:
            return
        threading.setprofile(None)
        stream_error: OSError | None = None
        if self._stream is not None:
            try:
                self._stream.stop_thread()
            except OSError as e:
                stream_error = e
        with quiet_audit():
            self._core.stop(stop_option == "flush_as_finish")
        self.enable = False
        if self._stream is not None:
            stream_error = self._finish_stream(stream_error)
        for extra in reversed(self._extras):
            extra.uninstall()
        self._extras = []
        if self._torch_profile is not None:
            self._torch_profile.__exit__(None, None, None)
        if self._core.failed:
            warnings.warn("viztracer ran out of memory while tracing and stopped early; "
                          "the report holds what was recorded until then", RuntimeWarning, stacklevel=2)
        self._plugin_manager.event("post-stop")
        if stream_error is not None:
            path = self._stream.path if self._stream is not None else self.output_file
            raise ReportError(f"cannot write {path!r}: {stream_error.strerror or stream_error}; "
                              "the report holds what was written before")

    def _finish_stream(self, error: OSError | None) -> OSError | None:
        """Write the calls still open and the metadata: the streamed file is complete. Returns
        the first error of the writer (then the file holds what was written before it)."""
        stream = self._stream
        assert stream is not None
        failed, stream.error = stream.error, None
        error = error or (failed if isinstance(failed, OSError) else None)
        if failed is not None and not isinstance(failed, OSError):
            raise failed
        if error is None:
            try:
                stream.flush(waited_for=True)
                stream.finish(self.metadata(), self.file_info)
            except OSError as e:
                error = e
        self._core.stream_end()
        return error

    def pause(self) -> None:
        """Stop recording new calls, in every thread, until ``resume()``; what was recorded stays."""
        if self.enable:
            self._core.pause()

    def resume(self) -> None:
        """Resume recording after ``pause()``."""
        if self.enable:
            self._core.resume()

    def clear(self) -> None:
        """Drop everything recorded so far (streaming: what was not written out yet)."""
        if self._stream is not None:
            self._stream.clear()
        else:
            self._core.clear()
        self.parsed = False
        self.data = {}

    def cleanup(self) -> None:
        """Drop everything recorded and free the ring's memory."""
        self._core.cleanup()
        self.parsed = False
        self.data = {}

    def enable_thread_tracing(self) -> None:
        """Trace the calling thread, for threads not started through ``threading``."""
        if self.enable:
            self._core.trace_current_thread()

    def shield_ignore(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``func(*args, **kwargs)`` and record it, even when called from code that is
        left out of the report (viztracer's own, an ignored function)."""
        return func(*args, **kwargs)

    def getts(self) -> float:
        """The tracer's current timestamp, in microseconds (the report's clock)."""
        return _tracer.now_ns() / 1000

    def get_base_time(self) -> int:
        """The wall-clock time (ns since the epoch) of the report's timestamp 0."""
        return self._base_time_ns

    def set_sync_marker(self) -> None:
        """Mark this moment; ``--align_combine`` lines reports up on their markers."""
        if self._sync_marker is not None:
            warnings.warn("Synchronization marker already set", RuntimeWarning, stacklevel=2)
        self._sync_marker = self.getts()

    def get_sync_marker(self) -> float | None:
        """The sync marker's timestamp (microseconds), or None when none is set."""
        return self._sync_marker

    # -- extra data --------------------------------------------------------------------------

    def add_func_args(self, key: str, value: Any) -> None:
        """Attach ``key: value`` to the arguments of the function being executed."""
        if self.enable:
            self._core.add_func_args(key, value)

    def get_func_args(self) -> dict[str, Any] | None:
        """The arguments attached so far to the function being executed, or None."""
        if self.enable:
            return self._core.get_func_args()
        return None

    def add_func_exec(self, name: str, val: Any, lineno: int) -> None:
        """Note ``(lineno) name = val`` in the ``exec_steps`` of the function being executed."""
        if not self.enable:
            return
        step = f"({lineno}) {name} = {val}"
        current = self._core.get_func_args()
        if current is not None and isinstance(current.get("exec_steps"), list):
            current["exec_steps"].append(step)
        else:
            self._core.add_func_args("exec_steps", [step])

    # Compiled (pyx/events.pyx): called often from the traced program, they cost the hook nothing.
    add_instant = _events.add_instant
    log_instant = _events.log_instant
    add_counter = _events.add_counter
    log_var = _events.log_var

    def add_object(self, ph: str, obj_id: str, name: str, args: Any = None) -> None:
        """Record an object event (``N`` created, ``O`` snapshot, ``D`` destroyed) with ``args``."""
        if ph not in ("N", "O", "D"):
            raise ValueError(f"ph must be one of 'N', 'O' or 'D', got {ph!r}")
        if self.enable:
            self._core.add_object(ph, obj_id, name, args)

    def add_raw(self, raw: dict[str, Any]) -> None:
        """Record a trace event given as a ready Chrome trace event dict; ``pid`` and ``tid``
        are filled in when missing."""
        if not isinstance(raw, dict):
            raise ValueError(f"add_raw takes a trace event dict, got {type(raw).__name__}")
        if self.enable:
            if "pid" not in raw or "tid" not in raw:
                raw = dict(raw)
                raw.setdefault("pid", os.getpid())
                raw.setdefault("tid", threading.get_native_id())
            self._core.add_raw(raw)

    def add_variable(self, name: str, var: Any, event: str = "instant") -> None:
        """Record a variable as an instant ``name = repr(var)`` or, with ``event="counter"``,
        as a counter sample (the value must be a number)."""
        if event == "instant":
            if self.enable:
                self._core.add_instant(f"{name} = {_tracer.safe_repr(var)}", None, "p")
        elif event == "counter":
            if not isinstance(var, (int, float)):
                raise ValueError(f"{name}({_tracer.safe_repr(var)}) is not a number")
            if self.enable:
                self._core.add_counter(name, {name: var})
        else:
            raise ValueError(f"event must be 'instant' or 'counter', got {event!r}")

    def log_event(self, event_name: str) -> VizEvent:
        """A duration event for a ``with`` block, named after the event and where it is."""
        with quiet_audit():
            caller = sys._getframe(1)
        return VizEvent(self, event_name, caller.f_code.co_filename, caller.f_lineno)

    def add_garbage_collection(self, phase: str, info: dict[str, Any]) -> None:
        """The ``gc.callbacks`` entry of ``log_gc``: ``phase`` is ``start`` or ``stop``."""
        self._gc._callback(phase, info)

    def overload_print(self) -> None:
        """Replace ``print``: what it prints becomes an instant ``print - <text>``."""
        self._print.install()

    def restore_print(self) -> None:
        """Put back the ``print`` that ``overload_print`` replaced."""
        self._print.uninstall()

    @property
    def system_print(self) -> Callable[..., None]:
        """The ``print`` that was in place before ``overload_print``."""
        return self._print.system_print

    # -- getting the data --------------------------------------------------------------------

    def _json_report(self) -> bytes:
        out = io.BytesIO()
        self._functions = chrome_json.write_stream(self.recording(), out.write, False)[1]
        return out.getvalue()

    def load(self) -> list[dict[str, Any]]:
        """The recorded events as Chrome trace event dicts (process and thread names first)."""
        return orjson.loads(self._json_report())["traceEvents"]

    def parse(self) -> int:
        """Stop if needed, put the recorded events in ``data``, and return how many there are
        (process and thread name records not counted)."""
        self.stop()
        if not self.parsed:
            report = orjson.loads(self._json_report())
            self.data = {"traceEvents": report["traceEvents"],
                         "viztracer_metadata": report["viztracer_metadata"]}
            self.total_entries = sum(1 for e in self.data["traceEvents"] if e.get("ph") != "M")
            self.parsed = True
        return self.total_entries

    def dump(self, filename: str, sanitize_function_name: bool = False) -> None:
        """Write the recorded events straight to ``filename`` as a report (no plugins)."""
        self.stop()
        recording = dataclasses.replace(self.recording(), sanitize_names=bool(sanitize_function_name))
        write_report(recording, os.fspath(filename), file_info=self.file_info)

    # -- saving ----------------------------------------------------------------------------

    def save(self, output_file: str | os.PathLike | IO | None = None, file_info: bool | None = None,
             verbose: int | None = None) -> str | None:
        """Write the report and return its path. The format follows the file's extension; an
        open file object gets Chrome JSON. A tracer still running is stopped for the save and
        started again after it, as in VizTracer 1.x."""
        was_running = self.enable
        if was_running:
            self.stop()
        file_info = self.file_info if file_info is None else file_info
        verbose = self.verbose if verbose is None else verbose
        target = self.output_file if output_file is None else output_file
        try:
            if self._stream is not None:
                return self._save_stream(target, verbose)
            if hasattr(target, "write"):
                self._save_to_file_object(target, file_info)
                return None
            path = os.path.abspath(os.fspath(target))
            if self.pid_suffix:
                path = _with_pid(path)
            if path == self._parents_report:
                print(f"viztracer: process {os.getpid()} was forked from one streaming its report to "
                      f"{path}; its own calls are not saved there", file=sys.stderr)
                return None
            writer_for(path)    # an unknown extension fails before any directory is made
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if self._core.overflowed() and verbose > 0:
                print(f"viztracer: the ring of {self.tracer_entries} entries overflowed; only the "
                      f"latest entries were kept (raise --tracer_entries to keep more)", file=sys.stderr)
            count = self._write(path, file_info)
            if verbose > 0:
                print(f"Saved {count} events to {path}")
                print(open_hint(path))
            return path
        finally:
            if was_running:
                self.start()

    def _save_stream(self, target: str | os.PathLike | IO, verbose: int) -> str | None:
        """save() of a streamed report: it is written already; a copy goes anywhere else."""
        stream = self._stream
        assert stream is not None
        if hasattr(target, "write"):
            with open(stream.path, "rb") as f:
                data = f.read()
            target.write(data.decode("utf-8") if isinstance(target, io.TextIOBase) else data)
            return None
        path = os.path.abspath(os.fspath(target))
        if self.pid_suffix:
            path = _with_pid(path)
        if path != stream.path:
            writer_for(path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if writer_for(path) is writer_for(stream.path):
                shutil.copyfile(stream.path, path)
            else:
                from .report.loader import load_report
                write_report_dict(load_report(stream.path), path)
        if verbose > 0:
            print(f"Saved {stream.written} events to {path}")
            print(open_hint(path))
        return path

    def fork_save(self, output_file: str | None = None) -> multiprocessing.Process:
        """Save the report from a forked child while this process goes on tracing; return that
        child, started (a ``multiprocessing.Process``: ``join()`` it to wait for the file).

        The report is what ``save(output_file)`` would write now (by default to ``output_file``),
        under this process's pid; nothing the child does is in it, and nothing recorded here is
        dropped. Needs multiprocessing's ``fork`` start method and the in-memory ring (not
        ``stream=True``): RuntimeError otherwise."""
        return forksave.fork_save(self, output_file)

    def dump_ring(self) -> str:
        """Write what the ring holds now to a new file beside the report and go on tracing
        (``--dump_on``): ``<report>_dump_<date>_<time>_<n>.<ext>``, never an earlier dump.
        Calls still open are not in it. While it is written, new entries are refused and
        counted (the metadata's ``dropped_entries``), so the ring stays as it was.
        Streaming, the writer is woken instead: the report holds everything already. (Not
        flushed from here: the signal may have come while this thread was writing a part.)"""
        if self._stream is not None:
            self._core.wake_writer()
            return self._stream.path
        path = _dump_path(os.path.abspath(self.output_file))
        self._core.freeze(True)
        try:
            recording = dataclasses.replace(self.recording(), metadata={**self.metadata(), "dump": True})
            count = write_report(recording, path, file_info=self.file_info)
        except BaseException:
            os.remove(path)
            raise
        finally:
            self._core.freeze(False)
        print(f"viztracer: dumped {count} entries to {path}", file=sys.stderr)
        return path

    def _write(self, path: str, file_info: bool) -> int:
        if not self._plugin_manager.has_plugin and self._torch_profile is None:
            return write_report(self.recording(), path, file_info=file_info)
        return write_report_dict(self._report_dict(file_info), path)

    def _report_dict(self, file_info: bool) -> dict[str, Any]:
        """``data`` as plugins left it, with torch's events and ``file_info``: the slow path,
        taken only when a plugin or log_torch may change the events."""
        self.parse()
        self._plugin_manager.event("pre-save")
        report = dict(self.data)
        if self._torch_profile is not None:
            report["traceEvents"] = report["traceEvents"] + self._torch_events()
        if file_info:
            report["file_info"] = chrome_json.file_info(self._functions)
        return report

    def _save_to_file_object(self, out: IO, file_info: bool) -> None:
        if self._plugin_manager.has_plugin or self._torch_profile is not None:
            data = orjson.dumps(self._report_dict(file_info))
        else:
            buffer = io.BytesIO()
            chrome_json.write_stream(self.recording(), buffer.write, file_info)
            data = buffer.getvalue()
        if isinstance(out, io.TextIOBase):
            out.write(data.decode("utf-8"))
        else:
            out.write(data)

    def run(self, command: str, output_file: str | None = None) -> None:
        """Trace ``exec(command)`` in the caller's namespace and save the report."""
        with quiet_audit():
            caller = sys._getframe(1)
        namespace, local_names = caller.f_globals, caller.f_locals
        del caller
        self.start()
        try:
            exec(command, namespace, local_names)
        finally:
            self.stop()
            self.save(output_file)

    def terminate(self) -> None:
        """Tell the plugins to finish (done on leaving a ``with`` block and by the command line)."""
        self._plugin_manager.terminate()

    def label_file_to_write(self) -> None:
        """Create an empty placeholder where the report will go (``<file>.viztmp`` with
        ``pid_suffix``), removed by ``exit_routine()`` once the report is saved."""
        path = os.path.abspath(self.output_file)
        if self.pid_suffix:
            path = _with_pid(path) + ".viztmp"
        with open(path, "w"):
            pass
        self.viztmp = path

    def exit_routine(self) -> None:
        """Stop (closing the calls still open), save once, and terminate the plugins."""
        self.stop(stop_option="flush_as_finish")
        if self._exiting or self._redundant:
            return
        self._exiting = True
        try:
            os.chdir(self.cwd)
            self.save()
        finally:
            if self.viztmp is not None and os.path.exists(self.viztmp) \
                    and os.path.abspath(self.viztmp) != os.path.abspath(self.output_file):
                os.remove(self.viztmp)
            self.terminate()

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> VizTracer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        try:
            self.save()
        finally:
            self.terminate()

    def recording(self) -> Recording:
        """What was recorded, as the report writers take it (they never see the tracer)."""
        return self._recording(self._core.clock(), self.metadata())

    def _recording(self, clock: tuple[int, int, float], metadata: dict[str, Any],
                   span: tuple[int, int] | None = None) -> Recording:
        core = self._core
        return Recording(ring=core.ring_capsule(), threads=[(tid, name) for tid, name in core.thread_table()],
                         clock=clock, metadata=metadata, pid=self._report_pid or os.getpid(),
                         process_name=self.process_name or "MainProcess",
                         sanitize_names=bool(self.sanitize_function_name), owner=core, span=span)

    def metadata(self) -> dict[str, Any]:
        """The ``viztracer_metadata`` object written into every report."""
        metadata: dict[str, Any] = {
            "version": __version__, "overflow": self._core.overflowed(),
            "dropped_entries": self._stream.dropped if self._stream is not None else self._core.dropped(),
            "tracer_entries": self.tracer_entries,
            "baseTimeNanoseconds": self._base_time_ns,
        }
        if self._sync_marker is not None:
            metadata["sync_marker"] = self._sync_marker
        if self._stream is not None:
            metadata["stream"] = True
        return metadata

    # -- log_torch -------------------------------------------------------------------------

    def _start_torch(self) -> None:
        from torch.profiler import profile, supported_activities

        self._torch_profile = profile(activities=supported_activities()).__enter__()

    def _torch_events(self) -> list[dict[str, Any]]:
        """PyTorch's own trace, its timestamps moved onto the report's clock."""
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            path = os.path.join(folder, "torch.json")
            self._torch_profile.export_chrome_trace(path)
            with open(path, "rb") as f:
                torch_report = orjson.loads(f.read())
        events = torch_report.get("traceEvents", []) if isinstance(torch_report, dict) else torch_report
        base = torch_report.get("baseTimeNanoseconds", 0) if isinstance(torch_report, dict) else 0
        shift = (base - self._base_time_ns) / 1000 if base else 0
        for e in events:
            if shift and isinstance(e.get("ts"), (int, float)):
                e["ts"] = e["ts"] + shift
        return [e for e in events if isinstance(e, dict)]


def _dump_path(report: str) -> str:
    """A new file's path for a dump of ``report``, created empty so no other dump takes it."""
    base, ext = os.path.splitext(report)
    if base.lower().endswith(".json") and ext.lower() == ".gz":
        base, ext = base[:-5], ".json.gz"
    stamp = time.strftime("%Y%m%d_%H%M%S")
    n = 1
    while True:
        path = f"{base}_dump_{stamp}_{n}{ext}"
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            n += 1


def _require_torch() -> None:
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ImportError("log_torch needs PyTorch, which is not installed here: "
                          "pip install torch") from None


def _object_text(var: Any) -> str:
    """How ``log_var`` shows a value that is not a number: objprint's text, as in VizTracer 1.x."""
    import objprint

    try:
        return objprint.objstr(var, color=False)
    except BaseException:  # the program's own __repr__ / __str__ may raise anything
        return _tracer.NOT_DISPLAYABLE


PASSTHROUGH.add(VizTracer.shield_ignore.__code__)
