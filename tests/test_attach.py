"""Remote attach: ``tracer.install()``, ``viztracer --attach_installed``, ``--attach`` and
``--uninstall``, through the real command against real target processes (Linux).

Every target is killed at teardown. Targets loop on a small known function until the test
creates a ``finish`` file; then they print one line and exit 0, which shows that whatever the
command did (or refused to do), the process went on unharmed.
"""
from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import load_report, names
from conftest_cli_helpers import COMMANDS, TIMEOUT, both_commands, clean_env, write

from viztracer import attach, attach_command

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="remote attach is Linux only here")

VIZTRACER = COMMANDS["console-script"]
FOR_0_3_S = "for 0.3 s (Ctrl+C to stop and save sooner)"
UNTIL_CTRL_C = "; press Ctrl+C to stop and save the report"

TARGET = """
import os, signal, sys, time
from pathlib import Path

mode, here = sys.argv[1], Path(sys.argv[2])
tracer = None
if mode in ("install", "own"):
    from viztracer import VizTracer
    tracer = VizTracer(output_file=str(here / f"{mode}.json"), verbose=0)
    if mode == "install":
        tracer.install()
    else:
        tracer.start()
elif mode == "handlers":        # a program with SIGUSR1/SIGUSR2 handlers of its own
    def note(signum, frame):
        with open(here / "signals", "a") as f:
            f.write(f"{signum}\\n")
    signal.signal(signal.SIGUSR1, note)
    signal.signal(signal.SIGUSR2, note)


def work_unit(i):
    return sum(range(50)) + i


(here / "ready").write_text(str(os.getpid()))
if mode == "blocked":
    time.sleep(2)               # one long call: the main thread runs no Python code meanwhile
finish = os.path.join(sys.argv[2], "finish")
n = 0
deadline = time.monotonic() + 60
while not os.path.exists(finish) and time.monotonic() < deadline:
    work_unit(n)
    n += 1
    time.sleep(0.002)
if mode == "own":
    tracer.stop()
    tracer.save()
print(f"target finished after {n} units")
"""
WORK_UNIT_LINE = TARGET.lstrip("\n").splitlines().index("def work_unit(i):") + 1


class Target:
    """A running target process."""

    def __init__(self, folder: Path, proc: subprocess.Popen[str], script: Path) -> None:
        self.folder, self.proc, self.script = folder, proc, script
        self.pid = proc.pid

    @property
    def work_unit(self) -> str:
        """The report's name of the target's work function."""
        return f"work_unit ({self.script}:{WORK_UNIT_LINE})"

    def finish(self) -> tuple[str, str]:
        """Let it end; its output. Fails if it doesn't end normally."""
        (self.folder / "finish").write_text("")
        out, err = self.proc.communicate(timeout=TIMEOUT)
        assert self.proc.returncode == 0, err
        assert out.startswith("target finished after "), (out, err)
        return out, err


@pytest.fixture
def target(tmp_path):
    """``target(mode, *python)``: start a target (modes: plain, install, own, handlers,
    blocked) and wait until it is in its loop; killed at teardown if still running."""
    started: list[subprocess.Popen[str]] = []

    def start(mode: str = "plain", python: tuple[str, ...] = (sys.executable,)) -> Target:
        folder = tmp_path / f"target{len(started)}"
        folder.mkdir()
        script = write(folder / "target.py", TARGET)
        # its own folder as cwd: never the source tree, whose viztracer it would import
        proc = subprocess.Popen([*python, str(script), mode, str(folder)], cwd=folder,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=clean_env())
        started.append(proc)
        deadline = time.monotonic() + TIMEOUT
        while not (folder / "ready").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the target did not start"
            time.sleep(0.01)
        return Target(folder, proc, script)

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def viztracer_cmd(*args: str, cwd: Path, cmd: list[str] = VIZTRACER,
                  **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT, env=clean_env(**env))


def one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("viztracer: error: "), proc.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


# What the target's loop calls: a report holding anything else recorded the attach machinery.
LOOP_CALLS = {"work_unit", "builtins.sum", "time.sleep", "time.monotonic", "exists", "posix.stat"}


def assert_only_the_programs_calls(report: dict, target: Target) -> None:
    """The target's own work is there, and nothing of the attach machinery."""
    recorded = set(names(report))
    assert target.work_unit in recorded
    assert "builtins.sum" in recorded
    assert {name.split(" (")[0] for name in recorded} <= LOOP_CALLS


