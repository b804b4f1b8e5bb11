# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The Chrome JSON encoder: stream the ring to a report without a Python object per event.

Names are resolved once per distinct code object or C function through a pointer-keyed table,
numbers are formatted by hand into a growing buffer, and the buffer goes to the file in chunks.
The buffer, the name table, the clock mapping and the ring access are shared with the Perfetto
writer (``pyx/perfetto.pyx``), which cimports them: ``pyx/viztracer/_export.pxd`` declares them.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.pycapsule cimport PyCapsule_GetPointer
from cpython.ref cimport PyObject
from libc.errno cimport EINTR, errno
from libc.stdint cimport int64_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc, realloc
from libc.string cimport memcpy, memset

from ring cimport (FLAG_EXTRA, FLAG_OPEN, KIND_C, KIND_COUNTER, KIND_DURATION,
                   KIND_INSTANT, KIND_OBJECT, KIND_PY, KIND_RAW, Entry, RefRun, Ring,
                   drop_refs, next_part, take_refs)

import json
import os
import re

# "00" to "99": number formatting writes two digits at a time
cdef bytes _digit_pairs = b"".join(b"%02d" % i for i in range(100))     # kept: the pointer is into it
cdef const char* DIGIT_PAIRS = _digit_pairs

_encoder = json.JSONEncoder(separators=(",", ":"), default=repr)
_SURROGATE = re.compile("[\ud800-\udfff]")     # what UTF-8 can't encode: lone surrogates


cdef bytes utf8(str text):
    """``text`` as UTF-8, each lone surrogate (which UTF-8 can't encode) as U+FFFD."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


cdef str json_text(obj):
    """``obj`` as compact JSON, anything JSON can't hold as its repr (both formats agree)."""
    return _encoder.encode(obj)


cdef Ring* ring_of(recording) except NULL:
    return <Ring*>PyCapsule_GetPointer(recording.ring, b"viztracer.ring")


cdef uint64_t span_of(recording, Ring* ring, uint64_t* first) except? 0xFFFFFFFFFFFFFFFF:
    """The entries to write: their count, and the slot of the first (``first``). A recording
    without a ``span`` is everything the ring holds; a streamed part is the entries numbered
    ``span[0]`` to ``span[1]``."""
    cdef uint64_t a, b
    span = recording.span
    if span is None:
        first[0] = 0 if ring.written <= ring.capacity else ring.head
        return ring.written if ring.written < ring.capacity else ring.capacity
    a, b = span
    if b < a or b - a > ring.capacity or b > ring.written:
        raise ValueError(f"span {span} is not in the ring")
    first[0] = a % ring.capacity if ring.capacity else 0
    return b - a


cdef Clock clock_of(recording) except *:
    cdef Clock c
    c.t0_ticks, c.t0_ns, c.ns_per_tick = recording.clock
    c.identity = c.ns_per_tick == 1.0 and c.t0_ticks == c.t0_ns
    return c


