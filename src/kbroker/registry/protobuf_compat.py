"""Protobuf compatibility as Confluent's registry defines it: the differences between the writer's
file and the reader's, each compatible or not. Fields are matched by number, messages by full name.

Incompatible: the package changed; a message removed; a field's kind (scalar, message, enum)
changed; a scalar changed outside its wire-compatible group; a message or enum field now naming
another type; a required field added or removed; a field removed from a oneof; a field moved into
an existing oneof, or several into a new one; a numeric or enum field turned repeated or back.
Compatible: added or removed fields, messages, enums and enum values, renamed fields, oneofs
added, the syntax changed.
"""

from __future__ import annotations

from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto, FileDescriptorProto

Field = FieldDescriptorProto
# Scalars whose values read as one another on the wire: the varints, the zigzag varints, the
# length-delimited texts, and the two fixed widths with and without sign.
WIRE_GROUPS = (
    {Field.TYPE_INT32, Field.TYPE_UINT32, Field.TYPE_INT64, Field.TYPE_UINT64, Field.TYPE_BOOL},
    {Field.TYPE_SINT32, Field.TYPE_SINT64},
    {Field.TYPE_STRING, Field.TYPE_BYTES},
    {Field.TYPE_FIXED32, Field.TYPE_SFIXED32},
    {Field.TYPE_FIXED64, Field.TYPE_SFIXED64},
)
# A singular field of these may become repeated (or back): a reader keeps the last value, or all.
REPEATABLE = {Field.TYPE_STRING, Field.TYPE_BYTES, Field.TYPE_MESSAGE, Field.TYPE_GROUP}


def _messages(prefix: str, found: list[DescriptorProto]) -> dict[str, DescriptorProto]:
    table = {}
    for message in found:
        name = f"{prefix}.{message.name}"
        table[name] = message
        table.update(_messages(name, list(message.nested_type)))
    return table


def _kind(field: FieldDescriptorProto) -> str:
    if field.type in (Field.TYPE_MESSAGE, Field.TYPE_GROUP):
        return "message"
    return "enum" if field.type == Field.TYPE_ENUM else "scalar"


def _oneof(message: DescriptorProto, field: FieldDescriptorProto) -> str | None:
    """The real oneof a field belongs to (proto3 `optional` makes a synthetic one, not counted)."""
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None
    return message.oneof_decl[field.oneof_index].name


def _field_problems(path: str, old: FieldDescriptorProto, new: FieldDescriptorProto) -> list[str]:
    if _kind(old) != _kind(new):
        return [f"{path}: FIELD_KIND_CHANGED from {_kind(old)} to {_kind(new)}"]
    problems = []
    if _kind(old) == "scalar" and old.type != new.type and not any(
            {old.type, new.type} <= group for group in WIRE_GROUPS):
        problems.append(f"{path}: FIELD_SCALAR_KIND_CHANGED from {Field.Type.Name(old.type)} "
                        f"to {Field.Type.Name(new.type)}")
    if _kind(old) != "scalar" and old.type_name != new.type_name:
        problems.append(f"{path}: FIELD_NAMED_TYPE_CHANGED from {old.type_name} to {new.type_name}")
    repeated = (old.label == Field.LABEL_REPEATED, new.label == Field.LABEL_REPEATED)
    if repeated[0] != repeated[1] and old.type not in REPEATABLE:
        problems.append(f"{path}: FIELD_NUMERIC_LABEL_CHANGED")
    return problems


def _message_problems(path: str, old: DescriptorProto, new: DescriptorProto) -> list[str]:
    problems = []
    old_fields = {f.number: f for f in old.field}
    new_fields = {f.number: f for f in new.field}
    for number, field in old_fields.items():
        where = f"{path}.{field.name}({number})"
        if number not in new_fields:
            if field.label == Field.LABEL_REQUIRED:
                problems.append(f"{where}: REQUIRED_FIELD_REMOVED")
            if _oneof(old, field):
                problems.append(f"{where}: ONEOF_FIELD_REMOVED")
            continue
        problems += _field_problems(where, field, new_fields[number])
        if new_fields[number].label == Field.LABEL_REQUIRED and field.label != Field.LABEL_REQUIRED:
            problems.append(f"{where}: REQUIRED_FIELD_ADDED")
    for number, field in new_fields.items():
        if number not in old_fields and field.label == Field.LABEL_REQUIRED:
            problems.append(f"{path}.{field.name}({number}): REQUIRED_FIELD_ADDED")
    problems += _oneof_problems(path, old, new, old_fields, new_fields)
    return problems


def _oneof_problems(path: str, old: DescriptorProto, new: DescriptorProto,
                    old_fields: dict[int, FieldDescriptorProto], new_fields: dict[int, FieldDescriptorProto]
                    ) -> list[str]:
    problems = []
    old_oneofs = {_oneof(old, f) for f in old.field} - {None}
    moved: dict[str, list[int]] = {}
    for number, field in new_fields.items():
        oneof = _oneof(new, field)
        if oneof and number in old_fields and _oneof(old, old_fields[number]) != oneof:
            moved.setdefault(oneof, []).append(number)
    for oneof, numbers in sorted(moved.items()):
        if oneof in old_oneofs:
            problems.append(f"{path}.{oneof}: FIELD_MOVED_TO_EXISTING_ONEOF (fields {numbers})")
        elif len(numbers) > 1:
            problems.append(f"{path}.{oneof}: MULTIPLE_FIELDS_MOVED_TO_ONEOF (fields {numbers})")
    return problems


def read_problems(reader: FileDescriptorProto, writer: FileDescriptorProto) -> list[str]:
    """Why data written with `writer` cannot be read with `reader`, as Confluent's rules say."""
    if reader.package != writer.package:
        return [f"PACKAGE_CHANGED from {writer.package!r} to {reader.package!r}"]
    prefix = f".{writer.package}" if writer.package else ""
    old, new = _messages(prefix, list(writer.message_type)), _messages(prefix, list(reader.message_type))
    problems = []
    for name, message in old.items():
        if name not in new:
            problems.append(f"{name}: MESSAGE_REMOVED")
        else:
            problems += _message_problems(name, message, new[name])
    return problems
