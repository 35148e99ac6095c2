"""Change notifications in ZooKeeper, read as Kafka's ZkNodeChangeNotificationListener reads them.

A broker that changes shared state (a topic's or a user's config, a resource's ACLs) writes the
state, then a sequential node (`/config/changes/config_change_0000000042`, `/kafka-acl-changes/
acl_changes_...`) naming what changed. Every broker watches the folder; for each node it has not
seen it reads the thing named and brings its own copy up to date.

As Kafka's listener does, each look also deletes the notifications older than 15 minutes
(`CHANGE_EXPIRATION_MS`): every broker has read them by then, and the folder stays small.

The reading happens on a thread of the listener's own, one notification after another, so that
ZooKeeper calls never hold up the event loop; what the thread read is handed to the loop as a
function to call there, where the broker's state lives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from kazoo.exceptions import KazooException, NoNodeError
from kazoo.handlers.threading import KazooTimeoutError

from kbroker.cluster.zk import BoundedCalls

log = logging.getLogger("kbroker.cluster")

CHANGE_EXPIRATION_MS = 15 * 60 * 1000

# On the listener's thread: a notification's data -> what to do about it on the event loop, or None.
Reader = Callable[[bytes], "Callable[[], None] | None"]


class ChangeListener:
    def __init__(self, calls: BoundedCalls, path: str, prefix: str, read: Reader, name: str,
                 expiration_ms: int = CHANGE_EXPIRATION_MS) -> None:
        self.calls = calls
        self.expiration_ms = expiration_ms
        self._created: dict[str, int] = {}  # a notification's creation time (ZooKeeper's ctime), once known
        self.path = path
        self.prefix = prefix
        self.read = read
        self.name = name  # for the log: "ACL changes", "config changes"
        self.seen: set[str] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"zk-{path.strip('/')}")
        self._watch = calls.watch(self.poke)  # one function: kazoo keeps a watch once however often it is set

    def existing(self) -> set[str]:
        """The notifications there now (blocking): taken as seen by whoever loads the whole state after."""
        return {child for child in self.calls.get_children(self.path) if child.startswith(self.prefix)}

    def start(self, loop: asyncio.AbstractEventLoop, seen: set[str]) -> None:
        """Watch from now on; notifications missing from `seen` are read at once."""
        self._loop = loop
        self.seen = set(seen)
        self.poke()

    def poke(self) -> None:
        """Look again (after a watch fired, or in a new session, which sets no watches by itself)."""
        if self._loop is not None:
            try:
                self._thread.submit(self._process)
            except RuntimeError:  # stopped
                pass

    def stop(self) -> None:
        self._loop = None
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _process(self) -> None:
        try:
            children = sorted(c for c in self.calls.get_children(self.path, watch=self._watch)
                              if c.startswith(self.prefix))
            for child in children:
                if child in self.seen:
                    continue
                try:
                    data, stat = self.calls.get(f"{self.path}/{child}")
                    self._created[child] = stat.ctime
                except NoNodeError:
                    data = None
                try:
                    action = self.read(data) if data is not None else None
                except (ValueError, KeyError) as exc:
                    log.warning("a malformed notification %s/%s: %s", self.path, child, exc)
                    action = None
                self.seen.add(child)  # not when ZooKeeper failed the read: the next look tries again
                loop = self._loop
                if action is not None and loop is not None:
                    loop.call_soon_threadsafe(action)
            self.seen.intersection_update(children)  # purged ones will not come back
            self._purge(children)
        except (KazooException, KazooTimeoutError) as exc:
            log.warning("%s not read from ZooKeeper: %s", self.name, exc or type(exc).__name__)

    def _purge(self, children: list[str]) -> None:
        """Delete the notifications past their expiration; another broker may have deleted them first."""
        now = time.time() * 1000
        for child in children:
            path = f"{self.path}/{child}"
            if child not in self._created:
                stat = self.calls.exists(path)
                if stat is None:
                    continue
                self._created[child] = stat.ctime
            if now - self._created[child] > self.expiration_ms:
                try:
                    self.calls.delete(path)
                except NoNodeError:
                    pass
        for child in set(self._created) - set(children):
            del self._created[child]
