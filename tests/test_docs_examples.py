"""Every fenced code block in README.md and docs/*.md is checked, so an example cannot rot.

What is done with a block depends on its language and, for Python, on the marker on the last non-blank
line before its fence (an HTML comment, invisible in the rendered page)::

    <!-- docs-test: plugin NAME[:OBJECT] [ID] -->
            a whole plugin module: installed as the package NAME (module NAME.plugin, entry point NAME =
            NAME.plugin, or NAME.plugin:OBJECT, in openmodule.plugins, version 1.0.0) and started on a real
            host (it must start); ID (default NAME) is how the other markers of the same file name it; two
            plugin blocks of one file have two names (a reader has one package per name)
    <!-- docs-test: test [ID] -->
            a pytest module: run by pytest in a subprocess, with the plugin block ID installed and the
            om_host/om_client fixtures on a real broker; every test in it must pass, every plugin it starts
            through om_host or om_fake must start (unless it says strict=False), and it must start plugin
            block ID's plugin
    <!-- docs-test: fragment [ID] -->
            lines of a plugin module: run in plugin block ID's module (or an installed example plugin's,
            `fragment backend_x`; else an empty one), their top-level lines with `core`, the core of that
            plugin running; the hooks the fragment defines join (or replace) that module's, and the plugin
            must start with them
    <!-- docs-test: migration ID -->
            an Alembic revision file for plugin block ID's models: upgraded on a fresh SQLite file, the
            schema must be the models' (no difference), then downgraded
    <!-- docs-test: file PATH -->
            lines copied from the file PATH of the repository (run by that file's own tests): each must
            still be a line of it, in the same order (an excerpt may leave out lines and comments)
    <!-- docs-test: openmodule -->
            openmodule code (a service before its port): compiled, and its openmodule imports run in
            openmodule's own environment (.venv-openmodule), in a child process
    <!-- docs-test: client PLUGINS -->
            a script a reader runs beside `openmodule-host --plugins PLUGINS`: the real command runs in a child
            process on a private broker (its addresses replace openmodule's defaults in the script), the
            script in another; what it prints must be what its trailing `# ` comment lines say (`...` stands
            for anything)
    <!-- docs-test: compile-only REASON -->
            it truly cannot run (a remote server, files the example does not show): compiled only; the
            reason is required

Every ```python block needs one of these markers: nothing is skipped silently. Whatever the marker, every
name a block uses must be defined, imported or given by the marker (`core` and `hookimpl` to a fragment,
and its plugin module's globals): checked in every scope, also in code the check does not run (tests/support/
pynames.py), so an example never shows a NameError.

Other languages need no marker: ```toml parses with tomllib, and one with a [host] or [plugins.<name>] table
validates with the host's config loader (and each table of an installed plugin with that plugin's
config_model; `compile-only REASON` turns the validation off); ```json parses with the json module; ```yaml
with PyYAML (a dependency of the host); ```console, ```shell, ```sh and ```bash lines that run
openmodule-host (after a `$ ` prompt) are checked as commands; ```text (trees, diagrams, output) is not
checked. A block without a language, or in another one, is refused: name it.

Commands: every `openmodule-host ...` the docs show (in a shell block, an indented code block or a code span
of the prose) may only name options the real argparse parser of that command has, and one without
placeholders must parse with it; cli.md documents every option of every command.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from openmodule_hookspecs import hookimpl
from sqlalchemy.orm import DeclarativeBase

from openmodule_host.cli import build_parser
from openmodule_host.config import build_plugin_config, load_host_config
from openmodule_host.host import Host
from openmodule_host.instances import resolve_instances
from openmodule_host.loader import discover, make_plugin_manager
from openmodule_host.plugin import PluginState
from openmodule_host.testing import MigrationTester, PrivateBroker, start_host_process

from .support.markdown import CodeBlock, MarkdownError, code_blocks
from .support.pynames import unresolved_names

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: languages whose blocks are not checked: trees, diagrams, output.
UNCHECKED = frozenset({"text"})
#: shell sessions and commands: their openmodule-host commands are checked.
SHELL = frozenset({"console", "shell", "sh", "bash"})
#: how long one example test may take in its subprocess (pytest's start included) before it fails.
EXAMPLE_TIMEOUT = 120.0
#: the conftest.py an example test runs with: it records the plugins the test started.
EXAMPLE_CONFTEST = Path(__file__).parent / "support" / "docs_example_conftest.py"
#: openmodule 18.5.0's interpreter, for openmodule code (never imported into this process: GPLv2).
OPENMODULE_PYTHON = Path(os.environ.get("OPENMODULE_PYTHON", ROOT / ".venv-openmodule" / "bin" / "python"))
#: openmodule's default broker addresses, as a client script for the reader's host has them.
DEFAULT_SUB, DEFAULT_PUB = "tcp://127.0.0.1:10100", "tcp://127.0.0.1:10200"
#: an openmodule-host command (optionally by a path, as `.venv/bin/openmodule-host`, after env assignments).
COMMAND = re.compile(r"^(?:[A-Z][A-Z0-9_]*=\S*\s+)*(?:\S*/)?openmodule-host(?:\s|$)")
ENV_ASSIGNMENT = re.compile(r"^[A-Z][A-Z0-9_]*=")
#: what makes a command a synopsis rather than one to run: its options are checked, it is not parsed.
PLACEHOLDER = re.compile(r"[\[\]()<>|{}]|\.\.\.|\u2026|\b[A-Z][A-Z_]{2,}\b")

MARKERS_HELP = (
    "put one of these on the line before its fence: "
    "<!-- docs-test: plugin NAME[:OBJECT] [ID] --> (a whole plugin module), "
    "<!-- docs-test: test [ID] --> (a pytest module, run against plugin block ID), "
    "<!-- docs-test: fragment [ID] --> (lines of a plugin module, run with `core` in plugin block ID's module), "
    "<!-- docs-test: migration ID --> (an Alembic revision of plugin block ID's models), "
    "<!-- docs-test: file PATH --> (lines copied from a file of the repository), "
    "<!-- docs-test: openmodule --> (openmodule code: its imports run in openmodule's environment), "
    "<!-- docs-test: client PLUGINS --> (a script run beside openmodule-host --plugins PLUGINS), "
    "<!-- docs-test: compile-only REASON --> (it truly cannot run: say why); "
    "see the docstring of tests/test_docs_examples.py"
)


class DocsExampleError(AssertionError):
    """An example that does not hold; the message names the file, the line and what to do."""


def _blocks_of(path: Path) -> list[CodeBlock]:
    try:
        return code_blocks(path)
    except MarkdownError:
        return []  # reported by test_markers_are_well_formed


ALL_BLOCKS = [block for path in DOCUMENTS for block in _blocks_of(path)]


# --- what is done with one block ------------------------------------------------------------------------


def plugin_blocks(blocks: list[CodeBlock]) -> dict[str, CodeBlock]:
    """The plugin blocks of one file by ID."""
    found: dict[str, CodeBlock] = {}
    for block in blocks:
        if block.marker is not None and block.marker.kind == "plugin":
            arguments = block.marker.arguments
            if not 1 <= len(arguments) <= 2:
                raise DocsExampleError(f"{block.where}: write <!-- docs-test: plugin NAME[:OBJECT] [ID] -->")
            ident = arguments[-1] if len(arguments) == 2 else plugin_name(block)
            if ident in found:
                raise DocsExampleError(f"{block.where}: a second plugin block with ID {ident!r} (the first is at "
                                       f"{found[ident].where}): give one of them another ID")
            same = [other for other in found.values() if plugin_name(other) == plugin_name(block)]
            if same:
                # the hole test_lookup fell through: each block was installed as a my_plugin of its own, while a
                # reader has one my_plugin package and adds the later block to it (and its settings model)
                raise DocsExampleError(f"{block.where}: a second plugin module named {plugin_name(block)!r} (the "
                                       f"first is at {same[0].where}); a reader of the page has one such package "
                                       f"and would add this code to it: give this plugin a name of its own")
            found[ident] = block
    return found


def referenced_plugin(block: CodeBlock, plugins: dict[str, CodeBlock]) -> CodeBlock | None:
    """The plugin block a test, fragment or migration marker names (None when it names none)."""
    assert block.marker is not None
    if len(block.marker.arguments) > 1:
        raise DocsExampleError(f"{block.where}: write <!-- docs-test: {block.marker.kind} [ID] -->")
    if not block.marker.arguments:
        return None
    ident = block.marker.arguments[0]
    if ident not in plugins:
        raise DocsExampleError(f"{block.where}: the marker names plugin block {ident!r}, which {block.path.name} "
                               f"does not have (plugin blocks there: {', '.join(plugins) or 'none'})")
    return plugins[ident]


def compile_block(block: CodeBlock) -> Any:
    try:
        return compile(block.code, str(block.path), "exec")
    except SyntaxError as error:
        line = block.line + (error.lineno or 0)
        raise DocsExampleError(f"{block.path.name}:{line}: the python example does not compile: {error.msg}; "
                               f"fix it (an omitted part is written `...`, on a line of its own or in a "
                               f"comment)") from None


def check_names(block: CodeBlock, provided: frozenset[str] = frozenset(),
                module_only: frozenset[str] = frozenset()) -> None:
    """Every name the block uses is defined, imported or ``provided``: also in code the check does not run."""
    missing = unresolved_names(block.code, str(block.path), provided, module_only)
    if missing:
        names = ", ".join(f"{name.name!r} (in {name.scope})" for name in missing)
        hint = (" (a fragment's `core` is for its top-level lines; a function takes the core as its parameter)"
                if any(name.name in module_only for name in missing) else "")
        raise DocsExampleError(f"{block.where}: the example uses {names} without defining or importing it{hint}; "
                               f"a reader who copies it gets a NameError: import or define it")


def plugin_name(block: CodeBlock) -> str:
    """NAME of ``plugin NAME[:OBJECT] [ID]``: the distribution, its package and its entry point."""
    assert block.marker is not None
    return block.marker.arguments[0].partition(":")[0]


def plugin_object(block: CodeBlock, module: ModuleType) -> Any:
    """What the entry point names: the module, or its OBJECT (``plugin NAME:OBJECT``)."""
    assert block.marker is not None
    attribute = block.marker.arguments[0].partition(":")[2]
    if not attribute:
        return module
    if not hasattr(module, attribute):
        raise DocsExampleError(f"{block.where}: the marker names {attribute!r}, which the plugin module does not "
                               f"define")
    return getattr(module, attribute)


def load_plugin_module(block: CodeBlock, directory: Path) -> ModuleType:
    """Import a plugin block as a module of its own (its own name, so versions of one plugin never clash)."""
    check_names(block)
    path = directory / f"{plugin_name(block)}_plugin_{block.line}.py"
    path.write_text(block.code, encoding="utf-8")
    module_name = f"docs_example_{block.path.stem.replace('-', '_')}_{block.line}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise DocsExampleError(f"{block.where}: the plugin example does not import: {error!r}") from error
    return module


def started_plugin(om_host: Callable[..., Host], name: str, plugin: object, where: str) -> Any:
    """Start ``plugin`` on a real host and return its core; it must reach ``running``. ``plugin`` is a plugin
    object (a module, an instance) started as ``name``, or None: the installed plugin ``name``."""
    spec = name if plugin is None else (name, plugin)
    host = om_host(spec, strict=False)  # not strict: the failure is told below, naming the block
    hosted = host.plugins[name]
    if hosted.state is not PluginState.RUNNING or hosted.core is None:
        raise DocsExampleError(f"{where}: the plugin example does not start: {hosted.state}: {hosted.reason}")
    return hosted.core


class _EmptyPlugin:
    """The plugin a fragment without an ID runs in: it only has a core."""

    @hookimpl
    def register_handlers(self, core: object) -> None:
        pass


def _is_hookimpl(value: object) -> bool:
    return callable(value) and hasattr(value, f"{hookimpl.project_name}_impl")


def _uses_core_at_top_level(block: CodeBlock) -> bool:
    return any(name.name == "core" for name in unresolved_names(block.code, str(block.path)))


def fragment_home(block: CodeBlock, plugins: dict[str, CodeBlock]) -> CodeBlock | str | None:
    """The plugin a fragment belongs to: a plugin block of its file, an installed plugin (as the example plugins
    of plugins_example/: `fragment backend_x`), or none."""
    assert block.marker is not None
    arguments = block.marker.arguments
    if len(arguments) == 1 and arguments[0] not in plugins and arguments[0] in discover():
        return arguments[0]
    return referenced_plugin(block, plugins)


def run_fragment(block: CodeBlock, home: CodeBlock | str | None, om_host: Callable[..., Host],
                 directory: Path) -> None:
    """Run a fragment as lines of its plugin's module: its top-level lines with the running plugin's `core`;
    the hooks it defines join (or replace) that module's hooks, and a plugin of that module must start."""
    code = compile_block(block)
    plugin: object = _EmptyPlugin()
    if isinstance(home, CodeBlock):
        module: ModuleType | None = load_plugin_module(home, directory)
        name, where = plugin_name(home), f"plugin block {home.where}"
        plugin = plugin_object(home, module)
    elif isinstance(home, str):
        module = importlib.import_module(discover()[home].target.partition(":")[0])
        name, where, plugin = home, f"the installed plugin {home}", None
    else:
        module, name, where = None, "docs_fragment", "an empty plugin"
    base: dict[str, Any] = {**(vars(module) if module is not None else {}), "hookimpl": hookimpl}
    # a plugin block's names are on the page; an installed plugin's module is not: its fragment imports its own
    seen = frozenset(base) if isinstance(home, CodeBlock) else frozenset({"hookimpl"})
    check_names(block, seen, module_only=frozenset({"core"}))
    namespace = {**base, "__name__": name,
                 "__file__": base.get("__file__") or str(directory / f"{name}_fragment_{block.line}.py")}
    if _uses_core_at_top_level(block):
        namespace["core"] = started_plugin(om_host, name, plugin, f"{block.where} ({where})")
        name = f"{name}_hooks"  # the fragment's own hooks, if any, run beside that plugin
    try:
        exec(code, namespace)
    except Exception as error:
        raise DocsExampleError(f"{block.where}: the fragment raised {error!r} when run in {where}, with a "
                               f"running plugin's `core`; fix it, or mark it <!-- docs-test: compile-only REASON -->"
                               ) from error
    defined = {key for key, value in namespace.items() if _is_hookimpl(value) and base.get(key) is not value}
    if defined:
        namespace.pop("core", None)
        hooked = ModuleType(name)
        vars(hooked).update(namespace)
        started_plugin(om_host, name, hooked, f"{block.where} (its hooks {', '.join(sorted(defined))} in {where})")


