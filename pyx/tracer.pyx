# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The profile hook, per-thread shadow stacks and the ring of recorded entries.

Data flow: CPython calls ``profile_hook`` on every call and return of a traced thread.
A call pushes a frame (start time, code object or C function) on the thread's shadow stack;
the matching return pops it, applies the filters, and writes one complete entry to the ring.
Nothing here allocates a Python object per call in the default mode.
"""
from cpython.pycapsule cimport PyCapsule_New
from cpython.ref cimport PyObject
from libc.stdint cimport int64_t, uint16_t, uint32_t, uint64_t, uintptr_t
from libc.stdlib cimport calloc, free, realloc
from libc.string cimport memset

from ring cimport (FLAG_EXTRA, FLAG_OPEN, KIND_C, KIND_COUNTER, KIND_DURATION,
                   KIND_INSTANT, KIND_OBJECT, KIND_PY, KIND_RAW, Entry, Ring, vt_full_fence,
                   vt_load_acquire, vt_load_flag, vt_release_fence, vt_sem_free, vt_sem_new,
                   vt_sem_post, vt_sem_wait, vt_store_release)

cimport cython

import os
import sys
import threading
import types
import weakref


cdef extern from "unistd.h":
    int usleep(unsigned int usec) nogil

cdef extern from "compat.h":
    int vt_set_use_tsc(int on)
    int vt_cached_slot(uint64_t tracer, uint32_t* slot) noexcept
    void vt_cache_slot(uint64_t tracer, uint32_t slot) noexcept
    int vt_init_fork_handler()
    void* vt_alloc_ring(size_t nbytes)
    void vt_free_ring(void* p, size_t nbytes)
    Py_ssize_t VT_RequestCodeExtraIndex(void* free_func)
    int VT_CodeGetExtra(PyObject* code, Py_ssize_t index, void** extra)
    int VT_CodeSetExtra(PyObject* code, Py_ssize_t index, void* extra)
    int vt_weakref_is(PyObject* ref, PyObject* obj) noexcept
    void* vt_mon_state(uint64_t epoch) noexcept
    void vt_set_mon_state(uint64_t epoch, void* state) noexcept

cdef extern from "Python.h":
    # Reference counting on raw pointers (cpython.ref's versions take objects).
    void incref "Py_INCREF"(PyObject* o)
    void decref "Py_DECREF"(PyObject* o)
    void xdecref "Py_XDECREF"(PyObject* o)
    ctypedef struct PyFrameObject
    ctypedef int (*Py_tracefunc)(PyObject*, PyFrameObject*, int, PyObject*) noexcept
    void PyEval_SetProfile(Py_tracefunc func, PyObject* obj)
    void PyEval_SetTrace(Py_tracefunc func, PyObject* obj)
    PyObject* PyFrame_GetCode(PyFrameObject* frame)
    ctypedef struct PyCodeObject:
        int co_flags
    int CO_COROUTINE, CO_ITERABLE_COROUTINE, CO_ASYNC_GENERATOR
    PyObject* PyObject_CallNoArgs(PyObject* func)
    PyObject* PyObject_CallOneArg(PyObject* func, PyObject* arg)
    PyObject* PyDict_GetItemWithError(PyObject* d, PyObject* key)
    int PyDict_CheckExact(PyObject* o)
    PyObject* PyImport_GetModuleDict()
    PyObject* PyErr_Occurred()
    PyObject* Py_None
    int PyTrace_CALL, PyTrace_RETURN, PyTrace_C_CALL, PyTrace_C_EXCEPTION, PyTrace_C_RETURN
    int PyTrace_EXCEPTION
    int PyObject_SetAttr(PyObject* o, PyObject* name, PyObject* v)
    PyObject* Py_False
    ctypedef PyObject* (*PyCFunction)(PyObject*, PyObject*) noexcept
    ctypedef struct PyMethodDef:
        const char* ml_name
        PyCFunction ml_meth
        int ml_flags
        const char* ml_doc
    int METH_FASTCALL
    PyObject* PyCFunction_New(PyMethodDef* ml, PyObject* self)
    int PyCFunction_Check(PyObject* o)
    ctypedef struct PyTypeObject:
        pass
    PyTypeObject PyMethodDescr_Type
    ctypedef struct PyMethodDescrObject:
        PyMethodDef* d_method
    PyFrameObject* PyEval_GetFrame()
    long PyLong_AsLong(PyObject* o)
    ctypedef struct PyCFunctionObject:
        PyMethodDef* m_ml
        PyObject* m_self
        PyObject* m_module
    unsigned long PyThread_get_thread_native_id()
    int PyModule_Check(PyObject* o)
    int PyType_Check(PyObject* o)
    PyObject* Py_TYPE(PyObject* o)
    void PyErr_Clear()


# Frame flags on the shadow stack.
cdef enum:
    F_SKIP = 1      # not recorded (filtered, paused, too deep, ours)
    F_REGION = 2    # filtered together with everything it calls
    F_C = 4         # a C function
    F_PASS = 8      # a wrapper of ours left out: the calls below it keep their depth
    F_NAMED = 16    # a C function whose key is its report name already (sys.monitoring)

cdef Py_ssize_t CODE_EXTRA = VT_RequestCodeExtraIndex(NULL)
cdef uint64_t tracer_serials = 0       # Tracer.serial: the thread-slot cache tells tracers apart
vt_init_fork_handler()
cdef uintptr_t generation_counter = 0

# Per-code filter decision cached in the code object's extra slot: (generation << 2) | decision.
cdef enum:
    D_RECORD = 1
    D_IGNORE = 2    # left out with everything it calls (filtered files, our own code)
    D_PASS = 3      # left out itself, what it calls recorded (our decorators' wrappers)

# log_async: a task's lane is a thread slot of its own, under a synthetic tid past every real
# one (Linux thread ids stay below 2**22) that still fits Perfetto's int32 tid.
TASK_TID_BASE = 1 << 30
cdef uint32_t NO_LANE = 0xFFFFFFFF
cdef object ASYNCIO = "asyncio"

# "No max_stack_depth": far from PY_SSIZE_T_MAX, since each wrapper frame of ours (F_PASS)
# raises a thread's limit by one while it runs.
cdef Py_ssize_t NO_DEPTH_LIMIT = (<Py_ssize_t>1) << 40



def _kernel_uses_tsc():
    try:
        with open("/sys/devices/system/clocksource/clocksource0/current_clocksource") as f:
            return f.read().strip() == "tsc"
    except OSError:
        return False


USE_TSC = bool(vt_set_use_tsc(_kernel_uses_tsc()))
ENTRY_SIZE = sizeof(Entry)      # bytes per ring entry
cdef double nominal_factor = 0.0


def now_ns():
    """The report clock (CLOCK_MONOTONIC) in nanoseconds."""
    return vt_now_ns()


def now_ticks():
    """The hook's clock, in the unit the ring stores (see ``Tracer.clock``)."""
    return vt_ticks()


cdef void read_pair(int64_t* ticks, int64_t* ns) noexcept nogil:
    """A (ticks, ns) pair read as close together as the two clocks allow."""
    cdef int64_t a = vt_ticks()
    ns[0] = vt_now_ns()
    cdef int64_t b = vt_ticks()
    ticks[0] = a + (b - a) // 2


def nominal_ns_per_tick():
    """Nanoseconds per tick measured once over a few milliseconds (1.0 without the TSC)."""
    global nominal_factor
    cdef int64_t t0, n0, t1, n1
    if not USE_TSC:
        return 1.0
    if nominal_factor == 0.0:
        with nogil:     # a streaming writer may ask while the program runs: let it run on
            read_pair(&t0, &n0)
            n1 = n0
            while n1 - n0 < 5000000:
                read_pair(&t1, &n1)
        nominal_factor = <double>(n1 - n0) / <double>(t1 - t0)
    return nominal_factor


@cython.final
cdef class ThreadState:
    """The shadow stack of one traced thread; passed to CPython as the hook's argument."""

    def __cinit__(self, Tracer tracer, uint32_t slot):
        self.tracer = tracer
        self.cfg = &tracer.cfg
        self.slot = slot
        self.session = tracer.cfg.session
        self.max_depth = tracer.cfg.max_depth
        self.lanes = tracer.cfg.log_async
        self.cap = 64
        self.stack = <Frame*>calloc(self.cap, sizeof(Frame))
        if self.stack == NULL:
            raise MemoryError()

    def __dealloc__(self):
        self.reset()
        free(self.stack)

    cdef void reset(self) noexcept:
        cdef Py_ssize_t i
        for i in range(self.size):
            xdecref(self.stack[i].key)
            xdecref(self.stack[i].args)
        self.size = 0
        self.region_depth = 0

    cdef Frame* push(self) noexcept:
        cdef Frame* grown
        if self.size == self.cap:
            grown = <Frame*>realloc(self.stack, 2 * self.cap * sizeof(Frame))
            if grown == NULL:
                return NULL
            self.stack = grown
            self.cap *= 2
        self.size += 1
        return &self.stack[self.size - 1]


