# cython: language_level=3
"""The hot loop of the .cvf writer (viztracer/report/cvf.py holds the format): a report's
events split into the calls the columns hold, grouped by (pid, tid, cat), and the others.

One pass in C over the events, with the exact test of ``cvf._columnar`` per event (a Python
loop doing the same took 2 to 3 s on a million events, more than the rest of the writer).
"""
from cpython.dict cimport PyDict_GetItem, PyDict_Size
from cpython.list cimport PyList_GET_ITEM, PyList_GET_SIZE
from cpython.object cimport PyObject
from libc.math cimport isfinite, llrint
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc

cdef object K_PH = "ph", K_NAME = "name", K_TS = "ts", K_DUR = "dur", K_PID = "pid"
cdef object K_TID = "tid", K_CAT = "cat", K_ARGS = "args", X = "X"
# times beyond this many microseconds don't fit 64-bit nanoseconds: such events stay JSON
cdef double LIMIT = 9.0e15


cdef bint to_ns(PyObject *value, int64_t *out):
    """``value`` (exact int or float microseconds) in nanoseconds, rounded as Python's round()
    does (half to even); False when it is another type, not finite, or too large."""
    cdef object v = <object>value
    cdef double d
    if type(v) is float:
        d = <double>v * 1000.0
    elif type(v) is int:
        if not -LIMIT < v < LIMIT:
            return False
        out[0] = <int64_t>v * 1000
        return True
    else:
        return False
    if not isfinite(d) or not -LIMIT * 1000.0 < d < LIMIT * 1000.0:
        return False
    out[0] = llrint(d)
    return True


cdef inline bint is_id(PyObject *value):
    return value != NULL and (type(<object>value) is int or type(<object>value) is str)


def split(list events):
    """``(keys, counts, order, others, names, name_col, firsts, end_col, dur_col, args_at,
    args)``: the groups' (pid, tid, cat) in the order first met, and their sizes; each event's group (-1: another
    event); the other events; the names in the order first met; then the columns, group after
    group: name indexes, each group's first end, end deltas and durations (ns), and the
    calls' positions in that order that have ``args``, with their values."""
    cdef Py_ssize_t n = PyList_GET_SIZE(events), i, j, size, calls = 0
    cdef PyObject *e
    cdef PyObject *ph
    cdef PyObject *name
    cdef PyObject *pid
    cdef PyObject *tid
    cdef PyObject *cat
    cdef PyObject *arg
    cdef int64_t ts_ns, dur_ns
    cdef Py_ssize_t groups, first, k
    cdef Py_ssize_t *starts = NULL
    cdef Py_ssize_t *positions = NULL
    cdef int32_t *group_of = <int32_t *>malloc(max(n, 1) * sizeof(int32_t))
    cdef int32_t *name_of = <int32_t *>malloc(max(n, 1) * sizeof(int32_t))
    cdef int64_t *end_of = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
    cdef int64_t *dur_of = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
    if group_of == NULL or name_of == NULL or end_of == NULL or dur_of == NULL:
        free(group_of); free(name_of); free(end_of); free(dur_of); free(starts); free(positions)
        raise MemoryError()
    numbers = {}
    names = {}
    keys, order, others = [], [], []
    try:
        for i in range(n):
            e = PyList_GET_ITEM(events, i)
            group_of[i] = -1
            if type(<object>e) is dict:
                ph = PyDict_GetItem(<object>e, K_PH)
                name = PyDict_GetItem(<object>e, K_NAME)
                pid = PyDict_GetItem(<object>e, K_PID)
                tid = PyDict_GetItem(<object>e, K_TID)
                cat = PyDict_GetItem(<object>e, K_CAT)
                arg = PyDict_GetItem(<object>e, K_ARGS)
                size = 6 + (cat != NULL) + (arg != NULL)
                if ph != NULL and type(<object>ph) is str and <object>ph == X \
                        and name != NULL and type(<object>name) is str and is_id(pid) and is_id(tid) \
                        and (cat == NULL or type(<object>cat) is str) \
                        and (arg == NULL or <object>arg is not None) \
                        and PyDict_Size(<object>e) == size \
                        and to_ns(PyDict_GetItem(<object>e, K_TS), &ts_ns) \
                        and to_ns(PyDict_GetItem(<object>e, K_DUR), &dur_ns):
                    key = (<object>pid, <object>tid, <object>cat if cat != NULL else None)
                    number = numbers.get(key)
                    if number is None:
                        number = numbers[key] = len(keys)
                        keys.append(key)
                    group_of[i] = number
                    index = names.get(<object>name)
                    if index is None:
                        index = names[<object>name] = len(names)
                    name_of[i] = index
                    end_of[i] = ts_ns + dur_ns
                    dur_of[i] = dur_ns
                    calls += 1
            if group_of[i] < 0:
                others.append(<object>e)
            order.append(group_of[i])
        # the columns, group after group (a counting sort by group, stable)
        groups = len(keys)
        starts = <Py_ssize_t *>malloc((groups + 1) * sizeof(Py_ssize_t))
        positions = <Py_ssize_t *>malloc(max(calls, 1) * sizeof(Py_ssize_t))
        if starts == NULL or positions == NULL:
            raise MemoryError()
        for j in range(groups + 1):
            starts[j] = 0
        for i in range(n):
            if group_of[i] >= 0:
                starts[group_of[i] + 1] += 1
        for j in range(groups):
            starts[j + 1] += starts[j]
        for i in range(n):  # starts[g] walks through group g's slots, then is group g + 1's start
            if group_of[i] >= 0:
                positions[starts[group_of[i]]] = i
                starts[group_of[i]] += 1
        name_col = [0] * calls
        end_col = [0] * calls
        dur_col = [0] * calls
        firsts = [0] * groups
        counts = [starts[0]] + [starts[j + 1] - starts[j] for j in range(groups - 1)] if groups else []
        args_at, args = [], []
        first = 0
        for j in range(groups):
            for i in range(first, starts[j]):
                k = positions[i]
                name_col[i] = name_of[k]
                dur_col[i] = dur_of[k]
                if i == first:
                    firsts[j] = end_of[k]
                    end_col[i] = 0
                else:
                    end_col[i] = end_of[k] - end_of[positions[i - 1]]
                arg = PyDict_GetItem(<object>PyList_GET_ITEM(events, k), K_ARGS)
                if arg != NULL:
                    args_at.append(i)
                    args.append(<object>arg)
            first = starts[j]
        return keys, counts, order, others, list(names), name_col, firsts, end_col, dur_col, args_at, args
    finally:
        free(group_of); free(name_of); free(end_of); free(dur_of); free(starts); free(positions)


