"""The toolkit plugin under fuzz: every wire surface of openmodule 18.x's toolkit in one plugin, and the checks
that hostile traffic changed none of its state.

It listens to ``io`` (:class:`IoListener`), ``signal`` (:class:`SignalListener`) and ``settings``
(:class:`SettingsProvider`), serves ``kv_sync``/``set`` and ``sync`` for its KV store, ``validation_provider``/
``validate`` and ``access_service``/``auth`` (the :class:`AccessService` template), and answers RPCs of its own
that make it ask the settings service (``toolkit``/``setting``) and the signal service (``toolkit``/``signal``),
so that a test can answer those with malformed replies.

The state checks are invariants, checked after every batch: the KV table holds exactly what the ``set``
requests it accepted wrote (nothing of a refused one), the sentinel pin and signal, which only the checker
sends valid messages for, have exactly the state of the checker's last message, and the listeners keep no
more pins and signals than their bound (``NAMES_KEPT``), however many names the frames bring.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from openmodule_hookspecs import (
    AccessCategory,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessCheckResponse,
    Medium,
    MediumType,
    OpenModuleModel,
    PluginCore,
    RPCRequest,
    hookimpl,
)
from sqlalchemy import select

from openmodule_host.testing import TestClient
from openmodule_host.utils import (
    AccessService,
    IoListener,
    IoState,
    KVStore,
    KVStoreHandler,
    SettingsProvider,
    SignalListener,
    ValidateRequest,
    ValidateResponse,
    ValidateResponseState,
    Validation,
)
from openmodule_host.utils.kv_store_models import KVSetRequest, KVSetResponse
from tests.support.kv_plugins import MIGRATIONS, Whitelist

NAME = "toolkit"
#: the pin and the signal only the checker sends valid messages for.
SENTINEL_PIN = "fuzz-sentinel-pin"
SENTINEL_SIGNAL = "fuzz-sentinel-signal"
#: the pins and signals the toolkit plugin's listeners keep at most
NAMES_KEPT = 50
SENTINEL_KEY = "fuzz-sentinel-key"


class RecordingStore(KVStore):
    """The KV store, recording each ``set`` it accepted (the invariant's model of the table)."""

    database_table = Whitelist
    #: each accepted set's keys: (key, e_tag, plate or None for a delete), in order.
    accepted: list[list[tuple[str, int | None, str | None]]] = []

    def kvs_set(self, request: KVSetRequest, _message: Any = None) -> KVSetResponse:
        response = super().kvs_set(request, _message)
        applied: list[tuple[str, int | None, str | None]] = []
        for kv in request.kvs:
            value = orjson.loads(kv.value)
            row = Whitelist.parse_value(value)[0] if value is not None else None
            applied.append((kv.key, kv.e_tag, row.plate if row is not None else None))
        self.accepted.append(applied)
        return response


class Shop(Validation):
    def validate_ticket(self, request: ValidateRequest) -> ValidateResponse:
        return ValidateResponse(state=ValidateResponseState.ok, message=f"{request.type}:{len(request.payload)}")


class AskSetting(OpenModuleModel):
    key: str = "common/gates"


class SettingAnswer(OpenModuleModel):
    value: Any = None


class AskSignal(OpenModuleModel):
    signal: str


class SignalAnswer(OpenModuleModel):
    value: bool
    additional_data: dict[str, Any] | None = None


class ToolkitPlugin(AccessService):
    """An access service with a KV store, IO and signal listeners, a settings provider and a validation provider."""

    def __init__(self) -> None:
        RecordingStore.accepted = []  # a new host, a new database: the model of its table starts empty
        self.core: PluginCore | None = None
        self.io: IoListener | None = None
        self.signals: SignalListener | None = None
        self.settings: SettingsProvider | None = None
        self.kv: KVStoreHandler | None = None

    @hookimpl
    def database_migrations(self) -> Any:
        return MIGRATIONS

    @hookimpl
    def register_handlers(self, core: PluginCore) -> None:
        self.core = core
        self.io = IoListener(core.messages)
        self.signals = SignalListener(core.messages, core.rpc_client)
        # a bound a short run reaches, so that fresh names make the tables forget (the default is 10,000)
        self.io.current_states.max_keys = self.signals.current_states.max_keys = NAMES_KEPT
        # every get asks the service (no cache to hide a malformed reply behind), briefly
        self.settings = SettingsProvider(expire_time=0.0, rpc_timeout=1.0, core=core)
        self.kv = KVStoreHandler(core.database, core.rpc_client, RecordingStore)
        self.kv.register_rpcs(core.rpc_server)
        Shop(core).register_rpcs(core.rpc_server)
        core.rpc_server.register_handler(NAME, "setting", AskSetting, SettingAnswer, self._setting)
        core.rpc_server.register_handler(NAME, "signal", AskSignal, SignalAnswer, self._signal)

    def _setting(self, request: AskSetting, _message: RPCRequest) -> SettingAnswer:
        assert self.settings is not None
        value = self.settings.get(request.key)
        return SettingAnswer(value={key: gate.model_dump(mode="json") for key, gate in value.items()}
                             if isinstance(value, dict) else value)

    def _signal(self, request: AskSignal, _message: RPCRequest) -> SignalAnswer:
        assert self.signals is not None
        value, data = self.signals.get_value_and_additional_data(request.signal)
        return SignalAnswer(value=value, additional_data=data)

    def rpc_check_access(self, request: AccessCheckRequest, message: RPCRequest | None) -> AccessCheckResponse:
        return AccessCheckResponse(success=True, accesses=[
            AccessCheckAccess(id="a1", source=NAME, category=AccessCategory.permanent,
                              used_medium=Medium(id="G ARIVO 1", type=MediumType.lpr), access_data={}, accepted=True)])

    # -- the invariants --------------------------------------------------------------------------------

    def kv_rows(self) -> dict[str, tuple[int, str]]:
        assert self.core is not None
        with self.core.database() as session:
            return {row.key: (row.e_tag, row.plate) for row in session.scalars(select(Whitelist))}


def expected_kv_rows() -> dict[str, tuple[int | None, str]]:
    """The table as the accepted sets wrote it: each replaced the rows of all its keys by those of its values
    that are not ``null`` (an e-tag None: SQLite picks one)."""
    rows: dict[str, tuple[int | None, str]] = {}
    for applied in RecordingStore.accepted:
        for key, _e_tag, _plate in applied:
            rows.pop(key, None)
        for key, e_tag, plate in applied:
            if plate is not None:
                rows[key] = (e_tag, plate)
    return rows


class ToolkitChecker:
    """What the checker sends after each batch (valid traffic) and what it expects of the toolkit plugin."""

    def __init__(self, plugin: ToolkitPlugin) -> None:
        self.plugin = plugin
        self._seq = itertools.count(1)
        self.pin_value = 0
        self.signal_value = False
        self.e_tag: int | None = None

    def check(self, client: TestClient, timeout: float) -> list[str]:
        problems: list[str] = []
        problems += self._check_kv(client, timeout)
        problems += self._check_validation(client, timeout)
        problems += self._check_listeners(client, timeout)
        return problems

    def _check_kv(self, client: TestClient, timeout: float) -> list[str]:
        seq = next(self._seq)
        e_tag = -seq  # below any e-tag SQLite picks for a row set without one (the largest so far + 1)
        kv: dict[str, Any] = {"key": SENTINEL_KEY, "value": f'{{"plate": "G{seq}"}}', "e_tag": e_tag}
        if self.e_tag is not None:
            kv["previous_e_tag"] = self.e_tag
        try:
            reply = client.rpc("kv_sync", "set", {"service": NAME, "kvs": [kv]}, timeout=timeout)
        except AssertionError:
            return ["no answer to RPC kv_sync/set"]
        response = reply.get("response") or {}
        problems = []
        if response.get("status") != "ok":
            # a hostile set may have changed the sentinel key validly (it knows no e-tag): take the table's
            problems.append(f"RPC kv_sync/set answered {response!r}")
        rows = self.plugin.kv_rows()
        self.e_tag = rows[SENTINEL_KEY][0] if SENTINEL_KEY in rows else None
        expected = expected_kv_rows()
        # a row set without an e-tag got one from SQLite: only its key and plate are known
        actual = {key: (None if expected.get(key, (0, ""))[0] is None else e_tag, plate)
                  for key, (e_tag, plate) in rows.items()}
        if actual != expected:
            problems.append(f"the KV table differs from what the accepted sets wrote: {actual} != {expected}")
        try:
            sync = client.rpc("kv_sync", "sync", {"service": NAME, "kvs": {}}, timeout=timeout)
        except AssertionError:
            return [*problems, "no answer to RPC kv_sync/sync"]
        additions = (sync.get("response") or {}).get("additions")
        if additions != {key: e_tag for key, (e_tag, _) in rows.items()}:
            problems.append(f"RPC kv_sync/sync answered {sync.get('response')!r}")
        return problems

    @staticmethod
    def _check_validation(client: TestClient, timeout: float) -> list[str]:
        request = {"name": NAME, "session_id": "s1", "type": "qr", "payload": "dGlja2V0"}
        try:
            reply = client.rpc("validation_provider", "validate", request, timeout=timeout)
        except AssertionError:
            return ["no answer to RPC validation_provider/validate"]
        response = reply.get("response") or {}
        if response.get("status") != "ok" or response.get("state") != "ok":
            return [f"RPC validation_provider/validate answered {response!r}"]
        return []

    def _check_listeners(self, client: TestClient, timeout: float) -> list[str]:
        """Flip the sentinel pin and signal with valid messages; their states must be exactly those, and every
        state the listeners hold must still be a well-formed one."""
        self.pin_value = 1 - self.pin_value
        self.signal_value = not self.signal_value
        client.publish("io", {"type": "input", "gateway": {"gate": "fuzz", "direction": "in"}, "pin": SENTINEL_PIN,
                              "value": self.pin_value, "edge": 1})
        client.publish("signal", {"type": "custom", "signal": SENTINEL_SIGNAL, "value": self.signal_value,
                                  "additional_data": {"seq": self.pin_value}})
        # the RPC is served on the same worker after the two messages: its answer means they were handled
        try:
            reply = client.rpc(NAME, "signal", {"signal": SENTINEL_SIGNAL}, timeout=timeout)
        except AssertionError:
            return [f"no answer to RPC {NAME}/signal"]
        problems = []
        response = reply.get("response") or {}
        if response.get("value") is not self.signal_value:
            problems.append(f"the sentinel signal is {response!r}, sent {self.signal_value}")
        io, signals = self.plugin.io, self.plugin.signals
        assert io is not None and signals is not None
        state = io.get_pin_state(SENTINEL_PIN)
        if (state.value, state.physical) != (self.pin_value, self.pin_value):
            problems.append(f"the sentinel pin is {state!r}, sent {self.pin_value}")
        for pin, pin_state in list(io.current_states.items()):
            try:
                IoState.model_validate(pin_state.model_dump())
                io.is_pin_valid(pin)
                io.get_gateway_states(pin_state.gateway)
            except Exception as error:
                problems.append(f"pin {pin!r} holds a broken state: {error!r}")
        for name, (value, data) in list(signals.current_states.items()):
            if not isinstance(value, bool) or not (data is None or isinstance(data, dict)):
                problems.append(f"signal {name!r} holds a broken state: {(value, data)!r}")
        for what, table in (("pins", io.current_states), ("signals", signals.current_states)):
            if len(table) > NAMES_KEPT:
                problems.append(f"the listener keeps {len(table)} {what}, more than its bound of {NAMES_KEPT}")
        return problems
