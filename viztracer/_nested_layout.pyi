"""Type stub for the nested layout (pyx/nested_layout.pyx)."""
from array import array
from collections.abc import Callable

class Nesting:
    rows: array
    first_start: list[float | None]
    @property
    def count(self) -> int: ...
    def place_into(self, blob: bytes, start: int, dur: int, name: int, track: int, depth: int,
                   parent: int, args: int, release: bool = False,
                   done: Callable[[int], object] | None = None) -> None: ...

def nest(ts: array, dur: array, name: array, track: array, args: array, depth: array,
         ntracks: int, t0: float) -> Nesting | None: ...
def layout_nested(ts: array, dur: array, name: array, track: array, args: array, depth: array,
                  ntracks: int, t0: float
                  ) -> tuple[array, array, array, array, array, array, array, array] | None: ...
