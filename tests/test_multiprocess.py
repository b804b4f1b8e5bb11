"""Child processes traced by the ``viztracer`` command into one report, through the real command.

Each program marks what it does by calling small functions with telling names, so that each
test can say which process made which calls, how many processes there are and what they are
called; and what the report and the command say when a child is lost or cut short.
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest_cli_helpers import COMMANDS, clean_env, read_stderr_until, run, write
from conftest_process_helpers import Processes

if sys.platform != "linux":     # pragma: no cover - fork, signals and /proc
    pytestmark = pytest.mark.skip("POSIX processes")

VIZTRACER = COMMANDS["console-script"]
FORMATS = ["json", "pftrace"]

CHILD = """
    import sys
    def in_child(n):
        return n + 1
    for _ in range(3):
        in_child(1)
"""


def traced(tmp_path: Path, source: str, *options: str, fmt: str = "json", args: tuple[str, ...] = (),
           timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], Processes]:
    prog = write(tmp_path / "prog.py", source)
    out = tmp_path / f"result.{fmt}"
    proc = run(VIZTRACER, *options, "-o", str(out), str(prog), *args, cwd=tmp_path, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc, Processes(out)


# -- new interpreters --------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_every_way_of_starting_python_joins_the_report(tmp_path, fmt):
    write(tmp_path / "child.py", CHILD)
    write(tmp_path / "childmod.py", CHILD)
    shebang = write(tmp_path / "shebang.py", f"#!{sys.executable}\n" + CHILD.replace("\n    ", "\n"))
    shebang.chmod(0o755)
    _, report = traced(tmp_path, """
        import os, subprocess, sys
        def parent_work():
            return 0
        parent_work()
        subprocess.run([sys.executable, "child.py"], check=True)
        subprocess.run([sys.executable, "-m", "childmod"], check=True)
        subprocess.run([sys.executable, "-c", "import child"], check=True)
        subprocess.run(["./shebang.py"], check=True)
        subprocess.run(f"{sys.executable} child.py", shell=True, check=True)
        os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "child.py"])
        pid = os.fork()
        if pid == 0:
            os.execv(sys.executable, [sys.executable, "child.py"])
        os.waitpid(pid, 0)
        subprocess.run(["true"], check=True)     # not Python: left alone
    """, fmt=fmt)
    assert sorted(report.names.values()) == sorted(["MainProcess", "childmod", "python -c", "shebang.py"]
                                                   + ["child.py"] * 4)
    assert report.calls_of("MainProcess")["parent_work"] == 1
    assert report.calls_of("MainProcess")["in_child"] == 0
    children = [pid for pid, name in report.names.items() if name != "MainProcess"]
    assert all(report.calls[pid]["in_child"] == 3 for pid in children)
    assert report.states() == {name: "complete" for name in report.states()}
    assert len(report.metadata["child_processes"]) == 7
    # every process's events are its own, on its own threads
    for pid in report.names:
        assert report.threads[pid] == {pid}


def test_children_of_children_and_the_parents_options(tmp_path):
    write(tmp_path / "grandchild.py", CHILD)
    write(tmp_path / "child.py", """
        import subprocess, sys
        def spawn_grandchild(name):
            subprocess.run([sys.executable, name], check=True)
        spawn_grandchild("grandchild.py")
    """)
    _, report = traced(tmp_path, """
        import subprocess, sys
        subprocess.run([sys.executable, "child.py"], check=True)
    """, "--log_func_args", "--max_stack_depth", "4")
    assert sorted(report.names.values()) == ["MainProcess", "child.py", "grandchild.py"]
    assert report.calls_of("grandchild.py")["in_child"] == 3
    # the parent's options hold in every process: arguments logged, depth limited
    events = [e for e in report.report["traceEvents"]
              if e.get("ph") == "X" and e["pid"] == report.pid_named("child.py")
              and e["name"].startswith("spawn_grandchild")]
    assert events and events[0]["args"]["func_args"] == {"name": "'grandchild.py'"}
    # the clocks of the processes line up: the grandchild's calls lie inside the call that
    # started it, in the child
    spawn = events[0]
    grandchild = report.pid_named("grandchild.py")
    inner = [e for e in report.report["traceEvents"]
             if e.get("ph") == "X" and e["pid"] == grandchild and e["name"].startswith("in_child")]
    assert len(inner) == 3
    assert all(spawn["ts"] < e["ts"] and e["ts"] + e["dur"] < spawn["ts"] + spawn["dur"] for e in inner)


def test_ignore_multiprocess_traces_the_parent_only(tmp_path):
    write(tmp_path / "child.py", CHILD)
    _, report = traced(tmp_path, """
        import os, subprocess, sys
        subprocess.run([sys.executable, "child.py"], check=True)
        if os.fork() == 0:
            os._exit(0)
        os.wait()
    """, "--ignore_multiprocess")
    assert list(report.names.values()) == ["MainProcess"]
    assert "child_processes" not in report.metadata


def test_the_childrens_environment_is_the_programs_again_after_it(tmp_path):
    # the command's own processes after the program (vizviewer --open) are not traced
    _, report = traced(tmp_path, """
        import os
        print("during:", os.environ.get("VIZTRACER_CHILDREN") is not None)
    """)
    assert list(report.names.values()) == ["MainProcess"]


# -- multiprocessing, concurrent.futures ---------------------------------------------------------------

MP_PROGRAM = """
    import multiprocessing as mp, sys
    from concurrent.futures import ProcessPoolExecutor
    def square(x):
        return x * x
    def in_process(n):
        return n
    if __name__ == "__main__":
        ctx = mp.get_context(sys.argv[1])
        with ctx.Pool(2) as pool:
            assert pool.map(square, range(8)) == [x * x for x in range(8)]
        p = ctx.Process(target=in_process, args=(1,))
        p.start()
        p.join()
        with ProcessPoolExecutor(2, mp_context=ctx) as ex:
            assert list(ex.map(in_process, range(4))) == list(range(4))
        with ctx.Manager() as manager:
            d = manager.dict()
            d[1] = 2
