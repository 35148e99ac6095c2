"""The write actions' handlers: a POST form each, answered by a redirect to the page it changed
with a note of what was done. `app.write_guard` has refused them already unless write is on."""

from __future__ import annotations

from urllib.parse import urlencode

import click
from aiohttp import web

from kbroker.console import actions
from kbroker.console.context import console_of
from kbroker.tools.common import key_values
from kbroker.tools.topics import create_topic


def field_int(form: dict, name: str, default: int | None = None) -> int | None:
    text = str(form.get(name, "")).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: expected an integer, got {text!r}") from None


def field(form: dict, name: str) -> str:
    value = str(form.get(name, "")).strip()
    if not value:
        raise web.HTTPBadRequest(text=f"missing form field {name}")
    return value


def pairs(form: dict, name: str) -> dict[str, str]:
    """`a=1,b=2` from a form field, as the tools read --config."""
    text = str(form.get(name, "")).strip()
    try:
        return key_values(text, name) if text else {}
    except click.BadParameter as exc:
        raise web.HTTPBadRequest(text=exc.format_message()) from None


def back(path: str, **query: object) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{path}?{urlencode(query)}")


async def create(request: web.Request) -> web.Response:
    form = dict(await request.post())
    name = field(form, "name")
    configs = pairs(form, "configs")
    await console_of(request).query(create_topic, name, field_int(form, "partitions"),
                                    field_int(form, "replication_factor"), configs)
    raise back("/topic", name=name, msg=f"created topic {name}")


async def produce(request: web.Request) -> web.Response:
    form = dict(await request.post())
    topic = field(form, "topic")
    key = str(form.get("key", ""))
    headers = [(k, v.encode()) for k, v in pairs(form, "headers").items()]
    partition = await console_of(request).query(
        actions.produce_record, topic, field_int(form, "partition"), key.encode() if key else None,
        str(form.get("value", "")).encode(), headers)
    raise back("/records", topic=topic, partition=partition, msg=f"produced a record to {topic}-{partition}")


async def reset_offsets(request: web.Request) -> web.Response:
    form = dict(await request.post())
    group_id = field(form, "group")
    plan = await console_of(request).query(actions.reset_offsets, group_id, str(form.get("topic", "")).strip() or None,
                                           field(form, "to"), field_int(form, "value", 0))
    moved = ", ".join(f"{t}-{p}: {o}" for (t, p), o in sorted(plan.items()))
    raise back("/group", id=group_id, msg=f"offsets reset ({moved or 'nothing committed'})")


async def delete_records(request: web.Request) -> web.Response:
    form = dict(await request.post())
    topic, partition = field(form, "topic"), field_int(form, "partition", 0)
    start = await console_of(request).query(actions.delete_records, topic, partition, field_int(form, "before", -1))
    raise back("/topic", name=topic, msg=f"deleted the records of {topic}-{partition} before offset {start}")


def add_routes(app: web.Application) -> None:
    app.router.add_post("/topics/create", create)
    app.router.add_post("/produce", produce)
    app.router.add_post("/group/reset", reset_offsets)
    app.router.add_post("/records/delete", delete_records)
