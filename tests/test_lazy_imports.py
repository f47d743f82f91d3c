"""A host loads only what its plugins and settings use: SQLAlchemy for a plugin with a database, sentry-sdk
with a DSN, prometheus-client with ``--http``, the utilities' dependencies (PyYAML, editdistance, requests)
when a plugin uses them. Each case starts a host in a fresh interpreter (``tests/support/modules_at_ready.py``)
and reads which heavy modules are loaded once it is ready."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.modules_at_ready import WATCHED

ROOT = Path(__file__).parent.parent


def loaded_at_ready(tmp_path: Path, plugins: str, **settings: str) -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "tests.support.modules_at_ready", plugins,
         *(f"{key}={value}" for key, value in settings.items())],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DATABASE_FOLDER": str(tmp_path), "SENTRY_DSN": ""},
    )
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1])["loaded"])


def run_fresh(code: str) -> None:
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_a_host_with_a_plugin_without_database_dsn_or_http_loads_none_of_the_heavy_modules(tmp_path, broker_env):
    loaded = loaded_at_ready(tmp_path, "hello", broker_sub=broker_env["BROKER_SUB"],
                             broker_pub=broker_env["BROKER_PUB"])
    assert loaded == set()


def test_a_database_a_dsn_http_and_the_utilities_load_what_they_need(tmp_path, broker_env):
    # om_access_demo has migrations and uses openmodule_host.utils.get_lpr_id_search (PyYAML, editdistance).
    loaded = loaded_at_ready(tmp_path, "om_access_demo", broker_sub=broker_env["BROKER_SUB"],
                             broker_pub=broker_env["BROKER_PUB"], http="127.0.0.1:0",
                             sentry_dsn="https://public@127.0.0.1:9/1")
    assert {"sqlalchemy", "sentry_sdk", "prometheus_client", "yaml", "editdistance"} <= loaded
    # Alembic runs the migrations in a child process; requests only comes with the Api client.
    assert not {"alembic", "requests"} & loaded


@pytest.mark.parametrize(("statement", "modules"), [
    ("from openmodule_host.utils import Api", {"requests"}),
    ("from openmodule_host.utils import PlateYamlSelector", {"yaml", "editdistance"}),
    ("from openmodule_host.database import TZDateTime", {"sqlalchemy"}),
    ("from openmodule_host.observability import host_registry", {"prometheus_client"}),
], ids=["Api", "PlateYamlSelector", "TZDateTime", "host_registry"])
def test_the_public_import_paths_still_work_and_load_their_modules_on_first_use(statement, modules):
    run_fresh(
        "import sys\n"
        "import openmodule_host, openmodule_host.utils, openmodule_host.database, openmodule_host.observability\n"
        f"assert not {sorted(modules)!r} & sys.modules.keys(), sorted({sorted(modules)!r} & sys.modules.keys())\n"
        f"{statement}\n"
        f"assert set({sorted(modules)!r}) <= sys.modules.keys()\n"
    )


def test_the_watched_list_names_modules_that_exist():
    # a typo in WATCHED would make the first test pass for the wrong reason
    run_fresh(f"import importlib.util\nassert all(importlib.util.find_spec(name) for name in {list(WATCHED)!r})")
