"""openmodule's KV store (``utils/kv_store.py``) for plugins: a table of the plugin's database kept in sync with
the cloud.

A store is a :class:`KVStore` subclass naming its table (a model with the :class:`KVEntry` mixin, in the plugin's
own database and migrations) and optionally a ``suffix``: it answers for the service ``NAME`` (or
``NAME_<suffix>``). The cloud sets keys with ``kv_sync``/``set`` (e-tags checked, ``"null"`` deletes, all keys of
a request or none) and compares with ``kv_sync``/``sync``; the device asks it to start that with
``rpc-websocket``/``server_rpc`` (``rpc="kvs_sync"``). :class:`KVStoreHandler` serves the RPCs for its stores and
asks for a sync at start and after every reconnect, after a random 0-10 s offset seeded by NAME (none under
``TESTING``), retrying every ``sync_timeout`` (30 s) until the cloud answered, as openmodule does.

Where openmodule runs a thread per handler that blocks on the sync RPC, the handler here runs on the plugin's
worker as a scheduled job (every second, openmodule's polling interval) that never waits: it sends the
``server_rpc`` without blocking and looks at its answer on a later run. It must not block: while the device
waits for ``server_rpc``'s answer, the cloud calls ``kv_sync``/``sync`` and ``set`` on it, which the same worker
serves. So a KV store costs the plugin no thread, and its table is only ever written on the worker.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import orjson
import schedule
from openmodule_hookspecs import (
    ConnectionStatus,
    Database,
    PluginCore,
    RPCCancelError,
    RPCEntry,
    RPCError,
    RPCServer,
    RPCServerError,
    RPCTimeoutError,
    RPCValidationError,
)
from openmodule_hookspecs import RPCClient as RPCClientProtocol
from sqlalchemy import Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .. import compat
from .kv_store_models import (
    KVSetRequest,
    KVSetRequestKV,
    KVSetResponse,
    KVSyncRequest,
    KVSyncResponse,
    ServerRPCRequest,
    ServerSyncResponse,
)

__all__ = ["KVEntry", "KVStore", "KVStoreHandler", "KVStoreWithChangedNotification"]

_CONNECTED = (ConnectionStatus.startup, ConnectionStatus.online)
_DISCONNECTED = (ConnectionStatus.shutdown, ConnectionStatus.offline)
#: how often the handler looks at the connection and at a pending sync (openmodule's handler polls every 1 s).
POLL_INTERVAL = 1.0
#: the largest random delay before a sync after a (re)connect, so that not every service asks at once.
MAX_SYNC_OFFSET = 10.0


class KVEntry:
    """Mixin for a store's table: the columns ``key`` (unique) and ``e_tag`` (the primary key), as openmodule's.

    Declare a model with it and your own columns, and implement :meth:`parse_value`::

        class Whitelist(Base, KVEntry):
            __tablename__ = "whitelist"
            plate: Mapped[str] = mapped_column(String)

            @classmethod
            def parse_value(cls, value):
                return [cls(plate=value["plate"])]
    """

    key: Mapped[str] = mapped_column(String, nullable=False, index=True, unique=True)
    e_tag: Mapped[int] = mapped_column(Integer, nullable=False, primary_key=True, index=True)

    @classmethod
    def parse_value(cls, value: Any) -> list[Any] | dict[str, Any]:
        """The rows for one key's value (the decoded JSON): at least one instance of the store's table (its key
        and e-tag are set by the store), plus any rows of other models. Returning a dict of the table's column
        values instead is openmodule's deprecated form (a ``DeprecationWarning``)."""
        raise NotImplementedError

    def comparison_value(self) -> str:
        """For :class:`KVStoreWithChangedNotification` only: a change notification is due for a key when this
        value changed."""
        raise NotImplementedError


