"""Kafka for tests without Docker or a JVM: `KBroker`, and the `kafka_broker` pytest fixtures.

    from kbroker.testing import KBroker

    with KBroker(topics={"orders": 3}) as kafka:
        run_my_app(bootstrap_servers=kafka.bootstrap_server)

The pytest plugin (`kbroker.pytest_plugin`, registered on install) wraps the same class.
"""

from kbroker.testing.broker import MODES, KBroker
from kbroker.testing.runners import BrokerStartError
from kbroker.testing.wire import TopicCreationError

__all__ = ["MODES", "BrokerStartError", "KBroker", "TopicCreationError"]
