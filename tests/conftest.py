"""Shared fixtures: a guard against leaked profile hooks, and helpers to trace and load."""
from __future__ import annotations

import gzip
import json
import os
import sys
import threading

import pytest
from conftest_browser import *  # noqa: F401,F403 - the session's browser fixture


@pytest.fixture(autouse=True)
def no_leaked_profile_hook():
    """Fail any test that leaves a profile hook installed in this thread."""
    yield
    leaked = sys.getprofile()
    if leaked is not None:
        sys.setprofile(None)
        threading.setprofile(None)
        pytest.fail(f"test left a profile hook installed: {leaked!r}")


@pytest.fixture(autouse=True, scope="session")
def viewer_cache_in_tmp(tmp_path_factory):
    """vizviewer's conversion cache (and any viewer a test starts) in a temporary directory,
    never the user's: the keys hold each report's real path, so tests never share an entry."""
    os.environ["VIZVIEWER_CACHE_DIR"] = str(tmp_path_factory.mktemp("vizviewer-cache"))


def load_report(path) -> dict:
    """A report file (.json or .json.gz) as a dict."""
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def calls(report: dict, ph: str = "X") -> list[dict]:
    """The events of one phase, function calls (``X``) by default."""
    return [e for e in report["traceEvents"] if e["ph"] == ph]


def names(report: dict, ph: str = "X") -> list[str]:
    return [e["name"] for e in calls(report, ph)]


def assert_same_events(a: dict, b: dict) -> None:
    """The two reports hold the same events, in any order: equal but for timestamps and
    durations, which agree within 1 ns (a .pftrace maps each slice's end from the clock, the
    JSON writes its duration, each rounded on its own)."""
    def normalised(report: dict) -> list:
        events = []
        for e in report["traceEvents"]:
            e = dict(e)
            times = tuple(round(float(e.pop(key)) * 1000) for key in ("ts", "dur") if key in e)
            events.append((json.dumps(e, sort_keys=True), times))
        return sorted(events)

    left, right = normalised(a), normalised(b)
    assert [j for j, _ in left] == [j for j, _ in right]
    for (j, ta), (_, tb) in zip(left, right, strict=True):
        assert all(abs(x - y) <= 1 for x, y in zip(ta, tb, strict=True)), (j, ta, tb)


@pytest.fixture
def trace(tmp_path):
    """``trace(func, **options)`` runs ``func`` under a VizTracer and returns the saved report."""
    from viztracer import VizTracer

    def run(func, *, output="result.json", **options):
        options.setdefault("verbose", 0)
        tracer = VizTracer(**options)
        tracer.start()
        try:
            func()
        finally:
            tracer.stop()
        out = tmp_path / output
        tracer.save(str(out))
        return load_report(out)

    return run