"""


@pytest.mark.parametrize("method,fmt", [("fork", "json"), ("spawn", "json"), ("forkserver", "pftrace")])
def test_multiprocessing_pools_processes_executors_and_managers(tmp_path, method, fmt):
    prefix = {"fork": "Fork", "spawn": "Spawn", "forkserver": "ForkServer"}[method]
    _, report = traced(tmp_path, MP_PROGRAM, fmt=fmt, args=(method,))
    assert report.calls_of("MainProcess")["square"] == 0
    # every task ran in a pool worker, each worker is in the report once, under its name
    assert report.total("square") == 8
    assert set(report.who_called("square")) <= {f"{prefix}PoolWorker-1", f"{prefix}PoolWorker-2"}
    assert report.calls_of(f"{prefix}Process-3")["in_process"] == 1
    assert sum(report.calls_of(f"{prefix}Process-{i}")["in_process"] for i in (4, 5)) == 4
    assert report.pid_named("SyncManager-6")
    assert all(state == "complete" for state in report.states().values()), report.states()
    assert len(set(report.names.values())) == len(report.names)     # each process once
    if method != "fork":    # helpers that outlive the program are not traced, not waited for
        assert not any("resource" in name or name == "forkserver" for name in report.names.values())


def test_a_pool_of_forked_workers_never_hangs(tmp_path):
    # the command's SIGTERM handler is not the workers': a terminated pool ends every time
    prog = write(tmp_path / "prog.py", """
        import multiprocessing as mp
        def square(x):
            return x * x
        if __name__ == "__main__":
            for _ in range(10):
                with mp.get_context("fork").Pool(2) as pool:
                    pool.map(square, range(4))
    """)
    proc = run(VIZTRACER, "--quiet", "-o", str(tmp_path / "r.json"), str(prog), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert Processes(tmp_path / "r.json").total("square") == 40


# -- os.fork -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_a_forked_child_writes_its_own_calls_never_the_parents_report(tmp_path, fmt):
    _, report = traced(tmp_path, """
        import os, sys
        def before_fork():
            return 0
        def in_child():
            return 1
        def in_parent():
            return 2
        before_fork()
        pid = os.fork()
        if pid == 0:
            in_child()
            sys.exit(0)     # back through the command's own code
        in_parent()
        os.waitpid(pid, 0)
    """, fmt=fmt)
    assert sorted(report.names.values()) == ["MainProcess", "MainProcess (forked)"]
    parent, child = report.calls_of("MainProcess"), report.calls_of("MainProcess (forked)")
    assert (parent["before_fork"], parent["in_parent"], parent["in_child"]) == (1, 1, 0)
    # the child records its own calls only: not the parent's from before the fork
    assert (child["before_fork"], child["in_parent"], child["in_child"]) == (0, 0, 1)
    forked = report.pid_named("MainProcess (forked)")
    assert report.threads[forked] == {forked}


def test_set_afterfork_runs_in_every_forked_child(tmp_path):
    proc, report = traced(tmp_path, """
        import os
        from viztracer import get_tracer
        def after_fork(tracer, label, *, depth):
            tracer.max_stack_depth = depth
            print("afterfork", label, depth, os.getpid() != parent, flush=True)
        def deep(n):
            return deep(n - 1) if n else 0
        parent = os.getpid()
        get_tracer().set_afterfork(after_fork, "child", depth=3)
        pid = os.fork()
        if pid == 0:
            deep(10)
            os._exit(0)
        os.waitpid(pid, 0)
        deep(10)
    """)
    assert "afterfork child 3 True" in proc.stdout
    assert report.calls_of("MainProcess")["deep"] == 11
    assert report.calls_of("MainProcess (forked)")["deep"] == 1     # exec, <module>, deep: depth 3


# -- failures: a child never costs the parent its data ----------------------------------------------

KILLED_CHILD = """
    import os, signal, subprocess, sys, time
    code = "def busy(n):\\n    return sum(range(n))\\nfor _ in range(200):\\n    busy(100)\\n" \\
           "print('ready', flush=True)\\nimport time\\ntime.sleep(30)\\n"
    def parent_work():
        return 1
    parent_work()
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child.stdout.readline()
    time.sleep(0.6)     # the streamed part is written
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    parent_work()
"""


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_child_killed_with_sigkill_is_named_lost_or_cut_short(tmp_path, fmt):
    proc, report = traced(tmp_path, KILLED_CHILD, fmt=fmt)
    assert report.calls_of("MainProcess")["parent_work"] == 2
    pid = report.pid_named("python -c")
    assert report.states() == {"python -c": "lost"}
    assert report.calls[pid]["busy"] == 0
    assert f"child process {pid} (python -c) is lost" in proc.stderr
    if fmt == "json":
        assert report.labels == {pid: "lost"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_with_stream_a_killed_child_keeps_what_it_wrote(tmp_path, fmt):
    proc, report = traced(tmp_path, KILLED_CHILD, "--stream", fmt=fmt)
    assert report.calls_of("MainProcess")["parent_work"] == 2
    assert report.calls_of("python -c")["busy"] == 200
    assert report.states() == {"python -c": "cut short"}
    assert "(python -c) is cut short in the report" in proc.stderr
    if fmt == "json":
        assert report.labels == {report.pid_named("python -c"): "cut short"}


def test_crashing_exiting_and_terminated_children_are_whole(tmp_path):
    _, report = traced(tmp_path, """
        import os, signal, subprocess, sys, time
        def work():
            return 1
        code = "def work():\\n    return 1\\nwork()\\n"
        crash = subprocess.run([sys.executable, "-c", code + "raise RuntimeError('boom')"],
                               capture_output=True, text=True)
        assert crash.returncode == 1 and "boom" in crash.stderr
        exits = subprocess.run([sys.executable, "-c", code + "import os; os._exit(7)"])
        assert exits.returncode == 7
        term = subprocess.Popen([sys.executable, "-c", code + "print('up', flush=True)\\nimport time\\n"
                                 "time.sleep(30)"], stdout=subprocess.PIPE, text=True)
        term.stdout.readline()
        term.terminate()
        assert term.wait() == -signal.SIGTERM      # it still dies of SIGTERM
        if os.fork() == 0:
            work()
            os._exit(3)
        assert os.waitstatus_to_exitcode(os.wait()[1]) == 3
    """)
    assert sorted(report.names.values()) == ["MainProcess", "MainProcess (forked)"] + ["python -c"] * 3
    assert [report.calls[pid]["work"] for pid, name in report.names.items() if name != "MainProcess"] \
        == [1, 1, 1, 1]
    assert set(report.states().values()) == {"complete"}


def test_a_terminated_child_whose_program_ends_while_it_saves_is_whole(tmp_path):
    # SIGTERM is saved by a thread of ours while the main thread runs on; here the main thread
    # ends once that save has begun (a pool worker still starting when its pool is
    # terminated): the process waits for the save, then still dies of SIGTERM
    proc, report = traced(tmp_path, """
        import signal, subprocess, sys
        code = ("import sys, time\\ndef f(n):\\n    return n\\nfor i in range(300000):\\n    f(i)\\n"
                "print('ready', flush=True)\\nchildren = sys.modules['viztracer.children']\\n"
                "deadline = time.monotonic() + 20\\n"
                "while not children._ending_in and time.monotonic() < deadline:\\n    time.sleep(0.001)\\n")
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        child.stdout.readline()
        child.terminate()
        assert child.wait() == -signal.SIGTERM
    """)
    assert report.states() == {"python -c": "complete"}, proc.stderr
    assert report.calls_of("python -c")["f"] == 300000


@pytest.mark.parametrize("fmt", FORMATS)
def test_os_exit_in_the_parent_saves_everything(tmp_path, fmt):
    write(tmp_path / "child.py", CHILD)
    prog = write(tmp_path / "prog.py", """
        import os, subprocess, sys
        def before_exit():
            return 1
        subprocess.run([sys.executable, "child.py"], check=True)
        before_exit()
        os._exit(4)
    """)
    proc = run(VIZTRACER, "-o", f"r.{fmt}", str(prog), cwd=tmp_path)
    assert proc.returncode == 4, proc.stderr
    assert "Report saved to" in proc.stdout
    report = Processes(tmp_path / f"r.{fmt}")
    assert report.calls_of("MainProcess")["before_exit"] == 1
    assert report.calls_of("child.py")["in_child"] == 3
    assert "cut_short" not in report.metadata


def test_the_parent_waits_for_a_child_that_outlives_the_program(tmp_path):
    proc, report = traced(tmp_path, """
        import subprocess, sys
        code = "import time\\ndef late():\\n    return 1\\ntime.sleep(3)\\nlate()\\n"
        subprocess.Popen([sys.executable, "-c", code])
    """)
    assert report.calls_of("python -c")["late"] == 1
    assert "viztracer: waiting for 1 child process" in proc.stderr
    assert report.states() == {"python -c": "complete"}


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_waiting_and_saves_what_has_arrived(tmp_path, signum):
    write(tmp_path / "prog.py", """
        import subprocess, sys
        def parent_work():
            return 1
        parent_work()
        subprocess.run([sys.executable, "-c", "print('quick')"], check=True)
        code = "import os, time\\nopen('waiting', 'w').write(str(os.getpid()))\\ntime.sleep(60)\\n"
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    """)
    proc = subprocess.Popen([*VIZTRACER, "-o", "r.json", "prog.py"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    waiting = tmp_path / "waiting"
    deadline = time.monotonic() + 30
    while not (waiting.exists() and waiting.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    sleeper = int(waiting.read_text())
    try:
        # the signal goes once the command says it is waiting (a fixed sleep was too short under load)
        notice = read_stderr_until(proc, "waiting for 1 child process", timeout=30)
        proc.send_signal(signum)
        _, rest = proc.communicate(timeout=30)
        stderr = notice + rest
    finally:
        os.kill(sleeper, signal.SIGKILL)
    assert proc.returncode == 0, stderr
    assert "waiting for 1 child process" in stderr
    report = Processes(tmp_path / "r.json")
    assert report.calls_of("MainProcess")["parent_work"] == 1
    assert sorted(c["state"] for c in report.metadata["child_processes"]) == ["complete", "lost"]
    assert f"child process {sleeper} (python -c) is lost in the report: it was still running" in stderr


# -- the generic support of 1.x: init_kwargs, register_exit --------------------------------------------

def test_init_kwargs_and_register_exit_put_any_process_in_the_report(tmp_path):
    # A child started without the command's environment is not traced by itself; the program
    # hands it the tracer's options, as VizTracer 1.x's manual shows.
    write(tmp_path / "worker.py", """
        import json, sys
        from viztracer import VizTracer
        def in_worker():
            return 1
        tracer = VizTracer(**json.loads(sys.argv[1]))
        tracer.register_exit()
        tracer.start()
        in_worker()
    """)
    _, report = traced(tmp_path, """
        import json, os, subprocess, sys
        from viztracer import get_tracer
        kwargs = get_tracer().init_kwargs
        assert kwargs["pid_suffix"] is True and kwargs["output_file"].endswith("result.json")
        env = {"PATH": os.environ["PATH"]}
        subprocess.run([sys.executable, "worker.py", json.dumps(kwargs)], env=env, check=True)
    """)
    assert report.who_called("in_worker") == {"MainProcess": 1} or report.total("in_worker") == 1
    assert report.calls[report.metadata["child_processes"][0]["pid"]]["in_worker"] == 1


def test_register_exit_in_a_traced_child_stands_aside(tmp_path):
    write(tmp_path / "worker.py", """
        from viztracer import VizTracer, get_tracer
        def in_worker():
            return 1
        tracer = VizTracer(output_file="elsewhere.json")
        tracer.register_exit()
        tracer.start()
        in_worker()
    """)
    _, report = traced(tmp_path, """
        import subprocess, sys
        subprocess.run([sys.executable, "worker.py"], check=True)
    """)
    assert report.calls_of("worker.py")["in_worker"] == 1
    assert not (tmp_path / "elsewhere.json").exists()


# -- where the report goes -------------------------------------------------------------------------------

def test_pid_suffix_and_output_dir_give_one_report_named_after_the_parent(tmp_path):
    write(tmp_path / "child.py", CHILD)
    prog = write(tmp_path / "prog.py", """
        import os, subprocess, sys
        print("parent", os.getpid())
        subprocess.run([sys.executable, "child.py"], check=True)
    """)
    proc = run(VIZTRACER, "--pid_suffix", "--output_dir", "out", str(prog), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    pid = int(proc.stdout.split("parent ")[1].split()[0])
    assert sorted(os.listdir(tmp_path / "out")) == [f"result_{pid}.json"]
    report = Processes(tmp_path / "out" / f"result_{pid}.json")
    assert sorted(report.names.values()) == ["MainProcess", "child.py"]


def test_an_html_report_holds_the_children_too(tmp_path):
    write(tmp_path / "child.py", CHILD)
    prog = write(tmp_path / "prog.py", """
        import subprocess, sys
        subprocess.run([sys.executable, "child.py"], check=True)
    """)
    proc = run(VIZTRACER, "-o", "r.html", str(prog), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "r.html").read_text()
    blob = page.split('id="vt-blob">')[1].split("</script>")[0]
    assert b"child.py" in base64.b64decode(blob)
    assert sorted(os.listdir(tmp_path)) == ["child.py", "prog.py", "r.html"]


def test_an_inline_tracer_in_a_forking_program_keeps_the_parents_report(tmp_path):
    prog = write(tmp_path / "prog.py", """
        import os
        from viztracer import VizTracer
        def in_parent():
            return 1
        def in_child():
            return 2
        with VizTracer(verbose=0):
            pid = os.fork()
            if pid:
                in_parent()
                os.waitpid(pid, 0)
            else:
                in_child()
        if pid == 0:
            print("child", os.getpid(), flush=True)
    """)
    proc = subprocess.run([sys.executable, str(prog)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    child = int(proc.stdout.split("child ")[1].split()[0])
    parent = Processes(tmp_path / "result.json")
    assert parent.total("in_parent") == 1 and parent.total("in_child") == 0
    forked = Processes(tmp_path / f"result_{child}.json")
    assert forked.total("in_child") == 1 and forked.total("in_parent") == 0


def test_an_inline_tracer_in_a_program_that_spawns_keeps_its_report(tmp_path):
    prog = write(tmp_path / "prog.py", """
        import multiprocessing as mp
        from viztracer import VizTracer
        def square(x):
            return x * x
        def in_parent():
            return 1
        if __name__ == "__main__":
            with VizTracer(verbose=0, output_file="inline.json"):
                in_parent()
                with mp.get_context("spawn").Pool(2) as pool:
                    assert pool.map(square, range(4)) == [0, 1, 4, 9]
                in_parent()
    """)
    proc = subprocess.run([sys.executable, str(prog)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    report = Processes(tmp_path / "inline.json")
    assert list(report.names.values()) == ["MainProcess"]     # children of an inline tracer: untraced
    assert report.total("in_parent") == 2 and report.total("square") == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inline.json", "prog.py"]


# -- loky / joblib ----------------------------------------------------------------------------------------

def test_loky_and_joblib_workers(tmp_path):
    pytest.importorskip("loky")
    pytest.importorskip("joblib")
    _, report = traced(tmp_path, """
        import loky
        from joblib import Parallel, delayed
        def square(x):
            return x * x
        if __name__ == "__main__":
            assert Parallel(n_jobs=2)(delayed(square)(i) for i in range(6)) == [i * i for i in range(6)]
            assert list(loky.get_reusable_executor(max_workers=2).map(square, range(4))) == [0, 1, 4, 9]
    """)
    assert report.total("square") == 10
    assert all(name.startswith("LokyProcess-") for name in report.who_called("square"))
    assert all(state == "complete" for state in report.states().values())
