"""A real openmodule 18.5.0 service calls RPCs that several plugins of one host serve together.

The host serves ``gates``/``open`` with two per-gate plugins (each filters on ``request.gate``, as a
per-gate openmodule service does) and ``gates``/``sync`` with three plugins keyed by ``request.service``
(routed by the host without fan-out). openmodule's ``RPCClient`` (its own process, ``peer.py``) must get the
answer of the one plugin meant, as if each plugin were a service of its own.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest

from openmodule_host.testing import PrivateBroker, start_host
from tests.support.rpc_plugins import CHANNEL, TYPE, GateService

from .peer import OpenModulePeer

pytestmark = pytest.mark.interop

SYNC = "sync"
KV_SERVICES = ("kv_a", "kv_b", "kv_c")


@pytest.fixture(scope="module")
def service() -> Iterator[OpenModulePeer]:
    """One broker with the host (gate_in, gate_out; kv_a, kv_b, kv_c) and a standalone openmodule service."""
    with contextlib.ExitStack() as stack:
        broker = PrivateBroker()
        stack.callback(broker.close)
        plugins: list[tuple[str, Any]] = [("gate_in", GateService("in-1")), ("gate_out", GateService("out-1"))]
        plugins += [(name, GateService(name, filtered=False, key="service", type=SYNC)) for name in KV_SERVICES]
        host = start_host(broker, plugins, config={name: {"NAME": f"om_{name}_1"} for name in KV_SERVICES})
        stack.callback(host.stop)
        peer = stack.enter_context(OpenModulePeer("om_interop_1", broker.sub_address, broker.pub_address))
        peer.wait_ready()
        yield peer


@pytest.mark.parametrize(("gate", "plugin"), [("in-1", "gate_in"), ("out-1", "gate_out")])
def test_openmodule_gets_the_answer_of_the_plugin_whose_filter_passes(service, gate, plugin):
    result = service.rpc(CHANNEL, TYPE, {"gate": gate}, request_model="dict")
    assert result["ok"], result
    assert result["response"] == {"gate": gate, "by": plugin, "status": "ok"}  # (AnyResponse keeps every field)


@pytest.mark.parametrize("name", KV_SERVICES)
def test_openmodule_gets_the_answer_of_the_plugin_its_request_names(service, name):
    result = service.rpc(CHANNEL, SYNC, {"gate": "g", "service": f"om_{name}_1"}, request_model="dict")
    assert result["ok"], result
    assert result["response"] == {"gate": "g", "by": f"om_{name}_1", "status": "ok"}


@pytest.mark.parametrize(("type", "request_fields"), [
    pytest.param(TYPE, {"gate": "nowhere"}, id="no-filter-passes"),
    pytest.param(SYNC, {"gate": "g", "service": "om_nobody"}, id="naming-no-plugin"),
])
def test_openmodule_times_out_when_no_plugin_is_meant(service, type, request_fields):
    result = service.rpc(CHANNEL, type, request_fields, request_model="dict", timeout=0.5)
    assert (result["ok"], result["error"]) == (False, "RPCClient.TimeoutError")