def pack(list values):
    """``(type code, outside, planes)``: the column ``values`` at the narrowest signed width
    that all but one value in 64 fit (a 1-byte column takes no outliers: it holds indexes),
    the values left out as [position, value] (zeros in their slots), and the values' bytes
    split into planes, the lowest byte of every value first (little-endian two's complement)."""
    cdef Py_ssize_t n = len(values), i, count = 0
    cdef int b, width = 8
    cdef int64_t lo = 0, hi = 0, x, limit
    cdef unsigned char *out
    cdef int64_t *v = <int64_t *>malloc(max(n, 1) * sizeof(int64_t))
    if v == NULL:
        raise MemoryError()
    try:
        for i in range(n):
            x = values[i]
            v[i] = x
            if i == 0 or x < lo:
                lo = x
            if i == 0 or x > hi:
                hi = x
        for b in (1, 2, 4):
            limit = (<int64_t>1) << (8 * b - 1)
            if -limit <= lo and hi < limit:
                width, count = b, 0
                break
            if b > 1:
                count = 0
                for i in range(n):
                    if not (-limit <= v[i] < limit):
                        count += 1
                if count <= n >> 6:
                    width = b
                    break
        outside = []
        if width < 8 and count:
            limit = (<int64_t>1) << (8 * width - 1)
            for i in range(n):
                if not (-limit <= v[i] < limit):
                    outside.append([i, v[i]])
                    v[i] = 0
        planes = bytearray(n * width)
        out = planes
        for b in range(width):
            for i in range(n):
                out[b * n + i] = <unsigned char>((<uint64_t>v[i]) >> (8 * b))
        return {1: "b", 2: "h", 4: "i", 8: "q"}[width], outside, bytes(planes)
    finally:
        free(v)
