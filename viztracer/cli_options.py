"""What the ``viztracer`` command line says: its options, the program, and ``.viztracerrc``.

One table (``OPTIONS``) describes every option of VizTracer 1.x; it drives the argparse parser,
the split between viztracer's options and the program's arguments, and the rcfile's keys.
Options are merged as: command line over rcfile over defaults.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .rcfile import RcFileError, read_rcfile
from .timeparse import parse_duration_us
from .version import __version__

PROG = "viztracer"
USAGE_ERROR = 2


class CliError(Exception):
    """A problem with the command line; the message is one line, printed after ``viztracer: error:``."""

    def __init__(self, message: str, exit_code: int = USAGE_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- the options ----------------------------------------------------------------------------------

# What the command does with an option.
ACTIVE = "active"          # implemented
NOT_YET = "not yet"        # accepted from the 1.x command line; warns that it does nothing yet
OBSOLETE = "obsolete"      # did nothing in 1.x either; warns
SILENT = "silent"          # accepted and ignored (what it asks for already happens)
PROGRAM = "program"        # -m / -c: taken out of the command line before argparse sees it


@dataclass(frozen=True)
class Option:
    """One command-line option; the same table drives argparse, the splitter and the rcfile."""

    flags: tuple[str, ...]
    kind: str  # "flag" (no value), "value" (one), "list" (any number), "optional" (zero or one)
    help: str
    group: str
    status: str = ACTIVE
    type: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None

    @property
    def long_flag(self) -> str:
        """The flag that names the option in messages (``-t`` has no long form)."""
        return next((f for f in self.flags if f.startswith("--")), self.flags[0])

    @property
    def dest(self) -> str:
        """The option's name in parsed results and in the rcfile: the flag without dashes."""
        return self.long_flag.lstrip("-")

    @property
    def default_value(self) -> Any:
        """The value when the option is given neither on the command line nor in the rcfile."""
        return False if self.kind == "flag" and self.default is None else self.default


def _opt(*flags: str, kind: str = "flag", group: str = "filters", **kw: Any) -> Option:
    """An Option; by default a flag among the recording filters."""
    return Option(flags, kind, group=group, **kw)


GROUPS = {
    "program": "program to run (options end at the program; -- or --run also separate them)",
    "output": "output",
    "filters": "what to record",
    "extra": "extra logging",
    "instrument": "logging written into the program (its own code, not what it imports)",
    "later": None,  # hidden from --help
    "modes": "other modes",
}

