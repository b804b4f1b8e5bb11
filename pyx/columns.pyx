# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The viewer's hot loops: scan a report's events into slice columns, then lay the slices out.

``scan_events`` walks ``traceEvents`` once in C, reading ``X`` events straight out of their
dicts into typed arrays (a list comprehension per field costs several times more on a million
events) and handing every other event back as a Python list for the rare-case code in
``viztracer/viewer/columns.py``. ``layout_slices`` computes each slice's depth and parent by
nesting per track and orders the slices by (track, depth, start) so that the page can
binary-search a row.
"""
from cpython cimport array
from cpython.dict cimport PyDict_GetItem
from cpython.float cimport PyFloat_AsDouble
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from libc.math cimport llround
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc, qsort
from libc.string cimport memcpy

import array as pyarray

from viztracer._slice_columns cimport SliceColumns

cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")


cdef inline bint _is_number(PyObject* value) noexcept:
    if value == NULL:
        return False
    t = type(<object>value)
    return t is float or t is int


cdef inline double _number(PyObject* value) except? -1.0:
    """A JSON number as a double; anything else (missing, null, a string) is 0."""
    if not _is_number(value):
        return 0.0
    return PyFloat_AsDouble(<object>value)


def scan_events(list events):
    """Split ``events`` into X-slice columns and the rest.

    Returns ``(ts, dur, name, track, args, names, tracks, arg_values, others, first, last)``:
    ``ts`` and ``dur``
    in the report's microseconds (array "d"), ``name``/``track``/``args`` indices (array "i",
    ``args`` -1 when the event has none), ``names`` the distinct names in order of first use,
    ``tracks`` the distinct (pid, tid) pairs, ``arg_values`` the args objects, and ``others``
    every event that is not an ``X`` (or is not a dict); ``first`` and ``last`` are the earliest
    start and the latest end of the slices (None when there are none).
    """
    cdef Py_ssize_t n = PyList_GET_SIZE(events), i
    cdef SliceColumns cols = SliceColumns(n)
    cdef list others = []
    cdef object e
    cdef PyObject* ph
    cdef PyObject* value
    for i in range(n):
        e = <object>PyList_GET_ITEM(events, i)
        if type(e) is not dict:
            others.append(e)
            continue
        ph = PyDict_GetItem(e, "ph")
        if ph == NULL or type(<object>ph) is not str or <str>ph != "X":
            others.append(e)
            continue
        value = PyDict_GetItem(e, "ts")
        if not _is_number(value):
            others.append(e)
            continue
        cols.add(_number(value), _number(PyDict_GetItem(e, "dur")), _get(e, "name", ""),
                 _get(e, "pid", None), _get(e, "tid", None), _get(e, "args", None))
    return cols.result(others)


cdef inline object _get(dict e, str key, object default):
    cdef PyObject* value = PyDict_GetItem(e, key)
    return <object>value if value != NULL else default


cdef struct Item:
    int64_t start
    int64_t end
    int32_t track
    int32_t index


cdef int _by_track_start(const void* a, const void* b) noexcept nogil:
    cdef const Item* x = <const Item*>a
    cdef const Item* y = <const Item*>b
    if x.track != y.track:
        return -1 if x.track < y.track else 1
    if x.start != y.start:
        return -1 if x.start < y.start else 1
    if x.end != y.end:  # the longer one first: it is the parent
        return -1 if x.end > y.end else 1
    return -1 if x.index < y.index else (1 if x.index > y.index else 0)


cdef inline bint _before(const Item* x, const Item* y) noexcept nogil:
    return _by_track_start(x, y) < 0


cdef void _order_track(Item* src, Item* dst, Py_ssize_t a, Py_ssize_t b, int32_t* nxt,
                       Py_ssize_t* head, int64_t* tail) noexcept nogil:
    """``src[a:b]`` (one track's slices, in input order) into ``dst[a:b]`` sorted as
    ``_by_track_start`` sorts them.

    Tracers write a call when it ends, so a track's slices mostly come after their children
    (post-order); in start order a parent comes before its children instead (pre-order).
    One pass turns the first into the second: each slice takes as its children the subtrees
    just before it that start no earlier than it does, linked into a list after it. That
    guess is checked pair by pair against the comparison; if one pair is out of order (equal
    starts ordered by their ends, a child rounded past its parent, a file in another order),
    the track is sorted the usual way. Either way the result is the sorted order, which is
    unique (the input index breaks every tie)."""
    cdef Py_ssize_t i, m, k, top = 0, pos = a
    cdef int64_t x, last
    for i in range(a, b):
        nxt[i] = -1
        last = i
        k = top
        while k > 0 and src[head[k - 1]].start >= src[i].start:
            k -= 1
        for m in range(k, top):
            nxt[last] = <int32_t>head[m]
            last = tail[m]
        head[k], tail[k] = i, last
        top = k + 1
    for m in range(top):
        x = head[m]
        while x >= 0:
            dst[pos] = src[x]
            pos += 1
            x = nxt[x]
    for i in range(a + 1, b):
        if not _before(&dst[i - 1], &dst[i]):
            memcpy(&dst[a], &src[a], (b - a) * sizeof(Item))
            qsort(&dst[a], b - a, sizeof(Item), _by_track_start)
            return


def layout_slices(double[:] ts, double[:] dur, int[:] track, int ntracks, double t0):
    """Nest the slices of each track and order them by (track, depth, start).

    ``ts``/``dur`` are microseconds; times are rounded to integer nanoseconds after ``t0``, so
    a child that ends 1 ns after its parent (separately rounded numbers) still nests. Returns
    ``(order, start_ns, dur_ns, depth, parent, rows)``: ``order`` maps each output position to
    the input slice, ``parent`` is an output position or -1, and ``rows`` is a flat array of
    (track, depth, first, count) per non-empty row, in output order.
    """
    cdef Py_ssize_t n = ts.shape[0], i, j, top, pos
    cdef Item* items = <Item*>malloc(max(n, 1) * sizeof(Item))
    cdef Item* by_track = <Item*>malloc(max(n, 1) * sizeof(Item))     # in input order per track
    cdef int64_t* track_at = <int64_t*>calloc(ntracks + 1, sizeof(int64_t))
    cdef int64_t* stack_end = <int64_t*>malloc(max(n, 1) * sizeof(int64_t))
    cdef Py_ssize_t* stack_pos = <Py_ssize_t*>malloc(max(n, 1) * sizeof(Py_ssize_t))
    cdef int32_t* sdepth = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    cdef int32_t* sparent = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    cdef int32_t* final_of = <int32_t*>malloc(max(n, 1) * sizeof(int32_t))
    if not items or not by_track or not track_at or not stack_end or not stack_pos or not sdepth \
            or not sparent or not final_of:
        free(items); free(by_track); free(track_at)
        free(stack_end); free(stack_pos); free(sdepth); free(sparent); free(final_of)
        raise MemoryError()
    cdef int64_t s, d
    cdef Py_ssize_t k
    cdef int cur_track
    cdef array.array order = array.clone(_INTS, n, False)
    cdef array.array start_ns = array.clone(_DOUBLES, n, False)
    cdef array.array dur_ns = array.clone(_DOUBLES, n, False)
    cdef array.array depth = array.clone(_INTS, n, False)
    cdef array.array parent = array.clone(_INTS, n, False)
    cdef int[:] order_v = order, depth_v = depth, parent_v = parent
    cdef double[:] start_v = start_ns, dur_v = dur_ns
    cdef int max_depth = 0
    cdef int64_t* track_depth = NULL
    cdef int64_t* row_base = NULL
    cdef int64_t* counts = NULL
    cdef int64_t* first = NULL
    cdef int64_t nrows, r
    cdef array.array rows = array.clone(_INTS, 0, False)
    try:
        # The loops below work in C on our own buffers, without the GIL: other threads (the
        # viewer's server answering progress requests) run meanwhile.
        with nogil:
            # Stably by track (a count of each, then each slice to its track's next place),
            # then each track's run in (start, longer first) order: see _order_track.
            for i in range(n):
                track_at[track[i] + 1] += 1
            for j in range(ntracks - 1):
                track_at[j + 1] += track_at[j]
            for i in range(n):
                s = llround((ts[i] - t0) * 1000.0)
                d = llround(dur[i] * 1000.0)
                if d < 0:
                    d = 0
                pos = track_at[track[i]]
                track_at[track[i]] = pos + 1
                by_track[pos].start = s
                by_track[pos].end = s + d
                by_track[pos].track = track[i]
                by_track[pos].index = <int32_t>i
            j = 0   # now track_at[k] is where track k's run ends
            for k in range(ntracks):
                _order_track(by_track, items, j, track_at[k], final_of, stack_pos, stack_end)
                j = track_at[k]
            # Sweep each track with a stack of open slices: pop those that ended, the top is the parent.
            top = 0
            cur_track = -1
            for i in range(n):
                if items[i].track != cur_track:
                    cur_track = items[i].track
                    top = 0
                while top > 0 and stack_end[top - 1] <= items[i].start:
                    top -= 1
                sdepth[i] = <int32_t>top
                sparent[i] = <int32_t>(stack_pos[top - 1] if top > 0 else -1)
                if top > max_depth:
                    max_depth = top
                # A child that ends past its parent (each end rounded on its own) ends with it here,
                # so that the parent's next sibling does not nest under the child.
                stack_end[top] = items[i].end if top == 0 or items[i].end < stack_end[top - 1] else stack_end[top - 1]
                stack_pos[top] = i
                top += 1
        # Bucket by (track, depth); the sweep order is by start within a track, and the bucket
        # pass is stable, so each row comes out sorted by start.
        track_depth = <int64_t*>calloc(ntracks + 1, sizeof(int64_t))
        row_base = <int64_t*>calloc(ntracks + 1, sizeof(int64_t))
        if not track_depth or not row_base:
            raise MemoryError()
        with nogil:
            for i in range(n):
                if sdepth[i] + 1 > track_depth[items[i].track]:
                    track_depth[items[i].track] = sdepth[i] + 1
            for j in range(ntracks):
                row_base[j + 1] = row_base[j] + track_depth[j]
            nrows = row_base[ntracks]
        counts = <int64_t*>calloc(nrows + 1, sizeof(int64_t))
        first = <int64_t*>calloc(nrows + 1, sizeof(int64_t))
        if not counts or not first:
            raise MemoryError()
        with nogil:
            for i in range(n):
                counts[row_base[items[i].track] + sdepth[i] + 1] += 1
            for j in range(nrows):
                counts[j + 1] += counts[j]
            for j in range(nrows + 1):
                first[j] = counts[j]
            for i in range(n):
                j = row_base[items[i].track] + sdepth[i]
                final_of[i] = <int32_t>counts[j]
                counts[j] += 1
            for i in range(n):
                pos = final_of[i]
                order_v[pos] = items[i].index
                start_v[pos] = <double>items[i].start
                dur_v[pos] = <double>(items[i].end - items[i].start)
                depth_v[pos] = sdepth[i]
                parent_v[pos] = final_of[sparent[i]] if sparent[i] >= 0 else -1
        for j in range(ntracks):
            for i in range(track_depth[j]):
                r = row_base[j] + i
                if first[r + 1] > first[r]:
                    rows.extend((j, i, first[r], first[r + 1] - first[r]))
    finally:
        free(items); free(by_track); free(track_at); free(stack_end); free(stack_pos); free(sdepth); free(sparent); free(final_of)
        free(track_depth); free(row_base); free(counts); free(first)
    return order, start_ns, dur_ns, depth, parent, rows


def take(array.array values, int[:] order):
    """``values`` reordered by ``order`` (same typecode)."""
    cdef Py_ssize_t n = order.shape[0], i
    cdef array.array out = array.clone(values, n, False)
    cdef int[:] src_i, dst_i
    cdef double[:] src_d, dst_d
    if values.typecode == "d":
        src_d = values
        dst_d = out
        for i in range(n):
            dst_d[i] = src_d[order[i]]
    else:
        src_i = values
        dst_i = out
        for i in range(n):
            dst_i[i] = src_i[order[i]]
    return out
