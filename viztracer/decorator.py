"""Decorators: ``@ignore_function``, ``@trace_and_save`` and ``@log_sparse``.

The wrappers live in viztracer's own directory, which the hook leaves out together with all
it calls. That is what ``@ignore_function`` wants; the wrappers that must not hide the
function they wrap are registered with ``register_passthrough``: left out themselves, with
what they call recorded. Such a wrapper calls nothing but viztracer's functions (left out)
and the wrapped function: any other call it made itself would be recorded.
"""
from __future__ import annotations

import collections
import functools
import itertools
import os
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _tracer
from .tracer import PASSTHROUGH, VizTracer, get_tracer, set_global_tracer

if TYPE_CHECKING:
    from concurrent.futures import Future

R = TypeVar("R")
F = Callable[..., R]


def inner_code(outer: Any, name: str) -> types.CodeType:
    """The code object of the function ``name`` defined inside ``outer`` (a function or code)."""
    code = getattr(outer, "__code__", outer)
    return next(c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == name)


def register_passthrough(code: types.CodeType) -> None:
    """Make ``code`` (a wrapper of ours around the program's functions) a passthrough for the
    tracers started from now on, and for the global tracer if it is tracing already: a module
    such as ``vizcounter`` may be imported only once the program runs under ``viztracer``."""
    PASSTHROUGH.add(code)
    running = get_tracer()
    if running is not None and running.enable:
        running._core.add_passthrough(code)


# -- @ignore_function -------------------------------------------------------------------------------

@overload
def ignore_function(method: F, tracer: VizTracer | None = None) -> F: ...
@overload
def ignore_function(method: None = None, tracer: VizTracer | None = None) -> Callable[[F], F]: ...


def ignore_function(method: F | None = None, tracer: VizTracer | None = None) -> F | Callable[[F], F]:
    """Leave a function, and everything it calls, out of the report (``@ignore_function`` or
    ``@ignore_function(tracer=t)``). It needs a tracer when called: the one given, or the
    global one; without either it raises NameError, as in VizTracer 1.x."""

    def inner(func: F) -> F:
        @functools.wraps(func)
        def ignore_wrapper(*args: Any, **kwargs: Any) -> Any:
            # The call goes through this wrapper, in viztracer's directory: the hook leaves
            # it out with everything below it, in this thread only.
            if tracer is None and get_tracer() is None:
                raise NameError("ignore_function needs a tracer: create a VizTracer first, "
                                "or pass one with @ignore_function(tracer=...)")
            return func(*args, **kwargs)

        return ignore_wrapper

    return inner(method) if method is not None else inner


# -- @trace_and_save --------------------------------------------------------------------------------

class _Writer:
    """The background thread that writes the reports of ``@trace_and_save``, one after the
    other. It is started when there is work and ends when there is none; it is not a daemon,
    so the interpreter waits for it at exit and no report is lost. (Not a ThreadPoolExecutor:
    those refuse work once the interpreter has begun to exit, and viztracer's command line runs
    the program's threading exit callbacks before the last reports are written.)"""

    def __init__(self) -> None:
        self._jobs: collections.deque = collections.deque()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        """Run ``fn(*args)`` in the writer's thread; the future holds its result."""
        from concurrent.futures import Future  # only _base: no exit callback registered

        future: Future = Future()
        with self._lock:
            self._jobs.append((future, fn, args))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="viztracer-save", daemon=False)
                _tracer.OWN_THREADS.add(self._thread)
                self._thread.start()
        return future

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._jobs:
                    self._thread = None
                    return
                future, fn, args = self._jobs.popleft()
            try:
                future.set_result(fn(*args))
            except BaseException as exc:    # handed to whoever waits on the future
                future.set_exception(exc)

    def forget(self) -> None:
        """In a forked child: the parent's thread and its jobs are not this process's."""
        self._jobs = collections.deque()
        self._lock = threading.Lock()
        self._thread = None


_writer = _Writer()
os.register_at_fork(after_in_child=_writer.forget)
_file_numbers = itertools.count()


def _saver() -> _Writer:
    """The writer of ``@trace_and_save``'s reports."""
    return _writer


def _unique_report_path(output_dir: str, func_name: str) -> str:
    """``result_<function>_<time>_<pid>_<n>.json``: the time in units of 10 µs as in VizTracer
    1.x; unique in the process by the counter, across processes by the pid."""
    while True:
        name = f"result_{func_name}_{int(100000 * time.time())}_{os.getpid()}_{next(_file_numbers)}.json"
        path = os.path.join(output_dir, name)
        if not os.path.exists(path):
            return path


