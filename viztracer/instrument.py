"""Source instrumentation of the traced program: ``--log_var``, ``--log_number``, ``--log_attr``,
``--log_func_exec``, ``--log_func_entry`` and ``--magic_comment``.

The main program's source (the script, the ``-m`` module or the ``-c`` code; never the modules it
imports) is parsed, rewritten as an AST and compiled from that AST, so the file on disk is never
touched and every inserted statement carries the line of the user's statement it logs: a
traceback points at the user's lines. Each inserted statement is one call on a helper object
found in the program's globals under :data:`HELPER`; the helper asks for the current tracer at
each call and does nothing when there is none.

Only the command line imports this module, and only when one of the options is given: without
them the program is compiled the plain way and costs nothing more.

Names and values are those of VizTracer 1.x: ``Variable Assign - a = 5`` instants (process
scope), ``Variable Assign - n`` counters, ``Attribute Assign - self.x = 3`` instants,
``Function Entry - f = 'f is called'`` instants, and ``(line) name = value`` strings in the
``exec_steps`` argument of the function's call.
"""
from __future__ import annotations

import ast
import io
import re
import tokenize
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import LogNumberError
from .tracer import get_tracer

# The name the inserted statements call through. It starts and ends with two underscores so
# that a class body does not mangle it, and is set in the program's globals by the loader.
HELPER = "__viztracer_log__"

MAGIC = re.compile(r"#\s*!viztracer:\s*(.*?)\s*$")
# The inline forms, at the end of a statement's line: `# !viztracer: log [if <cond>]`.
INLINE = re.compile(r"log(?:\s+if\s+(.+))?")


@dataclass(frozen=True)
class Options:
    """What to instrument: compiled patterns (matched against whole names) and magic comments."""

    log_var: tuple[re.Pattern[str], ...] = ()
    log_number: tuple[re.Pattern[str], ...] = ()
    log_attr: tuple[re.Pattern[str], ...] = ()
    log_func_exec: tuple[re.Pattern[str], ...] = ()
    log_func_entry: tuple[re.Pattern[str], ...] = ()
    magic_comment: bool = False


# -- at run time: what the inserted statements call -------------------------------------------------

class _NoTracer:
    """Stands for the tracer when there is none: every method does nothing."""

    def __getattr__(self, name: str) -> Any:
        return _ignore


def _ignore(*args: Any, **kwargs: Any) -> None:
    return None


_NO_TRACER = _NoTracer()


def _short_repr(value: object, limit: int = 60) -> str:
    try:
        text = repr(value)
    except Exception:  # the program's __repr__ may raise anything
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= limit else text[:limit - 3] + "..."


class Helper:
    """The calls the instrumented program makes; each is a no-op when no tracer is active.

    Event names come in whole (``Variable Assign - a``): they are constants in the rewritten
    code, so nothing is formatted here but the value.
    """

    @staticmethod
    def var(name: str, value: Any) -> None:
        """An assignment logged by ``--log_var`` / ``--log_attr``: an instant ``name = repr``."""
        tracer = get_tracer()
        if tracer is not None:
            tracer.add_variable(name, value, "instant")

    @staticmethod
    def number(name: str, value: Any, variable: str, where: str) -> None:
        """An assignment logged by ``--log_number``: a counter sample; a value that is not a
        number ends the program with :class:`LogNumberError`, naming the variable and line."""
        tracer = get_tracer()
        if tracer is None or not tracer.enable:  # not recording: nothing to check, as in 1.x
            return
        if not isinstance(value, (int, float)):
            raise LogNumberError(f"--log_number: {variable} at {where} is {_short_repr(value)}, "
                                 f"a {type(value).__name__}, not a number; log it with --log_var instead")
        tracer.add_variable(name, value, "counter")

    @staticmethod
    def step(name: str, value: Any, lineno: int) -> None:
        """An assignment inside a ``--log_func_exec`` function, added to its call's exec_steps."""
        tracer = get_tracer()
        if tracer is not None:
            tracer.add_func_exec(name, value, lineno)

    @staticmethod
    def tracer() -> Any:
        """The tracer for a magic comment's call, or an object that ignores every call."""
        tracer = get_tracer()
        return _NO_TRACER if tracer is None else tracer


HELPER_OBJECT = Helper()


# -- compiling -------------------------------------------------------------------------------------

