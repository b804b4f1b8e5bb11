"""The ``%%viztracer`` cell magic, run by IPython's own machinery: ``%load_ext viztracer`` and
``run_cell`` on a real ``InteractiveShell``; the report it writes is read back, and the button's
click starts a real ``vizviewer`` process (on a free port, with a stand-in browser)."""
from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections import Counter
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("IPython", reason="the cell magic needs IPython (pip install ipython)")

from conftest import calls, load_report, names  # noqa: E402
from conftest_cli_helpers import clean_env  # noqa: E402
from conftest_viewer_helpers import browser_env_fixture, free_port  # noqa: E402,F401
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from IPython.utils.capture import capture_output  # noqa: E402
from traitlets.config import Config  # noqa: E402

import viztracer  # noqa: E402
from viztracer import notebook_view  # noqa: E402
from viztracer.tracer import get_tracer, set_global_tracer  # noqa: E402

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def ipython(tmp_path_factory):
    """IPython's shell, as a notebook's kernel has it, with its profile folder and history kept
    out of the home directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(tmp_path_factory.mktemp("ipython")))
        config = Config()
        config.HistoryManager.hist_file = ":memory:"
        shell = InteractiveShell.instance(config=config)
        shell.colors = "nocolor"    # tracebacks compared as plain text
        result = shell.run_cell("%load_ext viztracer")
        assert result.success, result
        yield shell


@pytest.fixture
def shell(ipython, tmp_path, monkeypatch):
    """The shell, working in a fresh folder (the default report lands there); the notebook's
    global tracer as it was before the test."""
    monkeypatch.chdir(tmp_path)
    previous = get_tracer()
    yield ipython
    set_global_tracer(previous)


class Cell:
    """One run of a cell: IPython's result, and what it printed and displayed."""

    def __init__(self, shell: InteractiveShell, source: str) -> None:
        with capture_output() as captured:
            self.result = shell.run_cell(textwrap.dedent(source), store_history=True)
        self.stdout = captured.stdout
        self.stderr = captured.stderr
        self.outputs = [output.data for output in captured.outputs]

    def widgets(self) -> list:
        from ipywidgets.widgets import widget

        instances = getattr(widget, "_instances", None) or widget.Widget.widgets
        return [instances[data[WIDGET_MIME]["model_id"]] for data in self.outputs if WIDGET_MIME in data]


def run(shell: InteractiveShell, magic_line: str, body: str) -> Cell:
    return Cell(shell, magic_line + "\n" + textwrap.dedent(body))


def counts(report: dict) -> Counter[str]:
    """Calls by function name, without the ``(file:line)`` part."""
    return Counter(name.split(" (")[0] for name in names(report))


FIB = """
    def fib(n):
        return n if n < 2 else fib(n - 1) + fib(n - 2)
    fib(5)
    """


# -- running the cell ------------------------------------------------------------------------------

def test_load_ext_registers_the_cell_magic(ipython):
    assert ipython.find_cell_magic("viztracer") is not None
    assert viztracer.load_ipython_extension.__module__ == "viztracer.cellmagic"


def test_import_viztracer_does_not_import_ipython():
    code = "import sys, viztracer; print(sorted(m for m in ('IPython', 'ipywidgets') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=clean_env()).stdout
    assert out.strip() == "[]"


def test_the_cells_calls_are_in_the_default_report_with_their_counts(shell, tmp_path):
    cell = run(shell, "%%viztracer", FIB)
    assert cell.result.success, cell.stdout
    report = load_report(tmp_path / "viztracer_report.json")
    found = counts(report)
    assert found["fib"] == 15           # fib(5) makes 15 calls
    assert found["<module>"] == 1       # the cell is one code object
    # named after the cell as IPython's tracebacks know it, not "<string>"
    fib_names = {n for n in names(report) if n.startswith("fib ")}
    assert len(fib_names) == 1 and "ipython-input" in fib_names.pop()
    assert not [n for n in names(report) if "viztracer" in n or "interactiveshell" in n.lower()]
    # the viewer's source panel gets the cell's text, which IPython keeps in linecache
    cell_file = report["file_info"]["functions"][next(n for n in names(report) if n.startswith("fib "))][0]
    source, _ = report["file_info"]["files"][cell_file]
    assert source.startswith("def fib(n):\n") and source.endswith("fib(5)\n")


