"""openmodule-host: runs openmodule-style services as plugins in one process."""

from .config import HostConfig, PluginConfig, load_host_config
from .core import HostedCore, PluginMessages
from .errors import (
    BrokerAddressInUse,
    BrokerUnreachable,
    ConfigError,
    HostError,
    PluginLoadError,
    UnknownPluginError,
)
from .host import Host
from .instances import resolve_instances, select_instances
from .loader import PluginCandidate, discover, select
from .plugin import HostedPlugin
from .states import PluginState
from .version import __version__

__all__ = [
    "BrokerAddressInUse",
    "BrokerUnreachable",
    "ConfigError",
    "Host",
    "HostConfig",
    "HostError",
    "HostedCore",
    "HostedPlugin",
    "PluginCandidate",
    "PluginConfig",
    "PluginLoadError",
    "PluginMessages",
    "PluginState",
    "UnknownPluginError",
    "__version__",
    "discover",
    "load_host_config",
    "resolve_instances",
    "select",
    "select_instances",
]
