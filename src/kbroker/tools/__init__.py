"""The operator's tools, `kbroker <tool>`: each talks the Kafka protocol to any compatible broker."""

from __future__ import annotations

import click


def register(group: click.Group) -> None:
    """Add every tool command to the `kbroker` command group."""
    from kbroker.tools.acls import acls
    from kbroker.tools.configs import configs
    from kbroker.tools.console import console_consumer, console_producer
    from kbroker.tools.dump_log import dump_log
    from kbroker.tools.groups import groups
    from kbroker.tools.offsets import get_offsets
    from kbroker.tools.reassign import leader_election, reassign_partitions
    from kbroker.tools.share_groups import share_groups
    from kbroker.tools.topics import topics

    for command in (topics, configs, groups, get_offsets, console_producer, console_consumer, dump_log,
                    reassign_partitions, leader_election, acls, share_groups):
        group.add_command(command)