def test_the_cell_runs_in_the_users_namespace(shell):
    assert shell.run_cell("before_magic = 20").success
    cell = run(shell, "%%viztracer", """
        made_in_cell = before_magic + 1
        def helper():
            return made_in_cell * 2
        """)
    assert cell.result.success, cell.stdout
    assert shell.user_ns["made_in_cell"] == 21
    assert shell.run_cell("assert helper() == 42").success


def test_the_cells_last_expression_is_its_result(shell):
    cell = run(shell, "%%viztracer", "x = 3\nx * 2\n")
    assert cell.result.result == 6
    assert "Out[" in cell.stdout and ": 6" in cell.stdout
    assert "_viztracer_cell_value_" not in shell.user_ns
    statement = run(shell, "%%viztracer", "y = 4\n")
    assert statement.result.result is None and "Out[" not in statement.stdout


def test_magics_and_shell_escapes_in_the_cell_are_transformed(shell, tmp_path):
    cell = run(shell, "%%viztracer", "%config InteractiveShell.autocall = 0\nz = 5\n")
    assert cell.result.success, cell.stdout
    assert shell.user_ns["z"] == 5


def test_an_exception_in_the_cell_shows_as_without_the_magic_and_the_report_is_saved(shell, tmp_path):
    previous = viztracer.VizTracer(verbose=0)
    assert get_tracer() is previous
    cell = run(shell, "%%viztracer --output_file boom.json", """
        def fails():
            return 1 / 0
        partial = 7
        fails()
        never = 1
        """)
    assert isinstance(cell.result.error_in_exec, ZeroDivisionError)
    assert not cell.result.success
    # the cell's own frames, with their source lines, under IPython's usual header
    assert "ZeroDivisionError" in cell.stdout and "return 1 / 0" in cell.stdout
    assert "Cell In[" in cell.stdout
    assert "run_traced_cell" not in cell.stdout and "exec(code" not in cell.stdout
    assert shell.user_ns["partial"] == 7 and "never" not in shell.user_ns
    report = load_report(tmp_path / "boom.json")
    assert counts(report)["fails"] == 1
    assert sys.getprofile() is None
    assert get_tracer() is previous     # the notebook's global tracer is given back
    assert len(cell.outputs) == 1       # the button (or the command) is under the traceback


def test_a_keyboard_interrupt_in_the_cell_still_saves_the_report(shell, tmp_path):
    cell = run(shell, "%%viztracer --output_file stopped.json", """
        def interrupted():
            raise KeyboardInterrupt
        interrupted()
        """)
    assert isinstance(cell.result.error_in_exec, KeyboardInterrupt)
    assert counts(load_report(tmp_path / "stopped.json"))["interrupted"] == 1
    assert sys.getprofile() is None


# -- options ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["sub/dir/out.json", "out.json.gz", "out.html"])
def test_output_file(shell, tmp_path, name):
    cell = run(shell, f"%%viztracer --output_file {name}", FIB)
    assert cell.result.success, (cell.stdout, cell.stderr)
    path = tmp_path / name
    assert path.exists() and not (tmp_path / "viztracer_report.json").exists()
    if not name.endswith(".html"):
        assert counts(load_report(path))["fib"] == 15
    else:
        assert "<html" in path.read_text()[:1000].lower()


def test_output_file_absolute_path_and_quoted(shell, tmp_path):
    target = tmp_path / "with space" / "r.json"
    cell = run(shell, f'%%viztracer --output_file "{target}"', FIB)
    assert cell.result.success, cell.stderr
    assert counts(load_report(target))["fib"] == 15


DEEP = """
    def d1():
        return d2()
    def d2():
        return d3()
    def d3():
        return d4()
    def d4():
        return 0
    d1()
    """