class _TracerPool:
    """Idle tracers of one decorated function, so that a call does not wait for the previous
    call's report to be written (each tracer's ring is written from the background thread)."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self.register = bool(kwargs.get("register_global", True))
        self._kwargs = {"verbose": 0, **kwargs, "register_global": False}
        self._idle: list[VizTracer] = []
        self._lock = threading.Lock()

    def take(self) -> VizTracer:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return VizTracer(**self._kwargs)

    def give_back(self, tracer: VizTracer) -> None:
        tracer.clear()
        with self._lock:
            self._idle.append(tracer)


# The tracers of the @trace_and_save calls running now, in the order they started, and the
# global tracer from before the first of them. During its call, a call's tracer is the global
# one, as in VizTracer 1.x (where it stayed so after the call): get_tracer().log_event(...)
# inside the function goes to its report.
_registered: list[VizTracer] = []
_global_before: list[VizTracer | None] = [None]
_registered_lock = threading.Lock()


def _register(tracer: VizTracer) -> None:
    with _registered_lock:
        if not _registered:
            _global_before[0] = get_tracer()
        _registered.append(tracer)
        tracer.register_global()


def _unregister(tracer: VizTracer) -> None:
    with _registered_lock:
        _registered.remove(tracer)
        if get_tracer() is not tracer:
            return      # the program registered another tracer meanwhile: leave it
        set_global_tracer(_registered[-1] if _registered else _global_before[0])


class _Call:
    """One traced call of a ``@trace_and_save`` function."""

    __slots__ = ("tracer", "thread_profile")

    def __init__(self, tracer: VizTracer, thread_profile: Any) -> None:
        self.tracer = tracer
        self.thread_profile = thread_profile


def _begin_call(pool: _TracerPool) -> _Call | None:
    """Start a tracer of the pool for a call, or return None when this thread is traced
    already: a thread has one profile hook, and taking it would end the recording of whoever
    installed it (the global tracer, usually), which then records the call itself; a tracer
    on sys.monitoring (3.12+) records every thread, this call included. The pool's tracers
    trace the calling thread only, through the profile hook, whatever the interpreter."""
    if sys.getprofile() is not None or _tracer.monitoring_tracer_active():
        return None
    tracer = pool.take()
    tracer._per_thread_hook = True
    call = _Call(tracer, threading.getprofile())
    if pool.register:
        _register(tracer)
    tracer.start()
    return call


def _end_call(call: _Call, pool: _TracerPool, output_dir: str, func_name: str) -> None:
    """Stop the call's tracer and hand the report to the background writer."""
    tracer = call.tracer
    tracer.stop()
    if call.thread_profile is not None:
        # another tracer traced new threads before this call: it still does
        threading.setprofile(call.thread_profile)
    if pool.register:
        _unregister(tracer)
    try:
        os.makedirs(output_dir, exist_ok=True)
        path = _unique_report_path(output_dir, func_name)
    except BaseException:
        pool.give_back(tracer)
        raise
    _saver().submit(_save_and_release, tracer, path, pool)


def _save_and_release(tracer: VizTracer, path: str, pool: _TracerPool) -> None:
    try:
        tracer.save(path)
    except Exception as exc:    # nobody waits for this thread: say it, or the report is lost silently
        print(f"viztracer: @trace_and_save could not write {path}: {exc}", file=sys.stderr)
    finally:
        pool.give_back(tracer)


@overload
def trace_and_save(method: F, output_dir: str = "./", **viztracer_kwargs: Any) -> F: ...
@overload
def trace_and_save(method: None = None, output_dir: str = "./",
                   **viztracer_kwargs: Any) -> Callable[[F], F]: ...


def trace_and_save(method: F | None = None, output_dir: str = "./",
                   **viztracer_kwargs: Any) -> F | Callable[[F], F]:
    """Trace each call of the function with a tracer of its own (``viztracer_kwargs`` are its
    options) and save it to ``output_dir`` as ``result_<function>_<time>_<pid>_<n>.json``. The
    report is written by a background thread while the caller goes on; the interpreter waits
    for it at exit. During the call its tracer is the global one (``get_tracer()``). When the
    thread is traced already (by the global tracer, usually), that tracer records the call
    instead: a thread has one profile hook."""

    def inner(func: F) -> F:
        pool = _TracerPool(viztracer_kwargs)
        func_name = getattr(func, "__name__", "function")

        @functools.wraps(func)
        def trace_wrapper(*args: Any, **kwargs: Any) -> Any:
            # A passthrough: only viztracer's functions and func are called from here.
            call = _begin_call(pool)
            if call is None:
                return func(*args, **kwargs)
            try:
                return func(*args, **kwargs)
            finally:
                _end_call(call, pool, output_dir, func_name)

        return trace_wrapper

    return inner(method) if method is not None else inner


