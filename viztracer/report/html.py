"""The standalone HTML report (``.html``): the viewer page with its CSS, scripts and the trace inlined.

The trace goes through the same path as in ``vizviewer``: Chrome JSON (written by the code
``chrome_json`` uses), loaded, turned into the viewer blob (``viztracer/viewer/columns.py``),
and embedded as base64 in a ``<script type="application/octet-stream" id="vt-blob">`` element,
which the browser does not run; the page decodes it instead of fetching ``/api/trace``. The
page's scripts are classic scripts (not ES modules), so the report opens from ``file://``.

The page then holds the whole trace, as ``vizviewer``'s does for traces up to its tile
threshold (``viewer/tiles.py``); past it ``vizviewer`` serves the trace in tiles, which a
single file cannot do, so a larger report is saved as Chrome JSON beside the path asked for,
and a ``ReportError`` says where.
"""
from __future__ import annotations

import base64
import io
import json
import os
import re
from typing import TYPE_CHECKING

from ..errors import ReportError
from ..viewer.columns import report_blob
from ..viewer.tiles import threshold
from . import chrome_json

if TYPE_CHECKING:
    from ..recording import Recording

EXTENSIONS = (".html",)
STATIC = os.path.join(os.path.dirname(os.path.dirname(__file__)), "viewer", "static")


def _read(name: str) -> str:
    with open(os.path.join(STATIC, name), encoding="utf-8") as f:
        return f.read()


def render_html(report: dict, title: str) -> str:
    """The page with everything inlined and ``report`` embedded."""
    page = _read("index.html")
    blob = base64.b64encode(report_blob(report, title=title)).decode("ascii")

    def style(_match: re.Match) -> str:
        return "<style>\n" + _read("viewer.css") + "</style>"

    def script(match: re.Match) -> str:
        # "</" inside an inline script would end it early; "<\/" means the same in JavaScript.
        return "<script>\n" + _read(match.group(1)).replace("</", "<\\/") + "</script>"

    page = re.sub(r'<link rel="stylesheet" href="static/([\w.-]+)">', style, page)
    page, count = re.subn(r'<script src="static/([\w.-]+)"></script>', script, page)
    if not count:
        raise RuntimeError("viewer/static/index.html has no <script src=static/...> to inline")
    embedded = f'<script type="application/octet-stream" id="vt-blob">{blob}</script>\n'
    first_script = page.index("<script>")
    page = page[:first_script] + embedded + page[first_script:]
    return page.replace("<title>vizviewer</title>", f"<title>{_escape(title)}</title>", 1)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_html_from_report(report: dict, path: str) -> int:
    """Write ``report`` (a loaded report dict) to ``path`` as a standalone page; returns its
    event count. A report with more calls than the page can hold whole is written as Chrome
    JSON instead, to ``path`` with ``.json`` for ``.html``, and ReportError says so."""
    events = report.get("traceEvents") or []
    calls = sum(1 for e in events if isinstance(e, dict) and e.get("ph") in ("X", "B"))
    if calls > threshold():
        instead = os.path.splitext(path)[0] + ".json"
        chrome_json.write_from_report(report, instead)
        raise ReportError(f"{calls:,} calls are too many for a single HTML report (at most "
                          f"{threshold():,}: its page holds the whole trace); saved them to {instead} "
                          f"instead: open that with vizviewer, which serves large traces in tiles")
    page = render_html(report, os.path.basename(path))
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return len(report.get("traceEvents") or [])


def write_from_report(report: dict, path: str) -> int:
    """The writer protocol's name for ``write_html_from_report`` (conversion, combining)."""
    return write_html_from_report(report, path)


def write(recording: Recording, path: str, with_file_info: bool = True) -> int:
    """Write a recording to ``path`` as a standalone HTML report; returns the number of events."""
    out = io.BytesIO()
    count = chrome_json._write(recording, out, with_file_info)
    write_html_from_report(json.loads(out.getvalue()), path)
    return count
