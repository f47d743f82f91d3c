"""Variant (c), a real openmodule 18.5.0 service: ``init_openmodule`` + ``core().messages.register_handler``.

Runs only under ``.venv-openmodule/bin/python`` as its own process (openmodule is GPLv2: nothing in
``openmodule_host`` or ``.venv`` imports it). Sentry, dsgvo and the database are off; logging is on at
WARNING, as a production service logs.
"""

from __future__ import annotations

import logging
import os
import types

from ..protocol import TOPIC, TYPE
from ..tally import Tally
from . import parse_args


def main() -> None:
    args = parse_args(__doc__ or "")
    os.environ.update(BROKER_SUB=args.sub, BROKER_PUB=args.pub)
    # openmodule reads its settings lazily from a config module; give it one before anything touches them.
    from openmodule.config import settings

    settings.configure(
        types.SimpleNamespace(
            NAME="om_bench_receiver_1",
            VERSION="bench",
            RESOURCE="bench",
            DEBUG=False,
            TESTING=False,
            LOG_LEVEL=logging.WARNING,
            BROKER_SUB=args.sub,
            BROKER_PUB=args.pub,
        )
    )
    from openmodule.core import init_openmodule, shutdown_openmodule
    from openmodule.models.base import ZMQMessage

    class BenchMessage(ZMQMessage):
        type: str = TYPE
        seq: int
        data: str

    tally = Tally()
    core = init_openmodule(settings, sentry=False, dsgvo=False, database=False, catch_sigterm=False)

    def on_message(message: BenchMessage) -> None:
        """Counts bench messages."""
        tally(message.seq)

    core.messages.register_handler(TOPIC, BenchMessage, on_message)
    tally.finished.wait()
    shutdown_openmodule()


if __name__ == "__main__":
    main()