def compile_program(source: str | bytes, filename: str, options: Options) -> types.CodeType:
    """Compile the program's source with the instrumentation ``options`` ask for.

    A syntax error, in the program or in a magic comment, is raised as ``SyntaxError`` naming
    the user's file and line.
    """
    text = source if isinstance(source, str) else _decode(source)
    inline: dict[int, tuple[str | None, int]] = {}
    rewritten = text
    if options.magic_comment:
        rewritten, inline = _magic_comments(text, filename)
    try:
        tree = ast.parse(rewritten, filename, "exec")
    except SyntaxError as exc:
        # show the line as it is in the file, not as rewritten
        if exc.lineno is not None and rewritten is not text:
            lines = _lines(text)
            if 0 < exc.lineno <= len(lines):
                exc.text = lines[exc.lineno - 1].rstrip("\r\n") + "\n"
        raise
    tree = _Instrumenter(options, text, filename, _inline_targets(tree, inline, filename, text)).visit(tree)
    ast.fix_missing_locations(tree)
    return compile(tree, filename, "exec", dont_inherit=True)


def _lines(text: str) -> list[str]:
    # the lines as tokenize numbers them: split at "\n" only (str.splitlines also splits at
    # form feeds and other characters Python's tokenizer does not end a line at)
    return io.StringIO(text).readlines()


def _decode(source: bytes) -> str:
    import importlib.util

    return importlib.util.decode_source(source)


# -- magic comments --------------------------------------------------------------------------------

def _magic_comments(text: str, filename: str) -> tuple[str, dict[int, tuple[str | None, int]]]:
    """Rewrite the magic comments that stand on a line of their own into statements (on the
    same line, so no line moves), and return the lines that carry an inline ``log`` comment,
    each with its condition (or None) and the comment's column."""
    lines = _lines(text)
    inline: dict[int, tuple[str | None, int]] = {}
    depth = 0
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return text, {}  # compiling the program reports what is wrong with it
    for tok in tokens:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth -= 1
        if tok.type != tokenize.COMMENT:
            continue
        match = MAGIC.match(tok.string)
        if match is None:
            continue
        row, col = tok.start
        rest = match.group(1)
        line = lines[row - 1]
        alone = not line[:col].strip()
        if not alone:
            found = INLINE.fullmatch(rest)
            if found is not None:
                cond = found.group(1)
                if cond is not None:
                    _check_expression(cond, filename, row, col, line)
                inline[row] = (cond, col)
            continue
        if depth > 0:
            continue  # a comment inside brackets is not where a statement can go
        statement = _standalone_statement(rest, filename, row, col, line)
        if statement is not None:
            ending = line[len(line.rstrip("\r\n")):]
            lines[row - 1] = line[:col] + statement + ending
    return "".join(lines), inline


def _standalone_statement(rest: str, filename: str, row: int, col: int, line: str) -> str | None:
    """The statement for ``# !viztracer: log_xxx(...) [if <cond>]`` on a line of its own."""
    if not rest.startswith("log"):
        return None  # some other comment that happens to start the same way, as 1.x ignores
    if _is_log_call(rest):
        return f"{HELPER}.tracer().{rest}"
    for found in re.finditer(r"\bif\b", rest):
        call, cond = rest[:found.start()].strip(), rest[found.end():].strip()
        if _is_log_call(call) and _parses(cond):
            return f"if {cond}: {HELPER}.tracer().{call}"
    if INLINE.fullmatch(rest):
        raise _syntax_error("'# !viztracer: log' goes at the end of the line of the statement to "
                            "log; on a line of its own, write a call such as log_instant(\"name\")",
                            filename, row, col, line)
    raise _syntax_error("this magic comment is not a valid tracer call such as log_instant(\"name\") or "
                        "log_var(\"name\", value), optionally followed by: if <condition>",
                        filename, row, col, line)


def _is_log_call(text: str) -> bool:
    try:
        expr = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)
            and expr.func.id.startswith("log_"))


def _parses(text: str) -> bool:
    try:
        ast.parse(text, mode="eval")
    except SyntaxError:
        return False
    return True


def _check_expression(cond: str, filename: str, row: int, col: int, line: str) -> None:
    if not _parses(cond):
        raise _syntax_error(f"the condition of this magic comment is not a Python expression: {cond}",
                            filename, row, col, line)


def _syntax_error(message: str, filename: str, row: int, col: int, line: str) -> SyntaxError:
    return SyntaxError(message, (filename, row, col + 1, line.rstrip("\r\n") + "\n"))


_SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Raise, ast.Pass,
           ast.Break, ast.Continue, ast.Delete, ast.Assert, ast.Import, ast.ImportFrom,
           ast.Global, ast.Nonlocal)


def _inline_targets(tree: ast.AST, inline: dict[int, tuple[str | None, int]], filename: str,
                    text: str) -> dict[int, str | None]:
    """For each inline ``log`` comment, the statement it logs (by id): the last simple
    statement on the comment's line; its value is the comment's condition."""
    if not inline:
        return {}
    chosen: dict[int, ast.stmt] = {}
    for node in ast.walk(tree):
        if not isinstance(node, _SIMPLE):
            continue
        end = node.end_lineno or node.lineno
        for row in range(node.lineno, end + 1):
            if row in inline:
                best = chosen.get(row)
                if best is None or (node.lineno, node.col_offset) > (best.lineno, best.col_offset):
                    chosen[row] = node
    lines = _lines(text)
    for row, (_, col) in inline.items():
        if row not in chosen:
            raise _syntax_error("'# !viztracer: log' must end the line of a simple statement (an "
                                "assignment, a call...), not of a block's first line",
                                filename, row, col, lines[row - 1] if row <= len(lines) else "")
    return {id(node): inline[row][0] for row, node in chosen.items()}


# -- the rewriting ---------------------------------------------------------------------------------

def _helper_call(method: str, *args: ast.expr) -> ast.Expr:
    func = ast.Attribute(ast.Name(HELPER, ast.Load()), method, ast.Load())
    return ast.Expr(ast.Call(func, list(args), []))


def _load(node: ast.expr) -> ast.expr:
    """A copy of an assignment target that reads it."""
    copy = ast.parse(ast.unparse(node), mode="eval").body
    return copy


def _names(target: ast.expr) -> list[str]:
    """The variables an assignment target changes: ``a`` for ``a``, ``a.x``, ``a[0]``; each
    name of a tuple or list target, left to right."""
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Attribute, ast.Subscript, ast.Starred)):
        return _names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for elt in target.elts for name in _names(elt)]
    return []


def _attributes(target: ast.expr) -> list[ast.Attribute]:
    """The attributes an assignment target writes (``obj.x``, each of ``a.x, b.y``)."""
    if isinstance(target, ast.Attribute):
        return [target]
    if isinstance(target, ast.Starred):
        return _attributes(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [attr for elt in target.elts for attr in _attributes(elt)]
    return []


_SIDE_EFFECTS = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)


def _matches(patterns: Sequence[re.Pattern[str]], name: str) -> bool:
    return any(p.fullmatch(name) for p in patterns)


def _docstring_end(body: list[ast.stmt]) -> int:
    first = body[0] if body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return 1
    return 0


