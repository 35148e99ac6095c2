"""kproto's message descriptions against Apache Kafka's own definitions, field by field.

Every definition file under `../shared/kafka-messages` is read here with a loader of its own
(nothing is shared with tools/generate_schema.py, so a mistake there cannot hide itself), and
for every version the file owns both sides are projected to plain tuples and compared.

Which file owns a version: a file in `newer/` owns all of its versions; the older file of the
same api key and kind (or name, for headers and data) owns only the versions below the newer
file's lowest. The share APIs' released definitions, kept in tools/released-definitions/ (facts
read from kio's modules by tools/released_definitions.py; test_kio.py checks the wire against
kio itself), count as newer files under the prefix `released/`. An older file that owns nothing is wholly superseded (ListClientMetricsResources,
renamed ListConfigResources under the same api key); it is compared by wire shape only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from kproto import messages
from kproto.model import Message
from kproto.schema.types import ZERO, FieldSpec, StructSpec

REPO = Path(__file__).resolve().parents[2]
ORACLE = REPO.parent / "shared" / "kafka-messages"
RELEASED = REPO / "tools" / "released-definitions"
OPEN = 0x7FFF
INTS = {"int8", "int16", "uint16", "int32", "uint32", "int64"}
FRESH = "fresh struct"  # the default of a non-null struct field: a struct of defaults


# ---------------------------------------------------------------- reading the oracle


_STRING_OR_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*')


def _strip_comments(text: str) -> str:
    """Drop // comments, leaving any // inside a JSON string alone."""
    return _STRING_OR_COMMENT.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)


def _versions(text: str | None) -> tuple[int, int] | None:
    if text is None or text == "none":
        return None
    if text.endswith("+"):
        return int(text[:-1]), OPEN
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def _within(v: int, r: tuple[int, int] | None) -> bool:
    return r is not None and r[0] <= v <= r[1]


@dataclass
class Definition:
    path: str  # relative to the oracle folder
    doc: dict

    @property
    def key(self) -> tuple:
        d = self.doc
        return (d["apiKey"] if "apiKey" in d else d["name"], d["type"])

    @property
    def versions(self) -> tuple[int, int]:
        r = _versions(self.doc["validVersions"])
        assert r is not None
        return r


def _load(folder: Path, prefix: str = "") -> list[Definition]:
    return [Definition(prefix + p.name, json.loads(_strip_comments(p.read_text())))
            for p in sorted(folder.glob("*.json"))]


def _ownership() -> list[tuple[Definition, list[int], list[int]]]:
    """(definition, versions it owns, versions where a newer file supersedes it)."""
    top = _load(ORACLE)
    newer = {d.key: d for d in _load(ORACLE / "newer", "newer/") + _load(RELEASED, "released/")}
    out = []
    for d in top:
        low, high = d.versions
        split = newer[d.key].versions[0] if d.key in newer else high + 1
        out.append((d, list(range(low, min(high, split - 1) + 1)), list(range(max(low, split), high + 1))))
    for d in newer.values():
        out.append((d, list(range(d.versions[0], d.versions[1] + 1)), []))
    for folder in ("group-coordinator", "transaction-coordinator"):
        for d in _load(ORACLE / folder, folder + "/"):
            out.append((d, list(range(d.versions[0], d.versions[1] + 1)), []))
    return out


OWNERSHIP = _ownership()


def _class_for(d: Definition) -> type[Message]:
    doc = d.doc
    if "apiKey" in doc:
        request, response = messages.APIS[doc["apiKey"]]
        return getattr(messages, request if doc["type"] == "request" else response)
    return getattr(messages, doc["name"])


# ---------------------------------------------------------------- projecting both sides


def _json_default(f: dict, version: int, commons: dict) -> Any:
    """The Python value a JSON field defaults to (Kafka writes defaults as strings or bare values)."""
    t = f["type"]
    raw = f.get("default")
    if raw == "null" or (raw is None and "default" in f):
        return None
    if t.startswith("[]"):
        assert raw in (None, ""), f"{f['name']}: array default {raw!r}"
        return []
    if t in INTS:
        return 0 if raw is None else (raw if isinstance(raw, int) else int(raw, 0))
    if t == "bool":
        return False if raw is None else (raw if isinstance(raw, bool) else raw.strip().lower() == "true")
    if t == "float64":
        return 0.0 if raw is None else float(raw)
    if t == "string":
        return "" if raw is None else raw
    if t == "bytes":
        return b""
    if t == "records":
        return None
    if t == "uuid":
        return UUID(int=0)
    assert raw is None, f"{f['name']}: struct default {raw!r}"
    return FRESH


def _spec_default(f: FieldSpec) -> Any:
    if f.default is not ZERO:
        return f.default
    t = f.type
    if f.is_array:
        return []
    if f.struct is not None:
        return FRESH
    if t in INTS:
        return 0
    return {"bool": False, "float64": 0.0, "string": "", "bytes": b"", "records": None,
            "uuid": UUID(int=0)}[t]


