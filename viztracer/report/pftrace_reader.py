"""Read a Perfetto trace written by viztracer back into the Chrome JSON report's shape.

``read_pftrace(path)`` returns ``{"traceEvents": [...], "viztracer_metadata": {...},
"file_info": {...}}``, the dict that ``json.load`` gives for the same recording saved as
``.json``, so that everything which works on a JSON report (the viewer, combining, tests)
works on a ``.pftrace`` too. It reads the files of our own writer (``report/perfetto.py``);
what it relies on is the contract below, not Perfetto's format in general.

- Top-level packets may be deflated chunks (``compressed_packets``) of packets.
- Packet sequences: each clears its incremental state in its first packet, and defines an
  interned category, event name or annotation name before (or in) the first packet of that
  sequence that uses it (one defined only later is still found, by a search of the sequence's
  packets, at the cost of a pass over the file). A sequence's TracePacketDefaults give the
  track of events that name none, and the clock of its timestamps: an incremental clock (a
  sequence-scoped id whose ClockSnapshot says ``is_incremental``) means each timestamp is the
  time since the previous packet of the sequence.
- Track descriptors: a track per process and per thread, a "Global" track per process for
  global instants (its uuid is the process's pid shifted left by 24 bits, like every track of
  that process), and counter tracks.
- Function calls and duration events are SLICE_BEGIN / SLICE_END pairs on a thread track,
  nested in the order of their sequence; a BEGIN left open is a call still running at stop.
- Instants (category ``instant``), objects (``object``) and raw JSON events (``raw``) are
  INSTANT events; counters are COUNTER events on counter tracks. An annotation named
  ``#args`` holds args that were not a JSON object.
- The last packet's Chrome metadata holds ``viztracer_metadata``, ``file_info`` and
  ``viztracer_counter_tracks`` (counter track uuid -> [counter name, key]) as JSON. A counter
  track missing from that map is named by its descriptor.
- A sequence may clear its incremental state again (``--stream`` writes a thread's slices in
  parts): a packet that clears it holds no track event, and starts afresh (defaults, clock,
  interned ids, which may now mean other names). Slices still pair up in packet order per
  track, whatever their times: a later part may hold a call that began before an earlier one.

A file cut short (its writer killed) is read up to its last whole top-level record, and
without the metadata packet when that is missing, as long as it starts as our files do (a
packet that starts a sequence); calls begun but not ended are B events, as at a stop. The
report is then marked ``viztracer_metadata["cut_short"]`` and announced in one line on stderr.

The file is decoded by the compiled reader, ``viztracer._pftrace_scan`` (``pyx/pftrace_scan.pyx``),
field by field with the field numbers the writer uses (``pyx/protowire.pxd``): about 0.75 s for
a million calls. This module reads the file and turns what is wrong with it into one line.
"""
from __future__ import annotations

import gc
import os
from typing import Any

from .. import _pftrace_scan
from . import ReportError
from .loader import announce_cut_short, mark_cut_short


def read_pftrace(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a ``.pftrace`` written by viztracer as the Chrome JSON report's dict.

    Raises ReportError (one line naming the file) when the file is missing, empty, or not a
    Perfetto trace written by viztracer. A file cut short is read up to the cut (see above).
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ReportError(f"cannot read {path!r}: {e.strerror or e}") from None
    if not data:
        raise ReportError(f"cannot read {path!r}: the file is empty")
    if data[:2] == b"\x1f\x8b":
        raise ReportError(f"cannot read {path!r}: the file is gzip-compressed, not a Perfetto trace")
    if data.lstrip()[:1] in (b"{", b"["):
        raise ReportError(f"cannot read {path!r}: the file looks like JSON, not a Perfetto protobuf trace")
    if _pftrace_scan.whole_length(data) == 0:
        raise ReportError(f"cannot read {path!r}: not a Perfetto trace, or cut short inside its first packet")
    # Millions of new dicts and no cycles among them: the cyclic GC would walk the growing
    # heap again and again for nothing (measured: twice the time with arguments logged).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        report, whole = _pftrace_scan.read_report(data)
    except _pftrace_scan.Malformed as e:
        raise ReportError(f"cannot read {path!r}: {e}") from None
    except (KeyError, IndexError, ValueError, TypeError) as e:
        # JSON metadata that does not parse, an annotation of the wrong type...
        detail = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ReportError(f"cannot read {path!r}: not a trace written by viztracer ({detail})") from None
    finally:
        if gc_was_enabled:
            gc.enable()
    if not whole:
        mark_cut_short(report)
        announce_cut_short(path, len(report["traceEvents"]))
    return report
