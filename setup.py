"""Builds the compiled core only; everything else lives in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

COMPILER_DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}

extensions = [
    # the hook's helpers (push, pop, ring_next...) are small "cdef inline" functions: inlined
    # always, not when the compiler's size estimate allows (measured: 2% fewer instructions a call)
    Extension("viztracer._tracer", ["pyx/tracer.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"],
              define_macros=[("CYTHON_INLINE", "inline __attribute__((always_inline))")]),
    # the Chrome JSON encoder, and the buffer and name table the Perfetto writer cimports
    # (pyx/viztracer/_export.pxd)
    Extension("viztracer._export", ["pyx/export.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"]),
    # zlib: a streamed .pftrace is deflated by the writer thread without the GIL
    Extension("viztracer._perfetto", ["pyx/perfetto.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"],
              libraries=["z"]),
    Extension("viztracer._events", ["pyx/events.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"]),
    # the slice columns the three scanners below fill (cimported: pyx/viztracer/_slice_columns.pxd)
    Extension("viztracer._slice_columns", ["pyx/slice_columns.pyx"], include_dirs=["pyx"],
              extra_compile_args=["-O2"]),
    Extension("viztracer._columns", ["pyx/columns.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"]),
    # the layout of a .pftrace's calls, nested as the file says, written straight into the blob
    Extension("viztracer._nested_layout", ["pyx/nested_layout.pyx"], include_dirs=["pyx"],
              extra_compile_args=["-O2"]),
    # zlib: the deflated chunks of a .pftrace are inflated ahead of the scan by a thread of its own
    Extension("viztracer._pftrace_scan", ["pyx/pftrace_scan.pyx"], include_dirs=["pyx"],
              extra_compile_args=["-O2"], libraries=["z"]),
    Extension("viztracer._json_scan", ["pyx/json_scan.pyx"], include_dirs=["pyx"],
              extra_compile_args=["-O2"]),
    # the viewer's level-of-detail boxes (viztracer/viewer/tiles.py holds the rest)
    Extension("viztracer._tiles", ["pyx/tiles.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"]),
    # the viewer's queries over a tiled trace: search, range statistics, flame graph
    Extension("viztracer._query", ["pyx/query.pyx"], include_dirs=["pyx"], extra_compile_args=["-O2"]),
    # the .cvf writer's pass over the events (report/cvf.py holds the format)
    Extension("viztracer._cvf_split", ["pyx/cvf_split.pyx"], include_dirs=["pyx"],
              extra_compile_args=["-O2"]),
]

setup(ext_modules=cythonize(extensions, compiler_directives=COMPILER_DIRECTIVES, include_path=["pyx"]))
