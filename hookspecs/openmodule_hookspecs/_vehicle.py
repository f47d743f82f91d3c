"""Gates, media and plates as openmodule 18.5.0 models them (``models/base.py``, ``models/vehicle.py``,
``models/vehicle_listener.py``): what access checks and count messages carry."""

from __future__ import annotations

from enum import StrEnum

from ._models import OpenModuleModel

__all__ = [
    "Direction",
    "Gateway",
    "LPRAlternative",
    "LPRCountry",
    "LPRMedium",
    "LprData",
    "MakeModel",
    "Medium",
    "MediumType",
    "VehicleData",
]


def _truncate(text: str) -> str:
    return text[:10] + "..." if len(text) > 10 else text


class Direction(StrEnum):
    UNKNOWN = ""
    IN = "in"
    OUT = "out"


class Gateway(OpenModuleModel):
    gate: str = ""
    direction: Direction = Direction.UNKNOWN

    def __str__(self) -> str:
        return f"{self.gate}/{self.direction}"


class MediumType(StrEnum):
    lpr = "lpr"
    nfc = "nfc"
    pin = "pin"
    qr = "qr"
    regex = "regex"


class Medium(OpenModuleModel):
    """A medium (plate, card, code); equal when id and type are, as in openmodule."""

    id: str
    type: MediumType

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Medium) and self.id == other.id and self.type == other.type

    def __hash__(self) -> int:
        return hash((self.id, self.type))

    def __str__(self) -> str:
        return f"{self.type}:{_truncate(self.id)}"


class LPRCountry(OpenModuleModel):
    code: str
    state: str = ""
    confidence: float = 1


class LPRAlternative(OpenModuleModel):
    confidence: float
    plate: str


class LPRMedium(Medium):
    """A licence plate as a medium; equal when id, type and country code are."""

    type: MediumType = MediumType.lpr
    country: LPRCountry = LPRCountry(code="UNKNOWN")
    confidence: float = 1
    alternatives: list[LPRAlternative] = []

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, LPRMedium) and self.id == other.id and self.type == other.type
                and self.country.code == other.country.code)

    def __hash__(self) -> int:
        return hash((self.id, self.type, self.country.code))

    def __str__(self) -> str:
        return f"{self.type}:[{self.country.code}]{_truncate(self.id)}"


class MakeModel(OpenModuleModel):
    make: str
    make_confidence: float
    model: str = "UNKNOWN"
    model_confidence: float = -1.0

    def __str__(self) -> str:
        return self.make + (f"|{self.model}" if self.model != "UNKNOWN" else "")


class LprData(OpenModuleModel):
    """A plate as a camera read it."""

    source: str = "internal"  # the camera's hardware package, or "internal"
    plate: str
    country: str = "UNKNOWN"
    state: str = ""  # e.g. "G" for Graz; empty where plates carry no state
    rows: int = 1
    from_behind: bool = False
    track_id: int = 0

    def __str__(self) -> str:
        return f"{self.plate}|{self.country}"

    def to_medium(self) -> LPRMedium:
        return LPRMedium(id=self.plate, country=LPRCountry(code=self.country, state=self.state))


class VehicleData(OpenModuleModel):
    vehicle_id: str
    lpr_front: LprData | None = None
    lpr_back: LprData | None = None

    def __str__(self) -> str:
        if self.lpr_front and self.lpr_back:
            return f"{self.vehicle_id}: {self.lpr_front} | {self.lpr_back}"
        return f"{self.vehicle_id}: {self.lpr_front or self.lpr_back}"

    def get_primary_lpr(self, prefer_back: bool = False) -> LprData | None:
        """The front plate (or the back one with ``prefer_back``), else the other."""
        if prefer_back:
            return self.lpr_back or self.lpr_front
        return self.lpr_front or self.lpr_back

    def get_secondary_lpr(self, prefer_back: bool = False) -> LprData | None:
        """The other plate, if the primary one is there."""
        if prefer_back:
            return self.lpr_front if self.lpr_back else None
        return self.lpr_back if self.lpr_front else None
