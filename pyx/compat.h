/* Small C helpers for the Cython core: the clocks, the code-object extra slot API (whose names
   changed in CPython 3.12 to PyUnstable_*, the 3.11 names still work), and ring allocation. */
#ifndef VIZTRACER_COMPAT_H
#define VIZTRACER_COMPAT_H
#include <Python.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define VT_HAVE_TSC 1
#else
#define VT_HAVE_TSC 0
#endif

#if PY_VERSION_HEX >= 0x030C0000
#define VT_RequestCodeExtraIndex(f) PyUnstable_Eval_RequestCodeExtraIndex(f)
#define VT_CodeGetExtra(c, i, p) PyUnstable_Code_GetExtra((c), (i), (p))
#define VT_CodeSetExtra(c, i, v) PyUnstable_Code_SetExtra((c), (i), (v))
#else
#define VT_RequestCodeExtraIndex(f) _PyEval_RequestCodeExtraIndex(f)
#define VT_CodeGetExtra(c, i, p) _PyCode_GetExtra((c), (i), (p))
#define VT_CodeSetExtra(c, i, v) _PyCode_SetExtra((c), (i), (v))
#endif

/* log_async: whether the weak reference ``ref`` still points to ``obj`` (a task's address may be
   reused once it is freed). 3.13 deprecates the borrowed getter for PyWeakref_GetRef. */
static inline int vt_weakref_is(PyObject *ref, PyObject *obj) {
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *target = NULL;
    if (PyWeakref_GetRef(ref, &target) < 0) {
        PyErr_Clear();
        return 0;
    }
    Py_XDECREF(target);
    return target == obj;
#else
    return PyWeakref_GET_OBJECT(ref) == obj;
#endif
}

/* CLOCK_MONOTONIC: the clock of time.monotonic_ns(), shared by every process on the host, so
   reports from several processes line up. Every timestamp in a report is on this clock. */
static inline int64_t vt_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* The hook's clock. Reading the TSC costs a fraction of clock_gettime() (measured here: the
   vDSO call was 30% of the traced time of a call-heavy program), so when the kernel itself
   keeps time with the TSC (an invariant, synchronised counter) the ring stores TSC ticks and
   the exporter maps them onto CLOCK_MONOTONIC with two (ticks, ns) pairs read at start and at
   the end. Otherwise ticks are CLOCK_MONOTONIC nanoseconds. */
static int vt_use_tsc = 0;

static inline int64_t vt_ticks(void) {
#if VT_HAVE_TSC
    if (vt_use_tsc) return (int64_t)__rdtsc();
#endif
    return vt_now_ns();
}

static inline int vt_set_use_tsc(int on) {
    vt_use_tsc = VT_HAVE_TSC && on;
    return vt_use_tsc;
}

/* The thread slot of the calling thread in the tracer that last asked (by the tracer's serial
   number): a custom event finds its thread without a system call and a dict lookup. A forked
   child's thread is another thread: the cache is emptied there. */
static __thread uint64_t vt_tls_tracer = 0;
static __thread uint32_t vt_tls_slot = 0;

static void vt_forget_thread_slot(void) { vt_tls_tracer = 0; }

static inline int vt_cached_slot(uint64_t tracer, uint32_t *slot) {
    if (vt_tls_tracer != tracer) return 0;
    *slot = vt_tls_slot;
    return 1;
}

static inline void vt_cache_slot(uint64_t tracer, uint32_t slot) {
    vt_tls_tracer = tracer;
    vt_tls_slot = slot;
}

/* sys.monitoring (3.12+) calls one callback for every thread: each finds its shadow stack
   (a ThreadState, borrowed: the tracer's dict of states owns it) here. ``epoch`` names the
   monitoring session the pointer belongs to; a pointer of another session is never read.
   Initial-exec: a plain fs-relative load, where the default model calls __tls_get_addr. */
static __thread __attribute__((tls_model("initial-exec"))) uint64_t vt_tls_mon_epoch = 0;
static __thread __attribute__((tls_model("initial-exec"))) void *vt_tls_mon_state = NULL;

static inline void *vt_mon_state(uint64_t epoch) {
    return vt_tls_mon_epoch == epoch ? vt_tls_mon_state : NULL;
}

static inline void vt_set_mon_state(uint64_t epoch, void *state) {
    vt_tls_mon_epoch = epoch;
    vt_tls_mon_state = state;
}

static int vt_init_fork_handler(void) {
    return pthread_atfork(NULL, NULL, vt_forget_thread_slot);
}

/* A zeroed block for the ring, its pages faulted in up front so that page faults are paid when
   the tracer is created, not while it records (faulting pages in while recording doubled the
   time of a traced run here). On small pages: a huge page costs a compaction the first time a
   process takes one (the ring of 1,000,000 entries took 130 to 440 ms to create on huge pages
   on the test machines, 15 ms on small ones, populated by the kernel in one go), and a forked
   child, which records from the start of the ring again, copies a whole huge page on its first
   write. The ring is written in order, so small pages cost a TLB miss every 128 entries. */
static size_t vt_ring_bytes(size_t bytes) {
    const size_t page = 4096;
    return (bytes + page - 1) / page * page;
}
static void *vt_alloc_ring(size_t bytes) {
    size_t rounded = vt_ring_bytes(bytes);
#ifdef MAP_POPULATE
    void *p = mmap(NULL, rounded, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) return NULL;
#else
    void *p = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    memset(p, 0, rounded);
#endif
    return p;
}
static void vt_free_ring(void *p, size_t bytes) {
    if (p != NULL) munmap(p, vt_ring_bytes(bytes));
}
#endif
