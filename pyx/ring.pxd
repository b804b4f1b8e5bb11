# The ring: a preallocated array of fixed-size entries, shared by tracer.pyx (which writes it)
# and export.pyx (which streams it to a file). One entry is one finished call or one custom event.
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "ring_sync.h":
    void vt_decref_n(PyObject* o, uint64_t n)
    void* vt_sem_new()
    void vt_sem_free(void* s)
    void vt_sem_post(void* s) noexcept nogil
    int vt_sem_wait(void* s, int64_t timeout_ns) noexcept nogil
    uint64_t vt_load_acquire(const uint64_t* p) noexcept nogil
    void vt_store_release(uint64_t* p, uint64_t v) noexcept nogil
    int vt_load_flag(const int* p) noexcept nogil
    void vt_release_fence() noexcept nogil
    void vt_full_fence() noexcept nogil

cdef enum:
    KIND_PY = 1         # a Python call; obj is its code object
    KIND_C = 2          # a C call; obj is its name (str), resolved when the call was recorded
    KIND_DURATION = 3   # a custom duration event (log_event); obj is its name
    KIND_INSTANT = 4    # obj is the name; extra is its args (none: null); depth is its scope's letter
    KIND_COUNTER = 5    # obj is the name; extra is the dict of values
    KIND_OBJECT = 6     # obj is the name; extra is (ph, id, args)
    KIND_RAW = 7        # obj is a ready trace event dict

cdef enum:
    FLAG_OPEN = 1       # the call had not returned when tracing stopped: a begin (B) event
    FLAG_EXTRA = 2      # ring.extras[slot] holds this entry's Python payload (args, ...)

ctypedef struct Entry:      # 32 bytes
    int64_t ts              # start, ns, CLOCK_MONOTONIC
    int64_t dur             # ns
    PyObject* obj           # owned reference (see the kinds above)
    uint32_t thread         # index into the tracer's thread table
    uint16_t depth          # call depth when the call started
    uint8_t kind
    uint8_t flags

ctypedef struct Ring:
    # Three groups, each on cache lines of its own (the pads): a streaming writer on another
    # core reads the first group at every entry, and the hook writes the second at every
    # entry. On one line, each of the writer's reads took the line from the hook's core, and
    # the hook's next write took it back: that made the traced program up to a third slower
    # while the writer ran.
    char pad_before[64]
    # -- set up front, then read by both sides
    Entry* entries
    PyObject** extras       # a slot per entry, allocated on first use; owned references
    uint64_t capacity
    uint64_t part           # streaming: the writer is woken every ``part`` entries
    void* wake              # streaming: the semaphore the writer waits on
    int streaming
    int frozen
    char pad_shared[64]
    # -- the hook's: written at every entry
    uint64_t written        # entries written since the last clear; > capacity means overflow
    uint64_t head           # next slot to write
    # Writing past ``limit`` takes the slow path of tracer.pyx's ring_next. Keeping the ring
    # (flight recorder): limit is the capacity and the slow path frees the oldest entry.
    # Streaming: limit is where the writer is to be woken next, at most ``flushed + capacity``,
    # where an entry must be refused because its slot is not written out yet. During a dump
    # (``frozen``) limit is ``written``: every new entry is refused.
    uint64_t limit
    uint64_t refused        # entries refused (streaming, or during a dump) since the last clear
    int64_t refused_since   # ticks of the first refused entry not reported yet
    int writer_stalled      # streaming: the hook waited for the writer in vain (tracer.pyx)
    char pad_hook[64]
    # -- the writer's
    # Streaming: entries before this one are written out, their slots free. Set with the GIL
    # (stream_release), or by a writer going from part to part without it (next_part), which
    # leaves ``limit`` to the hook: the slow path reads ``flushed`` again when it gets there.
    uint64_t flushed
    uint64_t refused_seen   # how many of the refused entries the writer has reported
    int writer_stop         # streaming: the writer is to go back to Python (stop_writer)
    # Streaming, at the stop: the writer writes the entries before this one and no more, while
    # the program's thread encodes the ones from here (tracer.pyx's limit_writer); else ~0.
    uint64_t writer_until
    char pad_after[64]


