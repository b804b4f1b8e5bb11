"""Errors raised to users of the API. A leaf module: it imports nothing of ours."""
from __future__ import annotations


class ReportError(ValueError):
    """A report cannot be written or read: the message is one line saying why and what to do."""


class HookInUse(RuntimeError):
    """Another profiler holds sys.monitoring's profiler tool id (3.12+): nothing was started.
    The message is one line naming it and what to do."""


class VizPluginError(Exception):
    """A plugin could not be loaded, needs a newer viztracer, or answered a message wrongly.

    The message is one line naming the plugin and what to do.
    """


class LogNumberError(ValueError):
    """A variable logged with ``--log_number`` was given a value that is not a number.

    Raised in the traced program, at the assignment; the message is one line naming the
    variable, the file and line, and the value. A ValueError, as in VizTracer 1.x.
    """


class AttachError(RuntimeError):
    """``viztracer --attach``, ``--attach_installed`` or ``--uninstall`` could not do its work
    on the process: the message is one line saying what failed and what to do. The process
    was left as it was."""
