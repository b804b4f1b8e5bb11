"""Ctrl+C and SIGTERM while the viewer serves.

Python turns Ctrl+C into KeyboardInterrupt wherever the main thread happens to be, including
inside threading's own lock handling (``Thread.start``, ``Event.wait``, ``server.shutdown``),
where it leaves a broken lock and a traceback instead of a clean exit. So while threads run,
``StopSignals`` makes both signals only set a flag that the main loop polls; once one has come,
further ones are ignored until the process ends.
"""
from __future__ import annotations

import signal
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """A context in which SIGINT and SIGTERM set ``received`` instead of raising."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum

    def __enter__(self) -> StopSignals:
        try:
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handler)
        except ValueError:  # not the main thread: signals are not ours to handle
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._previous.items():
            # After a stop signal the process is on its way out: a second Ctrl+C must not
            # interrupt the clean-up (threads being joined) with a KeyboardInterrupt.
            signal.signal(sig, signal.SIG_IGN if self.received is not None else previous)
