"""The file a streamed report (``--stream``) is appended to, for both formats' ``Stream``.

Unbuffered: what a write returns from is the system's, so a kill cannot lose it, and the
compiled encoders write to its descriptor themselves, without the GIL. The report's closing
(the JSON tail, the Perfetto metadata packet) is written last and cut off again when the
tracer starts again, so the file is complete after every ``stop()`` and goes on after it.
"""
from __future__ import annotations

# A stream's name table lives from part to part, so that each name is resolved once (with the
# GIL, which the program then waits for). It keeps the objects it names alive, so that no
# address is reused for another; past this many names it is started afresh.
NAMES_KEPT = 1 << 16


class StreamFile:
    """An appended report file whose closing can be taken back."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "wb", buffering=0)
        self.closing_at: int | None = None      # where the closing starts, once written

    def fileno(self) -> int:
        return self.file.fileno()

    def write(self, data: bytes) -> None:
        """Write all of ``data`` (an unbuffered write may take only part of it)."""
        view = memoryview(data)
        while view:
            view = view[self.file.write(view):]

    def going_on(self) -> None:
        """More is written after a closing (the tracer started again): cut the closing off."""
        if self.closing_at is not None:
            self.file.seek(self.closing_at)
            self.file.truncate()
            self.closing_at = None

    def closing(self) -> None:
        """What is written from here on closes the report (``going_on`` takes it back)."""
        self.going_on()
        self.closing_at = self.file.tell()

    def close(self) -> None:
        self.file.close()
