# The compiled core's types, shared by tracer.pyx (which defines them) and events.pyx (the fast
# paths of the custom-event API, which write to the same ring).
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t, uintptr_t

from ring cimport Entry, Ring

cdef extern from "compat.h":
    int64_t vt_now_ns() nogil
    int64_t vt_ticks() nogil

cdef enum:
    C_CACHE_SIZE = 4096     # the direct-mapped cache of C function names (slots)

ctypedef struct Frame:
    int64_t ts
    PyObject* key       # owned: code object, or the C function object
    PyObject* args      # owned: dict of arguments to attach, or NULL
    int flags
    uint32_t lane       # the thread slot the call is recorded on: its thread's, or with
                        # log_async the slot of the asyncio task it runs in

ctypedef struct Config:
    Ring ring
    int active          # 0 after stop(): stray hooks in other threads remove themselves
    int failed          # the hook could not go on (out of memory) and stopped tracing
    int paused
    int session         # bumped at every start(); a thread state of an older session retires
    int ignore_c
    int log_args
    int log_retval
    int log_async       # a coroutine's calls go to its asyncio task's lane (thread slot)
    int64_t min_dur
    Py_ssize_t max_depth
    uintptr_t generation    # tag of the per-code filter decisions made for this configuration
    int64_t t0_ticks        # clock pairs read when recording began and when it last stopped:
    int64_t t0_ns           # the exporter maps ticks onto CLOCK_MONOTONIC ns with them
    int64_t t1_ticks
    int64_t t1_ns


cdef class ThreadState:
    cdef Frame* stack
    cdef Py_ssize_t size
    cdef Py_ssize_t cap
    cdef Py_ssize_t region_depth
    cdef Py_ssize_t max_depth   # calls deeper than this are skipped (max_stack_depth, log_sparse)
    cdef uint32_t slot
    cdef int session
    cdef bint lanes             # log_async when it was installed: calls recorded on lanes
    # log_async: the task this thread last ran a coroutine of (compared by address, checked
    # alive through its weak reference) and its lane
    cdef PyObject* task
    cdef object task_ref
    cdef uint32_t task_lane
    cdef Config* cfg
    cdef Tracer tracer

    cdef void reset(self) noexcept
    cdef Frame* push(self) noexcept


cpdef dict counter_sample(str name, dict values)
cdef unsigned short scope_letter(scope) except 0


cdef class Tracer:
    cdef Config cfg
    cdef uint64_t serial        # this tracer's number in the process (thread-slot cache key)
    cdef list includes
    cdef list excludes
    cdef bint ignore_frozen
    cdef str own_dir
    cdef bint running           # between start() and stop(), even if the hook gave up
    cdef dict states            # threading ident -> ThreadState
    cdef list threads           # slot -> [native thread id, name]
    cdef dict thread_slots      # native thread id -> slot
    cdef dict task_lanes        # log_async: id(task) -> (weak reference or None, slot)
    cdef uint32_t task_count    # lanes of tasks so far (their synthetic tids)
    cdef object get_running_loop    # asyncio's _get_running_loop, once asyncio is imported
    cdef object current_tasks       # asyncio's dict loop -> current task (or the function
                                    # current_task(loop) where there is no such dict)
    cdef dict c_names           # (id of method def, id of self type) -> name, keeps names alive
    cdef set passthrough        # code objects left out without leaving out what they call
    cdef object repr_func       # repr of arguments and return values (None: repr)
    cdef bint hooks             # install the profile hook in every thread (False: log_sparse)
    cdef bint monitoring        # this session records through sys.monitoring (3.12+)
    cdef bint exception_trace   # this session installs exception_trace (log_exception, < 3.12)
    cdef public object exception_callback   # log_exception before 3.12: called (exception, tb)
    cdef void* c_cache_key[C_CACHE_SIZE * 2]
    cdef PyObject* c_cache_name[C_CACHE_SIZE]

    cdef int alloc_ring(self) except -1
    cdef void clear_ring(self) noexcept
    cdef void free_ring(self) noexcept
    cdef bint filtered_out(self, filename)
    cdef PyObject* c_name(self, PyObject* func) noexcept
    cdef PyObject* c_name_of(self, PyObject* func, PyObject* self_arg) noexcept
    cdef str text_of(self, obj)
    cdef PyObject* func_args(self, frame) noexcept
    cdef PyObject* with_retval(self, PyObject* args, PyObject* retval) noexcept
    cdef uint32_t slot_for_current_thread(self) except? 0xFFFFFFFF
    cdef bint find_asyncio(self) noexcept
    cdef uint32_t lane_of_task(self, ThreadState ts, object task) noexcept
    cdef void rename_task(self, object ref, uint32_t lane) noexcept
    cdef ThreadState new_state(self)
    cdef install(self)
    cdef install_monitoring(self)
    cdef void uninstall_monitoring(self) noexcept
    cdef void install_exception_trace(self) noexcept
    cdef void flush_open(self, ThreadState ts, int64_t now, bint close_open) noexcept
    cdef Entry* custom(self, int kind, object obj, object payload, int64_t ts, int64_t dur) except NULL
    cdef int record_instant(self, str name, object args, uint16_t scope) except -1
    cdef int record_counter(self, str name, dict sample) except -1
    cdef Frame* caller_frame(self)
