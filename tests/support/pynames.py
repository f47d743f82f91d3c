"""The names a Python example uses but never defines, found without running it (the standard ``symtable``).

An example that runs only part of its code (a function nobody calls in the test, a handler no message reaches)
can still name something it never imported: the Counter example used ``Greeting`` without importing it, and its
test passed. Reading every scope catches that wherever the name is.
"""

from __future__ import annotations

import ast
import builtins
import symtable
from dataclasses import dataclass

#: what every module has without defining it.
MODULE_NAMES = frozenset({"__name__", "__file__", "__doc__", "__spec__", "__package__", "__loader__",
                          "__builtins__", "__annotations__", "__dict__"})


@dataclass(frozen=True)
class Unresolved:
    """``name`` is used in ``scope`` (``<module>`` or a function or class name) and defined nowhere."""

    name: str
    scope: str


def unresolved_names(code: str, filename: str, provided: frozenset[str] = frozenset(),
                     module_only: frozenset[str] = frozenset()) -> list[Unresolved]:
    """The global names ``code`` uses without defining, importing or being ``provided`` them (builtins and
    module dunders are defined); each once, in the order the scopes come.

    ``module_only`` names are provided to the top-level lines only: a function that uses one is reported (a
    fragment's ``core`` is the running plugin's core, which a function of a plugin module only gets as its
    parameter).
    """
    top = symtable.symtable(code, filename, "exec")
    if any(isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names)
           for node in ast.walk(ast.parse(code, filename))):
        return []  # `from x import *`: what it defines is not known here
    defined = {symbol.get_name() for symbol in top.get_symbols()
               if symbol.is_assigned() or symbol.is_imported() or symbol.is_namespace()}
    defined |= _assigned_as_globals(top)
    known = defined | provided | MODULE_NAMES | set(dir(builtins))
    found: list[Unresolved] = []
    seen: set[tuple[str, str]] = set()

    def report(name: str, scope: str) -> None:
        if (name, scope) not in seen:
            seen.add((name, scope))
            found.append(Unresolved(name, scope))

    for symbol in top.get_symbols():
        if symbol.is_referenced() and symbol.get_name() not in known | module_only:
            report(symbol.get_name(), "<module>")

    def walk(table: symtable.SymbolTable) -> None:
        for child in table.get_children():
            for symbol in child.get_symbols():
                name = symbol.get_name()
                if symbol.is_referenced() and symbol.is_global() and name not in known:
                    report(name, child.get_name())
            walk(child)

    walk(top)
    return found


def _assigned_as_globals(table: symtable.SymbolTable) -> set[str]:
    """The names functions assign after declaring them ``global``: module globals too."""
    names: set[str] = set()
    for child in table.get_children():
        names |= {symbol.get_name() for symbol in child.get_symbols()
                  if symbol.is_declared_global() and symbol.is_assigned()}
        names |= _assigned_as_globals(child)
    return names
