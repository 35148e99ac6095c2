"""`KBrokerCluster`: a local ZooKeeper and several kbroker processes that form one cluster.

    with KBrokerCluster(brokers=3, topics={"orders": 3}) as cluster:
        leader = cluster.leader("orders", 0)
        cluster.kill(leader)                  # SIGKILL; returns once the others have a new leader
        assert cluster.leader("orders", 0) != leader

The same class runs `kbroker cluster`, with fixed ports and a kept folder. ZooKeeper and the brokers
start at once (a broker waits for ZooKeeper to answer), and `start()` returns when every broker
lists every other and a controller. Everything is stopped by PID: brokers first, then ZooKeeper.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

from kproto import ErrorCode
from kproto.messages import FindCoordinatorRequest, MetadataRequest

from kbroker.dev import client_address, topic_specs
from kbroker.testing import clients, wire
from kbroker.testing.broker import config_text
from kbroker.testing.runners import HOST, BrokerStartError, Launch, SubprocessRunner
from kbroker.testing.zookeeper import ZooKeeper
from kbroker.tools.client import Connection, ToolError, split_address

METADATA_VERSION = 12  # names the controller and takes a null topic list for every topic
FIND_COORDINATOR_VERSION = 4  # the first with a list of keys
GROUP_KEY, TRANSACTION_KEY = 0, 1  # FindCoordinator key types
POLL_SECONDS = 0.05


def cluster_profile(size: int) -> dict[str, str]:
    """What a local cluster of `size` brokers runs with, on top of Kafka's single-node profile:
    internal and new topics replicated on up to three brokers, timeouts short enough that a killed
    broker leaves the cluster and a lagging follower the ISR within about two seconds, and
    leadership that stays where it is until a broker goes or someone moves it."""
    factor = str(min(size, 3))
    return {
        "offsets.topic.replication.factor": factor,
        "transaction.state.log.replication.factor": factor,
        "transaction.state.log.min.isr": str(min(size, 2)),
        "share.coordinator.state.topic.replication.factor": factor,
        "share.coordinator.state.topic.min.isr": str(min(size, 2)),
        "default.replication.factor": factor,
        "offsets.topic.num.partitions": "3",
        "transaction.state.log.num.partitions": "3",
        "group.initial.rebalance.delay.ms": "0",
        "zookeeper.session.timeout.ms": "1500",
        "zookeeper.connection.timeout.ms": "30000",  # brokers start alongside ZooKeeper and wait for it
        "replica.lag.time.max.ms": "2000",
        "replica.fetch.wait.max.ms": "200",
        "replica.fetch.backoff.ms": "100",
        "controlled.shutdown.retry.backoff.ms": "200",  # the last broker standing has nowhere to move leaders
        "auto.leader.rebalance.enable": "false",  # leadership moves only when a test moves it
    }


class ClusterBroker:
    """One broker of the cluster; its id, port and data dir stay the same across restarts."""

    def __init__(self, broker_id: int, launch: Launch) -> None:
        self.broker_id = broker_id
        self.launch = launch
        self.pid: int | None = None  # of the latest process; kept after it stops
        self._runner: SubprocessRunner | None = None

    @property
    def data_dir(self) -> Path:
        return self.launch.data_dir

    @property
    def log_path(self) -> Path:
        """Everything the broker logged, across its restarts."""
        assert self.launch.log_path is not None
        return self.launch.log_path

    @property
    def host(self) -> str:
        return self.launch.host

    @property
    def port(self) -> int:
        return self.launch.port

    @property
    def bootstrap_server(self) -> str:
        """`host:port` of this broker for a client."""
        return client_address(self.host, self.port)

    @property
    def metrics_url(self) -> str:
        """The broker's Prometheus endpoint, when the cluster was made with `metrics=True`."""
        if self.launch.metrics_port is None:
            raise RuntimeError("the cluster runs without metrics; pass metrics=True")
        return f"http://{split_address(self.bootstrap_server)[0]}:{self.launch.metrics_port}/metrics"

    @property
    def running(self) -> bool:
        return self._runner is not None and self._runner.proc is not None and self._runner.proc.poll() is None

    def spawn(self) -> None:
        if self._runner is not None:
            self._runner.stop(self.launch.stop_timeout)  # a process that ended by itself: its reader and pipe
        self._runner = SubprocessRunner()
        self._runner.spawn(self.launch)
        self.pid = self._runner.pid

    def wait_ready(self) -> None:
        assert self._runner is not None
        self._runner.wait_ready(self.launch)

    def start(self) -> ClusterBroker:
        """Start the process and wait for its ready line (not for the cluster to know it)."""
        if self.running:
            raise RuntimeError(f"broker {self.broker_id} is already running")
        self.spawn()
        self.wait_ready()
        return self

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (SIGKILL with `kill`) by PID and wait for the process to end."""
        if self._runner is not None:
            self._runner.stop(self.launch.stop_timeout, kill=kill)

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the broker logged (of its latest process)."""
        return "\n".join(list(self._runner.lines)[-lines:]) if self._runner is not None else ""

    def __repr__(self) -> str:
        return f"<ClusterBroker {self.broker_id} {self.bootstrap_server} pid={self.pid} running={self.running}>"


