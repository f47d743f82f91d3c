"""``openmodule-host makemessages`` / ``translate`` / ``checktranslation``: what openmodule-commands'
``openmodule_makemessages``, ``openmodule_translate`` and ``openmodule_checktranslation`` do, with Babel instead
of the gettext command-line tools (xgettext, msgmerge, msgcat, msgfmt, msgattrib), so nothing but Python is
needed.

Layout (openmodule's): ``<out>/locale/translation.pot`` and ``<out>/locale/<lang>/LC_MESSAGES/translation.po``
/ ``.mo`` for each language (default ``en`` and ``de``). Texts are collected from the Python files under
``--files`` (and the packages of ``--packages``) with the keywords ``_``, ``__`` (singular, plural), ``___``,
``_c`` and ``__c`` (with a context first). Unless the package is a library (``--library``) or has a
``kraken_config.yml`` beside ``<out>``, the package keywords ``__READABLE_NAME`` and ``__DESCRIPTION`` (and
``__MODEL`` with ``--hardware``) are added, for the package's name and description in the garage's UI.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

# Babel and PyYAML load when a translation command runs: the CLI registers these commands on every start.
if TYPE_CHECKING:
    from babel.messages.catalog import Catalog

__all__ = ["COMMANDS", "add_translation_commands", "run_translation_command"]

COMMANDS = ("makemessages", "translate", "checktranslation")
KEYWORDS = ["__READABLE_NAME", "__DESCRIPTION"]
HARDWARE_KEYWORDS = [*KEYWORDS, "__MODEL"]
#: the gettext keywords of openmodule services, as Babel keyword specs
EXTRACT_KEYWORDS = {"_": None, "__": (1, 2), "___": None, "_c": ((1, "c"), 2), "__c": ((1, "c"), 2, 3)}
DOMAIN = "translation"


class TranslationError(Exception):
    """A command cannot go on; the message says why and what to do."""


class UsageError(TranslationError):
    """Bad arguments (a file or package that does not exist, an editor that is not installed)."""


# -- the parser (called from cli.py) ---------------------------------------------------------------------

def add_translation_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The three subcommands, with openmodule-commands' options."""
    make = commands.add_parser("makemessages", help="collect a plugin's texts into its gettext catalogues",
                               description="Collect the texts to translate, merge them into each language's "
                                           "catalogue, compile them, and open the editor for each language.")
    make.add_argument("--out", default="docker/translation", help="the translation folder (default docker/translation)")
    make.add_argument("--files", nargs="*", default=["src/"], help="files or folders to collect from (default src/)")
    make.add_argument("--packages", nargs="*", default=[],
                      help="installed packages whose texts and catalogues come along")
    make.add_argument("--no-translate", action="store_true", help="do not open the editor")
    make.add_argument("--hardware", action="store_true",
                      help="a hardware package without code: only the package keywords, with __MODEL")
    make.add_argument("--library", action="store_true",
                      help="no __READABLE_NAME/__DESCRIPTION, and obsolete texts are dropped")
    make.add_argument("--languages", nargs="*", default=["en", "de"], help="languages (lowercase ISO 639-1)")
    make.add_argument("--editor", default="poedit", help="the catalogue editor to open (default poedit)")

    translate = commands.add_parser("translate", help="edit one language's catalogue and compile it",
                                    description="Open the editor on one language's catalogue, then compile it.")
    translate.add_argument("--dir", default="docker/translation", help="the translation folder")
    translate.add_argument("--lang", default="de", help="the language (default de)")
    translate.add_argument("--editor", default="poedit", help="the catalogue editor to open (default poedit)")

    check = commands.add_parser("checktranslation", help="check a plugin's catalogues (for CI)",
                                description="Exit 1 unless every text is in each language's catalogue, every "
                                            "language but en has every text translated, the package keywords "
                                            "are translated, kraken_config.yml has its translations and the "
                                            "Dockerfile ships the catalogues.")
    check.add_argument("--dir", default="docker/translation", help="the translation folder")
    check.add_argument("--files", nargs="*", default=["src/"], help="files or folders to collect from")
    check.add_argument("--packages", nargs="*", default=[], help="installed packages whose texts come along")
    check.add_argument("--ignore-keywords", action="store_true", help="do not require the package keywords")
    check.add_argument("--hardware", action="store_true", help="a hardware package: only the package keywords")
    check.add_argument("--library", action="store_true", help="no package keywords")
    check.add_argument("--languages", nargs="*", default=["en", "de"], help="languages (lowercase ISO 639-1)")


