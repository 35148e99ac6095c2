"""The registry's REST API on aiohttp: Confluent's paths, content type and JSON error bodies.

Handlers only translate: query parameters and bodies in, a Registry call, JSON out. Every
RegistryError becomes its status and `{"error_code", "message"}`; anything unexpected is logged
and answered 500/50001, never with a traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from aiohttp import web

from kbroker.registry import errors
from kbroker.registry.forward import writes_to_leader
from kbroker.registry.records import SchemaVersion
from kbroker.registry.service import Registry

log = logging.getLogger("kbroker.registry")
CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
REGISTRY_KEY = web.AppKey("registry", Registry)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def reply(document: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(document), content_type=CONTENT_TYPE)


@web.middleware
async def registry_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn refusals into Confluent's error bodies, and unknown paths into its 404 body."""
    try:
        return await handler(request)
    except errors.RegistryError as exc:
        return reply(exc.body(), exc.status)
    except web.HTTPException as exc:
        return reply({"error_code": exc.status, "message": f"HTTP {exc.status} {exc.reason}"}, exc.status)
    except Exception:
        log.exception("schema registry request %s %s failed", request.method, request.path)
        return reply(errors.store_error("internal error").body(), 500)


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def schema_id(request: web.Request) -> int:
    try:
        return int(request.match_info["id"])
    except ValueError:
        raise errors.schema_not_found(f"Schema {request.match_info['id']} not found") from None


async def body(request: web.Request) -> Any:
    try:
        return json.loads(await request.text())  # any content type: clients send several
    except (ValueError, RecursionError) as exc:
        raise errors.bad_request(f"the request body is not JSON: {exc}") from None


def schema_fields(entry: SchemaVersion) -> dict[str, Any]:
    """`schema` with `schemaType` (not for AVRO) and `references` (when any), as Confluent answers."""
    fields: dict[str, Any] = {}
    if entry.schema_type != "AVRO":
        fields["schemaType"] = entry.schema_type
    if entry.references:
        fields["references"] = entry.references
    fields["schema"] = entry.schema
    return fields


def version_document(entry: SchemaVersion) -> dict[str, Any]:
    return {"subject": entry.subject, "version": entry.version, "id": entry.id, **schema_fields(entry)}


def raw_schema(entry: SchemaVersion) -> web.Response:
    """The schema itself, as its own JSON document rather than a string."""
    return web.Response(text=entry.schema, content_type=CONTENT_TYPE)


routes = web.RouteTableDef()


def registry(request: web.Request) -> Registry:
    return request.app[REGISTRY_KEY]


@routes.get("/")
async def root(request: web.Request) -> web.Response:
    return reply({})


@routes.get("/schemas/types")
async def schema_types(request: web.Request) -> web.Response:
    return reply(registry(request).schema_types())


@routes.get("/schemas")
async def list_schemas(request: web.Request) -> web.Response:
    reg = registry(request)
    prefix, deleted = request.query.get("subjectPrefix", ""), flag(request, "deleted")
    found = []
    for subject in reg.subjects(deleted, prefix):
        versions = reg.versions(subject, deleted)
        found += [version_document(e) for e in (versions[-1:] if flag(request, "latestOnly") else versions)]
    return reply(found)


@routes.get("/schemas/ids/{id}")
async def schema_by_id(request: web.Request) -> web.Response:
    reg = registry(request)
    entry = reg.by_id(schema_id(request), request.query.get("subject"))
    return reply(schema_fields(await reg.formatted(entry, request.query.get("format"))))


@routes.get("/schemas/ids/{id}/schema")
async def raw_schema_by_id(request: web.Request) -> web.Response:
    return raw_schema(registry(request).by_id(schema_id(request), request.query.get("subject")))


@routes.get("/schemas/ids/{id}/subjects")
async def subjects_of_id(request: web.Request) -> web.Response:
    found = registry(request).id_usages(schema_id(request), flag(request, "deleted"))
    return reply(sorted({e.subject for e in found}))


@routes.get("/schemas/ids/{id}/versions")
async def versions_of_id(request: web.Request) -> web.Response:
    found = registry(request).id_usages(schema_id(request), flag(request, "deleted"))
    return reply([{"subject": e.subject, "version": e.version} for e in found])


