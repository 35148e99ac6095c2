"""kproto against kio for the share APIs: Kafka's released definitions, read by another codec.

kproto's share APIs (KIP-932) come from tools/released-definitions/, facts read out of kio's
modules by tools/released_definitions.py. kio (PyPI, pinned in the test extra) generated those
modules from Apache Kafka's released message definitions and has its own codec. For every
message and version of the released files, objects drawn from kproto's descriptions are checked
both ways:

* kproto encodes, kio decodes to the same values and encodes the same bytes again;
* kio encodes an object holding the same values, kproto decodes it to the same values and encodes
  the same bytes again.

kio's objects differ from ours in three ways the conversion undoes: times are timedeltas (and
their names lose "_ms"), the zero uuid is None, and error codes are members of an enum (so drawn
error codes are first mapped onto codes kio knows).
"""

from __future__ import annotations

import datetime
import importlib
import io
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from kio.schema import errors as kio_errors
from kio.serial import entity_reader, entity_writer
from kio.static.primitive import i32Timedelta

from kproto import messages
from kproto.codec import decode, encode
from kproto.model import Message
from kproto.schema.types import FieldSpec, StructSpec
from spec_strategies import message

REPO = Path(__file__).resolve().parents[2]

ZERO_UUID = UUID(int=0)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
KIO_CODES = sorted(code.value for code in kio_errors.ErrorCode)
ERROR_CODE_NAMES = {"ErrorCode", "PartitionErrorCode"}  # the fields kio types as its ErrorCode


def released_cases() -> list[Any]:
    out = []
    for name in sorted(messages.MODULES):
        cls = getattr(messages, name)
        for source, (low, high) in cls.SPEC.sources:
            if source.startswith("released/"):
                out += [pytest.param(cls, v, id=f"{name}-v{v}") for v in range(low, high + 1)]
    return out


CASES = released_cases()


def kio_class(cls: type[Message], version: int) -> type:
    module = importlib.import_module(f"kio.schema.{messages.MODULES[cls.__name__]}.v{version}.{cls.SPEC.kind}")
    return getattr(module, cls.__name__)


# ---------------------------------------------------------------- converting values


def _ours(kio_field: Any, spec: StructSpec) -> FieldSpec:
    """kproto's field for one of kio's: kio drops "Ms" from the names of time fields."""
    is_time = kio_field.metadata.get("kafka_type") == "timedelta_i32"
    attr = kio_field.name.rstrip("_") + ("_ms" if is_time else "")
    (f,) = [f for f in spec.fields if f.attr == attr]
    return f


def _class(owner: type[Message], spec: StructSpec) -> type:
    return owner if spec is owner.SPEC.body else getattr(owner, spec.name)


def to_kio(obj: Any, spec: StructSpec, kio_cls: type) -> Any:
    """A kio object holding the values of a kproto object."""
    module = importlib.import_module(kio_cls.__module__)
    values = {}
    for kf in fields(kio_cls):
        f = _ours(kf, spec)
        value = getattr(obj, f.attr)
        kind = kf.metadata.get("kafka_type")
        if value is None:
            pass
        elif f.struct is not None:
            element = getattr(module, f.struct.name)
            value = tuple(to_kio(v, f.struct, element) for v in value) if f.is_array else to_kio(value, f.struct, element)
        elif f.is_array:
            value = tuple(None if kind == "uuid" and v == ZERO_UUID else v for v in value)
        elif kind == "timedelta_i32":
            value = i32Timedelta.parse(datetime.timedelta(milliseconds=value))
        elif kind == "error_code":
            value = kio_errors.ErrorCode(value)
        elif kind == "uuid" and value == ZERO_UUID:
            value = None
        elif kind == "records":
            value = bytes(value)
        values[kf.name] = value
    return kio_cls(**values)


def from_kio(kio_obj: Any, spec: StructSpec, owner: type[Message]) -> Any:
    """The kproto object holding the values of a kio object."""
    values = {}
    for kf in fields(kio_obj):
        f = _ours(kf, spec)
        value = getattr(kio_obj, kf.name)
        kind = kf.metadata.get("kafka_type")
        if f.struct is not None:
            if value is not None:
                value = ([from_kio(v, f.struct, owner) for v in value] if f.is_array
                         else from_kio(value, f.struct, owner))
        elif f.is_array:
            value = None if value is None else [ZERO_UUID if kind == "uuid" and v is None else v for v in value]
        elif kind == "timedelta_i32":
            value = value // datetime.timedelta(milliseconds=1)
        elif kind == "error_code":
            value = int(value)
        elif kind == "uuid" and value is None:
            value = ZERO_UUID
        values[f.attr] = value
    return _class(owner, spec)(**values)


def known_error_codes(obj: Any, spec: StructSpec) -> Any:
    """The object with each drawn error code replaced by one of the codes kio's enum has."""
    for f in spec.fields:
        value = getattr(obj, f.attr)
        if f.name in ERROR_CODE_NAMES and f.type == "int16":
            setattr(obj, f.attr, KIO_CODES[value % len(KIO_CODES)])
        elif f.struct is not None and value is not None:
            for item in value if f.is_array else [value]:
                known_error_codes(item, f.struct)
    return obj


def kio_decode(kio_cls: type, data: bytes) -> Any:
    obj, size = entity_reader(kio_cls)(data, 0)
    assert size == len(data), f"kio left {len(data) - size} bytes"
    return obj


def kio_encode(kio_obj: Any) -> bytes:
    out = io.BytesIO()
    entity_writer(type(kio_obj))(out, kio_obj)
    return out.getvalue()


# ---------------------------------------------------------------- the tests


def test_every_share_api_is_checked() -> None:
    """Every released share message, with the versions librdkafka and Kafka's clients send."""
    checked = {(p.values[0].__name__, p.values[1]) for p in CASES}
    assert {("ShareGroupHeartbeatRequest", 1), ("ShareFetchRequest", 1), ("ShareFetchRequest", 2),
            ("ShareAcknowledgeRequest", 2), ("ShareGroupDescribeResponse", 1),
            ("DescribeShareGroupOffsetsResponse", 1), ("AlterShareGroupOffsetsRequest", 0),
            ("DeleteShareGroupOffsetsRequest", 0), ("ReadShareGroupStateSummaryResponse", 1),
            ("WriteShareGroupStateRequest", 1)} <= checked
    assert len({name for name, _ in checked}) == 24


@pytest.mark.parametrize(("cls", "version"), CASES)
def test_kproto_encodes_what_kio_reads(cls: type[Message], version: int) -> None:
    kio_cls = kio_class(cls, version)

    @SETTINGS
    @given(message(cls, version))
    def check(obj: Message) -> None:
        obj = known_error_codes(obj, cls.SPEC.body)
        data = encode(obj, version)
        kio_obj = kio_decode(kio_cls, data)
        assert from_kio(kio_obj, cls.SPEC.body, cls) == obj
        assert kio_encode(kio_obj) == data

    check()


@pytest.mark.parametrize(("cls", "version"), CASES)
def test_kio_encodes_what_kproto_reads(cls: type[Message], version: int) -> None:
    kio_cls = kio_class(cls, version)

    @SETTINGS
    @given(message(cls, version))
    def check(obj: Message) -> None:
        obj = known_error_codes(obj, cls.SPEC.body)
        data = kio_encode(to_kio(obj, cls.SPEC.body, kio_cls))
        back = decode(cls, version, data)
        assert back == obj
        assert encode(back, version) == data

    check()


def test_released_definitions_are_what_kio_says() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "released_definitions.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
