# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The viewer's level-of-detail pass: one zoom level's boxes from the next finer level's.

``viztracer/viewer/tiles.py`` holds the format and the serving; this is only the loop that
touches every box, which Python would take seconds over at ten million slices.
"""
from cpython cimport array
from libc.math cimport floor
from libc.stdlib cimport calloc, free, malloc

import array as pyarray

cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")


def merge_level(const double[:] start, const double[:] dur, const int[:] name, const int[:] count,
                const int[:] first, const double[:] weight, const int[:] rows, double width,
                Py_ssize_t nnames, bint raw):
    """The boxes of the level whose buckets are ``width`` ns wide, row by row.

    The input is the finer level: boxes ``start``, ``dur``, ``name``, ``count`` (slices merged),
    ``first`` (position of the first of them in the full columns), ``weight`` (their summed
    duration), in runs ``rows`` = flat (track, depth, first, count); with ``raw`` they are the
    slices themselves, and ``count`` (1), ``first`` (the slice's own position) and ``weight``
    (its duration) may be None. Consecutive boxes
    narrower than ``width`` that start in the same bucket become one box: start of the first,
    the latest end, the counts and weights summed, and the name that holds most of the weight.
    A box at least ``width`` wide is kept as it is, and ends any run it meets.

    Returns ``(start, dur, name, count, first, weight, rows)`` of the new level (arrays). Times
    are whole nanoseconds in doubles, so ``start + dur`` is exact.
    """
    cdef Py_ssize_t n = start.shape[0], nrows = rows.shape[0] // 4
    cdef array.array o_start = array.clone(_DOUBLES, n, False)
    cdef array.array o_end = array.clone(_DOUBLES, n, False)
    cdef array.array o_weight = array.clone(_DOUBLES, n, False)
    cdef array.array o_name = array.clone(_INTS, n, False)
    cdef array.array o_count = array.clone(_INTS, n, False)
    cdef array.array o_first = array.clone(_INTS, n, False)
    cdef array.array o_rows = array.clone(_INTS, nrows * 4, False)
    cdef double* os = o_start.data.as_doubles
    cdef double* oe = o_end.data.as_doubles
    cdef double* ow = o_weight.data.as_doubles
    cdef int* on = o_name.data.as_ints
    cdef int* oc = o_count.data.as_ints
    cdef int* of = o_first.data.as_ints
    cdef int* orow = o_rows.data.as_ints
    # Per-name weight of the run being merged, and the names it touched (to pick and reset).
    cdef double* acc = <double*>calloc(max(nnames, 1), sizeof(double))
    cdef int* touched = <int*>malloc(max(n, 1) * sizeof(int))
    if acc == NULL or touched == NULL:
        free(acc)
        free(touched)
        raise MemoryError()
    cdef Py_ssize_t r, i, j, lo, hi, m = 0, row_first, ntouched, k
    cdef double s, e, b, e_max, w, best_w, wi
    cdef int c, best, nm
    try:
        for r in range(nrows):
            lo = rows[4 * r + 2]
            hi = lo + rows[4 * r + 3]
            row_first = m
            i = lo
            while i < hi:
                s = start[i]
                e = s + dur[i]
                if e - s >= width:
                    os[m] = s
                    oe[m] = e - s
                    on[m] = name[i]
                    oc[m] = 1 if raw else count[i]
                    of[m] = <int>i if raw else first[i]
                    ow[m] = (e - s) if raw else weight[i]
                    m += 1
                    i += 1
                    continue
                b = floor(s / width)
                e_max = e
                c = 0
                w = 0.0
                ntouched = 0
                j = i
                while j < hi:
                    s = start[j]
                    e = s + dur[j]
                    if e - s >= width or floor(s / width) != b:
                        break
                    wi = (e - s) if raw else weight[j]
                    nm = name[j]
                    if acc[nm] == 0.0:
                        touched[ntouched] = nm
                        ntouched += 1
                    # a zero weight still marks the name as seen (a run of zero-length slices)
                    acc[nm] += wi if wi > 0.0 else 1e-300
                    if e > e_max:
                        e_max = e
                    c += 1 if raw else count[j]
                    w += wi
                    j += 1
                # The box's name is the one with most of the run's time (its dominant name),
                # the first seen among equals; at coarser levels a finer box counts with its
                # whole weight for its own dominant name, so there it is an approximation.
                best = touched[0]
                best_w = -1.0
                for k in range(ntouched):
                    if acc[touched[k]] > best_w:
                        best_w = acc[touched[k]]
                        best = touched[k]
                    acc[touched[k]] = 0.0
                os[m] = start[i]
                oe[m] = e_max - start[i]
                on[m] = best
                oc[m] = c
                of[m] = <int>i if raw else first[i]
                ow[m] = w
                m += 1
                i = j
            orow[4 * r] = rows[4 * r]
            orow[4 * r + 1] = rows[4 * r + 1]
            orow[4 * r + 2] = <int>row_first
            orow[4 * r + 3] = <int>(m - row_first)
    finally:
        free(acc)
        free(touched)
    for out in (o_start, o_end, o_weight, o_name, o_count, o_first):
        array.resize(out, m)
    return o_start, o_end, o_name, o_count, o_first, o_weight, o_rows
