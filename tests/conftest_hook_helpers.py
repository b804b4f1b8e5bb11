"""Which hook the tracer records through in this test process, for the few tests whose
expectations differ between them: the profile hook traces the threads it is installed in,
sys.monitoring (3.12+, unless VIZTRACER_HOOK=setprofile) every thread."""
from __future__ import annotations

import sys

from viztracer import _tracer

MONITORING = _tracer.hook_for(True) == "monitoring"


def hook_installed() -> bool:
    """Whether a tracer's hook is installed: the calling thread's profile hook, or our
    callbacks under sys.monitoring's profiler tool id."""
    if sys.getprofile() is not None:
        return True
    mon = getattr(sys, "monitoring", None)
    return mon is not None and mon.get_tool(mon.PROFILER_ID) == "viztracer"
