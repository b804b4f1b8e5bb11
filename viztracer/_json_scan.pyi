"""Type stub for the compiled JSON report scanner (pyx/json_scan.pyx)."""
from array import array
from typing import Any

from ._slice_columns import Progress

class Unsupported(Exception): ...
class Truncated(Unsupported): ...

_Scanned = tuple[array, array, array, array, array, list[Any], list[tuple[Any, Any]], list[Any], list[Any],
                 float | None, float | None]

def scan_json(data: bytes, progress: Progress | None = None) -> tuple[_Scanned, dict[str, Any]]: ...
def has_digit_run(data: bytes) -> bool: ...
