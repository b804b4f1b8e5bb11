"""The ``viztracer`` command, run for real: what the program sees, what the report holds."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest_cli_helpers import (
    FIB,
    TIMEOUT,
    both_commands,
    clean_env,
    complete_events,
    line_of,
    load_report,
    names,
    run,
    write,
)

import viztracer
from viztracer.cli_options import split_command_line
from viztracer.report import open_hint

# A program that writes down what it sees of its environment.
PROBE = """
    import json, sys

    def probe():
        return {
            "argv": sys.argv,
            "name": __name__,
            "file": globals().get("__file__"),
            "path0": sys.path[0],
            "main_is_me": sys.modules["__main__"].__dict__ is globals(),
            "has_builtins": "__builtins__" in globals(),
            "spec": getattr(globals().get("__spec__"), "name", None),
        }

    with open(OUT, "w") as f:
        json.dump(probe(), f)
"""


def probe_script(path: Path, out: Path) -> Path:
    return write(path, f"OUT = {str(out)!r}\n" + PROBE.replace("\n    ", "\n"))


# -- a script ------------------------------------------------------------------------------------

@both_commands
def test_fib_records_every_call(cmd, tmp_path):
    script = write(tmp_path / "fib.py", FIB)
    proc = run(cmd, "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report_path = tmp_path / "result.json"
    report = load_report(report_path)
    expected = f"fib ({script}:{line_of(script, 'def fib')})"
    assert names(report).count(expected) == 177
    assert [n for n in names(report) if n.startswith("fib")] == [expected] * 177
    assert "builtins.exec" in names(report)
    assert proc.stdout.splitlines() == [f"Report saved to {report_path}", open_hint(str(report_path))]
    assert proc.stderr == ""


@both_commands
def test_program_runs_as_main_with_its_argv(cmd, tmp_path):
    out = tmp_path / "seen.json"
    probe_script(tmp_path / "prog.py", out)
    proc = run(cmd, "prog.py", "a", "--b", "-o", "theirs.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(out.read_text())
    # Options after the script are the script's, not viztracer's.
    assert seen["argv"] == ["prog.py", "a", "--b", "-o", "theirs.json"]
    assert seen["name"] == "__main__"
    assert seen["file"] == str(tmp_path / "prog.py")
    assert seen["path0"] == str(tmp_path)
    assert seen["main_is_me"] and seen["has_builtins"]
    assert seen["spec"] is None
    assert (tmp_path / "result.json").exists()
    assert not (tmp_path / "theirs.json").exists()


@both_commands
def test_script_in_another_directory_imports_its_neighbours(cmd, tmp_path):
    write(tmp_path / "src" / "neighbour.py", "def value():\n    return 42\n")
    out = tmp_path / "seen.json"
    write(tmp_path / "src" / "prog.py", f"""
        import json, sys
        import neighbour
        json.dump({{"path0": sys.path[0], "value": neighbour.value()}}, open({str(out)!r}, "w"))
    """)
    proc = run(cmd, os.path.join("src", "prog.py"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {"path0": str(tmp_path / "src"), "value": 42}
    assert f"value ({tmp_path / 'src' / 'neighbour.py'}:1)" in names(load_report(tmp_path / "result.json"))


@both_commands
@pytest.mark.parametrize("separator", ["--", "--run"])
def test_separator_passes_everything_after_it_to_the_program(cmd, tmp_path, separator):
    out = tmp_path / "seen.json"
    probe_script(tmp_path / "prog.py", out)
    proc = run(cmd, "-o", "mine.json", separator, "prog.py", "-o", "theirs.json", "--quiet", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["argv"] == ["prog.py", "-o", "theirs.json", "--quiet"]
    assert (tmp_path / "mine.json").exists()
    assert "Report saved to" in proc.stdout


@both_commands
def test_list_option_ended_by_separator(cmd, tmp_path):
    write(tmp_path / "fib.py", FIB)
    proc = run(cmd, "--include_files", "fib.py", "--", "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    fib_names = [n for n in names(load_report(tmp_path / "result.json")) if n.startswith("fib")]
    assert len(fib_names) == 177


@both_commands
def test_program_that_changes_directory_still_saves_where_asked(cmd, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    write(tmp_path / "prog.py", f"import os\nos.chdir({str(tmp_path / 'elsewhere')!r})\n")
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "result.json").exists()
    assert not (tmp_path / "elsewhere" / "result.json").exists()


# -- -m and -c -----------------------------------------------------------------------------------

@both_commands
def test_module(cmd, tmp_path):
    out = tmp_path / "seen.json"
    probe_script(tmp_path / "mymod.py", out)
    proc = run(cmd, "-m", "mymod", "x", "--y", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(out.read_text())
    assert seen["argv"] == [str(tmp_path / "mymod.py"), "x", "--y"]
    assert seen["name"] == "__main__"
    assert seen["path0"] == str(tmp_path)
    assert seen["spec"] == "mymod"
    module = tmp_path / "mymod.py"
    assert f"probe ({module}:{line_of(module, 'def probe')})" in names(load_report(tmp_path / "result.json"))


@both_commands
def test_package_runs_its_main_module(cmd, tmp_path):
    out = tmp_path / "seen.json"
    write(tmp_path / "pkg" / "__init__.py", "")
    write(tmp_path / "pkg" / "helper.py", "def helper():\n    return 'h'\n")
    write(tmp_path / "pkg" / "__main__.py", f"""
        import json, sys
        from .helper import helper
        json.dump({{"argv": sys.argv, "name": __name__, "package": __package__, "h": helper()}},
                  open({str(out)!r}, "w"))
    """)
    proc = run(cmd, "-m", "pkg", "--", "arg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {"argv": [str(tmp_path / "pkg" / "__main__.py"), "arg"],
                                           "name": "__main__", "package": "pkg", "h": "h"}
    assert f"helper ({tmp_path / 'pkg' / 'helper.py'}:1)" in names(load_report(tmp_path / "result.json"))


@both_commands
def test_code_string(cmd, tmp_path):
    out = tmp_path / "seen.json"
    code = ("import json, sys\n"
            "def f():\n"
            "    return sys.argv\n"
            f"json.dump({{'argv': f(), 'name': __name__, 'path0': sys.path[0]}}, open({str(out)!r}, 'w'))\n")
    proc = run(cmd, "--max_stack_depth", "10", "-c", code, "a", "-o", "b", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == {"argv": ["-c", "a", "-o", "b"], "name": "__main__",
                                           "path0": str(tmp_path)}
    assert "f (<string>:2)" in names(load_report(tmp_path / "result.json"))


# -- how the program ends ----------------------------------------------------------------------------

@both_commands
@pytest.mark.parametrize(("ending", "status", "stderr"), [
    ("pass", 0, ""),
    ("sys.exit(3)", 3, ""),
    ("sys.exit(0)", 0, ""),
    ("sys.exit()", 0, ""),
    ("sys.exit('bye bye')", 1, "bye bye\n"),
])
def test_exit_status_is_the_programs(cmd, tmp_path, ending, status, stderr):
    write(tmp_path / "prog.py", f"import sys\ndef work():\n    return 1\nwork()\n{ending}\n")
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (status, stderr)
    assert f"work ({tmp_path / 'prog.py'}:2)" in names(load_report(tmp_path / "result.json"))


@both_commands
def test_uncaught_exception_prints_the_programs_traceback_and_saves(cmd, tmp_path):
    write(tmp_path / "prog.py", """
        def fail():
            raise ValueError("boom")

        fail()
    """)
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == f'  File "{tmp_path / "prog.py"}", line 4, in <module>'
    assert lines[-1] == "ValueError: boom"
    assert os.path.dirname(viztracer.__file__) not in proc.stderr
    report = load_report(tmp_path / "result.json")
    assert f"fail ({tmp_path / 'prog.py'}:1)" in names(report)
    assert "Report saved to" in proc.stdout


@both_commands
def test_keyboard_interrupt_saves_and_exits_130(cmd, tmp_path):
    write(tmp_path / "prog.py", "def stop():\n    raise KeyboardInterrupt\nstop()\n")
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 130
    assert proc.stderr.splitlines()[-1] == "KeyboardInterrupt"
    assert f"stop ({tmp_path / 'prog.py'}:1)" in names(load_report(tmp_path / "result.json"))


@both_commands
def test_syntax_error_in_the_program(cmd, tmp_path):
    write(tmp_path / "prog.py", "x = (\n")
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("SyntaxError:")
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "result.json").exists()


SLEEPER = """
    import pathlib, time

    def sleeper():
        pathlib.Path("ready").touch()
        time.sleep(30)

    sleeper()
