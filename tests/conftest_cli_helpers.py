"""Helpers for the command-line tests: run the real ``viztracer`` command, read its reports.

Every CLI test runs both ways a user can start the command: the console script next to the
interpreter, and ``python -m viztracer``.
"""
from __future__ import annotations

import gzip
import json
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import viztracer

COMMANDS = {
    "console-script": [os.path.join(os.path.dirname(sys.executable), "viztracer")],
    "python-m": [sys.executable, "-m", "viztracer"],
}

both_commands = pytest.mark.parametrize("cmd", list(COMMANDS.values()), ids=list(COMMANDS))

TIMEOUT = 60


# The source tree whose viztracer the tests import: the commands run that one too (an
# editable install may point elsewhere, e.g. from a git worktree).
SOURCE_TREE = str(Path(viztracer.__file__).resolve().parent.parent)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a run: no Python settings leaking in from the test runner, but the
    viztracer under test ahead of any installed one."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "COV_CORE")) and k != "VIRTUAL_ENV"}
    env["PYTHONPATH"] = SOURCE_TREE
    env.update(extra)
    return env


def run(cmd: list[str], *args: str, cwd: Path, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``cmd args...`` in ``cwd`` and wait for it."""
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=clean_env())


def read_stderr_until(proc: subprocess.Popen[str], text: str, timeout: float) -> str:
    """What a running command has printed on stderr once ``text`` is among it; fails the test
    if that line has not come within ``timeout`` seconds or the command ended first."""
    assert proc.stderr is not None
    seen = ""
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            pytest.fail(f"the command did not print {text!r} within {timeout} s; it printed {seen!r}")
        chunk = os.read(fd, 65536)      # raw, so nothing waits unseen in the text wrapper's buffer
        if not chunk:
            pytest.fail(f"the command ended before printing {text!r}; it printed {seen!r}")
        seen += chunk.decode(errors="replace")
    return seen


def write(path: Path, source: str) -> Path:
    """Write dedented ``source`` to ``path`` (creating folders) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source).lstrip("\n"))
    return path


def load_report(path: Path) -> dict[str, Any]:
    """Load a .json or .json.gz report."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return json.load(f)


def complete_events(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The report's ``X`` (complete) events, one a recorded call."""
    return [e for e in report["traceEvents"] if e.get("ph") == "X"]


def names(report: dict[str, Any]) -> list[str]:
    return [e["name"] for e in complete_events(report)]


def line_of(path: Path, text: str) -> int:
    """The 1-based number of the first line of ``path`` that contains ``text``."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if text in line:
            return number
    raise AssertionError(f"{text!r} not in {path}")


def stderr_lines(proc: subprocess.CompletedProcess[str]) -> list[str]:
    return proc.stderr.splitlines()


def check_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str, status: int) -> str:
    """Assert the command ended with ``status`` and one ``viztracer: error:`` line holding every
    needle, and no traceback; returns that line."""
    assert proc.returncode == status, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("viztracer: error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


FIB = """
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)

    fib(10)
"""
