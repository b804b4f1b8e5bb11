"""Type stub for the compiled Chrome JSON encoder (pyx/export.pyx)."""
from collections.abc import Callable

from .recording import Recording

def us_text(ns: int) -> bytes: ...
def write_chrome_events(recording: Recording,
                        write: Callable[[bytes], object]) -> tuple[int, list[tuple[str, str, int]]]: ...
class NameTable:
    used: int
    functions: list[tuple[str, str, int]]

class Scratch: ...

def stream_chrome_part(recording: Recording, fd: int, names: NameTable, scratch: Scratch,
                       more_parts: int = 0, wait_ns: int = 0) -> int: ...
def encode_chrome_span(recording: Recording, names: NameTable, scratch: Scratch) -> bytes: ...
