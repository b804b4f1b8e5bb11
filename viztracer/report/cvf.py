"""The compressed report format (``.cvf``): its one definition, a writer and a reader.

A file is ``MAGIC`` (8 bytes, the last one the format's version) followed by one xz (lzma)
stream. The stream holds a payload: a 4-byte little-endian length, a JSON header of that
length, then the columns, back to back, at the offsets the header gives.

Most of a report is complete calls (``X`` events) of a few threads, and a call differs from
the previous call of its thread in little but its times. So those events are grouped by
(pid, tid, cat), and their fields stored as columns, where lzma finds the repetition:

- ``name``: an index into the header's table of names (every distinct name stored once);
- ``end``: the end (``ts + dur``) in integer nanoseconds, as the difference from the previous
  call's end in the group (the group's first end is in the header): a thread's calls are
  written in the order they return, so these are small and never negative in our reports
  (any order works, it only compresses worse);
- ``dur``: the duration in integer nanoseconds;
- ``order``: for every event of the report, its group (or "the next other event", -1), so
  the events come back in their order;
- ``args_at``: the positions, in the columns' order, of the calls that have ``args``.

Each integer column is stored with the narrowest width that all but one value in 64 fit in
(the others are listed in the header), split into byte planes (the low bytes of every value,
then the next bytes...): the high planes are mostly zeros, which compresses far better than
interleaved bytes. ``args`` and every other event
(instants, counters, metadata, X events with other keys or odd values) are kept as JSON in
the header, and so are the report's other keys (``viztracer_metadata``, ``file_info``):
lossless, apart from times rounded to the nanosecond (a JSON report writes microseconds with
three decimals, so its times come back exactly). The writer's loops over every event are
compiled (``pyx/cvf_split.pyx``); the reader is this module.
"""
from __future__ import annotations

import itertools
import json
import lzma
import os
import struct
from array import array
from typing import Any

from .. import _cvf_split
from ..errors import ReportError
from .loader import CVF_EXTENSIONS, CVF_MAGIC

EXTENSIONS = CVF_EXTENSIONS     # the writer protocol's name (report/__init__.py)

VERSION = 1
# The loader's magic (a byte outside ASCII first: no text file starts so, then the name), the
# version last.
MAGIC = CVF_MAGIC + bytes([VERSION])
# xz's preset 1: preset 6 is about 7% smaller and five times slower on a million events
# (benchmarks/compress.py).
_PRESET = 1


# -- columns ---------------------------------------------------------------------------------------

def _pack(values: list[int]) -> tuple[list, bytes]:
    """``values`` at the narrowest signed width that all but one value in 64 fit, split into
    byte planes; ([type code, count, the values left out as [position, value]], bytes). Left
    out: a thread's root call, or the gap before a thread's next call, would otherwise widen
    the whole column. Compiled (``_cvf_split.pack``): a million values a column."""
    code, outside, planes = _cvf_split.pack(values)
    return [code, len(values), outside], planes


def _unpack(layout: list, data: bytes) -> array | list[int]:
    """The values ``_pack`` made ``data`` from, given the layout it returned."""
    code, count, outside = layout
    width = array(code).itemsize
    if len(data) != width * count:
        raise ValueError("a column has the wrong length")
    values = array(code)
    if width == 1:
        values.frombytes(data)
    else:
        interleaved = bytearray(len(data))
        for i in range(width):
            interleaved[i::width] = data[i * count:(i + 1) * count]
        values.frombytes(bytes(interleaved))
    if not outside:
        return values
    patched = values.tolist()
    for i, value in outside:
        patched[i] = value
    return patched


# -- the writer ------------------------------------------------------------------------------------

def _dumps(value: Any) -> bytes:
    # json rather than orjson: it keeps integers beyond 64 bits (and NaN) as they are.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode(report: dict) -> bytes:
    """The ``.cvf`` bytes of ``report`` (a loaded report: a dict with a ``traceEvents`` list)."""
    # The columns hold an X event exactly when its keys are among ph, name, cat, ts, dur, pid,
    # tid, args; ts and dur are finite ints or floats; name (and cat) strings; pid and tid ints
    # or strings (not bools, which would group with 1); args not null. The pass over the events
    # is compiled (pyx/cvf_split.pyx): in Python it took longer than all the rest.
    (keys, counts, order, others, names, name_col, firsts, end_col, dur_col,
     args_at, args) = _cvf_split.split(report["traceEvents"])
    columns = {"order": order, "name": name_col, "end": end_col, "dur": dur_col, "args_at": args_at}
    blobs, layout, offset = [], {}, 0
    for key, values in columns.items():
        packing, data = _pack(values)
        layout[key] = [offset, *packing]
        blobs.append(data)
        offset += len(data)
    header = {
        "groups": [[pid, tid, cat, counts[g], first]
                   for g, ((pid, tid, cat), first) in enumerate(zip(keys, firsts, strict=True))],
        "names": names,
        "columns": layout,
        "args": args,
        "others": others,
        "report": {key: value for key, value in report.items() if key != "traceEvents"},
    }
    head = _dumps(header)
    payload = b"".join([struct.pack("<I", len(head)), head, *blobs])
    return MAGIC + lzma.compress(payload, format=lzma.FORMAT_XZ, preset=_PRESET)


