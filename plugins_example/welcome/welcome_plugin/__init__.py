"""om_welcome: greets the vehicles at one gate (example plugin, run as one instance per gate).

Ported from an openmodule 18.5.0 service by changing its import lines and turning its ``main()`` into
hooks (:mod:`welcome_plugin.plugin`); see docs/porting-from-openmodule.md.
"""

from .models import DisplayMessage, GreetRequest, GreetResponse, LookupRequest, LookupResponse
from .welcome import WelcomeService

__all__ = ["DisplayMessage", "GreetRequest", "GreetResponse", "LookupRequest", "LookupResponse", "WelcomeService"]
