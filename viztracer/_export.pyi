"""Type stub for the compiled Chrome JSON encoder (pyx/export.pyx)."""
from collections.abc import Callable

from .recording import Recording

def write_chrome_events(recording: Recording,
                        write: Callable[[bytes], object]) -> tuple[int, list[tuple[str, str, int]]]: ...
def stream_chrome_part(recording: Recording, fd: int) -> tuple[int, list[tuple[str, str, int]]]: ...
