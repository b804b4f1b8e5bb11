"""Reports cut short: a ``--stream`` writer killed (``kill -9``, ``os._exit``) leaves a file that
was never finished. Every reader reads what was written before the cut, says so in one line on
stderr, and marks the report ``viztracer_metadata["cut_short"]``; a file that is not a trace at
all is still a one-line error.

The files are made by the normal writers and cut with Python at many offsets. What a cut must
give is worked out independently of the readers: for JSON, the events whose bytes end before
the cut; for a ``.pftrace``, the slices whose END packet is in a whole record before the cut,
counted with the ``perfetto`` package's own protos.
"""
from __future__ import annotations

import gzip
import json
import threading
import zlib
from pathlib import Path

import pytest
from conftest_cli_helpers import COMMANDS, run
from conftest_viewer_helpers import VIEWER_COMMANDS, viewers_fixture  # noqa: F401 - fixture

from viztracer import VizTracer, _json_scan
from viztracer.report import ReportError, perfetto, pftrace_reader
from viztracer.report.loader import cut_short_notice, load_report
from viztracer.viewer import columns

perfetto_trace_pb2 = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")
BEGIN = perfetto_trace_pb2.TrackEvent.TYPE_SLICE_BEGIN
END = perfetto_trace_pb2.TrackEvent.TYPE_SLICE_END

# How our JSON reports start: today's writer, and one that puts the first event on a line too.
HEADS = [b'{"traceEvents":[', b'{"traceEvents":[\n']


def work(n):
    return n if n < 2 else work(n - 1) + work(n - 2)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """One recording with every kind of event, as a JSON report and as plain (not deflated)
    and deflated .pftrace files."""
    folder = tmp_path_factory.mktemp("saved")
    tracer = VizTracer(verbose=0, log_func_args=True)
    tracer.start()
    work(8)
    helper = threading.Thread(target=work, args=(5,), name="helper")
    helper.start()
    helper.join()
    tracer.add_instant("mark", args={"k": 1}, scope="p")
    tracer.add_counter("load", {"a": 1, "b": 2.5})
    tracer.add_object("N", "0x1", "Obj", {"x": 1})
    tracer.stop()
    tracer.save(str(folder / "full.json"))
    perfetto.write(tracer.recording(), str(folder / "plain.pftrace"), compress=False)
    perfetto.write(tracer.recording(), str(folder / "deflated.pftrace"))
    tracer.clear()
    return folder


def notices(capsys) -> list[str]:
    return capsys.readouterr().err.splitlines()


def xs(report: dict) -> list[dict]:
    return [e for e in report["traceEvents"] if e.get("ph") == "X"]


def works(report: dict) -> list[dict]:
    return [e for e in xs(report) if e["name"].startswith("work (")]


# -- JSON ------------------------------------------------------------------------------------------

def streamed(report: dict, head: bytes) -> tuple[bytes, list[int]]:
    """``report`` laid out as a stream writer writes it: the first event after ``head``, every
    other one as ``,\\n{...}``, then the closing; and where each event's bytes end."""
    out = bytearray(head)
    ends = []
    for i, event in enumerate(report["traceEvents"]):
        if i:
            out += b",\n"
        out += json.dumps(event, separators=(",", ":")).encode()
        ends.append(len(out))
    out += b"\n]"
    for key, value in report.items():
        if key != "traceEvents":
            out += b"," + json.dumps(key).encode() + b":" + json.dumps(value, separators=(",", ":")).encode()
    out += b"}"
    assert json.loads(out) == report
    return bytes(out), ends


