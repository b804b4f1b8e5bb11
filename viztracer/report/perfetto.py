"""Perfetto's native protobuf trace (``.pftrace``, ``.perfetto-trace``).

Several times smaller and faster to write than JSON; the Perfetto UI and trace processor read
it natively. The packets are encoded by hand in ``viztracer._perfetto``; this module adds the
metadata the JSON report carries (version, overflow, sources of the traced files).
Packets are deflated in chunks (Perfetto's ``compressed_packets``) unless ``compress=False``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _perfetto
from .chrome_json import file_info, json_bytes
from .stream_file import NAMES_KEPT, StreamFile

if TYPE_CHECKING:
    from ..recording import Recording

EXTENSIONS = (".pftrace", ".perfetto-trace")


def write(recording: Recording, path: str, with_file_info: bool = True, compress: bool = True) -> int:
    """Write a recording to ``path`` as a Perfetto protobuf trace."""
    def metadata_for(functions, counter_tracks):
        entries = {"viztracer_metadata": recording.metadata, "viztracer_counter_tracks": counter_tracks}
        if with_file_info:
            entries["file_info"] = json_bytes(file_info(functions))   # JSON text: see finish
        return entries

    with open(path, "wb") as f:
        return _perfetto.write_perfetto(recording, f.write, metadata_for, compress)


def write_from_report(report: dict, path: str, compress: bool = True) -> int:
    """Write a loaded report (``load_report``'s dict) to ``path``; returns the events written.

    Raises ValueError (one line) when an event is not a trace event.
    """
    with open(path, "wb") as f:
        return _perfetto.write_perfetto_report(report, f.write, compress)


class Stream:
    """A Perfetto trace written while the program runs (``--stream``): each part of the ring
    is encoded with every sequence started afresh, deflated, and written to the file's
    descriptor, so a file cut short is valid up to its last whole packet. The metadata comes
    last."""

    def __init__(self, path: str, pid: int, process_name: str, compress: bool = True) -> None:
        self.pid = pid
        self.file = StreamFile(path)
        self.encoder = _perfetto.PerfettoStream(self.file.fileno(), compress)

    splits_stop = False     # the stop writes what is left alone (see chrome_json.Stream)

    def part(self, recording: Recording, hurry: bool = False, more_parts: int = 0, wait_ns: int = 0,
             hurry_behind: int = 0) -> int:
        """Write the entries of a recording's span, then up to ``more_parts`` whole parts of the
        ring after it, each waited for at most ``wait_ns``; returns how many entries. In a
        ``hurry`` (the writer far behind: more than ``hurry_behind`` entries, for the parts
        after the span), without deflating them."""
        self.file.going_on()
        if self.encoder.names_used > NAMES_KEPT:   # it keeps every key alive: start afresh
            self.encoder.fresh_names()
        return self.encoder.part(recording, hurry, more_parts, wait_ns, hurry_behind)

    def marker(self, ts_ns: int, tid: int, name: str, args: dict) -> None:
        """An instant on the process's track: where entries were dropped, and why."""
        self.file.going_on()
        self.encoder.marker(ts_ns, self.pid, name, args)

    def finish(self, metadata: dict[str, Any], with_file_info: bool) -> None:
        """The metadata packet: the trace is complete from here on."""
        self.file.closing()
        entries = {"viztracer_metadata": metadata, "viztracer_counter_tracks": self.encoder.counter_tracks}
        if with_file_info:     # the sources of the traced files: orjson is several times faster
            entries["file_info"] = json_bytes(file_info(self.encoder.function_list()))
        self.encoder.finish(entries)

    def close(self) -> None:
        self.file.close()