def install_plugin(block: CodeBlock, site: Path) -> None:
    """Install a plugin block as the docs tell: a distribution whose entry point NAME is NAME.plugin."""
    assert block.marker is not None
    name = plugin_name(block)
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "plugin.py").write_text(block.code, encoding="utf-8")
    target = f"{name}.plugin" + (f":{block.marker.arguments[0].partition(':')[2]}" if ":" in block.marker.arguments[0]
                                 else "")
    dist_info = site / f"{name}-1.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text(f"[openmodule.plugins]\n{name} = {target}\n", encoding="utf-8")


#: the states of a plugin that started.
STARTED = frozenset({PluginState.RUNNING.value, PluginState.DEGRADED.value})


def check_started(block: CodeBlock, plugin: CodeBlock | None, report: Path) -> None:
    """Every plugin the example test started through om_host or om_fake runs, and it starts (or imports from)
    the plugin block it is marked for. A test about a failing plugin starts it with ``strict=False`` and looks
    at it (``host.plugins["NAME"]``); a failure nobody looks at means the test checks nothing about it."""
    started = json.loads(report.read_text(encoding="utf-8")) if report.exists() else []
    failed = [entry for entry in started if entry["state"] not in STARTED
              and not (entry["strict"] is False and f'plugins["{entry["name"]}"]' in block.code)]
    if failed:
        reasons = "; ".join(f"{entry['name']}: {entry['state']}: {entry['reason']}" for entry in failed)
        raise DocsExampleError(f"{block.where}: the example test passed, but a plugin it starts did not start "
                               f"({reasons}): the test checks nothing about it; fix the example")
    if plugin is None:
        return
    name = plugin_name(plugin)
    if name not in {entry["entry_point"] for entry in started} and name not in imported_packages(block.code):
        raise DocsExampleError(f"{block.where}: the example test is marked for plugin block {plugin.where} but "
                               f"neither starts {name!r} (om_host or om_fake) nor imports from it: it checks "
                               f"nothing about it")


