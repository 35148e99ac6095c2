"""The broker's topic metadata: names, ids, partition counts and topic-level config overrides.

A single node keeps it in `kbroker-topics.json` in its first log directory, written atomically
on every change. The partition directories hold the data; this file says which topics exist and
with which settings, as a cluster's metadata store would.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from kbroker.cluster.topic_names import INTERNAL_TOPICS

METADATA_FILE = "kbroker-topics.json"


@dataclass
class TopicInfo:
    name: str
    topic_id: uuid.UUID
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)

    @property
    def internal(self) -> bool:
        return self.name in INTERNAL_TOPICS


class TopicRegistry:
    def __init__(self, directory: Path) -> None:
        self.path = directory / METADATA_FILE
        self._by_name: dict[str, TopicInfo] = {}
        self._by_id: dict[uuid.UUID, TopicInfo] = {}
        if self.path.exists():
            for entry in json.loads(self.path.read_text())["topics"]:
                self._add(TopicInfo(entry["name"], uuid.UUID(entry["id"]), entry["partitions"], entry["configs"]))

    def _add(self, info: TopicInfo) -> None:
        self._by_name[info.name] = info
        self._by_id[info.topic_id] = info

    def get(self, name: str) -> TopicInfo | None:
        return self._by_name.get(name)

    def by_id(self, topic_id: uuid.UUID) -> TopicInfo | None:
        return self._by_id.get(topic_id)

    def __iter__(self):
        return iter(list(self._by_name.values()))

    def __len__(self) -> int:
        return len(self._by_name)

    def create(self, name: str, partitions: int, configs: dict[str, str], topic_id: uuid.UUID | None = None) -> TopicInfo:
        info = TopicInfo(name, topic_id or random_topic_id(), partitions, dict(configs))
        self._add(info)
        try:
            self.save()
        except OSError:
            del self._by_name[name], self._by_id[info.topic_id]  # not created, here as on disk
            raise
        return info

    def delete(self, name: str) -> TopicInfo:
        info = self._by_name.pop(name)
        del self._by_id[info.topic_id]
        self.save()
        return info

    def set_partitions(self, name: str, partitions: int) -> None:
        before, self._by_name[name].partitions = self._by_name[name].partitions, partitions
        try:
            self.save()
        except OSError:
            self._by_name[name].partitions = before
            raise

    def set_configs(self, name: str, configs: dict[str, str]) -> None:
        self._by_name[name].configs = dict(configs)
        self.save()

    def save(self) -> None:
        doc = {"version": 1, "topics": [
            {"name": t.name, "id": str(t.topic_id), "partitions": t.partitions, "configs": t.configs}
            for t in sorted(self._by_name.values(), key=lambda t: t.name)
        ]}
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            json.dump(doc, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)


def random_topic_id() -> uuid.UUID:
    """A random id, never the zero uuid or the one Kafka reserves as a sentinel (all ones in the low bits)."""
    while True:
        candidate = uuid.uuid4()
        if candidate.int not in (0, 1):
            return candidate
