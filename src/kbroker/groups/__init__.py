"""The group coordinator: classic consumer groups and committed offsets, kept in `__consumer_offsets`."""

from kbroker.groups.config import GroupConfig
from kbroker.groups.coordinator import GroupCoordinator, OffsetCommit
from kbroker.groups.rebalance import JoinRequest
from kbroker.groups.storage import MemoryGroupLog, OffsetsTopicLog

__all__ = ["GroupConfig", "GroupCoordinator", "JoinRequest", "MemoryGroupLog", "OffsetCommit", "OffsetsTopicLog"]