OPTIONS: tuple[Option, ...] = (
    _opt("-m", "--module", kind="value", group="program", status=PROGRAM, metavar="MODULE",
         help="run a module, like python -m"),
    _opt("-c", "--cmd_string", kind="value", group="program", status=PROGRAM, metavar="CODE",
         help="run a string of code, like python -c"),
    _opt("--rcfile", kind="value", group="program", metavar="FILE",
         help="read default options from FILE instead of ./.viztracerrc"),
    _opt("-o", "--output_file", kind="value", group="output", metavar="FILE",
         help="where to save the report, result.json by default; the extension picks the format "
              "(.json, .json.gz, .pftrace or .perfetto-trace, .html, .cvf)"),
    _opt("-u", "--unique_output_file", group="output",
         help="save to a new file name for each run: <program>_<date>_<time>_<pid>.json"),
    _opt("--output_dir", kind="value", group="output", metavar="DIR",
         help="save the report in DIR, created when missing"),
    _opt("--quiet", group="output", help="print nothing but errors"),
    _opt("--open", group="output",
         help="show the report in vizviewer once it is saved (vizviewer stops when the page has loaded it)"),
    _opt("--stream", group="output",
         help="write the report while the program runs (.json or .pftrace): every call is kept "
              "however long the run, in fixed memory, and a killed program leaves the calls "
              "written until a moment before"),
    _opt("--dump_on", kind="value", group="output", metavar="SIGNAL",
         help="when the process receives SIGNAL (e.g. SIGUSR2), write the ring's current contents "
              "to a new file next to the report, and go on tracing"),
    _opt("--tracer_entries", kind="value", type=int, default=1000000, metavar="N",
         help="size of the ring buffer in entries; when full, the oldest are dropped "
              "(default: 1000000)"),
    _opt("--max_stack_depth", kind="value", type=int, default=-1, metavar="N",
         help="record calls at most N deep"),
    _opt("--min_duration", kind="value", default="0", metavar="TIME",
         help="record only calls that last at least TIME, e.g. 0.2ms, 300ns, 5.5us, 1s "
              "(a bare number is in us)"),
    _opt("--include_files", kind="list", metavar="PATH",
         help="record only functions in these files or directories (end the list with --)"),
    _opt("--exclude_files", kind="list", metavar="PATH",
         help="don't record functions in these files or directories (end the list with --)"),
    _opt("--ignore_c_function", help="don't record C functions (builtins, C extensions)"),
    _opt("--ignore_frozen", help="don't record frozen functions (most of the import machinery)"),
    _opt("--log_func_args", help="record the repr of every Python function's arguments"),
    _opt("--log_func_retval", help="record the repr of every Python function's return value"),
    _opt("--log_func_with_objprint",
         help="record arguments and return values as objprint shows them (with their attributes)"),
    _opt("--log_sparse", help="record only the functions decorated with @log_sparse and the "
                              "log_event blocks: no other call is traced"),
    _opt("--sanitize_function_name",
         help="replace what UTF-8 can't encode in function and file names (lone surrogates)"),
    _opt("--log_print", group="extra",
         help="record every print() as an instant event with its text, instead of printing it"),
    _opt("--log_gc", group="extra",
         help="record each garbage collection: a slice, and collected / uncollectable counts"),
    _opt("--log_async", group="extra",
         help="show each asyncio task on a lane of its own, named after the task (its "
              "coroutines and what they call); the event loop's own work stays on its thread"),
    _opt("--log_exception", group="extra",
         help="record every raised exception, caught or not, as an instant event"),
    _opt("--log_exit", group="extra",
         help="keep tracing while the atexit functions run, after the program ends"),
    _opt("--log_audit", kind="list", group="extra", metavar="REGEX",
         help="record audit events (sys.audit) whose names fully match a REGEX; all of them "
              "when none is given (end the list with --)"),
    _opt("--log_torch", group="extra", help="record PyTorch's profiler events too (needs torch)"),
    _opt("--plugins", kind="list", group="extra", metavar="PLUGIN",
         help='load plugins: each is a module path and its arguments, e.g. "vizplugins.cpu_usage '
              '-f 100" (quoted; end the list with --)'),
    _opt("--minimize_memory", group="output",
         help="keep memory low while saving (this version always streams the report to the file)"),
    _opt("--pid_suffix", group="output",
         help="put the process id in the report's file name: result_<pid>.json"),
    _opt("--ignore_multiprocess", group="output",
         help="trace this process only: child processes (subprocess, multiprocessing, os.fork, "
              "...) are left alone, instead of joining the report"),
    _opt("--log_var", kind="list", group="instrument", metavar="REGEX",
         help="record each assignment to a variable whose name fully matches a REGEX (and each "
              "matching argument of a function, at its call), as an instant with the value's repr"),
    _opt("--log_number", kind="list", group="instrument", metavar="REGEX",
         help="the same, as a counter; a value that is not a number stops the program with an "
              "error naming the variable and line"),
    _opt("--log_attr", kind="list", group="instrument", metavar="REGEX",
         help="record each assignment to an attribute whose name fully matches a REGEX "
              "(self.x = ..., obj.items[0].x = ...), as an instant with the value's repr"),
    _opt("--log_func_exec", kind="list", group="instrument", metavar="REGEX",
         help="in each function whose name fully matches a REGEX, record every assignment in "
              "the exec_steps argument of the call"),
    _opt("--log_func_entry", kind="list", group="instrument", metavar="REGEX",
         help="record an instant each time a function whose name fully matches a REGEX is called"),
    _opt("--magic_comment", group="instrument",
         help="act on the program's '# !viztracer: ...' comments: log_instant(...) or "
              "log_var(...) on a line of their own, 'log' or 'log if COND' at the end of a "
              "statement (end the REGEX lists above with --)"),
    # Options of VizTracer 1.x whose features come later: accepted, with a warning.
    _opt("--trace_self", help="record viztracer's own calls too (to debug viztracer)"),
    # A hidden option of 1.x: its raw dump, what this version always writes.
    _opt("--dump_raw", group="later", status=SILENT, help=argparse.SUPPRESS),
    # Hidden options of 1.x, used between its own processes.
    _opt("--patch_only", group="later", status=NOT_YET, help=argparse.SUPPRESS),
    # 1.x's own, between its processes: child processes join the report without it here.
    _opt("--subprocess_child", group="later", status=SILENT, help=argparse.SUPPRESS),
    *(_opt(f"--{name}", group="later", status=OBSOLETE, help=argparse.SUPPRESS)
      for name in ("log_subprocess", "log_multiprocess")),
    _opt("--file_info", group="later", status=SILENT, help=argparse.SUPPRESS),
    # Modes that do something else than running a program.
    *(_opt(f"--{name}", kind="list", group="modes", metavar="REPORT", help=help_) for name, help_ in (
        ("combine", "merge reports (.json, .json.gz, .pftrace) into the -o file, or convert one "
                    "report to the -o file's format"),
        ("align_combine", "merge reports, each shifted to start at 0 (or, when every report "
                          "has one, to its sync marker at 0), to compare runs"))),
    *(_opt(f"--{name}", kind="optional", group="modes", metavar="REPORT", help=help_) for name, help_ in (
        ("compress", "compress a report (.json, .json.gz, .pftrace) into the compact .cvf format, "
                     "written to -o (result.cvf by default)"),
        ("decompress", "turn a .cvf report back into JSON, written to -o (result.json by default)"))),
    *(_opt(f"--{name}", kind="optional", type=int, group="modes",
           default=-1, metavar="PID", help=help_) for name, help_ in (
        ("attach", "trace the running Python process PID (Linux; it must be able to import "
                   "viztracer, and gdb must be installed): it saves the report to -o, made with "
                   "these options"),
        ("attach_installed", "trace the running process PID whose program called "
                             "tracer.install() (SIGUSR1 starts, SIGUSR2 stops and saves): it "
                             "saves the report where its VizTracer says"),
        ("uninstall", "stop any tracing in process PID without saving, and remove what "
                      "tracer.install() and --attach left there"))),
    _opt("-t", kind="optional", type=float, group="modes", default=-1, metavar="SECONDS",
         help="with --attach or --attach_installed: trace for SECONDS, then save "
              "(default: until Ctrl+C)"),
)

