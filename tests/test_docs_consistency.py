"""Where two pages of the docs say the same thing, they say it alike, and where a page lists what the code has,
the list is complete: architecture.md's module table names every module of ``openmodule_host``, and the
openmodule-test rows of the fake core are the same in testing.md and testing-fake-core.md."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _table_rows(text: str, after: str) -> list[str]:
    """The rows of the first table after the line ``after`` (header and rule left out)."""
    lines = text.splitlines()
    start = lines.index(after)
    rows: list[str] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append(line)
        elif rows:
            break
    return [row for row in rows[2:]]


def _named(module: Path, rows: list[str]) -> bool:
    """A module is named by its path (``wire/raw.py``), or by its file name in the row of its package
    (``| `database/` | `urls.py` ...``), or by its folder in that row (``alembic_env/``)."""
    path = module.as_posix()
    if any(f"`{path}`" in row or f"`{path}` (" in row for row in rows):
        return True
    parts = module.parts
    return len(parts) > 1 and any(
        f"`{parts[0]}/`" in row and (f"`{parts[-1]}`" in row or (len(parts) > 2 and f"`{parts[-2]}/`" in row))
        for row in rows)


def test_the_architecture_module_table_names_every_module() -> None:
    rows = _table_rows((DOCS / "architecture.md").read_text(encoding="utf-8"), "Inside `openmodule_host`:")
    package = ROOT / "openmodule_host"
    modules = sorted(path.relative_to(package) for path in package.rglob("*.py") if path.name != "__init__.py")
    assert [module.as_posix() for module in modules if not _named(module, rows)] == []


def test_a_module_is_found_by_its_path_or_in_its_packages_row() -> None:
    rows = ["| `wire/raw.py` | ... |", "| `database/` | `urls.py` (URLs), `alembic_env/` (the environment) |"]
    assert _named(Path("wire/raw.py"), rows)
    assert _named(Path("database/urls.py"), rows)
    assert _named(Path("database/alembic_env/env.py"), rows)
    assert not _named(Path("database/engines.py"), rows)
    assert not _named(Path("wire/codec.py"), rows)


def test_the_fake_cores_openmodule_test_rows_are_the_same_in_both_chapters() -> None:
    testing = _table_rows((DOCS / "testing.md").read_text(encoding="utf-8"),
                          "by name over the fake core (no broker), with their pytest-style and on-a-broker "
                          "equivalents:")
    fake_core = _table_rows((DOCS / "testing-fake-core.md").read_text(encoding="utf-8"),
                            "maps the rest of openmodule-test:")
    assert len(fake_core) >= 8
    assert testing == fake_core


def test_each_openmodule_test_name_has_one_row_in_testing_md() -> None:
    text = (DOCS / "testing.md").read_text(encoding="utf-8")
    rows = [row for row in text[text.index("## From openmodule-test"):].splitlines() if row.startswith("| `")]
    first_columns = [row.split("|")[1].strip() for row in rows]
    assert len(first_columns) == len(set(first_columns))
    classes = [column.split("`")[1] for column in first_columns]
    assert len(classes) == len(set(classes))
