"""``--min_duration`` values: a number and an optional unit, to microseconds."""
from __future__ import annotations

import pytest

from viztracer.timeparse import parse_duration_us


@pytest.mark.parametrize(("text", "us"), [
    ("0.2ms", 200.0), ("300ns", 0.3), ("5.5us", 5.5), ("1s", 1e6), ("0.5", 0.5), ("13", 13.0),
    (".2ms", 200.0), ("2.ms", 2000.0), ("0", 0.0), (" 3 ms ", 3000.0), ("1MS", 1000.0), ("7µs", 7.0),
])
def test_durations(text, us):
    assert parse_duration_us(text) == pytest.approx(us)


@pytest.mark.parametrize("text", ["0.0.3s", "abc", "", "ms", "-1ms", "3h", "1e3", "1 m s", "0.2msx"])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="can't read .* as a duration") as info:
        parse_duration_us(text)
    assert "\n" not in str(info.value)