def imported_packages(code: str) -> set[str]:
    """The top-level packages ``code`` imports from."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
    return found


def run_example_test(block: CodeBlock, plugin: CodeBlock | None, directory: Path) -> None:
    compile_block(block)
    check_names(block)
    site = directory / "site"
    site.mkdir()
    if plugin is not None:
        compile_block(plugin)
        check_names(plugin)
        install_plugin(plugin, site)
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    shutil.copy(EXAMPLE_CONFTEST, directory / "conftest.py")
    report = directory / "started.json"
    test_file = directory / f"test_{block.path.stem.replace('-', '_')}_{block.line}.py"
    test_file.write_text(block.code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site), "DOCS_EXAMPLE_REPORT": str(report)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test_file.name],
            cwd=directory, env=env, capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as error:
        raise DocsExampleError(f"{block.where}: the example test did not finish in {EXAMPLE_TIMEOUT:.0f} s") from error
    if result.returncode != 0:
        against = f" against plugin block {plugin.where}" if plugin is not None else ""
        output = textwrap.indent((result.stdout + result.stderr)[-6000:], "    ")
        reason = "collected no test" if result.returncode == 5 else "failed"
        raise DocsExampleError(f"{block.where}: the example test {reason} (run with pytest{against}); fix the "
                               f"example (or the code, where the docs are right):\n{output}")
    check_started(block, plugin, report)


def run_migration(block: CodeBlock, plugin: CodeBlock | None, directory: Path) -> None:
    """An Alembic revision of a plugin block's models: upgraded on a fresh SQLite file, the schema must be the
    models' (Alembic's comparison finds no difference), and it downgrades again."""
    compile_block(block)
    check_names(block)
    if plugin is None:
        raise DocsExampleError(f"{block.where}: write <!-- docs-test: migration ID -->, ID the plugin block whose "
                               f"models the revision creates")
    module = load_plugin_module(plugin, directory)
    metadata = {id(value.metadata): value.metadata for value in vars(module).values()
                if isinstance(value, type) and issubclass(value, DeclarativeBase) and value is not DeclarativeBase}
    if len(metadata) != 1:
        raise DocsExampleError(f"{block.where}: plugin block {plugin.where} has {len(metadata)} declarative bases; "
                               f"a migration example needs the one its revision creates")
    folder = directory / "migrations"
    folder.mkdir()
    (folder / f"revision_{block.line}.py").write_text(block.code, encoding="utf-8")
    try:
        with MigrationTester.sqlite(folder, directory, metadata=next(iter(metadata.values()))) as tester:
            tester.upgrade_each()
            tester.assert_schema_matches_models()
            tester.downgrade_each()
    except Exception as error:
        raise DocsExampleError(f"{block.where}: the revision does not create plugin block {plugin.where}'s "
                               f"models: {error}") from error


def check_file_excerpt(block: CodeBlock) -> None:
    """The block is a verbatim excerpt of a file of the repository (run by that file's own tests)."""
    assert block.marker is not None
    if len(block.marker.arguments) != 1:
        raise DocsExampleError(f"{block.where}: write <!-- docs-test: file PATH -->, PATH from the repository root")
    path = ROOT / block.marker.arguments[0]
    if not path.is_file():
        raise DocsExampleError(f"{block.where}: the marker names {block.marker.arguments[0]}, which does not exist")
    lines = iter(_code_lines(path.read_text(encoding="utf-8")))
    for line in _code_lines(block.code):
        if not any(line == other for other in lines):
            raise DocsExampleError(f"{block.where}: {line!r} is not (or no longer, or not in this order) a line of "
                                   f"{block.marker.arguments[0]}; copy the file's lines again")


def _code_lines(code: str) -> list[str]:
    """The non-blank lines of ``code`` without their trailing comments (``  # ...``): an excerpt may leave out
    lines, docstrings and comments, nothing else."""
    return [line.split("  #")[0].rstrip() for line in code.splitlines() if line.strip()]


def run_client_script(block: CodeBlock, directory: Path) -> None:
    """A script a reader runs beside ``openmodule-host --plugins PLUGINS``: the real command runs in a child
    process on a private broker, whose addresses replace openmodule's defaults in the script; the script runs
    with this interpreter (the host's environment), and what it prints must be what its trailing ``# ``
    comment lines say (``...`` stands for anything)."""
    assert block.marker is not None
    compile_block(block)
    check_names(block)
    if len(block.marker.arguments) != 1:
        raise DocsExampleError(f"{block.where}: write <!-- docs-test: client PLUGINS -->, PLUGINS as for --plugins")
    lines = block.code.rstrip().splitlines()
    expected: list[str] = []
    while lines and lines[-1].startswith("# "):
        expected.insert(0, lines.pop()[2:])
    if not expected:
        raise DocsExampleError(f"{block.where}: a client script ends with what it prints, as `# ` comment lines")
    broker = PrivateBroker()
    process = start_host_process(broker, block.marker.arguments[0].split(","), data_dir=str(directory / "data"),
                                 dsgvo=False)
    try:
        process.wait_ready(EXAMPLE_TIMEOUT)
        script = directory / f"client_{block.line}.py"
        script.write_text(block.code.replace(DEFAULT_SUB, broker.sub_address).replace(DEFAULT_PUB, broker.pub_address),
                          encoding="utf-8")
        try:
            result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                                    timeout=EXAMPLE_TIMEOUT, cwd=directory)
        except subprocess.TimeoutExpired as error:
            raise DocsExampleError(f"{block.where}: the script did not finish in {EXAMPLE_TIMEOUT:.0f} s (does it "
                                   f"use openmodule's default addresses, {DEFAULT_SUB} and {DEFAULT_PUB}?)") from error
    finally:
        process.close()
        broker.close()
    printed = result.stdout.strip().splitlines()
    patterns = [re.compile(".*?".join(re.escape(part) for part in line.split("...")) + r"\Z") for line in expected]
    if result.returncode != 0 or len(printed) != len(expected) or not all(
            pattern.match(line) for pattern, line in zip(patterns, printed, strict=True)):
        printed_text = textwrap.indent(result.stdout + result.stderr, "    ")
        raise DocsExampleError(f"{block.where}: the script printed\n{printed_text}where the example says\n"
                               f"{textwrap.indent(chr(10).join(expected), '    ')}")


