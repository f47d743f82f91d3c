"""Variant (c), a real openmodule 18.5.0 service publishing its message model: ``core().publish(message, topic)``.

Runs only under ``.venv-openmodule/bin/python`` as its own process (openmodule is GPLv2: nothing in
``openmodule_host`` or ``.venv`` imports it). Sentry, dsgvo and the database are off.
"""

from __future__ import annotations

import logging
import os
import types

from ..protocol import TOPIC, TYPE
from . import DATA, drive, parse_args


def main() -> None:
    args = parse_args(__doc__ or "")
    os.environ.update(BROKER_SUB=args.sub, BROKER_PUB=args.pub)
    from openmodule.config import settings

    settings.configure(types.SimpleNamespace(
        NAME="om_bench_sender_1", VERSION="bench", RESOURCE="bench", DEBUG=False, TESTING=False,
        LOG_LEVEL=logging.WARNING, BROKER_SUB=args.sub, BROKER_PUB=args.pub,
    ))
    from openmodule.core import init_openmodule, shutdown_openmodule
    from openmodule.models.base import ZMQMessage

    class BenchMessage(ZMQMessage):
        type: str = TYPE
        seq: int
        data: str

    core = init_openmodule(settings, sentry=False, dsgvo=False, database=False, catch_sigterm=False)

    def send(seq: int) -> None:
        core.publish(BenchMessage(seq=seq, data=DATA), TOPIC)

    drive(send, args.messages)
    shutdown_openmodule()


if __name__ == "__main__":
    main()
