"""Request handlers, one module per API family; importing this package fills the dispatch table."""

from kbroker.handlers import (  # noqa: F401 - imported for their registrations
    acls,
    api_versions,
    cluster,
    configs,
    consumer_groups,
    coordinator,
    fetch,
    groups,
    inter_broker,
    leader_epochs,
    list_offsets,
    log_dirs,
    metadata,
    offsets,
    partitions,
    produce,
    producer_ids,
    quotas,
    reassignments,
    sasl,
    scram_credentials,
    share,
    share_offsets,
    share_state,
    topic_partitions,
    topics,
    transaction_admin,
    transactions,
)
from kbroker.handlers.registry import HANDLERS

__all__ = ["HANDLERS"]
