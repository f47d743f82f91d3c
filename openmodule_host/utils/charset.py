"""Normalising licence plates to a character set (openmodule's ``utils/charset.py``).

``CharsetConverter(charset).clean(text)`` upper-cases the text, applies the charset's replacements in
order, and keeps only its allowed characters. Two presets: :data:`legacy_lpr_charset` (umlauts to their
base letter, O and Q to 0, neither O nor Q kept) and :data:`full_lpr_charset` (space, dash and dot
removed, umlauts kept).
"""

from __future__ import annotations

from openmodule_hookspecs import OpenModuleModel
from pydantic import Field, field_validator

__all__ = ["Charset", "CharsetConverter", "Replacement", "full_lpr_charset", "legacy_lpr_charset"]


class Replacement(OpenModuleModel):
    """``from`` -> ``to`` (JSON names); both are upper-cased."""

    c_from: str = Field(validation_alias="from", serialization_alias="from")
    c_to: str = Field(validation_alias="to", serialization_alias="to")

    @field_validator("c_from", "c_to")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class Charset(OpenModuleModel):
    replacements: list[Replacement] = []
    allowed: str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZÄÜÖ_"

    @field_validator("allowed")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CharsetConverter:
    def __init__(self, charset: Charset) -> None:
        self.replacements = [(replacement.c_from, replacement.c_to) for replacement in charset.replacements]
        self.allowed_chars = charset.allowed
        self._allowed = frozenset(charset.allowed)

    def clean(self, text: str) -> str:
        """Upper-case, replace, keep the allowed characters only."""
        text = text.upper()
        for old, new in self.replacements:
            text = text.replace(old, new)
        return "".join(char for char in text if char in self._allowed)


def _charset(allowed: str, replacements: list[tuple[str, str]]) -> Charset:
    return Charset.model_validate({"allowed": allowed, "replacements": [{"from": old, "to": new}
                                                                         for old, new in replacements]})


legacy_lpr_charset = _charset("0123456789abcdefghijklmnprstuvwxyz",
                              [("Ä", "A"), ("Ü", "U"), ("Ö", "O"), ("O", "0"), ("Q", "0")])
full_lpr_charset = _charset("0123456789ABCDEFGHIJKLMNOQPRSTUVWXYZÄÜÖ", [(" ", ""), ("-", ""), (".", "")])
