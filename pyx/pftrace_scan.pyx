# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The ``.pftrace`` reader: a Perfetto trace written by viztracer, decoded by hand.

``read_report(data)`` gives the report dict ``read_pftrace`` returns (the Chrome JSON report's
shape); ``scan_pftrace(data)`` gives the viewer what ``_columns.scan_events`` would give for
that report, value for value and in the same order, with the calls in typed arrays instead of
a dict each. Both follow the contract written down in ``viztracer/report/pftrace_reader.py``.

Every packet is decoded here, field by field, with the field numbers and the varint of
``protowire.pxd`` (the writer's too): the BEGIN/END packets that are nearly all of a file in C
without a Python object, the rest (descriptors, annotated calls, instants, counters, objects,
clocks, metadata) into the Python values the report holds. A file that breaks the contract
raises ``Malformed``, whose message says in one line what is wrong; the caller puts it in its
ReportError.

A file cut short (a ``--stream`` writer killed) is read up to its last whole top-level record
(``whole_length``), without the metadata packet if that is missing; both functions say whether
the file was whole, and the caller marks and announces a report that was not.
"""
cimport cython
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.math cimport NAN
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy, memset

import json
import zlib

cimport protowire as pw
from protowire cimport Cursor, Field, next_field, read_varint
from viztracer._slice_columns cimport PROGRESS_EVERY, Progress, SliceColumns


cdef extern from "inflate_ahead.h" nogil:
    ctypedef struct vt_chunk:
        const uint8_t* src
        size_t len
    ctypedef struct vt_slot:
        uint8_t* data
        size_t size
        int ok
    ctypedef struct vt_ahead:
        pass
    vt_ahead* vt_ahead_start(const vt_chunk* chunks, Py_ssize_t n)
    vt_slot* vt_ahead_take(vt_ahead* a, Py_ssize_t i)
    void vt_ahead_release(vt_ahead* a, Py_ssize_t i)
    void vt_ahead_stop(vt_ahead* a)


class Malformed(Exception):
    """Not a Perfetto trace written by viztracer: the message says what is wrong, in one line."""


# what Malformed says of a file protobuf itself would not parse, and of a chunk zlib can't inflate
cdef str NOT_A_TRACE = "not a Perfetto trace, or truncated"
cdef str BAD_CHUNK = "a compressed chunk does not inflate (truncated?)"
cdef str UNDEFINED = "an event is on an undefined track, or ends a slice never begun"

# What a track is: the "s" scope of the instants on it, or a counter track.
cdef str THREAD = "t", PROCESS = "p", GLOBAL = "g", COUNTER_TRACK = "c"

cdef object NO_ARGS = object()     # an instant with no debug annotation at all

cdef enum:
    MAX_DEPTH = 100             # protobuf's own limit on nested messages: deeper is no file of ours
    CACHED_IIDS = 1 << 24       # a name iid below this has a slot in its sequence's name cache


# -- the wire format, with errors ------------------------------------------------------------------

cdef inline void enter(Cursor* c, Field* f) noexcept:
    """Point ``c`` at the bytes of the LEN field ``f`` (a sub-message)."""
    c.p = f.data
    c.end = f.data + f.value


cdef inline int fields(Cursor* c, Field* f) except -1:
    """``next_field``, with broken framing raised as the reader says it."""
    cdef int r = next_field(c, f)
    if r < 0:
        return not_a_trace()
    return r


cdef int not_a_trace() except -1:
    # out of line, so that fields() stays small enough to be inlined into the loops
    raise Malformed(NOT_A_TRACE)


cdef inline bytes bytes_of(Field* f):
    return PyBytes_FromStringAndSize(<const char*>f.data, <Py_ssize_t>f.value)


cdef inline str text_of(Field* f):
    """A string field's text; bytes that are not UTF-8 (no file of ours) become U+FFFD."""
    return PyUnicode_DecodeUTF8(<const char*>f.data, <Py_ssize_t>f.value, "replace")


cdef inline object json_of(Field* f):
    """A string field holding JSON, as its value (UnicodeDecodeError, ValueError when not)."""
    return json.loads(PyUnicode_DecodeUTF8(<const char*>f.data, <Py_ssize_t>f.value, NULL))


cdef inline double us(int64_t ns) except? -1.0:
    """``ns / 1000`` as Python computes it: exact in doubles below 2**53, by Python's own
    correctly rounded integer division above (a double would round ``ns`` first)."""
    if -(<int64_t>1 << 53) < ns < (<int64_t>1 << 53):     # typed: a literal 2**53 is a Python int
        return <double>ns / 1000.0
    return us_of_big(ns)


cdef double us_of_big(int64_t ns) except? -1.0:
    # out of line: the Python division would keep us() from being inlined
    return (<object>ns) / 1000


cdef bytes inflate(Field* f):
    try:
        return zlib.decompress(bytes_of(f))
    except zlib.error:
        raise Malformed(BAD_CHUNK) from None


# -- the messages read into Python values ----------------------------------------------------------

cdef struct Annotation:
    int name_kind           # 0, or which of the name oneof came last: name_iid or name
    uint64_t name_iid
    Field name
    int value_kind          # 0, or which of the value oneof came last
    Field value
    bint entries            # has dict_entries
    bint values             # has array_values
    bint is_tid             # an instant's "#tid" (the thread that recorded it), not an arg
    const uint8_t* p        # its bytes, where its entries or values are read
    const uint8_t* end


cdef int parse_annotation(const uint8_t* p, const uint8_t* end, Annotation* a) except -1:
    """A DebugAnnotation's fields (a field with another wire type than its own is unknown, and
    skipped, as protobuf does)."""
    cdef Cursor c
    cdef Field f
    memset(a, 0, sizeof(Annotation))
    a.p, a.end = p, end
    c.p, c.end = p, end
    while fields(&c, &f):
        if f.wire == pw.WIRE_VARINT:
            if f.number == pw.ANNOTATION_NAME_IID:
                a.name_kind, a.name_iid = f.number, f.value
            elif f.number == pw.ANNOTATION_BOOL or f.number == pw.ANNOTATION_UINT or f.number == pw.ANNOTATION_INT:
                a.value_kind, a.value = f.number, f
        elif f.wire == pw.WIRE_LEN:
            if f.number == pw.ANNOTATION_NAME:
                a.name_kind, a.name = f.number, f
            elif f.number == pw.ANNOTATION_STRING or f.number == pw.ANNOTATION_LEGACY_JSON:
                a.value_kind, a.value = f.number, f
            elif f.number == pw.ANNOTATION_DICT_ENTRIES:
                a.entries = True
            elif f.number == pw.ANNOTATION_ARRAY_VALUES:
                a.values = True
        elif f.wire == pw.WIRE_I64 and f.number == pw.ANNOTATION_DOUBLE:
            a.value_kind, a.value = f.number, f
    return 0


cdef object annotation_value(Annotation* a, int depth):
    """A debug annotation's value as the JSON value it was made from."""
    cdef double d
    cdef int k = a.value_kind
    cdef Cursor c
    cdef Field f
    cdef Annotation inner
    if depth > MAX_DEPTH:
        raise Malformed(NOT_A_TRACE)
    if k == pw.ANNOTATION_BOOL:
        return a.value.value != 0
    if k == pw.ANNOTATION_UINT:
        return a.value.value
    if k == pw.ANNOTATION_INT:
        return <int64_t>a.value.value
    if k == pw.ANNOTATION_DOUBLE:
        memcpy(&d, &a.value.value, 8)
        return d
    if k == pw.ANNOTATION_STRING:
        return text_of(&a.value)
    if k == pw.ANNOTATION_LEGACY_JSON:
        return json_of(&a.value)
    c.p, c.end = a.p, a.end
    if a.entries:
        entries = {}
        while fields(&c, &f):
            if f.number == pw.ANNOTATION_DICT_ENTRIES and f.wire == pw.WIRE_LEN:
                parse_annotation(f.data, f.data + f.value, &inner)
                # an entry is named by its string (an interned name means none, as in protobuf)
                key = text_of(&inner.name) if inner.name_kind == pw.ANNOTATION_NAME else ""
                entries[key] = annotation_value(&inner, depth + 1)
        return entries
    if a.values:
        values = []
        while fields(&c, &f):
            if f.number == pw.ANNOTATION_ARRAY_VALUES and f.wire == pw.WIRE_LEN:
                parse_annotation(f.data, f.data + f.value, &inner)
                values.append(annotation_value(&inner, depth + 1))
        return values
    return {}


cdef struct Event:
    uint64_t type           # 0 unless one of TrackEvent.Type's values (a closed enum)
    int name_kind           # 0, or which of the name oneof came last: name_iid or name
    uint64_t name_iid
    Field name
    uint64_t track_uuid
    bint has_category_iid
    uint64_t category_iid   # the first of category_iids
    bint has_category
    Field category          # the first of categories
    int counter_kind        # 0, or which of the counter value oneof came last
    uint64_t counter
    Py_ssize_t annotations  # how many debug annotations
    const uint8_t* p        # its bytes, where the annotations are read
    const uint8_t* end


cdef int parse_event(Field* te, Event* ev) except -1:
    cdef Cursor c, packed
    cdef Field f
    memset(ev, 0, sizeof(Event))
    enter(&c, te)
    ev.p, ev.end = c.p, c.end
    while fields(&c, &f):
        if f.wire == pw.WIRE_VARINT:
            if f.number == pw.EVENT_TYPE:
                if f.value <= pw.TYPE_COUNTER:
                    ev.type = f.value
            elif f.number == pw.EVENT_NAME_IID:
                ev.name_kind, ev.name_iid = f.number, f.value
            elif f.number == pw.EVENT_TRACK_UUID:
                ev.track_uuid = f.value
            elif f.number == pw.EVENT_CATEGORY_IIDS:
                if not ev.has_category_iid:
                    ev.has_category_iid, ev.category_iid = True, f.value
            elif f.number == pw.EVENT_COUNTER_VALUE:
                ev.counter_kind, ev.counter = f.number, f.value
        elif f.wire == pw.WIRE_LEN:
            if f.number == pw.EVENT_DEBUG_ANNOTATIONS:
                ev.annotations += 1
            elif f.number == pw.EVENT_NAME:
                ev.name_kind, ev.name = f.number, f
            elif f.number == pw.EVENT_CATEGORIES:
                if not ev.has_category:
                    ev.has_category, ev.category = True, f
            elif f.number == pw.EVENT_CATEGORY_IIDS and f.value and not ev.has_category_iid:
                enter(&packed, &f)      # packed, as proto3 writers do
                if read_varint(&packed, &ev.category_iid) < 0:
                    raise Malformed(NOT_A_TRACE)
                ev.has_category_iid = True
        elif f.wire == pw.WIRE_I64 and f.number == pw.EVENT_DOUBLE_COUNTER_VALUE:
            ev.counter_kind, ev.counter = f.number, f.value
    return 0


cdef inline int quick_varint(Cursor* c, uint64_t* out) noexcept nogil:
    """``read_varint``, with the one-byte varints that most fields are taken at once."""
    if c.p < c.end and c.p[0] < 0x80:
        out[0] = c.p[0]
        c.p += 1
        return 0
    return read_varint(c, out)


cdef int quick_packet(const uint8_t* p, const uint8_t* end, uint64_t* ts, uint64_t* seq_id,
                      Event* ev) noexcept nogil:
    """Decode a packet holding nothing but a timestamp, its sequence id and a track event of
    nothing but a type, a name iid and a track uuid: what a call's BEGIN or END is, so nearly
    every packet of a trace. 0 for any other packet (or broken framing): ``Scanner.packet``
    then reads it field by field, and says what is wrong. What it fills is what the full
    parse would."""
    cdef Cursor c, e
    cdef uint64_t key, v
    cdef bint has_event = False
    c.p, c.end = p, end
    e.p = e.end = NULL
    ts[0] = seq_id[0] = 0
    while c.p < c.end:
        if quick_varint(&c, &key) < 0:
            return 0
        if key == pw.tag(pw.PACKET_TIMESTAMP, pw.WIRE_VARINT):
            if quick_varint(&c, ts) < 0:
                return 0
        elif key == pw.tag(pw.PACKET_SEQUENCE_ID, pw.WIRE_VARINT):
            if quick_varint(&c, &v) < 0:
                return 0
            seq_id[0] = <uint32_t>v
        elif key == pw.tag(pw.PACKET_TRACK_EVENT, pw.WIRE_LEN):
            if quick_varint(&c, &v) < 0 or v > <uint64_t>(c.end - c.p):
                return 0
            e.p, e.end = c.p, c.p + v
            c.p += v
            has_event = True
        else:
            return 0
    if not has_event:
        return 0
    # field by field, not memset: a memset of the struct was a third of the time of a packet
    # (the name and category Fields stay unset: their kinds say they are absent)
    ev.type = ev.name_iid = ev.track_uuid = ev.category_iid = ev.counter = 0
    ev.name_kind = ev.counter_kind = 0
    ev.has_category_iid = ev.has_category = False
    ev.annotations = 0
    ev.p, ev.end = e.p, e.end
    while e.p < e.end:
        if quick_varint(&e, &key) < 0 or quick_varint(&e, &v) < 0:
            return 0
        if key == pw.tag(pw.EVENT_TYPE, pw.WIRE_VARINT):
            if v <= pw.TYPE_COUNTER:
                ev.type = v
        elif key == pw.tag(pw.EVENT_NAME_IID, pw.WIRE_VARINT):
            ev.name_kind, ev.name_iid = pw.EVENT_NAME_IID, v
        elif key == pw.tag(pw.EVENT_TRACK_UUID, pw.WIRE_VARINT):
            ev.track_uuid = v
        else:
            return 0
    return 1


cdef Annotation* parse_annotations(Event* ev) except NULL:
    """The event's debug annotations, in order (``ev.annotations`` of them; free() the array)."""
    cdef Annotation* anns = <Annotation*>malloc((ev.annotations + 1) * sizeof(Annotation))
    cdef Cursor c
    cdef Field f
    cdef Py_ssize_t i = 0
    if anns == NULL:
        raise MemoryError()
    c.p, c.end = ev.p, ev.end
    try:
        while fields(&c, &f):
            if f.number == pw.EVENT_DEBUG_ANNOTATIONS and f.wire == pw.WIRE_LEN:
                parse_annotation(f.data, f.data + f.value, &anns[i])
                i += 1
    except BaseException:
        free(anns)
        raise
    return anns


cdef dict metadata_values(Field* bundle):
    """The JSON values of a ChromeEventBundle's metadata entries, by name."""
    cdef Cursor c, d
    cdef Field f, g, value
    cdef int kind
    values = {}
    enter(&c, bundle)
    while fields(&c, &f):
        if f.number != pw.BUNDLE_METADATA or f.wire != pw.WIRE_LEN:
            continue
        enter(&d, &f)
        name = ""
        kind = 0
        while fields(&d, &g):
            if g.number == pw.METADATA_NAME and g.wire == pw.WIRE_LEN:
                name = text_of(&g)
            elif (g.wire == pw.WIRE_LEN and (g.number == pw.METADATA_STRING or g.number == pw.METADATA_JSON)) \
                    or (g.wire == pw.WIRE_VARINT and (g.number == pw.METADATA_BOOL or g.number == pw.METADATA_INT)):
                kind, value = g.number, g
        if kind == pw.METADATA_JSON:
            values[name] = json_of(&value)
    return values


# -- per track and per sequence state ------------------------------------------------------------

@cython.final
cdef class Stack:
    """The calls open on one thread track: start (ns), global name id, position in the slice
    columns (``SliceColumns.open_ids``), whether it has args. The args themselves are in
    ``args``, only those that are not None: a stack too, so a bare call costs no Python
    object."""
    cdef int64_t* starts
    cdef int32_t* names
    cdef Py_ssize_t* slots
    cdef uint8_t* has_args
    cdef list args
    cdef Py_ssize_t n, cap

    def __cinit__(self):
        self.args = []

    def __dealloc__(self):
        free(self.starts)
        free(self.names)
        free(self.slots)
        free(self.has_args)

    cdef int grow(self) except -1:
        cdef Py_ssize_t cap = self.cap * 2 + 64
        cdef int64_t* s = <int64_t*>realloc(self.starts, cap * sizeof(int64_t))
        if s == NULL:
            raise MemoryError()
        self.starts = s
        cdef int32_t* m = <int32_t*>realloc(self.names, cap * sizeof(int32_t))
        if m == NULL:
            raise MemoryError()
        self.names = m
        cdef Py_ssize_t* k = <Py_ssize_t*>realloc(self.slots, cap * sizeof(Py_ssize_t))
        if k == NULL:
            raise MemoryError()
        self.slots = k
        cdef uint8_t* a = <uint8_t*>realloc(self.has_args, cap * sizeof(uint8_t))
        if a == NULL:
            raise MemoryError()
        self.has_args = a
        self.cap = cap
        return 0

    cdef inline int push(self, int64_t start, int32_t name, object args, Py_ssize_t slot) except -1:
        if self.n == self.cap:
            self.grow()
        self.starts[self.n] = start
        self.names[self.n] = name
        self.slots[self.n] = slot
        self.has_args[self.n] = args is not None
        if args is not None:
            self.args.append(args)
        self.n += 1
        return 0

    cdef inline object pop_args(self):
        """The args of the call on top, taken off with it (``n`` is lowered by the caller)."""
        if self.has_args[self.n]:
            return self.args.pop()
        return None

    cdef list open_args(self):
        """The args of every open call, None for those without, bottom first."""
        cdef Py_ssize_t i, k = 0
        out = []
        for i in range(self.n):
            if self.has_args[i]:
                out.append(self.args[k])
                k += 1
            else:
                out.append(None)
        return out


@cython.final
cdef class Track:
    """What a track descriptor said: pid, tid (the pid on a process-wide track), what it is."""
    cdef object pid, tid
    cdef str kind           # THREAD, PROCESS, GLOBAL or COUNTER_TRACK
    cdef Stack stack        # thread tracks only
    cdef int column         # its track id in the slice columns, -1 until its first slice ends

    def __cinit__(self):
        self.column = -1


@cython.final
cdef class Seq:
    """What one packet sequence has set: interned strings, its default track, its clock."""
    cdef uint64_t id
    cdef dict names, cats, anns
    cdef int32_t* gid       # event name iid -> global name id, -1 when not looked up yet
    cdef Py_ssize_t gid_cap
    cdef uint64_t default_track
    cdef bint incremental   # timestamps are deltas on the sequence's incremental clock
    cdef int64_t last       # that clock's latest reading
    cdef int64_t offset     # trace time minus that clock's time
    cdef bint swept         # every packet's interned data of this sequence has been read
    cdef uint64_t cached_uuid
    cdef Track cached

    def __cinit__(self, uint64_t seq_id):
        self.id = seq_id
        self.clear()

    def __dealloc__(self):
        free(self.gid)

    cdef clear(self):
        """Incremental state cleared: interned strings, defaults and clock are gone."""
        self.names, self.cats, self.anns = {}, {}, {}
        self.forget_names()
        self.default_track = 0
        self.incremental = self.swept = False
        self.last = self.offset = 0
        self.cached_uuid = 0
        self.cached = None

    cdef void forget_names(self) noexcept:
        if self.gid != NULL:
            memset(self.gid, 0xFF, self.gid_cap * sizeof(int32_t))


# -- the scan ------------------------------------------------------------------------------------

@cython.final
cdef class Scanner:
    cdef bytes data             # the file, read up to ``size``
    cdef Py_ssize_t size
    cdef SliceColumns cols      # the calls, unless ``dicts``
    cdef list gnames            # global names, by id
    cdef dict gname_ids
    cdef list name_events       # M events, in descriptor order
    cdef list events            # other events, in file order
    cdef dict tracks            # uuid -> Track
    cdef dict seqs              # sequence id -> Seq
    cdef dict counter_names     # uuid -> (name, key)
    cdef dict last_counter      # counter name -> its latest "C" event
    cdef bint dicts             # calls as X event dicts in ``events`` (the reader's report)
    cdef Progress progress      # None when nobody watches
    cdef Py_ssize_t packets     # packets read, those inside deflated chunks included
    cdef Py_ssize_t read_to     # the end of the last top-level packet read
    cdef Seq last_seq           # the sequence of the last packet: most packets are on the one before's
    cdef int32_t* columns_of    # global name id -> name id in the slice columns, -1 until used
    cdef Py_ssize_t columns_cap
    cdef vt_ahead* ahead        # the file's deflated chunks, inflated by a thread ahead of the walk
    cdef vt_chunk* chunks       # where they are in the file
    cdef Py_ssize_t nchunks, next_chunk

    def __cinit__(self, bytes data, Py_ssize_t size, dict metadata, bint dicts=False,
                  Progress progress=None):
        self.data, self.size = data, size
        self.dicts = dicts
        self.progress = progress
        self.cols = SliceColumns()
        self.gnames, self.gname_ids = [], {}
        self.name_events, self.events = [], []
        self.tracks, self.seqs, self.last_counter = {}, {}, {}
        tracks = metadata.get("viztracer_counter_tracks", {})
        pairs = tracks.values() if isinstance(tracks, dict) else [None]
        if any(not isinstance(v, list) or len(v) != 2 for v in pairs):
            raise Malformed("viztracer_counter_tracks is not a {uuid: [name, key]} object")
        self.counter_names = {int(uuid): tuple(name_key) for uuid, name_key in tracks.items()}

    def __dealloc__(self):
        self.stop_ahead()
        free(self.columns_of)

    cdef inline Seq seq_of(self, uint64_t seq_id):
        if self.last_seq is not None and self.last_seq.id == seq_id:
            return self.last_seq
        seq = self.seqs.get(seq_id)
        if seq is None:
            seq = self.seqs[seq_id] = Seq(seq_id)
        self.last_seq = <Seq>seq
        return <Seq>seq

    # -- deflated chunks -----------------------------------------------------------------------

    cdef int start_ahead(self, const uint8_t* p, Py_ssize_t size) except -1:
        """Start inflating the deflated chunks among the top-level packets of ``p`` on a
        thread of its own, in the order the walk meets them (see inflate_ahead.h)."""
        cdef Cursor c
        cdef Field f, data
        cdef Py_ssize_t n = 0
        c.p, c.end = p, p + size
        while fields(&c, &f):
            if f.number == pw.TRACE_PACKET and f.wire == pw.WIRE_LEN:
                n += 1
        self.chunks = <vt_chunk*>malloc(max(n, 1) * sizeof(vt_chunk))
        if self.chunks == NULL:
            raise MemoryError()
        c.p, c.end = p, p + size
        while fields(&c, &f):
            if f.number == pw.TRACE_PACKET and f.wire == pw.WIRE_LEN:
                # the test packet() makes of a packet holding a chunk
                if data_of(&f, &data) == pw.PACKET_COMPRESSED_PACKETS and data.value:
                    self.chunks[self.nchunks].src = data.data
                    self.chunks[self.nchunks].len = data.value
                    self.nchunks += 1
        if self.nchunks > 1:    # one chunk alone: nothing to overlap with
            self.ahead = vt_ahead_start(self.chunks, self.nchunks)
        return 0

    cdef void stop_ahead(self) noexcept:
        if self.ahead != NULL:
            with nogil:
                vt_ahead_stop(self.ahead)
            self.ahead = NULL
        free(self.chunks)
        self.chunks = NULL

    cdef int walk_ahead(self, Field* data) except -1:
        """Walk the packets of chunk ``data``, taken inflated from the thread when it is the
        next one it inflates, else (or when that failed) inflated here."""
        cdef vt_slot* slot
        cdef Py_ssize_t i = self.next_chunk
        if self.ahead != NULL and i < self.nchunks and self.chunks[i].src == data.data:
            self.next_chunk += 1
            with nogil:
                slot = vt_ahead_take(self.ahead, i)
            try:
                if slot.ok:
                    return self.walk(slot.data, <Py_ssize_t>slot.size)
            finally:
                vt_ahead_release(self.ahead, i)
        inner = inflate(data)
        return self.walk(<const uint8_t*>PyBytes_AS_STRING(inner), PyBytes_GET_SIZE(inner))

    # -- names --------------------------------------------------------------------------------

    cdef int32_t name_id(self, str text) except -2:
        found = self.gname_ids.get(text)
        if found is None:
            found = self.gname_ids[text] = len(self.gnames)
            self.gnames.append(text)
        return <int32_t>found

    cdef int column_name(self, int32_t gid) except -1:
        """The slice columns' id of global name ``gid`` (numbered there at its first use, as
        ``SliceColumns.add`` would)."""
        cdef int32_t* grown
        cdef Py_ssize_t cap
        if gid >= self.columns_cap:
            cap = gid * 2 + 64
            grown = <int32_t*>realloc(self.columns_of, cap * sizeof(int32_t))
            if grown == NULL:
                raise MemoryError()
            memset(grown + self.columns_cap, 0xFF, (cap - self.columns_cap) * sizeof(int32_t))
            self.columns_of, self.columns_cap = grown, cap
        if self.columns_of[gid] < 0:
            self.columns_of[gid] = self.cols.name_index(self.gnames[gid])
        return self.columns_of[gid]

    cdef str lookup(self, Seq seq, dict table, uint64_t iid, str what):
        """``table[iid]`` (one of ``seq``'s); when it is not there, the sequence's packets are
        searched for it once, wherever they are in the file (a writer of ours defines an id in
        the first packet that uses it, but a file may define it elsewhere)."""
        text = table.get(iid)
        if text is not None:
            return text
        if not seq.swept:
            seq.swept = True
            self.sweep(seq, <const uint8_t*>PyBytes_AS_STRING(self.data), self.size)
            seq.forget_names()      # the sweep may have defined ids again
            text = table.get(iid)
            if text is not None:
                return text
        raise Malformed(f"{what} iid {iid} is used but never defined on sequence {seq.id}")

    cdef int32_t iid_name(self, Seq seq, uint64_t iid) except -2:
        """The global name id of event name ``iid`` on ``seq`` (cached per sequence)."""
        cdef int32_t* grown
        cdef int32_t found
        cdef Py_ssize_t cap
        if iid >= CACHED_IIDS:
            return self.name_id(self.lookup(seq, seq.names, iid, "event name"))
        if <Py_ssize_t>iid >= seq.gid_cap:
            cap = <Py_ssize_t>iid * 2 + 64
            grown = <int32_t*>realloc(seq.gid, cap * sizeof(int32_t))
            if grown == NULL:
                raise MemoryError()
            memset(grown + seq.gid_cap, 0xFF, (cap - seq.gid_cap) * sizeof(int32_t))
            seq.gid, seq.gid_cap = grown, cap
        if seq.gid[iid] < 0:
            found = self.name_id(self.lookup(seq, seq.names, iid, "event name"))
            seq.gid[iid] = found
        return seq.gid[iid]

    cdef str event_name(self, Seq seq, Event* ev):
        if ev.name_kind == pw.EVENT_NAME:
            return text_of(&ev.name)
        return self.lookup(seq, seq.names, ev.name_iid, "event name")

    cdef str category(self, Seq seq, Event* ev):
        if ev.has_category_iid:
            return self.lookup(seq, seq.cats, ev.category_iid, "category")
        return text_of(&ev.category) if ev.has_category else ""

    cdef str annotation_name(self, Seq seq, Annotation* a):
        if a.name_kind == pw.ANNOTATION_NAME_IID and a.name_iid:
            return self.lookup(seq, seq.anns, a.name_iid, "annotation name")
        return text_of(&a.name) if a.name_kind == pw.ANNOTATION_NAME else ""

    cdef object args_of(self, Seq seq, Annotation* anns, Py_ssize_t n):
        """Top-level debug annotations (but an instant's ``#tid``) as an event's ``args``. One
        named ``#args`` holds args that were not a JSON object."""
        cdef Py_ssize_t i
        args = {}
        for i in range(n):
            if anns[i].is_tid:
                continue
            name = self.annotation_name(seq, &anns[i])
            if name == "#args":
                return annotation_value(&anns[i], 0)
            args[name] = annotation_value(&anns[i], 0)
        return args

    # -- tracks -------------------------------------------------------------------------------

    cdef inline Track track_of(self, Seq seq, uint64_t uuid):
        if uuid == seq.cached_uuid and seq.cached is not None:
            return seq.cached
        t = self.tracks.get(uuid)
        if t is None:
            raise Malformed(f"{UNDEFINED} (track {uuid} is not described)")
        seq.cached_uuid, seq.cached = uuid, t
        return <Track>t

    cdef inline Stack stack_of(self, Track t, uint64_t uuid):
        if t.stack is None:
            raise Malformed(f"{UNDEFINED} (a slice on track {uuid}, which is not a thread's)")
        return t.stack

    cdef int describe(self, Field* f) except -1:
        """Record what a track descriptor describes; process and thread names, and a process's
        labels (comma-joined, as JSON's ``process_labels`` holds them), become M events.
        A uuid described again adds nothing (and its open slices stay open)."""
        cdef Cursor c, d
        cdef Field g, h
        cdef uint64_t uuid = 0, parent_uuid = 0
        cdef int32_t process_pid = 0, thread_pid = 0
        cdef int64_t tid = 0
        cdef bint has_process = False, has_thread = False, has_counter = False
        cdef Track t
        name = process_name = thread_name = ""
        labels = []     # ProcessDescriptor.process_labels: "cut short", "lost", ...
        enter(&c, f)
        while fields(&c, &g):
            if g.wire == pw.WIRE_VARINT:
                if g.number == pw.DESCRIPTOR_UUID:
                    uuid = g.value
                elif g.number == pw.DESCRIPTOR_PARENT_UUID:
                    parent_uuid = g.value
            elif g.wire != pw.WIRE_LEN:
                continue
            elif g.number == pw.DESCRIPTOR_NAME:
                name = text_of(&g)
            elif g.number == pw.DESCRIPTOR_COUNTER:
                has_counter = True
            elif g.number == pw.DESCRIPTOR_PROCESS:
                has_process = True
                enter(&d, &g)
                while fields(&d, &h):
                    if h.number == pw.PROCESS_PID and h.wire == pw.WIRE_VARINT:
                        process_pid = <int32_t>h.value
                    elif h.number == pw.PROCESS_NAME and h.wire == pw.WIRE_LEN:
                        process_name = text_of(&h)
                    elif h.number == pw.PROCESS_LABELS and h.wire == pw.WIRE_LEN:
                        labels.append(text_of(&h))
            elif g.number == pw.DESCRIPTOR_THREAD:
                has_thread = True
                enter(&d, &g)
                while fields(&d, &h):
                    if h.number == pw.THREAD_PID and h.wire == pw.WIRE_VARINT:
                        thread_pid = <int32_t>h.value
                    elif h.number == pw.THREAD_TID and h.wire == pw.WIRE_VARINT:
                        tid = <int64_t>h.value
                    elif h.number == pw.THREAD_NAME and h.wire == pw.WIRE_LEN:
                        thread_name = text_of(&h)
        if uuid in self.tracks:
            return 0
        t = Track()
        if has_thread:
            t.pid, t.tid, t.kind = thread_pid, tid, THREAD
            t.stack = Stack()
            if thread_name:
                self.name_events.append({"ph": "M", "pid": t.pid, "tid": t.tid, "name": "thread_name",
                                         "args": {"name": thread_name}})
        elif has_process:
            t.pid, t.tid, t.kind = process_pid, process_pid, PROCESS
            if process_name:
                self.name_events.append({"ph": "M", "pid": t.pid, "tid": t.pid, "name": "process_name",
                                         "args": {"name": process_name}})
            if labels:  # one string, as Chrome JSON's process_labels has them
                self.name_events.append({"ph": "M", "pid": t.pid, "tid": t.pid, "name": "process_labels",
                                         "args": {"labels": ",".join(labels)}})
        elif has_counter:
            parent = self.tracks.get(parent_uuid)
            if parent is None:
                raise Malformed(f"counter track {uuid} comes before its process track {parent_uuid}")
            t.pid = t.tid = (<Track>parent).pid
            t.kind = COUNTER_TRACK
            if uuid not in self.counter_names:
                # a file cut short before its metadata: the descriptor's name joins the two
                self.counter_names[uuid] = (name or f"counter {uuid}", "value")
        else:
            # a process's global track: its uuid is in the process's range of uuids
            process = self.tracks.get(uuid >> 24 << 24)
            if process is None:
                process = next((p for p in self.tracks.values() if (<Track>p).kind == PROCESS), None)
            t.pid = t.tid = (<Track>process).pid if process is not None else 0
            t.kind = GLOBAL
        self.tracks[uuid] = t
        return 0

    # -- packets ------------------------------------------------------------------------------

    cdef int walk(self, const uint8_t* p, Py_ssize_t size) except -1:
        """Every packet of a serialized Trace (other fields of a Trace are skipped)."""
        cdef Cursor c
        cdef Field f
        cdef const uint8_t* base = <const uint8_t*>PyBytes_AS_STRING(self.data)
        cdef uint64_t length
        c.p, c.end = p, p + size
        while True:
            # A packet's tag is one byte: read it and the length here, not field by field.
            if c.p < c.end and c.p[0] == pw.tag(pw.TRACE_PACKET, pw.WIRE_LEN):
                c.p += 1
                if quick_varint(&c, &length) < 0 or length > <uint64_t>(c.end - c.p):
                    return not_a_trace()
                f.data, f.value = c.p, length
                c.p += length
            elif not fields(&c, &f):
                break
            elif f.number != pw.TRACE_PACKET or f.wire != pw.WIRE_LEN:
                continue
            self.packet(f.data, f.data + f.value)
            if p == base:   # the file's own packets, not those of a deflated chunk
                self.read_to = f.data + f.value - base
        return 0

    cdef int packet(self, const uint8_t* p, const uint8_t* end) except -1:
        cdef Cursor c
        cdef Field f, data, interned, defaults
        cdef int data_kind = 0      # which of the packet's ``data`` oneof came last
        cdef uint64_t ts = 0, seq_id = 0, flags = 0
        cdef bint has_interned = False, has_defaults = False, cleared = False
        cdef int64_t ns
        cdef Seq seq
        cdef Event ev
        self.packets += 1
        if self.packets % PROGRESS_EVERY == 0 and self.progress is not None:
            self.progress.update(self.packets, self.read_to)
        if quick_packet(p, end, &ts, &seq_id, &ev):
            seq = self.seq_of(seq_id)
            return self.track_event(seq, &ev, self.clock_step(seq, ts))
        c.p, c.end = p, end
        while fields(&c, &f):
            if f.wire == pw.WIRE_VARINT:
                if f.number == pw.PACKET_TIMESTAMP:
                    ts = f.value
                elif f.number == pw.PACKET_SEQUENCE_ID:
                    seq_id = <uint32_t>f.value
                elif f.number == pw.PACKET_SEQUENCE_FLAGS:
                    flags = <uint32_t>f.value
                elif f.number == pw.PACKET_INCREMENTAL_STATE_CLEARED:
                    cleared = f.value != 0
            elif f.wire == pw.WIRE_LEN:
                if f.number == pw.PACKET_TRACK_EVENT or f.number == pw.PACKET_TRACK_DESCRIPTOR \
                        or f.number == pw.PACKET_CLOCK_SNAPSHOT or f.number == pw.PACKET_COMPRESSED_PACKETS \
                        or f.number == pw.PACKET_CHROME_EVENTS:
                    data_kind, data = f.number, f
                elif f.number == pw.PACKET_INTERNED_DATA:
                    has_interned, interned = True, f
                elif f.number == pw.PACKET_DEFAULTS:
                    has_defaults, defaults = True, f
        if data_kind == pw.PACKET_COMPRESSED_PACKETS and data.value:
            return self.walk_ahead(&data)
        seq = self.seq_of(seq_id)
        ns = self.clock_step(seq, ts)
        if flags & pw.SEQ_INCREMENTAL_STATE_CLEARED or cleared:
            seq.clear()
        if has_interned:
            self.intern(seq, &interned)
        if data_kind == pw.PACKET_TRACK_EVENT:
            parse_event(&data, &ev)
            return self.track_event(seq, &ev, ns)
        if data_kind == pw.PACKET_TRACK_DESCRIPTOR:
            self.describe(&data)
        if has_defaults:
            self.defaults(seq, &defaults)
        if data_kind == pw.PACKET_CLOCK_SNAPSHOT:
            self.clock(seq, &data)
        return 0

    cdef inline int64_t clock_step(self, Seq seq, uint64_t ts) noexcept:
        """The trace time (ns) of a packet of ``seq`` with timestamp ``ts``."""
        if seq.incremental:
            seq.last += <int64_t>ts     # 0 for packets without a timestamp: the clock stays
            return seq.last + seq.offset
        return <int64_t>ts

    cdef int defaults(self, Seq seq, Field* f) except -1:
        """TracePacketDefaults: the track of events that name none, and the clock."""
        cdef Cursor c, d
        cdef Field g, h
        cdef uint64_t clock_id = 0
        enter(&c, f)
        seq.default_track = 0
        seq.cached = None
        while fields(&c, &g):
            if g.number == pw.DEFAULTS_TIMESTAMP_CLOCK_ID and g.wire == pw.WIRE_VARINT:
                clock_id = <uint32_t>g.value
            elif g.number == pw.DEFAULTS_TRACK_EVENT and g.wire == pw.WIRE_LEN:
                enter(&d, &g)
                while fields(&d, &h):
                    if h.number == pw.EVENT_DEFAULTS_TRACK_UUID and h.wire == pw.WIRE_VARINT:
                        seq.default_track = h.value
        if clock_id and clock_id < pw.FIRST_SEQUENCE_CLOCK:
            raise Malformed(f"sequence {seq.id} uses the builtin clock {clock_id}, not ours")
        return 0

    cdef int intern(self, Seq seq, Field* f) except -1:
        """InternedData: categories, event names and annotation names, by iid."""
        cdef Cursor c, d
        cdef Field g, h
        cdef uint64_t iid
        cdef dict table
        enter(&c, f)
        while fields(&c, &g):
            if g.wire != pw.WIRE_LEN:
                continue
            if g.number == pw.INTERNED_EVENT_CATEGORIES:
                table = seq.cats
            elif g.number == pw.INTERNED_EVENT_NAMES:
                table = seq.names
            elif g.number == pw.INTERNED_ANNOTATION_NAMES:
                table = seq.anns
            else:
                continue
            enter(&d, &g)
            iid = 0
            text = ""
            while fields(&d, &h):
                if h.number == pw.INTERNED_IID and h.wire == pw.WIRE_VARINT:
                    iid = h.value
                elif h.number == pw.INTERNED_NAME and h.wire == pw.WIRE_LEN:
                    text = text_of(&h)
            table[iid] = text
            if g.number == pw.INTERNED_EVENT_NAMES and <Py_ssize_t>iid < seq.gid_cap:
                seq.gid[iid] = -1
        return 0

    cdef int sweep(self, Seq seq, const uint8_t* p, Py_ssize_t size) except -1:
        """Intern the interned data of every packet of ``seq`` in a serialized Trace."""
        cdef Cursor c, d
        cdef Field f, g, interned, data
        cdef uint64_t seq_id
        cdef int data_kind
        cdef bint has_interned
        c.p, c.end = p, p + size
        while fields(&c, &f):
            if f.number != pw.TRACE_PACKET or f.wire != pw.WIRE_LEN:
                continue
            enter(&d, &f)
            seq_id, data_kind, has_interned = 0, 0, False
            while fields(&d, &g):
                if g.number == pw.PACKET_SEQUENCE_ID and g.wire == pw.WIRE_VARINT:
                    seq_id = <uint32_t>g.value
                elif g.number == pw.PACKET_INTERNED_DATA and g.wire == pw.WIRE_LEN:
                    has_interned, interned = True, g
                elif g.wire == pw.WIRE_LEN and (g.number == pw.PACKET_TRACK_EVENT
                        or g.number == pw.PACKET_TRACK_DESCRIPTOR or g.number == pw.PACKET_CLOCK_SNAPSHOT
                        or g.number == pw.PACKET_COMPRESSED_PACKETS or g.number == pw.PACKET_CHROME_EVENTS):
                    data_kind, data = g.number, g
            if data_kind == pw.PACKET_COMPRESSED_PACKETS and data.value:
                inner = inflate(&data)
                self.sweep(seq, <const uint8_t*>PyBytes_AS_STRING(inner), PyBytes_GET_SIZE(inner))
            elif seq_id == seq.id and has_interned:
                self.intern(seq, &interned)
        return 0

    cdef int clock(self, Seq seq, Field* f) except -1:
        """A ClockSnapshot: the sequence's incremental clock (the first sequence-scoped one),
        where it starts and how it maps onto trace time (BOOTTIME's reading)."""
        cdef Cursor c, d
        cdef Field g, h
        cdef uint64_t clock_id, reading, unit, boot = 0, ours_reading = 0, ours_unit = 0
        cdef uint64_t ours_id = 0
        cdef bint incremental, has_boot = False, has_ours = False, ours_incremental = False
        enter(&c, f)
        while fields(&c, &g):
            if g.number != pw.SNAPSHOT_CLOCKS or g.wire != pw.WIRE_LEN:
                continue
            enter(&d, &g)
            clock_id = reading = unit = 0
            incremental = False
            while fields(&d, &h):
                if h.wire != pw.WIRE_VARINT:
                    continue
                if h.number == pw.CLOCK_ID:
                    clock_id = <uint32_t>h.value
                elif h.number == pw.CLOCK_TIMESTAMP:
                    reading = h.value
                elif h.number == pw.CLOCK_IS_INCREMENTAL:
                    incremental = h.value != 0
                elif h.number == pw.CLOCK_UNIT_MULTIPLIER_NS:
                    unit = h.value
            if clock_id == pw.BUILTIN_CLOCK_BOOTTIME:
                has_boot, boot = True, reading
            elif clock_id >= pw.FIRST_SEQUENCE_CLOCK and not has_ours:
                has_ours, ours_id, ours_reading = True, clock_id, reading
                ours_incremental, ours_unit = incremental, unit
        if not has_ours:
            return 0
        if not ours_incremental or (ours_unit or 1) != 1:
            raise Malformed(f"sequence {seq.id}: clock {ours_id} is not an incremental ns clock")
        seq.incremental = True
        seq.last = <int64_t>ours_reading
        seq.offset = <int64_t>(boot - ours_reading) if has_boot else 0
        return 0

    # -- track events -------------------------------------------------------------------------

    cdef int track_event(self, Seq seq, Event* ev, int64_t ns) except -1:
        cdef uint64_t uuid
        cdef Track t
        cdef Stack s
        cdef int32_t name
        cdef Annotation* anns
        uuid = ev.track_uuid or seq.default_track
        if ev.type == pw.TYPE_SLICE_END:
            t = self.track_of(seq, uuid)
            s = self.stack_of(t, uuid)
            if s.n == 0:
                raise Malformed(f"{UNDEFINED} (an END on track {uuid}, where no slice is open)")
            s.n -= 1
            args = s.pop_args()
            if self.dicts:
                e = {"pid": t.pid, "tid": t.tid, "ts": us(s.starts[s.n]), "ph": "X", "cat": "FEE",
                     "dur": us(ns - s.starts[s.n]), "name": self.gnames[s.names[s.n]]}
                if args is not None:
                    e["args"] = args
                self.events.append(e)
                return 0
            if t.column < 0:
                t.column = self.cols.track_index(t.pid, t.tid)
            return self.cols.close_ids(s.slots[s.n], us(ns - s.starts[s.n]), self.column_name(s.names[s.n]),
                                       t.column, args)
        if ev.type == pw.TYPE_SLICE_BEGIN:
            t = self.track_of(seq, uuid)
            if ev.annotations == 0 and ev.name_kind != pw.EVENT_NAME:     # a bare call: most are
                return self.begin(self.stack_of(t, uuid), ns, self.iid_name(seq, ev.name_iid), None)
            args = None
            if ev.annotations:
                anns = parse_annotations(ev)
                try:
                    args = self.args_of(seq, anns, ev.annotations)
                finally:
                    free(anns)
            name = self.name_id(self.event_name(seq, ev))
            return self.begin(self.stack_of(t, uuid), ns, name, args)
        if ev.type == pw.TYPE_COUNTER:
            return self.counter(ns, ev, uuid)
        if ev.type == pw.TYPE_INSTANT:
            t = self.track_of(seq, uuid)
            self.events.append(self.instant(seq, ev, t, ns))
            return 0
        raise Malformed(f"track event of unsupported type {ev.type}")

    cdef inline int begin(self, Stack s, int64_t ns, int32_t name, object args) except -1:
        """A call begins: on the track's stack, and (unless making dicts) in the slice
        columns at once, under the call on top of the stack."""
        cdef Py_ssize_t slot = -1
        if not self.dicts:
            slot = self.cols.open_ids(us(ns), <int>s.n)
        return s.push(ns, name, args, slot)

    cdef int counter(self, int64_t ns, Event* ev, uint64_t uuid) except -1:
        """A counter sample; samples of one counter at one time make one "C" event."""
        cdef double d
        cdef object value       # an int or a float, as written
        pair = self.counter_names.get(uuid)
        t = self.tracks.get(uuid)
        if pair is None or t is None:
            raise Malformed(f"{UNDEFINED} (counter track {uuid} is not described)")
        name, key = pair
        if ev.counter_kind == pw.EVENT_DOUBLE_COUNTER_VALUE:
            memcpy(&d, &ev.counter, 8)
            value = d
        else:
            value = <int64_t>ev.counter
        ts = us(ns)
        e = self.last_counter.get(name)
        if e is None or e["ts"] != ts or key in e["args"]:
            e = {"pid": (<Track>t).pid, "tid": (<Track>t).tid, "ts": ts, "ph": "C", "name": name, "args": {}}
            self.last_counter[name] = e
            self.events.append(e)
        e["args"][key] = value
        return 0

    cdef object instant(self, Seq seq, Event* ev, Track t, int64_t ns):
        """An instant, object or raw event (told apart by category) as its JSON event."""
        cdef Annotation* anns = NULL
        cdef Py_ssize_t i
        cdef bint rest = False
        cat = self.category(seq, ev)
        pid, tid, scope = t.pid, t.tid, t.kind
        args = NO_ARGS
        if ev.annotations:
            anns = parse_annotations(ev)
            try:
                for i in range(ev.annotations):
                    if self.annotation_name(seq, &anns[i]) == "#tid":
                        # on a process or global track: the thread that recorded it
                        anns[i].is_tid = True
                        tid = <int64_t>anns[i].value.value if anns[i].value_kind == pw.ANNOTATION_INT else 0
                    else:
                        rest = True
                if rest:
                    args = self.args_of(seq, anns, ev.annotations)
            finally:
                free(anns)
        if cat == "raw":
            if not isinstance(args, dict) or "event" not in args:
                raise Malformed("a raw event has no 'event' annotation")
            return args["event"]
        name = self.event_name(seq, ev)
        if cat == "instant":
            e = {"pid": pid, "tid": tid, "ts": us(ns), "ph": "i", "cat": "INSTANT", "name": name, "s": scope}
            if args is not NO_ARGS:
                e["args"] = args
            return e
        if cat == "object":
            if not isinstance(args, dict) or "ph" not in args or "id" not in args:
                raise Malformed(f"object event {name!r} lacks its 'ph' or 'id' annotation")
            e = {"pid": pid, "tid": tid, "ts": us(ns), "ph": args["ph"], "id": args["id"], "name": name}
            if "args" in args:
                e["args"] = args["args"]
            elif "snapshot" in args:    # written by earlier versions, which wrapped object args
                e["args"] = {"snapshot": args["snapshot"]}
            return e
        raise Malformed(f"instant event {name!r} has unknown category {cat!r}")

    # -- the result -------------------------------------------------------------------------

    def result(self):
        """``scan_events``' tuple. The calls left open: making dicts, B events in ``others``
        in the order they began; else in the columns, lasting NaN (to the end of the trace),
        numbered in the order ``columns._blob`` numbers such B events (by start, then thread by
        thread), so that both ways give the same blob."""
        cdef Py_ssize_t i
        cdef Stack s
        cdef Track t
        opened = []
        for t in self.tracks.values():
            s = t.stack
            if s is None:
                continue
            for i in range(s.n):
                opened.append((us(s.starts[i]), t, i))
        opened.sort(key=lambda o: o[0])
        if self.dicts:
            begins = []
            args_of = {}
            for ts, t, i in opened:
                b = {"pid": t.pid, "tid": t.tid, "ts": ts, "ph": "B", "cat": "FEE",
                     "name": self.gnames[t.stack.names[i]]}
                if t not in args_of:
                    args_of[t] = t.stack.open_args()
                args = args_of[t][i]
                if args is not None:
                    b["args"] = args
                begins.append(b)
            return self.cols.result(self.name_events + self.events + begins)
        by_track = {}
        for ts, t, i in opened:
            by_track.setdefault(t, []).append(i)
        for t, positions in by_track.items():
            s = t.stack
            open_args = s.open_args()
            if t.column < 0:
                t.column = self.cols.track_index(t.pid, t.tid)
            for i in positions:
                self.cols.close_ids(s.slots[i], NAN, self.column_name(s.names[i]), t.column, open_args[i])
        return self.cols.result(self.name_events + self.events)


# -- top-level records ------------------------------------------------------------------------------

cdef Py_ssize_t walk_records(const uint8_t* base, Py_ssize_t n, Py_ssize_t* stray) noexcept nogil:
    """Walk the top-level records (a packet's tag, a varint length, that many bytes) from the
    start: the end of the last whole one, or where one is cut short. ``stray``: where a byte
    that is not a packet's tag stopped the walk (a varint length past ten bytes included), or -1."""
    cdef Cursor c
    cdef uint64_t length
    cdef const uint8_t* start
    stray[0] = -1
    c.p, c.end = base, base + n
    while c.p < c.end:
        start = c.p
        if c.p[0] != pw.tag(pw.TRACE_PACKET, pw.WIRE_LEN):
            stray[0] = start - base
            return start - base
        c.p += 1
        if read_varint(&c, &length) < 0:
            if c.p >= c.end:        # the file ends inside the length
                return start - base
            stray[0] = start - base
            return start - base
        if length > <uint64_t>(c.end - c.p):
            return start - base
        c.p += length
    return n


def framing(const uint8_t[::1] data):
    """``(whole, stray)`` for the bytes of a Trace (any buffer: the viewer checks a file through
    mmap): where its whole top-level records end (the start of one cut short), and the offset
    of a byte where no record can start, which stopped the walk, or -1."""
    cdef Py_ssize_t stray
    cdef Py_ssize_t whole = walk_records(&data[0], data.shape[0], &stray) if data.shape[0] else 0
    return whole, stray


def whole_length(bytes data):
    """How many bytes at the start of ``data`` are whole top-level records: ``len(data)`` for a
    whole file, less for one cut short inside its last record. Bytes that are not a record's tag
    end the walk as if whole: the reader then says what is wrong."""
    cdef Py_ssize_t stray
    cdef Py_ssize_t whole = walk_records(<const uint8_t*>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                                         &stray)
    return PyBytes_GET_SIZE(data) if stray >= 0 else whole


cdef int data_of(Field* packet, Field* data) except -1:
    """Which of a packet's ``data`` oneof came last (0: none), into ``data``."""
    cdef Cursor c
    cdef Field f
    cdef int kind = 0
    enter(&c, packet)
    while fields(&c, &f):
        if f.wire == pw.WIRE_LEN and (f.number == pw.PACKET_CHROME_EVENTS
                or f.number == pw.PACKET_COMPRESSED_PACKETS or f.number == pw.PACKET_TRACK_EVENT
                or f.number == pw.PACKET_TRACK_DESCRIPTOR or f.number == pw.PACKET_CLOCK_SNAPSHOT):
            kind, data[0] = f.number, f
    return kind


cdef object read_metadata(const uint8_t* p, Py_ssize_t size, Py_ssize_t* packets):
    """The JSON values of the last ChromeEventBundle of a serialized Trace, or None; how many
    packets it holds at the top level into ``packets``. Deflated chunks are searched from the
    last one back, inflating only as many as needed."""
    cdef Cursor c
    cdef Field f, data
    cdef int kind
    cdef Py_ssize_t inner_packets
    candidates = []     # (is_chunk, bytes) of the metadata bundles and the chunks
    c.p, c.end = p, p + size
    packets[0] = 0
    while fields(&c, &f):
        if f.number != pw.TRACE_PACKET or f.wire != pw.WIRE_LEN:
            continue
        packets[0] += 1
        kind = data_of(&f, &data)
        if kind == pw.PACKET_CHROME_EVENTS or (kind == pw.PACKET_COMPRESSED_PACKETS and data.value):
            candidates.append((kind == pw.PACKET_COMPRESSED_PACKETS, bytes_of(&data)))
    for is_chunk, payload in reversed(candidates):
        f.data, f.value = <const uint8_t*>PyBytes_AS_STRING(payload), <uint64_t>PyBytes_GET_SIZE(payload)
        if not is_chunk:
            return metadata_values(&f)
        inner = inflate(&f)
        found = read_metadata(<const uint8_t*>PyBytes_AS_STRING(inner), PyBytes_GET_SIZE(inner), &inner_packets)
        if found is not None:
            return found
    return None


cdef bint starts_a_sequence(const uint8_t* p, Py_ssize_t size) except -1:
    """Whether the first packet of a serialized Trace (the first of its chunk, if deflated)
    starts a packet sequence, as the first packet of our files does."""
    cdef Cursor c, d
    cdef Field f, g, data
    cdef uint64_t seq_id = 0, flags = 0
    cdef bint cleared = False
    c.p, c.end = p, p + size
    while fields(&c, &f):
        if f.number != pw.TRACE_PACKET or f.wire != pw.WIRE_LEN:
            continue
        if data_of(&f, &data) == pw.PACKET_COMPRESSED_PACKETS and data.value:
            inner = inflate(&data)
            return starts_a_sequence(<const uint8_t*>PyBytes_AS_STRING(inner), PyBytes_GET_SIZE(inner))
        enter(&d, &f)
        while fields(&d, &g):
            if g.wire != pw.WIRE_VARINT:
                continue
            if g.number == pw.PACKET_SEQUENCE_ID:
                seq_id = <uint32_t>g.value
            elif g.number == pw.PACKET_SEQUENCE_FLAGS:
                flags = <uint32_t>g.value
            elif g.number == pw.PACKET_INCREMENTAL_STATE_CLEARED:
                cleared = g.value != 0
        return seq_id != 0 and (flags & pw.SEQ_INCREMENTAL_STATE_CLEARED or cleared)
    return False


cdef tuple _scan(bytes data, bint dicts, Progress progress=None):
    """The scanner after its walk over ``data``'s whole records, the metadata it read, and
    whether the file was whole (every record complete, the metadata packet there)."""
    cdef Py_ssize_t size = whole_length(data)
    cdef Py_ssize_t packets
    cdef const uint8_t* p = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Scanner scanner
    if size == 0:
        raise Malformed("not a Perfetto trace, or cut short inside its first packet")
    metadata = read_metadata(p, size, &packets)
    if packets == 0:
        raise Malformed("the file holds no trace packets")
    if metadata is None and not starts_a_sequence(p, size):
        # without its metadata, a file is taken for ours cut short only if it starts as ours do
        raise Malformed("no viztracer metadata packet, and the file does not start as a trace "
                        "written by viztracer does")
    scanner = Scanner(data, size, metadata or {}, dicts, progress)
    if progress is not None:
        progress.bytes_total = PyBytes_GET_SIZE(data)
    scanner.start_ahead(p, size)
    try:
        scanner.walk(p, size)
    finally:
        scanner.stop_ahead()
    if progress is not None:
        progress.update(scanner.packets, PyBytes_GET_SIZE(data))
    return scanner, metadata or {}, metadata is not None and size == PyBytes_GET_SIZE(data)


def read_report(bytes data):
    """``(report, whole)``: the report dict ``read_pftrace`` gives for ``data``, and False when
    the file was cut short (read up to the cut)."""
    scanner, metadata, whole = _scan(data, True)
    report = {"traceEvents": scanner.result()[8]}
    for key in ("viztracer_metadata", "file_info"):
        if key in metadata:
            report[key] = metadata[key]
    return report, whole


def scan_pftrace(bytes data, Progress progress=None):
    """``(columns tuple as scan_events gives, metadata dict, whole)`` for the Perfetto trace
    ``data``; ``whole`` is False when the file was cut short (read up to the cut). ``progress``,
    when given, follows the packets (one a call's begin or end: its "events") and bytes read."""
    scanner, metadata, whole = _scan(data, False, progress)
    return scanner.result(), metadata, whole


def metadata_of(const uint8_t[::1] data):
    """The metadata entries (``viztracer_metadata``, ``file_info``, ...) of the Perfetto trace
    ``data`` (any buffer), read from its last ChromeEventBundle; None when it has none."""
    cdef Py_ssize_t packets
    cdef Py_ssize_t stray
    if data.shape[0] == 0:
        return None
    return read_metadata(&data[0], walk_records(&data[0], data.shape[0], &stray), &packets)