def check_openmodule_code(block: CodeBlock) -> None:
    """openmodule code (before a port): it compiles here, and its imports of openmodule run in openmodule's own
    environment, in a child process (openmodule is never imported into this one)."""
    compile_block(block)
    check_names(block)
    imports = [ast.unparse(node) for node in ast.walk(ast.parse(block.code))
               if (isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "openmodule")
               or (isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "openmodule"
                                                        for alias in node.names))]
    if not imports:
        raise DocsExampleError(f"{block.where}: an openmodule block that imports nothing of openmodule: "
                               f"mark it for what it is")
    if not OPENMODULE_PYTHON.exists():
        raise DocsExampleError(f"{block.where}: no openmodule environment at {OPENMODULE_PYTHON}: `make test` "
                               f"installs it (make openmodule-env); the example cannot be checked without it")
    result = subprocess.run([str(OPENMODULE_PYTHON), "-c", "\n".join(imports)], capture_output=True, text=True,
                            timeout=EXAMPLE_TIMEOUT, env={**os.environ, "PYTHONPATH": ""})
    if result.returncode != 0:
        raise DocsExampleError(f"{block.where}: its openmodule imports fail in openmodule's environment:\n"
                               f"{textwrap.indent(result.stderr[-3000:], '    ')}")


def check_toml(block: CodeBlock, directory: Path) -> None:
    try:
        data = tomllib.loads(block.code)
    except tomllib.TOMLDecodeError as error:
        raise DocsExampleError(f"{block.where}: the toml example does not parse: {error}") from None
    validate = block.marker is None or block.marker.kind != "compile-only"
    if validate and ("host" in data or "plugins" in data):
        path = directory / "host.toml"
        path.write_text(block.code, encoding="utf-8")
        try:
            config = load_host_config(path, env={})
            known = resolve_instances(discover(), config.plugins)  # installed plugins and their instances
            for name, table in config.plugins.items():
                if name in known:  # validated as the host would: against the (instance's) plugin's config_model
                    model = make_plugin_manager(known[name]).hook.config_model()
                    build_plugin_config(name, known[name].version, table, config, model, env={})
        except Exception as error:
            raise DocsExampleError(f"{block.where}: the host config example is not valid: {error}") from None


