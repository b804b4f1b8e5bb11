"""``VizObject``: an object whose public attributes are logged as snapshots (``N``/``O``/``D``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .event_base import _EventBase

if TYPE_CHECKING:
    from .tracer import VizTracer

_JSON_SCALARS = (str, int, float, bool, type(None))


def _loggable(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` is JSON: dicts with string keys, lists, tuples, strings, numbers."""
    if isinstance(value, _JSON_SCALARS):
        return True
    if depth > 64:
        return False
    if isinstance(value, (list, tuple)):
        return all(_loggable(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _loggable(v, depth + 1) for k, v in value.items())
    return False


class VizObject(_EventBase):
    """Created: an ``N`` event; each write to a public attribute: an ``O`` event with
    ``{"snapshot": {attribute: value}}``; collected: a ``D`` event. Values must be JSON (dict,
    list, str, number, bool, None): anything else is a ValueError."""

    def __init__(self, tracer: VizTracer | None, name: str, **kwargs: Any) -> None:
        super().__init__(tracer, name, **kwargs)
        self._viztracer_id = str(id(self))
        if tracer is not None:
            tracer.add_object("N", self._viztracer_id, self._viztracer_name)

    def __del__(self) -> None:
        tracer = self.__dict__.get("_viztracer_tracer")
        if tracer is not None and "_viztracer_id" in self.__dict__:
            tracer.add_object("D", self._viztracer_id, self._viztracer_name)

    def _viztracer_check(self, attr: str, value: Any) -> None:
        if not _loggable(value):
            raise ValueError(f"VizObject {self._viztracer_name!r}: {attr} must be JSON (dict, list, "
                             f"str, number, bool or None) to be logged, got {type(value).__name__}")

    def _viztracer_log(self, ph: str = "O") -> None:
        tracer = self._viztracer_tracer
        if tracer is None:
            return
        tracer.add_object(ph, self._viztracer_id, self._viztracer_name,
                          {"snapshot": self._viztracer_snapshot()})
