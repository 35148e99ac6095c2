"""DescribeCluster (key 60), v0-2: the brokers, the controller and the cluster id.

v1 added the endpoint type (1 = brokers; 2 = controllers, which a combined single node does not
expose separately); v2 fenced brokers on request (KIP-1073): a broker that answers is not fenced.
"""

from __future__ import annotations

from kproto import ErrorCode
from kproto.messages import DescribeClusterRequest, DescribeClusterResponse

from kbroker.handlers.authorized_operations import cluster_operations
from kbroker.handlers.context import RequestContext
from kbroker.handlers.registry import handles

DESCRIBE_CLUSTER = 60
BROKERS_ENDPOINT = 1


@handles(DESCRIBE_CLUSTER, 0, 2)
def describe_cluster(ctx: RequestContext, request: DescribeClusterRequest) -> DescribeClusterResponse:
    broker = ctx.broker
    if ctx.api_version >= 1 and request.endpoint_type != BROKERS_ENDPOINT:
        return DescribeClusterResponse(
            error_code=ErrorCode.UNSUPPORTED_ENDPOINT_TYPE, error_message="Only brokers are listed by this broker",
            endpoint_type=request.endpoint_type, cluster_id=broker.cluster_id,
        )
    return DescribeClusterResponse(
        endpoint_type=BROKERS_ENDPOINT,
        cluster_id=broker.cluster_id,
        controller_id=broker.controller_id,
        brokers=[DescribeClusterResponse.DescribeClusterBroker(broker_id=node_id, host=host, port=port, rack=rack)
                 for node_id, host, port, rack in broker.live_brokers(ctx.listener)],
        cluster_authorized_operations=cluster_operations(ctx, request.include_cluster_authorized_operations),
    )
