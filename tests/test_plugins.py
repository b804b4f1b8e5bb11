"""Plugins: the messages they get and in what order, what their ``handle_data`` answer does to the
saved report, and every way a plugin can be wrong, through the API and through ``viztracer``."""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from conftest_cli_helpers import TIMEOUT, both_commands, check_one_line_error, clean_env, write

from viztracer import VizTracer
from viztracer.report.loader import load_report
from viztracer.version import API_VERSION
from viztracer.vizplugin import PluginManager, VizPluginBase, VizPluginError, VizPluginManager, load_plugin

# A plugin that notes every message it gets: in ``received`` and, when its command-line string
# names a file after the module (``"rec_plugin LOG tag"``), as JSON lines in that file. At
# pre-save it adds an instant ``added by <tag>`` and a metadata entry to the report.
REC_PLUGIN = """
    import json
    from viztracer.vizplugin import VizPluginBase

    class RecordingPlugin(VizPluginBase):
        def __init__(self, arg="", tag="rec", log=None, handle=True):
            super().__init__()
            self.arg, self.tag, self.log, self.handle = arg, tag, log, handle
            self.received = []

        def note(self, entry):
            self.received.append(entry)
            if self.log:
                with open(self.log, "a") as f:
                    f.write(json.dumps(entry) + "\\n")

        def support_version(self):
            return "0.15.0"

        def message(self, m_type, payload):
            self.note([self.tag, m_type, payload])
            if m_type == "event" and payload["when"] == "pre-save" and self.handle:
                return {"action": "handle_data", "handler": self.handle_data}
            return super().message(m_type, payload)

        def handle_data(self, data):
            self.note([self.tag, "handler", sorted(data), added_before(data)])
            call = next(e for e in data["traceEvents"] if e["ph"] == "X")
            data["traceEvents"].append({"ph": "i", "name": "added by " + self.tag, "ts": call["ts"],
                                        "pid": call["pid"], "tid": call["tid"], "s": "p",
                                        "args": {"tag": self.tag, "values": [1, "two"]}})
            data["viztracer_metadata"]["plugin_" + self.tag] = self.arg

    def added_before(data):
        return [e["name"] for e in data["traceEvents"] if e["name"].startswith("added by")]

    def get_vizplugin(arg):
        words = arg.split()
        plugin = RecordingPlugin(arg, tag=words[2] if len(words) > 2 else "rec",
                                 log=words[1] if len(words) > 1 and words[1] != "-" else None)
        plugin.note([plugin.tag, "get_vizplugin", arg])
        return plugin
"""

# One module per way of being wrong; ``viztracer --plugins NAME`` / ``plugins=["NAME"]``.
BAD_PLUGINS = {
    "no_factory_plugin": """
        from viztracer.vizplugin import VizPluginBase
        class P(VizPluginBase):
            def support_version(self):
                return "0.15.0"
    """,
    "not_a_plugin": """
        class Lookalike:
            def support_version(self):
                return "0.15.0"
            def message(self, m_type, payload):
                return {"success": True}
        def get_vizplugin(arg):
            return Lookalike()
    """,
    "too_new_plugin": """
        from viztracer.vizplugin import VizPluginBase
        class P(VizPluginBase):
            def support_version(self):
                return "1.2.0"
        def get_vizplugin(arg):
            return P()
    """,
    "unversioned_plugin": """
        from viztracer.vizplugin import VizPluginBase
        class P(VizPluginBase):
            pass
        def get_vizplugin(arg):
            return P()
    """,
    "bad_dependency_plugin": """
        import no_such_dependency_of_the_plugin
        def get_vizplugin(arg):
            return None
    """,
}