def test_max_stack_depth_cuts_the_deeper_calls(shell, tmp_path):
    run(shell, "%%viztracer --output_file all.json", DEEP)
    run(shell, "%%viztracer --output_file cut.json --max_stack_depth 4", DEEP)
    everything = counts(load_report(tmp_path / "all.json"))
    cut = counts(load_report(tmp_path / "cut.json"))
    assert all(everything[f] == 1 for f in ("d1", "d2", "d3", "d4"))
    # depth 1 is the exec of the cell, 2 the cell itself, then d1 and d2
    assert cut["d1"] == 1 and cut["d2"] == 1 and cut["d3"] == 0 and cut["d4"] == 0


CALLS_C = """
    def py():
        return sorted([3, 1, 2])
    py()
    """


def test_ignore_c_function_drops_the_c_calls(shell, tmp_path):
    run(shell, "%%viztracer --output_file with_c.json", CALLS_C)
    run(shell, "%%viztracer --output_file without_c.json --ignore_c_function", CALLS_C)
    with_c = load_report(tmp_path / "with_c.json")
    without_c = load_report(tmp_path / "without_c.json")
    assert "builtins.sorted" in names(with_c)
    assert counts(without_c)["py"] == 1
    assert [n for n in names(without_c) if " (" not in n] == []


