"""Read a Perfetto trace written by viztracer back into the Chrome JSON report's shape.

``read_pftrace(path)`` returns ``{"traceEvents": [...], "viztracer_metadata": {...},
"file_info": {...}}``, the dict that ``json.load`` gives for the same recording saved as
``.json``, so that everything which works on a JSON report (the viewer, combining, tests)
works on a ``.pftrace`` too. It reads the files of our own writer (``report/perfetto.py``);
what it relies on is the contract below, not Perfetto's format in general.

- Top-level packets may be deflated chunks (``compressed_packets``) of packets.
- Packet sequences: each clears its incremental state in its first packet, and defines an
  interned category, event name or annotation name before (or in) the first packet of that
  sequence that uses it. A sequence's TracePacketDefaults give the track of events that name
  none, and the clock of its timestamps: an incremental clock (a sequence-scoped id whose
  ClockSnapshot says ``is_incremental``) means each timestamp is the time since the previous
  packet of the sequence.
- Track descriptors: a track per process and per thread, a "Global" track per process for
  global instants (its uuid is the process's pid shifted left by 24 bits, like every track of
  that process), and counter tracks.
- Function calls and duration events are SLICE_BEGIN / SLICE_END pairs on a thread track,
  nested in the order of their sequence; a BEGIN left open is a call still running at stop.
- Instants (category ``instant``), objects (``object``) and raw JSON events (``raw``) are
  INSTANT events; counters are COUNTER events on counter tracks. An annotation named
  ``#args`` holds args that were not a JSON object.
- The last packet's Chrome metadata holds ``viztracer_metadata``, ``file_info`` and
  ``viztracer_counter_tracks`` (counter track uuid -> [counter name, key]) as JSON. A counter
  track missing from that map is named by its descriptor.
- A sequence may clear its incremental state again (``--stream`` writes a thread's slices in
  parts): a packet that clears it holds no track event, and starts afresh (defaults, clock,
  interned ids, which may now mean other names). Slices still pair up in packet order per
  track, whatever their times: a later part may hold a call that began before an earlier one.

A file cut short (its writer killed) is read up to its last whole top-level record, and
without the metadata packet when that is missing, as long as it starts as our files do (a
packet that starts a sequence); calls begun but not ended are B events, as at a stop. The
report is then marked ``viztracer_metadata["cut_short"]`` and announced in one line on stderr.

Speed: every attribute read on a protobuf message costs a few hundred nanoseconds from
Python, which is most of the time a naive loop over millions of packets takes. So the file is
parsed once into a *view* of TracePacket whose sub-messages are left as bytes, and a track
event's bytes are decoded (with the generated TrackEvent) only the first time they are met on
their sequence: the BEGIN of a given function, or any END, is the same bytes every time, and
the decoded result is cached under them (a call logged with the same arguments too, up to a
bound, its args copied for each event). Counters and instants are decoded every time.
"""
from __future__ import annotations

import gc
import json
import os
import zlib
from collections.abc import Callable
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from . import ReportError, perfetto_pb2
from .loader import announce_cut_short, mark_cut_short
from .perfetto_pb2 import (
    ChromeEventBundle,
    ClockSnapshot,
    InternedData,
    TracePacketDefaults,
    TrackDescriptor,
    TrackEvent,
)

_BEGIN = TrackEvent.TYPE_SLICE_BEGIN
_END = TrackEvent.TYPE_SLICE_END
_INSTANT = TrackEvent.TYPE_INSTANT
_COUNTER = TrackEvent.TYPE_COUNTER

# What a track is: the "s" scope of the instants on it, or a counter track.
_THREAD, _PROCESS, _GLOBAL, _COUNTER_TRACK = "t", "p", "g", "c"


# How many distinct annotated BEGIN events the decoding cache keeps at most.
_ANNOTATED_CACHE_SIZE = 100_000


class _Malformed(Exception):
    """The file parsed as a Perfetto trace but breaks our writer's contract."""


