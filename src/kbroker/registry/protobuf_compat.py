"""Protobuf compatibility as Confluent's registry defines it: the differences between the writer's
file and the reader's, each of a kind that is compatible or not. Messages are matched by their
name inside the file (so a new package breaks nothing), fields by number.

Incompatible: a message removed; a field's kind changed (scalar, enum counted as one, message,
map); a scalar changed outside its wire-compatible group; a message field naming another type,
or a type of the same name from a reference that changed incompatibly; a numeric field made
repeated, optional or required where it was another of these (a proto3 field without a label
may change); a required field added or removed; a field removed from a oneof; a field moved into
a oneof that already held fields, or several fields into a new oneof. Everything else is
compatible: fields, messages, enums, enum values and whole oneofs added or removed, renamed
fields, moved messages, a new package.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.descriptor_pb2 import DescriptorProto, FieldDescriptorProto, FileDescriptorProto

Field = FieldDescriptorProto
# Scalars in one group read as one another on the wire; enums are varints, like the first group.
SCALAR_GROUPS = {
    **dict.fromkeys((Field.TYPE_INT32, Field.TYPE_UINT32, Field.TYPE_INT64, Field.TYPE_UINT64, Field.TYPE_BOOL,
                     Field.TYPE_ENUM), "varint"),
    **dict.fromkeys((Field.TYPE_SINT32, Field.TYPE_SINT64), "zigzag"),
    **dict.fromkeys((Field.TYPE_STRING, Field.TYPE_BYTES), "text"),
    **dict.fromkeys((Field.TYPE_FIXED32, Field.TYPE_SFIXED32), "fixed32"),
    **dict.fromkeys((Field.TYPE_FIXED64, Field.TYPE_SFIXED64), "fixed64"),
    Field.TYPE_FLOAT: "float",
    Field.TYPE_DOUBLE: "double",
}


@dataclass(frozen=True)
class _Type:
    package: str
    message: DescriptorProto
    in_main: bool  # defined in the schema's own file, not in a reference


class _Side:
    """One schema's file and the files it imports, with every message by its full name."""

    def __init__(self, files: Sequence[FileDescriptorProto]) -> None:
        self.main = files[0]
        self.types: dict[str, _Type] = {}
        for index, file in enumerate(files):
            self._collect(f".{file.package}" if file.package else "", file.message_type, file.package, index == 0)

    def _collect(self, prefix: str, messages: Iterable[DescriptorProto], package: str, in_main: bool) -> None:
        for message in messages:
            name = f"{prefix}.{message.name}"
            self.types.setdefault(name, _Type(package, message, in_main))
            self._collect(name, message.nested_type, package, in_main)

    def kind(self, field: FieldDescriptorProto) -> str:
        if field.type not in (Field.TYPE_MESSAGE, Field.TYPE_GROUP):
            return "scalar"
        found = self.types.get(field.type_name)
        return "map" if found is not None and found.message.options.map_entry else "message"

    def label(self, field: FieldDescriptorProto) -> int | None:
        """The field's label as written; None for a proto3 field written without one."""
        implicit = (self.main.syntax == "proto3" and field.label == Field.LABEL_OPTIONAL
                    and not field.proto3_optional)
        return None if implicit else field.label

    def local_name(self, type_name: str) -> str:
        found = self.types.get(type_name)
        package = found.package if found is not None else ""
        return type_name.removeprefix(f".{package}." if package else ".")


def _oneof(message: DescriptorProto, field: FieldDescriptorProto) -> str | None:
    """The oneof a field is declared in (proto3 `optional` makes a synthetic one: not counted)."""
    if not field.HasField("oneof_index") or field.proto3_optional:
        return None
    return message.oneof_decl[field.oneof_index].name


def _oneofs(message: DescriptorProto) -> dict[str, dict[int, FieldDescriptorProto]]:
    found: dict[str, dict[int, FieldDescriptorProto]] = {}
    for field in message.field:
        if (name := _oneof(message, field)) is not None:
            found.setdefault(name, {})[field.number] = field
    return found


