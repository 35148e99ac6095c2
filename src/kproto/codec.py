"""Compile message descriptions into specialised encode and decode functions.

For one message at one version, this module writes Python source with every decision already
taken — which fields are on the wire, compact or classic lengths, which may be null, which are
tagged — and runs fixed-width fields that sit side by side through a single `struct` call. The
result is cached, so each (message, version) is compiled once per process.

Decoders face untrusted bytes: every length and count is checked against the bytes that remain
before anything is sliced or allocated, and every failure is a `ProtocolError` naming the field
and the byte position.
"""

from __future__ import annotations

import struct
from functools import lru_cache
from typing import Any, Callable
from uuid import UUID, SafeUUID

from kproto.exceptions import ProtocolError
from kproto.model import ZERO_UUID, Message, lazy_default
from kproto.schema.types import ZERO, FieldSpec, MessageSpec, StructSpec

Decoder = Callable[[bytes, int, int], tuple[Any, int]]
Encoder = Callable[[Any, list], None]

FIXED = {"bool": "?", "int8": "b", "int16": "h", "uint16": "H", "int32": "i", "uint32": "I",
         "int64": "q", "float64": "d"}

#: Arrays whose elements may encode to zero bytes cannot be bounded by the bytes that remain;
#: no real message has more elements than this, so a larger count is malformed.
MAX_EMPTY_ELEMENTS = 1 << 16

#: Arrays of fixed-width numbers shorter than this use a prepared Struct, saving a format per call.
SMALL_ARRAY = 32
ARRAYS = {code: tuple(struct.Struct(f">{n}{code}") for n in range(SMALL_ARRAY)) for code in FIXED.values()}
#: The same, led by a compact array's one-byte length (SMALL_ARRAY + 1 < 128: one varint byte).
COMPACT_ARRAYS = {code: tuple(struct.Struct(f">B{n}{code}") for n in range(SMALL_ARRAY)) for code in FIXED.values()}

I8 = struct.Struct(">b")
I16 = struct.Struct(">h")
I32 = struct.Struct(">i")


def zero_value(spec: FieldSpec) -> Any:
    """The value a field takes when absent, made fresh where it is mutable."""
    if spec.default is not ZERO:
        return spec.default
    t = spec.type
    if t.startswith("[]"):
        return []
    if spec.struct is not None:
        return None  # a struct of defaults, made on first read (see kproto.model.lazy_default)
    if t in FIXED:
        return False if t == "bool" else (0.0 if t == "float64" else 0)
    return {"string": "", "bytes": b"", "records": None, "uuid": ZERO_UUID}[t]


# ---------------------------------------------------------------- helpers the generated code calls


def read_uvarint(b: bytes, p: int, end: int, where: str) -> tuple[int, int]:
    """Unsigned varint of at most 5 bytes (Kafka's limit for 32-bit values).

    Lengths of up to three bytes are read inline by the generated decoders (`read_length`); this
    serves the rest: longer lengths, tag counts, tags and tag sizes.
    """
    value = 0
    shift = 0
    while True:
        if p >= end:
            raise ProtocolError(f"{where}: truncated varint at byte {p}")
        byte = b[p]
        p += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, p
        shift += 7
        if shift > 28:
            raise ProtocolError(f"{where}: varint longer than 5 bytes at byte {p - 5}")


_SMALL_UVARINTS = tuple(bytes([n]) for n in range(128))


def uvarint(n: int) -> bytes:
    if n < 128:
        return _SMALL_UVARINTS[n]
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def short(where: str, p: int, need: int, end: int) -> ProtocolError:
    return ProtocolError(f"{where}: needs {need} bytes at byte {p}, {max(end - p, 0)} left")


def bad_length(where: str, p: int, n: int, end: int) -> ProtocolError:
    return ProtocolError(f"{where}: length {n} at byte {p} exceeds the {max(end - p, 0)} bytes left")


def not_nullable(where: str, p: int) -> ProtocolError:
    return ProtocolError(f"{where}: null at byte {p} but the field is not nullable in this version")


_NEW = object.__new__
_SET_UUID_INT = UUID.__dict__["int"].__set__
_SET_UUID_SAFE = UUID.__dict__["is_safe"].__set__
_UUID_SAFETY_UNKNOWN = SafeUUID.unknown

#: UUIDs decoded lately, by their bytes. Topic ids come back in request after request, and UUIDs
#: are immutable, so one object serves them all. Emptied when full: a stream of new ids costs
#: nothing more than no cache.
_UUIDS: dict[bytes, UUID] = {}
_UUIDS_KEPT = 4096