# Plugins that load fine and fail later: (module, the message they answer wrongly).
FAILING_PLUGIN = """
    from viztracer.vizplugin import VizPluginBase
    WHEN, ANSWER = {when!r}, {answer}
    class P(VizPluginBase):
        def support_version(self):
            return "1.1.1"
        def message(self, m_type, payload):
            if payload.get("when", payload.get("cmd_type")) == WHEN:
                return ANSWER
            return super().message(m_type, payload)
    def get_vizplugin(arg):
        return P()
"""
FAILING_PLUGINS = {
    "fails_terminate": ("terminate", "{}"),
    "fails_terminate_false": ("terminate", '{"success": False}'),
    "fails_terminate_none": ("terminate", "None"),
    "unknown_action": ("pre-save", '{"action": "make_coffee"}'),
    "non_dict_pre_start": ("pre-start", '"done"'),
    "non_dict_post_stop": ("post-stop", "[1, 2]"),
    "non_dict_initialize": ("initialize", "42"),
    "handle_data_too_early": ("post-stop", '{"action": "handle_data", "handler": print}'),
    "handle_data_no_handler": ("pre-save", '{"action": "handle_data", "handler": "nope"}'),
    "raising_handler": ("pre-save", '{"action": "handle_data", "handler": lambda data: 1 / 0}'),
}

PLUGIN_MODULES = ["rec_plugin", *BAD_PLUGINS, *FAILING_PLUGINS]

PROGRAM = """
    def work(n):
        return n * 2
    work(1)
    open("ran", "w").close()
"""


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """A folder holding every plugin module, first on ``sys.path``; the modules are forgotten
    before and after each test, so that each test imports its own folder's copy."""
    folder = tmp_path / "plugin_modules"
    write(folder / "rec_plugin.py", REC_PLUGIN)
    for name, source in BAD_PLUGINS.items():
        write(folder / f"{name}.py", source)
    for name, (when, answer) in FAILING_PLUGINS.items():
        write(folder / f"{name}.py", FAILING_PLUGIN.format(when=when, answer=answer))
    write(folder / "pkg" / "__init__.py", "")
    write(folder / "pkg" / "sub.py", "from rec_plugin import *\n")

    def forget():
        for name in [*PLUGIN_MODULES, "pkg", "pkg.sub"]:
            sys.modules.pop(name, None)
        importlib.invalidate_caches()

    forget()
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    forget()


def recording_plugin(**kwargs) -> VizPluginBase:
    """A RecordingPlugin object from the test's plugin folder."""
    return importlib.import_module("rec_plugin").RecordingPlugin(**kwargs)


def messages(plugin) -> list:
    """What the plugin received, without the tag: ``["event", "initialize"]``, ``["terminate"]``..."""
    out = []
    for _tag, kind, *rest in plugin.received:
        if kind == "event":
            out.append(["event", rest[0]["when"]])
        elif kind == "command":
            out.append([rest[0]["cmd_type"]])
        else:
            out.append([kind])
    return out


FULL_LIFE = [["event", "initialize"], ["event", "pre-start"], ["event", "post-stop"],
             ["event", "pre-save"], ["handler"], ["terminate"]]


def work(n=3):
    return len([n]) * 2


def added(report: dict) -> list[dict]:
    return [e for e in report["traceEvents"] if e["name"].startswith("added by")]


# -- the API: messages and their order ----------------------------------------------------------------

def test_with_block_sends_every_message_in_order(plugin_path, tmp_path):
    plugin = recording_plugin()
    out = tmp_path / "r.json"
    with VizTracer(plugins=[plugin], output_file=str(out), verbose=0):
        work()
    assert messages(plugin) == FULL_LIFE
    assert plugin.received[-1] == ["rec", "command", {"cmd_type": "terminate"}]
    assert plugin.received[0] == ["rec", "event", {"when": "initialize"}]


def test_initialize_is_sent_when_the_tracer_is_made(plugin_path):
    plugin = recording_plugin()
    tracer = VizTracer(plugins=[plugin], verbose=0)
    assert messages(plugin) == [["event", "initialize"]]
    tracer.start()
    assert messages(plugin) == [["event", "initialize"], ["event", "pre-start"]]
    work()
    tracer.stop()
    assert messages(plugin)[-1] == ["event", "post-stop"]
    tracer.terminate()
    assert messages(plugin) == [["event", "initialize"], ["event", "pre-start"], ["event", "post-stop"],
                                ["terminate"]]


