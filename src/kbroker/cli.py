"""The `kbroker` command: `kbroker serve` runs a broker, `kbroker cluster` several on ZooKeeper; the
operator tools sit beside them."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import sys
import tempfile
from typing import TYPE_CHECKING, NamedTuple

import click

from kbroker.cluster.errors import ClusterJoinError
from kbroker.console.command import DEFAULT_HOST, DEFAULT_PORT, console_address, console_listener, require_console
from kbroker.console.command import console as console_command
from kbroker.console.command import options as console_options
from kbroker.config import BrokerConfig, ConfigError, load_broker_config
from kbroker.dev import parse_sets, topic_specs
from kbroker.log.handles import raise_file_limit
from kbroker.server.allocator import keep_freed_memory
from kbroker.server.collector import freeze_startup_objects
from kbroker.tools import register as register_tools

if TYPE_CHECKING:
    from kbroker.broker import Broker
    from kbroker.console.app import ConsoleServer
    from kbroker.registry.server import RegistryServer
    from kbroker.security.inter_broker import PeerSecurity
    from kbroker.security.listener import ListenerSecurity


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """A broker that speaks Apache Kafka's wire protocol."""


def set_pairs(values: tuple[str, ...]) -> dict[str, str]:
    """`--set key=value` options as a dict, or the usage error naming the bad one."""
    try:
        return parse_sets(values)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--set") from None


@main.command()
@click.option("--listen", metavar="HOST:PORT", help="Address to listen on (default 127.0.0.1:9092).")
@click.option("--data-dir", metavar="DIR", help="Where partition logs live (default ./kbroker-data).")
@click.option("-c", "--config", "config_file", metavar="FILE", type=click.Path(dir_okay=False),
              help="A server.properties file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Any broker config key, e.g. --set num.partitions=3 (repeatable).")
@click.option("--dev/--no-dev", default=True, show_default=True,
              help="Kafka's single-node sample profile: internal topics with one replica, no initial "
                   "rebalance delay, loopback listener. --no-dev keeps Kafka's code defaults.")
@click.option("--partitions", type=click.IntRange(min=1), metavar="N",
              help="num.partitions: partitions of auto-created topics and of --topic without a count.")
@click.option("--topic", "topics", multiple=True, metavar="NAME[:PARTITIONS]",
              help="Create this topic at start unless it exists (repeatable).")
@click.option("--ephemeral", is_flag=True, help="Keep data in a temporary folder removed at exit.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), metavar="PORT",
              help="Serve Prometheus metrics on http://HOST:PORT/metrics (needs prometheus-client).")
@click.option("--schema-registry", "registry_listen", metavar="HOST:PORT",
              help="Serve a Confluent-compatible Schema Registry on http://HOST:PORT (needs kbroker[registry]).")
@click.option("--console", "console_at", is_flag=False, flag_value=f"{DEFAULT_HOST}:{DEFAULT_PORT}", default=None,
              metavar="[HOST:]PORT", help=f"Serve the web console here (alone: {DEFAULT_HOST}:{DEFAULT_PORT}; "
                                          "needs kbroker[console]).")
