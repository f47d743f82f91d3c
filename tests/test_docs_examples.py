"""Every fenced code block in README.md and docs/*.md is checked, so an example cannot rot.

What is done with a block depends on its language and, for Python, on the marker on the last non-blank
line before its fence (an HTML comment, invisible in the rendered page)::

    <!-- docs-test: plugin NAME [ID] -->   a whole plugin module: installed as the package NAME (module
                                          NAME.plugin, entry point NAME in openmodule.plugins, version
                                          1.0.0) and started on a real host (it must start); ID (default
                                          NAME) is how test and fragment markers of the same file name it
    <!-- docs-test: test [ID] -->          a pytest module: run by pytest in a subprocess, with the plugin
                                          block ID installed and the om_host/om_client fixtures on a real
                                          broker; om_host is strict (by default: a plugin that fails to
                                          start fails the test); every test in it must pass
    <!-- docs-test: fragment [ID] -->      lines from inside a plugin: executed with `core` (the core of a
                                          running plugin: plugin block ID's, else an empty plugin's) in a
                                          namespace holding `hookimpl` and the plugin module's globals
    <!-- docs-test: compile-only REASON --> it cannot run (openmodule code, placeholders, a remote server):
                                          compiled only; the reason is required

Every ```python block needs one of these markers: nothing is skipped silently. Other languages need no
marker: ```toml parses with tomllib, and one with a [host] or [plugins.<name>] table validates with the
host's config loader (and each table of an installed plugin with that plugin's config_model;
`compile-only REASON` turns the validation off); ```json parses with the json module; ```yaml with
PyYAML (a dependency of the host); ```text (trees, diagrams) and ```console, ```shell, ```sh, ```bash
(shell sessions and commands) are not checked. A block without a language, or in another one, is
refused: name it.
"""

from __future__ import annotations

import importlib.util
import json
import os
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

from openmodule_host.config import build_plugin_config, load_host_config
from openmodule_host.host import Host
from openmodule_host.loader import discover, make_plugin_manager
from openmodule_host.plugin import PluginState

from .support.markdown import CodeBlock, MarkdownError, code_blocks

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
#: languages whose blocks are not checked: trees, diagrams, shell sessions and commands.
UNCHECKED = frozenset({"text", "console", "shell", "sh", "bash"})
#: how long one example test may take in its subprocess (pytest's start included) before it fails.
EXAMPLE_TIMEOUT = 120.0

MARKERS_HELP = (
    "put one of these on the line before its fence: "
    "<!-- docs-test: plugin NAME [ID] --> (a whole plugin module), "
    "<!-- docs-test: test [ID] --> (a pytest module, run against plugin block ID), "
    "<!-- docs-test: fragment [ID] --> (lines from inside a plugin, run with `core`), "
    "<!-- docs-test: compile-only REASON --> (it cannot run: say why); "
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
                raise DocsExampleError(f"{block.where}: write <!-- docs-test: plugin NAME [ID] -->")
            ident = arguments[-1]
            if ident in found:
                raise DocsExampleError(f"{block.where}: a second plugin block with ID {ident!r} (the first is at "
                                       f"{found[ident].where}): give one of them another ID")
            found[ident] = block
    return found


def referenced_plugin(block: CodeBlock, plugins: dict[str, CodeBlock]) -> CodeBlock | None:
    """The plugin block a test or fragment marker names (None when it names none)."""
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


def plugin_name(block: CodeBlock) -> str:
    assert block.marker is not None
    return block.marker.arguments[0]


def load_plugin_module(block: CodeBlock, directory: Path) -> ModuleType:
    """Import a plugin block as a module of its own (its own name, so versions of one plugin never clash)."""
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
    """Start ``plugin`` on a real host and return its core; it must reach ``running``."""
    host = om_host((name, plugin), strict=False)  # not strict: the failure is told below, naming the block
    hosted = host.plugins[name]
    if hosted.state is not PluginState.RUNNING or hosted.core is None:
        raise DocsExampleError(f"{where}: the plugin example does not start: {hosted.state}: {hosted.reason}")
    return hosted.core


class _EmptyPlugin:
    """The plugin a fragment without an ID runs in: it only has a core."""

    @hookimpl
    def register_handlers(self, core: object) -> None:
        pass


def run_fragment(block: CodeBlock, plugin: CodeBlock | None, om_host: Callable[..., Host], directory: Path) -> None:
    code = compile_block(block)
    if plugin is None:
        namespace: dict[str, Any] = {"hookimpl": hookimpl}
        core = started_plugin(om_host, "docs_fragment", _EmptyPlugin(), block.where)
    else:
        module = load_plugin_module(plugin, directory)
        namespace = {"hookimpl": hookimpl, **vars(module)}
        core = started_plugin(om_host, plugin_name(plugin), module, plugin.where)
    namespace["core"] = core
    try:
        exec(code, namespace)
    except Exception as error:
        raise DocsExampleError(f"{block.where}: the fragment raised {error!r} when run with a real plugin's "
                               f"`core`; fix it, or mark it <!-- docs-test: compile-only REASON -->") from error


def install_plugin(block: CodeBlock, site: Path) -> None:
    """Install a plugin block as the docs tell: a distribution whose entry point NAME is NAME.plugin."""
    name = plugin_name(block)
    package = site / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "plugin.py").write_text(block.code, encoding="utf-8")
    dist_info = site / f"{name}-1.0.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.0\n", encoding="utf-8")
    (dist_info / "entry_points.txt").write_text(f"[openmodule.plugins]\n{name} = {name}.plugin\n", encoding="utf-8")


