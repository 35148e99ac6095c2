"""The cluster's metadata in ZooKeeper, in Apache Kafka's ZooKeeper-mode layout and JSON.

Anyone who knows a Kafka 2.x/3.x cluster can read it with `zkCli.sh`:

    /cluster/id                                   {"version":"1","id":"<cluster id>"}
    /brokers/ids/<id>                             ephemeral: the broker's endpoints
    /controller                                   ephemeral: {"version":1,"brokerid":<id>,...}
    /controller_epoch                             the epoch of the latest controller, a number
    /brokers/topics/<topic>                       {"version":3,"topic_id":..,"partitions":{"0":[1,2]},..}
    /brokers/topics/<topic>/partitions/<p>/state  {"controller_epoch","leader","version","leader_epoch","isr"}
    /config/topics/<topic>                        {"version":1,"config":{...}}
    /config/changes/config_change_<seq>           {"version":2,"entity_path":"topics/<topic>"}
    /admin/delete_topics/<topic>                  a deletion the controller carries out

The broker epoch is the creation zxid of the broker's registration, and a partition's epoch is the
version of its state node, as in Kafka. Every write the controller makes checks the version of
/controller_epoch in the same ZooKeeper transaction, so a deposed controller cannot write.
Calls block (kazoo is thread-based); watches call back on kazoo's thread. Unlike ZooKeeper's Java
client, kazoo forgets every watch when its connection drops, even when the session lives on:
`BoundedCalls.watch` sets such a watch again by calling its callback once the connection is back.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from kazoo.client import KazooClient
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError, RolledBackError
from kazoo.protocol.states import EventType, KazooState

CLUSTER_ID = "/cluster/id"
BROKER_IDS = "/brokers/ids"
TOPICS = "/brokers/topics"
CONTROLLER = "/controller"
CONTROLLER_EPOCH = "/controller_epoch"
TOPIC_CONFIGS = "/config/topics"
CONFIG_CHANGES = "/config/changes"
CONFIG_CHANGE_PREFIX = "config_change_"
USER_CONFIGS = "/config/users"
DELETE_TOPICS = "/admin/delete_topics"
logging.getLogger("kazoo").setLevel(logging.WARNING)  # not a line per (re)connection; problems still show

PERSISTENT_PATHS = (BROKER_IDS, TOPICS, TOPIC_CONFIGS, CONFIG_CHANGES, DELETE_TOPICS, "/brokers/seqid",
                    "/isr_change_notification", "/config/brokers", "/config/clients", USER_CONFIGS)


class ControllerMovedError(Exception):
    """Another broker became controller: this one's writes are refused."""


@dataclass(frozen=True)
class BrokerRegistration:
    broker_id: int
    host: str
    port: int
    epoch: int  # the creation zxid of /brokers/ids/<id>
    rack: str | None = None
    endpoints: tuple[tuple[str, str, str, int], ...] = ()  # (listener, security protocol, host, port)


@dataclass
class LeaderIsr:
    """A partition's state node: who leads in which epoch, with which in-sync replicas."""

    leader: int
    leader_epoch: int
    isr: list[int]
    controller_epoch: int
    version: int = 0  # the node's ZooKeeper version: the partition epoch

    def to_json(self) -> bytes:
        return _json({"controller_epoch": self.controller_epoch, "leader": self.leader, "version": 1,
                      "leader_epoch": self.leader_epoch, "isr": self.isr})


@dataclass
class TopicAssignment:
    """Each partition's replicas; during a reassignment, the replicas being added and removed
    (the partition's list then holds both the target and the original replicas)."""

    topic_id: uuid.UUID
    partitions: dict[int, list[int]] = field(default_factory=dict)
    adding: dict[int, list[int]] = field(default_factory=dict)
    removing: dict[int, list[int]] = field(default_factory=dict)


