# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""Slice columns as ``_columns.scan_events`` returns them, built one slice at a time.

The viewer's three ways into its columns (``_columns.scan_events`` over report dicts,
``_json_scan`` over JSON text, ``_pftrace_scan`` over a ``.pftrace``) all add their slices
through ``SliceColumns`` (cimported: ``pyx/viztracer/_slice_columns.pxd``), so they number
names and tracks the same way by construction.
"""
from cpython cimport array
from cpython.dict cimport PyDict_GetItemWithError, PyDict_SetItem
from cpython.object cimport PyObject
from libc.stdint cimport int64_t
from posix.time cimport CLOCK_MONOTONIC, clock_gettime, timespec

import array as pyarray

cdef array.array _DOUBLES = pyarray.array("d")
cdef array.array _INTS = pyarray.array("i")

DEF YIELD_NS = 10 * 1000 * 1000   # twice CPython's default switch interval


cdef class SliceColumns:
    """X slices in typed arrays: times in the report's microseconds, names and (pid, tid)
    tracks numbered in order of first use, args indices into a list (-1 for none)."""

    def __cinit__(self, Py_ssize_t capacity=1 << 16):
        self.cap = max(capacity, 16)
        self.ts = array.clone(_DOUBLES, self.cap, False)
        self.dur = array.clone(_DOUBLES, self.cap, False)
        self.name = array.clone(_INTS, self.cap, False)
        self.track = array.clone(_INTS, self.cap, False)
        self.args = array.clone(_INTS, self.cap, False)
        self.name_ids, self.track_ids = {}, {}
        self.names, self.tracks, self.arg_values = [], [], []
        self.last_track = -1

    cdef int add(self, double t, double d, object name, object pid, object tid, object args) except -1:
        """One slice starting at ``t`` lasting ``d`` (microseconds)."""
        cdef int n = self.name_index(name)
        if self.last_track < 0 or not (pid is self.last_pid or pid == self.last_pid) or \
                not (tid is self.last_tid or tid == self.last_tid):
            self.last_track = self.track_index(pid, tid)
            self.last_pid, self.last_tid = pid, tid
        return self.add_ids(t, d, n, self.last_track, args)

    cdef int name_index(self, object name) except -1:
        """The id of ``name``, numbered now if it is new (an unhashable name raises)."""
        cdef PyObject* found = PyDict_GetItemWithError(self.name_ids, name)
        cdef int n
        if found != NULL:
            return <int>(<object>found)
        n = <int>len(self.names)
        PyDict_SetItem(self.name_ids, name, n)
        self.names.append(name)
        return n

    cdef int track_index(self, object pid, object tid) except -1:
        """The id of track ``(pid, tid)``, numbered now if it is new."""
        cdef PyObject* found
        cdef int n
        key = (pid, tid)
        found = PyDict_GetItemWithError(self.track_ids, key)
        if found != NULL:
            return <int>(<object>found)
        n = <int>len(self.tracks)
        PyDict_SetItem(self.track_ids, key, n)
        self.tracks.append(key)
        return n

    cdef int add_ids(self, double t, double d, int name, int track, object args) except -1:
        """``add`` with the name and track already numbered (``name_index``, ``track_index``):
        a scanner that knows them spares the dict lookups."""
        cdef Py_ssize_t k = self.k
        if self.depth is not None:
            raise ValueError("add_ids after open_ids: the columns would not nest")
        if k == self.cap:
            self.grow()
        if k == 0 or t < self.first:
            self.first = t
        if k == 0:
            self.last = t + d   # the first end; close_ids keeps the latest from then on
        self.ts.data.as_doubles[k] = t
        self.k = k + 1
        return self.close_ids(k, d, name, track, args)

    cdef int grow(self) except -1:
        self.cap *= 2
        for col in (self.ts, self.dur, self.name, self.track, self.args, self.depth):
            if col is not None:
                array.resize(col, self.cap)
        return 0

    cdef Py_ssize_t open_ids(self, double t, int depth) except -1:
        """A slice that begins at ``t`` (microseconds), ``depth`` calls deep (under the slice
        opened last on its track one level up); its position, for ``close_ids`` when it ends.

        A scanner that sees calls begin and end (a ``.pftrace``) places each at its begin, so
        a thread's slices come in start order with their nesting known, and ``_nested_layout``
        need not work it out again from the times. Names, tracks and args are numbered when
        the slice is closed, in the order ``add_ids`` would number them. No parent column: the
        depths give it, and at 100M calls a column is 0.4 GB."""
        cdef Py_ssize_t k = self.k
        if self.depth is None:
            if k:
                raise ValueError("open_ids after add_ids: the columns would not nest")
            self.depth = array.clone(_INTS, self.cap, False)
        if k == self.cap:
            self.grow()
        if k == 0 or t < self.first:
            self.first = t
        if k == 0 or t > self.last:
            self.last = t
        self.ts.data.as_doubles[k] = t
        self.depth.data.as_ints[k] = depth
        self.k = k + 1
        return k

    cdef int close_ids(self, Py_ssize_t slot, double d, int name, int track, object args) except -1:
        """The end of the slice at ``slot``: its duration (NaN: it never ended, and runs to the
        end of the trace), name, track and args."""
        cdef double end = self.ts.data.as_doubles[slot] + d
        if end > self.last:
            self.last = end
        self.dur.data.as_doubles[slot] = d
        self.name.data.as_ints[slot] = name
        self.track.data.as_ints[slot] = track
        if args is None:
            self.args.data.as_ints[slot] = -1
        else:
            self.args.data.as_ints[slot] = len(self.arg_values)
            self.arg_values.append(args)
        return 0

    cdef tuple result(self, list others):
        """``(ts, dur, name, track, args, names, tracks, arg_values, others, first, last,
        nesting)``; ``first`` and ``last`` (earliest start, latest end) are None without
        slices; ``nesting`` is ``(depth,)`` from ``open_ids``, else None."""
        for col in (self.ts, self.dur, self.name, self.track, self.args, self.depth):
            if col is not None:
                array.resize(col, self.k)
        nesting = (self.depth,) if self.depth is not None else None
        if self.k == 0:
            return (self.ts, self.dur, self.name, self.track, self.args, self.names, self.tracks,
                    self.arg_values, others, None, None, None)
        return (self.ts, self.dur, self.name, self.track, self.args, self.names, self.tracks,
                self.arg_values, others, self.first, self.last, nesting)


cdef class Progress:
    """How far a conversion has got, for another thread to read (the viewer's progress bar).

    The scanners call ``update`` every ``PROGRESS_EVERY`` events. Their loops run in C with the
    GIL held and no bytecode, so the interpreter never switches threads during a scan: ``update``
    releases the GIL for a moment so that a waiting thread (the server answering
    ``/api/progress``) runs. Not at every call: a thread waiting for the GIL asks for it only
    after its switch interval (5 ms) without a release, and a release sooner than that wakes it
    to find the GIL taken again, so releases every few milliseconds starve it (seen: stalls of
    0.4 s). Every ``YIELD_NS`` or more, its request is in when the GIL is released, and the
    release hands it over.
    """

    def __cinit__(self):
        self.phase = "waiting"

    cdef int update(self, Py_ssize_t events, Py_ssize_t bytes_read) except -1:
        cdef timespec now
        cdef int64_t ns
        self.events = events
        self.bytes_read = bytes_read
        clock_gettime(CLOCK_MONOTONIC, &now)
        ns = <int64_t>now.tv_sec * 1000000000 + now.tv_nsec
        if ns - self.yielded >= YIELD_NS:
            self.yielded = ns
            with nogil:
                pass
        return 0