@routes.get("/subjects")
async def subjects(request: web.Request) -> web.Response:
    return reply(registry(request).subjects(flag(request, "deleted"), request.query.get("subjectPrefix", "")))


@routes.post("/subjects/{subject}")
async def lookup(request: web.Request) -> web.Response:
    entry = await registry(request).lookup(request.match_info["subject"], await body(request),
                                           flag(request, "normalize"), flag(request, "deleted"))
    return reply(version_document(entry))


@routes.delete("/subjects/{subject}")
async def delete_subject(request: web.Request) -> web.Response:
    return reply(await registry(request).delete_subject(request.match_info["subject"], flag(request, "permanent")))


@routes.get("/subjects/{subject}/versions")
async def versions(request: web.Request) -> web.Response:
    found = registry(request).versions(request.match_info["subject"], flag(request, "deleted"))
    return reply([e.version for e in found])


@routes.post("/subjects/{subject}/versions")
async def register(request: web.Request) -> web.Response:
    new_id = await registry(request).register(request.match_info["subject"], await body(request),
                                              flag(request, "normalize"))
    return reply({"id": new_id})


async def _version(request: web.Request) -> SchemaVersion:
    """The version a path names, in the `format` the query asks for."""
    reg = registry(request)
    entry = reg.version(request.match_info["subject"], request.match_info["version"], flag(request, "deleted"))
    return await reg.formatted(entry, request.query.get("format"))


@routes.get("/subjects/{subject}/versions/{version}")
async def version(request: web.Request) -> web.Response:
    return reply(version_document(await _version(request)))


@routes.get("/subjects/{subject}/versions/{version}/schema")
async def version_schema(request: web.Request) -> web.Response:
    return raw_schema(await _version(request))


@routes.get("/subjects/{subject}/versions/{version}/referencedby")
async def referenced_by(request: web.Request) -> web.Response:
    return reply(registry(request).referenced_by(request.match_info["subject"], request.match_info["version"]))


@routes.delete("/subjects/{subject}/versions/{version}")
async def delete_version(request: web.Request) -> web.Response:
    return reply(await registry(request).delete_version(request.match_info["subject"], request.match_info["version"],
                                                        flag(request, "permanent")))


@routes.post("/compatibility/subjects/{subject}/versions/{version}")
@routes.post("/compatibility/subjects/{subject}/versions")
async def test_compatibility(request: web.Request) -> web.Response:
    problems = await registry(request).test_compatibility(request.match_info["subject"],
                                                          request.match_info.get("version"), await body(request))
    answer: dict[str, Any] = {"is_compatible": not problems}
    if flag(request, "verbose"):
        answer["messages"] = problems
    return reply(answer)


@routes.get("/config")
@routes.get("/config/{subject}")
async def get_config(request: web.Request) -> web.Response:
    level = registry(request).compatibility_level(request.match_info.get("subject"), flag(request, "defaultToGlobal"))
    return reply({"compatibilityLevel": level})


@routes.put("/config")
@routes.put("/config/{subject}")
async def put_config(request: web.Request) -> web.Response:
    return reply(await registry(request).set_config(request.match_info.get("subject"), await body(request)))


@routes.delete("/config")
@routes.delete("/config/{subject}")
async def delete_config(request: web.Request) -> web.Response:
    return reply({"compatibilityLevel": await registry(request).delete_config(request.match_info.get("subject"))})


@routes.get("/mode")
@routes.get("/mode/{subject}")
async def get_mode(request: web.Request) -> web.Response:
    return reply({"mode": registry(request).mode(request.match_info.get("subject"), flag(request, "defaultToGlobal"))})


@routes.put("/mode")
@routes.put("/mode/{subject}")
async def put_mode(request: web.Request) -> web.Response:
    mode = await registry(request).set_mode(request.match_info.get("subject"), await body(request),
                                            flag(request, "force"))
    return reply({"mode": mode})


@routes.delete("/mode/{subject}")
async def delete_mode(request: web.Request) -> web.Response:
    return reply({"mode": await registry(request).delete_mode(request.match_info["subject"])})


def application(reg: Registry) -> web.Application:
    """The aiohttp application serving one registry."""
    app = web.Application(middlewares=[registry_errors, writes_to_leader])
    app[REGISTRY_KEY] = reg
    app.add_routes(routes)
    return app