_BY_FLAG = {flag: opt for opt in OPTIONS for flag in opt.flags}
_BY_DEST = {opt.dest: opt for opt in OPTIONS}
DEFAULTS = {opt.dest: opt.default_value for opt in OPTIONS}
# Keys of the rcfile that aren't options to set there.
_NOT_IN_RCFILE = {"module", "cmd_string", "rcfile"}


class _ArgumentParser(argparse.ArgumentParser):
    """argparse, with errors raised as one-line CliError instead of usage + exit."""

    def error(self, message: str) -> Any:
        raise CliError(f"{message} (see viztracer --help)")


def build_parser() -> argparse.ArgumentParser:
    """The parser of viztracer's own options; options not given are left out of the result."""
    parser = _ArgumentParser(
        prog=PROG,
        usage="%(prog)s [options] (script.py | -m module | -c code) [args ...]",
        description="Trace every function call of a Python program and save a report to open "
                    "with vizviewer.",
        epilog="Everything after the program (the script, -m module or -c code) is passed to it. "
               "Default options can be set in ./.viztracerrc, under a [default] section. "
               "The other options of VizTracer 1.x (-t, --patch_only) "
               "are accepted and have no effect yet.",
        argument_default=argparse.SUPPRESS,
    )
    parser.add_argument("--version", action="version", version=__version__,
                        help="print the version and exit")
    groups = {key: parser.add_argument_group(title) if title else parser for key, title in GROUPS.items()}
    for opt in OPTIONS:
        kwargs: dict[str, Any] = {"help": opt.help, "dest": opt.dest}
        if opt.kind == "flag":
            kwargs["action"] = "store_true"
        else:
            kwargs["nargs"] = {"value": None, "list": "*", "optional": "?"}[opt.kind]
            kwargs["metavar"] = opt.metavar
            if opt.type is not None:
                kwargs["type"] = opt.type
        groups[opt.group].add_argument(*opt.flags, **kwargs)
    return parser


# -- splitting viztracer's options from the program ----------------------------------------------

@dataclass
class CommandLine:
    """A command line cut in two: viztracer's options, and the program with its arguments."""

    options: list[str]
    kind: str | None = None  # "script", "module", "code", or None when no program is given
    target: str = ""
    args: list[str] = field(default_factory=list)
    last_list_option: str | None = None