def run_example_test(block: CodeBlock, plugin: CodeBlock | None, directory: Path) -> None:
    compile_block(block)
    site = directory / "site"
    site.mkdir()
    if plugin is not None:
        compile_block(plugin)
        install_plugin(plugin, site)
    (directory / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    test_file = directory / f"test_{block.path.stem.replace('-', '_')}_{block.line}.py"
    test_file.write_text(block.code, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(site)}
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
            installed = discover()
            for name, table in config.plugins.items():
                if name in installed:  # validated as the host would: against the plugin's config_model
                    model = make_plugin_manager(installed[name]).hook.config_model()
                    build_plugin_config(name, installed[name].version, table, config, model, env={})
        except Exception as error:
            raise DocsExampleError(f"{block.where}: the host config example is not valid: {error}") from None


def check_block(block: CodeBlock, blocks: list[CodeBlock], om_host: Callable[..., Host], directory: Path) -> None:
    """Check one block as its language and marker say; raise :class:`DocsExampleError` if it does not hold."""
    marker = block.marker
    if block.language == "python":
        if marker is None:
            raise DocsExampleError(f"{block.where}: a ```python block without a docs-test marker; {MARKERS_HELP}")
        plugins = plugin_blocks(blocks)
        if marker.kind == "plugin":
            compile_block(block)
            module = load_plugin_module(block, directory)
            started_plugin(om_host, plugin_name(block), module, block.where)
        elif marker.kind == "test":
            run_example_test(block, referenced_plugin(block, plugins), directory)
        elif marker.kind == "fragment":
            run_fragment(block, referenced_plugin(block, plugins), om_host, directory)
        elif marker.kind == "compile-only":
            if not marker.arguments:
                raise DocsExampleError(f"{block.where}: say why the block cannot run: "
                                       f"<!-- docs-test: compile-only REASON -->")
            compile_block(block)
        else:
            raise DocsExampleError(f"{block.where}: unknown docs-test marker {marker.kind!r}; {MARKERS_HELP}")
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
    elif block.language not in UNCHECKED:
        raise DocsExampleError(f"{block.where}: a code block in {block.language or 'no language'}; name its "
                               f"language: python, toml, json, yaml, or one of {', '.join(sorted(UNCHECKED))} "
                               f"(not checked: trees, diagrams, shell sessions)")


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
    broken = PLUGIN.replace("core.messages.register_handler(", "undefined_name(core, ")
    with pytest.raises(DocsExampleError, match=r"example.md:3: the plugin example does not start: failed: .*"
                                               r"undefined_name"):
        check_all(broken, om_host, example_dir)


def test_a_fragment_that_raises_is_reported(om_host: Callable[..., Host], example_dir: Path) -> None:
    with pytest.raises(DocsExampleError, match=r"example.md:2: the fragment raised .*no_such_attribute"):
        check_all("<!-- docs-test: fragment -->\n```python\ncore.no_such_attribute\n```\n", om_host, example_dir)


def test_a_fragment_runs_with_the_core_and_the_globals_of_its_plugin_block(
    om_host: Callable[..., Host], example_dir: Path
) -> None:
    check_all(PLUGIN + "\n<!-- docs-test: fragment demo_plugin -->\n```python\n"
              "assert core.name == 'demo_plugin' and callable(register_handlers)\n```\n", om_host, example_dir)


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


def test_an_example_test_passes_only_if_its_plugins_start(om_host: Callable[..., Host], example_dir: Path) -> None:
    """The rot the Counter example had: its plugin failed at start (a NameError) while its test passed."""
    rotten = ("<!-- docs-test: test -->\n```python\nfrom openmodule_hookspecs import hookimpl\n\n\n"
              "class Counter:\n    @hookimpl\n    def register_handlers(self, core):\n"
              "        core.messages.register_handler('greeting', Greeting, print)\n\n\n"
              "def test_counts(om_host):\n    om_host(('counter', Counter()))\n```\n")
    with pytest.raises(DocsExampleError, match=r"(?s)example.md:2: the example test failed.*NameError.*Greeting"):
        check_all(rotten, om_host, example_dir)


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
