"""Password and client-secret hashing with argon2id (OWASP/ASVS parameters: t=2, m=19 MiB, p=1)."""

from __future__ import annotations

import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def hash_secret(secret: str) -> str:
    """Client secrets are 256-bit random values, so a fast keyed-free digest is enough (no brute force risk)
    and keeps the token endpoint cheap; passwords chosen by humans use argon2id above."""
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


def verify_secret(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash, hash_secret(secret))


def check_password_policy(password: str) -> str | None:
    """Return why a password is refused, or None (ASVS v5 6.2.1 / 6.2.9: 8..256 characters)."""
    if len(password) < 8:
        return "The password must be at least 8 characters long."
    if len(password) > 256:
        return "The password must be at most 256 characters long."
    if password.lower() in _COMMON:
        return "The password is too common."
    return None


_COMMON = frozenset(
    {
        "password",
        "password1",
        "12345678",
        "123456789",
        "1234567890",
        "qwertyuiop",
        "iloveyou",
        "admin123",
        "welcome1",
        "letmein1",
        "passw0rd",
        "p@ssw0rd",
        "qwerty123",
        "abc12345",
        "11111111",
        "00000000",
    }
)
