"""The wire models of om_welcome (the service's ``models.py``; only the import line changed)."""

from openmodule_hookspecs import OpenModuleModel, ZMQMessage


class GreetRequest(OpenModuleModel):
    """RPC ``welcome``/``greet``: the greeting for ``plate`` at ``gate``; only that gate's service answers."""

    gate: str
    plate: str | None = None


class GreetResponse(OpenModuleModel):
    gate: str
    text: str
    known: bool = False


class LookupRequest(OpenModuleModel):
    """RPC ``<lookup_channel>``/``lookup``, served by another service: is the plate known?"""

    plate: str


class LookupResponse(OpenModuleModel):
    known: bool = False
    owner: str | None = None


class DisplayMessage(ZMQMessage):
    """Topic ``display``: the text the display at ``gate`` shows."""

    type: str = "text"
    gate: str
    text: str
