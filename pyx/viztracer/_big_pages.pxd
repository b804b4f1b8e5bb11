# Huge pages for the viewer's big arrays (columns of millions of slices, hundreds of MB each
# conversion). Fresh memory is faulted in page by page as it is first written: in 4 KB pages
# that is a kernel entry per page, which took a third of the time of laying out 10 million
# slices on a VM; in 2 MB pages it is one per 512. Only a hint (MADV_HUGEPAGE, which Linux
# honours when transparent huge pages are "madvise" or "always"), and a no-op elsewhere.
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

from cpython cimport array


cdef inline void huge_array(array.array a) noexcept:
    """``huge_pages`` over the buffer of ``a`` (before it is written)."""
    huge_pages(a.data.as_voidptr, <size_t>len(a) * a.ob_descr.itemsize)
