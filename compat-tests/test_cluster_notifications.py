"""Change notifications in a real ZooKeeper: a listener deletes the ones past their expiration, as
Kafka's does, so that `/config/changes` and the ACL change folders do not grow for ever."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from kazoo.client import KazooClient

from clusterclients import wait_until
from kbroker.cluster.notifications import ChangeListener
from kbroker.cluster.zk import BoundedCalls
from kbroker.testing.zookeeper import ZooKeeper

FOLDER, PREFIX = "/changes", "change_"


def test_a_listener_deletes_notifications_past_their_expiration_and_reads_the_new(tmp_path: Path) -> None:
    server = ZooKeeper(tmp_path / "zookeeper")
    server.spawn()
    loop = asyncio.new_event_loop()
    client = KazooClient(hosts=server.connect)
    read: list[bytes] = []
    try:
        wait_until(server.ready, 30, "ZooKeeper to answer")
        client.start(timeout=10)
        client.ensure_path(FOLDER)
        old = client.create(f"{FOLDER}/{PREFIX}", b"old", sequence=True).rsplit("/", 1)[1]
        time.sleep(1.5)  # the first notification ages past the listener's expiration
        new = client.create(f"{FOLDER}/{PREFIX}", b"new", sequence=True).rsplit("/", 1)[1]
        listener = ChangeListener(BoundedCalls(client, 5), FOLDER, PREFIX, read.append, "test changes",
                                  expiration_ms=1000)
        listener.start(loop, {old})
        wait_until(lambda: client.get_children(FOLDER) == [new], 10, "the expired notification to go")
        listener.stop()
        assert read == [b"new"]
    finally:
        client.stop()
        client.close()
        loop.close()
        server.stop()
