"""Type stub for the compiled encoders (pyx/export.pyx)."""
from collections.abc import Callable

from ._tracer import Tracer

def write_chrome_events(tracer: Tracer, write: Callable[[bytes], object],
                        pid: int) -> tuple[int, list[tuple[str, str, int]]]: ...
