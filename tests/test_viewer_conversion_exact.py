"""The viewer's fast conversion gives the very bytes of the plain one.

``layout_slices`` guesses the start order from how tracers write calls and sorts only when the
guess is wrong: it is checked here against a plain sort written in Python. The ``.pftrace``
scanner reads a call's packets by a short path, and inflates deflated chunks on a thread of
its own: the same recording, written so that each of these paths is taken or not (no chunks,
many small chunks, a field the short path does not know in every packet, two processes, a
file cut short inside a chunk), must give one blob, the one ``load_report`` + ``report_blob``
give.
"""
from __future__ import annotations

import os
import random
import threading
import zlib
from array import array

import pytest

from viztracer import VizTracer, _columns, _nested_layout, _pftrace_scan
from viztracer.report import perfetto
from viztracer.report.loader import load_report
from viztracer.viewer import columns

# -- the layout ----------------------------------------------------------------------------------

def llround(x: float) -> int:
    """C's llround: halves away from zero (Python's round takes them to even)."""
    whole = int(x)
    frac = x - whole       # exact for a double
    if frac >= 0.5:
        return whole + 1
    if frac <= -0.5:
        return whole - 1
    return whole


def plain_layout(ts, dur, track, ntracks, t0):
    """What layout_slices computes, by a sort on (track, start, longer first, index)."""
    n = len(ts)
    start = [llround((ts[i] - t0) * 1000.0) for i in range(n)]
    end = [start[i] + max(0, llround(dur[i] * 1000.0)) for i in range(n)]
    swept = sorted(range(n), key=lambda i: (track[i], start[i], -end[i], i))
    depth, parent = [0] * n, [-1] * n  # by place in ``swept``
    stack: list[tuple[int, int]] = []   # (end, place)
    for k, i in enumerate(swept):
        if k and track[i] != track[swept[k - 1]]:
            stack = []
        while stack and stack[-1][0] <= start[i]:
            stack.pop()
        depth[k] = len(stack)
        parent[k] = stack[-1][1] if stack else -1
        stack.append((end[i] if not stack or end[i] < stack[-1][0] else stack[-1][0], k))
    placed = sorted(range(n), key=lambda k: (track[swept[k]], depth[k]))  # stable: by start in a row
    final = {k: p for p, k in enumerate(placed)}
    order = [swept[k] for k in placed]
    rows = []
    for p, k in enumerate(placed):
        key = (track[swept[k]], depth[k])
        if rows and tuple(rows[-1][:2]) == key:
            rows[-1][3] += 1
        else:
            rows.append([*key, p, 1])
    return (order, [float(start[i]) for i in order], [float(end[i] - start[i]) for i in order],
            [depth[k] for k in placed], [final[parent[k]] if parent[k] >= 0 else -1 for k in placed],
            [v for row in rows for v in row])


def one_call(rng, out, clock, depth, budget) -> int:
    """A call and its children into ``out`` (children first); ``clock[0]`` moves on."""
    begin = clock[0]
    used = 1
    while depth < 8 and used < budget and rng.random() < 0.7:
        if rng.random() >= 0.2:     # else a child starting with its parent, or right after a sibling
            clock[0] += rng.choice([0.001, 0.0005, rng.uniform(0, 2)])
        used += one_call(rng, out, clock, depth + 1, rng.randint(1, budget - used))
    clock[0] += rng.choice([0.0, 0.001, 0.0004, rng.uniform(0, 3)])
    out.append((round(begin, 4), round(clock[0] - begin, 4)))
    return used


def calls_as_written(rng, ntracks, n):
    """Slices as a tracer writes them: a call when it ends (children before their parent),
    threads interleaved, times in microseconds with three decimals."""
    per_track = []
    for _ in range(ntracks):
        out: list[tuple[float, float]] = []
        clock = [rng.uniform(0, 50)]
        while len(out) < n:
            one_call(rng, out, clock, 0, rng.randint(1, 60))
            clock[0] += rng.choice([0.0, rng.uniform(0, 5)])
        per_track.append(out)
    ts, dur, track = array("d"), array("d"), array("i")
    cursors = [0] * ntracks
    while any(c < len(per_track[t]) for t, c in enumerate(cursors)):
        t = rng.randrange(ntracks)
        for _ in range(rng.randint(1, 30)):
            if cursors[t] < len(per_track[t]):
                s, d = per_track[t][cursors[t]]
                ts.append(s)
                dur.append(d)
                track.append(t)
                cursors[t] += 1
    return ts, dur, track


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("shape", ["as written", "shuffled", "reversed", "one call per start",
                                   "begun, in parts", "a few out of place"])
