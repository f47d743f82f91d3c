"""Which RPC filters the intake applies itself (``openmodule_host.rpc.gates``): openmodule's ``gateway_filter``,
on request models whose ``gateway`` is the request's as sent. Anything else is left to the plugin's worker.
"""

from typing import Annotated, Any

import pytest
from openmodule_hookspecs import Direction, Gateway, GatewayFilter, OpenModuleModel, gateway_filter
from pydantic import AfterValidator, Field, field_validator, model_validator

from openmodule_host.rpc.gates import GateIndex, intake_gates


class Required(OpenModuleModel):
    gateway: Gateway
    plate: str = ""


class Optional(OpenModuleModel):
    gateway: Gateway | None = None


class Aliased(OpenModuleModel):
    gateway: Gateway = Field(alias="gw")


class Defaulted(OpenModuleModel):
    gateway: Gateway = Gateway(gate="gate1")


class Checked(OpenModuleModel):
    gateway: Annotated[Gateway, AfterValidator(lambda gateway: gateway)]


class OwnGateway(Gateway):
    pass


class Subclassed(OpenModuleModel):
    gateway: OwnGateway


class FieldValidated(OpenModuleModel):
    gateway: Gateway

    @field_validator("gateway", mode="before")
    @classmethod
    def upper(cls, value: Any) -> Any:
        return value


class EveryFieldValidated(OpenModuleModel):
    gateway: Gateway

    @field_validator("*")
    @classmethod
    def same(cls, value: Any) -> Any:
        return value


class OtherFieldValidated(OpenModuleModel):
    gateway: Gateway
    plate: str = ""

    @field_validator("plate")
    @classmethod
    def same(cls, value: Any) -> Any:
        return value


class ModelValidated(OpenModuleModel):
    gateway: Gateway

    @model_validator(mode="before")
    @classmethod
    def same(cls, value: Any) -> Any:
        return value


class PostInit(OpenModuleModel):
    gateway: Gateway

    def model_post_init(self, context: Any) -> None:
        pass


class OwnValidate(OpenModuleModel):
    gateway: Gateway

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> "OwnValidate":
        return super().model_validate(obj, **kwargs)


class NoGateway(OpenModuleModel):
    gate: str


GATE = gateway_filter("gate1", "in")


@pytest.mark.parametrize("request_class", [Required, Optional, OtherFieldValidated])
def test_gateway_filters_on_a_gateway_as_sent_are_applied_on_the_intake(request_class):
    assert intake_gates(request_class, [GATE, gateway_filter(direction=Direction.OUT)]) == (
        GATE, GatewayFilter(None, Direction.OUT))


@pytest.mark.parametrize("request_class", [Aliased, Defaulted, Checked, Subclassed, FieldValidated,
                                           EveryFieldValidated, ModelValidated, PostInit, OwnValidate, NoGateway])
def test_a_gateway_the_request_model_may_change_or_default_leaves_the_filters_to_the_worker(request_class):
    assert intake_gates(request_class, [GATE]) is None


@pytest.mark.parametrize("filters", [[], [GATE, lambda request, message, handler: True], [gateway_filter(gate=1)],
                                     [gateway_filter(direction=["in"])]])
def test_no_filter_a_callable_one_or_an_odd_gate_leaves_the_plugin_to_its_worker(filters):
    assert intake_gates(Required, filters) is None


def test_the_contract_gateway_is_what_the_intake_reads_off_the_request_as_sent():
    """What ``rpc.gates`` relies on: if this changes, so must it."""
    assert {name: (field.annotation, field.default) for name, field in Gateway.model_fields.items()} == {
        "gate": (str, ""), "direction": (Direction, Direction.UNKNOWN)}
    decorators = Gateway.__pydantic_decorators__
    assert not (decorators.model_validators or decorators.field_validators or decorators.validators)
    assert Gateway.__pydantic_post_init__ is None


@pytest.mark.parametrize(("gateway", "passing"), [
    ({"gate": "gate1", "direction": "in"}, ["a", "c", "d"]),
    ({"gate": "gate1", "direction": "out"}, ["b", "d"]),
    ({"gate": "gate1"}, ["d"]),
    ({"direction": "in"}, ["c", "d"]),
    ({}, ["d"]),
    ({"gate": "gate2", "direction": "in"}, ["c", "d"]),
])
def test_a_gateway_as_sent_passes_the_filters_the_validated_one_passes(gateway, passing):
    filters = {"a": [gateway_filter("gate1", "in")], "b": [gateway_filter("gate1", "out"), gateway_filter("gate9")],
               "c": [gateway_filter(direction="in")], "d": [gateway_filter()]}
    request = Required.model_validate({"gateway": gateway})
    assert [name for name, checks in filters.items() if any(check(request, None, None) for check in checks)] == passing
    assert GateIndex(filters.items()).passing(gateway) == passing