def json_cuts(size: int, ends: list[int], head: bytes) -> list[int]:
    """Every seventh of the file, and around some events' ends: inside the event, right after
    it, after its comma, after its newline; in the head and in the closing."""
    cuts = {size * i // 7 for i in range(1, 7)}
    for end in ends[1::max(1, len(ends) // 6)] + [ends[0], ends[-1]]:
        cuts.update((end - 1, end, end + 1, end + 2))
    cuts.update((len(head), len(head) + 1, size - 1, size - 10))
    return sorted(k for k in cuts if len(head) <= k < size)


@pytest.fixture(scope="module")
def full_report(saved):
    report = load_report(str(saved / "full.json"))
    assert len(works(report)) == 67 + 15 and report["viztracer_metadata"]["version"]
    return report


@pytest.mark.parametrize("head", HEADS, ids=["head", "head-newline"])
def test_a_json_report_cut_anywhere_gives_the_events_written_before_it(full_report, tmp_path, capsys, head):
    data, ends = streamed(full_report, head)
    events = full_report["traceEvents"]
    path = tmp_path / "cut.json"
    cuts = json_cuts(len(data), ends, head)
    assert len(cuts) > 30
    for k in cuts:
        path.write_bytes(data[:k])
        expected = [e for e, end in zip(events, ends, strict=True) if end <= k]
        report = load_report(str(path))
        assert report["traceEvents"] == expected, k
        assert report["viztracer_metadata"] == {"cut_short": True}
        assert notices(capsys) == [cut_short_notice(str(path), len(expected))]
        # the viewer's scanner reads the same cut file to the same blob, without dicts
        fast = columns._json_blob(str(path), "json")
        assert fast is not None and fast == columns.report_blob(report), k
        assert notices(capsys) == [cut_short_notice(str(path), len(expected))]
        meta, _ = columns.read_blob(fast)
        assert meta["metadata"] == {"cut_short": True}


def test_a_whole_streamed_json_report_is_no_cut(full_report, tmp_path, capsys):
    path = tmp_path / "whole.json"
    path.write_bytes(streamed(full_report, HEADS[1])[0])
    assert load_report(str(path)) == full_report
    assert columns.trace_blob(str(path)) == columns.report_blob(full_report)
    assert notices(capsys) == []


def inflated_length(packed: bytes) -> int:
    """How many bytes of text the start of a gzip stream inflates to."""
    return len(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(packed))


def test_a_cut_json_gz_gives_what_inflates_before_the_cut(full_report, tmp_path, capsys):
    data, ends = streamed(full_report, HEADS[0])
    packed = gzip.compress(data)
    path = tmp_path / "cut.json.gz"
    for k in sorted({len(packed) * i // 7 for i in range(1, 7)} | {len(packed) - 9}):
        path.write_bytes(packed[:k])
        inflated = inflated_length(packed[:k])
        expected = [e for e, end in zip(full_report["traceEvents"], ends, strict=True) if end <= inflated]
        report = load_report(str(path))
        assert report["traceEvents"] == expected, k
        assert notices(capsys) == [cut_short_notice(str(path), len(expected))]
        assert columns.trace_blob(str(path)) == columns.report_blob(report)
        assert len(notices(capsys)) == 1


def test_a_json_gz_cut_in_its_gzip_trailer_keeps_everything(full_report, tmp_path, capsys):
    """The text is whole, but the file is not: every event, the metadata, and the mark."""
    path = tmp_path / "trailer.json.gz"
    path.write_bytes(gzip.compress(streamed(full_report, HEADS[0])[0])[:-4])
    report = load_report(str(path))
    assert report["traceEvents"] == full_report["traceEvents"]
    assert report["viztracer_metadata"] == {**full_report["viztracer_metadata"], "cut_short": True}
    assert report["file_info"] == full_report["file_info"]
    assert columns.trace_blob(str(path)) == columns.report_blob(report)
    assert notices(capsys) == [cut_short_notice(str(path), len(full_report["traceEvents"]))] * 2


@pytest.mark.parametrize("content", [
    b'{"traceE',                                                        # cut inside the head
    b'{"traceEvents": [{"ph": "i", "ts": 1},\n{"ph"',                   # not written by us
    b'{"traceEvents":[{"ph":"i","ts":1},\ngarbage,\n{"ph":"i","ts":2}\n]}',  # broken, not cut
    b'[{"ph": "i", "ts": 1},\n{"ph"',                                   # a bare array cut
])
def test_json_that_cannot_be_repaired_is_still_a_one_line_error(tmp_path, capsys, content):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ReportError, match="is not valid JSON") as info:
        load_report(str(path))
    assert "\n" not in str(info.value)
    with pytest.raises(ReportError):
        columns.trace_blob(str(path))
    assert notices(capsys) == []


@pytest.mark.parametrize("text", [
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"}',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"},\n{"ph":"X","ts":1',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"},\n{"ph":"X","ts":-',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"},\n{"ph":"X","ts":1.',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"},\n{"ph":"X","ok":tr',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"},\n{"ph":"X","args":{"a":[1,',
    '{"traceEvents":[{"ph":"X","ts":1,"pid":1,"tid":1,"name":"f"},\n{"ph":"X","name":"a\\',
])
def test_the_json_scanner_tells_a_cut_text_from_one_it_does_not_read(tmp_path, capsys, text):
    with pytest.raises(_json_scan.Truncated):
        _json_scan.scan_json(text.encode())
    path = tmp_path / "t.json"
    path.write_text(text)
    blob = columns._json_blob(str(path), "json")
    assert blob is not None and blob == columns.report_blob(load_report(str(path)))
    assert columns.read_blob(blob)[0]["slice_count"] == 1


def test_nan_is_no_cut_and_a_cut_after_it_is_repaired_by_the_loader(tmp_path, capsys):
    """The scanner stops at NaN, which json reads: not a cut. A cut file holding NaN is left
    to load_report, which repairs it the same way."""
    whole = '{"traceEvents":[{"ph":"C","ts":1,"pid":1,"name":"c","args":{"v":NaN}}]}'
    with pytest.raises(_json_scan.Unsupported) as info:
        _json_scan.scan_json(whole.encode())
    assert info.type is _json_scan.Unsupported
    path = tmp_path / "nan.json"
    path.write_text(whole[:-2] + ',\n{"ph":"X","ts":2,"pid":1,"tid":1,"na')
    assert columns._json_blob(str(path), "json") is None
    blob = columns.trace_blob(str(path))
    meta, _ = columns.read_blob(blob)
    assert meta["metadata"] == {"cut_short": True} and meta["counters"][0]["name"] == "c"
    assert notices(capsys) == [cut_short_notice(str(path), 1)]


# -- .pftrace --------------------------------------------------------------------------------------

def records(data: bytes) -> list[tuple[int, int]]:
    """Where each top-level record of a Trace (tag 0x0a, varint length, body) starts and ends."""
    found, pos = [], 0
    while pos < len(data):
        assert data[pos] == 0x0A
        length = shift = 0
        body = pos + 1
        while True:
            byte = data[body]
            body += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        found.append((pos, body + length))
        pos = body + length
    return found


def slice_events(record: bytes) -> list[int]:
    """The BEGIN and END events in one top-level record (a packet, or a deflated chunk of them),
    read with the perfetto package's protos."""
    packets = perfetto_trace_pb2.Trace.FromString(record).packet
    if packets[0].HasField("compressed_packets"):
        packets = perfetto_trace_pb2.Trace.FromString(zlib.decompress(packets[0].compressed_packets)).packet
    return [p.track_event.type for p in packets if p.HasField("track_event")
            and p.track_event.type in (BEGIN, END)]


def deflated_in_chunks(plain: bytes, per_chunk: int) -> bytes:
    """A plain trace's packets deflated ``per_chunk`` records at a time, as the writer's
    ``compressed_packets`` chunks are (a stream writer deflates each part so)."""
    spans = records(plain)
    chunks = [plain[spans[i][0]:spans[min(i + per_chunk, len(spans)) - 1][1]]
              for i in range(0, len(spans), per_chunk)]
    trace = perfetto_trace_pb2.Trace()
    for chunk in chunks:
        trace.packet.add().compressed_packets = zlib.compress(chunk)
    return trace.SerializeToString()


def pftrace_cuts(data: bytes) -> list[int]:
    """Every seventh of the file, and inside, at the start and at the end of some records."""
    spans = records(data)
    cuts = {len(data) * i // 7 for i in range(1, 7)}
    for start, end in spans[1::max(1, len(spans) // 8)] + [spans[-1]]:
        cuts.update((start, start + 1, start + 2, (start + end) // 2, end - 1))
    return sorted(k for k in cuts if spans[0][1] <= k < len(data))


def assert_cut_pftrace_reads(path: Path, data: bytes, full: dict, capsys) -> None:
    """Cut ``data`` at many offsets into ``path``: each read gives the full report's first
    X events, as many as ENDs are in whole records, and a B for each call left open."""
    spans = records(data)
    full_xs = xs(full)
    cuts = pftrace_cuts(data)
    assert len(cuts) > 20
    for k in cuts:
        path.write_bytes(data[:k])
        kinds = [t for start, end in spans if end <= k for t in slice_events(data[start:end])]
        report = pftrace_reader.read_pftrace(path)
        assert xs(report) == full_xs[:kinds.count(END)], k
        opened = [e for e in report["traceEvents"] if e["ph"] == "B"]
        assert len(opened) == kinds.count(BEGIN) - kinds.count(END)
        assert report["viztracer_metadata"] == {"cut_short": True}
        assert notices(capsys) == [cut_short_notice(str(path), len(report["traceEvents"]))]
        fast = columns._pftrace_blob(str(path))
        assert fast is not None, "the compiled scanner reads a cut file of ours"
        assert fast == columns.report_blob(report)
        assert notices(capsys) == [cut_short_notice(str(path), len(report["traceEvents"]))]


def test_a_plain_pftrace_cut_anywhere(saved, tmp_path, capsys):
    data = (saved / "plain.pftrace").read_bytes()
    full = pftrace_reader.read_pftrace(saved / "plain.pftrace")
    assert len(works(full)) == 67 + 15 and not capsys.readouterr().err
    assert_cut_pftrace_reads(tmp_path / "cut.pftrace", data, full, capsys)


def test_a_deflated_pftrace_cut_inside_a_chunk_loses_that_chunk(saved, tmp_path, capsys):
    data = deflated_in_chunks((saved / "plain.pftrace").read_bytes(), per_chunk=25)
    full = pftrace_reader.read_pftrace(saved / "plain.pftrace")
    assert len(records(data)) > 8
    assert_cut_pftrace_reads(tmp_path / "cut.pftrace", data, full, capsys)


def test_the_writers_own_deflated_chunks_cut(tmp_path, capsys):
    tracer = VizTracer(verbose=0)
    tracer.start()
    work(24)  # enough calls for several 1 MiB chunks
    tracer.stop()
    path = tmp_path / "big.pftrace"
    perfetto.write(tracer.recording(), str(path))
    tracer.clear()
    data = path.read_bytes()
    full = pftrace_reader.read_pftrace(path)
    spans = records(data)
    assert len(spans) >= 3
    for k in (spans[1][1] - 1, spans[1][1], (spans[-2][0] + spans[-2][1]) // 2):
        path.write_bytes(data[:k])
        ends = [t for start, end in spans if end <= k for t in slice_events(data[start:end])].count(END)
        report = pftrace_reader.read_pftrace(path)
        assert 0 < ends < len(xs(full)) and xs(report) == xs(full)[:ends]
        assert notices(capsys) == [cut_short_notice(str(path), len(report["traceEvents"]))]


def test_cut_before_its_metadata_a_counter_is_named_by_its_track(saved, tmp_path, capsys):
    data = (saved / "plain.pftrace").read_bytes()
    path = tmp_path / "no-metadata.pftrace"
    path.write_bytes(data[:records(data)[-1][0]])  # every packet but the metadata one
    report = pftrace_reader.read_pftrace(path)
    full = pftrace_reader.read_pftrace(saved / "plain.pftrace")
    assert xs(report) == xs(full) and "file_info" not in report
    counters = [(e["name"], e["args"]) for e in report["traceEvents"] if e["ph"] == "C"]
    assert counters == [("load a", {"value": 1}), ("load b", {"value": 2.5})]
    marks = [e for e in report["traceEvents"] if e["ph"] == "i"]
    assert [e["name"] for e in marks] == ["mark"]
    assert len(notices(capsys)) == 1
    assert columns._pftrace_blob(str(path)) == columns.report_blob(report)


@pytest.mark.parametrize("content, message", [
    (b"\x0a", "cut short inside its first packet"),
    (b"\x0a\x85\x01\x08", "cut short inside its first packet"),
    (b"\x00\x01garbage", "not a Perfetto trace"),
    (b"\x0a\x02\x50\x01", "no viztracer metadata"),  # a whole packet, but it starts no sequence
])
def test_a_pftrace_that_is_no_trace_of_ours_is_still_an_error(tmp_path, capsys, content, message):
    path = tmp_path / "bad.pftrace"
    path.write_bytes(content)
    with pytest.raises(ReportError, match=message) as info:
        pftrace_reader.read_pftrace(path)
    assert "\n" not in str(info.value)
    assert columns._pftrace_blob(str(path)) is None
    assert notices(capsys) == []


# -- a sequence started again: what a stream writer writes per part -------------------------------

PID, TID = 77, 78


def part(*events: dict) -> dict:
    names = [{"ph": "M", "pid": PID, "tid": PID, "name": "process_name", "args": {"name": "main"}},
             {"ph": "M", "pid": PID, "tid": TID, "name": "thread_name", "args": {"name": "MainThread"}}]
    return {"traceEvents": names + list(events), "viztracer_metadata": {"version": "test"}}


def x(name: str, ts: float, dur: float) -> dict:
    return {"pid": PID, "tid": TID, "ts": ts, "ph": "X", "cat": "FEE", "dur": dur, "name": name}


def instant(name: str, ts: float) -> dict:
    return {"pid": PID, "tid": TID, "ts": ts, "ph": "i", "cat": "INSTANT", "name": name, "s": "t"}


@pytest.fixture
def two_parts(tmp_path):
    """Two traces of one thread written by our writer, the second after the first without the
    first's metadata packet: the thread's sequence (and the main one) cleared again, its clock
    set back, and its names interned again with other ids ("child" is id 1, then "parent" is).
    The second part holds a call that began before every call of the first."""
    first = tmp_path / "first.pftrace"
    second = tmp_path / "second.pftrace"
    perfetto.write_from_report(part(x("child", 10.0, 10.0), x("other", 30.0, 5.0), instant("one", 12.0)),
                               str(first), compress=False)
    perfetto.write_from_report(part(x("parent", 0.0, 100.0), x("child", 50.0, 10.0), instant("two", 60.0)),
                               str(second), compress=False)
    data = first.read_bytes()
    both = tmp_path / "both.pftrace"
    both.write_bytes(data[:records(data)[-1][0]] + second.read_bytes())
    return both


def test_a_sequence_cleared_again_keeps_every_part(two_parts, capsys):
    report = pftrace_reader.read_pftrace(two_parts)
    assert xs(report) == [x("child", 10.0, 10.0), x("other", 30.0, 5.0), x("child", 50.0, 10.0),
                          x("parent", 0.0, 100.0)]
    assert [e["name"] for e in report["traceEvents"] if e["ph"] == "i"] == ["one", "two"]
    assert report["viztracer_metadata"] == {"version": "test"} and not capsys.readouterr().err
    fast = columns._pftrace_blob(str(two_parts))
    assert fast is not None and fast == columns.report_blob(report)
    meta, cols = columns.read_blob(fast)
    rows = zip(cols["name"], cols["start"], cols["depth"], strict=True)
    depth = {(meta["names"][n], start): d for n, start, d in rows}
    assert depth == {("parent", 0.0): 0, ("child", 10000.0): 1, ("other", 30000.0): 1, ("child", 50000.0): 1}


def test_a_cut_in_the_second_part(two_parts, capsys):
    data = two_parts.read_bytes()
    spans = records(data)
    ends = [end for start, end in spans if END in slice_events(data[start:end])]
    assert len(ends) == 4
    two_parts.write_bytes(data[:ends[2] + 1])  # inside the last END: the second part's parent's
    report = pftrace_reader.read_pftrace(two_parts)
    assert xs(report) == [x("child", 10.0, 10.0), x("other", 30.0, 5.0), x("child", 50.0, 10.0)]
    opened = [e for e in report["traceEvents"] if e["ph"] == "B"]
    assert [(e["name"], e["ts"]) for e in opened] == [("parent", 0.0)]
    assert notices(capsys) == [cut_short_notice(str(two_parts), len(report["traceEvents"]))]
    assert columns._pftrace_blob(str(two_parts)) == columns.report_blob(report)


# -- the commands: viztracer --combine, conversion, vizviewer --------------------------------------

@pytest.fixture
def cut_files(saved, full_report, tmp_path):
    """A JSON report, a .json.gz and a .pftrace, each cut among its calls."""
    data, ends = streamed(full_report, HEADS[1])
    (tmp_path / "cut.json").write_bytes(data[:ends[len(ends) // 2] - 3])
    packed = gzip.compress(data)
    middle = next(k for k in range(0, len(packed), 16) if inflated_length(packed[:k]) > ends[len(ends) // 2])
    (tmp_path / "cut.json.gz").write_bytes(packed[:middle])
    plain = (saved / "plain.pftrace").read_bytes()
    (tmp_path / "cut.pftrace").write_bytes(plain[:records(plain)[len(records(plain)) // 3][0] + 2])
    return tmp_path


def notice_files(stderr: str) -> list[str]:
    """The files the cut-short notices on ``stderr`` name, in order; no traceback allowed."""
    assert "Traceback" not in stderr
    prefix = "viztracer: '"
    found = []
    for line in stderr.splitlines():
        if "was cut short" in line:
            assert line.startswith(prefix), line
            found.append(line[len(prefix):line.index("' was cut short")])
    return found


def notice_names(lines: list[str]) -> list[str]:
    """The base names of the files the notices name (the viewer names its absolute paths)."""
    return [Path(f).name for f in notice_files("\n".join(lines))]


def test_combine_and_convert_cut_files(cut_files, capsys):
    cmd = COMMANDS["console-script"]
    proc = run(cmd, "--combine", "cut.json", "cut.pftrace", "cut.json.gz", "-o", "all.json", cwd=cut_files)
    assert proc.returncode == 0, proc.stderr
    assert notice_files(proc.stderr) == ["cut.json", "cut.pftrace", "cut.json.gz"]
    combined = load_report(str(cut_files / "all.json"))
    parts = [load_report(str(cut_files / name)) for name in ("cut.json", "cut.pftrace", "cut.json.gz")]
    assert len(xs(combined)) == sum(len(xs(p)) for p in parts)
    assert combined["viztracer_metadata"]["cut_short"] is True
    capsys.readouterr()
    proc = run(cmd, "--combine", "cut.pftrace", "-o", "converted.json", cwd=cut_files)
    assert proc.returncode == 0, proc.stderr
    assert notice_files(proc.stderr) == ["cut.pftrace"]
    assert load_report(str(cut_files / "converted.json")) == parts[1]


@pytest.mark.parametrize("name", ["cut.json", "cut.json.gz", "cut.pftrace"])
def test_vizviewer_serves_a_cut_file(cut_files, full_report, viewers, name):
    expected = load_report(str(cut_files / name))
    viewer = viewers(["-s", "-p", "0", name], cwd=cut_files, cmd=VIEWER_COMMANDS["console-script"])
    resp = viewer.get(f"/api/trace?file={name}")
    assert resp.status == 200, resp.text
    meta, _ = columns.read_blob(resp.body)
    assert meta["metadata"]["cut_short"] is True
    calls = [e for e in expected["traceEvents"] if e["ph"] in ("X", "B")]
    assert 0 < meta["slice_count"] == len(calls) < len(xs(full_report))
    assert viewer.interrupt() == 0
    assert notice_names(viewer.stderr) == [name]


def test_vizviewer_lists_and_serves_cut_files_in_a_directory(cut_files, viewers):
    viewer = viewers(["-s", "-p", "0", "."], cwd=cut_files)
    for name in ("cut.json", "cut.json.gz", "cut.pftrace"):
        resp = viewer.get(f"/api/trace?file={name}")
        assert resp.status == 200, resp.text
        assert columns.read_blob(resp.body)[0]["metadata"]["cut_short"] is True
    assert viewer.interrupt() == 0
    assert sorted(notice_names(viewer.stderr)) == ["cut.json", "cut.json.gz", "cut.pftrace"]


def test_the_page_says_the_report_was_cut_short(cut_files, viewers, browser):
    viewer = viewers(["-s", "-p", "0", "cut.pftrace"], cwd=cut_files)
    page = browser.new_page()
    try:
        page.goto(viewer.url)
        page.wait_for_function("window.__vt && (window.__vt.ready || window.__vt.error)", timeout=30000)
        assert page.evaluate("window.__vt.error") is None
        banner = page.locator("#notice")
        assert banner.is_visible()
        assert "cut short" in banner.inner_text() and "no end event" in banner.inner_text()
    finally:
        page.close()
