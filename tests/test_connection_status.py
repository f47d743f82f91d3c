"""core.connection_listener: openmodule's polling API and the on_connect/on_disconnect listeners."""

import threading
import time

from openmodule_hookspecs import ConnectionRPCResponse, OpenModuleModel, hookimpl

from tests.support import eventually
from tests.support.plugins import Recorder


class StatusService:
    """Plays om_rpc_client: answers connection/status."""

    def __init__(self, connected="online", bridge="online"):
        self.answer = {"connected": connected, "bridge_status": bridge}

    @hookimpl
    def register_handlers(self, core):
        core.rpc_server.register_handler("connection", "status", OpenModuleModel, ConnectionRPCResponse,
                                         lambda request, message: self.answer)


class Watcher(Recorder):
    def __init__(self):
        super().__init__()
        self.events = []
        self.threads = set()

    @hookimpl
    def register_handlers(self, core):
        super().register_handlers(core)
        core.connection_listener.on_connect.append(lambda status: self._seen("connect", status))
        core.connection_listener.on_disconnect.append(lambda status: self._seen("disconnect", status))

    def _seen(self, kind, status):
        self.events.append((kind, status))
        self.threads.add(threading.current_thread().name)


def start(om_host, *plugins):
    host = om_host(*plugins)
    host.rpc_client.default_timeout = 0.2  # nobody answers connection/status in most tests: don't wait 3 s
    return host


def status(connected, bridge=None):
    message = {"type": "connection_status", "connected": connected}
    if bridge:
        message["bridge_status"] = bridge
    return message


def test_the_first_status_comes_from_the_connection_status_rpc(om_host):
    watcher = Watcher()
    om_host(("rpc_client", StatusService("online", "offline")), ("watcher", watcher))
    listener = watcher.core.connection_listener
    assert (listener.get(), listener.get_bridge()) == ("online", "offline")


def test_without_an_answer_the_status_is_shutdown(om_host):
    watcher = Watcher()
    start(om_host, ("watcher", watcher))
    assert watcher.core.connection_listener.get() == "shutdown"


def test_messages_update_every_plugins_view_and_fire_listeners_on_their_workers(om_host, om_client):
    first, second = Watcher(), Watcher()
    start(om_host, ("first", first), ("second", second))
    om_client.publish("connection_internal", status("online", "online"))
    eventually(lambda: first.core.connection_listener.get() == "online")
    assert second.core.connection_listener.get_bridge() == "online"

    om_client.publish("connection_internal", status("offline"))
    eventually(lambda: ("disconnect", "offline") in first.events and ("disconnect", "offline") in second.events)
    listener = first.core.connection_listener
    assert (listener.get(), listener.previous, listener.get_bridge()) == ("offline", "online", "online")
    assert first.events == [("connect", "online"), ("disconnect", "offline")]
    assert first.threads == {"omh-plugin-first"}


def test_the_legacy_topic_works_too(om_host, om_client):
    watcher = Watcher()
    start(om_host, ("watcher", watcher))
    om_client.publish("connection_status", status("startup"))
    eventually(lambda: watcher.core.connection_listener.get() == "startup")


def test_changed_is_true_once_per_consumer_and_change(om_host, om_client):
    watcher = Watcher()
    start(om_host, ("watcher", watcher))
    om_client.publish("connection_internal", status("online"))
    listener = watcher.core.connection_listener
    eventually(lambda: listener.get() == "online")
    assert listener.changed("kvstore") and not listener.changed("kvstore")
    assert listener.changed("other")
    changed = []
    waiter = threading.Thread(target=lambda: changed.append(listener.wait_for_change(5)))
    waiter.start()
    time.sleep(0.1)  # the waiter waits before the change happens (wait_for_change sees later changes only)
    om_client.publish("connection_internal", status("offline"))
    waiter.join()
    assert changed == [True]
    eventually(lambda: listener.get() == "offline")
    assert listener.changed("kvstore")


def test_no_message_for_the_timeout_means_shutdown(om_host, om_client):
    watcher = Watcher()
    host = start(om_host, ("watcher", watcher))
    host.connection.message_timeout = 0.3
    om_client.publish("connection_internal", status("online"))
    eventually(lambda: ("connect", "online") in watcher.events)
    eventually(lambda: watcher.core.connection_listener.get() == "shutdown")
    eventually(lambda: ("disconnect", "shutdown") in watcher.events)


def test_an_invalid_status_message_is_logged_and_ignored(om_host, om_client, caplog):
    watcher = Watcher()
    start(om_host, ("watcher", watcher))
    om_client.publish("connection_internal", {"type": "connection_status", "connected": "sideways"})
    om_client.publish("connection_internal", status("online"))
    eventually(lambda: watcher.core.connection_listener.get() == "online")
    assert "invalid connection status message" in caplog.text
