"""Third-party API keys: shown once, stored as an argon2 hash next to a short clear prefix.

The prefix finds the row; argon2 proves the rest. Verification is deliberately slow, so a verified
key is remembered in-process for a minute (by its SHA-256, never in clear), and forgotten at once
when any key is revoked (`qilijia apikey revoke` notifies every process: `APIKEYS_TOPIC`).
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

KEY_PREFIX = "qlj"
#: the `LISTEN/NOTIFY` topic on which a revocation reaches every process
APIKEYS_TOPIC = "apikeys"
_hasher = PasswordHasher()


@dataclass(frozen=True)
class NewKey:
    key: str
    prefix: str
    key_hash: str


def generate() -> NewKey:
    prefix = secrets.token_hex(6)
    key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, prefix=prefix, key_hash=_hasher.hash(key))


def prefix_of(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1]


def matches(key: str, key_hash: str) -> bool:
    try:
        return _hasher.verify(key_hash, key)
    except (VerificationError, InvalidHashError):
        return False


class VerifiedKeyCache:
    """Remembers recently verified keys so that argon2 runs once a minute per key, not per request."""

    def __init__(self, ttl_seconds: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, uuid.UUID, str]] = {}

    @staticmethod
    def _digest(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    def get(self, key: str) -> tuple[uuid.UUID, str] | None:
        entry = self._entries.get(self._digest(key))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, key: str, client_id: uuid.UUID, name: str) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[self._digest(key)] = (time.monotonic() + self.ttl, client_id, name)

    def clear(self) -> None:
        """Forget every verified key (one was revoked: which one, the cache cannot tell)."""
        self._entries.clear()
