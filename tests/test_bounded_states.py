"""The listeners' state per name the broker chooses (pins, signals, gates, vehicle ids) stays bounded.

A peer that sends names without end (a new pin, signal or gate in every message) must not make a plugin's memory
grow without end: each such table keeps at most ``MAX_KEYS`` names and forgets the oldest, counted and logged.
"""

from __future__ import annotations

import copy
import logging
import pickle
from typing import Any

import pytest
from openmodule_hookspecs import Direction, Gateway, hookimpl

from openmodule_host.testing import wait_for_value
from openmodule_host.utils import (
    BoundedStates,
    IoListener,
    IoMessage,
    PresenceListener,
    SignalListener,
    VehicleListener,
)
from openmodule_host.utils.bounded_states import MAX_KEYS
from openmodule_host.utils.signals import SignalMessage

LOG = logging.getLogger("test_bounded_states")


def test_a_table_keeps_at_most_its_bound_and_forgets_the_oldest_first():
    states: BoundedStates[str, int] = BoundedStates("pins", LOG, max_keys=3)
    for index in range(5):
        states[f"pin {index}"] = index
    assert list(states.items()) == [("pin 2", 2), ("pin 3", 3), ("pin 4", 4)]
    assert states.forgotten == 2


def test_a_name_already_kept_is_updated_in_place_without_forgetting_another():
    states: BoundedStates[str, int] = BoundedStates("pins", LOG, max_keys=2)
    states["a"], states["b"] = 1, 2
    states["a"] = 10
    assert list(states.items()) == [("a", 10), ("b", 2)]  # the order a plain dict keeps
    assert states.forgotten == 0


def test_setdefault_and_update_keep_the_bound_too():
    states: BoundedStates[str, int | None] = BoundedStates("gates", LOG, max_keys=2)
    states.setdefault("gate 1", None)
    states.update({"gate 2": 2, "gate 3": 3})
    states.setdefault("gate 4", 4)
    assert list(states) == ["gate 3", "gate 4"]
    assert states.forgotten == 2


def test_forgetting_is_logged_at_most_once_per_five_seconds_with_the_counts(caplog):
    states: BoundedStates[str, int] = BoundedStates("signals", LOG, max_keys=1)
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        for index in range(4):
            states["x" * 200 + str(index)] = index
    assert len(caplog.records) == 1
    line = caplog.records[0].getMessage()
    assert line.startswith("more than 1 signals seen: forgot the oldest, 'xxx")
    assert "1 forgotten in total" in line
    assert len(line) < 400  # a name as long as a message is not logged whole
    assert states.forgotten == 3


def test_it_is_a_dict_that_copy_and_pickle_can_make():
    states: BoundedStates[str, int] = BoundedStates("pins", max_keys=2)
    states["a"] = 1
    assert isinstance(states, dict) and states == {"a": 1}
    for twin in (copy.copy(states), copy.deepcopy(states), pickle.loads(pickle.dumps(states))):
        assert twin == {"a": 1} and twin.max_keys == 2
    with pytest.raises(ValueError, match="max_keys must be at least 1"):
        BoundedStates("pins", max_keys=0)


class _Messages:
    """A dispatcher that only takes registrations (the tables are made in the constructors)."""

    def register_handler(self, *args: Any, **kwargs: Any) -> None:
        pass


def test_every_table_a_listener_keeps_per_name_from_the_broker_is_bounded():
    io, signals = IoListener(_Messages()), SignalListener(_Messages(), rpc_client=None)
    vehicles = VehicleListener(_Messages(), rpc_client=None)  # type: ignore[arg-type]
    presence = PresenceListener(_Messages())  # type: ignore[arg-type]
    tables = [io.current_states, signals.current_states, vehicles.present_vehicles,
              vehicles.previous_present_vehicles, presence.present_vehicles, presence.area_name_of_present,
              presence.drop_list, presence.never_drop_list, presence.last_vehicle_data]
    assert all(isinstance(table, BoundedStates) and table.max_keys == MAX_KEYS for table in tables)


class Pins:
    """Follows the IO pins and signals, with a bound of 100 names per table (the default is 10,000)."""

    def __init__(self) -> None:
        self.io: IoListener | None = None
        self.signals: SignalListener | None = None
        self.edges: list[str] = []

    @hookimpl
    def register_handlers(self, core: Any) -> None:
        self.io = IoListener(core.messages)
        self.signals = SignalListener(core.messages, core.rpc_client)
        self.io.current_states.max_keys = self.signals.current_states.max_keys = 100
        self.io.add_listener_edge_any("gate_0_cloop", lambda state: self.edges.append(state.pin))


def _pin(name: str, value: int) -> IoMessage:
    return IoMessage(type="input", gateway=Gateway(gate="gate_0", direction=Direction.IN), pin=name, value=value,
                     edge=1)


def test_a_peer_sending_new_pin_and_signal_names_without_end_leaves_the_state_bounded(om_host, om_client, caplog):
    pins = Pins()
    om_host(("pins", pins))
    with caplog.at_level(logging.WARNING):
        for index in range(250):
            om_client.publish("io", _pin(f"hostile {index}", 1))
            om_client.publish("signal", SignalMessage(signal=f"hostile {index}", type="custom", value=True,
                                                      additional_data={"padding": "x" * 100}))
        wait_for_value(lambda: (pins.io.current_states.forgotten, pins.signals.current_states.forgotten), (150, 150))
    assert len(pins.io.current_states) == len(pins.signals.current_states) == 100
    assert next(iter(pins.io.current_states)) == "hostile 150" and "hostile 149" not in pins.io.current_states
    assert "hostile 249" in pins.signals.current_states
    warnings = [record.getMessage() for record in caplog.records if "forgot the oldest" in record.getMessage()]
    assert any(line.startswith("more than 100 IO pins seen") for line in warnings)
    assert any(line.startswith("more than 100 signals seen") for line in warnings)
    # the listener still works for a real pin: its first message after the flood is an edge, as a new pin's is
    om_client.publish("io", _pin("gate_0_cloop", 1))
    wait_for_value(lambda: pins.edges, ["gate_0_cloop"])
    assert pins.io.current_states["gate_0_cloop"].value == 1
