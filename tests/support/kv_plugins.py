"""Plugins with KV stores (openmodule's ``KVStore`` semantics), for tests/test_kv_store.py and the interop tests.

Their tables come from ``tests/support/fixtures/kvstore/database`` (an openmodule service's database folder, which the
openmodule KV-store peer migrates too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openmodule_hookspecs import PluginCore, hookimpl
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from openmodule_host.utils import KVEntry, KVStore, KVStoreHandler, KVStoreWithChangedNotification

MIGRATIONS = Path(__file__).parent / "fixtures" / "kvstore" / "database"


class Base(DeclarativeBase):
    pass


def _plate(value: Any) -> str:
    plate = value.get("plate") if isinstance(value, dict) else None
    if not isinstance(plate, str):
        raise ValueError(f"a value needs a plate, got {value!r}")
    return plate


class Whitelist(Base, KVEntry):
    __tablename__ = "whitelist"
    plate: Mapped[str] = mapped_column(String, nullable=False)

    @classmethod
    def parse_value(cls, value: Any) -> list[Any]:
        return [cls(plate=_plate(value))]

    def comparison_value(self) -> str:
        return self.plate


class Blocklist(Base, KVEntry):
    __tablename__ = "blocklist"
    plate: Mapped[str] = mapped_column(String, nullable=False)

    @classmethod
    def parse_value(cls, value: Any) -> dict[str, Any]:  # openmodule's deprecated form
        return {"plate": _plate(value)}


class WhitelistStore(KVStore):
    database_table = Whitelist


class BlocklistStore(KVStore):
    database_table = Blocklist
    suffix = "block"


class NotifyingWhitelistStore(KVStoreWithChangedNotification):
    database_table = Whitelist
    #: the keys each ``set`` changed, for the tests.
    notified: list[list[str]] = []

    def _send_changed_notification(self, new_values: dict[str, str], old_values: dict[str, str]) -> None:
        self.notified.append(self._find_changed_kvs(new_values, old_values))


class KVPlugin:
    """A plugin with KV stores, set up as a ported openmodule service does it (``KVStoreHandler(db, rpc_client,
    *stores)`` in ``register_handlers``, ``shutdown()`` in the shutdown hook)."""

    def __init__(self, *stores: type[KVStore], sync_timeout: float = 30.0) -> None:
        self.stores = stores or (WhitelistStore,)
        self.sync_timeout = sync_timeout
        self.core: PluginCore | None = None
        self.handler: KVStoreHandler | None = None

    @hookimpl
    def database_migrations(self) -> Path:
        return MIGRATIONS

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        self.core = core
        self.handler = KVStoreHandler(core.database, core.rpc_client, *self.stores, sync_timeout=self.sync_timeout)
        self.handler.register_rpcs(core.rpc_server)
        self.handler.run_as_thread()

    @hookimpl
    def shutdown(self, core: PluginCore) -> None:
        assert self.handler is not None
        self.handler.shutdown()

    def rows(self, table: type[Whitelist] | type[Blocklist] = Whitelist) -> dict[str, tuple[int, str]]:
        """The table's rows: {key: (e_tag, plate)}."""
        assert self.core is not None
        with self.core.database() as session:
            return {row.key: (row.e_tag, row.plate) for row in session.scalars(select(table))}


#: for ``ISOLATION = "process"`` (started as "tests.support.kv_plugins:kv_process_plugin", imported by the child).
kv_process_plugin = KVPlugin()
