"""Pieces of the operator tools that need no broker: the partitioner and argument parsing."""

from __future__ import annotations

import click
import pytest
from hypothesis import given, strategies as st
from kafka.partitioner.default import murmur2 as kafka_python_murmur2

from kbroker.tools.common import key_values
from kbroker.tools.partitioner import murmur2, partition_for_key


@given(st.binary(max_size=64))
def test_murmur2_matches_the_java_clients_hash(data: bytes) -> None:
    assert murmur2(data) & 0xFFFFFFFF == kafka_python_murmur2(data) & 0xFFFFFFFF  # one signed, one not


def test_partition_for_key_is_positive_modulo() -> None:
    assert all(0 <= partition_for_key(bytes([i]), 7) < 7 for i in range(256))


def test_key_values_with_bracketed_lists() -> None:
    assert key_values("a=1,b=[x,y],c=", "--add-config") == {"a": "1", "b": "x,y", "c": ""}
    with pytest.raises(click.BadParameter):
        key_values("novalue", "--add-config")

