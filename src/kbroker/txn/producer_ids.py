"""Producer ids that stay unique across restarts.

Ids are handed out from blocks; the end of the current block is written to disk before any id
of it is used, so that after any stop the next block starts past every id already given out.
"""

from __future__ import annotations

import os
from pathlib import Path

BLOCK_SIZE = 1000  # as Kafka's controller allocates them
STATE_FILE = "kbroker-producer-ids"


class ProducerIdAllocator:
    def __init__(self, directory: Path) -> None:
        self.path = directory / STATE_FILE
        self.next_id = int(self.path.read_text()) if self.path.exists() else 0
        self.block_end = self.next_id

    def allocate(self) -> int:
        if self.next_id >= self.block_end:
            self.block_end = self.next_id + BLOCK_SIZE
            self._persist(self.block_end)
        producer_id = self.next_id
        self.next_id += 1
        return producer_id

    def _persist(self, value: int) -> None:
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as fh:
            fh.write(str(value))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
