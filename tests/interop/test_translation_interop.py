"""openmodule 18.5.0 reads the catalogues ``openmodule-host makemessages``/``translate`` write, and translates
with them as a plugin's ``Translation`` does (openmodule's ``utils/translation.py`` in its interpreter,
``peers/openmodule_toolkit.py``): the same texts, plural forms and ``translate`` answers per language."""

from __future__ import annotations

from pathlib import Path

import pytest

from openmodule_host.cli import main
from openmodule_host.utils import Translation
from tests.test_translation import EDITOR, ENGLISH, GERMAN, SOURCE, edit

from .test_toolkit_interop import run_openmodule

pytestmark = pytest.mark.interop

TEXTS = ["Gate opened", "Later", "Open", "__READABLE_NAME", "not in the catalogue", ""]
PLURALS = [["{n} car waiting", "{n} cars waiting", count] for count in (0, 1, 2, 5)]
TRANSLATE = [[text, language] for text in TEXTS[:3] for language in ("en", "de", "fr", "")]


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "texts.py").write_text(SOURCE)
    (tmp_path / "editor.py").write_text(EDITOR)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_openmodule_translates_with_our_catalogues_as_we_do(service, monkeypatch):
    assert main(["makemessages", "--no-translate"]) == 0
    edit(service, monkeypatch, "de", GERMAN)
    edit(service, monkeypatch, "en", ENGLISH)
    locale = service / "docker" / "translation" / "locale"
    languages = ["de", "en", "", "fr"]
    answers = run_openmodule({"translation": {"locale_dir": str(locale), "languages": languages, "texts": TEXTS,
                                              "plurals": PLURALS, "translate": TRANSLATE}})["translation"]
    assert answers["de"]["texts"][0] == "Schranke offen"  # openmodule did read the German catalogue
    for language in languages:
        ours = Translation(locale, language)
        assert answers[language] == {"texts": [ours._(text) for text in TEXTS],
                                     "plurals": [ours.__(*plural) for plural in PLURALS]}, language
    assert answers["translate"] == [Translation(locale, "de").translate(text, lang) for text, lang in TRANSLATE]
