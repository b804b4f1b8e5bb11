"""Type stub for the .cvf writer's pass over the events (pyx/cvf_split.pyx)."""
from typing import Any

def split(events: list[Any]) -> tuple[list[tuple[Any, Any, str | None]], list[int], list[int], list[Any],
                                      list[str], list[int], list[int], list[int], list[int], list[int],
                                      list[Any]]: ...
def pack(values: list[int]) -> tuple[str, list[list[int]], bytes]: ...
