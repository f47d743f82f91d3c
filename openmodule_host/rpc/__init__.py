"""openmodule's RPC for plugins: one shared server and call table, a scoped view per plugin."""

from .client import PluginRPCClient, RPCCall, RPCCalls
from .routing import RPCRouter
from .server import PluginRPCServer

__all__ = ["PluginRPCClient", "PluginRPCServer", "RPCCall", "RPCCalls", "RPCRouter"]
