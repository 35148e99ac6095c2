"""Message encode and decode speed: kproto against kafka-python 3.0.12's codec, same messages.

Run: .venv/bin/python -m bench.codec

Each figure is the median of --runs timings (process CPU time), in microseconds per message (lower is better);
"ratio" is kafka-python's time over kproto's (above 1: kproto is faster). Both libraries work
on identical bytes: the kafka-python objects are decoded from kproto's encoding, so the values
agree field for field. The RecordBatch rows build and read a batch of 100 records with
`kproto.records` and with kafka-python's DefaultRecordBatchBuilder and reader. The last line
counts whole small-request frames (header and body) decoded per second on one core, kproto's
decode_request against kafka-python's.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from dataclasses import dataclass
from typing import Any, Callable
from uuid import UUID

from kafka.protocol.consumer.fetch import FetchResponse as KpFetchResponse
from kafka.protocol.consumer.group import HeartbeatRequest as KpHeartbeatRequest
from kafka.protocol.metadata.api_versions import ApiVersionsRequest as KpApiVersionsRequest
from kafka.protocol.metadata.metadata import MetadataResponse as KpMetadataResponse
from kafka.protocol.producer.produce import ProduceRequest as KpProduceRequest

from bench.records import RECORDS, theirs_build, theirs_decode
from kproto import decode_request, encode_request
from kproto.codec import decode, encode
from kproto.compression import Codec
from kproto.messages import ApiVersionsRequest, FetchResponse, HeartbeatRequest, MetadataResponse, ProduceRequest
from kproto.model import Message
from kproto.records import build_batch, decode_batch
from kproto.schema.headers import RequestHeader


@dataclass
class Case:
    """One message: decode and encode, each timed for kproto and for kafka-python."""

    name: str
    decode: tuple[Callable[[], Any], Callable[[], Any]]  # (kproto, kafka-python)
    encode: tuple[Callable[[], Any], Callable[[], Any]]


def message_case(name: str, ours: type[Message], theirs: Any, version: int, obj: Message) -> Case:
    data = encode(obj, version)
    theirs_obj = theirs.decode(data, version=version)
    assert theirs_obj.encode() == data, f"{name}: kafka-python encodes other bytes"
    assert decode(ours, version, data) == obj
    return Case(name, (lambda: decode(ours, version, data), lambda: theirs.decode(data, version=version)),
                (lambda: encode(obj, version), theirs_obj.encode))


def record_batch_case() -> Case:
    data = build_batch(RECORDS)
    assert theirs_decode(data) == [(r.offset, r.timestamp, r.key, r.value, r.headers) for r in RECORDS]
    assert decode_batch(theirs_build(Codec.NONE)).records == RECORDS
    return Case("RecordBatch v2, 100 records (9 B key, 108 B value, 1 header)",
                (lambda: decode_batch(data), lambda: theirs_decode(data)),
                (lambda: build_batch(RECORDS), lambda: theirs_build(Codec.NONE)))


def api_versions() -> Message:
    return ApiVersionsRequest(client_software_name="kafka-python", client_software_version="3.0.12")


def heartbeat() -> Message:
    return HeartbeatRequest(group_id="orders-consumers", generation_id=7,
                            member_id="kafka-python-3.0.12-0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0")


def produce() -> Message:
    return ProduceRequest(acks=-1, timeout_ms=30000, topic_data=[ProduceRequest.TopicProduceData(
        topic_id=UUID(int=0x1234), partition_data=[ProduceRequest.PartitionProduceData(index=0, records=bytes(16384))])])


def fetch() -> Message:
    partitions = [FetchResponse.PartitionData(partition_index=i, high_watermark=1000 + i, last_stable_offset=1000 + i,
                                              log_start_offset=0, preferred_read_replica=-1, records=bytes(4096))
                  for i in range(10)]
    return FetchResponse(session_id=1, responses=[
        FetchResponse.FetchableTopicResponse(topic_id=UUID(int=0x5678), partitions=partitions)])


def metadata() -> Message:
    brokers = [MetadataResponse.MetadataResponseBroker(node_id=n, host=f"broker-{n}.example", port=9092)
               for n in range(3)]
    topics = [MetadataResponse.MetadataResponseTopic(
        name=f"topic-{t:03d}", topic_id=UUID(int=t + 1), partitions=[
            MetadataResponse.MetadataResponsePartition(partition_index=p, leader_id=p % 3, leader_epoch=5,
                                                       replica_nodes=[0, 1, 2], isr_nodes=[0, 1, 2])
            for p in range(4)])
        for t in range(100)]
    return MetadataResponse(brokers=brokers, cluster_id="kproto-bench", controller_id=0, topics=topics)


def cases() -> list[Case]:
    return [
        message_case("ApiVersions request v4", ApiVersionsRequest, KpApiVersionsRequest, 4, api_versions()),
        message_case("Heartbeat request v4", HeartbeatRequest, KpHeartbeatRequest, 4, heartbeat()),
        message_case("Produce request v13, 1 partition, 16 KiB", ProduceRequest, KpProduceRequest, 13, produce()),
        message_case("Fetch response v18, 10 partitions x 4 KiB", FetchResponse, KpFetchResponse, 18, fetch()),
        message_case("Metadata response v13, 100 topics x 4 partitions", MetadataResponse, KpMetadataResponse, 13,
                     metadata()),
        record_batch_case(),
    ]


def median_us(fn: Callable[[], Any], runs: int, budget: float) -> float:
    """Median microseconds per call over `runs` timings of about `budget` seconds each.

    CPU time of this process, not wall time, so that other work on a shared machine counts less.
    """
    timer = timeit.Timer(fn, timer=time.process_time)
    number, _ = timer.autorange()
    number = max(1, int(number * budget / 0.2))
    return statistics.median(t / number * 1e6 for t in timer.repeat(repeat=runs, number=number))


def bench_case(case: Case, runs: int, budget: float) -> list[tuple[str, float, float]]:
    return [(f"{case.name}: {what}", median_us(ours, runs, budget), median_us(theirs, runs, budget))
            for what, (ours, theirs) in (("decode", case.decode), ("encode", case.encode))]


def small_requests_per_second(runs: int, budget: float) -> tuple[float, float]:
    """Whole Heartbeat v4 frames (header v2 and body) decoded per second, each side."""
    header = RequestHeader(request_api_key=12, request_api_version=4, correlation_id=42, client_id="kafka-python")
    frame = encode_request(header, heartbeat())
    assert decode_request(frame)[1] == heartbeat()
    ours = median_us(lambda: decode_request(frame), runs, budget)
    theirs = median_us(lambda: KpHeartbeatRequest.decode(frame, version=4, header=True), runs, budget)
    return 1e6 / ours, 1e6 / theirs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timings per figure; the median is shown (default 7)")
    parser.add_argument("--budget", type=float, default=0.2, help="seconds per timing (default 0.2)")
    args = parser.parse_args(argv)
    rows = [row for case in cases() for row in bench_case(case, args.runs, args.budget)]
    print("| message | kproto µs | kafka-python µs | ratio |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in rows:
        print(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.2f}x |")
    ours_rate, theirs_rate = small_requests_per_second(args.runs, args.budget)
    print(f"| Heartbeat v4 frames decoded per second, one core | {ours_rate:,.0f}/s | {theirs_rate:,.0f}/s "
          f"| {ours_rate / theirs_rate:.2f}x |")


if __name__ == "__main__":
    main()
