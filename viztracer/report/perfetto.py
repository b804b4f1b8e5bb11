"""Perfetto's native protobuf trace (``.pftrace``, ``.perfetto-trace``).

Several times smaller and faster to write than JSON; the Perfetto UI and trace processor read
it natively. The packets are encoded by hand in ``viztracer._export``; this module adds the
metadata the JSON report carries (version, overflow, sources of the traced files).
Packets are deflated in chunks (Perfetto's ``compressed_packets``) unless ``compress=False``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .. import _export
from .chrome_json import file_info

if TYPE_CHECKING:
    from ..recording import Recording

EXTENSIONS = (".pftrace", ".perfetto-trace")


def write(recording: Recording, path: str, with_file_info: bool = True, compress: bool = True) -> int:
    """Write a recording to ``path`` as a Perfetto protobuf trace."""
    def metadata_for(functions, counter_tracks):
        entries = {"viztracer_metadata": recording.metadata, "viztracer_counter_tracks": counter_tracks}
        if with_file_info:
            entries["file_info"] = file_info(functions)
        return entries

    with open(path, "wb") as f:
        return _export.write_perfetto(recording, f.write, metadata_for, compress)


def write_from_report(report: dict, path: str, compress: bool = True) -> int:
    """Write a loaded report (``load_report``'s dict) to ``path``; returns the events written.

    Raises ValueError (one line) when an event is not a trace event.
    """
    with open(path, "wb") as f:
        return _export.write_perfetto_report(report, f.write, compress)
