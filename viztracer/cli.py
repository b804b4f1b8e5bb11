"""The ``viztracer`` command: trace a Python program from start to end and save the report.

``viztracer [options] script.py args...``, ``viztracer [options] -m module args...`` and
``viztracer [options] -c code args...``. Options end at the program: whatever follows the script
name, the module name or the code belongs to the program (``--`` or ``--run`` can also separate
them). Defaults for the options can be kept in ``.viztracerrc``. Reading the command line is
:mod:`viztracer.cli_options`' job, setting the program up as ``__main__`` :mod:`viztracer.program`'s;
this module checks the output path, runs the program under the tracer and saves the report.

Errors in the command line are reported on one line, ``viztracer: error: ...``, with exit status 2;
the traced program's own exit status becomes ours.
"""
from __future__ import annotations

import atexit
import datetime
import os
import shlex
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from . import children as child_processes
from .attach_command import AttachJob
from .attach_command import run as run_attach
from .cli_options import (
    PROG,
    USAGE_ERROR,
    CliError,
    CommandLine,
    Settings,
    check_compatibility_options,
    instrument_options,
    parse_settings,
    split_command_line,
    tracer_options,
)
from .errors import HookInUse, LogNumberError, VizPluginError
from .program import Program, ProgramError, as_main, load_code, load_module, load_script, search_path_first
from .report import ReportError, check_output_path, open_hint, write_report_dict
from .report.combine import combine_files
from .stream import check_stream_path
from .tracer import VizTracer

# Python's convention for a process ended by a signal: 128 + the signal number.
EXIT_SIGINT = 128 + signal.SIGINT
EXIT_SIGTERM = 128 + signal.SIGTERM


# -- the report's path ----------------------------------------------------------------------------

def unique_file_name(stem: str, directory: str) -> str:
    """``<stem>_<YYYYMMDD>_<HHMMSS>_<pid>.json``, with a counter if that file already exists."""
    now = datetime.datetime.now()
    base = f"{stem}_{now:%Y%m%d}_{now:%H%M%S}_{os.getpid()}"
    name, n = f"{base}.json", 1
    while os.path.exists(os.path.join(directory, name)):
        name, n = f"{base}_{n}.json", n + 1
    return name


def output_path(settings: Settings, program_name: str) -> str:
    """The absolute path to save the report to; checked, so a bad one fails before the run."""
    directory = settings.output_dir or ""
    if directory:
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as exc:
            raise CliError(f"can't create the output directory {directory!r}: "
                           f"{exc.strerror or exc}; pick another --output_dir") from None
    if settings.unique_output_file:
        name = unique_file_name(program_name, directory)
    else:
        name = settings.output_file or "result.json"
    # Absolute now: the program may change the current directory.
    path = os.path.abspath(os.path.join(directory, name))
    try:
        check_output_path(path)
    except ReportError as exc:
        raise CliError(str(exc)) from None
    return path


# -- running the program --------------------------------------------------------------------------

def require_program(cmd: CommandLine) -> None:
    """Fail when the command line names no program."""
    if cmd.kind is not None:
        return
    hint = (f"; {cmd.last_list_option} takes every value that follows it, so put -- before the program"
            if cmd.last_list_option else "")
    raise CliError("no program to run: give a script (viztracer script.py), a module "
                   f"(viztracer -m module) or code (viztracer -c 'code'){hint}")


def load_program(cmd: CommandLine, instrument: Any = None) -> Program:
    """Load the program named on the command line, before tracing starts; ``instrument``:
    the source instrumentation to compile it with (None: none)."""
    require_program(cmd)
    try:
        if cmd.kind == "script":
            return load_script(cmd.target, cmd.args, instrument)
        if cmd.kind == "module":
            with search_path_first(os.getcwd()):
                return load_module(cmd.target, cmd.args, instrument)
        return load_code(cmd.target, cmd.args, instrument)
    except ProgramError as exc:
        raise CliError(str(exc)) from None


# The signals that end a program politely: each ends the traced program the way SIGTERM does,
# and the report is still saved (or, streaming, completed).
ENDING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP", "SIGQUIT")
                       if hasattr(signal, name))


