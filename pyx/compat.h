/* Small C helpers for the Cython core: the clock and the code-object extra slot API,
   whose names changed in CPython 3.12 (PyUnstable_*) while the 3.11 names still work. */
#ifndef VIZTRACER_COMPAT_H
#define VIZTRACER_COMPAT_H
#include <Python.h>
#include <stdint.h>
#include <time.h>

#if PY_VERSION_HEX >= 0x030C0000
#define VT_RequestCodeExtraIndex(f) PyUnstable_Eval_RequestCodeExtraIndex(f)
#define VT_CodeGetExtra(c, i, p) PyUnstable_Code_GetExtra((c), (i), (p))
#define VT_CodeSetExtra(c, i, v) PyUnstable_Code_SetExtra((c), (i), (v))
#else
#define VT_RequestCodeExtraIndex(f) _PyEval_RequestCodeExtraIndex(f)
#define VT_CodeGetExtra(c, i, p) _PyCode_GetExtra((c), (i), (p))
#define VT_CodeSetExtra(c, i, v) _PyCode_SetExtra((c), (i), (v))
#endif

/* CLOCK_MONOTONIC: served from the vDSO, the clock of time.monotonic_ns(), and shared by
   every process on the host, so reports from several processes line up. */
static inline int64_t vt_now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}
#endif
