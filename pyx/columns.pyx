# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The viewer's hot loops: scan a report's events into slice columns, then lay the slices out.

``scan_events`` walks ``traceEvents`` once in C, reading ``X`` events straight out of their
dicts into typed arrays (a list comprehension per field costs several times more on a million
events) and handing every other event back as a Python list for the rare-case code in
``viztracer/viewer/columns.py``. ``layout_slices`` computes each slice's depth and parent by
nesting per track and orders the slices by (track, depth, start) so that the page can
binary-search a row (``_nested_layout`` does the same for slices whose nesting the scanner
already knows, in one pass). ``join`` packs the viewer's blob.
"""
from cpython cimport array
from cpython.buffer cimport PyBUF_SIMPLE, PyBuffer_Release, PyObject_GetBuffer
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.dict cimport PyDict_GetItem
from cpython.float cimport PyFloat_AsDouble
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from libc.math cimport isnan, llround
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport calloc, free, malloc, qsort, realloc
from libc.string cimport memcpy

import array as pyarray

from viztracer._slice_columns cimport SliceColumns
from viztracer._big_pages cimport huge_array, huge_pages

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
    unique (the input index breaks every tie). The usual way is ``_sort_nearly_sorted``,
    taken at once when the input is mostly in start order already (a ``.pftrace``)."""
    cdef Py_ssize_t i, m, k, top = 0, pos = a, descents = 0
    cdef int64_t x, last
    for i in range(a + 1, b):
        descents += not _before(&src[i - 1], &src[i])
    if descents <= (b - a) // 16:
        _sort_nearly_sorted(src, dst, a, b)
        return
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
            _sort_nearly_sorted(src, dst, a, b)
            return


