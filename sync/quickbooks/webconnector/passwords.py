"""The Web Connector password, kept only as a salted PBKDF2-SHA256 hash.

Format: ``pbkdf2_sha256$<iterations>$<salt, base64>$<hash, base64>`` (the layout Django uses), so
the iteration count travels with the hash and can be raised later without breaking old hashes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

ALGORITHM = "pbkdf2_sha256"
# OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. About 0.25 s per check on a small server,
# paid once per Web Connector session.
DEFAULT_ITERATIONS = 600_000
_SALT_BYTES = 16


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None) -> str:
    if iterations < 1:
        raise ValueError("iterations must be at least 1")
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def hash_iterations(encoded: str) -> int | None:
    """The iteration count inside an encoded hash, or None when it is not one of ours."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
        return None
    return int(parts[1])


def verify_password(password: str, encoded: str) -> bool:
    """True when `password` hashes to `encoded`; compared in constant time."""
    iterations = hash_iterations(encoded)
    if iterations is None or iterations < 1:
        return False
    _, _, salt_b64, digest_b64 = encoded.split("$")
    try:
        salt = base64.b64decode(salt_b64, validate=True)
        expected = base64.b64decode(digest_b64, validate=True)
    except ValueError:
        return False
    actual = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(actual, expected)


def burn_password_check(password: str, iterations: int) -> None:
    """Spend the same time as a real check, so a wrong user name is not told apart by timing."""
    hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), b"\0" * _SALT_BYTES, iterations)
