"""``VizTracer.fork_save``: a forked child saves what was recorded up to the fork, under the
parent's pid, while the parent traces on; through the API and under the ``viztracer`` command.

Every program runs in a subprocess of its own (it forks). Its functions have telling names:
``before_fork`` and ``leaf`` run before the fork, ``after_fork`` after it, and the child of
fork_save runs none of them.
"""
from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest_cli_helpers import COMMANDS, clean_env, run, write
from conftest_process_helpers import Processes

from viztracer import VizTracer

if sys.platform != "linux":     # pragma: no cover - fork and /proc
    pytestmark = pytest.mark.skip("fork")

VIZTRACER = COMMANDS["console-script"]

# Marks the fork's time (tracer.getts: the report's clock) around the call, and prints what the
# parent learnt as the last line of its output.
PROGRAM = """
    import json, multiprocessing, os, threading
    from viztracer import VizTracer

    def leaf():
        return 1

    def before_fork():
        return leaf()

    def after_fork():
        return leaf() + leaf()

    def worker():
        before_fork()

    def outer(tracer):
        before_fork()
        marks["fork"] = tracer.getts()
        process = tracer.fork_save("a.json")
        marks["back"] = tracer.getts()
        return process

    marks = {}
    tracer = VizTracer(verbose=0, output_file="b.json")
    tracer.start()
    thread = threading.Thread(target=worker, name="worker-thread")
    thread.start()
    thread.join()
    process = outer(tracer)
    process.join()
    after_fork()
    tracer.stop()
    tracer.save()
    print(json.dumps({"pid": os.getpid(), "child": process.pid, "exitcode": process.exitcode,
                      "is_process": isinstance(process, multiprocessing.Process), **marks}))
"""


