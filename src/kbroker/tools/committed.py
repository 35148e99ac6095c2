"""What a read_committed consumer shows of a fetched partition: a broker returns whole batches up to
the last stable offset, aborted ones included, with the list of aborted transactions (producer id,
first offset) in that range; leaving those batches out is the client's work, as in Kafka's consumer.
"""

from __future__ import annotations

from typing import Any, Iterable

from kproto.records import Batch, ControlType, read_control_type


class ReadCommitted:
    """Asked of each batch of one fetch answer in turn: are its records shown? Control batches and
    batches of aborted transactions are not; a producer's batches count as aborted from the first
    offset the answer gives until its ABORT marker."""

    def __init__(self, aborted: Iterable[Any]) -> None:
        """`aborted`: the answer's aborted transactions (each with producer_id and first_offset)."""
        self._pending = sorted(((t.first_offset, t.producer_id) for t in aborted or ()), reverse=True)
        self._aborting: set[int] = set()

    def shows(self, batch: Batch) -> bool:
        header = batch.header
        while self._pending and self._pending[-1][0] <= header.last_offset:
            self._aborting.add(self._pending.pop()[1])
        if header.is_control:
            if batch.records and read_control_type(batch.records[0].key) == ControlType.ABORT:
                self._aborting.discard(header.producer_id)
            return False
        return not (header.is_transactional and header.producer_id in self._aborting)
