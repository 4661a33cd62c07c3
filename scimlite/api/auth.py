"""Bearer-token authentication for the SCIM API (RFC 7644 §2: OAuth bearer tokens).

Every request looks its token up in the database, so a revocation made by another
process (`scimlite token revoke`) takes effect on the very next request.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NoReturn

from aiohttp import web

from scimlite import timeutil, tokens
from scimlite.api.ratelimit import FailureLimiter, retry_after
from scimlite.scim.errors import Forbidden, TooManyRequests, Unauthorized
from scimlite.store import Store, TokenInfo

TOKEN = web.RequestKey("token", TokenInfo)


@dataclass
class AuthState:
    """Throttles `last used` updates to one write per token per interval; limits failures."""

    touch_interval: float = 60.0
    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    _touched: dict[int, float] = field(default_factory=dict)

    def due(self, token_id: int) -> bool:
        now = time.monotonic()
        last = self._touched.get(token_id)
        if last is not None and now - last < self.touch_interval:
            return False
        self._touched[token_id] = now
        return True


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


async def authenticate(
    request: web.Request, store: Store, state: AuthState, scopes: Collection[tokens.Scope]
) -> TokenInfo:
    """The request's live token, or Unauthorized; Forbidden unless its scope is one of
    `scopes`. Records `last used` now and then."""
    presented = bearer(request)
    if presented is None:
        _refuse(request, state, "this endpoint needs an 'Authorization: Bearer <token>' header")
    if tokens.prefix_of(presented) is None:  # refused before any lookup: no byte reaches SQL
        _refuse(request, state, "the bearer token is malformed; scimlite tokens read sl_…_…")
    token = await store.authenticate(presented)
    if token is None:
        _refuse(request, state, "the bearer token is not valid, or has been revoked")
    if token.scope not in scopes:
        raise Forbidden(
            f"token '{token.name}' has scope '{token.scope}'; this endpoint needs "
            + " or ".join(f"'{scope}'" for scope in scopes)
        )
    if state.due(token.id):
        await store.touch_token(token.id, timeutil.now())
    request[TOKEN] = token
    return token


def _refuse(request: web.Request, state: AuthState, detail: str) -> NoReturn:
    """401, or 429 once this address has failed too often (docs/security.md)."""
    wait = state.limiter.failed(request.remote or "unknown")
    if wait is not None:
        raise TooManyRequests(
            "too many failed authentication attempts from this address; "
            "retry later with a valid bearer token",
            headers={"Retry-After": retry_after(wait)},
        )
    raise Unauthorized(detail)
