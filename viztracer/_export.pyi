"""Type stub for the compiled encoders (pyx/export.pyx)."""
from collections.abc import Callable

from ._tracer import Tracer

def write_chrome_events(tracer: Tracer, write: Callable[[bytes], object],
                        pid: int, sanitize: bool = False) -> tuple[int, list[tuple[str, str, int]]]: ...

def write_perfetto(tracer: Tracer, write: Callable[[bytes], object], pid: int, process_name: str,
                   metadata_for: Callable[[list[tuple[str, str, int]], dict[str, list[str]]], dict],
                   compress: bool = True) -> int: ...
def write_perfetto_report(report: dict, write: Callable[[bytes], object], compress: bool = True) -> int: ...
