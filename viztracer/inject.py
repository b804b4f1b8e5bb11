"""Looking at another process and running Python code in it (Linux), for ``viztracer --attach``.

What a process is comes from ``/proc``: whether it exists, whether it runs Python (and which
version), which signals it handles. Code is run in it in one of two ways:

- ``sys.remote_exec`` (Python 3.14+, PEP 768), when this interpreter has it and the process runs
  the same version: the process runs a script file at its next safe point, in its main thread.
- ``gdb``: attach, and ask the process's own interpreter to run a string later through
  ``Py_AddPendingCall(PyRun_SimpleString, code)``, then detach at once. The pending call runs in
  the main thread between two bytecode instructions, with the GIL held, like a signal handler:
  nothing runs in the middle of whatever the process was doing when gdb stopped it (calling
  ``PyRun_SimpleString`` right away from gdb could land inside the allocator, or wait for a GIL
  that a stopped thread holds). The price: a main thread stuck in one long call (a ``join``, a
  long ``sleep``) runs the code only when that call returns; the code is given a deadline and
  does nothing if it runs after the command gave up.

Either way the code answers through a file (see ``viztracer.attach``); this module only delivers it.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys

from .errors import AttachError

GDB_TIMEOUT = 60.0  # seconds: attaching and one call; a gdb still busy after that is stuck

# -- what /proc says about a process ----------------------------------------------------------


def check_pid(pid: int | None, flag: str) -> int:
    """The PID given to ``flag``, checked to be a process that exists."""
    if pid is None or pid <= 0:
        raise AttachError(f"{flag} needs the PID of a running Python process, e.g. {flag} 1234")
    if pid == os.getpid():
        raise AttachError(f"{flag} {pid} is this viztracer command itself; give the PID of the "
                          "Python process to trace")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise AttachError(f"process {pid} does not exist; check the PID (ps -ef | grep python)") from None
    except PermissionError:
        pass    # another user's: /proc and gdb say later whether we may do anything with it
    if _status_field(pid, "State").startswith("Z"):
        raise AttachError(f"process {pid} has ended (a zombie, waiting for its parent); "
                          "there is nothing left to trace")
    return pid


def process_name(pid: int) -> str:
    """The process's command name (``comm``), or ``?``."""
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip() or "?"
    except OSError:
        return "?"


def _status_field(pid: int, name: str) -> str:
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == name:
                    return value.strip()
    except OSError:
        pass
    return ""


def process_uid(pid: int) -> int | None:
    """The real user id of the process, or None when /proc can't say."""
    uid = _status_field(pid, "Uid").split()
    return int(uid[0]) if uid and uid[0].isdigit() else None


def caught_signals(pid: int) -> set[int] | None:
    """The signals the process has handlers for (``SigCgt``), or None when /proc can't say."""
    mask = _status_field(pid, "SigCgt")
    if not mask:
        return None
    bits = int(mask, 16)
    return {n for n in range(1, 65) if bits & (1 << (n - 1))}


_LIBPYTHON = re.compile(r"libpython(\d+)\.(\d+)")
_PYTHON_EXE = re.compile(r"python(\d+)\.(\d+)")


def python_version(pid: int) -> tuple[int, ...] | None:
    """``(3, 12)`` for a process running Python 3.12, ``()`` for Python of a version that can't be
    told, None when the process doesn't look like Python.

    Seen in the files it maps (``libpython3.12.so``) or its executable's name
    (``python3.12``); a process whose maps can't be read (another user's) counts as unknown."""
    try:
        exe = os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        exe = ""
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as f:
            for line in f:
                found = _LIBPYTHON.search(line)
                if found:
                    return int(found[1]), int(found[2])
    except OSError:
        return _version_from_exe(exe) or ()
    return _version_from_exe(exe)


def _version_from_exe(exe: str) -> tuple[int, ...] | None:
    found = _PYTHON_EXE.match(exe)
    if found:
        return int(found[1]), int(found[2])
    return () if exe.startswith("python") else None


def check_python(pid: int) -> tuple[int, ...]:
    """The process's Python version (``()`` if unknown); AttachError when it isn't Python."""
    version = python_version(pid)
    if version is None:
        raise AttachError(f"process {pid} ({process_name(pid)}) is not a Python process; "
                          "give the PID of a running Python program")
    return version


# -- running code in it -----------------------------------------------------------------------

