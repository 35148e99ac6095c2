"""Where a new topic's replicas go: Kafka's rack-unaware spread.

The first replica of partition p sits on broker (start + p) mod n, so leaders are balanced; the
others follow at a distance that grows by one after every n partitions, so that followers of one
broker's partitions are spread over the others too. Start and shift are random, as in Kafka, so
that many small topics do not all lead on the first broker.
"""

from __future__ import annotations

import random


class AssignmentError(ValueError):
    """The replicas cannot be placed (more replicas than brokers, nothing to place)."""


def assign_replicas(partitions: int, replication_factor: int, brokers: list[int], first_partition: int = 0,
                    start: int | None = None, shift: int | None = None) -> dict[int, list[int]]:
    """Replica lists for partitions first_partition .. first_partition + partitions - 1."""
    if replication_factor <= 0:
        raise AssignmentError("Replication factor must be larger than 0.")
    if replication_factor > len(brokers):
        raise AssignmentError(
            f"Unable to replicate the partition {replication_factor} time(s): The target replication factor of "
            f"{replication_factor} cannot be reached because only {len(brokers)} broker(s) are registered.")
    ids = sorted(brokers)
    count = len(ids)
    start = random.randrange(count) if start is None else start
    shift = random.randrange(count) if shift is None else shift
    result = {}
    for offset in range(partitions):
        partition = first_partition + offset
        if partition > 0 and partition % count == 0:
            shift += 1
        first = (partition + start) % count
        replicas = [ids[first]]
        for j in range(replication_factor - 1):
            distance = 1 + (shift + j) % (count - 1)
            replicas.append(ids[(first + distance) % count])
        result[partition] = replicas
    return result
