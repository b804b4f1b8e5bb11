"""``_EventBase``: objects whose attribute writes are logged (base of VizCounter and VizObject).

A public attribute (not starting with ``_``) written on such an object logs a snapshot of its
public attributes, unless ``trigger_on_change`` is off; ``include_attributes`` /
``exclude_attributes`` choose which attributes count. The snapshot holds the instance's
attributes and the class's plain attributes and properties (class-level values that can't be
logged are left out). With a tracer of None everything is a no-op, so instrumented code runs
unchanged without viztracer. Otherwise a value that can't be logged is a ValueError at the
write that brings it, and the attribute is not changed.
"""
from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .decorator import inner_code, register_passthrough

if TYPE_CHECKING:
    from .tracer import VizTracer

_CONFIG_KEYS = ("trigger_on_change", "include_attributes", "exclude_attributes")
_class_attributes: weakref.WeakKeyDictionary[type, tuple[str, ...]] = weakref.WeakKeyDictionary()


def _public_class_attributes(cls: type) -> tuple[str, ...]:
    """Public names a class gives its instances that hold values: plain class attributes and
    properties (methods are not logged)."""
    names = _class_attributes.get(cls)
    if names is None:
        found = []
        for name in dir(cls):
            if name.startswith("_"):
                continue
            value = getattr(cls, name, None)
            if isinstance(value, property) or not callable(value):
                found.append(name)
        names = _class_attributes[cls] = tuple(found)
    return names


class _EventBase:
    """See the module's docstring. Subclasses say how a snapshot is checked and logged."""

    def __init__(self, tracer: VizTracer | None, name: str | None = None, **kwargs: Any) -> None:
        self._viztracer_tracer = tracer
        self._viztracer_name = name if name is not None else type(self).__name__
        self._viztracer_config: dict[str, Any] = {
            "trigger_on_change": True, "include_attributes": [], "exclude_attributes": []}
        for key, value in kwargs.items():
            self._viztracer_set_config(key, value)
        self._viztracer_enable = True

    # -- configuration ---------------------------------------------------------------------

    def _viztracer_set_config(self, key: str, value: Any) -> None:
        if key not in _CONFIG_KEYS:
            raise ValueError(f"no config named {key!r}; the configs are {', '.join(_CONFIG_KEYS)}")
        if key != "trigger_on_change":
            if value is None:
                value = []
            elif isinstance(value, str):
                value = [value]     # one name, not its letters
            else:
                value = list(value)
        self.__dict__["_viztracer_config"][key] = value

    def config(self, key: str, value: Any) -> None:
        """Set ``trigger_on_change``, ``include_attributes`` or ``exclude_attributes``."""
        self._viztracer_set_config(key, value)

    # -- logging ---------------------------------------------------------------------------

    def _viztracer_logged(self, attr: str) -> bool:
        config = self._viztracer_config
        if config["include_attributes"]:
            return attr in config["include_attributes"]
        return attr not in config["exclude_attributes"]

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_") or not self.__dict__.get("_viztracer_enable") \
                or self._viztracer_tracer is None or not self._viztracer_logged(name):
            object.__setattr__(self, name, value)
            return
        self._viztracer_check(name, value)
        object.__setattr__(self, name, value)
        if self._viztracer_config["trigger_on_change"]:
            self._viztracer_log()

    def _viztracer_attributes(self) -> list[str]:
        config = self._viztracer_config
        if config["include_attributes"]:
            return config["include_attributes"]
        names = [k for k in self.__dict__ if not k.startswith("_")]
        for name in _public_class_attributes(type(self)):
            if name not in self.__dict__:
                names.append(name)
        return [n for n in names if n not in config["exclude_attributes"]]

    def _viztracer_snapshot(self) -> dict[str, Any]:
        """The logged attributes and the values to log for them, as they are now (missing
        and callable ones left out, and class-level values that can't be logged, such as a
        string on a counter's class)."""
        snapshot = {}
        missing = object()
        own = self.__dict__
        for attr in self._viztracer_attributes():
            value = getattr(self, attr, missing)
            if value is missing or callable(value):
                continue
            if attr in own:
                snapshot[attr] = self._viztracer_check(attr, value)
            else:
                try:
                    snapshot[attr] = self._viztracer_check(attr, value)
                except ValueError:
                    continue
        return snapshot

    def _viztracer_check(self, attr: str, value: Any) -> Any:
        """The value to log for attribute ``attr`` (a copy, or converted); ValueError when
        ``value`` can't be logged."""
        raise NotImplementedError("_EventBase is a base class: use VizCounter or VizObject")

    def _viztracer_log(self) -> None:
        raise NotImplementedError("_EventBase is a base class: use VizCounter or VizObject")

    def log(self) -> None:
        """Log the current values of the attributes now."""
        self._viztracer_log()

    @staticmethod
    def triggerlog(method: Callable[..., Any] | None = None, when: str = "after") -> Any:
        """Decorate a method so that calling it logs the attributes ``after`` it runs,
        ``before`` it, or ``both``."""
        if when not in ("after", "before", "both"):
            raise ValueError(f"when must be 'after', 'before' or 'both', got {when!r}")

        def inner(func: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(func)
            def triggerlog_wrapper(self: _EventBase, *args: Any, **kwargs: Any) -> Any:
                if when != "after":
                    self._viztracer_log()
                result = func(self, *args, **kwargs)
                if when != "before":
                    self._viztracer_log()
                return result

            return triggerlog_wrapper

        return inner(method) if method is not None else inner


# The method a triggerlog wraps is the program's: recorded as if undecorated.
register_passthrough(inner_code(inner_code(_EventBase.triggerlog, "inner"), "triggerlog_wrapper"))
