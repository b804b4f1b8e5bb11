"""Type stub for the compiled .pftrace scanner (pyx/pftrace_scan.pyx)."""
from array import array
from typing import Any

class Unsupported(Exception): ...

def read_metadata(data: bytes) -> dict[str, Any] | None: ...
def scan_pftrace(data: bytes) -> tuple[tuple[array, array, array, array, array, list[str],
                                             list[tuple[Any, Any]], list[Any], list[Any],
                                             float | None, float | None], dict[str, Any]]: ...
