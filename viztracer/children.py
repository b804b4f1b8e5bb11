"""Child processes of a program run by the ``viztracer`` command, each traced into one report.

How a child gets traced:

- **New interpreters** (``subprocess`` / ``os.exec*`` / ``os.spawn*`` of Python, multiprocessing's
  spawn and forkserver, loky, shebang scripts, children of children): the command puts
  ``_boot/`` first on ``PYTHONPATH`` and names a folder in ``VIZTRACER_CHILDREN``. Every Python
  started with that environment imports ``_boot/sitecustomize.py`` (then the one it shadows),
  which calls :func:`start_in_new_interpreter`: a tracer with the parent's options, started
  before the program. A Python without viztracer, ``-I``, ``-E`` or ``-S`` is left alone, as
  is every non-Python child.
- **Forks** (``os.fork``, multiprocessing's fork, the forkserver's children): the tracer goes on
  in the child (``VizTracer._after_fork_in_child`` drops the parent's entries), and
  :func:`_after_fork_in_child` sends its report to the folder. Not the child of
  ``VizTracer.fork_save`` (``viztracer.forksave``): it saves the parent's entries to a file of
  its own and ends, untraced and not in the command's report (the command joins it as it
  joins every non-daemonic multiprocessing child at the program's end, as python would).

The folder, one file name per child (``result_<pid>.<ext>``, VizTracer 1.x's names):

- ``options.json``: the tracer options of every child, and the report format (``ext``);
- ``result_<pid>.<ext>.viztmp``: child ``pid`` is running (its content: the name it has so far);
- ``result_<pid>.<ext>``: its report, the parent's format; whole once the ``.viztmp`` is gone;
- ``result_<pid>.<ext>.done``: its final name, written before the ``.viztmp`` goes.

A child saves at its normal exit, at ``os._exit`` and at SIGTERM (then dies of SIGTERM, as it
would have). A child killed otherwise leaves its ``.viztmp``: with ``--stream`` the report
holds what it wrote (cut short), else nothing (lost). After the program, the parent waits for
the children still running, then appends every child's report to its own
(``report/merge.py``) and says which were lost or cut short.
"""
from __future__ import annotations

import _thread
import atexit
import glob
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import forksave

if TYPE_CHECKING:
    from .report.merge import ChildReport
    from .tracer import VizTracer

FOLDER_VARIABLE = "VIZTRACER_CHILDREN"
BOOT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")
OPTIONS = "options.json"
RUNNING, DONE = ".viztmp", ".done"
WAIT_NOTICE = 1.0       # seconds of waiting for children before saying so
# A child the program started just before it ended has to get as far as saying it runs (a new
# interpreter's start, the fork hooks): until then the parent can't know it is traced. It is
# waited for while it has used less than STARTING_CPU seconds of CPU (a start takes a tenth of
# that: one that used more is not going to say so), for at most STARTING_GRACE seconds: CPU
# time, because on a loaded machine a start can take seconds of wall time.
STARTING_CPU = 1.0
STARTING_GRACE = 10.0
POLL = 0.01


def report_extension(report_path: str) -> str:
    """The format of the children's reports: the parent's when it can be appended to, else JSON."""
    return ".pftrace" if report_path.lower().endswith((".pftrace", ".perfetto-trace")) else ".json"


def child_report_template(folder: str, report_path: str) -> str:
    """The output file a child's tracer is given, with ``pid_suffix``: ``<folder>/result.<ext>``."""
    return os.path.join(folder, "result" + report_extension(report_path))


def _child_path(folder: str, ext: str, pid: int) -> str:
    return os.path.join(folder, f"result_{pid}{ext}")


# -- ending a process: os._exit and SIGTERM save the report too --------------------------------------
#
# SIGTERM is not caught with a Python handler: one that arrives just before the main thread
# blocks in C (a pool worker taking the lock of its task queue) waits for a bytecode that never
# comes, and the pool that terminated the worker waits for it forever. Instead the main thread
# blocks SIGTERM (threads it starts inherit that), and a thread of ours takes it with sigwait:
# it saves the report, then lets the signal end the process as it would have. A handler the
# program installs later still gets the signal, in the main thread (_thread.interrupt_main).

_exit_callbacks: list[tuple[int, Callable[[], None]]] = []     # (pid that registered it, callback)
_real_exit = os._exit
_ending_in = 0      # the pid of this process once it saves on its way out
_watching_in = 0    # the pid of this process once a thread of ours waits for its SIGTERM
# Held while the report is saved on the way out. The SIGTERM thread saves while the main thread
# runs on; a main thread that then ends (a pool worker whose queue closed, os._exit) must wait
# for that save, not find the callbacks taken and end the process halfway through it.
_saving = threading.RLock()