class _Diff:
    """The incompatible differences from `old` (the writer) to `new` (the reader)."""

    def __init__(self, old: _Side, new: _Side) -> None:
        self.old = old
        self.new = new
        self.problems: list[str] = []
        self._compared: set[tuple[str, str]] = set()  # referenced types compared, for recursive ones

    def types(self, path: str, old: Iterable[DescriptorProto], new: Iterable[DescriptorProto]) -> None:
        new_by_name = {message.name: message for message in new}
        for message in old:
            where = f"{path}{message.name}"
            if message.name not in new_by_name:
                if not message.options.map_entry:
                    self.problems.append(f"{where}: MESSAGE_REMOVED")
            else:
                self.message(where, message, new_by_name[message.name])

    def message(self, path: str, old: DescriptorProto, new: DescriptorProto) -> None:
        old_plain = {f.number: f for f in old.field if _oneof(old, f) is None}
        new_plain = {f.number: f for f in new.field if _oneof(new, f) is None}
        old_oneofs, new_oneofs = _oneofs(old), _oneofs(new)
        in_old_oneofs = {number for fields in old_oneofs.values() for number in fields}
        for name, fields in new_oneofs.items():
            moved = [number for number in fields if old_plain.pop(number, None) is not None]
            existing = [number for number in fields if number not in moved and number in in_old_oneofs]
            if len(moved) > 1:
                self.problems.append(f"{path}.{name}: MULTIPLE_FIELDS_MOVED_TO_ONEOF (fields {moved})")
            elif moved and existing:
                self.problems.append(f"{path}.{name}: FIELD_MOVED_TO_EXISTING_ONEOF (field {moved[0]})")
        for name in old_oneofs.keys() & new_oneofs.keys():
            for number, field in old_oneofs[name].items():
                if number not in new_oneofs[name]:
                    self.problems.append(f"{path}.{name}.{field.name}({number}): ONEOF_FIELD_REMOVED")
                else:
                    self.field(f"{path}.{name}.{field.name}({number})", field, new_oneofs[name][number])
        for number in sorted(old_plain.keys() | new_plain.keys()):
            old_field, new_field = old_plain.get(number), new_plain.get(number)
            if new_field is None:
                assert old_field is not None
                if old_field.label == Field.LABEL_REQUIRED:
                    self.problems.append(f"{path}.{old_field.name}({number}): REQUIRED_FIELD_REMOVED")
            elif old_field is None:
                if new_field.label == Field.LABEL_REQUIRED:
                    self.problems.append(f"{path}.{new_field.name}({number}): REQUIRED_FIELD_ADDED")
            else:
                self.field(f"{path}.{old_field.name}({number})", old_field, new_field)
        self.types(f"{path}.", old.nested_type, new.nested_type)

    def field(self, path: str, old: FieldDescriptorProto, new: FieldDescriptorProto, labelled: bool = True) -> None:
        kind = self.old.kind(old)
        if kind != self.new.kind(new):
            self.problems.append(f"{path}: FIELD_KIND_CHANGED from {kind} to {self.new.kind(new)}")
        elif kind == "scalar":
            group = SCALAR_GROUPS[old.type]
            labels = (self.old.label(old), self.new.label(new)) if labelled else (None, None)
            if group != SCALAR_GROUPS[new.type]:
                self.problems.append(f"{path}: FIELD_SCALAR_KIND_CHANGED from {Field.Type.Name(old.type)} "
                                     f"to {Field.Type.Name(new.type)}")
            elif None not in labels and labels[0] != labels[1] and group != "text":
                self.problems.append(f"{path}: FIELD_NUMERIC_LABEL_CHANGED")
        elif kind == "map":
            old_entry = self.old.types[old.type_name].message.field
            new_entry = self.new.types[new.type_name].message.field
            for old_part, new_part in zip(old_entry, new_entry):  # the key, then the value
                self.field(f"{path}.{old_part.name}", old_part, new_part, labelled=False)
        else:
            self.named_type(path, old.type_name, new.type_name)

    def named_type(self, path: str, old: str, new: str) -> None:
        if self.old.local_name(old) != self.new.local_name(new):
            self.problems.append(f"{path}: FIELD_NAMED_TYPE_CHANGED from {old} to {new}")
            return
        old_type, new_type = self.old.types.get(old), self.new.types.get(new)
        if old_type is None or new_type is None or (old_type.in_main and new_type.in_main):
            return  # types of the schema's own file are compared by name with the others
        if (old, new) in self._compared:
            return
        self._compared.add((old, new))
        before = len(self.problems)
        self.message(self.old.local_name(old), old_type.message, new_type.message)
        if len(self.problems) > before:
            self.problems.append(f"{path}: FIELD_NAMED_TYPE_CHANGED ({old} changed incompatibly)")


def read_problems(reader: Sequence[FileDescriptorProto], writer: Sequence[FileDescriptorProto]) -> list[str]:
    """Why data written with `writer` cannot be read with `reader`, by Confluent's rules. Each is
    the schema's file, then the files it imports."""
    diff = _Diff(_Side(writer), _Side(reader))
    diff.types("", writer[0].message_type, reader[0].message_type)
    return diff.problems
