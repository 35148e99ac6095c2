"""kproto against kafka-python 3.0.12's own codec, for every API and version kafka-python implements.

kafka-python builds its message classes from Kafka's JSON definitions (`kafka/protocol/api_message.py`,
schemas in `kafka/protocol/schemas/resources/`). Objects drawn from kproto's descriptions are
converted field by field into kafka-python objects, and both directions are checked:

* kproto encodes, kafka-python decodes to the same values and encodes the same bytes again;
* kafka-python encodes, kproto decodes to the same values and encodes the same bytes again.

Whole frames with request and response headers are compared the same way.

kafka-python declares every API from version 0 (its classes lower each file's minimum to 0) even
where its definition files begin later; below that minimum it encodes the fields its later files
still describe. Those versions are checked too.

Where kafka-python's codec is itself wrong, the case is a strict xfail with the reason:
KAFKA_PYTHON_WRONG for whole API versions (none so far), and the unknown-tags test at the end.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kafka.protocol.api_message import ApiMessage
from kafka.protocol.schemas.fields.codecs.types import BitField

from kproto import decode_request, decode_response, encode_request, encode_response, messages
from kproto.codec import decode, encode
from kproto.model import Message
from kproto.schema.headers import RequestHeader, ResponseHeader
from kproto.schema.types import FieldSpec, StructSpec
from spec_strategies import message

ZERO_UUID = UUID(int=0)
SETTINGS = settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck))


def kafka_python_classes() -> dict[tuple[int, str], type[ApiMessage]]:
    """Every request and response class kafka-python defines, by (api key, kind)."""
    import kafka.protocol as root

    for package in ("admin", "consumer", "metadata", "producer"):
        pkg = importlib.import_module(f"{root.__name__}.{package}")
        for info in pkgutil.iter_modules(pkg.__path__):
            importlib.import_module(f"{pkg.__name__}.{info.name}")
    importlib.import_module(f"{root.__name__}.sasl")
    found: dict[tuple[int, str], type[ApiMessage]] = {}
    pending = list(ApiMessage.__subclasses__())
    while pending:
        cls = pending.pop()
        pending += cls.__subclasses__()
        if cls._class_version is None and "_json" in cls.__dict__:
            found[(cls.API_KEY, cls.type)] = cls
    return found


KP = kafka_python_classes()


def json_range(kp_cls: type[ApiMessage]) -> range:
    """The versions of kafka-python's definition file."""
    low, _, high = kp_cls.json["validVersions"].partition("-")
    return range(int(low), int(high or low) + 1)


def kp_versions(kp_cls: type[ApiMessage]) -> range:
    """The versions kafka-python will encode and decode: from 0, whatever its file says."""
    return range(kp_cls.min_version, kp_cls.max_version + 1)


#: (api key, kind, version) -> why kafka-python's own encoding or decoding is wrong there.
KAFKA_PYTHON_WRONG: dict[tuple[int, str, int], str] = {}


def ours(key: int, kind: str) -> type[Message]:
    request, response = messages.APIS[key]
    return getattr(messages, request if kind == "request" else response)


def cases() -> list[Any]:
    out = []
    for (key, kind), kp_cls in sorted(KP.items()):
        for v in kp_versions(kp_cls):
            marks = ()
            why = KAFKA_PYTHON_WRONG.get((key, kind, v))
            if why:
                marks = (pytest.mark.xfail(reason=why, strict=True),)
            out.append(pytest.param(ours(key, kind), kp_cls, v, marks=marks, id=f"{kp_cls.__name__}-v{v}"))
    return out


CASES = cases()


# ---------------------------------------------------------------- converting values


def _ours_for(kf: Any, spec: StructSpec) -> FieldSpec:
    """kproto's field for one of kafka-python's (it renames authorized-operation bit fields)."""
    for f in spec.fields:
        if f.name == kf._name:
            return f
    if kf.type_str == "bitfield":
        (f,) = [f for f in spec.fields if f.name.endswith("AuthorizedOperations")]
        return f
    raise AssertionError(f"kproto has no field {kf._name} in {spec.name}")