def kafka_uuid_text(value: uuid.UUID) -> str:
    """A topic id as Kafka prints it: URL-safe base64 of its 16 bytes, without padding."""
    return base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")


def parse_kafka_uuid(text: str) -> uuid.UUID:
    return uuid.UUID(bytes=base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _json(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


def split_connect(connect: str) -> tuple[str, str]:
    """`host:port,host:port/chroot` -> (hosts, chroot); the chroot is '' when there is none."""
    hosts, slash, chroot = connect.partition("/")
    return hosts, (slash + chroot).rstrip("/") if chroot else ""


class BoundedCalls:
    """The kazoo calls the store makes, each given up (KazooTimeoutError) after `timeout` seconds:
    a plain kazoo call waits for ever while ZooKeeper is unreachable, and some of these run on the
    broker's event loop."""

    def __init__(self, client: KazooClient, timeout: float) -> None:
        self.client = client
        self.timeout = timeout
        self._dropped: list[Callable[[], None]] = []  # watches' callbacks, to call once connected again
        self._dropped_lock = threading.Lock()

    def watch(self, on_change: Callable[[], None]) -> Callable[[Any], None]:
        """A one-shot kazoo watch that calls `on_change` (on kazoo's thread) when its node changes,
        or, if kazoo drops it with the connection, once connected again: the node may have changed
        meanwhile, and `on_change` reads it again, setting a new watch."""
        def fired(event: Any) -> None:
            if event.type != EventType.NONE:
                on_change()
                return
            with self._dropped_lock:
                if not self.client.connected:
                    self._dropped.append(on_change)
                    return
            on_change()  # the connection came back before kazoo told this watch it was dropped
        return fired

    def reconnected(self) -> None:
        """Called once the connection is back: the watches kazoo dropped with it are set again."""
        with self._dropped_lock:
            dropped, self._dropped = self._dropped, []
        for on_change in dropped:
            on_change()

    def get(self, path: str, watch: Callable | None = None) -> Any:
        return self.client.get_async(path, watch).get(timeout=self.timeout)

    def get_children(self, path: str, watch: Callable | None = None) -> list[str]:
        return self.client.get_children_async(path, watch).get(timeout=self.timeout)

    def exists(self, path: str, watch: Callable | None = None) -> Any:
        return self.client.exists_async(path, watch).get(timeout=self.timeout)

    def create(self, path: str, value: bytes = b"", ephemeral: bool = False, sequence: bool = False,
               makepath: bool = False) -> str:
        return self.client.create_async(path, value, ephemeral=ephemeral, sequence=sequence,
                                        makepath=makepath).get(timeout=self.timeout)

    def set(self, path: str, value: bytes, version: int = -1) -> Any:
        return self.client.set_async(path, value, version).get(timeout=self.timeout)

    def delete(self, path: str, version: int = -1) -> None:
        self.client.delete_async(path, version).get(timeout=self.timeout)

    def ensure_path(self, path: str) -> None:
        self.client.ensure_path_async(path).get(timeout=self.timeout)


class ZkStore:
    """A broker's session with ZooKeeper and the reads and writes Kafka's layout needs."""

    def __init__(self, connect: str, session_timeout_ms: int, connection_timeout_ms: int | None = None) -> None:
        hosts, chroot = split_connect(connect)
        self.chroot = chroot
        self._hosts = hosts
        self.client = KazooClient(hosts=hosts + chroot, timeout=session_timeout_ms / 1000)
        self.calls = BoundedCalls(self.client, session_timeout_ms / 1000)
        self._connection_timeout = (connection_timeout_ms or session_timeout_ms) / 1000
        self.on_session_lost: list[Callable[[], None]] = []  # called on kazoo's thread
        self.on_new_session: list[Callable[[], None]] = []  # likewise, once reconnected after a loss
        self._lost = False
        self.inter_broker_listener = "PLAINTEXT"  # whose endpoint BrokerRegistration's host and port are
        self.client.add_listener(self._state_changed)

    def start(self) -> None:
        if self.chroot:  # Kafka creates the chroot when it is missing
            bootstrap = KazooClient(hosts=self._hosts, timeout=self.client._session_timeout / 1000)
            bootstrap.start(timeout=self._connection_timeout)
            try:
                bootstrap.ensure_path(self.chroot)
            finally:
                bootstrap.stop()
                bootstrap.close()
        self.client.start(timeout=self._connection_timeout)
        for path in PERSISTENT_PATHS:
            self.calls.ensure_path(path)

    def stop(self) -> None:
        self.client.stop()
        self.client.close()

    def _state_changed(self, state: str) -> None:
        """A lost session took this broker's ephemeral nodes with it; kazoo then opens a new one,
        in which they must be made again."""
        if state == KazooState.LOST:
            self._lost = True
            for callback in self.on_session_lost:
                callback()
        elif state == KazooState.CONNECTED:
            if self._lost:
                self._lost = False
                for callback in self.on_new_session:
                    callback()
            self.calls.reconnected()

    # -- cluster and brokers

    def cluster_id(self, proposed: str) -> str:
        """The cluster's id, set to `proposed` by the first broker that asks."""
        try:
            self.calls.create(CLUSTER_ID, _json({"version": "1", "id": proposed}), makepath=True)
        except NodeExistsError:
            pass
        data, _ = self.calls.get(CLUSTER_ID)
        return json.loads(data)["id"]

    def register_broker(self, broker_id: int, endpoints: dict[str, tuple[str, str, int]], rack: str | None = None) -> int:
        """Create this broker's ephemeral registration with every listener, endpoints being
        listener -> (security protocol, host, port); returns the broker epoch. As in Kafka, host
        and port name the PLAINTEXT endpoint, if there is one."""
        plaintext = next(((host, port) for protocol, host, port in endpoints.values() if protocol == "PLAINTEXT"), (None, -1))
        doc = {"features": {}, "listener_security_protocol_map": {name: e[0] for name, e in endpoints.items()},
               "endpoints": [f"{name}://{_bracketed(host)}:{port}" for name, (_, host, port) in endpoints.items()],
               "jmx_port": -1, "host": plaintext[0], "port": plaintext[1], "rack": rack,
               "timestamp": str(int(time.time() * 1000)), "version": 5}
        if rack is None:
            del doc["rack"]
        path = f"{BROKER_IDS}/{broker_id}"
        self.calls.create(path, _json(doc), ephemeral=True)
        return self.calls.exists(path).czxid

    def brokers(self, watch: Callable | None = None) -> dict[int, BrokerRegistration]:
        """The live brokers; `watch` is called once when the set changes."""
        found = {}
        for child in self.calls.get_children(BROKER_IDS, watch=watch):
            try:
                data, stat = self.calls.get(f"{BROKER_IDS}/{child}")
            except NoNodeError:
                continue  # gone since the listing
            doc = json.loads(data)
            endpoints = _endpoints(doc)
            host, port = next(((h, p) for name, _, h, p in endpoints if name == self.inter_broker_listener),
                              endpoints[0][2:] if endpoints else (doc.get("host", ""), int(doc.get("port", -1))))
            found[int(child)] = BrokerRegistration(int(child), host, port, stat.czxid, doc.get("rack"), tuple(endpoints))
        return found

    # -- the controller

    def try_become_controller(self, broker_id: int) -> int | None:
        """Take /controller if nobody holds it; returns the new controller epoch, or None."""
        doc = {"version": 1, "brokerid": broker_id, "timestamp": str(int(time.time() * 1000))}
        try:
            self.calls.create(CONTROLLER, _json(doc), ephemeral=True)
        except NodeExistsError:
            return None
        while True:
            try:
                data, stat = self.calls.get(CONTROLLER_EPOCH)
            except NoNodeError:
                try:
                    self.calls.create(CONTROLLER_EPOCH, b"1")
                    self._epoch_version = 0
                    return 1
                except NodeExistsError:
                    continue
            epoch = int(data) + 1
            try:
                self._epoch_version = self.calls.set(CONTROLLER_EPOCH, str(epoch).encode(), version=stat.version).version
                return epoch
            except BadVersionError:
                continue

    def controller_id(self, watch: Callable | None = None) -> int:
        """The current controller's id, -1 when there is none; `watch` fires when that changes."""
        stat = self.calls.exists(CONTROLLER, watch=watch)
        if stat is None:
            return -1
        try:
            data, _ = self.calls.get(CONTROLLER)
        except NoNodeError:
            return -1
        return int(json.loads(data)["brokerid"])

    def resign(self, broker_id: int) -> None:
        """Give up /controller, if this broker holds it."""
        try:
            if self.controller_id() == broker_id:
                self.calls.delete(CONTROLLER)
        except NoNodeError:
            pass

    def _guarded(self, build: Callable[[Any], None]) -> list[Any]:
        """Run writes in one transaction that also checks this controller's epoch is current."""
        transaction = self.client.transaction()
        transaction.check(CONTROLLER_EPOCH, self._epoch_version)
        build(transaction)
        results = transaction.commit_async().get(timeout=self.calls.timeout)
        if any(isinstance(r, BadVersionError) for r in results[:1]):
            raise ControllerMovedError("the controller epoch has moved on")
        for result in results:
            if isinstance(result, Exception) and not isinstance(result, RolledBackError):
                raise result
        return results[1:]

    # -- topics

    def topic_names(self, watch: Callable | None = None) -> list[str]:
        return self.calls.get_children(TOPICS, watch=watch)

    def topic_assignment(self, topic: str, watch: Callable | None = None) -> TopicAssignment | None:
        try:
            data, _ = self.calls.get(f"{TOPICS}/{topic}", watch=watch)
        except NoNodeError:
            return None
        doc = json.loads(data)
        topic_id = parse_kafka_uuid(doc["topic_id"]) if doc.get("topic_id") else uuid.uuid4()
        return TopicAssignment(topic_id, {int(p): list(r) for p, r in doc["partitions"].items()},
                               {int(p): list(r) for p, r in (doc.get("adding_replicas") or {}).items()},
                               {int(p): list(r) for p, r in (doc.get("removing_replicas") or {}).items()})

    def create_topic(self, topic: str, assignment: TopicAssignment, configs: dict[str, str]) -> bool:
        """Write a new topic's configs, then its assignment (the controller acts on the latter);
        False when the topic exists already (its configs untouched)."""
        if self.calls.exists(f"{TOPICS}/{topic}"):
            return False
        self._write_topic_config(topic, configs)
        try:
            self.calls.create(f"{TOPICS}/{topic}", _assignment_json(assignment))
        except NodeExistsError:
            return False
        return True

    def set_topic_partitions(self, topic: str, assignment: TopicAssignment) -> None:
        """Grow a topic: the whole assignment, old partitions and new."""
        self.calls.set(f"{TOPICS}/{topic}", _assignment_json(assignment))

    def set_reassignment(self, topic: str, assignment: TopicAssignment) -> None:
        """The controller's write of a topic's replicas as a reassignment moves them."""
        self._guarded(lambda transaction: transaction.set_data(f"{TOPICS}/{topic}", _assignment_json(assignment)))

    def topic_config(self, topic: str) -> dict[str, str]:
        try:
            data, _ = self.calls.get(f"{TOPIC_CONFIGS}/{topic}")
        except NoNodeError:
            return {}
        return dict(json.loads(data).get("config") or {})

    def set_topic_config(self, topic: str, configs: dict[str, str]) -> None:
        """Replace a topic's overrides and announce the change, as Kafka's AdminZkClient does."""
        self._write_topic_config(topic, configs)
        announce_config_change(self.calls, f"topics/{topic}")

    def _write_topic_config(self, topic: str, configs: dict[str, str]) -> None:
        doc = _json({"version": 1, "config": configs})
        path = f"{TOPIC_CONFIGS}/{topic}"
        if self.calls.exists(path):
            self.calls.set(path, doc)
        else:
            self.calls.create(path, doc, makepath=True)

    def request_topic_deletion(self, topic: str) -> None:
        try:
            self.calls.create(f"{DELETE_TOPICS}/{topic}")
        except NodeExistsError:
            pass

    def topics_to_delete(self, watch: Callable | None = None) -> list[str]:
        return self.calls.get_children(DELETE_TOPICS, watch=watch)

    def delete_topic(self, topic: str) -> None:
        """The controller's last step of a deletion: remove every node of the topic."""
        self._guarded(lambda transaction: None)  # only while this broker is still the controller
        for path in (f"{TOPICS}/{topic}", f"{TOPIC_CONFIGS}/{topic}", f"{DELETE_TOPICS}/{topic}"):
            try:
                self.client.delete(path, recursive=True)
            except NoNodeError:
                pass

    # -- partition state

    def partition_state(self, topic: str, partition: int) -> LeaderIsr | None:
        try:
            data, stat = self.calls.get(_state_path(topic, partition))
        except NoNodeError:
            return None
        doc = json.loads(data)
        return LeaderIsr(doc["leader"], doc["leader_epoch"], list(doc["isr"]), doc["controller_epoch"], stat.version)

    def create_partition_states(self, topic: str, states: dict[int, LeaderIsr]) -> None:
        """The controller's first state for new partitions (version 0)."""
        for partition in states:
            self.calls.ensure_path(f"{TOPICS}/{topic}/partitions/{partition}")

        def build(transaction: Any) -> None:
            for partition, state in states.items():
                transaction.create(_state_path(topic, partition), state.to_json())
        self._guarded(build)
        for state in states.values():
            state.version = 0

    def update_partition_state(self, topic: str, partition: int, state: LeaderIsr) -> bool:
        """Write `state` if the node is still at `state.version`; on success the version moves on."""
        def build(transaction: Any) -> None:
            transaction.set_data(_state_path(topic, partition), state.to_json(), version=state.version)
        try:
            results = self._guarded(build)
        except BadVersionError:
            return False
        state.version = results[0].version
        return True


def announce_config_change(calls: BoundedCalls, entity_path: str) -> None:
    """Tell every broker that an entity's config changed (`topics/<topic>`, `users/<sanitized user>`)."""
    calls.create(f"{CONFIG_CHANGES}/{CONFIG_CHANGE_PREFIX}", _json({"version": 2, "entity_path": entity_path}),
                 sequence=True)


def config_change_entity(data: bytes) -> str:
    """The entity a config change notification names."""
    return json.loads(data)["entity_path"]


def _state_path(topic: str, partition: int) -> str:
    return f"{TOPICS}/{topic}/partitions/{partition}/state"


def _assignment_json(assignment: TopicAssignment) -> bytes:
    return _json({"version": 3, "topic_id": kafka_uuid_text(assignment.topic_id),
                  "partitions": {str(p): r for p, r in sorted(assignment.partitions.items())},
                  "adding_replicas": {str(p): r for p, r in sorted(assignment.adding.items())},
                  "removing_replicas": {str(p): r for p, r in sorted(assignment.removing.items())}})


def _endpoints(doc: dict) -> list[tuple[str, str, str, int]]:
    """(listener, security protocol, host, port) of each endpoint of a broker registration."""
    protocols = doc.get("listener_security_protocol_map") or {}
    found = []
    for endpoint in doc.get("endpoints", []):
        name, _, address = endpoint.partition("://")
        host, _, port = address.rpartition(":")
        found.append((name, protocols.get(name, name), host.strip("[]"), int(port)))
    return found


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