def saved_line(stdout: str, pid: int) -> Path:
    """The report's path, from the command's ``Report saved to ...`` line."""
    prefix = "Report saved to "
    lines = [line for line in stdout.splitlines() if line.startswith(prefix)]
    assert len(lines) == 1, stdout
    assert lines[0].endswith(f" (written by process {pid})")
    return Path(lines[0][len(prefix):-len(f" (written by process {pid})")])


# -- can this machine run code in another process? ------------------------------------------------

@pytest.fixture(scope="session")
def injection():
    """Skip unless gdb can attach to a Python process here and call a function in it (ptrace
    is often refused in containers and sandboxes); the reason is printed with the skip."""
    gdb = shutil.which("gdb")
    if gdb is None:
        pytest.skip("gdb is not installed, so --attach can't run code in a process here")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        probe = subprocess.run([gdb, "-p", str(sleeper.pid), "-batch", "-nx", "-iex", "set auto-load off",
                                "-ex", "call (int)Py_IsInitialized()"],
                               capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        sleeper.kill()
        sleeper.wait()
    if "$1 = 1" not in probe.stdout:
        lines = [line for line in (probe.stdout + probe.stderr).splitlines() if line.strip()]
        pytest.skip("gdb can't call into a Python process on this machine, so the part of "
                    f"--attach/--uninstall that runs code there can't be tested: {lines[-1:]}")


# -- --attach_installed --------------------------------------------------------------------------

@both_commands
def test_attach_installed_traces_for_t_seconds(target, tmp_path, cmd):
    t = target("install")
    proc = viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.3", cwd=tmp_path, cmd=cmd)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[0] == f"Tracing process {t.pid} {FOR_0_3_S}"
    report_path = saved_line(proc.stdout, t.pid)
    assert report_path == t.folder / "install.json"   # the target's VizTracer says where
    report = load_report(report_path)
    assert_only_the_programs_calls(report, t)
    # started from a signal handler, the main thread is traced (3.11's profile hook is per thread)
    assert {e["tid"] for e in report["traceEvents"] if e["name"] == t.work_unit} == {t.pid}
    assert "vizviewer" in proc.stdout.splitlines()[-1]
    t.finish()


def test_attach_installed_twice_gives_two_reports(target, tmp_path):
    t = target("install")
    spans = []
    for _ in range(2):
        proc = viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.2", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        times = [e["ts"] for e in load_report(saved_line(proc.stdout, t.pid))["traceEvents"]
                 if e["name"] == t.work_unit]
        spans.append((min(times), max(times)))
    # the second report starts after the first ended: the ring was emptied in between
    assert spans[1][0] > spans[0][1]
    t.finish()


def test_attach_installed_until_ctrl_c(target, tmp_path):
    t = target("install")
    command = subprocess.Popen([*VIZTRACER, "--attach_installed", str(t.pid)], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert command.stdout is not None
        first = command.stdout.readline()
        assert first == f"Tracing process {t.pid}{UNTIL_CTRL_C}\n"
        time.sleep(0.2)
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=TIMEOUT)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert command.returncode == 0, err
    assert_only_the_programs_calls(load_report(saved_line(out, t.pid)), t)
    t.finish()


def test_attach_installed_refuses_a_process_that_did_not_install(target, tmp_path):
    t = target("plain")
    one_line_error(viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.1", cwd=tmp_path),
                   f"process {t.pid} ", "has not called VizTracer.install()", "nothing was sent",
                   f"--attach {t.pid}")
    t.finish()   # SIGUSR1 would have killed it


def test_attach_installed_signals_a_program_with_its_own_handlers(target, tmp_path):
    # As 1.x does: a process that catches both signals gets them; with no install record of
    # ours the command can't say where a report went, and says so.
    t = target("handlers")
    proc = viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "left no record" in proc.stdout and "Report saved" not in proc.stdout
    t.finish()
    assert (t.folder / "signals").read_text().split() == [str(int(signal.SIGUSR1)), str(int(signal.SIGUSR2))]


# -- errors every mode shares ----------------------------------------------------------------------

MODES = ["--attach", "--attach_installed", "--uninstall"]


@pytest.mark.parametrize("flag", MODES)
def test_a_pid_that_does_not_exist(tmp_path, flag):
    gone = subprocess.Popen(["true"])
    gone.wait()
    one_line_error(viztracer_cmd(flag, str(gone.pid), "-t", "0.1", cwd=tmp_path),
                   f"process {gone.pid} does not exist")


@pytest.mark.parametrize("flag", MODES)
def test_a_process_that_is_not_python(tmp_path, flag):
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        one_line_error(viztracer_cmd(flag, str(sleeper.pid), "-t", "0.1", cwd=tmp_path),
                       f"process {sleeper.pid} (sleep) is not a Python process")
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()


