"""Sentry for the host (sentry-sdk): one client per host, every event tagged with the plugin it came from,
and traces continued from and into the ``sentry-trace``/``baggage`` fields of the wire envelope.

Off unless a DSN is configured (``sentry_dsn`` in ``[host]`` or env ``SENTRY_DSN``). The host decides once,
at start, whether sentry is on; with it off, nothing here runs per message (no field is added to outgoing
messages, incoming trace fields are ignored).

With it on:

* each plugin's worker thread runs in its own isolation scope, tagged once when the worker starts with
  ``plugin``, ``plugin_version`` and ``name`` (the plugin's NAME). Everything the plugin runs there (message
  and RPC handlers, filters, hooks) and every ERROR log record it writes (sentry's logging integration) is
  reported with those tags;
* each message (except on ``io``, as openmodule) and each RPC request a plugin handles runs in a transaction
  of its own, continuing the sender's trace when the message carries ``sentry-trace`` (and ``baggage``);
* what a plugin sends inside such a transaction (``core.publish``, RPC requests, RPC replies) carries
  ``sentry-trace``, and ``baggage`` when the span is sampled (as openmodule).

sentry-sdk (about 7 MiB) is imported by the functions here that use it, which run only with sentry on: a
host without a DSN never loads it.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from ..config import HostConfig, env_bool, env_string
from ..version import __version__
from .logs import mask_secrets

__all__ = [
    "IGNORED_TOPICS",
    "SHUTDOWN_TIMEOUT",
    "add_trace_headers",
    "close_sentry",
    "continued_trace",
    "default_environment",
    "init_sentry",
    "plugin_scope",
    "plugin_tags",
    "tagged",
    "with_tags",
]

log = logging.getLogger("openmodule_host.sentry")

T = TypeVar("T")

#: messages on these topics start no transaction (openmodule's default: ``io`` is too frequent).
IGNORED_TOPICS = frozenset({"io"})

#: sentry's own ``shutdown_timeout``: the longest :func:`close_sentry` waits to send what is queued.
SHUTDOWN_TIMEOUT = 2.0
_ORIGIN = "auto.zmq"
_TRACE_FIELDS = ("sentry-trace", "baggage")

#: the client this module initialised (and so closes), if any.
_owned_client: Any = None
#: sentry-sdk's own logger: it makes a DEBUG record per transaction and drops it unless ``debug`` is on.
_sdk_log = logging.getLogger("sentry_sdk.errors")
_sdk_log_level: int | None = None


def default_environment(env: Mapping[str, str] | None = None) -> str:
    """openmodule's rule: ``staging`` on a development device, else ``production``.

    A development device: ``DEVICE_HOST`` contains ``test``; without ``DEVICE_HOST``, ``DEBUG`` or ``TESTING``.
    """
    env = os.environ if env is None else env
    if "DEVICE_HOST" in env:
        dev_device = "test" in env_string(env, "DEVICE_HOST")
    else:
        dev_device = env_bool(env, "DEBUG") or env_bool(env, "TESTING")
    return "staging" if dev_device else "production"


def init_sentry(
    config: HostConfig, options: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> bool:
    """Initialise the process's sentry client from the host config (a DSN must be configured).

    ``options`` are further ``sentry_sdk.init`` arguments (e.g. ``transport``, ``before_send``) and take
    precedence. Returns whether this call initialised the client: when one is already active in the
    process, the host uses it as it is (there is one client per process) and must not close it.
    """
    import sentry_sdk

    if config.sentry_dsn is None:
        raise ValueError("sentry needs a DSN (sentry_dsn / SENTRY_DSN)")
    global _owned_client, _sdk_log_level
    env = os.environ if env is None else env
    if sentry_sdk.is_initialized():
        log.warning("sentry is already initialised in this process: the host uses that client as it is")
        return False
    settings: dict[str, Any] = {
        "dsn": config.sentry_dsn.get_secret_value(),
        "release": f"openmodule-host@{__version__}",
        "environment": config.sentry_environment or default_environment(env),
        "server_name": env_string(env, "AUTH_RESOURCE") or socket.gethostname(),
        "traces_sample_rate": config.sentry_traces_sample_rate,
        "shutdown_timeout": SHUTDOWN_TIMEOUT,
    }
    settings.update(options or {})
    sentry_sdk.init(**settings)
    _owned_client = sentry_sdk.get_client()
    if not settings.get("debug"):
        # Records sentry would drop anyway, no longer made: about a third of the cost of a transaction.
        _sdk_log_level = _sdk_log.level
        _sdk_log.setLevel(logging.WARNING)
    # Never the DSN itself: its key is masked (the log formatters mask it too).
    log.info(
        "sentry on: %s, release %s, environment %s, traces sample rate %s",
        mask_secrets(settings["dsn"]), settings["release"], settings["environment"], settings["traces_sample_rate"],
    )
    return True


def close_sentry() -> None:
    """Send what is queued (at most ``shutdown_timeout``) and remove the client :func:`init_sentry` made."""
    import sentry_sdk

    global _owned_client, _sdk_log_level
    client, _owned_client = _owned_client, None
    if client is None:
        return
    client.close()
    if sentry_sdk.get_global_scope().client is client:
        sentry_sdk.get_global_scope().set_client(None)
    if _sdk_log_level is not None:
        _sdk_log.setLevel(_sdk_log_level)
        _sdk_log_level = None


def plugin_tags(plugin: str, version: str, name: str) -> dict[str, str]:
    """The tags of everything a plugin reports: its plugin (entry point) name, version and NAME."""
    return {"plugin": plugin, "plugin_version": version, "name": name}


@contextmanager
def plugin_scope(tags: Mapping[str, str]) -> Iterator[None]:
    """The scopes of a plugin's worker thread, entered once when the thread starts.

    The thread gets an isolation scope of its own with the plugin's tags, a trace of its own (not the
    one of the thread that started it) and no span.
    """
    import sentry_sdk

    with sentry_sdk.isolation_scope() as scope:
        scope.set_new_propagation_context()
        scope.set_tags(tags)
        sentry_sdk.get_current_scope().span = None
        yield


@contextmanager
def tagged(tags: Mapping[str, str]) -> Iterator[None]:
    """Report what happens inside with the given tags (for the host's own threads acting for a plugin)."""
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tags(tags)
        yield


def with_tags(tags: Mapping[str, str], function: Callable[[], T]) -> Callable[[], T]:
    """``function`` run under :func:`tagged` (for plugin code the host calls on threads other than the worker)."""

    def run() -> T:
        with tagged(tags):
            return function()

    return run


@contextmanager
def continued_trace(fields: Mapping[str, Any], name: str, op: str = "topic.process") -> Iterator[None]:
    """Handle one message or request in a transaction of its own (in an isolation scope of its own, forked
    from the worker's), continuing the trace of ``fields`` (``sentry-trace`` and ``baggage``) if given."""
    import sentry_sdk
    from sentry_sdk.tracing import TransactionSource

    headers = {key: value for key in _TRACE_FIELDS if isinstance(value := fields.get(key), str)}
    with sentry_sdk.isolation_scope():
        transaction = sentry_sdk.continue_trace(headers, op=op, name=name, source=TransactionSource.TASK,
                                                origin=_ORIGIN)
        with sentry_sdk.start_transaction(transaction):
            yield


def add_trace_headers(envelope: dict[str, Any]) -> None:
    """Inside a span, set ``sentry-trace`` (and ``baggage`` if the span is sampled) of an outgoing envelope."""
    import sentry_sdk

    span = sentry_sdk.get_current_span()
    if span is None:
        return
    envelope["sentry-trace"] = sentry_sdk.get_traceparent()
    baggage = sentry_sdk.get_baggage() if span.sampled else None
    if baggage:
        envelope["baggage"] = baggage
    else:
        envelope.pop("baggage", None)
