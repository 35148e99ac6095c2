"""The `kbroker` command: `kbroker serve` runs a broker; the operator tools sit beside it."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import click

from kbroker.config import ConfigError, load_broker_config


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """A broker that speaks Apache Kafka's wire protocol."""


def _parse_sets(values: tuple[str, ...]) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint="--set")
        pairs[key.strip()] = value.strip()
    return pairs


@main.command()
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default 127.0.0.1:9092).")
@click.option("--data-dir", metavar="DIR", help="Where partition logs live (default ./kbroker-data).")
@click.option("-c", "--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A server.properties file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any broker config key, e.g. --set num.partitions=3 (repeatable).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve(listen: str | None, data_dir: str | None, config_file: str | None, sets: tuple[str, ...],
          log_level: str) -> None:
    """Run a single-node broker until SIGTERM or Ctrl-C.

    \b
    Examples:
      kbroker serve
      kbroker serve --listen localhost:9093 --data-dir /tmp/k --set num.partitions=3
      kbroker serve -c server.properties --set log.retention.hours=1
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = _parse_sets(sets)
    try:
        config = load_broker_config(config_file=config_file, overrides=overrides, listen=listen, data_dir=data_dir)
    except ConfigError as exc:
        click.echo(f"kbroker: {exc}", err=True)
        sys.exit(2)
    asyncio.run(_run(config))


async def _run(config) -> None:
    from kbroker.broker import Broker

    broker = Broker(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await broker.start()
    await stop.wait()
    await broker.stop()