class KVStore:
    """A key-value table of the plugin's database, kept in sync with the cloud (subclass it).

    ``database_table``: the table (a model with the :class:`KVEntry` mixin). ``suffix``: the store answers for
    the service ``NAME_<suffix>`` instead of ``NAME``. Its rows are written only by :meth:`kvs_set` (the cloud's
    ``kv_sync``/``set``): a key's rows are never changed, only deleted and created again with the new e-tag.

    ``db`` and ``rpc_client`` default to the plugin core's (``core``, by default the core of the plugin whose
    worker runs this: :func:`openmodule_host.compat.core`).
    """

    database_table: ClassVar[type[KVEntry]]
    suffix: ClassVar[str | None] = None

    class ETagMismatchException(Exception):
        """A key's e-tag is not the ``previous_e_tag`` of a ``set`` (a ``handler_error`` for the cloud)."""

    def __init__(self, db: Database | None = None, rpc_client: RPCClientProtocol | None = None,
                 sync_timeout: float = 30.0, *, core: PluginCore | None = None) -> None:
        table = getattr(type(self), "database_table", None)
        if not (isinstance(table, type) and issubclass(table, KVEntry) and table is not KVEntry):
            raise TypeError(f"{type(self).__name__}.database_table must be a model with the KVEntry mixin, "
                            f"got {table!r}")
        core = core if core is not None else compat.core()
        self.service_name = core.name if self.suffix is None else f"{core.name}_{self.suffix}"
        self.resource = core.config.RESOURCE
        self.db = db if db is not None else core.database
        self.rpc_client = rpc_client if rpc_client is not None else core.rpc_client
        self.sync_timeout = sync_timeout
        self.log = core.log.getChild(f"{type(self).__name__}.{self.service_name}")
        self._connection = core.connection_listener
        #: the ``server_rpc`` call of a sync in progress.
        self.sync_rpc_entry: RPCEntry | None = None

    # -- asking the cloud ----------------------------------------------------------------------------

    def sync_with_server(self) -> RPCEntry:
        """Ask the cloud (``rpc-websocket``/``server_rpc``) to sync this store; returns the call without waiting."""
        self.log.debug("sending the sync request")
        request = ServerRPCRequest(rpc="kvs_sync", data={"resource": self.resource, "service": self.service_name,
                                                         "timeout": self.sync_timeout - 5})
        return self.rpc_client.rpc_non_blocking("rpc-websocket", "server_rpc", request, timeout=self.sync_timeout)

    def sync(self, conn_id: str) -> bool:
        """Ask the cloud to sync and wait for its answer (up to ``sync_timeout``); whether it succeeded.

        It blocks: never call it on the plugin's worker (the cloud's ``kv_sync`` calls, served there, would wait
        behind it). :class:`KVStoreHandler` syncs without blocking.
        """
        self.sync_rpc_entry = entry = self.sync_with_server()
        try:
            return self.sync_succeeded(entry, conn_id)
        finally:
            self.sync_rpc_entry = None

    def sync_succeeded(self, entry: RPCEntry, conn_id: str) -> bool:
        """Wait for ``entry``'s answer and log what went wrong, as openmodule does: a warning when the connection
        changed since ``conn_id`` last looked (a lost connection explains it), else an error."""
        try:
            entry.result(ServerSyncResponse)
            return True
        except RPCTimeoutError:
            self._log_failure(conn_id, "timeout syncing kvs")
        except RPCCancelError:
            self._log_failure(conn_id, "cancelled waiting for the result of syncing kvs")
        except RPCValidationError:
            self.log.exception("error parsing the sync response")
        except RPCServerError as error:
            if error.args and error.args[0] == "request_timeout" and self._connection.changed(conn_id):
                self.log.warning("connection loss during sync")
            else:
                self.log.exception("error on the server side in sync")
        except RPCError:
            self.log.exception("error on the server side in sync")
        except Exception:
            self.log.exception("unexpected exception in the sync response")
        return False

    def _log_failure(self, conn_id: str, error: str) -> None:
        if self._connection.changed(conn_id):
            self.log.warning("connection loss during sync")
        else:
            self.log.error("%s", error)

    # -- serving the cloud ---------------------------------------------------------------------------

    def sync_rpc_filter(self, request: KVSetRequest | KVSyncRequest, *_args: Any, **_kwargs: Any) -> bool:
        """Whether a ``kv_sync`` request is for this store (its ``service``)."""
        return request.service == self.service_name

    def kvs_set(self, request: KVSetRequest, _message: Any = None) -> KVSetResponse:
        """``kv_sync``/``set``: replace the rows of the keys given, all or none.

        Each key's current e-tag must be its ``previous_e_tag`` (both absent for a new key), else
        :class:`ETagMismatchException`; a value that is not JSON, or that ``parse_value`` refuses, raises too.
        Either way nothing is written and the cloud gets a ``handler_error``.
        """
        if request.kvs:
            with self.db() as session:
                self._replace(session, request, self._current_etags(session, [kv.key for kv in request.kvs]))
        return KVSetResponse()

    def kvs_sync(self, request: KVSyncRequest, _message: Any = None) -> KVSyncResponse:
        """``kv_sync``/``sync``: how the table differs from the cloud's key to e-tag map."""
        self.log.debug("syncing kvs for %s", request.service)
        with self.db() as session:
            additions = self._current_etags(session, None)
        changes: dict[str, int | None] = {}
        missing: dict[str, int | None] = {}
        for key, server_e_tag in request.kvs.items():
            device_e_tag = additions.pop(key, None)
            if device_e_tag is None:
                missing[key] = server_e_tag
            elif device_e_tag != server_e_tag:
                changes[key] = device_e_tag
        return KVSyncResponse(additions=dict(additions), changes=changes, missing=missing)

    def _current_etags(self, session: Session, keys: list[str] | None) -> dict[str, int | None]:
        """The e-tags of ``keys`` (of every key: None) in the table."""
        table = self.database_table
        query = select(table.key, table.e_tag)
        if keys is not None:
            query = query.where(table.key.in_(keys))
        return {row[0]: row[1] for row in session.execute(query)}

    def _kvs_check_etag_mismatched(self, request: KVSetRequest, current: dict[str, int | None]) -> None:
        for kv in request.kvs:
            current_e_tag = current.get(kv.key)
            if current_e_tag is None and kv.previous_e_tag is not None:
                self.log.warning("key %s does not exist but a previous e-tag was given", kv.key)
                raise self.ETagMismatchException("Previous ETag given but not in database")
            if current_e_tag is not None and kv.previous_e_tag is None:
                self.log.warning("key %s exists but no previous e-tag was given", kv.key)
                raise self.ETagMismatchException("No previous ETag")
            if current_e_tag != kv.previous_e_tag:
                self.log.warning("the previous e-tag of key %s does not match", kv.key)
                raise self.ETagMismatchException("Previous ETag does not match")

    def _kvs_set_parse_kvs(self, kvs: Iterable[KVSetRequestKV]) -> list[Any]:
        """The rows to write for ``kvs`` (none for a ``"null"`` value: a delete)."""
        rows: list[Any] = []
        warned = False
        for kv in kvs:
            value = orjson.loads(kv.value)
            if value is None:
                continue
            parsed = self.database_table.parse_value(value)
            if isinstance(parsed, dict):
                if not warned:
                    warnings.warn("returning a dict from parse_value() is deprecated, return a list of "
                                  "database_table instances instead", DeprecationWarning, stacklevel=2)
                    warned = True
                parsed = [self.database_table(key=kv.key, e_tag=kv.e_tag, **parsed)]  # type: ignore[call-arg]
            if not parsed:
                raise ValueError("parse_value() must return at least one instance")
            entries = [row for row in parsed if isinstance(row, KVEntry)]
            if not entries:
                raise ValueError("parse_value() must return at least one instance of the database_table")
            for entry in entries:  # the store alone manages keys and e-tags
                entry.key = kv.key
                entry.e_tag = kv.e_tag  # type: ignore[assignment]  # None as openmodule passes it on
            rows += parsed
        return rows

    def _replace(self, session: Session, request: KVSetRequest, current: dict[str, int | None]) -> list[Any]:
        """Check the e-tags, delete the keys' rows, add the new ones, commit; returns the rows added."""
        self._kvs_check_etag_mismatched(request, current)
        rows = self._kvs_set_parse_kvs(request.kvs)
        if current:
            table = self.database_table
            session.execute(delete(table).where(table.key.in_(list(current)))
                            .execution_options(synchronize_session=False))
        session.add_all(rows)
        session.commit()
        return rows