cdef inline void release_slot(Ring* ring, uint64_t slot) noexcept:
    cdef Entry* e = &ring.entries[slot]
    xdecref(e.obj)
    e.obj = NULL
    if e.flags & FLAG_EXTRA:
        xdecref(ring.extras[slot])
        ring.extras[slot] = NULL
    e.flags = 0


cdef Entry drop_sink     # what a refused custom event is written into, and forgotten
# How long the program waits for a streaming writer a whole ring behind before refusing
# entries (a writer that far behind is starved or stopping), and how often it looks.
cdef int64_t STALL_NS = 200 * 1000 * 1000
cdef unsigned int STALL_POLL_US = 20


cdef inline void set_limit(Ring* ring) noexcept:
    """Where ring_next's slow path starts next (see ring.pxd)."""
    cdef uint64_t flushed
    if ring.frozen:
        ring.limit = ring.written
    elif ring.streaming:
        flushed = vt_load_acquire(&ring.flushed)    # a writer may move it on meanwhile
        ring.limit = ring.written + ring.part
        if ring.limit > flushed + ring.capacity:
            ring.limit = flushed + ring.capacity
    else:
        ring.limit = ring.capacity


cdef int ring_slow(Ring* ring) noexcept:
    """ring_next past ``limit``: free the oldest entry (flight recorder), wake the streaming
    writer, or refuse the entry (1) and count it when its slot is not free. Streaming, a full
    ring first waits for the writer (2: look again)."""
    cdef uint64_t flushed
    if ring.streaming and not ring.frozen:
        flushed = vt_load_acquire(&ring.flushed)
        if ring.written < flushed + ring.capacity:
            ring.writer_stalled = 0
            vt_sem_post(ring.wake)
            set_limit(ring)
            return 0
        if wait_for_writer(ring, flushed):
            return 2
    elif not ring.frozen:
        release_slot(ring, ring.head)
        return 0
    if ring.refused == ring.refused_seen:
        ring.refused_since = vt_ticks()
    ring.refused += 1
    return 1


cdef bint wait_for_writer(Ring* ring, uint64_t flushed) noexcept:
    """The streaming writer is a whole ring behind: let the program wait for it, without the
    GIL (which the writer may need), rather than drop entries. True once it has freed slots;
    False when it has not in STALL_NS (it is stopping, or starved: the entry is refused, and so
    is every one after it until it frees slots, without waiting again)."""
    cdef int64_t until
    if ring.writer_stalled or vt_load_flag(&ring.writer_stop):
        return False
    vt_sem_post(ring.wake)
    with nogil:
        until = vt_now_ns() + STALL_NS
        while vt_load_acquire(&ring.flushed) == flushed and vt_now_ns() < until:
            usleep(STALL_POLL_US)
    # with the GIL again: another thread may have stopped the stream meanwhile
    if ring.entries == NULL or not ring.streaming or vt_load_acquire(&ring.flushed) == flushed:
        ring.writer_stalled = 1
        return False
    return True


cdef inline Entry* ring_next(Ring* ring, uint64_t* slot_out) noexcept:
    """The next slot to write, or NULL when the entry is refused (see ring_slow). The caller
    fills the entry without running Python code: a streaming writer may read it as soon as
    another thread gets the GIL, or once the next entry is counted (ring.pxd's next_part)."""
    cdef uint64_t slot
    cdef int slow
    while ring.written >= ring.limit:
        slow = ring_slow(ring)
        if slow == 1:
            return NULL
        if slow == 0:
            break
    slot = ring.head
    ring.head = slot + 1
    if ring.head == ring.capacity:
        ring.head = 0
    vt_release_fence()      # the entry counted last is whole before this one is counted (ring.pxd)
    ring.written += 1
    slot_out[0] = slot
    return &ring.entries[slot]


cdef inline int attach_extra(Ring* ring, Entry* e, uint64_t slot, PyObject* payload) noexcept:
    """Give ``payload`` (a new reference) to the entry in ``slot``."""
    if ring.extras == NULL:
        ring.extras = <PyObject**>calloc(ring.capacity, sizeof(PyObject*))
        if ring.extras == NULL:
            decref(payload)
            return -1
    ring.extras[slot] = payload
    e.flags |= FLAG_EXTRA
    return 0


cdef int decide(Tracer tracer, PyObject* code) noexcept:
    """Filter decision for a code object, cached in its extra slot for this configuration."""
    cdef void* cached = NULL
    cdef uintptr_t value
    if CODE_EXTRA < 0:      # CPython ran out of extra slots: decide every time
        if <object>code in tracer.passthrough:
            return D_PASS
        return D_IGNORE if tracer.filtered_out((<object>code).co_filename) else D_RECORD
    if VT_CodeGetExtra(code, CODE_EXTRA, &cached) == 0:
        value = <uintptr_t>cached
        if (value >> 2) == tracer.cfg.generation:
            return <int>(value & 3)
    else:
        PyErr_Clear()
    cdef int decision = D_RECORD
    try:
        if <object>code in tracer.passthrough:
            decision = D_PASS
        elif tracer.filtered_out((<object>code).co_filename):
            decision = D_IGNORE
    except BaseException:
        decision = D_RECORD
    value = (tracer.cfg.generation << 2) | <uintptr_t>decision
    if VT_CodeSetExtra(code, CODE_EXTRA, <void*>value) != 0:
        PyErr_Clear()
    return decision


cdef void async_lane(ThreadState ts, PyObject* key, int is_c) noexcept:
    """log_async: the lane of the call just pushed. A coroutine (or async generator) frame,
    entered or resumed, is recorded on the lane of the asyncio task running now; any other call
    on its caller's lane, so what a coroutine calls stays on its task's lane and what the loop
    runs between tasks on the thread's. Every coroutine frame looks up, even one awaited by
    another coroutine: ``asyncio.Task(coro, eager_start=True)`` runs another task's first step
    right under its caller's frame (calling a type is no C-call event)."""
    cdef Frame* f = &ts.stack[ts.size - 1]
    cdef uint32_t lane = ts.stack[ts.size - 2].lane if ts.size > 1 else ts.slot
    if not is_c and ts.region_depth == 0 and (<PyCodeObject*>key).co_flags & (
            CO_COROUTINE | CO_ITERABLE_COROUTINE | CO_ASYNC_GENERATOR):
        lane = task_lane(ts, lane)
        f = &ts.stack[ts.size - 1]
    f.lane = lane


cdef PyObject* running_task(Tracer tracer) noexcept:
    """A new reference to the asyncio task running in this thread, or NULL (no task, no
    running loop, asyncio not imported)."""
    cdef PyObject* loop
    cdef PyObject* task
    if tracer.get_running_loop is None and not tracer.find_asyncio():
        return NULL
    loop = PyObject_CallNoArgs(<PyObject*>tracer.get_running_loop)
    if loop == NULL:
        PyErr_Clear()
        return NULL
    if loop == Py_None:
        decref(loop)
        return NULL
    if PyDict_CheckExact(<PyObject*>tracer.current_tasks):
        task = PyDict_GetItemWithError(<PyObject*>tracer.current_tasks, loop)
        if task == NULL:
            if PyErr_Occurred() != NULL:
                PyErr_Clear()
        else:
            incref(task)
    else:
        task = PyObject_CallOneArg(<PyObject*>tracer.current_tasks, loop)
        if task == NULL:
            PyErr_Clear()
        elif task == Py_None:
            decref(task)
            task = NULL
    decref(loop)
    return task


cdef uint32_t task_lane(ThreadState ts, uint32_t inherited) noexcept:
    """The lane of the task running now, or ``inherited`` when none runs (a coroutine driven
    by hand, or no event loop). The thread remembers the last task it saw: a task's await
    chain is resumed frame by frame, and all of them find it there."""
    cdef PyObject* task = running_task(ts.tracer)
    cdef uint32_t lane
    if task == NULL:
        return inherited
    if task == ts.task and vt_weakref_is(<PyObject*>ts.task_ref, task):
        lane = ts.task_lane
    else:
        lane = ts.tracer.lane_of_task(ts, <object>task)
    decref(task)
    return inherited if lane == NO_LANE else lane


