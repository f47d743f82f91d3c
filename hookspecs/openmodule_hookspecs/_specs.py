"""Hook specifications: what a plugin may implement (with ``@hookimpl``).

Every hook receives the plugin's own core as ``core``. A plugin implements only the hooks it needs,
but at least one; the host calls each plugin's hooks separately, so one plugin's exception or hang is
recorded against that plugin alone.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from pydantic import BaseModel

from ._access import AccessCheckAccess, AccessCheckRequest, AccessCheckResponse, CountMessage
from ._backend import (
    Access,
    AccessRequest,
    AccessResponse,
    SessionErrorMessage,
    SessionFinishMessage,
    SessionStartMessage,
)
from ._core import PluginCore
from ._health import HealthResult
from ._markers import hookspec
from ._privacy import AnonymizeMessage

__all__ = [
    "access_protocols",
    "anonymize",
    "check_access",
    "check_backend_access",
    "check_in",
    "check_in_session",
    "check_out",
    "check_out_session",
    "config_model",
    "database_migrations",
    "health",
    "register_handlers",
    "session_error",
    "shutdown",
]


@hookspec(firstresult=True)
def config_model() -> type[BaseModel] | None:
    """Return a pydantic model for the plugin's own settings (its ``[plugins.<name>]`` table).

    Called before the core is built; the host validates the table against it and refuses to start the
    plugin with a clear error when a setting is missing or has the wrong type.
    """


@hookspec(firstresult=True)
def database_migrations() -> str | os.PathLike[str] | None:
    """Return the folder of the plugin's Alembic revision files (a ``str`` or ``Path``), or None. An
    openmodule service's database folder (with ``alembic.ini`` and ``alembic/versions/``) works as it is.

    The host upgrades the plugin's database to the newest revision at start, before
    ``register_handlers``, in a child process with a timeout; a failing migration fails this plugin only
    and leaves its database at the previous revision.
    """


@hookspec
def register_handlers(core: PluginCore) -> None:
    """Called once at start, in the plugin's worker: register message handlers, RPCs and metrics."""


@hookspec
def shutdown(core: PluginCore) -> None:
    """Called once at stop, in reverse load order, with a per-plugin timeout."""


@hookspec(firstresult=True)
def health(core: PluginCore) -> HealthResult | None:
    """Return the plugin's health: :func:`~openmodule_hookspecs.health_ok` or
    :func:`~openmodule_hookspecs.health_error` (``None``: ok); called with a timeout."""


@hookspec(firstresult=True)
def check_access(
    core: PluginCore, request: AccessCheckRequest
) -> list[AccessCheckAccess] | AccessCheckResponse | None:
    """Answer an access check: RPC ``access_service``/``auth`` whose ``request.name`` is this plugin's NAME.

    ``request`` is an :class:`~openmodule_hookspecs.AccessCheckRequest`. Return a list of
    ``AccessCheckAccess`` (``success: true``), ``None`` (no accesses) or an ``AccessCheckResponse``; an
    exception answers ``success: false``. Called on the plugin's worker. Unless the plugin implements
    ``check_backend_access`` or opts out (``access_protocols``), it answers the legacy ``backend``/``auth``
    too, its request and answer converted (docs/writing-plugins.md, "Legacy backends").
    """


@hookspec(firstresult=True)
def check_backend_access(
    core: PluginCore, request: AccessRequest
) -> list[Access] | AccessResponse | None:
    """Answer a legacy access check: RPC ``backend``/``auth`` (openmodule 10.x) whose ``request.name`` is this
    plugin's NAME.

    ``request`` is an :class:`~openmodule_hookspecs.AccessRequest` (one medium). Return a list of V2
    :class:`~openmodule_hookspecs.Access` (``success: true``), ``None`` (no accesses) or an ``AccessResponse``;
    an exception answers ``success: false``. Unless the plugin implements ``check_access`` or opts out, it
    answers ``access_service``/``auth`` too, once per medium of the request, converted.
    """


@hookspec(firstresult=True)
def access_protocols(core: PluginCore) -> Collection[str] | None:
    """The access protocols this plugin's access hooks answer: a collection of ``"access_service"``
    (RPC ``access_service``/``auth``, openmodule 18.x) and ``"backend"`` (RPC ``backend``/``auth`` with
    registration on topic ``backend``, openmodule 10.x). Not implemented or ``None``: both. Called once at
    start, after ``register_handlers``; anything else fails the plugin's start."""


@hookspec
def anonymize(core: PluginCore, message: AnonymizeMessage) -> None:
    """Delete personal data for ``message.vehicle_ids`` (and ``message.session_id``).

    Called on the plugin's worker for every ``anonymize`` message on the ``privacy`` topic
    (an ``AnonymizeMessage``). Implementing it is how a plugin opts in.
    """


@hookspec
def check_in(core: PluginCore, message: CountMessage) -> None:
    """A vehicle checked in: a legacy ``count`` message (a :class:`~openmodule_hookspecs.CountMessage`) whose
    gateway direction is ``in``. Called on the plugin's worker."""


@hookspec
def check_out(core: PluginCore, message: CountMessage) -> None:
    """A vehicle checked out: a legacy ``count`` message with any other gateway direction."""


@hookspec
def check_in_session(core: PluginCore, message: SessionStartMessage) -> None:
    """A parking session started: a ``session`` message of type ``start`` (a
    :class:`~openmodule_hookspecs.SessionStartMessage`, openmodule 10.x). Called on the plugin's worker."""


@hookspec
def check_out_session(core: PluginCore, message: SessionFinishMessage) -> None:
    """A parking session finished: a ``session`` message of type ``finish`` (a
    :class:`~openmodule_hookspecs.SessionFinishMessage`)."""


@hookspec
def session_error(core: PluginCore, message: SessionErrorMessage) -> None:
    """A session went wrong: a ``session`` message of type ``delete``, ``exit_without_entry`` or
    ``incomplete`` (a :data:`~openmodule_hookspecs.SessionErrorMessage`)."""
