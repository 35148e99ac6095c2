"""Identity files: `meta.properties` in each log dir, `partition.metadata` in each partition dir.

`meta.properties` is written in the layout of a ZooKeeper-mode Kafka 3.x broker (version 0):

    #
    #<date, as java.util.Properties writes it>
    version=0
    broker.id=1
    cluster.id=<22-character base64url uuid>

We choose version 0 because kbroker's cluster mode coordinates through ZooKeeper as such brokers
did. A KRaft-mode file (version 1, `node.id`, optional `directory.id`) is read as well and left as
it is, so a Kafka 3.x/4.x log dir can be served unchanged.

`partition.metadata` holds the topic id, so a partition dir is never mistaken for one of a topic
that was deleted and re-created under the same name:

    version: 0
    topic_id: <22-character base64url uuid>
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kbroker.log.files import fsync_dir, replace_unsynced, write_atomically

META_PROPERTIES = "meta.properties"
PARTITION_METADATA = "partition.metadata"
CLEAN_SHUTDOWN = ".kafka_cleanshutdown"
# Kafka reserves these two ids; a generated id never takes them.
ZERO_UUID = uuid.UUID(int=0)
METADATA_TOPIC_ID = uuid.UUID(int=1)


class MetadataError(Exception):
    """An identity file disagrees with this broker or cannot be parsed."""


def uuid_to_str(value: uuid.UUID) -> str:
    """Kafka's text form of a Uuid: base64url of the 16 bytes, without padding."""
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode()


def uuid_from_str(text: str) -> uuid.UUID:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if len(raw) != 16:
        raise MetadataError(f"not a Kafka uuid: {text!r}")
    return uuid.UUID(bytes=raw)


def random_kafka_uuid() -> uuid.UUID:
    """A random id Kafka would accept: not a reserved id, and its text form not starting with '-'
    (which command-line tools would mistake for an option)."""
    while True:
        value = uuid.uuid4()
        if value not in (ZERO_UUID, METADATA_TOPIC_ID) and not uuid_to_str(value).startswith("-"):
            return value


@dataclass(frozen=True, slots=True)
class MetaProperties:
    version: int
    cluster_id: str | None
    node_id: int


def parse_properties(text: str) -> dict[str, str]:
    """The key=value lines of a java.util.Properties file (comments skipped; no escapes used)."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


def read_meta_properties(log_dir: Path) -> MetaProperties | None:
    try:
        values = parse_properties((log_dir / META_PROPERTIES).read_text())
    except FileNotFoundError:
        return None
    try:
        version = int(values["version"])
        node = values.get("node.id") if version == 1 else values.get("broker.id")
        return MetaProperties(version, values.get("cluster.id"), int(node if node is not None else -1))
    except (KeyError, ValueError) as exc:
        raise MetadataError(f"{log_dir / META_PROPERTIES}: {exc}") from None


def write_meta_properties(log_dir: Path, cluster_id: str, node_id: int) -> None:
    stamp = time.strftime("%a %b %d %H:%M:%S %Z %Y")
    text = f"#\n#{stamp}\nversion=0\nbroker.id={node_id}\ncluster.id={cluster_id}\n"
    write_atomically(log_dir / META_PROPERTIES, text.encode())


def read_partition_metadata(partition_dir: Path) -> uuid.UUID | None:
    """The topic id the dir was created for; None when not written (or emptied by a crash right
    after its creation: it is written again)."""
    try:
        text = (partition_dir / PARTITION_METADATA).read_text()
    except FileNotFoundError:
        return None
    if not text:
        return None
    values = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    if values.get("version") != "0" or "topic_id" not in values:
        raise MetadataError(f"{partition_dir / PARTITION_METADATA}: unexpected content {text!r}")
    return uuid_from_str(values["topic_id"].strip())


def write_partition_metadata(partition_dir: Path, topic_id: uuid.UUID) -> None:
    """Written when the partition is created, without an fsync, as Kafka defers its flush: a
    crash may lose or empty it, and the next open writes it again from the topic's id."""
    replace_unsynced(partition_dir / PARTITION_METADATA, f"version: 0\ntopic_id: {uuid_to_str(topic_id)}\n".encode())


def write_clean_shutdown(log_dir: Path) -> None:
    """Kafka's marker that every log in the dir was flushed and closed; its JSON carries the broker
    epoch, which a single node without a controller does not have (-1)."""
    write_atomically(log_dir / CLEAN_SHUTDOWN, b'{"version":"0","broker_epoch":"-1"}')


def take_clean_shutdown(log_dir: Path) -> bool:
    """Whether the last stop was clean; removes the marker, since this run may end uncleanly."""
    marker = log_dir / CLEAN_SHUTDOWN
    try:
        marker.unlink()
    except FileNotFoundError:
        return False
    fsync_dir(log_dir)  # else a crash could bring the marker back and skip the next recovery
    return True
