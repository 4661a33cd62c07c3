"""Console sessions, in the database: any process behind a load balancer knows them, and
a sign-out or a revoked token ends them everywhere at the next request.

A session is stored under the SHA-256 of its cookie value, so the database never holds a
usable session id; the CSRF token beside it is worthless without one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import orjson

from scimlite.store.database import Conn, Database
from scimlite.store.rows import fetch_one, fetch_one_sync

# A session's last-seen time is written at most this often (seconds): a page view is then
# a read, not a write, and idle expiry is exact to within this.
TOUCH_SECONDS = 60.0


def session_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SessionRecord:
    token_id: int
    token_name: str
    csrf: str
    flashes: tuple[str, ...]


class SessionQueries:
    """The Store's session methods (a mixin: `Store` provides `db`)."""

    db: Database

    async def start_session(
        self,
        cookie: str,
        record: SessionRecord,
        *,
        now: float,
        idle: float,
        limit: int,
    ) -> None:
        """Store a new session; expired ones go, and beyond `limit` the oldest go first."""

        def write(conn: Conn) -> None:
            conn.execute("DELETE FROM console_sessions WHERE seen < ?", (now - idle,))
            row = fetch_one_sync(conn, "SELECT count(*) FROM console_sessions")
            extra = int(row[0]) - limit + 1
            if extra > 0:
                conn.execute(
                    "DELETE FROM console_sessions WHERE key IN "
                    "(SELECT key FROM console_sessions ORDER BY seen LIMIT ?)",
                    (extra,),
                )
            conn.execute(
                "INSERT INTO console_sessions (key, token_id, token_name, csrf, seen) "
                "VALUES (?, ?, ?, ?, ?)",
                (session_key(cookie), record.token_id, record.token_name, record.csrf, now),
            )

        await self.db.write(write)

    async def find_session(self, cookie: str, *, now: float, idle: float) -> SessionRecord | None:
        """The live session of this cookie: not idle too long, its token not revoked."""
        key = session_key(cookie)
        async with self.db.read(lookup=True) as conn:
            row = await fetch_one(
                conn,
                "SELECT s.token_id, s.token_name, s.csrf, s.seen, s.flashes, t.revoked "
                "FROM console_sessions s JOIN tokens t ON t.id = s.token_id WHERE s.key = ?",
                (key,),
            )
        if row is None:
            return None
        if row["revoked"] is not None:
            await self.end_sessions_of(int(row["token_id"]))
            return None
        if now - float(row["seen"]) > idle:
            await self.end_session(cookie)
            return None
        if now - float(row["seen"]) > TOUCH_SECONDS:
            await self.db.write(
                lambda conn: conn.execute(
                    "UPDATE console_sessions SET seen = ? WHERE key = ?", (now, key)
                )
            )
        flashes = tuple(orjson.loads(row["flashes"])) if row["flashes"] else ()
        return SessionRecord(int(row["token_id"]), row["token_name"], row["csrf"], flashes)

    async def end_session(self, cookie: str) -> None:
        key = session_key(cookie)
        await self.db.write(
            lambda conn: conn.execute("DELETE FROM console_sessions WHERE key = ?", (key,))
        )

    async def end_sessions_of(self, token_id: int) -> None:
        """A revoked token's sessions end with it."""
        await self.db.write(
            lambda conn: conn.execute(
                "DELETE FROM console_sessions WHERE token_id = ?", (token_id,)
            )
        )

    async def add_flash(self, cookie: str, message: str) -> None:
        """A message for the next page this session shows."""
        key = session_key(cookie)

        def write(conn: Conn) -> None:
            row = fetch_one_sync(conn, "SELECT flashes FROM console_sessions WHERE key = ?", (key,))
            if row is None:
                return
            flashes = [*(orjson.loads(row[0]) if row[0] else []), message]
            conn.execute(
                "UPDATE console_sessions SET flashes = ? WHERE key = ?",
                (orjson.dumps(flashes).decode(), key),
            )

        await self.db.write(write)

    async def clear_flashes(self, cookie: str) -> None:
        key = session_key(cookie)
        await self.db.write(
            lambda conn: conn.execute(
                "UPDATE console_sessions SET flashes = NULL WHERE key = ?", (key,)
            )
        )