"""


def start_sleeper(cmd, tmp_path):
    write(tmp_path / "sleeper.py", SLEEPER)
    proc = subprocess.Popen([*cmd, "sleeper.py"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_file(proc, tmp_path / "ready")
    return proc


def wait_for_file(proc: subprocess.Popen, path: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the program never got ready"
        time.sleep(0.02)


@both_commands
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_sleeping_saves_the_trace(cmd, tmp_path, signum, status):
    proc = start_sleeper(cmd, tmp_path)
    proc.send_signal(signum)
    stdout, _ = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == status
    assert "Report saved to" in stdout
    events = complete_events(load_report(tmp_path / "result.json"))
    sleeper = [e for e in events if e["name"] == f"sleeper ({tmp_path / 'sleeper.py'}:3)"]
    assert len(sleeper) == 1
    assert "time.sleep" in [e["name"] for e in events]


HANGING_THREAD = {
    "main code still running": """
        import pathlib, threading, time

        def forever():
            time.sleep(60)

        threading.Thread(target=forever).start()
        pathlib.Path("ready").touch()
        time.sleep(60)
    """,
    "main code done": """
        import pathlib, threading, time

        def forever():
            pathlib.Path("ready").touch()
            time.sleep(60)

        threading.Thread(target=forever).start()
    """,
}


@both_commands
@pytest.mark.parametrize("case", list(HANGING_THREAD))
def test_sigterm_does_not_wait_for_threads(cmd, tmp_path, case):
    write(tmp_path / "prog.py", HANGING_THREAD[case])
    proc = subprocess.Popen([*cmd, "prog.py"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_file(proc, tmp_path / "ready")
    time.sleep(0.1)
    proc.terminate()
    stdout, _ = proc.communicate(timeout=20)
    assert proc.returncode == 143
    assert "Report saved to" in stdout
    prog = tmp_path / "prog.py"
    assert f"forever ({prog}:{line_of(prog, 'def forever')})" in names(load_report(tmp_path / "result.json"))


@both_commands
def test_a_forked_child_dies_of_sigterm_as_without_the_tracer(cmd, tmp_path):
    # The command's SIGTERM handler (SystemExit, so the report is saved) is the parent's own:
    # a forked child, such as a multiprocessing worker its pool terminates, must not inherit it.
    write(tmp_path / "prog.py", """
        import os, signal, time
        pid = os.fork()
        if pid == 0:
            handler = signal.getsignal(signal.SIGTERM)
            print("child handler is the command's:", "_Termination" in getattr(handler, "__qualname__", ""),
                  flush=True)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child exit:", os.waitstatus_to_exitcode(status))
        print("parent handler is default:", signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    """)
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # the child's handler, if any, saves its report and lets it die of SIGTERM all the same
    assert "child handler is the command's: False" in proc.stdout
    assert f"child exit: {-signal.SIGTERM}" in proc.stdout
    assert "parent handler is default: False" in proc.stdout


# -- threads -------------------------------------------------------------------------------------------

@both_commands
def test_example_program(cmd, tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "fib_and_threads.py"
    proc = run(cmd, str(example), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "workers: {'worker-0': 144, 'worker-1': 144}" in proc.stdout
    report = load_report(tmp_path / "result.json")
    fib = f"fib ({example}:{line_of(example, 'def fib')})"
    per_thread: dict[int, int] = {}
    for event in complete_events(report):
        if event["name"] == fib:
            per_thread[event["tid"]] = per_thread.get(event["tid"], 0) + 1
    # fib(15) in the main thread, fib(12) in each worker.
    assert sorted(per_thread.values()) == [465, 465, 1973]
    thread_names = {e["args"]["name"] for e in report["traceEvents"]
                    if e.get("ph") == "M" and e["name"] == "thread_name"}
    assert {"worker-0", "worker-1"} <= thread_names
    assert f"Memo.fib ({example}:{line_of(example, 'def fib(self')})" in names(report)


@both_commands
def test_threads_still_running_when_main_code_ends_are_recorded(cmd, tmp_path):
    write(tmp_path / "prog.py", """
        import threading, time
        from concurrent.futures import ThreadPoolExecutor

        def late():
            time.sleep(0.2)

        def pooled():
            return 1

        threading.Thread(target=late).start()
        # Never shut down: its idle workers must not keep the run from ending.
        ThreadPoolExecutor(2).submit(pooled).result()
    """)
    proc = run(cmd, "prog.py", cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    recorded = names(load_report(tmp_path / "result.json"))
    prog = tmp_path / "prog.py"
    assert f"late ({prog}:{line_of(prog, 'def late')})" in recorded
    assert f"pooled ({prog}:{line_of(prog, 'def pooled')})" in recorded


# -- output ----------------------------------------------------------------------------------------------

@both_commands
def test_output_file_json_gz(cmd, tmp_path):
    write(tmp_path / "fib.py", FIB)
    proc = run(cmd, "-o", "out.json.gz", "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = load_report(tmp_path / "out.json.gz")
    assert len([n for n in names(report) if n.startswith("fib")]) == 177
    assert f"Report saved to {tmp_path / 'out.json.gz'}" in proc.stdout


@both_commands
def test_unique_output_file(cmd, tmp_path):
    write(tmp_path / "fib.py", FIB)
    for _ in range(2):
        assert run(cmd, "-u", "fib.py", cwd=tmp_path).returncode == 0
    reports = sorted(p.name for p in tmp_path.glob("*.json"))
    assert len(reports) == 2
    for name in reports:
        assert re.fullmatch(r"fib_\d{8}_\d{6}_\d+(_\d+)?\.json", name)
        assert load_report(tmp_path / name)["traceEvents"]


@both_commands
def test_output_dir_is_created(cmd, tmp_path):
    write(tmp_path / "fib.py", FIB)
    proc = run(cmd, "--output_dir", "reports/today", "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert load_report(tmp_path / "reports" / "today" / "result.json")["traceEvents"]
    proc = run(cmd, "--output_dir", "reports", "-o", "named.json", "fib.py", cwd=tmp_path)
    assert load_report(tmp_path / "reports" / "named.json")["traceEvents"]
    proc = run(cmd, "--output_dir", "reports", "-u", "fib.py", cwd=tmp_path)
    assert len(list((tmp_path / "reports").glob("fib_*.json"))) == 1


@both_commands
def test_quiet_prints_only_the_programs_output(cmd, tmp_path):
    write(tmp_path / "prog.py", "print('hello')\n")
    proc = run(cmd, "--quiet", "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hello\n", "")
    assert (tmp_path / "result.json").exists()


@both_commands
def test_version(cmd, tmp_path):
    proc = run(cmd, "--version", cwd=tmp_path)
    assert (proc.returncode, proc.stdout.strip()) == (0, viztracer.__version__)


@both_commands
def test_help(cmd, tmp_path):
    proc = run(cmd, "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert proc.stdout.startswith("usage: viztracer")
    for flag in ("--output_file", "--min_duration", "--include_files", "--rcfile", "--module"):
        assert flag in proc.stdout


# -- what to record -----------------------------------------------------------------------------------

def fib_report(cmd, tmp_path, *options: str) -> tuple[list[dict], str]:
    script = write(tmp_path / "fib.py", FIB)
    proc = run(cmd, *options, "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return complete_events(load_report(tmp_path / "result.json")), f"fib ({script}:1)"


@both_commands
def test_max_stack_depth(cmd, tmp_path):
    events, fib = fib_report(cmd, tmp_path, "--max_stack_depth", "5")
    # exec and <module> take two levels: fib(10), fib(9) and fib(8) (twice each) are left.
    assert [e["name"] for e in events].count(fib) == 7
    assert len(events) == 9  # with exec and <module>


@both_commands
def test_ignore_c_function(cmd, tmp_path):
    write(tmp_path / "prog.py", "import json\ndef f():\n    return len(json.dumps([1]))\nf()\n")
    assert run(cmd, "prog.py", cwd=tmp_path).returncode == 0
    default = names(load_report(tmp_path / "result.json"))
    assert "builtins.len" in default and "builtins.exec" in default
    proc = run(cmd, "--ignore_c_function", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recorded = names(load_report(tmp_path / "result.json"))
    assert recorded and all(" (" in name for name in recorded)
    assert f"f ({tmp_path / 'prog.py'}:2)" in recorded


TWO_FILES = {
    "main.py": "import helper\n\ndef run():\n    return helper.work(3) + 1\n\nrun()\n",
    "helper.py": "def inner(x):\n    return x * 2\n\ndef work(x):\n    return inner(x)\n",
}


@both_commands
@pytest.mark.parametrize(("option", "kept", "dropped"), [
    ("--include_files", {"run", "<module>"}, {"work", "inner"}),
    ("--exclude_files", {"run", "<module>"}, {"work", "inner"}),
])
def test_include_and_exclude_files(cmd, tmp_path, option, kept, dropped):
    for name, source in TWO_FILES.items():
        write(tmp_path / name, source)
    target = "main.py" if option == "--include_files" else "helper.py"
    proc = run(cmd, option, target, "--", "main.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    functions = {n.split(" (")[0] for n in names(load_report(tmp_path / "result.json")) if " (" in n}
    assert kept <= functions
    assert not dropped & functions
    if option == "--include_files":
        assert all(str(tmp_path / "main.py") in n for n in names(load_report(tmp_path / "result.json"))
                   if " (" in n)


@both_commands
def test_include_directory(cmd, tmp_path):
    write(tmp_path / "src" / "lib.py", "def libfunc():\n    return 1\n")
    write(tmp_path / "other" / "helper.py", "def helper():\n    return 2\n")
    main = write(tmp_path / "src" / "main.py", """
        import sys
        sys.path.insert(0, "other")
        import helper, lib

        def run():
            return lib.libfunc() + helper.helper()

        run()
    """)
    proc = run(cmd, "--include_files", "./src", "--", "src/main.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recorded = names(load_report(tmp_path / "result.json"))
    assert f"run ({main}:{line_of(main, 'def run')})" in recorded
    assert f"libfunc ({tmp_path / 'src' / 'lib.py'}:1)" in recorded
    assert not any("helper" in n for n in recorded)


@both_commands
def test_min_duration(cmd, tmp_path):
    write(tmp_path / "prog.py", """
        import time

        def fast():
            return 1

        def slow():
            time.sleep(0.05)

        for _ in range(100):
            fast()
        slow()
    """)
    # Wide apart, so that a fast call held up on a loaded machine stays below the bar.
    proc = run(cmd, "--min_duration", "20ms", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    events = complete_events(load_report(tmp_path / "result.json"))
    recorded = [e["name"] for e in events]
    assert f"slow ({tmp_path / 'prog.py'}:6)" in recorded
    assert "time.sleep" in recorded
    assert not any(n.startswith("fast") for n in recorded)
    assert all(e["dur"] >= 20000 for e in events)


@both_commands
def test_ignore_frozen(cmd, tmp_path):
    write(tmp_path / "helper.py", TWO_FILES["helper.py"])
    write(tmp_path / "main.py", TWO_FILES["main.py"])
    assert run(cmd, "-o", "all.json", "main.py", cwd=tmp_path).returncode == 0
    proc = run(cmd, "-o", "frozen.json", "--ignore_frozen", "main.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    everything = names(load_report(tmp_path / "all.json"))
    without = names(load_report(tmp_path / "frozen.json"))
    assert any("<frozen importlib" in n for n in everything)
    assert set(without) < set(everything)


@both_commands
def test_log_func_args(cmd, tmp_path):
    events, fib = fib_report(cmd, tmp_path, "--log_func_args")
    fib_args = sorted(int(e["args"]["func_args"]["n"]) for e in events if e["name"] == fib)
    assert len(fib_args) == 177
    assert fib_args[-1] == 10
    assert all("return_value" not in e["args"] for e in events if e["name"] == fib)


@both_commands
def test_log_func_retval(cmd, tmp_path):
    events, fib = fib_report(cmd, tmp_path, "--log_func_retval")
    values = [e["args"]["return_value"] for e in events if e["name"] == fib]
    assert len(values) == 177
    assert "55" in values
    assert all("func_args" not in e["args"] for e in events if e["name"] == fib)


@both_commands
def test_small_tracer_entries_keeps_the_latest_and_warns(cmd, tmp_path):
    script = write(tmp_path / "fib.py", FIB)
    proc = run(cmd, "--tracer_entries", "20", "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(complete_events(load_report(tmp_path / "result.json"))) <= 20
    assert "--tracer_entries" in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert f"fib ({script}:1)" in names(load_report(tmp_path / "result.json"))


# -- the options that later versions implement ------------------------------------------------------

@both_commands
@pytest.mark.parametrize("options", [["--patch_only"]])
def test_options_not_implemented_yet_warn_and_run(cmd, tmp_path, options):
    write(tmp_path / "fib.py", FIB)
    proc = run(cmd, *options, "--", "fib.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [f"viztracer: {options[0]} has no effect yet in this version"]
    assert (tmp_path / "result.json").exists()


@both_commands
@pytest.mark.parametrize("flag", ["--attach", "--attach_installed", "--uninstall"])
def test_attach_modes_need_a_pid_and_no_program(cmd, tmp_path, flag):
    proc = run(cmd, flag, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"viztracer: error: {flag} needs the PID of a running Python process, e.g. {flag} 1234"]
    write(tmp_path / "fib.py", FIB)
    proc = run(cmd, flag, "1234", "fib.py", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"viztracer: error: {flag} works on a running process and runs no program; "
        "remove 'fib.py' from the command line"]
    assert not (tmp_path / "result.json").exists()


# -- configuration file ------------------------------------------------------------------------------

RC_PROGRAM = "import json\ndef f():\n    return json.dumps([len('ab')])\nf()\n"


@both_commands
def test_viztracerrc_in_the_current_directory(cmd, tmp_path):
    write(tmp_path / "prog.py", RC_PROGRAM)
    write(tmp_path / ".viztracerrc", """
        [default]
        ignore_c_function = True
        output_file = vizreport.json
        max_stack_depth = 3
    """)
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    recorded = names(load_report(tmp_path / "vizreport.json"))
    assert not (tmp_path / "result.json").exists()
    assert recorded and all(" (" in n for n in recorded)
    assert f"f ({tmp_path / 'prog.py'}:2)" in recorded
    assert not any(n.startswith("JSONEncoder") for n in recorded)


@both_commands
def test_rcfile_option_and_command_line_overrides(cmd, tmp_path):
    write(tmp_path / "prog.py", RC_PROGRAM)
    write(tmp_path / "conf" / "my.rc", """
        [default]
        output_file = from_rc.json
        quiet = True
        log_func_retval = true
        exclude_files = /nowhere /elsewhere
        tracer_entries = 5000
    """)
    proc = run(cmd, "--rcfile", "conf/my.rc", "prog.py", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    events = complete_events(load_report(tmp_path / "from_rc.json"))
    assert any("return_value" in e.get("args", {}) for e in events)
    assert load_report(tmp_path / "from_rc.json")["viztracer_metadata"]["tracer_entries"] == 5000
    proc = run(cmd, "--rcfile", "conf/my.rc", "-o", "from_cli.json", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "from_cli.json").exists()
    proc = run(cmd, "--rcfile", "conf/my.rc", "-u", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert len(list(tmp_path.glob("prog_*.json"))) == 1


@both_commands
def test_rcfile_options_not_implemented_yet_warn(cmd, tmp_path):
    write(tmp_path / "prog.py", RC_PROGRAM)
    write(tmp_path / ".viztracerrc", "[default]\npatch_only = True\nsomething_else = 1\n")
    proc = run(cmd, "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stderr.splitlines()) == [
        "viztracer: --patch_only has no effect yet in this version",
        "viztracer: .viztracerrc: unknown option 'something_else' ignored",
    ]


# -- the command line split, in process -------------------------------------------------------------

@pytest.mark.parametrize(("argv", "options", "kind", "target", "args"), [
    (["prog.py", "-o", "x"], [], "script", "prog.py", ["-o", "x"]),
    (["-o", "r.json", "--quiet", "prog.py", "a"], ["-o", "r.json", "--quiet"], "script", "prog.py", ["a"]),
    (["--include_files", "a", "b", "--", "prog.py"], ["--include_files", "a", "b"], "script", "prog.py", []),
    (["--include_files", "a", "--quiet", "prog.py"], ["--include_files", "a", "--quiet"], "script",
     "prog.py", []),
    (["--run", "prog.py", "--", "x"], [], "script", "prog.py", ["--", "x"]),
    (["-m", "mod", "a", "-o", "b"], [], "module", "mod", ["a", "-o", "b"]),
    (["-mmod", "a"], [], "module", "mod", ["a"]),
    (["--module=mod", "--", "a"], [], "module", "mod", ["a"]),
    (["--quiet", "-c", "pass", "x"], ["--quiet"], "code", "pass", ["x"]),
    (["--tracer_entries", "-5", "p.py"], ["--tracer_entries", "-5"], "script", "p.py", []),
    (["--output_file=o.json", "p.py"], ["--output_file=o.json"], "script", "p.py", []),
    (["-oo.json", "p.py"], ["-oo.json"], "script", "p.py", []),
    (["--max_stack", "3", "p.py"], ["--max_stack", "3"], "script", "p.py", []),
    (["--attach", "p.py"], ["--attach", "p.py"], None, "", []),
    (["--quiet"], ["--quiet"], None, "", []),
    (["--quiet", "--"], ["--quiet"], None, "", []),
])
def test_split_command_line(argv, options, kind, target, args):
    cmd = split_command_line(argv)
    assert (cmd.options, cmd.kind, cmd.target, cmd.args) == (options, kind, target, args)


def test_main_in_process_restores_the_interpreter(tmp_path, monkeypatch):
    from viztracer.cli import main

    write(tmp_path / "fib.py", FIB)
    monkeypatch.chdir(tmp_path)
    # The command registers its tracer globally: put back whatever was registered before.
    monkeypatch.setattr(viztracer.tracer, "_global_tracer", viztracer.get_tracer())
    # The command runs the program's threading exit callbacks, as at interpreter exit: keep
    # the test process's own (concurrent.futures refuses new work once its callback ran).
    monkeypatch.setattr(threading, "_threading_atexits", [])
    argv, path, main_module = sys.argv[:], sys.path[:], sys.modules["__main__"]
    assert main(["--quiet", "fib.py"]) == 0
    assert (sys.argv, sys.path, sys.modules["__main__"]) == (argv, path, main_module)
    assert sys.getprofile() is None
    assert len([n for n in names(load_report(tmp_path / "result.json")) if n.startswith("fib")]) == 177


# Every flag of VizTracer 1.1.1's command line, with a sample value when it takes one.
FLAGS_OF_1_X = {
    "--version": [], "-c": ["pass"], "--cmd_string": ["pass"], "--rcfile": ["rc"],
    "--tracer_entries": ["10"], "--output_file": ["o.json"], "-o": ["o.json"],
    "--unique_output_file": [], "-u": [], "--output_dir": ["d"], "--file_info": [], "--quiet": [],
    "--trace_self": [], "--plugins": ["p"], "--max_stack_depth": ["3"], "--min_duration": ["1ms"],
    "--exclude_files": ["x"], "--include_files": ["x"], "--ignore_c_function": [],
    "--ignore_frozen": [], "--log_exit": [], "--log_func_retval": [], "--log_func_with_objprint": [],
    "--log_print": [], "--log_sparse": [], "--log_func_args": [], "--log_gc": [], "--log_torch": [],
    "--log_var": ["a"], "--log_number": ["a"], "--log_attr": ["a"], "--log_audit": ["a"],
    "--log_func_exec": ["a"], "--log_func_entry": ["a"], "--log_exception": [],
    "--log_subprocess": [], "--subprocess_child": [], "--dump_raw": [], "--sanitize_function_name": [],
    "--log_multiprocess": [], "--log_async": [], "--ignore_multiprocess": [], "--magic_comment": [],
    "--minimize_memory": [], "--pid_suffix": [], "--module": ["m"], "-m": ["m"], "--patch_only": [],
    "--compress": ["a.json"], "--decompress": ["a.cvf"], "--combine": ["a.json"],
    "--align_combine": ["a.json"], "--open": [], "--attach": ["1"], "--attach_installed": ["1"],
    "--uninstall": ["1"], "-t": ["1.5"],
}


@pytest.mark.parametrize("flag", [f for f in FLAGS_OF_1_X if f != "--version"])
def test_every_flag_of_1_x_is_accepted(flag, tmp_path, monkeypatch):
    from viztracer.cli_options import parse_settings

    monkeypatch.chdir(tmp_path)
    (tmp_path / "rc").write_text("[default]\n")
    cmd = split_command_line([flag, *FLAGS_OF_1_X[flag], "--", "prog.py"])
    parse_settings(cmd.options, [].append)


def test_the_hint_names_vizviewer_installed_beside_the_interpreter(tmp_path):
    # the test environment is a virtualenv, usually not activated: vizviewer is beside python
    hint = open_hint("result.json")
    assert hint.startswith("Open it with: ") and "vizviewer" in hint and hint.endswith(" result.json")