def project_json(fields: list[dict], version: int, commons: dict, flexible: bool) -> tuple:
    """The fields of a JSON struct that are on the wire at `version`, as comparable tuples."""
    out = []
    for f in fields:
        tagged = _versions(f.get("taggedVersions"))
        present = _versions(f["versions"]) if "versions" in f else tagged
        if not _within(version, present):
            out.append((f["name"], "absent", bool(f.get("ignorable", False)), _json_default(f, version, commons)))
            continue
        element = f["type"][2:] if f["type"].startswith("[]") else f["type"]
        children = f.get("fields")
        if children is None and element in commons:
            children = commons[element]
        field_flex = _versions(f["flexibleVersions"]) if "flexibleVersions" in f else None
        is_tagged = flexible and _within(version, tagged)
        out.append((
            f["name"],
            f["type"],
            _within(version, _versions(f.get("nullableVersions"))),
            int(f["tag"]) if is_tagged else None,  # some files write the tag as a string
            is_tagged,
            _json_default(f, version, commons),
            _within(version, field_flex) if "flexibleVersions" in f else None,
            project_json(children, version, commons, flexible) if children is not None else None,
        ))
    return tuple(out)


def project_spec(struct: StructSpec, version: int, flexible: bool) -> tuple:
    """The same projection of one of kproto's descriptions."""
    out = []
    for f in struct.fields:
        if not f.present_in(version):
            out.append((f.name, "absent", f.ignorable, _spec_default(f)))
            continue
        is_tagged = flexible and f.tagged_in(version)
        out.append((
            f.name,
            f.type,
            f.nullable_in(version),
            f.tag if is_tagged else None,
            is_tagged,
            _spec_default(f),
            _within(version, f.flexible) if f.flexible is not None else None,
            project_spec(f.struct, version, flexible) if f.struct is not None else None,
        ))
    return tuple(out)


def wire_shape(projection: tuple) -> tuple:
    """A projection without names: what the bytes look like, not what the fields are called."""
    return tuple(
        (t.rpartition("]")[0] + ("struct" if children is not None else t.rpartition("]")[2]),
         nullable, tag, tagged, flex, wire_shape(children) if children is not None else None)
        for _name, t, nullable, tag, tagged, _default, flex, children in
        (f for f in projection if f[1] != "absent")
    )


def first_difference(a: tuple, b: tuple, path: str = "") -> str:
    """Where two projections part, for a readable failure."""
    names_a, names_b = [f[0] for f in a], [f[0] for f in b]
    if names_a != names_b:
        return f"{path or 'top'}: fields {names_a} (oracle) vs {names_b} (kproto)"
    labels = ("name", "type", "nullable", "tag", "tagged", "default", "flexible", "fields")
    for fa, fb in zip(a, b):
        for label, x, y in zip(labels, fa, fb):
            if label == "fields" and isinstance(x, tuple) and isinstance(y, tuple):
                inner = first_difference(x, y, f"{path}{fa[0]}.")
                if inner:
                    return inner
            elif x != y:
                return f"{path}{fa[0]}: {label} {x!r} (oracle) vs {y!r} (kproto)"
    return ""


def align(expected: tuple, actual: tuple) -> tuple[tuple, tuple]:
    """Put absent fields last, in name order (their order has no meaning on the wire), and drop
    from kproto's side the absent fields the owning file does not declare (the other file's)."""
    declared = {f[0] for f in expected}
    children = {f[0]: f[-1] for f in expected if f[1] != "absent" and isinstance(f[-1], tuple)}
    exp_present, act_present = [], []
    for f in expected:
        if f[1] != "absent":
            exp_present.append(f)
    for f in actual:
        if f[1] != "absent":
            if f[0] in children and isinstance(f[-1], tuple):
                inner_exp, inner_act = align(children[f[0]], f[-1])
                exp_present = [g[:-1] + (inner_exp,) if g[0] == f[0] else g for g in exp_present]
                f = f[:-1] + (inner_act,)
            act_present.append(f)
    exp_absent = sorted((f for f in expected if f[1] == "absent"), key=lambda f: f[0])
    act_absent = sorted((f for f in actual if f[1] == "absent" and f[0] in declared), key=lambda f: f[0])
    return tuple(exp_present + exp_absent), tuple(act_present + act_absent)


def _doc_projection(doc: dict, version: int) -> tuple:
    commons = {c["name"]: c["fields"] for c in doc.get("commonStructs", [])}
    flexible = _within(version, _versions(doc["flexibleVersions"]))
    return project_json(doc["fields"], version, commons, flexible)


# ---------------------------------------------------------------- the tests


OWNED = [pytest.param(d, v, id=f"{d.path}-v{v}") for d, owned, _ in OWNERSHIP for v in owned]
SUPERSEDED = [pytest.param(d, v, id=f"{d.path}-v{v}") for d, _, over in OWNERSHIP for v in over]


def test_every_file_is_read() -> None:
    files = {d.path for d, _, _ in OWNERSHIP}
    on_disk = {str(p.relative_to(ORACLE)) for p in ORACLE.rglob("*.json")}
    on_disk |= {f"released/{p.name}" for p in RELEASED.glob("*.json")}
    assert files == on_disk
    assert len(files) == 186 + 108 + 30 + 2 + 24