def test_save_sends_pre_save_and_no_terminate(plugin_path, tmp_path):
    plugin = recording_plugin()
    tracer = VizTracer(plugins=[plugin], verbose=0)
    tracer.start()
    work()
    tracer.stop()
    tracer.save(str(tmp_path / "r.json"))
    assert messages(plugin) == FULL_LIFE[:-1]
    tracer.terminate()
    assert messages(plugin) == FULL_LIFE
    tracer.terminate()  # the plugins are gone: nothing more is sent
    assert messages(plugin) == FULL_LIFE


def test_every_start_and_stop_is_told(plugin_path, tmp_path):
    plugin = recording_plugin(handle=False)
    tracer = VizTracer(plugins=[plugin], verbose=0)
    for _ in range(2):
        tracer.start()
        tracer.start()  # already running: not told again
        work()
        tracer.stop()
        tracer.stop()
    assert messages(plugin) == [["event", "initialize"], ["event", "pre-start"], ["event", "post-stop"],
                                ["event", "pre-start"], ["event", "post-stop"]]
    tracer.terminate()


def test_plugin_given_as_module_string_gets_the_whole_string(plugin_path, tmp_path):
    log = tmp_path / "log.jsonl"
    spec = f"rec_plugin {log} first -f 100"
    with VizTracer(plugins=[spec], output_file=str(tmp_path / "r.json"), verbose=0):
        work()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines[0] == ["first", "get_vizplugin", spec]
    assert [line[1:] for line in lines[1:]][:4] == [["event", {"when": "initialize"}],
                                                    ["event", {"when": "pre-start"}],
                                                    ["event", {"when": "post-stop"}],
                                                    ["event", {"when": "pre-save"}]]
    assert lines[-1] == ["first", "command", {"cmd_type": "terminate"}]
    report = load_report(str(tmp_path / "r.json"))
    assert report["viztracer_metadata"]["plugin_first"] == spec


def test_plugin_in_a_package_module(plugin_path, tmp_path):
    spec = f"pkg.sub {tmp_path / 'log'}"    # the plugin logs to the file its argument names
    plugin = load_plugin(spec)
    assert type(plugin).__name__ == "RecordingPlugin"
    assert plugin.arg == spec


def test_the_names_of_1_x():
    import viztracer

    assert VizPluginManager is PluginManager
    assert viztracer.VizPluginBase is VizPluginBase
    assert viztracer.VizPluginError is VizPluginError
    assert API_VERSION == "1.1.1"


def test_base_class_accepts_terminate_and_ignores_events():
    base = VizPluginBase()
    assert base.message("command", {"cmd_type": "terminate"}) == {"success": True}
    assert base.message("event", {"when": "pre-save"}) == {}
    with pytest.raises(NotImplementedError):
        base.support_version()


@pytest.mark.parametrize("version", ["0.9.0", "1.1.1", "1.1", "1.1.1rc1", "1.1.0.dev3", "0.15"])
def test_plugins_for_this_api_or_older_load(version):
    class Plugin(VizPluginBase):
        def support_version(self):
            return version

    tracer = VizTracer(plugins=[Plugin()], verbose=0)
    tracer.terminate()


# -- the API: handle_data --------------------------------------------------------------------------------

@pytest.mark.parametrize("ext", ["json", "pftrace", "json.gz"])
def test_handle_data_changes_the_saved_report(plugin_path, tmp_path, ext):
    plugin = recording_plugin(arg="my arg")
    out = tmp_path / f"r.{ext}"
    with VizTracer(plugins=[plugin], output_file=str(out), verbose=0):
        work()
    report = load_report(str(out))
    events = added(report)
    assert [(e["ph"], e["name"], e["s"], e["args"]) for e in events] == [
        ("i", "added by rec", "p", {"tag": "rec", "values": [1, "two"]})]
    assert report["viztracer_metadata"]["plugin_rec"] == "my arg"
    # the handler saw the whole report, with the recorded calls
    handler_call = next(entry for entry in plugin.received if entry[1] == "handler")
    assert handler_call[2] == ["traceEvents", "viztracer_metadata"]
    assert any(e["ph"] == "X" and e["name"].startswith("work (") for e in report["traceEvents"])


