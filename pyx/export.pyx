# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Byte encoders: stream the ring to a report without a Python object per event.

Names are resolved once per distinct code object or C function through a pointer-keyed table,
numbers are formatted by hand into a growing buffer, and the buffer goes to the file in chunks.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, qsort, realloc
from libc.math cimport llround
from libc.string cimport memcpy

from ring cimport (FLAG_EXTRA, FLAG_OPEN, KIND_C, KIND_COUNTER, KIND_DURATION, KIND_INSTANT,
                   KIND_OBJECT, KIND_PY, KIND_RAW, Entry, Ring)

import json

DEF CHUNK = 1 << 20

_encoder = json.JSONEncoder(separators=(",", ":"), default=repr)


cdef Ring* ring_of(tracer) except NULL:
    return <Ring*>PyCapsule_GetPointer(tracer.ring_capsule(), b"viztracer.ring")


cdef struct Clock:
    int64_t t0_ticks
    int64_t t0_ns
    double ns_per_tick
    bint identity


cdef Clock clock_of(tracer) except *:
    cdef Clock c
    c.t0_ticks, c.t0_ns, c.ns_per_tick = tracer.clock()
    c.identity = c.ns_per_tick == 1.0 and c.t0_ticks == c.t0_ns
    return c


cdef inline int64_t ts_ns(Clock* c, int64_t ticks) noexcept:
    if c.identity:
        return ticks
    return c.t0_ns + llround(<double>(ticks - c.t0_ticks) * c.ns_per_tick)


cdef inline int64_t dur_ns(Clock* c, int64_t ticks) noexcept:
    if c.identity:
        return ticks
    return llround(<double>ticks * c.ns_per_tick)


