"""Type stub for the compiled JSON report scanner (pyx/json_scan.pyx)."""
from array import array
from typing import Any

class Unsupported(Exception): ...

def scan_json(data: bytes) -> tuple[tuple[array, array, array, array, array, list[Any],
                                          list[tuple[Any, Any]], list[Any], list[Any],
                                          float | None, float | None], dict[str, Any]]: ...
def has_digit_run(data: bytes, length: int = 19) -> bool: ...
