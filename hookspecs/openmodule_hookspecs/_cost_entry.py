"""Cost entry commands (wire-protocol.md 5.14: a ticket validation's ``cost_entries``).

The project's own model of the settings-models ``CostEntryData`` openmodule 18.5.0 sends and reads, written
from its documented and observed behaviour (arivo-settings-models is GPL-3 and not a dependency). It accepts
and rejects what arivo-settings-models 2.7.2 does and dumps the same JSON (``tests/interop/
test_cost_entry_interop.py`` compares the two case by case), with one deliberate difference: input that makes
that model raise a plain Python exception (``AttributeError``/``TypeError``: a ``free_timerange`` value that is
not an object, an ``account_id`` that is ``null``, a list or an object) is a ``ValidationError`` here.

The rules, by ``entry_type``:

* ``static_cost``, ``pending_static_cost``, ``amount_validation``, ``time_validation``, ``payment``: ``value``
  must be an integer greater than 0 (``true`` counts as 1, ``2.0`` or ``"2"`` do not);
* ``rate_change``, ``rate_validation``, ``partial_rate_change``: ``value`` becomes the text of what was sent
  (Python's ``str``: a missing value is ``"None"``, ``5`` is ``"5"``);
* ``free_timerange``: ``value`` must be an object; it keeps ``entry_start`` and ``entry_end`` (datetimes or
  ``null``, missing ones ``null``) and drops every other key; a missing value is ``{}``;
* the others take any ``value`` of the field's type;
* ``group`` must be absent or ``null`` for ``cancel_remaining_costs`` and ``payoff_costs``, may be anything for
  ``payment``, and must be given (the empty string counts) for every other type.

``account_id`` is a string holding an integer from 0 to 3999 as Python's ``int`` reads it (so ``"007"``,
``" 7"``, ``"+7"`` and ``"1_000"`` pass); the string is kept as sent. Unknown keys are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

__all__ = ["CommandCostEntryTypes", "CostEntryData"]


class CommandCostEntryTypes(StrEnum):
    """What a cost entry command does to a parking session's costs."""

    static_cost = "static_cost"
    pending_static_cost = "pending_static_cost"
    rate_change = "rate_change"
    rate_validation = "rate_validation"
    partial_rate_change = "partial_rate_change"
    amount_validation = "amount_validation"
    time_validation = "time_validation"
    payment = "payment"
    cost_validation = "cost_validation"
    disable_costs = "disable_costs"
    cancel_remaining_costs = "cancel_remaining_costs"
    payoff_costs = "payoff_costs"
    free_timerange = "free_timerange"


_Type = CommandCostEntryTypes
_POSITIVE_INTEGER_VALUE = frozenset({_Type.static_cost, _Type.pending_static_cost, _Type.amount_validation,
                                     _Type.time_validation, _Type.payment})
_TEXT_VALUE = frozenset({_Type.rate_change, _Type.rate_validation, _Type.partial_rate_change})
_WITHOUT_GROUP = frozenset({_Type.cancel_remaining_costs, _Type.payoff_costs})
_ANY_GROUP = frozenset({_Type.payment})
_TIMERANGE_KEYS = ("entry_start", "entry_end")
_ACCOUNT_IDS = range(4000)


def _entry_type(raw: object) -> CommandCostEntryTypes | None:
    """The entry type sent, or None for anything else (which pydantic then refuses as not a member)."""
    if isinstance(raw, str):
        try:
            return CommandCostEntryTypes(raw)
        except ValueError:
            return None
    return None


def _checked_value(entry_type: CommandCostEntryTypes | None, data: Mapping[str, Any]) -> tuple[bool, Any]:
    """(whether the value is replaced, the replacement); raises ValueError for a value the type forbids."""
    if entry_type in _TEXT_VALUE:
        return True, str(data.get("value"))
    if entry_type in _POSITIVE_INTEGER_VALUE:
        value = data.get("value")
        if not (isinstance(value, int) and value > 0):
            raise ValueError(f"a {entry_type} entry's value must be an integer greater than 0")
        return False, None
    if entry_type is CommandCostEntryTypes.free_timerange:
        value = data.get("value", {})
        if not isinstance(value, Mapping):
            raise ValueError("a free_timerange entry's value must be an object with entry_start and entry_end")
        return True, {key: value.get(key) for key in _TIMERANGE_KEYS}
    return False, None


def _check_group(entry_type: CommandCostEntryTypes | None, group: object) -> None:
    if entry_type in _ANY_GROUP:
        return
    if entry_type in _WITHOUT_GROUP:
        if group is not None:
            raise ValueError(f"a {entry_type} entry applies to every cost group: group must not be set")
    elif group is None:
        raise ValueError("group must be set for this entry_type")


class CostEntryData(BaseModel):
    """A cost entry command, e.g. what a validated ticket adds to the parking session (see the module's rules).

    A plain pydantic model as settings-models' is: ``model_dump()`` includes the ``None`` fields; inside an
    :class:`~openmodule_hookspecs.OpenModuleModel` (``ValidateResponse``) they are left out on the wire.
    """

    entry_type: CommandCostEntryTypes = Field(description="what the command does")
    value: int | str | dict[str, datetime | None] | None = Field(
        default=None, description="an int, a str, the free time range or None, depending on entry_type")
    group: str | None = Field(default=None, description="the cost group it applies to; None for every group")
    account_id: str = Field(description="the account the booked cost entry goes to: an integer 0-3999 as a string")
    source: str | None = Field(default=None, description="who made the entry, usually the service name")
    source_id: str | None = Field(default=None, description="the entry's id in its source service")
    idempotency_key: str | None = Field(default=None, description="legacy idempotency key")

    @model_validator(mode="before")
    @classmethod
    def _apply_entry_type_rules(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data  # pydantic refuses it as not an object (or takes a model instance as it is)
        entry_type = _entry_type(data.get("entry_type"))
        replace, value = _checked_value(entry_type, data)
        _check_group(entry_type, data.get("group"))
        if not replace:
            return data
        return {**data, "value": value}  # a copy: the caller's dict stays as it was

    @field_validator("account_id", mode="before")
    @classmethod
    def _check_account_id(cls, value: Any) -> Any:
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError):
            raise ValueError("account_id must be an integer written as a string") from None
        if number not in _ACCOUNT_IDS:
            raise ValueError('account_id must be between "0" and "3999"')
        return value
