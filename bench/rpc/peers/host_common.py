"""What the openmodule-host server and client share: the models and how a host on the bench broker is made."""

from __future__ import annotations

import logging

from openmodule_hookspecs import Gateway, OpenModuleModel

from openmodule_host import Host, HostConfig, PluginCandidate


class EchoRequest(OpenModuleModel):
    seq: int
    text: str


class GatewayEchoRequest(EchoRequest):
    """The ``host-gateway`` variant's request: for the plugin whose ``gateway_filter`` names its gate."""

    gateway: Gateway


class EchoResponse(OpenModuleModel):
    seq: int
    text: str


def make_host(name: str, broker_sub: str, broker_pub: str, plugin: str, instance: object,
              cpu_placement: str = "auto") -> Host:
    """A host on the external bench broker running one plugin object, logging at WARNING.

    The plugin's publish budget is off (``PUBLISH_RATE = 0``): the benchmark measures how many calls the
    transport carries, and the default budget (2,000 messages/s) would cap the calls in flight below that.
    """
    config = HostConfig(
        name=name, broker="external", broker_sub=broker_sub, broker_pub=broker_pub, log_level="WARNING", dsgvo=False,
        plugins={plugin: {"PUBLISH_RATE": 0}}, cpu_placement=cpu_placement,
    )
    logging.basicConfig(level=logging.WARNING)
    return Host(config, [PluginCandidate.from_object(plugin, instance)], strict=True, report=lambda _: None)