@dataclass
class _Instrumenter(ast.NodeTransformer):
    """Inserts the logging statements after the statements they log, each at its line."""

    options: Options
    source: str
    filename: str
    inline: dict[int, str | None]
    in_exec_function: bool = field(default=False)

    # -- statements that assign ------------------------------------------------------------

    def visit_Assign(self, node: ast.Assign) -> Any:
        return self._after(node, self._logs(node.targets, node.lineno))

    def visit_AugAssign(self, node: ast.AugAssign) -> Any:
        return self._after(node, self._logs([node.target], node.lineno))

    def visit_AnnAssign(self, node: ast.AnnAssign) -> Any:
        # `x: int` alone assigns nothing: there is no value to log
        logs = self._logs([node.target], node.lineno) if node.value is not None else []
        return self._after(node, logs)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> Any:
        self.generic_visit(node)
        node.body[:0] = self._located(self._logs([node.target], node.lineno), node)
        return node

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> Any:
        self.generic_visit(node)
        targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        node.body[:0] = self._located(self._logs(targets, node.lineno), node)
        return node

    visit_AsyncWith = visit_With

    # -- scopes ----------------------------------------------------------------------------

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> Any:
        outer = self.in_exec_function
        self.in_exec_function = _matches(self.options.log_func_exec, node.name)
        try:
            self.generic_visit(node)
        finally:
            self.in_exec_function = outer
        first: list[ast.stmt] = []
        if _matches(self.options.log_func_entry, node.name):
            first.append(_helper_call("var", ast.Constant(f"Function Entry - {node.name}"),
                                      ast.Constant(f"{node.name} is called")))
        args = node.args
        every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        every += [a for a in (args.vararg, args.kwarg) if a is not None]
        first += self._variable_logs([a.arg for a in every], node.lineno)
        if first:
            at = _docstring_end(node.body)  # the docstring stays the function's docstring
            node.body[at:at] = self._located(first, node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> Any:
        return self._outside_exec_function(node)

    def visit_Lambda(self, node: ast.Lambda) -> Any:
        return self._outside_exec_function(node)

    def _outside_exec_function(self, node: ast.AST) -> Any:
        outer, self.in_exec_function = self.in_exec_function, False
        try:
            self.generic_visit(node)
        finally:
            self.in_exec_function = outer
        return node

    def visit(self, node: ast.AST) -> Any:
        result = super().visit(node)
        if isinstance(node, ast.stmt) and id(node) in self.inline:
            result = self._with_magic(node, result)
        return result

    # -- building the logging statements -----------------------------------------------------

    def _after(self, node: ast.stmt, logs: list[ast.stmt]) -> Any:
        self.generic_visit(node)  # lambdas in the value
        return [node, *self._located(logs, node)] if logs else node

    def _located(self, statements: list[ast.stmt], node: ast.stmt) -> list[ast.stmt]:
        for statement in statements:
            ast.copy_location(statement, node)
            for child in ast.walk(statement):
                if isinstance(child, (ast.expr, ast.stmt)):
                    ast.copy_location(child, node)
        return statements

    def _logs(self, targets: list[ast.expr], lineno: int) -> list[ast.stmt]:
        """What to insert for an assignment to ``targets`` at ``lineno``."""
        logs: list[ast.stmt] = []
        names = [name for target in targets for name in _names(target)]
        logs += self._variable_logs(names, lineno)
        if self.options.log_attr:
            for target in targets:
                for attr in _attributes(target):
                    if not _matches(self.options.log_attr, attr.attr):
                        continue
                    if any(isinstance(n, _SIDE_EFFECTS) for n in ast.walk(attr.value)):
                        continue  # reading it back would call the program's code a second time
                    logs.append(_helper_call("var", ast.Constant(f"Attribute Assign - {ast.unparse(attr)}"),
                                             _load(attr)))
        if self.in_exec_function:
            for name in names:
                logs.append(_helper_call("step", ast.Constant(name), ast.Name(name, ast.Load()),
                                         ast.Constant(lineno)))
        return logs

    def _variable_logs(self, names: list[str], lineno: int) -> list[ast.stmt]:
        logs: list[ast.stmt] = []
        where = f"{self.filename}:{lineno}"
        for name in names:
            if _matches(self.options.log_var, name):
                logs.append(_helper_call("var", ast.Constant(f"Variable Assign - {name}"),
                                         ast.Name(name, ast.Load())))
            if _matches(self.options.log_number, name):
                logs.append(_helper_call("number", ast.Constant(f"Variable Assign - {name}"),
                                         ast.Name(name, ast.Load()), ast.Constant(name), ast.Constant(where)))
        return logs

    def _with_magic(self, node: ast.stmt, result: Any) -> Any:
        """Add the statement's inline ``# !viztracer: log`` comment."""
        cond = self.inline.pop(id(node))
        statements = result if isinstance(result, list) else [result]
        log = self._magic_log(node)
        if cond is not None:
            test = ast.parse(cond, mode="eval").body
            log = ast.If(test, [log], [])
        self._located([log], node)
        if isinstance(node, (ast.Return, ast.Raise, ast.Break, ast.Continue)):
            return [log, *statements]  # after it, the log would never run
        return [*statements, log]

    def _magic_log(self, node: ast.stmt) -> ast.stmt:
        tracer = ast.Call(ast.Attribute(ast.Name(HELPER, ast.Load()), "tracer", ast.Load()), [], [])
        target = None
        if isinstance(node, ast.Assign):
            target = node.targets[0]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and (
                isinstance(node, ast.AugAssign) or node.value is not None):
            target = node.target
        if target is not None:
            text = ast.get_source_segment(self.source, target) or ast.unparse(target)
            call = ast.Call(ast.Attribute(tracer, "log_var", ast.Load()),
                            [ast.Constant(text.strip()), _load(target)], [])
        else:
            text = ast.get_source_segment(self.source, node) or ast.unparse(node)
            call = ast.Call(ast.Attribute(tracer, "log_instant", ast.Load()),
                            [ast.Constant(text.strip())], [])
        return ast.Expr(call)
