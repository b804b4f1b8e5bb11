"""``viztracer --attach PID``, ``--attach_installed PID`` and ``--uninstall PID``: trace a
Python process that is running already (Linux).

The process does the tracing and writes the report; this command starts and stops it, waits
for its answer (see ``viztracer.attach``) and says where the report went. Whatever fails, the
process is left running as it was, and the command says so on one line with what to do.

- ``--attach_installed``: the program called ``tracer.install()``; SIGUSR1 starts its tracer,
  SIGUSR2 stops it and saves. Signals kill a process that does not handle them, so the
  command first checks in /proc that the process catches both.
- ``--attach``: code is run in the process (``viztracer.inject``) that makes a tracer from
  this command line's options, or uses the one the program registered, and starts it; more
  code stops it and saves the report to ``-o``.
- ``--uninstall``: code that stops any tracer there without saving and removes what
  ``install()`` and ``--attach`` left.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import attach, inject
from .errors import AttachError
from .report import open_hint

PROG = "viztracer"
# How long the process may take to run the code or the signal handler that starts tracing (its
# main thread runs it between two instructions: at once, unless it is inside one long call).
START_WAIT = 5.0
# How long saving may take: the process writes the whole ring to the report.
SAVE_WAIT = 120.0
POLL = 0.02


@dataclass
class AttachJob:
    """A checked ``--attach`` / ``--attach_installed`` / ``--uninstall`` command line."""

    mode: str                   # "attach", "attach_installed" or "uninstall"
    pid: int | None
    seconds: float | None       # trace this long; None: until Ctrl+C
    quiet: bool
    open: bool = False                              # --open: show the report once saved
    warnings: list[str] = field(default_factory=list)
    tracer_kwargs: dict[str, Any] | None = None     # --attach: the options of the tracer to make
    output_path: str | None = None                  # --attach: where the process saves


def run(job: AttachJob) -> tuple[int, str | None]:
    """Do the job; return the exit status and the report's path (None when there is none)."""
    try:
        if job.mode == "attach_installed":
            return 0, _attach_installed(job)
        if job.mode == "attach":
            return 0, _attach(job)
        _uninstall(job)
        return 0, None
    except AttachError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1, None


def _say(job: AttachJob, *lines: str) -> None:
    if not job.quiet:
        for line in lines:
            print(line, flush=True)


def _saved_answer(job: AttachJob, pid: int, saved: dict[str, Any] | None, output: str | None) -> str:
    """How both modes end: the process's answer after it saved (None: not within SAVE_WAIT s,
    while saving to ``output``) checked and told; returns the report's path."""
    if saved is None:
        raise AttachError(f"process {pid} has not saved its report within {SAVE_WAIT:g} s; "
                          f"it is still at it, to {output}")
    _check_answer(pid, saved)
    path = saved["report"]
    _say(job, f"Report saved to {path} (written by process {pid})", open_hint(shlex.quote(path)))
    return path


# -- --attach_installed ----------------------------------------------------------------------

def _attach_installed(job: AttachJob) -> str | None:
    flag = "--attach_installed"
    pid = inject.check_pid(job.pid, flag)
    inject.check_python(pid)
    caught = inject.caught_signals(pid)
    needed = {attach.START_SIGNAL, attach.STOP_SIGNAL}
    if caught is not None and not needed <= caught:
        raise AttachError(
            f"process {pid} ({inject.process_name(pid)}) has not called VizTracer.install(): "
            "it does not handle SIGUSR1 and SIGUSR2, which would kill it, so nothing was sent; "
            f"call tracer.install() in the program, or use viztracer --attach {pid}")
    record = _read_record(pid)
    _signal(pid, attach.START_SIGNAL)
    if record is None:
        # A process that handles both signals but left no record: another viztracer (1.x), or
        # a temporary directory of its own. It works as in 1.x, without knowing where it saves.
        _say(job, f"Signalled process {pid} to start tracing (it left no record in "
                  f"{attach.record_dir(inject.process_uid(pid))}, so viztracer can't tell "
                  "whether it started)")
        _trace_for(job, pid)
        _signal(pid, attach.STOP_SIGNAL)
        _say(job, f"Signalled process {pid} to stop and save: it saves the report where its "
                  "VizTracer's output_file says")
        return None
    started = _wait_record(pid, record["seq"], START_WAIT)
    if started is None:
        _signal(pid, attach.STOP_SIGNAL)    # if it starts late, it stops and saves right after
        raise AttachError(f"process {pid} did not start tracing within {START_WAIT:g} s of SIGUSR1 "
                          "(its main thread is inside one long call?); SIGUSR2 was sent to stop it")
    _check_answer(pid, started)
    _say(job, _tracing_line(job, pid))
    _trace_for(job, pid)
    seen = started["seq"]
    _signal(pid, attach.STOP_SIGNAL)
    return _saved_answer(job, pid, _wait_record(pid, seen, SAVE_WAIT), started.get("output_file"))


