"""The write actions' handlers: a POST form each, answered by a redirect to the page it changed
with a note of what was done. `app.write_guard` has refused them already unless write is on."""

from __future__ import annotations

from urllib.parse import urlencode

import click
from aiohttp import web

from kbroker.console import actions
from kbroker.console.context import console_of, integer
from kbroker.tools.common import key_values
from kbroker.tools.topics import create_topic


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
    await console_of(request).query(create_topic, name, integer(form, "partitions"),
                                    integer(form, "replication_factor"), configs)
    raise back("/topic", name=name, msg=f"created topic {name}")


async def produce(request: web.Request) -> web.Response:
    form = dict(await request.post())
    topic = field(form, "topic")
    key = str(form.get("key", ""))
    headers = [(k, v.encode()) for k, v in pairs(form, "headers").items()]
    partition = await console_of(request).query(
        actions.produce_record, topic, integer(form, "partition"), key.encode() if key else None,
        str(form.get("value", "")).encode(), headers)
    raise back("/records", topic=topic, partition=partition, msg=f"produced a record to {topic}-{partition}")


async def reset_offsets(request: web.Request) -> web.Response:
    form = dict(await request.post())
    group_id = field(form, "group")
    plan = await console_of(request).query(actions.reset_offsets, group_id, str(form.get("topic", "")).strip() or None,
                                           field(form, "to"), integer(form, "value", 0))
    moved = ", ".join(f"{t}-{p}: {o}" for (t, p), o in sorted(plan.items()))
    raise back("/group", id=group_id, msg=f"offsets reset ({moved or 'nothing committed'})")


async def delete_records(request: web.Request) -> web.Response:
    form = dict(await request.post())
    topic, partition = field(form, "topic"), integer(form, "partition", 0)
    start = await console_of(request).query(actions.delete_records, topic, partition, integer(form, "before", -1))
    raise back("/topic", name=topic, msg=f"deleted the records of {topic}-{partition} before offset {start}")


ROUTES = {"/topics/create": create, "/produce": produce, "/group/reset": reset_offsets,
          "/records/delete": delete_records}


def add_routes(app: web.Application) -> None:
    for path, handler in ROUTES.items():
        app.router.add_post(path, handler)
