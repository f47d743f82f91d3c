"""Plate normalisation and the whitelist itself."""

from collections.abc import Iterable

_SEPARATORS = str.maketrans("", "", " -.")


def normalise_plate(plate: str) -> str:
    """Upper-case, without spaces, dashes and dots: 'g-arivo 1' and 'GARIVO1' are the same plate."""
    return plate.upper().translate(_SEPARATORS)


class Whitelist:
    def __init__(self, plates: Iterable[str] = ()) -> None:
        self._plates = {normalise_plate(plate) for plate in plates}

    def __contains__(self, plate: object) -> bool:
        return isinstance(plate, str) and normalise_plate(plate) in self._plates

    def __len__(self) -> int:
        return len(self._plates)
