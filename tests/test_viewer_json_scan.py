"""The compiled JSON scanner gives the viewer exactly the blob that json.load + scan_events give."""
from __future__ import annotations

import gzip
import json
import threading

import pytest

from viztracer import VizTracer, _json_scan
from viztracer.report import ReportError
from viztracer.report.loader import load_report
from viztracer.viewer import columns


def work(n):
    return n if n < 2 else work(n - 1) + work(n - 2)


def slow_path_blob(path):
    return columns.report_blob(load_report(str(path)))


def same_blob(path, kind="json"):
    fast = columns._json_blob(str(path), kind)
    assert fast is not None, "the scanner read the file"
    assert fast == slow_path_blob(path)
    return columns.read_blob(fast)


@pytest.mark.parametrize("name", ["r.json", "r.json.gz"])
def test_a_recording_with_every_kind_of_event(tmp_path, name):
    tracer = VizTracer(verbose=0, log_func_args=True, log_func_retval=True)
    tracer.start()
    work(6)
    t = threading.Thread(target=work, args=(4,), name="helper")
    t.start()
    t.join()
    tracer.add_instant("mark", args={"k": [1, {}]}, scope="p")
    tracer.add_counter("load", {"a": 1, "b": 2.5})
    tracer.add_object("N", "0x1", "Obj", {"x": "}{]["})
    tracer.add_raw({"ph": "i", "name": "raw", "pid": 1, "tid": 1, "ts": 5, "s": "g"})

    def finish():
        tracer.stop()

    finish()
    tracer.save(str(tmp_path / name), verbose=0)
    meta, cols = same_blob(tmp_path / name, "json.gz" if name.endswith(".gz") else "json")
    names = [meta["names"][i] for i in cols["name"]]
    assert sum(n.startswith("work (") for n in names) == 25 + 9
    assert meta["unfinished"] == 1


TRICKY = """
[ {"ph":"X","name":"caf\\u00e9 \\"q\\" \\n","ts":1,"dur":2,"pid":1,"tid":1},
  {"name":"plain é","ph":"X","ts":1.5e1,"dur":-0.5E-1,"pid":1,"tid":1,"args":{"s":"}{][\\\\","n":null}},
  {"ph":"X","ts":3,"pid":123456789012345678901234,"tid":"t","name":null,"dur":true},
  {"ph":"X","ts":"7","name":"string ts","pid":1,"tid":1},
  {"ph":"X","ph":"B","ts":8,"name":"dup: B wins","pid":1,"tid":1},
  {"ph":"B","ts":8,"name":"dup: X wins","ph":"X","dur":1,"pid":1,"tid":1},
  {"\\u0070h":"X","ts":9,"name":"escaped key","pid":1,"tid":1},
  {}, 42, "text", [1, 2], null,
  {"ph":"E","ts":9,"pid":1,"tid":1},
  {"ph":"i","ts":10,"pid":1,"tid":1,"name":"i","s":"g"},
  {"ph":"C","ts":11,"pid":1,"tid":1,"name":"c","args":{"v":-0}},
  {"ph":"X","ts":12,"dur":0,"pid":1,"tid":1,"name":"zero"}
]
"""


@pytest.mark.parametrize("top", ["bare", "object", "object, events last"])
def test_tricky_but_valid_json(tmp_path, top):
    if top == "bare":
        text = TRICKY
    elif top == "object":
        text = '{"traceEvents":' + TRICKY + ',"viztracer_metadata":{"version":"x","overflow":true}}'
    else:
        text = '{ "file_info" : {"files":{},"functions":{}} ,\n "traceEvents" :' + TRICKY + '}\n'
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    json.loads(text)  # it is valid JSON
    meta, _ = same_blob(path)
    assert 'café "q" \n' in meta["names"] and "plain é" in meta["names"]
    if top == "object":
        assert meta["metadata"]["overflow"] is True


@pytest.mark.parametrize("text", [
    '{"traceEvents":[{"ph":"C","ts":1,"pid":1,"tid":1,"name":"c","args":{"v":NaN}}]}',
    '{"traceEvents":[{"ph":"X","ts":1.,"pid":1,"tid":1,"name":"f"}]}',
    '{"traceEvents":[{"ph":"X","ts":01,"pid":1,"tid":1,"name":"f"}]}',
    '{"traceEvents":[]} trailing',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"\\ud800"}]}',
    '{"traceEvents":{}}',
    '{"other":1}',
])
def test_text_it_does_not_read_goes_to_load_report(tmp_path, text):
    path = tmp_path / "t.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(_json_scan.Unsupported):
        _json_scan.scan_json(text.encode())
    assert columns._json_blob(str(path), "json") is None
    try:
        expected = slow_path_blob(path)
    except ReportError:
        with pytest.raises(ReportError):
            columns.trace_blob(str(path))
    else:
        assert columns.trace_blob(str(path)) == expected


def test_invalid_utf8_and_a_cut_gzip(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b'{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"\xff"}]}')
    assert columns._json_blob(str(path), "json") is None
    gz = tmp_path / "t.json.gz"
    gz.write_bytes(gzip.compress(b'{"traceEvents":[]}' * 50)[:20])
    assert columns._json_blob(str(gz), "json.gz") is None
    with pytest.raises(ReportError):
        columns.trace_blob(str(gz))
