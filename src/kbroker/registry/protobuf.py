"""PROTOBUF schemas: `.proto` text, or a base64 FileDescriptorProto as confluent-kafka's serializers
send it, turned into descriptors the `protobuf` package checks.

Text is compiled by protoc as the grpcio-tools wheel ships it, in a child process: a compiler crash
on hostile input then costs one request, not the broker, and its messages can be captured for the
42201 answer. Referenced schemas are the imports, under their reference names; the well-known types
(google/protobuf/*.proto) need no reference, as in Confluent's registry.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import pathlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from functools import lru_cache

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.message import DecodeError

from kbroker.registry import errors

# The file name a schema's own text is compiled under: one no reference is likely to use.
MAIN_FILE = "__kbroker_schema__.proto"
# protoc answers in a fraction of a second; a minute means it is stuck on something.
PROTOC_TIMEOUT_S = 60.0
WELL_KNOWN = "google/protobuf/"
# protoc's own log lines (absl's banner and its W/I-prefixed warnings), left out of the answer.
_LOG_LINE = re.compile(r"WARNING: All log messages|[WI]\d{4} ")


def _decoded(text: str) -> descriptor_pb2.FileDescriptorProto | None:
    """The descriptor a base64 text holds, or None when the text is not one (then it is .proto)."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    descriptor = descriptor_pb2.FileDescriptorProto()
    try:
        descriptor.ParseFromString(raw)
    except DecodeError:
        return None
    return descriptor if descriptor.message_type or descriptor.enum_type or descriptor.syntax else None


def _safe_name(name: str) -> str:
    path = pathlib.PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or not name.endswith(".proto"):
        raise errors.invalid_schema(f"reference name {name!r} is not a relative .proto path")
    return name


def _compile(name: str, text: str, imports: Sequence[descriptor_pb2.FileDescriptorProto]
             ) -> descriptor_pb2.FileDescriptorProto:
    """protoc's descriptor of one .proto text, its imports given as descriptors."""
    with tempfile.TemporaryDirectory(prefix="kbroker-proto-") as work:
        root = pathlib.Path(work)
        source = root / "src" / name
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(text, encoding="utf-8")
        given = root / "imports.pb"
        given.write_bytes(descriptor_pb2.FileDescriptorSet(file=imports).SerializeToString())
        out = root / "out.pb"
        command = [sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={root / 'src'}",
                   f"--descriptor_set_out={out}", name]
        if imports:
            command.insert(3, f"--descriptor_set_in={given}")
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=PROTOC_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise errors.invalid_schema("protoc did not finish") from None
        if done.returncode != 0:
            lines = done.stderr.replace(str(root / "src") + "/", "").splitlines()
            message = " ".join(line for line in lines if not _LOG_LINE.match(line))
            raise errors.invalid_schema(message or f"protoc failed ({done.returncode})")
        found = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
    return found.file[0]


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto:
    module = name.removeprefix(WELL_KNOWN).removesuffix(".proto") + "_pb2"
    try:
        importlib.import_module(f"google.protobuf.{module}")
        found = descriptor_pool.Default().FindFileByName(name)
    except (ImportError, KeyError):
        raise errors.invalid_schema(f"import {name} is not a registered reference") from None
    descriptor = descriptor_pb2.FileDescriptorProto()
    found.CopyToProto(descriptor)
    return descriptor


def _with_well_known(files: list[descriptor_pb2.FileDescriptorProto], wanted: Sequence[str]
                     ) -> list[descriptor_pb2.FileDescriptorProto]:
    """`files` and the well-known ones they import, those first."""
    have = {f.name for f in files}
    extra = []
    for name in wanted:
        if name.startswith(WELL_KNOWN) and name not in have:
            known = _well_known(name)
            extra += _with_well_known(extra, list(known.dependency)) + [known]
            have |= {f.name for f in extra}
    return extra + files


def _descriptor(name: str, text: str, imports: list[descriptor_pb2.FileDescriptorProto]
                ) -> descriptor_pb2.FileDescriptorProto:
    decoded = _decoded(text)
    if decoded is None:
        needed = [dependency for f in imports for dependency in f.dependency]
        decoded = _compile(name, text, _with_well_known(imports, needed + _imports_of(text)))
    decoded.name = name
    decoded.ClearField("source_code_info")
    _drop_default_json_names(decoded.message_type)
    return decoded


def _drop_default_json_names(messages: Iterable[descriptor_pb2.DescriptorProto]) -> None:
    """Leave out json_name where it is the one protobuf derives from the field name: protoc's
    descriptor set writes it, the descriptors compiled into _pb2 modules do not."""
    for message in messages:
        for field in message.field:
            if field.json_name == _camel(field.name):
                field.ClearField("json_name")
        _drop_default_json_names(message.nested_type)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _imports_of(text: str) -> list[str]:
    """The well-known files a .proto text may import (protoc itself checks the rest)."""
    return [line.split('"')[1] for line in text.splitlines()
            if line.strip().startswith("import") and f'"{WELL_KNOWN}' in line]


@lru_cache(maxsize=1024)
def descriptors(text: str, dependencies: tuple[tuple[str, str], ...]
                ) -> tuple[descriptor_pb2.FileDescriptorProto, tuple[descriptor_pb2.FileDescriptorProto, ...]]:
    """(the schema's descriptor, its imports' descriptors), checked together by a descriptor pool.
    Cached: compatibility checks parse every earlier version again."""
    files: list[descriptor_pb2.FileDescriptorProto] = []
    for name, dependency_text in dependencies:
        if all(f.name != name for f in files):
            files.append(_descriptor(_safe_name(name), dependency_text, files))
    main = _descriptor(MAIN_FILE, text, files)
    everything = _with_well_known(files + [main], [d for f in files + [main] for d in f.dependency])
    pool = descriptor_pool.DescriptorPool()
    try:
        for file in everything:
            pool.Add(file)
        pool.FindFileByName(MAIN_FILE)
    except (TypeError, KeyError, ValueError) as exc:
        raise errors.invalid_schema(f"the descriptors do not resolve: {exc}") from None
    return main, tuple(everything[:-1])


def serialized(descriptor: descriptor_pb2.FileDescriptorProto) -> str:
    """The descriptor as base64, the `format=serialized` form clients read."""
    return base64.b64encode(descriptor.SerializeToString(deterministic=True)).decode("ascii")
