"""The JSON writer's numbers: times in microseconds, written by hand without a float."""
from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from viztracer._export import us_text

EDGES = [0, 1, 9, 10, 99, 100, 101, 110, 999, 1000, 1001, 1010, 1100, 9999, 10000, 99999999,
         100000000, 99999999999, 100000000000, 100000000001, 123456789012, 1234567890123456,
         10 ** 17, 10 ** 18 + 7, 2 ** 63 - 1]


def spelled_right(ns: int) -> bool:
    text = us_text(ns).decode()
    # a JSON number: no leading zeros, a fraction only when there is one, without trailing zeros
    shape = re.fullmatch(r"-?(0|[1-9][0-9]*)(\.[0-9]{0,2}[1-9])?", text)
    return shape is not None and Decimal(text) * 1000 == ns


@pytest.mark.parametrize("ns", EDGES + [-n for n in EDGES[1:]] + [-2 ** 63 + 1])
def test_microseconds_are_exact_at_the_edges(ns):
    assert spelled_right(ns), us_text(ns)


def test_microseconds_are_exact_for_random_times():
    rng = random.Random(12)
    for digits in range(1, 19):
        for _ in range(300):
            ns = rng.randrange(10 ** (digits - 1), 10 ** digits)
            assert spelled_right(ns), (ns, us_text(ns))
            assert spelled_right(-ns), (-ns, us_text(-ns))


def test_the_usual_spellings():
    assert [us_text(n) for n in (1234567, 1234500, 1234000, 5, 50, 0, -1500)] == \
        [b"1234.567", b"1234.5", b"1234", b"0.005", b"0.05", b"0", b"-1.5"]
