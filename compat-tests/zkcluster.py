"""The cluster compat-tests' ZooKeeper and brokers: kbroker.testing's `KBrokerCluster`, as users get it.

ZooKeeper (Debian's package, on Java) listens on a free loopback port with a short tick, so that a
killed broker's session expires within a couple of seconds; each broker has its own port, data dir
and `broker.id`, all under the test's folder. Everything is stopped by PID at the end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from kbroker.testing.cluster import ClusterBroker, KBrokerCluster
from kbroker.testing.runners import free_port
from kbroker.testing.zookeeper import zookeeper_available

__all__ = ["Cluster", "zookeeper_available"]  # the soak and bench.replication check before they start


class Cluster(KBrokerCluster):
    """ZooKeeper and `size` brokers with ids 1..size in `workdir`; `brokers[id]` is each broker."""

    def __init__(self, workdir: Path, size: int = 3, config: Mapping[str, str] | None = None,
                 chroot: str = "/kbroker", metrics: bool = False,
                 per_broker: Mapping[int, Mapping[str, str]] | None = None) -> None:
        super().__init__(size, config, data_dir=workdir, chroot=chroot, metrics=metrics)
        self.workdir = Path(workdir)
        self.per_broker = per_broker or {}  # broker id -> config of that broker alone (its own listeners, say)

    def _broker(self, broker_id: int) -> ClusterBroker:
        """A broker with its own config on top; `{port}` in a value is its client port, chosen now."""
        broker = super()._broker(broker_id)
        own = self.per_broker.get(broker_id)
        if own:
            broker.launch.port = broker.launch.port or free_port()
            broker.launch.config.update({k: v.replace("{port}", str(broker.launch.port)) for k, v in own.items()})
        return broker
