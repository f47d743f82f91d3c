"""backend_x: a whitelist access backend (example plugin); its hooks live in :mod:`backend_x.plugin`."""

from .messages import AccessDecisionMessage, LprData, VehicleEnterMessage
from .whitelist import Whitelist, normalise_plate

__all__ = ["AccessDecisionMessage", "LprData", "VehicleEnterMessage", "Whitelist", "normalise_plate"]
