"""pyx/protowire.pxd, the one definition of the wire format the writer and the reader share, names
Perfetto's numbers right: each comment names the field or enum value, and protos/ has it."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from viztracer.report import perfetto_pb2

PXD = Path(__file__).resolve().parent.parent / "pyx" / "protowire.pxd"
# ``NAME = 12   # Message.field``, ``NAME = 1   # Message.ENUM_VALUE``, ``# Enum.VALUE`` at file level
CONSTANT = re.compile(r"^\s+([A-Z0-9_]+) = (\d+)\s+# ([A-Za-z][A-Za-z0-9_.]*)\s*$")
WIRE_TYPES = {"VARINT": 0, "I64": 1, "LEN": 2, "I32": 5}


def constants() -> list[tuple[str, int, str]]:
    found = [m.groups() for m in map(CONSTANT.match, PXD.read_text().splitlines()) if m]
    return [(name, int(number), where) for name, number, where in found]


def perfettos_number(where: str) -> int:
    """The number ``Message.field``, ``Message.Nested.field``, ``Message.ENUM_VALUE`` or
    ``Enum.VALUE`` has in protos/viztracer_perfetto.proto."""
    *path, last = where.split(".")
    file = perfetto_pb2.DESCRIPTOR
    if path[0] in file.enum_types_by_name:
        return file.enum_types_by_name[path[0]].values_by_name[last].number
    message = file.message_types_by_name[path[0]]
    for nested in path[1:]:
        message = message.nested_types_by_name[nested]
    if last in message.fields_by_name:
        return message.fields_by_name[last].number
    return message.enum_values_by_name[last].number


def test_every_constant_names_where_it_comes_from():
    named = constants()
    assert len(named) > 60
    text = PXD.read_text()
    enum_body = text[text.index("cdef enum:\n    TRACE_PACKET"):text.index("cdef inline")]
    # every constant of the big enum carries its name in Perfetto's protos, but the one rule
    # that is in no message
    listed = {name for name, _, _ in named}
    defined = set(re.findall(r"^    ([A-Z0-9_]+) = ", enum_body, re.M))
    assert defined - listed == {"FIRST_SEQUENCE_CLOCK"}


@pytest.mark.parametrize("name, number, where", constants(), ids=[c[0] for c in constants()])
def test_numbers_are_perfettos(name, number, where):
    assert perfettos_number(where) == number, f"{name} = {number}, but {where} is {perfettos_number(where)}"


def test_wire_types_are_protobufs():
    text = PXD.read_text()
    for kind, number in WIRE_TYPES.items():
        assert re.search(rf"^    WIRE_{kind} = {number}\b", text, re.M), kind