def read_uuid(raw: bytes | bytearray) -> UUID:
    """The UUID of 16 bytes: from the cache, or made as `UUID.__init__` makes it but without its
    argument checks (a third of the cost)."""
    if type(raw) is not bytes:  # read from a bytearray (see `decode`)
        raw = bytes(raw)
    uuid = _UUIDS.get(raw)
    if uuid is None:
        if raw == b"\0" * 16:
            return ZERO_UUID
        uuid = _NEW(UUID)
        _SET_UUID_INT(uuid, int.from_bytes(raw, "big"))
        _SET_UUID_SAFE(uuid, _UUID_SAFETY_UNKNOWN)
        if len(_UUIDS) >= _UUIDS_KEPT:
            _UUIDS.clear()
        _UUIDS[raw] = uuid
    return uuid


def unknown_tags_section(o: Any, known: list[tuple[int, bytes]]) -> bytes:
    """The tagged-field section: known non-default fields merged with tags kept from decoding."""
    tags = dict(known)
    if o._unknown_tags:
        for tag, raw in o._unknown_tags.items():
            tags.setdefault(tag, raw)
    parts = [uvarint(len(tags))]
    for tag in sorted(tags):
        raw = tags[tag]
        parts += [uvarint(tag), uvarint(len(raw)), raw]
    return b"".join(parts)


RUNTIME = {
    "struct": struct, "I8": I8, "I16": I16, "I32": I32, "UUID": UUID, "ZERO_UUID": ZERO_UUID,
    "read_uvarint": read_uvarint, "uvarint": uvarint, "short": short, "bad_length": bad_length,
    "not_nullable": not_nullable, "read_uuid": read_uuid, "ProtocolError": ProtocolError,
    "tags_section": unknown_tags_section, "MAX_EMPTY_ELEMENTS": MAX_EMPTY_ELEMENTS,
    "ARRAYS": ARRAYS, "SMALL_ARRAY": SMALL_ARRAY,
}


# ---------------------------------------------------------------- the compiler


def fixed_run_end(fields: list[FieldSpec], i: int) -> int:
    """The index after the run of fixed-width fields that starts at fields[i]."""
    while i < len(fields) and fields[i].type in FIXED:
        i += 1
    return i


