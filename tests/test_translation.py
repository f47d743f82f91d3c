"""A plugin's gettext catalogues: ``openmodule-host makemessages`` / ``translate`` / ``checktranslation`` on real
files, and ``Translation`` reading what they wrote (openmodule 18.5.0 reads them too:
tests/interop/test_translation_interop.py)."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from babel.messages.pofile import read_po
from openmodule_hookspecs import hookimpl

from openmodule_host.cli import main
from openmodule_host.utils import Translation

SOURCE = '''\
from openmodule_host.utils import Translation

def texts(_, __, ___, _c, __c, n):
    return [_("Gate opened"), __("{n} car waiting", "{n} cars waiting", n), ___("Later"), _c("button", "Open"),
            __c("sign", "{n} space", "{n} spaces", n)]
'''

#: what the "editor" (a script standing in for poedit) fills in
GERMAN = {"Gate opened": "Schranke offen", "{n} car waiting": ["{n} Auto wartet", "{n} Autos warten"],
          "Later": "Später", "Open": "Öffnen", "{n} space": ["{n} Platz", "{n} Plätze"],
          "__READABLE_NAME": "Schranke", "__DESCRIPTION": "Öffnet die Schranke"}
ENGLISH = {"__READABLE_NAME": "Barrier", "__DESCRIPTION": "Opens the barrier"}

EDITOR = '''\
import json, os, sys
from babel.messages.pofile import read_po, write_po
path = sys.argv[1]
with open(path, "rb") as file:
    catalogue = read_po(file)
for message in catalogue:
    if message.id:
        key = message.id if isinstance(message.id, str) else message.id[0]
        if key in (wanted := json.loads(os.environ["TRANSLATIONS"])):
            message.string = tuple(wanted[key]) if isinstance(wanted[key], list) else wanted[key]
with open(path, "wb") as file:
    write_po(file, catalogue)
'''


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A service folder as openmodule lays it out: src/ with the code, docker/translation for the catalogues."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "texts.py").write_text(SOURCE)
    (tmp_path / "editor.py").write_text(EDITOR)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def edit(service: Path, monkeypatch: pytest.MonkeyPatch, language: str, translations: dict[str, Any]) -> int:
    monkeypatch.setenv("TRANSLATIONS", json.dumps(translations))
    return main(["translate", "--lang", language, "--editor", f"{sys.executable} {service / 'editor.py'}"])


def catalogue(service: Path, language: str) -> Any:
    with (service / "docker" / "translation" / "locale" / language / "LC_MESSAGES" / "translation.po").open("rb") \
            as file:
        return read_po(file)


def test_makemessages_collects_the_texts_and_the_package_keywords_into_each_language(service, capsys):
    assert main(["makemessages", "--no-translate"]) == 0
    assert "Collected 7 texts into en, de" in capsys.readouterr().out
    assert (service / "docker" / "translation" / "locale" / "translation.pot").exists()
    for language in ("en", "de"):
        ids = {(message.id if isinstance(message.id, str) else message.id[0], message.context)
               for message in catalogue(service, language) if message.id}
        assert ids == {("Gate opened", None), ("{n} car waiting", None), ("Later", None), ("Open", "button"),
                       ("{n} space", "sign"), ("__READABLE_NAME", None), ("__DESCRIPTION", None)}
        assert (service / "docker" / "translation" / "locale" / language / "LC_MESSAGES" / "translation.mo").exists()


def test_translated_catalogues_are_what_the_plugin_reads(service, monkeypatch):
    main(["makemessages", "--no-translate"])
    assert edit(service, monkeypatch, "de", GERMAN) == 0
    german = Translation(service / "docker" / "translation" / "locale", "de")
    assert german._("Gate opened") == "Schranke offen"
    assert german.__("{n} car waiting", "{n} cars waiting", 1) == "{n} Auto wartet"
    assert german.__("{n} car waiting", "{n} cars waiting", 3) == "{n} Autos warten"
    assert german.___("Later") == "Later"  # only marked
    assert german.translate("Later", "de") == "Später"
    assert german.translate("Gate opened", "en") == "Gate opened"  # English: the text itself
    assert german.translate("Gate opened", "fr") == "Gate opened"  # no catalogue: as it is
    testing = Translation(service / "docker" / "translation" / "locale", "")  # LANGUAGE under TESTING
    assert testing._("Gate opened") == "Gate opened"
    assert testing.__("{n} car waiting", "{n} cars waiting", 2) == "{n} cars waiting"


def test_a_second_run_keeps_the_translations_and_marks_gone_texts_obsolete(service, monkeypatch):
    main(["makemessages", "--no-translate"])
    edit(service, monkeypatch, "de", GERMAN)
    (service / "src" / "texts.py").write_text('def texts(_):\n    return [_("Gate opened"), _("Gate closed")]\n')
    main(["makemessages", "--no-translate"])
    german = catalogue(service, "de")
    assert german["Gate opened"].string == "Schranke offen"
    guess = german["Gate closed"]  # a new text close to a translated one: a fuzzy guess, as msgmerge makes it
    assert guess.fuzzy and guess.string == "Schranke offen"
    assert Translation(service / "docker" / "translation" / "locale", "de")._("Gate closed") == "Gate closed"
    assert "Later" in german.obsolete
    main(["makemessages", "--no-translate", "--library"])  # a library drops them (msgattrib --no-obsolete)
    assert "Later" not in catalogue(service, "de").obsolete


def test_checktranslation_fails_until_every_text_is_collected_and_translated(service, monkeypatch, capsys):
    main(["makemessages", "--no-translate"])
    capsys.readouterr()
    assert main(["checktranslation"]) == 1
    report = capsys.readouterr().out
    assert "Missing translated keywords in en: __DESCRIPTION, __READABLE_NAME" in report
    assert "Missing translations in de: 5\nGate opened\nLater\nOpen\n{n} car waiting\n{n} space" in report
    edit(service, monkeypatch, "de", GERMAN)
    edit(service, monkeypatch, "en", ENGLISH)
    capsys.readouterr()
    assert main(["checktranslation"]) == 0
    assert capsys.readouterr().out.endswith("Translations ok\n")
    (service / "src" / "more.py").write_text('def more(_):\n    return _("Ticket expired")\n')
    assert main(["checktranslation"]) == 1
    assert "Not every text is in the de catalogue" in capsys.readouterr().out
    main(["makemessages", "--no-translate"])
    assert main(["checktranslation"]) == 1  # a fuzzy guess is no translation (it is not compiled)
    assert "Missing translations in de: 1\nTicket expired" in capsys.readouterr().out
    edit(service, monkeypatch, "de", {**GERMAN, "Ticket expired": "Ticket abgelaufen"})
    (service / "docker" / "Dockerfile").write_text("FROM python:3.12\n")
    assert main(["checktranslation"]) == 1
    assert "ADD docker/translation /translation" in capsys.readouterr().out
    (service / "docker" / "Dockerfile").write_text("FROM python:3.12\nADD docker/translation /translation\n")
    assert main(["checktranslation"]) == 0


def test_a_kraken_config_replaces_the_package_keywords_and_must_be_complete(service, capsys):
    (service / "docker").mkdir()
    (service / "docker" / "kraken_config.yml").write_text("translation:\n  en: {name: Barrier}\n")
    assert main(["checktranslation"]) == 1
    assert "kraken_config.yml are missing or incomplete" in capsys.readouterr().out
    (service / "docker" / "kraken_config.yml").write_text(textwrap.dedent("""\
        translation:
          en: {name: Barrier, description: Opens it}
          de: {name: Schranke, description: Öffnet sie}
    """))
    assert main(["checktranslation"]) == 0  # and no texts of its own yet: nothing else to check
    main(["makemessages", "--no-translate"])
    assert "__READABLE_NAME" not in catalogue(service, "en")


def test_bad_input_is_a_clear_error(service, capsys):
    (service / "src" / "umlaut.py").write_text('def texts(_):\n    return _("Schranke öffnen")\n')
    assert main(["makemessages", "--no-translate"]) == 1
    assert "texts to translate must be ASCII" in capsys.readouterr().out
    assert main(["makemessages", "--no-translate", "--files", "nowhere/"]) == 2
    assert "nowhere does not exist" in capsys.readouterr().out
    assert main(["translate", "--lang", "de"]) == 2
    assert "run `openmodule-host makemessages` first" in capsys.readouterr().out
    (service / "src" / "umlaut.py").unlink()
    main(["makemessages", "--no-translate"])
    capsys.readouterr()
    assert main(["translate", "--lang", "de", "--editor", "no-such-editor-here"]) == 2
    assert "the editor 'no-such-editor-here' is not installed" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="no English catalogue"):
        Translation(service / "nowhere", "de")


class Greeter:
    def __init__(self, locale_dir: Path) -> None:
        self.locale_dir = locale_dir
        self.greeting = ""

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        _ = Translation.for_plugin(core, self.locale_dir)._
        self.greeting = _("Gate opened")


def test_each_plugin_translates_into_its_own_language(service, monkeypatch, om_host):
    main(["makemessages", "--no-translate"])
    edit(service, monkeypatch, "de", GERMAN)
    locale = service / "docker" / "translation" / "locale"
    german, english = Greeter(locale), Greeter(locale)
    om_host(("german", german), ("english", english),
            config={"german": {"LANGUAGE": "de"}, "english": {"LANGUAGE": "en"}})
    assert (german.greeting, english.greeting) == ("Schranke offen", "Gate opened")
