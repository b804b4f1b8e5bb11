# Perfetto's trace format on the wire, defined once for the writer (pyx/perfetto.pyx) and the
# reader (pyx/pftrace_scan.pyx): the field numbers of the messages we write and read, their
# enum values, protobuf's wire types, and the varint both sides encode.
#
# Each number carries Perfetto's name for it in its comment (Message.field, or Message.VALUE
# for an enum value): tests/test_protowire.py checks every one against protos/ (whose numbers
# tests/test_protos.py checks against Perfetto's own messages), so a number wrong here fails.
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memcpy

# protobuf's wire types: what follows a field's tag
cdef enum:
    WIRE_VARINT = 0     # a varint
    WIRE_I64 = 1        # 8 bytes, little-endian (double, fixed64)
    WIRE_LEN = 2        # a varint length, then that many bytes (string, bytes, message, packed)
    WIRE_I32 = 5        # 4 bytes, little-endian

cdef enum:
    TRACE_PACKET = 1                        # Trace.packet

    PACKET_CHROME_EVENTS = 5                # TracePacket.chrome_events
    PACKET_CLOCK_SNAPSHOT = 6               # TracePacket.clock_snapshot
    PACKET_TIMESTAMP = 8                    # TracePacket.timestamp
    PACKET_SEQUENCE_ID = 10                 # TracePacket.trusted_packet_sequence_id
    PACKET_TRACK_EVENT = 11                 # TracePacket.track_event
    PACKET_INTERNED_DATA = 12               # TracePacket.interned_data
    PACKET_SEQUENCE_FLAGS = 13              # TracePacket.sequence_flags
    PACKET_INCREMENTAL_STATE_CLEARED = 41   # TracePacket.incremental_state_cleared
    PACKET_COMPRESSED_PACKETS = 50          # TracePacket.compressed_packets
    PACKET_DEFAULTS = 59                    # TracePacket.trace_packet_defaults
    PACKET_TRACK_DESCRIPTOR = 60            # TracePacket.track_descriptor
    PACKET_FIRST_ON_SEQUENCE = 87           # TracePacket.first_packet_on_sequence

    SEQ_INCREMENTAL_STATE_CLEARED = 1       # TracePacket.SEQ_INCREMENTAL_STATE_CLEARED

    DEFAULTS_TIMESTAMP_CLOCK_ID = 58        # TracePacketDefaults.timestamp_clock_id
    DEFAULTS_TRACK_EVENT = 11               # TracePacketDefaults.track_event_defaults
    EVENT_DEFAULTS_TRACK_UUID = 11          # TrackEventDefaults.track_uuid

    DESCRIPTOR_UUID = 1                     # TrackDescriptor.uuid
    DESCRIPTOR_NAME = 2                     # TrackDescriptor.name
    DESCRIPTOR_PROCESS = 3                  # TrackDescriptor.process
    DESCRIPTOR_THREAD = 4                   # TrackDescriptor.thread
    DESCRIPTOR_PARENT_UUID = 5              # TrackDescriptor.parent_uuid
    DESCRIPTOR_COUNTER = 8                  # TrackDescriptor.counter
    PROCESS_PID = 1                         # ProcessDescriptor.pid
    PROCESS_NAME = 6                        # ProcessDescriptor.process_name
    PROCESS_LABELS = 8                      # ProcessDescriptor.process_labels
    THREAD_PID = 1                          # ThreadDescriptor.pid
    THREAD_TID = 2                          # ThreadDescriptor.tid
    THREAD_NAME = 5                         # ThreadDescriptor.thread_name

    EVENT_CATEGORY_IIDS = 3                 # TrackEvent.category_iids
    EVENT_DEBUG_ANNOTATIONS = 4             # TrackEvent.debug_annotations
    EVENT_TYPE = 9                          # TrackEvent.type
    EVENT_NAME_IID = 10                     # TrackEvent.name_iid
    EVENT_TRACK_UUID = 11                   # TrackEvent.track_uuid
    EVENT_CATEGORIES = 22                   # TrackEvent.categories
    EVENT_NAME = 23                         # TrackEvent.name
    EVENT_COUNTER_VALUE = 30                # TrackEvent.counter_value
    EVENT_DOUBLE_COUNTER_VALUE = 44         # TrackEvent.double_counter_value

    TYPE_SLICE_BEGIN = 1                    # TrackEvent.TYPE_SLICE_BEGIN
    TYPE_SLICE_END = 2                      # TrackEvent.TYPE_SLICE_END
    TYPE_INSTANT = 3                        # TrackEvent.TYPE_INSTANT
    TYPE_COUNTER = 4                        # TrackEvent.TYPE_COUNTER

    ANNOTATION_NAME_IID = 1                 # DebugAnnotation.name_iid
    ANNOTATION_BOOL = 2                     # DebugAnnotation.bool_value
    ANNOTATION_UINT = 3                     # DebugAnnotation.uint_value
    ANNOTATION_INT = 4                      # DebugAnnotation.int_value
    ANNOTATION_DOUBLE = 5                   # DebugAnnotation.double_value
    ANNOTATION_STRING = 6                   # DebugAnnotation.string_value
    ANNOTATION_LEGACY_JSON = 9              # DebugAnnotation.legacy_json_value
    ANNOTATION_NAME = 10                    # DebugAnnotation.name
    ANNOTATION_DICT_ENTRIES = 11            # DebugAnnotation.dict_entries
    ANNOTATION_ARRAY_VALUES = 12            # DebugAnnotation.array_values

    INTERNED_EVENT_CATEGORIES = 1           # InternedData.event_categories
    INTERNED_EVENT_NAMES = 2                # InternedData.event_names
    INTERNED_ANNOTATION_NAMES = 3           # InternedData.debug_annotation_names
    # EventCategory, EventName and DebugAnnotationName alike: {iid, name}
    INTERNED_IID = 1                        # EventName.iid
    INTERNED_NAME = 2                       # EventName.name

    SNAPSHOT_CLOCKS = 1                     # ClockSnapshot.clocks
    CLOCK_ID = 1                            # ClockSnapshot.Clock.clock_id
    CLOCK_TIMESTAMP = 2                     # ClockSnapshot.Clock.timestamp
    CLOCK_IS_INCREMENTAL = 3                # ClockSnapshot.Clock.is_incremental
    CLOCK_UNIT_MULTIPLIER_NS = 4            # ClockSnapshot.Clock.unit_multiplier_ns
    BUILTIN_CLOCK_BOOTTIME = 6              # BuiltinClock.BUILTIN_CLOCK_BOOTTIME
    # Not in a message: Perfetto reserves clock ids 64 to 127 for clocks scoped to a sequence.
    FIRST_SEQUENCE_CLOCK = 64

    BUNDLE_METADATA = 2                     # ChromeEventBundle.metadata
    METADATA_NAME = 1                       # ChromeMetadata.name
    METADATA_STRING = 2                     # ChromeMetadata.string_value
    METADATA_BOOL = 3                       # ChromeMetadata.bool_value
    METADATA_INT = 4                        # ChromeMetadata.int_value
    METADATA_JSON = 5                       # ChromeMetadata.json_value


