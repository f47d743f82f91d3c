"""The test suite's own layout: helper modules live under ``tests/support/`` (the top level holds test modules
only), and the pytest markers declared in ``pyproject.toml`` are exactly the ones the tests use."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
#: markers pytest itself defines.
BUILTIN_MARKERS = {"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings", "timeout"}
#: markers the project's pytest plugin (openmodule_host.testing) declares for plugin authors' tests.
PLUGIN_MARKERS = {"om_config"}


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
    return used - BUILTIN_MARKERS - PLUGIN_MARKERS


def test_every_declared_marker_is_used_and_every_used_marker_declared() -> None:
    options = tomllib.loads((TESTS.parent / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    declared = {line.split(":", 1)[0].strip() for line in options.get("markers", [])}
    assert _used_markers() == declared


def test_the_markers_the_pytest_plugin_declares_are_the_ones_it_names(pytestconfig: pytest.Config) -> None:
    registered = {line.split("(", 1)[0].split(":", 1)[0].strip() for line in pytestconfig.getini("markers")}
    assert registered >= PLUGIN_MARKERS
