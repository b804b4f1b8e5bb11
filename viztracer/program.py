"""The traced program: a script, a module (``-m``) or a code string (``-c``), set up as ``__main__``.

Loading happens before tracing starts, so a missing file or module is reported without running
anything. Running is left to the caller (the command line), which executes ``Program.code`` in
``Program.module.__dict__`` inside :func:`as_main`, the way ``python`` itself would run it.
"""
from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import io
import os
import shutil
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


class ProgramError(Exception):
    """The program to trace can't be found or loaded; the message is one line."""


@dataclass
class Program:
    """A program ready to run as ``__main__``."""

    code: types.CodeType
    module: types.ModuleType
    argv: list[str]
    path0: str


def _compile(source: str | bytes, filename: str, instrument: Any) -> types.CodeType:
    """Compile the program's source; with ``instrument`` (an :class:`viztracer.instrument.Options`),
    rewritten to log what it asks for. The instrumentation module is imported only then."""
    if instrument is None:
        return compile(source, filename, "exec", dont_inherit=True)
    from .instrument import compile_program

    return compile_program(source, filename, instrument)


def _add_helper(module: types.ModuleType, instrument: Any) -> None:
    """Give the instrumented program the helper its inserted statements call."""
    if instrument is not None:
        from .instrument import HELPER, HELPER_OBJECT

        setattr(module, HELPER, HELPER_OBJECT)


def _main_module(**attrs: object) -> types.ModuleType:
    module = types.ModuleType("__main__")
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def _find_script(path: str) -> str:
    """The file to run for ``path``: itself, or a command of that name on $PATH, like 1.x."""
    if os.path.isfile(path):
        return path
    if os.path.isdir(path):
        raise ProgramError(f"{path!r} is a directory; give the Python script to run")
    if os.sep not in path:
        found = shutil.which(path)
        if found is not None:
            return found
    raise ProgramError(f"no such file: {path!r}; check the path of the script to run")


def load_script(path: str, args: list[str], instrument: Any = None) -> Program:
    """Load a script file to run as ``python path args...`` would; ``instrument``: the
    source instrumentation to apply (see :func:`_compile`), None for none."""
    if path.endswith((".json", ".json.gz", ".html", ".pftrace", ".cvf")):
        raise ProgramError(f"{path!r} looks like a report, not a program; "
                           f"to look at it, run: vizviewer {path}")
    found = _find_script(path)
    filename = os.path.abspath(found)
    try:
        with io.open_code(filename) as f:
            source = f.read()
    except OSError as exc:
        raise ProgramError(f"can't read {path!r}: {exc.strerror or exc}") from None
    # The real file name goes into the code object: traced function names carry it.
    code = _compile(source, filename, instrument)
    module = _main_module(
        __file__=filename,
        __cached__=None,
        __package__=None,
        __spec__=None,
        __loader__=importlib.machinery.SourceFileLoader("__main__", filename),
    )
    _add_helper(module, instrument)
    return Program(code, module, [found, *args], os.path.dirname(os.path.realpath(filename)))


def _find_module_spec(name: str) -> importlib.machinery.ModuleSpec:
    if name.endswith(".py"):
        raise ProgramError(f"-m takes a module name, not a file: use -m {name[:-3]} "
                           f"or run the file with: viztracer {name}")
    if not name or name.startswith("."):
        raise ProgramError(f"-m needs an absolute module name, got {name!r}")
    try:
        spec = importlib.util.find_spec(name)
    except ImportError as exc:
        # A parent package is missing, or isn't a package.
        raise ProgramError(f"no module named {name!r} ({exc}); check the name after -m and that "
                           f"it can be imported from the current directory") from None
    except Exception as exc:  # importing a parent package failed: say how, on one line
        raise ProgramError(f"error while finding module {name!r}: {type(exc).__name__}: {exc}") from None
    if spec is None:
        raise ProgramError(f"no module named {name!r}; check the name after -m and that it can be "
                           f"imported from the current directory")
    if spec.submodule_search_locations is not None:
        # A package runs through its __main__ submodule, as with python -m.
        try:
            main_spec = importlib.util.find_spec(f"{name}.__main__")
        except ImportError:
            main_spec = None
        if main_spec is None:
            raise ProgramError(f"{name!r} is a package without a __main__ module, "
                               f"so it can't be run with -m")
        spec = main_spec
    return spec