cdef inline uint32_t tag(uint32_t field, int wire) noexcept nogil:
    """A field's key: its number and wire type, encoded as a varint before its value."""
    return (field << 3) | <uint32_t>wire


cdef inline int put_varint(char* buf, uint64_t v) noexcept nogil:
    """Write ``v`` as a varint at ``buf`` (room for 10 bytes); returns its length."""
    cdef int n = 0
    while v >= 0x80:
        buf[n] = <char>((v & 0x7F) | 0x80)
        v >>= 7
        n += 1
    buf[n] = <char>v
    return n + 1


# -- reading ---------------------------------------------------------------------------------------

ctypedef struct Cursor:
    const uint8_t* p        # the next byte to read
    const uint8_t* end      # the end of the message being read


ctypedef struct Field:
    uint32_t number
    int wire
    uint64_t value          # a varint's value, the bits of an I64 or I32, or a LEN's length
    const uint8_t* data     # LEN fields: their bytes


cdef inline int read_varint(Cursor* c, uint64_t* out) noexcept nogil:
    """Decode the varint at ``c.p`` into ``out`` and step over it; -1 when the message ends
    inside it or it runs past ten bytes."""
    cdef uint64_t v = 0
    cdef int shift = 0
    cdef uint8_t b
    while c.p < c.end and shift < 64:
        b = c.p[0]
        c.p += 1
        v |= (<uint64_t>(b & 0x7F)) << shift
        if b < 0x80:
            out[0] = v
            return 0
        shift += 7
    return -1


cdef inline int next_field(Cursor* c, Field* f) noexcept nogil:
    """Read the next field of the message at ``c`` into ``f``. 1: read; 0: the message ended;
    -1: malformed (cut short, field number 0, a group or an unknown wire type)."""
    cdef uint64_t key
    if c.p >= c.end:
        return 0
    if read_varint(c, &key) < 0 or key >> 3 == 0 or key >> 3 > 0x1FFFFFFF:
        return -1
    f.number = <uint32_t>(key >> 3)
    f.wire = <int>(key & 7)
    if f.wire == WIRE_VARINT:
        return 1 if read_varint(c, &f.value) == 0 else -1
    if f.wire == WIRE_LEN:
        if read_varint(c, &f.value) < 0 or f.value > <uint64_t>(c.end - c.p):
            return -1
        f.data = c.p
        c.p += f.value
        return 1
    if f.wire == WIRE_I64:
        if c.end - c.p < 8:
            return -1
        memcpy(&f.value, c.p, 8)
        c.p += 8
        return 1
    if f.wire == WIRE_I32:
        if c.end - c.p < 4:
            return -1
        f.value = 0
        memcpy(&f.value, c.p, 4)
        c.p += 4
        return 1
    return -1
