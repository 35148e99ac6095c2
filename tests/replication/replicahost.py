"""The broker's side of a ReplicaManager for unit tests: replica logs in a LogManager, nothing else."""

from __future__ import annotations

import uuid
from typing import Any

from kbroker.log import PartitionLog
from kbroker.log.manager import LogManager


class Host:
    def __init__(self, logs: LogManager, node_id: int, config: dict[str, Any] | None = None) -> None:
        self.logs = logs
        self.node_id = node_id
        self.config = config or {}  # topic config of every replica log opened

    def open_replica_log(self, topic: str, partition: int, topic_id: uuid.UUID) -> PartitionLog:
        return self.logs.open(topic, partition, topic_id, self.config, lead=False)

    def delete_replica_logs(self, topic: str, partitions: list[int]) -> None:
        self.logs.delete_all(topic, partitions)

    def wake(self, topic: str, partition: int) -> None:
        pass

    def leadership_changed(self, topic: str, partition: int, is_leader: bool) -> None:
        pass
