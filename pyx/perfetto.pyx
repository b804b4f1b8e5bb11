# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The Perfetto protobuf writer: a recording's ring, or a loaded report, as TracePackets.

The packets are encoded by hand. Field numbers, wire types and the varint are
``protowire.pxd``'s, shared with the reader (``pyx/pftrace_scan.pyx``); the output buffer, the
name table and the clock mapping are the Chrome JSON encoder's (``pyx/export.pyx``), cimported
through ``pyx/viztracer/_export.pxd``. protos/viztracer_perfetto.proto holds the messages.

Layout of a file (docs/architecture.md explains the choices):
- sequence 1 holds the track descriptors, instants, counters, objects and raw events, with
  absolute timestamps, and the metadata packet;
- each thread's slices are a sequence of their own (2, 3, ...): its first packet clears the
  incremental state, makes the thread's track the default one, and starts an incremental
  clock (id 64), so every later packet holds only the nanoseconds since the previous one;
- interned names use one id space for the whole file, and each sequence defines an id
  before its first use there;
- packets are deflated in chunks into `compressed_packets` unless asked not to.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from libc.math cimport llround
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free, qsort, realloc
from libc.string cimport memcpy, memset

cimport cython

cimport protowire as pw
from protowire cimport put_varint
from ring cimport (FLAG_EXTRA, FLAG_OPEN, KIND_C, KIND_COUNTER, KIND_DURATION, KIND_INSTANT,
                   KIND_OBJECT, KIND_PY, KIND_RAW, Entry, Ring, next_part, vt_load_acquire,
                   vt_load_flag)
from viztracer._export cimport (CHUNK, SCR_AT, SCR_DEFLATE, SCR_OPEN, SCR_PLACE, SCR_RECS,
                                SCR_RUN, SCR_SPLIT, SCR_STACK, Clock, NameSlot, NameTable,
                                OutBuffer, PartWork, Scratch, clock_of, json_text, ring_of,
                                span_of, take_part_refs, ts_ns, utf8, write_all)

import collections
import concurrent.futures
import os
import zlib

cdef extern from "zlib.h" nogil:
    int Z_OK
    unsigned long compressBound(unsigned long source_len)
    int compress2(unsigned char* dest, unsigned long* dest_len, const unsigned char* source,
                  unsigned long source_len, int level)

cdef int64_t OPEN_END = 0x7FFFFFFFFFFFFFFF     # the end of a slice still open at stop

cdef enum:
    SEQ_MAIN = 1        # the sequence of descriptors and other events; threads' follow it
    # every thread sequence's clock: the first clock id scoped to a sequence
    CLOCK_INCREMENTAL = pw.FIRST_SEQUENCE_CLOCK

# The categories, interned in the first packet of sequence 1 with ids 1, 2, ...; the reader
# tells instants, objects and raw events apart by these names.
CATEGORIES = ("FEE", "instant", "object", "raw")
cdef enum:
    CAT_FEE = 1
    CAT_INSTANT = 2
    CAT_OBJECT = 3
    CAT_RAW = 4