class _Termination:
    """SIGTERM, SIGHUP and SIGQUIT: while the program runs each exits the program (so the
    report is still saved); while the report is being saved it is only remembered. With
    ``--dump_on`` its signal writes the ring out and tracing goes on."""

    def __init__(self, dump_signal: int | None = None, dump: Any = None) -> None:
        self.deferring = False
        self.received = False
        self.signum = signal.SIGTERM
        self.dump_signal = dump_signal
        self.dump = dump
        self.pid = os.getpid()

    def handler(self, signum: int, frame: object) -> None:
        if os.getpid() != self.pid:
            # a forked child, before the fork hooks gave it its own handlers back: die of
            # the signal, as without the tracer
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        self.received = True
        self.signum = signum
        if not self.deferring:
            raise SystemExit(128 + signum)

    def dump_handler(self, signum: int, frame: object) -> None:
        if not self.deferring and self.dump is not None:
            try:
                self.dump()
            except (ReportError, OSError) as exc:
                print(f"{PROG}: error: can't dump the ring: {exc}", file=sys.stderr)

    @contextmanager
    def installed(self) -> Iterator[None]:
        global _installed_handlers
        previous: dict[int, Any] = {}
        _installed_handlers = previous
        try:
            for signum in ENDING_SIGNALS:
                if signum != self.dump_signal:
                    previous[signum] = signal.signal(signum, self.handler)
            if self.dump_signal is not None:
                previous[self.dump_signal] = signal.signal(self.dump_signal, self.dump_handler)
        except ValueError:  # not the main thread: signals can't be handled here
            pass
        try:
            yield
        finally:
            _installed_handlers = None
            for signum, handler in previous.items():
                signal.signal(signum, handler)


# The handlers a _Termination replaced, while it is installed. A forked child (a multiprocessing
# worker) gets them back: ours change how a process dies (SIGTERM raising SystemExit), and a
# worker that inherited them could hang its pool when terminated.
_installed_handlers: dict[int, Any] | None = None


def _restore_handlers_in_child() -> None:
    if _installed_handlers:
        for signum, handler in _installed_handlers.items():
            signal.signal(signum, handler)


os.register_at_fork(after_in_child=_restore_handlers_in_child)


def parse_signal(text: str) -> int:
    """``SIGUSR2``, ``USR2`` or ``12`` as a signal number; CliError for anything else."""
    name = text.strip().upper()
    if name.isdigit():
        number = int(name)
        valid = {int(s) for s in signal.valid_signals()}
        if number in valid:
            return number
    else:
        found = getattr(signal, name if name.startswith("SIG") else "SIG" + name, None)
        if isinstance(found, signal.Signals) and not name.startswith("SIG_"):
            return int(found)
    raise CliError(f"--dump_on: {text!r} is not a signal; give a name such as SIGUSR2 (see kill -l)")


def _exit_status(exc: BaseException | None) -> int:
    """The exit status python would have for a program that ended with ``exc``."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_SIGINT
    return 1


def _print_uncaught(exc: BaseException) -> None:
    """Print the program's traceback without viztracer's own frames at its top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    # The default hook prints the exception's own __traceback__, not the one it is given.
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def _finish_threads() -> None:
    """Wait for the program's non-daemon threads, as python does before it exits.

    Exit callbacks registered with threading (concurrent.futures uses them to tell idle pool
    workers to quit) run first, as at interpreter exit; VizTracer 1.x does the same.
    """
    callbacks = getattr(threading, "_threading_atexits", None)
    if isinstance(callbacks, list):
        while callbacks:
            callbacks.pop()()
    me, main = threading.current_thread(), threading.main_thread()
    while True:
        pending = [t for t in threading.enumerate()
                   if t is not me and t is not main and not t.daemon and t.is_alive()]
        if not pending:
            return
        for thread in pending:
            thread.join()


class NotStarted(Exception):
    """A plugin failed at ``pre-start``, or another profiler holds sys.monitoring: the tracer
    did not start and the program did not run."""


