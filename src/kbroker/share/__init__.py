"""KIP-932 share groups on this broker: share partitions, acquisition locks and share sessions.

Membership and assignment are the group coordinator's (kbroker.groups.share_groups); this package
holds what the records go through: `partition.SharePartition` (the state of each in-flight
record), `sessions.ShareSessions` (ShareFetch's session epochs) and `manager.SharePartitions`
(one per broker: the partitions, their lock timers, and fetches waiting for records).
"""

from kbroker.share.manager import SharePartitions

__all__ = ["SharePartitions"]
