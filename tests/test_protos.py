"""protos/viztracer_perfetto.proto keeps Perfetto's field numbers, and its generated module is fresh."""
from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

from viztracer.report import perfetto_pb2

upstream = pytest.importorskip("perfetto.protos.perfetto.trace.perfetto_trace_pb2")

ROOT = Path(__file__).resolve().parent.parent
OURS = perfetto_pb2.DESCRIPTOR.package + "."
THEIRS = "perfetto.protos."


def upstream_name(full_name: str) -> str:
    assert full_name.startswith(OURS), full_name
    return THEIRS + full_name[len(OURS):]


def all_messages(descriptors):
    for d in descriptors:
        yield d
        yield from all_messages(d.nested_types)


def all_enums():
    yield from perfetto_pb2.DESCRIPTOR.enum_types_by_name.values()
    for m in all_messages(perfetto_pb2.DESCRIPTOR.message_types_by_name.values()):
        yield from m.enum_types


def test_package_differs_from_perfettos():
    assert perfetto_pb2.DESCRIPTOR.package == "viztracer_perfetto"
    assert perfetto_pb2.DESCRIPTOR.name != upstream.DESCRIPTOR.name


def test_every_field_is_perfettos():
    """Each field has the number, type, label and oneof of the same-named field upstream."""
    pool = upstream.DESCRIPTOR.pool
    checked = 0
    for ours in all_messages(perfetto_pb2.DESCRIPTOR.message_types_by_name.values()):
        theirs = pool.FindMessageTypeByName(upstream_name(ours.full_name))
        for field in ours.fields:
            where = f"{ours.full_name}.{field.name}"
            assert field.name in theirs.fields_by_name, f"{where}: no such field upstream"
            up = theirs.fields_by_name[field.name]
            assert field.number == up.number, where
            assert field.type == up.type, where
            assert field.is_repeated == up.is_repeated, where
            if field.message_type is not None:
                assert upstream_name(field.message_type.full_name) == up.message_type.full_name, where
            if field.enum_type is not None:
                assert upstream_name(field.enum_type.full_name) == up.enum_type.full_name, where
            ours_oneof = field.containing_oneof.name if field.containing_oneof else None
            their_oneof = up.containing_oneof.name if up.containing_oneof else None
            assert ours_oneof == their_oneof, where
            checked += 1
    assert checked >= 70


def test_every_enum_value_is_perfettos():
    pool = upstream.DESCRIPTOR.pool
    for ours in all_enums():
        theirs = pool.FindEnumTypeByName(upstream_name(ours.full_name))
        for value in ours.values:
            assert value.name in theirs.values_by_name, f"{ours.full_name}.{value.name}"
            assert theirs.values_by_name[value.name].number == value.number, f"{ours.full_name}.{value.name}"


def test_our_bytes_parse_as_perfettos():
    trace = perfetto_pb2.Trace()
    p = trace.packet.add(timestamp=12, trusted_packet_sequence_id=1, sequence_flags=1,
                         first_packet_on_sequence=True)
    p.interned_data.event_names.add(iid=1, name="f")
    p.track_event.type = perfetto_pb2.TrackEvent.TYPE_SLICE_BEGIN
    p.track_event.name_iid = 1
    p.track_event.track_uuid = 7
    p.track_event.debug_annotations.add(name_iid=2, legacy_json_value="null")
    d = trace.packet.add().track_descriptor
    d.uuid, d.parent_uuid = 7, 3
    d.thread.pid, d.thread.tid, d.thread.thread_name = 10, 11, "MainThread"
    theirs = upstream.Trace.FromString(trace.SerializeToString())
    assert theirs.packet[0].track_event.type == upstream.TrackEvent.TYPE_SLICE_BEGIN
    assert theirs.packet[0].interned_data.event_names[0].name == "f"
    assert theirs.packet[0].track_event.debug_annotations[0].legacy_json_value == "null"
    assert theirs.packet[1].track_descriptor.thread.thread_name == "MainThread"
    assert theirs.SerializeToString() == trace.SerializeToString()


# -- the checked-in module is what protoc makes of the .proto today -------------------------------

VERSION_LINES = [
    (re.compile(r"^# Protobuf Python Version: .*$", re.M), "# Protobuf Python Version: X"),
    (re.compile(r"(ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,)\s*\d+,\s*\d+,\s*\d+,"),
     r"\1 X, Y, Z,"),
]


def normalise(code: str) -> str:
    """The generated code without the protoc version it names."""
    for pattern, replacement in VERSION_LINES:
        code = pattern.sub(replacement, code)
    return code


def serialized_descriptor(code: str) -> bytes:
    """The FileDescriptorProto bytes that a generated module registers."""
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "AddSerializedFile":
            return ast.literal_eval(node.args[0])
    raise AssertionError("no AddSerializedFile call in the generated module")


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> str:
    pytest.importorskip("grpc_tools.protoc")
    spec = importlib.util.spec_from_file_location("protos_generate", ROOT / "protos" / "generate.py")
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    dest = tmp_path_factory.mktemp("protos") / "perfetto_pb2.py"
    return generate.generate(dest).read_text(encoding="utf-8")


STALE = "viztracer/report/perfetto_pb2.py is stale: run `python protos/generate.py` and check it in"


def test_checked_in_descriptor_is_fresh(regenerated):
    assert serialized_descriptor(regenerated) == perfetto_pb2.DESCRIPTOR.serialized_pb, STALE


def test_checked_in_module_is_fresh(regenerated):
    checked_in = (ROOT / "viztracer" / "report" / "perfetto_pb2.py").read_text(encoding="utf-8")
    assert normalise(regenerated) == normalise(checked_in), STALE
