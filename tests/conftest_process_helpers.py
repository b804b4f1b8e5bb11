"""Helpers for the tests of child processes: who is in a report, and what each process called."""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from viztracer.report.loader import load_report


class Processes:
    """A report seen process by process: names, labels, and the calls of each."""

    def __init__(self, path: Path | str) -> None:
        self.report = load_report(str(path))
        self.names: dict[int, str] = {}
        self.labels: dict[int, str] = {}
        self.calls: dict[int, Counter[str]] = defaultdict(Counter)
        self.threads: dict[int, set[int]] = defaultdict(set)
        for e in self.report["traceEvents"]:
            if e.get("ph") == "M" and e.get("name") == "process_name":
                self.names[e["pid"]] = e["args"]["name"]
            elif e.get("ph") == "M" and e.get("name") == "process_labels":
                self.labels[e["pid"]] = e["args"]["labels"]
            elif e.get("ph") == "X":
                self.calls[e["pid"]][e["name"].split(" (")[0]] += 1
                self.threads[e["pid"]].add(e["tid"])

    @property
    def metadata(self) -> dict[str, Any]:
        return self.report["viztracer_metadata"]

    def pid_named(self, name: str) -> int:
        found = [pid for pid, n in self.names.items() if n == name]
        assert len(found) == 1, f"{name!r}: {found} in {self.names}"
        return found[0]

    def calls_of(self, name: str) -> Counter[str]:
        return self.calls[self.pid_named(name)]

    def total(self, function: str) -> int:
        return sum(c[function] for c in self.calls.values())

    def who_called(self, function: str) -> dict[str, int]:
        """Process name -> how many calls of ``function`` it made."""
        return {self.names[pid]: c[function] for pid, c in self.calls.items() if c[function]}

    def states(self) -> dict[str, str]:
        """Child name -> its state in the metadata (complete, cut short, lost)."""
        return {c["name"]: c["state"] for c in self.metadata.get("child_processes", [])}
