"""Ticket validation providers (openmodule's ``utils/validation.py`` and ``models/validation.py``).

The controller asks every validation provider over RPC ``validation_provider``/``validate`` and names the one
it means in ``request.name``. A plugin subclasses :class:`Validation`, implements :meth:`~Validation.
validate_ticket` and calls :meth:`~Validation.register_rpcs` in its ``register_handlers`` hook::

    class ShopValidation(Validation):
        def validate_ticket(self, request: ValidateRequest) -> ValidateResponse:
            ...

    @hookimpl
    def register_handlers(self, core):
        ShopValidation(core).register_rpcs(core.rpc_server)

The handler is registered keyed on ``request.name`` (``register_named_handler``), so it answers only the
requests naming the plugin's NAME, and the host routes those straight to it: several providers, in one host
or not, share the channel. Cost entries the answer carries without a ``source`` get the plugin's service name
without its ``om_`` prefix and ``_N`` suffix (:func:`~openmodule_host.utils.clean_service_name`).
"""

from __future__ import annotations

import base64
import binascii
from enum import StrEnum
from typing import Annotated, Any

from openmodule_hookspecs import CommandCostEntryTypes, CostEntryData, OpenModuleModel, RPCRequest
from pydantic import AfterValidator

from .misc import clean_service_name

__all__ = [
    "Base64Payload",
    "CommandCostEntryTypes",
    "CostEntryData",
    "ValidateRequest",
    "ValidateRequestTicketType",
    "ValidateResponse",
    "ValidateResponseError",
    "ValidateResponseState",
    "Validation",
]


def _check_base64(data: str | bytes) -> str | bytes:
    try:
        base64.b64decode(data)
    except (binascii.Error, TypeError, ValueError):
        raise ValueError("must be a base64 string") from None
    return data


#: a payload that must decode as base64 (kept as given)
Base64Payload = Annotated[str | bytes, AfterValidator(_check_base64)]


class ValidateRequestTicketType(StrEnum):
    qr = "qr"
    nfc = "nfc"


class ValidateResponseState(StrEnum):
    ok = "ok"
    not_applicable = "not_applicable"


class ValidateResponseError(StrEnum):
    already_used = "already_used"  # valid, but used before and single-use
    invalid = "invalid"  # e.g. a wrong signature
    excluded = "excluded"  # valid but not usable here; say why in ``message``
    expired = "expired"  # expired, or not usable at this time
    unknown_error = "unknown_error"


class ValidateRequest(OpenModuleModel):
    name: str  # the validation provider asked (its NAME)
    session_id: str
    type: ValidateRequestTicketType
    payload: Base64Payload
    gate: str | None = None


class ValidateResponse(OpenModuleModel):
    state: ValidateResponseState
    error: ValidateResponseError | None = None
    cost_entries: list[CostEntryData] | None = None
    message: str | None = None


class Validation:
    """Template for a ticket validation provider on a plugin's core."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.log = core.log

    def register_rpcs(self, rpc_server: Any) -> None:
        """Serve ``validation_provider``/``validate`` for requests whose ``name`` is the plugin's NAME."""
        rpc_server.register_named_handler("validation_provider", "validate", ValidateRequest, ValidateResponse,
                                          self.rpc_validate_ticket)

    def validate_ticket(self, request: ValidateRequest) -> ValidateResponse:
        """Validate the ticket; a failed validation is a response with ``state`` ``not_applicable`` and an
        ``error``, not an exception."""
        raise NotImplementedError

    def rpc_validate_ticket(self, request: ValidateRequest, _message: RPCRequest) -> ValidateResponse:
        response = self.validate_ticket(request)
        if response.cost_entries:
            source = clean_service_name(self.core.name)
            for cost_entry in response.cost_entries:
                if cost_entry.source is None:
                    cost_entry.source = source
        return response
