"""`kbroker dump-log` on a segment kbroker wrote, and on segment files laid out byte for byte as
Apache Kafka writes them (batches back to back; 8-byte offset index and 12-byte time index
entries, big-endian, relative to the base offset in the file name, zero-filled after the last)."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

from kafka import KafkaProducer
from kproto.compression import Codec
from kproto.records import ControlType, build_batch, build_end_txn_marker, read_batch_header
from kproto.records.record import Record

from brokerproc import BrokerProcess
from conftest import create_topic, unique_topic

BASE = 100
T0 = 1_700_000_000_000


def dump(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "kbroker", "dump-log", *args], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def kafka_segment(directory: Path) -> tuple[Path, bytes]:
    """Three batches as a Kafka leader in epoch 5 writes them: plain, gzip with headers, a transaction."""
    plain = build_batch([Record(BASE, T0, b"k0", b"v0"), Record(BASE + 1, T0 + 1, None, b"v1")],
                        base_offset=BASE, partition_leader_epoch=5)
    gzip = build_batch([Record(BASE + 2, T0 + 2, b"k2", b"v2", [("trace", b"x"), ("span", None)])],
                       base_offset=BASE + 2, compression=Codec.GZIP, partition_leader_epoch=5)
    txn = build_batch([Record(BASE + 3, T0 + 3, None, b"t3")], base_offset=BASE + 3, transactional=True,
                      producer_id=42, producer_epoch=1, base_sequence=0, partition_leader_epoch=5)
    marker = build_end_txn_marker(ControlType.COMMIT, producer_id=42, producer_epoch=1, coordinator_epoch=7,
                                  timestamp=T0 + 4, base_offset=BASE + 4, partition_leader_epoch=5)
    data = plain + gzip + txn + marker
    path = directory / f"{BASE:020d}.log"
    path.write_bytes(data)
    return path, data


def test_segment_as_kafka_writes_it(tmp_path: Path) -> None:
    path, data = kafka_segment(tmp_path)
    crcs, position, positions = [], 0, []
    while position < len(data):
        header = read_batch_header(data, position)
        crcs.append(header.crc)
        positions.append(position)
        position += header.size
    sizes = [b - a for a, b in zip(positions, positions[1:] + [len(data)])]
    common = "partitionLeaderEpoch: 5"
    assert dump("--print-data-log", str(path)) == [
        f"Dumping {path}",
        f"Log starting offset: {BASE}",
        f"baseOffset: 100 lastOffset: 101 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 "
        f"{common} isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 0 "
        f"CreateTime: {T0 + 1} size: {sizes[0]} magic: 2 compresscodec: none crc: {crcs[0]} isvalid: true",
        f"| offset: 100 CreateTime: {T0} keySize: 2 valueSize: 2 sequence: -1 headerKeys: [] key: k0 payload: v0",
        f"| offset: 101 CreateTime: {T0 + 1} keySize: -1 valueSize: 2 sequence: -1 headerKeys: [] payload: v1",
        f"baseOffset: 102 lastOffset: 102 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 "
        f"{common} isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: {positions[1]} "
        f"CreateTime: {T0 + 2} size: {sizes[1]} magic: 2 compresscodec: gzip crc: {crcs[1]} isvalid: true",
        f"| offset: 102 CreateTime: {T0 + 2} keySize: 2 valueSize: 2 sequence: -1 headerKeys: [trace,span] key: k2 payload: v2",
        f"baseOffset: 103 lastOffset: 103 count: 1 baseSequence: 0 lastSequence: 0 producerId: 42 producerEpoch: 1 "
        f"{common} isTransactional: true isControl: false deleteHorizonMs: OptionalLong.empty position: {positions[2]} "
        f"CreateTime: {T0 + 3} size: {sizes[2]} magic: 2 compresscodec: none crc: {crcs[2]} isvalid: true",
        f"| offset: 103 CreateTime: {T0 + 3} keySize: -1 valueSize: 2 sequence: 0 headerKeys: [] payload: t3",
        f"baseOffset: 104 lastOffset: 104 count: 1 baseSequence: -1 lastSequence: -1 producerId: 42 producerEpoch: 1 "
        f"{common} isTransactional: true isControl: true deleteHorizonMs: OptionalLong.empty position: {positions[3]} "
        f"CreateTime: {T0 + 4} size: {sizes[3]} magic: 2 compresscodec: none crc: {crcs[3]} isvalid: true",
        f"| offset: 104 CreateTime: {T0 + 4} keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] "
        f"endTxnMarker: COMMIT coordinatorEpoch: 7",
    ]
    assert len(dump(str(path))) == 6  # without --print-data-log: batches only


def test_damaged_batch_and_torn_tail(tmp_path: Path) -> None:
    path, data = kafka_segment(tmp_path)
    damaged = bytearray(data)
    damaged[70] ^= 0xFF  # inside the first batch's records: its CRC no longer matches
    path.write_bytes(bytes(damaged) + b"\x00\x00\x00")
    lines = dump(str(path))
    assert lines[2].endswith("isvalid: false")
    assert lines[-1] == f"Found 3 invalid bytes at the end of {path.name}"


def test_index_files_as_kafka_preallocates_them(tmp_path: Path) -> None:
    index = tmp_path / f"{BASE:020d}.index"
    index.write_bytes(struct.pack(">iiii", 0, 0, 3, 4096) + bytes(8 * 100))
    timeindex = tmp_path / f"{BASE:020d}.timeindex"
    timeindex.write_bytes(struct.pack(">qiqi", T0, 0, T0 + 9, 3) + bytes(12 * 100))
    assert dump(str(index), str(timeindex)) == [
        f"Dumping {index}", "offset: 100 position: 0", "offset: 103 position: 4096",
        f"Dumping {timeindex}", f"timestamp: {T0} offset: 100", f"timestamp: {T0 + 9} offset: 103",
    ]


def test_segment_kbroker_wrote(kafka_broker: BrokerProcess, request) -> None:
    topic = create_topic(kafka_broker.bootstrap_server, unique_topic(request))
    producer = KafkaProducer(bootstrap_servers=kafka_broker.bootstrap_server, linger_ms=0)
    for i in range(3):
        producer.send(topic, key=f"k{i}".encode(), value=f"v{i}".encode(), partition=0).get(timeout=15)
    producer.close()
    kafka_broker.stop()  # a clean stop trims the indexes, as Kafka's does
    segment = kafka_broker.data_dir / f"{topic}-0" / f"{0:020d}.log"
    lines = dump("--print-data-log", str(segment))
    batches = [line for line in lines if line.startswith("baseOffset:")]
    records = [line for line in lines if line.startswith("| offset:")]
    assert [line.split()[1] for line in batches] == ["0", "1", "2"]
    assert all("isvalid: true" in line and "magic: 2" in line for line in batches)
    assert all("partitionLeaderEpoch: 0 " in line for line in batches)  # stamped by the leader, not the producer's -1
    assert [line.split(" key: ")[1] for line in records] == ["k0 payload: v0", "k1 payload: v1", "k2 payload: v2"]
    timeindex = segment.with_suffix(".timeindex")
    assert dump(str(timeindex))[0] == f"Dumping {timeindex}"
