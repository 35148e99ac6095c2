"""A small synchronous Kafka client on kproto, for the operator tools and tests.

It speaks to any Kafka-compatible broker: asks ApiVersions once per connection, sends each
request at the highest version both sides know (or lower, when the caller caps it), and follows
Metadata to reach partition leaders. Failures become `ToolError`, a one-line message.
"""

from __future__ import annotations

import socket
import ssl
import struct
from typing import Any

from kproto import ErrorCode, ProtocolError, decode_response, encode_request
from kproto.frames import frame
from kproto.messages import ApiVersionsRequest, MetadataRequest, MetadataResponse, RequestHeader

from kbroker.security.inter_broker import PeerAuthenticationError, PeerSecurity

CLIENT_ID = "kbroker-tools"


class ToolError(Exception):
    """Something the operator must hear about, in one line."""


def split_address(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ToolError(f"bad broker address {address!r}: expected host:port")
    return host.strip("[]"), int(port)


def check(error_code: int, what: str, message: str | None = None) -> None:
    """Raise ToolError unless `error_code` is NONE."""
    if error_code != ErrorCode.NONE:
        name = ErrorCode(error_code).name if error_code in ErrorCode._value2member_map_ else str(error_code)
        raise ToolError(f"{what}: {name}" + (f" ({message})" if message else ""))


class Connection:
    """One connection to one broker, over TLS and logged in when `security` says so;
    `request(message, version)` sends and waits for the answer."""

    def __init__(self, host: str, port: int, timeout: float = 10.0, client_id: str = CLIENT_ID,
                 security: PeerSecurity | None = None) -> None:
        self.address = f"{host}:{port}"
        try:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise ToolError(f"cannot connect to broker at {self.address}: {exc.strerror or exc}") from None
        self.client_id = client_id
        self.correlation_id = 0
        self.versions: dict[int, tuple[int, int]] | None = None
        if security is not None:
            try:
                self._secure(host, security)
            except BaseException:
                self.sock.close()
                raise

    def _secure(self, host: str, security: PeerSecurity) -> None:
        """The TLS handshake, then ApiVersions and the SASL login, as Kafka's clients open a connection."""
        if security.tls is not None:
            try:
                self.sock = security.tls.wrap_socket(self.sock, server_hostname=host)
            except (ssl.SSLError, ssl.CertificateError, OSError) as exc:
                raise ToolError(f"TLS with broker at {self.address} failed: {exc}") from None
        if security.mechanism is None:
            return
        self.api_versions()
        steps, answer = security.login(), None
        try:
            while True:
                answer = self.request(*steps.send(answer))
        except StopIteration:
            return
        except PeerAuthenticationError as exc:
            raise ToolError(f"{security.mechanism} login to broker at {self.address} failed: {exc}") from None

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def request(self, message: Any, version: int) -> Any:
        """Send `message` at `version` and return the decoded response."""
        self.correlation_id += 1
        header = RequestHeader(request_api_key=message.API_KEY, request_api_version=version,
                               correlation_id=self.correlation_id, client_id=self.client_id)
        try:
            self.sock.sendall(frame(encode_request(header, message)))
            size = struct.unpack(">i", self.read_exact(4))[0]
            payload = self.read_exact(size)
        except socket.timeout:
            raise ToolError(f"broker at {self.address} did not answer in time") from None
        except OSError as exc:
            raise ToolError(f"connection to broker at {self.address} failed: {exc.strerror or exc}") from None
        try:
            response_header, response = decode_response(payload, message.API_KEY, version)
        except ProtocolError as exc:
            raise ToolError(f"unreadable answer from broker at {self.address}: {exc}") from None
        if response_header.correlation_id != self.correlation_id:
            raise ToolError(f"broker at {self.address} answered out of order")
        return response

    def read_exact(self, n: int) -> bytes:
        chunks = []
        while n:
            chunk = self.sock.recv(n)
            if not chunk:
                raise ConnectionError(f"connection closed by the broker at {self.address}")
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def api_versions(self) -> dict[int, tuple[int, int]]:
        """api key -> (min, max) version the broker serves, asked once."""
        if self.versions is None:
            answer = self.request(ApiVersionsRequest(), 0)
            check(answer.error_code, f"ApiVersions to {self.address}")
            self.versions = {k.api_key: (k.min_version, k.max_version) for k in answer.api_keys}
        return self.versions

    def send(self, message: Any, max_version: int | None = None, min_version: int = 0) -> Any:
        """Send at the highest version this broker, kproto and the caller all accept."""
        versions = self.api_versions()
        name = type(message).__name__.removesuffix("Request")
        if message.API_KEY not in versions:
            raise ToolError(f"broker at {self.address} does not support {name}")
        low, high = versions[message.API_KEY]
        ours_low, ours_high = type(message).SPEC.versions
        version = min(high, ours_high, max_version if max_version is not None else ours_high)
        if version < max(low, ours_low, min_version):
            raise ToolError(f"broker at {self.address} supports {name} v{low}-{high}, which this tool cannot use")
        return self.request(message, version)


class Client:
    """The cluster seen from a bootstrap address: the first broker reached, and leaders on demand."""

    def __init__(self, bootstrap: str, timeout: float = 10.0, security: PeerSecurity | None = None) -> None:
        self.timeout = timeout
        self.security = security
        errors = []
        self._nodes: dict[int, Connection] = {}
        self._addresses: dict[int, tuple[str, int]] = {}
        for address in bootstrap.split(","):
            try:
                self.bootstrap = Connection(*split_address(address), timeout=timeout, security=security)
                break
            except ToolError as exc:
                errors.append(str(exc))
        else:
            raise ToolError("; ".join(errors))

    def close(self) -> None:
        self.bootstrap.close()
        for conn in self._nodes.values():
            conn.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, message: Any, node: int | None = None, **versions: int) -> Any:
        """Send to the bootstrap broker, or to the broker with this node id."""
        return self.node(node).send(message, **versions) if node is not None else self.bootstrap.send(message, **versions)

    def node(self, node_id: int) -> Connection:
        if node_id not in self._nodes:
            if node_id not in self._addresses:
                self.metadata([])
            if node_id not in self._addresses:
                raise ToolError(f"broker {node_id} is not in the cluster's metadata")
            self._nodes[node_id] = Connection(*self._addresses[node_id], timeout=self.timeout,
                                             security=self.security)
        return self._nodes[node_id]

    def metadata(self, topics: list[str] | None = None) -> MetadataResponse:
        """Metadata for these topics (None: all), without creating any; remembers broker addresses."""
        request = MetadataRequest(allow_auto_topic_creation=False)
        # Constructors turn a None list into []; a null list ("all topics") is set afterwards.
        request.topics = None if topics is None else [MetadataRequest.MetadataRequestTopic(name=t) for t in topics]
        answer = self.bootstrap.send(request, max_version=12, min_version=4)
        self._addresses.update({b.node_id: (b.host, b.port) for b in answer.brokers})
        return answer

    def partitions(self, topic: str) -> dict[int, int]:
        """partition -> leader node id of an existing topic; ToolError if it does not exist."""
        meta = self.metadata([topic])
        found = meta.topics[0]
        check(found.error_code, f"topic {topic}")
        return {p.partition_index: p.leader_id for p in found.partitions}
