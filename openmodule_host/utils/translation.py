"""gettext catalogues for a plugin (openmodule's ``utils/translation.py``).

openmodule loads one set of catalogues per process, from ``LOCALE_DIR``, and translates into the process's
``LANGUAGE``. In a host each plugin has its own: a :class:`Translation` holds the catalogues
``<locale_dir>/<lang>/LC_MESSAGES/translation.mo`` of one plugin (those ``openmodule-host makemessages``
writes) and its language, and gives openmodule's functions as methods::

    translation = Translation.for_plugin(core, Path(__file__).parent / "translation" / "locale")
    _, __, ___ = translation._, translation.__, translation.___
    _("Gate opened")                       # in the plugin's LANGUAGE
    __("{n} car", "{n} cars", 3)           # plural forms of that language
    translation.translate("Gate opened", "en")
"""

from __future__ import annotations

import gettext
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEFAULT_LANGUAGES", "DOMAIN", "Translation"]

#: the languages openmodule loads (the first is the default)
DEFAULT_LANGUAGES = ("en", "de")
#: the catalogue name: ``translation.po`` / ``translation.mo``
DOMAIN = "translation"


class Translation:
    """One plugin's catalogues and language. ``en`` must be there (openmodule asserts it at import); other
    languages are loaded when their folder exists. A language without a catalogue (``""`` under TESTING)
    leaves texts as they are."""

    def __init__(self, locale_dir: str | Path, language: str | None,
                 languages: Sequence[str] = DEFAULT_LANGUAGES) -> None:
        self.locale_dir = Path(locale_dir)
        self.language = language
        self.all_languages = list(languages)
        self.catalogues: dict[str, gettext.NullTranslations] = {}
        for code in self.all_languages:
            if (self.locale_dir / code).exists():
                self.catalogues[code] = gettext.translation(DOMAIN, localedir=str(self.locale_dir), languages=[code])
        if "en" not in self.catalogues:
            raise FileNotFoundError(
                f"no English catalogue in {self.locale_dir} (en/LC_MESSAGES/{DOMAIN}.mo): create the catalogues "
                f"with `openmodule-host makemessages`, and ship the locale folder with the plugin")
        #: the default catalogue (English), as openmodule's ``current_language``
        self.current_language = self.catalogues["en"]

    @classmethod
    def for_plugin(cls, core: Any, locale_dir: str | Path | None = None,
                   languages: Sequence[str] = DEFAULT_LANGUAGES) -> Translation:
        """The plugin's catalogues from ``locale_dir`` (default: its ``LOCALE_DIR`` setting), in its
        ``LANGUAGE``."""
        return cls(locale_dir if locale_dir is not None else core.config.LOCALE_DIR, core.config.LANGUAGE, languages)

    def _(self, text: str) -> str:
        """``text`` in the plugin's language (as it is without a catalogue for it, and for ``""``)."""
        catalogue = self.catalogues.get(self.language or "")
        return catalogue.gettext(text) if catalogue is not None and text else text

    def __(self, singular: str, plural: str, count: int) -> str:
        """The singular or plural form for ``count`` in the plugin's language."""
        catalogue = self.catalogues.get(self.language or "")
        if catalogue is not None:
            return catalogue.ngettext(singular, plural, count)
        return singular if count == 1 else plural

    @staticmethod
    def ___(text: str) -> str:
        """Marks ``text`` for translation without translating it (translate it later, e.g. per recipient)."""
        return text

    def translate(self, text: str, language: str) -> str:
        """``text`` in ``language`` (as it is without a catalogue for it)."""
        catalogue = self.catalogues.get(language)
        return str(catalogue.gettext(text)) if catalogue is not None and text else text
