"""Configuration: the TOML file of CONTRACT §1, its discovery, validation and secrets."""

from edge.config.load import (
    ConfigError,
    ConfigIssue,
    find_config_path,
    format_key,
    load_config,
    read_secret,
)
from edge.config.menu import MenuConfig
from edge.config.model import (
    CREDENTIAL_MQTT_PASSWORD,
    CloudConfig,
    Config,
    ControlConfig,
    DatabaseConfig,
    LogConfig,
    OrdersConfig,
    PrinterConfig,
    StoreConfig,
)
from edge.config.pos import CREDENTIAL_POS_CLIENT_SECRET, CREDENTIAL_POS_TOKEN, PosConfig
from edge.config.till import CardReaderConfig, StaffConfig
from edge.config.uris import BrokerAddress

__all__ = [
    "CREDENTIAL_MQTT_PASSWORD",
    "CREDENTIAL_POS_CLIENT_SECRET",
    "CREDENTIAL_POS_TOKEN",
    "BrokerAddress",
    "CardReaderConfig",
    "CloudConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "ControlConfig",
    "DatabaseConfig",
    "LogConfig",
    "MenuConfig",
    "OrdersConfig",
    "PosConfig",
    "PrinterConfig",
    "StaffConfig",
    "StoreConfig",
    "find_config_path",
    "format_key",
    "load_config",
    "read_secret",
]
