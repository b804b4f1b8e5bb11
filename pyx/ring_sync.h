/* How the hook and a streaming writer share the ring (pyx/ring.pxd) across threads: the
   semaphore the writer sleeps on, and the ordered loads and stores that let the writer go from
   part to part without the GIL, and how the writer drops the references it took from the ring.
   Static inline: every module that cimports ring.pxd gets them. */
#ifndef VIZTRACER_RING_SYNC_H
#define VIZTRACER_RING_SYNC_H
#include <Python.h>
#include <errno.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* The semaphore a streaming writer sleeps on and the hook posts when a part of the ring has
   filled: sem_post is a cheap atomic operation that needs neither the GIL nor a Python call. */
static inline void *vt_sem_new(void) {
    sem_t *s = (sem_t *)malloc(sizeof(sem_t));
    if (s != NULL && sem_init(s, 0, 0) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static inline void vt_sem_free(void *s) {
    if (s != NULL) {
        sem_destroy((sem_t *)s);
        free(s);
    }
}

static inline void vt_sem_post(void *s) {
    if (s != NULL) sem_post((sem_t *)s);
}

/* Wait until posted or ``timeout_ns`` has passed; 1 when posted. Called without the GIL. Every
   pending post is taken at once: the writer drains the whole ring whatever woke it. */
static inline int vt_sem_wait(void *s, int64_t timeout_ns) {
    struct timespec t;
    if (s == NULL) return 0;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += timeout_ns / 1000000000LL;
    t.tv_nsec += timeout_ns % 1000000000LL;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec += 1;
        t.tv_nsec -= 1000000000L;
    }
    while (sem_timedwait((sem_t *)s, &t) != 0) {
        if (errno != EINTR) return 0;
    }
    while (sem_trywait((sem_t *)s) == 0) {}
    return 1;
}

/* The writer reads what the hook counted (acquire) and hands back slots (release); the hook
   fences before counting an entry, so the entries it counted before are whole when seen. On
   x86 these are plain moves: only the compiler is kept from reordering. */
static inline uint64_t vt_load_acquire(const uint64_t *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void vt_store_release(uint64_t *p, uint64_t v) {
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

static inline int vt_load_flag(const int *p) {
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static inline void vt_release_fence(void) {
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* A store before it is seen by other threads before a load after it (x86 reorders those):
   the writer's handing back of slots and the stop's limit on the writer (ring.pxd). */
static inline void vt_full_fence(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* Drop n references to o at once (a streaming writer drops a part's references by object,
   thousands of the same code object: one by one they kept the program waiting for the GIL).
   When more are left than dropped none of them is the last, so the count is lowered in one
   step; immortal objects (3.12+) are never counted; else one by one, the last may free it. */
static inline void vt_decref_n(PyObject *o, uint64_t n) {
#if PY_VERSION_HEX >= 0x030C0000
    if (_Py_IsImmortal(o)) return;
#endif
    if ((uint64_t)Py_REFCNT(o) > n) {
        Py_SET_REFCNT(o, Py_REFCNT(o) - (Py_ssize_t)n);
        return;
    }
    while (n-- > 0) Py_DECREF(o);
}

#endif
