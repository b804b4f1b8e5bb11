"""``--stream``: the report is written while the program runs, by a thread of ours.

The hook writes entries into the ring as always. The core wakes the writer thread (a
semaphore, no Python call) every time a part of the ring has filled, and the writer also
wakes on its own every ``INTERVAL`` seconds. Each time it hands the entries written since
its last visit to the format's ``Stream`` (``viztracer/report``) as a ``Recording`` with a
``span``, flushes them to the file, and frees their slots, then goes on with the parts the
program fills meanwhile without going back to Python (``MORE_PARTS``). It reads entries in
place: no copy per event. When the hook finds no free slot (the writer fell a whole ring
behind) the program waits for the writer; only when the writer frees nothing for a while
(starved, or stopping) does the hook refuse entries and count them; the writer then adds a
marker to the report saying how many were dropped from when, and the metadata gives the total.
"""
from __future__ import annotations

import _thread
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from . import _tracer
from .errors import ReportError
from .recording import Recording

INTERVAL = 0.25             # seconds between flushes at the latest, while events arrive
# The writer is woken each time a part of the ring has filled: a quarter of it, at most
# PART_MAX entries, so that it keeps pace with the program on another core and little is
# left to write at the stop.
PARTS = 4
PART_MAX = 1 << 13
# A format's hurry skips the costliest step (deflating a .pftrace part: more than a third of
# the writer's work): taken when more than this many parts wait, counting the one it is about
# to write, so that the writer keeps pace with a program making calls as fast as it can, and
# little is left for the stop to write. Half a part more than the one it writes: a writer that
# keeps pace deflates (it finds a little more than a part when woken), one that falls behind
# catches up within a part.
HURRY_PARTS = 1.5
# While the program keeps the ring filling, the writer goes from part to part without the GIL
# (which it would wait a switch interval for each time), up to MORE_PARTS parts, waiting up to
# PART_WAIT seconds for each: it keeps pace at the rate a busy program makes calls.
MORE_PARTS = 64
PART_WAIT = 0.02
SWITCH_INTERVAL = 0.001     # seconds: sys.setswitchinterval while streaming (at most)
# At the stop, the program waits for what is left to be written: where the format can
# (``splits_stop``), the program's thread encodes the newest of it, up to TAIL_MAX parts (their
# text waits in memory), while the writer thread writes the oldest.
TAIL_MAX = 16
STREAM_EXTENSIONS = (".json", ".pftrace", ".perfetto-trace")
# Seconds the writer sleeps before each flush: tests use it to starve the writer.
_DELAY_VARIABLE = "VIZTRACER_TEST_STREAM_DELAY"
_NO_LIMIT = (1 << 64) - 1     # the ring's writer_until when the writer may go on


def check_stream_path(path: str) -> None:
    """Streaming writes .json and .pftrace reports: one-line ReportError for anything else."""
    if not path.lower().endswith(STREAM_EXTENSIONS):
        raise ReportError(f"--stream writes .json or .pftrace reports, not {os.path.basename(path)!r}: "
                          "stream to one of those and convert it afterwards if needed")


def _open_stream(path: str, pid: int, process_name: str) -> Any:
    check_stream_path(path)
    if path.lower().endswith(".json"):
        from .report.chrome_json import Stream
    else:
        from .report.perfetto import Stream
    try:
        return Stream(path, pid, process_name)
    except OSError as e:
        raise ReportError(f"cannot write {path!r}: {e.strerror or e}") from None


