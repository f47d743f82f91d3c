"""The core a plugin is handed: the typed surface plugins annotate against.

The host builds one core per plugin (there is no process-global ``core()``); everything a plugin uses
comes through it. These are ``Protocol`` classes so that plugin code type-checks against the contract
package alone, without importing the host.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from ._alerts import AlertHandleType, AlertStatus
from ._connection import BridgeStatus, ConnectionRPCResponse, ConnectionStatus
from ._events import EventListener
from ._health import HealthCheckState, HealthMetricType
from ._models import ZMQMessage
from ._rpc import (
    RPCCancelError,
    RPCError,
    RPCRequest,
    RPCServerError,
    RPCTimeoutError,
    RPCValidationError,
    ServerFilterError,
    ServerHandlerError,
    ServerUnknownError,
    ServerValidationError,
)

__all__ = [
    "Alerts",
    "ConnectionListener",
    "Database",
    "Health",
    "MessageFilter",
    "Messages",
    "PluginConfig",
    "PluginCore",
    "RPCClient",
    "RPCEntry",
    "RPCFilter",
    "RPCHandler",
    "RPCServer",
    "Scheduler",
    "Subscription",
]

M = TypeVar("M", bound=ZMQMessage)
Req = TypeVar("Req", bound=BaseModel)
Res = TypeVar("Res", bound=BaseModel)

#: An RPC handler: ``handler(request_model, request_envelope)`` returns a response model, a dict or None.
RPCHandler = Callable[[Any, RPCRequest], Any]
#: An RPC filter: ``filter(request_model, request_envelope, handler)`` returns whether to serve the call.
RPCFilter = Callable[[Any, RPCRequest, Any], bool]

#: A message filter sees the raw decoded body (a dict) before validation and returns whether to deliver.
MessageFilter = Callable[[dict[str, Any]], bool]


@runtime_checkable
class Subscription(Protocol):
    """What ``register_handler`` returns; hand it to ``unregister_handler`` to stop receiving."""

    topic: str


class Messages(Protocol):
    """Message dispatch for one plugin (openmodule's ``core.messages``)."""

    def register_handler(
        self,
        topic: str,
        message_class: type[M],
        handler: Callable[[M], Any],
        *,
        filter_: MessageFilter | Mapping[str, Any] | None = None,
        match_type: bool = True,
        filter: MessageFilter | Mapping[str, Any] | None = None,
    ) -> Subscription:
        """Call ``handler`` with each message on ``topic`` (exact match) that passes the type match
        (``message_class``'s default ``type``; skipped with ``match_type=False``) and ``filter_``: a callable
        given the raw message dict, or a dict of field values the message must have. ``filter`` is another
        name for the same argument (passing both raises ``TypeError``).

        Handlers run in the plugin's own worker, in arrival order.
        """
        ...

    def unregister_handler(self, subscription: Subscription) -> None:
        """Stop delivering to a handler; the topic is unsubscribed when no handler needs it."""
        ...


class RPCServer(Protocol):
    """RPCs this plugin serves (openmodule's ``RPCServer``), on the host's one shared server."""

    def register_handler(
        self,
        channel: str,
        type: str,
        request_class: type[Req],
        response_class: type[Res],
        handler: Callable[[Req, RPCRequest], Res | dict[str, Any] | None],
        *,
        key: str | None = None,
        value: str | None = None,
    ) -> None:
        """Serve ``type`` on ``channel``; the handler runs on the plugin's worker. Any number of plugins
        may serve one (channel, type): each whose key, resource and filters pass answers a request. With
        ``key`` (a field of ``request_class``) the plugin serves only requests whose ``request.<key>`` is
        ``value`` (default: its NAME), and a host routes such requests straight to that plugin. A plugin
        registering the same (channel, type) twice gets ``ValueError``."""
        ...

    def register_named_handler(
        self,
        channel: str,
        type: str,
        request_class: type[Req],
        response_class: type[Res],
        handler: Callable[[Req, RPCRequest], Res | dict[str, Any] | None],
    ) -> None:
        """``register_handler(..., key="name")``: serve ``type`` on ``channel`` for requests whose
        ``request.name`` is this plugin's NAME (as access services do)."""
        ...

    def add_filter(self, filter: RPCFilter, channel: str | None = None, type: str | None = None) -> None:
        """Add a filter for this plugin's RPCs (all, one channel's, one type's). When filters apply and
        none passes, the call gets no reply; a filter that raises gives a ``filter_error`` reply."""
        ...


class RPCEntry(Protocol):
    """A call in flight (``rpc_non_blocking``)."""

    def result(
        self, response_class: type[Res] | None = None, timeout: float | None = None, *,
        response_type: type[Res] | None = None,
    ) -> Res:
        """Wait for the reply as ``response_class`` (``response_type``: openmodule's name for it)."""
        ...

    def done(self) -> bool: ...

    def cancel(self) -> None: ...


class RPCClient(Protocol):
    """Calls RPCs as this plugin (openmodule's ``core.rpc_client``); errors keep openmodule's names."""

    Exception: type[RPCError]
    TimeoutError: type[RPCTimeoutError]
    CancelError: type[RPCCancelError]
    ValidationError: type[RPCValidationError]
    ServerHandlerError: type[ServerHandlerError]
    ServerValidationError: type[ServerValidationError]
    ServerFilterError: type[ServerFilterError]
    RPCServerError: type[RPCServerError]
    ServerUnknownError: type[ServerUnknownError]

    def rpc(
        self,
        channel: str,
        type: str,
        request: BaseModel | dict[str, Any],
        response_class: type[Res] | None = None,
        timeout: float | None = None,
        *,
        response_type: type[Res] | None = None,
    ) -> Res:
        """Call and wait for the reply (default timeout 3 s) as ``response_class`` (``response_type``:
        openmodule's name for it; passing both raises ``TypeError``)."""
        ...

    def rpc_non_blocking(
        self, channel: str, type: str, request: BaseModel | dict[str, Any], timeout: float | None = None
    ) -> RPCEntry:
        """Send the call and return at once; read the reply with ``entry.result(response_class)``."""
        ...


class Database(Protocol):
    """``core.database``: the plugin's own database (SQLAlchemy 2)."""

    def __call__(self, expire_on_commit: bool = False) -> AbstractContextManager[Any]:
        """``with core.database() as session:`` a SQLAlchemy ``Session`` that commits when the block ends
        normally and rolls back when it raises."""
        ...

    def __enter__(self) -> Any:
        """``with core.database as session:``: the same as ``with core.database() as session:``."""
        ...

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None: ...

    def flush(self, objects: Any = None) -> None:
        """Flush the innermost session the calling thread has open in a ``with core.database`` block."""
        ...

    @property
    def engine(self) -> Any:
        """The plugin's SQLAlchemy ``Engine``."""
        ...


class PluginConfig(Protocol):
    """A plugin's configuration: openmodule's standard names plus the plugin's own settings.

    Settings from the plugin's ``[plugins.<name>]`` table and its ``<NAME>__<KEY>`` environment variables
    are readable as attributes (``core.config.greeting``) and through :attr:`settings`: the validated settings
    model when the plugin declares one (``config_model`` hook), else a plain dict.
    """

    NAME: str
    VERSION: str
    RESOURCE: str
    DEBUG: bool
    TESTING: bool
    LOG_LEVEL: str
    COMPUTE_ID: int
    PARENT: str | None
    TIMEZONE: str
    CURRENCY: str
    LANGUAGE: str
    LOCALE_DIR: str
    DEV_DEVICE: bool
    DAEMON: bool
    DIST_FOLDER: str
    DATABOX_UPLOAD_DIR: str
    DATABASE_FOLDER: str
    BROKER_SUB: str
    BROKER_PUB: str

    @property
    def settings(self) -> Any: ...

    def __getattr__(self, name: str) -> Any: ...


class Health(Protocol):
    """``core.health``: the plugin's health checks and metrics, as openmodule's ``HealthHandler``.

    ``parent=True`` files a check or metric under the plugin's PARENT instead of its NAME, ``package`` under
    another package; a check's ``message`` is kept only while it fails. Misuse (an unknown metric, wrong
    labels, a count decreased, a gauge set to text) raises ``ValueError`` under DEBUG/TESTING and is logged
    otherwise, as in openmodule.
    """

    def add_check(self, check_id: str, name: str, description: str | None = None, *, parent: bool = False,
                  package: str | None = None) -> None: ...

    def add_check_template(self, check_id: str, name: str, description: str | None = None) -> None: ...

    def update_template_packages(self, check_id: str, packages: list[str] | set[str]) -> None:
        """Keep one check from the template ``check_id`` for each of ``packages`` (and no others)."""
        ...

    def remove_check(self, check_id: str, *, parent: bool = False, package: str | None = None) -> None: ...

    def set_check_state(self, check_id: str, state: HealthCheckState, *, parent: bool = False,
                        package: str | None = None, message: str | None = None) -> None: ...

    def check_fail(self, check_id: str, *, parent: bool = False, package: str | None = None,
                   message: str | None = None) -> None: ...

    def check_success(self, check_id: str, *, parent: bool = False, package: str | None = None,
                      message: str | None = None) -> None: ...

    def add_metric(self, metric_id: str, metric_type: HealthMetricType | str, name: str, description: str, *,
                   labels: list[str] | None = None, parent: bool = False, package: str | None = None) -> None: ...

    def remove_metric(self, metric_id: str, *, parent: bool = False, package: str | None = None) -> None: ...

    def metric_inc(self, metric_id: str, amount: int | float = 1, *, parent: bool = False,
                   package: str | None = None, **labels: Any) -> None: ...

    def metric_dec(self, metric_id: str, amount: int | float = 1, *, parent: bool = False,
                   package: str | None = None, **labels: Any) -> None: ...

    def metric_set(self, metric_id: str, value: int | float | str | None, *, parent: bool = False,
                   package: str | None = None, **labels: Any) -> None:
        """Set a gauge or str metric; ``None`` removes that label set."""
        ...

    def metric_clear(self, metric_id: str, *, parent: bool = False, package: str | None = None,
                     values_to_keep: list[dict[str, Any]] | None = None) -> None: ...


class Alerts(Protocol):
    """``core.alerts``: openmodule's ``AlertHandler`` for one plugin. An alert is published on ``alert`` only
    when its status differs from the last one sent (the first always goes out), unless ``always_send_alert``."""

    def get_or_add_alert_id(self, alert_type: str, handle_type: AlertHandleType | str, *,
                            package_name: str | None = None, version: str | None = None,
                            always_send_alert: bool | None = None, source: str = "") -> int:
        """The id of the alert (source, alert_type, handle_type, package), created on first use."""
        ...

    def has_alert(self, alert_type: str, handle_type: AlertHandleType | str, *, package_name: str | None = None,
                  source: str = "") -> bool: ...

    def send_with_alert_id(self, alert_id: int, status: AlertStatus | str, meta: dict[str, Any] | None = None,
                           value: float | None = None) -> bool:
        """Send ``status`` for the alert; returns whether a message was published."""
        ...

    def send(self, alert_type: str, handle_type: AlertHandleType | str, *, package_name: str | None = None,
             version: str | None = None, always_send_alert: bool | None = None,
             status: AlertStatus | str = AlertStatus.error, meta: dict[str, Any] | None = None,
             value: float | None = None, source: str = "") -> bool:
        """Define (or find) the alert and send ``status`` for it in one call."""
        ...


class ConnectionListener(Protocol):
    """``core.connection_listener``: the site's connection status, as openmodule's ``ConnectionStatusListener``.

    ``on_connect`` / ``on_disconnect`` callbacks run on the plugin's worker with the new status.
    """

    on_connect: EventListener
    on_disconnect: EventListener

    def get(self) -> ConnectionStatus: ...

    def get_bridge(self) -> BridgeStatus | None: ...

    def get_current_status(self) -> ConnectionRPCResponse: ...

    @property
    def previous(self) -> ConnectionStatus: ...

    @property
    def previous_bridge(self) -> BridgeStatus | None: ...

    @property
    def last_changed_time(self) -> float: ...

    def check_timeout(self) -> None: ...

    def wait_for_change(self, timeout: float | None = None) -> bool:
        """True when the status changed within ``timeout``."""
        ...

    def changed(self, consumer: str) -> bool:
        """Whether the status changed since ``consumer`` last asked (True on a consumer's first question)."""
        ...


class Scheduler(Protocol):
    """``core.scheduler``: the ``schedule`` library's ``Scheduler`` API for the plugin's jobs (the jobs are
    ``schedule.Job`` objects: ``every(5).seconds.do(fn)``, ``every().day.at("02:00")``)."""

    def every(self, interval: float = 1) -> Any: ...

    def cancel_job(self, job: Any) -> None: ...

    def clear(self, tag: Hashable | None = None) -> None: ...

    def get_jobs(self, tag: Hashable | None = None) -> list[Any]: ...


class PluginCore(Protocol):
    """Everything the host gives one plugin."""

    @property
    def name(self) -> str:
        """The plugin's service NAME on the wire (the entry point name unless configured)."""
        ...

    @property
    def plugin(self) -> str:
        """The plugin's instance name in the host (the entry point's name unless its table names another)."""
        ...

    @property
    def config(self) -> PluginConfig: ...

    @property
    def log(self) -> logging.Logger:
        """A logger named after the plugin."""
        ...

    @property
    def messages(self) -> Messages: ...

    @property
    def rpc_server(self) -> RPCServer: ...

    @property
    def rpc_client(self) -> RPCClient: ...

    @property
    def health(self) -> Health: ...

    @property
    def alerts(self) -> Alerts: ...

    @property
    def connection_listener(self) -> ConnectionListener: ...

    @property
    def database(self) -> Database: ...

    @property
    def scheduler(self) -> Scheduler:
        """The plugin's jobs, with the ``schedule`` library's ``Scheduler`` API
        (``core.scheduler.every(5).seconds.do(fn)``, ``.every().day.at("02:00")`` in the plugin's TIMEZONE).
        Jobs run on the plugin's worker and stop with the plugin."""
        ...

    def every(self, seconds: float, job: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``job(*args, **kwargs)`` every ``seconds`` on the plugin's worker; returns the job."""
        ...

    def publish(self, message: ZMQMessage, topic: str) -> None:
        """Send ``message`` on ``topic`` with ``name`` set to this plugin's NAME. Safe from any thread.

        A host may bound how fast one plugin publishes (openmodule-host: a publish budget per plugin):
        over it, this waits briefly in the calling thread, or drops the message (counted and logged by
        the host, never raised), as ZeroMQ drops a message its full queue cannot take."""
        ...
