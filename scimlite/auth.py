"""Bearer-token authentication for the SCIM API (RFC 7644 §2: OAuth bearer tokens).

Every request looks its token up in the database, so a revocation made by another
process (`scimlite token revoke`) takes effect on the very next request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from aiohttp import web

from scimlite import timeutil
from scimlite.scim.errors import Unauthorized
from scimlite.store import Store, TokenInfo

TOKEN = web.RequestKey("token", TokenInfo)


@dataclass
class AuthState:
    """Throttles `last used` updates to one write per token per interval."""

    touch_interval: float = 60.0
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


async def authenticate(request: web.Request, store: Store, state: AuthState) -> TokenInfo:
    """The request's live token, or Unauthorized; records `last used` now and then."""
    presented = bearer(request)
    if presented is None:
        raise Unauthorized("this endpoint needs an 'Authorization: Bearer <token>' header")
    token = await store.authenticate(presented)
    if token is None:
        raise Unauthorized("the bearer token is not valid, or has been revoked")
    if state.due(token.id):
        await store.touch_token(token.id, timeutil.now())
    request[TOKEN] = token
    return token
