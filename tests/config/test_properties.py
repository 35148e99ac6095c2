"""Java .properties syntax and the environment variable mapping."""

import pytest

from kbroker.config import ConfigError
from kbroker.config.properties import config_from_env, env_name_to_key, parse_properties, read_properties_file


@pytest.mark.parametrize("text, expected", [
    ("a=b", {"a": "b"}),
    ("a = b", {"a": "b"}),
    ("a:b", {"a": "b"}),
    ("a : b", {"a": "b"}),
    ("a b", {"a": "b"}),
    ("   a=b", {"a": "b"}),
    ("a=b  ", {"a": "b  "}),              # trailing blanks stay; ConfigDef trims later
    ("a=", {"a": ""}),
    ("a", {"a": ""}),
    ("a==b", {"a": "=b"}),                # only the first separator is one
    ("a=b=c", {"a": "b=c"}),
    ("# c\n! c\n\n  # c\na=1", {"a": "1"}),
    ("a=1\na=2", {"a": "2"}),            # later duplicates win
    ("a=x\\\n    y", {"a": "xy"}),        # continuation drops the next line's leading blanks
    ("a=x\\\\\nb=y", {"a": "x\\", "b": "y"}),  # even backslashes: no continuation
    ("a=x\\\n# not a comment", {"a": "x# not a comment"}),
    ("# comment \\\na=1", {"a": "1"}),   # a comment never continues
    ("a=x\\", {"a": "x"}),
    ("a=\\t\\n\\r\\f", {"a": "\t\n\r\f"}),
    ("a=\\u0041\\u00e9", {"a": "Aé"}),
    ("a\\=b=c", {"a=b": "c"}),
    ("a\\:b:c", {"a:b": "c"}),
    ("a\\ b=c", {"a b": "c"}),
    ("a=\\q", {"a": "q"}),
    ("a=1\r\nb=2\rc=3", {"a": "1", "b": "2", "c": "3"}),
    ("a=C:\\\\dir", {"a": "C:\\dir"}),
])
def test_properties_syntax(text, expected):
    assert parse_properties(text) == expected


def test_malformed_unicode_escape_is_an_error():
    with pytest.raises(ConfigError, match="uXXXX"):
        parse_properties("a=\\u12G4")


def test_file_reading_falls_back_to_latin1(tmp_path):
    path = tmp_path / "server.properties"
    path.write_bytes("broker.rack=r\xe9\n".encode("latin-1"))
    assert read_properties_file(path) == {"broker.rack": "ré"}


@pytest.mark.parametrize("suffix, key", [
    ("LOG_RETENTION_MS", "log.retention.ms"),
    ("NUM_PARTITIONS", "num.partitions"),
    ("LISTENER_NAME_MY__LISTENER_SSL_KEYSTORE_TYPE", "listener.name.my_listener.ssl.keystore.type"),
    ("A___B", "a-b"),
])
def test_env_name_mapping(suffix, key):
    assert env_name_to_key(suffix) == key


def test_four_underscores_are_an_error():
    with pytest.raises(ConfigError, match="underscores"):
        env_name_to_key("A____B")


def test_env_prefixes_and_priority():
    environ = {"KAFKA_CFG_NUM_PARTITIONS": "2", "KBROKER_NUM_PARTITIONS": "3",
               "KAFKA_CFG_LOG_RETENTION_MS": "10", "KAFKA_HEAP_OPTS": "-Xmx1G", "HOME": "/root", "KBROKER_": "x"}
    assert config_from_env(environ) == {
        "num.partitions": ("3", "KBROKER_NUM_PARTITIONS"),
        "log.retention.ms": ("10", "KAFKA_CFG_LOG_RETENTION_MS"),
    }
