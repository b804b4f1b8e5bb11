# What the two encoders share, defined in export.pyx (the Chrome JSON encoder) and cimported by
# perfetto.pyx (the Perfetto writer): the growing output buffer, the pointer-keyed name table,
# the clock mapping, and reading a Recording's ring.
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint64_t, uintptr_t
from libc.string cimport memcpy

from ring cimport Entry, RefRun, Ring

cdef enum:
    CHUNK = 1 << 20     # an OutBuffer with a ``write`` hands it its bytes past this size


cdef class OutBuffer:
    cdef char* data
    cdef Py_ssize_t n
    cdef Py_ssize_t cap
    cdef object write

    cdef int reserve(self, Py_ssize_t extra) except -1 nogil
    cdef int put_bytes(self, bytes b) except -1
    cdef int put_us(self, int64_t ns) except -1 nogil
    cdef int maybe_flush(self) except -1
    cdef int flush(self) except -1

    # inline: every byte of a report goes through here
    cdef inline int put(self, const char* s, Py_ssize_t n) except -1 nogil:
        if self.n + n > self.cap:
            self.reserve(n)
        memcpy(self.data + self.n, s, n)
        self.n += n
        return 0


ctypedef struct NameSlot:
    void* key
    const char* text
    Py_ssize_t n
    uint64_t iid            # 1-based, in order of first use


ctypedef struct PartWork:
    # What the writer of a streamed part works with, from Scratch.begin_work until end_work
    # drops the references it took (ring.pxd's take_refs).
    uint64_t* special       # positions in the part of the entries that need Python
    uint64_t* missing       # slots of the calls whose names the table lacks
    RefRun* runs            # the references taken out of the part's slots (and the parts
                            # written after it without going back to Python)
    Py_ssize_t n_special
    Py_ssize_t n_missing
    size_t n_runs


cdef enum:
    # Scratch.get's buffers
    SCR_RECS = 0        # perfetto.pyx: a part's slice records
    SCR_SPLIT = 1       # perfetto.pyx's order_slices: the records split by thread,
    SCR_RUN = 2         #   where each one's callees begin,
    SCR_PLACE = 3       #   its place,
    SCR_STACK = 4       #   the stack its passes use,
    SCR_AT = 5          #   and each thread's next place
    SCR_OPEN = 6        # perfetto.pyx's slices: the slices open at a record
    SCR_DEFLATE = 7     # perfetto.pyx: a part deflated
    SCR_SIDE_END = 8    # export.pyx: where each event that needed Python ends
    SCR_BUFS = 9


cdef class Scratch:
    # A streaming writer's working memory, kept from part to part (see export.pyx)
    cdef void* bufs[SCR_BUFS]
    cdef size_t caps[SCR_BUFS]
    cdef PartWork work
    cdef uint64_t work_room          # entries ``work.special`` and ``work.missing`` hold
    cdef uint64_t runs_room          # runs ``work.runs`` holds
    cdef readonly OutBuffer out      # export.pyx: a part's text
    cdef readonly OutBuffer side     # export.pyx: the events of a part that needed Python

    cdef void* get(self, int which, size_t size) except NULL nogil
    cdef PartWork* begin_work(self, uint64_t count, uint64_t parts) except NULL
    cdef void end_work(self) noexcept


cdef class NameTable:
    cdef NameSlot* slots
    cdef size_t cap
    cdef readonly size_t used
    cdef list keep          # the bytes objects the slots point into, and the keys: a key kept
                            # alive can't be freed and its address reused by another object
    cdef public bint raw    # UTF-8 text instead of JSON string literals
    cdef public bint sanitize   # characters UTF-8 can't encode (lone surrogates) become U+FFFD
    cdef public bint fresh  # whether the last lookup added the name
    cdef public list functions   # (name, filename, first line) of every Python function seen

    cdef NameSlot* lookup(self, PyObject* obj, int kind) except NULL
    cdef int grow(self) except -1
    cdef void scan_part(self, Ring* ring, uint64_t first, uint64_t count, PartWork* p) noexcept nogil
    cdef int add_missing(self, Ring* ring, PartWork* p) except -1

    # inline: the writers look a name up per event, without the GIL
    cdef inline NameSlot* find(self, void* key) noexcept nogil:
        cdef size_t i = ((<uintptr_t>key) >> 4) * <size_t>11400714819323198485ULL >> 20
        i &= self.cap - 1
        while self.slots[i].key != NULL and self.slots[i].key != key:
            i = (i + 1) & (self.cap - 1)
        return &self.slots[i]


cdef struct Clock:
    int64_t t0_ticks
    int64_t t0_ns
    double ns_per_tick
    bint identity


cdef inline int64_t round_ns(double x) noexcept nogil:
    """``llround(x)`` (halves away from zero) for the nanosecond values of a trace, inline:
    libm's call was a twentieth of a streaming writer's time."""
    cdef int64_t r = <int64_t>x      # towards zero
    cdef double f = x - <double>r
    if f >= 0.5:
        r += 1
    elif f <= -0.5:
        r -= 1
    return r


cdef inline int64_t ts_ns(Clock* c, int64_t ticks) noexcept nogil:
    """A tick count of the ring as nanoseconds on the report's clock."""
    if c.identity:
        return ticks
    return c.t0_ns + round_ns(<double>(ticks - c.t0_ticks) * c.ns_per_tick)


cdef inline int64_t dur_ns(Clock* c, int64_t ticks) noexcept nogil:
    """A duration in ticks as nanoseconds."""
    if c.identity:
        return ticks
    return round_ns(<double>ticks * c.ns_per_tick)


cdef bytes utf8(str text)
cdef str json_text(obj)
cdef Ring* ring_of(recording) except NULL
cdef uint64_t span_of(recording, Ring* ring, uint64_t* first) except? 0xFFFFFFFFFFFFFFFF
cdef Clock clock_of(recording) except *
cdef int write_all(int fd, const char* data, Py_ssize_t n) noexcept nogil
cdef void take_part_refs(Ring* ring, uint64_t first, uint64_t count, PartWork* p) noexcept nogil
