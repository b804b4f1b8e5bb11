"""``VizObject``: an object whose public attributes are logged as snapshots (``N``/``O``/``D``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .event_base import _EventBase

if TYPE_CHECKING:
    from .tracer import VizTracer

_JSON_SCALARS = (str, int, float, bool, type(None))
_MAX_DEPTH = 64


class _NotJSON(Exception):
    pass


def _json_copy(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` as it is now (dicts with string keys, lists, tuples as lists,
    strings, numbers, bools, None); _NotJSON for anything else. A snapshot must not change
    when the program changes the list it was taken from."""
    if isinstance(value, _JSON_SCALARS):
        return value
    if depth >= _MAX_DEPTH:
        raise _NotJSON
    if isinstance(value, (list, tuple)):
        return [_json_copy(v, depth + 1) for v in value]
    if isinstance(value, dict):
        copy = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise _NotJSON
            copy[k] = _json_copy(v, depth + 1)
        return copy
    raise _NotJSON


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

    def _viztracer_check(self, attr: str, value: Any) -> Any:
        try:
            return _json_copy(value)
        except (_NotJSON, RecursionError):
            raise ValueError(f"VizObject {self._viztracer_name!r}: {attr} must be JSON (dict, list, "
                             f"str, number, bool or None) to be logged, got {type(value).__name__}") from None

    def _viztracer_log(self, ph: str = "O") -> None:
        tracer = self._viztracer_tracer
        if tracer is None:
            return
        tracer.add_object(ph, self._viztracer_id, self._viztracer_name,
                          {"snapshot": self._viztracer_snapshot()})