class KVStoreWithChangedNotification(KVStore):
    """A :class:`KVStore` that reports which keys a ``set`` changed: implement :meth:`_send_changed_notification`
    (and ``comparison_value`` on the table)."""

    def _get_comparison_values(self, kv_entries: Iterable[Any]) -> dict[str, str]:
        return {entry.key: entry.comparison_value() for entry in kv_entries if isinstance(entry, KVEntry)}

    def _find_changed_kvs(self, new_values: dict[str, str], old_values: dict[str, str]) -> list[str]:
        """The keys a ``set`` added or changed (another comparison value), then those it deleted."""
        old = dict(old_values)
        changed = [key for key, value in new_values.items() if old.pop(key, None) != value]
        return changed + list(old)

    def _send_changed_notification(self, new_values: dict[str, str], old_values: dict[str, str]) -> None:
        """Called after a ``set`` was committed, with the comparison values of its keys after and before
        (:meth:`_find_changed_kvs` tells which changed)."""
        raise NotImplementedError

    def kvs_set(self, request: KVSetRequest, _message: Any = None) -> KVSetResponse:
        if request.kvs:
            table = self.database_table
            with self.db() as session:
                keys = [kv.key for kv in request.kvs]
                current = session.scalars(select(table).where(table.key.in_(keys))).all()
                old_values = self._get_comparison_values(current)
                rows = self._replace(session, request, {entry.key: entry.e_tag for entry in current})
                self._send_changed_notification(self._get_comparison_values(rows), old_values)
        return KVSetResponse()


