"""Durations written by people (``0.2ms``, ``300ns``, ``5.5us``, ``1s``) turned into microseconds.

``viztracer --min_duration`` takes such a string; ``VizTracer(min_duration=...)`` takes the
number of microseconds it stands for.
"""
from __future__ import annotations

import re

# Microseconds in one of each unit. A bare number means microseconds.
_UNIT_US = {"ns": 1e-3, "us": 1.0, "µs": 1.0, "ms": 1e3, "s": 1e6}

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ns|us|µs|ms|s)?")

DURATION_FORMAT_HELP = "a number with an optional unit ns, us, ms or s, e.g. 300ns, 5.5us, 0.2ms, 1s"


def parse_duration_us(text: str) -> float:
    """Return the duration ``text`` stands for, in microseconds.

    Raises ValueError (with a one-line message) when ``text`` is not a non-negative number
    followed by an optional unit.
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"can't read {text!r} as a duration; use {DURATION_FORMAT_HELP}")
    return float(match["value"]) * _UNIT_US[match["unit"] or "us"]
