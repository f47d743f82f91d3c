"""The test suite's own layout: helper modules live under ``tests/support/`` (the top level holds test modules
only), and the pytest markers declared (in ``pyproject.toml``, or by the pytest plugin the project ships for plugin
authors, ``openmodule_host.testing``) are exactly the ones the tests use."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path
from typing import cast

import pytest

from openmodule_host.testing import plugin as testing_plugin

TESTS = Path(__file__).resolve().parent
#: markers pytest itself defines.
BUILTIN_MARKERS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings", "timeout"}


def test_the_top_level_of_tests_holds_test_modules_only() -> None:
    helpers = sorted(path.name for path in TESTS.glob("*.py")
                     if path.name not in ("__init__.py", "conftest.py") and not path.name.startswith("test_"))
    assert helpers == [], "helper modules belong in tests/support/"


def _used_markers() -> set[str]:
    used = set()
    for path in TESTS.rglob("*.py"):
        if "fixtures" in path.relative_to(TESTS).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            # pytest.mark.NAME
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute)
                    and node.value.attr == "mark" and isinstance(node.value.value, ast.Name)
                    and node.value.value.id == "pytest"):
                used.add(node.attr)
    return used - BUILTIN_MARKERS


class _MarkerLines:
    """Stands in for pytest's config to collect the marker lines a plugin's ``pytest_configure`` adds."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def addinivalue_line(self, name: str, line: str) -> None:
        if name == "markers":
            self.lines.append(line)


def _marker_names(lines: list[str]) -> set[str]:
    return {line.split(":", 1)[0].split("(", 1)[0].strip() for line in lines}


def _plugin_markers() -> set[str]:
    collected = _MarkerLines()
    testing_plugin.pytest_configure(cast(pytest.Config, collected))
    return _marker_names(collected.lines)


def test_every_declared_marker_is_used_and_every_used_marker_declared() -> None:
    options = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = _marker_names(options.get("markers", [])) | _plugin_markers()
    assert _used_markers() == declared


def test_the_plugin_for_plugin_authors_declares_its_om_config_marker() -> None:
    assert _plugin_markers() == {"om_config"}