cdef str task_name(task):
    """What a task's lane is called: its name (``Task-1``, or the one it was given)."""
    try:
        return str(task.get_name())
    except BaseException:   # not an asyncio.Task, or its own get_name failed
        return f"{type(task).__name__} {id(task):#x}"


cdef inline void push_call(ThreadState ts, PyObject* key, int is_c, PyFrameObject* frame,
                           int lanes, PyObject* self_arg=NULL, int named=0) noexcept:
    """Open a call on the shadow stack; ``key`` is a new reference the frame takes over.
    ``lanes`` (log_async) and ``named`` are constants in each hook, so a hook without them
    pays nothing. ``named`` (sys.monitoring): a C function's report name is the key from the
    start, found from the function or, for a method descriptor, with its ``self_arg``; the
    setprofile hook names it when it returns. ``frame`` may be NULL: the current frame."""
    cdef Config* cfg = ts.cfg
    cdef Frame* f = ts.push()
    if f == NULL:       # out of memory: stop tracing rather than disturb the program
        decref(key)
        cfg.active = 0
        cfg.failed = 1
        return
    f.key = key
    f.args = NULL
    f.flags = F_C if is_c else 0
    if lanes:
        async_lane(ts, key, is_c)
    if ts.region_depth > 0 or cfg.paused or ts.size > ts.max_depth:
        f.flags |= F_SKIP
        return
    cdef int decision
    if not is_c:
        decision = decide(ts.tracer, key)
        if decision != D_RECORD:
            if decision == D_IGNORE:
                f.flags |= F_SKIP | F_REGION
                ts.region_depth += 1
            else:
                f.flags |= F_SKIP | F_PASS
                ts.max_depth += 1
            return
    if cfg.log_args and not is_c:
        if frame == NULL:
            frame = PyEval_GetFrame()
        f.args = ts.tracer.func_args(<object>frame) if frame != NULL else NULL
    if is_c and named:
        f.key = ts.tracer.c_name_of(key, self_arg)  # may run Python code; our events are off
        decref(key)
        f.flags |= F_NAMED
    f.ts = vt_ticks()


cdef inline void pop_call(ThreadState ts, int is_c, PyObject* retval, int lanes) noexcept:
    cdef int64_t end = vt_ticks()
    if ts.size == 0:
        return
    if (ts.stack[ts.size - 1].flags & F_C) != (F_C if is_c else 0):
        if is_c:
            return      # a C return whose call we did not see
        if close_c_calls(ts, end, lanes):
            return
    pop_frame(ts, end, is_c, retval, lanes)


cdef int close_c_calls(ThreadState ts, int64_t end, int lanes) noexcept:
    """A Python return with C calls above it on the stack: their returns never came (a signal
    handler that raised inside time.sleep, for one). They end now, as C calls. Returns 1 when
    the stack is empty after them."""
    while ts.size and ts.stack[ts.size - 1].flags & F_C:
        pop_frame(ts, end, 1, NULL, lanes)
    return ts.size == 0


cdef inline void pop_frame(ThreadState ts, int64_t end, int is_c, PyObject* retval, int lanes) noexcept:
    """Pop the top frame, and record it unless filtered out (on its lane with log_async)."""
    cdef Config* cfg = ts.cfg
    cdef Frame* f = &ts.stack[ts.size - 1]
    cdef Entry* e
    cdef uint64_t slot
    cdef PyObject* payload
    ts.size -= 1
    if f.flags & (F_REGION | F_PASS):
        if f.flags & F_REGION:
            ts.region_depth -= 1
        else:
            ts.max_depth -= 1
    if f.flags & F_SKIP or end - f.ts < cfg.min_dur:
        decref(f.key)
        xdecref(f.args)
        return
    payload = f.args
    if cfg.log_retval and not is_c:
        payload = ts.tracer.with_retval(payload, retval)
    cdef PyObject* obj = f.key
    if is_c and not (f.flags & F_NAMED):
        obj = ts.tracer.c_name(f.key)       # may run Python code: before the entry is taken
        decref(f.key)
    e = ring_next(&cfg.ring, &slot)
    if e == NULL:
        decref(obj)
        xdecref(payload)
        return
    e.ts = f.ts
    e.dur = end - f.ts
    e.thread = f.lane if lanes else ts.slot
    e.depth = <uint16_t>(ts.size if ts.size < 65535 else 65535)
    e.flags = 0
    e.kind = KIND_C if is_c else KIND_PY
    e.obj = obj
    if payload != NULL:
        attach_extra(&cfg.ring, e, slot, payload)


cdef inline int hook(ThreadState ts, PyFrameObject* frame, int what, PyObject* arg, int lanes) noexcept:
    # ``ts`` is the object given to PyEval_SetProfile, borrowed: no reference counting here.
    cdef Config* cfg = ts.cfg
    if not cfg.active or ts.session != cfg.session:
        PyEval_SetProfile(NULL, NULL)   # tracing stopped: this thread's hook retires
        return 0
    if what == PyTrace_CALL:
        push_call(ts, PyFrame_GetCode(frame), 0, frame, lanes)
    elif what == PyTrace_RETURN:
        pop_call(ts, 0, arg, lanes)
    elif cfg.ignore_c:
        return 0
    elif what == PyTrace_C_CALL:
        incref(<PyObject*>arg)
        push_call(ts, arg, 1, frame, lanes)
    else:   # PyTrace_C_RETURN, PyTrace_C_EXCEPTION
        pop_call(ts, 1, NULL, lanes)
    return 0


cdef int profile_hook(ThreadState ts, PyFrameObject* frame, int what, PyObject* arg) noexcept:
    """The profile function of a traced thread."""
    return hook(ts, frame, what, arg, 0)


cdef int profile_hook_async(ThreadState ts, PyFrameObject* frame, int what, PyObject* arg) noexcept:
    """The profile function with log_async: each call on a lane (its thread's or its task's)."""
    return hook(ts, frame, what, arg, 1)


# -- the sys.monitoring backend (3.12+) -------------------------------------------------------
# From 3.12 on, CPython emulates PyEval_SetProfile on top of sys.monitoring (PEP 669), and pays
# for it. There the tracer registers C callbacks with sys.monitoring itself, under the profiler
# tool id, and turns them into the same pushes and pops as the profile hook, following the
# emulation's rules: which events are calls and returns, which callables are C functions, what
# the return value of an unwinding frame is. The callbacks are global (every thread, including
# threads started before start()); each thread finds its shadow stack through thread-local
# storage. log_sparse, which traces single threads for a while, keeps the profile hook.

cdef object MONITORING = getattr(sys, "monitoring", None)
MONITORING_TOOL = 2     # sys.monitoring.PROFILER_ID
MONITORING_NAME = "viztracer"
cdef PyObject* MON_DISABLE = NULL
cdef PyObject* MON_MISSING = NULL
if MONITORING is not None:
    MON_DISABLE = <PyObject*>MONITORING.DISABLE     # module objects: they stay alive
    MON_MISSING = <PyObject*>MONITORING.MISSING

# read once: reading the environment raises (and catches) KeyError, which log_exception would see
HOOK_OVERRIDE = os.environ.get("VIZTRACER_HOOK")
# threading.Threads of ours (the decorator's saver, attach's watcher): never traced
OWN_THREADS = weakref.WeakSet()
# idents of bare threads of ours (the stream's writer), while they run: never traced either
OWN_IDENTS = set()
cdef Tracer mon_tracer = None   # the tracer the callbacks record for; None when none does
cdef uint64_t mon_epoch = 0     # bumped at every install: a thread's state of an older one is stale
cdef int mon_lanes = 0          # log_async in the installed session
cdef Config mon_off             # never active: what mon_cfg points to when nothing is installed
cdef Config* mon_cfg = &mon_off     # the installed tracer's configuration


cdef inline PyObject* none() noexcept:
    incref(Py_None)
    return Py_None


cdef void* mon_new_state() noexcept:
    """The calling thread's first event in the installed session (a thread started before
    start(), or by anything but threading): its state, made now; NULL when nothing is installed."""
    tracer = mon_tracer
    if tracer is None or not tracer.cfg.active:
        return NULL
    try:
        if thread_starting():
            return NULL     # asked again at its next event
        ts = ignoring_state(tracer) if own_thread(tracer) else tracer.new_state()
    except BaseException:
        PyErr_Clear()
        return NULL
    vt_set_mon_state(mon_epoch, <void*>ts)     # borrowed: tracer.states keeps it
    return <void*>ts


