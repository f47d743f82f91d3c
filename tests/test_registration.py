"""Registration mistakes raise one exception type, ``RegistrationError``, naming the plugin, before anything
is registered; it is a ``ValueError`` and a ``TypeError``, so code catching either keeps working."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from openmodule_hookspecs import RegistrationError, RPCRequest
from pydantic import BaseModel

from tests.support.plugins import Ping, Recorder


class Request(BaseModel):
    plate: str = ""


class Response(BaseModel):
    known: bool = False


def serve(request: Request, message: RPCRequest) -> None:
    return None


@pytest.fixture
def core(om_host) -> Any:
    recorder = Recorder()
    om_host(("recorder", recorder))
    return recorder.core


def _refused(call: Any, *args: Any, **kwargs: Any) -> RegistrationError:
    with pytest.raises(RegistrationError) as raised:
        call(*args, **kwargs)
    error = raised.value
    assert isinstance(error, ValueError) and isinstance(error, TypeError)
    assert error.plugin == "recorder"
    assert str(error) == f"plugin 'recorder': {error.reason}"
    return error


@pytest.mark.parametrize("topic", ["", None, 5])
def test_a_bad_topic_is_refused_and_nothing_is_subscribed(core, topic):
    before = core.messages.topics
    assert "topic must be a non-empty string" in _refused(core.messages.register_handler, topic, Ping, print).reason
    assert core.messages.topics == before


def test_a_message_class_that_is_no_zmq_message_is_refused(core):
    assert "ZMQMessage subclass" in _refused(core.messages.register_handler, "other", dict, print).reason


def test_a_message_handler_that_cannot_take_the_message_is_refused(core):
    def no_arguments() -> None: ...

    reason = _refused(core.messages.register_handler, "other", Ping, no_arguments).reason
    assert reason.startswith("handler ")
    assert "no_arguments() cannot be called as handler(message)" in reason
    assert "other" not in core.messages.topics


def test_a_filter_that_cannot_take_the_message_dict_is_refused(core):
    def two(body: dict[str, Any], more: int) -> bool:
        return True

    assert "cannot be called as filter_(message_dict)" in _refused(
        core.messages.register_handler, "other", Ping, print, filter_=two).reason


def test_unregistering_what_is_not_registered_is_refused(core):
    class Elsewhere:
        topic = "t"

    assert "is not registered" in _refused(core.messages.unregister_handler, Elsewhere()).reason
    subscription = core.messages.register_handler("other", Ping, print)
    core.messages.unregister_handler(subscription)
    assert "is not registered" in _refused(core.messages.unregister_handler, subscription).reason


def test_a_bad_rpc_channel_type_or_class_is_refused(core):
    assert "RPC channel must be" in _refused(core.rpc_server.register_handler, "", "t", Request, Response,
                                             serve).reason
    assert "RPC type must be" in _refused(core.rpc_server.register_handler, "c", None, Request, Response,
                                          serve).reason
    assert "response_class must be a pydantic model class" in _refused(
        core.rpc_server.register_handler, "c", "t", Request, dict, serve).reason


def test_an_rpc_handler_that_cannot_take_request_and_message_is_refused(core):
    def request_only(request: Request) -> None: ...

    assert "cannot be called as handler(request, message)" in _refused(
        core.rpc_server.register_handler, "c", "t", Request, Response, request_only).reason


def test_an_rpc_served_twice_by_one_plugin_is_refused(core):
    core.rpc_server.register_handler("c", "t", Request, Response, serve)
    assert "a plugin registers a (channel, type) once" in _refused(
        core.rpc_server.register_handler, "c", "t", Request, Response, serve).reason


def test_an_rpc_key_that_is_no_request_field_is_refused(core):
    assert "has no gate field to route by" in _refused(
        core.rpc_server.register_handler, "c", "t", Request, Response, serve, key="gate").reason


def test_an_rpc_filter_with_the_wrong_parameters_is_refused(core):
    assert "cannot be called as filter(request, message, handler)" in _refused(
        core.rpc_server.add_filter, lambda request: True).reason
    assert "must be callable" in _refused(core.rpc_server.add_filter, "gate").reason


def test_a_job_that_cannot_take_its_arguments_is_refused_and_not_scheduled(core):
    def cleanup(days: int) -> None: ...

    assert "cannot be called as job(*args, **kwargs)" in _refused(core.every, 60, cleanup).reason
    assert "cannot be called as job(*args, **kwargs)" in _refused(core.every, 60, cleanup, 1, hours=2).reason
    assert core.scheduler.get_jobs() == []
    core.every(60, cleanup, days=1)
    assert len(core.scheduler.get_jobs()) == 1


def test_callables_python_cannot_inspect_are_taken_as_they_are(core):
    core.messages.register_handler("other", Ping, print)  # a built-in: no readable signature needed


def test_the_error_survives_pickling_to_and_from_a_plugin_process():
    error = pickle.loads(pickle.dumps(RegistrationError("p", "topic must be a non-empty string, got ''")))
    assert (error.plugin, error.reason, str(error)) == ("p", "topic must be a non-empty string, got ''",
                                                        "plugin 'p': topic must be a non-empty string, got ''")