def run_traced(tracer: VizTracer, program: Program, termination: _Termination,
               log_exit: bool = False) -> int:
    """Run ``program`` as ``__main__`` under ``tracer``; return its exit status. With
    ``log_exit`` the atexit functions run while tracing, right after the program's threads."""
    ended_by: BaseException | None = None
    status = 0
    with as_main(program), termination.installed():
        try:
            tracer.start()
        except (VizPluginError, HookInUse) as exc:
            raise NotStarted(str(exc)) from None
        try:
            # exec is called right here, in the frame that started the tracer: the core leaves
            # out calls into viztracer's own code with everything below them, so a helper
            # function around exec would hide the whole program. exec is the root call, as in 1.x.
            exec(program.code, program.module.__dict__)
        except BaseException as exc:  # the program's exit, whatever it is, is reported below
            ended_by = exc
        try:
            # Our own work from here on (printing the traceback, joining threads) isn't the
            # program's: stop recording this thread, while other threads keep being recorded.
            tracer.pause()
            status = _exit_status(ended_by)
            if isinstance(ended_by, LogNumberError):  # what the options asked for went wrong
                _error(ended_by)
            elif ended_by is not None and not isinstance(ended_by, SystemExit):
                _print_uncaught(ended_by)
            if not termination.received:  # once terminated, threads aren't waited for
                _finish_threads()
                if log_exit:
                    tracer.resume()
                    # called right here, like exec above, so that the calls are recorded
                    atexit._run_exitfuncs()
        except KeyboardInterrupt:
            status = status or EXIT_SIGINT
        except SystemExit as exc:  # SIGTERM while waiting for threads
            status = status or _exit_status(exc)
        finally:
            termination.deferring = True
            tracer.stop(stop_option="flush_as_finish")
            del ended_by  # drop the traceback and the frames it holds
    return status


def save_report(tracer: VizTracer, path: str, quiet: bool,
                children: child_processes.Parent | None = None, wait: float | None = None) -> tuple[int, str]:
    """Save the report, with the child processes' reports in it, and tell where it went;
    return 0 (or an exit status on failure) and the report's path (with the pid in it under
    --pid_suffix). ``wait``: at most that many seconds for the children still running."""
    try:
        if children is None:
            saved = os.path.abspath(tracer.save(path, verbose=0) or path)
        else:
            saved = _save_with_children(tracer, path, quiet, children, wait)
    except VizPluginError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1, path
    except (ReportError, OSError) as exc:
        print(f"{PROG}: error: can't save the report to {path}: {exc}", file=sys.stderr)
        return 1, path
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted while saving the report to {path}", file=sys.stderr)
        return EXIT_SIGINT, path
    if not quiet:
        metadata = tracer.metadata()
        if metadata.get("overflow"):
            print(f"{PROG}: warning: the ring buffer of {tracer.tracer_entries} entries was full; "
                  f"only the latest calls are in the report (raise --tracer_entries to keep more)",
                  file=sys.stderr)
        print(f"Report saved to {saved}")
        print(open_hint(shlex.quote(saved)))
    return 0, saved


def _save_with_children(tracer: VizTracer, path: str, quiet: bool,
                        children: child_processes.Parent, wait: float | None) -> str:
    """Save the parent's report, wait for the children and append theirs. A report in a format
    that can't be appended to (.html, .json.gz) is made from a JSON one put together first."""
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        # What python does at exit, now: pools and managers stop their processes, and
        # non-daemonic children are joined (their reports are then whole).
        mp_util._exit_function()
    if path.lower().endswith((".json", ".pftrace", ".perfetto-trace")):
        saved = os.path.abspath(tracer.save(path, verbose=0) or path)
        if children.collect(saved, quiet, wait):
            raise ReportError("the child processes' reports could not be added")
        return saved
    children.wait(quiet, wait)
    if not children.children():
        children.cleanup()
        return os.path.abspath(tracer.save(path, verbose=0) or path)
    own = tracer.save(os.path.join(children.folder, "parent.json"), verbose=0)
    assert own is not None
    if children.collect(own, quiet, 0, cleanup=False):
        raise ReportError("the child processes' reports could not be added")
    from .report.loader import load_report
    from .tracer import _with_pid

    final = _with_pid(os.path.abspath(path)) if tracer.pid_suffix else os.path.abspath(path)
    try:
        write_report_dict(load_report(own), final)
    finally:
        children.cleanup()
    return final


def terminate_plugins(tracer: VizTracer) -> int:
    """Tell the plugins the program is over; 0, or 1 when one of them failed (said on one line)."""
    try:
        tracer.terminate()
    except VizPluginError as exc:
        _error(exc)
        return 1
    return 0


