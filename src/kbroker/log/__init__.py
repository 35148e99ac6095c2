"""Partition logs on disk in Apache Kafka's format: segments, indexes, checkpoints, recovery.

Storage takes bytes and plain values, never protocol message objects; see docs/storage.md.
"""

from kbroker.log.config import LogConfig
from kbroker.log.manager import LogManager
from kbroker.log.partition import OffsetOutOfRangeError, PartitionLog

__all__ = ["LogConfig", "LogManager", "OffsetOutOfRangeError", "PartitionLog"]