cdef class OutBuffer:
    """A growing byte buffer handed to ``write`` whenever it passes CHUNK bytes."""

    def __cinit__(self, write, *args):
        self.write = write
        self.cap = (CHUNK + 4096) if write is not None else 256
        self.data = <char*>realloc(NULL, self.cap)
        if self.data == NULL:
            raise MemoryError()

    def __dealloc__(self):
        free(self.data)

    cdef int reserve(self, Py_ssize_t extra) except -1 nogil:
        cdef char* grown
        cdef Py_ssize_t cap = self.cap
        if self.n + extra > cap:
            while self.n + extra > cap:
                cap *= 2
            grown = <char*>realloc(self.data, cap)
            if grown == NULL:
                with gil:
                    raise MemoryError()
            self.data = grown
            self.cap = cap
        return 0

    cdef int put_bytes(self, bytes b) except -1:
        return self.put(PyBytes_AS_STRING(b), PyBytes_GET_SIZE(b))

    cdef int put_us(self, int64_t ns) except -1 nogil:
        """Nanoseconds as microseconds with up to three decimals: 1234567 -> 1234.567."""
        # Two digits per step from a table, and the last eight digits of the whole part as
        # four independent pairs: this ran twice per event, and was most of the JSON writer's
        # time when it went a digit at a time.
        cdef char tmp[32]
        cdef char* end = tmp + 32
        cdef char* p = end
        cdef bint neg = ns < 0
        cdef uint64_t v = <uint64_t>(-ns if neg else ns)
        cdef uint32_t frac = <uint32_t>(v % 1000)
        cdef uint64_t whole = v // 1000
        cdef uint32_t low, hi4, lo4
        if frac:
            if frac % 100 == 0:
                p -= 2
                p[1] = <char>(48 + frac // 100)
            elif frac % 10 == 0:
                p -= 3
                memcpy(p + 1, DIGIT_PAIRS + 2 * (frac // 10), 2)
            else:
                p -= 4
                p[1] = <char>(48 + frac // 100)
                memcpy(p + 2, DIGIT_PAIRS + 2 * (frac % 100), 2)
            p[0] = b'.'
        if whole >= 100000000:
            low = <uint32_t>(whole % 100000000)
            whole //= 100000000
            hi4 = low // 10000
            lo4 = low % 10000
            p -= 8
            memcpy(p, DIGIT_PAIRS + 2 * (hi4 // 100), 2)
            memcpy(p + 2, DIGIT_PAIRS + 2 * (hi4 % 100), 2)
            memcpy(p + 4, DIGIT_PAIRS + 2 * (lo4 // 100), 2)
            memcpy(p + 6, DIGIT_PAIRS + 2 * (lo4 % 100), 2)
        while whole >= 100:
            p -= 2
            memcpy(p, DIGIT_PAIRS + 2 * (whole % 100), 2)
            whole //= 100
        if whole >= 10:
            p -= 2
            memcpy(p, DIGIT_PAIRS + 2 * whole, 2)
        else:
            p -= 1
            p[0] = <char>(48 + whole)
        if neg:
            p -= 1
            p[0] = b'-'
        return self.put(p, end - p)

    cdef int maybe_flush(self) except -1:
        if self.n >= CHUNK:
            self.flush()
        return 0

    cdef int flush(self) except -1:
        if self.n:
            self.write(PyBytes_FromStringAndSize(self.data, self.n))
            self.n = 0
        return 0


cdef class Scratch:
    """A streaming writer's working memory, kept from part to part: a part's buffers, the
    arrays of its PartWork, the JSON text. Fresh memory costs a page fault per page when first
    written (on this project's test machines, faults were a third of the time the stop spent
    writing the last part); kept, it is faulted in once, by the writer thread while the program
    runs. Parts are written one at a time (the stream's lock), so one Scratch serves them all."""

    def __cinit__(self):
        self.out = OutBuffer(None)
        self.side = OutBuffer(None)

    def __dealloc__(self):
        cdef int i
        self.end_work()
        for i in range(SCR_BUFS):
            free(self.bufs[i])
        free(self.work.special)
        free(self.work.missing)
        free(self.work.runs)

    cdef void* get(self, int which, size_t size) except NULL nogil:
        """Buffer ``which`` (SCR_*), at least ``size`` bytes, its contents undefined."""
        cdef void* grown
        if size == 0:
            size = 1
        if size > self.caps[which]:
            grown = realloc(self.bufs[which], size)
            if grown == NULL:
                with gil:
                    raise MemoryError()
            self.bufs[which] = grown
            self.caps[which] = size
        return self.bufs[which]

    cdef PartWork* begin_work(self, uint64_t count, uint64_t parts) except NULL:
        """The PartWork of a run of up to ``parts`` parts of ``count`` entries, empty; the
        runs' pages are touched only as they fill. ``end_work`` ends it."""
        cdef void* grown
        cdef uint64_t runs = 2 * count * parts      # an object and an extra an entry
        self.end_work()
        if count > self.work_room:
            grown = realloc(self.work.special, count * sizeof(uint64_t))
            if grown == NULL:
                raise MemoryError()
            self.work.special = <uint64_t*>grown
            grown = realloc(self.work.missing, count * sizeof(uint64_t))
            if grown == NULL:
                raise MemoryError()
            self.work.missing = <uint64_t*>grown
            self.work_room = count
        if runs > self.runs_room:
            free(self.work.runs)        # nothing in it to keep: a fresh block, untouched
            self.work.runs = <RefRun*>malloc(runs * sizeof(RefRun))
            self.runs_room = 0
            if self.work.runs == NULL:
                raise MemoryError()
            self.runs_room = runs
        self.work.n_special = self.work.n_missing = 0
        self.work.n_runs = 0
        return &self.work

    cdef void end_work(self) noexcept:
        """Drop the references the parts took (with the GIL)."""
        if self.work.n_runs:
            drop_refs(self.work.runs, self.work.n_runs)
            self.work.n_runs = 0


cdef class NameTable:
    """JSON-escaped names keyed by the pointer stored in the ring (code object or name str)."""

    def __cinit__(self):
        self.cap = 1024
        self.slots = <NameSlot*>calloc(self.cap, sizeof(NameSlot))
        if self.slots == NULL:
            raise MemoryError()
        self.keep = []
        self.functions = []

    def __dealloc__(self):
        free(self.slots)

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
        if self.sanitize:
            name = _SURROGATE.sub("\ufffd", name)
        # protobuf strings are UTF-8; JSON can escape a lone surrogate (when not sanitized)
        text = utf8(name) if self.raw else json.dumps(name).encode()
        self.keep.append(text)
        self.keep.append(<object>obj)
        s.key = <void*>obj
        s.text = PyBytes_AS_STRING(text)
        s.n = PyBytes_GET_SIZE(text)
        self.used += 1
        s.iid = self.used
        if self.used * 2 > self.cap:
            self.grow()
            s = self.find(<void*>obj)
        return s

    cdef void scan_part(self, Ring* ring, uint64_t first, uint64_t count, PartWork* p) noexcept nogil:
        """A streamed part's first pass, which needs no GIL: the slots of the calls whose
        names the table lacks go into ``p.missing`` (for ``add_missing``; an object recurring
        nearby only once), and the positions in the part of the entries that need Python to
        be written (custom events, calls with args) into ``p.special``."""
        cdef void* recent[64]
        cdef uint64_t i, slot
        cdef size_t h
        cdef Entry* e
        memset(recent, 0, sizeof(recent))
        p.n_special = p.n_missing = 0
        for i in range(count):
            slot = (first + i) % ring.capacity
            e = &ring.entries[slot]
            if e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION:
                h = ((<uintptr_t>e.obj) >> 4) & 63
                if recent[h] != <void*>e.obj:
                    recent[h] = <void*>e.obj
                    if self.find(<void*>e.obj).key == NULL:
                        p.missing[p.n_missing] = slot
                        p.n_missing += 1
                if not (e.flags & FLAG_EXTRA):
                    continue
            p.special[p.n_special] = i
            p.n_special += 1

    cdef int add_missing(self, Ring* ring, PartWork* p) except -1:
        """Resolve the names ``scan_part`` found missing (with the GIL)."""
        cdef Py_ssize_t i
        cdef Entry* e
        for i in range(p.n_missing):
            e = &ring.entries[p.missing[i]]
            self.lookup(e.obj, e.kind)
        return 0

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


cdef class Prefixes:
    """The text every event of a thread starts with (``,\n{"pid":..,"tid":..,"ts":``), as C
    pointers the encoder can read without the GIL. One event a line: a report cut short by a
    kill is read back up to its last newline."""
    cdef list keep
    cdef const char** text
    cdef Py_ssize_t* size
    cdef Py_ssize_t n

    def __cinit__(self, long pid, threads):
        cdef Py_ssize_t i
        self.keep = [f',\n{{"pid":{pid},"tid":{tid},"ts":'.encode() for tid, _ in threads]
        self.n = len(self.keep)
        self.text = <const char**>calloc(self.n + 1, sizeof(char*))
        self.size = <Py_ssize_t*>calloc(self.n + 1, sizeof(Py_ssize_t))
        if self.text == NULL or self.size == NULL:
            raise MemoryError()
        for i in range(self.n):
            self.text[i] = PyBytes_AS_STRING(self.keep[i])
            self.size[i] = PyBytes_GET_SIZE(self.keep[i])

    def __dealloc__(self):
        free(self.text)
        free(self.size)


cdef inline bint plain_call(Entry* e) noexcept nogil:
    """A call or duration event with nothing but its name: encoded without the GIL."""
    return (e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION) and not (e.flags & FLAG_EXTRA)


cdef int put_call(OutBuffer out, Entry* e, Clock* clock, Prefixes prefixes, NameSlot* name) except -1 nogil:
    """The start of a call's event, up to and with its name (args and the closing follow)."""
    out.put(prefixes.text[e.thread], prefixes.size[e.thread])
    out.put_us(ts_ns(clock, e.ts))
    if e.flags & FLAG_OPEN:
        out.put(b',"ph":"B","cat":"FEE","name":', 29)
    else:
        out.put(b',"ph":"X","cat":"FEE","dur":', 28)
        out.put_us(dur_ns(clock, e.dur))
        out.put(b',"name":', 8)
    return out.put(name.text, name.n)


cdef int put_event(OutBuffer out, Ring* ring, uint64_t slot, Clock* clock, Prefixes prefixes,
                   NameTable names) except -1:
    """One ring entry as a Chrome trace event, with its leading comma and newline."""
    cdef Entry* e = &ring.entries[slot]
    cdef char scope_char
    if e.kind == KIND_RAW:
        out.put(b",\n", 2)
        return put_json(out, <object>e.obj)
    cdef NameSlot* name = names.lookup(e.obj, e.kind)
    extra = <object>ring.extras[slot] if e.flags & FLAG_EXTRA else None
    if e.kind == KIND_PY or e.kind == KIND_C or e.kind == KIND_DURATION:
        put_call(out, e, clock, prefixes, name)
        if extra is not None:
            out.put(b',"args":', 8)
            put_json(out, extra)
        return out.put(b'}', 1)
    out.put(prefixes.text[e.thread], prefixes.size[e.thread])
    out.put_us(ts_ns(clock, e.ts))
    if e.kind == KIND_INSTANT:
        out.put(b',"ph":"i","cat":"INSTANT","name":', 33)
        out.put(name.text, name.n)
        out.put(b',"s":"', 6)
        scope_char = <char>e.depth     # the scope's letter: g, p or t
        out.put(&scope_char, 1)
        out.put(b'","args":', 9)     # null when there are none, as VizTracer 1.x writes
        put_json(out, extra)
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
            out.put(b',"args":', 8)
            put_json(out, args)
    return out.put(b'}', 1)


def us_text(int64_t ns):
    """How the JSON writer spells ``ns`` nanoseconds as microseconds (for the tests)."""
    cdef OutBuffer out = OutBuffer(None)
    out.put_us(ns)
    return PyBytes_FromStringAndSize(out.data, out.n)


def write_chrome_events(recording, write):
    """Write the ring entries of a ``Recording`` (its ``span``) as Chrome trace events, each
    preceded by a comma and a newline; names are made valid UTF-8 first when it says
    ``sanitize_names``.

    ``write`` receives bytes chunks. Returns ``(events written, [(name, file, line), ...])``
    for the Python functions seen, which the caller turns into ``file_info``.
    """
    cdef Ring* ring = ring_of(recording)
    cdef Clock clock = clock_of(recording)
    cdef OutBuffer out = OutBuffer(write)
    cdef NameTable names = NameTable()
    cdef Prefixes prefixes = Prefixes(recording.pid, recording.threads)
    cdef uint64_t start, i, slot
    cdef uint64_t count = span_of(recording, ring, &start)
    names.sanitize = recording.sanitize_names
    if ring.entries == NULL:
        return 0, []
    for i in range(count):
        slot = (start + i) % ring.capacity
        put_event(out, ring, slot, &clock, prefixes, names)
        out.maybe_flush()
    out.flush()
    return count, names.functions


cdef extern from "unistd.h":
    ssize_t c_write "write"(int fd, const void* buf, size_t n) nogil


cdef int write_all(int fd, const char* data, Py_ssize_t n) noexcept nogil:
    """``write(2)`` until everything is written; the errno of a failure, or 0."""
    cdef ssize_t done
    while n > 0:
        done = c_write(fd, data, n)
        if done < 0:
            if errno == EINTR:
                continue
            return errno
        data += done
        n -= done
    return 0


def stream_chrome_part(recording, int fd, NameTable names, Scratch scratch, int more_parts=0,
                       int64_t wait_ns=0):
    """Write a streamed part (a recording's span) to the file descriptor ``fd``, as
    ``write_chrome_events`` would, for a writer thread that should hold the GIL as briefly as
    it can. ``names`` is the stream's name table and ``scratch`` its working memory, both kept
    from part to part.

    Without the GIL: the pass that finds what needs Python, the encoding, the write, and
    moving the entries' references out of their slots. With it, in one go in the middle:
    names not seen before and whole events that need Python (args, custom events); then,
    after the last part, dropping the references. Then on to up to ``more_parts`` whole parts
    of the ring after the span, each waited for at most ``wait_ns`` (ring.pxd's next_part):
    going back to Python between parts costs the writer a wait for the GIL, longer than a part
    takes to write. Returns the number of entries written; their slots are empty afterwards
    (``stream_release`` need not visit them). With ``fd`` -1 and no ``more_parts`` nothing is
    written: the span's text is left in ``scratch.out`` (``encode_chrome_span``; the names in it
    are copies, so the references can go)."""
    cdef Ring* ring = ring_of(recording)
    cdef Clock clock = clock_of(recording)
    cdef OutBuffer out = scratch.out
    cdef Prefixes prefixes = Prefixes(recording.pid, recording.threads)
    cdef uint64_t start, room, total = 0
    cdef uint64_t count = span_of(recording, ring, &start)
    cdef uint64_t number = recording.span[0] if count else 0  # of the part's first entry; start is its slot
    cdef PartWork* p
    cdef Py_ssize_t* side_end
    cdef int failed = 0
    names.sanitize = recording.sanitize_names
    if ring.entries == NULL or count == 0:
        return 0
    room = count if count > ring.part else ring.part
    p = scratch.begin_work(room, 1 + more_parts)
    try:
        side_end = <Py_ssize_t*>scratch.get(SCR_SIDE_END, room * sizeof(Py_ssize_t))
        out.n = 0
        out.reserve(<Py_ssize_t>room * 96)
        with nogil:
            while True:
                failed = chrome_part(out, scratch.side, ring, &clock, prefixes, names, start, count,
                                     fd, p, side_end)
                if failed:
                    break
                total += count
                number += count
                count = next_part(ring, number, wait_ns, <uint32_t>prefixes.n, &more_parts)
                if count == 0:
                    break
                start = number % ring.capacity
    finally:
        scratch.end_work()
    if failed:
        raise OSError(failed, os.strerror(failed))
    return total


def encode_chrome_span(recording, NameTable names, Scratch scratch):
    """At the stop, in the program's thread: a recording's span encoded as ``stream_chrome_part``
    would write it, returned instead of written (while the writer thread writes the entries
    before it, the text waits to be written after theirs). Its slots are emptied."""
    cdef OutBuffer out = scratch.out
    out.n = 0
    try:
        stream_chrome_part(recording, -1, names, scratch)
        return PyBytes_FromStringAndSize(out.data, out.n)
    finally:
        out.n = 0


cdef int chrome_part(OutBuffer out, OutBuffer side, Ring* ring, Clock* clock, Prefixes prefixes,
                     NameTable names, uint64_t start, uint64_t count, int fd, PartWork* p,
                     Py_ssize_t* side_end) except -1 nogil:
    """One part of ``stream_chrome_part``, called without the GIL; the errno of a failed write,
    or 0. With ``fd`` -1 the text stays in ``out``, unwritten."""
    cdef uint64_t i
    cdef Py_ssize_t j, before, from_side = 0
    cdef Entry* e
    cdef int failed
    names.scan_part(ring, start, count, p)
    out.n = side.n = 0
    if p.n_missing or p.n_special:
        with gil:       # the program waits: names, and the events that need Python
            names.add_missing(ring, p)
            for j in range(p.n_special):
                before = side.n
                put_event(side, ring, (start + p.special[j]) % ring.capacity, clock, prefixes, names)
                side_end[j] = side.n if side.n > before else -1
    j = 0
    for i in range(count):
        if j < p.n_special and p.special[j] == i:
            if side_end[j] > 0:
                out.put(side.data + from_side, side_end[j] - from_side)
                from_side = side_end[j]
            j += 1
            continue
        e = &ring.entries[(start + i) % ring.capacity]
        put_call(out, e, clock, prefixes, names.find(<void*>e.obj))
        out.put(b'}', 1)
    failed = write_all(fd, out.data, out.n) if fd >= 0 else 0
    if not failed:
        take_part_refs(ring, start, count, p)
    return failed


cdef void take_part_refs(Ring* ring, uint64_t first, uint64_t count, PartWork* p) noexcept nogil:
    """Move the references of a part's entries into ``p`` (ring.pxd's take_refs), after those of
    the parts before it (Scratch.begin_work made room for them all)."""
    p.n_runs += take_refs(ring, first, count, p.runs + p.n_runs)