def check_python(block: CodeBlock, blocks: list[CodeBlock], om_host: Callable[..., Host], directory: Path) -> None:
    marker = block.marker
    if marker is None:
        raise DocsExampleError(f"{block.where}: a ```python block without a docs-test marker; {MARKERS_HELP}")
    plugins = plugin_blocks(blocks)
    if marker.kind == "plugin":
        compile_block(block)
        module = load_plugin_module(block, directory)
        started_plugin(om_host, plugin_name(block), plugin_object(block, module), block.where)
    elif marker.kind == "test":
        run_example_test(block, referenced_plugin(block, plugins), directory)
    elif marker.kind == "fragment":
        run_fragment(block, fragment_home(block, plugins), om_host, directory)
    elif marker.kind == "migration":
        run_migration(block, referenced_plugin(block, plugins), directory)
    elif marker.kind == "file":
        compile_block(block)
        check_file_excerpt(block)
    elif marker.kind == "openmodule":
        check_openmodule_code(block)
    elif marker.kind == "client":
        run_client_script(block, directory)
    elif marker.kind == "compile-only":
        if not marker.arguments:
            raise DocsExampleError(f"{block.where}: say why the block cannot run: "
                                   f"<!-- docs-test: compile-only REASON -->")
        compile_block(block)
        check_names(block)
    else:
        raise DocsExampleError(f"{block.where}: unknown docs-test marker {marker.kind!r}; {MARKERS_HELP}")


def check_block(block: CodeBlock, blocks: list[CodeBlock], om_host: Callable[..., Host], directory: Path) -> None:
    """Check one block as its language and marker say; raise :class:`DocsExampleError` if it does not hold."""
    marker = block.marker
    if block.language == "python":
        check_python(block, blocks, om_host, directory)
        return
    if marker is not None and not (block.language == "toml" and marker.kind == "compile-only" and marker.arguments):
        raise DocsExampleError(f"{block.where}: a docs-test marker on a ```{block.language or '(no language)'} "
                               f"block; markers are for ```python blocks (and `compile-only REASON` for a toml "
                               f"config that is not meant to validate): remove it")
    if block.language == "toml":
        check_toml(block, directory)
    elif block.language == "json":
        try:
            json.loads(block.code)
        except json.JSONDecodeError as error:
            raise DocsExampleError(f"{block.where}: the json example does not parse: {error}") from None
    elif block.language == "yaml":
        try:
            yaml.safe_load(block.code)
        except yaml.YAMLError as error:
            raise DocsExampleError(f"{block.where}: the yaml example does not parse: {error}") from None
    elif block.language in SHELL:
        for line, command in shell_commands(block):
            check_command(command, f"{block.path.name}:{line}")
    elif block.language not in UNCHECKED:
        raise DocsExampleError(f"{block.where}: a code block in {block.language or 'no language'}; name its "
                               f"language: python, toml, json, yaml, one of {', '.join(sorted(SHELL))} (its "
                               f"openmodule-host commands are checked) or one of {', '.join(sorted(UNCHECKED))} "
                               f"(not checked: trees, diagrams, output)")


# --- openmodule-host commands: each one shown must parse with the real parser ----------------------------


def shell_commands(block: CodeBlock) -> Iterator[tuple[int, str]]:
    """The ``openmodule-host`` commands of a shell block (a leading ``$ `` prompt is dropped), by line."""
    for offset, line in enumerate(block.code.splitlines(), start=1):
        text = line.strip().removeprefix("$ ")
        if COMMAND.match(text):
            yield block.line + offset, text


def document_commands(path: Path, text: str | None = None) -> Iterator[tuple[int, str]]:
    """The ``openmodule-host`` commands a document shows outside fenced blocks: code spans in the prose, and
    lines of indented code blocks, by line."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    fence: str | None = None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                fence = None
            continue
        if stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
            continue
        if line.startswith("    ") and COMMAND.match(stripped):
            yield number, stripped
            continue
        for span in re.findall(r"`([^`]+)`", line):
            if COMMAND.match(span.strip()):
                yield number, span.strip()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def check_command(command: str, where: str) -> None:
    """A command shown in the docs names a real command and only its real options; a command without
    placeholders (``NAME``, ``<x>``, ``[...]``, ``a | b``, ``...``) parses with the host's own argparse parser."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:  # an unbalanced quote in a synopsis: its words are still checked
        words = command.split()
    while words and ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    arguments = words[1:]
    parser = build_parser()
    commands = _subparsers(parser)
    first = arguments[0].strip("[]()") if arguments else "run"  # `[run]` in a synopsis
    if not first.startswith("-") and first not in commands:
        raise DocsExampleError(f"{where}: `{command}` names the command {first!r}, which openmodule-host does not "
                               f"have (its commands: {', '.join(commands)})")
    name = first if first in commands else "run"
    known = set(parser._option_string_actions) | set(commands[name]._option_string_actions)
    for word in arguments:
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", word):
            if option not in known:
                options = ", ".join(sorted(commands[name]._option_string_actions))
                raise DocsExampleError(f"{where}: `{command}` shows {option}, which `openmodule-host {name}` does "
                                       f"not have (its options: {options})")
    names_a_command = not arguments or (len(arguments) == 1 and arguments[0] in commands)  # `openmodule-host db`
    if names_a_command or PLACEHOLDER.search(" ".join(arguments)):
        return  # not a command line to run
    if arguments[0] not in commands and arguments[0] not in ("-h", "--help", "--version"):
        arguments = ["run", *arguments]
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(arguments)
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            raise DocsExampleError(f"{where}: `{command}` does not parse: {errors.getvalue().strip()}") from None


# --- the docs -------------------------------------------------------------------------------------------


@pytest.fixture
def example_dir(tmp_path: Path) -> Iterator[Path]:
    modules = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - modules:  # the plugin examples imported under their own names
        if name.startswith("docs_example_"):
            del sys.modules[name]


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_markers_are_well_formed(path: Path) -> None:
    code_blocks(path)


