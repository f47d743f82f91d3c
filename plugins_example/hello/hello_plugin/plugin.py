"""Answers every ``hello`` message with a ``hello_reply``: the smallest complete plugin."""

from openmodule_hookspecs import PluginCore, hookimpl
from pydantic import BaseModel

from .messages import HelloMessage, HelloReplyMessage


class HelloSettings(BaseModel):
    """The ``[plugins.hello]`` table."""

    greeting: str = "Hello"


@hookimpl
def config_model() -> type[BaseModel]:
    return HelloSettings


@hookimpl
def register_handlers(core: PluginCore) -> None:
    def on_hello(message: HelloMessage) -> None:
        reply = HelloReplyMessage(to=message.name, reply=f"{core.config.greeting}, {message.text}!")
        core.publish(reply, "hello_reply")

    core.messages.register_handler("hello", HelloMessage, on_hello)
    core.log.info("saying %r to everyone on topic 'hello'", core.config.greeting)
