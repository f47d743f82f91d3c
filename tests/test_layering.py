"""The import graph of ``openmodule_host`` has no cycles and keeps the layering rules of docs/architecture.md
("Module layout and layering").

The graph is built statically with :mod:`ast` from every import statement in the package's source: at module
level, inside functions and under ``if TYPE_CHECKING:`` alike. A type-only or deferred import ties two modules
together as much as any other for whoever reads or changes them, so each one counts. An edge goes to the module
the statement names (``from ..health import X`` is an edge to ``openmodule_host.health``, the package's
``__init__``; ``from ..health.status import X`` to ``openmodule_host.health.status``; ``from . import x`` to
``x`` when it is a submodule).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = "openmodule_host"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: the layers, from the top down (by the module's or package's name inside ``openmodule_host``): a module imports
#: only from its own layer or the layers below it. Each module of the package is in one.
LAYERS: list[set[str]] = [
    {"", "cli", "child", "testing", "translation_commands"},  # the entry points ("" is the package's __init__)
    {"host"},  # the shared infrastructure
    # starting plugins; the hooks they serve; openmodule's utilities (they find a plugin's core through compat)
    {"lifecycle", "access", "access_calls", "legacy", "privacy", "utils"},
    {"plugin"},  # a hosted plugin's record
    {"core", "compat"},  # its core
    {"rpc", "scheduling", "database", "alerts", "connection_status", "health", "observability"},  # the core's parts
    {"wire", "isolation", "watchdog", "limits", "budget", "stats", "config", "config_layers", "loader", "instances",
     "version", "placement"},  # the machinery below them
    {"states", "errors", "names", "masking", "throttle", "distributions", "config_env", "registration", "_lazy",
     "memory", "stop_signals", "cpu_claims"},  # the leaves
]

#: modules that import nothing from the host: anything may import them.
LEAVES = LAYERS[-1]

#: (packages or modules, what they must never import, why): each prefix matches a module and its submodules.
RULES: list[tuple[set[str], set[str], str]] = [
    ({"wire"}, {"plugin", "core", "lifecycle", "host", "rpc", "health", "isolation", "scheduling", "database",
                "access", "legacy", "privacy", "utils", "testing", "cli"},
     "wire/ carries frames: it knows no plugin code"),
    ({"isolation"}, {"plugin", "core", "lifecycle", "host", "cli", "testing", "child"},
     "isolation/ (mailboxes, workers, child processes) does not import back up; the child's entry point is child"),
    ({"observability"}, {"plugin", "core", "lifecycle", "host", "cli", "testing", "rpc", "connection_status"},
     "observability/ sees the host through its ObservedHost Protocol"),
    ({"health"}, {"plugin", "core", "lifecycle", "host", "cli", "testing"},
     "health/ sees a plugin through its PluginView Protocol"),
    ({"rpc", "scheduling", "database", "connection_status", "alerts"}, {"plugin", "lifecycle", "host", "cli"},
     "the parts a plugin's core is built from know nothing of the plugin record or the host"),
    ({"plugin", "core", "lifecycle"}, {"host", "cli"}, "the plugins' side does not reach back to the host"),
]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def _resolve(module: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = module.split(".")
    if not is_package:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, target] if target else base)


def _imports(module: str, path: Path, modules: Iterable[str]) -> set[str]:
    known = set(modules)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(module, path.name == "__init__.py", node.level, node.module)
            # ``from pkg import submodule`` imports the submodule; ``from pkg import name`` the package
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in known:  # ``import a.b.c`` of a name inside a module: its module
                name = name.rpartition(".")[0]
            if name.startswith(PACKAGE) and name != module:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    """Each module of the package and the modules of the package it imports."""
    modules = _modules()
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def _within(module: str, prefixes: set[str]) -> bool:
    local = module.removeprefix(f"{PACKAGE}.")
    return any(local == prefix or local.startswith(f"{prefix}.") for prefix in prefixes)


def test_the_import_graph_sees_the_package() -> None:
    graph = import_graph()
    assert "openmodule_host.host" in graph and "openmodule_host.lifecycle" in graph["openmodule_host.host"]
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycles() -> None:
    cycles = find_cycles(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(cycle) for cycle in cycles)


def _layer(module: str) -> int:
    local = module.removeprefix(PACKAGE).removeprefix(".")
    top = local.split(".")[0]
    return next(index for index, layer in enumerate(LAYERS) if top in layer)


def test_every_module_is_in_a_layer() -> None:
    unplaced = sorted(module for module in import_graph()
                      if not any(module.removeprefix(PACKAGE).removeprefix(".").split(".")[0] in layer
                                 for layer in LAYERS))
    assert unplaced == [], "place each new module in LAYERS (and in docs/architecture.md)"


def test_no_module_imports_from_a_layer_above_its_own() -> None:
    graph = import_graph()
    upward = sorted(f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
                    for module, targets in graph.items() for target in targets if _layer(target) < _layer(module))
    assert upward == []


def test_leaf_modules_import_nothing_from_the_host() -> None:
    graph = import_graph()
    offenders = {leaf: sorted(graph[f"{PACKAGE}.{leaf}"]) for leaf in LEAVES if graph[f"{PACKAGE}.{leaf}"]}
    assert offenders == {}


@pytest.mark.parametrize(("importers", "forbidden", "why"), RULES, ids=[rule[2] for rule in RULES])
def test_the_layering_rules_hold(importers: set[str], forbidden: set[str], why: str) -> None:
    graph = import_graph()
    broken = sorted(f"{module} imports {target}" for module, targets in graph.items() if _within(module, importers)
                    for target in targets if _within(target, forbidden))
    assert broken == [], why