def test_layout_is_the_plain_sort(seed, shape):
    rng = random.Random(seed)
    ntracks = rng.randint(1, 4)
    ts, dur, track = calls_as_written(rng, ntracks, rng.randint(1, 400))
    rows = list(zip(ts, dur, track, strict=True))
    if shape == "shuffled":
        rng.shuffle(rows)
    elif shape == "reversed":
        rows.reverse()
    elif shape == "one call per start":     # many equal starts and zero durations
        rows = [(float(int(s)), float(int(d) % 2), t) for s, d, t in rows]
    elif shape == "begun, in parts":
        # as a streamed .pftrace gives them: a part holds the calls that ended while it filled,
        # each placed at its begin; the callers still running begin in a later part
        parts = [rows[k:k + 37] for k in range(0, len(rows), 37)]
        rows = [r for part in parts for r in sorted(part, key=lambda r: (r[0], -r[1]))]
    elif shape == "a few out of place":
        rows.sort(key=lambda r: (r[2], r[0], -r[1]))
        for _ in range(len(rows) // 20):
            rows.insert(rng.randrange(len(rows)), rows.pop(rng.randrange(len(rows))))
    ts, dur, track = array("d", [r[0] for r in rows]), array("d", [r[1] for r in rows]), \
        array("i", [r[2] for r in rows])
    t0 = min(ts)
    got = _columns.layout_slices(ts, dur, track, ntracks, t0)
    assert [list(a) for a in got] == [list(a) for a in plain_layout(ts, dur, track, ntracks, t0)]


def test_layout_of_a_child_rounded_past_its_parent():
    # 0.0004 + 0.0004 rounds to 1 ns past the parent's end (each rounded on its own)
    ts = array("d", [10.0004, 10.0, 10.002, 10.002, 10.0])
    dur = array("d", [0.0004, 0.0004, 0.0, 0.001, 0.0030])
    track = array("i", [0, 0, 0, 0, 1])
    got = _columns.layout_slices(ts, dur, track, 2, 10.0)
    assert [list(a) for a in got] == [list(a) for a in plain_layout(ts, dur, track, 2, 10.0)]


def calls_as_begun(rng, ntracks, n):
    """Slices as a scanner of begin and end events places them: each at its begin (a parent
    before its children), with its depth (its parent the slice before it one level up);
    threads interleaved, times in whole nanoseconds (microseconds with three decimals), every
    call at least 1 ns long and strictly inside its parent."""
    ts, dur, track, depth = array("d"), array("d"), array("i"), array("i")
    clocks = [rng.randint(0, 50_000) for _ in range(ntracks)]
    stacks: list[list[int]] = [[] for _ in range(ntracks)]
    ends: dict[int, int] = {}
    while len(ts) < n or any(stacks):
        t = rng.randrange(ntracks)
        clocks[t] += rng.choice([1, 2, rng.randint(1, 3000)])
        stack = stacks[t]
        if stack and (len(ts) >= n or len(stack) >= 8 or rng.random() < 0.45):
            ends[stack.pop()] = clocks[t]
            continue
        depth.append(len(stack))
        ts.append(clocks[t] / 1000)
        dur.append(0.0)
        track.append(t)
        stack.append(len(ts) - 1)
    for i, end in ends.items():
        dur[i] = (end - round(ts[i] * 1000)) / 1000
    return ts, dur, track, depth


def same_as_plain(got, ts, dur, track, name, args, ntracks, t0):
    assert got is not None
    start_ns, dur_ns, o_name, o_track, o_depth, o_parent, o_args, rows = got
    order, *plain = plain_layout(ts, dur, track, ntracks, t0)
    assert [list(a) for a in (start_ns, dur_ns, o_depth, o_parent, rows)] == [list(a) for a in plain]
    assert list(o_name) == [name[i] for i in order]
    assert list(o_track) == [track[i] for i in order]
    assert list(o_args) == [args[i] for i in order]


@pytest.mark.parametrize("seed", range(6))
def test_nested_layout_is_the_plain_layout(seed):
    rng = random.Random(seed)
    ntracks = rng.randint(1, 4)
    ts, dur, track, depth = calls_as_begun(rng, ntracks, rng.randint(1, 500))
    name = array("i", [rng.randrange(7) for _ in ts])
    args = array("i", [rng.choice([-1, k]) for k in range(len(ts))])
    t0 = min(ts)
    got = _nested_layout.layout_nested(ts, dur, name, track, args, depth, ntracks, t0)
    same_as_plain(got, ts, dur, track, name, args, ntracks, t0)


# (ts, dur, track, depth) per slice, as a scanner gives them
NESTS = [(1.0, 9.0, 0, 0), (2.0, 1.0, 0, 1), (3.0, 5.0, 1, 0), (4.0, 1.0, 1, 1)]
NOT_AS_THE_TIMES_SAY = {
    "a start before the one above": {1: (0.5, 1.0, 0, 1)},
    "a child at the top": {1: (2.0, 1.0, 0, 0)},
    "a depth two below the slice before's": {3: (4.0, 1.0, 1, 2)},
    "a child as long as its parent": {1: (1.0, 9.0, 0, 1)},     # which one is inside?
    "a child at its parent's end": {3: (8.0, 0.0, 1, 1)},        # as a call left open in a cut file
    "a sibling starting with the one before": {1: (2.0, 0.0, 0, 1), 2: (2.0, 1.0, 0, 1),
                                               3: (3.0, 5.0, 1, 0)},   # the longer one sorts first
    "a start before the one before has ended": {2: (3.0, 9.0, 0, 0), 3: (4.0, 1.0, 0, 1)},
}


def nested(slices):
    columns = [array(code, values) for code, values in zip("ddii", zip(*slices, strict=True), strict=True)]
    ts, dur, track, depth = columns
    name = args = array("i", [0] * len(slices))
    return _nested_layout.layout_nested(ts, dur, name, track, args, depth, 2, 1.0)


def test_nested_layout_takes_a_child_starting_with_its_longer_parent():
    assert nested(NESTS) is not None
    got = nested([NESTS[0], (1.0, 2.0, 0, 1), *NESTS[2:]])
    assert got is not None
    assert [list(got[k]) for k in (0, 4, 5)] == [[0.0, 0.0, 2000.0, 3000.0], [0, 1, 0, 1], [-1, 0, -1, 2]]


@pytest.mark.parametrize("broken", sorted(NOT_AS_THE_TIMES_SAY))
def test_what_does_not_nest_as_the_file_says_is_nested_by_the_times(broken):
    slices = list(NESTS)
    for k, changed in NOT_AS_THE_TIMES_SAY[broken].items():
        slices[k] = changed
    ts, dur, track, depth = [array(code, values) for code, values in
                             zip("ddii", zip(*slices, strict=True), strict=True)]
    name = array("i", range(len(slices)))
    args = array("i", [-1, 3, 5, -1])
    got = _nested_layout.layout_nested(ts, dur, name, track, args, depth, 2, 1.0)
    same_as_plain(got, ts, dur, track, name, args, 2, 1.0)


def streamed(rng, ntracks, n, part):
    """Random nested calls in the order a streamed file gives them: in parts of ``part``
    calls by their end, each part's calls in start order (its file nesting as the scanner
    would see it: only among the part's own calls), so a caller still running at a part's
    end comes in a later part, after calls it made."""
    ts, dur, track, _ = calls_as_begun(rng, ntracks, n)
    ends = [round(ts[i] * 1000) + round(dur[i] * 1000) for i in range(len(ts))]
    by_end = sorted(range(len(ts)), key=lambda i: (ends[i], i))
    order = []
    for k in range(0, len(by_end), part):
        order += sorted(by_end[k:k + part], key=lambda i: (track[i], ts[i], -ends[i], i))
    cols = [array(code, [col[i] for i in order]) for code, col in zip("ddi", (ts, dur, track), strict=True)]
    return (*cols, array("i", [0] * len(order)))   # as if all top-level


@pytest.mark.parametrize("seed", range(8))
def test_a_streamed_files_calls_are_nested_by_the_times(seed):
    rng = random.Random(seed)
    ntracks = rng.randint(1, 3)
    ts, dur, track, depth = streamed(rng, ntracks, rng.randint(300, 900), rng.choice([60, 200]))
    name = array("i", [rng.randrange(7) for _ in ts])
    args = array("i", [rng.choice([-1, k]) for k in range(len(ts))])
    t0 = min(ts)
    got = _nested_layout.layout_nested(ts, dur, name, track, args, depth, ntracks, t0)
    same_as_plain(got, ts, dur, track, name, args, ntracks, t0)


def test_a_track_far_from_start_order_is_left_to_layout_slices():
    rng = random.Random(3)
    ts, dur, track, _ = calls_as_begun(rng, 2, 200)
    backwards = [array(col.typecode, reversed(col)) for col in (ts, dur, track)]
    zeros = array("i", [0] * len(ts))
    assert _nested_layout.layout_nested(*backwards[:2], zeros, backwards[2], zeros, zeros, 2, min(ts)) is None


def test_placing_into_a_blob_too_small_is_refused_before_a_byte_is_written():
    columns_in = [array(code, values) for code, values in zip("ddii", zip(*NESTS, strict=True), strict=True)]
    ts, dur, track, depth = columns_in
    name = args = array("i", [0] * len(NESTS))
    nesting = _nested_layout.nest(array("d", ts), array("d", dur), name, track, args, array("i", depth),
                                  2, 1.0)
    offsets = [0, 32, 64, 80, 96, 112, 128]     # 4 doubles twice, then 4 ints five times
    blob = bytes(143)                             # the last column a byte short
    with pytest.raises(ValueError, match="no room for 4 values of 4 bytes at 128"):
        nesting.place_into(blob, *offsets)
    assert blob == bytes(143)
    with pytest.raises(ValueError, match="at 3"):
        nesting.place_into(bytes(1000), 3, *offsets[1:])
    whole = bytes(bytearray(144))
    nesting.place_into(whole, *offsets)
    laid = _nested_layout.layout_nested(ts, dur, name, track, args, depth, 2, 1.0)
    assert whole == b"".join(a.tobytes() for a in laid[:7])
    with pytest.raises(ValueError, match="placed already"):     # its depths are places now
        nesting.place_into(bytes(144), *offsets)


def _peak_kb() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


def _blocks(blocks: int) -> list[array]:
    """ts, dur, name, track, args, depth of ``blocks`` calls making three calls each, on two
    tracks, as the scanner gives them."""
    ts = array("d", [10.0 * (b // 2) + d for b in range(blocks) for d in (0.0, 1.0, 3.0, 5.0)])
    dur = array("d", [9.0, 1.0, 1.0, 1.0]) * blocks
    track = array("i", [b % 2 for b in range(blocks) for _ in range(4)])
    return [ts, dur, array("i", range(4 * blocks)), track, array("i", [-1, 0, -1, 1]) * blocks,
            array("i", [0, 1, 1, 1]) * blocks]


@pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK), reason="needs Linux's clear_refs")
def test_placing_hands_the_inputs_memory_back_as_it_writes_the_blob():
    """The slices placed into the blob take little memory beyond the blob itself: with
    ``release`` each input's pages go as they are read. Without it, both the inputs and the
    blob were whole at the end (at 100M slices, 7.5 GB where 3.6 GB are needed)."""
    blocks = 1_000_000      # 4M slices: 128 MB of inputs, a blob of 144 MB
    expected = _nested_layout.layout_nested(*_blocks(blocks), 2, 0.0)
    nesting = _nested_layout.nest(*_blocks(blocks), 2, 0.0)    # the only holder of its inputs
    size = 4 * blocks * 36
    blob = _columns.join([size])                # fresh memory, faulted in as it is written
    offsets = [0, 8, 16, 20, 24, 28, 32]
    offsets = [k * 4 * blocks for k in offsets]
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")        # the peak from here on
    before = _peak_kb()
    nesting.place_into(blob, *offsets, release=True)
    grown = (_peak_kb() - before) * 1024
    # the blob is 16 MB more than the inputs; pages go and come 2 MB at a time (huge pages)
    assert grown < size // 2, f"placing took {grown >> 20} MB more, for a blob of {size >> 20} MB"
    got = memoryview(blob)
    for k, column in enumerate(expected[:7]):
        assert got[offsets[k]:offsets[k] + len(column) * column.itemsize] == column.tobytes(), k


# -- the .pftrace scanner --------------------------------------------------------------------------

def work(n):
    return n if n < 2 else work(n - 1) + work(n - 2)


def recording(tmp_path, name="r.pftrace", pid_shift=0):
    """A recording with calls (with args and return values), threads, instants, counters and
    objects, written without deflating."""
    tracer = VizTracer(verbose=0, log_func_args=True, log_func_retval=True)
    tracer.start()
    work(9)
    t = threading.Thread(target=work, args=(7,), name="helper")
    t.start()
    t.join()
    tracer.add_instant("mark", args={"k": [1, {}]}, scope="p")
    tracer.add_counter("load", {"a": 1, "b": 2.5})
    tracer.add_object("N", "0x1", "Obj", {"x": 1})
    with tracer.log_event("custom"):
        work(4)
    tracer.stop()
    path = tmp_path / name
    perfetto.write(tracer.recording(), str(path), compress=False)
    tracer.clear()
    return path


def varint(v: int) -> bytes:
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def top_level_packets(data: bytes) -> list[bytes]:
    """The payloads of a Trace's top-level packets (tag 0x0a, a varint length, the bytes)."""
    out, i = [], 0
    while i < len(data):
        assert data[i] == 0x0A
        i += 1
        length = shift = 0
        while True:
            b = data[i]
            i += 1
            length |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                break
        out.append(data[i:i + length])
        i += length
    return out


def packet(payload: bytes) -> bytes:
    return b"\x0a" + varint(len(payload)) + payload


def in_chunks(packets: list[bytes], per_chunk: int) -> bytes:
    """The packets deflated in chunks of ``per_chunk`` (TracePacket.compressed_packets, 50)."""
    out = []
    for k in range(0, len(packets), per_chunk):
        deflated = zlib.compress(b"".join(packet(p) for p in packets[k:k + per_chunk]), 1)
        out.append(packet(varint(50 << 3 | 2) + varint(len(deflated)) + deflated))
    return b"".join(out)


def plain_blob(path) -> bytes:
    return columns.report_blob(load_report(str(path)))


def test_one_blob_whatever_the_path(tmp_path):
    path = recording(tmp_path)
    expected = plain_blob(path)
    assert columns._pftrace_blob(str(path)) == expected
    packets = top_level_packets(path.read_bytes())
    assert len(packets) > 200
    variants = {
        # more chunks than the inflating thread holds at once, one chunk, a packet a chunk
        "chunks of 7": in_chunks(packets, 7),
        "one chunk": in_chunks(packets, len(packets)),
        "a chunk each": in_chunks(packets, 1),
        # a field the short path does not read (an unknown one, skipped) in every packet
        "unknown field": b"".join(packet(p + varint(2000 << 3) + b"\x05") for p in packets),
        "unknown field, chunks": in_chunks([p + varint(2000 << 3) + b"\x05" for p in packets], 5),
    }
    for what, data in variants.items():
        other = tmp_path / f"{what}.pftrace"
        other.write_bytes(data)
        assert columns._pftrace_blob(str(other)) == expected, what
        assert plain_blob(other) == expected, what


def test_the_scanner_gives_the_nesting_and_the_blob_is_the_same(tmp_path, monkeypatch):
    tracer = VizTracer(verbose=0, log_func_args=True)
    tracer.start()
    work(6)

    def left_open():    # still running when tracing stops: it never ends in the file
        tracer.stop()

    left_open()
    path = tmp_path / "open.pftrace"
    perfetto.write(tracer.recording(), str(path), compress=True)
    tracer.clear()
    scanned, metadata, _ = _pftrace_scan.scan_pftrace(path.read_bytes())
    (depth,) = scanned[11]
    assert len(depth) == len(scanned[0]) == 25 + 1     # work(6) and left_open
    expected = plain_blob(path)

    def refused(*args):
        raise AssertionError("the scanner's nesting was not used")

    monkeypatch.setattr(_columns, "layout_slices", refused)
    fast = columns._pftrace_blob(str(path))
    assert fast == expected
    meta, cols = columns.read_blob(fast)
    assert meta["unfinished"] == 1
    (opened,) = [i for i, n in enumerate(cols["name"]) if "left_open" in meta["names"][n]]
    assert cols["depth"][opened] == 0
    assert cols["start"][opened] + cols["dur"][opened] == meta["end"]   # it runs to the end


def test_a_streamed_file_is_nested_by_its_times_without_layout_slices(tmp_path, monkeypatch):
    path = tmp_path / "streamed.pftrace"
    tracer = VizTracer(tracer_entries=1000, stream=True, output_file=str(path), verbose=0)
    tracer.start()
    work(15)
    t = threading.Thread(target=work, args=(13,))
    t.start()
    t.join()
    tracer.stop()
    tracer.save()
    scanned, _, _ = _pftrace_scan.scan_pftrace(path.read_bytes())
    ts, track = scanned[0], scanned[3]
    last: dict[int, float] = {}
    late = 0    # callers written in a part after calls they made
    for i in range(len(ts)):
        late += ts[i] < last.get(track[i], ts[i])
        last[track[i]] = max(last.get(track[i], ts[i]), ts[i])
    assert late > 10
    expected = plain_blob(path)

    def refused(*args):
        raise AssertionError("laid out by layout_slices")

    monkeypatch.setattr(_columns, "layout_slices", refused)
    assert columns._pftrace_blob(str(path)) == expected
    meta, cols = columns.read_blob(expected)
    works = [i for i, n in enumerate(cols["name"]) if meta["names"][n].startswith("work (")]
    assert len(works) == 1973 + 753     # work(15) and work(13)
    assert max(cols["depth"][i] for i in works) == 14


def test_two_processes_in_chunks(tmp_path):
    a = load_report(str(recording(tmp_path, "a.pftrace")))
    b = load_report(str(recording(tmp_path, "b.pftrace")))
    for e in b["traceEvents"]:
        if "pid" in e:
            e["pid"] += 1
    both = {"traceEvents": a["traceEvents"] + b["traceEvents"], "viztracer_metadata": {"version": "x"}}
    plain = tmp_path / "both.pftrace"
    perfetto.write_from_report(both, str(plain), compress=False)
    chunked = tmp_path / "both-chunked.pftrace"
    chunked.write_bytes(in_chunks(top_level_packets(plain.read_bytes()), 11))
    assert columns._pftrace_blob(str(chunked)) == columns._pftrace_blob(str(plain)) == plain_blob(plain)


def test_cut_short_inside_a_chunk(tmp_path, capsys):
    data = in_chunks(top_level_packets(recording(tmp_path).read_bytes()), 9)
    cut = tmp_path / "cut.pftrace"
    cut.write_bytes(data[:len(data) * 2 // 3])
    fast = columns._pftrace_blob(str(cut))
    assert fast is not None and fast == plain_blob(cut)
    meta, _ = columns.read_blob(fast)
    assert meta["metadata"].get("cut_short")


def test_a_broken_chunk_among_many(tmp_path):
    packets = top_level_packets(recording(tmp_path).read_bytes())
    chunks = top_level_packets(in_chunks(packets, 9))
    broken = chunks[len(chunks) // 2]
    chunks[len(chunks) // 2] = broken[:-20] + bytes(20)    # its deflated bytes end in zeros
    path = tmp_path / "broken.pftrace"
    path.write_bytes(b"".join(packet(c) for c in chunks))
    assert columns._pftrace_blob(str(path)) is None     # load_report then names the fault
