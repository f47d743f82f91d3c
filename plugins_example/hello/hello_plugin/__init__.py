"""The hello example plugin; its hooks live in :mod:`hello_plugin.plugin`."""

from .messages import HelloMessage, HelloReplyMessage

__all__ = ["HelloMessage", "HelloReplyMessage"]
