"""The welcome service, as written for openmodule 18.5.0: only its import lines changed in the port.

It reaches its core and settings the openmodule way (``core()``, ``settings``); in the host these are
the calling plugin instance's own (``openmodule_host.compat``), so two instances (two gates) of this
class in one process each see their own gate, NAME, health and RPC server.
"""

from openmodule_hookspecs import HealthMetricType, Messages, PresentVehicleEnterMessage, RPCError, RPCRequest, RPCServer

from openmodule_host.compat import core, settings

from .models import DisplayMessage, GreetRequest, GreetResponse, LookupRequest, LookupResponse

CHANNEL = "welcome"


class WelcomeService:
    """Greets the vehicles entering ``settings.gate``: on its display (topic ``display``) and over RPC
    ``welcome``/``greet``. A plate the lookup service knows is welcomed back by plate."""

    def __init__(self) -> None:
        self.gate: str = settings.gate
        core().health.add_check("lookup", "Plate lookup", "the plate lookup service answers")
        core().health.add_metric("greetings", HealthMetricType.count, "Greetings", "vehicles greeted",
                                 labels=["gate"])

    def register_rpcs(self, rpc_server: RPCServer) -> None:
        """``welcome``/``greet`` for this gate only: the filter drops other gates' requests unanswered."""
        rpc_server.add_filter(self._my_gate, CHANNEL, "greet")
        rpc_server.register_handler(CHANNEL, "greet", GreetRequest, GreetResponse, self.rpc_greet)

    def register_handlers(self, dispatcher: Messages) -> None:
        dispatcher.register_handler("present_vehicle", PresentVehicleEnterMessage, self.on_enter,
                                    filter_=lambda message: message.get("gate") == self.gate)

    def _my_gate(self, request: GreetRequest, _message: RPCRequest, _handler: object) -> bool:
        return request.gate == self.gate

    def rpc_greet(self, request: GreetRequest, _message: RPCRequest) -> GreetResponse:
        text, known = self.greeting(request.plate)
        return GreetResponse(gate=self.gate, text=text, known=known)

    def on_enter(self, message: PresentVehicleEnterMessage) -> None:
        lpr = message.lpr_front or message.lpr_back
        text, _ = self.greeting(lpr.plate if lpr else None)
        core().publish(DisplayMessage(gate=self.gate, text=text), "display")
        core().health.metric_inc("greetings", gate=self.gate)

    def greeting(self, plate: str | None) -> tuple[str, bool]:
        """The text for ``plate``: by plate when the lookup service knows it, else the plain welcome."""
        known = plate is not None and self.is_known(plate)
        return (f"{settings.welcome_text}, {plate}!" if known else f"{settings.welcome_text}!"), known

    def is_known(self, plate: str) -> bool:
        try:
            response = core().rpc_client.rpc(settings.lookup_channel, "lookup", LookupRequest(plate=plate),
                                             LookupResponse, timeout=settings.lookup_timeout)
        except RPCError as error:
            core().log.warning("plate lookup on %s failed: %s", settings.lookup_channel, type(error).__name__)
            core().health.check_fail("lookup", message=f"lookup failed: {type(error).__name__}")
            return False
        core().health.check_success("lookup")
        return response.known

    def show_idle_text(self) -> None:
        """Periodic: the display shows the idle text again (a display that restarted gets it back)."""
        core().publish(DisplayMessage(gate=self.gate, text=settings.idle_text), "display")