def _trace_view() -> type:
    """A Trace message class whose packets keep every sub-message as undecoded bytes.

    Derived from the generated descriptor, so it has the same field numbers by construction:
    a length-delimited field can be read as a message or as bytes alike.
    """
    F = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto()
    perfetto_pb2.DESCRIPTOR.CopyToProto(file)
    messages = {m.name: m for m in file.message_type}
    trace, packet = messages["Trace"], messages["TracePacket"]
    for field in packet.field:
        if field.type == F.TYPE_MESSAGE:
            field.type = F.TYPE_BYTES
            field.ClearField("type_name")
    view = descriptor_pb2.FileDescriptorProto(name="viztracer_perfetto_view.proto", syntax="proto2",
                                              package="viztracer_perfetto_view")
    view.message_type.extend([trace, packet])
    view.message_type[0].field[0].type_name = ".viztracer_perfetto_view.TracePacket"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(view)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("viztracer_perfetto_view.Trace"))


_TraceView = _trace_view()


def read_pftrace(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a ``.pftrace`` written by viztracer as the Chrome JSON report's dict.

    Raises ReportError (one line naming the file) when the file is missing, empty, or not a
    Perfetto trace written by viztracer. A file cut short is read up to the cut (see above).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ReportError(f"cannot read {path!r}: {e.strerror or e}") from None
    if not data:
        raise ReportError(f"cannot read {path!r}: the file is empty")
    if data[:2] == b"\x1f\x8b":
        raise ReportError(f"cannot read {path!r}: the file is gzip-compressed, not a Perfetto trace")
    if data.lstrip()[:1] in (b"{", b"["):
        raise ReportError(f"cannot read {path!r}: the file looks like JSON, not a Perfetto protobuf trace")
    end = _whole_length(data)
    if end == 0:
        raise ReportError(f"cannot read {path!r}: not a Perfetto trace, or cut short inside its first packet")
    # Millions of new dicts and no cycles among them: the cyclic GC would walk the growing
    # heap again and again for nothing (measured: twice the time with arguments logged).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        report, whole = _read_compiled(data) or _read_general(data, end)
    except DecodeError:
        raise ReportError(f"cannot read {path!r}: not a Perfetto trace, or truncated") from None
    except zlib.error:
        raise ReportError(f"cannot read {path!r}: a compressed chunk does not inflate (truncated?)") from None
    except _Malformed as e:
        raise ReportError(f"cannot read {path!r}: {e}") from None
    except (KeyError, IndexError, ValueError, TypeError) as e:
        # JSON metadata that does not parse, an annotation of the wrong type...
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(f"cannot read {path!r}: not a trace written by viztracer ({detail})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not whole:
        mark_cut_short(report)
        announce_cut_short(path, len(report["traceEvents"]))
    return report


def _whole_length(data: bytes) -> int:
    """How many bytes at the start of ``data`` are whole top-level records (the rest is a
    record cut short); by the compiled scanner, a C loop over millions of plain packets."""
    from .. import _pftrace_scan
    return _pftrace_scan.whole_length(data)


def _read_general(data: bytes, end: int) -> tuple[dict[str, Any], bool]:
    """``(report, whole)`` by the protobuf classes, from the whole records before ``end``."""
    reader = _Reader(_chunks(_TraceView.FromString(data if end == len(data) else data[:end]).packet))
    return reader.report(), reader.has_metadata and end == len(data)


def _read_compiled(data: bytes) -> tuple[dict[str, Any], bool] | None:
    """``(report, whole)`` by the compiled scanner (``pyx/pftrace_scan.pyx``), which decodes
    the common packets by hand and follows this module's contract to the letter; None when the
    file holds anything it does not expect, and the reader below takes over (and names what is
    wrong)."""
    from .. import _pftrace_scan  # it imports this module's _value
    try:
        return _pftrace_scan.read_report(data)
    except (_pftrace_scan.Unsupported, DecodeError, KeyError, IndexError, TypeError, ValueError,
            AttributeError):
        return None


def _inflate(p):
    """The packets deflated into a ``compressed_packets`` packet."""
    return _TraceView.FromString(zlib.decompress(p.compressed_packets)).packet


def _chunks(packets) -> list:
    """The file's packets as a list of packet lists. A file that starts with a deflated chunk
    (our writer deflates all or nothing) has its chunks inflated here; in any other file a
    deflated chunk is inflated where the walk meets it, so plain files cost no extra pass."""
    if not len(packets) or not packets[0].compressed_packets:
        return [packets]
    return [_inflate(p) if p.compressed_packets else [p] for p in packets]


def _all_packets(packets):
    """Every packet, those of deflated chunks included, in file order."""
    for p in packets:
        if p.compressed_packets:
            yield from _all_packets(_inflate(p))
        else:
            yield p


def _value(a) -> Any:
    """A debug annotation's value as the JSON value it was made from."""
    kind = a.WhichOneof("value")
    if kind is not None:
        if kind == "legacy_json_value":
            return json.loads(a.legacy_json_value)
        return getattr(a, kind)
    entries = a.dict_entries
    if entries:
        return {e.name: _value(e) for e in entries}
    values = a.array_values
    if values:
        return [_value(v) for v in values]
    return {}


def _copy(value: Any) -> Any:
    """A JSON value's containers copied, so that no two events share a dict or a list."""
    if type(value) is dict:
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    return value


class _Sequence:
    """What one packet sequence has set: interned strings, defaults, its clock, decoded events."""

    __slots__ = ("id", "categories", "event_names", "annotation_names", "default_track",
                 "incremental", "last", "offset", "decoded", "swept")

    def __init__(self, seq_id: int) -> None:
        self.id = seq_id
        self.categories: dict[int, str] = {}
        self.event_names: dict[int, str] = {}
        self.annotation_names: dict[int, str] = {}
        self.default_track = 0
        self.incremental = False  # timestamps are deltas on the sequence's incremental clock
        self.last = 0             # that clock's latest reading
        self.offset = 0           # trace time minus that clock's time
        # Track event bytes -> what the hot loop needs: (_END, stack) or
        # (_BEGIN, stack, event template, args), where args is copied for each event.
        self.decoded: dict[bytes, tuple] = {}
        self.swept = False  # every packet's interned data of this sequence has been read

    def clear(self) -> None:
        """Incremental state cleared: interned strings and defaults are gone."""
        self.__init__(self.id)


class _Reader:
    """One pass over the packets, building the JSON report's events."""

    def __init__(self, chunks: list) -> None:
        self.chunks = chunks
        self.sequences: dict[int, _Sequence] = {}
        # uuid -> (pid, tid, what the track is); tid is the pid on process-wide tracks.
        self.tracks: dict[int, tuple[int, int, str]] = {}
        self.stacks: dict[int, list] = {}  # thread track uuid -> [(begin ns, event dict), ...]
        self.annotated_room = _ANNOTATED_CACHE_SIZE
        self.name_events: list[dict] = []
        self.events: list[dict] = []
        self.last_counter: dict[str, dict] = {}  # counter name -> its latest "C" event
        self.has_metadata = True  # False for a file cut short before its metadata packet
        self.metadata = self._metadata()
        tracks = self.metadata.get("viztracer_counter_tracks", {})
        pairs = tracks.values() if isinstance(tracks, dict) else [None]
        if any(not isinstance(v, list) or len(v) != 2 for v in pairs):
            raise _Malformed("viztracer_counter_tracks is not a {uuid: [name, key]} object")
        self.counter_names = {int(uuid): tuple(name_key) for uuid, name_key in tracks.items()}

    def report(self) -> dict[str, Any]:
        try:
            for packets in self.chunks:
                self._walk(packets)
        except (KeyError, IndexError) as e:
            raise _Malformed(f"an event is on an undefined track, or ends a slice never begun ({e!r})") \
                from None
        report: dict[str, Any] = {"traceEvents": self.name_events + self.events + self._still_open()}
        for key in ("viztracer_metadata", "file_info"):
            if key in self.metadata:
                report[key] = self.metadata[key]
        return report

    def _metadata(self) -> dict[str, Any]:
        """The JSON values of the Chrome metadata in the last packet that has some; none (and
        ``has_metadata`` False) in a file of ours cut short before its metadata packet."""
        if not any(len(packets) for packets in self.chunks):
            raise _Malformed("the file holds no trace packets")
        for packets in reversed(self.chunks):
            for i in range(len(packets) - 1, -1, -1):
                p = packets[i]
                if p.compressed_packets:
                    p = next((q for q in reversed(list(_all_packets([p]))) if q.HasField("chrome_events")), p)
                if p.HasField("chrome_events"):
                    return _metadata_values(p.chrome_events)
        first = next(_all_packets(self.chunks[0]), None)
        if first is None or not _starts_a_sequence(first):
            raise _Malformed("no viztracer metadata packet, and the file does not start as a trace "
                             "written by viztracer does")
        self.has_metadata = False
        return {}

    def _sequence(self, seq_id: int) -> _Sequence:
        seq = self.sequences.get(seq_id)
        if seq is None:
            seq = self.sequences[seq_id] = _Sequence(seq_id)
        return seq

    def _walk(self, packets) -> None:
        """The hot loop: cached BEGIN/END events here, everything else in ``_decode``."""
        decode = self._decode
        append = self.events.append
        seq = None
        seq_id = -1
        decoded: dict = {}
        incremental = False
        last = offset = 0
        for p in packets:
            if p.trusted_packet_sequence_id != seq_id:
                if seq is not None:
                    seq.last = last
                seq_id = p.trusted_packet_sequence_id
                seq = self._sequence(seq_id)
                decoded, incremental, last, offset = seq.decoded, seq.incremental, seq.last, seq.offset
            if incremental:
                last += p.timestamp  # 0 for packets without a timestamp: the clock stays
                ns = last + offset
            else:
                ns = p.timestamp
            te = p.track_event
            hit = decoded.get(te)
            if hit is None:
                seq.last = last
                hit = decode(p, te, seq, ns)
                decoded, incremental, last, offset = seq.decoded, seq.incremental, seq.last, seq.offset
                if hit is None:
                    continue
            if hit[0] == _END:
                begin, e = hit[1].pop()
                e["dur"] = (ns - begin) / 1000
                append(e)
            else:
                _, stack, template, args = hit
                e = template.copy()  # about twice as fast as a dict display of seven keys
                e["ts"] = ns / 1000
                if args is not None:
                    e["args"] = _copy(args)
                stack.append((ns, e))
        if seq is not None:
            seq.last = last

    def _decode(self, p, te: bytes, seq: _Sequence, ns: int) -> tuple | None:
        """A packet met for the first time on its sequence: a slice event's tuple for the hot
        loop, or None when the packet has been dealt with here (other events, descriptors,
        defaults, clocks, metadata)."""
        if not p.HasField("track_event"):
            self._other_packet(p, seq)
            return None
        if p.sequence_flags & 1 or p.incremental_state_cleared:
            seq.clear()
        if p.HasField("interned_data"):
            self._intern(p.interned_data, seq)
        ev = TrackEvent.FromString(te)
        t = ev.type
        uuid = ev.track_uuid or seq.default_track
        if t == _END:
            hit: tuple = (_END, self.stacks[uuid])
        elif t == _BEGIN:
            pid, tid, _ = self.tracks[uuid]
            annotations = ev.debug_annotations
            args = self._args(annotations, p, seq) if annotations else None
            template = {"pid": pid, "tid": tid, "ts": 0, "ph": "X", "cat": "FEE", "dur": 0,
                        "name": self._event_name(ev, p, seq)}
            hit = (_BEGIN, self.stacks[uuid], template, args)
            if args is not None:
                # Calls logged with their arguments repeat less often than bare calls, and each
                # cached one holds its args: cache a bounded number of them.
                if self.annotated_room <= 0:
                    return hit
                self.annotated_room -= 1
        elif t == _COUNTER:
            self._counter(ns, ev, uuid)
            return None
        elif t == _INSTANT:
            self.events.append(self._instant(p, ev, self.tracks[uuid], seq, ns))
            return None
        else:
            raise _Malformed(f"track event of unsupported type {t}")
        seq.decoded[te] = hit
        return hit

    def _other_packet(self, p, seq: _Sequence) -> None:
        """A packet without a track event: state, descriptors, defaults, clocks, metadata, or a
        deflated chunk of packets."""
        if p.compressed_packets:
            self._walk(_inflate(p))
            return
        if p.sequence_flags & 1 or p.incremental_state_cleared:
            seq.clear()
        if p.HasField("interned_data"):
            self._intern(p.interned_data, seq)
        if p.HasField("track_descriptor"):
            self._track(TrackDescriptor.FromString(p.track_descriptor))
        if p.HasField("trace_packet_defaults"):
            defaults = TracePacketDefaults.FromString(p.trace_packet_defaults)
            seq.default_track = defaults.track_event_defaults.track_uuid
            seq.decoded = {}  # cached events may have been resolved with the old default
            clock_id = defaults.timestamp_clock_id
            if clock_id and clock_id < 64:
                raise _Malformed(f"sequence {seq.id} uses the builtin clock {clock_id}, not ours")
        if p.HasField("clock_snapshot"):
            self._clock(ClockSnapshot.FromString(p.clock_snapshot), seq)

    @staticmethod
    def _clock(snapshot, seq: _Sequence) -> None:
        """A sequence's incremental clock: where it starts and how it maps onto trace time."""
        reading = _incremental_clock(snapshot, seq.id)
        if reading is not None:
            seq.incremental = True
            seq.last, seq.offset = reading

    # -- interned strings -------------------------------------------------------------------

    @staticmethod
    def _intern(data: bytes, seq: _Sequence) -> None:
        interned = InternedData.FromString(data)
        for c in interned.event_categories:
            seq.categories[c.iid] = c.name
        for n in interned.event_names:
            seq.event_names[n.iid] = n.name
        for n in interned.debug_annotation_names:
            seq.annotation_names[n.iid] = n.name

    def _lookup(self, table: dict[int, str], iid: int, p, seq: _Sequence, what: str) -> str:
        """``table[iid]``, reading the sequence's other packets' interned data if needed."""
        name = table.get(iid)
        if name is not None:
            return name
        if iid not in table and not seq.swept:
            # Interned data in a packet that had no reason to be decoded yet (an earlier one).
            seq.swept = True
            for packets in self.chunks:
                for other in _all_packets(packets):
                    if other.trusted_packet_sequence_id == seq.id and other.HasField("interned_data"):
                        self._intern(other.interned_data, seq)
        if iid not in table:
            raise _Malformed(f"{what} iid {iid} is used but never defined on sequence {seq.id}")
        return table[iid]

    def _event_name(self, ev, p, seq: _Sequence) -> str:
        if ev.WhichOneof("name_field") == "name":
            return ev.name
        return self._lookup(seq.event_names, ev.name_iid, p, seq, "event name")

    def _category(self, ev, p, seq: _Sequence) -> str:
        if ev.category_iids:
            return self._lookup(seq.categories, ev.category_iids[0], p, seq, "category")
        return ev.categories[0] if ev.categories else ""

    def _args(self, annotations, p, seq: _Sequence) -> Any:
        """Top-level debug annotations (interned names) as the event's ``args``."""
        return _args_of(annotations, self._annotation_name(p, seq))

    def _annotation_name(self, p, seq: _Sequence) -> Callable[[int], str]:
        names = seq.annotation_names
        return lambda iid: names.get(iid) or self._lookup(names, iid, p, seq, "annotation name")

    # -- tracks -------------------------------------------------------------------------------

    def _track(self, d) -> None:
        """Record what a track descriptor describes; process and thread names become M events."""
        described = _describe(d, self.tracks)
        if described is None:
            return  # described again: nothing new, and its open slices stay open
        self.tracks[d.uuid], name_event = described
        if described[0][2] == _THREAD:
            self.stacks[d.uuid] = []
        elif described[0][2] == _COUNTER_TRACK:
            self.counter_names.setdefault(d.uuid, _counter_track_name(d))
        if name_event is not None:
            self.name_events.append(name_event)

    def _still_open(self) -> list[dict]:
        """The slices never ended, as B events in the order they began."""
        events = []
        for stack in self.stacks.values():
            for _, e in stack:
                b = {"pid": e["pid"], "tid": e["tid"], "ts": e["ts"], "ph": "B", "cat": "FEE",
                     "name": e["name"]}
                if "args" in e:
                    b["args"] = e["args"]
                events.append(b)
        events.sort(key=lambda e: e["ts"])
        return events

    # -- events other than slices -----------------------------------------------------------

    def _counter(self, ns: int, ev, uuid: int) -> None:
        """A counter sample; samples of one counter at one time make one "C" event."""
        name, key = self.counter_names[uuid]
        pid, tid, _ = self.tracks[uuid]
        _counter_sample(self.last_counter, self.events, name, key, pid, tid, ns / 1000, ev)

    def _instant(self, p, ev, track: tuple[int, int, str], seq: _Sequence, ns: int) -> dict:
        """An instant, object or raw event (told apart by category) as its JSON event."""
        return _instant_event(self._category(ev, p, seq), lambda: self._event_name(ev, p, seq),
                              ev.debug_annotations, self._annotation_name(p, seq), track, ns / 1000)


# -- what a track descriptor, a counter sample, an instant mean: shared with the compiled
# scanner (pyx/pftrace_scan.pyx), so that both read them the same way ------------------------------

def _incremental_clock(snapshot, seq_id: int) -> tuple[int, int] | None:
    """A ClockSnapshot's sequence-scoped clock (id 64 and up): its reading, and trace time
    (BOOTTIME) minus its time; None when the snapshot has no such clock."""
    readings = {c.clock_id: c for c in snapshot.clocks}
    ours = next((c for c in snapshot.clocks if c.clock_id >= 64), None)
    if ours is None:
        return None
    if not ours.is_incremental or (ours.unit_multiplier_ns or 1) != 1:
        raise _Malformed(f"sequence {seq_id}: clock {ours.clock_id} is not an incremental ns clock")
    trace = readings.get(6)  # BOOTTIME, the trace's clock
    return ours.timestamp, trace.timestamp - ours.timestamp if trace is not None else 0


def _starts_a_sequence(p) -> bool:
    """Whether packet ``p`` starts a packet sequence, as the first packet of our files does."""
    return bool(p.trusted_packet_sequence_id and (p.sequence_flags & 1 or p.incremental_state_cleared))


def _counter_track_name(d) -> tuple[str, str]:
    """(counter name, key) of a counter track the metadata does not name (a file cut short
    before its metadata packet): the descriptor's name, which joins the two, and one key."""
    return d.name or f"counter {d.uuid}", "value"


def _metadata_values(bundle: bytes) -> dict[str, Any]:
    """The JSON values of a ChromeEventBundle's metadata entries, by name."""
    return {m.name: json.loads(m.json_value) for m in ChromeEventBundle.FromString(bundle).metadata
            if m.WhichOneof("value") == "json_value"}


def _args_of(annotations, name_of: Callable[[int], str]) -> Any:
    """Top-level debug annotations as ``args``; ``name_of(iid)`` gives an interned name. An
    annotation named ``#args`` holds args that were not a JSON object."""
    args = {}
    for a in annotations:
        name = name_of(a.name_iid) if a.name_iid else a.name
        if name == "#args":
            return _value(a)
        args[name] = _value(a)
    return args


def _describe(d, tracks: dict[int, tuple[int, int, str]]) -> tuple[tuple[int, int, str], dict | None] | None:
    """What descriptor ``d`` says, given the tracks described so far (uuid -> (pid, tid, kind)):
    its entry, and the process or thread name event it brings (or None); None when its uuid is
    described already."""
    uuid = d.uuid
    if uuid in tracks:
        return None
    if d.HasField("thread"):
        pid, tid = d.thread.pid, d.thread.tid
        name = {"ph": "M", "pid": pid, "tid": tid, "name": "thread_name",
                "args": {"name": d.thread.thread_name}} if d.thread.thread_name else None
        return (pid, tid, _THREAD), name
    if d.HasField("process"):
        pid = d.process.pid
        name = {"ph": "M", "pid": pid, "tid": pid, "name": "process_name",
                "args": {"name": d.process.process_name}} if d.process.process_name else None
        return (pid, pid, _PROCESS), name
    if d.HasField("counter"):
        parent = tracks.get(d.parent_uuid)
        if parent is None:
            raise _Malformed(f"counter track {uuid} comes before its process track {d.parent_uuid}")
        return (parent[0], parent[0], _COUNTER_TRACK), None
    # A process's global track: its uuid is in the process's range of uuids.
    process = tracks.get(uuid >> 24 << 24)
    if process is None:
        process = next((t for t in tracks.values() if t[2] == _PROCESS), (0, 0, _PROCESS))
    return (process[0], process[0], _GLOBAL), None


def _counter_sample(last_counter: dict[str, dict], events: list, name: str, key: str, pid: int,
                    tid: int, ts: float, ev) -> None:
    """Counter ``name``'s value for ``key`` from track event ``ev``: samples of one counter at
    one time make one "C" event (``last_counter`` holds each counter's latest)."""
    if ev.WhichOneof("counter_value_field") == "double_counter_value":
        value: float = ev.double_counter_value
    else:
        value = ev.counter_value
    e = last_counter.get(name)
    if e is None or e["ts"] != ts or key in e["args"]:
        e = {"pid": pid, "tid": tid, "ts": ts, "ph": "C", "name": name, "args": {}}
        last_counter[name] = e
        events.append(e)
    e["args"][key] = value


_NO_ARGS: Any = object()  # an event with no debug annotation at all


def _instant_args(annotations, name_of: Callable[[int], str]) -> tuple[Any, int | None]:
    """An instant's args (``_NO_ARGS`` when it has none) and, for an instant on a process or
    global track, the thread that recorded it (the ``#tid`` annotation), else None."""
    tid, rest = None, []
    for a in annotations:
        if (name_of(a.name_iid) if a.name_iid else a.name) == "#tid":
            tid = a.int_value
        else:
            rest.append(a)
    return (_args_of(rest, name_of) if rest else _NO_ARGS), tid


def _instant_event(cat: str, name_of: Callable[[], str], annotations, annotation_name: Callable[[int], str],
                   track: tuple[int, int, str], ts: float) -> dict:
    """An instant, object or raw event (told apart by category) as its JSON event, from its
    debug annotations (names looked up with ``annotation_name(iid)``); the event's name is
    looked up (``name_of()``) only for the kinds that have one."""
    args, tid = _instant_args(annotations, annotation_name)
    if tid is not None:
        track = (track[0], tid, track[2])
    if cat == "raw":
        if not isinstance(args, dict) or "event" not in args:
            raise _Malformed("a raw event has no 'event' annotation")
        return args["event"]
    name = name_of()
    pid, tid, scope = track
    if cat == "instant":
        e = {"pid": pid, "tid": tid, "ts": ts, "ph": "i", "cat": "INSTANT", "name": name, "s": scope}
        if args is not _NO_ARGS:
            e["args"] = args
        return e
    if cat == "object":
        if not isinstance(args, dict) or "ph" not in args or "id" not in args:
            raise _Malformed(f"object event {name!r} lacks its 'ph' or 'id' annotation")
        e = {"pid": pid, "tid": tid, "ts": ts, "ph": args["ph"], "id": args["id"], "name": name}
        if "args" in args:
            e["args"] = args["args"]
        elif "snapshot" in args:  # written by earlier versions, which wrapped object args
            e["args"] = {"snapshot": args["snapshot"]}
        return e
    raise _Malformed(f"instant event {name!r} has unknown category {cat!r}")
