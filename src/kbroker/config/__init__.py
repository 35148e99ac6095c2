"""Broker and topic configuration with Kafka's names, types, defaults, synonyms and sources.

    config = load_broker_config(config_file="server.properties", overrides={"num.partitions": "3"},
                                environ=os.environ)
    config["log.retention.check.interval.ms"], config.num_partitions, config.log_dirs
    config.topic_config({"retention.ms": "60000"})["retention.ms"]
    config.describe_topic({"cleanup.policy": "compact"})
"""

from kbroker.config.definitions import (
    ConfigDef, ConfigError, ConfigSource, ConfigType, Importance, Password, UpdateMode,
)
from kbroker.config.settings import (
    BROKER_DEFS, TOPIC_DEFS, BrokerConfig, ConfigEntry, ConfigSynonym, load_broker_config,
)

__all__ = [
    "BROKER_DEFS", "TOPIC_DEFS", "BrokerConfig", "ConfigDef", "ConfigEntry", "ConfigError", "ConfigSource",
    "ConfigSynonym", "ConfigType", "Importance", "Password", "UpdateMode", "load_broker_config",
]
