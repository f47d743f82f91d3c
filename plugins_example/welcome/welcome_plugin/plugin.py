"""om_welcome's hooks: what the openmodule service's ``config.py`` and ``main()`` did.

``config.py`` became :class:`WelcomeSettings` (read per instance: defaults < its TOML table < env
``<INSTANCE>__<KEY>``); ``init_openmodule`` and the ``RPCServer`` became ``register_handlers`` (the host
built the core); the main loop's ``scheduler.run_pending()`` became a ``core.scheduler`` job; the
``finally`` block became ``shutdown``. Run it once per gate:

    [plugins.gate_in]
    plugin = "om_welcome"
    gate = "in-1"
"""

from openmodule_hookspecs import PluginCore, hookimpl
from pydantic import BaseModel

from .welcome import WelcomeService


class WelcomeSettings(BaseModel):
    """An instance's table (``[plugins.gate_in]``); ``settings.<key>`` in the service."""

    gate: str = "in-1"
    welcome_text: str = "Welcome"
    idle_text: str = "Welcome to the garage"
    lookup_channel: str = "plates"  # the RPC channel of the plate lookup service (type "lookup")
    lookup_timeout: float = 1.0
    refresh_seconds: int = 60  # how often the display gets the idle text again


@hookimpl
def config_model() -> type[BaseModel]:
    return WelcomeSettings


@hookimpl
def register_handlers(core: PluginCore) -> None:
    service = WelcomeService()
    service.register_rpcs(core.rpc_server)
    service.register_handlers(core.messages)
    core.scheduler.every(core.config.refresh_seconds).seconds.do(service.show_idle_text)
    core.log.info("greeting vehicles at gate %s", service.gate)