# -- --attach ------------------------------------------------------------------------------------

def test_attach_traces_a_running_process(injection, target, tmp_path):
    t = target("plain")
    proc = viztracer_cmd("--attach", str(t.pid), "-t", "0.3", "-o", "attached.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[0] == f"Tracing process {t.pid} {FOR_0_3_S}"
    assert saved_line(proc.stdout, t.pid) == tmp_path / "attached.json"
    report = load_report(tmp_path / "attached.json")
    assert_only_the_programs_calls(report, t)
    assert {e["tid"] for e in report["traceEvents"] if e["name"] == t.work_unit} == {t.pid}
    out, err = t.finish()
    assert err == ""    # nothing printed into the program's output


def test_attach_passes_the_options_and_stops_at_ctrl_c(injection, target, tmp_path):
    t = target("plain")
    command = subprocess.Popen([*VIZTRACER, "--attach", str(t.pid), "--ignore_c_function", "-o", "o.json"],
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=clean_env())
    try:
        assert command.stdout is not None
        assert command.stdout.readline() == f"Tracing process {t.pid}{UNTIL_CTRL_C}\n"
        time.sleep(0.2)
        command.send_signal(signal.SIGINT)
        out, err = command.communicate(timeout=TIMEOUT)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    assert command.returncode == 0, err
    recorded = set(names(load_report(tmp_path / "o.json")))
    assert t.work_unit in recorded
    assert "builtins.sum" not in recorded and "time.sleep" not in recorded    # --ignore_c_function
    t.finish()


def test_attach_saves_when_the_command_is_killed(injection, target, tmp_path):
    t = target("plain")
    command = subprocess.Popen([*VIZTRACER, "--attach", str(t.pid), "-o", "o.json"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    assert command.stdout is not None
    assert command.stdout.readline().startswith(f"Tracing process {t.pid}")
    command.kill()
    command.communicate()
    # the process notices that the command is gone, stops, and saves what it traced
    deadline = time.monotonic() + TIMEOUT
    while not (tmp_path / "o.json").exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.2)
    assert t.work_unit in names(load_report(tmp_path / "o.json"))
    t.finish()


def test_attach_to_a_process_already_tracing(injection, target, tmp_path):
    t = target("own")
    one_line_error(viztracer_cmd("--attach", str(t.pid), "-t", "0.1", cwd=tmp_path),
                   f"process {t.pid} is tracing with its own VizTracer already", "nothing was changed")
    t.finish()
    assert t.work_unit in names(load_report(t.folder / "own.json"))    # its own tracer was left alone
    assert not (tmp_path / "result.json").exists()


def test_attach_to_python_that_cannot_import_viztracer(injection, target, tmp_path):
    t = target("plain", python=(sys.executable, "-I", "-S"))    # no site-packages, no PYTHONPATH
    one_line_error(viztracer_cmd("--attach", str(t.pid), "-t", "0.1", cwd=tmp_path),
                   f"process {t.pid} can't import viztracer", "No module named 'viztracer'",
                   "-m pip install viztracer")
    out, err = t.finish()
    assert err == ""    # no traceback in the program's output
    assert not (tmp_path / "result.json").exists()


def test_attach_without_gdb(target, tmp_path):
    t = target("plain")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    one_line_error(viztracer_cmd("--attach", str(t.pid), "-t", "0.1", cwd=tmp_path, PATH=str(empty)),
                   "through gdb, which is not installed", f"--attach_installed {t.pid}")
    t.finish()


FAKE_GDB = {
    "ptrace refused": ("echo 'ptrace: Operation not permitted.'; exit 1",
                       ["gdb may not attach to process", "ptrace_scope", "--attach_installed"]),
    "call refused": ("echo 'Could not attach to process.' >&2; "
                     "echo \"Couldn't write registers: Input/output error.\" >&2; exit 1",
                     ["could not run code in it (Couldn't write registers: Input/output error.)",
                      "--attach_installed"]),
}


@pytest.mark.parametrize("case", list(FAKE_GDB))
def test_attach_when_gdb_fails(target, tmp_path, case):
    # This machine lets gdb attach and call: gdb's failures elsewhere (containers, sandboxes,
    # Yama) are played by a gdb that prints what the real one prints there.
    script, needles = FAKE_GDB[case]
    t = target("plain")
    fake = write(tmp_path / "bin" / "gdb", f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    one_line_error(viztracer_cmd("--attach", str(t.pid), "-t", "0.1", cwd=tmp_path,
                                 PATH=str(fake.parent)), *needles)
    t.finish()


def test_attach_gives_up_on_a_main_thread_inside_one_long_call(injection, target, tmp_path,
                                                              monkeypatch, capsys):
    # In-process, to wait 0.5 s instead of the command's 5: the target's main thread sleeps
    # 2 s in one call, so the code is run late, sees it is too late, and does nothing.
    from viztracer.cli import main

    monkeypatch.setattr(attach_command, "START_WAIT", 0.5)
    t = target("blocked")
    assert main(["--attach", str(t.pid), "-t", "0.1", "-o", str(tmp_path / "late.json")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert f"process {t.pid} did not run the attach code within 0.5 s" in err[0]
    assert "nothing was started" in err[0]
    out, _ = t.finish()
    assert not (tmp_path / "late.json").exists()


# -- --uninstall ---------------------------------------------------------------------------------

def test_uninstall_removes_install(injection, target, tmp_path):
    t = target("install")
    proc = viztracer_cmd("--uninstall", str(t.pid), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Removed from process {t.pid}: ")
    assert "the SIGUSR1/SIGUSR2 handlers of VizTracer.install()" in proc.stdout
    # the handlers are gone: --attach_installed now refuses rather than kill it
    one_line_error(viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.1", cwd=tmp_path),
                   "has not called VizTracer.install()")
    t.finish()


def test_uninstall_where_viztracer_never_was(injection, target, tmp_path):
    t = target("plain")
    proc = viztracer_cmd("--uninstall", str(t.pid), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"Process {t.pid} had nothing of viztracer to remove\n"
    t.finish()


def test_uninstall_during_attach(injection, target, tmp_path):
    t = target("plain")
    command = subprocess.Popen([*VIZTRACER, "--attach", str(t.pid), "-o", "o.json"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=clean_env())
    try:
        assert command.stdout is not None
        assert command.stdout.readline().startswith(f"Tracing process {t.pid}")
        proc = viztracer_cmd("--uninstall", str(t.pid), cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "the tracer --attach started (its recording dropped)" in proc.stdout
        # the attaching command learns it at once, without Ctrl+C
        out, err = command.communicate(timeout=TIMEOUT)
    finally:
        if command.poll() is None:
            command.kill()
            command.communicate()
    one_line_error(subprocess.CompletedProcess([], command.returncode, out, err),
                   "viztracer --uninstall stopped its tracer meanwhile, so no report was saved")
    assert not (tmp_path / "o.json").exists()
    t.finish()


# -- -t and the output options outside their modes ----------------------------------------------------

def test_options_that_do_nothing_in_a_mode_warn(target, tmp_path):
    t = target("install")
    proc = viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.1", "-o", "x.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["viztracer: -o has no effect with --attach_installed: "
                                        "the process saves where its VizTracer says"]
    assert not (tmp_path / "x.json").exists()
    t.finish()
    write(tmp_path / "prog.py", "print('ran')\n")
    proc = viztracer_cmd("-t", "1", "prog.py", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == ["viztracer: -t has no effect without --attach or --attach_installed"]
    assert (tmp_path / "result.json").exists()


def test_attach_uses_the_tracer_the_program_registered(injection, target, tmp_path):
    # 1.x: a registered tracer that isn't running is the one --attach starts; the report goes
    # to -o, and the program keeps its tracer (--attach_installed still works after)
    t = target("install")
    proc = viztracer_cmd("--attach", str(t.pid), "-t", "0.2", "-o", "via_attach.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert t.work_unit in names(load_report(tmp_path / "via_attach.json"))
    proc = viztracer_cmd("--attach_installed", str(t.pid), "-t", "0.2", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert saved_line(proc.stdout, t.pid) == t.folder / "install.json"
    t.finish()
    # its install record goes with it
    assert not Path(attach.record_path(t.pid)).exists()


@pytest.mark.parametrize("mode", ["attach", "attach_installed"])
def test_a_process_that_does_not_save_in_time_is_one_line_naming_where_it_saves(mode, capsys, monkeypatch):
    """Both modes end the same way; a save that never comes is the command's one error line."""
    monkeypatch.setattr(attach_command, "SAVE_WAIT", 0.2)
    job = attach_command.AttachJob(mode=mode, pid=4242, seconds=None, quiet=True)
    with pytest.raises(attach_command.AttachError) as e:
        attach_command._saved_answer(job, 4242, None, "/data/out.json")
    assert str(e.value) == ("process 4242 has not saved its report within 0.2 s; "
                            "it is still at it, to /data/out.json")
    answer = {"state": "saved", "report": "/data/out.json"}
    assert attach_command._saved_answer(job, 4242, answer, "/data/out.json") == "/data/out.json"
