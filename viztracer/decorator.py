"""Decorators: ``@ignore_function``, ``@trace_and_save`` and ``@log_sparse``.

The wrappers live in viztracer's own directory, which the hook leaves out together with all
it calls. That is what ``@ignore_function`` wants; the wrappers that must not hide the
function they wrap register their code objects in ``tracer.PASSTHROUGH``: left out
themselves, with what they call recorded.
"""
from __future__ import annotations

import functools
import itertools
import os
import threading
import time
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from . import _tracer
from .tracer import PASSTHROUGH, VizTracer, get_tracer

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

R = TypeVar("R")
F = Callable[..., R]


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

_save_pool: ThreadPoolExecutor | None = None
_save_pool_lock = threading.Lock()
_file_numbers = itertools.count()


def _saver() -> ThreadPoolExecutor:
    """One background thread that writes the reports of ``@trace_and_save`` in turn; the
    interpreter waits for it at exit, so no report is lost."""
    global _save_pool
    # imported here: importing concurrent.futures registers an exit callback in threading
    from concurrent.futures import ThreadPoolExecutor

    with _save_pool_lock:
        if _save_pool is None:
            _save_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="viztracer-save")
        return _save_pool


def _unique_report_path(output_dir: str, func_name: str) -> str:
    """``result_<function>_<microseconds>_<pid>_<n>.json``: unique in the process by the counter,
    across processes by the pid, across runs by the time."""
    while True:
        name = f"result_{func_name}_{int(time.time() * 1e6)}_{os.getpid()}_{next(_file_numbers)}.json"
        path = os.path.join(output_dir, name)
        if not os.path.exists(path):
            return path


class _TracerPool:
    """Idle tracers of one decorated function, so that a call does not wait for the previous
    call's report to be written (each tracer's ring is written from the background thread)."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
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


def _save_and_release(tracer: VizTracer, path: str, pool: _TracerPool) -> None:
    try:
        tracer.save(path, verbose=0)
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
    report is written by a background thread while the caller goes on. While another tracer
    traces the program, the call is recorded by that one instead (a thread has one hook)."""

    def inner(func: F) -> F:
        pool = _TracerPool(viztracer_kwargs)

        @functools.wraps(func)
        def trace_wrapper(*args: Any, **kwargs: Any) -> Any:
            running = get_tracer()
            if running is not None and running.enable and not running.log_sparse:
                # One profile hook per thread: a second tracer would end this one's recording.
                # The call goes into the running tracer's report instead.
                return running.shield_ignore(func, *args, **kwargs)
            tracer = pool.take()
            tracer.start()
            try:
                return func(*args, **kwargs)
            finally:
                tracer.stop()
                os.makedirs(output_dir, exist_ok=True)
                path = _unique_report_path(output_dir, getattr(func, "__name__", "function"))
                _saver().submit(_save_and_release, tracer, path, pool)

        return trace_wrapper

    return inner(method) if method is not None else inner


# -- @log_sparse ------------------------------------------------------------------------------------

def _sparse_tracer(tracer: VizTracer | None) -> VizTracer | None:
    return tracer if tracer is not None and tracer.log_sparse and tracer.enable else None


def _log_sparse_wrapper(func: F, stack_depth: int, dynamic_tracer_check: bool) -> F:
    if not isinstance(stack_depth, int) or stack_depth < 0:
        raise ValueError(f"log_sparse: stack_depth must be a non-negative integer, got {stack_depth!r}")
    fixed = None
    if not dynamic_tracer_check:
        fixed = get_tracer()
        if fixed is None or not fixed.log_sparse:
            return func     # nothing to do for this function, now or later: no wrapper at all
    code = getattr(func, "__code__", None)

    @functools.wraps(func)
    def sparse_wrapper(*args: Any, **kwargs: Any) -> Any:
        tracer = _sparse_tracer(get_tracer() if dynamic_tracer_check else fixed)
        if tracer is None:
            return func(*args, **kwargs)    # recorded like any call when the tracer traces all
        core = tracer._core
        if stack_depth > 0:
            if not core.sparse_begin(stack_depth):
                return func(*args, **kwargs)    # inside another @log_sparse(stack_depth=...)
            try:
                return func(*args, **kwargs)
            finally:
                core.sparse_end()
        if code is None or core.thread_traced():
            return func(*args, **kwargs)
        start = _tracer.now_ticks()
        try:
            return func(*args, **kwargs)
        finally:
            core.add_call(code, start, _tracer.now_ticks())

    return sparse_wrapper


def inner_code(outer: Any, name: str) -> types.CodeType:
    """The code object of the function ``name`` defined inside ``outer`` (a function or code)."""
    code = getattr(outer, "__code__", outer)
    return next(c for c in code.co_consts if isinstance(c, types.CodeType) and c.co_name == name)


# In a tracer that traces everything, a decorated function is recorded as if undecorated.
PASSTHROUGH.add(inner_code(_log_sparse_wrapper, "sparse_wrapper"))


@overload
def log_sparse(func: F, stack_depth: int = 0, dynamic_tracer_check: bool = False) -> F: ...
@overload
def log_sparse(func: None = None, stack_depth: int = 0,
               dynamic_tracer_check: bool = False) -> Callable[[F], F]: ...


def log_sparse(func: F | None = None, stack_depth: int = 0,
               dynamic_tracer_check: bool = False) -> F | Callable[[F], F]:
    """With a tracer in ``log_sparse`` mode, record only the functions decorated with this
    (and ``log_event`` blocks): each call as one slice, or with ``stack_depth=N`` the call and
    what it calls, N levels deep. Without such a tracer when the function is decorated, it is
    returned unchanged; ``dynamic_tracer_check=True`` looks for the tracer at each call
    instead (for tracers created later, e.g. in a ``with`` block)."""
    if func is None:
        return functools.partial(_log_sparse_wrapper, stack_depth=stack_depth,
                                 dynamic_tracer_check=dynamic_tracer_check)
    return _log_sparse_wrapper(func, stack_depth, dynamic_tracer_check)
