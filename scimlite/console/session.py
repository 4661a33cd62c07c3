"""Console sessions, kept in the database (store/sessions.py), so any scimlite process
serving the same database knows them: behind a load balancer a signed-in admin may land
on any of them, and signing out or revoking a token ends the session everywhere.

A session holds no secret from the directory: only the signed-in token's id and name, a
CSRF synchronizer token, and flash messages for the next page. Its id is 256 random bits,
issued fresh at every sign-in so an id planted before sign-in is worth nothing (fixation);
the database keeps only its SHA-256.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass

from scimlite.store import SessionRecord, Store

COOKIE = "scimlite_session"
SIGNIN_COOKIE = "scimlite_signin"  # double-submit CSRF token for the sign-in form
IDLE_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000  # a bounded table: the oldest session goes first


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented CSRF token."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


@dataclass
class Session:
    """The request's session: its cookie value (`id`) and what the database holds for it."""

    id: str
    token_id: int
    token_name: str
    csrf: str
    flashes: tuple[str, ...] = ()
    flashes_shown: bool = False  # a page showed them: the middleware clears them after

    def take_flashes(self) -> list[str]:
        """The messages for this page; they are cleared once the page has been sent."""
        self.flashes_shown = bool(self.flashes)
        return list(self.flashes)


async def start(store: Store, token_id: int, token_name: str) -> Session:
    session = Session(new_secret(), token_id, token_name, new_secret())
    record = SessionRecord(token_id, token_name, session.csrf, ())
    await store.start_session(
        session.id, record, now=time.time(), idle=IDLE_SECONDS, limit=MAX_SESSIONS
    )
    return session


async def current(store: Store, cookie: str | None) -> Session | None:
    """The live session of this cookie: known, not idle too long, its token not revoked."""
    if not cookie:
        return None
    found = await store.find_session(cookie, now=time.time(), idle=IDLE_SECONDS)
    if found is None:
        return None
    return Session(cookie, found.token_id, found.token_name, found.csrf, found.flashes)
