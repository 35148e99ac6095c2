"""What every handler of the console shares: the `Console` (brokers, lag history, templates,
settings) kept on the aiohttp application, and the templates' filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import jinja2
from aiohttp import web

from kbroker.console.lag import LagHistory
from kbroker.console.pool import ClientPool
from kbroker.console.registry import SchemaRegistry


@dataclass
class Console:
    """What every handler needs: the brokers, the lag history, the templates and the settings."""

    pool: ClientPool
    lag: LagHistory
    templates: jinja2.Environment
    write: bool
    registry: SchemaRegistry | None

    async def query(self, func: Callable[..., Any], *args: Any) -> Any:
        return await self.pool.run(func, *args)

    def render(self, template: str, status: int = 200, message: str | None = None, **values: Any) -> web.Response:
        """The page, with `message` (what a write action did) above it."""
        html = self.templates.get_template(template).render(write=self.write, registry=self.registry is not None,
                                                            message=message, **values)
        return web.Response(text=html, status=status, content_type="text/html")


CONSOLE_KEY = web.AppKey("console", Console)


def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("kbroker.console", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.filters["bytes"] = human_bytes
    env.filters["when"] = when
    return env


def human_bytes(n: int | None) -> str:
    """A size as people read it: `512 B`, `1.5 KiB`, ... `3.2 GiB`; `?` when unknown."""
    if n is None:
        return "?"
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def when(ms: int) -> str:
    """A record timestamp as UTC, ISO 8601 to the millisecond; `-` for none."""
    if ms < 0:
        return "-"
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def console_of(request: web.Request) -> Console:
    return request.app[CONSOLE_KEY]


def integer(values: Mapping[str, Any], name: str, default: int | None = None) -> int | None:
    """An integer query parameter or form field; 400 when it is there and not an integer."""
    text = str(values.get(name, "")).strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: expected an integer, got {text!r}") from None
