from importlib import metadata

__all__ = ["__version__"]

try:
    __version__ = metadata.version("openmodule-host")
except metadata.PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0"
