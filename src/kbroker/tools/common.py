"""What every tool shares: the --bootstrap-server option, one-line errors and JSON output."""

from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable

import click

from kbroker.tools.client import Client, ToolError

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


def bootstrap_option(func: Callable) -> Callable:
    return click.option("--bootstrap-server", "bootstrap", default=DEFAULT_BOOTSTRAP, show_default=True,
                        envvar="KAFKA_BOOTSTRAP_SERVERS", metavar="HOST:PORT[,...]",
                        help="Broker(s) to connect to (also KAFKA_BOOTSTRAP_SERVERS).")(
        click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
                     help="Seconds to wait for a broker.")(func))


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
    return Client(bootstrap, timeout=timeout)


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