@pytest.mark.parametrize(("definition", "version"), OWNED)
def test_description_matches_definition(definition: Definition, version: int) -> None:
    cls = _class_for(definition)
    doc = definition.doc
    spec = cls.SPEC
    assert cls.__name__ == doc["name"] == spec.name
    assert spec.kind == doc["type"]
    assert spec.api_key == doc.get("apiKey")
    assert spec.versions[0] <= version <= spec.versions[1]
    flexible = _within(version, _versions(doc["flexibleVersions"]))
    assert spec.is_flexible(version) == flexible
    expected, actual = align(_doc_projection(doc, version), project_spec(spec.body, version, flexible))
    assert expected == actual, first_difference(expected, actual)
    assert any(src == definition.path and lo <= version <= hi for src, (lo, hi) in spec.sources)


@pytest.mark.parametrize(("definition", "version"), SUPERSEDED)
def test_superseded_versions_keep_their_wire_shape(definition: Definition, version: int) -> None:
    """Versions a newer file took over must still look the same on the wire."""
    cls = _class_for(definition)
    flexible = _within(version, _versions(definition.doc["flexibleVersions"]))
    assert cls.SPEC.is_flexible(version) == flexible
    expected = wire_shape(_doc_projection(definition.doc, version))
    actual = wire_shape(project_spec(cls.SPEC.body, version, flexible))
    assert (expected == actual) != (definition.path in CHANGED_BEFORE_RELEASE)


#: Pre-release share definitions whose version 0 changed on the wire before Kafka released it.
CHANGED_BEFORE_RELEASE = {"ReadShareGroupStateSummaryResponse.json"}  # LeaderEpoch added


def test_wholly_superseded_files() -> None:
    """Older files a newer one replaces completely; only ListClientMetricsResources was renamed. The
    pre-release share coordinator APIs are among them: their released files keep version 0."""
    gone = [d for d, owned, _ in OWNERSHIP if not owned]
    renamed = sorted(d.path for d in gone if _class_for(d).__name__ != d.doc["name"])
    assert renamed == ["ListClientMetricsResourcesRequest.json", "ListClientMetricsResourcesResponse.json"]
    share_state = {f"{name}{kind}.json" for name in ("DeleteShareGroupState", "InitializeShareGroupState",
                                                     "ReadShareGroupState", "ReadShareGroupStateSummary",
                                                     "WriteShareGroupState") for kind in ("Request", "Response")}
    assert share_state <= {d.path for d in gone}
    assert {_class_for(d).__name__ for d in gone if d.path in renamed} == {
        "ListConfigResourcesRequest", "ListConfigResourcesResponse"}


def test_versions_are_the_union_of_the_files() -> None:
    by_class: dict[type, set[int]] = {}
    for d, owned, _ in OWNERSHIP:
        by_class.setdefault(_class_for(d), set()).update(owned)
    for cls, versions in by_class.items():
        low, high = cls.SPEC.versions
        assert versions == set(range(low, high + 1)), cls.__name__


def _owner(cls: type) -> type:
    return getattr(messages, cls.__qualname__.split(".")[0])


def _walk(cls: type, struct: StructSpec):
    yield cls, struct
    owner = _owner(cls)
    for f in struct.fields:
        if f.struct is not None:
            yield from _walk(getattr(owner, f.struct.name), f.struct)


@pytest.mark.parametrize("name", sorted(messages.MODULES))
def test_classes_start_at_their_defaults(name: str) -> None:
    cls = getattr(messages, name)
    for struct_cls, struct in _walk(cls, cls.SPEC.body):
        obj = struct_cls()
        for f in struct.fields:
            value = getattr(obj, f.attr)
            expected = _spec_default(f)
            if expected == FRESH:
                assert type(value) is getattr(cls, f.struct.name), f"{struct.name}.{f.name}"
            else:
                assert value == expected and type(value) is type(expected), f"{struct.name}.{f.name}"
        assert set(struct_cls.__slots__) == {f.attr for f in struct.fields} | {"_unknown_tags"}


def test_every_api_has_request_and_response_classes() -> None:
    keys: dict[int, set[str]] = {}
    for d, _, _ in OWNERSHIP:
        if "apiKey" in d.doc:
            keys.setdefault(d.doc["apiKey"], set()).add(d.doc["type"])
    assert all(kinds == {"request", "response"} for kinds in keys.values())
    assert set(messages.APIS) == set(keys)
    for key, (request, response) in messages.APIS.items():
        req, resp = getattr(messages, request), getattr(messages, response)
        assert (req.SPEC.kind, resp.SPEC.kind) == ("request", "response")
        assert req.API_KEY == resp.API_KEY == key
        assert req.SPEC.versions == resp.SPEC.versions, key
        assert req.SPEC.flexible == resp.SPEC.flexible, key


def test_generated_files_are_up_to_date() -> None:
    result = subprocess.run([sys.executable, str(REPO / "tools" / "generate_schema.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
