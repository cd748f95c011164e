"""Secrets at rest: AES-256-GCM encryption and keyed hashes under one deployment secret key.

The key comes from ``HOSPES_SECRET_KEY`` or, when unset, from ``{data_dir}/secret.key`` (32 random bytes created
once with mode 0600). It is deliberately *not* kept in the database next to the data it protects: a stolen dump
of TOTP secrets, provisioning tokens or recovery-code hashes is useless without it. Several hosts serving one
deployment must share it (set ``HOSPES_SECRET_KEY``).

Each use gets its own subkey (HKDF-SHA256 with a ``purpose`` label), and ciphertexts are bound to a context string
(e.g. the owning row's id) through GCM's associated data, so a ciphertext copied to another row does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = "v1"
KEY_FILE_NAME = "secret.key"


class DecryptionError(ValueError):
    """The ciphertext was altered, belongs to another context, or was made under another key."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < 32:
            raise ValueError("the secret key must be at least 32 bytes")
        self._master = master_key

    @lru_cache(maxsize=64)  # noqa: B019 - a handful of purposes, boxes live as long as the app
    def _subkey(self, purpose: str) -> bytes:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hospes/" + purpose.encode())
        return hkdf.derive(self._master)

    def encrypt(self, purpose: str, plaintext: bytes, context: str = "") -> str:
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self._subkey(purpose)).encrypt(nonce, plaintext, context.encode())
        return f"{_VERSION}:{_b64(nonce + sealed)}"

    def decrypt(self, purpose: str, token: str, context: str = "") -> bytes:
        version, _, body = token.partition(":")
        if version != _VERSION:
            raise DecryptionError("unknown ciphertext version")
        try:
            raw = _unb64(body)
            return AESGCM(self._subkey(purpose)).decrypt(raw[:12], raw[12:], context.encode())
        except (InvalidTag, ValueError) as exc:
            raise DecryptionError("cannot decrypt") from exc

    def mac(self, purpose: str, data: str) -> str:
        """A keyed hash (HMAC-SHA256, hex): for low-entropy secrets stored for lookup, such as recovery codes."""
        return hmac.new(self._subkey(purpose), data.encode(), hashlib.sha256).hexdigest()


def parse_key(value: str) -> bytes:
    """``HOSPES_SECRET_KEY``: 64 hex characters or base64url of 32+ bytes; any other string of 32+ characters is
    stretched with SHA-256 (accepted so a passphrase-style value from a secret manager works)."""
    value = value.strip()
    try:
        if len(value) == 64:
            return bytes.fromhex(value)
    except ValueError:
        pass
    try:
        raw = _unb64(value)
        if len(raw) >= 32:
            return raw
    except ValueError:
        pass
    if len(value) < 32:
        raise ValueError("HOSPES_SECRET_KEY must be at least 32 characters (e.g. `openssl rand -hex 32`)")
    return hashlib.sha256(value.encode()).digest()


def load_or_create_key_file(data_dir: Path) -> bytes:
    path = data_dir / KEY_FILE_NAME
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together cannot both write a key; the loser reads the winner's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # the creating process may not have written it yet
            raw = path.read_text().strip()
            if raw:
                return bytes.fromhex(raw)
            time.sleep(0.02)
        raise RuntimeError(f"{path} is empty; delete it or set HOSPES_SECRET_KEY") from None
    key = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.hex() + "\n")
    return key


def secret_box(secret_key: str, data_dir: Path) -> SecretBox:
    return SecretBox(parse_key(secret_key) if secret_key else load_or_create_key_file(data_dir))


def shown_secret(nbytes: int) -> str:
    """A random URL-safe secret a person will paste into a command line: never starting with ``-``, which every
    option parser (argparse, az, curl) would take for an option and refuse."""
    while True:
        text = secrets.token_urlsafe(nbytes)
        if not text.startswith("-"):
            return text