cdef bint thread_starting():
    """Whether the calling thread is a threading.Thread that has not registered itself yet:
    its name is not known, and asking threading for its current thread would make up a dummy
    one. It is traced from its registration on (the profile hook begins a little later, at
    run()). A thread started by other means is traced from its first event."""
    return threading.get_ident() not in threading._active and len(threading._limbo) > 0


cdef bint own_thread(Tracer tracer):
    """Whether the calling thread is one of ours: one in OWN_THREADS or OWN_IDENTS, or one
    started by other means than threading whose first frame is viztracer's code (children.py's
    signal waiter)."""
    ident = threading.get_ident()
    if ident in OWN_IDENTS:
        return True
    thread = threading._active.get(ident)
    if thread is not None:
        return thread in OWN_THREADS
    cdef PyFrameObject* frame = PyEval_GetFrame()
    return frame != NULL and bool(tracer.own_dir) and \
        (<object>frame).f_code.co_filename.startswith(tracer.own_dir)


cdef ThreadState ignoring_state(Tracer tracer):
    """A state for a thread of ours: every call it makes is skipped, as too deep; no thread
    slot, so the report has no lane for it."""
    ts = ThreadState(tracer, NO_LANE)
    ts.max_depth = -1
    tracer.states[threading.get_ident()] = ts
    return ts


cdef inline void* mon_state() noexcept:
    """The calling thread's ThreadState (borrowed) if it is to record now, else NULL."""
    cdef void* p = vt_mon_state(mon_epoch)
    if p == NULL:
        p = mon_new_state()
    return p if mon_cfg.active else NULL


# Call sites that call Python functions are left unwatched for CALL events (the callback
# returns sys.monitoring.DISABLE, and CPython stops calling it there): otherwise every Python
# call would pay for a CALL event on top of PY_START. A site is left once it has called Python
# code SITE_PATIENCE times and no C function in between, so that a site calling both kinds in
# turn (a loop over handlers, a duck-typed ``out.write``) keeps its C calls. The table is
# direct-mapped; an entry pushed out only starts counting again.
cdef enum:
    SITE_SLOTS = 4096
    SITE_PATIENCE = 16
    SITE_MIXED = 0x7FFFFFFF     # the site has called a C function: watched for good

ctypedef struct Site:
    uintptr_t key
    int count

cdef Site sites[SITE_SLOTS]
cdef int mon_left_sites = 0     # a site was left: the next session asks CPython to watch it again


cdef inline Site* site_of(PyObject* code, PyObject* offset, uintptr_t* key) noexcept:
    cdef long off = PyLong_AsLong(offset)
    if off == -1:
        PyErr_Clear()
    key[0] = (<uintptr_t>code) ^ (<uintptr_t>off << 48)
    return &sites[((<uintptr_t>code >> 4) ^ (<uintptr_t>off * <uintptr_t>40503)) & (SITE_SLOTS - 1)]


cdef inline int c_callee(PyObject** args) noexcept:
    """What a CALL, C_RETURN or C_RAISE event calls, as the setprofile emulation sees it:
    1 for a builtin function, 2 for a method descriptor called with its self (named as the
    bound method), 0 for anything else (Python code, a class, another callable)."""
    cdef PyObject* callable = args[2]
    if PyCFunction_Check(callable):
        return 1
    if <void*>Py_TYPE(callable) == <void*>&PyMethodDescr_Type:
        return 2 if args[3] != MON_MISSING else 0
    return 0


cdef inline void mon_push(PyObject* key, int is_c, PyObject* self_arg) noexcept:
    """A call for the calling thread, if it records: the profile hook's push (a C function
    named when called), with log_async a constant in each branch, so push_call is specialised
    for both; ``key`` is borrowed."""
    cdef void* ts = mon_state()
    if ts == NULL:
        return
    incref(key)
    if mon_lanes:
        push_call(<ThreadState>ts, key, is_c, NULL, 1, self_arg, is_c)
    else:
        push_call(<ThreadState>ts, key, is_c, NULL, 0, self_arg, is_c)


cdef inline void mon_pop(int is_c, PyObject* retval) noexcept:
    """A return for the calling thread, if it records: the profile hook's pop."""
    cdef void* ts = mon_state()
    if ts == NULL:
        return
    if mon_lanes:
        pop_call(<ThreadState>ts, is_c, retval, 1)
    else:
        pop_call(<ThreadState>ts, is_c, retval, 0)


cdef PyObject* mon_enter(PyObject* unused, PyObject** args, Py_ssize_t nargs) noexcept:
    """PY_START, PY_RESUME, PY_THROW: a Python frame starts or resumes (the profile hook's call)."""
    mon_push(args[0], 0, NULL)
    return none()


cdef PyObject* mon_leave(PyObject* unused, PyObject** args, Py_ssize_t nargs) noexcept:
    """PY_RETURN, PY_YIELD: a Python frame returns or yields ``args[2]``."""
    mon_pop(0, args[2])
    return none()


cdef PyObject* mon_unwind(PyObject* unused, PyObject** args, Py_ssize_t nargs) noexcept:
    """PY_UNWIND: a Python frame ends with an exception, and without a return value (as
    the profile hook sees it on 3.11 and 3.13; 3.12's emulation passes None)."""
    mon_pop(0, NULL)
    return none()


cdef PyObject* mon_c_call(PyObject* unused, PyObject** args, Py_ssize_t nargs) noexcept:
    """CALL: a C function is called (anything else: count the site towards leaving it)."""
    global mon_left_sites
    cdef uintptr_t key
    cdef int kind = c_callee(args)
    cdef Site* site = site_of(args[0], args[1], &key)
    if kind == 0:
        if site.key != key:
            site.key = key
            site.count = 1
        elif site.count != SITE_MIXED:
            site.count += 1
            if site.count >= SITE_PATIENCE:
                mon_left_sites = 1
                incref(MON_DISABLE)
                return MON_DISABLE
        return none()
    site.key = key
    site.count = SITE_MIXED
    mon_push(args[2], 1, args[3] if kind == 2 else NULL)
    return none()


cdef PyObject* mon_c_return(PyObject* unused, PyObject** args, Py_ssize_t nargs) noexcept:
    """C_RETURN, C_RAISE: the call of a CALL event returns (of a C function: the call ends)."""
    if c_callee(args):
        mon_pop(1, NULL)
    return none()


cdef PyMethodDef mon_defs[5]
mon_defs[0] = PyMethodDef(b"viztracer_enter", <PyCFunction><void*>mon_enter, METH_FASTCALL, NULL)
mon_defs[1] = PyMethodDef(b"viztracer_leave", <PyCFunction><void*>mon_leave, METH_FASTCALL, NULL)
mon_defs[2] = PyMethodDef(b"viztracer_unwind", <PyCFunction><void*>mon_unwind, METH_FASTCALL, NULL)
mon_defs[3] = PyMethodDef(b"viztracer_c_call", <PyCFunction><void*>mon_c_call, METH_FASTCALL, NULL)
mon_defs[4] = PyMethodDef(b"viztracer_c_return", <PyCFunction><void*>mon_c_return, METH_FASTCALL, NULL)


def _callback(int i):
    return <object>PyCFunction_New(&mon_defs[i], NULL)


# event name -> its callback
MONITORING_CALLBACKS = {
    "PY_START": _callback(0), "PY_RESUME": _callback(0), "PY_THROW": _callback(0),
    "PY_RETURN": _callback(1), "PY_YIELD": _callback(1), "PY_UNWIND": _callback(2),
}
C_CALLBACKS = {"CALL": _callback(3), "C_RETURN": _callback(4), "C_RAISE": _callback(4)}


def hook_for(bint hooks, bint per_thread=False):
    """Which hook a session records through: ``monitoring`` on 3.12 and later; ``setprofile``
    before, for log_sparse (no hooks: single threads are traced for a while), for a tracer of
    one thread and those it starts (``per_thread``: ``@trace_and_save``'s), or when the
    environment says ``VIZTRACER_HOOK=setprofile``."""
    if MONITORING is None or not hooks or per_thread or HOOK_OVERRIDE == "setprofile":
        return "setprofile"
    return "monitoring"


def monitoring_owner():
    """The holder of sys.monitoring's profiler tool id: None, ``viztracer`` (a tracer of ours,
    whose callbacks a new session takes over) or another profiler."""
    return MONITORING.get_tool(MONITORING_TOOL)


def hook_in_use_message(owner):
    return (f"sys.monitoring's profiler tool id is in use by {owner!r}: stop that profiler "
            f"before tracing, or set VIZTRACER_HOOK=setprofile to trace beside it")


