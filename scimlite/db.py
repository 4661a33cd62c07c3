"""SQLite connections: one writer, a pool of read-only readers, and migrations.

aiosqlite runs each connection on its own thread but does nothing to stop two tasks
from interleaving statements inside one transaction. So every write goes through
`Database.transaction()`: an asyncio lock plus `BEGIN IMMEDIATE` on the single writer
connection. Reads use separate `mode=ro` connections; in WAL mode they see the last
committed state and never half a write.
"""

from __future__ import annotations

import asyncio
import sqlite3
import unicodedata
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Literal

import aiosqlite

Synchronous = Literal["FULL", "NORMAL"]


class DatabaseError(Exception):
    """The database file cannot be used (too new, corrupt, unreadable)."""


def fold(value: str) -> str:
    """Case-insensitive comparison key: NFC-normalised, then Unicode case-folded.

    Used for every caseExact=false attribute (userName, emails.value, displayName) both
    when storing index columns and when binding filter values, so the two always agree.
    Two userNames are the same user when their folds are equal.
    """
    return unicodedata.normalize("NFC", value).casefold()


def _sql_fold(value: Any) -> Any:
    """`scim_fold(x)` in SQL: fold() for text, anything else unchanged."""
    return fold(value) if isinstance(value, str) else value


# Each entry upgrades the schema from version i to i+1 (PRAGMA user_version).
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        user_name TEXT NOT NULL,
        user_name_ci TEXT NOT NULL UNIQUE,
        external_id TEXT,
        display_name TEXT,
        display_name_ci TEXT,
        active INTEGER NOT NULL DEFAULT 1,
        email TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX users_external_id ON users(external_id);
    CREATE INDEX users_display_name_ci ON users(display_name_ci);
    CREATE INDEX users_created ON users(created);
    CREATE INDEX users_last_modified ON users(last_modified);

    CREATE TABLE user_emails (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        value_ci TEXT NOT NULL,
        type_ci TEXT,
        is_primary INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (user_id, position)
    ) WITHOUT ROWID;
    CREATE INDEX user_emails_value ON user_emails(value_ci);

    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        display_name_ci TEXT NOT NULL,
        external_id TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    CREATE INDEX groups_display_name_ci ON groups(display_name_ci);
    CREATE INDEX groups_external_id ON groups(external_id);
    CREATE INDEX groups_created ON groups(created);
    CREATE INDEX groups_last_modified ON groups(last_modified);

    CREATE TABLE memberships (
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        PRIMARY KEY (group_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX memberships_user ON memberships(user_id, group_id);

    CREATE TABLE tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL UNIQUE,
        hash TEXT NOT NULL,
        scope TEXT NOT NULL CHECK (scope IN ('scim', 'admin')),
        created TEXT NOT NULL,
        last_used TEXT,
        revoked TEXT
    );

    CREATE TABLE journal (
        id INTEGER PRIMARY KEY,
        at TEXT NOT NULL,
        token_name TEXT,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        resource_type TEXT,
        resource_id TEXT,
        status INTEGER NOT NULL,
        latency_ms REAL,
        changes TEXT,
        quirks TEXT,
        detail TEXT
    );
    CREATE INDEX journal_at ON journal(at);
    CREATE INDEX journal_resource ON journal(resource_id, id);
    """,
    # 2: the console's "last write per token" reads the journal by token.
    """
    CREATE INDEX journal_token ON journal(token_name, id);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


async def _configure(conn: aiosqlite.Connection) -> None:
    await conn.create_function("scim_fold", 1, _sql_fold, deterministic=True)
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")


class Database:
    """The writer connection, its lock, and the reader pool, for one SQLite file."""

    def __init__(self, path: Path, *, readers: int = 3, synchronous: Synchronous = "FULL") -> None:
        self.path = path
        self._reader_count = readers
        self._synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._inline: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open (creating if needed) and migrate the file, then open the readers."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            await _configure(writer)
            await writer.execute("PRAGMA journal_mode = WAL")
            # FULL: a write acknowledged to a client survives a crash and power loss.
            await writer.execute(f"PRAGMA synchronous = {self._synchronous}")
            await migrate(writer)
        except BaseException:
            await writer.close()
            raise
        self._writer = writer
        uri = self.path.resolve().as_uri() + "?mode=ro"
        for _ in range(self._reader_count):
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await _configure(reader)
            reader.row_factory = sqlite3.Row
            self._all_readers.append(reader)
            self._readers.put_nowait(reader)
        # busy_timeout 0: an inline read must never wait on the event loop; see read_inline.
        inline = sqlite3.connect(uri, uri=True, isolation_level=None)
        inline.create_function("scim_fold", 1, _sql_fold, deterministic=True)
        inline.row_factory = sqlite3.Row
        inline.execute("PRAGMA busy_timeout = 0")
        self._inline = inline

    async def close(self) -> None:
        """Close every connection; waits for a write in progress to finish."""
        async with self._write_lock:
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            for reader in self._all_readers:
                await reader.close()
            self._all_readers.clear()
            if self._writer is not None:
                with suppress(sqlite3.Error):
                    await self._writer.execute("PRAGMA optimize")
                await self._writer.close()
                self._writer = None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: all of it commits, or none of it does."""
        if self._writer is None:
            raise DatabaseError("database is not open")
        async with self._write_lock:
            conn = self._writer
            conn.row_factory = sqlite3.Row
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def read(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection from the pool, for one or more SELECTs."""
        conn = await self._readers.get()
        try:
            yield conn
        finally:
            self._readers.put_nowait(conn)

    def read_inline(self, sql: str, params: Sequence[object]) -> list[sqlite3.Row] | None:
        """One bounded read on the event loop's own thread, or None to use a pooled reader.

        For point lookups only (a row by primary key or unique index): they take
        microseconds, while a hop to an aiosqlite thread and back cost more than half of a
        GET by id on one core (docs/benchmarks.md). The connection is read-only, in WAL it
        never waits for the writer, and with busy_timeout 0 it cannot block the loop: when
        SQLite answers busy (WAL recovery), None sends the caller to the pool.
        """
        if self._inline is None:
            return None
        try:
            return self._inline.execute(sql, params).fetchall()
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return None
            raise

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[aiosqlite.Connection]:
        """A reader holding one read transaction, for several SELECTs that must agree."""
        async with self.read() as conn:
            await conn.execute("BEGIN")
            try:
                yield conn
            finally:
                with suppress(sqlite3.Error):
                    await conn.execute("COMMIT")


async def migrate(conn: aiosqlite.Connection) -> int:
    """Bring the file up to SCHEMA_VERSION; refuse a file written by a newer scimlite."""
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"database schema version {current} is newer than this scimlite supports "
            f"({SCHEMA_VERSION}); upgrade scimlite or use a backup made by this version"
        )
    for version in range(current, SCHEMA_VERSION):
        script = MIGRATIONS[version]
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
            )
        except sqlite3.Error:
            with suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
