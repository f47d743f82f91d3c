"""Variant (b), openmodule-host: a plugin publishing its message model through its core, as plugins do.

A :class:`~openmodule_host.Host` on the external broker with one plugin; per message the plugin builds
``BenchMessage(seq=..., data=...)`` and calls ``core.publish(message, topic)``: the publish budget (kept
on, with a rate far above the flood's), the wire body (``model_dump``, the sender's name, ASCII JSON), the
size limit and the host's shared :class:`~openmodule_host.wire.Publisher`. The flood runs on this process's main
thread, which joins the host's threads on their CPU first (``host.placement.join()``), as a plugin's worker or a
thread it starts is there.
"""

from __future__ import annotations

import logging

from openmodule_hookspecs import PluginCore, ZMQMessage, hookimpl

from openmodule_host import Host, HostConfig, PluginCandidate

from ..protocol import TOPIC, TYPE
from . import DATA, drive, parse_args

PLUGIN = "sender"


class BenchMessage(ZMQMessage):
    type: str = TYPE
    seq: int
    data: str


class SenderPlugin:
    core: PluginCore

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        self.core = core


def main() -> None:
    args = parse_args(__doc__ or "")
    logging.basicConfig(level=logging.WARNING)
    plugin = SenderPlugin()
    # The budget stays on (its check is part of every publish) at a rate no flood here reaches.
    config = HostConfig(name="om_bench_sender_1", broker="external", broker_sub=args.sub, broker_pub=args.pub,
                        log_level="WARNING", plugins={PLUGIN: {"PUBLISH_RATE": 1e9}})
    host = Host(config, [PluginCandidate.from_object(PLUGIN, plugin)], strict=True, report=lambda _: None)
    with host:
        host.placement.join()  # publish from the host's CPU, as a plugin's worker or a thread it starts does
        publish = plugin.core.publish

        def send(seq: int) -> None:
            publish(BenchMessage(seq=seq, data=DATA), TOPIC)

        drive(send, args.messages)


if __name__ == "__main__":
    main()
