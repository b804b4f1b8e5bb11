"""Report writers, chosen by the output file's extension.

Each writer module exposes ``EXTENSIONS`` (the file name endings it handles),
``write(recording, path, file_info) -> int`` (the number of events written) for a
``Recording`` (``viztracer/recording.py``: writers never see the tracer), and
``write_from_report(report, path) -> int`` for a loaded report (conversion, combining).
A writer module is imported when a file of its kind is written: the HTML writer brings the
viewer's column builder with it, which ``import viztracer`` has no use for.
"""
from __future__ import annotations

import importlib
import os
import shlex
import shutil
import sys
from types import ModuleType
from typing import TYPE_CHECKING

from ..errors import ReportError

if TYPE_CHECKING:
    from ..recording import Recording

__all__ = ["ReportError", "writer_for", "check_output_path", "write_report", "write_report_dict",
           "open_hint", "WRITERS"]

# The writer modules and the file name endings each handles (its EXTENSIONS).
WRITERS: dict[str, tuple[str, ...]] = {
    "chrome_json": (".json", ".json.gz"),
    "perfetto": (".pftrace", ".perfetto-trace"),
    "html": (".html",),
    "cvf": (".cvf",),
}


def writer_for(path: str) -> ModuleType:
    """The writer module for ``path``, or ReportError naming the extensions we can write."""
    lower = path.lower()
    for module, extensions in WRITERS.items():
        if lower.endswith(extensions):
            return importlib.import_module(f"{__name__}.{module}")
    known = ", ".join(ext for extensions in WRITERS.values() for ext in extensions)
    raise ReportError(f"cannot write {path!r}: unknown report extension; use {known}")


def check_output_path(path: str) -> None:
    """Fail early, before tracing, when ``path`` cannot be written."""
    writer_for(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ReportError(f"cannot write {path!r}: directory {folder!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise ReportError(f"cannot write {path!r}: no permission to write in {folder!r}")
    if os.path.isdir(path):
        raise ReportError(f"cannot write {path!r}: it is a directory")


def write_report(recording: Recording, path: str, file_info: bool = True) -> int:
    """Write a recording's events to ``path``; returns the number of events."""
    writer = writer_for(path)
    check_output_path(path)
    try:
        return writer.write(recording, path, file_info)
    except OSError as e:
        raise ReportError(f"cannot write {path!r}: {e.strerror or e}") from e


def write_report_dict(report: dict, path: str) -> int:
    """Write a loaded report (``load_report``'s dict) to ``path``, in the format its name says."""
    writer = writer_for(path)
    check_output_path(path)
    try:
        return writer.write_from_report(report, path)
    except OSError as e:
        raise ReportError(f"cannot write {path!r}: {e.strerror or e}") from e
    except ValueError as e:
        raise ReportError(f"cannot write {path!r}: {e}") from e


def open_hint(path: str) -> str:
    """One line telling the user how to look at the report in ``path``."""
    if shutil.which("vizviewer"):
        return f"Open it with: vizviewer {path}"
    # installed in a virtualenv that is not activated: name the script next to the interpreter
    beside = os.path.join(os.path.dirname(sys.executable), "vizviewer")
    if os.access(beside, os.X_OK):
        return f"Open it with: {shlex.quote(beside)} {path}"
    return f"Open it in the Perfetto UI (ui.perfetto.dev) or chrome://tracing: {path}"
