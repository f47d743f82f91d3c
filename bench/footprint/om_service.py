"""An idle openmodule 18.5.0 service: ``init_openmodule``, one message handler and one RPC.

Runs only under ``.venv-openmodule/bin/python`` (openmodule is GPLv2: nothing in ``openmodule_host`` or
``.venv`` imports it). Sentry, dsgvo and the database are off; logging at WARNING.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import types

from ..protocol import emit
from . import TOPIC


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sub", required=True)
    parser.add_argument("--pub", required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    os.environ.update(BROKER_SUB=args.sub, BROKER_PUB=args.pub)
    from openmodule.config import settings

    settings.configure(types.SimpleNamespace(
        NAME=args.name, VERSION="bench", RESOURCE="bench", DEBUG=False, TESTING=False, LOG_LEVEL=logging.WARNING,
        BROKER_SUB=args.sub, BROKER_PUB=args.pub,
    ))
    from openmodule.core import init_openmodule, shutdown_openmodule
    from openmodule.models.base import OpenModuleModel, ZMQMessage
    from openmodule.rpc import RPCServer

    class Note(ZMQMessage):
        type: str = "note"
        text: str = ""

    class Empty(OpenModuleModel):
        pass

    core = init_openmodule(settings, sentry=False, dsgvo=False, database=False, catch_sigterm=False)
    core.messages.register_handler(TOPIC, Note, lambda message: None)
    server = RPCServer(core.context)
    server.register_handler(f"footprint_{args.name}", "ping", Empty, Empty, lambda request, message: None)
    server.run_as_thread()
    emit("ready")
    sys.stdin.read()
    server.shutdown()
    shutdown_openmodule()


if __name__ == "__main__":
    main()