class KVStoreHandler:
    """Serves ``kv_sync`` for its stores and asks the cloud to sync them at start and after every reconnect.

    ``KVStoreHandler(db, rpc_client, *stores_cls, sync_timeout=30.0)`` as in openmodule (``db`` and
    ``rpc_client`` may be None: the core's), with ``core`` (default: the core of the plugin whose worker runs
    this). Add the stores, then :meth:`register_rpcs` and :meth:`run_as_thread` (or :meth:`start`) in
    ``register_handlers``; :meth:`shutdown` in the ``shutdown`` hook.
    """

    def __init__(self, db: Database | None = None, rpc_client: RPCClientProtocol | None = None,
                 *stores_cls: type[KVStore], sync_timeout: float = 30.0, core: PluginCore | None = None) -> None:
        self._core = core if core is not None else compat.core()
        self.db = db if db is not None else self._core.database
        self.rpc_client = rpc_client if rpc_client is not None else self._core.rpc_client
        self.sync_timeout = sync_timeout
        self.log = self._core.log.getChild("KVStoreHandler")
        self.running = True
        self.stores: list[KVStore] = []
        self._job: Any = None
        #: the consumer names this handler uses with ``connection_listener.changed``.
        self._consumer = f"kvstore-handler-{uuid.uuid4().hex}"
        self._conn_id = uuid.uuid4().hex
        self._round: _SyncRound | None = None
        for store_cls in stores_cls:
            self.add_kvstore(store_cls)

    def add_kvstore(self, store_cls: type[KVStore]) -> None:
        if self._job is not None:
            raise RuntimeError("add every store before starting the handler (run_as_thread / start)")
        if store_cls.suffix in [store.suffix for store in self.stores]:
            raise ValueError(f"suffix {store_cls.suffix!r} is already used by another store")
        self.stores.append(store_cls(self.db, self.rpc_client, self.sync_timeout, core=self._core))

    # -- serving -------------------------------------------------------------------------------------

    def register_rpcs(self, rpc_server: RPCServer | None = None) -> None:
        """Serve ``kv_sync``/``set`` and ``sync`` for the stores' services (call it in ``register_handlers``).

        With one store the RPCs are keyed by ``service``: the host routes only that service's requests to this
        plugin, whatever other KV-store plugins it runs. With several stores they are filtered by ``service`` on
        the plugin's worker, as openmodule does.
        """
        server = rpc_server if rpc_server is not None else self._core.rpc_server
        if len(self.stores) == 1:
            service = self.stores[0].service_name
            server.register_handler("kv_sync", "set", KVSetRequest, KVSetResponse, self._kvs_set, key="service",
                                    value=service)
            server.register_handler("kv_sync", "sync", KVSyncRequest, KVSyncResponse, self._kvs_sync,
                                    key="service", value=service)
            return
        server.register_handler("kv_sync", "set", KVSetRequest, KVSetResponse, self._kvs_set)
        server.register_handler("kv_sync", "sync", KVSyncRequest, KVSyncResponse, self._kvs_sync)
        server.add_filter(self._rpc_filter, channel="kv_sync")

    def _store_for(self, request: KVSetRequest | KVSyncRequest) -> KVStore | None:
        return next((store for store in self.stores if store.sync_rpc_filter(request)), None)

    def _rpc_filter(self, request: Any, _message: Any, _handler: Any) -> bool:
        return isinstance(request, KVSetRequest | KVSyncRequest) and self._store_for(request) is not None

    def _kvs_set(self, request: KVSetRequest, message: Any) -> KVSetResponse | None:
        store = self._store_for(request)
        return store.kvs_set(request, message) if store is not None else None

    def _kvs_sync(self, request: KVSyncRequest, message: Any) -> KVSyncResponse | None:
        store = self._store_for(request)
        return store.kvs_sync(request, message) if store is not None else None

    # -- syncing -------------------------------------------------------------------------------------

    def start(self, poll_interval: float = POLL_INTERVAL) -> None:
        """Start syncing: a job on the plugin's worker that looks at the connection and at the pending sync
        every ``poll_interval`` seconds."""
        if self._job is None:
            self._job = self._core.every(poll_interval, self._tick)

    def run_as_thread(self) -> None:
        """openmodule's name for :meth:`start`: here no thread is started (see the module's docstring)."""
        self.start()

    def shutdown(self, timeout: float = 5) -> None:
        """Stop syncing and cancel the pending ``server_rpc`` call (``timeout`` is openmodule's: nothing here
        waits)."""
        self.running = False
        self._round = None
        if self._job is not None:
            self._core.scheduler.cancel_job(self._job)
        for store in self.stores:
            entry, store.sync_rpc_entry = store.sync_rpc_entry, None
            if entry is not None:
                entry.cancel()

    def random_offset(self) -> float:
        """The delay before a sync after a (re)connect: 0-10 s, the same for each start of a NAME (none when
        TESTING), so that the services of a garage do not all ask at once."""
        if self._core.config.TESTING:
            return 0.0
        seed = int(hashlib.sha256(self._core.name.encode("utf-8")).hexdigest(), 16)
        return random.Random(seed).uniform(0.0, MAX_SYNC_OFFSET)

    def _reconnected(self) -> bool:
        """Whether the connection came up since the last look (true at start when it is up)."""
        listener = self._core.connection_listener
        return (listener.changed(self._consumer) and listener.get() in _CONNECTED
                and listener.previous in _DISCONNECTED)

    def _tick(self) -> Any:
        """The job: on the worker, never waiting."""
        if not self.running:
            return schedule.CancelJob
        now = time.monotonic()
        if self._reconnected():
            for store in self.stores:  # a sync of the old connection is not waited for
                entry, store.sync_rpc_entry = store.sync_rpc_entry, None
                if entry is not None:
                    entry.cancel()
            self._round = _SyncRound(self.stores, now + self.random_offset())
        if self._round is not None and not self._advance(self._round, now):
            self._round = None
        return None

    def _advance(self, sync: _SyncRound, now: float) -> bool:
        """Move the round on: send a store's sync, or take its answer; whether the round goes on."""
        listener = self._core.connection_listener
        while sync.stores:
            store = sync.stores[0]
            entry = store.sync_rpc_entry
            if entry is None:
                if now < sync.next_try:
                    return True
                if listener.get() not in _CONNECTED:
                    return False  # offline: the next reconnect starts a new round
                listener.changed(self._conn_id)
                sync.sent_at = now
                store.sync_rpc_entry = store.sync_with_server()
                return True
            if not entry.done() and now < sync.sent_at + self.sync_timeout:
                return True
            store.sync_rpc_entry = None
            if not store.sync_succeeded(entry, self._conn_id):
                sync.next_try = sync.sent_at + self.sync_timeout
                return True
            self.log.debug("store %s synced", store.service_name)
            sync.stores = sync.stores[1:]
            sync.next_try = now
        return False


class _SyncRound:
    """The stores still to sync after a (re)connect, one after the other."""

    def __init__(self, stores: Sequence[KVStore], start_at: float) -> None:
        self.stores = list(stores)
        self.next_try = start_at
        self.sent_at = start_at

