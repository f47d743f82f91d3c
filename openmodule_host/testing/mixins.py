"""``unittest.TestCase`` mixins with openmodule-test 18.5.0's names, over the fake core (no broker).

An openmodule-test suite ports by changing its imports and base classes: ``self.zmq_client.send(...)``,
``self.zmq_client.wait_for_message_on_topic(...)``, ``self.rpc(...)``, ``self.assertAlert(...)``,
``self.get_health()``, ``self.assertHealthOk(...)`` keep their meaning. What changes is the class set-up:
name the plugin (``plugin``, and its table in ``init_kwargs["config"]``) instead of building a service in
``setUp``; the plugin's hooks run as the host runs them. ``self.core`` is the plugin's core (a
:class:`FakeCore`), ``self.fake`` the same object.

Messages are delivered synchronously, so waiting for one is looking among what the plugin has published: a
wait gives up after ``message_wait`` seconds (not openmodule-test's 3 s), which covers what the plugin's own
threads send meanwhile. ``assertNoAlert`` therefore costs milliseconds, not 3 s.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar
from unittest import TestCase

import orjson
from openmodule_hookspecs import RPCTimeoutError, ZMQMessage, response_topic
from pydantic import BaseModel

from ..rpc.client import _parse
from .fake_core import FakeCore
from .mock_rpc import MockRPCClient

__all__ = [
    "AlertTestMixin",
    "FakeTestClient",
    "HealthTestMixin",
    "OpenModuleCoreTestMixin",
    "RPCServerTestMixin",
    "ZMQTestMixin",
]

Res = TypeVar("Res", bound=BaseModel)

#: ``init_openmodule``'s keywords (openmodule 18.5.0), which a ported suite's ``init_kwargs`` may still hold:
#: the host decides these for a plugin (its database comes from the ``database_migrations`` hook), so they are
#: left out of what goes to :class:`FakeCore`.
OPENMODULE_INIT_KEYWORDS = frozenset({
    "dsn", "sentry", "logging", "dsgvo", "health_handler", "context", "database", "catch_sigterm",
    "dispatcher_max_threads", "wait_for_broker", "migration_timeout",
})
Filter = Callable[[str, dict[str, Any]], bool]


class FakeTestClient:
    """openmodule-test's ``TestClient`` API over a :class:`FakeCore`: what it sends reaches the plugin at once;
    what it receives is what the plugin published, in order, each message taken once (as there)."""

    __test__ = False  # not a pytest test class

    startup_check_delay = 0.05
    startup_check_iterations = 20

    def __init__(self, fake: FakeCore, message_wait: float = 0.05) -> None:
        self.fake = fake
        self.message_wait = message_wait
        self.subscribed_topics: set[str] = set()
        self._read = len(fake.publisher.sent)
        self._inbox: list[tuple[str, dict[str, Any]]] = []

    def subscribe(self, *topics: str) -> None:
        """Recorded only: every message the plugin publishes is received (nothing is lost to a late subscription)."""
        if not all(isinstance(topic, str) for topic in topics):
            raise TypeError("topics must be strings")
        self.subscribed_topics.update(topics)

    def send(self, topic: str, _message: BaseModel | dict[str, Any] | None = None, **kwargs: Any) -> None:
        """Send to the plugin as openmodule-test does (a dict needs a ``type``; ``name`` defaults to
        ``testcase``); its handlers have run when this returns."""
        if not isinstance(topic, str):
            raise TypeError("topic must be a string")
        if isinstance(_message, ZMQMessage):
            self.fake.send(topic, _message, sender="testcase")
            return
        if isinstance(_message, BaseModel):
            self.fake.send(topic, _message.model_dump(), sender="testcase")
            return
        if _message and kwargs:
            raise ValueError("pass the message dict as the first parameter, or use the kwargs, not both")
        data = dict(_message or kwargs)
        if "type" not in data:
            raise ValueError("a message must always have a type")
        data.setdefault("name", "testcase")
        data.setdefault("timestamp", time.time())
        self.fake.send(topic, data, sender="testcase")

    def _receive(self) -> None:
        sent = self.fake.publisher.sent
        new, self._read = sent[self._read:], len(sent)
        self._inbox.extend((topic, orjson.loads(body)) for topic, body in new if not topic.startswith("__ping_"))

    def wait_for_message(self, filter: Filter, timeout: float = 3) -> tuple[str, dict[str, Any]]:
        """The first message (topic, body) that ``filter(topic, body)`` accepts; the messages before it are
        taken too, as in openmodule-test. ``TimeoutError`` when none came."""
        deadline = time.monotonic() + min(timeout, self.message_wait)
        while True:
            self.fake.drain()
            self._receive()
            while self._inbox:
                topic, message = self._inbox.pop(0)
                if filter(topic, message):
                    return topic, message
            if time.monotonic() >= deadline:
                raise TimeoutError(f"no matching message from plugin {self.fake.hosted.name}")
            time.sleep(0.002)

    def wait_for_message_on_topic(self, topic: str, timeout: float = 3) -> dict[str, Any]:
        return self.wait_for_message(lambda received, _: (not topic) or received == topic, timeout)[1]


class ZMQTestMixin(TestCase):
    """openmodule-test's ``ZMQTestMixin``: ``zmq_client``, ``rpc``, ``rpc_no_response``, ``receive_rpc_response``,
    over a :class:`FakeCore` of ``plugin`` built in ``setUp`` (``init_kwargs`` go to it)."""

    #: the plugin under test: an installed plugin's name, a module, an object or an import path (see FakeCore).
    plugin: ClassVar[Any] = None
    #: FakeCore's keyword arguments: ``name``, ``config`` (the plugin's table), ``rpc_client``, ``connection``
    #: (openmodule's ``init_openmodule`` keywords, e.g. ``database=True``, are left out: the host decides them).
    init_kwargs: ClassVar[dict[str, Any]] = {}
    topics: ClassVar[list[str]] = []
    rpc_channels: ClassVar[list[str]] = []
    #: how long a wait for a message looks for late ones (see the module).
    message_wait: ClassVar[float] = 0.05

    fake: FakeCore
    zmq_client: FakeTestClient

    def get_init_kwargs(self) -> dict[str, Any]:
        return dict(self.init_kwargs)

    def setUp(self) -> None:
        super().setUp()
        if self.plugin is None:
            raise TypeError(f"{type(self).__name__}: set plugin = <the plugin under test> in the test class")
        kwargs = {key: value for key, value in self.get_init_kwargs().items() if key not in OPENMODULE_INIT_KEYWORDS}
        if isinstance(kwargs.get("rpc_client"), MockRPCClient):  # one per test: last_request is per test
            mock: MockRPCClient = kwargs["rpc_client"]
            kwargs["rpc_client"] = MockRPCClient(mock.callbacks, mock.responses, mock.immediate_callbacks,
                                                 mock.default_timeout)
        self.fake = FakeCore(self.plugin, **kwargs)
        self.addCleanup(self.fake.close)
        self.zmq_client = FakeTestClient(self.fake, self.message_wait)
        self.zmq_client.subscribe(*self.topics, *(response_topic(channel) for channel in self.rpc_channels))

    def wait_for_dispatcher(self, dispatcher: object) -> None:
        """Nothing to wait for: handlers are registered at once."""

    def assertSubscription(self, *topics: str) -> None:
        """Nothing to check: the fake receives every topic."""

    def rpc(self, channel: str, type: str, request: BaseModel | dict[str, Any], response_type: type[Res],
            timeout: float = 3, resource: str | None = None) -> Res:
        """Call the plugin's RPC; the response as ``response_type``, or the client error for its status;
        ``RPCTimeoutError`` when it does not answer."""
        rpc_id = self.rpc_no_response(channel, type, request, resource)
        return self.receive_rpc_response(channel, rpc_id, response_type, timeout)

    def rpc_no_response(self, channel: str, type_: str, request: BaseModel | dict[str, Any],
                        resource: str | None = None) -> str:
        """Send the request; its reply (if any) is among the received messages. Returns the ``rpc_id``."""
        rpc_id = str(uuid.uuid4())
        data = request.model_dump() if isinstance(request, BaseModel) else request
        self.fake.rpc(channel, type_, data, resource=resource or self.fake.config.RESOURCE,
                      envelope={"rpc_id": rpc_id}, sender="testclient")
        return rpc_id

    def receive_rpc_response(self, channel: str, rpc_id: str, response_type: type[Res], timeout: float = 3) -> Res:
        topic = response_topic(channel)
        try:
            _, reply = self.zmq_client.wait_for_message(
                lambda received, message: received == topic and message.get("rpc_id") == rpc_id, timeout)
        except TimeoutError:
            raise RPCTimeoutError(f"no reply to RPC {channel} ({rpc_id})") from None
        return _parse(reply.get("response"), response_type)


class HealthTestMixin(ZMQTestMixin):
    """openmodule-test's ``HealthTestMixin``: ``get_health``, ``assertHealthOk``, ``assertHealthError``,
    ``wait_for_health``."""

    def get_health(self, name: str | None = None, timeout: float = 3) -> dict[str, Any]:
        """The plugin's ``healthpong`` to a ping (``TimeoutError`` if ``name`` is not the plugin's NAME)."""
        if name is not None and name != self.fake.name:
            raise TimeoutError(f"no healthpong from {name!r}: the plugin under test is {self.fake.name!r}")
        return self.fake.get_health()

    def assertHealthOk(self, message: dict[str, Any]) -> None:
        self.assertIn("pong", message)
        self.assertEqual("ok", message.get("pong", {}).get("status"))

    def assertHealthError(self, message: dict[str, Any]) -> None:
        self.assertIn("pong", message)
        self.assertEqual("error", message.get("pong", {}).get("status"))

    def wait_for_health(self, name: str | None = None) -> None:
        self.get_health(name)


class OpenModuleCoreTestMixin(HealthTestMixin):
    """openmodule-test's ``OpenModuleCoreTestMixin``: ``self.core`` is the plugin's core, started and healthy."""

    core: FakeCore

    def setUp(self) -> None:
        super().setUp()
        self.core = self.fake
        self.wait_for_health(self.fake.name)


class AlertTestMixin(ZMQTestMixin):
    """openmodule-test's ``AlertTestMixin``: ``assertAlert`` / ``assertNoAlert`` on what the plugin sent."""

    def assertAlert(self, timeout: float = 3, **alert_kwargs: Any) -> dict[str, Any]:
        """The next alert whose fields equal ``alert_kwargs``; the messages before it are taken."""
        _, message = self.zmq_client.wait_for_message(
            lambda topic, body: topic == "alert" and all(body.get(k) == v for k, v in alert_kwargs.items()),
            timeout)
        return message

    def assertNoAlert(self, timeout: float = 3, **alert_kwargs: Any) -> None:
        with self.assertRaises(TimeoutError):
            self.assertAlert(timeout, **alert_kwargs)


class RPCServerTestMixin(ZMQTestMixin):
    """openmodule-test's ``RPCServerTestMixin``: its waits return at once when the plugin answers."""

    def wait_for_rpc_response(self, channel: str, type: str, request: BaseModel | dict[str, Any],
                              response_type: type[BaseModel]) -> None:
        try:
            self.rpc(channel, type, request, response_type)
        except RPCTimeoutError:
            raise AssertionError(f"plugin {self.fake.hosted.name} does not answer RPC {channel}/{type}") from None

    def wait_for_rpc_server(self, server: object) -> None:
        """Nothing to wait for: RPCs are served as soon as they are registered."""
