"""A password as PostgreSQL stores it (a SCRAM-SHA-256 verifier, RFC 5802/7677), computed here.

``CREATE/ALTER ROLE ... PASSWORD '<verifier>'`` stores the verifier as it is, so the plaintext password of
a plugin's role never reaches the server, its statement log or ``pg_stat_activity`` (as ``psql``'s
``\\password`` does). A verifier works with the ``scram-sha-256``, ``md5`` (which then uses SCRAM) and
``password`` authentication methods.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import b64encode

__all__ = ["scram_verifier"]

ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


def scram_verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for an ASCII ``password`` (which
    SASLprep leaves as it is); a random 16-byte salt unless one is given."""
    if not password.isascii():
        raise ValueError("the password must be ASCII (SASLprep is not implemented)")
    salt = secrets.token_bytes(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    return (f"SCRAM-SHA-256${iterations}:{b64encode(salt).decode()}"
            f"${b64encode(stored_key).decode()}:{b64encode(server_key).decode()}")
