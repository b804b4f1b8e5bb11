"""Plugins: third-party code that VizTracer tells about its life cycle.

A plugin subclasses :class:`VizPluginBase`, says which viztracer API version it was written
for (``support_version``) and answers ``message(m_type, payload)``:

- ``"event"`` with ``{"when": "initialize" | "pre-start" | "post-stop" | "pre-save"}``: it may
  answer ``{}`` (or None) or an action, ``{"action": "handle_data", "handler": f}``, where
  ``f(data)`` changes the report (``tracer.data``) before it is saved (only at ``pre-save``);
- ``"command"`` with ``{"cmd_type": "terminate"}``: it must answer ``{"success": True}``.

On the command line a plugin is named by its module: ``--plugins "pkg.module arg..."`` imports
``pkg.module`` and calls its ``get_vizplugin(whole_string)``.
"""
from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from .errors import VizPluginError
from .version import API_VERSION

if TYPE_CHECKING:
    from .tracer import VizTracer

__all__ = ["VizPluginBase", "VizPluginError", "PluginManager", "VizPluginManager", "load_plugin"]


class VizPluginBase:
    """The base class of every plugin."""

    def __init__(self) -> None:
        pass

    def support_version(self) -> str:
        """The newest viztracer API version the plugin was written for, e.g. ``"0.15.0"``."""
        raise NotImplementedError("a viztracer plugin must implement support_version()")

    def message(self, m_type: str, payload: dict) -> dict:
        """Answer a message from VizTracer; the default does nothing and accepts terminate."""
        if m_type == "command" and payload.get("cmd_type") == "terminate":
            return {"success": True}
        return {}


def _version_tuple(version: str) -> tuple[int, ...]:
    """``"0.15.1rc2"`` -> ``(0, 15, 1)``: the leading number of each dotted part."""
    parts = []
    for part in version.split("."):
        leading = re.match(r"\s*(\d+)", part)
        parts.append(int(leading.group(1)) if leading else 0)
    while len(parts) > 1 and parts[-1] == 0:    # "1.1" == "1.1.0"
        parts.pop()
    return tuple(parts)


class _NotAPluginError(VizPluginError, TypeError):
    """Something that is not a plugin was given as one (a TypeError in VizTracer 1.x)."""


def _describe(plugin: object) -> str:
    return type(plugin).__module__ + "." + type(plugin).__qualname__


def load_plugin(spec: str) -> VizPluginBase:
    """The plugin named by a command-line string: ``"module.path arg..."``."""
    words = spec.split()
    if not words:
        raise VizPluginError("an empty plugin name was given; name the plugin's module, "
                             "e.g. --plugins vizplugins.cpu_usage")
    module_name = words[0]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None)
        if missing is not None and not (module_name == missing or module_name.startswith(missing + ".")):
            # the plugin is there, but something it imports is not
            raise VizPluginError(f"plugin {module_name!r} can't be loaded: {exc}") from None
        raise VizPluginError(f"plugin {module_name!r} can't be imported ({exc}); "
                             f"is it installed in this environment?") from None
    factory = getattr(module, "get_vizplugin", None)
    if not callable(factory):
        raise VizPluginError(f"plugin module {module_name!r} has no get_vizplugin(arg) function, "
                             f"so it is not a viztracer plugin")
    plugin = factory(spec)
    if not isinstance(plugin, VizPluginBase):
        raise _NotAPluginError(f"{module_name}.get_vizplugin() returned {type(plugin).__name__}, "
                               f"not a VizPluginBase")
    return plugin


class PluginManager:
    """The plugins of one tracer: loads them, sends them events and commands."""

    def __init__(self, tracer: VizTracer, plugins: Sequence[VizPluginBase | str] | None) -> None:
        self._tracer = tracer
        self._plugins: list[VizPluginBase] = []
        for given in plugins or ():
            if isinstance(given, str):
                plugin = load_plugin(given)
            elif isinstance(given, VizPluginBase):
                plugin = given
            else:
                raise _NotAPluginError(f"a plugin must be a VizPluginBase or a module name, "
                                       f"got {type(given).__name__}")
            self._check_version(plugin)
            self._plugins.append(plugin)
            self._send_event(plugin, "initialize")

    @property
    def has_plugin(self) -> bool:
        """Whether any plugin is loaded."""
        return bool(self._plugins)

    @staticmethod
    def _check_version(plugin: VizPluginBase) -> None:
        try:
            wanted = plugin.support_version()
        except NotImplementedError:
            raise VizPluginError(f"plugin {_describe(plugin)} does not say which viztracer version "
                                 f"it supports (support_version() is missing)") from None
        if not isinstance(wanted, str):
            raise VizPluginError(f"plugin {_describe(plugin)}'s support_version() returned "
                                 f"{type(wanted).__name__}, not a version string like '0.15.0'")
        if _version_tuple(wanted) > _version_tuple(API_VERSION):
            raise VizPluginError(f"plugin {_describe(plugin)} needs viztracer {wanted}, newer than "
                                 f"the {API_VERSION} API this viztracer provides; use an older "
                                 f"release of the plugin")

    def _send_event(self, plugin: VizPluginBase, when: str) -> None:
        answer = plugin.message("event", {"when": when})
        if answer is None or answer == {}:
            return
        if not isinstance(answer, dict):
            raise VizPluginError(f"plugin {_describe(plugin)} answered the {when!r} event with "
                                 f"{type(answer).__name__}, not a dict")
        action = answer.get("action")
        if action is None:
            return
        if action != "handle_data":
            raise VizPluginError(f"plugin {_describe(plugin)} asked for the unknown action {action!r} "
                                 f"at {when!r}; the only action is 'handle_data'")
        handler: Callable[[dict], Any] | None = answer.get("handler")
        if not callable(handler):
            raise VizPluginError(f"plugin {_describe(plugin)} asked for 'handle_data' without a "
                                 f"callable 'handler'")
        if when != "pre-save":
            raise VizPluginError(f"plugin {_describe(plugin)} asked for 'handle_data' at {when!r}; "
                                 f"the report's data exists only at 'pre-save'")
        handler(self._tracer.data)

    def event(self, when: str) -> None:
        """Tell every plugin that ``when`` happens (``pre-start``, ``post-stop``, ``pre-save``)."""
        for plugin in self._plugins:
            self._send_event(plugin, when)

    def command(self, cmd: dict) -> None:
        """Send a command to every plugin; each must answer ``{"success": True}``. Every plugin
        gets it even when one fails; the first failure is raised afterwards."""
        failures = []
        for plugin in self._plugins:
            answer = plugin.message("command", cmd)
            if not isinstance(answer, dict) or not answer.get("success"):
                failures.append(f"plugin {_describe(plugin)} did not carry out {cmd!r} "
                                f"(it answered {answer!r})")
        if failures:
            more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
            raise VizPluginError(failures[0] + more)

    def terminate(self) -> None:
        """Tell every plugin to finish, then let them go."""
        try:
            self.command({"cmd_type": "terminate"})
        finally:
            self._plugins = []


# The name of the class in VizTracer 1.x.
VizPluginManager = PluginManager