def test_the_docs_have_examples_to_check() -> None:
    languages = {block.language for block in ALL_BLOCKS}
    assert {"python", "toml", "json", "yaml"} <= languages
    kinds = {block.marker.kind for block in ALL_BLOCKS if block.marker is not None}
    assert {"plugin", "test", "fragment", "compile-only"} <= kinds


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=lambda block: block.where)
def test_example(block: CodeBlock, om_host: Callable[..., Host], example_dir: Path) -> None:
    same_file = [other for other in ALL_BLOCKS if other.path == block.path]
    check_block(block, same_file, om_host, example_dir)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_the_commands_shown_are_real(path: Path) -> None:
    for line, command in document_commands(path):
        check_command(command, f"{path.name}:{line}")


def indented_host_configs(path: Path, text: str | None = None) -> list[int]:
    """The lines where an indented code block (not a fenced one: not validated) starts a host config table."""
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    found, fence = [], None
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if fence is not None:
            fence = None if stripped.startswith(fence) and set(stripped) == {fence[0]} else fence
        elif stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif line.startswith("    ") and re.match(r"\[(host|plugins\.[^\]]+)\]\s*$", stripped):
            found.append(number)
    return found


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.name)
def test_host_configs_are_fenced_toml_blocks_so_that_they_are_validated(path: Path) -> None:
    assert indented_host_configs(path) == [], f"{path.name}: write these host configs as ```toml blocks"


def test_an_indented_host_config_is_found() -> None:
    assert indented_host_configs(Path("example.md"), "Text:\n\n    [plugins.hello]\n    greeting = 5\n") == [3]


def test_the_docs_show_commands_to_check() -> None:
    assert len([command for path in DOCUMENTS for command in document_commands(path)]) >= 10


def undocumented_options(cli_md: str) -> list[str]:
    """The options of each openmodule-host command that cli.md names neither on the command's synopsis line
    nor in its section (`## run`, `## db`, `## makemessages, translate, checktranslation`, ...)."""
    sections: dict[str, str] = {}
    preamble, *parts = re.split(r"(?m)^## ", cli_md)
    for part in parts:
        heading, _, body = part.partition("\n")
        for name in heading.split(","):
            sections[name.strip().strip("`")] = body
    synopsis = {line.split()[1].strip("[]"): line for line in preamble.splitlines()
                if line.startswith("    openmodule-host ") and len(line.split()) > 1}
    missing = []
    for name, command in _subparsers(build_parser()).items():
        text = sections.get(name, "") + synopsis.get(name, "")
        missing += [f"{name} {option}" for option in command._option_string_actions
                    if option.startswith("--") and option != "--help" and not re.search(rf"{option}(?![\w-])", text)]
    return missing


def test_cli_md_documents_every_option_of_every_command() -> None:
    assert undocumented_options((ROOT / "docs" / "cli.md").read_text(encoding="utf-8")) == []


# --- the checker itself: each kind of rot is caught, with the place and what to do -----------------------

PLUGIN = '''
<!-- docs-test: plugin demo_plugin -->
```python
from openmodule_hookspecs import ZMQMessage, hookimpl


@hookimpl
def register_handlers(core):
    core.messages.register_handler("demo", ZMQMessage, lambda message: None, match_type=False)
```
'''


def blocks_of(text: str) -> list[CodeBlock]:
    return code_blocks(Path("example.md"), textwrap.dedent(text))


def check_all(text: str, om_host: Callable[..., Host], directory: Path) -> None:
    blocks = blocks_of(text)
    for index, block in enumerate(blocks):
        place = directory / str(index)
        place.mkdir()
        check_block(block, blocks, om_host, place)


