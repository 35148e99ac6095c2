"""Byte-level checks of the files Kafka's tools read: indexes, checkpoints, identity files."""

from __future__ import annotations

import base64
import struct
import uuid

import pytest

from kbroker.log import LogManager
from kbroker.log.checkpoint import CheckpointError, read_checkpoint, write_checkpoint
from kbroker.log.index import WRITE_EVERY
from kbroker.log.metadata import (
    MetadataError,
    read_meta_properties,
    read_partition_metadata,
    uuid_from_str,
    uuid_to_str,
)
from logbatches import batch, open_log


def expected_offset_index(sizes_and_last_offsets, interval):
    """Kafka's rule: an entry (last offset, start position) for a batch once more than `interval`
    bytes were appended since the previous entry."""
    entries, since, position = [], 0, 0
    for size, last_offset in sizes_and_last_offsets:
        if since > interval:
            entries.append((last_offset, position))
            since = 0
        position += size
        since += size
    return entries


def test_offset_index_entries_every_interval(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=500)
    appended = []
    for i in range(30):
        data = batch(1 + i % 3, value_size=40 + i)
        plog.append(data)
        appended.append((len(data), plog.log_end_offset - 1))
    expected = expected_offset_index(appended, 500)
    assert len(expected) > 5
    plog.roll()
    segment = plog.segments[0]
    raw = segment.offset_index.path.read_bytes()
    assert raw == b"".join(struct.pack(">ii", offset, position) for offset, position in expected)


def test_index_files_preallocated_while_active_and_trimmed_on_roll(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=100)
    for _ in range(10):
        plog.append(batch(2, value_size=80))
    active = plog.segments[-1]
    assert active.offset_index.path.stat().st_size == 10 * 1024 * 1024
    assert active.time_index.path.stat().st_size == 10 * 1024 * 1024 // 12 * 12
    entries = len(active.offset_index)
    assert entries > 0
    plog.roll()
    assert active.offset_index.path.stat().st_size == entries * 8
    assert active.time_index.path.stat().st_size == len(active.time_index) * 12
    assert not plog.segments[-1].offset_index.path.exists()  # until its first entry
    for _ in range(2):
        plog.append(batch(2, value_size=80))
    assert plog.segments[-1].offset_index.path.stat().st_size == 10 * 1024 * 1024


def test_segment_index_bytes_sets_the_preallocation(tmp_path):
    plog = open_log(tmp_path, segment_index_bytes=1000, index_interval_bytes=1)
    plog.append(batch(1))
    plog.append(batch(1))
    assert plog.segments[-1].offset_index.path.stat().st_size == 1000
    assert plog.segments[-1].time_index.path.stat().st_size == 996


def test_time_index_entries_hold_growing_timestamps_and_the_final_maximum(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=1)
    stamps = [1000, 3000, 2000, 3000, 5000, 4000]
    for ts in stamps:
        plog.append(batch(1, timestamp=ts))
    plog.roll()
    raw = plog.segments[0].time_index.path.read_bytes()
    entries = list(struct.iter_unpack(">qi", raw))
    # Each indexed batch adds the largest timestamp so far (this batch included) with its offset,
    # when it grew; the roll adds the segment's maximum.
    timestamps = [ts for ts, _ in entries]
    assert timestamps == sorted(set(timestamps))
    assert entries[-1] == (5000, 4)
    assert (3000, 1) in entries and (3000, 3) not in entries


def test_checkpoint_file_layout(tmp_path):
    path = tmp_path / "recovery-point-offset-checkpoint"
    write_checkpoint(path, {("orders", 0): 1234, ("my.topic-x", 11): 0})
    assert path.read_bytes() == b"0\n2\norders 0 1234\nmy.topic-x 11 0\n"
    assert read_checkpoint(path) == {("orders", 0): 1234, ("my.topic-x", 11): 0}
    assert not (tmp_path / "recovery-point-offset-checkpoint.tmp").exists()
    write_checkpoint(path, {})
    assert path.read_bytes() == b"0\n0\n"


@pytest.mark.parametrize("content", [b"1\n0\n", b"0\n2\na 0 1\n", b"0\n1\na zero 1\n"])
def test_bad_checkpoint_refused(tmp_path, content):
    path = tmp_path / "cp"
    path.write_bytes(content)
    with pytest.raises(CheckpointError):
        read_checkpoint(path)


