"""Authorized operations, answered as Kafka answers them without an authorizer: every operation
the resource's type supports.

Clients ask for them with include_*_authorized_operations (Metadata v8+, DescribeCluster,
DescribeGroups v3+, ConsumerGroupDescribe); DescribeTopicPartitions always gives them. The answer
is a bit field over Kafka's AclOperation codes, bit n for code n; where nobody asked, INT32_MIN,
the schemas' default. Groups support READ, DESCRIBE and DELETE: Kafka 4.0 adds DESCRIBE_CONFIGS and
ALTER_CONFIGS with group configs, which kbroker does not serve.
"""

from __future__ import annotations

from enum import IntEnum


class AclOperation(IntEnum):
    """Kafka's AclOperation codes of the operations a topic, group or cluster supports."""

    READ = 3
    WRITE = 4
    CREATE = 5
    DELETE = 6
    ALTER = 7
    DESCRIBE = 8
    CLUSTER_ACTION = 9
    DESCRIBE_CONFIGS = 10
    ALTER_CONFIGS = 11
    IDEMPOTENT_WRITE = 12


NOT_ASKED = -(2**31)


def bit_field(*operations: AclOperation) -> int:
    return sum(1 << op for op in operations)


Op = AclOperation
TOPIC_OPERATIONS = bit_field(Op.READ, Op.WRITE, Op.CREATE, Op.DESCRIBE, Op.DELETE, Op.ALTER, Op.DESCRIBE_CONFIGS,
                             Op.ALTER_CONFIGS)
GROUP_OPERATIONS = bit_field(Op.READ, Op.DESCRIBE, Op.DELETE)
CLUSTER_OPERATIONS = bit_field(Op.CREATE, Op.CLUSTER_ACTION, Op.DESCRIBE_CONFIGS, Op.ALTER_CONFIGS,
                               Op.IDEMPOTENT_WRITE, Op.ALTER, Op.DESCRIBE)


def authorized_operations(supported: int, asked: bool) -> int:
    """The answer to a client that did or did not ask about a resource with these operations."""
    return supported if asked else NOT_ASKED
