"""The RPC filters the intake applies itself: openmodule's ``gateway_filter``, on a request as sent.

A filter a plugin adds with ``core.rpc_server.add_filter`` is plugin code and runs on the plugin's worker.
A :class:`~openmodule_hookspecs.GatewayFilter` (what ``gateway_filter(gate, direction)`` returns) is host code
holding data, and its outcome on the validated request can be read off the request as sent: when the request
model's ``gateway`` field is the contract's :class:`~openmodule_hookspecs.Gateway` as such (no alias, no
validator that could change it, no default gateway; see :func:`intake_gates`), a valid request's
``request.gateway.gate`` is the ``gate`` sent (``""`` when none is) and its ``.direction`` the ``direction``
sent (a ``str`` enum equal to it). So the filter passes the validated request exactly when it passes the
``gateway`` object as sent (:class:`GateIndex`). An invalid request is not decided here: the router still
brings it to a plugin, whose worker answers ``validation_error`` (see :class:`~.routing.RPCRouter`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any, Generic, TypeVar

from openmodule_hookspecs import Gateway, GatewayFilter
from pydantic import BaseModel

from ..wire.listener import has_own_model_validate

__all__ = ["GateIndex", "intake_gates"]

T = TypeVar("T")


def intake_gates(request_class: type[BaseModel], filters: Sequence[object]) -> tuple[GatewayFilter, ...] | None:
    """``filters`` (those of one plugin that apply to one (channel, type)), when the intake can apply them
    itself: at least one, each a :class:`GatewayFilter` of a ``str`` (or no) gate and direction, on a request
    model whose ``gateway`` is as sent. None: the plugin's worker decides (every request is brought to it)."""
    if not filters or not _gateway_as_sent(request_class):
        return None
    gates = []
    for entry in filters:
        if type(entry) is not GatewayFilter or not all(
                value is None or isinstance(value, str) for value in (entry.gate, entry.direction)):
            return None
        gates.append(entry)
    return tuple(gates)


def _gateway_as_sent(request_class: type[BaseModel]) -> bool:
    """Whether a valid request's ``gateway`` is the contract's Gateway built from the ``gateway`` sent (or None
    when none is sent): nothing in the model can change or default it."""
    field = request_class.model_fields.get("gateway")
    if field is None or field.annotation not in (Gateway, Gateway | None):
        return False
    if field.alias is not None or field.validation_alias is not None or field.metadata:
        return False
    if not (field.is_required() or (field.default is None and field.default_factory is None)):
        return False
    decorators = request_class.__pydantic_decorators__
    if decorators.model_validators or decorators.root_validators:
        return False
    if any({"gateway", "*"} & set(validator.info.fields) for validator in decorators.field_validators.values()):
        return False
    if any({"gateway", "*"} & set(validator.info.fields) for validator in decorators.validators.values()):
        return False
    return request_class.__pydantic_post_init__ is None and not has_own_model_validate(request_class)


class GateIndex(Generic[T]):
    """Which targets' gateway filters pass a request's ``gateway`` object as sent (a target passes when any of
    its filters does, as openmodule's rule for several filters has it)."""

    __slots__ = ("_any_gate", "_by_gate")

    def __init__(self, entries: Iterable[tuple[T, Iterable[GatewayFilter]]]) -> None:
        #: (target, direction or None) by the filter's gate; ``_any_gate``: the filters without one.
        self._by_gate: dict[str, list[tuple[T, str | None]]] = {}
        self._any_gate: list[tuple[T, str | None]] = []
        for target, filters in entries:
            for entry in filters:
                wanted = (target, entry.direction or None)
                if entry.gate:
                    self._by_gate.setdefault(entry.gate, []).append(wanted)
                else:
                    self._any_gate.append(wanted)

    def passing(self, gateway: dict[str, Any]) -> list[T]:
        gate, direction = gateway.get("gate"), gateway.get("direction")
        same_gate = self._by_gate.get(gate, ()) if isinstance(gate, str) else ()
        passed: list[T] = []
        for target, wanted in chain(same_gate, self._any_gate) if self._any_gate else same_gate:
            if (wanted is None or wanted == direction) and target not in passed:
                passed.append(target)
        return passed
