# The slice columns the viewer's three scanners fill (columns.pyx from report dicts, json_scan.pyx
# from JSON text, pftrace_scan.pyx from a .pftrace), defined in slice_columns.pyx: one builder,
# so that the three number names and tracks the same way by construction.
from cpython cimport array
from libc.stdint cimport int64_t


cdef class SliceColumns:
    cdef array.array ts, dur, name, track, args
    # Only for a scanner that sees calls begin and end (open_ids/close_ids): each slice's depth
    # as the file nests them (its parent is the slice before it one level up). None otherwise.
    cdef array.array depth
    cdef Py_ssize_t k, cap
    cdef dict name_ids, track_ids
    cdef list names, tracks, arg_values
    cdef double first, last
    cdef object last_pid, last_tid
    cdef int last_track

    cdef int add(self, double t, double d, object name, object pid, object tid, object args) except -1
    cdef int name_index(self, object name) except -1
    cdef int track_index(self, object pid, object tid) except -1
    cdef int add_ids(self, double t, double d, int name, int track, object args) except -1
    cdef int grow(self) except -1
    cdef Py_ssize_t open_ids(self, double t, int depth) except -1
    cdef int close_ids(self, Py_ssize_t slot, double d, int name, int track, object args) except -1
    cdef tuple result(self, list others)


# A scanner reports to its Progress once every PROGRESS_EVERY events (a power of two).
cdef enum:
    PROGRESS_EVERY = 4096


cdef class Progress:
    cdef public Py_ssize_t events, bytes_read, bytes_total
    cdef public str phase
    cdef int64_t yielded        # when update last released the GIL (monotonic ns)

    cdef int update(self, Py_ssize_t events, Py_ssize_t bytes_read) except -1