cdef class OutBuffer:
    """A growing byte buffer handed to ``write`` whenever it passes CHUNK bytes."""
    cdef char* data
    cdef Py_ssize_t n
    cdef Py_ssize_t cap
    cdef object write

    def __cinit__(self, write, *args):
        self.write = write
        self.cap = (CHUNK + 4096) if write is not None else 256
        self.data = <char*>realloc(NULL, self.cap)
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t extra) except -1:
        cdef char* grown
        if self.n + extra > self.cap:
            while self.n + extra > self.cap:
                self.cap *= 2
            grown = <char*>realloc(self.data, self.cap)
            if grown == NULL:
                raise MemoryError()
            self.data = grown
        return 0

    cdef inline int put(self, const char* s, Py_ssize_t n) except -1:
        if self.n + n > self.cap:
            self.reserve(n)
        memcpy(self.data + self.n, s, n)
        self.n += n
        return 0

    cdef inline int put_bytes(self, bytes b) except -1:
        return self.put(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef int put_us(self, int64_t ns) except -1:
        """Nanoseconds as microseconds with up to three decimals: 1234567 -> 1234.567."""
        cdef char tmp[32]
        cdef int i = 31
        cdef bint neg = ns < 0
        cdef uint64_t v = <uint64_t>(-ns if neg else ns)
        cdef uint64_t frac = v % 1000
        cdef uint64_t whole = v // 1000
        cdef int digits = 3
        if frac:
            while frac % 10 == 0:
                frac //= 10
                digits -= 1
            while digits > 0:
                tmp[i] = <char>(48 + frac % 10)
                frac //= 10
                i -= 1
                digits -= 1
            tmp[i] = b'.'
            i -= 1
        while True:
            tmp[i] = <char>(48 + whole % 10)
            whole //= 10
            i -= 1
            if whole == 0:
                break
        if neg:
            tmp[i] = b'-'
            i -= 1
        return self.put(&tmp[i + 1], 31 - i)

    cdef int maybe_flush(self) except -1:
        if self.n >= CHUNK:
            self.flush()
        return 0

    cdef int flush(self) except -1:
        if self.n:
            self.write(PyBytes_FromStringAndSize(self.data, self.n))
            self.n = 0
        return 0


ctypedef struct NameSlot:
    void* key
    const char* text
    Py_ssize_t n
    uint64_t iid            # 1-based, in order of first use


cdef class NameTable:
    """JSON-escaped names keyed by the pointer stored in the ring (code object or name str)."""
    cdef NameSlot* slots
    cdef size_t cap
    cdef size_t used
    cdef list keep          # the bytes objects the slots point into
    cdef public bint raw    # UTF-8 text instead of JSON string literals
    cdef public bint fresh  # whether the last lookup added the name
    cdef public list functions   # (name, filename, first line) of every Python function seen

    def __cinit__(self):
        self.cap = 1024
        self.slots = <NameSlot*>calloc(self.cap, sizeof(NameSlot))
        if self.slots == NULL:
            raise MemoryError()
        self.keep = []
        self.functions = []

    def __dealloc__(self):
        free(self.slots)

    cdef inline NameSlot* find(self, void* key) noexcept:
        cdef size_t i = ((<uintptr_t>key) >> 4) * <size_t>11400714819323198485ULL >> 20
        i &= self.cap - 1
        while self.slots[i].key != NULL and self.slots[i].key != key:
            i = (i + 1) & (self.cap - 1)
        return &self.slots[i]

    cdef NameSlot* lookup(self, PyObject* obj, int kind) except NULL:
        cdef NameSlot* s = self.find(<void*>obj)
        self.fresh = s.key == NULL
        if not self.fresh:
            return s
        if kind == KIND_PY:
            code = <object>obj
            name = f"{code.co_qualname} ({code.co_filename}:{code.co_firstlineno})"
            self.functions.append((name, code.co_filename, code.co_firstlineno))
        else:
            name = str(<object>obj)
        text = name.encode("utf-8", "replace") if self.raw else json.dumps(name).encode()
        self.keep.append(text)
        s.key = <void*>obj
        s.text = PyBytes_AS_STRING(text)
        s.n = PyBytes_GET_SIZE(text)
        self.used += 1
        s.iid = self.used
        if self.used * 2 > self.cap:
            self.grow()
            s = self.find(<void*>obj)
        return s

    cdef int grow(self) except -1:
        cdef NameSlot* old = self.slots
        cdef size_t old_cap = self.cap
        cdef size_t i
        self.cap *= 2
        self.slots = <NameSlot*>calloc(self.cap, sizeof(NameSlot))
        if self.slots == NULL:
            self.slots = old
            self.cap = old_cap
            raise MemoryError()
        for i in range(old_cap):
            if old[i].key != NULL:
                self.find(old[i].key)[0] = old[i]
        free(old)
        return 0


cdef int put_json(OutBuffer out, obj) except -1:
    out.put_bytes(_encoder.encode(obj).encode())
    return 0


def write_chrome_events(tracer, write, long pid):
    """Write every ring entry as a Chrome trace event, each preceded by a comma.

    ``write`` receives bytes chunks. Returns ``(events written, [(name, file, line), ...])``
    for the Python functions seen, which the caller turns into ``file_info``.
    """
    cdef Ring* ring = ring_of(tracer)
    cdef Clock clock = clock_of(tracer)
    cdef OutBuffer out = OutBuffer(write)
    cdef NameTable names = NameTable()
    cdef uint64_t count = ring.written if ring.written < ring.capacity else ring.capacity
    cdef uint64_t start = 0 if ring.written <= ring.capacity else ring.head
    cdef uint64_t i, slot
    cdef Entry* e
    cdef NameSlot* name
    cdef bytes prefix
    cdef list prefixes = [f',{{"pid":{pid},"tid":{tid},"ts":'.encode()
                          for tid, _ in tracer.thread_table()]
    if ring.entries == NULL:
        return 0, []
    for i in range(count):
        slot = start + i
        if slot >= ring.capacity:
            slot -= ring.capacity
        e = &ring.entries[slot]
        if e.kind == KIND_RAW:
            out.put(b",", 1)
            put_json(out, <object>e.obj)
            out.maybe_flush()
            continue
        prefix = prefixes[e.thread]
        out.put_bytes(prefix)
        out.put_us(ts_ns(&clock, e.ts))
        name = names.lookup(e.obj, e.kind)
        extra = <object>ring.extras[slot] if e.flags & FLAG_EXTRA else None
        if e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION:
            if e.flags & FLAG_OPEN:
                out.put(b',"ph":"B","cat":"FEE","name":', 29)
            else:
                out.put(b',"ph":"X","cat":"FEE","dur":', 28)
                out.put_us(dur_ns(&clock, e.dur))
                out.put(b',"name":', 8)
            out.put(name.text, name.n)
            if extra is not None:
                out.put(b',"args":', 8)
                put_json(out, extra)
        elif e.kind == KIND_INSTANT:
            out.put(b',"ph":"i","name":', 17)
            out.put(name.text, name.n)
            args, scope = extra
            out.put(b',"s":', 5)
            put_json(out, scope)
            if args is not None:
                out.put(b',"args":', 8)
                put_json(out, args)
        elif e.kind == KIND_COUNTER:
            out.put(b',"ph":"C","name":', 17)
            out.put(name.text, name.n)
            out.put(b',"args":', 8)
            put_json(out, extra)
        elif e.kind == KIND_OBJECT:
            ph, obj_id, args = extra
            out.put(b',"ph":', 6)
            put_json(out, ph)
            out.put(b',"id":', 6)
            put_json(out, obj_id)
            out.put(b',"name":', 8)
            out.put(name.text, name.n)
            if args is not None:
                out.put(b',"args":{"snapshot":', 20)
                put_json(out, args)
                out.put(b'}', 1)
        out.put(b'}', 1)
        out.maybe_flush()
    out.flush()
    return count, names.functions


# -- Perfetto protobuf --------------------------------------------------------------------------
# Field numbers are Perfetto's (protos/viztracer_perfetto.proto holds the messages we write).

DEF SEQ_ID = 1
DEF SEQ_INCREMENTAL_STATE_CLEARED = 1
DEF SEQ_NEEDS_INCREMENTAL_STATE = 2
DEF TYPE_SLICE_BEGIN = 1
DEF TYPE_SLICE_END = 2
DEF TYPE_INSTANT = 3
DEF TYPE_COUNTER = 4
DEF WT_VARINT = 0
DEF WT_I64 = 1
DEF WT_LEN = 2
DEF OPEN_END = 0x7FFFFFFFFFFFFFFF

CATEGORIES = ("FEE", "instant", "object", "raw")
DEF CAT_FEE = 1
DEF CAT_INSTANT = 2
DEF CAT_OBJECT = 3
DEF CAT_RAW = 4


cdef class ProtoBuffer(OutBuffer):
    """OutBuffer with protobuf primitives."""

    cdef inline int varint(self, uint64_t v) except -1:
        cdef char tmp[10]
        cdef int n = 0
        while v >= 0x80:
            tmp[n] = <char>((v & 0x7F) | 0x80)
            v >>= 7
            n += 1
        tmp[n] = <char>v
        return self.put(tmp, n + 1)

    cdef inline int tag(self, int field, int wire) except -1:
        return self.varint((<uint64_t>field << 3) | wire)

    cdef inline int field_varint(self, int field, uint64_t v) except -1:
        self.tag(field, WT_VARINT)
        return self.varint(v)

    cdef int field_bytes(self, int field, const char* data, Py_ssize_t n) except -1:
        self.tag(field, WT_LEN)
        self.varint(<uint64_t>n)
        return self.put(data, n)

    cdef int field_str(self, int field, str s) except -1:
        cdef bytes b = s.encode("utf-8", "replace")
        return self.field_bytes(field, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef int field_double(self, int field, double v) except -1:
        self.tag(field, WT_I64)
        return self.put(<char*>&v, 8)

    cdef int field_msg(self, int field, ProtoBuffer inner) except -1:
        """Append ``inner``'s bytes as a length-delimited field and empty ``inner``."""
        self.field_bytes(field, inner.data, inner.n)
        inner.n = 0
        return 0


ctypedef struct SliceRec:
    uint64_t slot
    int64_t start
    int64_t end         # OPEN_END for calls still open at stop
    uint32_t thread
    uint32_t depth


cdef int slice_cmp(const void* a, const void* b) noexcept nogil:
    cdef const SliceRec* x = <const SliceRec*>a
    cdef const SliceRec* y = <const SliceRec*>b
    if x.thread != y.thread:
        return -1 if x.thread < y.thread else 1
    if x.start != y.start:
        return -1 if x.start < y.start else 1
    if x.end != y.end:              # the longer (outer) slice first
        return -1 if x.end > y.end else 1
    if x.depth != y.depth:
        return -1 if x.depth < y.depth else 1
    return -1 if x.slot < y.slot else (1 if x.slot > y.slot else 0)


cdef class PerfettoWriter:
    """Streams the ring as TracePackets: tracks, interned names, BEGIN/END slices, the rest."""
    cdef ProtoBuffer out
    cdef ProtoBuffer pkt
    cdef ProtoBuffer ev
    cdef ProtoBuffer interned
    cdef ProtoBuffer tmp
    cdef NameTable names
    cdef dict annotation_iids
    cdef uint64_t process_uuid
    cdef uint64_t global_uuid
    cdef uint64_t default_track     # TracePacketDefaults: events on it omit track_uuid
    cdef list thread_uuids
    cdef dict counter_uuids     # (name, key) -> uuid
    cdef public dict counter_tracks
    cdef long pid
    cdef object encoder

    def __cinit__(self, write, long pid):
        self.out = ProtoBuffer(write)
        self.pkt = ProtoBuffer(None)
        self.ev = ProtoBuffer(None)
        self.interned = ProtoBuffer(None)
        self.tmp = ProtoBuffer(None)
        self.names = NameTable()
        self.names.raw = True
        self.annotation_iids = {}
        self.counter_uuids = {}
        self.counter_tracks = {}
        self.pid = pid
        self.process_uuid = (<uint64_t>pid) << 24
        self.global_uuid = self.process_uuid | 0xFFFFFF
        self.thread_uuids = []
        self.encoder = _encoder

    cdef int emit_packet(self, int64_t ts, bint timed, bint needs_state=True) except -1:
        """Wrap ``pkt`` (plus pending interned data) into a TracePacket and append it.
        Packets that refer to interned ids say so with SEQ_NEEDS_INCREMENTAL_STATE."""
        if timed:
            self.pkt.field_varint(8, <uint64_t>ts)
        self.pkt.field_varint(10, SEQ_ID)
        if self.interned.n:
            self.pkt.field_msg(12, self.interned)
        if needs_state:
            self.pkt.field_varint(13, SEQ_NEEDS_INCREMENTAL_STATE)
        self.out.field_msg(1, self.pkt)
        self.out.maybe_flush()
        return 0

    cdef int track(self, uint64_t uuid, uint64_t parent, str name, int kind, long tid,
                   str label) except -1:
        """A TrackDescriptor packet. kind: 0 plain, 1 process, 2 thread, 3 counter."""
        self.ev.field_varint(1, uuid)
        if parent:
            self.ev.field_varint(5, parent)
        if name is not None:
            self.ev.field_str(2, name)
        if kind == 1:
            self.tmp.field_varint(1, <uint64_t>self.pid)
            self.tmp.field_str(6, label)
            self.ev.field_msg(3, self.tmp)
        elif kind == 2:
            self.tmp.field_varint(1, <uint64_t>self.pid)
            self.tmp.field_varint(2, <uint64_t>tid)
            self.tmp.field_str(5, label)
            self.ev.field_msg(4, self.tmp)
        elif kind == 3:
            self.ev.field_msg(8, self.tmp)      # an empty CounterDescriptor
        self.pkt.field_msg(60, self.ev)
        return self.emit_packet(0, False)

    cdef int start_sequence(self, str process_name) except -1:
        """The first packet: clears incremental state, interns the categories, and
        describes the process."""
        cdef int i
        for i, cat in enumerate(CATEGORIES):
            self.tmp.field_varint(1, i + 1)
            self.tmp.field_str(2, cat)
            self.interned.field_msg(1, self.tmp)
        self.ev.field_varint(1, self.process_uuid)
        self.tmp.field_varint(1, <uint64_t>self.pid)
        self.tmp.field_str(6, process_name)
        self.ev.field_msg(3, self.tmp)
        self.pkt.field_msg(60, self.ev)
        self.pkt.field_varint(10, SEQ_ID)
        self.pkt.field_msg(12, self.interned)
        self.pkt.field_varint(13, SEQ_INCREMENTAL_STATE_CLEARED)
        self.default_track = self.process_uuid | 1      # the thread that started tracing
        self.tmp.field_varint(11, self.default_track)
        self.ev.field_msg(11, self.tmp)
        self.pkt.field_msg(59, self.ev)
        self.pkt.tag(87, WT_VARINT)
        self.pkt.varint(1)
        self.out.field_msg(1, self.pkt)
        return 0

    cdef uint64_t name_iid(self, PyObject* obj, int kind) except 0:
        cdef NameSlot* s = self.names.lookup(obj, kind)
        if self.names.fresh:
            self.tmp.field_varint(1, s.iid)
            self.tmp.field_bytes(2, s.text, s.n)
            self.interned.field_msg(2, self.tmp)
        return s.iid

    cdef uint64_t annotation_iid(self, str key) except 0:
        iid = self.annotation_iids.get(key)
        if iid is None:
            iid = self.annotation_iids[key] = len(self.annotation_iids) + 1
            self.tmp.field_varint(1, iid)
            self.tmp.field_str(2, key)
            self.interned.field_msg(3, self.tmp)
        return iid

    cdef int annotation_value(self, ProtoBuffer buf, value) except -1:
        """The value fields of a DebugAnnotation for a JSON-like Python value."""
        cdef ProtoBuffer inner
        if isinstance(value, str):
            buf.field_str(6, value)
        elif isinstance(value, bool):
            buf.field_varint(2, 1 if value else 0)
        elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
            buf.field_varint(4, <uint64_t>(<int64_t>value))
        elif isinstance(value, float):
            buf.field_double(5, value)
        elif isinstance(value, dict):
            inner = ProtoBuffer(None)
            for k, v in value.items():
                inner.field_str(10, str(k))
                self.annotation_value(inner, v)
                buf.field_msg(11, inner)
        elif isinstance(value, (list, tuple)):
            inner = ProtoBuffer(None)
            for v in value:
                self.annotation_value(inner, v)
                buf.field_msg(12, inner)
        else:
            buf.field_str(9, self.encoder.encode(value))
        return 0

    cdef int annotations(self, args) except -1:
        """Top-level debug annotations (interned names) of a TrackEvent, into ``ev``."""
        cdef ProtoBuffer inner = ProtoBuffer(None)
        if not isinstance(args, dict):
            args = {"args": args}
        for k, v in args.items():
            inner.field_varint(1, self.annotation_iid(str(k)))
            self.annotation_value(inner, v)
            self.ev.field_msg(4, inner)
        return 0

    cdef int event(self, int64_t ts, int type_, uint64_t cat, uint64_t name_iid,
                   uint64_t track, object args) except -1:
        if cat:
            self.ev.field_varint(3, cat)
        self.ev.field_varint(9, type_)
        if name_iid:
            self.ev.field_varint(10, name_iid)
        if track != self.default_track:
            self.ev.field_varint(11, track)
        if args is not None:
            self.annotations(args)
        self.pkt.field_msg(11, self.ev)
        return self.emit_packet(ts, True, name_iid != 0 or cat != 0 or args is not None)

    cdef uint64_t counter_track(self, str name, str key) except 0:
        uuid = self.counter_uuids.get((name, key))
        if uuid is None:
            uuid = self.process_uuid | (0x800000 + len(self.counter_uuids))
            self.counter_uuids[(name, key)] = uuid
            self.counter_tracks[str(uuid)] = [name, key]
            self.track(uuid, self.process_uuid, f"{name} {key}" if key != name else name, 3, 0, None)
        return uuid

    def write(self, tracer, str process_name):
        """Write every ring entry; returns (events, functions seen)."""
        cdef Ring* ring = ring_of(tracer)
        cdef Clock clock = clock_of(tracer)
        cdef uint64_t count = ring.written if ring.written < ring.capacity else ring.capacity
        cdef uint64_t first = 0 if ring.written <= ring.capacity else ring.head
        cdef uint64_t i, slot, nslices = 0, j
        cdef Entry* e
        cdef SliceRec* recs
        cdef SliceRec* stack_top
        cdef Py_ssize_t depth
        cdef uint32_t thread
        self.start_sequence(process_name)
        threads = tracer.thread_table()
        for index, (tid, tname) in enumerate(threads):
            self.thread_uuids.append(self.process_uuid | (index + 1))
            self.track(self.process_uuid | (index + 1), self.process_uuid, None, 2, tid, tname)
        self.track(self.global_uuid, 0, "Global", 0, 0, None)
        if ring.entries == NULL or count == 0:
            self.out.flush()
            return 0, []
        recs = <SliceRec*>calloc(count, sizeof(SliceRec))
        if recs == NULL:
            raise MemoryError()
        cdef SliceRec** stack = <SliceRec**>calloc(count, sizeof(SliceRec*))
        if stack == NULL:
            free(recs)
            raise MemoryError()
        try:
            for i in range(count):
                slot = first + i
                if slot >= ring.capacity:
                    slot -= ring.capacity
                e = &ring.entries[slot]
                if e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION:
                    recs[nslices].slot = slot
                    recs[nslices].start = ts_ns(&clock, e.ts)
                    # the end maps from ticks like every start does, so an end and a start
                    # at the same tick stay equal after rounding
                    recs[nslices].end = OPEN_END if e.flags & FLAG_OPEN else ts_ns(&clock, e.ts + e.dur)
                    recs[nslices].thread = e.thread
                    recs[nslices].depth = e.depth
                    nslices += 1
            qsort(recs, nslices, sizeof(SliceRec), slice_cmp)
            depth = 0
            thread = 0xFFFFFFFF
            for j in range(nslices):
                if recs[j].thread != thread:
                    self.close_all(stack, depth)
                    depth = 0
                    thread = recs[j].thread
                while depth > 0:
                    stack_top = stack[depth - 1]
                    if stack_top.end < recs[j].start or (stack_top.end == recs[j].start and (
                            recs[j].end > recs[j].start or recs[j].depth <= stack_top.depth)):
                        self.slice_end(stack_top)
                        depth -= 1
                    else:
                        break
                if depth > 0 and recs[j].end > stack[depth - 1].end:
                    recs[j].end = stack[depth - 1].end      # overlapping, not nested: clip
                self.slice_begin(ring, &recs[j])
                stack[depth] = &recs[j]
                depth += 1
            self.close_all(stack, depth)
            for i in range(count):
                slot = first + i
                if slot >= ring.capacity:
                    slot -= ring.capacity
                e = &ring.entries[slot]
                if e.kind >= KIND_INSTANT:
                    self.other(ring, e, slot, ts_ns(&clock, e.ts))
        finally:
            free(recs)
            free(stack)
        self.out.flush()
        return count, self.names.functions

    cdef int close_all(self, SliceRec** stack, Py_ssize_t depth) except -1:
        while depth > 0:
            depth -= 1
            if stack[depth].end != OPEN_END:
                self.slice_end(stack[depth])
        return 0

    cdef int slice_begin(self, Ring* ring, SliceRec* r) except -1:
        cdef Entry* e = &ring.entries[r.slot]
        cdef uint64_t iid = self.name_iid(e.obj, e.kind)
        args = <object>ring.extras[r.slot] if e.flags & FLAG_EXTRA else None
        return self.event(r.start, TYPE_SLICE_BEGIN, CAT_FEE, iid, self.thread_uuids[r.thread], args)

    cdef int slice_end(self, SliceRec* r) except -1:
        return self.event(r.end, TYPE_SLICE_END, 0, 0, self.thread_uuids[r.thread], None)

    cdef int other(self, Ring* ring, Entry* e, uint64_t slot, int64_t ts) except -1:
        extra = <object>ring.extras[slot] if e.flags & FLAG_EXTRA else None
        cdef uint64_t thread_track = self.thread_uuids[e.thread]
        if e.kind == KIND_INSTANT:
            args, scope = extra
            track = self.global_uuid if scope == "g" else (
                self.process_uuid if scope == "p" else thread_track)
            return self.event(ts, TYPE_INSTANT, CAT_INSTANT, self.name_iid(e.obj, e.kind), track, args)
        if e.kind == KIND_COUNTER:
            name = <str>e.obj
            for key, value in extra.items():
                track = self.counter_track(name, str(key))
                self.ev.field_varint(9, TYPE_COUNTER)
                self.ev.field_varint(11, track)
                if isinstance(value, float):
                    self.ev.field_double(44, value)
                else:
                    self.ev.field_varint(30, <uint64_t>(<int64_t>int(value)))
                self.pkt.field_msg(11, self.ev)
                self.emit_packet(ts, True)
            return 0
        if e.kind == KIND_OBJECT:
            ph, obj_id, args = extra
            payload = {"ph": ph, "id": obj_id}
            if args is not None:
                payload["snapshot"] = args
            return self.event(ts, TYPE_INSTANT, CAT_OBJECT, self.name_iid(e.obj, e.kind),
                              thread_track, payload)
        if e.kind == KIND_RAW:
            raw = <object>e.obj
            self.ev.field_varint(3, CAT_RAW)
            self.ev.field_varint(9, TYPE_INSTANT)
            self.ev.field_str(23, str(raw.get("name", "raw")))
            self.ev.field_varint(11, thread_track)
            self.tmp.field_varint(1, self.annotation_iid("event"))
            self.tmp.field_str(9, self.encoder.encode(raw))
            self.ev.field_msg(4, self.tmp)
            self.pkt.field_msg(11, self.ev)
            return self.emit_packet(ts, True)
        return 0

    def finish(self, dict metadata):
        """The last packet: the report's metadata as ChromeMetadata entries (json_value)."""
        cdef ProtoBuffer bundle = ProtoBuffer(None)
        for name, value in metadata.items():
            self.tmp.field_str(1, name)
            self.tmp.field_str(5, self.encoder.encode(value))
            bundle.field_msg(2, self.tmp)
        self.pkt.field_msg(5, bundle)
        self.pkt.field_varint(10, SEQ_ID)
        self.out.field_msg(1, self.pkt)
        self.out.flush()


def write_perfetto(tracer, write, long pid, str process_name, metadata_for):
    """Write the ring as a Perfetto protobuf trace through ``write`` (bytes chunks).

    ``metadata_for(functions, counter_tracks)`` returns the dict of metadata entries written
    in the last packet. Returns the number of ring entries written.
    """
    cdef PerfettoWriter w = PerfettoWriter(write, pid)
    count, functions = w.write(tracer, process_name)
    w.finish(metadata_for(functions, w.counter_tracks))
    return count
