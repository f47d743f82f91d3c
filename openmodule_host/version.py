from .distributions import version

__all__ = ["__version__"]

#: "0.0.0" when running from a source tree that is not installed.
__version__ = version("openmodule-host") or "0.0.0"
