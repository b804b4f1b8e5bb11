"""The seam between the recorder and the report writers: what one tracing session recorded.

``VizTracer.recording()`` hands the writers this plain value, as pyinstrument's ``Session``
sits between its profiler and its renderers: a writer reads the ring's entries, the thread
table, the clock mapping and the metadata from it, and never sees the tracer. With ``--stream`` the
recorder hands a writer one such value per part of the ring it drains, each with its ``span``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recording:
    """A tracing session's data, for a writer (``viztracer.report``)."""

    ring: Any                           # capsule around the ring of entries (read by _export)
    threads: list[tuple[int, str]]      # per thread slot of the entries: native id, name
    clock: tuple[int, int, float]       # (t0_ticks, t0_ns, ns_per_tick): ring ticks -> CLOCK_MONOTONIC ns
    metadata: dict[str, Any]            # the report's viztracer_metadata
    pid: int
    process_name: str = "MainProcess"
    sanitize_names: bool = False        # lone surrogates in names become U+FFFD
    span: tuple[int, int] | None = None     # streaming: the entries numbered first to end only
    owner: Any = field(default=None, repr=False, compare=False)   # keeps the ring's memory alive
