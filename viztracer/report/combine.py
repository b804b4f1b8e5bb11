"""Put several reports together (``viztracer --combine``), or convert one to another format.

Every input goes through :func:`load_report`, so ``.json``, ``.json.gz`` and ``.pftrace`` mix
freely; the output format is chosen by the output file's extension like any report's. Timestamps
are monotonic-clock times, comparable between processes of one machine, so reports of the
processes of one run line up as they are. ``align=True`` (``--align_combine``) instead shifts
each report so that it starts at 0, or, when every report has a sync marker
(``VizTracer.set_sync_marker()``, kept in ``viztracer_metadata``), so that the markers are at 0:
for comparing separate runs side by side.
"""
from __future__ import annotations

from typing import Any

from ..version import __version__
from .loader import load_report


def _start(events: list[dict]) -> float | None:
    times = [e["ts"] for e in events if isinstance(e.get("ts"), (int, float)) and e.get("ph") != "M"]
    return min(times) if times else None


def _sync_marker(report: dict) -> float | None:
    metadata = report.get("viztracer_metadata")
    marker = metadata.get("sync_marker") if isinstance(metadata, dict) else None
    return marker if isinstance(marker, (int, float)) and not isinstance(marker, bool) else None


def _merge_metadata(metadatas: list[dict]) -> dict[str, Any]:
    merged: dict[str, Any] = {"version": __version__, "overflow": False}
    for m in metadatas:
        merged["overflow"] = merged["overflow"] or bool(m.get("overflow"))
        if m.get("dropped_entries"):
            merged["dropped_entries"] = merged.get("dropped_entries", 0) + m["dropped_entries"]
        if m.get("cut_short"):  # a report read from a file cut short: the result misses its end too
            merged["cut_short"] = True
    merged["combined_from"] = [m.get("version") for m in metadatas]
    return merged


def merge_file_info(infos: list[dict]) -> dict[str, dict]:
    """One ``file_info`` with the sources and functions of all of ``infos``."""
    files: dict[str, Any] = {}
    functions: dict[str, Any] = {}
    for info in infos:
        files.update(info.get("files", {}))
        functions.update(info.get("functions", {}))
    return {"files": files, "functions": functions}


def combine_reports(reports: list[dict], align: bool = False) -> dict[str, Any]:
    """One report holding the events of ``reports`` (loaded report dicts)."""
    events: list[dict] = []
    markers = [_sync_marker(r) for r in reports]
    by_marker = align and all(m is not None for m in markers)
    for report, marker in zip(reports, markers, strict=True):
        part = report["traceEvents"]
        start = (marker if by_marker else _start(part)) if align else None
        if start:
            part = [dict(e, ts=e["ts"] - start) if isinstance(e.get("ts"), (int, float)) else e
                    for e in part]
        events.extend(part)
    combined: dict[str, Any] = {"traceEvents": events}
    metadatas = [r["viztracer_metadata"] for r in reports if isinstance(r.get("viztracer_metadata"), dict)]
    if metadatas:
        combined["viztracer_metadata"] = _merge_metadata(metadatas)
    infos = [r["file_info"] for r in reports if isinstance(r.get("file_info"), dict)]
    if infos:
        combined["file_info"] = merge_file_info(infos)
    return combined


def combine_files(paths: list[str], align: bool = False) -> dict[str, Any]:
    """Load every file in ``paths`` and combine them; ReportError names a file that is not a report."""
    reports = [load_report(path) for path in paths]
    if len(reports) == 1 and not align:
        return reports[0]  # a conversion: keep the report as it is
    return combine_reports(reports, align)