def open_report(path: str) -> None:
    """``--open``: show the saved report with ``vizviewer --once`` in its own process.

    Its own process, because the traced program may have left this one changed. Ctrl+C
    reaches the viewer too, which then stops cleanly; the exit status stays the program's.
    """
    import subprocess

    from .viewer.cli import default_port_or_any  # viztracer has no --port: 9001, or any if taken

    port = str(default_port_or_any())
    try:
        viewer = subprocess.Popen([sys.executable, "-m", "viztracer.viewer", "--once", "--port", port, path])
    except OSError as exc:
        _error(f"can't start vizviewer: {exc.strerror or exc}")
        return
    try:
        viewer.wait()
    except KeyboardInterrupt:
        try:
            viewer.wait(timeout=5)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            viewer.kill()
            viewer.wait()


# -- main -----------------------------------------------------------------------------------------

@dataclass
class Run:
    """Everything checked before the program starts."""

    settings: Settings
    tracer_kwargs: dict[str, Any]
    program: Program
    output_path: str
    warnings: list[str]
    dump_signal: int | None = None


def _program_stem(cmd: CommandLine) -> str:
    """A short name for the program, for unique output file names."""
    if cmd.kind == "script":
        return os.path.splitext(os.path.basename(cmd.target))[0] or "result"
    if cmd.kind == "module":
        return cmd.target.replace(".", "_")
    return "result"


@dataclass
class Combine:
    """``--combine`` / ``--align_combine``: reports to put together instead of a program to run."""

    files: list[str]
    align: bool
    output_path: str
    quiet: bool


@dataclass
class Convert:
    """``--compress`` / ``--decompress``: one report to turn into another format."""

    flag: str
    source: str
    output_path: str
    quiet: bool


def prepare(argv: list[str]) -> Run | Combine | Convert | AttachJob:
    """Check options, output path and program, in that order, without running anything."""
    cmd = split_command_line(argv)
    warnings: list[str] = []
    settings = parse_settings(cmd.options, warnings.append)
    check_compatibility_options(settings, warnings.append)
    if settings.combine is not None or settings.align_combine is not None:
        return prepare_combine(settings, cmd)
    if "compress" in settings.given or "decompress" in settings.given:
        return prepare_convert(settings, cmd)
    if any(mode in settings.given for mode in ATTACH_MODES):
        job = prepare_attach(settings, cmd)
        job.warnings[:0] = warnings
        return job
    if "t" in settings.given:
        warnings.append("-t has no effect without --attach or --attach_installed")
    kwargs = tracer_options(settings)
    instrument = instrument_options(settings, warnings.append)
    dump_signal = None if settings.dump_on is None else parse_signal(settings.dump_on)
    if dump_signal is not None and dump_signal in (signal.SIGKILL, signal.SIGSTOP):
        raise CliError(f"--dump_on: {settings.dump_on} can't be caught; pick another signal, such as SIGUSR2")
    require_program(cmd)
    path = output_path(settings, _program_stem(cmd))
    if settings.stream:
        try:
            check_stream_path(path)
        except ReportError as exc:
            raise CliError(str(exc)) from None
    return Run(settings, kwargs, load_program(cmd, instrument), path, warnings, dump_signal)


def prepare_combine(settings: Settings, cmd: CommandLine) -> Combine:
    """Check a ``--combine`` / ``--align_combine`` command line."""
    if settings.combine is not None and settings.align_combine is not None:
        raise CliError("--combine and --align_combine can't be used together; pick one")
    flag = "--combine" if settings.combine is not None else "--align_combine"
    files = settings.combine if settings.combine is not None else settings.align_combine
    if cmd.kind is not None:
        raise CliError(f"{flag} puts reports together and runs no program; "
                       f"remove {cmd.target!r} from the command line")
    if not files:
        raise CliError(f"{flag} needs the reports to combine, e.g. {flag} a.json b.pftrace -o all.json")
    return Combine(files, flag == "--align_combine", output_path(settings, "combined"), settings.quiet)


