"""viztracer: record every function call of a Python program and show it on a timeline."""
from .tracer import VizEvent, VizTracer, get_tracer
from .version import __version__

__all__ = ["__version__", "VizTracer", "VizEvent", "get_tracer"]