def test_ignore_frozen_drops_the_import_machinery(shell, tmp_path, monkeypatch):
    folder = tmp_path / "mods"
    folder.mkdir()
    for mod in ("vt_magic_plain", "vt_magic_frozen"):
        (folder / f"{mod}.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(folder))
    run(shell, "%%viztracer --output_file plain.json", "import vt_magic_plain\n")
    run(shell, "%%viztracer --output_file frozen.json --ignore_frozen", "import vt_magic_frozen\n")
    monkeypatch.delitem(sys.modules, "vt_magic_plain")
    monkeypatch.delitem(sys.modules, "vt_magic_frozen")
    plain = names(load_report(tmp_path / "plain.json"))
    frozen = names(load_report(tmp_path / "frozen.json"))
    assert any("<frozen importlib._bootstrap" in n for n in plain)
    assert not any("<frozen " in n for n in frozen)
    # the cell itself is still there; what the import machinery runs is left out with it (a region)
    assert any(n.startswith("<module> (<ipython-input") for n in frozen)


ARGS = """
    def greet(who, times=2):
        return who * times
    greet("ab")
    """


def test_log_func_args_records_the_arguments(shell, tmp_path):
    run(shell, "%%viztracer --output_file plain.json", ARGS)
    run(shell, "%%viztracer --output_file args.json --log_func_args", ARGS)
    plain = [e for e in calls(load_report(tmp_path / "plain.json")) if e["name"].startswith("greet ")]
    logged = [e for e in calls(load_report(tmp_path / "args.json")) if e["name"].startswith("greet ")]
    assert "args" not in plain[0]
    assert logged[0]["args"]["func_args"] == {"who": "'ab'", "times": "2"}


def test_log_print_turns_prints_into_instant_events(shell, tmp_path):
    printed = run(shell, "%%viztracer --output_file printed.json", "print('shown', 1)\n")
    logged = run(shell, "%%viztracer --output_file logged.json --log_print", "print('recorded', 2)\n")
    assert "shown 1" in printed.stdout
    assert "recorded" not in logged.stdout
    instants = [e["name"] for e in calls(load_report(tmp_path / "logged.json"), "i")]
    assert any(n.startswith("print - ") and "recorded 2" in n for n in instants)
    assert calls(load_report(tmp_path / "printed.json"), "i") == []
    assert shell.run_cell("print('print is back')").success     # print restored after the cell


def test_log_sparse_records_only_the_decorated_functions(shell, tmp_path):
    cell = run(shell, "%%viztracer --log_sparse --output_file sparse.json", """
        from viztracer import log_sparse
        @log_sparse
        def chosen():
            return helper()
        def helper():
            return 1
        def other():
            return 2
        chosen(); chosen(); other()
        """)
    assert cell.result.success, cell.stdout
    found = counts(load_report(tmp_path / "sparse.json"))
    assert found == Counter({"chosen": 2})


# -- errors ------------------------------------------------------------------------------------------

def assert_one_line_usage_error(cell: Cell, *needles: str) -> str:
    assert not cell.result.success
    assert type(cell.result.error_in_exec).__name__ == "UsageError"
    lines = [line for line in cell.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("UsageError: "), cell.stderr
    assert "Traceback" not in cell.stdout + cell.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


@pytest.mark.parametrize("line, needles", [
    ("--bogus", ["unrecognized arguments: --bogus"]),
    ("--max_stack_depth deep", ["--max_stack_depth", "invalid int value"]),
    ("--port high", ["--port", "invalid int value"]),
    ("--port 70000", ["--port 70000 is not a port number"]),
    ("--output_file", ["--output_file", "expected one argument"]),
    ("--output_file report.txt", ["report.txt", "unknown report extension"]),
    ("--log_print=yes", ["--log_print"]),
    ("--output_file 'no end.json", ["can't read the options", "No closing quotation"]),
])
def test_a_bad_option_is_one_line_and_the_cell_does_not_run(shell, tmp_path, line, needles):
    cell = run(shell, f"%%viztracer {line}", "ran_anyway = True\n")
    assert_one_line_usage_error(cell, *needles)
    assert "ran_anyway" not in shell.user_ns
    assert list(tmp_path.iterdir()) == []
    assert cell.outputs == []


def test_a_tracer_already_running_is_one_line_and_the_cell_does_not_run(shell, tmp_path):
    running = viztracer.VizTracer(verbose=0)
    running.start()
    try:
        cell = run(shell, "%%viztracer", "ran_anyway = True\n")
    finally:
        running.stop()
    assert_one_line_usage_error(cell, "tracing already")
    assert "ran_anyway" not in shell.user_ns and list(tmp_path.iterdir()) == []
    assert get_tracer() is running


@pytest.mark.skipif(sys.version_info < (3, 12), reason="sys.monitoring's tool ids are 3.12+")
def test_another_profiler_holding_sys_monitoring_is_one_line(shell, tmp_path, monkeypatch):
    monkeypatch.delenv("VIZTRACER_HOOK", raising=False)
    tool = sys.monitoring.PROFILER_ID
    if sys.monitoring.get_tool(tool) is not None:
        pytest.skip("the profiler tool id is taken by the test runner")
    before = get_tracer()
    sys.monitoring.use_tool_id(tool, "another-profiler")
    try:
        cell = run(shell, "%%viztracer", "ran_anyway = True\n")
    finally:
        sys.monitoring.free_tool_id(tool)
    assert_one_line_usage_error(cell, "another-profiler")
    assert "ran_anyway" not in shell.user_ns and list(tmp_path.iterdir()) == []
    assert get_tracer() is before


def test_a_syntax_error_in_the_cell_is_shown_and_nothing_runs(shell, tmp_path):
    cell = run(shell, "%%viztracer", "ran_anyway = True\ndef broken(:\n    pass\n")
    assert not cell.result.success
    assert "SyntaxError" in cell.stdout and "def broken(:" in cell.stdout
    assert cell.stderr.strip() == "UsageError: the cell has a syntax error: it was not run"
    assert "ran_anyway" not in shell.user_ns and list(tmp_path.iterdir()) == []


def test_a_report_that_cannot_be_written_is_one_line_after_the_cell_ran(shell, tmp_path):
    (tmp_path / "a_file").write_text("")
    cell = run(shell, "%%viztracer --output_file a_file/r.json", "ran = True\n")
    assert_one_line_usage_error(cell, "could not save the report", "a_file")
    assert shell.user_ns["ran"] is True
    assert sys.getprofile() is None and cell.outputs == []


def test_a_report_that_cannot_be_written_after_the_cell_raised(shell, tmp_path):
    (tmp_path / "a_file").write_text("")
    cell = run(shell, "%%viztracer --output_file a_file/r.json", "raise ValueError('from the cell')\n")
    assert isinstance(cell.result.error_in_exec, ValueError)    # the cell's error stays the one
    assert "from the cell" in cell.stdout
    assert "could not save the report" in cell.stderr
    assert cell.outputs == []


# -- the button --------------------------------------------------------------------------------------

def the_button(cell: Cell):
    [box] = cell.widgets()
    button, status = box.children
    assert type(button).__name__ == "Button" and button.description == notebook_view.BUTTON_LABEL
    return button, status


def test_the_button_is_displayed_under_the_cell(shell, tmp_path):
    pytest.importorskip("ipywidgets", reason="the button is an ipywidgets Button")
    cell = run(shell, "%%viztracer", FIB)
    button, status = the_button(cell)
    path = str(tmp_path / "viztracer_report.json")
    assert button.viewer.path == path and button.viewer.port is None
    assert path in status.value
    assert button.viewer.process is None    # nothing starts before the click


def test_clicking_the_button_starts_vizviewer_on_the_report_and_port(shell, tmp_path, monkeypatch,
                                                                    browser_env):
    pytest.importorskip("ipywidgets", reason="the button is an ipywidgets Button")
    browser = browser_env(post_loaded=True)
    for key in ("BROWSER", "VIZ_RECORD", "VIZ_POST_LOADED", "PYTHONPATH"):
        monkeypatch.setenv(key, browser.env[key])
    monkeypatch.delenv("DISPLAY", raising=False)
    port = free_port()
    cell = run(shell, f"%%viztracer --port {port} --output_file shown.json", FIB)
    button, status = the_button(cell)
    viewer = button.viewer
    try:
        button.click()
        assert viewer.process is not None
        assert f"http://127.0.0.1:{port}/" in status.value and "<a href=" in status.value
        assert viewer.process.wait(timeout=60) == 0      # --once: gone once the page has loaded
    finally:
        viewer.stop()
    [url] = browser.urls()
    assert urlsplit(url).port == port
    assert parse_qs(urlsplit(url).query)["file"] == ["shown.json"]


def test_a_second_click_while_the_viewer_waits_reuses_it(shell, tmp_path, monkeypatch, browser_env):
    pytest.importorskip("ipywidgets", reason="the button is an ipywidgets Button")
    browser = browser_env(post_loaded=False)    # no page loads: the viewer keeps waiting
    for key in ("BROWSER", "VIZ_RECORD", "VIZ_POST_LOADED", "PYTHONPATH"):
        monkeypatch.setenv(key, browser.env[key])
    opened: list[str] = []
    monkeypatch.setattr(notebook_view.webbrowser, "open", opened.append)
    cell = run(shell, f"%%viztracer -p {free_port()}", FIB)
    button, status = the_button(cell)
    viewer = button.viewer
    try:
        button.click()
        first = viewer.process
        assert first is not None and viewer.url
        button.click()
        assert viewer.process is first and opened == [viewer.url]
        assert first.poll() is None
    finally:
        viewer.stop()
    assert viewer.process.poll() is not None


def test_a_port_in_use_is_the_viewers_one_line_error_under_the_button(shell, tmp_path, monkeypatch,
                                                                     browser_env):
    pytest.importorskip("ipywidgets", reason="the button is an ipywidgets Button")
    browser = browser_env(post_loaded=False)
    for key in ("BROWSER", "VIZ_RECORD", "VIZ_POST_LOADED", "PYTHONPATH"):
        monkeypatch.setenv(key, browser.env[key])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cell = run(shell, f"%%viztracer --port {port}", FIB)
        button, status = the_button(cell)
        try:
            button.click()
            assert button.viewer.process.wait(timeout=30) != 0
        finally:
            button.viewer.stop()
    assert "vizviewer: error:" in status.value and f"port {port}" in status.value
    assert "already in use" in status.value
    assert browser.urls() == []


def test_without_ipywidgets_the_command_is_shown(shell, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)    # import ipywidgets fails
    cell = run(shell, '%%viztracer --port 8123 --output_file "plain report.json"', FIB)
    assert cell.result.success, cell.stderr
    [data] = cell.outputs
    path = str(tmp_path / "plain report.json")
    assert f"vizviewer --port 8123 '{path}'" in data["text/plain"]
    assert "ipywidgets" in data["text/plain"]
    assert "<code>vizviewer --port 8123" in data["text/html"]
    assert counts(load_report(path))["fib"] == 15


def test_without_ipywidgets_and_without_a_port_the_command_has_none(shell, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    cell = run(shell, "%%viztracer", FIB)
    [data] = cell.outputs
    assert f"show it with: vizviewer {tmp_path / 'viztracer_report.json'}" in data["text/plain"]