def prepare_convert(settings: Settings, cmd: CommandLine) -> Convert:
    """Check a ``--compress`` / ``--decompress`` command line."""
    if "compress" in settings.given and "decompress" in settings.given:
        raise CliError("--compress and --decompress can't be used together; pick one")
    flag = "--compress" if "compress" in settings.given else "--decompress"
    source = settings.compress if flag == "--compress" else settings.decompress
    if cmd.kind is not None:
        raise CliError(f"{flag} converts a report and runs no program; "
                       f"remove {cmd.target!r} from the command line")
    if not source:
        example = "result.json -o result.cvf" if flag == "--compress" else "result.cvf -o result.json"
        raise CliError(f"{flag} needs the report to convert, e.g. {flag} {example}")
    if flag == "--compress":
        output = settings.output_file or "result.cvf"  # 1.x's default names
        if not output.lower().endswith(".cvf"):
            raise CliError(f"--compress writes a .cvf report, not {output!r}; give -o NAME.cvf")
        settings.values["output_file"] = output
    elif not settings.output_file:
        settings.values["output_file"] = "result.json"
    settings.values["unique_output_file"] = False
    return Convert(flag, source, output_path(settings, "result"), settings.quiet)


ATTACH_MODES = ("attach", "attach_installed", "uninstall")


def prepare_attach(settings: Settings, cmd: CommandLine) -> AttachJob:
    """Check an ``--attach`` / ``--attach_installed`` / ``--uninstall`` command line; the
    process itself is looked at when the job runs."""
    modes = [mode for mode in ATTACH_MODES if mode in settings.given]
    if len(modes) > 1:
        raise CliError(f"--{modes[0]} and --{modes[1]} can't be used together; pick one")
    mode = modes[0]
    if cmd.kind is not None:
        raise CliError(f"--{mode} works on a running process and runs no program; "
                       f"remove {cmd.target!r} from the command line")
    pid = settings.values[mode]
    if pid is None or pid <= 0:
        raise CliError(f"--{mode} needs the PID of a running Python process, e.g. --{mode} 1234")
    seconds = settings.t if mode != "uninstall" else None
    # -t 0, a negative -t or none at all: until Ctrl+C, as in 1.x
    job = AttachJob(mode, pid, seconds if seconds is not None and seconds > 0 else None,
                    settings.quiet, settings.open)
    if mode == "attach":
        job.tracer_kwargs = tracer_options(settings)
        job.output_path = output_path(settings, "result")
    else:
        ignored = [flag for flag, dest in (("-o", "output_file"), ("--output_dir", "output_dir"),
                                           ("-u", "unique_output_file")) if dest in settings.given]
        if ignored:
            where = ("the process saves where its VizTracer says" if mode == "attach_installed"
                     else "nothing is saved")
            job.warnings.append(f"{', '.join(ignored)} has no effect with --{mode}: {where}")
    return job


def run_convert(job: Convert) -> int:
    """Read the report, write it in the other format; one line on stdout saying where it went."""
    from .report.cvf import read_cvf
    from .report.loader import load_report, reading
    try:
        if job.flag == "--decompress":
            with reading(job.source):
                report = read_cvf(job.source)
        else:
            report = load_report(job.source)
        count = write_report_dict(report, job.output_path)
    except ReportError as exc:
        _error(exc)
        return 1
    except KeyboardInterrupt:
        _error(f"interrupted while converting {job.source!r}")
        return EXIT_SIGINT
    if not job.quiet:
        what = "Compressed" if job.flag == "--compress" else "Decompressed"
        print(f"{what} {job.source} ({count} events) into {job.output_path}")
    return 0


def run_combine(job: Combine) -> int:
    """Load, combine and save; one line on stdout saying where the report went."""
    try:
        report = combine_files(job.files, job.align)
        count = write_report_dict(report, job.output_path)
    except ReportError as exc:
        _error(exc)
        return 1
    except KeyboardInterrupt:
        _error("interrupted while combining reports")
        return EXIT_SIGINT
    if not job.quiet:
        print(f"Combined {len(job.files)} report{'s' if len(job.files) > 1 else ''} "
              f"({count} events) into {job.output_path}")
        print(open_hint(shlex.quote(job.output_path)))
    return 0


def _error(message: object) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


@dataclass
class Outcome:
    """How the command ended: its exit status, and whether SIGTERM ended the program."""

    status: int
    terminated: bool = False


