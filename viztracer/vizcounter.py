"""``VizCounter``: a counter track whose values are the public attributes of an object."""
from __future__ import annotations

from typing import Any

from . import _events
from .event_base import _EventBase, _public_class_attributes


class VizCounter(_EventBase):
    """Each write to a public attribute logs a counter sample holding every logged attribute.
    Values must be numbers (bools count as 0 and 1): anything else is a ValueError."""

    def _viztracer_check(self, attr: str, value: Any) -> int | float:
        if not isinstance(value, (int, float)):
            raise ValueError(f"VizCounter {self._viztracer_name!r}: {attr} must be a number to be "
                             f"counted, got {type(value).__name__}")
        return int(value) if isinstance(value, bool) else value     # a number in every format

    def _viztracer_log(self) -> None:
        tracer = self._viztracer_tracer
        if tracer is None:
            return
        tracer.add_counter(self._viztracer_name, self._viztracer_snapshot())


# Attribute writes take the compiled path (viztracer/_events: the same checks and the same
# events as _EventBase.__setattr__), which costs the profile hook nothing.
VizCounter.__setattr__ = _events.counter_setattr  # type: ignore[assignment, method-assign]
_events.use_counter_class(VizCounter, _public_class_attributes, _EventBase.__setattr__)