def test_kafka_uuid_text_form():
    value = uuid.UUID("a4b8e2f1-0c6d-4e5f-8a9b-112233445566")
    text = uuid_to_str(value)
    assert len(text) == 22 and "=" not in text
    assert text == base64.urlsafe_b64encode(value.bytes).decode().rstrip("=")
    assert uuid_from_str(text) == value


def test_dir_level_files(tmp_path):
    manager = LogManager([tmp_path], node_id=3)
    topic_id = uuid.uuid4()
    plog = manager.open("orders", 0, topic_id, {})
    plog.append(batch(2))
    manager.open("orders", 1, topic_id, {})
    manager.close()
    props = (tmp_path / "meta.properties").read_text().splitlines()
    assert props[0] == "#" and props[1].startswith("#")
    assert props[2:] == ["version=0", "broker.id=3", f"cluster.id={manager.cluster_id}"]
    assert len(manager.cluster_id) == 22
    assert (tmp_path / "orders-0" / "partition.metadata").read_bytes() == (
        b"version: 0\ntopic_id: " + uuid_to_str(topic_id).encode() + b"\n")
    assert (tmp_path / "recovery-point-offset-checkpoint").read_bytes() == b"0\n2\norders 0 2\norders 1 0\n"
    assert (tmp_path / "replication-offset-checkpoint").read_bytes() == b"0\n2\norders 0 2\norders 1 0\n"
    assert (tmp_path / "log-start-offset-checkpoint").read_bytes() == b"0\n0\n"
    assert (tmp_path / ".kafka_cleanshutdown").exists()
    assert read_partition_metadata(tmp_path / "orders-0") == topic_id


def test_kraft_meta_properties_are_read_and_kept(tmp_path):
    text = "#\n#Mon Jan 01 00:00:00 UTC 2024\nnode.id=1\ndirectory.id=abc\nversion=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qk\n"
    (tmp_path / "meta.properties").write_text(text)
    meta = read_meta_properties(tmp_path)
    assert (meta.version, meta.node_id, meta.cluster_id) == (1, 1, "MkU3OEVBNTcwNTJENDM2Qk")
    manager = LogManager([tmp_path], node_id=1)
    assert manager.cluster_id == "MkU3OEVBNTcwNTJENDM2Qk"
    manager.close()
    assert (tmp_path / "meta.properties").read_text() == text
    with pytest.raises(MetadataError):
        LogManager([tmp_path], node_id=2)


def file_entries(index, fmt):
    """The entries an index file holds, up to the zeros of its preallocated tail."""
    raw = index.path.read_bytes()
    size = struct.calcsize(fmt)
    return [e for e in struct.iter_unpack(fmt, raw[:len(raw) // size * size]) if any(e)]


def test_index_entries_reach_the_file_in_groups_and_all_of_them_on_flush_and_close(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=1)
    segment = plog.segments[-1]
    for _ in range(10):
        plog.append(batch(1))
    assert file_entries(segment.offset_index, ">ii") == [(1, segment.offset_index.positions[0])]  # the first at once
    assert len(segment.offset_index) == 9
    for _ in range(WRITE_EVERY):
        plog.append(batch(1))
    written = file_entries(segment.offset_index, ">ii")
    assert 1 + WRITE_EVERY <= len(written) < len(segment.offset_index)
    plog.append(batch(1))
    plog.flush()
    in_memory = list(zip(segment.offset_index.relative, segment.offset_index.positions))
    assert file_entries(segment.offset_index, ">ii") == in_memory
    assert file_entries(segment.time_index, ">qi") == list(zip(segment.time_index.timestamps,
                                                                segment.time_index.relative))
    plog.append(batch(1))
    plog.close()
    assert segment.offset_index.path.read_bytes() == b"".join(
        struct.pack(">ii", *e) for e in zip(segment.offset_index.relative, segment.offset_index.positions))


def test_a_truncation_keeps_the_file_to_the_entries_left(tmp_path):
    plog = open_log(tmp_path, index_interval_bytes=1)
    for _ in range(3 * WRITE_EVERY):
        plog.append(batch(1))
    plog.truncate_to(WRITE_EVERY + 5)  # below what the file holds, above the first group
    for _ in range(3):
        plog.append(batch(1))
    segment = plog.segments[-1]
    plog.close()
    assert segment.offset_index.path.read_bytes() == b"".join(
        struct.pack(">ii", *e) for e in zip(segment.offset_index.relative, segment.offset_index.positions))
    assert segment.offset_index.relative[-1] == plog.log_end_offset - 1
