"""The Prometheus endpoint: the broker's counters and state in the names Kafka's exporters use.

Names follow what the Prometheus JMX exporter makes of Kafka's MBeans
(`kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=t` ->
`kafka_server_brokertopicmetrics_messagesin_total{topic="t"}`) and kafka_exporter's
`kafka_consumergroup_lag`, so existing dashboards and alerts keep working; docs/metrics.md lists
them all. The HTTP server runs on the broker's own event loop, so a scrape reads broker state on
the thread that changes it and needs no locks.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from itertools import accumulate
from typing import TYPE_CHECKING, Iterator

from kproto.messages import APIS

from kbroker.metrics import LATENCY_BUCKETS_MS, BrokerMetrics

try:
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
    from prometheus_client.exposition import CONTENT_TYPE_LATEST
except ImportError as exc:  # an optional extra: say how to get it rather than fail on a bare import
    raise ImportError("the metrics endpoint needs prometheus-client: pip install 'kbroker[metrics]'") from exc

if TYPE_CHECKING:
    from kbroker.broker import Broker

log = logging.getLogger("kbroker.metrics")
# A scraper that sends nothing for this long is dropped; Prometheus sends its request at once.
READ_TIMEOUT_S = 10.0
_LE = [str(float(b)) for b in LATENCY_BUCKETS_MS] + ["+Inf"]


def request_name(api_key: int) -> str:
    """Kafka's label for an API in RequestMetrics: `Produce`, `Fetch`, `Metadata`, ..."""
    names = APIS.get(api_key)
    return names[0].removesuffix("Request") if names else str(api_key)


