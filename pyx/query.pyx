# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The viewer's queries over a trace's slice columns, for traces the page does not hold whole.

``viztracer/viewer/query.py`` holds the answers' shape; these are the loops that may touch
millions of slices (search counts and steps, a range's statistics, a flame graph's tree), the
same walks the page's ``data.js`` / ``flame.js`` / ``panels.js`` do over the columns it holds.

Rows are the blob's ``rows``: a flat (track, depth, first, count) list, each run sorted by start,
given in (track, depth) order so that a parent is walked before its children.
"""
cimport cython
from cpython cimport array
from libc.stdint cimport int64_t
from libc.stdlib cimport calloc, free, malloc, realloc

import array as pyarray

cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")
cdef array.array _LONGS = pyarray.array("q")


cdef inline Py_ssize_t _lower_bound(const double[:] arr, double x, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """First position in [lo, hi) whose value is >= x, as the page's VT.lowerBound."""
    cdef Py_ssize_t mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if arr[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


def name_counts(const int[:] name, Py_ssize_t nnames):
    """How many slices carry each name (array of int64, one per name)."""
    cdef array.array out = array.clone(_LONGS, nnames, True)
    cdef long long* c = out.data.as_longlongs
    cdef Py_ssize_t i
    with nogil:
        for i in range(name.shape[0]):
            c[name[i]] += 1
    return out


def box_matches(const int[:] name, const int[:] first, const int[:] count, const unsigned char[:] flags):
    """For each box (its slices are ``first .. first + count`` of the columns), how many of its
    slices have a name flagged in ``flags`` (array of int32)."""
    cdef Py_ssize_t n = first.shape[0], b, j
    cdef array.array out = array.clone(_INTS, n, True)
    cdef int* o = out.data.as_ints
    cdef int c
    with nogil:
        for b in range(n):
            c = 0
            for j in range(first[b], first[b] + count[b]):
                c += flags[name[j]]
            o[b] = c
    return out


cdef inline bint _less(double s1, int t1, Py_ssize_t i1, double s2, int t2, Py_ssize_t i2) noexcept nogil:
    """Matches are ordered by (start, track, position), as the page sorts its match list."""
    if s1 != s2:
        return s1 < s2
    if t1 != t2:
        return t1 < t2
    return i1 < i2


def search_step(const double[:] start, const int[:] name, const int[:] rows, const unsigned char[:] flags,
                Py_ssize_t cur, double cur_start, int cur_track, int direction):
    """The match after (``direction`` > 0) or before the match ``cur`` (at ``cur_start`` on
    ``cur_track``) in (start, track, position) order, wrapping around; with ``cur`` < 0 the
    first (or last) match. Returns ``(position, rank)``, rank counted from 0 in that order,
    or ``(-1, -1)`` when nothing matches.

    One pass over every slice (a flag test each): no list of matches is kept between steps,
    so a query costs no memory however many slices match.
    """
    cdef Py_ssize_t nrows = rows.shape[0] // 4, r, j, hi
    cdef Py_ssize_t total = 0, below = 0
    cdef Py_ssize_t lo_i = -1, hi_i = -1, next_i = -1, prev_i = -1
    cdef double lo_s = 0, hi_s = 0, next_s = 0, prev_s = 0, s
    cdef int lo_t = 0, hi_t = 0, next_t = 0, prev_t = 0, t
    with nogil:
        for r in range(nrows):
            t = rows[4 * r]
            hi = rows[4 * r + 2] + rows[4 * r + 3]
            for j in range(rows[4 * r + 2], hi):
                if not flags[name[j]]:
                    continue
                s = start[j]
                total += 1
                if lo_i < 0 or _less(s, t, j, lo_s, lo_t, lo_i):
                    lo_i, lo_s, lo_t = j, s, t
                if hi_i < 0 or _less(hi_s, hi_t, hi_i, s, t, j):
                    hi_i, hi_s, hi_t = j, s, t
                if cur < 0 or j == cur:
                    continue
                if _less(s, t, j, cur_start, cur_track, cur):
                    below += 1
                    if prev_i < 0 or _less(prev_s, prev_t, prev_i, s, t, j):
                        prev_i, prev_s, prev_t = j, s, t
                elif next_i < 0 or _less(s, t, j, next_s, next_t, next_i):
                    next_i, next_s, next_t = j, s, t
    if total == 0:
        return -1, -1
    if direction > 0:
        if cur >= 0 and next_i >= 0:
            # the matches before it: those before cur, and cur itself when it is one
            return next_i, below + (1 if flags[name[cur]] else 0)
        return lo_i, 0
    if cur >= 0 and prev_i >= 0:
        return prev_i, below - 1
    return hi_i, total - 1


def range_stats(const double[:] start, const double[:] dur, const int[:] name, const int[:] parent,
                const int[:] rows, double a, double b, Py_ssize_t nnames):
    """Per-name statistics of the slices in [a, b] (ns), as the page's ``VT.rangeStats``: time
    clipped to the range (a call inside a call of the same name counted once, by its outermost
    one), self time (clipped time less the children's clipped time, may go below 0 by the
    rounding of a child's end: the caller clamps it), and how many calls overlap the range.
    Each row is walked from a binary search to the range's end.

    Returns ``(total, self, count, calls)``: arrays of float64, float64, int32 by name, and the
    number of calls counted.
    """
    cdef array.array o_total = array.clone(_DOUBLES, nnames, True)
    cdef array.array o_self = array.clone(_DOUBLES, nnames, True)
    cdef array.array o_count = array.clone(_INTS, nnames, True)
    cdef double* total = o_total.data.as_doubles
    cdef double* self_ = o_self.data.as_doubles
    cdef int* count = o_count.data.as_ints
    cdef Py_ssize_t nrows = rows.shape[0] // 4, r, i, lo, hi, calls = 0
    cdef double s, e, c
    cdef int n, p, q
    cdef bint outer
    with nogil:
        for r in range(nrows):
            lo = rows[4 * r + 2]
            hi = lo + rows[4 * r + 3]
            i = _lower_bound(start, a, lo, hi)
            if i > lo:
                i -= 1  # the slice before the first start in range may reach into it
            while i < hi and start[i] <= b:
                s = start[i]
                e = s + dur[i]
                c = (e if e < b else b) - (s if s > a else a)
                if c < 0 or (c == 0 and dur[i] > 0):
                    i += 1
                    continue
                n = name[i]
                count[n] += 1
                calls += 1
                self_[n] += c
                p = parent[i]
                if p >= 0:
                    self_[name[p]] -= c  # a child lies within its parent, so within its clipped part
                outer = True
                q = p
                while q >= 0:
                    if name[q] == n:
                        outer = False
                        break
                    q = parent[q]
                if outer:
                    total[n] += c
                i += 1
    return o_total, o_self, o_count, calls


@cython.final
cdef class _Tree:
    """The flame graph's nodes (parent node, name, total) and a hash of (parent node, name) to
    node, open addressing over int64 keys; node 0 is the root."""
    cdef int* parent
    cdef int* name
    cdef double* total
    cdef Py_ssize_t n, cap
    cdef int64_t* keys
    cdef int* vals
    cdef Py_ssize_t slots

    def __cinit__(self):
        cdef Py_ssize_t k
        self.cap = 1024
        self.slots = 4096
        self.n = 0
        self.parent = <int*>malloc(self.cap * sizeof(int))
        self.name = <int*>malloc(self.cap * sizeof(int))
        self.total = <double*>malloc(self.cap * sizeof(double))
        self.keys = <int64_t*>malloc(self.slots * sizeof(int64_t))
        self.vals = <int*>malloc(self.slots * sizeof(int))
        if not (self.parent and self.name and self.total and self.keys and self.vals):
            raise MemoryError()
        for k in range(self.slots):
            self.keys[k] = -1

    def __dealloc__(self):
        free(self.parent)
        free(self.name)
        free(self.total)
        free(self.keys)
        free(self.vals)

    cdef int add(self, int parent, int name) except -1:
        cdef Py_ssize_t cap
        cdef int* p
        cdef double* d
        if self.n == self.cap:
            cap = self.cap * 2
            p = <int*>realloc(self.parent, cap * sizeof(int))
            if p == NULL:
                raise MemoryError()
            self.parent = p
            p = <int*>realloc(self.name, cap * sizeof(int))
            if p == NULL:
                raise MemoryError()
            self.name = p
            d = <double*>realloc(self.total, cap * sizeof(double))
            if d == NULL:
                raise MemoryError()
            self.total = d
            self.cap = cap
        self.parent[self.n] = parent
        self.name[self.n] = name
        self.total[self.n] = 0.0
        self.n += 1
        return <int>(self.n - 1)

    cdef inline Py_ssize_t _slot(self, int64_t key) noexcept:
        # The product's high half depends on both the parent (high half of the key) and the
        # name (low half); its low bits would not see the parent, and one name's nodes collide.
        cdef unsigned long long h = <unsigned long long>key * 0x9E3779B97F4A7C15ULL
        cdef Py_ssize_t k = <Py_ssize_t>((h >> 32) & <unsigned long long>(self.slots - 1))
        while self.keys[k] != -1 and self.keys[k] != key:
            k = (k + 1) & (self.slots - 1)
        return k

    cdef int _grow(self) except -1:
        cdef Py_ssize_t old = self.slots, k, slot
        cdef int64_t* keys = self.keys
        cdef int* vals = self.vals
        self.slots = old * 2
        self.keys = <int64_t*>malloc(self.slots * sizeof(int64_t))
        self.vals = <int*>malloc(self.slots * sizeof(int))
        if self.keys == NULL or self.vals == NULL:
            free(keys)
            free(vals)
            raise MemoryError()
        for k in range(self.slots):
            self.keys[k] = -1
        for k in range(old):
            if keys[k] != -1:
                slot = self._slot(keys[k])
                self.keys[slot] = keys[k]
                self.vals[slot] = vals[k]
        free(keys)
        free(vals)
        return 0

    cdef int child(self, int parent, int name) except -1:
        """The node for ``name`` under ``parent``, made when it is not there yet."""
        cdef int64_t key = (<int64_t>parent << 32) | <unsigned int>name
        cdef Py_ssize_t k = self._slot(key)
        if self.keys[k] == key:
            return self.vals[k]
        cdef int node = self.add(parent, name)
        self.keys[k] = key
        self.vals[k] = node
        if 2 * self.n > self.slots:  # keep at least half the slots empty
            self._grow()
        return node

    cdef tuple arrays(self):
        cdef array.array p = array.clone(_INTS, self.n, False)
        cdef array.array nm = array.clone(_INTS, self.n, False)
        cdef array.array t = array.clone(_DOUBLES, self.n, False)
        cdef Py_ssize_t k
        for k in range(self.n):
            p.data.as_ints[k] = self.parent[k]
            nm.data.as_ints[k] = self.name[k]
            t.data.as_doubles[k] = self.total[k]
        return p, nm, t


def flame_range(const double[:] start, const double[:] dur, const int[:] name, const int[:] parent,
                const int[:] rows, double a, double b):
    """The flame graph of [a, b] (ns), as the page's ``flame.js`` builds it: identical stacks
    aggregated, each call's time clipped to the range; a call whose parent is not in the
    range hangs from the root. Returns ``(parent, name, total)`` of the nodes in the order they
    were made (node 0 the root, name -1, total the sum of its children's)."""
    cdef _Tree tree = _Tree()
    tree.add(-1, -1)
    cdef Py_ssize_t n = start.shape[0], nrows = rows.shape[0] // 4, r, i, lo, hi
    # node_of[i]: 1 + the node of slice i once it has been walked, 0 before
    cdef int* node_of = <int*>calloc(max(n, 1), sizeof(int))
    if node_of == NULL:
        raise MemoryError()
    cdef double s, e
    cdef int p, node = 0, under, last_under = -1, last_name = -1
    try:
        for r in range(nrows):
            lo = rows[4 * r + 2]
            hi = lo + rows[4 * r + 3]
            i = _lower_bound(start, a, lo, hi)
            if i > lo:
                i -= 1
            while i < hi and start[i] <= b:
                s = start[i] if start[i] > a else a
                e = start[i] + dur[i]
                if e > b:
                    e = b
                if e < s or (e == s and dur[i] > 0):
                    i += 1
                    continue
                p = parent[i]
                under = node_of[p] - 1 if p >= 0 and node_of[p] else 0
                # neighbours in a row often share their stack: skip the hash for them
                if under != last_under or name[i] != last_name:
                    node = tree.child(under, name[i])
                    last_under, last_name = under, name[i]
                tree.total[node] += e - s
                node_of[i] = node + 1
                i += 1
    finally:
        free(node_of)
    for r in range(1, tree.n):
        if tree.parent[r] == 0:
            tree.total[0] += tree.total[r]
    return tree.arrays()


def flame_slice(const double[:] start, const double[:] dur, const int[:] name, const int[:] parent,
                const int[:] rows, Py_ssize_t sel):
    """The flame graph of slice ``sel``'s calls: its descendants aggregated by stack under a
    root that is ``sel`` itself. ``rows`` are the runs of its track deeper than it, by depth.
    Returns ``(parent, name, total)`` as ``flame_range``."""
    cdef _Tree tree = _Tree()
    tree.add(-1, name[sel])
    tree.total[0] = dur[sel]
    cdef Py_ssize_t n = start.shape[0], nrows = rows.shape[0] // 4, r, i, lo, hi
    cdef int* node_of = <int*>calloc(max(n, 1), sizeof(int))
    if node_of == NULL:
        raise MemoryError()
    cdef double s = start[sel], e = start[sel] + dur[sel]
    cdef int p, node
    node_of[sel] = 1
    try:
        for r in range(nrows):
            lo = rows[4 * r + 2]
            hi = lo + rows[4 * r + 3]
            i = _lower_bound(start, s, lo, hi)
            while i < hi and start[i] <= e:
                p = parent[i]
                if p >= 0 and node_of[p]:
                    node = tree.child(node_of[p] - 1, name[i])
                    tree.total[node] += dur[i]
                    node_of[i] = node + 1
                i += 1
    finally:
        free(node_of)
    return tree.arrays()