def load_module(name: str, args: list[str], instrument: Any = None) -> Program:
    """Load a module to run as ``python -m name args...`` would; ``instrument`` as for
    :func:`load_script` (the module itself is instrumented, not what it imports).

    Parent packages are imported to find the module (as ``python -m`` does), so the current
    directory must already be on ``sys.path``: call this inside :func:`search_path_first`.
    """
    spec = _find_module_spec(name)
    loader = spec.loader
    if instrument is not None:
        code = _instrumented_module_code(spec, instrument)
    else:
        get_code = getattr(loader, "get_code", None)
        code = get_code(spec.name) if get_code is not None else None
    if code is None:
        raise ProgramError(f"no Python code available for module {name!r}, so it can't be run with -m")
    attrs: dict[str, object] = {"__cached__": spec.cached, "__package__": spec.parent,
                                "__spec__": spec, "__loader__": loader}
    if spec.has_location:
        attrs["__file__"] = spec.origin
    module = _main_module(**attrs)
    _add_helper(module, instrument)
    return Program(code, module, [spec.origin or name, *args], os.getcwd())


def _instrumented_module_code(spec: importlib.machinery.ModuleSpec, instrument: Any) -> types.CodeType:
    get_source = getattr(spec.loader, "get_source", None)
    source = get_source(spec.name) if get_source is not None else None
    if source is None:
        raise ProgramError(f"module {spec.name!r} has no source code to instrument (it is compiled "
                           f"only); run it without --log_var, --log_number, --log_attr, "
                           f"--log_func_exec, --log_func_entry and --magic_comment")
    filename = spec.origin if spec.has_location and spec.origin else f"<{spec.name}>"
    return _compile(source, filename, instrument)


def load_code(source: str, args: list[str], instrument: Any = None) -> Program:
    """Load a code string to run as ``python -c source args...`` would; ``instrument`` as for
    :func:`load_script`."""
    code = _compile(source, "<string>", instrument)
    module = _main_module(__spec__=None, __package__=None,
                          __loader__=importlib.machinery.BuiltinImporter)
    _add_helper(module, instrument)
    return Program(code, module, ["-c", *args], os.getcwd())


def _set_path0(path0: str) -> None:
    # Python puts the program's directory first on sys.path (unless -P / PYTHONSAFEPATH);
    # here sys.path[0] is viztracer's own entry (its bin directory, or the current directory
    # for python -m), which the program's directory takes the place of.
    if sys.flags.safe_path:
        return
    if sys.path:
        sys.path[0] = path0
    else:
        sys.path.insert(0, path0)


@contextmanager
def search_path_first(path0: str) -> Iterator[None]:
    """Put ``path0`` where the program's directory goes on ``sys.path`` for the block."""
    saved = sys.path[:]
    _set_path0(path0)
    try:
        yield
    finally:
        sys.path[:] = saved


@contextmanager
def as_main(program: Program) -> Iterator[None]:
    """Make ``program`` the ``__main__`` module, with its ``sys.argv`` and ``sys.path[0]``.

    Everything is put back when the block ends.
    """
    saved_argv, saved_path = sys.argv, sys.path[:]
    saved_main = sys.modules.get("__main__")
    sys.argv = program.argv
    _set_path0(program.path0)
    sys.modules["__main__"] = program.module
    try:
        yield
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path
        if saved_main is not None:
            sys.modules["__main__"] = saved_main