def _bits(value: int) -> set[int]:
    return {i for i in range(32) if (value & 0xFFFFFFFF) >> i & 1}


def _unbits(bits: set[int] | None) -> int:
    value = BitField.to_32_bit_field({31} if bits is None else bits)
    return value - (1 << 32) if value >= 1 << 31 else value


def to_kp(kp_struct: Any, data_class: type, obj: Any, spec: StructSpec, owner: type[Message], version: int) -> Any:
    """A kafka-python object holding the values of a kproto object."""
    values = {}
    for kf in kp_struct._fields:
        if not kf.for_version_q(version):
            continue
        f = _ours_for(kf, spec)
        value = getattr(obj, f.attr)
        if kf.tagged_field_q(version) and value == getattr(_class(owner, spec)(), f.attr):
            value = kf.default  # kafka-python writes a tagged field unless it equals its own default
        elif kf.is_struct_array() and value is not None:
            value = [to_kp(kf.array_of, kf.data_class, item, f.struct, owner, version) for item in value]
        elif kf.is_struct() and value is not None:
            value = to_kp(kf, kf.data_class, value, f.struct, owner, version)
        elif kf.type_str == "bitfield":
            value = _bits(value)
        values[kf.name] = value
    return data_class(version=version, **values)


def from_kp(kp_obj: Any, kp_struct: Any, spec: StructSpec, owner: type[Message], version: int) -> Any:
    """The kproto object holding the values of a kafka-python object."""
    cls = _class(owner, spec)
    values = {}
    for kf in kp_struct._fields:
        if not kf.for_version_q(version):
            continue
        f = _ours_for(kf, spec)
        value = getattr(kp_obj, kf.name)
        if kf.is_struct_array() and value is not None:
            value = [from_kp(item, kf.array_of, f.struct, owner, version) for item in value]
        elif kf.is_struct():
            if value is None and not f.nullable_in(version):
                value = getattr(cls(), f.attr)
            elif value is not None:
                value = from_kp(value, kf, f.struct, owner, version)
        elif kf.type_str == "bitfield":
            value = _unbits(value)
        elif f.type == "uuid" and value is None:
            value = ZERO_UUID
        elif f.is_array and f.element_type == "uuid" and value is not None:
            value = [ZERO_UUID if u is None else u for u in value]
        elif isinstance(value, memoryview):
            value = value.tobytes()
        values[f.attr] = value
    return cls(**values)


def _class(owner: type[Message], spec: StructSpec) -> type:
    return owner if spec is owner.SPEC.body else getattr(owner, spec.name)


def kp_decode(kp_cls: type[ApiMessage], version: int, data: bytes) -> Any:
    """A message body decoded by kafka-python, checking that it read every byte."""
    if kp_cls.API_KEY != 18 or kp_cls.type != "response":
        obj = kp_cls.decode(data, version=version)
        if not hasattr(obj, "_header"):
            obj._header = None  # decode() leaves the slot unset; encode(version=...) reads it
        return obj
    # ApiVersionsResponse.decode() reads any error answer as v0; take the plain body decoder
    flexible = kp_cls.flexible_version_q(version)
    decoder = kp_cls._struct.compiled_decode_from(version, compact=flexible, tagged=flexible, data_class=kp_cls)
    obj, pos = decoder(memoryview(data), 0)
    assert pos == len(data), f"kafka-python left {len(data) - pos} bytes"
    obj._header = None
    return obj


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize(("cls", "kp_cls", "version"), CASES)
def test_kproto_encodes_what_kafka_python_reads(cls: type[Message], kp_cls: type[ApiMessage], version: int) -> None:
    @SETTINGS
    @given(message(cls, version))
    def check(obj: Message) -> None:
        data = encode(obj, version)
        kp_obj = kp_decode(kp_cls, version, data)
        assert from_kp(kp_obj, kp_cls._struct, cls.SPEC.body, cls, version) == obj
        assert kp_obj.encode() == data

    check()