def run_translation_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run one of :data:`COMMANDS`; 0 on success, 1 when the work or the check failed, 2 for bad usage."""
    try:
        if args.command == "makemessages":
            make_messages(Path(args.out), args.files, args.packages, languages=args.languages,
                          hardware=args.hardware, library=args.library,
                          editor=None if args.no_translate else args.editor, out=out)
            return 0
        if args.command == "translate":
            edit_catalogue(Path(args.dir), args.lang, args.editor, out)
            return 0
        problems = check_translations(Path(args.dir), args.files, args.packages, languages=args.languages,
                                      check_keywords=not args.ignore_keywords, hardware=args.hardware,
                                      library=args.library)
    except TranslationError as error:
        out.write(f"error: {error}\n")
        return 2 if isinstance(error, UsageError) else 1
    for problem in problems:
        out.write(problem + "\n")
    out.write("Translations ok\n" if not problems else "")
    return 1 if problems else 0


# -- collecting --------------------------------------------------------------------------------------------

def _package_dirs(packages: Iterable[str]) -> list[Path]:
    dirs = []
    for package in packages:
        spec = find_spec(package)
        if spec is None or spec.origin is None:
            raise UsageError(f"package {package} not found")
        dirs.append(Path(spec.origin).parent)
    return dirs


def _python_files(paths: Iterable[str | Path]) -> list[Path]:
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(file for file in path.rglob("*.py") if file.is_file())
        elif path.is_file():
            found.append(path)
        else:
            raise UsageError(f"{path} does not exist: give the files or folders to collect texts from (--files)")
    return found


def _package_keywords(out_dir: Path, hardware: bool, library: bool) -> list[str]:
    if library or (out_dir.parent / "kraken_config.yml").exists():
        return []
    return HARDWARE_KEYWORDS if hardware else KEYWORDS


def collect(files: Iterable[Path], keywords: Iterable[str]) -> Catalog:
    """The template catalogue: every text of ``files`` and the package ``keywords``."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_file

    template = Catalog(domain=DOMAIN, fuzzy=False)
    for keyword in keywords:
        template.add(keyword)
    for file in files:
        for _lineno, message, _comments, context in extract_from_file("python", file, keywords=EXTRACT_KEYWORDS):
            template.add(message, context=context)
    non_ascii = [text for message in template if message.id and not (text := _text(message.id)).isascii()]
    if non_ascii:
        raise TranslationError(f"texts to translate must be ASCII (translate them into the languages instead): "
                               f"{non_ascii}")
    return template


def _catalogue_path(out_dir: Path, language: str, suffix: str = ".po") -> Path:
    return out_dir / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}{suffix}"


def _read(path: Path, language: str) -> Catalog:
    from babel.messages.pofile import read_po

    with path.open("rb") as file:
        return read_po(file, locale=language, domain=DOMAIN)


def _write(path: Path, catalogue: Catalog, *, ignore_obsolete: bool = False) -> None:
    from babel.messages.pofile import write_po

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        write_po(file, catalogue, width=0, no_location=True, sort_output=True, ignore_obsolete=ignore_obsolete)


def compile_catalogue(out_dir: Path, language: str) -> None:
    """``msgfmt``: the ``.mo`` next to the ``.po`` (fuzzy entries left out)."""
    from babel.messages.mofile import write_mo

    with _catalogue_path(out_dir, language, ".mo").open("wb") as file:
        write_mo(file, _read(_catalogue_path(out_dir, language), language))


def make_messages(out_dir: Path, files: Sequence[str], packages: Sequence[str], *, languages: Sequence[str],
                  hardware: bool = False, library: bool = False, editor: str | None = None,
                  out: TextIO) -> None:
    """``openmodule_makemessages``: collect, merge into each language's catalogue (new texts added, gone ones
    kept as obsolete unless ``library``), take the translations the packages' own catalogues have, compile,
    and open ``editor`` on each catalogue (None: no editor)."""
    from babel.messages.catalog import Catalog

    package_dirs = [] if hardware else _package_dirs(packages)
    sources = [] if hardware else _python_files([*files, *package_dirs])
    template = collect(sources, _package_keywords(out_dir, hardware, library))
    if not len(template):
        out.write("Nothing to translate\n")
        return
    _write(out_dir / "locale" / f"{DOMAIN}.pot", template)
    for language in languages:
        path = _catalogue_path(out_dir, language)
        catalogue = _read(path, language) if path.exists() else Catalog(locale=language, domain=DOMAIN, fuzzy=False)
        catalogue.update(template)
        for package_dir in package_dirs:  # msgcat --use-first: the package's own translations win
            package_po = _catalogue_path(package_dir / "translation", language)
            if package_po.exists():
                for message in _read(package_po, language):
                    if message.id and message.string:
                        catalogue.add(message.id, message.string, context=message.context)
        _write(path, catalogue, ignore_obsolete=library)
        compile_catalogue(out_dir, language)
        if editor is not None:
            edit_catalogue(out_dir, language, editor, out)
    out.write(f"Collected {len(template)} texts into {', '.join(languages)}\n")


