"""Bad command lines: one line on stderr that says what is wrong, a non-zero exit, nothing run."""
from __future__ import annotations

import os

import pytest
from conftest_cli_helpers import both_commands, run, write

# Creates a marker file when it runs: none of the bad command lines may run it.
PROGRAM = "open('ran', 'w').close()\n"


def check_one_line_error(proc, *needles: str, status: int = 2) -> str:
    assert proc.returncode == status, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    line = lines[0]
    assert line.startswith("viztracer: error: ")
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in line
    assert proc.stdout == ""
    return line


CASES = {
    "missing script": (["nope.py"], ["'nope.py'", "no such file"]),
    "missing script after options": (["--quiet", "-o", "x.json", "missing/nope.py", "arg"], ["no such file"]),
    "script is a directory": (["adir"], ["directory"]),
    "report given as program": (["old.json"], ["vizviewer old.json"]),
    "missing module": (["-m", "no_such_module_here"], ["no module named 'no_such_module_here'"]),
    "missing submodule": (["-m", "no_such_pkg.sub"], ["no module named 'no_such_pkg.sub'"]),
    "module given as a file": (["-m", "prog.py"], ["-m prog"]),
    "package without __main__": (["-m", "apkg"], ["'apkg'", "__main__"]),
    "-m without module": (["-m"], ["-m needs a value"]),
    "-c without code": (["-c"], ["-c needs a value"]),
    "unknown flag": (["--bogus", "prog.py"], ["--bogus"]),
    "unknown short flag": (["-z", "prog.py"], ["-z"]),
    "ambiguous abbreviation": (["--output", "x", "prog.py"], ["--output"]),
    "missing option value": (["--tracer_entries"], ["--tracer_entries"]),
    "include and exclude": (["--include_files", "a", "--exclude_files", "b", "--", "prog.py"],
                            ["--include_files and --exclude_files"]),
    "text output": (["-o", "out.txt", "prog.py"], ["out.txt", ".json"]),
    "output in a missing directory": (["-o", "no/such/dir/out.json", "prog.py"], ["does not exist"]),
    "output is a directory": (["-o", "adir.json", "prog.py"], ["directory"]),
    "output dir is a file": (["--output_dir", "prog.py", "prog.py"], ["--output_dir"]),
    "zero tracer_entries": (["--tracer_entries", "0", "prog.py"], ["--tracer_entries", "positive", "0"]),
    "negative tracer_entries": (["--tracer_entries", "-5", "prog.py"], ["--tracer_entries", "-5"]),
    "non-number tracer_entries": (["--tracer_entries", "many", "prog.py"], ["--tracer_entries", "many"]),
    "bad min_duration": (["--min_duration", "0.0.3s", "prog.py"], ["--min_duration", "0.0.3s", "0.2ms"]),
    "word min_duration": (["--min_duration", "abc", "prog.py"], ["--min_duration", "abc"]),
    "unknown unit min_duration": (["--min_duration", "3h", "prog.py"], ["--min_duration", "3h"]),
    "bad max_stack_depth": (["--max_stack_depth", "deep", "prog.py"], ["--max_stack_depth"]),
    "no program": ([], ["no program to run", "-m module"]),
    "only options": (["--quiet", "-o", "x.json"], ["no program to run"]),
    "list option swallowed the program": (["--exclude_files", "a", "prog.py"],
                                          ["no program to run", "put -- before the program"]),
    "nothing after separator": (["--quiet", "--"], ["no program to run"]),
    "-o and -u": (["-o", "x.json", "-u", "prog.py"], ["-u/--unique_output_file", "together"]),
    "missing rcfile": (["--rcfile", "nope.rc", "prog.py"], ["'nope.rc'", "not found"]),
}


def setup_files(tmp_path):
    write(tmp_path / "prog.py", PROGRAM)
    write(tmp_path / "old.json", "{}")
    write(tmp_path / "apkg" / "__init__.py", "")
    (tmp_path / "adir").mkdir()
    (tmp_path / "adir.json").mkdir()


@both_commands
@pytest.mark.parametrize("case", list(CASES))
def test_bad_command_line(cmd, tmp_path, case):
    args, needles = CASES[case]
    setup_files(tmp_path)
    check_one_line_error(run(cmd, *args, cwd=tmp_path), *needles)
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "result.json").exists()


@both_commands
@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write anywhere")
def test_output_directory_without_permission(cmd, tmp_path):
    setup_files(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        check_one_line_error(run(cmd, "-o", "locked/out.json", "prog.py", cwd=tmp_path), "permission")
    finally:
        locked.chmod(0o700)
    assert not (tmp_path / "ran").exists()


RCFILES = {
    "no [default] section": ("[other]\nquiet = True\n", ["[default]"]),
    "not an ini file": ("quiet = True\n", ["can't parse"]),
    "flag with a value": ("[default]\nignore_c_function = maybe\n", ["ignore_c_function", "True or False"]),
    "bad number": ("[default]\ntracer_entries = lots\n", [".viztracerrc", "--tracer_entries", "lots"]),
    "bad duration": ("[default]\nmin_duration = soon\n", ["--min_duration", "set in .viztracerrc"]),
    "zero entries": ("[default]\ntracer_entries = 0\n", ["positive", "set in .viztracerrc"]),
    "include and exclude": ("[default]\ninclude_files = a\nexclude_files = b\n", ["--include_files"]),
    "attach mode and a program": ("[default]\nattach = 1234\n", ["--attach", "runs no program"]),
}


@both_commands
@pytest.mark.parametrize("case", list(RCFILES))
def test_bad_rcfile(cmd, tmp_path, case):
    content, needles = RCFILES[case]
    setup_files(tmp_path)
    write(tmp_path / ".viztracerrc", content)
    check_one_line_error(run(cmd, "prog.py", cwd=tmp_path), *needles, status=2)
    assert not (tmp_path / "ran").exists()


@both_commands
def test_bad_rcfile_given_with_option(cmd, tmp_path):
    setup_files(tmp_path)
    write(tmp_path / "my.rc", "[settings]\n")
    check_one_line_error(run(cmd, "--rcfile", "my.rc", "prog.py", cwd=tmp_path), "'my.rc'", "[default]")


@both_commands
def test_error_in_parent_package_of_module(cmd, tmp_path):
    setup_files(tmp_path)
    write(tmp_path / "broken" / "__init__.py", "1 / 0\n")
    write(tmp_path / "broken" / "mod.py", PROGRAM)
    check_one_line_error(run(cmd, "-m", "broken.mod", cwd=tmp_path), "'broken.mod'", "ZeroDivisionError")
