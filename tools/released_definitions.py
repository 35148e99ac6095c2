#!/usr/bin/env python3
"""Kafka's released definitions of the KIP-932 share APIs, as facts read from the kio package.

The definitions in ../shared/kafka-messages describe the share APIs as they stood before release
(version 0, since withdrawn); clients speak the released versions. kio (PyPI) ships modules
generated from Kafka's released definitions, one module per API version. This script reads those
modules' declarations with `ast` (nothing of kio is imported or run), folds the versions back
into one definition per message, and writes the facts (names, types, versions, nullability,
defaults) in Kafka's JSON layout under tools/released-definitions/. tools/generate_schema.py reads
that folder like a `newer/` one: those files own the versions from their lowest on.

How kio's modules are read back into Kafka's terms:
* names are kio's snake case turned back into Kafka's; where the pre-release definition has a field
  of the same name its spelling is kept. Time fields (`timedelta_i32`) get back the "Ms" suffix kio
  drops, and `error_code` is Kafka's int16;
* `X | None` marks a nullable field, except on a uuid, which kio always annotates so;
* a field's versions are those whose module declares it; `N+` when it reaches the last one;
* a message flexible from its first version is written "0+", as Kafka writes it;
* kio gives primitive arrays the default `()`, which is no default in Kafka's terms;
* `ignorable` is not in kio's modules: every field is written as not ignorable.
Tagged fields and time stamps (`datetime_i64`) do not occur in these APIs and are refused.

    python tools/released_definitions.py            # rewrite from the installed kio
    python tools/released_definitions.py --check    # exit 1 if the files differ from what kio says
    python tools/released_definitions.py --kio DIR  # read another copy (an unzipped wheel's kio/)
"""

from __future__ import annotations

import argparse
import ast
import importlib.metadata
import importlib.util
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "tools" / "released-definitions"
PRE_RELEASE = ROOT.parent / "shared" / "kafka-messages"
KIO_VERSION = "0.6.5"  # the version these files were read from; pinned in pyproject's test extra

#: kio's module folders for the share APIs and the share coordinator's state APIs.
APIS = (
    "share_group_heartbeat", "share_group_describe", "share_fetch", "share_acknowledge",
    "describe_share_group_offsets", "alter_share_group_offsets", "delete_share_group_offsets",
    "initialize_share_group_state", "read_share_group_state", "write_share_group_state",
    "delete_share_group_state", "read_share_group_state_summary",
)
KINDS = ("request", "response")

#: kio's type names for Kafka's primitives; the time and error types are Kafka ints.
KAFKA_TYPES = {"error_code": "int16", "timedelta_i32": "int32"} | {
    t: t for t in ("bool", "int8", "int16", "int32", "int64", "string", "bytes", "records", "uuid")
}
TIME_TYPES = {"timedelta_i32"}


# ---------------------------------------------------------------- one kio module


@dataclass
class KioField:
    """One field as one version's module declares it."""

    snake: str
    kio_type: str | None  # metadata kafka_type; None for a struct or array of structs
    element: str  # the struct's class name, or the primitive's kio type
    array: bool
    optional: bool
    default: ast.expr | None


def _literal_metadata(call: ast.Call) -> dict:
    for kw in call.keywords:
        if kw.arg == "metadata":
            return ast.literal_eval(kw.value)
    return {}


def _annotation(node: ast.expr) -> tuple[str, bool, bool]:
    """(element name, is an array, `| None`) of an annotation such as `tuple[X, ...] | None`."""
    optional = False
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        if not (isinstance(node.right, ast.Constant) and node.right.value is None):
            raise SystemExit(f"unexpected annotation {ast.unparse(node)}")
        node, optional = node.left, True
    if isinstance(node, ast.Subscript) and ast.unparse(node.value) == "tuple":
        return ast.unparse(node.slice.elts[0]), True, optional  # type: ignore[attr-defined]
    return ast.unparse(node), False, optional


def _field(stmt: ast.AnnAssign) -> KioField:
    assert isinstance(stmt.target, ast.Name)
    metadata: dict = {}
    default: ast.expr | None = stmt.value
    if isinstance(stmt.value, ast.Call) and ast.unparse(stmt.value.func) == "field":
        metadata = _literal_metadata(stmt.value)
        default = next((kw.value for kw in stmt.value.keywords if kw.arg == "default"), None)
    if "tag" in metadata:
        raise SystemExit(f"{stmt.target.id}: tagged fields are not read by this script")
    element, array, optional = _annotation(stmt.annotation)
    kio_type = metadata.get("kafka_type")
    return KioField(stmt.target.id, kio_type, kio_type or element, array, optional, default)