class BrokerCollector:
    """Turns one broker's counters and current state into metric families at each scrape."""

    def __init__(self, broker: Broker, counters: BrokerMetrics) -> None:
        self.broker = broker
        self.counters = counters

    def collect(self) -> Iterator[Metric]:
        yield from self._topic_counters()
        yield from self._requests()
        yield from self._logs()
        yield from self._group_lag()
        if self.broker.cluster is not None:
            yield from self._replication()
        yield from self._connections()

    def _connections(self) -> Iterator[Metric]:
        """Open connections and how fast they come, per listener, as Kafka's socket-server-metrics."""
        listeners = [endpoint.name for endpoint in self.broker.config.endpoints]  # each listed from the start
        counts = Counter(c.listener for c in self.broker.connections)
        connections = GaugeMetricFamily("kafka_server_socket_server_metrics_connection_count",
                                        "Client connections open now.", labels=["listener"])
        for listener in listeners:
            connections.add_metric([listener], counts[listener])
        yield connections
        rates = self.broker.listeners.accept_rates() if self.broker.listeners is not None else {}
        accepted = GaugeMetricFamily("kafka_server_socket_server_metrics_connection_accept_rate",
                                     "Connections accepted a second.", labels=["listener"])
        for listener in listeners:
            accepted.add_metric([listener], rates.get(listener, 0.0))
        yield accepted
        yield GaugeMetricFamily("kafka_server_socket_server_metrics_broker_connection_accept_rate",
                                "Connections accepted a second, as max.connection.creation.rate counts them.",
                                value=rates.get(None, 0.0))

    def _topic_counters(self) -> Iterator[Metric]:
        for name, doc, values in (
            ("messagesin", "Records appended, per topic.", self.counters.messages_in),
            ("bytesin", "Bytes of record batches appended, per topic.", self.counters.bytes_in),
            ("bytesout", "Bytes of record batches sent in fetch responses, per topic.", self.counters.bytes_out),
        ):
            family = CounterMetricFamily(f"kafka_server_brokertopicmetrics_{name}", doc, labels=["topic"])
            for topic, value in sorted(values.items()):
                family.add_metric([topic], value)
            yield family

    def _requests(self) -> Iterator[Metric]:
        requests = CounterMetricFamily("kafka_network_requestmetrics_requests", "Requests answered, per API.",
                                       labels=["request"])
        latency = HistogramMetricFamily("kafka_network_requestmetrics_totaltimems",
                                        "Milliseconds from a request's arrival to its answer, per API.",
                                        labels=["request"])
        for api_key, stats in sorted(self.counters.requests.items()):
            label = request_name(api_key)
            requests.add_metric([label], stats.count)
            latency.add_metric([label], list(zip(_LE, accumulate(stats.buckets))), stats.total_ms)
        yield requests
        yield latency

    def _logs(self) -> Iterator[Metric]:
        labels = ["topic", "partition"]
        end = GaugeMetricFamily("kafka_log_log_logendoffset", "Offset the next record will get.", labels=labels)
        start = GaugeMetricFamily("kafka_log_log_logstartoffset", "First offset still readable.", labels=labels)
        size = GaugeMetricFamily("kafka_log_log_size", "Bytes of the partition's segments on disk.", labels=labels)
        for info in sorted(self.broker.topics, key=lambda t: t.name):
            for index in range(info.partitions):
                plog = self.broker.partition_log(info.name, index)
                if plog is None:
                    continue
                key = [info.name, str(index)]
                end.add_metric(key, plog.log_end_offset)
                start.add_metric(key, plog.log_start_offset)
                size.add_metric(key, plog.size_in_bytes)
        yield from (end, start, size)

    def _replication(self) -> Iterator[Metric]:
        """A cluster member's replication gauges and counters, with the names Kafka's JMX exporter gives."""
        cluster = self.broker.cluster
        replicas = list(cluster.replicas.replicas.values())
        led = [r for r in replicas if r.is_leader]
        for name, doc, value in (
            ("kafka_server_replicamanager_partitioncount", "Partitions this broker holds a replica of.", len(replicas)),
            ("kafka_server_replicamanager_leadercount", "Partitions this broker leads.", len(led)),
            ("kafka_server_replicamanager_underreplicatedpartitions",
             "Partitions led here whose ISR is smaller than their replica set.",
             sum(1 for r in led if len(r.isr) < len(r.replicas))),
            ("kafka_server_replicafetchermanager_maxlag", "Most records a followed partition is behind its leader.",
             max(cluster.replicas.fetchers.lag.values(), default=0)),
            ("kafka_controller_kafkacontroller_activecontrollercount", "1 on the controller, 0 elsewhere.",
             int(cluster.controller is not None)),
            ("kafka_controller_kafkacontroller_offlinepartitionscount",
             "Partitions without a live leader (counted by the controller).",
             cluster.controller.offline_count() if cluster.controller is not None else 0),
        ):
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], value)
            yield gauge
        for name, doc, value in (("isrshrinks", "ISR shrinks of partitions led here.", cluster.replicas.isr_shrinks),
                                 ("isrexpands", "ISR expansions of partitions led here.", cluster.replicas.isr_expands)):
            counter = CounterMetricFamily(f"kafka_server_replicamanager_{name}", doc)
            counter.add_metric([], value)
            yield counter

    def _group_lag(self) -> Iterator[Metric]:
        """Committed offsets and lag; a commit below the log start counts from the log start (that is
        where the group resumes under auto.offset.reset=earliest, and older records are gone)."""
        labels = ["group", "topic", "partition"]
        current = GaugeMetricFamily("kafka_consumergroup_current_offset", "Committed offset.", labels=labels)
        lag = GaugeMetricFamily("kafka_consumergroup_lag", "High watermark minus committed offset.", labels=labels)
        offsets = self.broker.groups.offsets
        for group in sorted(offsets.groups()):
            for (topic, partition), committed in sorted(offsets.of_group(group).items()):
                plog = self.broker.partition_log(topic, partition)
                if plog is None:
                    continue
                key = [group, topic, str(partition)]
                current.add_metric(key, committed.offset)
                lag.add_metric(key, max(plog.high_watermark - max(committed.offset, plog.log_start_offset), 0))
        yield from (current, lag)


async def serve_metrics(broker: Broker, counters: BrokerMetrics, host: str | list[str] | None,
                        port: int) -> asyncio.Server:
    """Answer `GET /metrics` on host:port (a list of hosts, None for all; port 0 picks one).

    The caller closes the server; `metrics_url` says where it listens.
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BrokerCollector(broker, counters))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)
            while (await asyncio.wait_for(reader.readline(), READ_TIMEOUT_S)).strip():
                pass  # headers: nothing in them changes the answer
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?", 1)[0] if len(parts) > 1 else ""
            if path in ("/metrics", "/"):
                status, content_type, body = "200 OK", CONTENT_TYPE_LATEST, generate_latest(registry)
            else:
                status, content_type, body = "404 Not Found", "text/plain", b"try /metrics\n"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("metrics scrape failed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port)
    log.info("metrics on %s", metrics_url(server))
    return server


def metrics_url(server: asyncio.Server) -> str:
    host, port = server.sockets[0].getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/metrics"