def test_a_python_block_without_a_marker_is_refused_naming_its_line_and_the_markers(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    with pytest.raises(DocsExampleError, match=r"example.md:3: a ```python block without a docs-test marker.*"
                                               r"<!-- docs-test: compile-only REASON -->"):
        check_all("Text.\n\n```python\nprint('hi')\n```\n", om_host, example_dir)


def test_a_block_that_does_not_compile_is_reported_at_its_line(om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match=r"example.md:5: the python example does not compile"):
        check_all("<!-- docs-test: compile-only shows a placeholder -->\n```python\nx = 1\n\ndef f(...):\n"
                  "    pass\n```\n", om_host, example_dir)


def test_compile_only_needs_a_reason(om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match="say why the block cannot run"):
        check_all("<!-- docs-test: compile-only -->\n```python\nx = 1\n```\n", om_host, example_dir)


def test_a_plugin_example_that_does_not_start_is_reported(om_host: Callable[..., Host], example_dir: Path) -> None:
    broken = PLUGIN.replace("core.messages.register_handler(", "raise RuntimeError('no camera'); print(")
    with pytest.raises(DocsExampleError, match=r"example.md:3: the plugin example does not start: failed: .*"
                                               r"no camera"):
        check_all(broken, om_host, example_dir)


def test_a_fragment_that_raises_is_reported(om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match=r"example.md:2: the fragment raised .*no_such_attribute"):
        check_all("<!-- docs-test: fragment -->\n```python\ncore.no_such_attribute\n```\n", om_host, example_dir)


def test_a_fragment_runs_with_the_core_and_the_globals_of_its_plugin_block(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    check_all(PLUGIN + "\n<!-- docs-test: fragment demo_plugin -->\n```python\n"
              "assert core.name == 'demo_plugin' and callable(register_handlers)\n```\n", om_host, example_dir)


def test_two_plugin_modules_of_one_name_in_one_file_are_refused(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    """The hole the test_lookup example fell through: its RPC plugin was a second `my_plugin` (with a whitelist
    setting), tested alone, while the reader's `my_plugin` had the first block's settings model only."""
    with pytest.raises(DocsExampleError, match=r"example.md:13: a second plugin module named 'demo_plugin' \(the "
                                               r"first is at example.md:3\).*give this plugin a name of its own"):
        check_all(PLUGIN + PLUGIN.replace("plugin demo_plugin", "plugin demo_plugin other"), om_host, example_dir)


def test_a_marker_naming_a_missing_plugin_block_is_refused(om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match=r"names plugin block 'other', which example.md does not have "
                                               r"\(plugin blocks there: demo_plugin\)"):
        check_all(PLUGIN + "\n<!-- docs-test: test other -->\n```python\ndef test_x(): pass\n```\n",
                  om_host, example_dir)


def test_an_example_test_that_fails_is_reported_with_pytests_output(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    failing = ("\n<!-- docs-test: test demo_plugin -->\n```python\n"
               "def test_demo(om_host):\n    host = om_host('demo_plugin')\n"
               "    assert host.plugins['demo_plugin'].topics == ['elsewhere']\n```\n")
    with pytest.raises(DocsExampleError, match=r"(?s)example.md:13: the example test failed \(run with pytest "
                                               r"against plugin block example.md:3\).*'elsewhere'"):
        check_all(PLUGIN + failing, om_host, example_dir)


def test_a_name_used_but_never_imported_is_reported_even_where_the_example_does_not_run(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    """The rot the Counter example had: `Greeting` was never imported (its plugin failed at start, its test
    passed); the name is found in the function that uses it, before anything runs."""
    rotten = ("<!-- docs-test: test -->\n```python\nfrom openmodule_hookspecs import hookimpl\n\n\n"
              "class Counter:\n    @hookimpl\n    def register_handlers(self, core):\n"
              "        core.messages.register_handler('greeting', Greeting, print)\n\n\n"
              "def test_counts(om_host):\n    om_host(('counter', Counter()))\n```\n")
    with pytest.raises(DocsExampleError, match=r"example.md:2: the example uses 'Greeting' \(in register_handlers\) "
                                               r"without defining or importing it"):
        check_all(rotten, om_host, example_dir)


def test_a_fragments_function_that_uses_the_fragments_core_is_reported(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    """A plugin module has no global `core`: a function of a fragment takes it as its parameter."""
    fragment = "<!-- docs-test: fragment -->\n```python\ndef on_frame(frame):\n    core.log.info(frame)\n```\n"
    with pytest.raises(DocsExampleError, match=r"example.md:2: the example uses 'core' \(in on_frame\).*a function "
                                               r"takes the core as its parameter"):
        check_all(fragment, om_host, example_dir)


def test_an_example_test_passes_only_if_its_plugins_start(om_host: Callable[..., Host], example_dir: Path) -> None:
    """A test that starts a plugin with strict=False and never looks at it: the plugin's failure is reported (the
    test about a failing plugin in testing.md looks at it: `host.plugins["broken"].state`)."""
    rotten = ("<!-- docs-test: test -->\n```python\nfrom openmodule_hookspecs import hookimpl\n\n\n"
              "class Camera:\n    @hookimpl\n    def register_handlers(self, core):\n"
              "        raise RuntimeError('no camera')\n\n\n"
              "def test_camera(om_host):\n    om_host(('camera', Camera()), strict=False)\n```\n")
    with pytest.raises(DocsExampleError, match=r"example.md:2: the example test passed, but a plugin it starts did "
                                               r"not start \(camera: failed: .*no camera"):
        check_all(rotten, om_host, example_dir)


def test_an_example_test_must_start_or_import_the_plugin_it_is_marked_for(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    unrelated = "\n<!-- docs-test: test demo_plugin -->\n```python\ndef test_nothing():\n    assert True\n```\n"
    with pytest.raises(DocsExampleError, match=r"example.md:13: the example test is marked for plugin block "
                                               r"example.md:3 but neither starts 'demo_plugin'"):
        check_all(PLUGIN + unrelated, om_host, example_dir)


def test_a_fragments_hooks_join_its_plugin_and_must_start(om_host: Callable[..., Host], example_dir: Path) -> None:
    fragment = ("\n<!-- docs-test: fragment demo_plugin -->\n```python\n@hookimpl\ndef shutdown(core):\n"
                "    pass\n\n\n@hookimpl\ndef register_handlers(core):\n    raise RuntimeError('no camera')\n```\n")
    with pytest.raises(DocsExampleError, match=r"example.md:13 \(its hooks register_handlers, shutdown in plugin "
                                               r"block example.md:3\): the plugin example does not start: .*no camera"):
        check_all(PLUGIN + fragment, om_host, example_dir)


def test_a_fragment_may_belong_to_an_installed_example_plugin(om_host: Callable[..., Host], example_dir: Path) -> None:
    check_all("<!-- docs-test: fragment backend_x -->\n```python\nfrom backend_x.models import WhitelistEntry\n\n"
              "with core.database() as session:\n    session.get(WhitelistEntry, 'GARIVO1')\n```\n",
              om_host, example_dir)


def test_a_fragment_of_an_installed_plugin_imports_what_it_uses(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    """backend_x's module imports Path, but a reader does not see that module: the fragment must import it."""
    fragment = ("<!-- docs-test: fragment backend_x -->\n```python\n@hookimpl\ndef database_migrations():\n"
                "    return Path(__file__).with_name('migrations')\n```\n")
    with pytest.raises(DocsExampleError, match=r"example.md:2: the example uses 'Path' \(in database_migrations\)"):
        check_all(fragment, om_host, example_dir)


KV_PLUGIN = '''
<!-- docs-test: plugin notes -->
```python
from openmodule_hookspecs import hookimpl
from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String, nullable=False)


@hookimpl
def register_handlers(core):
    pass
```
'''

REVISION = '''
<!-- docs-test: migration notes -->
```python
import sqlalchemy as sa
from alembic import op

revision = "0001_note"
down_revision = None


def upgrade() -> None:
    op.create_table("note", sa.Column("id", sa.Integer(), nullable=False),
                    sa.Column("text", sa.String(), nullable=False), sa.PrimaryKeyConstraint("id"))


def downgrade() -> None:
    op.drop_table("note")
```
'''


def test_a_migration_example_creates_its_plugins_models(om_host: Callable[..., Host], example_dir: Path) -> None:
    check_all(KV_PLUGIN + REVISION, om_host, example_dir)


def test_a_migration_example_that_misses_a_column_is_reported(om_host: Callable[..., Host], example_dir: Path) -> None:
    missing = REVISION.replace('\n                    sa.Column("text", sa.String(), nullable=False),', "")
    with pytest.raises(DocsExampleError, match=r"example.md:\d+: the revision does not create plugin block "
                                               r"example.md:3's models"):
        check_all(KV_PLUGIN + missing, om_host, example_dir)


def test_a_file_excerpt_must_still_be_in_the_file(om_host: Callable[..., Host], example_dir: Path) -> None:
    excerpt = "<!-- docs-test: file plugins_example/welcome/welcome_plugin/plugin.py -->\n```python\n{}```\n"
    check_all(excerpt.format("class WelcomeSettings(BaseModel):\n    gate: str = 'in-1'\n".replace("'", '"')),
              om_host, example_dir)
    with pytest.raises(DocsExampleError, match=r"example.md:2: \'    gate: str = \"out-1\"\' is not \(or no longer"):
        (example_dir / "changed").mkdir()
        check_all(excerpt.format('class WelcomeSettings(BaseModel):\n    gate: str = "out-1"\n'), om_host,
                  example_dir / "changed")


def test_a_client_script_must_print_what_it_says(om_host: Callable[..., Host], example_dir: Path) -> None:
    [quickstart] = [block for block in ALL_BLOCKS if block.marker is not None and block.marker.kind == "client"]
    claimed = quickstart.code.replace("Hello, garage!", "Servus, garage!")
    with pytest.raises(DocsExampleError, match=r"(?s)example.md:2: the script printed.*Hello, garage!.*where the "
                                               r"example says.*Servus, garage!"):
        check_all(f"<!-- docs-test: client hello -->\n```python\n{claimed}```\n", om_host, example_dir)


def test_openmodule_code_imports_only_what_openmodule_has(om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match=r"(?s)example.md:2: its openmodule imports fail in openmodule's "
                                               r"environment.*NoSuchThing"):
        check_all("<!-- docs-test: openmodule -->\n```python\nfrom openmodule.core import NoSuchThing\n```\n",
                  om_host, example_dir)


def test_an_instance_table_is_validated_with_its_entry_points_settings(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    with pytest.raises(DocsExampleError, match=r"(?s)example.md:1: the host config example is not valid: .*"
                                               r"\[plugins.gate_in\] greeting"):
        check_all('```toml\n[plugins.gate_in]\nplugin = "hello"\ngreeting = 5\n```\n', om_host, example_dir)


def test_a_host_config_with_a_wrong_plugin_setting_is_reported(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    with pytest.raises(DocsExampleError, match=r"(?s)example.md:1: the host config example is not valid: .*"
                                               r"\[plugins.hello\] greeting"):
        check_all('```toml\n[plugins.hello]\ngreeting = 5\n```\n', om_host, example_dir)


@pytest.mark.parametrize(("text", "error"), [
    ("```\ntree/\n```\n", r"example.md:1: a code block in no language; name its language"),
    ("```json\n{'single': 'quotes'}\n```\n", r"example.md:1: the json example does not parse"),
    ("```yaml\nkey: [unclosed\n```\n", r"example.md:1: the yaml example does not parse"),
    ("```toml\n[host\n```\n", r"example.md:1: the toml example does not parse"),
    ("<!-- docs-test: fragment -->\n```json\n{}\n```\n", r"example.md:2: a docs-test marker on a ```json block"),
    ("<!-- docs-test: frgament -->\n```python\nx = 1\n```\n", r"unknown docs-test marker 'frgament'"),
])
def test_other_rot_is_reported(text: str, error: str, om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match=error):
        check_all(text, om_host, example_dir)


@pytest.mark.parametrize(("text", "error"), [
    ("<!-- docs-test: fragment -->\nSome prose.\n```python\nx = 1\n```\n", r"example.md:1: a docs-test marker that "
                                                                          r"no code block follows"),
    ("<!-- docs-test: fragment -->\n", r"example.md:1: a docs-test marker at the end of the file"),
    ("<!-- docs-test fragment -->\n```python\nx = 1\n```\n", r"example.md:1: malformed docs-test marker"),
    ("```python\nx = 1\n", r"example.md:1: a code block that is never closed"),
])
def test_misplaced_markers_are_reported(text: str, error: str) -> None:
    with pytest.raises(MarkdownError, match=error):
        blocks_of(text)


@pytest.mark.parametrize(("command", "error"), [
    ("openmodule-host db upgrade --plugin broken --strict", r"shows --strict, which `openmodule-host db` does not"),
    ("openmodule-host broker --broker external", r"shows --broker, which `openmodule-host broker` does not have"),
    ("openmodule-host db (upgrade | current) --plugin NAME --strict", r"shows --strict"),  # a synopsis too
    ("openmodule-host fly --plugins hello", r"names the command 'fly', which openmodule-host does not have"),
    ("openmodule-host --plugins hello --isolation fork", r"(?s)does not parse: .*invalid choice: 'fork'"),
    ("openmodule-host db upgrade", r"(?s)does not parse: .*required: .*--plugin"),
])
def test_a_command_the_docs_show_must_be_real(command: str, error: str) -> None:
    with pytest.raises(DocsExampleError, match=error):
        check_command(command, "example.md:1")


@pytest.mark.parametrize("command", [
    "openmodule-host --plugins hello,backend_x --config host.toml",
    "GATE_IN__GATE=in-2 .venv/bin/openmodule-host --config garage.toml --plugins gate_in",
    "openmodule-host db upgrade --plugin backend_x      # to the newest revision",
    "openmodule-host [run] (--plugins NAMES | --all-plugins) [options]",
    "openmodule-host makemessages",
])
def test_real_commands_and_synopses_pass(command: str) -> None:
    check_command(command, "example.md:1")


def test_commands_are_found_in_code_spans_indented_blocks_and_shell_blocks(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    text = ("Run `openmodule-host --plugins hello --strikt`.\n\n    openmodule-host plugins --jsn\n\n"
            "```console\n$ openmodule-host broker --broker-sub tcp://127.0.0.1:1 --hhtp x\n```\n")
    assert [line for line, _ in document_commands(Path("example.md"), text)] == [1, 3]
    with pytest.raises(DocsExampleError, match=r"example.md:6: .* shows --hhtp"):
        check_all(text, om_host, example_dir)


def test_an_option_cli_md_does_not_name_is_reported() -> None:
    cli_md = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    renamed = cli_md.replace("--import-timeout", "--import-time-limit")
    assert undocumented_options(renamed) == ["plugins --import-timeout"]