class _Compiler:
    """Writes the decode and encode functions of one message at one version."""

    def __init__(self, spec: MessageSpec, cls: type, version: int, fast_paths: bool = True) -> None:
        self.spec = spec
        self.fast_paths = fast_paths  # off only in tests, which check both ways decode alike
        self.cls = cls
        self.version = version
        self.flexible = spec.is_flexible(version)
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}
        self.done: set[str] = set()
        self.lazy: list[tuple[StructSpec, FieldSpec]] = []
        self.methods: dict[tuple[str, str], str] = {}
        self.counter = 0

    # -- naming

    def const(self, value: Any, prefix: str = "K") -> str:
        for name, existing in self.consts.items():
            if existing is value:
                return name
        self.counter += 1
        name = f"{prefix}{self.counter}"
        self.consts[name] = value
        return name

    def struct_method(self, fmt: str, method: str) -> str:
        """The name of `struct.Struct(fmt).<method>`, bound once rather than looked up on every call."""
        key = (fmt, method)
        if key not in self.methods:
            self.methods[key] = self.const(getattr(struct.Struct(fmt), method), "S")
        return self.methods[key]

    def struct_class(self, struct_spec: StructSpec) -> type:
        return self.cls if struct_spec is self.spec.body else getattr(self.cls, struct_spec.name)

    def class_of(self, struct_spec: StructSpec) -> str:
        return self.const(self.struct_class(struct_spec), "C")

    def var(self) -> str:
        self.counter += 1
        return f"v{self.counter}"

    def is_flexible_field(self, f: FieldSpec) -> bool:
        if f.flexible is not None:
            return f.flexible[0] <= self.version <= f.flexible[1]
        return self.flexible

    def min_size(self, s: StructSpec) -> int:
        """Fewest bytes one value of the struct takes at this version."""
        size = 1 if self.flexible else 0  # the tagged-field count
        for f in s.fields:
            if not f.present_in(self.version) or f.tagged_in(self.version):
                continue
            if f.type in FIXED:
                size += struct.calcsize(">" + FIXED[f.type])
            elif f.type == "uuid":
                size += 16
            elif f.is_array or f.type in ("string", "bytes", "records"):
                size += 1 if self.is_flexible_field(f) else (2 if f.type == "string" else 4)
            elif f.struct is not None:
                size += self.min_size(f.struct) + (1 if f.nullable_in(self.version) else 0)
        return size

    # -- decoding

    def decoder(self, s: StructSpec) -> str:
        """`decode_S(b, p, end) -> (struct, p)`; `decode_S(b, m, p, end)` when S holds records (see `buffers`)."""
        name = f"decode_{s.name}"
        if name not in self.done:
            self.done.add(name)
            body = self.struct_body(s, "o", "    ")
            if s is self.spec.body:
                head = ["def %s(b, p, end):" % name] + (["    m = memoryview(b)"] if self.holds_records(s) else [])
            else:
                head = [f"def {name}({self.buffers(s)}p, end):"]
            self.lines += [*head, *body, "    return o, p", ""]
        return name

    def holds_records(self, s: StructSpec) -> bool:
        """Whether a value of `s` at this version has a records field, directly or in a nested struct."""
        return any(f.present_in(self.version)
                   and (f.type == "records" or (f.struct is not None and self.holds_records(f.struct)))
                   for f in s.fields)

    def buffers(self, s: StructSpec) -> str:
        """The leading arguments of a nested decoder: the bytes, and for structs holding records a
        memoryview of them, made once per message, so that records are handed out without a copy."""
        return "b, m, " if self.holds_records(s) else "b, "

    def struct_body(self, s: StructSpec, o: str, ind: str, end: str = "end") -> list[str]:
        """Statements making `o`, a struct `s` read from b[p:end], and advancing p past it.

        Arrays of structs are read by loops inlined here, not by a call per element or per array.
        """
        where = f"{self.spec.name} v{self.version} {s.name}"
        body = [f"{o} = new({self.class_of(s)})", f"{o}._unknown_tags = None"]
        for f in s.fields:
            if not f.present_in(self.version) or f.tagged_in(self.version):
                if f.struct is not None and not f.is_array and f.default is ZERO:
                    self.lazy.append((s, f))  # left unset; see kproto.model.lazy_default
                else:
                    body.append(f"{o}.{f.attr} = {self.default_expr(f)}")
        fields = [f for f in s.fields if f.present_in(self.version) and not f.tagged_in(self.version)]
        lines, at = self.fields_body(fields, None, o, end, where, self.fast_paths)
        body += lines
        if self.flexible:
            body += self.decode_tags(s, o, end, where, at)
        return [ind + line for line in body]

    def fields_body(self, fields: list[FieldSpec], after: FieldSpec | None, o: str, end: str, where: str,
                    fast_paths: bool) -> tuple[list[str], int | None]:
        """Statements reading `fields` into struct `o`, and `at` for what follows them (`after`, or
        the struct's tagged fields when None).

        `at` is set when the last statements read a run of fixed-width fields followed by a one-byte
        read (a compact length, or the tag count): the run's bounds check covered that byte too and
        left p where it was, so the next read takes its byte at `p + at` and advances p once for both.
        """
        body: list[str] = []
        at = None
        i = 0
        while i < len(fields):
            f = fields[i]
            if f.type not in FIXED:
                body += self.decode_field(f, f"{o}.{f.attr}", end, f"{where}.{f.name}", "", at)
                at = None
                i += 1
                continue
            j = fixed_run_end(fields, i)
            k = fixed_run_end(fields, j + 1)
            behind = fields[k] if k < len(fields) else after
            if (fast_paths and k > j + 1 and fields[j].is_array and self.is_flexible_field(fields[j])
                    and self.reads_one_byte_first(behind)):
                lines, at = self.empty_array_fast_path(fields[i:k], j - i, behind, o, end, where)
                i = k
            else:
                lines, at = self.fixed_run(fields[i:j], fields[j] if j < len(fields) else after, o, end, where)
                i = j
            body += lines
        return body, at

    def reads_one_byte_first(self, following: FieldSpec | None) -> bool:
        """Whether the read after a fixed run starts with one byte: a compact length, or the tag count."""
        if following is None:
            return self.flexible
        return self.has_compact_length(following)

    def fixed_run(self, run: list[FieldSpec], following: FieldSpec | None, o: str, end: str,
                  where: str) -> tuple[list[str], int | None]:
        """Fixed-width fields side by side, read by one `struct` call; returns the statements and `at`."""
        fmt = ">" + "".join(FIXED[g.type] for g in run)
        size = struct.calcsize(fmt)
        label = f"{where}.{run[0].name}" + (f"..{run[-1].name}" if len(run) > 1 else "")
        targets = ", ".join(f"{o}.{g.attr}" for g in run)
        read = f"{targets}{',' if len(run) == 1 else ''} = {self.struct_method(fmt, 'unpack_from')}(b, p)"
        if not self.reads_one_byte_first(following):
            return [f"if p + {size} > {end}: raise short({label!r}, p, {size}, {end})", read, f"p += {size}"], None
        after = f"{where}.{following.name}" if following else f"{where} tagged fields"
        return [f"if p + {size + 1} > {end}: raise short({label!r}, p, {size}, {end}) "
                f"if p + {size} > {end} else short({after!r}, p + {size}, 1, {end})", read], size

    def empty_array_fast_path(self, fields: list[FieldSpec], n_before: int, following: FieldSpec | None,
                              o: str, end: str, where: str) -> tuple[list[str], int | None]:
        """Fixed fields, a compact array, fixed fields, then a one-byte read: when the array is null or
        empty, one test of its length byte lets the fields on both sides come out of one `struct` call.

        Such an array is nearly always empty (a fetch's aborted transactions), and this saves about
        a tenth of the cost of each partition of a fetch response. Any other array, and any input
        too short for the whole span, takes the general statements, which also name what is wrong.
        Both ways leave p at the second run with its next byte checked, so `at` is the same.
        """
        before, array, behind = fields[:n_before], fields[n_before], fields[n_before + 1:]
        size_before = struct.calcsize(">" + "".join(FIXED[g.type] for g in before))
        fmt = ">" + "".join(FIXED[g.type] for g in before) + "B" + "".join(FIXED[g.type] for g in behind)
        general, at = self.fields_body(fields, following, o, end, where, fast_paths=False)
        n = self.var()
        nullable = array.nullable_in(self.version)
        targets = ", ".join([f"{o}.{g.attr}" for g in before] + [n] + [f"{o}.{g.attr}" for g in behind])
        return [
            f"if p + {struct.calcsize(fmt) + 1} <= {end} and b[p + {size_before}] {'< 2' if nullable else '== 1'}:",
            f"    {targets} = {self.struct_method(fmt, 'unpack_from')}(b, p)",
            f"    {o}.{array.attr} = {'[] if ' + n + ' else None' if nullable else '[]'}",
            f"    p += {size_before + 1}",
            "else:",
            *("    " + line for line in general),
        ], at

    def has_compact_length(self, f: FieldSpec) -> bool:
        """Whether reading `f` starts with a compact (varint) length or count."""
        return (f.is_array or f.type in ("string", "bytes", "records")) and self.is_flexible_field(f)

    def default_struct(self, s: StructSpec) -> str:
        """A shared struct of defaults, only ever compared against, never handed out."""
        return self.const(getattr(self.cls, s.name)(), "D")

    def default_expr(self, f: FieldSpec) -> str:
        """The default of a non-struct field, or of a struct field whose default is null."""
        if f.default is not ZERO:
            return self.const(f.default) if f.default is not None else "None"
        if f.is_array:
            return "[]"
        return self.const(zero_value(f))

    def decode_field(self, f: FieldSpec, target: str, end: str, where: str, ind: str,
                     at: int | None = None) -> list[str]:
        """Statements reading field `f` into `target`, advancing p, never past `end`.

        `at`: the field's compact length is at p + at, already bounds-checked (see `struct_body`).
        """
        t = f.type
        nullable = f.nullable_in(self.version)
        flex = self.is_flexible_field(f)
        out: list[str] = []
        if t in FIXED:
            size = struct.calcsize(">" + FIXED[t])
            out.append(f"if p + {size} > {end}: raise short({where!r}, p, {size}, {end})")
            out.append(f"{target}, = {self.struct_method('>' + FIXED[t], 'unpack_from')}(b, p)")
            out.append(f"p += {size}")
        elif t == "uuid":
            out.append(f"if p + 16 > {end}: raise short({where!r}, p, 16, {end})")
            out.append(f"{target} = read_uuid(b[p:p + 16])")
            out.append("p += 16")
        elif t in ("string", "bytes", "records"):
            n = self.var()
            out += self.read_length(n, flex, t == "string", end, where, at)
            out.append(f"if {n} >= 0:")
            out.append(f"    if {n} > {end} - p: raise bad_length({where!r}, p, {n}, {end})")
            if t == "string":
                out.append(f"    {target} = b[p:p + {n}].decode()")  # UTF-8; cheaper than str(..., 'utf-8')
            elif t == "records":
                out.append(f"    {target} = m[p:p + {n}]")
            else:
                out.append(f"    {target} = b[p:p + {n}]")
            out.append(f"    p += {n}")
            out.append("else:")
            out.append(f"    {target} = None" if nullable else f"    raise not_nullable({where!r}, p)")
        elif f.is_array:
            out += self.decode_array(f, target, end, where, nullable, flex, at)
        elif f.struct is not None:
            dec = self.decoder(f.struct)
            if nullable:  # KIP-893: an int8 marker, -1 for null
                out.append(f"if p + 1 > {end}: raise short({where!r}, p, 1, {end})")
                out.append("if b[p] == 255:")
                out.append(f"    {target} = None")
                out.append("    p += 1")
                out.append("else:")
                out.append(f"    {target}, p = {dec}({self.buffers(f.struct)}p + 1, {end})")
            else:
                out.append(f"{target}, p = {dec}({self.buffers(f.struct)}p, {end})")
        else:
            raise AssertionError(f"no decoder for type {t}")
        return [ind + line for line in out]

    def read_length(self, n: str, flex: bool, is_string: bool, end: str, where: str,
                    at: int | None = None) -> list[str]:
        """Read a length or count into `n`; -1 stands for null in both encodings.

        A compact length of up to three bytes (below 2 MiB: record sets of a produce or fetch) is read
        inline, longer ones by a call.
        """
        if flex:  # the varint holds the length plus one
            second = self.var()
            first = [f"if p >= {end}: raise short({where!r}, p, 1, {end})", f"{n} = b[p] - 1", "p += 1"]
            if at is not None:
                first = [f"{n} = b[p + {at}] - 1", f"p += {at + 1}"]
            return [
                *first,
                f"if {n} > 126:",
                f"    if p < {end} and ({second} := b[p]) < 128:",
                f"        {n} += ({second} << 7) - 128",
                "        p += 1",
                f"    elif p + 1 < {end} and b[p + 1] < 128:",
                f"        {n} += (({second} & 127) << 7) + (b[p + 1] << 14) - 128",
                "        p += 2",
                "    else:",
                f"        {n}, p = read_uvarint(b, p - 1, {end}, {where!r})",
                f"        {n} -= 1",
            ]
        fmt, size = (">h", 2) if is_string else (">i", 4)
        return [
            f"if p + {size} > {end}: raise short({where!r}, p, {size}, {end})",
            f"{n}, = {self.struct_method(fmt, 'unpack_from')}(b, p)",
            f"p += {size}",
            f"if {n} < -1: raise ProtocolError({where!r} + f': negative length {{{n}}} at byte {{p - {size}}}')",
        ]

    def decode_array(self, f: FieldSpec, target: str, end: str, where: str, nullable: bool, flex: bool,
                     at: int | None) -> list[str]:
        """An array: elements first, then the empty array (the usual case of some), then null."""
        n = self.var()
        out = self.read_length(n, flex, False, end, where, at)
        out.append(f"if {n} > 0:")
        element = f.element_type
        if element in FIXED:
            size = struct.calcsize(">" + FIXED[element])
            out.append(f"    if {n} * {size} > {end} - p: raise bad_length({where!r}, p, {n} * {size}, {end})")
            code = FIXED[element]
            prepared = self.const(ARRAYS[code], "A")
            out.append(f"    {target} = list({prepared}[{n}].unpack_from(b, p) if {n} < SMALL_ARRAY "
                       f"else struct.unpack_from('>%d{code}' % {n}, b, p))")
            out.append(f"    p += {n} * {size}")
        else:
            min_size = 16 if element == "uuid" else (self.min_size(f.struct) if f.struct is not None else 1)
            if min_size:
                out.append(f"    if {n} * {min_size} > {end} - p: raise bad_length({where!r}, p, {n}, {end})")
            else:
                out.append(f"    if {n} > MAX_EMPTY_ELEMENTS: raise bad_length({where!r}, p, {n}, {end})")
            items = self.var()
            item = self.var()
            push = self.var()
            out.append(f"    {target} = {items} = []")
            out.append(f"    {push} = {items}.append")
            out.append(f"    for _ in range({n}):")
            if f.struct is not None:
                out += self.struct_body(f.struct, item, "        ", end)
            else:
                scalar = FieldSpec(f.name, item, element, f.versions, f.nullable)
                out += self.decode_field(scalar, item, end, where + "[]", "        ")
            out.append(f"        {push}({item})")
        out.append(f"elif {n} == 0:")
        out.append(f"    {target} = []")
        out.append("else:")
        out.append(f"    {target} = None" if nullable else f"    raise not_nullable({where!r}, p)")
        return out

    def decode_tags(self, s: StructSpec, o: str, end: str, where: str, at: int | None) -> list[str]:
        """The tagged-field section; an empty one, the usual case, costs one test.

        Names are fresh for each section: a tagged array's structs have sections of their own.
        `at`: the tag count is at p + at, already bounds-checked (see `struct_body`).
        """
        tagged = [f for f in s.fields if f.tagged_in(self.version)]
        count, tag, size, tend = self.var(), self.var(), self.var(), self.var()
        if at is None:
            head = [f"if p >= {end}: raise short({where + ' tagged fields'!r}, p, 1, {end})", "if b[p]:"]
            empty = "    p += 1"
        else:
            head = [f"if b[p + {at}]:", f"    p += {at}"]
            empty = f"    p += {at + 1}"
        out = [
            *head,
            f"    {count} = b[p]",
            "    p += 1",
            f"    if {count} > 127: {count}, p = read_uvarint(b, p - 1, {end}, {where!r})",
            f"    if {count} > {end} - p: raise bad_length({where + ' tagged fields'!r}, p, {count}, {end})",
            f"    for _ in range({count}):",
            f"        {tag}, p = read_uvarint(b, p, {end}, {where + ' tag'!r})",
            f"        {size}, p = read_uvarint(b, p, {end}, {where + ' tag size'!r})",
            f"        if {size} > {end} - p: raise bad_length({where + ' tagged field'!r}, p, {size}, {end})",
            f"        {tend} = p + {size}",
        ]
        keyword = "if"
        for f in tagged:
            out.append(f"        {keyword} {tag} == {f.tag}:")
            out += self.decode_field(f, f"{o}.{f.attr}", tend, f"{where}.{f.name}", "            ")
            out.append(f"            if p != {tend}:")
            out.append(f"                raise ProtocolError({where + '.' + f.name!r} "
                       f"+ f': tagged field ends at byte {{p}}, its size says {{{tend}}}')")
            keyword = "elif"
        indent = "        "
        if tagged:
            out.append(f"{indent}else:")
            indent += "    "
        out.append(f"{indent}if {o}._unknown_tags is None: {o}._unknown_tags = {{}}")
        out.append(f"{indent}{o}._unknown_tags[{tag}] = b[p:{tend}]")
        out.append(f"{indent}p = {tend}")
        out.append("else:")
        out.append(empty)
        return out

    # -- encoding

    def encoder(self, s: StructSpec) -> str:
        name = f"encode_{s.name}"
        if name in self.done:
            return name
        self.done.add(name)
        body = self.encode_struct(s, "o", "    ")
        self.lines += [f"def {name}(o, out):", *(body or ["    pass"]), ""]  # pass: nothing on the wire
        return name

    def encode_struct(self, s: StructSpec, o: str, ind: str, sink: str = "out") -> list[str]:
        """Statements appending the encoding of struct `o` to `sink`; inlined in array loops."""
        where = f"{self.spec.name} v{self.version} {s.name}"
        body: list[str] = []
        for f in s.fields:
            if not f.present_in(self.version) and not f.ignorable:
                body += self.check_absent(f, o, where)
        fields = [f for f in s.fields if f.present_in(self.version) and not f.tagged_in(self.version)]
        i = 0
        while i < len(fields):
            f = fields[i]
            if f.type in FIXED:
                j = fixed_run_end(fields, i)
                packer = self.const(struct.Struct(">" + "".join(FIXED[g.type] for g in fields[i:j])), "S")
                body.append(f"{sink}.append({packer}.pack({', '.join(f'{o}.{g.attr}' for g in fields[i:j])}))")
                i = j
                continue
            body += self.encode_field(f, f"{o}.{f.attr}", f"{where}.{f.name}", "", sink)
            i += 1
        if self.flexible:
            body += self.encode_tags(s, o, sink)
        return [ind + line for line in body]

    def inlinable(self, s: StructSpec) -> bool:
        """Whether array elements of `s` are encoded in the loop rather than by a call per element:
        yes unless `s` has known tagged fields, whose section uses names of its own."""
        return not any(f.tagged_in(self.version) for f in s.fields)

    def check_absent(self, f: FieldSpec, o: str, where: str) -> list[str]:
        """A non-ignorable field with a non-default value cannot be sent in this version."""
        if f.is_array:
            test = f"{o}.{f.attr}"
        elif f.struct is not None:
            test = f"{o}.{f.attr} is not None and {o}.{f.attr} != {self.default_struct(f.struct)}"
            if f.default is None:
                test = f"{o}.{f.attr} is not None"
        else:
            test = f"{o}.{f.attr} != {self.const(zero_value(f))}"
        message = f"{where}.{f.name} is not part of version {self.version}; it must keep its default"
        return [f"if {test}: raise ProtocolError({message!r})"]

    def encode_field(self, f: FieldSpec, value: str, where: str, ind: str, sink: str = "out") -> list[str]:
        t = f.type
        nullable = f.nullable_in(self.version)
        flex = self.is_flexible_field(f)
        out: list[str] = []
        if t in FIXED:
            packer = self.const(struct.Struct(">" + FIXED[t]), "S")
            out.append(f"{sink}.append({packer}.pack({value}))")
        elif t == "uuid":
            out.append(f"{sink}.append({value}.bytes)")
        elif t in ("string", "bytes", "records") or f.is_array:
            x = self.var()
            out.append(f"{x} = {value}")
            out.append(f"if {x} is None:")
            if nullable:
                out.append(f"    {sink}.append(b'\\x00')" if flex else
                           f"    {sink}.append({'I16' if t == 'string' else 'I32'}.pack(-1))")
            else:
                out.append(f"    raise ProtocolError({where + ' is null but not nullable in this version'!r})")
            out.append("else:")
            if t == "string":
                out.append(f"    {x} = {x}.encode()")
            if f.is_array:
                out += ["    " + line for line in self.encode_array_body(f, x, where, flex, sink)]
            else:
                length = f"uvarint(len({x}) + 1)" if flex else f"{'I16' if t == 'string' else 'I32'}.pack(len({x}))"
                out.append(f"    {sink}.append({length})")
                out.append(f"    {sink}.append({x})")
        elif f.struct is not None:
            enc = self.encoder(f.struct)
            if nullable:
                out.append(f"if {value} is None:")
                out.append(f"    {sink}.append(b'\\xff')")
                out.append("else:")
                out.append(f"    {sink}.append(b'\\x01')")
                out.append(f"    {enc}({value}, {sink})")
            else:
                out.append(f"{enc}({value}, {sink})")
        else:
            raise AssertionError(f"no encoder for type {t}")
        return [ind + line for line in out]

    def encode_array_body(self, f: FieldSpec, x: str, where: str, flex: bool, sink: str) -> list[str]:
        element = f.element_type
        if element in FIXED and flex:  # a short array and its one-byte length go out in one piece
            code, n = FIXED[element], self.var()
            return [f"{n} = len({x})",
                    f"if {n} < {SMALL_ARRAY}: {sink}.append({self.const(COMPACT_ARRAYS[code], 'A')}[{n}].pack({n} + 1, *{x}))",
                    "else:",
                    f"    {sink}.append(uvarint({n} + 1))",
                    f"    {sink}.append(struct.pack('>%d{code}' % {n}, *{x}))"]
        out = [f"{sink}.append(uvarint(len({x}) + 1))" if flex else f"{sink}.append(I32.pack(len({x})))"]
        if element in FIXED:
            code = FIXED[element]
            out.append(f"{sink}.append(ARRAYS[{code!r}][len({x})].pack(*{x}) if len({x}) < SMALL_ARRAY else "
                       f"struct.pack('>%d{code}' % len({x}), *{x}))")
            return out
        item = self.var()
        out.append(f"for {item} in {x}:")
        if f.struct is not None and self.inlinable(f.struct):
            out += self.encode_struct(f.struct, item, "    ", sink)
        elif f.struct is not None:
            out.append(f"    {self.encoder(f.struct)}({item}, {sink})")
        else:
            scalar = FieldSpec(f.name, item, element, f.versions, f.nullable)
            out += self.encode_field(scalar, item, where + "[]", "    ", sink)
        return out

    def encode_tags(self, s: StructSpec, o: str, sink: str) -> list[str]:
        tagged = [f for f in s.fields if f.tagged_in(self.version)]
        if not tagged:
            return [f"if {o}._unknown_tags: {sink}.append(tags_section({o}, []))",
                    f"else: {sink}.append(b'\\x00')"]
        out = ["known = []"]
        for f in tagged:
            if f.is_array:
                test = f"o.{f.attr}" if f.default is ZERO else f"o.{f.attr} is not None"
            elif f.struct is not None:
                test = f"o.{f.attr} is not None" + (
                    f" and o.{f.attr} != {self.default_struct(f.struct)}" if f.default is ZERO else "")
            else:
                test = f"o.{f.attr} != {self.default_expr(f)}"
            out.append(f"if {test}:")
            out.append("    sub = []")
            out += self.encode_field(f, f"o.{f.attr}", f"{self.spec.name}.{f.name}", "    ", sink="sub")
            out.append(f"    known.append(({f.tag}, b''.join(sub)))")
        out.append("if known or o._unknown_tags: out.append(tags_section(o, known))")
        out.append("else: out.append(b'\\x00')")
        return out

    # -- assembly

    def build(self) -> tuple[Decoder, Encoder]:
        decode_name = self.decoder(self.spec.body)
        encode_name = self.encoder(self.spec.body)
        source = "\n".join(self.lines)
        namespace: dict[str, Any] = dict(RUNTIME)
        namespace.update(self.consts)
        namespace["new"] = object.__new__
        code = compile(source, f"<kproto {self.spec.name} v{self.version}>", "exec")
        exec(code, namespace)  # noqa: S102 - our own generated source, built from the descriptions
        for owner, f in self.lazy:
            lazy_default(self.struct_class(owner), f.attr, self.struct_class(f.struct))
        return namespace[decode_name], namespace[encode_name]


