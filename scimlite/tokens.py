"""API tokens: generation, hashing and parsing (pure).

A token reads `sl_<prefix>_<secret>`. The prefix is public (it names the token in lists
and logs and is how a presented token is looked up); only SHA-256 of the whole token is
stored. SHA-256 without a salt or work factor is sound here because the secret carries
256 bits of entropy: there is nothing to brute-force.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Literal

# scim: the SCIM API; admin: everything (the SCIM API, the console, the events, metrics);
# metrics: GET /metrics only; events: the events API only (GET /api/v1/events).
Scope = Literal["scim", "admin", "metrics", "events"]
SCOPES: tuple[Scope, ...] = ("scim", "admin", "metrics", "events")
_PREFIX_HEX = 8
# The shape `generate` makes: anything else is refused before a lookup, so no byte a client
# sends (invalid UTF-8 arrives as lone surrogates) ever reaches SQLite (issue #12, finding 1).
_WELL_FORMED = re.compile(rf"sl_([0-9a-f]{{{_PREFIX_HEX}}})_[A-Za-z0-9_-]{{1,256}}")
# Token names appear in logs, lists and the console: printable ASCII, one short word.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def generate() -> tuple[str, str]:
    """A new (prefix, token) pair; the token is shown once and never stored."""
    prefix = secrets.token_hex(_PREFIX_HEX // 2)
    return prefix, f"sl_{prefix}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def prefix_of(token: str) -> str | None:
    """The public prefix of a well-formed token, or None."""
    match = _WELL_FORMED.fullmatch(token)
    return match.group(1) if match else None


def valid_token_name(name: str) -> str | None:
    """Why `name` cannot name a token (one line), or None; the CLI and the console share it."""
    if _NAME.fullmatch(name):
        return None
    return (
        "a token name is 1 to 64 characters: letters, digits, '.', '_', '@' or '-', "
        "starting with a letter or digit"
    )


def parse_scope(text: str) -> Scope | None:
    """`text` as a scope, or None when it names none."""
    return next((scope for scope in SCOPES if scope == text), None)


def matches(token: str, stored_digest: str) -> bool:
    """Constant-time comparison of a presented token with a stored digest."""
    return hmac.compare_digest(digest(token), stored_digest)
