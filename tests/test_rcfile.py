"""Reading ``.viztracerrc`` and turning its values into options."""
from __future__ import annotations

import pytest
from conftest_cli_helpers import write

from viztracer.cli_options import CliError, parse_settings, tracer_options
from viztracer.rcfile import RcFileError, read_rcfile


def settings_for(options, warnings=None):
    return parse_settings(options, (warnings if warnings is not None else []).append)


def test_no_rcfile_gives_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert read_rcfile(None) == (None, {})


def test_default_rcfile_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", "[default]\nmax_stack_depth = 10\nlog_var = a.* latest\n")
    assert read_rcfile(None) == (".viztracerrc", {"max_stack_depth": "10", "log_var": "a.* latest"})


def test_rcfile_given_by_path(tmp_path):
    path = write(tmp_path / "conf.ini", "[default]\nquiet = True\n")
    assert read_rcfile(str(path)) == (str(path), {"quiet": "True"})


@pytest.mark.parametrize(("content", "message"), [
    ("[other]\nquiet = True\n", "no [default] section"),
    ("quiet = True\n", "can't parse"),
    ("[default]\nquiet = True\nquiet = False\n", "can't parse"),
])
def test_unusable_rcfile(tmp_path, content, message):
    path = write(tmp_path / "conf.ini", content)
    with pytest.raises(RcFileError, match=message.replace("[", r"\[")) as info:
        read_rcfile(str(path))
    assert "\n" not in str(info.value)


def test_missing_rcfile_given_by_path(tmp_path):
    with pytest.raises(RcFileError, match="not found"):
        read_rcfile(str(tmp_path / "nope.rc"))


def test_rcfile_values_become_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", """
        [default]
        ignore_c_function = True
        log_func_args = false
        output_file = vizreport.json
        max_stack_depth = 10
        tracer_entries = 5000
        min_duration = 0.2ms
        exclude_files = ./venv   /usr/lib
    """)
    settings = settings_for([])
    assert settings.ignore_c_function is True
    assert settings.log_func_args is False
    assert settings.output_file == "vizreport.json"
    assert settings.max_stack_depth == 10
    assert settings.exclude_files == ["./venv", "/usr/lib"]
    kwargs = tracer_options(settings)
    assert kwargs["min_duration"] == 200.0
    assert kwargs["tracer_entries"] == 5000


def test_command_line_overrides_rcfile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", "[default]\noutput_file = rc.json\nmax_stack_depth = 10\n"
                                     "exclude_files = a b\n")
    settings = settings_for(["-o", "cli.json", "--max_stack_depth", "3", "--exclude_files", "c"])
    assert (settings.output_file, settings.max_stack_depth, settings.exclude_files) == ("cli.json", 3, ["c"])
    settings = settings_for(["-u"])
    assert settings.unique_output_file and settings.output_file is None


def test_rcfile_option_replaces_the_default_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", "[default]\nmax_stack_depth = 10\n")
    other = write(tmp_path / "other.rc", "[default]\nmax_stack_depth = 4\n")
    assert settings_for(["--rcfile", str(other)]).max_stack_depth == 4


def test_unknown_rcfile_keys_warn(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", "[default]\nno_such_option = 1\nmodule = x\n")
    warnings: list[str] = []
    settings_for([], warnings)
    assert warnings == [".viztracerrc: unknown option 'no_such_option' ignored",
                        ".viztracerrc: unknown option 'module' ignored"]


@pytest.mark.parametrize(("content", "message"), [
    ("[default]\nignore_c_function = maybe\n", "must be True or False"),
    ("[default]\ntracer_entries = lots\n", r"\.viztracerrc: argument --tracer_entries: invalid int"),
])
def test_bad_rcfile_values(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", content)
    with pytest.raises(CliError, match=message):
        settings_for([])


def test_errors_in_rcfile_values_name_the_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write(tmp_path / ".viztracerrc", "[default]\ntracer_entries = -3\n")
    with pytest.raises(CliError, match=r"got -3 \(set in \.viztracerrc\)"):
        tracer_options(settings_for([]))
    # Given on the command line, the same value is not blamed on the file.
    with pytest.raises(CliError, match=r"got -4$"):
        tracer_options(settings_for(["--tracer_entries", "-4"]))