def write_from_report(report: dict, path: str) -> int:
    """Write ``report`` (a loaded report dict) to ``path`` as ``.cvf``; returns its event count."""
    data = encode(report)
    with open(path, "wb") as f:
        f.write(data)
    return len(report["traceEvents"])


def write(recording: Any, path: str, with_file_info: bool = True) -> int:
    """Write a recording to ``path`` as ``.cvf``: through Chrome JSON in memory."""
    import io

    from . import chrome_json
    out = io.BytesIO()
    count = chrome_json._write(recording, out, with_file_info)
    write_from_report(json.loads(out.getvalue()), path)
    return count


# -- the reader ------------------------------------------------------------------------------------

def is_cvf(head: bytes) -> bool:
    """Whether a file starting with ``head`` is a ``.cvf`` of any version."""
    return head.startswith(CVF_MAGIC)


def _check_head(head: bytes, path: str) -> None:
    if not is_cvf(head):
        raise ReportError(f"{path!r} is not a .cvf report of this viztracer (it does not start as "
                          "one; VizTracer 1.x's .cvf is another format: decompress it with 1.x); "
                          "make one with: viztracer --compress REPORT -o OUT.cvf")
    if len(head) < len(MAGIC):
        raise _cut_short(path)
    if head[len(MAGIC) - 1] != VERSION:
        raise ReportError(f"{path!r} is a .cvf report of version {head[len(MAGIC) - 1]}, which this "
                          f"viztracer cannot read (it reads version {VERSION}); upgrade viztracer")


def _cut_short(path: str) -> ReportError:
    return ReportError(f"{path!r} is cut short or damaged: its compressed data does not end as "
                       "written; compress the original report again")


def check_cvf_framing(path: str) -> None:
    """ReportError unless ``path`` starts as a ``.cvf`` of our version and ends as an xz stream
    does (its footer's magic ``YZ``): the viewer's start-up check, without decompressing."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
        f.seek(max(0, os.fstat(f.fileno()).st_size - 2))
        tail = f.read()
    _check_head(head, path)
    if tail != b"YZ":
        raise _cut_short(path)


def decode(data: bytes, path: str) -> dict:
    """The report in ``data`` (a ``.cvf`` file's bytes); ReportError naming ``path`` if it is
    not one, is of a newer version, or was cut short."""
    _check_head(data[:len(MAGIC)], path)
    try:
        payload = lzma.decompress(data[len(MAGIC):], format=lzma.FORMAT_XZ)
    except (lzma.LZMAError, EOFError):
        raise _cut_short(path) from None
    try:
        return _report(payload)
    except (ValueError, KeyError, TypeError, IndexError, StopIteration, struct.error):
        raise ReportError(f"{path!r} is damaged: its contents do not match the .cvf format; "
                          "compress the original report again") from None


def _report(payload: bytes) -> dict:
    (size,) = struct.unpack_from("<I", payload)
    header = json.loads(payload[4:4 + size])
    blobs = memoryview(payload)[4 + size:]

    def column(key: str) -> array | list[int]:
        offset, *packing = header["columns"][key]
        width = array(packing[0]).itemsize
        return _unpack(packing, bytes(blobs[offset:offset + width * packing[1]]))

    name_table = header["names"]
    names = [name_table[i] for i in column("name")]
    durs = column("dur")
    ends = column("end")
    calls: list[list[dict]] = []
    first = 0
    for pid, tid, cat, count, first_end in header["groups"]:
        last = first + count
        group_ends = itertools.accumulate(ends[first + 1:last], initial=first_end)
        group_durs = durs[first:last]
        group = [{"ph": "X", "name": name, "ts": (end - dur) / 1000, "dur": dur / 1000,
                  "pid": pid, "tid": tid}
                 for name, end, dur in zip(names[first:last], group_ends, group_durs, strict=True)]
        if cat is not None:
            for e in group:
                e["cat"] = cat
        calls.append(group)
        first = last
    every = list(itertools.chain.from_iterable(calls))
    if len(every) != len(durs):
        raise ValueError("the groups do not add up to the columns")
    for at, value in zip(column("args_at"), header["args"], strict=True):
        every[at]["args"] = value
    sources = [iter(group) for group in calls]
    others = iter(header["others"])
    events = [next(sources[g]) if g >= 0 else next(others) for g in column("order")]
    report = dict(header["report"])
    report["traceEvents"] = events
    return report


def read_cvf(path: str) -> dict:
    """The report in the ``.cvf`` file ``path``; ReportError (one line) if it is not readable."""
    with open(path, "rb") as f:
        return decode(f.read(), path)