@pytest.mark.parametrize(("cls", "kp_cls", "version"), CASES)
def test_kafka_python_encodes_what_kproto_reads(cls: type[Message], kp_cls: type[ApiMessage], version: int) -> None:
    @SETTINGS
    @given(message(cls, version))
    def check(obj: Message) -> None:
        data = to_kp(kp_cls._struct, kp_cls, obj, cls.SPEC.body, cls, version).encode(version=version)
        back = decode(cls, version, data)
        assert back == obj
        assert encode(back, version) == data

    check()


CLIENT_IDS = st.none() | st.text(max_size=20)
CORRELATION = st.integers(-(1 << 31), (1 << 31) - 1)


@pytest.mark.parametrize(("cls", "kp_cls", "version"), [c for c in CASES if c.values[0].SPEC.kind == "request"])
def test_request_frames_agree(cls: type[Message], kp_cls: type[ApiMessage], version: int) -> None:
    @settings(SETTINGS, max_examples=4)
    @given(message(cls, version), CORRELATION, CLIENT_IDS)
    def check(obj: Message, correlation_id: int, client_id: str | None) -> None:
        header = RequestHeader(request_api_key=cls.API_KEY, request_api_version=version,
                               correlation_id=correlation_id, client_id=client_id)
        frame = encode_request(header, obj)
        kp_obj = to_kp(kp_cls._struct, kp_cls, obj, cls.SPEC.body, cls, version)
        kp_obj.with_header(correlation_id=correlation_id, client_id=client_id)
        assert kp_obj.encode(header=True) == frame  # the object carries its version
        got_header, got = decode_request(frame)
        assert (got_header, got) == (header, obj)
        kp_back = kp_cls.decode(frame, version=version, header=True)
        assert (kp_back.header.correlation_id, kp_back.header.client_id) == (correlation_id, client_id)

    check()


@pytest.mark.parametrize(("cls", "kp_cls", "version"), [c for c in CASES if c.values[0].SPEC.kind == "response"])
def test_response_frames_agree(cls: type[Message], kp_cls: type[ApiMessage], version: int) -> None:
    @settings(SETTINGS, max_examples=4)
    @given(message(cls, version), CORRELATION)
    def check(obj: Message, correlation_id: int) -> None:
        if cls.API_KEY == 18:
            obj.error_code = 0  # kafka-python reads an ApiVersions error answer as v0, as Kafka sends it
        header = ResponseHeader(correlation_id=correlation_id)
        frame = encode_response(header, obj, cls.API_KEY, version)
        kp_obj = to_kp(kp_cls._struct, kp_cls, obj, cls.SPEC.body, cls, version)
        kp_obj.with_header(correlation_id=correlation_id)
        assert kp_obj.encode(header=True) == frame  # the object carries its version
        assert decode_response(frame, cls.API_KEY, version) == (header, obj)
        kp_back = kp_cls.decode(frame, version=version, header=True)
        assert kp_back.header.correlation_id == correlation_id
        assert from_kp(kp_back, kp_cls._struct, cls.SPEC.body, cls, version) == obj

    check()


def test_every_kafka_python_api_is_covered() -> None:
    assert len(KP) == 104
    assert {key for key, _ in KP} <= set(messages.APIS)
    assert all(json_range(kp)[-1] <= ours(key, kind).SPEC.versions[1] for (key, kind), kp in KP.items())


UNKNOWN = {1000: b"x", 5000: bytes(130)}


@pytest.mark.xfail(strict=True, reason="kafka-python reads unknown tagged fields but drops them when it "
                   "encodes again; Kafka keeps and rewrites them, as kproto does")
@pytest.mark.parametrize(("key", "kind", "version"), [(18, "request", 3), (3, "response", 12), (1, "request", 12)])
def test_kafka_python_keeps_unknown_tags(key: int, kind: str, version: int) -> None:
    obj = ours(key, kind)()
    obj._unknown_tags = dict(UNKNOWN)
    data = encode(obj, version)
    assert decode(ours(key, kind), version, data)._unknown_tags == UNKNOWN
    assert kp_decode(KP[(key, kind)], version, data).encode() == data
