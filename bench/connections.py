"""`python -m bench.connections`: what many open client connections cost one kbroker.

Opens `--connections` connections (default 2,000), each sending ApiVersions and Metadata as a client
does on connecting and then staying idle, and measures the broker's memory per connection and
whether lz4 produce throughput, the broker's CPU per MB and produce-to-consume latency change with
them held open. Each workload runs `--runs` times with the connections held and without, interleaved,
and the table shows medians and the ratio (held / none). Not part of `make test`.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import socket
import statistics
import struct
import sys
import tempfile
from pathlib import Path

from kproto import encode_request
from kproto.frames import frame
from kproto.messages import ApiVersionsRequest, MetadataRequest, RequestHeader

from bench.procstat import cpu_seconds, open_files, status_kb
from bench.workloads import Settings, create_topic, latency, produce

from brokerproc import BrokerProcess


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.connections", description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=2_000, help="idle connections to hold (default 2000)")
    p.add_argument("--runs", type=int, default=3, help="runs of each workload in each state (default 3)")
    p.add_argument("--messages", type=int, default=300_000, help="messages per lz4 produce run")
    p.add_argument("--latency-seconds", type=float, default=10, help="length of a latency run at 1,000 msg/s")
    return p.parse_args(argv)


def greeting(topic: str) -> bytes:
    """What a client sends first: ApiVersions, then Metadata for its topic."""
    header = RequestHeader(request_api_key=18, request_api_version=3, correlation_id=1, client_id="idle")
    hello = frame(encode_request(header, ApiVersionsRequest(client_software_name="bench",
                                                            client_software_version="1")))
    header = RequestHeader(request_api_key=3, request_api_version=12, correlation_id=2, client_id="idle")
    metadata = MetadataRequest(topics=[MetadataRequest.MetadataRequestTopic(name=topic)],
                               allow_auto_topic_creation=False)
    return hello + frame(encode_request(header, metadata))


def read_answer(sock: socket.socket) -> None:
    size = struct.unpack(">i", sock.recv(4, socket.MSG_WAITALL))[0]
    if len(sock.recv(size, socket.MSG_WAITALL)) != size:
        raise ConnectionError("the broker closed an idle connection")


def open_connections(address: tuple[str, int], count: int, topic: str) -> list[socket.socket]:
    data = greeting(topic)
    held = []
    for _ in range(count):
        sock = socket.create_connection(address)
        sock.sendall(data)
        held.append(sock)
    for sock in held:
        read_answer(sock)
        read_answer(sock)
    return held


def measure(bootstrap: str, pid: int, args: argparse.Namespace, s: Settings) -> dict[str, float]:
    topic = create_topic(bootstrap)
    before = cpu_seconds(pid)
    figures = produce(bootstrap, topic, args.messages, "1", "lz4", s)
    spent = (cpu_seconds(pid) or 0) - (before or 0)
    waits = latency(bootstrap, create_topic(bootstrap), 1_000, args.latency_seconds, s)
    return {"produce lz4 MB/s": figures["MB/s"], "broker CPU ms/MB": spent * 1000 / figures["MB"],
            "p50 ms": waits["p50 ms"], "p99 ms": waits["p99 ms"], "p99.9 ms": waits["p99.9 ms"]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < args.connections + 100:
        sys.exit(f"--connections {args.connections} needs an open-file limit above {args.connections + 100}; "
                 f"this process may open {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    workdir = Path(tempfile.mkdtemp(prefix="kbroker-connections-"))
    broker = BrokerProcess(workdir / "kbroker")
    results: dict[str, list[dict[str, float]]] = {"none": [], "held": []}
    try:
        broker.start()
        address = (broker.host, broker.port)
        s = Settings()
        measure(broker.bootstrap_server, broker.pid, args, s)  # warm up: codecs, first segment files
        rss_before, files_before = status_kb(broker.pid, "VmRSS"), open_files(broker.pid)
        held = open_connections(address, args.connections, create_topic(broker.bootstrap_server))
        rss_held, files_held = status_kb(broker.pid, "VmRSS"), open_files(broker.pid)
        per_connection = (rss_held - rss_before) / args.connections
        for sock in held:
            sock.close()
        for run in range(args.runs):
            for state in ("none", "held") if run % 2 == 0 else ("held", "none"):
                held = open_connections(address, args.connections, "absent") if state == "held" else []
                results[state].append(measure(broker.bootstrap_server, broker.pid, args, s))
                for sock in held:
                    sock.close()
                print(f"run {run + 1} {state}: {results[state][-1]}", file=sys.stderr, flush=True)
    finally:
        broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = [f"{args.connections} idle connections (ApiVersions and Metadata each): RSS "
             f"{rss_before / 1024:.0f} -> {rss_held / 1024:.0f} MB, {per_connection:.1f} KB per connection; "
             f"open files {files_before} -> {files_held}. Medians of {args.runs} runs.", "",
             f"| figure | no connections | {args.connections} held | held / none |", "|---|---|---|---|"]
    for name in results["none"][0]:
        none = statistics.median(r[name] for r in results["none"])
        with_held = statistics.median(r[name] for r in results["held"])
        lines.append(f"| {name} | {none:.3g} | {with_held:.3g} | {with_held / none:.2f} |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
