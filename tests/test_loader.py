"""load_report: every format we write reads back into the JSON report's shape; bad files get one line."""
from __future__ import annotations

import gzip
import json

import pytest

from viztracer import VizTracer
from viztracer.report import ReportError
from viztracer.report.loader import load_report


def work(n):
    return n if n < 2 else work(n - 1) + work(n - 2)


@pytest.fixture(scope="module")
def tracer():
    t = VizTracer(verbose=0)
    t.start()
    work(5)
    t.stop()
    yield t
    t.clear()


@pytest.mark.parametrize("name", ["r.json", "r.json.gz", "r.pftrace", "r.perfetto-trace"])
def test_every_format_loads_the_same_calls(tracer, tmp_path, name):
    path = str(tmp_path / name)
    tracer.save(path, verbose=0)
    report = load_report(path)
    calls = [e for e in report["traceEvents"] if e.get("ph") == "X" and e["name"].startswith("work")]
    assert len(calls) == 15  # work(5) makes 15 calls
    assert report["viztracer_metadata"]["version"]


@pytest.mark.parametrize("name", ["trace.dat", "noext"])
def test_unknown_extension_is_sniffed(tracer, tmp_path, name):
    for real in ("a.json", "a.json.gz", "a.pftrace"):
        tracer.save(str(tmp_path / real), verbose=0)
        target = tmp_path / name
        target.write_bytes((tmp_path / real).read_bytes())
        assert len(load_report(str(target))["traceEvents"]) > 15


def test_bare_event_array_is_accepted(tmp_path):
    path = tmp_path / "list.json"
    path.write_text(json.dumps([{"ph": "X", "name": "f", "ts": 1, "dur": 2, "pid": 1, "tid": 1}]))
    assert load_report(str(path))["traceEvents"][0]["name"] == "f"


@pytest.mark.parametrize("content, message", [
    (b'{"traceEvents": [', "is not valid JSON"),
    (b'{"foo": 1}', 'no "traceEvents" list'),
    (b"\xff\xfe garbage", "not a trace"),
    (b"hello world", "not a trace"),
])
def test_bad_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.json" if content[:1] == b"{" else tmp_path / "bad.bin"
    path.write_bytes(content)
    with pytest.raises(ReportError, match=message) as info:
        load_report(str(path))
    assert "\n" not in str(info.value)


def test_truncated_gzip_and_missing_file(tmp_path):
    path = tmp_path / "cut.json.gz"
    # not written by viztracer (a space after the colon), so not repaired: an error
    path.write_bytes(gzip.compress(b'{"traceEvents": [' + b'{"ph": "i", "ts": 1}, ' * 100 + b"]}")[:40])
    with pytest.raises(ReportError, match="cut short"):
        load_report(str(path))
    with pytest.raises(ReportError, match="does not exist"):
        load_report(str(tmp_path / "missing.json"))
    with pytest.raises(ReportError, match="directory"):
        load_report(str(tmp_path))


def test_json_that_only_python_reads(tmp_path):
    """NaN and integers beyond 64 bits are not strict JSON, but the json module writes them."""
    path = tmp_path / "loose.json"
    path.write_text('{"traceEvents": [{"ph": "C", "name": "c", "ts": 1, "pid": 1, "tid": 1,'
                    ' "args": {"nan": NaN, "big": 123456789012345678901234567890}}]}')
    args = load_report(str(path))["traceEvents"][0]["args"]
    assert args["big"] == 123456789012345678901234567890
    assert args["nan"] != args["nan"]


def test_integers_beyond_64_bits_stay_exact(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"traceEvents": [{"ph": "i", "name": "i", "ts": 1, "pid": 123456789012345678901234,'
                    ' "tid": 1, "args": {"n": -18446744073709551616}}]}')
    (event,) = load_report(str(path))["traceEvents"]
    assert event["pid"] == 123456789012345678901234 and type(event["pid"]) is int
    assert event["args"]["n"] == -18446744073709551616


@pytest.mark.parametrize("text", ["18446744073709551616", "-9223372036854775809", "9999999999999999999",
                                  "18446744073709551615", "-999999999999999999"])
def test_integers_at_the_edges_of_64_bits_stay_exact(tmp_path, text):
    """Just past what orjson keeps exact (2**64, below -2**63), and just inside it."""
    path = tmp_path / "edge.json"
    path.write_text('{"traceEvents": [{"ph": "C", "name": "c", "ts": 1, "pid": 1, "tid": 1,'
                    f' "args": {{"n": {text}}}}}]}}')
    (event,) = load_report(str(path))["traceEvents"]
    assert event["args"]["n"] == int(text) and type(event["args"]["n"]) is int
