# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The layout of slices whose nesting the scanner already knows: a ``.pftrace``'s calls, put in
the columns at their BEGIN with their depth (``SliceColumns.open_ids``).

Each track's slices then come in start order, a parent before its children, so every (track,
depth) row is already in start order and nothing needs sorting. ``nest`` checks that the times
nest as the file does and counts the rows; ``Nesting.place_into`` then writes the laid-out
columns straight into the viewer's blob, so 10 million slices are written once, into memory
faulted in once, instead of into arrays the blob is then copied from. ``layout_nested`` gives
the same columns as arrays.

A streamed file does not nest as its times do: a part holds the calls that ended while it
filled, so a caller still running when a part is written comes in a later part, after calls
it made. ``nest`` then puts each track in start order itself (the few late callers sorted and
merged in) and nests by the times, as ``_columns.layout_slices`` does, with an order array
instead of copies of the slices. Either way the result is ``layout_slices``'s, byte for byte;
only a track far from start order (another tracer's post-order file) is left to it (None).
"""
from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.math cimport llround
from libc.stdint cimport int32_t, int64_t, uintptr_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc

import array as pyarray

from viztracer._big_pages cimport RELEASE_EVERY, huge_array, huge_pages, release_read, release_start

cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")


cdef struct Open:
    int64_t end     # when it ends, or its parent, whichever is sooner (as layout_slices sweeps)


cdef struct Key:    # a slice as _columns.layout_slices orders a track: start, longer first, input
    int64_t start
    int64_t end
    int32_t index


cdef inline bint before(int64_t s1, int64_t e1, int32_t i1, int64_t s2, int64_t e2, int32_t i2) noexcept nogil:
    if s1 != s2:
        return s1 < s2
    if e1 != e2:
        return e1 > e2
    return i1 < i2


cdef int key_order(const void* a, const void* b) noexcept nogil:
    cdef const Key* x = <const Key*>a
    cdef const Key* y = <const Key*>b
    if before(x.start, x.end, x.index, y.start, y.end, y.index):
        return -1
    return 1 if before(y.start, y.end, y.index, x.start, x.end, x.index) else 0


cdef class Nesting:
    """What ``nest`` found: the rows, where each begins in the output, and each track's first
    start. It holds the input columns until the slices are placed."""
    cdef double[:] ts, dur
    cdef int[:] name, track, args, depth
    cdef Py_ssize_t n
    cdef int ntracks
    cdef int64_t* row_base      # the first row of each track (ntracks + 1)
    cdef int64_t* row_start     # the first output position of each row (rows + 1)
    cdef int64_t nrows
    cdef int32_t* order         # the slices in start order per track, when not the file's
    cdef bint placed
    cdef readonly array.array rows      # (track, depth, first, count) of each non-empty row
    cdef readonly list first_start      # each track's first start (ns after t0), None if none

    def __dealloc__(self):
        free(self.row_base)
        free(self.row_start)
        free(self.order)

    @property
    def count(self):
        return self.n

    cdef int place(self, double* os, double* od, int* on, int* ot, int* odp, int* op, int* oa,
                   bint release, object done=None) except -1:
        """Write the columns in output order. Once: the input ``depth`` column is overwritten
        with each slice's output position (a slice's depth is read only there), which spares a
        column of fresh memory (0.4 GB at 100M slices).

        A first pass in start order gives each slice its place, and its parent's (the slice
        placed last on its track one level up). Then a column at a time, each input dropped
        once its output is written, and with ``release`` its pages (and the order's) handed
        back to the system as they are read (``release_read``): the blob's pages are faulted
        in as the inputs' go, so placing takes no more memory than the inputs held (at 100M
        slices: 3.6 GB at most, against 7.5 GB when all the inputs stayed whole until the
        blob was written). ``done(k)``, when given, is called as each column is complete (``k``
        in ``place_into``'s order of the columns), so that it can be written out meanwhile."""
        cdef Py_ssize_t n = self.n, i, k
        cdef int64_t r, p
        cdef int t, dp
        cdef int32_t* order = self.order
        cdef int[:] track = self.track
        cdef int[:] final_of = self.depth
        cdef int64_t* row_base = self.row_base
        cdef int64_t* row_start = self.row_start
        cdef int64_t* next_at
        cdef uintptr_t upto = release_start(order)
        if self.placed:
            raise ValueError("the slices are placed already")
        next_at = <int64_t*>malloc((self.nrows + 1) * sizeof(int64_t))
        if not next_at:
            raise MemoryError()
        self.placed = True
        for r in range(self.nrows + 1):
            next_at[r] = row_start[r]
        with nogil:
            # A track's slices come in start order, so each row fills in start order, and a
            # slice's parent is the last one placed in the row above (layout_slices's stack).
            for k in range(n):
                i = order[k] if order else k
                dp = final_of[i]
                r = row_base[track[i]] + dp
                p = next_at[r]
                next_at[r] = p + 1
                final_of[i] = <int>p
                op[p] = <int>(next_at[r - 1] - 1) if dp > 0 else -1
                if order and release and (k & RELEASE_EVERY) == RELEASE_EVERY:
                    upto = release_read(order, (k + 1) * sizeof(int32_t), upto)
        free(next_at)
        free(self.order)
        self.order = NULL
        self.track = track = None
        if done is not None:
            done(5)
        scatter(final_of, self.name, on, release)
        self.name = None
        if done is not None:
            done(2)
        scatter(final_of, self.args, oa, release)
        self.args = None
        if done is not None:
            done(6)
        scatter(final_of, self.ts, os, release)
        self.ts = None
        if done is not None:
            done(0)
        scatter(final_of, self.dur, od, release)
        self.dur = None
        if done is not None:
            done(1)
        self.depth = final_of = None
        with nogil:     # each row's track and depth, last: nothing of the inputs is left then
            for t in range(self.ntracks):
                for r in range(row_base[t], row_base[t + 1]):
                    for p in range(row_start[r], row_start[r + 1]):
                        ot[p] = t
                        odp[p] = <int>(r - row_base[t])
        if done is not None:
            done(3)
            done(4)
        return 0

    def place_into(self, bytes blob, Py_ssize_t start, Py_ssize_t dur, Py_ssize_t name,
                   Py_ssize_t track, Py_ssize_t depth, Py_ssize_t parent, Py_ssize_t args,
                   bint release=False, done=None):
        """Write the seven columns into ``blob`` (fresh, and seen by nothing else yet) at these
        byte offsets, each 8-aligned with room for ``count`` values. Drops the inputs (and
        has written over ``depth``: see ``place``); with ``release``, hands their memory back
        to the system as it reads them, for inputs nothing else will read again. ``done(k)``
        is called as the ``k``-th column (in this order) is complete."""
        cdef char* base = PyBytes_AS_STRING(blob)
        cdef Py_ssize_t size = PyBytes_GET_SIZE(blob), offset
        for offset, width in ((start, 8), (dur, 8), (name, 4), (track, 4), (depth, 4), (parent, 4), (args, 4)):
            if offset < 0 or offset % 8 or offset + self.n * width > size:
                raise ValueError(f"no room for {self.n} values of {width} bytes at {offset}")
        self.place(<double*>(base + start), <double*>(base + dur), <int*>(base + name),
                   <int*>(base + track), <int*>(base + depth), <int*>(base + parent), <int*>(base + args),
                   release, done)


# Each column's values to their output positions, reading the input in order; with ``release``
# the input's pages are handed back as the read passes them.

ctypedef fused value_t:
    int
    double


cdef void scatter(int[:] at, value_t[:] column, value_t* out, bint release) noexcept:
    cdef Py_ssize_t n = at.shape[0], i
    cdef const char* base = <const char*>&column[0] if n else NULL
    cdef uintptr_t upto = release_start(base)
    with nogil:
        for i in range(n):
            out[at[i]] = column[i]
            if release and (i & RELEASE_EVERY) == RELEASE_EVERY:
                upto = release_read(base, (i + 1) * sizeof(value_t), upto)


cdef int by_times(Nesting nesting, int64_t* first_ns, char* has_first) except -1:
    """Lay out slices whose file order is not their start order (a streamed file's): each
    track's run put in start order (``nesting.order``), then nested by a sweep with a stack of
    open slices, as ``layout_slices`` does, into ``depth`` (overwritten).
    Returns 0, having changed nothing, when a track is far from start order (or a track id is
    out of range): then ``layout_slices`` does it."""
    cdef Py_ssize_t n = nesting.n, i, k, a, b, x, o, kept, spare, spare_cap = 0, descents
    cdef int ntracks = nesting.ntracks, t, top, stack_cap = 0
    cdef double[:] ts = nesting.ts, dur = nesting.dur
    cdef int[:] track = nesting.track, depth = nesting.depth
    cdef int64_t s, e, ls, le
    cdef int32_t li, j
    cdef int64_t* row_base = nesting.row_base
    cdef int64_t* track_at = <int64_t*>calloc(ntracks + 1, sizeof(int64_t))
    cdef int32_t* order = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    cdef Key* spares = NULL
    cdef Key* grown_keys
    cdef int64_t* stack_end = NULL
    cdef int32_t* stack_at = NULL
    cdef void* grown
    cdef bint refused = False, nomem = False
    if not track_at or not order:
        free(track_at)
        free(order)
        raise MemoryError()
    huge_pages(order, n * sizeof(int32_t))
    with nogil:
        # each track's run, in input order (a count per track, then each slice to its place)
        for i in range(n):
            t = track[i]
            if t < 0 or t >= ntracks:
                refused = True
                break
            track_at[t + 1] += 1
        if not refused:
            for t in range(ntracks):
                track_at[t + 1] += track_at[t]
            for i in range(n):
                order[track_at[track[i]]] = <int32_t>i
                track_at[track[i]] += 1
            for t in range(ntracks, 0, -1):     # back to where each run begins
                track_at[t] = track_at[t - 1]
            track_at[0] = 0
        for t in range(ntracks if not refused else 0):
            a, b = track_at[t], track_at[t + 1]
            descents = 0
            for k in range(a + 1, b):
                i, x = order[k - 1], order[k]
                descents += not before(<int64_t>ts[i], <int64_t>ts[i] + <int64_t>dur[i], <int32_t>i,
                                       <int64_t>ts[x], <int64_t>ts[x] + <int64_t>dur[x], <int32_t>x)
            if descents > (b - a) // 16 + 16:   # post-order, say: layout_slices's own guess
                refused = True
                break
            # The slices in order with all kept before them stay where they are (moved up);
            # the others are sorted apart and merged in from the back.
            kept = spare = 0
            for k in range(a, b):
                j = order[k]
                s, e = <int64_t>ts[j], <int64_t>ts[j] + <int64_t>dur[j]
                if kept == 0 or before(ls, le, li, s, e, j):
                    order[a + kept] = j
                    kept += 1
                    ls, le, li = s, e, j
                    continue
                if spare == spare_cap:
                    spare_cap = 2 * spare_cap + 1024
                    grown_keys = <Key*>realloc(spares, spare_cap * sizeof(Key))
                    if not grown_keys:
                        nomem = True
                        break
                    spares = grown_keys
                spares[spare].start, spares[spare].end, spares[spare].index = s, e, j
                spare += 1
            if nomem:
                break
            if spare:
                qsort(spares, spare, sizeof(Key), key_order)
                x, o = a + kept - 1, b - 1
                spare -= 1
                while spare >= 0:
                    if x >= a:
                        j = order[x]
                        if before(spares[spare].start, spares[spare].end, spares[spare].index,
                                  <int64_t>ts[j], <int64_t>ts[j] + <int64_t>dur[j], j):
                            order[o] = j
                            x -= 1
                            o -= 1
                            continue
                    order[o] = spares[spare].index
                    spare -= 1
                    o -= 1
        if not refused and not nomem:
            # Nest each track by a sweep in start order: pop the slices that ended, the top
            # is the parent (a child ending past its parent ends with it, as layout_slices has
            # it; ``place`` finds the parent again as the last slice placed one row up).
            for t in range(ntracks):
                row_base[t + 1] = 0
                top = 0
                for k in range(track_at[t], track_at[t + 1]):
                    j = order[k]
                    s, e = <int64_t>ts[j], <int64_t>ts[j] + <int64_t>dur[j]
                    if k == track_at[t]:
                        has_first[t], first_ns[t] = 1, s
                    while top > 0 and stack_end[top - 1] <= s:
                        top -= 1
                    depth[j] = top
                    if top == stack_cap:
                        stack_cap = 2 * stack_cap + 64
                        grown = realloc(stack_end, stack_cap * sizeof(int64_t))
                        if grown:
                            stack_end = <int64_t*>grown
                            grown = realloc(stack_at, stack_cap * sizeof(int32_t))
                            if grown:
                                stack_at = <int32_t*>grown
                        if not grown:
                            nomem = True
                            break
                    stack_end[top] = e if top == 0 or e < stack_end[top - 1] else stack_end[top - 1]
                    stack_at[top] = j
                    top += 1
                    if top > row_base[t + 1]:
                        row_base[t + 1] = top
                if nomem:
                    break
    free(track_at)
    free(spares)
    free(stack_end)
    free(stack_at)
    if nomem:
        free(order)
        raise MemoryError()
    if refused:
        free(order)
        return 0
    nesting.order = order
    return 1


def nest(double[:] ts, double[:] dur, int[:] name, int[:] track, int[:] args, int[:] depth,
         int ntracks, double t0):
    """A ``Nesting`` of slices given at their begin, with their depth as the file nests them
    (a slice's parent is the one before it on its track one level up); ``ts`` and ``dur``
    (microseconds) become whole nanoseconds after ``t0`` in place, as ``layout_slices`` rounds
    them, and ``depth`` is overwritten (here or when placed): the columns are the caller's to
    give up.

    When the times nest as the file does (on each track, starts increasing, or equal for a
    shorter child of the slice just before; a child starting before its parent's end; a slice
    starting once the one before it at its depth has ended; no depth more than one below the
    slice before's),
    the file's order and nesting are kept. Otherwise each track is put in start order and nested
    by its times (``by_times``). None when a track is far from start order: ``layout_slices``
    then lays the slices out, from the times in nanoseconds (``t0`` 0, ``scale`` 1)."""
    cdef Py_ssize_t n = ts.shape[0], i
    cdef int t, dp
    cdef int64_t s, d, end, r
    cdef bint ordered = True
    cdef int64_t* last_start = <int64_t*>malloc(max(ntracks, 1) * sizeof(int64_t))
    cdef int64_t* last_end = <int64_t*>malloc(max(ntracks, 1) * sizeof(int64_t))
    cdef int64_t* first_ns = <int64_t*>malloc(max(ntracks, 1) * sizeof(int64_t))
    # Per track, the ends of the slices open at the last one (by depth): its parent's and the
    # one's before it at its depth.
    cdef Open** chain = <Open**>calloc(max(ntracks, 1), sizeof(Open*))
    cdef int* chain_cap = <int*>calloc(max(ntracks, 1), sizeof(int))
    cdef int* chain_len = <int*>calloc(max(ntracks, 1), sizeof(int))
    cdef char* has_first = <char*>calloc(max(ntracks, 1), 1)
    cdef bint nomem = False
    cdef Open* grown
    cdef Nesting nesting = Nesting.__new__(Nesting)
    cdef int64_t* row_base
    cdef int64_t* row_start
    if (name.shape[0] != n or track.shape[0] != n or args.shape[0] != n or depth.shape[0] != n
            or dur.shape[0] != n):
        raise ValueError("the columns differ in length")
    nesting.ts, nesting.dur, nesting.name, nesting.track = ts, dur, name, track
    nesting.args, nesting.depth = args, depth
    nesting.n, nesting.ntracks = n, ntracks
    nesting.row_base = row_base = <int64_t*>calloc(ntracks + 1, sizeof(int64_t))
    nesting.rows = array.clone(_INTS, 0, False)
    try:
        if not last_start or not last_end or not first_ns or not chain or not chain_cap \
                or not chain_len or not has_first or not row_base:
            raise MemoryError()
        with nogil:
            # The times as layout_slices rounds them (a negative duration is none).
            for i in range(n):
                s = llround((ts[i] - t0) * 1000.0)
                d = llround(dur[i] * 1000.0)
                ts[i] = <double>s
                dur[i] = <double>(d if d > 0 else 0)
            # The checks, and each track's depth (row_base[t + 1] holds it for now).
            for i in range(n):
                t = track[i]
                dp = depth[i]
                if t < 0 or t >= ntracks or dp < 0 or dp > chain_len[t]:
                    ordered = False
                    break
                s = <int64_t>ts[i]
                end = s + <int64_t>dur[i]
                # Equal starts sort longer first: only a child of the slice just before, shorter.
                if (chain_len[t] and (s < last_start[t] or (s == last_start[t] and (
                        dp != chain_len[t] or end >= last_end[t])))) \
                        or (dp > 0 and s >= chain[t][dp - 1].end) \
                        or (dp < chain_len[t] and chain[t][dp].end > s):
                    ordered = False
                    break
                if not has_first[t]:    # the track's first slice is its earliest
                    has_first[t] = 1
                    first_ns[t] = s
                last_start[t] = s
                last_end[t] = end
                if dp >= chain_cap[t]:
                    grown = <Open*>realloc(chain[t], (2 * dp + 16) * sizeof(Open))
                    if not grown:
                        nomem = True
                        break
                    chain[t], chain_cap[t] = grown, 2 * dp + 16
                chain[t][dp].end = end if dp == 0 or end < chain[t][dp - 1].end else chain[t][dp - 1].end
                chain_len[t] = dp + 1
                if dp + 1 > row_base[t + 1]:
                    row_base[t + 1] = dp + 1
        if nomem:
            raise MemoryError()
        if not ordered and not by_times(nesting, first_ns, has_first):
            return None
        for t in range(ntracks):
            row_base[t + 1] += row_base[t]
        nesting.nrows = row_base[ntracks]
        nesting.row_start = row_start = <int64_t*>calloc(nesting.nrows + 1, sizeof(int64_t))
        if not row_start:
            raise MemoryError()
        with nogil:
            for i in range(n):
                row_start[row_base[track[i]] + depth[i] + 1] += 1
            for r in range(nesting.nrows):
                row_start[r + 1] += row_start[r]
        for t in range(ntracks):
            for dp in range(row_base[t + 1] - row_base[t]):
                r = row_base[t] + dp
                if row_start[r + 1] > row_start[r]:
                    nesting.rows.extend((t, dp, row_start[r], row_start[r + 1] - row_start[r]))
        nesting.first_start = [<double>first_ns[t] if has_first[t] else None for t in range(ntracks)]
    finally:
        if chain:
            for t in range(ntracks):
                free(chain[t])
        free(chain); free(chain_cap); free(chain_len); free(last_start); free(last_end)
        free(first_ns); free(has_first)
    return nesting


def layout_nested(ts, dur, name, track, args, depth, int ntracks, double t0):
    """``nest`` and place, into arrays: ``(start_ns, dur_ns, name, track, depth, parent, args,
    rows)`` in output order, as ``layout_slices`` and ``take`` would give them; or None as
    ``nest`` says. The inputs are left as they were (``nest`` is given copies)."""
    cdef Nesting nesting = nest(pyarray.array("d", ts), pyarray.array("d", dur), name, track, args,
                                pyarray.array("i", depth), ntracks, t0)
    if nesting is None:
        return None
    cdef Py_ssize_t n = nesting.n
    cdef array.array start_ns = array.clone(_DOUBLES, n, False)
    cdef array.array dur_ns = array.clone(_DOUBLES, n, False)
    cdef array.array o_name, o_track, o_depth, o_parent, o_args
    o_name, o_track, o_depth, o_parent, o_args = [array.clone(_INTS, n, False) for _ in range(5)]
    for col in (start_ns, dur_ns, o_name, o_track, o_depth, o_parent, o_args):
        huge_array(col)
    nesting.place(start_ns.data.as_doubles, dur_ns.data.as_doubles, o_name.data.as_ints,
                  o_track.data.as_ints, o_depth.data.as_ints, o_parent.data.as_ints, o_args.data.as_ints,
                  False)
    return start_ns, dur_ns, o_name, o_track, o_depth, o_parent, o_args, nesting.rows
