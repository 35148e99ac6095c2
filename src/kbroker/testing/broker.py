"""`KBroker`: a throwaway single-node broker for a test, shaped like testcontainers' KafkaContainer.

    with KBroker(topics={"orders": 3}) as kafka:
        producer = kafka.producer()            # or Producer({"bootstrap.servers": kafka.bootstrap_server})

It listens on a free loopback port, keeps its data in a temporary folder unless given one, and is
stopped on leaving the `with` block however the block ends.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping

from kbroker.dev import topic_specs
from kbroker.testing import clients, wire
from kbroker.testing.runners import HOST, Launch, SubprocessRunner, ThreadRunner

Mode = Literal["subprocess", "thread"]
MODES: tuple[str, ...] = ("subprocess", "thread")
# On top of Kafka's single-node profile, as testcontainers' KafkaContainer does: one offsets partition
# instead of 50 makes a fresh broker ready several times sooner (each partition is files to create
# and fsync). A test's own config wins.
TEST_DEFAULTS: dict[str, str] = {"offsets.topic.num.partitions": "1"}


class KBroker(clients.ClientHelpers):
    """A kbroker for tests: `start()`/`stop()` or a `with` block; `bootstrap_server` says where it is.

    `topics` are created before the broker reports ready: a mapping of name to partitions, or
    `NAME[:PARTITIONS]` strings. `config` takes broker keys with Kafka's names
    (`{"auto.create.topics.enable": "false"}`); the broker runs Kafka's single-node profile with
    `TEST_DEFAULTS` on top, and ignores KAFKA_CFG_* / KBROKER_* variables of the environment, so
    tests do not depend on the shell they run from. `mode="thread"` runs it inside this process
    (see `kbroker.testing.runners` for the trade-off). `client_library` chooses what `producer()`,
    `consumer()` and `admin()` return: "auto" (confluent-kafka if installed, else kafka-python),
    "confluent-kafka" or "kafka-python". `schema_registry=True` serves a Schema Registry too
    (`kbroker serve --schema-registry`, needs the `registry` extra) at `schema_registry_url`.
    """

    def __init__(self, topics: Mapping[str, int] | Iterable[str] | None = None,
                 config: Mapping[str, Any] | None = None, *, mode: Mode = "subprocess",
                 data_dir: str | Path | None = None, keep_data: bool = False, metrics: bool = False,
                 schema_registry: bool = False, client_library: str = clients.AUTO, startup_timeout: float = 30.0,
                 stop_timeout: float = 10.0) -> None:
        if mode not in MODES:
            raise ValueError(f"mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode = mode
        self.topics = topic_specs(topics)
        self.config = {**TEST_DEFAULTS, **{key: config_text(value) for key, value in (config or {}).items()}}
        self.keep_data = keep_data
        self.metrics = metrics
        self.schema_registry = schema_registry
        self.client_library = client_library
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._given_dir = Path(data_dir) if data_dir is not None else None
        self.data_dir: Path | None = self._given_dir
        self.pid: int | None = None  # of the broker process; kept after stop() so tests can check it is gone
        self._launch: Launch | None = None
        self._runner: SubprocessRunner | ThreadRunner | None = None
        self._clients: list[Any] = []

    # -- where it is

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        if self._runner is None or self._launch is None:
            raise RuntimeError("the broker is not running")
        return self._launch.port

    @property
    def bootstrap_server(self) -> str:
        """`host:port` for a client's bootstrap servers setting."""
        return f"{self.host}:{self.port}"

    def get_bootstrap_server(self) -> str:
        """The same as `bootstrap_server`, under testcontainers' name."""
        return self.bootstrap_server

    @property
    def metrics_url(self) -> str:
        """The Prometheus endpoint, when started with `metrics=True`."""
        if self._launch is None or self._launch.metrics_port is None:
            raise RuntimeError("the broker runs without metrics; pass metrics=True")
        return f"http://{self.host}:{self._launch.metrics_port}/metrics"

    @property
    def schema_registry_url(self) -> str:
        """The Schema Registry's URL, for `SchemaRegistryClient({"url": ...})`, when started with
        `schema_registry=True`."""
        if self._launch is None or self._launch.registry_url is None:
            raise RuntimeError("the broker runs without a schema registry; pass schema_registry=True")
        return self._launch.registry_url

    @property
    def running(self) -> bool:
        return self._runner is not None

    # -- lifecycle

    def start(self) -> KBroker:
        """Start the broker and return once it accepts connections and its topics exist."""
        if self._runner is not None:
            raise RuntimeError("the broker is already running")
        if self._given_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="kbroker-test-"))
        assert self.data_dir is not None
        self._launch = Launch(self.data_dir, self.config, self.topics, self.metrics, self.startup_timeout,
                              self.stop_timeout, schema_registry=self.schema_registry)
        runner = SubprocessRunner() if self.mode == "subprocess" else ThreadRunner()
        try:
            runner.start(self._launch)
        except BaseException:
            self.pid = runner.pid
            self._remove_data()
            raise
        self._runner = runner
        self.pid = runner.pid
        return self

    def stop(self) -> None:
        """Close the clients the helpers made, stop the broker and remove a temporary data folder."""
        runner, self._runner = self._runner, None
        self.close_clients()
        try:
            if runner is not None:
                runner.stop(self.stop_timeout)
        finally:
            self._remove_data()

    def __enter__(self) -> KBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def logs(self) -> str:
        """The last few hundred lines the broker logged, for failure messages."""
        return self._runner.log_text() if self._runner is not None else ""

    def _remove_data(self) -> None:
        if self._given_dir is None and not self.keep_data and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # -- conveniences (and producer(), consumer(), admin() from ClientHelpers)

    def create_topic(self, name: str, partitions: int = 1, config: Mapping[str, Any] | None = None,
                     exist_ok: bool = False) -> str:
        """Create a topic over the wire (CreateTopics) and return its name."""
        wire.create_topics(self.host, self.port, {name: partitions},
                           {k: config_text(v) for k, v in (config or {}).items()}, exist_ok=exist_ok)
        return name

    def __repr__(self) -> str:
        where = self.bootstrap_server if self.running else "stopped"
        return f"<KBroker {self.mode} {where} data={self.data_dir}>"


def config_text(value: Any) -> str:
    """Config values as server.properties would spell them (True -> "true")."""
    return str(value).lower() if isinstance(value, bool) else str(value)
