"""A plugin that exercises what the fake core must do like the host: typed handlers, both filter forms,
raising handlers, RPC statuses and filters, publishes, alerts, health checks, metrics, the health hook and the
connection listener. Used by tests/test_fake_core.py and tests/test_fake_vs_host.py."""

from __future__ import annotations

from typing import Any

from openmodule_hookspecs import (
    AlertHandleType,
    AlertStatus,
    HealthMetricType,
    HealthResult,
    OpenModuleModel,
    RPCRequest,
    ZMQMessage,
    health_error,
    health_ok,
    hookimpl,
)
from pydantic import BaseModel


class Order(ZMQMessage):
    type: str = "order"
    amount: int


class GateEvent(ZMQMessage):
    type: str = "gate"
    gate: str


class Seen(ZMQMessage):
    type: str = "seen"
    what: str
    amount: int = 0


class DoubleRequest(OpenModuleModel):
    x: int


class DoubleResponse(OpenModuleModel):
    y: int


class Settings(BaseModel):
    limit: int = 100


class Shop:
    """Orders on ``orders``: each is published on ``seen`` and counted; one over ``limit`` raises an alert and
    makes the health hook report an error; a negative one makes the handler raise (and fails the check
    ``orders``). ``gates`` has two handlers: one with a dict filter (gate ``in``), one with a callable filter
    (gate ``out``). RPC ``calc``/``double`` doubles ``x``: 13 raises, 7 is rejected by a filter, 8 makes the
    filter raise, 99 returns an invalid response; ``calc``/``sync`` answers ``{}``."""

    def __init__(self) -> None:
        self.core: Any = None
        self.big = False
        self.connection_events: list[tuple[str, str]] = []

    @hookimpl
    def config_model(self) -> type[BaseModel]:
        return Settings

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.core = core
        core.health.add_check("orders", "Orders", "orders are valid")
        core.health.add_metric("orders", HealthMetricType.count, "Orders", "orders seen", labels=["kind"])
        core.messages.register_handler("orders", Order, self.on_order)
        core.messages.register_handler("gates", GateEvent, self.on_gate_in, filter_={"gate": "in"})
        core.messages.register_handler("gates", GateEvent, self.on_gate_out,
                                       filter=lambda body: body.get("gate") == "out")
        core.rpc_server.add_filter(self.accept, "calc", "double")
        core.rpc_server.register_handler("calc", "double", DoubleRequest, DoubleResponse, self.double)
        core.rpc_server.register_handler("calc", "sync", OpenModuleModel, OpenModuleModel, lambda _r, _m: {})
        core.connection_listener.on_connect.append(self.on_connect)
        core.connection_listener.on_disconnect.append(self.on_disconnect)

    @hookimpl
    def health(self, core: Any) -> HealthResult:
        return health_error("an order was too big") if self.big else health_ok()

    def on_order(self, message: Order) -> None:
        if message.amount < 0:
            self.core.health.check_fail("orders", message=f"negative order {message.amount}")
            raise ValueError(f"negative order {message.amount}")
        self.core.health.check_success("orders")
        kind = "big" if message.amount > self.core.config.limit else "small"
        self.core.health.metric_inc("orders", kind=kind)
        self.core.publish(Seen(what="order", amount=message.amount), "seen")
        if kind == "big":
            self.big = True
            self.core.alerts.send("big_order", AlertHandleType.state, status=AlertStatus.error,
                                  value=float(message.amount), meta={"amount": message.amount})

    def on_gate_in(self, message: GateEvent) -> None:
        self.core.publish(Seen(what="gate in"), "seen")

    def on_gate_out(self, message: GateEvent) -> None:
        self.core.publish(Seen(what="gate out"), "seen")

    def accept(self, request: DoubleRequest, _message: RPCRequest, _handler: object) -> bool:
        if request.x == 8:
            raise RuntimeError("the filter cannot decide 8")
        return request.x != 7

    def double(self, request: DoubleRequest, _message: RPCRequest) -> DoubleResponse | dict[str, Any]:
        if request.x == 13:
            raise RuntimeError("unlucky 13")
        if request.x == 99:
            return {"y": "not a number"}
        return DoubleResponse(y=2 * request.x)

    def on_connect(self, status: Any) -> None:
        self.connection_events.append(("connect", str(status)))
        self.core.publish(Seen(what=f"connect {status}"), "seen")

    def on_disconnect(self, status: Any) -> None:
        self.connection_events.append(("disconnect", str(status)))
        self.core.publish(Seen(what=f"disconnect {status}"), "seen")
