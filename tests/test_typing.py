"""The plugin contract (``openmodule_hookspecs``) and the host's implementation of it do not drift apart.

mypy checks that the host's core and each of its parts satisfy their Protocols (types), and the signature
comparison below that they take the same parameter names, kinds and defaults: a plugin may pass any of them
by keyword, and mypy does not compare positional parameter names.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
import typing
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest
from openmodule_hookspecs import (
    Access,
    AccessCheckAccess,
    AccessCheckRequest,
    AccessCheckResponse,
    AccessRequest,
    AccessResponse,
    Alerts,
    AnonymizeMessage,
    ConnectionListener,
    CountMessage,
    Database,
    Health,
    HealthResult,
    Messages,
    PluginCore,
    RPCClient,
    RPCEntry,
    RPCServer,
    Scheduler,
    SessionErrorMessage,
    SessionFinishMessage,
    SessionStartMessage,
    specs,
)
from pydantic import BaseModel

from openmodule_host import HostedCore
from openmodule_host.alerts import PluginAlerts
from openmodule_host.connection_status import ConnectionStatusListener
from openmodule_host.core import PluginMessages
from openmodule_host.database import PluginDatabase
from openmodule_host.health import PluginHealth
from openmodule_host.rpc import PluginRPCClient, PluginRPCServer, RPCCall
from openmodule_host.scheduling import PluginScheduler

TYPING = Path(__file__).parent / "typing"
ROOT = Path(__file__).parent.parent

IMPLEMENTATIONS: list[tuple[type[Any], type[Any]]] = [
    (PluginCore, HostedCore),
    (Messages, PluginMessages),
    (RPCServer, PluginRPCServer),
    (RPCClient, PluginRPCClient),
    (RPCEntry, RPCCall),
    (Health, PluginHealth),
    (Alerts, PluginAlerts),
    (ConnectionListener, ConnectionStatusListener),
    (Database, PluginDatabase),
    (Scheduler, PluginScheduler),
]


def _methods(protocol: type[Any]) -> dict[str, Any]:
    """The methods and properties a Protocol declares itself (attributes are left to mypy)."""
    return {name: member for name, member in vars(protocol).items()
            if (callable(member) or isinstance(member, property))
            and (not name.startswith("_") or name in ("__call__", "__enter__", "__exit__"))}


def _parameters(member: Any) -> list[tuple[str, Any, Any]]:
    function = member.fget if isinstance(member, property) else member
    return [(parameter.name, parameter.kind, parameter.default)
            for parameter in inspect.signature(function).parameters.values()]


@pytest.mark.parametrize(("protocol", "implementation"), IMPLEMENTATIONS,
                         ids=[protocol.__name__ for protocol, _ in IMPLEMENTATIONS])
def test_the_host_takes_the_parameters_the_contract_declares(protocol, implementation):
    methods = _methods(protocol)
    assert methods
    for name, member in methods.items():
        assert hasattr(implementation, name), f"{implementation.__name__} lacks {name}"
        ours = inspect.getattr_static(implementation, name)
        assert isinstance(ours, property) == isinstance(member, property), f"{name}: property or method"
        assert _parameters(ours) == _parameters(member), f"{implementation.__name__}.{name}"


def _mypy(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-error-summary", "--hide-error-context",
         *map(str, files)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )


def test_mypy_finds_the_hosted_core_and_its_parts_satisfy_the_contract_protocols():
    """``tests/typing/core_contract.py`` assigns the host's core and parts to their Protocols: it checks clean;
    ``tests/typing/mismatch.py`` shows the check fails on a drifted part, on exactly its ``# drift`` lines."""
    mismatch = TYPING / "mismatch.py"
    result = _mypy(TYPING / "core_contract.py", mismatch)
    errors = [line for line in result.stdout.splitlines() if re.search(r":\d+: error:", line)]
    drift = [number for number, line in enumerate(mismatch.read_text().splitlines(), 1) if line.endswith("# drift")]
    assert drift
    assert [line.split(":")[:2] for line in errors] == [["tests/typing/mismatch.py", str(n)] for n in drift], (
        result.stdout + result.stderr)


def test_the_hook_specifications_name_the_models_a_plugin_is_handed():
    """Each spec's annotations are the concrete contract types, never ``Any``: what a hook gets and may return."""
    core = {"core": PluginCore}
    expected: dict[str, dict[str, Any]] = {
        "config_model": {"return": type[BaseModel] | None},
        "database_migrations": {"return": str | os.PathLike[str] | None},
        "register_handlers": {**core, "return": type(None)},
        "shutdown": {**core, "return": type(None)},
        "health": {**core, "return": HealthResult | None},
        "check_access": {**core, "request": AccessCheckRequest,
                         "return": list[AccessCheckAccess] | AccessCheckResponse | None},
        "check_backend_access": {**core, "request": AccessRequest, "return": list[Access] | AccessResponse | None},
        "access_protocols": {**core, "return": Collection[str] | None},
        "anonymize": {**core, "message": AnonymizeMessage, "return": type(None)},
        "check_in": {**core, "message": CountMessage, "return": type(None)},
        "check_out": {**core, "message": CountMessage, "return": type(None)},
        "check_in_session": {**core, "message": SessionStartMessage, "return": type(None)},
        "check_out_session": {**core, "message": SessionFinishMessage, "return": type(None)},
        "session_error": {**core, "message": SessionErrorMessage, "return": type(None)},
    }
    assert sorted(expected) == specs.__all__
    for name, hints in expected.items():
        assert typing.get_type_hints(getattr(specs, name)) == hints, name