register_passthrough(inner_code(inner_code(trace_and_save, "inner"), "trace_wrapper"))


# -- @log_sparse ------------------------------------------------------------------------------------

# What a call of a @log_sparse function does (_sparse_mode)
_CALL = 0       # call the function: no sparse tracer, or this thread is traced already
_SLICE = 1      # record the call as one slice
_DEPTH = 2      # trace the call and what it calls, stack_depth levels deep


def _sparse_mode(tracer: VizTracer | None, stack_depth: int, has_code: bool) -> int:
    if tracer is None or not tracer.log_sparse or not tracer.enable:
        return _CALL    # recorded like any call when the tracer traces everything
    if tracer._core.thread_traced():
        return _CALL    # inside another @log_sparse(stack_depth=...): recorded by it, if deep enough
    if stack_depth > 0 and sys.getprofile() is None:
        return _DEPTH
    # no stack depth, or the thread has another profiler's hook, which must not be taken
    return _SLICE if has_code else _CALL


def _sparse_begin(tracer: VizTracer, stack_depth: int) -> None:
    tracer._core.sparse_begin(stack_depth)


def _sparse_end(tracer: VizTracer) -> None:
    tracer._core.sparse_end()


def _log_sparse_wrapper(func: F, stack_depth: int, dynamic_tracer_check: bool) -> F:
    if not isinstance(stack_depth, int) or stack_depth < 0:
        raise ValueError(f"log_sparse: stack_depth must be a non-negative integer, got {stack_depth!r}")
    fixed = None
    if not dynamic_tracer_check:
        fixed = get_tracer()
        if fixed is None or not fixed.log_sparse:
            return func     # nothing to do for this function, now or later: no wrapper at all
    code = getattr(func, "__code__", None)
    if code is None:
        stack_depth = max(stack_depth, 1)   # a builtin has no code object to name a slice

    @functools.wraps(func)
    def sparse_wrapper(*args: Any, **kwargs: Any) -> Any:
        # A passthrough: only viztracer's functions and func are called from here.
        tracer = get_tracer() if dynamic_tracer_check else fixed
        mode = _sparse_mode(tracer, stack_depth, code is not None)
        if mode == _CALL:
            return func(*args, **kwargs)
        if mode == _DEPTH:
            _sparse_begin(tracer, stack_depth)
            try:
                return func(*args, **kwargs)
            finally:
                _sparse_end(tracer)
        start = _tracer.now_ticks()
        try:
            return func(*args, **kwargs)
        finally:
            tracer._core.add_call(code, start, _tracer.now_ticks())

    return sparse_wrapper


# In a tracer that traces everything, a decorated function is recorded as if undecorated.
register_passthrough(inner_code(_log_sparse_wrapper, "sparse_wrapper"))


@overload
def log_sparse(func: F, stack_depth: int = 0, dynamic_tracer_check: bool = False) -> F: ...
@overload
def log_sparse(func: None = None, stack_depth: int = 0,
               dynamic_tracer_check: bool = False) -> Callable[[F], F]: ...


def log_sparse(func: F | None = None, stack_depth: int = 0,
               dynamic_tracer_check: bool = False) -> F | Callable[[F], F]:
    """With a tracer in ``log_sparse`` mode, record only the functions decorated with this
    (and ``log_event`` blocks): each call as one slice, or with ``stack_depth=N`` the call and
    what it calls, N levels in all (nested ``stack_depth`` decorators: the outermost only).
    Without such a tracer when the function is decorated, it is returned unchanged;
    ``dynamic_tracer_check=True`` looks for the tracer at each call instead (for tracers
    created later, e.g. in a ``with`` block). With a tracer that traces everything, a
    decorated function is recorded exactly as if undecorated."""
    if func is None:
        return functools.partial(_log_sparse_wrapper, stack_depth=stack_depth,
                                 dynamic_tracer_check=dynamic_tracer_check)
    return _log_sparse_wrapper(func, stack_depth, dynamic_tracer_check)
