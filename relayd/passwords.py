"""Salted scrypt for secrets people choose (app passwords, org phone secrets)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCHEME = "scrypt"


def hash_password(password: str) -> str:
    """scrypt with a random salt, as `scrypt$<salt hex>$<digest hex>`."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return f"{SCHEME}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against `hash_password`'s output."""
    try:
        scheme, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        computed = hashlib.scrypt(
            password.encode(), salt=bytes.fromhex(salt), n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P
        )
    except ValueError:
        return False
    return hmac.compare_digest(computed.hex(), digest)


def is_password_hash(stored: str) -> bool:
    """Whether `stored` is `hash_password` output (not an older unsalted digest)."""
    return stored.startswith(SCHEME + "$")


def verify_nothing(password: str) -> bool:
    """Spend the time of a real check when there is nothing to check against (no such login)."""
    verify_password(password, _dummy_hash())
    return False


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))