def wrap(code: str) -> str:
    """``code`` as one line with neither quotes nor backslashes, safe inside gdb's C string
    literal; it runs in a namespace of its own, not in the program's ``__main__``."""
    encoded = base64.b64encode(code.encode("utf-8")).decode("ascii")
    return f"exec(__import__('base64').b64decode('{encoded}'),{{}})"


def can_remote_exec(version: tuple[int, ...]) -> bool:
    """Whether ``sys.remote_exec`` can reach a process running Python ``version``: it needs
    3.14+ here, and the same version there (it reads the interpreter's structures)."""
    return hasattr(sys, "remote_exec") and version == sys.version_info[:2]


def run_code(pid: int, code: str, script_path: str, version: tuple[int, ...]) -> str:
    """Hand ``code`` to process ``pid``, to run in its main thread soon; returns how
    (``sys.remote_exec`` or ``gdb``). AttachError, with what to do, when it can't be done.
    ``script_path``: a file the process can read, for ``sys.remote_exec``."""
    if can_remote_exec(version):    # pragma: no cover - no Python 3.14 here
        with open(script_path, "w", encoding="utf-8") as f:
            f.write(code)
        try:
            sys.remote_exec(pid, script_path)   # type: ignore[attr-defined]
            return "sys.remote_exec"
        except (OSError, RuntimeError) as exc:
            if shutil.which("gdb") is None:
                raise AttachError(f"sys.remote_exec could not reach process {pid} ({exc}); "
                                  f"{_ALTERNATIVES.format(pid=pid)}") from None
    _run_with_gdb(pid, wrap(code))
    return "gdb"


_ALTERNATIVES = "or call tracer.install() in the program and use viztracer --attach_installed {pid}"


def _run_with_gdb(pid: int, line: str) -> None:
    gdb = shutil.which("gdb")
    if gdb is None:
        raise AttachError(f"--attach runs code in process {pid} through gdb, which is not installed "
                          f"(apt install gdb); {_ALTERNATIVES.format(pid=pid)}")
    command = [
        gdb, "-p", str(pid), "-batch", "-nx", "-q",
        "-iex", "set auto-load off",    # no python-gdb.py scripts: only the call below
        "-ex", f'call (int)Py_AddPendingCall((void*)&PyRun_SimpleString, (void*)"{line}")',
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, errors="replace",
                              timeout=GDB_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AttachError(f"gdb did not finish with process {pid} within {GDB_TIMEOUT:.0f} s; "
                          f"nothing was started; {_ALTERNATIVES.format(pid=pid)}") from None
    except OSError as exc:
        raise AttachError(f"can't run gdb ({exc.strerror or exc}); "
                          f"{_ALTERNATIVES.format(pid=pid)}") from None
    _check_gdb_output(pid, done.returncode, done.stdout + done.stderr)


def _check_gdb_output(pid: int, status: int, output: str) -> None:
    """Raise AttachError saying what went wrong, unless gdb printed ``$1 = 0`` (queued)."""
    result = re.search(r"^\$1 = (-?\d+)", output, re.MULTILINE)
    if result and result[1] == "0" and status == 0:
        return
    if "Operation not permitted" in output or "ptrace:" in output:
        raise AttachError(
            f"gdb may not attach to process {pid} (ptrace: operation not permitted): run "
            "viztracer as root or as the process's user with ptrace allowed (sysctl "
            "kernel.yama.ptrace_scope=0; in a container, the SYS_PTRACE capability); "
            f"{_ALTERNATIVES.format(pid=pid)}")
    if re.search(r'No symbol "(Py_AddPendingCall|PyRun_SimpleString)"', output):
        raise AttachError(f"gdb found no Python interpreter in process {pid} "
                          f"({process_name(pid)}): give the PID of a running Python program")
    if result:  # the call ran and refused: the queue of pending calls was full
        raise AttachError(f"process {pid} did not accept the code (Py_AddPendingCall returned "
                          f"{result[1]}); try again in a moment")
    raise AttachError(f"gdb attached to process {pid} but could not run code in it "
                      f"({_last_error(output)}); {_ALTERNATIVES.format(pid=pid)}")


def _last_error(output: str) -> str:
    """gdb's last line that looks like an error, for the one-line message."""
    noise = ("[Thread debugging", "Using host libthread_db", "[Inferior", "warning: ")
    lines = [line.strip() for line in output.splitlines()
             if line.strip() and not line.startswith(noise) and not line.startswith(("0x", "#"))]
    return lines[-1] if lines else "gdb printed no error"
