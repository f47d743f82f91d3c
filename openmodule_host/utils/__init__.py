"""openmodule's utilities for plugins: licence-plate character sets and matching."""

from .charset import Charset, CharsetConverter, Replacement, full_lpr_charset, legacy_lpr_charset
from .matching import SEPARATOR_CHARS, MatchingConfig, PlateYaml, PlateYamlSelector

__all__ = [
    "SEPARATOR_CHARS",
    "Charset",
    "CharsetConverter",
    "MatchingConfig",
    "PlateYaml",
    "PlateYamlSelector",
    "Replacement",
    "full_lpr_charset",
    "legacy_lpr_charset",
]