def run_program(tmp_path: Path, source: str) -> dict[str, Any]:
    prog = write(tmp_path / "prog.py", source)
    proc = subprocess.run([sys.executable, str(prog)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def events(path: Path, ph: str) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [e for e in json.load(f)["traceEvents"] if e["ph"] == ph]


def short(e: dict[str, Any]) -> str:
    return e["name"].split(" (")[0]


def by_thread(calls: list[dict[str, Any]]) -> Counter[tuple[str, int]]:
    return Counter((e["name"], e["tid"]) for e in calls)


def thread_names(path: Path) -> dict[int, str]:
    return {e["tid"]: e["args"]["name"] for e in events(path, "M") if e["name"] == "thread_name"}


def test_the_child_saves_the_calls_made_before_the_fork_and_the_parent_keeps_them(tmp_path):
    out = run_program(tmp_path, PROGRAM)
    assert out["is_process"] is True and out["exitcode"] == 0
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a_calls, b_calls = events(a, "X"), events(b, "X")

    # a.json: exactly the calls of the parent that had ended at the fork. The fork happens in
    # fork_save, called by outer after everything else it calls (fork_save, ours, is not
    # recorded), so on b.json's own clock that is every call but outer ended by outer's end.
    # (Each report maps the clock with the rate it measured, so times compared across the two
    # agree only to some microseconds: hence b's clock here.)
    outer = next(e for e in b_calls if short(e) == "outer")
    before = by_thread([e for e in b_calls if e["ts"] + e["dur"] <= outer["ts"] + outer["dur"]
                        and e is not outer])
    assert by_thread(a_calls) == before
    assert all(e["ts"] + e["dur"] <= out["fork"] + 1000 for e in a_calls)
    main, worker = (tid for tid, _ in sorted(thread_names(a).items(), key=lambda t: t[1] != "MainThread"))
    a_names = Counter((short(e), e["tid"]) for e in a_calls)
    assert a_names[("before_fork", main)] == a_names[("before_fork", worker)] == 1
    assert a_names[("leaf", main)] == a_names[("leaf", worker)] == 1
    assert not any(short(e) == "after_fork" for e in a_calls)
    # none of the child's own work: multiprocessing's start in the child, the save
    assert not any("multiprocessing" in e["name"] or "_save_in_child" in e["name"] for e in a_calls)
    # the call open at the fork is open in it, as in a save() while tracing
    assert [short(e) for e in events(a, "B")] == ["outer"]

    # under the parent's pid and names
    pids = {e["pid"] for e in events(a, "X") + events(a, "B") + events(a, "M")}
    assert pids == {out["pid"]}
    assert thread_names(a) == thread_names(b) == {main: "MainThread", worker: "worker-thread"}
    assert [e["args"]["name"] for e in events(a, "M") if e["name"] == "process_name"] == ["MainProcess"]

    # b.json: everything, the calls before the fork included: fork_save cleared nothing
    outer_end = outer["ts"] + outer["dur"]
    assert before == by_thread([e for e in b_calls if e["ts"] < outer_end and e is not outer])
    b_names = Counter(short(e) for e in b_calls)
    assert (b_names["before_fork"], b_names["after_fork"], b_names["outer"], b_names["leaf"]) == (2, 1, 1, 4)
    assert {e["pid"] for e in b_calls} == {out["pid"]}
    assert not events(b, "B")


def test_events_the_child_makes_are_not_in_its_report(tmp_path):
    # The program's own fork hook runs in the child, under the tracer's hook: what it logs or
    # prints there (log_print) is the child's, not the parent's as of the fork.
    run_program(tmp_path, """
        import os
        from viztracer import VizTracer

        tracer = VizTracer(verbose=0, output_file="b.json", log_print=True)
        os.register_at_fork(after_in_child=lambda: (tracer.log_instant("in the child"), print("child")))
        tracer.start()
        tracer.log_instant("in the parent")
        print("parent")
        tracer.fork_save("a.json").join()
        tracer.stop()
        tracer.save()
        print("{}")
    """)
    parents = ["in the parent", "print - parent\n"]
    assert sorted(e["name"] for e in events(tmp_path / "a.json", "i")) == parents
    assert sorted(e["name"] for e in events(tmp_path / "b.json", "i")) == parents


def test_output_file_defaults_to_the_tracers_and_an_idle_tracer_saves_what_it_has(tmp_path):
    out = run_program(tmp_path, """
        import json, os
        from viztracer import VizTracer

        def before_fork():
            return 1

        idle = VizTracer(verbose=0, output_file="never.json", register_global=False)
        p1 = idle.fork_save()
        p1.join()
        tracer = VizTracer(verbose=0, output_file="default.json")
        tracer.start()
        before_fork()
        tracer.stop()
        p2 = tracer.fork_save()
        p2.join()
        print(json.dumps({"pid": os.getpid(), "codes": [p1.exitcode, p2.exitcode]}))
    """)
    assert out["codes"] == [0, 0]
    never = tmp_path / "never.json"
    assert events(never, "X") == [] and {e["pid"] for e in events(never, "M")} == {out["pid"]}
    assert [short(e) for e in events(tmp_path / "default.json", "X")] == ["before_fork"]


def test_with_pid_suffix_the_file_is_named_after_the_child_as_in_viztracer_1x(tmp_path):
    out = run_program(tmp_path, """
        import json, os
        from viztracer import VizTracer

        def before_fork():
            return 1

        tracer = VizTracer(verbose=0, output_file="r.json", pid_suffix=True)
        tracer.start()
        before_fork()
        p = tracer.fork_save()
        p.join()
        tracer.stop()
        print(json.dumps({"pid": os.getpid(), "child": p.pid, "code": p.exitcode}))
    """)
    assert out["code"] == 0
    saved = tmp_path / f"r_{out['child']}.json"     # a new file per fork_save, never the parent's
    assert [short(e) for e in events(saved, "X")] == ["before_fork"]
    assert {e["pid"] for e in events(saved, "X")} == {out["pid"]}


def test_the_signature_is_1_1_1s():
    params = list(inspect.signature(VizTracer.fork_save).parameters.values())[1:]
    assert [(p.name, p.default) for p in params] == [("output_file", None)]


def test_a_start_method_other_than_fork_is_an_error(tmp_path):
    out = run_program(tmp_path, """
        import json, multiprocessing, os
        from viztracer import VizTracer

        multiprocessing.set_start_method("spawn")
        tracer = VizTracer(verbose=0, output_file="a.json")
        tracer.start()
        try:
            tracer.fork_save()
        except RuntimeError as exc:
            error = str(exc)
        tracer.stop()
        print(json.dumps({"error": error, "children": len(multiprocessing.active_children())}))
    """)
    assert out["error"] == ("fork_save forks the process: it needs multiprocessing's 'fork' start method, "
                            "and this program uses 'spawn'")
    assert out["children"] == 0 and not (tmp_path / "a.json").exists()


def test_streaming_is_an_error(tmp_path):
    tracer = VizTracer(verbose=0, output_file=str(tmp_path / "s.json"), stream=True, register_global=False)
    with pytest.raises(RuntimeError, match=r"^fork_save writes out the tracer's in-memory ring; with "
                                           r"stream=True .* call save\(\) at the end instead$"):
        tracer.fork_save(str(tmp_path / "a.json"))
    assert not (tmp_path / "a.json").exists()


# -- under the viztracer command ---------------------------------------------------------------------

COMMAND_PROGRAM = """
    import os, time
    from viztracer import get_tracer

    def before_fork():
        return 1

    def after_fork():
        return 2

    def slow_in_the_child(save):
        # The child takes its time: the command must neither wait for it nor count it.
        parent = os.getpid()
        def slowly(*args, **kwargs):
            if os.getpid() != parent:
                time.sleep(2.5)
            return save(*args, **kwargs)
        return slowly

    tracer = get_tracer()
    before_fork()
    if {slow}:
        tracer.save = slow_in_the_child(tracer.save)
    process = tracer.fork_save("a.json")
    if {join}:
        process.join()
        assert process.exitcode == 0
    after_fork()
    print("pid", os.getpid())
"""


@pytest.mark.parametrize("join", [True, False], ids=["joined", "not-joined"])
def test_under_the_command_the_child_is_not_one_of_its_processes(tmp_path, join):
    prog = write(tmp_path / "prog.py", COMMAND_PROGRAM.format(slow=not join, join=join))
    proc = run(VIZTRACER, "-o", "main.json", str(prog), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "waiting for" not in proc.stderr and "warning" not in proc.stderr, proc.stderr
    pid = int(proc.stdout.split("pid ")[1].split()[0])

    report = Processes(tmp_path / "main.json")
    assert report.names == {pid: "MainProcess"}     # one process: fork_save's child is not in it
    assert (report.calls[pid]["before_fork"], report.calls[pid]["after_fork"]) == (1, 1)
    assert not report.metadata.get("child_processes")

    # multiprocessing joins a child left running as the program exits: the file is there
    saved = Processes(tmp_path / "a.json")
    assert saved.names == {pid: "MainProcess"}
    assert (saved.calls[pid]["before_fork"], saved.calls[pid]["after_fork"]) == (1, 0)
    assert "<module>" in [short(e) for e in events(tmp_path / "a.json", "B")]
