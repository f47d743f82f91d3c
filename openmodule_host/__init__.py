"""openmodule-host: runs openmodule-style services as plugins in one process."""

from importlib import metadata as _metadata

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
from .host import Host, HostedPlugin, PluginState
from .loader import PluginCandidate, discover, select

try:
    __version__ = _metadata.version("openmodule-host")
except _metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"

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
    "select",
]