class StreamWriter:
    """Drains a tracer core's ring into the report file ``path`` while tracing."""

    def __init__(self, core: Any, path: str, recording_for: Callable[[tuple[int, int]], Recording],
                 pid: int, process_name: str, capacity: int) -> None:
        self.core = core
        self.path = path
        self.recording_for = recording_for
        self.out = _open_stream(path, pid, process_name)
        self.capacity = capacity
        self.part = max(1, min(capacity // PARTS, PART_MAX))
        self.hurry_behind = max(0, int(HURRY_PARTS * self.part))    # entries waiting
        self.lock = threading.Lock()
        self.running: Any = None    # the writer thread's lock, held while it runs
        self.switch_interval = sys.getswitchinterval()
        self.stopping = False
        self.until = _NO_LIMIT      # the stop's limit on the writer (_encode_tail)
        self.error: BaseException | None = None
        self.written = 0            # entries written out
        self.dropped = 0            # entries the hook refused
        self.delay = float(os.environ.get(_DELAY_VARIABLE, "0") or 0)
        self.pid = os.getpid()

    # -- the writer thread -------------------------------------------------------------------

    def start(self) -> None:
        """Start draining. Called before the hook is installed, so the thread is never traced."""
        # The writer takes the GIL twice a part, and each time waits for the program to let
        # go of it: a switch interval. A shorter one lets it keep pace with a busy program.
        self.switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self.switch_interval, SWITCH_INTERVAL))
        self.core.stream_begin(self.part)
        self.stopping = False
        self.until = _NO_LIMIT
        # A bare thread, not a threading.Thread: start() returns without waiting for the new
        # thread to take the GIL and say it runs (a few hundred microseconds of the program's
        # time). Its ident is known as ours before the hook is installed, so it is never
        # traced; threading's shutdown does not wait for it, as for a daemon thread.
        self.running = _thread.allocate_lock()
        self.running.acquire()
        _tracer.OWN_IDENTS.add(_thread.start_new_thread(self._thread_main, (self.running,)))

    def _thread_main(self, running: Any) -> None:
        try:
            self._run()
        finally:
            _tracer.OWN_IDENTS.discard(_thread.get_ident())
            running.release()

    def _run(self) -> None:
        while not self.stopping:
            self.core.wait_for_part(INTERVAL)
            if self.stopping:
                return
            if self.delay:
                time.sleep(self.delay)
            try:
                # part by part, until the stop: what is left then, the stop writes in a hurry
                while not self.stopping and self._flush_part(False):
                    pass
            except BaseException as e:  # noqa: BLE001 - said at stop, never in the program's face
                self.error = e
                return

    def stop_thread(self) -> None:
        """Stop the thread and write what it had not written yet."""
        running, self.running = self.running, None
        tail: list[bytes] = []
        begin = end = 0
        if running is not None:
            try:
                begin, end = self._encode_tail(tail)
            finally:
                self.stopping = True
                self.core.stop_writer()
                running.acquire()       # the thread has left _run
                self._limit(_NO_LIMIT)
                sys.setswitchinterval(self.switch_interval)
        if begin < end:
            self._write_tail(begin, end, tail)
        self.flush(waited_for=True)

    def _encode_tail(self, tail: list[bytes]) -> tuple[int, int]:
        """While the writer thread writes on from the oldest entries left, encode the newest
        here, a part at a time backwards, until the two meet (or TAIL_MAX parts): both cores
        work on what the program waits for. Returns ``(begin, end)`` of what was encoded, its
        texts in ``tail``, newest first."""
        first, end = self.core.stream_span()
        begin = end
        if not self.out.splits_stop:
            return begin, end
        self.core.wake_writer()
        while len(tail) < TAIL_MAX:
            below = begin - self.part
            # Once the limit is set, the writer's part ends at most a part after where it is.
            if below < first or self.core.limit_writer(below) + self.part > below:
                self._limit(begin)      # it may have seen ``below``: it stops there
                break
            self.until = below
            try:
                tail.append(self.out.encode_tail(self.recording_for((below, begin))))
            except BaseException:
                self._limit(begin)
                raise
            begin = below
        return begin, end

    def _limit(self, until: int) -> None:
        """The writer writes the entries before ``until`` and no more (``_NO_LIMIT``: all)."""
        self.core.limit_writer(until)
        self.until = until

    def _write_tail(self, begin: int, end: int, tail: list[bytes]) -> None:
        """After the writer thread: the rest of what comes before the tail, then the tail, so
        the file keeps its order. Its slots are freed whatever happens."""
        try:
            while self.core.stream_span()[0] < begin:
                before = self.written
                self._flush_part(True, begin)
                if self.written == before:
                    raise ReportError("the streaming writer lost its ring")     # not seen
            self.out.write_tail(self.recording_for((begin, end)), tail[::-1])
        finally:
            if self.core.stream_span()[0] < begin:      # a write failed: free what is not written
                self.core.stream_release(begin)
            self.core.stream_release(end, True)     # encode_tail emptied the slots
        self.written += end - begin

    # -- writing -------------------------------------------------------------------------------

    def flush(self, waited_for: bool = False) -> None:
        """Write the entries recorded until now, and a marker for refused ones.

        A part at a time: the format resolves its names with the GIL (the program waits),
        then encodes and writes without it (the program runs on). Parts bound the memory a
        flush takes. What the program is ``waited_for`` to go on (the stop) is written in a
        hurry, as is everything while the writer is behind (see ``HURRY_PARTS``)."""
        while self._flush_part(waited_for):
            pass

    def _flush_part(self, waited_for: bool, until: int = _NO_LIMIT) -> bool:
        """Write up to a part of the ring (and no further than ``until`` or the stop's limit),
        and while the program is running, the parts it fills meanwhile; True when there is
        more to write."""
        with self.lock:
            first, end = self.core.stream_span()
            until = min(until, self.until)
            end = min(end, until)
            hurry = waited_for or end - first > self.hurry_behind
            end = min(end, first + self.part)
            if end > first:
                more_parts = 0 if waited_for else MORE_PARTS
                end = first + self.out.part(self.recording_for((first, end)), hurry, more_parts,
                                            int(PART_WAIT * 1e9), self.hurry_behind)
                self.written += end - first
                self.core.stream_release(end, True)     # part() emptied the slots
            self._mark_refused(end)
            return end < until and self.core.stream_span()[1] - end > self.part

    def _mark_refused(self, end: int) -> None:
        """A marker where the hook began refusing entries, saying how many and why."""
        refused, since = self.core.stream_refused()
        if refused:
            self.dropped += refused
            recording = self.recording_for((end, end))
            tid = recording.threads[0][0] if recording.threads else self.pid
            self.out.marker(_ticks_to_ns(recording.clock, since), tid,
                            f"viztracer: {refused} entries dropped",
                            {"dropped": refused, "reason": "the streaming writer fell behind: the ring "
                             f"of {self.core.capacity()} entries was full"})

    def finish(self, metadata: dict[str, Any], with_file_info: bool) -> None:
        """Complete the file (after ``stop_thread`` and the tracer's stop)."""
        with self.lock:
            self.out.finish(metadata, with_file_info)
        if self.dropped:
            print(f"viztracer: warning: {self.dropped} entries were dropped because the streaming "
                  f"writer fell behind; the report marks where (raise --tracer_entries to give it "
                  f"more room)", file=sys.stderr)

    def clear(self) -> None:
        """Drop the entries not written yet (``VizTracer.clear``), never while writing them."""
        with self.lock:
            first, end = self.core.stream_span()
            self.core.stream_release(end)

    def close(self) -> None:
        self.out.close()


def _ticks_to_ns(clock: tuple[int, int, float], ticks: int) -> int:
    t0_ticks, t0_ns, ns_per_tick = clock
    return t0_ns + round((ticks - t0_ticks) * ns_per_tick)
