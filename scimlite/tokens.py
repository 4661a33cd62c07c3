"""API tokens: generation, hashing and parsing (pure).

A token reads `sl_<prefix>_<secret>`. The prefix is public (it names the token in lists
and logs and is how a presented token is looked up); only SHA-256 of the whole token is
stored. SHA-256 without a salt or work factor is sound here because the secret carries
256 bits of entropy: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Literal

Scope = Literal["scim", "admin"]
SCOPES: tuple[Scope, ...] = ("scim", "admin")
_PREFIX_HEX = 8


def generate() -> tuple[str, str]:
    """A new (prefix, token) pair; the token is shown once and never stored."""
    prefix = secrets.token_hex(_PREFIX_HEX // 2)
    return prefix, f"sl_{prefix}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def prefix_of(token: str) -> str | None:
    """The public prefix of a well-formed token, or None."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "sl" or len(parts[1]) != _PREFIX_HEX or not parts[2]:
        return None
    return parts[1]


def matches(token: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    return hmac.compare_digest(digest(token), stored_digest)