def edit_catalogue(out_dir: Path, language: str, editor: str, out: TextIO) -> None:
    """``openmodule_translate``: open ``editor`` on the language's catalogue, then compile it."""
    path = _catalogue_path(out_dir, language)
    if not path.exists():
        raise UsageError(f"{path} does not exist: run `openmodule-host makemessages` first")
    command = shlex.split(editor)
    if not command or shutil.which(command[0]) is None:
        raise UsageError(f"the editor {editor!r} is not installed: install it, pass --editor, or run makemessages "
                         f"with --no-translate and edit {path} yourself")
    subprocess.run([*command, str(path)], check=True)
    compile_catalogue(out_dir, language)
    out.write(f"Merged language {language}\n")


# -- checking -----------------------------------------------------------------------------------------------

def check_translations(out_dir: Path, files: Sequence[str], packages: Sequence[str], *, languages: Sequence[str],
                       check_keywords: bool = True, hardware: bool = False, library: bool = False) -> list[str]:
    """``openmodule_checktranslation``: what is wrong (nothing: an empty list)."""
    import yaml

    kraken_config = out_dir.parent / "kraken_config.yml"
    if kraken_config.exists():
        config = yaml.safe_load(kraken_config.read_text(encoding="utf-8")) or {}
        translations = config.get("translation") if isinstance(config, dict) else None
        if not isinstance(translations, dict) or any(
                not isinstance(translations.get(language), dict)
                or any(key not in translations[language] for key in ("name", "description")) for language in languages):
            return ["Translations in kraken_config.yml are missing or incomplete"]
        if not (out_dir / "locale" / f"{DOMAIN}.pot").exists():
            return []  # no texts besides the kraken config's
    keywords = [] if library or kraken_config.exists() else KEYWORDS
    if hardware:
        keywords = HARDWARE_KEYWORDS
    sources = [] if hardware else _python_files([*files, *_package_dirs(packages)])
    template = collect(sources, keywords)
    wanted = {(_text(message.id), message.context) for message in template if message.id}
    problems: list[str] = []
    for language in languages:
        path = _catalogue_path(out_dir, language)
        if not path.exists():
            problems.append(f"{path} is missing: create it with `openmodule-host makemessages`")
            continue
        catalogue = _read(path, language)
        have = {(_text(message.id), message.context) for message in catalogue if message.id}
        if missing := sorted(text for text, _context in wanted - have):
            problems.append(f"Not every text is in the {language} catalogue, run `openmodule-host makemessages`: "
                            + ", ".join(missing))
        untranslated = [message for message in catalogue
                        if message.id and (message.fuzzy or not _translated(message.string))]
        if check_keywords and (empty := [_text(m.id) for m in untranslated if _text(m.id) in keywords]):
            problems.append(f"Missing translated keywords in {language}: {', '.join(empty)}")
        if language != "en" and (empty := [_text(m.id) for m in untranslated if _text(m.id) not in keywords]):
            problems.append(f"Missing translations in {language}: {len(empty)}\n" + "\n".join(empty))
    dockerfile = out_dir.parent / "Dockerfile"
    if not problems and dockerfile.exists() and "ADD docker/translation /translation" not in dockerfile.read_text():
        problems.append("Translations are not added to docker image, add the line:\n"
                        "ADD docker/translation /translation")
    return problems


def _text(message_id: str | tuple[str, ...] | list[str]) -> str:
    """A message's text (the singular of a plural one)."""
    return message_id if isinstance(message_id, str) else message_id[0]


def _translated(string: str | tuple[str, ...] | list[str] | None) -> bool:
    if string is None or isinstance(string, str):
        return bool(string and string.strip())
    return all(form.strip() for form in string)

