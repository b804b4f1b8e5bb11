# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""A Chrome JSON report straight into the viewer's slice columns, without a dict per call.

``scan_json(data)`` returns ``(scan_events' tuple, the report's other top-level keys)``: the
same values, in the same order, as ``_columns.scan_events`` over the ``traceEvents`` that
``load_report`` gives. It reads the text itself. An event is first read as an ``X`` event:
``ts``, ``dur``, ``pid``, ``tid`` and ``name`` from their tokens, ``args`` (and any value that
is an object or an array) parsed by orjson from its span of text, other keys skipped. An event
that turns out not to be an ``X`` with a numeric ``ts`` is read again, as a dict, for the
rare-case code; so is every top-level key other than ``traceEvents``. Anything it does not
expect (NaN, a string orjson would refuse, text after the report...) raises ``Unsupported``,
and ``load_report`` reads the file instead. Text that ends before the report does raises
``Truncated``: the file was cut short, which the caller may repair (``loader.repair_cut_json``).
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport int64_t, uint8_t
from libc.stdlib cimport strtod
from libc.string cimport memcmp

import json

from viztracer._slice_columns cimport PROGRESS_EVERY, Progress, SliceColumns

try:
    import orjson
    _loads = orjson.loads
except ImportError:
    _loads = json.loads


class Unsupported(Exception):
    """Text the scanner does not read: let load_report parse the file."""


class Truncated(Unsupported):
    """The text ends inside the report: it is not JSON at all, most likely a file cut short."""


DEF K_OTHER = 0
DEF K_TS = 1
DEF K_DUR = 2
DEF K_PID = 3
DEF K_TID = 4
DEF K_NAME = 5
DEF K_PH = 6
DEF K_ARGS = 7

_KEYS = {"ts": K_TS, "dur": K_DUR, "pid": K_PID, "tid": K_TID, "name": K_NAME, "ph": K_PH, "args": K_ARGS}

DEF V_STR = 1       # a string without escapes: (start, end) of its text
DEF V_INT = 2
DEF V_FLOAT = 3
DEF V_OBJECT = 4    # anything else, as a Python object


cdef inline bint is_space(uint8_t c) noexcept:
    return c == 32 or c == 10 or c == 13 or c == 9


