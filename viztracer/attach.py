"""Remote attach, the traced process's side: ``VizTracer.install()`` and what
``viztracer --attach`` and ``--uninstall`` run inside the process.

The ``viztracer`` command (``viztracer.attach_command``) and the process never share memory;
the process answers through small JSON files, written whole (a temporary file renamed), that
the command waits for:

- ``install()`` keeps a *record* at ``record_path(pid)``: the tracer is installed, then tracing,
  then saved (with the report's path) or failed. SIGUSR1 and SIGUSR2 carry no data, so each
  write bumps ``seq``, and the command waits for the number after the one it saw.
- code run by ``--attach`` / ``--uninstall`` is given the path of its *reply*, one per request.

This module is imported in the traced process when it attaches: it imports only the standard
library at import time, and the tracer when it needs one.
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import stat
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Any

# -- the files the process answers in ----------------------------------------------------------


def record_dir(uid: int | None = None) -> str:
    """Where processes of user ``uid`` (this one's by default) keep their install records.

    One folder per user, so that a process only ever writes into its own user's folder."""
    return os.path.join(tempfile.gettempdir(), f"viztracer-attach-{os.getuid() if uid is None else uid}")


def record_path(pid: int, uid: int | None = None) -> str:
    """The install record of process ``pid`` (of user ``uid``)."""
    return os.path.join(record_dir(uid), f"{pid}.json")


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` whole: a reader sees the old file or the new one, never half."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def process_start_time(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot), to tell it from a later process
    with the same pid; None where /proc can't say."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # the name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])   # field 22 of proc(5)
    except (IndexError, ValueError):
        return None


def _say(text: str) -> str:
    """One line for the command to print: what happened in this process."""
    return text.replace("\n", " ").strip()


# -- VizTracer.install(): start on SIGUSR1, stop and save on SIGUSR2 -----------------------------

START_SIGNAL = getattr(signal, "SIGUSR1", None)
STOP_SIGNAL = getattr(signal, "SIGUSR2", None)


@dataclass
class _Installed:
    """The tracer that ``install()`` put behind SIGUSR1 / SIGUSR2, and the handlers it replaced."""

    tracer: Any
    previous: dict[int, Any]
    seq: int = 0
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        """This process's record (a forked child, which keeps the handlers, has its own)."""
        return record_path(os.getpid())

    def write(self, state: str, **fields: Any) -> None:
        """Tell the command what happened; a record that can't be written is not an error of
        the program's (the command then says it can't tell where the report went)."""
        self.seq += 1
        self.fields = {"pid": os.getpid(), "start_time": process_start_time(os.getpid()),
                       "seq": self.seq, "state": state,
                       "output_file": os.path.abspath(self.tracer.output_file), **fields}
        try:
            folder = os.path.dirname(self.path)
            os.makedirs(folder, mode=0o700, exist_ok=True)
            info = os.lstat(folder)
            # in a shared /tmp: only into a real folder of this user's, never another's
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
                write_json(self.path, self.fields)
        except OSError:
            pass

    def remove(self) -> None:
        try:
            os.remove(self.path)
        except OSError:
            pass


_installed: _Installed | None = None


def install(tracer: Any) -> None:
    """``tracer.install()``: SIGUSR1 starts ``tracer``, SIGUSR2 stops it and saves its report
    to its ``output_file`` (``viztracer --attach_installed PID`` sends them)."""
    global _installed
    if START_SIGNAL is None or STOP_SIGNAL is None:
        raise RuntimeError("VizTracer.install() needs SIGUSR1 and SIGUSR2, which this platform "
                           "does not have; trace the program with the viztracer command instead")
    if threading.current_thread() is not threading.main_thread():
        raise RuntimeError("VizTracer.install() sets signal handlers, which only the main "
                           "thread can do; call it from the main thread")
    if _installed is not None:
        # installed again (maybe another tracer): the handlers to give back stay the first ones
        previous = _installed.previous
        signal.signal(START_SIGNAL, _on_start_signal)
        signal.signal(STOP_SIGNAL, _on_stop_signal)
    else:
        previous = {START_SIGNAL: signal.signal(START_SIGNAL, _on_start_signal),
                    STOP_SIGNAL: signal.signal(STOP_SIGNAL, _on_stop_signal)}
    first = _installed is None
    _installed = _Installed(tracer, previous)
    _installed.write("installed")
    if first:
        atexit.register(_remove_record)    # no records of ended processes left in /tmp


def _remove_record() -> None:
    if _installed is not None and _installed.fields.get("pid") == os.getpid():
        _installed.remove()


def _on_start_signal(signum: int, frame: object) -> None:
    installed = _installed
    if installed is None:
        return
    tracer = installed.tracer
    if tracer.enable:
        installed.write("error", message="it is tracing already (started by the program or an "
                                         "earlier attach); nothing was changed")
        return
    try:
        tracer.start()
    except Exception as exc:    # the program must go on whatever happens here
        installed.write("error", message=_say(f"its tracer did not start: {exc}"))
        return
    installed.write("tracing")


def _on_stop_signal(signum: int, frame: object) -> None:
    installed = _installed
    if installed is None:
        return
    tracer = installed.tracer
    if not tracer.enable:
        installed.write("error", message="it was not tracing (no start signal was received), "
                                         "so no report was saved")
        return
    try:
        tracer.stop()
        path = tracer.save()
        # each attach is a report of its own: the next one starts from an empty ring
        tracer.clear()
    except Exception as exc:
        installed.write("error", message=_say(f"it could not save the report: {exc}"))
        return
    installed.write("saved", report=path)


# -- what --attach and --uninstall run here ------------------------------------------------------

# --attach's session ends without running code in the process again: code run there while
# tracing would be recorded (it is not ours until it reaches this module), so a thread of ours
# watches the command's folder instead, and stops and saves when the command asks (a file
# named ``stop``) or when the command is gone (killed: what was traced is saved all the same).
WATCH_INTERVAL = 0.05


@dataclass
class _Session:
    """A tracer started by ``--attach``: where its report goes, whether attach made it, and
    the command's folder and pid."""

    tracer: Any
    created: bool
    output_file: str
    folder: str
    command_pid: int


_session: _Session | None = None
_session_lock = threading.Lock()


def remote_call(reply: str, action: str, options: dict[str, Any]) -> None:
    """The entry point of the code the command injects: do ``action`` and write the reply.

    Never raises: it runs between two instructions of the program's main thread."""
    try:
        answer = _ACTIONS[action](options)
    except Exception as exc:
        answer = {"state": "error", "message": _say(f"{type(exc).__name__}: {exc}")}
    try:
        write_json(reply, answer)
    except OSError:
        # the command gave up waiting and removed its folder: nobody will stop this tracer
        if action == "attach" and answer.get("state") == "tracing":
            with _session_lock:
                _drop_session()


def _attach(options: dict[str, Any]) -> dict[str, Any]:
    global _session
    from ._tracer import OWN_THREADS
    from .tracer import VizTracer, get_tracer

    with _session_lock:
        tracer = get_tracer()
        if tracer is not None and tracer.enable:
            return {"state": "busy"}
        created = tracer is None
        if tracer is None:
            tracer = VizTracer(**options["tracer"])
        session = _session = _Session(tracer, created, options["output_file"],
                                      options["folder"], options["command_pid"])
        # Everything before start(): from here on, what this frame calls is recorded, unless
        # it is a function of ours (this frame began before tracing, so it opened no region).
        watcher = threading.Thread(target=_watch, args=(session,), name="viztracer-attach",
                                   daemon=True)
        OWN_THREADS.add(watcher)
        watcher.start()
    answer = {"state": "tracing", "created": created}
    try:
        tracer.start()
    except Exception:
        with _session_lock:
            _drop_session()
        raise
    return answer


def _command_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:     # another user's (root's): it exists
        pass
    return True


def _watch(session: _Session) -> None:
    stop = os.path.join(session.folder, "stop")
    while not os.path.exists(stop) and _command_alive(session.command_pid) and _session is session:
        time.sleep(WATCH_INTERVAL)
    with _session_lock:
        if _session is not session:
            answer = {"state": "error", "message": "viztracer --uninstall stopped its tracer "
                                                   "meanwhile, so no report was saved"}
        else:
            answer = _save_session(session)
    try:
        write_json(os.path.join(session.folder, "saved.json"), answer)
    except OSError:
        pass


def _save_session(session: _Session) -> dict[str, Any]:
    try:
        session.tracer.stop()
        return {"state": "saved", "report": session.tracer.save(session.output_file)}
    except Exception as exc:
        return {"state": "error", "message": _say(f"it could not save the report: {exc}")}
    finally:
        _drop_session()


def _drop_session() -> None:
    """Forget the attach session (the caller holds ``_session_lock``); a tracer that attach
    made goes, with its ring's memory."""
    global _session
    from .tracer import get_tracer, set_global_tracer

    session, _session = _session, None
    if session is None:
        return
    session.tracer.stop()
    session.tracer.clear()
    if session.created:
        if get_tracer() is session.tracer:
            set_global_tracer(None)
        session.tracer.cleanup()


def _uninstall(options: dict[str, Any]) -> dict[str, Any]:
    """Stop whatever viztracer does in this process, without saving, and take it out: the
    tracer attach started, install()'s signal handlers, the global tracer (as 1.x does)."""
    global _installed
    from .tracer import get_tracer, set_global_tracer

    removed = []
    with _session_lock:
        if _session is not None:
            _drop_session()
            removed.append("the tracer --attach started (its recording dropped)")
    if _installed is not None:
        installed, _installed = _installed, None
        for signum, handler in installed.previous.items():
            if signal.getsignal(signum) in (_on_start_signal, _on_stop_signal):
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        installed.tracer.stop()
        installed.tracer.clear()
        installed.remove()
        removed.append("the SIGUSR1/SIGUSR2 handlers of VizTracer.install()")
    tracer = get_tracer()
    if tracer is not None:
        if tracer.enable:
            tracer.stop()
            tracer.clear()
            removed.append("a running tracer (stopped, its recording dropped)")
        set_global_tracer(None)
        removed.append("the global tracer")
    return {"state": "uninstalled", "removed": removed}


_ACTIONS = {"attach": _attach, "uninstall": _uninstall}

