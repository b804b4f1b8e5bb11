# Huge pages for the viewer's big arrays (columns of millions of slices, hundreds of MB each
# conversion). Fresh memory is faulted in page by page as it is first written: in 4 KB pages
# that is a kernel entry per page, which took a third of the time of laying out 10 million
# slices on a VM; in 2 MB pages it is one per 512. Only a hint (MADV_HUGEPAGE, which Linux
# honours when transparent huge pages are "madvise" or "always"), and a no-op elsewhere.
from libc.stdint cimport uintptr_t


cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    static inline void vt_huge_pages(void *p, size_t n) {
    #if defined(__linux__) && defined(MADV_HUGEPAGE)
        uintptr_t a = ((uintptr_t)p + 0x1FFFFF) & ~(uintptr_t)0x1FFFFF;
        uintptr_t b = ((uintptr_t)p + n) & ~(uintptr_t)0x1FFFFF;
        if (b > a)
            madvise((void *)a, b - a, MADV_HUGEPAGE);
    #else
        (void)p; (void)n;
    #endif
    }
    """
    void huge_pages "vt_huge_pages"(void* p, size_t n) noexcept nogil


# Handing back the pages of a big input as a pass reads it, so that what the pass writes is
# faulted in as the input goes (the viewer's layout of 100M slices read 3.5 GB of columns to
# write as much). Only whole pages inside what was read go, in steps of 2 MB (a huge page, and
# few calls); MADV_DONTNEED leaves the mapping, so the allocator frees the buffer as usual
# later, and a page read again reads zeros: for inputs nothing reads after the pass.
cdef extern from *:
    """
    #include <stdint.h>
    #if defined(__linux__)
    #include <sys/mman.h>
    #endif
    static inline uintptr_t vt_release_start(const void *base) {
        return ((uintptr_t)base + 0x1FFFFF) & ~(uintptr_t)0x1FFFFF;
    }
    static inline uintptr_t vt_release_read(const void *base, size_t done, uintptr_t upto) {
    #if defined(__linux__) && defined(MADV_DONTNEED)
        uintptr_t b = ((uintptr_t)base + done) & ~(uintptr_t)0x1FFFFF;
        if (base != NULL && b > upto) {
            madvise((void *)upto, b - upto, MADV_DONTNEED);
            return b;
        }
    #else
        (void)base; (void)done;
    #endif
        return upto;
    }
    """
    uintptr_t release_start "vt_release_start"(const void* base) noexcept nogil
    uintptr_t release_read "vt_release_read"(const void* base, size_t done, uintptr_t upto) noexcept nogil

# how often a pass offers what it read (a mask of the index: every 64K values)
cdef enum:
    RELEASE_EVERY = 0xFFFF

from cpython cimport array


cdef inline void huge_array(array.array a) noexcept:
    """``huge_pages`` over the buffer of ``a`` (before it is written)."""
    huge_pages(a.data.as_voidptr, <size_t>len(a) * a.ob_descr.itemsize)
