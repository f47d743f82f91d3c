"""Masking secrets in text that leaves the process: log lines, failure reasons, health messages, alerts.

Two rules, applied by :func:`mask_secrets`:

- the credentials of every URL: ``postgresql://user:secret@host`` becomes ``postgresql://user:***@host``
  (up to the last ``@`` before the host, so a raw ``@`` in the password is masked too), and a user part
  alone (a sentry DSN key, a token) becomes ``***``;
- the secrets the host knows (:func:`add_secrets`): the password of ``DATABASE_URL`` (its user name is no
  secret: a URL with a user and no password, as on a server with trust authentication, adds nothing) and
  the key of the sentry DSN, as written and URL-encoded, wherever they appear; the pieces of a password that contains
  ``@`` as well, because a driver that splits the URL at the wrong ``@`` prints the rest as a host name
  (``failed to resolve host 'ss@127.0.0.1'``). A piece shorter than 4 characters is masked only where it
  stands before an ``@`` (masking a two-letter word everywhere would garble every message).
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from urllib.parse import quote, unquote, urlsplit

__all__ = ["add_secrets", "mask_secrets", "remove_secrets", "secrets_of_settings", "secrets_of_url"]

_URL_CREDENTIALS = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:@/\s'\"]*)(?::(?P<password>[^/\s'\"]*))?@"
)
_MASK = "***"
#: a known secret shorter than this is masked only in front of an ``@``.
_MIN_FREE_STANDING = 4

_lock = threading.Lock()
_known: Counter[str] = Counter()
#: the known secrets, longest first (a longer one may contain a shorter one).
_ordered: tuple[str, ...] = ()


def _mask(match: re.Match[str]) -> str:
    if match.group("password") is not None:
        return f"{match.group('scheme')}{match.group('user')}:{_MASK}@"
    return f"{match.group('scheme')}{_MASK}@"  # a user part alone is a token or a DSN key


def mask_secrets(text: str) -> str:
    """``text`` with the known secrets and the credentials of every URL masked."""
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, f"{_MASK}@" if secret.endswith("@") else _MASK)
    return _URL_CREDENTIALS.sub(_mask, text) if "@" in text else text


def secrets_of_url(url: str, *, key_in_user: bool = False) -> list[str]:
    """The texts that give away the password of ``url`` (or, with ``key_in_user``, as in a sentry DSN, the key
    written as its user part): see the module docstring."""
    try:
        netloc = urlsplit(url.strip()).netloc
    except ValueError:
        return []
    userinfo, at, _ = netloc.rpartition("@")
    if not at:
        return []
    user, colon, password = userinfo.partition(":")
    if not colon and not key_in_user:
        return []  # a user name alone ("postgres") is no secret: masking it everywhere garbles every line
    secret = unquote(password if colon else user)
    if not secret:
        return []
    found = {secret, quote(secret, safe=""), quote(secret, safe="@")}
    pieces = secret.split("@")
    for index in range(1, len(pieces)):  # "s3cr@t-pw" read as password "s3cr" and host "t-pw@host"
        found.add("@".join(pieces[index:]) + "@")
        found.add("@".join(pieces[:index]))
    return sorted(text for text in found
                  if text and (len(text.rstrip("@")) >= _MIN_FREE_STANDING or text.endswith("@")))


def secrets_of_settings(database_url: str | None, sentry_dsn: str | None) -> list[str]:
    """The secrets of the host's ``DATABASE_URL`` (its password) and sentry DSN (its key)."""
    return secrets_of_url(database_url or "") + secrets_of_url(sentry_dsn or "", key_in_user=True)


def add_secrets(secrets: list[str]) -> None:
    """Mask these texts from now on (see :func:`secrets_of_url`); counted, so :func:`remove_secrets` undoes it."""
    global _ordered
    with _lock:
        _known.update(secret for secret in secrets if secret)
        _ordered = tuple(sorted(_known, key=len, reverse=True))


def remove_secrets(secrets: list[str]) -> None:
    global _ordered
    with _lock:
        _known.subtract(secret for secret in secrets if secret)
        for secret in [secret for secret, count in _known.items() if count <= 0]:
            del _known[secret]
        _ordered = tuple(sorted(_known, key=len, reverse=True))