def test_handle_data_gives_the_same_events_in_json_and_pftrace(plugin_path, tmp_path):
    shapes = []
    for ext in ("json", "pftrace"):
        out = tmp_path / f"r.{ext}"
        with VizTracer(plugins=[recording_plugin()], output_file=str(out), verbose=0):
            work()
        report = load_report(str(out))
        shapes.append(sorted((e["ph"], e["name"], e.get("s"), json.dumps(e.get("args"), sort_keys=True))
                             for e in report["traceEvents"] if e["ph"] != "X"))
    assert shapes[0] == shapes[1]
    assert ("i", "added by rec", "p", '{"tag": "rec", "values": [1, "two"]}') in shapes[0]


def test_handle_data_can_remove_events(tmp_path):
    class Dropper(VizPluginBase):
        def support_version(self):
            return "1.1.1"

        def message(self, m_type, payload):
            if payload.get("when") == "pre-save":
                return {"action": "handle_data", "handler": self.drop}
            return super().message(m_type, payload)

        def drop(self, data):
            data["traceEvents"] = [e for e in data["traceEvents"] if not e["name"].startswith("work")]

    out = tmp_path / "r.json"
    tracer = VizTracer(plugins=[Dropper()], verbose=0)
    tracer.start()
    work()
    tracer.stop()
    tracer.save(str(out))
    tracer.terminate()
    report = load_report(str(out))
    assert not [e for e in report["traceEvents"] if e["name"].startswith("work")]
    assert [e["name"] for e in report["traceEvents"] if e["ph"] == "X"] == ["builtins.len"]


def test_handle_data_to_a_file_object(plugin_path, tmp_path):
    import io

    out = io.StringIO()
    tracer = VizTracer(plugins=[recording_plugin()], verbose=0)
    tracer.start()
    work()
    tracer.stop()
    tracer.save(out)
    tracer.terminate()
    assert [e["name"] for e in added(json.loads(out.getvalue()))] == ["added by rec"]


def test_several_plugins_get_every_message_in_their_order(plugin_path, tmp_path):
    first, second = recording_plugin(tag="one"), recording_plugin(tag="two")
    log = tmp_path / "log.jsonl"
    out = tmp_path / "r.json"
    with VizTracer(plugins=[first, f"rec_plugin {log} three", second], output_file=str(out), verbose=0):
        work()
    for plugin in (first, second):
        assert messages(plugin) == FULL_LIFE
    third = [json.loads(line) for line in log.read_text().splitlines()]
    assert [entry[1] for entry in third] == ["get_vizplugin", "event", "event", "event", "event",
                                             "handler", "command"]
    # handlers run in the order the plugins were given, each on what the one before left
    assert next(e for e in first.received if e[1] == "handler")[3] == []
    assert next(e for e in third if e[1] == "handler")[3] == ["added by one"]
    assert next(e for e in second.received if e[1] == "handler")[3] == ["added by one", "added by three"]
    assert [e["name"] for e in added(load_report(str(out)))] == ["added by one", "added by three",
                                                                 "added by two"]


def test_initialize_of_each_plugin_follows_its_loading(plugin_path, tmp_path):
    log = tmp_path / "log.jsonl"
    tracer = VizTracer(plugins=[f"rec_plugin {log} a", f"rec_plugin {log} b"], verbose=0)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [line[:2] for line in lines] == [["a", "get_vizplugin"], ["a", "event"],
                                            ["b", "get_vizplugin"], ["b", "event"]]
    tracer.terminate()


# -- the API: plugins that are wrong -------------------------------------------------------------------

def test_missing_plugin_module(plugin_path):
    with pytest.raises(VizPluginError, match=r"plugin 'no_such_plugin_here' can't be imported .*installed"):
        VizTracer(plugins=["no_such_plugin_here -x 1"], verbose=0)


def test_missing_plugin_submodule(plugin_path):
    with pytest.raises(VizPluginError, match=r"'pkg\.nope' can't be imported"):
        VizTracer(plugins=["pkg.nope"], verbose=0)