def _run_exit_callbacks() -> None:
    global _ending_in
    pid = os.getpid()
    with _saving:
        _ending_in = pid
        callbacks = [cb for owner, cb in _exit_callbacks if owner == pid]
        _exit_callbacks[:] = [(o, cb) for o, cb in _exit_callbacks if o != pid]
        for callback in reversed(callbacks):
            try:
                callback()
            except BaseException as exc:  # noqa: BLE001 - the process is ending: say it, end anyway
                print(f"viztracer: process {pid} could not save its report: {exc}", file=sys.stderr)


def _exit_saving(status: int) -> None:
    """``os._exit`` while this module is armed: save the report, then exit."""
    _run_exit_callbacks()
    _real_exit(status)


def _wait_for_sigterm() -> None:
    terms = {signal.SIGTERM}
    while True:
        signal.sigwait(terms)
        handler = signal.getsignal(signal.SIGTERM)
        if handler is signal.SIG_IGN:
            continue
        if callable(handler):     # the program's own handler, installed since: its signal
            _thread.interrupt_main(signal.SIGTERM)
            continue
        if _ending_in == os.getpid():   # saving already, at its exit: it ends right after
            continue
        _run_exit_callbacks()
        sys.stdout.flush()
        sys.stderr.flush()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, terms)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)   # the default action: the end
        _real_exit(128 + signal.SIGTERM)    # pragma: no cover


def _watch_sigterm() -> None:
    """From the main thread: a thread of ours takes SIGTERM from now on (see above)."""
    global _watching_in
    if _watching_in == os.getpid() or threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return      # the program handles SIGTERM itself
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _thread.start_new_thread(_wait_for_sigterm, ())    # not through threading: never traced
    _watching_in = os.getpid()


def call_at_exit(callback: Callable[[], None], sigterm: bool = True) -> None:
    """Call ``callback`` when this process ends through ``os._exit`` or (with ``sigterm``) by
    a SIGTERM it does not handle (``atexit`` covers the normal exit): it then still dies of
    SIGTERM."""
    _exit_callbacks.append((os.getpid(), callback))
    os._exit = _exit_saving
    if sigterm:
        _watch_sigterm()


# -- the child's side --------------------------------------------------------------------------------

class Child:
    """This process, a child whose report goes to the folder."""

    def __init__(self, folder: str, tracer: VizTracer, ext: str, name: str) -> None:
        self.folder = folder
        self.tracer = tracer
        self.ext = ext
        self.pid = os.getpid()
        self.path = _child_path(folder, ext, self.pid)
        self.default_name = name
        self.started = time.time()
        self.finished = False

    def begin(self) -> None:
        """Point the tracer at the folder, say this child runs, and save at every way out."""
        tracer = self.tracer
        tracer._children_folder = self.folder
        tracer.output_file = self.path
        tracer.pid_suffix = False
        tracer.verbose = 0
        tracer.process_name = self.default_name
        atexit.register(self.finish)
        call_at_exit(self.finish)       # first: a SIGTERM from now on saves what there is
        _write_note(self.path + RUNNING, self.default_name, self.started)

    def name(self) -> str:
        """multiprocessing's name for this process once it has one (``SpawnPoolWorker-1``)."""
        mp = sys.modules.get("multiprocessing.process")
        if mp is not None:
            name = mp.current_process().name
            if name != "MainProcess" and isinstance(name, str):
                return name
        return self.default_name

    def finish(self) -> None:
        """Stop, save the report, then say it is whole (once, and only in this process)."""
        global _ending_in
        with _saving:   # another thread saving already (SIGTERM): wait until it has saved
            if self.finished or os.getpid() != self.pid:
                return
            self.finished = True
            _ending_in = self.pid
            tracer = self.tracer
            name = self.name()
            try:
                tracer.stop(stop_option="flush_as_finish")
                if tracer._stream is None:
                    tracer.process_name = name
                tracer.save(self.path, verbose=0)
                _write_note(self.path + DONE, name, self.started)
            finally:
                try:
                    os.remove(self.path + RUNNING)
                except OSError:
                    pass


def _read_options(folder: str) -> dict[str, Any]:
    with open(os.path.join(folder, OPTIONS), encoding="utf-8") as f:
        return json.load(f)


def _new_tracer(options: dict[str, Any]) -> VizTracer:
    from .tracer import VizTracer

    return VizTracer(**options["tracer"], output_file=_child_path("", options["ext"], os.getpid()),
                     verbose=0, register_global=True)