class KBrokerCluster(clients.ClientHelpers):
    """ZooKeeper and `brokers` kbrokers with ids 1..N: `start()`/`stop()` or a `with` block.

    `bootstrap_servers` lists the running brokers. `kill(id)`, `stop(id)`, `start(id)` and
    `restart(id)` act on one broker and return once the cluster has taken note (the others list
    exactly the running brokers, and no partition is led by a stopped one); `leader(topic,
    partition)` and `controller()` say who leads. `config` takes broker keys with Kafka's names on
    top of `cluster_profile()`; `topics` (name -> partitions, or `NAME[:PARTITIONS]` strings) are
    created with the default replication factor, min(brokers, 3), before `start()` returns.
    `base_port` 0 gives each broker a free port; otherwise broker N listens on base_port + N - 1.
    `data_dir` is kept; without it a temporary folder is removed at stop unless `keep_data`.
    `metrics=True` has each broker serve Prometheus metrics at `brokers[id].metrics_url`.
    """

    def __init__(self, brokers: int = 3, config: Mapping[str, Any] | None = None,
                 topics: Mapping[str, int] | Iterable[str] | None = None, *, data_dir: str | Path | None = None,
                 keep_data: bool = False, host: str = HOST, base_port: int = 0, chroot: str = "/kbroker",
                 metrics: bool = False, client_library: str = clients.AUTO, startup_timeout: float = 60.0,
                 stop_timeout: float = 10.0) -> None:
        if brokers < 1:
            raise ValueError("a cluster needs at least one broker")
        self.size = brokers
        self.config = {**cluster_profile(brokers), **{k: config_text(v) for k, v in (config or {}).items()}}
        self.topics = topic_specs(topics)
        self.keep_data = keep_data
        self.host = host
        self.base_port = base_port
        self.chroot = chroot
        self.metrics = metrics
        self.client_library = client_library
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._given_dir = Path(data_dir) if data_dir is not None else None
        self.data_dir: Path | None = self._given_dir
        self.zookeeper: ZooKeeper | None = None
        self.brokers: dict[int, ClusterBroker] = {}
        self._clients: list[Any] = []

    # -- where it is

    @property
    def bootstrap_servers(self) -> str:
        """`host:port,host:port,...` of the running brokers, for a client's bootstrap servers."""
        return ",".join(b.bootstrap_server for b in self.brokers.values() if b.running)

    @property
    def bootstrap_server(self) -> str:
        """The same list, under KBroker's name, so code written for one broker takes a cluster."""
        return self.bootstrap_servers

    def get_bootstrap_server(self) -> str:
        """The same list, under testcontainers' name."""
        return self.bootstrap_servers

    @property
    def zookeeper_connect(self) -> str:
        """`zookeeper.connect` of the brokers: ZooKeeper's address and the cluster's chroot."""
        if self.zookeeper is None:
            raise RuntimeError("the cluster is not running")
        return self.zookeeper.connect + self.chroot

    @property
    def running(self) -> bool:
        return self.zookeeper is not None

    def running_brokers(self) -> list[int]:
        return [i for i, b in self.brokers.items() if b.running]

    # -- the whole cluster

    def start(self, broker_id: int | None = None) -> KBrokerCluster:
        """Start the cluster, or with `broker_id` that one broker; return when the cluster sees it."""
        if broker_id is not None:
            self.brokers[broker_id].start()
            self.wait_for_brokers()
            return self
        if self.running:
            raise RuntimeError("the cluster is already running")
        self.data_dir = self._given_dir or Path(tempfile.mkdtemp(prefix="kbroker-cluster-"))
        self.zookeeper = ZooKeeper(self.data_dir / "zookeeper")
        try:
            self.zookeeper.spawn()
            self.brokers = {i: self._broker(i) for i in range(1, self.size + 1)}
            for broker in self.brokers.values():
                broker.spawn()
            self._wait_for_zookeeper()
            for broker in self.brokers.values():
                broker.wait_ready()
            self.wait_for_brokers()
            self._create_coordinator_topics()
            for name, partitions in self.topics.items():
                self.create_topic(name, partitions, exist_ok=True)
        except BaseException:
            self.stop()
            raise
        return self

    def _broker(self, broker_id: int) -> ClusterBroker:
        assert self.data_dir is not None and self.zookeeper is not None
        config = {**self.config, "broker.id": str(broker_id), "zookeeper.connect": self.zookeeper_connect}
        port = self.base_port + broker_id - 1 if self.base_port else 0
        launch = Launch(self.data_dir / f"broker{broker_id}", config, {}, self.metrics, self.startup_timeout,
                        self.stop_timeout, port=port, host=self.host,
                        log_path=self.data_dir / f"broker{broker_id}.log")
        return ClusterBroker(broker_id, launch)

    def _wait_for_zookeeper(self) -> None:
        assert self.zookeeper is not None
        deadline = time.monotonic() + self.startup_timeout
        while not self.zookeeper.ready():
            if time.monotonic() > deadline:
                raise BrokerStartError(f"ZooKeeper did not answer on {self.zookeeper.connect} within "
                                       f"{self.startup_timeout}s:\n{self.zookeeper.log_tail()}")
            time.sleep(POLL_SECONDS)

    def _create_coordinator_topics(self) -> None:
        """Have __consumer_offsets and __transaction_state made now (a FindCoordinator makes them),
        not when first needed: made after a test has killed a broker, they could not have their
        replication factor, and groups and transactions would not work until it returned."""
        deadline = time.monotonic() + self.startup_timeout
        for key_type in (GROUP_KEY, TRANSACTION_KEY):
            while not _coordinator_found(self.brokers[self.running_brokers()[0]], key_type):
                if time.monotonic() > deadline:
                    raise BrokerStartError(f"no coordinator after {self.startup_timeout}s:\n{self.logs()}")
                time.sleep(POLL_SECONDS)

    def stop(self, broker_id: int | None = None) -> None:
        """Stop the whole cluster (brokers one by one, the controller last, then ZooKeeper; a temporary
        folder is removed),
        or with `broker_id` that broker alone by SIGTERM, returning when the cluster has noticed."""
        if broker_id is not None:
            self.brokers[broker_id].stop()
            self.wait_for_brokers()
            return
        self.close_clients()
        try:
            for broker in self._stopping_order():
                broker.stop()
            if self.zookeeper is not None:
                self.zookeeper.stop(self.stop_timeout)
        finally:
            self.zookeeper = None
            if self._given_dir is None and not self.keep_data and self.data_dir is not None:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    def _stopping_order(self) -> list[ClusterBroker]:
        """One at a time, the controller last: each hands its leaders to brokers that stay up, and
        no broker is told to follow a new leader while it is stopping, nor a controller elected."""
        try:
            controller = self.controller()
        except RuntimeError:  # none running, or none answering: the order does not matter
            controller = None
        return sorted(self.brokers.values(), key=lambda broker: broker.broker_id == controller)

    def __enter__(self) -> KBrokerCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one broker

    def kill(self, broker_id: int) -> None:
        """SIGKILL the broker, as a crash would; return once its session has expired and the
        partitions it led have new leaders (or none, where no in-sync replica is left)."""
        self.brokers[broker_id].stop(kill=True)
        self.wait_for_brokers()

    def restart(self, broker_id: int, kill: bool = False) -> None:
        """Stop (SIGTERM, or SIGKILL with `kill`) and start the broker again on its port and data."""
        self.brokers[broker_id].stop(kill=kill)
        self.start(broker_id)

    def start_all(self) -> None:
        """Start every broker that is not running, and wait until the cluster sees them all."""
        stopped = [b for b in self.brokers.values() if not b.running]
        for broker in stopped:
            broker.spawn()
        for broker in stopped:
            broker.wait_ready()
        self.wait_for_brokers()

    # -- what the cluster says

    def wait_for_brokers(self, expected: Iterable[int] | None = None, timeout: float | None = None) -> None:
        """Until every running broker lists exactly `expected` (the running brokers by default) and a
        controller among them, and no partition is led by a broker outside them."""
        wanted = sorted(self.running_brokers() if expected is None else expected)
        deadline = time.monotonic() + (self.startup_timeout if timeout is None else timeout)
        while not all(self._settled(b, wanted) for b in self.brokers.values() if b.running):
            if time.monotonic() > deadline:
                raise BrokerStartError(f"the brokers did not all see {wanted} within "
                                       f"{self.startup_timeout if timeout is None else timeout}s:\n{self.logs()}")
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _settled(broker: ClusterBroker, wanted: list[int]) -> bool:
        answer = _metadata(broker)
        if answer is None or sorted(b.node_id for b in answer.brokers) != wanted or answer.controller_id not in wanted:
            return False
        return all(p.leader_id in wanted or p.leader_id == -1 for t in answer.topics for p in t.partitions)

    def leader(self, topic: str, partition: int = 0) -> int | None:
        """The id of the partition's leader as a running broker tells it; None while it has none."""
        for broker in self.brokers.values():
            answer = _metadata(broker, [topic]) if broker.running else None
            if answer is None:
                continue
            for found in answer.topics:
                for p in found.partitions:
                    if p.partition_index == partition:
                        return p.leader_id if p.error_code == ErrorCode.NONE and p.leader_id >= 0 else None
            return None
        raise RuntimeError("no running broker answers")

    def controller(self) -> int | None:
        """The id of the controller as a running broker tells it."""
        for broker in self.brokers.values():
            answer = _metadata(broker, []) if broker.running else None
            if answer is not None:
                return answer.controller_id if answer.controller_id >= 0 else None
        raise RuntimeError("no running broker answers")

    def create_topic(self, name: str, partitions: int = 1, config: Mapping[str, Any] | None = None,
                     exist_ok: bool = False) -> str:
        """Create a topic (CreateTopics to a running broker) and return its name once every running
        broker knows a leader for each of its partitions."""
        host, port = split_address(self.brokers[self.running_brokers()[0]].bootstrap_server)
        wire.create_topics(host, port, {name: partitions}, {k: config_text(v) for k, v in (config or {}).items()},
                           exist_ok=exist_ok)
        deadline = time.monotonic() + self.startup_timeout
        while not all(_has_leaders(b, name) for b in self.brokers.values() if b.running):
            if time.monotonic() > deadline:
                raise BrokerStartError(f"topic {name} has no leaders after {self.startup_timeout}s:\n{self.logs()}")
            time.sleep(POLL_SECONDS)
        return name

    def logs(self) -> str:
        """Whether each broker runs, and the end of its log, for failure messages."""
        return "\n".join(f"--- broker {i} ({'running' if b.running else 'not running'}, pid {b.pid}) ---\n"
                         f"{b.log_tail(30)}" for i, b in self.brokers.items())

    def __repr__(self) -> str:
        return f"<KBrokerCluster {self.size} brokers {self.bootstrap_servers or 'stopped'} data={self.data_dir}>"


def _metadata(broker: ClusterBroker, topics: list[str] | None = None) -> Any:
    """The broker's Metadata answer (every topic by default), or None if it does not answer."""
    request = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=t) for t in topics or []],
                              allow_auto_topic_creation=False)
    if topics is None:
        request.topics = None  # null, not the empty list the constructor makes of None
    try:
        with Connection(*split_address(broker.bootstrap_server), timeout=5) as connection:
            return connection.request(request, METADATA_VERSION)
    except ToolError:
        return None


def _coordinator_found(broker: ClusterBroker, key_type: int) -> bool:
    request = FindCoordinatorRequest(key_type=key_type, coordinator_keys=["kbroker-cluster"])
    try:
        with Connection(*split_address(broker.bootstrap_server), timeout=5) as connection:
            return connection.request(request, FIND_COORDINATOR_VERSION).coordinators[0].error_code == ErrorCode.NONE
    except ToolError:
        return False


def _has_leaders(broker: ClusterBroker, topic: str) -> bool:
    answer = _metadata(broker, [topic])
    return answer is not None and all(
        t.error_code == ErrorCode.NONE and t.partitions and all(p.error_code == ErrorCode.NONE for p in t.partitions)
        for t in answer.topics)