cdef class Text:
    """The report's bytes and a cursor, with the JSON tokens the scan needs."""
    cdef bytes data
    cdef const uint8_t* s
    cdef Py_ssize_t n
    cdef Py_ssize_t i
    # the last value read
    cdef int kind
    cdef double number
    cdef int64_t integer
    cdef Py_ssize_t start, end
    cdef object obj

    def __cinit__(self, bytes data):
        self.data = data
        self.s = <const uint8_t*>PyBytes_AS_STRING(data)
        self.n = PyBytes_GET_SIZE(data)

    cdef inline void ws(self) noexcept:
        while self.i < self.n and is_space(self.s[self.i]):
            self.i += 1

    cdef inline bint peek(self, uint8_t c) noexcept:
        self.ws()
        return self.i < self.n and self.s[self.i] == c

    cdef inline int expect(self, uint8_t c) except -1:
        if not self.peek(c):
            if self.i >= self.n:
                raise Truncated("end of text")
            raise Unsupported("syntax")
        self.i += 1
        return 0

    cdef inline bint more(self) noexcept:
        """After a member or an element: a comma (consumed) means another follows."""
        self.ws()
        if self.i < self.n and self.s[self.i] == 44:
            self.i += 1
            return True
        return False

    cdef Py_ssize_t string_end(self, Py_ssize_t j, bint* escaped) except -1:
        """``j`` at an opening quote: the index just past the closing one."""
        cdef uint8_t c
        escaped[0] = False
        j += 1
        while j < self.n:
            c = self.s[j]
            if c == 34:
                return j + 1
            if c == 92:
                escaped[0] = True
                j += 2
            elif c < 32:
                raise Unsupported("control character in a string")
            else:
                j += 1
        raise Truncated("unterminated string")

    cdef object parse_span(self, Py_ssize_t start, Py_ssize_t end):
        try:
            return _loads(self.data[start:end])
        except ValueError:
            raise Unsupported("a value orjson does not read")

    cdef object decode(self, Py_ssize_t start, Py_ssize_t end):
        """A string without escapes whose quotes are at ``start`` and ``end - 1``."""
        try:
            return PyUnicode_DecodeUTF8(<const char*>self.s + start + 1, end - start - 2, NULL)
        except UnicodeDecodeError:
            raise Unsupported("not UTF-8")

    cdef int key(self, bint want=True) except -1:
        """A member's key and its colon: one of the K_ constants; with ``want``, or for a key
        of no known meaning, ``obj`` holds the key."""
        cdef bint escaped
        cdef Py_ssize_t start, end, size
        self.ws()
        if self.i >= self.n:
            raise Truncated("end of text")
        if self.s[self.i] != 34:
            raise Unsupported("key")
        start = self.i
        end = self.string_end(start, &escaped)
        self.i = end
        self.expect(58)
        if escaped:     # rare: known keys are compared once decoded
            self.obj = self.parse_span(start, end)
            return _KEYS.get(self.obj, K_OTHER)
        if want:
            self.obj = self.decode(start, end)
        size = end - start - 2
        if size == 2 and memcmp(self.s + start + 1, b"ts", 2) == 0:
            return K_TS
        if size == 2 and memcmp(self.s + start + 1, b"ph", 2) == 0:
            return K_PH
        if size == 3 and memcmp(self.s + start + 1, b"dur", 3) == 0:
            return K_DUR
        if size == 3 and memcmp(self.s + start + 1, b"pid", 3) == 0:
            return K_PID
        if size == 3 and memcmp(self.s + start + 1, b"tid", 3) == 0:
            return K_TID
        if size == 4 and memcmp(self.s + start + 1, b"name", 4) == 0:
            return K_NAME
        if size == 4 and memcmp(self.s + start + 1, b"args", 4) == 0:
            return K_ARGS
        return K_OTHER

    cdef int value(self) except -1:
        """The value at the cursor into ``kind`` and its fields; the cursor moves past it."""
        cdef uint8_t c
        cdef bint escaped
        cdef Py_ssize_t start
        self.ws()
        if self.i >= self.n:
            raise Truncated("end of text")
        c = self.s[self.i]
        start = self.i
        if c == 34:
            self.i = self.string_end(start, &escaped)
            if escaped:
                self.obj = self.parse_span(start, self.i)
                self.kind = V_OBJECT
            else:
                self.start, self.end = start, self.i
                self.kind = V_STR
        elif c == 45 or 48 <= c <= 57:
            self.read_number()
        elif c == 123 or c == 91:
            self.i = self.nested_end(start)
            self.obj = self.parse_span(start, self.i)
            self.kind = V_OBJECT
        elif c == 116 and self.i + 4 <= self.n and memcmp(self.s + self.i, b"true", 4) == 0:
            self.i += 4
            self.obj, self.kind = True, V_OBJECT
        elif c == 102 and self.i + 5 <= self.n and memcmp(self.s + self.i, b"false", 5) == 0:
            self.i += 5
            self.obj, self.kind = False, V_OBJECT
        elif c == 110 and self.i + 4 <= self.n and memcmp(self.s + self.i, b"null", 4) == 0:
            self.i += 4
            self.obj, self.kind = None, V_OBJECT
        elif self.ends_in_literal():
            raise Truncated("literal cut short")
        else:
            raise Unsupported("value")     # NaN, Infinity, anything else
        return 0

    cdef bint ends_in_literal(self) except -1:
        """The text ends inside ``true``, ``false`` or ``null``: a literal cut short."""
        rest = self.data[self.i:]
        return len(rest) < 5 and any(word.startswith(rest) for word in (b"true", b"false", b"null"))

    cdef Py_ssize_t nested_end(self, Py_ssize_t j) except -1:
        """``j`` at ``{`` or ``[``: the index just past the matching closer."""
        cdef int depth = 0
        cdef uint8_t c
        cdef bint escaped
        while j < self.n:
            c = self.s[j]
            if c == 34:
                j = self.string_end(j, &escaped)
                continue
            if c == 123 or c == 91:
                depth += 1
            elif c == 125 or c == 93:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        raise Truncated("unterminated object")

    cdef int read_number(self) except -1:
        cdef Py_ssize_t j = self.i, digits = 0
        cdef bint is_float = False
        cdef char* stop
        cdef uint8_t c
        cdef int64_t v = 0
        if self.s[j] == 45:
            j += 1
        if j >= self.n:
            raise Truncated("number cut short")
        if not (48 <= self.s[j] <= 57):
            raise Unsupported("number")
        if self.s[j] == 48 and j + 1 < self.n and 48 <= self.s[j + 1] <= 57:
            raise Unsupported("leading zero")
        while j < self.n:
            c = self.s[j]
            if 48 <= c <= 57:
                if not is_float:
                    v = v * 10 + (c - 48)
                    digits += 1
                j += 1
            elif c == 46 or c == 101 or c == 69:
                is_float = True
                j += 1
                if j < self.n and (self.s[j] == 43 or self.s[j] == 45) and (c == 101 or c == 69):
                    j += 1
                if j >= self.n:
                    raise Truncated("number cut short")
                if not (48 <= self.s[j] <= 57):
                    raise Unsupported("number")     # "1." or "1e": not JSON
            else:
                break
        if not is_float and digits > 18:
            self.obj = int(self.data[self.i:j])     # beyond int64: Python's own int
            self.number = float(self.obj)
            self.kind = V_OBJECT
            self.i = j
            return 0
        # strtod rounds correctly, as Python's float() does
        self.number = strtod(<const char*>self.s + self.i, &stop)
        if stop != <const char*>self.s + j:
            raise Unsupported("number")
        if is_float:
            self.kind = V_FLOAT
        else:
            self.integer = -v if self.s[self.i] == 45 else v
            self.kind = V_INT
        self.i = j
        return 0

    cdef object as_object(self):
        """The last value read, as the Python object json.loads would give."""
        if self.kind == V_STR:
            return self.decode(self.start, self.end)
        if self.kind == V_INT:
            return self.integer
        if self.kind == V_FLOAT:
            return self.number
        return self.obj


