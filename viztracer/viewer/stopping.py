"""Ctrl+C and SIGTERM while the viewer stops.

The first Ctrl+C (or SIGTERM) starts a clean stop; a second one arriving while threads are
joined would be raised inside threading's own lock handling and leave a traceback instead of
a clean exit, so once stopping has begun both are ignored.
"""
from __future__ import annotations

import signal


def ignore_further_interrupts() -> None:
    """Ignore SIGINT and SIGTERM from now on (only possible in the main thread)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, signal.SIG_IGN)
        except ValueError:  # not the main thread: signals are not delivered here anyway
            return