@console_options
@click.option("--console-config", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
              help="Client properties the console connects with (security.protocol, sasl.*, ssl.*): its "
                   "principal, and the first listener of that protocol (default: the first PLAINTEXT one).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def serve(listen: str | None, data_dir: str | None, config_file: str | None, sets: tuple[str, ...], dev: bool,
          partitions: int | None, topics: tuple[str, ...], ephemeral: bool, metrics_port: int | None,
          registry_listen: str | None, console_at: str | None, write: bool, registry_url: str | None,
          console_config: str | None, log_level: str) -> None:
    """Run a single-node broker until SIGTERM or Ctrl-C.

    \b
    Examples:
      kbroker serve
      kbroker serve --listen localhost:9093 --data-dir /tmp/k --set num.partitions=3
      kbroker serve -c server.properties --set log.retention.hours=1
      kbroker serve --dev --ephemeral --partitions 3 --topic orders:6 --topic events
      kbroker serve --schema-registry localhost:8081
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = set_pairs(sets)
    if partitions is not None:
        if "num.partitions" in overrides:
            raise click.UsageError("num.partitions given both by --partitions and by --set")
        overrides["num.partitions"] = str(partitions)
    if ephemeral and data_dir:
        raise click.UsageError("--ephemeral and --data-dir exclude each other")
    try:
        wanted = topic_specs(topics)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--topic") from None
    if metrics_port is not None:
        try:
            import kbroker.metrics.exporter  # noqa: F401 - fail now, with the hint, not after start
        except ImportError as exc:
            click.echo(f"kbroker: --metrics-port: {exc}", err=True)
            sys.exit(2)
    registry = registry_address(registry_listen) if registry_listen is not None else None
    if console_at is None and (write or registry_url or console_config):
        raise click.UsageError("--console-write, --console-registry-url and --console-config go with --console")
    if console_at is not None:
        require_console()
    if ephemeral:
        data_dir = tempfile.mkdtemp(prefix="kbroker-")
    try:
        try:
            config = load_broker_config(config_file=config_file, overrides=overrides, listen=listen,
                                        data_dir=data_dir, dev_profile=dev)
            from kbroker.security.listener import listener_security
            security = listener_security(config)  # key stores and JAAS lines: refused now, before anything opens
            if config["zookeeper.connect"]:
                from kbroker.security.inter_broker import peer_security
                peer_security(config)  # this broker's own login and trust on the inter-broker listener
            console = None
            if console_at is not None:
                from kbroker.tools.client_security import read_client_security
                console_security = read_client_security(console_config) if console_config else None
                console = Console(*console_address(console_at), write, registry_url, console_security,
                                  console_listener(config.endpoints, console_security))
        except ConfigError as exc:
            click.echo(f"kbroker: {exc}", err=True)
            sys.exit(2)
        keep_freed_memory()
        raise_file_limit()
        asyncio.run(_run(config, security, wanted, ephemeral, metrics_port, registry, console))
    finally:
        if ephemeral:
            shutil.rmtree(data_dir, ignore_errors=True)


def registry_address(listen: str) -> tuple[str, int]:
    """--schema-registry / --listen as (host, port), after checking the registry extra is installed."""
    try:
        from kbroker.registry.server import listen_address
    except ImportError as exc:  # one line, not a traceback: the extra is missing
        click.echo(f"kbroker: {exc}", err=True)
        sys.exit(2)
    try:
        return listen_address(listen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="HOST:PORT") from None


class Console(NamedTuple):
    """Where `serve --console` serves the web console, and how."""

    host: str
    port: int
    write: bool
    registry_url: str | None
    security: PeerSecurity | None
    listener: str  # the broker's listener it connects to


class StartFailure(Exception):
    """A part of `serve` could not start; the message says why in one line."""


async def _start_extras(broker: Broker, registry_at: tuple[str, int] | None,
                        console: Console | None) -> tuple[RegistryServer | None, ConsoleServer | None]:
    """The Schema Registry and the web console beside the broker, when asked for."""
    from kbroker.dev import bootstrap_address, client_address

    registry = console_server = None
    if registry_at is not None:
        from kbroker.registry.server import RegistryServer, RegistryStartError

        try:
            registry = await RegistryServer(bootstrap_address(broker), *registry_at).start()
        except RegistryStartError as exc:
            raise StartFailure(str(exc)) from None
    if console is not None:
        from kbroker.console.app import start_console

        try:
            registry_url = console.registry_url or (registry.url if registry else None)
            console_server = await start_console(console.host, console.port,
                                                  client_address(*broker.advertised_for(console.listener)),
                                                  console.write, registry_url, security=console.security)
        except OSError as exc:
            if registry is not None:
                await registry.stop()
            raise StartFailure(f"--console: cannot listen on {console.host}:{console.port}: "
                               f"{exc.strerror or exc}") from None
    return registry, console_server


async def _run(config: BrokerConfig, security: dict[str, ListenerSecurity], topics: dict[str, int], ephemeral: bool,
               metrics_port: int | None, registry_at: tuple[str, int] | None, console: Console | None) -> None:
    from kbroker.broker import Broker
    from kbroker.dev import banner, create_start_topics
    from kbroker.metrics import NO_METRICS, BrokerMetrics
    from kbroker.server.listeners import ClientListeners, listen_hosts

    counters = BrokerMetrics() if metrics_port is not None else None
    try:
        broker = Broker(config, counters or NO_METRICS)
    except ClusterJoinError as exc:
        click.echo(f"kbroker: {exc}", err=True)
        sys.exit(2)
    try:
        create_start_topics(broker, topics)
    except ValueError as exc:
        click.echo(f"kbroker: {exc}", err=True)
        broker.logs.close()
        sys.exit(2)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    exporter = None
    if counters is not None:
        from kbroker.metrics.exporter import metrics_url, serve_metrics

        hosts = listen_hosts(broker.listen_host)
        exporter = await serve_metrics(broker, counters, None if None in hosts else hosts, metrics_port)
    try:
        await broker.start(ClientListeners(broker, security))
        registry, console_server = await _start_extras(broker, registry_at, console)
    except (ClusterJoinError, StartFailure) as exc:
        click.echo(f"kbroker: {exc}", err=True)
        await broker.stop()
        sys.exit(2)
    click.echo(banner(broker, topics, ephemeral, metrics_url(exporter) if exporter else None,
                      registry.url if registry else None, console_server.url if console_server else None))
    freeze_startup_objects()
    await stop.wait()
    if console_server is not None:
        await console_server.close()
    if registry is not None:
        await registry.stop()
    if exporter is not None:
        exporter.close()
    await broker.stop()


@main.command("schema-registry")
@click.option("--bootstrap-server", required=True, metavar="HOST:PORT", help="Any Kafka-compatible broker.")
@click.option("--listen", default="127.0.0.1:8081", show_default=True, metavar="HOST:PORT",
              help="Where the registry answers HTTP.")
@click.option("--advertised-url", metavar="URL",
              help="Where the other registries reach this one to forward writes when it leads "
                   "(default: http://HOST:PORT of --listen).")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
def schema_registry(bootstrap_server: str, listen: str, advertised_url: str | None, log_level: str) -> None:
    """Run a Confluent-compatible Schema Registry that keeps its schemas in the broker's `_schemas` topic.

    \b
    Example:
      kbroker schema-registry --bootstrap-server localhost:9092 --listen localhost:8081
    """
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, port = registry_address(listen)
    asyncio.run(_run_registry(bootstrap_server, host, port, advertised_url))


async def _run_registry(bootstrap: str, host: str, port: int, advertised_url: str | None) -> None:
    from kbroker.registry.server import RegistryServer, RegistryStartError

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        registry = await RegistryServer(bootstrap, host, port, advertised_url).start()
    except RegistryStartError as exc:
        click.echo(f"kbroker: {exc}", err=True)
        sys.exit(2)
    click.echo(f"schema registry ready on {registry.url} (schemas in {bootstrap})")
    await stop.wait()
    await registry.stop()


@main.command()
@click.option("--brokers", type=click.IntRange(1, 99), default=3, show_default=True, help="How many brokers.")
@click.option("--listen-base", default="127.0.0.1:9092", show_default=True, metavar="HOST:PORT",
              help="Broker 1 listens here, broker N on PORT+N-1.")
@click.option("--data-dir", metavar="DIR", help="One folder for ZooKeeper's and every broker's data and logs "
                                                "(default ./kbroker-cluster-data).")
@click.option("--ephemeral", is_flag=True, help="Keep everything in a temporary folder removed at exit.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Broker config for every broker (repeatable).")
@click.option("--partitions", type=click.IntRange(min=1), metavar="N", help="num.partitions of every broker.")
@click.option("--topic", "topics", multiple=True, metavar="NAME[:PARTITIONS]",
              help="Create this topic at start unless it exists (repeatable).")
@click.option("--schema-registry", "registry_listen", metavar="HOST:PORT",
              help="Serve a Schema Registry for the cluster on http://HOST:PORT (needs kbroker[registry]).")
@click.option("--console", "console_at", is_flag=False, flag_value=f"{DEFAULT_HOST}:{DEFAULT_PORT}", default=None,
              metavar="[HOST:]PORT", help=f"Serve the web console for the cluster here (alone: {DEFAULT_HOST}:"
                                          f"{DEFAULT_PORT}; needs kbroker[console]).")
@console_options
def cluster(brokers: int, listen_base: str, data_dir: str | None, ephemeral: bool, sets: tuple[str, ...],
            partitions: int | None, topics: tuple[str, ...], registry_listen: str | None, console_at: str | None,
            write: bool, registry_url: str | None) -> None:
    """Run ZooKeeper and several brokers on this machine until SIGTERM or Ctrl-C.

    ZooKeeper is the one installed: Debian's `zookeeper` package, or ZOOKEEPER_HOME. Internal and
    new topics are replicated on min(brokers, 3) brokers.

    \b
    Examples:
      kbroker cluster
      kbroker cluster --brokers 5 --ephemeral --topic orders:6
      kbroker cluster --listen-base 127.0.0.1:19092 --set min.insync.replicas=2
      kbroker cluster --ephemeral --console --schema-registry localhost:8081
    """
    from kbroker.local_cluster import Beside, cluster_config, run

    host, sep, port = listen_base.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) + brokers - 1 > 65535:
        raise click.BadParameter(f"expected HOST:PORT with room for {brokers} ports, got {listen_base!r}",
                                 param_hint="--listen-base")
    try:
        wanted = topic_specs(topics)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--topic") from None
    if console_at is None and (write or registry_url):
        raise click.UsageError("--console-write and --console-registry-url go with --console")
    if console_at is not None:
        require_console()
    beside = Beside(console_address(console_at) if console_at is not None else None, write, registry_url,
                    registry_address(registry_listen) if registry_listen is not None else None)
    run(brokers, host.strip("[]"), int(port), data_dir, ephemeral, cluster_config(set_pairs(sets), partitions),
        wanted, beside)


register_tools(main)
main.add_command(console_command)
