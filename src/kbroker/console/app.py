"""The console's web server: aiohttp routes that render jinja2 templates (autoescaped) from the
queries of the sibling modules, run in worker threads through a `ClientPool`.

Pages are plain links and forms; htmx polls for the live tail and uPlot draws the lag chart, both
shipped in `static/`. Write actions are POST forms, refused with 403 unless the console was
started with write on, and refused from other sites' pages (a browser says where a form came from).
"""

from __future__ import annotations

from typing import Awaitable, Callable

from aiohttp import web

from kbroker.console import pages, writes
from kbroker.console.context import CONSOLE_KEY, Console, templates
from kbroker.console.lag import LagHistory
from kbroker.console.pool import ClientPool
from kbroker.console.registry import SchemaRegistry
from kbroker.security.inter_broker import PeerSecurity
from kbroker.tools.client import ToolError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NOT_FOUND_ERRORS = ("UNKNOWN_TOPIC_OR_PARTITION", "has no partition", "does not exist", "GROUP_ID_NOT_FOUND")


@web.middleware
async def broker_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A broker's refusal becomes a page saying so: 404 for what does not exist, 502 otherwise."""
    try:
        return await handler(request)
    except ToolError as exc:
        text = str(exc)
        status = 404 if any(marker in text for marker in NOT_FOUND_ERRORS) else 502
        return request.app[CONSOLE_KEY].render("error.html", status=status, message=text)


@web.middleware
async def write_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """POST is a write action: 403 unless write is on, and 403 for a form sent from another site,
    including an opaque origin (`Origin: null`: a sandboxed frame, a data: or file: page)."""
    if request.method != "POST":
        return await handler(request)
    console = request.app[CONSOLE_KEY]
    if not console.write:
        return console.render("error.html", status=403,
                              message="this console is read-only: start it with --console-write to change anything")
    site = request.headers.get("Sec-Fetch-Site")
    origin = request.headers.get("Origin")
    if (site is not None and site not in ("same-origin", "none")) or (
            origin is not None and origin.split("://", 1)[-1] != request.host):
        return console.render("error.html", status=403, message="a write must come from the console's own pages")
    return await handler(request)


def build_app(console: Console) -> web.Application:
    app = web.Application(middlewares=[write_guard, broker_errors])
    app[CONSOLE_KEY] = console
    pages.add_routes(app)
    writes.add_routes(app)
    app.router.add_static("/static", pages.STATIC, name="static")
    return app


class ConsoleServer:
    """A running console: its URL, and `close()`."""

    def __init__(self, runner: web.AppRunner, console: Console, url: str) -> None:
        self.runner = runner
        self.console = console
        self.url = url

    async def close(self) -> None:
        await self.console.lag.stop()
        await self.runner.cleanup()
        self.console.pool.close()


async def start_console(host: str, port: int, bootstrap: str, write: bool = False, registry_url: str | None = None,
                        timeout: float = 10.0, security: PeerSecurity | None = None) -> ConsoleServer:
    """Serve the console on the running event loop for the brokers at `bootstrap`, connecting as
    `security` says (TLS, and the principal it logs in as); `timeout` is how long a request to a
    broker may take."""
    pool = ClientPool(bootstrap, timeout, security)
    lag = LagHistory(pool)
    console = Console(pool, lag, templates(), write, SchemaRegistry(registry_url) if registry_url else None)
    runner = web.AppRunner(build_app(console), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    lag.start()
    shown = f"[{host}]" if ":" in host else host
    return ConsoleServer(runner, console, f"http://{shown}:{bound}/")
