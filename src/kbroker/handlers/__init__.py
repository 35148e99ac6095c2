"""Request handlers, one module per API family; importing this package fills the dispatch table."""

from kbroker.handlers import (  # noqa: F401 - imported for their registrations
    api_versions,
    cluster,
    coordinator,
    fetch,
    groups,
    list_offsets,
    metadata,
    offsets,
    partitions,
    produce,
    producer_ids,
    topics,
)
from kbroker.handlers.registry import HANDLERS

__all__ = ["HANDLERS"]