@cython.final
cdef class ProtoBuffer(OutBuffer):
    """OutBuffer with protobuf primitives."""

    cdef inline int varint(self, uint64_t v) except -1 nogil:
        cdef char tmp[10]
        return self.put(tmp, put_varint(tmp, v))

    cdef inline int tag(self, int field, int wire) except -1 nogil:
        return self.varint(pw.tag(field, wire))

    cdef inline int field_varint(self, int field, uint64_t v) except -1 nogil:
        self.tag(field, pw.WIRE_VARINT)
        return self.varint(v)

    cdef int field_bytes(self, int field, const char* data, Py_ssize_t n) except -1 nogil:
        self.tag(field, pw.WIRE_LEN)
        self.varint(<uint64_t>n)
        return self.put(data, n)

    cdef int field_str(self, int field, str s) except -1:
        cdef bytes b = utf8(s)
        return self.field_bytes(field, PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef int field_double(self, int field, double v) except -1 nogil:
        self.tag(field, pw.WIRE_I64)
        return self.put(<char*>&v, 8)

    cdef int field_msg(self, int field, ProtoBuffer inner) except -1 nogil:
        """Append ``inner``'s bytes as a length-delimited field and empty ``inner``."""
        self.field_bytes(field, inner.data, inner.n)
        inner.n = 0
        return 0


ctypedef struct SliceRec:
    int64_t start
    int64_t end             # OPEN_END for calls still open at stop
    uint64_t order          # ring position or event index: the last tie-breaker
    PyObject* name          # borrowed: a code object (KIND_PY) or a str
    PyObject* args          # borrowed, or NULL
    uint32_t thread         # the writer's thread index
    uint16_t depth
    uint8_t kind


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
    return -1 if x.order < y.order else (1 if x.order > y.order else 0)



# -- putting slices in order --------------------------------------------------------------------
# A ring part holds each thread's calls in the order they ended: callees before their caller.
# The writer needs them in slice_cmp's order (by thread, then start: callers before callees).
# A general sort of a part was a third of the streaming writer's time; this does it in a few
# linear passes: a stable split by thread, then, within a thread, the order that ``depth``
# implies (the calls that ended just before one, deeper than it, are its callees: a call's
# place among starts is where its callees' run begins, plus how many of its callers are in
# the part). What depth can't tell (generators resumed at another depth, ties, a loaded
# report's events in any order) is caught by a check of the result, and sorted then.

cdef bint in_order(SliceRec* recs, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t j
    for j in range(1, n):
        if slice_cmp(&recs[j - 1], &recs[j]) > 0:
            return False
    return True


cdef int order_slices(SliceRec* recs, Py_ssize_t n, Scratch scratch) except -1 nogil:
    """Put ``recs`` in slice_cmp's order."""
    cdef SliceRec* split
    cdef Py_ssize_t* run               # where each record's callees begin
    cdef Py_ssize_t* place
    cdef Py_ssize_t* stack
    cdef Py_ssize_t* at                # per thread: where its records go in ``split``
    cdef Py_ssize_t i, top, a, b
    cdef uint32_t threads = 0
    if in_order(recs, n):
        return 0
    for i in range(n):
        if recs[i].thread >= threads:
            threads = recs[i].thread + 1
    split = <SliceRec*>scratch.get(SCR_SPLIT, n * sizeof(SliceRec))
    run = <Py_ssize_t*>scratch.get(SCR_RUN, n * sizeof(Py_ssize_t))
    place = <Py_ssize_t*>scratch.get(SCR_PLACE, n * sizeof(Py_ssize_t))
    stack = <Py_ssize_t*>scratch.get(SCR_STACK, n * sizeof(Py_ssize_t))
    at = <Py_ssize_t*>scratch.get(SCR_AT, (threads + 1) * sizeof(Py_ssize_t))
    memset(at, 0, (threads + 1) * sizeof(Py_ssize_t))
    # a stable split by thread, the ring's order kept within each
    for i in range(n):
        at[recs[i].thread + 1] += 1
    for i in range(threads):
        at[i + 1] += at[i]
    for i in range(n):
        split[at[recs[i].thread]] = recs[i]
        at[recs[i].thread] += 1
    a = 0
    while a < n:
        b = a
        while b < n and split[b].thread == split[a].thread:
            b += 1
        # run[i]: after the last record before i no deeper than it (its callees follow that)
        top = 0
        for i in range(a, b):
            while top > 0 and split[stack[top - 1]].depth > split[i].depth:
                top -= 1
            run[i] = stack[top - 1] + 1 if top > 0 else a
            stack[top] = i
            top += 1
        # plus the callers in the part: the later records whose callees' run holds i
        top = 0
        i = b - 1
        while i >= a:
            while top > 0 and run[stack[top - 1]] > i:
                top -= 1
            place[i] = run[i] + top
            stack[top] = i
            top += 1
            i -= 1
        for i in range(a, b):
            recs[place[i]] = split[i]
        if not in_order(recs + a, b - a):
            qsort(recs + a, b - a, sizeof(SliceRec), slice_cmp)
        a = b
    return 0

cdef class Deflater:
    """The file's ``write`` behind a deflate step: each chunk of whole packets becomes one
    TracePacket whose ``compressed_packets`` field holds them (what Perfetto's own service
    writes when asked to compress).

    zlib lets go of the GIL while it works, so chunks are deflated on a helper thread while
    the writer encodes the next ones; where no thread can be started (interpreter shutdown),
    they are deflated in place. ``close()`` writes what is still pending."""
    cdef object write
    cdef object pool
    cdef object pending

    def __init__(self, write, bint threaded=True):
        self.write = write
        self.pending = collections.deque()
        self.pool = None
        if threaded:
            try:
                self.pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="viztracer-deflate")
            except RuntimeError:
                pass

    def __call__(self, bytes chunk):
        if self.pool is not None:
            try:
                self.pending.append(self.pool.submit(zlib.compress, chunk, 1))
            except RuntimeError:
                self.pool = None
        if self.pool is None:
            self.emit(zlib.compress(chunk, 1))
        while len(self.pending) > 2:
            self.emit(self.pending.popleft().result())

    def drain(self):
        """Wait for every pending chunk and write it (the stream's part is then on disk)."""
        while self.pending:
            self.emit(self.pending.popleft().result())

    def close(self):
        try:
            while self.pending:
                self.emit(self.pending.popleft().result())
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    cdef emit(self, bytes packed):
        self.write(compressed_head(PyBytes_GET_SIZE(packed)))
        self.write(packed)


cdef bytes compressed_head(Py_ssize_t n):
    """What precedes ``n`` deflated bytes in the file: a Trace.packet whose only field is
    ``compressed_packets``."""
    cdef char head[24]
    return PyBytes_FromStringAndSize(head, compressed_head_into(head, n))


cdef int compressed_head_into(char* head, Py_ssize_t n) noexcept nogil:
    """``compressed_head`` into ``head`` (24 bytes); returns its length."""
    # the packet's key and length, then compressed_packets' key (two bytes: field 50) and
    # length; ``head`` serves as scratch to size the packet's body first
    cdef uint32_t key = pw.tag(pw.PACKET_COMPRESSED_PACKETS, pw.WIRE_LEN)
    cdef int inner = put_varint(head, key) + put_varint(head, <uint64_t>n)
    cdef int k = put_varint(head, pw.tag(pw.TRACE_PACKET, pw.WIRE_LEN))
    k += put_varint(head + k, <uint64_t>(inner + n))
    k += put_varint(head + k, key)
    k += put_varint(head + k, <uint64_t>n)
    return k


@cython.final
cdef bytes interned_categories():
    """CATEGORIES as the interned data of a packet (ids 1, 2, ...)."""
    cdef ProtoBuffer msg = ProtoBuffer(None)
    cdef ProtoBuffer out = ProtoBuffer(None)
    cdef int i
    for i, cat in enumerate(CATEGORIES):
        msg.field_varint(pw.INTERNED_IID, i + 1)
        msg.field_str(pw.INTERNED_NAME, cat)
        out.field_msg(pw.INTERNED_EVENT_CATEGORIES, msg)
    return PyBytes_FromStringAndSize(out.data, out.n)


# built once, so that a part can start without the GIL (kept: the pointer is into it)
cdef bytes _categories_interned = interned_categories()
cdef const char* CATEGORIES_INTERNED = _categories_interned
cdef Py_ssize_t CATEGORIES_INTERNED_N = len(_categories_interned)


cdef class PerfettoWriter:
    """Writes tracks, slices (one sequence per thread) and other events as TracePackets."""
    cdef ProtoBuffer out
    cdef ProtoBuffer pkt
    cdef ProtoBuffer ev
    cdef ProtoBuffer interned
    cdef ProtoBuffer tmp
    cdef public NameTable names
    cdef dict annotation_iids       # name -> iid
    cdef dict annotation_seq        # iid -> the sequence epoch that last defined it
    cdef uint32_t* name_seq         # name iid -> the sequence epoch that last defined it
    cdef size_t name_seq_cap
    cdef uint32_t seq               # the sequence being written
    cdef bint hold                  # keep the packets in ``out`` (a stream writes them at once)
    cdef bint compress              # a stream's: deflate what write_compressed writes
    cdef bint compress_wanted       # a stream's: deflate parts written when not in a hurry
    cdef uint64_t* uuids            # thread index -> uuid, for code without the GIL
    cdef uint8_t* seq_begun         # thread index -> 1 once its sequence's first packet is out
    cdef size_t uuids_cap
    cdef uint32_t epoch             # the sequence's incremental state: bumped at every clear
    cdef uint32_t main_epoch
    cdef uint32_t epochs
    cdef int64_t last_ts            # on a thread sequence: the previous packet's time
    cdef dict process_uuids         # pid -> uuid
    cdef dict global_uuids          # pid -> uuid of its "Global" track
    cdef list thread_uuids          # thread index -> uuid
    cdef list thread_pids           # thread index -> pid
    cdef list thread_tids           # thread index -> tid
    cdef dict thread_index          # (pid, tid) -> thread index
    cdef dict counter_uuids         # (pid, name, key) -> uuid
    cdef public dict counter_tracks     # str(uuid) -> [name, key], for the reader
    cdef object deflater
    cdef Scratch scratch            # working memory, kept from part to part

    def __cinit__(self, write, bint compress=True, bint threaded=True):
        self.deflater = Deflater(write, threaded) if compress else None
        self.scratch = Scratch()
        self.out = ProtoBuffer(self.deflater if compress else write)
        self.pkt = ProtoBuffer(None)
        self.ev = ProtoBuffer(None)
        self.interned = ProtoBuffer(None)
        self.tmp = ProtoBuffer(None)
        self.names = NameTable()
        self.names.raw = True
        self.annotation_iids = {}
        self.annotation_seq = {}
        self.process_uuids = {}
        self.global_uuids = {}
        self.thread_uuids = []
        self.thread_pids = []
        self.thread_tids = []
        self.thread_index = {}
        self.counter_uuids = {}
        self.counter_tracks = {}
        self.seq = SEQ_MAIN
        self.name_seq_cap = 1024
        self.name_seq = <uint32_t*>calloc(self.name_seq_cap, sizeof(uint32_t))
        if self.name_seq == NULL:
            raise MemoryError()
        self.start_main()

    def __dealloc__(self):
        free(self.name_seq)
        free(self.uuids)
        free(self.seq_begun)

    # -- packets and sequences ------------------------------------------------------------------

    cdef int emit_packet(self, int64_t ts, bint timed) except -1 nogil:
        """Wrap ``pkt`` (plus pending interned data) into a TracePacket of the current sequence."""
        if timed:
            if self.seq == SEQ_MAIN:
                self.pkt.field_varint(pw.PACKET_TIMESTAMP, <uint64_t>ts)
            else:
                self.pkt.field_varint(pw.PACKET_TIMESTAMP, <uint64_t>(ts - self.last_ts))
                self.last_ts = ts
        self.pkt.field_varint(pw.PACKET_SEQUENCE_ID, self.seq)
        if self.interned.n:
            self.pkt.field_msg(pw.PACKET_INTERNED_DATA, self.interned)
        self.out.field_msg(pw.TRACE_PACKET, self.pkt)
        return self.maybe_flush()

    cdef int write_compressed(self, int fd) except -1 nogil:
        """Write what ``out`` holds to ``fd`` (deflated in chunks, unless not compressing: see
        ``compress``), and empty it; the errno of a failed write, or 0."""
        # One chunk for all: ``out`` holds whole packets, and a chunk must not split one.
        cdef int failed = 0
        cdef char head[24]
        cdef int k
        cdef unsigned long packed
        cdef char* dest
        if self.out.n == 0:
            return 0
        if not self.compress:
            failed = write_all(fd, self.out.data, self.out.n)
            self.out.n = 0
            return failed
        packed = compressBound(self.out.n)
        dest = <char*>self.scratch.get(SCR_DEFLATE, packed)
        if compress2(<unsigned char*>dest, &packed, <unsigned char*>self.out.data, self.out.n, 1) != Z_OK:
            with gil:
                raise MemoryError("zlib could not deflate a part of the trace")
        k = compressed_head_into(head, packed)
        failed = write_all(fd, head, k)
        if not failed:
            failed = write_all(fd, dest, packed)
        self.out.n = 0
        return failed

    cdef int maybe_flush(self) except -1 nogil:
        """Hand a full chunk to ``write``, unless a stream holds the part (``hold``)."""
        if not self.hold and self.out.n >= CHUNK:
            with gil:
                self.out.flush()
        return 0

    cdef int start_main(self) except -1 nogil:
        """The first packet of sequence 1: clears its state and interns the categories."""
        self.interned.put(CATEGORIES_INTERNED, CATEGORIES_INTERNED_N)
        self.epochs += 1
        self.seq = SEQ_MAIN
        self.epoch = self.main_epoch = self.epochs
        self.pkt.field_varint(pw.PACKET_SEQUENCE_FLAGS, pw.SEQ_INCREMENTAL_STATE_CLEARED)
        if self.epochs == 1:
            self.pkt.field_varint(pw.PACKET_FIRST_ON_SEQUENCE, 1)
        return self.emit_packet(0, False)

    cdef int switch_to_main(self) except -1 nogil:
        self.seq = SEQ_MAIN
        self.epoch = self.main_epoch
        return 0

    cdef int new_part(self) except -1 nogil:
        """Start every sequence afresh: every name is interned again in the part that uses
        it (the table lives on: it keeps its objects alive, so no address is reused)."""
        memset(self.name_seq, 0, self.name_seq_cap * sizeof(uint32_t))
        return self.start_main()

    cdef int fresh_names(self) except -1:
        """A new name table (the old one keeps too many objects alive)."""
        self.names = NameTable()
        self.names.raw = True
        memset(self.name_seq, 0, self.name_seq_cap * sizeof(uint32_t))
        return 0

    cdef int write_slices(self, SliceRec* recs, Ring* ring, Clock* clock, uint64_t first,
                          uint64_t count, int fd, PartWork* p) except -1 nogil:
        """A streamed part's slices, encoded and written to ``fd`` (see ``write_compressed``);
        then its entries' references taken into ``p``. The errno of a failed write, or 0."""
        cdef int failed
        self.slices(recs, slice_recs(recs, ring, clock, first, count))
        if self.compress and vt_load_flag(&ring.writer_stop):
            self.compress = False       # stop() waits for this part: not deflated, like the rest
        failed = self.write_compressed(fd)
        if not failed:
            take_part_refs(ring, first, count, p)
        return failed

    def drain(self):
        """Hand every packet deflated so far to ``write``."""
        if self.deflater is not None:
            self.deflater.drain()

    cdef int start_thread_sequence(self, uint32_t thread, int64_t base) except -1 nogil:
        """A new sequence for one thread's slices, its clock starting at ``base`` ns."""
        self.seq = SEQ_MAIN + 1 + thread
        self.epochs += 1
        self.epoch = self.epochs
        self.last_ts = base
        self.pkt.field_varint(pw.PACKET_SEQUENCE_FLAGS, pw.SEQ_INCREMENTAL_STATE_CLEARED)
        if not self.seq_begun[thread]:
            self.seq_begun[thread] = 1
            self.pkt.field_varint(pw.PACKET_FIRST_ON_SEQUENCE, 1)
        # TracePacketDefaults: the incremental clock, and the thread's track for every event
        self.ev.field_varint(pw.EVENT_DEFAULTS_TRACK_UUID, self.uuids[thread])
        self.tmp.field_varint(pw.DEFAULTS_TIMESTAMP_CLOCK_ID, CLOCK_INCREMENTAL)
        self.tmp.field_msg(pw.DEFAULTS_TRACK_EVENT, self.ev)
        self.pkt.field_msg(pw.PACKET_DEFAULTS, self.tmp)
        # ClockSnapshot: clock 64 reads ``base`` when BOOTTIME does
        self.ev.field_varint(pw.CLOCK_ID, pw.BUILTIN_CLOCK_BOOTTIME)
        self.ev.field_varint(pw.CLOCK_TIMESTAMP, <uint64_t>base)
        self.tmp.field_msg(pw.SNAPSHOT_CLOCKS, self.ev)
        self.ev.field_varint(pw.CLOCK_ID, CLOCK_INCREMENTAL)
        self.ev.field_varint(pw.CLOCK_TIMESTAMP, <uint64_t>base)
        self.ev.field_varint(pw.CLOCK_IS_INCREMENTAL, 1)
        self.tmp.field_msg(pw.SNAPSHOT_CLOCKS, self.ev)
        self.pkt.field_msg(pw.PACKET_CLOCK_SNAPSHOT, self.tmp)
        return self.emit_packet(0, False)

    # -- tracks ---------------------------------------------------------------------------------

    cdef int descriptor(self, uint64_t uuid, uint64_t parent, str name) except -1:
        """A TrackDescriptor packet from ``ev``'s process/thread/counter part, if any."""
        self.pkt.field_varint(pw.DESCRIPTOR_UUID, uuid)      # pkt is free here: borrow it for the descriptor
        if parent:
            self.pkt.field_varint(pw.DESCRIPTOR_PARENT_UUID, parent)
        if name is not None:
            self.pkt.field_str(pw.DESCRIPTOR_NAME, name)
        self.tmp.put(self.pkt.data, self.pkt.n)
        self.pkt.n = 0
        self.tmp.put(self.ev.data, self.ev.n)
        self.ev.n = 0
        self.pkt.field_msg(pw.PACKET_TRACK_DESCRIPTOR, self.tmp)
        return self.emit_packet(0, False)

    def process(self, long pid, str name, labels=None):
        """The track of process ``pid`` (described on first use, or again when ``labels``
        are given: the last description of a track is the one that counts); its uuid."""
        uuid = self.process_uuids.get(pid)
        if uuid is None or labels is not None:
            uuid = (<uint64_t>(pid & 0xFFFFFFFFFF)) << 24
            self.process_uuids[pid] = uuid
            self.tmp.field_varint(pw.PROCESS_PID, <uint64_t>pid)
            if name:
                self.tmp.field_str(pw.PROCESS_NAME, name)
            for label in labels or ():
                self.tmp.field_str(pw.PROCESS_LABELS, label)
            self.ev.field_msg(pw.DESCRIPTOR_PROCESS, self.tmp)
            self.descriptor(uuid, 0, None)
        return uuid

    def thread(self, long pid, long tid, str name):
        """The writer's index of thread (pid, tid), described on first use."""
        index = self.thread_index.get((pid, tid))
        if index is None:
            index = self.add_thread(pid, tid, name)
        return index

    def add_thread(self, long pid, long tid, str name):
        """A new thread track, even for a (pid, tid) seen before; returns its index."""
        parent = self.process(pid, None)
        index = len(self.thread_uuids)
        uuid = parent | (len([p for p in self.thread_pids if p == pid]) + 1)
        self.thread_index.setdefault((pid, tid), index)
        self.thread_uuids.append(uuid)
        self.c_thread(index, uuid)
        self.thread_pids.append(pid)
        self.thread_tids.append(tid)
        self.tmp.field_varint(pw.THREAD_PID, <uint64_t>pid)
        self.tmp.field_varint(pw.THREAD_TID, <uint64_t>tid)
        if name:
            self.tmp.field_str(pw.THREAD_NAME, name)
        self.ev.field_msg(pw.DESCRIPTOR_THREAD, self.tmp)
        self.descriptor(uuid, parent, None)
        return index

    cdef int c_thread(self, size_t index, uint64_t uuid) except -1:
        """Keep a thread's uuid where code without the GIL can read it."""
        cdef size_t cap = self.uuids_cap
        cdef uint64_t* uuids
        cdef uint8_t* begun
        if index >= cap:
            cap = 2 * index + 16
            uuids = <uint64_t*>realloc(self.uuids, cap * sizeof(uint64_t))
            if uuids == NULL:
                raise MemoryError()
            self.uuids = uuids
            begun = <uint8_t*>realloc(self.seq_begun, cap)
            if begun == NULL:
                raise MemoryError()
            memset(begun + self.uuids_cap, 0, cap - self.uuids_cap)
            self.seq_begun = begun
            self.uuids_cap = cap
        self.uuids[index] = uuid
        return 0

    cdef uint64_t global_track(self, long pid) except 0:
        uuid = self.global_uuids.get(pid)
        if uuid is None:
            uuid = self.process(pid, None) | 0xFFFFFF
            self.global_uuids[pid] = uuid
            self.descriptor(uuid, 0, "Global")
        return uuid

    cdef uint64_t counter_track(self, long pid, str name, str key) except 0:
        uuid = self.counter_uuids.get((pid, name, key))
        if uuid is None:
            process = self.process(pid, None)
            uuid = process | (0x800000 + len([k for k in self.counter_uuids if k[0] == pid]))
            self.counter_uuids[(pid, name, key)] = uuid
            self.counter_tracks[str(uuid)] = [name, key]
            self.ev.field_msg(pw.DESCRIPTOR_COUNTER, self.tmp)      # an empty CounterDescriptor
            self.descriptor(uuid, process, f"{name} {key}" if key != name else name)
        return uuid

    # -- interning ------------------------------------------------------------------------------

    cdef uint64_t name_iid(self, PyObject* obj, int kind) except 0:
        """The iid of a name, interned into the pending packet when this sequence lacks it."""
        cdef NameSlot* s = self.names.lookup(obj, kind)
        self.room_for_iid(s.iid)
        return self.known_iid(s)

    cdef int room_for_iid(self, uint64_t iid) except -1:
        cdef uint32_t* grown
        if iid >= self.name_seq_cap:
            grown = <uint32_t*>realloc(self.name_seq, 2 * iid * sizeof(uint32_t))
            if grown == NULL:
                raise MemoryError()
            memset(grown + self.name_seq_cap, 0, (2 * iid - self.name_seq_cap) * sizeof(uint32_t))
            self.name_seq = grown
            self.name_seq_cap = 2 * iid
        return 0

    cdef uint64_t known_iid(self, NameSlot* s) except 0 nogil:
        """``name_iid`` of a name already in the table (``room_for_iid`` done), GIL or not."""
        cdef uint64_t iid = s.iid
        if self.name_seq[iid] != self.epoch:
            self.name_seq[iid] = self.epoch
            self.tmp.field_varint(pw.INTERNED_IID, iid)
            self.tmp.field_bytes(pw.INTERNED_NAME, s.text, s.n)
            self.interned.field_msg(pw.INTERNED_EVENT_NAMES, self.tmp)
        return iid

    cdef uint64_t annotation_iid(self, str key) except 0:
        iid = self.annotation_iids.get(key)
        if iid is None:
            iid = self.annotation_iids[key] = len(self.annotation_iids) + 1
        if self.annotation_seq.get(iid) != self.epoch:
            self.annotation_seq[iid] = self.epoch
            self.tmp.field_varint(pw.INTERNED_IID, iid)
            self.tmp.field_str(pw.INTERNED_NAME, key)
            self.interned.field_msg(pw.INTERNED_ANNOTATION_NAMES, self.tmp)
        return iid

    # -- annotations ----------------------------------------------------------------------------

    cdef int annotation_value(self, ProtoBuffer buf, value) except -1:
        """The value fields of a DebugAnnotation for a JSON-like Python value."""
        cdef ProtoBuffer inner
        if isinstance(value, str):
            buf.field_str(pw.ANNOTATION_STRING, value)
        elif isinstance(value, bool):
            buf.field_varint(pw.ANNOTATION_BOOL, 1 if value else 0)
        elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
            buf.field_varint(pw.ANNOTATION_INT, <uint64_t>(<int64_t>value))
        elif isinstance(value, float):
            buf.field_double(pw.ANNOTATION_DOUBLE, value)
        elif isinstance(value, dict) and value:
            inner = ProtoBuffer(None)
            for k, v in value.items():
                inner.field_str(pw.ANNOTATION_NAME, str(k))
                self.annotation_value(inner, v)
                buf.field_msg(pw.ANNOTATION_DICT_ENTRIES, inner)
        elif isinstance(value, (list, tuple)) and value:
            inner = ProtoBuffer(None)
            for v in value:
                self.annotation_value(inner, v)
                buf.field_msg(pw.ANNOTATION_ARRAY_VALUES, inner)
        else:   # None, {}, [], numbers too big for int64, anything else: as JSON
            buf.field_str(pw.ANNOTATION_LEGACY_JSON, json_text(value))
        return 0

    cdef int annotations(self, args) except -1:
        """The debug annotations (interned names) of an event's ``args``, into ``ev``."""
        cdef ProtoBuffer inner = ProtoBuffer(None)
        if type(args) is not dict or not args:
            # not an object, or an empty one: kept whole under a name the reader unwraps
            inner.field_varint(pw.ANNOTATION_NAME_IID, self.annotation_iid("#args"))
            self.annotation_value(inner, args)
            return self.ev.field_msg(pw.EVENT_DEBUG_ANNOTATIONS, inner)
        for k, v in (<dict>args).items():
            inner.field_varint(pw.ANNOTATION_NAME_IID, self.annotation_iid(str(k)))
            self.annotation_value(inner, v)
            self.ev.field_msg(pw.EVENT_DEBUG_ANNOTATIONS, inner)
        return 0

    cdef int event(self, int64_t ts, int type_, uint64_t cat, uint64_t name_iid,
                   uint64_t track, object args) except -1:
        """A TrackEvent packet on the main sequence (on a named track)."""
        if cat:
            self.ev.field_varint(pw.EVENT_CATEGORY_IIDS, cat)
        self.ev.field_varint(pw.EVENT_TYPE, type_)
        if name_iid:
            self.ev.field_varint(pw.EVENT_NAME_IID, name_iid)
        self.ev.field_varint(pw.EVENT_TRACK_UUID, track)
        if args is not None:
            self.annotations(args)
        self.pkt.field_msg(pw.PACKET_TRACK_EVENT, self.ev)
        return self.emit_packet(ts, True)

    # -- slices ---------------------------------------------------------------------------------

    cdef int slices(self, SliceRec* recs, Py_ssize_t n) except -1 nogil:
        """Sort ``recs`` and write them, one sequence per thread, as nested BEGIN/END pairs.
        Without the GIL when no record has args and every name is in the table already."""
        cdef SliceRec** stack
        cdef SliceRec* top
        cdef Py_ssize_t j, depth = 0
        cdef uint32_t thread = 0xFFFFFFFF
        if n == 0:
            return 0
        order_slices(recs, n, self.scratch)
        stack = <SliceRec**>self.scratch.get(SCR_OPEN, n * sizeof(SliceRec*))
        for j in range(n):
            if recs[j].thread != thread:
                self.close_all(stack, depth)
                depth = 0
                thread = recs[j].thread
                self.start_thread_sequence(thread, recs[j].start)
            while depth > 0:
                top = stack[depth - 1]
                if top.end < recs[j].start or (top.end == recs[j].start and (
                        recs[j].end > recs[j].start or recs[j].depth <= top.depth)):
                    self.slice_end(top.end)
                    depth -= 1
                else:
                    break
            if depth > 0 and recs[j].end > stack[depth - 1].end:
                recs[j].end = stack[depth - 1].end      # overlapping, not nested: clip
            self.slice_begin(&recs[j])
            stack[depth] = &recs[j]
            depth += 1
        self.close_all(stack, depth)
        self.switch_to_main()
        return 0

    cdef int close_all(self, SliceRec** stack, Py_ssize_t depth) except -1 nogil:
        while depth > 0:
            depth -= 1
            if stack[depth].end != OPEN_END:
                self.slice_end(stack[depth].end)
        return 0

    cdef int slice_begin(self, SliceRec* r) except -1 nogil:
        cdef uint64_t iid
        if r.args != NULL:
            with gil:
                iid = self.name_iid(r.name, r.kind)
                self.ev.field_varint(pw.EVENT_TYPE, pw.TYPE_SLICE_BEGIN)
                self.ev.field_varint(pw.EVENT_NAME_IID, iid)
                self.annotations(<object>r.args)
                self.pkt.field_msg(pw.PACKET_TRACK_EVENT, self.ev)
                return self.emit_packet(r.start, True)
        iid = self.known_iid(self.names.find(<void*>r.name))
        if self.interned.n:
            self.ev.field_varint(pw.EVENT_TYPE, pw.TYPE_SLICE_BEGIN)
            self.ev.field_varint(pw.EVENT_NAME_IID, iid)
            self.pkt.field_msg(pw.PACKET_TRACK_EVENT, self.ev)
            return self.emit_packet(r.start, True)
        # the common case, encoded in one go: {timestamp delta, sequence, {type, name_iid}}
        return self.short_packet(r.start, pw.TYPE_SLICE_BEGIN, iid)

    cdef int slice_end(self, int64_t ts) except -1 nogil:
        return self.short_packet(ts, pw.TYPE_SLICE_END, 0)

    cdef inline int short_packet(self, int64_t ts, int type_, uint64_t iid) except -1 nogil:
        """A thread sequence's packet {timestamp delta, sequence, {type, name_iid if any}},
        encoded straight into ``out``: a slice's begin and end are most of what is written.
        Every field's key is one byte (their numbers are below 16), and so is the body's length
        (at most 2 + 10 + 1 + 5 + 2 + 2 + 1 + 10 bytes)."""
        cdef char* head
        cdef char* p
        cdef int k = 0, te
        if self.out.n + 48 > self.out.cap:
            self.out.reserve(48)
        head = self.out.data + self.out.n
        p = head + 2        # the body, after the packet's key and length
        p[0] = <char>pw.tag(pw.PACKET_TIMESTAMP, pw.WIRE_VARINT)
        k = 1 + put_varint(p + 1, <uint64_t>(ts - self.last_ts))
        self.last_ts = ts
        p[k] = <char>pw.tag(pw.PACKET_SEQUENCE_ID, pw.WIRE_VARINT)
        k += 1 + put_varint(p + k + 1, self.seq)
        p[k] = <char>pw.tag(pw.PACKET_TRACK_EVENT, pw.WIRE_LEN)
        te = k + 1
        p[te + 1] = <char>pw.tag(pw.EVENT_TYPE, pw.WIRE_VARINT)
        p[te + 2] = <char>type_
        k = te + 3
        if iid:
            p[k] = <char>pw.tag(pw.EVENT_NAME_IID, pw.WIRE_VARINT)
            k += 1 + put_varint(p + k + 1, iid)
        p[te] = <char>(k - te - 1)
        head[0] = <char>pw.tag(pw.TRACE_PACKET, pw.WIRE_LEN)
        head[1] = <char>k
        self.out.n += 2 + k
        if self.hold or self.out.n < CHUNK:     # maybe_flush's test, without a call per packet
            return 0
        return self.maybe_flush()

    # -- other events (sequence 1, absolute timestamps) -----------------------------------------

    cdef int instant(self, int64_t ts, long pid, uint32_t thread, PyObject* name, int kind,
                     args, str scope, bint has_args) except -1:
        """An instant (``cat`` INSTANT) on the track its scope says; ``has_args`` False (only
        from a loaded report): no ``args`` key, told from ``"args": null`` by having no
        annotation."""
        cdef ProtoBuffer inner
        if scope == "g":
            track = self.global_track(pid)
        elif scope == "p":
            track = self.process(pid, None)
        else:
            track = self.thread_uuids[thread]
        self.ev.field_varint(pw.EVENT_CATEGORY_IIDS, CAT_INSTANT)
        self.ev.field_varint(pw.EVENT_TYPE, pw.TYPE_INSTANT)
        self.ev.field_varint(pw.EVENT_NAME_IID, self.name_iid(name, kind))
        self.ev.field_varint(pw.EVENT_TRACK_UUID, track)
        tid = self.thread_tids[thread]
        if scope != "t" and tid != pid:
            # a process or global track does not say which thread recorded the instant
            inner = ProtoBuffer(None)
            inner.field_varint(pw.ANNOTATION_NAME_IID, self.annotation_iid("#tid"))
            inner.field_varint(pw.ANNOTATION_INT, <uint64_t>(<int64_t>tid))
            self.ev.field_msg(pw.EVENT_DEBUG_ANNOTATIONS, inner)
        if has_args:
            self.annotations(args)
        self.pkt.field_msg(pw.PACKET_TRACK_EVENT, self.ev)
        return self.emit_packet(ts, True)

    cdef int counter(self, int64_t ts, long pid, str name, values) except -1:
        for key, value in values.items():
            track = self.counter_track(pid, name, str(key))
            self.ev.field_varint(pw.EVENT_TYPE, pw.TYPE_COUNTER)
            self.ev.field_varint(pw.EVENT_TRACK_UUID, track)
            if isinstance(value, float):
                self.ev.field_double(pw.EVENT_DOUBLE_COUNTER_VALUE, value)
            elif isinstance(value, int) and -(1 << 63) <= value < (1 << 63):
                self.ev.field_varint(pw.EVENT_COUNTER_VALUE, <uint64_t>(<int64_t>value))
            elif isinstance(value, int):    # beyond 64 bits: the graph needs the size, not every digit
                self.ev.field_double(pw.EVENT_DOUBLE_COUNTER_VALUE, float(value))
            else:
                raise ValueError(f"counter {name!r} has a value that is not a number: {key}={value!r}")
            self.pkt.field_msg(pw.PACKET_TRACK_EVENT, self.ev)
            self.emit_packet(ts, True)
        return 0

    cdef int object_event(self, int64_t ts, uint32_t thread, PyObject* name, int kind, ph, obj_id,
                          args) except -1:
        payload = {"ph": ph, "id": obj_id}
        if args is not None:
            payload["args"] = args
        return self.event(ts, pw.TYPE_INSTANT, CAT_OBJECT, self.name_iid(name, kind),
                          self.thread_uuids[thread], payload)

    cdef int raw(self, int64_t ts, uint64_t track, dict raw) except -1:
        """Any other event, kept whole as JSON in an annotation the reader gives back."""
        self.ev.field_varint(pw.EVENT_CATEGORY_IIDS, CAT_RAW)
        self.ev.field_varint(pw.EVENT_TYPE, pw.TYPE_INSTANT)
        self.ev.field_str(pw.EVENT_NAME, str(raw.get("name", "raw")))
        self.ev.field_varint(pw.EVENT_TRACK_UUID, track)
        self.tmp.field_varint(pw.ANNOTATION_NAME_IID, self.annotation_iid("event"))
        self.tmp.field_str(pw.ANNOTATION_LEGACY_JSON, json_text(raw))
        self.ev.field_msg(pw.EVENT_DEBUG_ANNOTATIONS, self.tmp)
        self.pkt.field_msg(pw.PACKET_TRACK_EVENT, self.ev)
        return self.emit_packet(ts, True)

    def finish(self, dict metadata, bint close=True):
        """The last packet: the report's metadata as ChromeMetadata entries (json_value; a
        value given as bytes is JSON text already). Without ``close`` the deflater stays ready
        for more (a stream that may go on)."""
        cdef ProtoBuffer bundle = ProtoBuffer(None)
        self.switch_to_main()
        for name, value in metadata.items():
            self.tmp.field_str(pw.METADATA_NAME, name)
            if isinstance(value, bytes):
                self.tmp.field_bytes(pw.METADATA_JSON, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
            else:
                self.tmp.field_str(pw.METADATA_JSON, json_text(value))
            bundle.field_msg(pw.BUNDLE_METADATA, self.tmp)
        self.pkt.field_msg(pw.PACKET_CHROME_EVENTS, bundle)
        self.emit_packet(0, False)
        self.out.flush()
        if close:
            self.close()
        else:
            self.drain()

    def close(self):
        """Write what the deflater still holds and stop its thread (also after an error)."""
        if self.deflater is not None:
            deflater, self.deflater = self.deflater, None
            deflater.close()


# -- from the ring --------------------------------------------------------------------------------

def write_perfetto(recording, write, metadata_for, bint compress=True):
    """Write a ``Recording``'s ring as a Perfetto protobuf trace through ``write`` (bytes chunks).

    ``metadata_for(functions, counter_tracks)`` returns the dict of metadata entries written
    in the last packet. Returns the number of ring entries written.
    """
    cdef PerfettoWriter w = PerfettoWriter(write, compress)
    try:
        return ring_into(w, recording, metadata_for)
    finally:
        w.close()


cdef object ring_into(PerfettoWriter w, recording, metadata_for):
    cdef uint64_t count = ring_part(w, recording)
    w.finish(metadata_for(w.names.functions, w.counter_tracks))
    return count


cdef uint64_t ring_part(PerfettoWriter w, recording, int fd=-1, int more_parts=0, int64_t wait_ns=0,
                        uint64_t hurry_behind=0) except? 0xFFFFFFFFFFFFFFFF:
    """Write a recording's entries (its ``span``): tracks first seen, slices, other events.

    With ``fd``, a streamed part (``stream_part``): written to ``fd`` at once, holding the GIL
    as little as it can, and followed by up to ``more_parts`` parts."""
    cdef Ring* ring = ring_of(recording)
    cdef Clock clock = clock_of(recording)
    cdef long pid = recording.pid
    cdef uint64_t first
    cdef uint64_t count = span_of(recording, ring, &first)
    cdef uint64_t i, n = 0
    cdef Entry* e
    cdef SliceRec* recs
    w.process(pid, recording.process_name)
    for tid, tname in recording.threads[len(w.thread_uuids):]:
        w.add_thread(pid, tid, tname)       # indices are the ring's thread slots
    if ring.entries == NULL or count == 0:
        if fd >= 0:
            w.write_compressed(fd)
        return 0
    if fd >= 0:
        return stream_part(w, ring, &clock, recording.span[0], count, pid, fd, more_parts, wait_ns,
                           hurry_behind)
    for i in range(count):      # every name into the table (slices() finds them)
        e = &ring.entries[(first + i) % ring.capacity]
        if e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION:
            w.room_for_iid(w.names.lookup(e.obj, e.kind).iid)
    recs = <SliceRec*>w.scratch.get(SCR_RECS, count * sizeof(SliceRec))
    n = slice_recs(recs, ring, &clock, first, count)
    w.slices(recs, n)
    ring_others(w, ring, &clock, first, count, pid)
    return count


cdef uint64_t stream_part(PerfettoWriter w, Ring* ring, Clock* clock, uint64_t number, uint64_t count,
                          long pid, int fd, int more_parts, int64_t wait_ns,
                          uint64_t hurry_behind) except? 0xFFFFFFFFFFFFFFFF:
    """A streamed part, for a writer thread that should hold the GIL as briefly as it can
    (``one_part``), then up to ``more_parts`` whole parts of the ring after it, each waited for
    at most ``wait_ns`` (ring.pxd's next_part): going back to Python between parts costs the
    writer a wait for the GIL, longer than a part takes to write. A part started when the
    program is more than ``hurry_behind`` entries ahead is written without deflating it (see
    ``PerfettoStream.part``). ``number`` is the entry number of the span's first entry.
    Returns the number of entries written; their slots are empty
    afterwards (``stream_release`` need not visit them)."""
    cdef PartWork* p
    cdef SliceRec* recs
    cdef uint64_t total = 0
    cdef uint64_t room = count if count > ring.part else ring.part
    cdef int failed = 0
    cdef bint compress = w.compress
    cdef bint wanted = w.compress_wanted
    cdef uint32_t n_threads = <uint32_t>len(w.thread_uuids)
    p = w.scratch.begin_work(room, 1 + more_parts)
    try:
        recs = <SliceRec*>w.scratch.get(SCR_RECS, room * sizeof(SliceRec))
        with nogil:     # the program runs on meanwhile
            while True:
                failed = one_part(w, recs, ring, clock, number % ring.capacity, count, pid, fd, p)
                if failed:
                    break
                total += count
                number += count
                count = next_part(ring, number, wait_ns, n_threads, &more_parts)
                if count == 0:
                    break
                w.new_part()
                w.compress = wanted and vt_load_acquire(&ring.written) - number <= hurry_behind
    finally:
        w.compress = compress
        w.scratch.end_work()
    if failed:
        raise OSError(failed, os.strerror(failed))
    return total


cdef int one_part(PerfettoWriter w, SliceRec* recs, Ring* ring, Clock* clock, uint64_t first,
                  uint64_t count, long pid, int fd, PartWork* p) except -1 nogil:
    """One part of ``stream_part``, called without the GIL. With it, in one go before the
    slices: names not seen before and the other events (instants, counters, ...), which come
    first in the part. A part with args is written with the GIL throughout (each needs
    Python). The errno of a failed write, or 0."""
    cdef Py_ssize_t j
    cdef uint64_t slot
    cdef bint with_args = False
    cdef Entry* e
    w.names.scan_part(ring, first, count, p)
    if p.n_missing or p.n_special:
        with gil:
            w.names.add_missing(ring, p)
            w.room_for_iid(w.names.used)
            for j in range(p.n_special):
                slot = (first + p.special[j]) % ring.capacity
                e = &ring.entries[slot]
                if e.kind >= KIND_INSTANT:
                    ring_other(w, ring, e, slot, ts_ns(clock, e.ts), pid)
                else:
                    with_args = True
    if with_args:
        with gil:
            return w.write_slices(recs, ring, clock, first, count, fd, p)
    return w.write_slices(recs, ring, clock, first, count, fd, p)


cdef uint64_t slice_recs(SliceRec* recs, Ring* ring, Clock* clock, uint64_t first,
                        uint64_t count) noexcept nogil:
    """The calls and duration events among ``count`` entries from ``first``, as slice records;
    returns how many."""
    cdef uint64_t i, slot, n = 0
    cdef Entry* e
    cdef SliceRec* r
    for i in range(count):
        slot = (first + i) % ring.capacity
        e = &ring.entries[slot]
        if e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION:
            r = &recs[n]
            r.start = ts_ns(clock, e.ts)
            # the end maps from ticks like every start does, so an end and a start at the same
            # tick stay equal after rounding
            r.end = OPEN_END if e.flags & FLAG_OPEN else ts_ns(clock, e.ts + e.dur)
            r.order = i
            r.name = e.obj
            r.args = ring.extras[slot] if e.flags & FLAG_EXTRA else NULL
            r.thread = e.thread
            r.depth = e.depth
            r.kind = e.kind
            n += 1
    return n


cdef int ring_others(PerfettoWriter w, Ring* ring, Clock* clock, uint64_t first, uint64_t count,
                     long pid) except -1:
    """The entries other than slices (instants, counters, objects, raw events)."""
    cdef uint64_t i, slot
    cdef Entry* e
    for i in range(count):
        slot = (first + i) % ring.capacity
        e = &ring.entries[slot]
        if e.kind >= KIND_INSTANT:
            ring_other(w, ring, e, slot, ts_ns(clock, e.ts), pid)
    return 0


cdef class PerfettoStream:
    """A Perfetto trace written part by part while the program runs (``--stream``).

    Every part starts every sequence afresh (state cleared, names interned again, a new clock
    base per thread), so a file cut after any packet is valid up to it. The writer thread
    calls ``part`` with the GIL; the slices are encoded, deflated and written to the file
    descriptor without it, while the program runs on (see ``ring_part``)."""
    cdef PerfettoWriter w
    cdef set functions
    cdef bint started
    cdef bint compress
    cdef int fd

    def __cinit__(self, int fd, bint compress=True):
        self.fd = fd
        self.w = PerfettoWriter(self.write_now, False)
        self.w.hold = True
        self.w.compress = self.w.compress_wanted = self.compress = compress
        self.functions = set()

    def write_now(self, bytes chunk):
        """Where the writer's ``out`` goes when it fills up outside a part (rare)."""
        cdef int failed
        if self.w.compress:
            packed = zlib.compress(chunk, 1)
            data = compressed_head(PyBytes_GET_SIZE(packed)) + packed
        else:
            data = chunk
        failed = write_all(self.fd, PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data))
        if failed:
            raise OSError(failed, os.strerror(failed))

    def part(self, recording, bint hurry=False, int more_parts=0, int64_t wait_ns=0,
             uint64_t hurry_behind=0):
        """Write a recording's span, and up to ``more_parts`` whole parts after it (see
        ``stream_part``); returns the number of entries written. In a ``hurry`` (the writer is
        far behind the program: more than ``hurry_behind`` entries, for the parts after the
        span), a part is written without deflating it, which is most of the writer's work: a
        larger file rather than dropped calls."""
        if self.started:
            self.w.new_part()
        self.started = True
        self.w.compress = self.compress and not hurry
        try:
            return ring_part(self.w, recording, self.fd, more_parts, wait_ns, hurry_behind)
        finally:
            self.w.compress = self.compress

    @property
    def names_used(self):
        return self.w.names.used

    def fresh_names(self):
        """Start the name table afresh before the next part (see ``NAMES_KEPT``)."""
        self.functions.update(self.w.names.functions)
        self.w.fresh_names()

    def marker(self, int64_t ts_ns, long pid, str name, dict args):
        """A process-scoped instant (the report says where entries were dropped), after a part
        (which described the threads: the instant names the first)."""
        if not self.w.thread_uuids:
            return
        self.w.instant(ts_ns, pid, 0, <PyObject*>name, KIND_C, args, "p", True)
        self.flush()

    def flush(self):
        """Write what was encoded outside a part (markers, the metadata)."""
        cdef int failed = self.w.write_compressed(self.fd)
        if failed:
            raise OSError(failed, os.strerror(failed))

    @property
    def counter_tracks(self):
        return self.w.counter_tracks

    def finish(self, dict metadata):
        """The metadata packet: the file is complete. More parts may follow (the tracer
        started again), after the caller cut the metadata off. Not deflated: the program
        waits for it at its stop, and with ``file_info`` (the source of every file traced)
        deflating it took longer than writing the last part."""
        self.w.compress = False
        try:
            self.w.finish(metadata, False)
            self.flush()
        finally:
            self.w.compress = self.compress

    def function_list(self):
        return sorted(self.functions.union(self.w.names.functions))


cdef int ring_other(PerfettoWriter w, Ring* ring, Entry* e, uint64_t slot, int64_t ts,
                    long pid) except -1:
    extra = <object>ring.extras[slot] if e.flags & FLAG_EXTRA else None
    if e.kind == KIND_INSTANT:
        return w.instant(ts, pid, e.thread, e.obj, e.kind, extra, chr(e.depth), True)
    if e.kind == KIND_COUNTER:
        return w.counter(ts, pid, <str>e.obj, extra)
    if e.kind == KIND_OBJECT:
        ph, obj_id, args = extra
        return w.object_event(ts, e.thread, e.obj, e.kind, ph, obj_id, args)
    if e.kind == KIND_RAW:
        return w.raw(ts, w.thread_uuids[e.thread], <dict>e.obj)
    return 0


# -- from a report dict (conversion, combining) ----------------------------------------------------

_INSTANT_KEYS = frozenset(("pid", "tid", "ts", "ph", "cat", "name", "s", "args"))
_OBJECT_KEYS = frozenset(("pid", "tid", "ts", "ph", "id", "name", "args"))


cdef inline int64_t us_to_ns(ts) except? -1:
    return <int64_t>llround(<double>ts * 1000.0)


def closing_packets(processes, dict metadata):
    """The packets that close a trace put together from several processes' traces (each a
    whole trace of its own, one after the other): every process described once more, with
    its final name and its labels (``cut short``, ``lost``), then the metadata packet."""
    out = bytearray()
    cdef PerfettoWriter w = PerfettoWriter(out.extend, False, False)
    for pid, name, labels in processes:
        w.process(pid, name, list(labels))
    w.finish(metadata)
    return bytes(out)


def write_perfetto_report(dict report, write, bint compress=True):
    """Write a report in the JSON report's shape (``load_report``'s dict) as a Perfetto trace.

    Returns the number of events written. Raises ValueError naming the first event that is
    not a trace event (no ``ph``, a slice without a number for ``ts``...).
    """
    cdef PerfettoWriter w = PerfettoWriter(write, compress)
    try:
        return report_into(w, report)
    finally:
        w.close()


cdef object report_into(PerfettoWriter w, dict report):
    cdef list events = report["traceEvents"]
    cdef dict canon = {}           # one str object per distinct name: the name table is by pointer
    cdef list keep = []            # the names and args the slice records point to
    cdef list others = []
    cdef dict open_calls = {}      # thread index -> [B events]
    cdef Py_ssize_t n = 0, i
    cdef SliceRec* recs
    cdef SliceRec* r
    processes = {}
    threads = {}
    for e in events:
        if type(e) is not dict:
            raise ValueError(f"an entry of traceEvents is not an object: {e!r:.80}")
        if e.get("ph") == "M" and e.get("name") in ("process_name", "thread_name"):
            name = (e.get("args") or {}).get("name")
            if e["name"] == "process_name":
                processes[e.get("pid", 0)] = name
            else:
                threads[(e.get("pid", 0), e.get("tid", 0))] = name
    for pid, name in processes.items():
        w.process(pid, name)
    for (pid, tid), name in threads.items():
        w.thread(pid, tid, name)
    recs = <SliceRec*>calloc(len(events) + 1, sizeof(SliceRec))
    if recs == NULL:
        raise MemoryError()
    try:
        for i, e in enumerate(events):
            ph = e.get("ph")
            if ph == "M" and e.get("name") in ("process_name", "thread_name"):
                continue
            if ph not in ("X", "B", "E"):
                others.append(e)
                continue
            try:
                thread = w.thread(e["pid"], e["tid"], None)
                ts = us_to_ns(e["ts"])
                end = ts + us_to_ns(e.get("dur", 0)) if ph == "X" else ts
            except (KeyError, TypeError, OverflowError) as exc:
                raise ValueError(f"a slice event lacks a number for {exc}: {e!r:.120}") from None
            if ph == "E":
                stack = open_calls.get(thread)
                if stack:
                    b_index, b = stack.pop()
                    add_slice(&recs[n], b, ts, thread, b_index, canon, keep)
                    n += 1
                continue
            if ph == "B":
                open_calls.setdefault(thread, []).append((i, e))
                continue
            add_slice(&recs[n], e, end, thread, i, canon, keep)
            n += 1
        for thread, stack in open_calls.items():
            for b_index, b in stack:
                add_slice(&recs[n], b, OPEN_END, thread, b_index, canon, keep)
                n += 1
        for i in range(n):      # slices() finds every name in the table
            w.room_for_iid(w.names.lookup(recs[i].name, recs[i].kind).iid)
        w.slices(recs, n)
    finally:
        free(recs)
    for e in sorted(others, key=lambda e: e.get("ts", 0) if isinstance(e.get("ts", 0), (int, float)) else 0):
        report_other(w, e, canon)
    metadata = {k: v for k, v in report.items() if k != "traceEvents"}
    metadata["viztracer_counter_tracks"] = w.counter_tracks
    w.finish(metadata)
    return len(events)


cdef int add_slice(SliceRec* r, dict e, int64_t end, uint32_t thread, Py_ssize_t order, dict canon,
                   list keep) except -1:
    name = str(e.get("name", ""))
    name = canon.setdefault(name, name)
    args = e.get("args")
    r.start = us_to_ns(e["ts"])
    r.end = end if end >= r.start else r.start
    r.order = order
    r.name = <PyObject*>name
    r.kind = KIND_C
    r.thread = thread
    r.depth = 0
    if args is not None:
        keep.append(args)
        r.args = <PyObject*>args
    return 0


cdef int report_other(PerfettoWriter w, dict e, dict canon) except -1:
    ph = e.get("ph")
    pid = e.get("pid", 0)
    ts_value = e.get("ts", 0)
    if not isinstance(pid, int) or not isinstance(ts_value, (int, float)):
        return w.raw(us_to_ns(ts_value) if isinstance(ts_value, (int, float)) else 0,
                     w.process(0, None), e)
    ts = us_to_ns(ts_value)
    name = str(e.get("name", ""))
    name = canon.setdefault(name, name)
    if ph == "i" and e.get("cat") == "INSTANT" and e.get("s") in ("g", "p", "t") \
            and isinstance(e.get("tid"), int) and _INSTANT_KEYS.issuperset(e):
        # the shape our tracer writes; any other instant is kept whole as a raw event
        thread = w.thread(pid, e["tid"], None)
        return w.instant(ts, pid, thread, <PyObject*>name, KIND_C, e.get("args"), e["s"], "args" in e)
    if ph == "C" and isinstance(e.get("args"), dict) and all(
            type(v) is float or type(v) is int and -(1 << 63) <= v < (1 << 63) for v in e["args"].values()):
        return w.counter(ts, pid, name, e["args"])
    if ph in ("N", "O", "D") and "id" in e and isinstance(e.get("tid", 0), int) \
            and e.get("args", 0) is not None and _OBJECT_KEYS.issuperset(e):
        thread = w.thread(pid, e.get("tid", 0), None)
        return w.object_event(ts, thread, <PyObject*>name, KIND_C, ph, e["id"], e.get("args"))
    tid = e.get("tid", pid)
    track = w.thread_uuids[w.thread(pid, tid, None)] if isinstance(tid, int) else w.process(pid, None)
    return w.raw(ts, track, e)