def _what_runs(argv: list[str]) -> tuple[str, str]:
    """``(kind, name)`` of the program a new interpreter runs, from its full command line:
    kind is ``viztracer`` (a command of its own), ``helper`` (a resource tracker, of
    multiprocessing or loky: it ends after the parent), ``forkserver``, or ``program``."""
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "-c" and i + 1 < len(args):
            code = args[i + 1]
            if "resource_tracker import main" in code:     # multiprocessing's, loky's, joblib's
                return "helper", "resource_tracker"
            if "multiprocessing.forkserver" in code:
                return "forkserver", "forkserver"
            return "program", "python -c"
        if arg == "-m" and i + 1 < len(args):
            module = args[i + 1]
            if module == "viztracer" or module.startswith("viztracer."):
                return "viztracer", module
            return "program", module
        if arg.startswith("-c") and len(arg) > 2:
            return "program", "python -c"
        if arg.startswith("-m") and len(arg) > 2:
            return ("viztracer" if arg[2:].split(".")[0] == "viztracer" else "program"), arg[2:]
        if arg in ("-W", "-X", "--check-hash-based-pycs"):
            i += 2
            continue
        if arg.startswith("-") and arg != "-":
            i += 1
            continue
        name = os.path.basename(arg)
        if name in ("viztracer", "vizviewer"):
            return "viztracer", name
        return "program", name or "python"
    return "program", "python"


def start_in_new_interpreter() -> None:
    """Called by ``_boot/sitecustomize.py`` in every Python the traced program starts."""
    global _role
    folder = os.environ.get(FOLDER_VARIABLE)
    if not folder or not os.path.isdir(folder):
        return
    kind, name = _what_runs(list(getattr(sys, "orig_argv", sys.argv)))
    if kind in ("viztracer", "helper"):
        return
    try:
        options = _read_options(folder)
    except (OSError, ValueError):
        return      # the parent is gone, and its folder with it
    _arm_fork_hook()
    if kind == "forkserver":    # lives as long as the parent: its children are traced, not it
        _role = Forkserver(folder, options)
        return
    tracer = _new_tracer(options)
    child = Child(folder, tracer, options["ext"], name)
    child.begin()
    _role = child
    tracer.start()


class Forkserver:
    """multiprocessing's fork server: not traced, but the children it forks are."""

    def __init__(self, folder: str, options: dict[str, Any]) -> None:
        self.folder = folder
        self.options = options


# What this process is, for the fork hook: the command's parent, a child, a fork server.
_role: Any = None
_fork_hook_in = 0


def _arm_fork_hook() -> None:
    global _fork_hook_in
    if not _fork_hook_in:
        # Registered now, after the command's own hooks: they give a forked child back the
        # signal handlers the command replaced, before this one runs. SIGTERM is blocked from
        # just before the fork until the child has its SIGTERM thread (a pool terminating a
        # worker that is still starting), so that the child saves what it has before it ends.
        os.register_at_fork(before=_block_sigterm, after_in_parent=_unblock_sigterm,
                            after_in_child=_after_fork_in_child)
    _fork_hook_in = 1


_mask_before_fork: set[int] | None = None


def _block_sigterm() -> None:
    global _mask_before_fork
    try:
        _mask_before_fork = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    except (OSError, ValueError):
        _mask_before_fork = None


def _unblock_sigterm() -> None:
    global _mask_before_fork
    if _mask_before_fork is not None:
        signal.pthread_sigmask(signal.SIG_SETMASK, _mask_before_fork)
        _mask_before_fork = None


def _after_fork_in_child() -> None:
    """A forked child of a traced process: its report goes to the folder too."""
    global _mask_before_fork, _saving
    _saving = threading.RLock()     # a thread of the parent may have held it: not here
    parent_watched = _watching_in not in (0, os.getpid())
    try:
        _trace_forked_child()
    finally:
        if _watching_in != os.getpid():     # no SIGTERM thread here: SIGTERM as it was
            _unblock_sigterm()
            if parent_watched:      # blocked for the parent's thread, which is not here
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        _mask_before_fork = None


def _trace_forked_child() -> None:
    global _role
    role, _role = _role, None
    if role is None or forksave.in_saver():    # fork_save's child saves the parent's report only
        return
    try:
        if isinstance(role, Forkserver):
            tracer = _new_tracer(role.options)
            child = Child(role.folder, tracer, role.options["ext"], "forkserver child")
            child.begin()
            _role = child
            tracer.start()
            return
        tracer = role.tracer
        if not tracer.enable:
            return
        stream = tracer._parents_report is not None     # it was streaming (see VizTracer)
        child = Child(role.folder, tracer, role.ext, f"{role.name()} (forked)")
        child.begin()
        _role = child
        if stream:
            tracer._parents_report = None
            tracer.stream = True
            tracer._start_stream()
    except Exception as exc:  # noqa: BLE001 - the child runs on, untraced, and says why
        print(f"viztracer: can't trace forked process {os.getpid()}: {exc}", file=sys.stderr)


