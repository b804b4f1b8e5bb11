# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The viewer's level-of-detail pass: one zoom level's boxes, made from the slices.

``viztracer/viewer/tiles.py`` holds the format, the serving and the thread that builds the
levels; this is only the loop that touches every slice, which Python would take seconds over at
ten million slices. It runs without the GIL, so the server answers other requests meanwhile.
"""
from cpython cimport array
from libc.math cimport floor
from libc.stdlib cimport calloc, free, malloc

import array as pyarray

cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")


def merge_level(const double[:] start, const double[:] dur, const int[:] name, const int[:] rows,
                double width, Py_ssize_t nnames):
    """The boxes of the level whose buckets are ``width`` ns wide, row by row, from the slices.

    The slices are ``start``, ``dur``, ``name`` (index in a table of ``nnames`` names), in runs
    ``rows`` = flat (track, depth, first, count), each run sorted by start. Consecutive slices
    narrower than ``width`` that start in the same bucket become one box: start of the first,
    the latest end, how many it holds, and the name that holds most of their time (the first
    seen among equals). A slice at least ``width`` wide is kept as it is, and ends any run it
    meets.

    Returns ``(start, dur, name, count, first, rows)`` of the level (arrays): ``count`` is how
    many slices a box holds, ``first`` the position of the first of them in the columns, and
    ``rows`` the boxes' runs. Times are whole nanoseconds in doubles, so ``start + dur`` is
    exact. The loop runs without the GIL: the inputs are views the caller keeps alive.
    """
    cdef Py_ssize_t n = start.shape[0], nrows = rows.shape[0] // 4
    if dur.shape[0] < n or name.shape[0] < n:
        raise ValueError("start, dur and name differ in length")
    # Room for every slice (a box per slice at most); pages never written are never touched,
    # and the arrays are cut to what was made at the end.
    cdef array.array o_start = array.clone(_DOUBLES, n, False)
    cdef array.array o_dur = array.clone(_DOUBLES, n, False)
    cdef array.array o_name = array.clone(_INTS, n, False)
    cdef array.array o_count = array.clone(_INTS, n, False)
    cdef array.array o_first = array.clone(_INTS, n, False)
    cdef array.array o_rows = array.clone(_INTS, nrows * 4, False)
    cdef double* os = o_start.data.as_doubles
    cdef double* od = o_dur.data.as_doubles
    cdef int* on = o_name.data.as_ints
    cdef int* oc = o_count.data.as_ints
    cdef int* of = o_first.data.as_ints
    cdef int* orow = o_rows.data.as_ints
    # Per-name time of the run being merged, and the names it touched (to pick and reset).
    cdef double* acc = <double*>calloc(max(nnames, 1), sizeof(double))
    cdef int* touched = <int*>malloc(max(n, 1) * sizeof(int))
    if acc == NULL or touched == NULL:
        free(acc)
        free(touched)
        raise MemoryError()
    cdef Py_ssize_t r, i, j, lo, hi, m = 0, row_first, ntouched, k
    cdef double s, e, b, e_max, d, best_w
    cdef int best, nm
    cdef bint bad_name = False
    with nogil:
        for r in range(nrows):
            lo = rows[4 * r + 2]
            hi = lo + rows[4 * r + 3]
            if lo < 0 or hi > n or lo > hi:
                hi = lo = 0  # a run outside the columns: kept with no boxes
            row_first = m
            i = lo
            while i < hi:
                s = start[i]
                e = s + dur[i]
                if e - s >= width:
                    os[m] = s
                    od[m] = e - s
                    on[m] = name[i]
                    oc[m] = 1
                    of[m] = <int>i
                    m += 1
                    i += 1
                    continue
                b = floor(s / width)
                e_max = e
                ntouched = 0
                j = i
                while j < hi:
                    s = start[j]
                    e = s + dur[j]
                    d = e - s
                    if d >= width or floor(s / width) != b:
                        break
                    nm = name[j]
                    if nm < 0 or nm >= nnames:
                        bad_name = True
                        break
                    if acc[nm] == 0.0:
                        touched[ntouched] = nm
                        ntouched += 1
                    # a zero length still marks the name as seen (a run of zero-length slices)
                    acc[nm] += d if d > 0.0 else 1e-300
                    if e > e_max:
                        e_max = e
                    j += 1
                if bad_name:
                    break
                # The box's name is the one with most of the run's time, the first seen among equals.
                best = touched[0]
                best_w = -1.0
                for k in range(ntouched):
                    if acc[touched[k]] > best_w:
                        best_w = acc[touched[k]]
                        best = touched[k]
                    acc[touched[k]] = 0.0
                os[m] = start[i]
                od[m] = e_max - start[i]
                on[m] = best
                oc[m] = <int>(j - i)
                of[m] = <int>i
                m += 1
                i = j
            if bad_name:
                break
            orow[4 * r] = rows[4 * r]
            orow[4 * r + 1] = rows[4 * r + 1]
            orow[4 * r + 2] = <int>row_first
            orow[4 * r + 3] = <int>(m - row_first)
    free(acc)
    free(touched)
    if bad_name:
        raise ValueError(f"a slice's name is not between 0 and {nnames - 1}")
    for out in (o_start, o_dur, o_name, o_count, o_first):
        array.resize(out, m)
    return o_start, o_dur, o_name, o_count, o_first, o_rows