def test_plugin_whose_dependency_is_missing(plugin_path):
    with pytest.raises(VizPluginError) as info:
        VizTracer(plugins=["bad_dependency_plugin"], verbose=0)
    assert str(info.value) == ("plugin 'bad_dependency_plugin' can't be loaded: "
                               "No module named 'no_such_dependency_of_the_plugin'")


def test_plugin_module_without_get_vizplugin(plugin_path):
    with pytest.raises(VizPluginError, match="'no_factory_plugin' has no get_vizplugin"):
        VizTracer(plugins=["no_factory_plugin"], verbose=0)


def test_get_vizplugin_returning_a_non_plugin(plugin_path):
    with pytest.raises(VizPluginError, match=r"not_a_plugin\.get_vizplugin\(\) returned Lookalike, "
                                             r"not a VizPluginBase"):
        VizTracer(plugins=["not_a_plugin"], verbose=0)


@pytest.mark.parametrize("given", [object(), 3, None])
def test_non_plugin_object(given):
    with pytest.raises(VizPluginError, match="a plugin must be a VizPluginBase") as info:
        VizTracer(plugins=[given], verbose=0)
    assert isinstance(info.value, TypeError)  # what VizTracer 1.x raised


def test_empty_plugin_string():
    with pytest.raises(VizPluginError, match="empty plugin name"):
        VizTracer(plugins=["  "], verbose=0)


def test_plugin_for_a_newer_api(plugin_path):
    with pytest.raises(VizPluginError) as info:
        VizTracer(plugins=["too_new_plugin"], verbose=0)
    assert str(info.value) == ("plugin too_new_plugin.P needs viztracer 1.2.0, newer than the 1.1.1 API "
                               "this viztracer provides; use an older release of the plugin")


@pytest.mark.parametrize("version", ["1.1.2", "2", "1.10.0"])
def test_plugin_objects_for_newer_apis(version):
    class Plugin(VizPluginBase):
        def support_version(self):
            return version

    with pytest.raises(VizPluginError, match=f"needs viztracer {version}, newer than the 1.1.1 API"):
        VizTracer(plugins=[Plugin()], verbose=0)


def test_plugin_without_support_version(plugin_path):
    with pytest.raises(VizPluginError, match=r"unversioned_plugin\.P does not say which viztracer version"):
        VizTracer(plugins=["unversioned_plugin"], verbose=0)


def test_support_version_that_is_not_a_string():
    class Plugin(VizPluginBase):
        def support_version(self):
            return 1.1

    with pytest.raises(VizPluginError, match="returned float, not a version string"):
        VizTracer(plugins=[Plugin()], verbose=0)


@pytest.mark.parametrize("name", ["fails_terminate", "fails_terminate_false", "fails_terminate_none"])
def test_plugin_failing_terminate(plugin_path, name):
    tracer = VizTracer(plugins=[name], verbose=0)
    with pytest.raises(VizPluginError, match=rf"plugin {name}\.P did not carry out "
                                             r"\{'cmd_type': 'terminate'\} \(it answered"):
        tracer.terminate()


