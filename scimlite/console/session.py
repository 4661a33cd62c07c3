"""Console sessions, kept in memory: a restart signs everyone out, which is the safe default.

A session holds no secret from the database: only the signed-in token's id and name, a
CSRF synchronizer token, and flash messages for the next page. Its id is 256 random bits,
issued fresh at every sign-in so an id planted before sign-in is worth nothing (fixation).
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "scimlite_session"
SIGNIN_COOKIE = "scimlite_signin"  # double-submit CSRF token for the sign-in form
IDLE_SECONDS = 8 * 3600
MAX_SESSIONS = 10_000  # bounded memory: the oldest session goes first


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def same(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented CSRF token."""
    return presented is not None and hmac.compare_digest(presented.encode(), expected.encode())


@dataclass
class Session:
    id: str
    token_id: int
    token_name: str
    csrf: str = field(default_factory=new_secret)
    seen: float = field(default_factory=time.monotonic)
    flashes: list[str] = field(default_factory=list)

    def flash(self, message: str) -> None:
        self.flashes.append(message)

    def pop_flashes(self) -> list[str]:
        messages, self.flashes = self.flashes, []
        return messages


@dataclass
class Sessions:
    """Live sessions by id; idle ones expire, and the table never grows without bound."""

    idle_seconds: float = IDLE_SECONDS
    max_sessions: int = MAX_SESSIONS
    _by_id: dict[str, Session] = field(default_factory=dict)

    def start(self, token_id: int, token_name: str) -> Session:
        while len(self._by_id) >= self.max_sessions:
            del self._by_id[next(iter(self._by_id))]
        session = Session(new_secret(), token_id, token_name)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self.idle_seconds:
            del self._by_id[session_id]
            return None
        session.seen = now
        return session

    def end(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def end_for_token(self, token_id: int) -> None:
        """A revoked token's sessions end with it."""
        for key in [k for k, s in self._by_id.items() if s.token_id == token_id]:
            del self._by_id[key]
