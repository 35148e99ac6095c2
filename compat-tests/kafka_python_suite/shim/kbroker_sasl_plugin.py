"""A pytest plugin that runs the sdist's SASL tests against a running kbroker instead of a JVM broker.

Those tests ask the suite's broker factory for a fresh broker per mechanism (`transport=
"SASL_PLAINTEXT", sasl_mechanism=...`) and skip themselves when KAFKA_URI names an external one.
Here KAFKA_URI is left unset and the factory's brokers are made external ones pointing at the
listener of the transport asked for (COMPAT_SUITE_LISTENERS=`PLAINTEXT=host:port,SASL_PLAINTEXT=
host:port`), where the suite's user (alice, alice-secret) exists for every mechanism. Listing topics,
which the suite does with kafka-topics.sh, is done with kafka-python's admin client.
"""

from __future__ import annotations

import os
from typing import Any

LISTENERS_ENV = "COMPAT_SUITE_LISTENERS"


def pytest_configure(config: Any) -> None:
    from kafka import KafkaAdminClient
    from test.integration import fixtures

    listeners = dict(item.split("=", 1) for item in os.environ[LISTENERS_ENV].split(","))
    make = fixtures.KafkaFixture.instance.__func__

    def instance(cls: type, broker_id: int, *args: Any, transport: str = "PLAINTEXT", **kwargs: Any) -> Any:
        host, port = listeners[transport.upper()].rsplit(":", 1)
        kwargs.update(host=host, port=int(port), external=True)
        return make(cls, broker_id, *args, transport=transport, **kwargs)

    def get_topic_names(self: Any) -> list[str]:
        with KafkaAdminClient(**self._enrich_client_params({})) as admin:
            return admin.list_topics()

    fixtures.KafkaFixture.instance = classmethod(instance)
    fixtures.KafkaFixture.get_topic_names = get_topic_names
