"""A listener's keys (listener.name.<l>.<key>) through AlterConfigs and IncrementalAlterConfigs on a
broker resource: named in any case and kept as Kafka spells them, refused where Kafka refuses them,
replaced by AlterConfigs like any other key, described for the cluster default, and read back from
the data dir at a restart."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kproto import ErrorCode

from kbroker.admin.configs import DYNAMIC_CONFIG_FILE, AlterOp, Change, DynamicBrokerConfigs, Refused, ResourceType, alter, describe
from kbroker.config import BrokerConfig

LISTENERS = {"listeners": "PLAINTEXT://127.0.0.1:9092,OTHER://127.0.0.1:9093",
             "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,OTHER:PLAINTEXT"}


def node(data_dir: Path) -> SimpleNamespace:
    config = BrokerConfig(LISTENERS)
    return SimpleNamespace(node_id=1, config=config, topics=[], dynamic_configs=DynamicBrokerConfigs(data_dir, config))


def change(broker: SimpleNamespace, scope: str, *changes: tuple[str, str | None], incremental: bool = True) -> None:
    alter(broker, ResourceType.BROKER, scope, [Change(key, AlterOp.SET if value is not None else AlterOp.DELETE, value)
                                               for key, value in changes], incremental=incremental, validate_only=False)


def test_a_key_named_in_upper_case_is_kept_as_kafka_spells_it_and_deleted_under_either(tmp_path: Path) -> None:
    broker = node(tmp_path)
    change(broker, "", ("listener.name.OTHER.max.connections", "7"))
    assert broker.dynamic_configs.values(per_broker=False) == {"listener.name.other.max.connections": "7"}
    assert [e.name for e in describe(broker, ResourceType.BROKER, "", None)] == ["listener.name.other.max.connections"]
    change(broker, "", ("listener.name.Other.max.connections", None))
    assert broker.config.for_listener("OTHER", "max.connections") == broker.config["max.connections"]


def test_two_spellings_of_one_key_in_a_request_are_a_duplicate(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="duplicate") as refused:
        change(node(tmp_path), "1", ("listener.name.OTHER.max.connections", "7"),
               ("listener.name.other.max.connections", "8"))
    assert refused.value.error == ErrorCode.INVALID_REQUEST


@pytest.mark.parametrize("key, value, reason", [
    ("listener.name.other.max.connections", "0", "must be above 0"),  # Kafka's listener quota refuses it
    ("listener.name.other.max.connection.creation.rate", "0", "must be above 0"),
    ("listener.name.other.ssl.client.auth", "required", "cannot be updated dynamically"),
])
def test_refused_with_invalid_request(tmp_path: Path, key: str, value: str, reason: str) -> None:
    broker = node(tmp_path)
    with pytest.raises(Refused, match=reason) as refused:
        change(broker, "1", (key, value))
    assert refused.value.error == ErrorCode.INVALID_REQUEST
    assert broker.dynamic_configs.values(per_broker=True) == {}


def test_zero_is_kept_for_a_listener_that_does_not_exist_yet(tmp_path: Path) -> None:
    broker = node(tmp_path)
    change(broker, "1", ("listener.name.later.max.connections", "0"))
    assert broker.dynamic_configs.values(per_broker=True) == {"listener.name.later.max.connections": "0"}


def test_a_mechanism_form_is_only_for_sasl_login_keys(tmp_path: Path) -> None:
    with pytest.raises(Refused, match="Unknown broker config"):
        change(node(tmp_path), "1", ("listener.name.other.plain.max.connections", "3"))


def test_alter_configs_replacing_the_set_drops_a_listener_key_left_out(tmp_path: Path) -> None:
    broker = node(tmp_path)
    change(broker, "1", ("listener.name.other.max.connections", "3"))
    change(broker, "1", ("log.retention.ms", "1000"), incremental=False)
    assert broker.dynamic_configs.values(per_broker=True) == {"log.retention.ms": "1000"}
    assert broker.config.for_listener("OTHER", "max.connections") == broker.config["max.connections"]


def test_listener_keys_are_read_back_at_a_restart_even_as_written_by_hand(tmp_path: Path) -> None:
    (tmp_path / DYNAMIC_CONFIG_FILE).write_text(json.dumps(
        {"version": 1, "broker": {}, "default": {"listener.name.OTHER.max.connections": "5"}}))
    broker = node(tmp_path)
    assert broker.config.for_listener("OTHER", "max.connections") == 5
    assert [e.value for e in describe(broker, ResourceType.BROKER, "", None)] == ["5"]
    change(broker, "", ("listener.name.other.max.connections", None))
    assert broker.dynamic_configs.values(per_broker=False) == {}
