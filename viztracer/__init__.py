"""viztracer: record every function call of a Python program and show it on a timeline."""
from typing import Any

from .cellmagic import load_ipython_extension
from .decorator import ignore_function, log_sparse, trace_and_save
from .tracer import VizTracer, get_tracer
from .version import __version__
from .vizevent import VizEvent  # noqa: F401 - importable as before; not in 1.x's __all__

__all__ = [
    "__version__",
    "VizTracer",
    "ignore_function",
    "trace_and_save",
    "log_sparse",
    "get_tracer",
    "load_ipython_extension",
]

# Names the user manual imports from the package itself; loaded when first used.
_LAZY = {
    "VizCounter": "vizcounter",
    "VizObject": "vizobject",
    "VizLoggingHandler": "vizlogging",
    "VizPluginBase": "vizplugin",
    "VizPluginError": "vizplugin",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'viztracer' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)