@lru_cache(maxsize=None)
def compiled(cls: type[Message], version: int) -> tuple[Decoder, Encoder]:
    """The (decode, encode) pair of a message class at a version, compiled on first use."""
    spec = cls.SPEC
    if not spec.versions[0] <= version <= spec.versions[1]:
        raise ProtocolError(f"{spec.name} has no version {version} (valid: {spec.versions[0]}-{spec.versions[1]})")
    return _Compiler(spec, cls, version).build()


def compiled_source(cls: type[Message], version: int, fast_paths: bool = True) -> str:
    """The generated source for one message version, for reading and debugging; `fast_paths=False`
    gives it without the fast paths, as the tests that compare both ways compile it."""
    compiler = _Compiler(cls.SPEC, cls, version, fast_paths)
    compiler.build()
    return "\n".join(compiler.lines)


@lru_cache(maxsize=None)
def holds_records(cls: type[Message]) -> bool:
    """Whether a message has a records field (at any depth): Produce requests and the Fetch answers."""
    def within(s: StructSpec) -> bool:
        return any(f.type == "records" or (f.struct is not None and within(f.struct)) for f in s.fields)
    return within(cls.SPEC.body)


def decode(cls: type[Message], version: int, data: bytes | bytearray, pos: int = 0, end: int | None = None,
           allow_trailing: bool = False) -> Any:
    """Decode one whole message body of `cls` at `version` from data[pos:end].

    Bytes left after the body are an error unless `allow_trailing`: Apache Kafka's broker
    ignores them, and some clients send them (librdkafka's all-topics Metadata v13 request).

    A message with records is decoded from a bytearray as it is, and its records are then views
    of that bytearray that can be written (the broker stamps a produced batch where it was
    received); none of those messages has a field of type bytes, which would come out as a
    bytearray. Anything else is copied to bytes first.
    """
    decoder = compiled(cls, version)[0]
    if type(data) is not bytes and not (type(data) is bytearray and holds_records(cls)):
        data = bytes(data)
    end = len(data) if end is None else end
    try:
        obj, p = decoder(data, pos, end)
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{cls.SPEC.name} v{version}: string is not valid UTF-8 ({exc.reason} at {exc.start})") from None
    if p != end and not allow_trailing:
        raise ProtocolError(f"{cls.SPEC.name} v{version}: {end - p} trailing bytes after byte {p}")
    return obj


def encode(obj: Message, version: int) -> bytes:
    """Encode `obj` as its class's message at `version`."""
    out: list[bytes] = []
    encode_into(obj, version, out)
    return b"".join(out)


def encode_into(obj: Message, version: int, out: list) -> None:
    """Append the encoding of `obj` to a list of byte strings (join them, or write them as they are)."""
    encoder = compiled(type(obj), version)[1]
    try:
        encoder(obj, out)
    except (struct.error, AttributeError, TypeError) as exc:
        raise ProtocolError(f"{type(obj).__name__} v{version}: cannot encode: {exc}") from None
