"""Kafka's topic name rules."""

import pytest

from kbroker.cluster.topic_names import collision_key, topic_name_problem


@pytest.mark.parametrize("name", ["orders", "a.b-c_d", "X" * 249, "__consumer_offsets"])
def test_legal_names(name):
    assert topic_name_problem(name) is None


@pytest.mark.parametrize("name", ["", ".", "..", "x" * 250, "has space", "slash/name", "ünïcode"])
def test_illegal_names(name):
    assert topic_name_problem(name)


def test_dot_and_underscore_collide():
    assert collision_key("a.b") == collision_key("a_b")