@dataclass
class KioModule:
    version: int
    flexible: bool
    api_key: int
    root: str  # the message class
    classes: dict[str, list[KioField]]


def read_module(path: Path) -> KioModule:
    tree = ast.parse(path.read_text())
    classes: dict[str, list[KioField]] = {}
    constants: dict[str, ast.expr] = {}
    root = ""
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        fields = []
        for stmt in node.body:
            if not isinstance(stmt, ast.AnnAssign):
                continue
            name = stmt.target.id  # type: ignore[union-attr]
            if name.startswith("__"):
                assert stmt.value is not None
                constants[name] = stmt.value
                if name == "__type__" and ast.unparse(stmt.value) in ("EntityType.request", "EntityType.response"):
                    root = node.name
            else:
                fields.append(_field(stmt))
        classes[node.name] = fields
    def number(name: str) -> int:
        call = constants[name]
        assert isinstance(call, ast.Call)
        return ast.literal_eval(call.args[0])
    return KioModule(number("__version__"), ast.literal_eval(constants["__flexible__"]), number("__api_key__"),
                     root, classes)


# ---------------------------------------------------------------- folding versions into a definition


def version_text(present: list[int], last: int) -> str:
    """Kafka's range text for a contiguous run of versions."""
    if present != list(range(present[0], present[-1] + 1)):
        raise SystemExit(f"versions {present} are not contiguous")
    if present[-1] == last:
        return f"{present[0]}+"
    return str(present[0]) if present[0] == present[-1] else f"{present[0]}-{present[-1]}"


def default_text(f: KioField) -> str | None:
    """The default as Kafka's JSON writes it, or None when the field has none."""
    d = f.default
    if d is None or (f.array and isinstance(d, ast.Tuple) and not d.elts):
        return None
    if isinstance(d, ast.Constant):
        if d.value is None:
            return "null"
        return str(d.value).lower() if isinstance(d.value, bool) else d.value
    if isinstance(d, ast.Call) and len(d.args) == 1:
        return str(ast.literal_eval(d.args[0]))  # i32(2147483647), i32(-2147483648), ErrorCode(0)
    raise SystemExit(f"{f.snake}: unreadable default {ast.unparse(d)}")


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


def kafka_name(f: KioField, known: dict[str, str]) -> str:
    """Kafka's spelling of a kio field name: the pre-release one where there is one."""
    snake = f.snake.rstrip("_") + ("_ms" if f.kio_type in TIME_TYPES else "")
    return known.get(_squash(snake)) or "".join(part.capitalize() for part in snake.split("_"))


def pre_release_names(fields: list[dict], out: dict[str, dict[str, str]], struct: str) -> None:
    """Field names of a pre-release definition, by struct and by squashed name."""
    names = out.setdefault(struct, {})
    for f in fields:
        names[_squash(f["name"])] = f["name"]
        if "fields" in f:
            pre_release_names(f["fields"], out, f["type"].removeprefix("[]"))


def fold_struct(name: str, modules: list[KioModule], last: int, known: dict[str, dict[str, str]]) -> list[dict]:
    """The fields of struct `name` over every version whose module has it, in wire order."""
    seen: dict[str, list[tuple[int, KioField]]] = {}
    for m in modules:
        for f in m.classes.get(name, []):
            seen.setdefault(f.snake, []).append((m.version, f))
    order: list[str] = []
    for m in reversed(modules):  # the latest order, with fields later versions dropped put back in place
        previous = None
        for f in m.classes.get(name, []):
            if f.snake not in order:
                order.insert(order.index(previous) + 1 if previous else 0, f.snake)
            previous = f.snake
    out = []
    for snake in order:
        decls = seen[snake]
        latest = decls[-1][1]
        for _, f in decls:
            if (f.kio_type, f.element, f.array) != (latest.kio_type, latest.element, latest.array):
                raise SystemExit(f"{name}.{snake}: the type changes between versions")
            if default_text(f) != default_text(latest):
                raise SystemExit(f"{name}.{snake}: the default changes between versions")
        if latest.kio_type is not None and latest.kio_type not in KAFKA_TYPES:
            raise SystemExit(f"{name}.{snake}: kio type {latest.kio_type} is not read by this script")
        element = KAFKA_TYPES[latest.kio_type] if latest.kio_type else latest.element
        doc: dict = {"name": kafka_name(latest, known.get(name, {})),
                     "type": ("[]" if latest.array else "") + element,
                     "versions": version_text([v for v, _ in decls], last)}
        nullable = [v for v, f in decls if f.optional and f.kio_type != "uuid"]
        if nullable:
            doc["nullableVersions"] = version_text(nullable, last)
        default = default_text(latest)
        if default is not None:
            doc["default"] = default
        if latest.kio_type is None:
            doc["fields"] = fold_struct(latest.element, modules, last, known)
        out.append(doc)
    return out