def traced_by_the_command() -> bool:
    """Whether this process is traced by the command already (parent or child)."""
    return isinstance(_role, (Child, Parent)) and _role.tracer.enable


# -- the parent's side -------------------------------------------------------------------------------

class Parent:
    """The command's own process: it makes the folder, lets children find it, and after the
    program waits for them and puts their reports into its own."""

    def __init__(self, tracer: VizTracer, report_path: str) -> None:
        self.tracer = tracer
        self.pid = os.getpid()
        self.ext = report_extension(report_path)
        self.folder = tempfile.mkdtemp(prefix="viztracer_children_")
        own = ("output_file", "pid_suffix", "verbose")    # each child's, set by Child.begin
        options = {k: v for k, v in tracer.init_kwargs.items() if k not in own}
        with open(os.path.join(self.folder, OPTIONS), "w", encoding="utf-8") as f:
            json.dump({"tracer": options, "ext": self.ext}, f)
        self.saved_env: dict[str, str | None] = {}
        self.default_name = "MainProcess"

    def name(self) -> str:
        return self.tracer.process_name or self.default_name

    def arm(self) -> None:
        """From now on every Python the program starts, and every fork, is traced."""
        global _role
        for key in (FOLDER_VARIABLE, "PYTHONPATH"):
            self.saved_env[key] = os.environ.get(key)
        os.environ[FOLDER_VARIABLE] = self.folder
        path = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = BOOT_DIR + (os.pathsep + path if path else "")
        self.tracer._children_folder = self.folder
        _role = self
        _arm_fork_hook()

    def disarm(self) -> None:
        """The program is over: what the command starts now (vizviewer) is not traced."""
        global _role
        if _role is self:
            _role = None
        for key, value in self.saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def in_child(self) -> bool:
        """Whether this is a forked child that came back through the command's code."""
        return os.getpid() != self.pid

    # -- after the program

    def _running(self) -> dict[int, str]:
        """pid -> path of the children still marked running."""
        running = {}
        for entry in os.scandir(self.folder):
            if entry.name.endswith(RUNNING) and entry.name.startswith("result_"):
                pid = _pid_of(entry.name)
                if pid is not None:
                    running[pid] = entry.path[:-len(RUNNING)]
        return running

    def wait(self, quiet: bool, timeout: float | None = None) -> bool:
        """Wait for the children still running; False when Ctrl+C, SIGTERM, SIGHUP or
        ``timeout`` (seconds) cut it short."""
        started = time.monotonic()
        said = False
        previous: dict[int, Any] = {}
        try:    # as Ctrl+C: the signals that end a command (a closed terminal included)
            for signum in (signal.SIGTERM, signal.SIGHUP):
                previous[signum] = signal.signal(signum, _interrupt)
        except ValueError:  # not the main thread
            pass
        seen: dict[int, float] = {}     # children starting: pid -> when first seen
        try:
            while True:
                now = time.monotonic()
                # the starting ones first: a child that says it runs between the two looks is then
                # in the second, where the other order would miss it in both
                alive = [pid for pid in self._starting() if now - seen.setdefault(pid, now) < STARTING_GRACE
                         and _cpu_seconds(pid) < STARTING_CPU]
                alive += [pid for pid in self._running() if _alive(pid)]
                alive = sorted(set(alive))
                if not alive:
                    return True
                if timeout is not None and time.monotonic() - started > timeout:
                    return False
                if not said and not quiet and time.monotonic() - started > WAIT_NOTICE:
                    plural = "es" if len(alive) > 1 else ""
                    print(f"viztracer: waiting for {len(alive)} child process{plural} "
                          f"({', '.join(map(str, alive))}) to finish; Ctrl+C stops waiting and saves "
                          "what has arrived", file=sys.stderr)
                    said = True
                time.sleep(POLL)
        except KeyboardInterrupt:
            return False
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _starting(self) -> list[int]:
        """This process's own children, running, that will be traced but have not said so yet:
        a Python with the folder in its environment (or forked from here), not a helper."""
        pids: set[int] = set()
        for path in glob.glob(f"/proc/{self.pid}/task/*/children"):
            pids.update(int(p) for p in _read_bytes(path).split())
        known = {_pid_of(entry.name) for entry in os.scandir(self.folder)}
        starting = []
        me = os.path.realpath(sys.executable)
        own = _read_bytes(f"/proc/{self.pid}/cmdline")
        for pid in sorted(pids - known):
            try:
                exe = os.path.realpath(f"/proc/{pid}/exe")
            except OSError:
                continue
            if not os.path.basename(exe).startswith("python"):
                continue
            environ = _read_bytes(f"/proc/{pid}/environ").split(b"\0")
            # forked, not exec'd: the environment shown is the one it started with
            if f"{FOLDER_VARIABLE}={self.folder}".encode() not in environ and exe != me:
                continue
            cmdline = _read_bytes(f"/proc/{pid}/cmdline")
            argv = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
            # a fork of this very command (not exec'd yet, or a forked child) is the program's
            forked = cmdline == own
            if argv and (forked or _what_runs(argv)[0] == "program") and _alive(pid):
                starting.append(pid)
        return starting

    def children(self) -> list[ChildReport]:
        """Every child that left a trace in the folder, in the order they started."""
        # here, not at the top: merging brings the Perfetto writer, which a child has no use for
        from .report.merge import COMPLETE, CUT_SHORT, LOST, ChildReport
        found: dict[int, ChildReport] = {}
        started: dict[int, float] = {}
        running = self._running()
        for entry in os.scandir(self.folder):
            pid = _pid_of(entry.name)
            if pid is None or pid in found:
                continue
            path = _child_path(self.folder, self.ext, pid)
            name, when = _read_note(path + DONE) or _read_note(path + RUNNING) or (f"process {pid}", 0.0)
            exists = os.path.exists(path)
            if pid not in running:
                child = ChildReport(pid, name, path if exists else None, COMPLETE if exists else LOST,
                                    "" if exists else "it saved no report")
            elif _alive(pid):
                child = ChildReport(pid, name, path if exists else None, CUT_SHORT if exists else LOST,
                                    "it was still running")
            elif exists and os.path.getsize(path):
                child = ChildReport(pid, name, path, CUT_SHORT, "it ended before saving its report "
                                    "(killed, or crashed); the report holds what it streamed")
            else:
                hint = "" if self.tracer.stream else "; --stream keeps what a child writes until then"
                child = ChildReport(pid, name, None, LOST,
                                    "it ended before saving its report (killed, or crashed)" + hint)
            found[pid] = child
            started[pid] = when
        return sorted(found.values(), key=lambda c: (started[c.pid], c.pid))

    def collect(self, report: str, quiet: bool, wait: float | None = None, cleanup: bool = True) -> int:
        """Wait for the children (at most ``wait`` seconds when given), put their reports into
        ``report``, say which were lost or cut short; 1 when that failed, else 0."""
        from .report import ReportError
        from .report.merge import COMPLETE, append_children

        if wait is None or wait > 0:
            self.wait(quiet, wait)
        children = self.children()
        if not children:
            if cleanup:
                self.cleanup()
            return 0
        status = 0
        try:
            append_children(report, self.pid, self.name(), children)
        except ReportError as exc:
            print(f"viztracer: error: {exc}", file=sys.stderr)
            status = 1
        if not quiet:
            for child in children:
                if child.state != COMPLETE:
                    print(f"viztracer: warning: child process {child.pid} ({child.name}) is {child.state} in "
                          f"the report: {child.why}", file=sys.stderr)
        if cleanup:
            self.cleanup()
        return status

    def cleanup(self) -> None:
        import shutil

        shutil.rmtree(self.folder, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def finish_forked_child() -> bool:
    """A forked child came back through the command's code after its program: save its
    report to the folder. False when this process is not such a child."""
    if isinstance(_role, Child) and _role.pid == os.getpid():
        _role.finish()
        return True
    return False


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return b""


def _pid_of(name: str) -> int | None:
    if not name.startswith("result_"):
        return None
    digits = name[len("result_"):].split(".", 1)[0]
    return int(digits) if digits.isdigit() else None


def _write_note(path: str, name: str, started: float) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"name": name, "started": started}, f)


def _read_note(path: str) -> tuple[str, float] | None:
    """A child's name and start time, from its note; None when there is none (yet)."""
    try:
        with open(path, encoding="utf-8") as f:
            note = json.load(f)
        return str(note["name"]), float(note["started"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _cpu_seconds(pid: int) -> float:
    """The CPU time process ``pid`` has used (user and system), 0 when it can't be read."""
    stat = _read_bytes(f"/proc/{pid}/stat")
    fields = stat[stat.rfind(b")") + 2:].split()
    try:    # utime and stime: fields 14 and 15 of the line, 12 and 13 after the name
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (IndexError, ValueError):
        return 0.0


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
