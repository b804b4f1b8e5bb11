"""``VizTracer.fork_save``: a forked child writes what the tracer has recorded so far, while the
parent goes on tracing undisturbed.

A forked child is a copy of its parent: its ring holds the parent's entries as of the fork, so
writing them out costs the parent only the fork. Every other fork drops those entries and
traces the child on its own (``VizTracer._after_fork_in_child``, ``Tracer.forked``) and, under
the ``viztracer`` command, makes the child one of the command's processes
(``children._after_fork_in_child``). The child of a fork_save is told apart in those hooks by
:func:`in_saver`: there the tracer is stopped without a new entry, the command leaves the child
alone, and the child saves the ring under the parent's pid, then ends.
"""
from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import multiprocessing

    from .tracer import VizTracer

# thread ident -> pid, for each fork_save under way in this process. Only the forking thread
# goes on in a forked child, under the same ident: a fork by another thread meanwhile is an
# ordinary one. The child keeps its copy, so it still knows what it is after the fork hooks.
_forking: dict[int, int] = {}


def in_saver() -> bool:
    """Whether this process is the child of a fork_save (from its fork hooks on)."""
    return _forking.get(threading.get_ident(), os.getpid()) != os.getpid()


def fork_save(tracer: VizTracer, output_file: str | None) -> multiprocessing.Process:
    """Start a forked child that saves ``tracer``'s report, as ``save`` would now, and return it."""
    import multiprocessing  # here: most programs never need it

    method = multiprocessing.get_start_method()
    if method != "fork":
        raise RuntimeError(f"fork_save forks the process: it needs multiprocessing's 'fork' start "
                           f"method, and this program uses {method!r}")
    if tracer.stream:
        raise RuntimeError("fork_save writes out the tracer's in-memory ring; with stream=True the "
                           "report is written while the program runs: call save() at the end instead")
    process = multiprocessing.Process(target=_save_in_child, args=(tracer, output_file, os.getpid()),
                                      daemon=False)
    ident = threading.get_ident()
    _forking[ident] = os.getpid()
    try:
        process.start()
    finally:
        del _forking[ident]
    return process


def _save_in_child(tracer: VizTracer, output_file: str | None, parent_pid: int) -> None:
    """The child's work: the tracer was stopped by the fork hook; the report is the parent's."""
    tracer._report_pid = parent_pid
    tracer.save(output_file)
