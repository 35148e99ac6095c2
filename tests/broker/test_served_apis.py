"""Which APIs a broker advertises depends on whether it is one of a cluster."""

from kbroker.handlers.api_versions import supported_versions

SHARE_APIS = {76, 77, 78, 79, 90, 91, 92}  # KIP-932, served without a share coordinator between brokers
INTER_BROKER = {4, 5, 6, 7, 56}  # LeaderAndIsr, StopReplica, UpdateMetadata, ControlledShutdown, AlterPartition


def test_share_apis_on_a_single_node_and_inter_broker_apis_in_a_cluster() -> None:
    single = {v.api_key for v in supported_versions(clustered=False)}
    clustered = {v.api_key for v in supported_versions(clustered=True)}
    assert single - clustered == SHARE_APIS
    assert clustered - single == INTER_BROKER
