"""The read-only pages: one handler each, asking one query and rendering one template."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from aiohttp import web

from kbroker.console import groups, records, security, topics
from kbroker.console.context import console_of, integer
from kbroker.console.decode import decode_page
from kbroker.console.registry import RegistryError
from kbroker.tools.group_admin import list_groups

STATIC = Path(__file__).parent / "static"
TAIL_LIMIT = 200  # records one poll of the live tail adds at most


def required(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise web.HTTPBadRequest(text=f"missing query parameter {name}")
    return value


async def index(request: web.Request) -> web.Response:
    return console_of(request).render("index.html")


async def cluster(request: web.Request) -> web.Response:
    console = console_of(request)
    return console.render("cluster.html", cluster=await console.query(topics.cluster))


async def topic_list(request: web.Request) -> web.Response:
    console = console_of(request)
    page = await console.query(topics.topic_page, integer(request.query, "page", 1), request.query.get("q", ""))
    return console.render("topics.html", page=page, message=request.query.get("msg"))


async def topic(request: web.Request) -> web.Response:
    console = console_of(request)
    detail = await console.query(topics.topic_detail, required(request, "name"))
    return console.render("topic.html", topic=detail, message=request.query.get("msg"))


def record_format(request: web.Request) -> str:
    fmt = request.query.get("format", "text")
    if fmt not in records.FORMATS:
        raise web.HTTPBadRequest(text=f"format: expected one of {', '.join(records.FORMATS)}")
    return fmt


async def record_page(request: web.Request) -> web.Response:
    """A page of records from an offset, a time (`YYYY-MM-DDTHH:mm:SS`, UTC unless a zone is given)
    or the end; with `tail=1`, new records are added as they come."""
    console = console_of(request)
    name, partition = required(request, "topic"), integer(request.query, "partition", 0)
    at = request.query.get("time", "").strip()
    timestamp = parse_time(at) if at else None
    page = await console.query(records.read_page, name, partition, integer(request.query, "offset"), timestamp,
                               integer(request.query, "limit", 50), record_format(request))
    await decode_page(console.registry, page, record_format(request))
    return console.render("records.html", page=page, fmt=record_format(request), time=at,
                          tail=request.query.get("tail") == "1", limit=integer(request.query, "limit", 50),
                          message=request.query.get("msg"))


def parse_time(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time; UTC when it names no zone, as the pages show times."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"time: expected YYYY-MM-DDTHH:mm:SS, got {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


async def record_tail(request: web.Request) -> web.Response:
    """The rows after `after` and the poller asking for the next ones (an htmx fragment)."""
    console = console_of(request)
    name, partition, fmt = required(request, "topic"), integer(request.query, "partition", 0), record_format(request)
    page = await console.query(records.read_page, name, partition, integer(request.query, "after", 0), None,
                               TAIL_LIMIT, fmt)
    await decode_page(console.registry, page, fmt)
    return console.render("record_tail.html", page=page, fmt=fmt)


async def group_list(request: web.Request) -> web.Response:
    console = console_of(request)
    return console.render("groups.html", groups=await console.query(list_groups))


async def group(request: web.Request) -> web.Response:
    console = console_of(request)
    group_id = required(request, "id")
    detail = await console.query(groups.group_detail, group_id)
    if detail.group.state == "Dead":
        raise web.HTTPNotFound(text=f"consumer group {group_id!r} does not exist")
    console.lag.record(group_id, {f"{r['topic']}-{r['partition']}": r["lag"] for r in detail.offsets
                                  if r["lag"] is not None})
    return console.render("group.html", detail=detail, message=request.query.get("msg"))


async def group_lag(request: web.Request) -> web.Response:
    return web.json_response(console_of(request).lag.chart(required(request, "id")))


async def share_group_list(request: web.Request) -> web.Response:
    console = console_of(request)
    return console.render("share_groups.html", groups=await console.query(groups.share_groups))


async def security_page(request: web.Request) -> web.Response:
    console = console_of(request)
    return console.render("security.html", security=await console.query(security.security))


async def schemas(request: web.Request) -> web.Response:
    console = console_of(request)
    if console.registry is None:
        raise web.HTTPNotFound(text="no schema registry: start the console with --console-registry-url")
    try:
        subjects, error = await console.registry.subjects(), ""
    except RegistryError as exc:
        subjects, error = [], str(exc)
    return console.render("schemas.html", subjects=subjects, error=error, url=console.registry.url)


ROUTES = {"/": index, "/cluster": cluster, "/topics": topic_list, "/topic": topic, "/records": record_page,
          "/records/tail": record_tail, "/groups": group_list, "/group": group, "/group/lag": group_lag,
          "/share-groups": share_group_list, "/security": security_page, "/schemas": schemas}


def add_routes(app: web.Application) -> None:
    for path, handler in ROUTES.items():
        app.router.add_get(path, handler)
