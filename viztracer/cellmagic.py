"""The Jupyter ``%%viztracer`` cell magic: ``%load_ext viztracer``, then a cell starting with
``%%viztracer [options]`` runs traced and leaves a button that opens its report in vizviewer.

The options are those of VizTracer 1.1.1's magic, with its defaults: ``-p/--port`` (9001),
``--output_file`` (``./viztracer_report.json``), ``--max_stack_depth``, ``--ignore_c_function``,
``--ignore_frozen``, ``--log_func_args``, ``--log_print``, ``--log_sparse``.

IPython is imported only when the extension is loaded: ``import viztracer`` must stay cheap for
programs that never see a notebook.
"""
from __future__ import annotations

import ast
import os
import shlex
import sys
from typing import Any

DEFAULT_OUTPUT = "./viztracer_report.json"
# The cell's last expression is assigned to this name so that its value can be returned (and
# shown as the cell's Out) while the cell stays one code object, one <module> in the report.
_LAST_VALUE = "_viztracer_cell_value_"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext viztracer``: register the ``%%viztracer`` cell magic with ``ipython``."""
    ipython.register_magics(_magics_class()(shell=ipython))


def _magics_class() -> type:
    """The Magics subclass, made on first use so that IPython is imported only then."""
    from IPython.core.magic import Magics, cell_magic, magics_class
    from IPython.core.magic_arguments import argument, magic_arguments

    @magics_class
    class VizTracerMagics(Magics):
        """Holds the ``%%viztracer`` cell magic."""

        @magic_arguments()
        @argument("-p", "--port", type=int, default=None,
                  help="the port vizviewer serves the report on when the button is clicked "
                       "(default: 9001, or any free port when 9001 is taken)")
        @argument("--output_file", default=DEFAULT_OUTPUT,
                  help="the report to write; its extension picks the format (.json, .json.gz, "
                       f".html, .pftrace, .cvf) (default: {DEFAULT_OUTPUT})")
        @argument("--max_stack_depth", type=int, default=-1,
                  help="record calls only down to this depth (default: -1, no limit)")
        @argument("--ignore_c_function", action="store_true",
                  help="don't record calls of C functions (builtins, extension modules)")
        @argument("--ignore_frozen", action="store_true",
                  help="don't record frozen modules' functions (the import machinery)")
        @argument("--log_func_args", action="store_true",
                  help="record the arguments of every call (slow: each one is repr'd)")
        @argument("--log_print", action="store_true",
                  help="record print() calls as instant events instead of printing")
        @argument("--log_sparse", action="store_true",
                  help="record only the functions decorated with @log_sparse")
        @cell_magic
        def viztracer(self, line: str, cell: str) -> Any:
            """Run the cell under VizTracer, save the report, and show a button that opens it."""
            __tracebackhide__ = True  # noqa: F841 - see run_traced_cell
            return run_traced_cell(self.shell, self.viztracer, line, cell)

    return VizTracerMagics


def run_traced_cell(shell: Any, magic: Any, line: str, cell: str) -> Any:
    """The magic's body: check the options, run ``cell`` traced in the user's namespace, save,
    show the button. Returns the value of the cell's last expression, as a cell would show it."""
    from IPython.core.error import UsageError

    from .errors import HookInUse, ReportError
    from .report import writer_for
    from .tracer import VizTracer, get_tracer, set_global_tracer

    try:
        # Split as a shell would, so that a quoted path keeps its spaces and loses its quotes
        # (IPython's own splitting keeps them).
        argv = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"can't read the options {line.strip()!r}: {exc}") from None
    try:
        options = magic.parser.parse_args(argv)
    except UsageError as exc:     # IPython shows it as one line, without a traceback
        raise UsageError(f"{exc} (the options: %%viztracer?)") from None
    if options.port is not None and not 0 <= options.port <= 65535:
        raise UsageError(f"--port {options.port} is not a port number: give 1 to 65535 (0: any free port)")
    path = os.path.abspath(os.path.expanduser(options.output_file))
    try:
        writer_for(path)    # before the cell runs: a long cell must not be lost to a bad name
    except ReportError as exc:
        raise UsageError(f"--output_file: {exc}") from None
    previous = get_tracer()
    if previous is not None and previous.enable:
        # Its hook would be taken over by the magic's and not given back: it would record
        # nothing more while still believing it runs.
        raise UsageError("a VizTracer is tracing already (get_tracer()); stop it before a "
                         "%%viztracer cell, or trace the cell with that one")
    code, has_value = _compile_cell(shell, cell)

    tracer = VizTracer(output_file=path, verbose=0, max_stack_depth=options.max_stack_depth,
                       ignore_c_function=options.ignore_c_function, ignore_frozen=options.ignore_frozen,
                       log_func_args=options.log_func_args, log_print=options.log_print,
                       log_sparse=options.log_sparse)
    # Looked up before tracing starts: user_global_ns is a property, and would be recorded.
    global_ns, namespace = shell.user_global_ns, shell.user_ns
    namespace.pop(_LAST_VALUE, None)
    # Hidden in IPython's traceback: an error of the cell shows the cell's own frames under it,
    # as it would without the magic.
    __tracebackhide__ = True  # noqa: F841 - read by IPython's traceback formatter
    try:
        tracer.start()
    except HookInUse as exc:
        set_global_tracer(previous)
        raise UsageError(str(exc)) from None
    try:
        exec(code, global_ns, namespace)
    except BaseException:
        # The cell's own error (KeyboardInterrupt included) is what the user sees; the report
        # of what ran until then is still saved, and a failure to save it is said on one line.
        saved = _finish(tracer, previous, path, quiet=True)
        namespace.pop(_LAST_VALUE, None)
        if saved is not None:
            _show(saved, options.port)
        raise
    saved = _finish(tracer, previous, path, quiet=False)
    value = namespace.pop(_LAST_VALUE, None)
    _show(saved, options.port)
    return value if has_value else None


