"""What every tool shares: the --bootstrap-server and --command-config options, one-line errors and
JSON output."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click

from kbroker.config import ConfigError
from kbroker.security.inter_broker import PeerSecurity
from kbroker.tools.client import Client, ToolError
from kbroker.tools.client_security import read_client_security

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
SECURITY = "kbroker.security"  # where --command-config leaves the parsed settings in click's context


def bootstrap_option(func: Callable) -> Callable:
    """--bootstrap-server, --command-config and --timeout. The command config is read as the option is
    parsed and kept in the click context, where `connect()` finds it: no tool passes it along."""
    func = click.option("--command-config", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
                        expose_value=False, callback=_read_command_config,
                        help="A client properties file: security.protocol, sasl.*, ssl.* (as Kafka's tools take).")(func)
    return click.option("--bootstrap-server", "bootstrap", default=DEFAULT_BOOTSTRAP, show_default=True,
                        envvar="KAFKA_BOOTSTRAP_SERVERS", metavar="HOST:PORT[,...]",
                        help="Broker(s) to connect to (also KAFKA_BOOTSTRAP_SERVERS).")(
        click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                     help="Seconds to wait for a broker.")(func))


def _read_command_config(ctx: click.Context, param: click.Parameter, path: str | None) -> None:
    if path is not None:
        try:
            ctx.meta[SECURITY] = read_client_security(path)
        except ConfigError as exc:
            raise click.BadParameter(str(exc), ctx, param) from None


def command_security() -> PeerSecurity | None:
    """What --command-config asked for in the running command; None for plaintext."""
    context = click.get_current_context(silent=True)
    return context.meta.get(SECURITY) if context is not None else None


def output_option(func: Callable) -> Callable:
    return click.option("--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
                        help="json prints one document for scripts.")(func)


def one_line_errors(func: Callable) -> Callable:
    """Turn a ToolError into `kbroker <tool>: message` on stderr and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ToolError as exc:
            name = click.get_current_context().info_name
            click.echo(f"kbroker {name}: {exc}", err=True)
            sys.exit(1)

    return wrapper


def connect(bootstrap: str, timeout: float) -> Client:
    return Client(bootstrap, timeout=timeout, security=command_security())


def print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False))


def key_values(text: str, what: str) -> dict[str, str]:
    """`a=1,b=2` as a dict; a list value can be bracketed as kafka-configs allows: `k=[x,y]`."""
    result: dict[str, str] = {}
    for item in split_outside_brackets(text):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not key=value", param_hint=what)
        value = value.strip()
        if value.startswith("[") and value.endswith("]"):
            value = value[1:-1]
        result[key.strip()] = value
    return result


def split_outside_brackets(text: str) -> list[str]:
    items, depth, current = [], 0, []
    for char in text:
        if char == "," and depth == 0:
            items.append("".join(current))
            current = []
            continue
        depth += {"[": 1, "]": -1}.get(char, 0)
        current.append(char)
    items.append("".join(current))
    return [item for item in items if item.strip()]