def _lookup(token: str) -> tuple[Option | None, bool]:
    """The option a token names, and whether its value is attached (``--x=1``, ``-ofile``)."""
    if token.startswith("--"):
        name, eq, _ = token.partition("=")
        if name in _BY_FLAG:
            return _BY_FLAG[name], bool(eq)
        matches = {opt for flag, opt in _BY_FLAG.items() if flag.startswith("--") and flag.startswith(name)}
        return (matches.pop() if len(matches) == 1 else None), bool(eq)
    opt = _BY_FLAG.get(token[:2])
    return opt, opt is not None and len(token) > 2 and opt.kind != "flag"


def _looks_like_option(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return False
    try:
        float(token)
    except ValueError:
        return True
    return False


def _values_taken(opt: Option | None, attached: bool, rest: list[str]) -> int:
    """How many of the following tokens are values of ``opt``, as argparse will count them."""
    if opt is None or opt.kind == "flag" or attached:
        return 0
    if opt.kind == "value":
        return min(1, len(rest))
    count = 0
    for token in rest:
        if token in ("--", "--run") or _looks_like_option(token):
            break
        count += 1
        if opt.kind == "optional":
            break
    return count


def split_command_line(argv: list[str]) -> CommandLine:
    """Find where viztracer's options end and the program begins."""
    i = 0
    last_list_option = None
    while i < len(argv):
        token = argv[i]
        if token in ("--", "--run"):
            rest = argv[i + 1:]
            if not rest:
                return CommandLine(argv[:i])
            return CommandLine(argv[:i], "script", rest[0], rest[1:])
        if not _looks_like_option(token):
            return CommandLine(argv[:i], "script", token, argv[i + 1:], last_list_option)
        opt, attached = _lookup(token)
        if opt is not None and opt.status == PROGRAM:
            return _split_program_option(argv, i, opt, attached)
        taken = _values_taken(opt, attached, argv[i + 1:])
        last_list_option = token if opt is not None and opt.kind == "list" else None
        i += 1 + taken
    return CommandLine(argv, last_list_option=last_list_option)


def _split_program_option(argv: list[str], i: int, opt: Option, attached: bool) -> CommandLine:
    token = argv[i]
    if attached:
        target = token.partition("=")[2] if token.startswith("--") else token[2:]
        rest = argv[i + 1:]
    elif i + 1 < len(argv):
        target, rest = argv[i + 1], argv[i + 2:]
    else:
        what = "module name" if opt.dest == "module" else "code"
        raise CliError(f"{token} needs a value: the {what} to run")
    # `viztracer -m mod -- args` passes args, like VizTracer 1.x.
    if rest and rest[0] in ("--", "--run"):
        rest = rest[1:]
    return CommandLine(argv[:i], "module" if opt.dest == "module" else "code", target, rest)


# -- options: command line over rcfile over defaults -----------------------------------------------

@dataclass
class Settings:
    """The options in force, and for each one set in the rcfile, that file's name."""

    values: dict[str, Any]
    from_rcfile: dict[str, str]
    given: set[str]

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name not in values:
            raise AttributeError(name)
        return values[name]

    def origin(self, dest: str) -> str:
        """`` (set in FILE)`` when the option came from a configuration file, else empty."""
        return f" (set in {self.from_rcfile[dest]})" if dest in self.from_rcfile else ""


def _rc_bool(path: str, key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0", ""):
        return False
    raise CliError(f"{path}: {key} is a flag, its value must be True or False, got {value!r}")


def _rcfile_tokens(path: str, raw: dict[str, str], warn: Callable[[str], None]) -> list[str]:
    """Turn the rcfile's ``key = value`` pairs into command-line tokens."""
    tokens: list[str] = []
    for key, value in raw.items():
        opt = _BY_DEST.get(key)
        if opt is None or key in _NOT_IN_RCFILE:
            warn(f"{path}: unknown option {key!r} ignored")
        elif opt.kind == "flag":
            if _rc_bool(path, key, value):
                tokens.append(opt.long_flag)
        elif opt.kind == "list":
            tokens += [opt.long_flag, *value.split()]
        else:
            tokens.append(f"{opt.long_flag}={value.strip()}")
    return tokens


def parse_settings(options: list[str], warn: Callable[[str], None]) -> Settings:
    """Parse viztracer's options, filling in the rcfile's values and the defaults."""
    parser = build_parser()
    given = vars(parser.parse_args(options))
    try:
        rc_path, raw = read_rcfile(given.get("rcfile"))
    except RcFileError as exc:
        raise CliError(str(exc)) from None
    from_rc: dict[str, Any] = {}
    if rc_path is not None:
        tokens = _rcfile_tokens(rc_path, raw, warn)
        try:
            from_rc = vars(parser.parse_args(tokens))
        except CliError as exc:
            raise CliError(f"{rc_path}: {exc}") from None
    if "output_file" in given and "unique_output_file" in given:
        raise CliError("-o/--output_file and -u/--unique_output_file can't be used together; pick one")
    values = {**DEFAULTS, **from_rc, **given}
    # On the command line, -o and -u each override the other's value from the rcfile.
    if "output_file" in given:
        values["unique_output_file"] = False
    elif "unique_output_file" in given:
        values["output_file"] = None
    rc_origin = {dest: rc_path for dest in from_rc if dest not in given and rc_path is not None}
    return Settings(values, rc_origin, set(given) | set(from_rc))


def check_compatibility_options(settings: Settings, warn: Callable[[str], None]) -> None:
    """Warn about options that do nothing yet, or nothing any more."""
    for opt in OPTIONS:
        value = settings.values[opt.dest]
        if opt.dest not in settings.given or value == opt.default_value:
            continue
        if opt.status == NOT_YET:
            warn(f"{opt.long_flag} has no effect yet in this version")
        elif opt.status == OBSOLETE:
            warn(f"{opt.long_flag} is no longer needed and has no effect")


INSTRUMENT_LISTS = ("log_var", "log_number", "log_attr", "log_func_exec", "log_func_entry")


def instrument_options(settings: Settings, warn: Callable[[str], None]) -> Any:
    """The source instrumentation the options ask for (a ``viztracer.instrument.Options``),
    with each REGEX compiled; None when none is asked for, and then nothing is imported."""
    given = [dest for dest in INSTRUMENT_LISTS if settings.values[dest] is not None]
    for dest in given:
        if not settings.values[dest]:
            warn(f"--{dest} was given no REGEX, so it logs nothing{settings.origin(dest)}")
    lists = {dest: settings.values[dest] for dest in given if settings.values[dest]}
    if not lists and not settings.magic_comment:
        return None
    compiled: dict[str, tuple[re.Pattern[str], ...]] = {}
    for dest, patterns in lists.items():
        compiled[dest] = tuple(_regex(f"--{dest}", pattern, settings.origin(dest)) for pattern in patterns)
    from .instrument import Options

    return Options(**compiled, magic_comment=bool(settings.magic_comment))


def _regex(flag: str, pattern: str, origin: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise CliError(f"{flag}: {pattern!r} is not a valid regular expression ({exc}){origin}") from None


def tracer_options(settings: Settings) -> dict[str, Any]:
    """The keyword arguments of ``VizTracer`` that the options ask for, checked."""
    entries = settings.tracer_entries
    if entries <= 0:
        raise CliError(f"--tracer_entries must be a positive integer, got {entries}"
                       f"{settings.origin('tracer_entries')}")
    if settings.include_files and settings.exclude_files:
        raise CliError("--include_files and --exclude_files can't be used together; pick one"
                       f"{settings.origin('include_files') or settings.origin('exclude_files')}")
    try:
        min_duration = parse_duration_us(str(settings.min_duration))
    except ValueError as exc:
        raise CliError(f"--min_duration: {exc}{settings.origin('min_duration')}") from None
    for pattern in settings.log_audit or ():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise CliError(f"--log_audit: {pattern!r} is not a valid regular expression ({exc})"
                           f"{settings.origin('log_audit')}") from None
    return {
        "tracer_entries": entries,
        "verbose": 0,
        "max_stack_depth": settings.max_stack_depth,
        "include_files": settings.include_files,
        "exclude_files": settings.exclude_files,
        "ignore_c_function": settings.ignore_c_function,
        "ignore_frozen": settings.ignore_frozen,
        "log_func_args": settings.log_func_args,
        "log_func_retval": settings.log_func_retval,
        "log_func_with_objprint": settings.log_func_with_objprint,
        "log_sparse": settings.log_sparse,
        "sanitize_function_name": settings.sanitize_function_name,
        "log_print": settings.log_print,
        "log_gc": settings.log_gc,
        "log_exception": settings.log_exception,
        "log_async": settings.log_async,
        "log_audit": settings.log_audit,
        "log_torch": settings.log_torch,
        "plugins": settings.plugins,
        "minimize_memory": settings.minimize_memory,
        "pid_suffix": settings.pid_suffix,
        "trace_self": settings.trace_self,
        "stream": settings.stream,
        "dump_raw": settings.dump_raw,
        "min_duration": min_duration,
        "register_global": True,
    }
