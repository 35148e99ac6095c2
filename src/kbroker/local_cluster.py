"""`kbroker cluster`: ZooKeeper and N brokers on this machine, in the foreground, for development.

It runs `KBrokerCluster` (kbroker.testing) on fixed consecutive ports, with the data of all in one
folder, prints where to connect, and on Ctrl-C or SIGTERM stops the brokers and then ZooKeeper by PID.
A web console and a Schema Registry for the cluster, when asked for, run in this process, as clients
of the brokers like any other.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from types import FrameType
from typing import Mapping, NamedTuple

import click

from kbroker.config import ConfigError, load_broker_config
from kbroker.config.properties import config_from_env
from kbroker.dev import data_row, ready_banner
from kbroker.testing.cluster import KBrokerCluster, cluster_profile
from kbroker.testing.runners import BrokerStartError
from kbroker.testing.zookeeper import ZooKeeperNotFound, find_zookeeper

USAGE_ERROR = 2  # as for `kbroker serve`: nothing was started


def fail(message: str, status: int = USAGE_ERROR) -> None:
    click.echo(f"kbroker: {message}", err=True)
    raise SystemExit(status)


def check_prerequisites(host: str, ports: list[int], config: Mapping[str, str]) -> None:
    """Everything that would stop a broker at start, found before anything starts: no kazoo, a bad
    config key or value, no ZooKeeper or Java, a port already in use."""
    if importlib.util.find_spec("kazoo") is None:
        fail("a cluster needs the cluster extra: pip install 'kbroker[cluster]'")
    try:
        load_broker_config(overrides={**config, "broker.id": "1", "zookeeper.connect": "127.0.0.1:2181"},
                           environ={})
    except ConfigError as exc:
        fail(str(exc))
    try:
        find_zookeeper()
    except ZooKeeperNotFound as exc:
        fail(str(exc))
    for port in ports:
        if port_taken(host, port):
            fail(f"port {port} on {host} is in use (by another Kafka or kbroker?); choose others with --listen-base")


def port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def cluster_config(sets: Mapping[str, str], partitions: int | None) -> dict[str, str]:
    """Broker config from KAFKA_CFG_*/KBROKER_* variables, then --partitions, then --set."""
    config = {key: value for key, (value, _) in config_from_env(os.environ).items()}
    if partitions is not None:
        if "num.partitions" in sets:
            raise click.UsageError("num.partitions given both by --partitions and by --set")
        config["num.partitions"] = str(partitions)
    return {**config, **sets}


class Beside(NamedTuple):
    """What runs in this process beside the brokers: the console and the Schema Registry."""

    console_at: tuple[str, int] | None = None
    write: bool = False
    registry_url: str | None = None  # another registry for the console to show
    registry_at: tuple[str, int] | None = None  # where to serve the built-in one


def run(brokers: int, host: str, base_port: int, data_dir: str | None, ephemeral: bool, config: dict[str, str],
        topics: dict[str, int], beside: Beside = Beside()) -> None:
    """Start the cluster, print the banner, and stop it all on SIGINT or SIGTERM."""
    if ephemeral and data_dir:
        raise click.UsageError("--ephemeral and --data-dir exclude each other")
    ports = [base_port + i for i in range(brokers)]
    check_prerequisites(host, ports, {**cluster_profile(brokers), **config})
    folder = Path(tempfile.mkdtemp(prefix="kbroker-cluster-") if ephemeral else data_dir or "kbroker-cluster-data")
    cluster = KBrokerCluster(brokers, config, topics, data_dir=folder, host=host, base_port=base_port)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        cluster.start()
        if beside.console_at is None and beside.registry_at is None:
            click.echo(banner(cluster, topics, ephemeral))
            while True:
                signal.pause()
        asyncio.run(serve_beside(cluster, topics, ephemeral, beside))
    except KeyboardInterrupt:
        pass
    except BrokerStartError as exc:
        fail(f"the cluster did not start: {exc}", status=1)
    finally:
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        cluster.stop()
        if ephemeral:
            shutil.rmtree(folder, ignore_errors=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


async def serve_beside(cluster: KBrokerCluster, topics: Mapping[str, int], ephemeral: bool, beside: Beside) -> None:
    """Serve the registry and the console for the cluster until SIGINT or SIGTERM, then close them."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    registry = console = None
    try:
        if beside.registry_at is not None:
            from kbroker.registry.server import RegistryServer, RegistryStartError

            try:
                registry = await RegistryServer(cluster.bootstrap_servers, *beside.registry_at).start()
            except RegistryStartError as exc:
                fail(str(exc), status=1)
        if beside.console_at is not None:
            from kbroker.console.app import start_console

            try:
                console = await start_console(*beside.console_at, cluster.bootstrap_servers, beside.write,
                                              beside.registry_url or (registry.url if registry else None))
            except OSError as exc:
                fail(f"--console: cannot listen on {beside.console_at[0]}:{beside.console_at[1]}: "
                     f"{exc.strerror or exc}", status=1)
        rows = [("registry", registry.url)] if registry else []
        rows += [("console", console.url)] if console else []
        click.echo(banner(cluster, topics, ephemeral, rows))
        await stop.wait()
    finally:
        if console is not None:
            await console.close()
        if registry is not None:
            await registry.stop()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def banner(cluster: KBrokerCluster, topics: Mapping[str, int], ephemeral: bool,
           beside: list[tuple[str, str]] | None = None) -> str:
    """Where each broker and ZooKeeper are, where data and logs go, and the line to paste into a shell."""
    assert cluster.data_dir is not None and cluster.zookeeper is not None
    folder = cluster.data_dir.resolve()
    rows = [("bootstrap", cluster.bootstrap_servers)]
    rows += [(f"broker {i}", f"{b.bootstrap_server}  pid {b.pid}") for i, b in cluster.brokers.items()]
    rows.append(("zookeeper", f"{cluster.zookeeper_connect}  pid {cluster.zookeeper.pid}"))
    rows.append(("controller", f"broker {cluster.controller()}"))
    rows.append(data_row(folder, ephemeral))
    rows.append(("logs", f"{folder}/broker<N>.log, {cluster.zookeeper.log_path.resolve()}"))
    if topics:
        rows.append(("topics", ", ".join(f"{name} ({count})" if count > 0 else name for name, count in topics.items())))
    rows += beside or []
    return ready_banner(f"kbroker cluster is ready: {len(cluster.brokers)} brokers", rows, cluster.bootstrap_servers)
