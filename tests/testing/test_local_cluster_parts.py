"""The parts of `kbroker cluster` and KBrokerCluster that need no running process: finding
ZooKeeper, the cluster profile, and the checks made before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kbroker.cli import main
from kbroker.testing import zookeeper
from kbroker.testing.cluster import cluster_profile
from kbroker.testing.zookeeper import ZooKeeperNotFound, find_zookeeper


def test_without_debian_package_or_home_the_message_names_the_package(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setattr(zookeeper, "DEBIAN_JAR", tmp_path / "zookeeper.jar")
    with pytest.raises(ZooKeeperNotFound, match="Debian's `zookeeper` package"):
        find_zookeeper({})


def test_zookeeper_home_gives_its_conf_and_jars(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    for jar in ("zookeeper-3.9.2.jar", "zookeeper-jute-3.9.2.jar"):
        (tmp_path / "lib" / jar).touch()
    java = tmp_path / "jdk" / "bin" / "java"
    java.parent.mkdir(parents=True)
    java.touch()
    found = find_zookeeper({"ZOOKEEPER_HOME": str(tmp_path), "JAVA_HOME": str(tmp_path / "jdk")})
    assert found.java == str(java)
    assert found.classpath.split(":") == [str(tmp_path / "conf"), str(tmp_path / "lib" / "zookeeper-3.9.2.jar"),
                                          str(tmp_path / "lib" / "zookeeper-jute-3.9.2.jar")]


@pytest.mark.parametrize("brokers, factor, min_isr", [(1, "1", "1"), (2, "2", "2"), (3, "3", "2"), (5, "3", "2")])
def test_replication_follows_the_cluster_size(brokers: int, factor: str, min_isr: str) -> None:
    profile = cluster_profile(brokers)
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "default.replication.factor"):
        assert profile[key] == factor
    assert profile["transaction.state.log.min.isr"] == min_isr


def test_a_bad_config_key_is_refused_before_anything_starts() -> None:
    result = CliRunner().invoke(main, ["cluster", "--ephemeral", "--set", "no.such.key=1"])
    assert result.exit_code == 2 and "no.such.key" in result.output


@pytest.mark.parametrize("listen", ["9092", "host:", "127.0.0.1:65535"])
def test_listen_base_needs_host_port_with_room(listen: str) -> None:
    result = CliRunner().invoke(main, ["cluster", "--brokers", "3", "--listen-base", listen])
    assert result.exit_code == 2 and "--listen-base" in result.output
