"""The installed distributions read without importlib.metadata give what importlib.metadata gives, defer to it
where they cannot tell, and keep pydantic's own plugin scan where a pydantic plugin is installed."""

import json
import os
import os.path
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from openmodule_host.distributions import entry_points, installed, load_target, skip_pydantic_plugin_scan, version

ROOT = Path(__file__).parent.parent


def dist_info(folder: Path, name: str, version: str, entry_points: str = "") -> Path:
    info = folder / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nThe description.\n")
    if entry_points:
        (info / "entry_points.txt").write_text(entry_points)
    return info


def fresh(code: str, *paths: Path) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(path) for path in paths)}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_installed_plugins_are_the_entry_points_importlib_metadata_finds():
    expected = sorted((entry_point.name, entry_point.value, entry_point.dist.name, entry_point.dist.version)
                      for entry_point in metadata.entry_points(group="openmodule.plugins") if entry_point.dist)
    found = sorted((entry_point.name, entry_point.value, entry_point.distribution, entry_point.version)
                   for entry_point in entry_points("openmodule.plugins"))
    assert found == expected
    assert ("hello", "hello_plugin.plugin", "openmodule-plugin-hello", "0.1.0") in found


@pytest.mark.parametrize("name", ["openmodule-host", "openmodule_hookspecs", "pydantic", "PyZMQ"])
def test_a_version_is_the_one_importlib_metadata_reads(name):
    assert version(name) == metadata.version(name)


def test_a_distribution_that_is_not_installed_has_no_version():
    assert version("no-such-distribution-here") is None


def test_a_dist_info_folder_gives_its_name_version_and_entry_points_and_the_first_of_a_name_wins(tmp_path):
    dist_info(tmp_path / "first", "Some-Plugin", "1.2.3",
              "# a comment\n[openmodule.plugins]\nsome = some_plugin.plugin:Plugin\n\n[console_scripts]\nsome = x:y\n")
    dist_info(tmp_path / "second", "some_plugin", "9.9.9", "[openmodule.plugins]\nother = other:plugin\n")
    distributions = installed([str(tmp_path / "first"), str(tmp_path / "missing"), str(tmp_path / "second")])
    assert distributions is not None
    [distribution] = distributions
    assert (distribution.name, distribution.version) == ("Some-Plugin", "1.2.3")
    plugins = distribution.group("openmodule.plugins")
    assert [(entry.name, entry.value) for entry in plugins] == [("some", "some_plugin.plugin:Plugin")]
    assert [(entry.name, entry.value) for entry in distribution.group("console_scripts")] == [("some", "x:y")]


def test_where_distributions_may_be_in_a_zip_file_or_an_egg_info_it_defers_to_importlib_metadata(tmp_path):
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("bundled-1.0.dist-info/METADATA", "Name: bundled\nVersion: 1.0\n")
    assert installed([str(archive)]) is None
    (tmp_path / "eggs" / "old.egg-info").mkdir(parents=True)
    assert installed([str(tmp_path / "eggs")]) is None


def test_a_target_loads_as_an_entry_point_loads():
    assert load_target("os.path:join") is os.path.join
    assert load_target("os : path.join") is os.path.join
    assert load_target("json") is json
    assert load_target("json:loads [extra]") is json.loads
    with pytest.raises(AttributeError):
        load_target("json:no_such_name")
    with pytest.raises(ModuleNotFoundError):
        load_target("no_such_module_here:x")
    with pytest.raises(ValueError, match="not an entry point target"):
        load_target("not a target")


def test_the_scan_is_kept_where_pydantic_is_loaded_already_or_a_pydantic_plugin_is_installed(tmp_path):
    # pydantic's loader is loaded in this test process (the host's models were built): nothing changes
    assert skip_pydantic_plugin_scan([]) is False
    dist_info(tmp_path, "a-pydantic-plugin", "1.0", "[pydantic]\nlog = a_pydantic_plugin:plugin\n")
    distributions = installed([str(tmp_path)])
    assert distributions is not None and distributions[0].group("pydantic")


def test_importing_the_host_does_not_import_importlib_metadata_and_pydantic_finds_no_plugins():
    loaded = fresh(
        "import sys\n"
        "import openmodule_host, openmodule_hookspecs\n"
        "from pydantic.plugin._loader import get_plugins\n"
        "assert list(get_plugins()) == []\n"
        "print('importlib.metadata' in sys.modules)\n"
    )
    assert loaded.strip() == "False"


def test_a_name_the_replacement_lacks_comes_from_pydantics_own_loader():
    """A later pydantic may import another name from its loader: the replacement must not make that fail."""
    found = fresh(
        "import openmodule_host, openmodule_hookspecs\n"
        "from pydantic.plugin._loader import get_plugins, entry_points\n"
        "import sys\n"
        "print(entry_points.__module__, list(get_plugins()) == [])\n"
    )
    assert found.split() == ["importlib.metadata", "True"]


def test_an_installed_pydantic_plugin_is_still_loaded_by_pydantic(tmp_path):
    dist_info(tmp_path, "seen-models", "1.0", "[pydantic]\nseen = seen_models:plugin\n")
    (tmp_path / "seen_models.py").write_text(
        "SEEN = []\n"
        "class Plugin:\n"
        "    def new_schema_validator(self, schema, schema_type, *args, **kwargs):\n"
        "        SEEN.append(schema_type.__name__)\n"
        "        return None, None, None\n"
        "plugin = Plugin()\n"
    )
    seen = fresh("import openmodule_host, seen_models\nprint(','.join(seen_models.SEEN))\n", tmp_path)
    assert "HostConfig" in seen.strip().split(",")