def _finish(tracer: Any, previous: Any, path: str, quiet: bool) -> Any:
    """Stop and save; give the notebook its own global tracer back. A failure to save is a
    UsageError (one line), or with ``quiet`` a line on stderr and None."""
    from IPython.core.error import UsageError

    from .errors import ReportError
    from .tracer import set_global_tracer

    try:
        tracer.stop()
        return tracer.save(path) or path
    except (OSError, ReportError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        message = f"viztracer could not save the report to {path}: {reason}"
        if not quiet:
            raise UsageError(message) from None
        print(f"UsageError: {message}", file=sys.stderr)
        return None
    finally:
        # The magic's tracer was the global one while the cell ran (for @log_sparse and
        # get_tracer() in the cell); the one the notebook had before, if any, is given back.
        set_global_tracer(previous)


def _compile_cell(shell: Any, cell: str) -> tuple[Any, bool]:
    """The cell as IPython would run it (``%`` and ``!`` lines transformed, the notebook's
    ``__future__`` flags and AST transformers applied), registered with IPython's compiler so that
    tracebacks show its lines as ``Cell In[n]``. A last expression is assigned to ``_LAST_VALUE``."""
    from IPython.core.error import UsageError

    source = shell.transform_cell(cell)
    filename = shell.compile.cache(source, shell.execution_count, raw_code=cell)
    try:
        tree = shell.compile.ast_parse(source, filename=filename)
    except SyntaxError:
        shell.showsyntaxerror(filename)
        raise UsageError("the cell has a syntax error: it was not run") from None
    tree = shell.transform_ast(tree)
    has_value = bool(tree.body) and isinstance(tree.body[-1], ast.Expr)
    if has_value:
        last = tree.body[-1]
        target = ast.Name(id=_LAST_VALUE, ctx=ast.Store())
        tree.body[-1] = ast.copy_location(ast.Assign(targets=[target], value=last.value), last)
        ast.fix_missing_locations(tree)
    return shell.compile(tree, filename, "exec"), has_value


def _show(path: str, port: int | None) -> None:
    from .notebook_view import show_report

    show_report(path, port)
