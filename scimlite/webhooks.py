"""Webhooks by the Standard Webhooks convention (docs/webhooks.md): secrets, signatures,
the retry schedule and which receiver addresses are refused (pure: no I/O).

A `whsec_` secret is kept in the database as it is, because signing needs it (unlike a
token, of which only a digest is kept); it is shown once, when it is made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

SECRET_PREFIX = "whsec_"  # noqa: S105 - the convention's marker, not a secret
_SECRET_BYTES = 32
MAX_URL = 2000


def new_secret() -> str:
    """A new signing secret: `whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of
    `{id}.{timestamp}.{body}` keyed by the secret's bytes (Standard Webhooks)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def check_url(url: str) -> str | None:
    """Why `url` cannot be a receiver (one line), or None: http(s) with a host, no
    credentials (they would land in lists and logs)."""
    if len(url) > MAX_URL:
        return f"a webhook URL is at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"not a URL: {url[:80]!r}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"a webhook URL is http:// or https:// with a host, not {url[:80]!r}"
    if parts.username is not None or parts.password is not None:
        return "a webhook URL must not carry a user name or password"
    return None


def refused_address(address: str) -> bool:
    """Whether a receiver at this IP address could reach inside the network scimlite runs
    in (SSRF): private, loopback, link-local, multicast, unspecified or reserved."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a failed delivery is retried (docs/webhooks.md, "Retries").

    After the n-th failure in a row the next attempt waits a random time between 0 and
    min(base·2^(n-1), max_delay) ("full jitter", so receivers that failed together are not
    retried together); once the streak has lasted `window` seconds the endpoint is
    disabled.
    """

    base: float
    max_delay: float
    window: float

    def cap(self, failures: int) -> float:
        """The longest wait after `failures` failures in a row (n ≥ 1)."""
        return min(self.base * 2.0 ** min(failures - 1, 64), self.max_delay)

    def delay(self, failures: int, rand: Callable[[], float]) -> float:
        """The wait before the next attempt; `rand` returns a number in [0, 1]."""
        return self.cap(failures) * rand()

    def exhausted(self, failing_since: float, now: float) -> bool:
        return now - failing_since >= self.window
