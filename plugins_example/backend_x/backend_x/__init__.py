"""backend_x: a whitelist access backend (example plugin); its hooks are :data:`backend_x.plugin.plugin`, a
``Backend``."""

from .messages import AccessDecisionMessage, LprData, VehicleEnterMessage
from .whitelist import Whitelist, normalise_plate

__all__ = ["AccessDecisionMessage", "LprData", "VehicleEnterMessage", "Whitelist", "normalise_plate"]
