"""Kafka for tests without Docker: `KBroker` (one node, no JVM), `KBrokerCluster` (several brokers
on a local ZooKeeper), and the `kafka_broker` and `kafka_cluster` pytest fixtures.

    from kbroker.testing import KBroker, KBrokerCluster

    with KBroker(topics={"orders": 3}) as kafka:
        run_my_app(bootstrap_servers=kafka.bootstrap_server)

    with KBrokerCluster(brokers=3, topics={"orders": 3}) as cluster:     # needs ZooKeeper installed
        cluster.kill(cluster.leader("orders", 0))

The pytest plugin (`kbroker.pytest_plugin`, registered on install) wraps the same classes.
"""

from kbroker.testing.broker import MODES, KBroker
from kbroker.testing.cluster import KBrokerCluster
from kbroker.testing.runners import BrokerStartError
from kbroker.testing.wire import TopicCreationError
from kbroker.testing.zookeeper import ZooKeeperNotFound

__all__ = ["MODES", "BrokerStartError", "KBroker", "KBrokerCluster", "TopicCreationError", "ZooKeeperNotFound"]
