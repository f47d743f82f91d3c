"""A registered message handler and how one message is delivered to it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter
from typing import Any

from openmodule_hookspecs import MessageFilter, ZMQMessage
from pydantic import BaseModel, ValidationError

from ..stats import PluginStats

__all__ = ["Listener", "message_type_of"]

_PYDANTIC_MODEL_VALIDATE = vars(BaseModel)["model_validate"].__func__  # the function under the classmethod


def _has_own_model_validate(message_class: type[ZMQMessage]) -> bool:
    """Whether the class overrides ``model_validate`` (then it must be called, not bypassed)."""
    return getattr(message_class.model_validate, "__func__", None) is not _PYDANTIC_MODEL_VALIDATE


def message_type_of(message_class: type[ZMQMessage]) -> str:
    """The ``type`` default of a message class: what ``match_type=True`` compares against."""
    field = message_class.model_fields.get("type")
    default = field.default if field is not None else None
    if not isinstance(default, str):
        raise TypeError(
            f"{message_class.__name__} has no default for its 'type' field, so it cannot be matched by "
            f"type: give it one (type: str = \"...\") or register with match_type=False"
        )
    return default


class Listener:
    """One ``register_handler`` call of one plugin.

    The intake thread checks ``topic`` and ``type`` (cheap, host code); everything that runs plugin code
    or may be slow (the filter, validation, the handler) runs in :meth:`deliver` on the plugin's worker.
    """

    __slots__ = (
        "custom_validate",
        "filter",
        "handler",
        "log",
        "message_class",
        "plugin",
        "service_name",
        "stats",
        "topic",
        "type",
    )

    def __init__(
        self,
        plugin: str,
        service_name: str,
        topic: str,
        message_class: type[ZMQMessage],
        handler: Callable[[Any], Any],
        filter_: MessageFilter | None,
        match_type: bool,
        stats: PluginStats,
        log: logging.Logger,
    ) -> None:
        if filter_ is not None and not callable(filter_):
            raise TypeError("filter_ must be a callable taking the raw message dict and returning a bool")
        self.plugin = plugin
        self.service_name = service_name
        self.topic = topic
        self.message_class = message_class
        self.custom_validate = _has_own_model_validate(message_class)
        self.handler = handler
        self.filter = filter_
        #: the required ``type`` value, or None to accept every type (an empty default accepts every type
        #: too, as in openmodule).
        self.type = (message_type_of(message_class) or None) if match_type else None
        self.stats = stats
        self.log = log

    def deliver(self, body: dict[str, Any]) -> None:
        """Filter, validate and handle one message; every failure is logged and counted, never raised."""
        stats = self.stats
        if self.filter is not None:
            try:
                if not self.filter(body):
                    return
            except Exception:
                stats.filter_errors += 1
                self.log.exception("plugin %s: message filter raised on topic %r", self.plugin, self.topic)
                return
        if "name" not in body:
            # openmodule fills in the receiver's own NAME when the sender left it out.
            body = {**body, "name": self.service_name}
        try:
            if self.custom_validate:
                message = self.message_class.model_validate(body)
            else:
                # What model_validate does, without its Python wrapper (0.5 us of a 2.7 us validation). Looked
                # up per message: pydantic replaces the validator when a model is rebuilt.
                message = self.message_class.__pydantic_validator__.validate_python(body)
        except ValidationError as error:
            stats.invalid += 1
            self.log.error(
                "plugin %s: invalid message on topic %r for %s: %s",
                self.plugin,
                self.topic,
                self.message_class.__name__,
                error,
            )
            return
        started = perf_counter()
        try:
            self.handler(message)
        except Exception:
            stats.handler_errors += 1
            self.log.exception("plugin %s: handler %r raised on topic %r", self.plugin, self.handler, self.topic)
        finally:
            stats.handled += 1
            stats.handler_seconds += perf_counter() - started
