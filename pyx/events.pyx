# cython: language_level=3, boundscheck=False, wraparound=False
"""The custom-event API's fast paths: ``VizTracer.log_instant``, ``add_instant``, ``log_var``,
``add_counter`` and ``VizCounter``'s attribute writes, compiled.

Why compiled: a traced program calls these often, and a call of a Python method costs two
profile events and the interpreter's slower tracing mode on top of its own work. CPython
reports calls of its own builtins to a profiler, not calls of compiled (Cython) functions, so a
call of one of these costs the hook nothing. Whatever Python code they must run (objprint's text
of a value, a snapshot of a counter whose class has attributes of its own) they reach through a
Python function of viztracer's directory, which the hook leaves out with all it calls: the
traced program's report never shows our work.

``tracer.py`` and ``vizcounter.py`` put these functions in their classes, so ``self`` is a
``VizTracer`` or a ``VizCounter``.
"""
from viztracer._tracer cimport Tracer, counter_sample, scope_letter

cdef object _object_text = None        # tracer._object_text, looked up on first use
cdef object _counter_class = None      # VizCounter, and from event_base.py: the names of a
cdef object _class_attributes = None   # class's public attributes, and the general __setattr__
cdef object _general_setattr = None
cdef dict _fast_classes = {}           # class -> whether its writes take the fast path

cdef tuple _OWN_METHODS = ("_viztracer_log", "_viztracer_check", "_viztracer_snapshot",
                           "_viztracer_attributes", "_viztracer_logged")


cdef inline Tracer core_of(tracer):
    return <Tracer?>tracer._core


cdef int instant(self, name, args, scope) except -1:
    """An instant of ``self``'s tracer when it is tracing; a bad scope is a ValueError anyway."""
    cdef unsigned short letter = scope_letter(scope)
    cdef Tracer core = core_of(self)
    if core.running:
        core.record_instant(name if type(name) is str else str(name), args, letter)
    return 0


def log_instant(self, name, args=None, scope="t", cond=True):
    """Record an instant event (thread scope by default) when ``cond`` is true."""
    if cond:
        instant(self, name, args, scope)


def add_instant(self, name, args=None, scope="g"):
    """Record an instant event; ``scope`` is ``g`` (global), ``p`` (process) or ``t`` (thread)."""
    instant(self, name, args, scope)


def add_counter(self, name, args):
    """Record the values of a counter track; a value that is not a number is a ValueError."""
    if type(args) is not dict:
        if not isinstance(args, dict):
            raise ValueError(f"counter {name!r}: the values must be a dict, got {type(args).__name__}")
        args = dict(args)
    name = name if type(name) is str else str(name)
    cdef dict sample = counter_sample(name, args)
    cdef Tracer core = core_of(self)
    if core.running:
        core.record_counter(name, sample)


def log_var(self, name, var, cond=True):
    """Record a variable when ``cond`` is true: a number (or bool) becomes a counter sample
    ``{"value": var}``, anything else an instant carrying ``{"object": <its text>}``."""
    global _object_text
    if not cond:
        return
    cdef Tracer core = core_of(self)
    if not core.running:
        return
    name = name if type(name) is str else str(name)
    if type(var) is int or type(var) is float:
        core.record_counter(name, {"value": var})
    elif type(var) is bool:
        core.record_counter(name, {"value": 1 if var else 0})
    elif isinstance(var, (int, float)):
        core.record_counter(name, {"value": var})
    else:
        if _object_text is None:
            from viztracer.tracer import _object_text as text_function
            _object_text = text_function
        core.record_instant(name, {"object": _object_text(var)}, <unsigned short>ord("t"))


# -- VizCounter ---------------------------------------------------------------------------------

def use_counter_class(cls, class_attributes, general_setattr):
    """Called once by vizcounter.py: ``cls`` is VizCounter, ``class_attributes(cls)`` the names
    of the public attributes a class gives its instances, ``general_setattr`` _EventBase's."""
    global _counter_class, _class_attributes, _general_setattr
    _counter_class = cls
    _class_attributes = class_attributes
    _general_setattr = general_setattr
    _fast_classes.clear()


cdef bint fast_class(cls) except -1:
    """Whether a counter of this class can be logged from its ``__dict__`` alone: it changes
    none of VizCounter's logging methods and has no public class attributes or properties."""
    cached = _fast_classes.get(cls)
    if cached is not None:
        return cached
    fast = not _class_attributes(cls) and all(
        getattr(cls, method, None) is getattr(_counter_class, method) for method in _OWN_METHODS)
    _fast_classes[cls] = fast
    return fast


def counter_setattr(self, str name, value):
    """``VizCounter.__setattr__``: a write to a logged public attribute logs a counter sample
    with every logged attribute; a value that is not a number is a ValueError, and the
    attribute is left as it was. The general path (event_base.py) does the same in Python; this
    one takes over for the usual counter: no include list, no class attributes."""
    cdef dict own = self.__dict__
    if name.startswith("_") or not own.get("_viztracer_enable") or own.get("_viztracer_tracer") is None:
        object.__setattr__(self, name, value)
        return
    cls = type(self)
    config = own["_viztracer_config"]
    only, exclude = config["include_attributes"], config["exclude_attributes"]
    if only or not fast_class(cls):
        _general_setattr(self, name, value)
        return
    if exclude and name in exclude:
        object.__setattr__(self, name, value)
        return
    if type(value) is not int and type(value) is not float and not isinstance(value, (int, float)):
        raise ValueError(f"VizCounter {own['_viztracer_name']!r}: {name} must be a number to be "
                         f"counted, got {type(value).__name__}")
    object.__setattr__(self, name, value)
    if not config["trigger_on_change"]:
        return
    tracer = own["_viztracer_tracer"]
    core = getattr(tracer, "_core", None)
    if not isinstance(core, Tracer):     # not a VizTracer: its own add_counter does the work
        self._viztracer_log()
        return
    if not (<Tracer>core).running:
        return
    cdef dict sample = {}
    for key, v in own.items():
        if (<str>key).startswith("_") or exclude and key in exclude:
            continue
        if type(v) is int or type(v) is float:
            sample[key] = v
        elif type(v) is bool:
            sample[key] = 1 if v else 0
        elif isinstance(v, (int, float)):
            sample[key] = v
        elif not callable(v):
            raise ValueError(f"VizCounter {own['_viztracer_name']!r}: {key} must be a number to be "
                             f"counted, got {type(v).__name__}")
    (<Tracer>core).record_counter(own["_viztracer_name"], sample)