cdef class IntCache:
    """The int object of the last integer token, reused while the token repeats (pids, tids)."""
    cdef int64_t value
    cdef object obj

    cdef object get(self, Text t):
        if t.kind != V_INT:
            return t.as_object()
        if self.obj is None or t.integer != self.value:
            self.value, self.obj = t.integer, t.integer
        return self.obj


cdef class Scan:
    cdef SliceColumns cols
    cdef list others
    cdef IntCache pids, tids
    cdef Progress progress      # None when nobody watches
    cdef Py_ssize_t count       # events read

    def __cinit__(self, Progress progress=None):
        self.progress = progress
        self.cols = SliceColumns()
        self.others = []
        self.pids, self.tids = IntCache(), IntCache()

    cdef int event(self, Text t) except -1:
        """One element of traceEvents."""
        cdef Py_ssize_t begin
        cdef int key
        cdef double ts = 0.0, dur = 0.0
        cdef bint has_ts = False, has_dur = False, is_x = False
        cdef object name = "", pid = None, tid = None, args = None
        t.ws()
        begin = t.i
        if not t.peek(123):
            t.value()
            self.others.append(t.as_object())
            return 0
        t.i += 1
        if not t.peek(125):
            while True:
                key = t.key(False)
                t.value()
                if key == K_TS:
                    has_ts = t.kind == V_INT or t.kind == V_FLOAT or (
                        t.kind == V_OBJECT and type(t.obj) is int)
                    ts = t.number
                elif key == K_DUR:
                    has_dur = t.kind == V_INT or t.kind == V_FLOAT or (
                        t.kind == V_OBJECT and type(t.obj) is int)
                    dur = t.number
                elif key == K_PH:
                    is_x = t.kind == V_STR and t.end - t.start == 3 and t.s[t.start + 1] == 88
                elif key == K_NAME:
                    name = t.as_object()
                elif key == K_PID:
                    pid = self.pids.get(t)
                elif key == K_TID:
                    tid = self.tids.get(t)
                elif key == K_ARGS:
                    args = t.as_object()
                if not t.more():
                    break
        t.expect(125)
        if is_x and has_ts:
            return self.cols.add(ts, dur if has_dur else 0.0, name, pid, tid, args)
        # not a slice: read the event again, as the dict json.loads makes of it
        end = t.i
        t.i = begin + 1
        e = {}
        if not t.peek(125):
            while True:
                t.key()
                k = t.obj
                t.value()
                e[k] = t.as_object()
                if not t.more():
                    break
        t.expect(125)
        if t.i != end:
            raise Unsupported("reread")
        self.others.append(e)
        return 0

    def result(self):
        return self.cols.result(self.others)


cdef int _events(Text t, Scan scan) except -1:
    if t.peek(93):
        t.i += 1
        return 0
    while True:
        scan.event(t)
        scan.count += 1
        if scan.count % PROGRESS_EVERY == 0 and scan.progress is not None:
            scan.progress.update(scan.count, t.i)
        if not t.more():
            break
    t.expect(93)
    return 0


def scan_json(bytes data, Progress progress=None):
    """``(scan_events' tuple, {other top-level key: value})`` for the JSON report ``data``;
    ``progress``, when given, follows the events and bytes read."""
    cdef Text t = Text(data)
    cdef Scan scan = Scan(progress)
    if progress is not None:
        progress.bytes_total = t.n
    rest = {}
    seen_events = False
    if t.peek(91):      # a bare array of events
        t.i += 1
        _events(t, scan)
        seen_events = True
    else:
        t.expect(123)
        if not t.peek(125):
            while True:
                t.key()
                key = t.obj
                if key == "traceEvents":
                    if seen_events or not t.peek(91):
                        raise Unsupported("traceEvents")
                    t.i += 1
                    _events(t, scan)
                    seen_events = True
                else:
                    t.value()
                    rest[key] = t.as_object()
                if not t.more():
                    break
        t.expect(125)
    t.ws()
    if t.i != t.n or not seen_events:
        raise Unsupported("text after the report, or no traceEvents")
    if progress is not None:
        progress.update(scan.count, t.n)
    return scan.result(), rest


def has_digit_run(bytes data):
    """Whether ``data`` may hold an integer orjson would read as a float (json keeps it exact):
    20 decimal digits in a row (beyond 2**64 - 1 from there), or 19 after a minus sign (below
    -2**63). 19 digits alone fit orjson's unsigned 64 bits: every report of ours has one (the
    clock's base in ns). In C, at memory speed."""
    cdef const uint8_t* s = <const uint8_t*>PyBytes_AS_STRING(data)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(data), i, run = 0
    cdef bint minus = False
    for i in range(n):
        if 48 <= s[i] <= 57:
            run += 1
            if run >= 20 or (run == 19 and minus):
                return True
        else:
            run = 0
            minus = s[i] == 45     # '-'
    return False
