"""Replaying `_schemas` records (Confluent's layout) into the registry's state."""

from __future__ import annotations

from kbroker.registry import records
from kbroker.registry.records import SchemaVersion
from kbroker.registry.state import RegistryState


def replay(*pairs: tuple[dict, dict | None]) -> RegistryState:
    state = RegistryState()
    for key, value in pairs:  # through the bytes, as the topic holds them
        state.apply(records.decode(records.encode(key)), records.decode(records.encode(value)))
    return state


def version(subject: str, number: int, schema_id: int, deleted: bool = False) -> tuple[dict, dict]:
    entry = SchemaVersion(subject, number, schema_id, '"string"', deleted=deleted)
    return entry.key(), entry.value()


def test_schema_records_make_versions_and_ids() -> None:
    state = replay(version("s", 1, 1), version("s", 2, 5), version("t", 1, 1))
    assert [e.version for e in state.versions("s")] == [1, 2]
    assert [(e.subject, e.version) for e in state.by_id(1)] == [("s", 1), ("t", 1)]
    assert state.max_id == 5


def test_avro_values_leave_out_schema_type_and_empty_references() -> None:
    key, value = version("s", 1, 1)
    assert key == {"keytype": "SCHEMA", "subject": "s", "version": 1, "magic": 1}
    assert value == {"subject": "s", "version": 1, "id": 1, "schema": '"string"', "deleted": False}


def test_delete_subject_soft_deletes_up_to_its_version() -> None:
    state = replay(version("s", 1, 1), version("s", 2, 2),
                   (records.delete_subject_key("s"), {"subject": "s", "version": 1}))
    assert [e.version for e in state.versions("s")] == [2]
    assert [e.version for e in state.versions("s", deleted=True)] == [1, 2]


def test_clear_subject_and_tombstones_remove_versions_for_good_but_ids_are_not_reused() -> None:
    state = replay(version("s", 1, 1), version("s", 2, 2, deleted=True),
                   ({"keytype": "CLEAR_SUBJECT", "subject": "s", "magic": 0}, {"subject": "s"}))
    assert [e.version for e in state.versions("s", deleted=True)] == [1]
    state.apply(records.schema_key("s", 1), None)
    assert "s" not in state.subjects
    assert state.max_id == 2


def test_config_and_mode_records_set_and_tombstones_clear() -> None:
    state = replay((records.config_key(None), {"compatibilityLevel": "FULL"}),
                   (records.config_key("s"), {"compatibilityLevel": "NONE"}),
                   (records.mode_key("s"), {"mode": "READONLY"}),
                   (records.config_key("s"), None), (records.NOOP_KEY, None),
                   ({"keytype": "SOMETHING_NEW", "magic": 0}, {}))
    assert state.configs == {None: {"compatibilityLevel": "FULL"}}
    assert state.modes == {"s": "READONLY"}