cdef void _sort_nearly_sorted(Item* src, Item* dst, Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """``src[a:b]`` into ``dst[a:b]`` sorted as ``_by_track_start`` sorts them, in about
    linear time when few slices are out of order; ``src[a:b]`` is overwritten.

    A ``.pftrace`` gives its calls in start order (they are placed at their begin), except
    where a streamed file's parts meet: a part holds the calls that ended while it filled, so
    the callers still running at its end begin in a later part, before everything of the
    parts in between (100M calls: 12,000 parts, a few hundred thousand such callers). The
    slices in order with all those kept before them go to ``dst`` as they come; the others
    (later in the input than they sort) are gathered at the start of ``src``, sorted, and
    merged in from the back. With more than half out of order, the whole is sorted."""
    cdef Py_ssize_t i, kept = 0, spare = 0, o
    for i in range(a, b):
        if kept == 0 or _before(&dst[a + kept - 1], &src[i]):
            dst[a + kept] = src[i]
            kept += 1
        else:
            src[a + spare] = src[i]     # a + spare <= i: read before it is written
            spare += 1
    if spare == 0:
        return
    if spare > (b - a) // 2:
        memcpy(&dst[a + kept], &src[a], spare * sizeof(Item))
        qsort(&dst[a], b - a, sizeof(Item), _by_track_start)
        return
    qsort(&src[a], spare, sizeof(Item), _by_track_start)
    i, o = a + kept - 1, b - 1
    spare += a - 1      # now the last of the out-of-order ones in src
    while spare >= a:
        if i >= a and _before(&src[spare], &dst[i]):
            dst[o] = dst[i]
            i -= 1
        else:
            dst[o] = src[spare]
            spare -= 1
        o -= 1


def layout_slices(double[:] ts, double[:] dur, int[:] track, int ntracks, double t0,
                  double scale=1000.0):
    """Nest the slices of each track and order them by (track, depth, start).

    ``ts``/``dur`` are microseconds; times are rounded to integer nanoseconds after ``t0``, so
    a child that ends 1 ns after its parent (separately rounded numbers) still nests (times
    already in whole nanoseconds after the first: ``t0`` 0 and ``scale`` 1). Returns
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
        for col in (order, start_ns, dur_ns, depth, parent):
            huge_array(col)
        huge_pages(items, n * sizeof(Item))
        huge_pages(by_track, n * sizeof(Item))
        huge_pages(sdepth, n * sizeof(int32_t))
        huge_pages(sparent, n * sizeof(int32_t))
        huge_pages(final_of, n * sizeof(int32_t))
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
                s = llround((ts[i] - t0) * scale)
                d = llround(dur[i] * scale)
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
            free(by_track)      # a quarter of the peak, no longer needed
            by_track = NULL
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
    huge_array(out)
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


def end_open(double[:] ts, double[:] dur, double last):
    """Give each slice that never ended (its ``dur`` NaN, see ``SliceColumns.close_ids``) the
    time up to ``last``, the end of the trace; how many there were."""
    cdef Py_ssize_t i, n = ts.shape[0], count = 0
    for i in range(n):
        if isnan(dur[i]):
            dur[i] = last - ts[i]
            count += 1
    return count


def join(list parts, bint huge=True):
    """``b"".join(parts)`` (buffers: bytes, arrays) for a blob of hundreds of MB: written in
    huge pages (unless not ``huge``), copied without the GIL. A part that is an int is a hole of
    that many bytes, left unwritten for the caller to fill (columns laid out straight into the
    blob). Empties ``parts``, dropping each once it is copied, so that what nothing else holds
    is freed as the blob fills (its peak is not twice the blob)."""
    cdef Py_ssize_t total = 0, at = 0, k, m = len(parts)
    cdef Py_buffer view
    for part in parts:
        if isinstance(part, int):
            if part < 0:
                raise ValueError("a hole of negative size")
            total += part
            continue
        PyObject_GetBuffer(part, &view, PyBUF_SIMPLE)
        total += view.len
        PyBuffer_Release(&view)
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* dst = PyBytes_AS_STRING(out)
    if huge:
        huge_pages(dst, total)
    for k in range(m):
        if isinstance(parts[k], int):
            at += <Py_ssize_t>parts[k]
            continue
        PyObject_GetBuffer(parts[k], &view, PyBUF_SIMPLE)
        try:
            with nogil:
                memcpy(dst + at, view.buf, view.len)
            at += view.len
        finally:
            PyBuffer_Release(&view)
        parts[k] = None
    parts.clear()
    return out


def json_array_starts(const unsigned char[::1] text):
    """Where each element of the JSON array ``text`` begins (array "q"), and one more entry:
    the position after the closing bracket. Element ``k`` is then ``text[starts[k]:starts[k+1]
    - 1]`` (the comma or bracket after it left out; whitespace around it is JSON's), so one
    element of a blob's args table is parsed without parsing all of them, which for a traced
    program with ``log_func_args`` is hundreds of MB. ValueError when ``text`` is not one
    array (strings are skipped with their escapes, brackets counted; the elements are not
    checked: ``json.loads`` of one does that)."""
    cdef Py_ssize_t n = text.shape[0], i = 0, depth = 0, count = 0, cap = 1024
    cdef const unsigned char* p = &text[0] if n else NULL
    cdef unsigned char ch
    cdef bint empty = True, whole = False, nomem = False
    cdef int64_t* at = <int64_t*>malloc(cap * sizeof(int64_t))
    cdef int64_t* grown
    if at == NULL:
        raise MemoryError()
    try:
        while i < n and (p[i] == 32 or p[i] == 9 or p[i] == 10 or p[i] == 13):
            i += 1
        if i == n or p[i] != 91:    # [
            raise ValueError("not a JSON array")
        i += 1
        at[0] = i
        count = 1
        with nogil:
            while i < n:
                ch = p[i]
                if ch == 34:        # a string: to its closing quote, over escapes
                    i += 1
                    while i < n and p[i] != 34:
                        i += 2 if p[i] == 92 else 1
                    empty = False
                elif ch == 91 or ch == 123:
                    depth += 1
                    empty = False
                elif ch == 93 or ch == 125:
                    if depth == 0:
                        if empty:   # "[]": no element, only the end
                            at[0] = i + 1
                        else:
                            at[count] = i + 1
                            count += 1
                        whole = True
                        break
                    depth -= 1
                elif ch == 44 and depth == 0:
                    at[count] = i + 1
                    count += 1
                elif ch != 32 and ch != 9 and ch != 10 and ch != 13:
                    empty = False
                i += 1
                if count == cap:
                    cap *= 2
                    grown = <int64_t*>realloc(at, cap * sizeof(int64_t))
                    if grown == NULL:
                        nomem = True
                        break
                    at = grown
        if nomem:
            raise MemoryError()
        if not whole:
            raise ValueError("a JSON array cut short")
        starts = array.clone(pyarray.array("q"), count, False)
        memcpy(starts.data.as_voidptr, at, count * sizeof(int64_t))
        return starts
    finally:
        free(at)