def monitoring_tracer_active():
    """Whether a tracer of ours records every thread through sys.monitoring now."""
    return mon_tracer is not None and mon_tracer.cfg.active


cdef object F_TRACE_LINES = "f_trace_lines"


cdef int exception_trace(Tracer tracer, PyFrameObject* frame, int what, PyObject* arg) noexcept:
    """The trace function of ``log_exception`` before 3.12 (3.12 and later use sys.monitoring's
    RAISE event instead): only PyTrace_EXCEPTION matters. CPython calls it in every frame an
    exception passes through; the frame where it was raised is the one whose traceback has a
    single entry."""
    if not tracer.cfg.active or tracer.exception_callback is None:
        PyEval_SetTrace(NULL, NULL)
        return 0
    if what == PyTrace_CALL:
        # a C trace function also gets an event per line: turn them off for this frame
        if PyObject_SetAttr(<PyObject*>frame, <PyObject*>F_TRACE_LINES, Py_False) < 0:
            PyErr_Clear()
    elif what == PyTrace_EXCEPTION:
        try:
            exc_type, value, tb = <tuple>arg
            if tb is None or tb.tb_next is None:
                tracer.exception_callback(value, tb)
        except BaseException:
            PyErr_Clear()
    return 0


@cython.final
cdef class Tracer:
    """The compiled core behind ``VizTracer``: configuration, thread states and the ring."""

    def __cinit__(self, uint64_t capacity):
        global tracer_serials
        if capacity == 0:
            raise ValueError("tracer_entries must be positive")
        tracer_serials += 1
        self.serial = tracer_serials
        self.cfg.ring.capacity = capacity
        self.cfg.ring.limit = capacity
        self.cfg.max_depth = NO_DEPTH_LIMIT
        self.includes = []
        self.excludes = []
        self.states = {}
        self.threads = []
        self.thread_slots = {}
        self.task_lanes = {}
        self.c_names = {}
        self.passthrough = set()
        self.own_dir = ""
        self.hooks = True
        self.alloc_ring()

    def __dealloc__(self):
        self.free_ring()
        vt_sem_free(self.cfg.ring.wake)

    cdef int alloc_ring(self) except -1:
        if self.cfg.ring.entries == NULL:
            self.cfg.ring.entries = <Entry*>vt_alloc_ring(self.cfg.ring.capacity * sizeof(Entry))
            if self.cfg.ring.entries == NULL:
                raise MemoryError(f"cannot allocate a ring of {self.cfg.ring.capacity} entries")
        if self.cfg.t0_ticks == 0:
            read_pair(&self.cfg.t0_ticks, &self.cfg.t0_ns)
        return 0

    cdef void clear_ring(self) noexcept:
        cdef Ring* ring = &self.cfg.ring
        cdef uint64_t i, n
        if ring.entries == NULL:
            return
        if ring.streaming:      # the writer freed every slot but those it has not written
            for i in range(ring.flushed, ring.written):
                release_slot(ring, i % ring.capacity)
        else:
            n = ring.written if ring.written < ring.capacity else ring.capacity
            for i in range(n):
                release_slot(ring, i)
        ring.written = 0
        ring.head = 0
        ring.flushed = 0
        ring.refused = 0
        ring.refused_seen = 0
        set_limit(ring)
        if not ring.streaming:      # a stream keeps the clock it began with
            self.cfg.t0_ticks = 0

    cdef void free_ring(self) noexcept:
        self.clear_ring()
        vt_free_ring(self.cfg.ring.entries, self.cfg.ring.capacity * sizeof(Entry))
        free(self.cfg.ring.extras)
        self.cfg.ring.entries = NULL
        self.cfg.ring.extras = NULL

    # -- configuration ---------------------------------------------------------------------

    def configure(self, *, max_stack_depth=-1, include_files=(), exclude_files=(),
                  ignore_c_function=False, ignore_frozen=False, min_duration_ns=0,
                  log_func_args=False, log_func_retval=False, own_dir="", repr_func=None,
                  log_async=False):
        """Set the filters; each call invalidates the per-code decisions cached so far.

        ``repr_func`` turns arguments and return values into text (``repr`` by default);
        ``own_dir`` is left out with everything called from it (empty: nothing is);
        ``log_async`` records each asyncio task's calls on a lane of its own."""
        global generation_counter
        if include_files and exclude_files:
            raise ValueError("include_files and exclude_files can't be used together")
        self.cfg.max_depth = NO_DEPTH_LIMIT if max_stack_depth is None or max_stack_depth < 0 \
            else max_stack_depth
        self.includes = [str(p) for p in include_files]
        self.excludes = [str(p) for p in exclude_files]
        self.ignore_frozen = bool(ignore_frozen)
        self.cfg.ignore_c = bool(ignore_c_function)
        self.cfg.min_dur = <int64_t>(min_duration_ns / nominal_ns_per_tick()) if min_duration_ns > 0 else 0
        self.cfg.log_args = bool(log_func_args)
        self.cfg.log_retval = bool(log_func_retval)
        self.cfg.log_async = bool(log_async)
        self.own_dir = os.path.join(str(own_dir), "") if own_dir else ""
        self.repr_func = repr_func
        generation_counter += 1
        self.cfg.generation = generation_counter

    def add_passthrough(self, code):
        """Leave the calls of ``code`` out of the report but record what they call (for
        wrappers such as our decorators, which would otherwise hide the function they wrap)."""
        global generation_counter
        self.passthrough.add(code)
        generation_counter += 1
        self.cfg.generation = generation_counter

    cdef bint filtered_out(self, filename):
        """Whether calls of code from ``filename`` are left out, with all they call."""
        if self.own_dir and filename.startswith(self.own_dir):
            return True
        if self.ignore_frozen and filename.startswith("<frozen"):
            return True
        if self.includes:
            return not any(filename.startswith(p) for p in self.includes)
        if self.excludes:
            return any(filename.startswith(p) for p in self.excludes)
        return False

    # -- slow paths called from the hook ------------------------------------------------------

    cdef PyObject* c_name(self, PyObject* func) noexcept:
        """A new reference to the report name of a C function: ``module.func`` or ``type.method``."""
        return self.c_name_of(func, NULL)

    cdef PyObject* c_name_of(self, PyObject* func, PyObject* self_arg) noexcept:
        """``c_name`` of a builtin function, or with ``self_arg`` of a method descriptor called
        with that self (named as the bound method it stands for, under the same cache key)."""
        cdef PyCFunctionObject* cf = <PyCFunctionObject*>func
        cdef void* ml
        cdef void* tp
        if self_arg != NULL:
            ml = <void*>(<PyMethodDescrObject*>func).d_method
            tp = <void*>Py_TYPE(self_arg)
        else:
            ml = <void*>cf.m_ml
            tp = <void*>Py_TYPE(cf.m_self) if cf.m_self != NULL else NULL
        cdef uintptr_t h = ((<uintptr_t>ml >> 4) ^ (<uintptr_t>tp >> 4)) & (C_CACHE_SIZE - 1)
        cdef PyObject* name
        if self.c_cache_key[2 * h] == ml and self.c_cache_key[2 * h + 1] == tp \
                and self.c_cache_name[h] != NULL:
            name = self.c_cache_name[h]
            incref(name)
            return name
        try:
            key = (<uintptr_t>ml, <uintptr_t>tp)
            text = self.c_names.get(key)
            if text is None:
                if self_arg != NULL:
                    bound = (<object>func).__get__(<object>self_arg, type(<object>self_arg))
                    text = self.c_names[key] = c_function_name(bound)
                else:
                    text = self.c_names[key] = c_function_name(<object>func)
        except BaseException:
            text = "<unknown C function>"
        if key in self.c_names:
            self.c_cache_key[2 * h] = ml
            self.c_cache_key[2 * h + 1] = tp
            self.c_cache_name[h] = <PyObject*>text     # borrowed: c_names keeps it alive
        incref(<PyObject*>text)
        return <PyObject*>text

    cdef str text_of(self, obj):
        """An argument or return value as text: ``repr`` or ``log_func_repr``."""
        if self.repr_func is None:
            return safe_repr(obj)
        try:
            return str(self.repr_func(obj))
        except BaseException:   # the user's function may raise anything
            return NOT_DISPLAYABLE

    cdef PyObject* func_args(self, frame) noexcept:
        """A new reference to ``{"func_args": {name: repr(value)}}`` for a frame, or NULL."""
        try:
            code = frame.f_code
            n = code.co_argcount + code.co_kwonlyargcount
            n += bool(code.co_flags & 0x04) + bool(code.co_flags & 0x08)   # *args, **kwargs
            values = frame.f_locals
            args = {name: self.text_of(values[name]) for name in code.co_varnames[:n] if name in values}
            result = {"func_args": args}
        except BaseException:
            return NULL
        incref(<PyObject*>result)
        return <PyObject*>result

    cdef PyObject* with_retval(self, PyObject* args, PyObject* retval) noexcept:
        """Add ``return_value`` to a frame's args dict (consumes ``args``); a new reference."""
        try:
            result = <dict>args if args != NULL else {}
            if retval != NULL:
                result["return_value"] = self.text_of(<object>retval)
        except BaseException:
            return args
        if args != NULL:
            decref(args)
        incref(<PyObject*>result)
        return <PyObject*>result

    # -- threads ------------------------------------------------------------------------------

    cdef uint32_t slot_for_current_thread(self) except? 0xFFFFFFFF:
        """The calling thread's slot in the thread table, added on first use."""
        cdef uint32_t cached
        if vt_cached_slot(self.serial, &cached):
            return cached
        tid = PyThread_get_thread_native_id()
        slot = self.thread_slots.get(tid)
        if slot is None:
            # the name first: Python code may let another thread take a slot meanwhile, or
            # this one (its calls reach sys.monitoring's callbacks, which take one)
            name = threading.current_thread().name
            slot = self.thread_slots.get(tid)
            if slot is None:
                slot = self.thread_slots[tid] = len(self.threads)
                self.threads.append([tid, name])
        vt_cache_slot(self.serial, slot)
        return slot

    cdef bint find_asyncio(self) noexcept:
        """Look asyncio's running loop and current tasks up once the program has imported it
        (never imported by us: a program without asyncio has no task)."""
        cdef PyObject* module = PyDict_GetItemWithError(PyImport_GetModuleDict(), <PyObject*>ASYNCIO)
        if module == NULL:
            PyErr_Clear()
            return False
        try:
            asyncio = <object>module
            get_loop = asyncio._get_running_loop
            current = getattr(sys.modules.get("asyncio.tasks"), "_current_tasks", None)
            if type(current) is not dict:
                current = asyncio.current_task
        except BaseException:   # asyncio half imported: try again at the next coroutine
            PyErr_Clear()
            return False
        self.current_tasks = current
        self.get_running_loop = get_loop
        return True

    cdef uint32_t lane_of_task(self, ThreadState ts, object task) noexcept:
        """The lane of ``task``, a new thread slot named after it the first time it is seen;
        NO_LANE when that fails. The thread's last task is renamed as it is left, in case it
        called set_name."""
        cdef uint32_t lane
        try:
            if ts.task_ref is not None:
                self.rename_task(ts.task_ref, ts.task_lane)
            key = id(task)
            entry = self.task_lanes.get(key)
            if entry is not None and (entry[0] is None or entry[0]() is task):
                ref, lane = entry
            else:   # a new task, or a new one at the address of a task gone
                try:
                    ref = weakref.ref(task)
                except TypeError:   # compared by address only, then
                    ref = None
                name = task_name(task)     # may run Python code: before the slot is taken
                self.task_count += 1
                lane = len(self.threads)
                self.threads.append([TASK_TID_BASE + self.task_count, name])
                self.task_lanes[key] = (ref, lane)
        except BaseException:
            PyErr_Clear()
            return NO_LANE
        ts.task = <PyObject*>task if ref is not None else NULL
        ts.task_ref = ref
        ts.task_lane = lane
        return lane

    cdef void rename_task(self, object ref, uint32_t lane) noexcept:
        """Give a task's lane its current name, if the task is still alive."""
        try:
            task = ref()
            if task is not None:
                self.threads[lane][1] = task_name(task)
        except BaseException:
            PyErr_Clear()

    cdef ThreadState new_state(self):
        """A fresh shadow stack for the calling thread, the one the tracer knows it by."""
        ts = ThreadState(self, self.slot_for_current_thread())
        self.states[threading.get_ident()] = ts
        return ts

    cdef install(self):
        """Install the hook in the calling thread with a fresh shadow stack."""
        ts = self.new_state()
        PyEval_SetProfile(<Py_tracefunc>(profile_hook_async if ts.lanes else profile_hook), <PyObject*>ts)
        return ts

    cdef install_monitoring(self):
        """Record every thread through sys.monitoring's callbacks, under the profiler tool id.
        The id may be held by another tracer of ours (it is taken over, as a profile hook
        would be replaced), never by another profiler: that is an error, and nothing changes."""
        global mon_tracer, mon_epoch, mon_lanes, mon_cfg, mon_left_sites
        mon = MONITORING
        owner = monitoring_owner()
        if owner is not None and owner != MONITORING_NAME:     # checked by VizTracer already
            raise RuntimeError(hook_in_use_message(owner))
        if owner is None:
            mon.use_tool_id(MONITORING_TOOL, MONITORING_NAME)
        callbacks = dict(MONITORING_CALLBACKS)
        if not self.cfg.ignore_c:
            callbacks.update(C_CALLBACKS)
        events = 0
        for name, func in callbacks.items():
            event = getattr(mon.events, name)
            mon.register_callback(MONITORING_TOOL, event, func)
            events |= event
        for name in C_CALLBACKS:
            if name not in callbacks:
                mon.register_callback(MONITORING_TOOL, getattr(mon.events, name), None)
        # the calling thread's state first (slot 0): making it runs Python code, whose events
        # go to the tracer installed until now, if any
        ts = self.new_state()
        mon_epoch += 1
        mon_tracer = self
        mon_cfg = &self.cfg
        mon_lanes = self.cfg.log_async
        self.monitoring = True
        vt_set_mon_state(mon_epoch, <void*>ts)
        if mon_left_sites:
            # the sites left in an earlier session stay left until events are restarted (for
            # every tool: one that left sites of its own sees them once more, no more)
            mon_left_sites = 0
            memset(sites, 0, sizeof(sites))
            mon.restart_events()
        mon.set_events(MONITORING_TOOL, events)

    cdef void uninstall_monitoring(self) noexcept:
        """Stop the callbacks and give the tool id back, unless another tracer took them over."""
        global mon_tracer, mon_cfg
        if not self.monitoring:
            return
        self.monitoring = False
        if mon_tracer is not self:
            return
        mon_tracer = None
        mon_cfg = &mon_off
        mon = MONITORING
        try:
            mon.set_events(MONITORING_TOOL, 0)
            for name in (*MONITORING_CALLBACKS, *C_CALLBACKS):
                mon.register_callback(MONITORING_TOOL, getattr(mon.events, name), None)
            mon.free_tool_id(MONITORING_TOOL)
        except BaseException:   # the tool id was freed under us (by the program): nothing to undo
            PyErr_Clear()

    def thread_bootstrap(self, frame, event, arg):
        """Given to ``threading.setprofile``: a new thread's first profile event lands here,
        installs the compiled hook for that thread and forwards the event to it."""
        if not self.cfg.active or self.monitoring:     # sys.monitoring sees every thread
            sys.setprofile(None)
            return None
        self.install_exception_trace()
        if not self.hooks:      # log_sparse: only the exception trace was wanted here
            sys.setprofile(None)
            return None
        cdef ThreadState ts = self.install()
        if event == "call":
            code = frame.f_code
            incref(<PyObject*>code)
            push_call(ts, <PyObject*>code, 0, <PyFrameObject*>frame, ts.lanes)
        elif event == "c_call" and not self.cfg.ignore_c:
            incref(<PyObject*>arg)
            push_call(ts, <PyObject*>arg, 1, NULL, ts.lanes)
        return None

    def trace_current_thread(self):
        """Start tracing the calling thread (for threads not started by ``threading``)."""
        if self.cfg.active and not self.monitoring and threading.get_ident() not in self.states:
            self.install_exception_trace()
            if self.hooks:
                self.install()

    cdef void install_exception_trace(self) noexcept:
        if self.exception_trace:
            PyEval_SetTrace(<Py_tracefunc>exception_trace, <PyObject*>self)

    # -- log_sparse ---------------------------------------------------------------------------

    def thread_traced(self):
        """Whether the profile hook records the calling thread now."""
        return self.cfg.active and (self.monitoring or threading.get_ident() in self.states)

    def sparse_begin(self, Py_ssize_t max_depth):
        """Record the calling thread's next call and what it calls up to ``max_depth`` levels
        (``@log_sparse(stack_depth=N)``); False when it is recorded already."""
        if not self.cfg.active or threading.get_ident() in self.states:
            return False
        cdef ThreadState ts = self.install()
        ts.max_depth = max_depth
        return True

    def sparse_end(self):
        """Stop recording the calling thread after ``sparse_begin``. The calls it recorded
        are in the ring; what is left on its stack is this very call, not the program's."""
        PyEval_SetProfile(NULL, NULL)
        self.states.pop(threading.get_ident(), None)

    def add_call(self, code, int64_t start, int64_t end):
        """A call of ``code`` between two ``now_ticks()`` readings, recorded as the hook
        records one (``@log_sparse`` without a stack depth)."""
        if not isinstance(code, types.CodeType):
            raise TypeError(f"add_call needs a code object, got {type(code).__name__}")
        self.custom(KIND_PY, code, None, start, end - start)

    # -- control ------------------------------------------------------------------------------

    def start(self, bint hooks=True, bint per_thread=False):
        """Start recording: through sys.monitoring every thread (3.12+, see ``hook_for``),
        through the profile hook the calling thread and those it installs itself in (all of
        them before 3.12, or with ``per_thread``). Without
        ``hooks`` (log_sparse) no thread is traced until ``sparse_begin``; custom events are
        recorded all the same. RuntimeError when another profiler holds sys.monitoring."""
        if self.running:
            return
        self.alloc_ring()
        self.cfg.session += 1
        self.cfg.failed = 0
        self.cfg.active = 1
        self.running = True
        self.cfg.paused = 0
        self.states = {}
        self.hooks = hooks
        self.exception_trace = self.exception_callback is not None and sys.version_info < (3, 12)
        self.install_exception_trace()
        if hook_for(hooks, per_thread) == "monitoring":
            try:
                self.install_monitoring()
            except BaseException:
                self.cfg.active = 0
                self.running = False
                raise
        elif hooks:
            self.install()

    def stop(self, bint close_open=False):
        """Stop recording everywhere. Calls still open are written as begin events, or, with
        ``close_open``, as calls that end now."""
        cdef ThreadState ts
        if not self.running:
            return
        self.running = False
        if self.monitoring:
            self.uninstall_monitoring()
        else:
            PyEval_SetProfile(NULL, NULL)
        if self.exception_trace:
            PyEval_SetTrace(NULL, NULL)
        cdef int64_t now = vt_ticks()
        self.cfg.active = 0
        read_pair(&self.cfg.t1_ticks, &self.cfg.t1_ns)
        names = {t.native_id: t.name for t in threading.enumerate()}
        for info in self.threads:
            info[1] = names.get(info[0], info[1])
        for ref, lane in self.task_lanes.values():
            if ref is not None:
                self.rename_task(ref, lane)
        for ts in self.states.values():
            self.flush_open(ts, now, close_open)
        self.states = {}

    cdef void flush_open(self, ThreadState ts, int64_t now, bint close_open) noexcept:
        """Write the calls still open on a thread's stack, outermost first, and empty it."""
        cdef Py_ssize_t i
        cdef Frame* f
        cdef Entry* e
        cdef uint64_t slot
        cdef PyObject* obj
        for i in range(ts.size):
            f = &ts.stack[i]
            if f.flags & F_SKIP:
                continue
            if f.flags & F_C and not (f.flags & F_NAMED):
                obj = self.c_name(f.key)
            else:
                obj = f.key
                incref(f.key)
            e = ring_next(&self.cfg.ring, &slot)
            if e == NULL:
                decref(obj)
                continue
            e.ts = f.ts
            e.dur = now - f.ts
            e.thread = f.lane if ts.lanes else ts.slot
            e.depth = <uint16_t>(i if i < 65535 else 65535)
            e.flags = 0 if close_open else FLAG_OPEN
            e.kind = KIND_C if f.flags & F_C else KIND_PY
            e.obj = obj
            if f.args != NULL:
                incref(f.args)
                attach_extra(&self.cfg.ring, e, slot, f.args)
        ts.reset()

    def pause(self):
        """Stop recording new calls until ``resume()``; the stacks stay balanced meanwhile."""
        self.cfg.paused = 1

    def resume(self):
        """Record new calls again."""
        self.cfg.paused = 0

    def clear(self):
        """Drop every recorded entry."""
        self.clear_ring()

    def forked(self):
        """In the child of a fork: the entries are the parent's, and so are the threads but
        the calling one, whose native id changed. Keep the calling thread's shadow stack (its
        calls return in the child), give it slot 0 under its new id, and drop the rest. The
        clock's base stays: both processes read the same clock."""
        global tracer_serials
        cdef int64_t t0_ticks = self.cfg.t0_ticks, t0_ns = self.cfg.t0_ns
        cdef ThreadState ts
        cdef Py_ssize_t i
        self.clear_ring()
        self.cfg.t0_ticks, self.cfg.t0_ns = t0_ticks, t0_ns
        ident = threading.get_ident()
        tid = PyThread_get_thread_native_id()
        mine = self.states.get(ident)
        self.states = {} if mine is None else {ident: mine}
        self.threads = [[tid, threading.current_thread().name]]
        self.thread_slots = {tid: 0}
        if mine is not None:
            ts = mine
            ts.slot = 0
            ts.max_depth = self.cfg.max_depth     # the child's options (set_afterfork) hold
            for i in range(ts.size):    # the open calls' lanes (log_async) were the parent's slots
                ts.stack[i].lane = 0
            ts.task = NULL
            ts.task_ref = None
            ts.task_lane = 0
        self.task_lanes = {}
        tracer_serials += 1     # a new key for the per-thread slot cache: every cached slot is stale
        self.serial = tracer_serials

    def cleanup(self):
        """Drop every recorded entry and free the ring."""
        if not self.cfg.active:
            self.free_ring()
        else:
            self.clear_ring()

    # -- streaming and dumps: the writer's side of the ring ----------------------------------

    def stream_begin(self, uint64_t part):
        """Hand the ring to a streaming writer: from now on an entry is never overwritten before
        ``stream_release`` frees it; when the writer falls ``capacity`` entries behind, new
        entries are refused and counted. The writer is woken every ``part`` entries."""
        cdef Ring* ring = &self.cfg.ring
        self.alloc_ring()
        if ring.wake == NULL:
            ring.wake = vt_sem_new()
            if ring.wake == NULL:
                raise OSError("cannot create the streaming writer's semaphore")
        ring.part = part if 0 < part <= ring.capacity else ring.capacity
        # what the ring holds already is the first thing written
        ring.flushed = ring.written - ring.capacity if ring.written > ring.capacity else 0
        ring.streaming = 1
        ring.writer_stop = ring.writer_stalled = 0
        ring.writer_until = <uint64_t>-1
        set_limit(ring)

    def stream_end(self):
        """Back to keeping the latest ``capacity`` entries; whatever was not written is dropped."""
        cdef Ring* ring = &self.cfg.ring
        self.clear_ring()
        ring.streaming = 0
        set_limit(ring)
        self.cfg.t0_ticks = 0

    def stream_span(self):
        """``(first, end)``: the entries written since the writer last released, by number."""
        return self.cfg.ring.flushed, self.cfg.ring.written

    def stream_release(self, uint64_t end, bint emptied=False):
        """The writer has written the entries before ``end``: free their slots for new ones
        (``emptied``: the writer took their references already, see ring.pxd's take_refs)."""
        cdef Ring* ring = &self.cfg.ring
        cdef uint64_t i
        if end > ring.written:
            end = ring.written
        if not emptied:
            for i in range(ring.flushed, end):
                release_slot(ring, i % ring.capacity)
        ring.flushed = end
        set_limit(ring)

    def stream_refused(self):
        """``(count, since)``: entries refused since the last call, and the ticks of the first
        of them (0 when none)."""
        cdef Ring* ring = &self.cfg.ring
        cdef uint64_t n = ring.refused - ring.refused_seen
        ring.refused_seen = ring.refused
        return n, (ring.refused_since if n else 0)

    def wait_for_part(self, double timeout):
        """Sleep, without the GIL, until a part of the ring has filled or ``timeout`` seconds
        have passed; True when woken by a full part."""
        cdef void* wake = self.cfg.ring.wake
        cdef int64_t ns = <int64_t>(timeout * 1e9)
        cdef int posted
        with nogil:
            posted = vt_sem_wait(wake, ns)
        return bool(posted)

    def wake_writer(self):
        """Wake a writer sleeping in ``wait_for_part``."""
        vt_sem_post(self.cfg.ring.wake)

    def limit_writer(self, uint64_t until):
        """At the stop: the writer writes the entries before ``until`` and goes back to Python
        there. Returns where the writer is (``flushed``, read after the limit is set: its part
        ends at most a part after it, see ring.pxd's next_part)."""
        cdef Ring* ring = &self.cfg.ring
        vt_store_release(&ring.writer_until, until)
        vt_full_fence()
        return vt_load_acquire(&ring.flushed)

    def stop_writer(self):
        """Send the writer back to Python for good, wherever it sleeps (``wait_for_part``, or
        between parts without the GIL: ring.pxd's next_part)."""
        self.cfg.ring.writer_stop = 1
        vt_sem_post(self.cfg.ring.wake)

    def freeze(self, bint on):
        """While frozen, every new entry is refused and counted, so the ring can be written out
        (``--dump_on``) as it is, even by code that lets other threads run."""
        self.cfg.ring.frozen = 1 if on else 0
        set_limit(&self.cfg.ring)

    def capacity(self):
        """The ring's number of entries."""
        return self.cfg.ring.capacity

    def refused(self):
        """Entries refused since the ring was last cleared (streaming writer behind, dumps)."""
        return self.cfg.ring.refused

    # -- custom events ------------------------------------------------------------------------

    cdef Entry* custom(self, int kind, object obj, object payload, int64_t ts, int64_t dur) except NULL:
        cdef uint64_t slot
        cdef uint32_t thread = self.slot_for_current_thread()
        self.alloc_ring()
        cdef Entry* e = ring_next(&self.cfg.ring, &slot)
        if e == NULL:
            return &drop_sink
        e.ts = ts
        e.dur = dur
        e.thread = thread
        e.depth = 0
        e.kind = kind
        e.flags = 0
        incref(<PyObject*>obj)
        e.obj = <PyObject*>obj
        if payload is not None:
            incref(<PyObject*>payload)
            attach_extra(&self.cfg.ring, e, slot, <PyObject*>payload)
        return e

    cdef int record_instant(self, str name, object args, uint16_t scope) except -1:
        """An instant now; ``scope`` is the character of its scope (``g``, ``p``, ``t``), kept
        in the entry's depth, and ``args`` its payload unless None."""
        cdef Entry* e = self.custom(KIND_INSTANT, name, args, vt_ticks(), 0)
        e.depth = scope
        return 0

    cdef int record_counter(self, str name, dict sample) except -1:
        """A counter sample now; ``sample`` is checked already and is the ring's from now on."""
        self.custom(KIND_COUNTER, name, sample, vt_ticks(), 0)
        return 0

    def add_instant(self, str name, args, str scope):
        """An instant event at the current time; ``scope`` is ``g``, ``p`` or ``t``."""
        self.record_instant(name, args, scope_letter(scope))

    def add_counter(self, str name, dict values):
        """A sample of a counter track; every value must be a number (bools count as 0/1, which
        is what every format and viewer can draw)."""
        self.record_counter(name, counter_sample(name, values))

    def add_object(self, str ph, obj_id, str name, args):
        """An object event (``N``, ``O`` or ``D``)."""
        self.custom(KIND_OBJECT, name, (ph, str(obj_id), args), vt_ticks(), 0)

    def add_raw(self, dict event):
        """A trace event given as a ready dict, written as it is."""
        self.custom(KIND_RAW, dict(event), None, vt_ticks(), 0)

    def add_duration(self, str name, int64_t start, int64_t end, args=None):
        """A custom duration event between two ``now_ticks()`` readings."""
        self.custom(KIND_DURATION, name, args, start, end - start)

    cdef Frame* caller_frame(self):
        """The innermost call of the calling thread that called into viztracer, when it is
        recorded; NULL otherwise."""
        ts = self.states.get(threading.get_ident())
        if ts is None:
            return NULL
        cdef ThreadState state = ts
        cdef Py_ssize_t i = state.size - 1
        while i >= 0 and not (state.stack[i].flags & F_REGION):
            i -= 1
        i -= 1      # the caller of our own code
        if i < 0 or state.stack[i].flags & F_SKIP:
            return NULL
        return &state.stack[i]

    def add_func_args(self, key, value):
        """Attach ``key: value`` to the args of the innermost recorded call of the calling
        thread that called into viztracer."""
        cdef Frame* f = self.caller_frame()
        if f == NULL:
            return
        if f.args == NULL:
            d = {}
            incref(<PyObject*>d)
            f.args = <PyObject*>d
        (<dict>f.args)[key] = value

    def get_func_args(self):
        """The args attached so far to that call (a dict it keeps), or None."""
        cdef Frame* f = self.caller_frame()
        if f == NULL or f.args == NULL:
            return None
        return <object>f.args

    # -- for the exporters --------------------------------------------------------------------

    def ring_capsule(self):
        """A capsule around the ring, read by ``viztracer._export``."""
        return PyCapsule_New(<void*>&self.cfg.ring, b"viztracer.ring", NULL)

    def clock(self):
        """``(t0_ticks, t0_ns, ns_per_tick)``: ring time ``t`` is ``t0_ns + (t - t0_ticks) *
        ns_per_tick`` nanoseconds of CLOCK_MONOTONIC."""
        cdef int64_t t1, n1
        if not USE_TSC:
            return 0, 0, 1.0
        if self.cfg.active or self.cfg.t1_ticks <= self.cfg.t0_ticks:
            read_pair(&t1, &n1)
        else:
            t1, n1 = self.cfg.t1_ticks, self.cfg.t1_ns
        if t1 - self.cfg.t0_ticks < 20000000:     # too short to measure the rate well
            return self.cfg.t0_ticks, self.cfg.t0_ns, nominal_ns_per_tick()
        return self.cfg.t0_ticks, self.cfg.t0_ns, <double>(n1 - self.cfg.t0_ns) / <double>(t1 - self.cfg.t0_ticks)

    def thread_table(self):
        """``[native thread id, name]`` for every thread slot referenced by the ring."""
        return [list(t) for t in self.threads]

    def entry_count(self):
        """The number of entries the ring holds."""
        if self.cfg.ring.streaming:
            return self.cfg.ring.written - self.cfg.ring.flushed
        return min(self.cfg.ring.written, self.cfg.ring.capacity)

    def overflowed(self):
        """Whether older entries were overwritten (never while streaming)."""
        return not self.cfg.ring.streaming and self.cfg.ring.written > self.cfg.ring.capacity

    def dropped(self):
        """How many entries were overwritten or refused."""
        w = self.cfg.ring.written
        overwritten = w - self.cfg.ring.capacity if self.overflowed() else 0
        return overwritten + self.cfg.ring.refused

    @property
    def active(self):
        return bool(self.cfg.active)

    @property
    def failed(self):
        """Whether the hook ran out of memory and stopped tracing by itself."""
        return bool(self.cfg.failed)


