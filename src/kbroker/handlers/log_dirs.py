"""DescribeLogDirs (key 35, v0-4): each log dir with the size of every partition it holds.

v2 became flexible, v3 added a top-level error code, v4 the dir's total and usable bytes. A null
topic list means every partition; unknown topics or partitions are left out, as Kafka does.
"""

from __future__ import annotations

import os
import shutil
from collections import defaultdict

from kproto import ErrorCode
from kproto.messages import DescribeLogDirsRequest, DescribeLogDirsResponse

from kbroker.handlers.authorized_operations import Op, cluster_allowed
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

DESCRIBE_LOG_DIRS = 35


def wanted_partitions(ctx: RequestContext, request: DescribeLogDirsRequest) -> list[tuple[str, int]]:
    broker = ctx.broker
    if request.topics is None:
        return [(info.name, index) for info in broker.topics for index in range(info.partitions)]
    return [(t.topic, p) for t in request.topics for p in t.partitions]


@handles(DESCRIBE_LOG_DIRS, 0, 4)
def describe_log_dirs(ctx: RequestContext, request: DescribeLogDirsRequest) -> DescribeLogDirsResponse:
    broker = ctx.broker
    if not cluster_allowed(ctx, Op.DESCRIBE):
        return DescribeLogDirsResponse(error_code=ErrorCode.CLUSTER_AUTHORIZATION_FAILED, results=[])
    by_dir: dict[str, dict[str, list]] = {str(d): defaultdict(list) for d in broker.logs.dirs}
    for topic, index in dict.fromkeys(wanted_partitions(ctx, request)):
        plog = broker.partition_log(topic, index)
        if plog is None:
            continue
        by_dir[str(plog.directory.parent)][topic].append(DescribeLogDirsResponse.DescribeLogDirsPartition(
            partition_index=index, partition_size=plog.size_in_bytes, offset_lag=0, is_future_key=False))
    results = []
    for directory, topics in by_dir.items():
        usage = shutil.disk_usage(directory)
        results.append(DescribeLogDirsResponse.DescribeLogDirsResult(
            log_dir=os.path.abspath(directory), total_bytes=usage.total, usable_bytes=usage.free,
            topics=[DescribeLogDirsResponse.DescribeLogDirsTopic(name=name, partitions=parts)
                    for name, parts in sorted(topics.items())]))
    return DescribeLogDirsResponse(results=results)