# -- handing a streamed part's references back -----------------------------------------------
# Every entry owns a reference (its code object or name, and its extra). A streamed part's
# writer moves them out of the slots without the GIL, folding repeats of one object into a
# count, and drops them with the GIL afterwards: a handful of objects instead of a decref
# per entry while the program waits for the GIL.

ctypedef struct RefRun:
    PyObject* obj
    uint64_t n          # references to drop


cdef inline size_t take_refs(Ring* ring, uint64_t first, uint64_t count, RefRun* runs) noexcept nogil:
    """Move the references of the ``count`` entries from slot ``first`` into ``runs`` (room
    for ``2 * count``), leaving the slots empty; returns how many runs were filled."""
    cdef size_t recent[64]      # hash of an object -> its run, for objects that recur
    cdef size_t n = 0, h
    cdef uint64_t i, slot
    cdef Entry* e
    cdef PyObject* extra
    for i in range(64):
        recent[i] = 0
    for i in range(count):
        slot = (first + i) % ring.capacity
        e = &ring.entries[slot]
        if e.obj != NULL:
            h = ((<size_t>e.obj) >> 4) & 63
            if recent[h] < n and runs[recent[h]].obj == e.obj:
                runs[recent[h]].n += 1
            else:
                runs[n].obj = e.obj
                runs[n].n = 1
                recent[h] = n
                n += 1
            e.obj = NULL
        if e.flags & FLAG_EXTRA:
            extra = ring.extras[slot]
            ring.extras[slot] = NULL
            if extra != NULL:
                runs[n].obj = extra
                runs[n].n = 1
                n += 1
        e.flags = 0
    return n


cdef inline void drop_refs(RefRun* runs, size_t n) noexcept:
    """Drop what ``take_refs`` took (with the GIL)."""
    cdef size_t i
    for i in range(n):
        vt_decref_n(runs[i].obj, runs[i].n)


# -- a streaming writer going from part to part without the GIL ---------------------------------
# With the GIL, the writer sees every entry counted in ``written`` whole. Without it, the newest
# may be half-filled: ring_next counts an entry before its caller fills it. Every earlier one is
# whole (the hook fences before counting the next), so the writer reads up to ``written - 1``.

cdef inline uint64_t next_part(Ring* ring, uint64_t first, int64_t wait_ns, uint32_t n_threads,
                               int* parts_left) noexcept nogil:
    """Without the GIL, after writing the entries before ``first``: the number of entries of the
    next part of the writer's run, or 0 when the run ends and the caller goes back to Python.

    While ``parts_left`` (counted down here) lasts: hand the written slots back to the hook,
    then take a whole part if the program has filled one; else at once what it filled while
    the writer wrote, when that is a quarter of a part or more; else wait for a whole part, or
    take what it filled in ``wait_ns``. Taking a part's worth at once keeps the writer as close
    behind the program as it can go, so that little is left to write at the stop. The run ends
    when the program filled nothing, the writer is asked to stop (``writer_stop``) or reached
    ``writer_until`` (taken at once up to there), or the part
    holds an entry of a thread past the first ``n_threads`` (Python describes it first)."""
    cdef uint64_t ready, avail, count = 0, i, room
    cdef bint waited = False
    if parts_left[0] <= 0:
        return 0
    parts_left[0] -= 1
    vt_store_release(&ring.flushed, first)
    # The stop sets writer_until, then reads flushed (limit_writer); here flushed is stored,
    # then writer_until read: with a full fence on both sides, one of the two sees the other's
    # store, so a writer that did not see the limit is within the part the stop allowed for.
    vt_full_fence()
    while not vt_load_flag(&ring.writer_stop):
        room = vt_load_acquire(&ring.writer_until)
        if room <= first:
            return 0
        room -= first
        ready = vt_load_acquire(&ring.written)
        avail = ready - 1 - first if ready > first + 1 else 0     # whole entries (see above)
        if avail > room:
            avail = room
        if avail >= ring.part:
            count = ring.part
        elif waited or avail >= ring.part // 4 or avail == room:
            count = avail
        else:
            waited = not vt_sem_wait(ring.wake, wait_ns)
            continue
        break
    for i in range(count):
        if ring.entries[(first + i) % ring.capacity].thread >= n_threads:
            return 0
    return count