def test_plugin_failing_terminate_in_a_with_block_saves_the_report_first(plugin_path, tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(VizPluginError, match="did not carry out"):
        with VizTracer(plugins=["fails_terminate"], output_file=str(out), verbose=0):
            work()
    assert any(e["name"].startswith("work (") for e in load_report(str(out))["traceEvents"])


def test_terminate_reaches_every_plugin_when_one_fails(plugin_path):
    before, after = recording_plugin(tag="before"), recording_plugin(tag="after")
    tracer = VizTracer(plugins=[before, "fails_terminate", after], verbose=0)
    with pytest.raises(VizPluginError, match="fails_terminate"):
        tracer.terminate()
    assert messages(before)[-1] == messages(after)[-1] == ["terminate"]


def test_terminate_answered_with_a_truthy_success(plugin_path):
    class Plugin(VizPluginBase):
        def support_version(self):
            return "1.1.1"

        def message(self, m_type, payload):
            return {"success": 1} if m_type == "command" else {}

    VizTracer(plugins=[Plugin()], verbose=0).terminate()


def test_unknown_action(plugin_path, tmp_path):
    tracer = VizTracer(plugins=["unknown_action"], verbose=0)
    tracer.start()
    work()
    tracer.stop()
    with pytest.raises(VizPluginError, match="unknown action 'make_coffee' at 'pre-save'"):
        tracer.save(str(tmp_path / "r.json"))
    assert not (tmp_path / "r.json").exists()


def test_with_block_terminates_the_plugins_when_the_save_fails(plugin_path, tmp_path):
    plugin = recording_plugin(handle=False)
    with pytest.raises(VizPluginError, match="make_coffee"):
        with VizTracer(plugins=[plugin, "unknown_action"], output_file=str(tmp_path / "r.json"), verbose=0):
            work()
    assert messages(plugin)[-1] == ["terminate"]


def test_non_dict_answer_at_pre_start_does_not_start(plugin_path):
    tracer = VizTracer(plugins=["non_dict_pre_start"], verbose=0)
    with pytest.raises(VizPluginError, match="answered the 'pre-start' event with str, not a dict"):
        tracer.start()
    assert not tracer.enable
    assert sys.getprofile() is None


def test_non_dict_answer_at_post_stop(plugin_path):
    tracer = VizTracer(plugins=["non_dict_post_stop"], verbose=0)
    tracer.start()
    work()
    with pytest.raises(VizPluginError, match="answered the 'post-stop' event with list, not a dict"):
        tracer.stop()
    assert not tracer.enable
    assert sys.getprofile() is None


def test_non_dict_answer_at_initialize(plugin_path):
    with pytest.raises(VizPluginError, match="answered the 'initialize' event with int"):
        VizTracer(plugins=["non_dict_initialize"], verbose=0)


def test_handle_data_before_there_is_data(plugin_path):
    tracer = VizTracer(plugins=["handle_data_too_early"], verbose=0)
    tracer.start()
    with pytest.raises(VizPluginError, match="'handle_data' at 'post-stop'"):
        tracer.stop()


def test_handle_data_without_a_handler(plugin_path, tmp_path):
    tracer = VizTracer(plugins=["handle_data_no_handler"], verbose=0)
    tracer.start()
    tracer.stop()
    with pytest.raises(VizPluginError, match="without a callable 'handler'"):
        tracer.save(str(tmp_path / "r.json"))


def test_plugin_errors_are_one_line(plugin_path):
    for spec in ["no_such_plugin_here", "no_factory_plugin", "not_a_plugin", "too_new_plugin",
                 "unversioned_plugin", "bad_dependency_plugin", "non_dict_initialize"]:
        with pytest.raises(VizPluginError) as info:
            VizTracer(plugins=[spec], verbose=0)
        assert "\n" not in str(info.value), spec
        assert spec.split()[0] in str(info.value), spec


# -- the command line ----------------------------------------------------------------------------------

def run_cli(cmd: list[str], *args: str, cwd: Path, plugin_dir: Path):
    """Run the command with the plugin folder on PYTHONPATH."""
    import subprocess

    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT,
                          env=clean_env(PYTHONPATH=str(plugin_dir)))


def read_log(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()]