def fold(modules: list[KioModule], known: dict[str, dict[str, str]]) -> dict:
    """One definition in Kafka's JSON layout from the per-version modules of one message."""
    modules = sorted(modules, key=lambda m: m.version)
    roots = {m.root for m in modules}
    if len(roots) != 1 or len({m.api_key for m in modules}) != 1:
        raise SystemExit(f"modules disagree on the message: {roots}")
    versions = [m.version for m in modules]
    flexible = [m.version for m in modules if m.flexible]
    if flexible and flexible[0] == versions[0]:
        flexible_text = "0+"  # flexible from birth: Kafka writes "0+"
    elif flexible:
        flexible_text = version_text(flexible, versions[-1])
    else:
        flexible_text = "none"
    root = roots.pop()
    kind = "request" if root.endswith("Request") else "response"
    return {
        "apiKey": modules[0].api_key,
        "type": kind,
        "name": root,
        "validVersions": f"{versions[0]}-{versions[-1]}" if len(versions) > 1 else str(versions[0]),
        "flexibleVersions": flexible_text,
        "fields": fold_struct(root, modules, versions[-1], known),
    }


# ---------------------------------------------------------------- files


def kio_dir(given: Path | None) -> Path:
    if given is not None:
        return given
    spec = importlib.util.find_spec("kio")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("kio is not installed: pip install -e '.[test]' (or pass --kio DIR)")
    installed = importlib.metadata.version("kio")
    if installed != KIO_VERSION:
        raise SystemExit(f"kio {installed} is installed; these files are read from kio {KIO_VERSION}")
    return Path(spec.submodule_search_locations[0])


def render(kio: Path) -> dict[Path, str]:
    files = {}
    for api in APIS:
        for kind in KINDS:
            modules = [read_module(p) for p in sorted((kio / "schema" / api).glob(f"v*/{kind}.py"))]
            if not modules:
                raise SystemExit(f"kio has no {api} {kind}")
            name = modules[0].root
            known: dict[str, dict[str, str]] = {}
            pre = PRE_RELEASE / f"{name}.json"
            if pre.exists():
                doc = json.loads(re.sub(r"^\s*//.*$", "", pre.read_text(), flags=re.M))
                pre_release_names(doc["fields"], known, name)
            text = json.dumps(fold(modules, known), indent=2)
            files[OUT_DIR / f"{name}.json"] = (
                f"// Facts (names, types, versions, nullability, defaults) of Kafka's released {name},\n"
                f"// read from kio {KIO_VERSION} by tools/released_definitions.py. Do not edit.\n{text}\n")
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kio", type=Path, help="kio's package folder (default: the installed one)")
    parser.add_argument("--check", action="store_true", help="fail if the files differ from what kio says")
    args = parser.parse_args()
    files = render(kio_dir(args.kio))
    stale = [p for p, text in files.items() if not p.exists() or p.read_text() != text]
    stale += [p for p in OUT_DIR.glob("*.json") if p not in files]
    if args.check:
        for p in stale:
            print(f"stale released definition: {p.relative_to(ROOT)} (run `make generate`)", file=sys.stderr)
        return 1 if stale else 0
    OUT_DIR.mkdir(exist_ok=True)
    for p in OUT_DIR.glob("*.json"):
        if p not in files:
            p.unlink()
    for p in stale:
        if p in files:
            p.write_text(files[p])
    print(f"{len(files)} files, {len(stale)} rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
