from openmodule_hookspecs import ZMQMessage


class HelloMessage(ZMQMessage):
    """Topic ``hello``: someone says hello."""

    type: str = "hello"
    text: str


class HelloReplyMessage(ZMQMessage):
    """Topic ``hello_reply``: the plugin's answer, addressed to the sender's NAME."""

    type: str = "hello_reply"
    to: str
    reply: str
