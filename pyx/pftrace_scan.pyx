# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A ``.pftrace`` straight into the viewer's slice columns, without a dict per call; or into
the report dict ``read_pftrace`` returns, several times faster than the protobuf classes.

``scan_pftrace(data)`` returns what ``_columns.scan_events`` returns for the report that
``read_pftrace`` would build from the same file, value for value and in the same order, so
``viewer/columns.py`` lays it out the same way: but BEGIN/END packets are decoded here by hand,
in C, into typed arrays. Everything rare (track descriptors, instants, counters, objects, raw
events, annotated calls, metadata) goes through the ``protobuf`` classes and the reader's own
functions for what it means (``_describe``, ``_args_of``, ``_counter_sample``,
``_instant_event``).

It follows the same contract as ``viztracer/report/pftrace_reader.py``. Whatever it does not
expect (an id used before it is interned, an END with no BEGIN, a track never described, a
builtin clock) raises ``Unsupported``, and the caller falls back to the general reader, which
knows how to read the odd cases or says, in one line, what is wrong with the file.

A file cut short (a ``--stream`` writer killed) is read up to its last whole top-level record
(``whole_length``), without the metadata packet if that is missing; both functions say whether
the file was whole, and the caller marks and announces a report that was not.
"""
from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, memset

import array as pyarray
import functools

cimport cython
import zlib

from .report.perfetto_pb2 import ClockSnapshot, TrackDescriptor, TrackEvent
from .report.pftrace_reader import (_args_of, _counter_sample, _counter_track_name, _describe,
                                    _incremental_clock, _instant_event, _Malformed, _metadata_values)

DEF TYPE_BEGIN = 1
DEF TYPE_END = 2
DEF TYPE_INSTANT = 3
DEF TYPE_COUNTER = 4


class Unsupported(Exception):
    """Not the layout the fast path expects: read the file with the general reader instead."""


cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")

include "slice_columns.pxi"


# -- protobuf wire format ------------------------------------------------------------------------

cdef struct Cursor:
    const uint8_t* p
    const uint8_t* end


cdef struct Field:
    uint32_t number
    int wire
    uint64_t value          # a varint's value, a fixed64's bits, or a length
    const uint8_t* data     # LEN fields: their bytes


cdef inline int read_varint(Cursor* c, uint64_t* out) noexcept:
    cdef uint64_t v = 0
    cdef int shift = 0
    cdef uint8_t b
    while c.p < c.end and shift < 64:
        b = c.p[0]
        c.p += 1
        v |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = v
            return 0
        shift += 7
    return -1


cdef inline int next_field(Cursor* c, Field* f) noexcept:
    """1: ``f`` is the next field; 0: the end; -1: malformed."""
    cdef uint64_t key
    if c.p >= c.end:
        return 0
    if read_varint(c, &key) < 0:
        return -1
    f.number = <uint32_t>(key >> 3)
    f.wire = <int>(key & 7)
    if f.wire == 0:
        return 1 if read_varint(c, &f.value) == 0 else -1
    if f.wire == 2:
        if read_varint(c, &f.value) < 0 or f.value > <uint64_t>(c.end - c.p):
            return -1
        f.data = c.p
        c.p += f.value
        return 1
    if f.wire == 1:
        if c.end - c.p < 8:
            return -1
        memcpy(&f.value, c.p, 8)
        c.p += 8
        return 1
    if f.wire == 5:
        if c.end - c.p < 4:
            return -1
        f.value = 0
        memcpy(&f.value, c.p, 4)
        c.p += 4
        return 1
    return -1


cdef inline bytes field_bytes(Field* f):
    return PyBytes_FromStringAndSize(<const char*>f.data, <Py_ssize_t>f.value)


cdef inline double us(int64_t ns) except? -1.0:
    """``ns / 1000`` as Python computes it: exact in doubles below 2**53, by Python's own
    correctly rounded integer division above (a double would round ``ns`` first)."""
    if -9007199254740992 < ns < 9007199254740992:
        return <double>ns / 1000.0
    return (<object>ns) / 1000


# -- per track and per sequence state ------------------------------------------------------------

cdef class Stack:
    """The calls open on one thread track: start (ns), global name id, args."""
    cdef int64_t* starts
    cdef int32_t* names
    cdef list args
    cdef Py_ssize_t n, cap

    def __cinit__(self):
        self.args = []

    def __dealloc__(self):
        free(self.starts)
        free(self.names)

    cdef int push(self, int64_t start, int32_t name, object args) except -1:
        cdef int64_t* s
        cdef int32_t* m
        if self.n == self.cap:
            self.cap = self.cap * 2 + 64
            s = <int64_t*>realloc(self.starts, self.cap * sizeof(int64_t))
            if s == NULL:
                raise MemoryError()
            self.starts = s
            m = <int32_t*>realloc(self.names, self.cap * sizeof(int32_t))
            if m == NULL:
                raise MemoryError()
            self.names = m
        self.starts[self.n] = start
        self.names[self.n] = name
        self.args.append(args)
        self.n += 1
        return 0


cdef class Track:
    cdef object pid, tid
    cdef str kind           # "t", "p", "g" or "c", as the reader's
    cdef Stack stack        # thread tracks only


cdef class Seq:
    """What one packet sequence has set (see the reader's _Sequence)."""
    cdef dict names, cats, anns
    cdef int32_t* gid       # event name iid -> global name id, -1 when not looked up yet
    cdef Py_ssize_t gid_cap
    cdef uint64_t default_track
    cdef bint incremental
    cdef int64_t last, offset
    cdef uint64_t cached_uuid
    cdef Track cached

    def __cinit__(self):
        self.clear()

    def __dealloc__(self):
        free(self.gid)

    def event_name(self, ev):
        """A track event's name: its own, or interned on this sequence."""
        if ev.WhichOneof("name_field") == "name":
            return ev.name
        text = self.names.get(ev.name_iid)
        if text is None:
            raise Unsupported("name used before it is interned")
        return text

    def annotation_name(self, iid):
        text = self.anns.get(iid)
        if text is None:
            raise Unsupported("annotation name used before it is interned")
        return text

    cdef clear(self):
        self.names, self.cats, self.anns = {}, {}, {}
        if self.gid != NULL:
            memset(self.gid, 0xFF, self.gid_cap * sizeof(int32_t))
        self.default_track = 0
        self.incremental = False
        self.last = self.offset = 0
        self.cached_uuid = 0
        self.cached = None


# -- the scan ------------------------------------------------------------------------------------

cdef class Scanner:
    cdef SliceColumns cols      # the calls, unless ``dicts``
    cdef list gnames            # global names, by id
    cdef dict gname_ids
    cdef list name_events       # M events, in descriptor order
    cdef list events            # other events, in file order
    cdef dict tracks            # uuid -> Track
    cdef dict entries           # uuid -> (pid, tid, kind), as the reader keeps them
    cdef dict seqs              # sequence id -> Seq
    cdef dict counter_names     # uuid -> (name, key)
    cdef dict last_counter
    cdef bint dicts             # calls as X event dicts in ``events`` (the reader's report)
    cdef int first_packet       # -1 before the first packet, then 1 if it starts a sequence, else 0

    def __cinit__(self, dict metadata, bint dicts=False):
        self.dicts = dicts
        self.first_packet = -1
        self.cols = SliceColumns()
        self.gnames, self.gname_ids = [], {}
        self.name_events, self.events = [], []
        self.tracks, self.entries, self.seqs, self.last_counter = {}, {}, {}, {}
        tracks = metadata.get("viztracer_counter_tracks", {})
        if not isinstance(tracks, dict) or any(not isinstance(v, list) or len(v) != 2 for v in tracks.values()):
            raise Unsupported("counter tracks")
        self.counter_names = {int(uuid): tuple(v) for uuid, v in tracks.items()}

    cdef Seq seq_of(self, uint64_t seq_id):
        seq = self.seqs.get(seq_id)
        if seq is None:
            seq = self.seqs[seq_id] = Seq()
        return <Seq>seq

    cdef int32_t name_id(self, str text) except -2:
        found = self.gname_ids.get(text)
        if found is None:
            found = self.gname_ids[text] = len(self.gnames)
            self.gnames.append(text)
        return <int32_t>found

    cdef int32_t iid_name(self, Seq seq, uint64_t iid) except -2:
        """The global name id of event name ``iid`` on ``seq``."""
        cdef int32_t* grown
        cdef Py_ssize_t cap
        if <Py_ssize_t>iid >= seq.gid_cap:
            if iid > 50_000_000:
                raise Unsupported("name iid")
            cap = <Py_ssize_t>iid * 2 + 64
            grown = <int32_t*>realloc(seq.gid, cap * sizeof(int32_t))
            if grown == NULL:
                raise MemoryError()
            memset(grown + seq.gid_cap, 0xFF, (cap - seq.gid_cap) * sizeof(int32_t))
            seq.gid, seq.gid_cap = grown, cap
        if seq.gid[iid] < 0:
            text = seq.names.get(iid)
            if text is None:
                raise Unsupported("name used before it is interned")
            seq.gid[iid] = self.name_id(text)
        return seq.gid[iid]

    cdef Track track_of(self, Seq seq, uint64_t uuid):
        if uuid == seq.cached_uuid and seq.cached is not None:
            return seq.cached
        t = self.tracks.get(uuid)
        if t is None:
            raise Unsupported("event on an undescribed track")
        seq.cached_uuid, seq.cached = uuid, t
        return <Track>t

    # -- buffers and packets ----------------------------------------------------------------

    cdef int scan_trace(self, bytes data, Py_ssize_t size=-1) except -1:
        """Every packet (field 1) of a serialized Trace (its first ``size`` bytes, if given)."""
        cdef Cursor c
        cdef Field f
        cdef int r
        c.p = <const uint8_t*>PyBytes_AS_STRING(data)
        c.end = c.p + (PyBytes_GET_SIZE(data) if size < 0 else size)
        while True:
            r = next_field(&c, &f)
            if r == 0:
                return 0
            if r < 0 or f.number != 1 or f.wire != 2:
                raise Unsupported("framing")
            self.packet(f.data, f.data + f.value)

    cdef int packet(self, const uint8_t* p, const uint8_t* end) except -1:
        cdef Cursor c
        cdef Field f
        cdef Field te, interned, defaults, clock, descriptor, compressed
        cdef uint64_t ts = 0, seq_id = 0, flags = 0
        cdef bint has_te = False, has_interned = False, has_defaults = False, has_clock = False
        cdef bint has_descriptor = False, has_compressed = False, cleared = False
        cdef int r
        cdef int64_t ns
        cdef Seq seq
        c.p, c.end = p, end
        while True:
            r = next_field(&c, &f)
            if r == 0:
                break
            if r < 0:
                raise Unsupported("packet")
            if f.number == 8:
                ts = f.value
            elif f.number == 10:
                seq_id = f.value
            elif f.number == 11 and f.wire == 2:
                te, has_te = f, True
            elif f.number == 12 and f.wire == 2:
                interned, has_interned = f, True
            elif f.number == 13:
                flags = f.value
            elif f.number == 41:
                cleared = f.value != 0
            elif f.number == 59 and f.wire == 2:
                defaults, has_defaults = f, True
            elif f.number == 6 and f.wire == 2:
                clock, has_clock = f, True
            elif f.number == 60 and f.wire == 2:
                descriptor, has_descriptor = f, True
            elif f.number == 50 and f.wire == 2:
                compressed, has_compressed = f, True
        if has_compressed:
            try:
                inner = zlib.decompress(field_bytes(&compressed))
            except zlib.error:
                raise Unsupported("chunk")
            return self.scan_trace(inner)
        if self.first_packet < 0:
            self.first_packet = 1 if seq_id != 0 and (flags & 1 or cleared) else 0
        seq = self.seq_of(seq_id)
        if seq.incremental:
            seq.last += <int64_t>ts
            ns = seq.last + seq.offset
        else:
            ns = <int64_t>ts
        if flags & 1 or cleared:
            seq.clear()
        if has_defaults:
            self.defaults(seq, &defaults)
        if has_interned:
            self.intern(seq, &interned)
        if has_clock:
            self.clock(seq, field_bytes(&clock))
        if has_descriptor:
            self.describe(TrackDescriptor.FromString(field_bytes(&descriptor)))
        if has_te:
            self.track_event(seq, &te, ns)
        return 0

    cdef int defaults(self, Seq seq, Field* f) except -1:
        cdef Cursor c, d
        cdef Field g, h
        c.p, c.end = f.data, f.data + f.value
        seq.default_track = 0
        seq.cached = None
        while next_field(&c, &g) == 1:
            if g.number == 58 and g.wire == 0 and g.value != 0 and g.value < 64:
                raise Unsupported("builtin clock")
            if g.number == 11 and g.wire == 2:
                d.p, d.end = g.data, g.data + g.value
                while next_field(&d, &h) == 1:
                    if h.number == 11 and h.wire == 0:
                        seq.default_track = h.value
        return 0

    cdef int intern(self, Seq seq, Field* f) except -1:
        cdef Cursor c, d
        cdef Field g, h
        cdef uint64_t iid
        cdef dict table
        c.p, c.end = f.data, f.data + f.value
        while next_field(&c, &g) == 1:
            if g.wire != 2 or g.number not in (1, 2, 3):
                continue
            table = seq.cats if g.number == 1 else (seq.names if g.number == 2 else seq.anns)
            d.p, d.end = g.data, g.data + g.value
            iid = 0
            text = None
            while next_field(&d, &h) == 1:
                if h.number == 1 and h.wire == 0:
                    iid = h.value
                elif h.number == 2 and h.wire == 2:
                    text = field_bytes(&h).decode("utf-8", "replace")
            if text is not None:
                table[iid] = text
                if g.number == 2 and <Py_ssize_t>iid < seq.gid_cap:
                    seq.gid[iid] = -1
        return 0

    cdef int clock(self, Seq seq, bytes data) except -1:
        try:
            reading = _incremental_clock(ClockSnapshot.FromString(data), 0)
        except _Malformed as e:
            raise Unsupported(str(e))
        if reading is not None:
            seq.incremental = True
            seq.last, seq.offset = reading
        return 0

    cdef int describe(self, d) except -1:
        """A track descriptor, read by the reader's own ``_describe``."""
        cdef Track t
        try:
            described = _describe(d, self.entries)
        except _Malformed as e:
            raise Unsupported(str(e))
        if described is None:
            return 0
        entry, name_event = described
        self.entries[d.uuid] = entry
        t = Track()
        t.pid, t.tid, t.kind = entry
        if t.kind == "t":
            t.stack = Stack()
        elif t.kind == "c" and d.uuid not in self.counter_names:
            self.counter_names[d.uuid] = _counter_track_name(d)
        if name_event is not None:
            self.name_events.append(name_event)
        self.tracks[d.uuid] = t
        return 0

    # -- track events -----------------------------------------------------------------------

    cdef int track_event(self, Seq seq, Field* f, int64_t ns) except -1:
        cdef Cursor c
        cdef Field g
        cdef uint64_t type_ = 0, name_iid = 0, uuid = 0
        cdef bint simple = True
        cdef Track t
        cdef Stack s
        cdef int32_t name
        cdef double start_us, dur_us
        c.p, c.end = f.data, f.data + f.value
        while next_field(&c, &g) == 1:
            if g.number == 9 and g.wire == 0:
                type_ = g.value
            elif g.number == 10 and g.wire == 0:
                name_iid = g.value
            elif g.number == 11 and g.wire == 0:
                uuid = g.value
            elif g.number != 3:     # categories are only read for instants
                simple = False      # annotations, a name string, counter values...
        if c.p != c.end:
            raise Unsupported("track event")
        t = self.track_of(seq, uuid or seq.default_track)
        if type_ == TYPE_END:
            s = t.stack
            if s is None or s.n == 0:
                raise Unsupported("END without BEGIN")
            s.n -= 1
            args = s.args.pop()
            if self.dicts:
                e = {"pid": t.pid, "tid": t.tid, "ts": us(s.starts[s.n]), "ph": "X", "cat": "FEE",
                     "dur": us(ns - s.starts[s.n]), "name": self.gnames[s.names[s.n]]}
                if args is not None:
                    e["args"] = args
                self.events.append(e)
                return 0
            return self.cols.add(us(s.starts[s.n]), us(ns - s.starts[s.n]), self.gnames[s.names[s.n]],
                                 t.pid, t.tid, args)
        if type_ == TYPE_BEGIN:
            if t.stack is None:
                raise Unsupported("BEGIN on a track that is not a thread's")
            if simple:
                return t.stack.push(ns, self.iid_name(seq, name_iid), None)
            ev = TrackEvent.FromString(field_bytes(f))
            name = self.name_id(seq.event_name(ev))
            args = _args_of(ev.debug_annotations, seq.annotation_name) if ev.debug_annotations else None
            return t.stack.push(ns, name, args)
        ev = TrackEvent.FromString(field_bytes(f))
        if type_ == TYPE_COUNTER:
            return self.counter(ns, ev, uuid or seq.default_track, t)
        if type_ == TYPE_INSTANT:
            self.events.append(self.instant(seq, ev, t, ns))
            return 0
        raise Unsupported("track event type")

    cdef int counter(self, int64_t ns, ev, uint64_t uuid, Track t) except -1:
        pair = self.counter_names.get(uuid)
        if pair is None:
            raise Unsupported("counter track not in the metadata")
        _counter_sample(self.last_counter, self.events, pair[0], pair[1], t.pid, t.tid, us(ns), ev)
        return 0

    cdef object instant(self, Seq seq, ev, Track t, int64_t ns):
        if ev.category_iids:
            cat = seq.cats.get(ev.category_iids[0])
            if cat is None:
                raise Unsupported("category used before it is interned")
        else:
            cat = ev.categories[0] if ev.categories else ""
        try:
            return _instant_event(cat, functools.partial(seq.event_name, ev), ev.debug_annotations,
                                  seq.annotation_name, (t.pid, t.tid, t.kind), us(ns))
        except _Malformed as e:
            raise Unsupported(str(e))

    # -- the result -------------------------------------------------------------------------

    def result(self):
        """``scan_events``' tuple (its ``others``: name events, other events, calls left open)."""
        cdef Py_ssize_t i
        opened = []
        for t in self.tracks.values():
            s = (<Track>t).stack
            if s is None:
                continue
            for i in range((<Stack>s).n):
                b = {"pid": (<Track>t).pid, "tid": (<Track>t).tid, "ts": us((<Stack>s).starts[i]),
                     "ph": "B", "cat": "FEE", "name": self.gnames[(<Stack>s).names[i]]}
                if (<Stack>s).args[i] is not None:
                    b["args"] = (<Stack>s).args[i]
                opened.append(b)
        opened.sort(key=lambda e: e["ts"])
        return self.cols.result(self.name_events + self.events + opened)


def whole_length(bytes data):
    """How many bytes at the start of ``data`` are whole top-level records (``0x0a``, a varint
    length, that many bytes): ``len(data)`` for a whole file, less for one cut short inside its
    last record. Bytes that are not a record's tag end the walk as if whole: the parser judges."""
    cdef const uint8_t* base = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef const uint8_t* start
    cdef Cursor c
    cdef uint64_t length
    c.p, c.end = base, base + PyBytes_GET_SIZE(data)
    while c.p < c.end:
        start = c.p
        if c.p[0] != 0x0A:
            break
        c.p += 1
        if read_varint(&c, &length) < 0:
            if c.p >= c.end:        # the file ends inside the length
                return start - base
            break                   # a varint too long: not a length at all
        if length > <uint64_t>(c.end - c.p):
            return start - base
        c.p += length
    return PyBytes_GET_SIZE(data)


def read_metadata(bytes data, Py_ssize_t size=-1):
    """The JSON values of the last ChromeMetadata packet of a Trace (its first ``size`` bytes,
    if given), or None. Deflated chunks are searched from the last one back, inflating only
    as many as needed."""
    cdef Cursor c, d
    cdef Field f, g
    candidates = []     # (is_chunk, bytes) of the packets that hold metadata or a chunk
    c.p = <const uint8_t*>PyBytes_AS_STRING(data)
    c.end = c.p + (PyBytes_GET_SIZE(data) if size < 0 else size)
    while True:
        r = next_field(&c, &f)
        if r == 0:
            break
        if r < 0 or f.number != 1 or f.wire != 2:
            raise Unsupported("framing")
        d.p, d.end = f.data, f.data + f.value
        while True:
            r = next_field(&d, &g)
            if r <= 0:
                break
            if g.wire == 2 and g.number in (5, 50):
                candidates.append((g.number == 50, field_bytes(&g)))
    for is_chunk, payload in reversed(candidates):
        if not is_chunk:
            return _metadata_values(payload)
        try:
            found = read_metadata(zlib.decompress(payload))
        except zlib.error:
            raise Unsupported("chunk")
        if found is not None:
            return found
    return None


cdef tuple _scan(bytes data, bint dicts):
    """The scanner after its walk over ``data``'s whole records, the metadata it read, and
    whether the file was whole (every record complete, the metadata packet there)."""
    cdef Py_ssize_t size = whole_length(data)
    cdef Scanner scanner
    if size == 0:
        raise Unsupported("no whole packet")
    metadata = read_metadata(data, size)
    whole = metadata is not None and size == PyBytes_GET_SIZE(data)
    scanner = Scanner(metadata or {}, dicts)
    scanner.scan_trace(data, size)
    if metadata is None and scanner.first_packet != 1:
        # without its metadata, a file is taken for ours cut short only if it starts as ours do
        raise Unsupported("no metadata packet, and the file does not start a packet sequence")
    return scanner, metadata or {}, whole


def read_report(bytes data):
    """``(report, whole)``: the report dict ``read_pftrace`` gives for ``data``, the same events
    in the same order, and False when the file was cut short (read up to the cut)."""
    scanner, metadata, whole = _scan(data, True)
    events = scanner.result()[8]
    report = {"traceEvents": events}
    for key in ("viztracer_metadata", "file_info"):
        if key in metadata:
            report[key] = metadata[key]
    return report, whole


def scan_pftrace(bytes data):
    """``(columns tuple as scan_events gives, metadata dict, whole)`` for the Perfetto trace
    ``data``; ``whole`` is False when the file was cut short (read up to the cut)."""
    scanner, metadata, whole = _scan(data, False)
    return scanner.result(), metadata, whole