def type_name(tp):
    """A type's name as CPython spells it: ``collections.deque``, ``set``, ``MyClass``."""
    if tp.__module__ == "builtins":
        return tp.__qualname__
    return f"{tp.__module__}.{tp.__qualname__}"


def c_function_name(func):
    """``module.func`` for module functions, ``type.method`` for methods."""
    owner = getattr(func, "__self__", None)
    if owner is None or isinstance(owner, type(sys)):
        module = getattr(func, "__module__", None) or getattr(owner, "__name__", None) or "builtins"
        return f"{module}.{func.__name__}"
    return f"{type_name(owner if isinstance(owner, type) else type(owner))}.{func.__name__}"


NOT_DISPLAYABLE = "Not Displayable"    # what VizTracer 1.x writes for a repr that raises


cdef unsigned short scope_letter(scope) except 0:
    """The letter of an instant's scope, kept in its entry; ValueError for any other scope."""
    if type(scope) is str and len(<str>scope) == 1 and (<str>scope) in "gpt":
        return <unsigned short>ord(<str>scope)
    raise ValueError(f"scope must be one of 'g', 'p' or 't', got {scope!r}")


cpdef dict counter_sample(str name, dict values):
    """A copy of a counter's values to record, bools as 0/1; ValueError for a value that is
    not a number."""
    cdef dict sample = {}
    for key, value in values.items():
        if type(value) is bool:
            value = int(value)
        elif not isinstance(value, (int, float)):
            raise ValueError(f"counter {name!r}: the value of {key!r} must be a number, "
                             f"got {type(value).__name__} {safe_repr(value):.60}")
        sample[key] = value
    return sample


def safe_repr(obj):
    """``repr(obj)``, or ``Not Displayable`` when ``__repr__`` raises."""
    try:
        return repr(obj)
    except BaseException:      # a user's __repr__ may raise anything
        return NOT_DISPLAYABLE