@both_commands
def test_cli_messages_in_order(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    spec = f"rec_plugin {log} cli -f 100"
    proc = run_cli(cmd, "--plugins", spec, "--", "prog.py", cwd=tmp_path, plugin_dir=plugin_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = read_log(log)
    assert lines == [
        ["cli", "get_vizplugin", spec],
        ["cli", "event", {"when": "initialize"}],
        ["cli", "event", {"when": "pre-start"}],
        ["cli", "event", {"when": "post-stop"}],
        ["cli", "event", {"when": "pre-save"}],
        ["cli", "handler", ["traceEvents", "viztracer_metadata"], []],
        ["cli", "command", {"cmd_type": "terminate"}],
    ]
    report = load_report(str(tmp_path / "result.json"))
    assert [(e["name"], e["args"]) for e in added(report)] == [("added by cli",
                                                                {"tag": "cli", "values": [1, "two"]})]
    assert report["viztracer_metadata"]["plugin_cli"] == spec
    assert (tmp_path / "ran").exists()


@both_commands
def test_cli_handle_data_in_pftrace(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    shapes = {}
    for ext in ("json", "pftrace"):
        proc = run_cli(cmd, "--plugins", "rec_plugin - pf", "-o", f"r.{ext}", "--", "prog.py",
                       cwd=tmp_path, plugin_dir=plugin_path)
        assert proc.returncode == 0, proc.stderr
        report = load_report(str(tmp_path / f"r.{ext}"))
        assert report["viztracer_metadata"]["plugin_pf"] == "rec_plugin - pf"
        shapes[ext] = sorted((e["ph"], e["name"], e.get("s"), json.dumps(e.get("args"), sort_keys=True))
                             for e in report["traceEvents"] if e["ph"] != "X")
    assert shapes["json"] == shapes["pftrace"]
    assert ("i", "added by pf", "p", '{"tag": "pf", "values": [1, "two"]}') in shapes["pftrace"]


@both_commands
def test_cli_terminate_after_the_program_exits_with_a_status(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", "import sys\nsys.exit(3)\n")
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", f"rec_plugin {log}", "--", "prog.py", cwd=tmp_path,
                   plugin_dir=plugin_path)
    assert proc.returncode == 3, proc.stderr
    assert [line[1] for line in read_log(log)][-1] == "command"
    assert (tmp_path / "result.json").exists()


@both_commands
def test_cli_terminate_after_an_uncaught_exception(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", "raise KeyError('x')\n")
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", f"rec_plugin {log}", "--", "prog.py", cwd=tmp_path,
                   plugin_dir=plugin_path)
    assert proc.returncode == 1
    assert "KeyError: 'x'" in proc.stderr
    assert read_log(log)[-1][1:] == ["command", {"cmd_type": "terminate"}]
    assert [e["name"] for e in added(load_report(str(tmp_path / "result.json")))] == ["added by rec"]


@both_commands
def test_cli_several_plugins(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", f"rec_plugin {log} one", f"pkg.sub {log} two", "--", "prog.py",
                   cwd=tmp_path, plugin_dir=plugin_path)
    assert proc.returncode == 0, proc.stderr
    lines = read_log(log)
    assert [(line[0], line[1]) for line in lines] == [
        ("one", "get_vizplugin"), ("one", "event"), ("two", "get_vizplugin"), ("two", "event"),
        ("one", "event"), ("two", "event"),     # pre-start
        ("one", "event"), ("two", "event"),     # post-stop
        ("one", "event"), ("one", "handler"), ("two", "event"), ("two", "handler"),  # pre-save
        ("one", "command"), ("two", "command"),
    ]
    assert [e["name"] for e in added(load_report(str(tmp_path / "result.json")))] == ["added by one",
                                                                                     "added by two"]


@both_commands
def test_cli_plugin_next_to_the_script(cmd, tmp_path):
    # as in VizTracer 1.x, a plugin is found where the program's own imports are
    write(tmp_path / "app" / "prog.py", PROGRAM)
    write(tmp_path / "app" / "local_plugin.py", REC_PLUGIN)
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", f"local_plugin {log}", "--", "app/prog.py", cwd=tmp_path,
                   plugin_dir=tmp_path / "elsewhere")
    assert proc.returncode == 0, proc.stderr
    assert read_log(log)[-1][1] == "command"


@both_commands
def test_cli_plugins_from_rcfile(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    write(tmp_path / ".viztracerrc", "[default]\nplugins = rec_plugin pkg.sub\nquiet = True\n")
    proc = run_cli(cmd, "prog.py", cwd=tmp_path, plugin_dir=plugin_path)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
    # as in 1.x, the rcfile's value is split at spaces: each word is a plugin
    assert [e["name"] for e in added(load_report(str(tmp_path / "result.json")))] == ["added by rec",
                                                                                     "added by rec"]
    assert not log.exists()


# Plugins that can't be loaded: one line, exit status 2, nothing run, nothing saved.
LOAD_ERRORS = {
    "no_such_plugin_here": ["'no_such_plugin_here'", "can't be imported", "installed"],
    "no_factory_plugin": ["'no_factory_plugin'", "get_vizplugin"],
    "not_a_plugin": ["not_a_plugin.get_vizplugin() returned Lookalike"],
    "too_new_plugin": ["too_new_plugin.P", "1.2.0", "1.1.1"],
    "unversioned_plugin": ["unversioned_plugin.P", "support_version"],
    "bad_dependency_plugin": ["'bad_dependency_plugin'", "no_such_dependency_of_the_plugin"],
    "non_dict_initialize": ["non_dict_initialize.P", "'initialize'", "int"],
}


@both_commands
@pytest.mark.parametrize("name", list(LOAD_ERRORS))
def test_cli_plugin_that_cannot_be_loaded(cmd, tmp_path, plugin_path, name):
    write(tmp_path / "prog.py", PROGRAM)
    proc = run_cli(cmd, "--plugins", f"{name} arg", "--", "prog.py", cwd=tmp_path, plugin_dir=plugin_path)
    check_one_line_error(proc, *LOAD_ERRORS[name], status=2)
    assert proc.stdout == ""
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "result.json").exists()


@both_commands
def test_cli_plugin_failing_terminate_still_saves(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", "fails_terminate", f"rec_plugin {log}", "--", "prog.py",
                   cwd=tmp_path, plugin_dir=plugin_path)
    check_one_line_error(proc, "fails_terminate.P", "{'cmd_type': 'terminate'}", status=1)
    assert (tmp_path / "ran").exists()
    assert "Report saved to" in proc.stdout
    assert [e["name"] for e in added(load_report(str(tmp_path / "result.json")))] == ["added by rec"]
    assert read_log(log)[-1][1] == "command"  # the other plugin is terminated all the same


@both_commands
def test_cli_plugin_with_unknown_action(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", "unknown_action", f"rec_plugin {log}", "--", "prog.py",
                   cwd=tmp_path, plugin_dir=plugin_path)
    check_one_line_error(proc, "unknown_action.P", "'make_coffee'", status=1)
    assert (tmp_path / "ran").exists()
    # the report the plugin was to change is not saved half done
    assert not (tmp_path / "result.json").exists()
    assert read_log(log)[-1][1] == "command"


@both_commands
def test_cli_plugin_failing_pre_start(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", f"rec_plugin {log}", "non_dict_pre_start", "--", "prog.py",
                   cwd=tmp_path, plugin_dir=plugin_path)
    check_one_line_error(proc, "non_dict_pre_start.P", "'pre-start'", status=1)
    assert proc.stdout == ""
    assert not (tmp_path / "ran").exists()
    assert not (tmp_path / "result.json").exists()
    assert [line[1:] for line in read_log(log)][-2:] == [["event", {"when": "pre-start"}],
                                                        ["command", {"cmd_type": "terminate"}]]


@both_commands
def test_cli_plugin_failing_post_stop_still_saves(cmd, tmp_path, plugin_path):
    write(tmp_path / "prog.py", PROGRAM)
    proc = run_cli(cmd, "--plugins", "non_dict_post_stop", "--", "prog.py", cwd=tmp_path,
                   plugin_dir=plugin_path)
    check_one_line_error(proc, "non_dict_post_stop.P", "'post-stop'", status=1)
    assert (tmp_path / "ran").exists()
    report = load_report(str(tmp_path / "result.json"))
    assert any(e["name"].startswith("work (") for e in report["traceEvents"])


@both_commands
def test_cli_plugin_handler_that_raises_still_gets_terminate(cmd, tmp_path, plugin_path):
    # a bug in a plugin shows its traceback; the plugins are terminated all the same
    write(tmp_path / "prog.py", PROGRAM)
    log = tmp_path / "log.jsonl"
    proc = run_cli(cmd, "--plugins", f"rec_plugin {log}", "raising_handler", "--", "prog.py",
                   cwd=tmp_path, plugin_dir=plugin_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1] == "ZeroDivisionError: division by zero"
    assert (tmp_path / "ran").exists()
    assert not (tmp_path / "result.json").exists()
    assert read_log(log)[-1][1:] == ["command", {"cmd_type": "terminate"}]
