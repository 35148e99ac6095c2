"""`kbroker console` and the console options of `kbroker serve`: where it listens, whether it may
write, and the Schema Registry it may show. Importing this needs only click; aiohttp and jinja2
are imported when a console starts."""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import TYPE_CHECKING, Callable, Sequence

import click

from kbroker.tools.common import bootstrap_option, command_security

if TYPE_CHECKING:
    from kbroker.config.settings import Endpoint
    from kbroker.security.inter_broker import PeerSecurity

DEFAULT_HOST = "127.0.0.1"  # loopback unless an address is given: the console has no login
DEFAULT_PORT = 9021


def console_address(text: str, option: str = "--console") -> tuple[str, int]:
    """`HOST:PORT`, `:PORT` or `PORT` (loopback) as (host, port); BadParameter otherwise."""
    host, sep, port = text.strip().rpartition(":")
    if not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(f"{text!r}: expected HOST:PORT", param_hint=option)
    return (host.strip("[]") if sep and host else DEFAULT_HOST), int(port)


def options(func: Callable) -> Callable:
    """--console-write and --console-registry-url, shared by both commands."""
    func = click.option("--console-registry-url", "registry_url", metavar="URL",
                        help="A Schema Registry to show subjects from (the page is left out without one).")(func)
    return click.option("--console-write", "write", is_flag=True,
                        help="Allow the console's write actions: create topics, produce, reset offsets, "
                             "delete records.")(func)


def console_listener(endpoints: Sequence[Endpoint], security: PeerSecurity | None) -> str:
    """The listener `serve --console` connects to: the first whose security protocol is the one
    --console-config asks for (PLAINTEXT without one); a UsageError when there is none."""
    protocol = security.listener if security is not None else "PLAINTEXT"
    for endpoint in endpoints:
        if endpoint.protocol == protocol:
            return endpoint.name
    raise click.UsageError(f"--console connects over a {protocol} listener and the broker has none: give "
                           "--console-config a client properties file for one of its listeners")


def require_console() -> None:
    """Exit with the one-line install hint when the console's libraries are missing."""
    from kbroker.console import require

    try:
        require()
    except ImportError as exc:
        click.echo(f"kbroker: {exc}", err=True)
        sys.exit(2)


@click.command("console")
@bootstrap_option
@click.option("--listen", default=f"{DEFAULT_HOST}:{DEFAULT_PORT}", show_default=True, metavar="HOST:PORT",
              help="Where the console serves HTTP.")
@options
def console(bootstrap: str, timeout: float, listen: str, write: bool, registry_url: str | None) -> None:
    """Serve the web console for any Kafka-compatible broker until Ctrl-C.

    \b
    Examples:
      kbroker console --bootstrap-server localhost:9092
      kbroker console --bootstrap-server localhost:9092 --listen 127.0.0.1:9021 --console-write
      kbroker console --bootstrap-server localhost:9093 --command-config alice.properties
    """
    host, port = console_address(listen, "--listen")
    require_console()
    asyncio.run(_serve(host, port, bootstrap, timeout, write, registry_url, command_security()))


async def _serve(host: str, port: int, bootstrap: str, timeout: float, write: bool, registry_url: str | None,
                 security: PeerSecurity | None) -> None:
    from kbroker.console.app import start_console

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        server = await start_console(host, port, bootstrap, write, registry_url, timeout, security)
    except OSError as exc:
        click.echo(f"kbroker console: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
    click.echo(f"kbroker console for {bootstrap} at {server.url}" + (" (write actions on)" if write else ""))
    await stop.wait()
    await server.close()