def _read_record(pid: int) -> dict[str, Any] | None:
    """The install record of this very process (not of an earlier one with its pid)."""
    try:
        with open(attach.record_path(pid, inject.process_uid(pid)), encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("start_time") != attach.process_start_time(pid):
        return None
    return record


def _wait_record(pid: int, seen: int, timeout: float) -> dict[str, Any] | None:
    """The record once the process has written past ``seen``; None after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = _read_record(pid)
        if record is not None and record.get("seq", 0) > seen:
            return record
        _check_alive(pid)
        time.sleep(POLL)
    return None


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        raise AttachError(f"process {pid} has ended") from None
    except PermissionError:
        raise AttachError(f"not permitted to signal process {pid} (another user's): run viztracer "
                          "as that user or as root") from None


# -- --attach ------------------------------------------------------------------------------------

def _attach(job: AttachJob) -> str:
    flag = "--attach"
    pid = inject.check_pid(job.pid, flag)
    version = inject.check_python(pid)
    assert job.tracer_kwargs is not None and job.output_path is not None
    with _reply_folder(pid) as folder:
        options = {"tracer": job.tracer_kwargs, "output_file": job.output_path,
                   "folder": folder, "command_pid": os.getpid()}
        started = _call(pid, version, folder, "attach", options)
        if started is None:
            raise AttachError(
                f"process {pid} did not run the attach code within {START_WAIT:g} s: its main "
                "thread is inside one long call (a join, a sleep, a read) and runs Python code "
                "only after it returns; nothing was started. Try again, or call tracer.install() "
                f"in the program and use viztracer --attach_installed {pid}")
        _check_answer(pid, started)
        _say(job, _tracing_line(job, pid))
        saved_json = os.path.join(folder, "saved.json")
        _trace_for(job, pid, ended=saved_json)
        # the process watches the folder (no code is run there while it traces, see attach.py)
        with open(os.path.join(folder, "stop"), "w"):
            pass
        return _saved_answer(job, pid, _wait_file(pid, saved_json, SAVE_WAIT), job.output_path)


# -- --uninstall ---------------------------------------------------------------------------------

def _uninstall(job: AttachJob) -> None:
    pid = inject.check_pid(job.pid, "--uninstall")
    version = inject.check_python(pid)
    with _reply_folder(pid) as folder:
        answer = _call(pid, version, folder, "uninstall", {})
    if answer is None:
        raise AttachError(f"process {pid} did not run the uninstall code within {START_WAIT:g} s "
                          "(its main thread is inside one long call?); nothing was changed")
    _check_answer(pid, answer)
    removed = answer.get("removed") or []
    _say(job, f"Removed from process {pid}: {'; '.join(removed)}" if removed
         else f"Process {pid} had nothing of viztracer to remove")


# -- the code run in the process, and its answer --------------------------------------------------

# Runs in the process with nothing of ours imported: the answer when viztracer can't be
# imported comes from here. Never raises: a pending call that fails would raise in the
# program's main thread.
_BOOTSTRAP = """\
import json, os, sys, time
reply = {reply!r}
def answer(data):
    with open(reply + '.tmp', 'w') as f:
        json.dump(data, f)
    os.replace(reply + '.tmp', reply)
def run():
    # the command gave up waiting (and removed the folder): do nothing
    if time.time() > {deadline!r} or not os.path.isdir(os.path.dirname(reply)):
        return
    if {action!r} == 'uninstall' and 'viztracer' not in sys.modules:
        return answer({{'state': 'uninstalled', 'removed': []}})  # never imported: nothing to undo
    try:
        from viztracer.attach import remote_call
    except Exception as exc:
        found = sys.modules.get('viztracer')
        return answer({{'state': 'no-viztracer', 'message': f'{{type(exc).__name__}}: {{exc}}',
                       'executable': sys.executable,
                       'version': getattr(found, '__version__', None),
                       'file': getattr(found, '__file__', None)}})
    remote_call(reply, {action!r}, json.loads({options!r}))
try:
    run()
except BaseException:
    pass
"""


@contextmanager
def _reply_folder(pid: int) -> Iterator[str]:
    """A new folder for the process's answers, that the process may write into."""
    folder = tempfile.mkdtemp(prefix="viztracer-attach-")
    try:
        uid = inject.process_uid(pid)
        if uid is not None and uid != os.geteuid() and os.geteuid() == 0:
            os.chown(folder, uid, -1)   # root attaching to another user's process
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _call(pid: int, version: tuple[int, ...], folder: str, action: str,
          options: dict[str, Any]) -> dict[str, Any] | None:
    """Run ``action`` in the process; its answer, or None when it gave none in time (the code
    then does nothing if it runs later)."""
    reply = os.path.join(folder, f"{action}.json")
    code = _BOOTSTRAP.format(reply=reply, action=action, options=json.dumps(options),
                             deadline=time.time() + START_WAIT)
    inject.run_code(pid, code, os.path.join(folder, f"{action}.py"), version)
    return _wait_file(pid, reply, START_WAIT + 1.0)


def _wait_file(pid: int, path: str, timeout: float) -> dict[str, Any] | None:
    """The JSON the process wrote to ``path``; None after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path, encoding="utf-8") as f:
                return json.load(f)
        except (OSError, ValueError):
            pass
        _check_alive(pid)
        time.sleep(POLL)
    return None


def _check_answer(pid: int, answer: dict[str, Any]) -> None:
    """AttachError for an answer that says the process could not do it."""
    state = answer.get("state")
    if state in ("tracing", "saved", "uninstalled"):
        return
    if state == "no-viztracer":
        executable = answer.get("executable") or "its python"
        if answer.get("version"):
            raise AttachError(
                f"process {pid} imports viztracer {answer['version']} from {answer.get('file')}, "
                f"which can't be attached to by this one ({answer.get('message')}); install this "
                f"viztracer there: {shlex.quote(executable)} -m pip install viztracer")
        raise AttachError(
            f"process {pid} can't import viztracer ({answer.get('message')}): install it for the "
            f"Python that runs it ({shlex.quote(executable)} -m pip install viztracer), "
            "then attach again; nothing was started")
    if state == "busy":
        raise AttachError(f"process {pid} is tracing with its own VizTracer already; nothing was "
                          f"changed (let it finish, or stop it with viztracer --uninstall {pid})")
    raise AttachError(f"process {pid}: {answer.get('message', 'no reason given')}")


# -- while it traces -----------------------------------------------------------------------------

def _tracing_line(job: AttachJob, pid: int) -> str:
    if job.seconds is None:
        return f"Tracing process {pid}; press Ctrl+C to stop and save the report"
    return f"Tracing process {pid} for {job.seconds:g} s (Ctrl+C to stop and save sooner)"


def _check_alive(pid: int) -> None:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError(f"process {pid} ended while being traced; no report was saved") from None
    except PermissionError:
        pass


def _trace_for(job: AttachJob, pid: int, ended: str | None = None) -> None:
    """Wait ``job.seconds``, or until Ctrl+C (SIGTERM and SIGHUP stop the wait too: the
    process is told to stop either way, so that it does not trace on after this command), or
    until the file ``ended`` appears (the process stopped by itself)."""
    end = None if job.seconds is None else time.monotonic() + job.seconds
    with _interrupt_on(signal.SIGTERM, signal.SIGHUP):
        try:
            while end is None or time.monotonic() < end:
                if ended is not None and os.path.exists(ended):
                    return
                _check_alive(pid)
                time.sleep(POLL if end is None else min(0.1, max(0.0, end - time.monotonic())))
        except KeyboardInterrupt:
            pass


@contextmanager
def _interrupt_on(*signums: int) -> Iterator[None]:
    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt
    previous = {}
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, interrupt)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