def run_command(argv: list[str]) -> Outcome:
    """Check the command line, run the program under the tracer, save the report."""
    try:
        run = prepare(argv)
    except CliError as exc:
        _error(exc)
        return Outcome(exc.exit_code)
    except SyntaxError as exc:  # in the program: shown the way python shows it
        print("".join(traceback.format_exception_only(type(exc), exc)), end="", file=sys.stderr)
        return Outcome(1)
    except SystemExit as exc:  # --help and --version
        return Outcome(exc.code if isinstance(exc.code, int) else 0)
    if isinstance(run, Combine):
        return Outcome(run_combine(run))
    if isinstance(run, Convert):
        return Outcome(run_convert(run))
    if isinstance(run, AttachJob):
        for message in [] if run.quiet else run.warnings:
            print(f"{PROG}: {message}", file=sys.stderr)
        status, saved = run_attach(run)
        if run.open and saved is not None:
            open_report(saved)
        return Outcome(status)
    quiet = run.settings.quiet
    if not quiet:
        for message in run.warnings:
            print(f"{PROG}: {message}", file=sys.stderr)
    try:
        # Plugins are found where the program's own imports are (its directory first), as in 1.x.
        with search_path_first(run.program.path0):
            tracer = VizTracer(output_file=run.output_path, **run.tracer_kwargs)
    except (ValueError, ImportError, VizPluginError) as exc:  # VizTracer's checks of its options
        _error(exc)
        return Outcome(USAGE_ERROR)
    termination = _Termination(run.dump_signal, tracer.dump_ring)
    children = None if run.settings.ignore_multiprocess else child_processes.Parent(tracer, run.output_path)
    if children is not None:
        children.arm()
        child_processes.call_at_exit(lambda: _ended_by_os_exit(tracer, run.output_path, children, quiet),
                                     sigterm=False)
    try:
        status = run_traced(tracer, run.program, termination, run.settings.log_exit)
    except NotStarted as exc:  # a plugin failed at pre-start: nothing ran, nothing to save
        _error(exc)
        terminate_plugins(tracer)
        return Outcome(1)
    except ReportError as exc:  # --stream could not write its report (disk full...)
        _error(exc)
        terminate_plugins(tracer)
        return Outcome(1, termination.received)
    except VizPluginError as exc:  # a plugin failed at post-stop: the report is still saved
        _error(exc)
        tracer.stop()
        status = 1
    if children is not None:
        if children.in_child():     # a forked child, back here at the end of its program
            child_processes.finish_forked_child()
            return Outcome(status, termination.received)
        children.disarm()
    try:
        save_status, saved = save_report(tracer, run.output_path, quiet, children,
                                         2.0 if termination.received else None)
    finally:  # the plugins are told even when the save failed, or a plugin's handler raised
        terminate_status = terminate_plugins(tracer)
    save_status = save_status or terminate_status
    if run.settings.open and save_status == 0 and not termination.received:  # SIGTERM: just end
        open_report(saved)
    if termination.received and status == 0:
        status = 128 + termination.signum
    return Outcome(status or save_status, termination.received)


def _ended_by_os_exit(tracer: VizTracer, path: str, children: child_processes.Parent, quiet: bool) -> None:
    """The program called os._exit: save the report, with the children done so far."""
    if children.in_child():
        return
    children.disarm()
    tracer.stop(stop_option="flush_as_finish")
    save_report(tracer, path, quiet, children, 0)
    sys.stdout.flush()      # os._exit would drop what is buffered: where the report went
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    """Run the ``viztracer`` command with ``argv`` (``sys.argv[1:]`` by default); return the exit status."""
    return run_command(sys.argv[1:] if argv is None else list(argv)).status


def console_main() -> None:
    """Entry point of the ``viztracer`` console script and ``python -m viztracer``."""
    outcome = run_command(sys.argv[1:])
    if outcome.terminated and any(not t.daemon and t.is_alive() and t is not threading.main_thread()
                                  for t in threading.enumerate()):
        # SIGTERM ends a process without waiting for its threads, and the report is saved:
        # don't let the interpreter's exit wait for threads that may never end.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(outcome.status)
    sys.exit(outcome.status)
