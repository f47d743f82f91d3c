"""What the openmodule 18.5.0 server and client share: settings, start-up and the models.

Runs only under ``.venv-openmodule/bin/python`` (openmodule is GPLv2: nothing in ``openmodule_host`` or
``.venv`` imports it). Sentry, dsgvo and the database are off; logging is on at WARNING, as a production
service logs.
"""

from __future__ import annotations

import logging
import os
import types
from typing import Any


def start_openmodule(name: str, broker_sub: str, broker_pub: str) -> Any:
    """Configure openmodule's settings for the bench broker and return ``init_openmodule``'s core."""
    os.environ.update(BROKER_SUB=broker_sub, BROKER_PUB=broker_pub)
    # openmodule reads its settings lazily from a config module; give it one before anything touches them.
    from openmodule.config import settings

    settings.configure(
        types.SimpleNamespace(
            NAME=name,
            VERSION="bench",
            RESOURCE="bench",
            DEBUG=False,
            TESTING=False,
            LOG_LEVEL=logging.WARNING,
            BROKER_SUB=broker_sub,
            BROKER_PUB=broker_pub,
        )
    )
    from openmodule.core import init_openmodule

    return init_openmodule(settings, sentry=False, dsgvo=False, database=False, catch_sigterm=False)


def echo_models() -> tuple[type[Any], type[Any]]:
    """``(EchoRequest, EchoResponse)`` as openmodule models (importable only after the settings exist)."""
    from openmodule.models.base import OpenModuleModel

    class EchoRequest(OpenModuleModel):
        seq: int
        text: str

    class EchoResponse(OpenModuleModel):
        seq: int
        text: str

    return EchoRequest, EchoResponse
