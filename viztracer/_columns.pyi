"""Type stub for the viewer's compiled loops (pyx/columns.pyx)."""
from array import array
from typing import Any

def scan_events(events: list[Any]) -> tuple[array, array, array, array, array, list[str],
                                             list[tuple[Any, Any]], list[Any], list[Any],
                                             float | None, float | None]: ...
def layout_slices(ts: array, dur: array, track: array, ntracks: int,
                  t0: float) -> tuple[array, array, array, array, array, array]: ...
def take(values: array, order: array) -> array: ...
