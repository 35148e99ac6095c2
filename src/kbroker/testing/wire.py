"""CreateTopics over a plain socket with kproto, so creating a topic needs no client library.

The same request travels whether the broker runs in a subprocess or on a thread, so a topic made
mid-test goes through the path a stock admin client takes.
"""

from __future__ import annotations

from typing import Mapping

from kproto import ErrorCode
from kproto.messages import CreateTopicsRequest

from kbroker.tools.client import Connection

# v5 is flexible and lets -1 mean the broker's default partition count and replication factor.
CREATE_TOPICS_VERSION = 5


class TopicCreationError(RuntimeError):
    """The broker refused a topic; the message names the Kafka error code."""


def create_topics(host: str, port: int, topics: Mapping[str, int], configs: Mapping[str, str] | None = None,
                  timeout: float = 10.0, exist_ok: bool = False) -> None:
    """Create `topics` (name -> partitions, -1 for the broker's default) with the same topic configs."""
    entries = [CreateTopicsRequest.CreatableTopicConfig(name=k, value=str(v)) for k, v in (configs or {}).items()]
    request = CreateTopicsRequest(
        topics=[CreateTopicsRequest.CreatableTopic(name=name, num_partitions=count, replication_factor=-1,
                                                   configs=list(entries))
                for name, count in topics.items()],
        timeout_ms=int(timeout * 1000),
    )
    with Connection(host, port, timeout=timeout, client_id="kbroker-testing") as connection:
        response = connection.request(request, CREATE_TOPICS_VERSION)
    problems = [
        f"{result.name}: {ErrorCode(result.error_code).name}: {result.error_message}"
        for result in response.topics
        if result.error_code != ErrorCode.NONE
        and not (exist_ok and result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS)
    ]
    if problems:
        raise TopicCreationError("; ".join(problems))
