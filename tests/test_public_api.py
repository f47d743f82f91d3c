"""Each package's public API is exactly its ``__all__``: nothing leaks by accident."""

import importlib

import pytest

PACKAGES = [
    "openmodule_hookspecs",
    "openmodule_host",
    "openmodule_host.database",
    "openmodule_host.wire",
    "openmodule_host.isolation",
    "openmodule_host.testing",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_lists_exactly_the_public_names(name):
    module = importlib.import_module(name)
    public = {
        attr for attr in dir(module)
        if not attr.startswith("_") and not isinstance(getattr(module, attr), type(importlib))
    }
    assert set(module.__all__) - {"specs", "__version__"} == public - {"specs"}
    assert module.__all__ == sorted(module.__all__, key=lambda item: (not item.isupper(), item))


def test_the_hosted_core_satisfies_the_contract_protocol():
    from openmodule_hookspecs import PluginCore

    from openmodule_host import HostedCore

    for member in ("name", "config", "log", "messages", "publish"):
        assert hasattr(HostedCore, member), member
    assert {"name", "config", "log", "messages", "publish"} <= set(dir(PluginCore))


def test_hook_specifications():
    from openmodule_hookspecs import specs

    assert specs.__all__ == [
        "access_protocols", "anonymize", "check_access", "check_backend_access", "check_in", "check_in_session",
        "check_out", "check_out_session", "config_model", "database_migrations", "health", "register_handlers",
        "session_error", "shutdown",
    ]
