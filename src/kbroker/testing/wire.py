"""CreateTopics over a plain socket with kproto, so creating a topic needs no client library.

The same request travels whether the broker runs in a subprocess or on a thread, so a topic made
mid-test goes through the path a stock admin client takes.
"""

from __future__ import annotations

import socket
import struct
from typing import Any, Mapping

from kproto import ErrorCode, decode_response, encode_request
from kproto.frames import frame
from kproto.messages import CreateTopicsRequest, RequestHeader

# v5 is flexible and lets -1 mean the broker's default partition count and replication factor.
CREATE_TOPICS_VERSION = 5
_SIZE = struct.Struct(">i")


class TopicCreationError(RuntimeError):
    """The broker refused a topic; the message names the Kafka error code."""


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("the broker closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _call(host: str, port: int, request: Any, version: int, timeout: float) -> Any:
    header = RequestHeader(request_api_key=request.API_KEY, request_api_version=version, correlation_id=1,
                           client_id="kbroker-testing")
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(frame(encode_request(header, request)))
        size = _SIZE.unpack(_read_exact(sock, 4))[0]
        _, response = decode_response(_read_exact(sock, size), request.API_KEY, version)
    return response


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
    response = _call(host, port, request, CREATE_TOPICS_VERSION, timeout)
    problems = [
        f"{result.name}: {ErrorCode(result.error_code).name}: {result.error_message}"
        for result in response.topics
        if result.error_code != ErrorCode.NONE
        and not (exist_ok and result.error_code == ErrorCode.TOPIC_ALREADY_EXISTS)
    ]
    if problems:
        raise TopicCreationError("; ".join(problems))
