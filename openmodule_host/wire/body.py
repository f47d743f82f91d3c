"""The wire body of a plugin's usual message in C, when ``openmodule_host_speedups`` is installed and built.

:data:`compiled_body` ``(message, name) -> bytes | None`` does what :func:`openmodule_host.core.message_body` does
(``message.model_dump()``, the sender's name, ``dumps``) for the usual message: of a class whose ``model_dump()``
is its fields as they are (scalar fields, no serializers, ``model_dump`` not overridden: what
``openmodule_hookspecs`` dumps that way itself), without trace headers, its timestamp a naive datetime. About
0.4 us against 1.1 per message published. For any other message it returns None and the caller takes the Python
way; tests/test_wire_body.py holds the two to the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from openmodule_hookspecs import ZMQMessage, dumps

# The contract package's own record of which classes dump as their fields, and its encoder's default: the compiled
# body must agree with the Python one on both (the two packages are released together).
from openmodule_hookspecs._models import _AS_FIELDS, _default

__all__ = ["CompiledBody", "compiled_body"]

CompiledBody = Callable[[ZMQMessage, str], "bytes | None"]


class _PlainTypes(dict[type, bool]):
    """Class -> whether the compiled body may encode its instances; filled on first use (a hit is a plain lookup)."""

    def __missing__(self, cls: type) -> bool:
        plain = self[cls] = (issubclass(cls, ZMQMessage) and cls.model_dump is ZMQMessage.model_dump
                             and _AS_FIELDS[cls])
        return plain


def _compiled() -> CompiledBody | None:
    try:
        from openmodule_host_speedups import body, setup_body
    except ImportError:
        return None
    setup_body(_PlainTypes(), orjson.dumps, _default, dumps)
    return body


compiled_body: CompiledBody | None = _compiled()
