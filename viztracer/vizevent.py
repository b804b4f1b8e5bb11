"""``VizTracer.log_event``: a duration event for the code in a ``with`` block."""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import _tracer

if TYPE_CHECKING:
    from .tracer import VizTracer


class VizEvent:
    """A duration event named ``"<event_name> (<file>:<line>)"`` after where ``log_event`` was
    called, as VizTracer 1.x names it; use it in a ``with`` statement."""

    def __init__(self, tracer: VizTracer, event_name: str, file_name: str, lineno: int) -> None:
        self._tracer = tracer
        self.event_name = event_name
        self.file_name = file_name
        self.lineno = lineno
        self.name = f"{event_name} ({file_name}:{lineno})"
        self._start = 0

    def __enter__(self) -> VizEvent:
        self._start = _tracer.now_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tracer.enable:
            self._tracer._core.add_duration(self.name, self._start, _tracer.now_ticks())
