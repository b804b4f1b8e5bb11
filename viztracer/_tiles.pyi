"""Type stub for the viewer's level-of-detail loop (pyx/tiles.pyx)."""
from array import array
from typing import Any

def merge_level(start: Any, dur: Any, name: Any, count: Any, first: Any, weight: Any, rows: Any,
                width: float, nnames: int,
                raw: bool) -> tuple[array, array, array, array, array, array, array]: ...
