"""SQLite connections: one writer, a pool of read-only readers, and migrations.

aiosqlite runs each connection on its own thread but does nothing to stop two tasks
from interleaving statements inside one transaction. So every write goes through one
asyncio lock and `BEGIN IMMEDIATE` on the single writer connection: `Database.write(fn)`
runs a whole transaction in one call on the writer's thread; `transaction()` and
`batch()` keep one open across several awaits. Reads use separate `mode=ro` connections;
in WAL mode they see the last committed state and never half a write. Every pooled read
has a time budget, and lookups answered from an index have a reader of their own, so a
few expensive scans can neither run for ever nor hold up an IdP's exists-checks.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
import unicodedata
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from scimlite.scim.errors import ScimError, TooMany

Synchronous = Literal["FULL", "NORMAL"]
T = TypeVar("T")


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


# What users_text indexes for a user row `u`: its folded userName, displayName and email
# values, one per line. A needle instr() finds in one of them is in this text, so a MATCH
# only ever narrows the candidates (sqlfilter.py); the store writes it (index_pending_text).
USER_TEXT = (
    "u.user_name_ci || char(10) || coalesce(u.display_name_ci, '') || coalesce(("
    "SELECT char(10) || group_concat(e.value_ci, char(10)) "
    "FROM user_emails e WHERE e.user_id = u.id), '')"
)


def _reindex_user_text(user_id: str) -> str:
    """Trigger statements that rewrite one user's users_text row (none if it is gone)."""
    return (  # user_id is a trigger's NEW.id or OLD.user_id, never input
        f"DELETE FROM users_text WHERE rowid = (SELECT seq FROM users WHERE id = {user_id}); "  # noqa: S608
        f"INSERT INTO users_text (rowid, text) SELECT u.seq, {USER_TEXT} "
        f"FROM users u WHERE u.id = {user_id};"
    )


def _stale(seq: str) -> str:
    """A trigger statement marking one user's users_text row out of date (once)."""
    return (  # seq is a trigger's NEW.seq or OLD.seq, never input
        f"INSERT INTO users_text_pending (seq) SELECT {seq} "  # noqa: S608
        f"WHERE NOT EXISTS (SELECT 1 FROM users_text_pending WHERE seq = {seq});"
    )


def _stale_user(user_id: str) -> str:
    """The same, for the user with this id (none when the user is being deleted)."""
    return (  # user_id is a trigger's NEW.user_id or OLD.user_id, never input
        "INSERT INTO users_text_pending (seq) SELECT u.seq FROM users u "  # noqa: S608
        f"WHERE u.id = {user_id} AND NOT EXISTS "
        "(SELECT 1 FROM users_text_pending p WHERE p.seq = u.seq);"
    )


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
    # 3: totals of unfiltered lists in O(1): count(*) read every row, 27 ms at 1M users.
    """
    CREATE TABLE row_counts (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
    INSERT INTO row_counts VALUES
        ('users', (SELECT count(*) FROM users)), ('groups', (SELECT count(*) FROM groups));
    CREATE TRIGGER users_counted AFTER INSERT ON users
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'users'; END;
    CREATE TRIGGER users_uncounted AFTER DELETE ON users
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'users'; END;
    CREATE TRIGGER groups_counted AFTER INSERT ON groups
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'groups'; END;
    CREATE TRIGGER groups_uncounted AFTER DELETE ON groups
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'groups'; END;
    """,
    # 4: the console's plain-text search (userName, displayName) reads this narrow index
    # instead of every row; 43 -> 26 ms for a count at 100k users.
    """
    CREATE INDEX users_names ON users(user_name_ci, display_name_ci, id);
    """,
    # 5: stable row numbers and a substring index. `seq INTEGER PRIMARY KEY` is the rowid,
    # and VACUUM keeps such values (it may renumber an implicit rowid), so list cursors and
    # users_text can refer to rows by it. users_text is a trigram index over the folded
    # userName, displayName and emails of each user, kept by triggers in the writing
    # transaction: `co`/`ew` filters read candidates from it instead of every row (a
    # console search at 100k users: 63 -> 2 ms). The tables are rebuilt as SQLite's
    # ALTER TABLE documentation prescribes (migrate() runs with foreign keys off).
    f"""
    CREATE TABLE users_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
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
    INSERT INTO users_v5 SELECT rowid, * FROM users;
    DROP TABLE users;
    ALTER TABLE users_v5 RENAME TO users;
    CREATE INDEX users_external_id ON users(external_id);
    CREATE INDEX users_display_name_ci ON users(display_name_ci);
    CREATE INDEX users_created ON users(created);
    CREATE INDEX users_last_modified ON users(last_modified);
    CREATE TRIGGER users_counted AFTER INSERT ON users
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'users'; END;
    CREATE TRIGGER users_uncounted AFTER DELETE ON users
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'users'; END;

    CREATE TABLE groups_v5 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        display_name TEXT NOT NULL,
        display_name_ci TEXT NOT NULL,
        external_id TEXT,
        version INTEGER NOT NULL,
        created TEXT NOT NULL,
        last_modified TEXT NOT NULL,
        doc TEXT NOT NULL
    );
    INSERT INTO groups_v5 SELECT rowid, * FROM groups;
    DROP TABLE groups;
    ALTER TABLE groups_v5 RENAME TO groups;
    CREATE INDEX groups_display_name_ci ON groups(display_name_ci);
    CREATE INDEX groups_external_id ON groups(external_id);
    CREATE INDEX groups_created ON groups(created);
    CREATE INDEX groups_last_modified ON groups(last_modified);
    CREATE TRIGGER groups_counted AFTER INSERT ON groups
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'groups'; END;
    CREATE TRIGGER groups_uncounted AFTER DELETE ON groups
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'groups'; END;

    CREATE VIRTUAL TABLE users_text USING fts5(text, tokenize = 'trigram case_sensitive 1');
    INSERT INTO users_text (rowid, text) SELECT u.seq, {USER_TEXT} FROM users u;
    CREATE TRIGGER users_text_added AFTER INSERT ON users
        BEGIN {_reindex_user_text("NEW.id")} END;
    CREATE TRIGGER users_text_renamed AFTER UPDATE OF user_name_ci, display_name_ci ON users
        WHEN OLD.user_name_ci IS NOT NEW.user_name_ci
            OR OLD.display_name_ci IS NOT NEW.display_name_ci
        BEGIN {_reindex_user_text("NEW.id")} END;
    CREATE TRIGGER users_text_removed AFTER DELETE ON users
        BEGIN DELETE FROM users_text WHERE rowid = OLD.seq; END;
    CREATE TRIGGER user_emails_text_added AFTER INSERT ON user_emails
        BEGIN {_reindex_user_text("NEW.user_id")} END;
    CREATE TRIGGER user_emails_text_changed AFTER UPDATE ON user_emails
        BEGIN {_reindex_user_text("OLD.user_id")} {_reindex_user_text("NEW.user_id")} END;
    CREATE TRIGGER user_emails_text_removed AFTER DELETE ON user_emails
        BEGIN {_reindex_user_text("OLD.user_id")} END;
    """,  # noqa: S608 (composed from this module's constants only)
    # 6: users_text is brought up to date after the write, not in it. An FTS5 table writes a
    # new segment at every commit: the triggers of migration 5 took a POST from 124 to 673
    # microseconds of writer time. Now a write only notes the user in users_text_pending
    # (+11 us), and the server indexes what is pending about once a second, many users to a
    # transaction (8 us a user). Filters treat a pending user as a candidate for every MATCH
    # and test it exactly (sqlfilter.py), so answers never wait for the index.
    f"""
    DROP TRIGGER users_text_added;
    DROP TRIGGER users_text_renamed;
    DROP TRIGGER users_text_removed;
    DROP TRIGGER user_emails_text_added;
    DROP TRIGGER user_emails_text_changed;
    DROP TRIGGER user_emails_text_removed;
    CREATE TABLE users_text_pending (seq INTEGER PRIMARY KEY);
    CREATE TRIGGER users_text_stale_added AFTER INSERT ON users
        BEGIN {_stale("NEW.seq")} END;
    CREATE TRIGGER users_text_stale_renamed AFTER UPDATE OF user_name_ci, display_name_ci ON users
        WHEN OLD.user_name_ci IS NOT NEW.user_name_ci
            OR OLD.display_name_ci IS NOT NEW.display_name_ci
        BEGIN {_stale("NEW.seq")} END;
    CREATE TRIGGER users_text_stale_removed AFTER DELETE ON users
        BEGIN {_stale("OLD.seq")} END;
    CREATE TRIGGER user_emails_stale_added AFTER INSERT ON user_emails
        BEGIN {_stale_user("NEW.user_id")} END;
    CREATE TRIGGER user_emails_stale_changed AFTER UPDATE ON user_emails
        BEGIN {_stale_user("OLD.user_id")} {_stale_user("NEW.user_id")} END;
    CREATE TRIGGER user_emails_stale_removed AFTER DELETE ON user_emails
        BEGIN {_stale_user("OLD.user_id")} END;
    """,
    # 7: the dashboard in O(1). Its counts by status read every user (442 ms at 1M users)
    # and its member count every membership; triggers now keep both in row_counts. Its
    # "recent errors" scanned the journal back until ten were found (all of it, when errors
    # are rare); a partial index holds just the error rows.
    """
    INSERT INTO row_counts VALUES
        ('users_inactive', (SELECT count(*) FROM users WHERE active = 0)),
        ('memberships', (SELECT count(*) FROM memberships));
    CREATE TRIGGER users_inactive_counted AFTER INSERT ON users WHEN NEW.active = 0
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'users_inactive'; END;
    CREATE TRIGGER users_inactive_uncounted AFTER DELETE ON users WHEN OLD.active = 0
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'users_inactive'; END;
    CREATE TRIGGER users_activity_changed AFTER UPDATE OF active ON users
        WHEN OLD.active IS NOT NEW.active
        BEGIN
            UPDATE row_counts SET n = n + (NEW.active = 0) - (OLD.active = 0)
            WHERE name = 'users_inactive';
        END;
    CREATE TRIGGER memberships_counted AFTER INSERT ON memberships
        BEGIN UPDATE row_counts SET n = n + 1 WHERE name = 'memberships'; END;
    CREATE TRIGGER memberships_uncounted AFTER DELETE ON memberships
        BEGIN UPDATE row_counts SET n = n - 1 WHERE name = 'memberships'; END;
    CREATE INDEX journal_errors ON journal(id) WHERE status >= 400;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


async def _configure(conn: aiosqlite.Connection) -> None:
    await conn.create_function("scim_fold", 1, _sql_fold, deterministic=True)
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA busy_timeout = 5000")


def create_private(path: Path) -> None:
    """Create `path` empty and readable by its owner only (0600), whatever the umask.

    A database holds token hashes and the directory; SQLite gives the `-wal`, `-shm` and
    `-journal` files the permissions of the main file, so they follow. An existing file is
    left as it is (an operator may have chosen its mode).
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.fchmod(fd, 0o600)  # the umask only ever removes bits; this states them
    finally:
        os.close(fd)


def _yield_cpu() -> None:
    """Run the calling thread at the lowest CPU priority (nice 19), on Linux, where the
    nice value is per thread.

    Run on each scan reader's thread: on a busy core the event loop (inline lookups,
    request parsing), the writer and the lookup reader then get the CPU before scans do
    (docs/benchmarks.md, "Cheap requests under load": nice 10 left a lookup's p99 at 4×
    idle under four expensive filters, nice 19 at 1.6×). Scans are bounded by the read
    budget either way. Lowering one's own priority needs no privilege; elsewhere it
    would lower the whole process, so it is not done.
    """
    if sys.platform == "linux":
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


# Past its deadline a read's reader is interrupted again this often (seconds), until the
# read ends: sqlite3_interrupt() only stops the statements running when it is called.
_REINTERRUPT = 0.005


class _Deadline:
    """Interrupts the statements of one read once it has run past its time budget.

    sqlite3.Connection.interrupt() is safe to call from any thread; it is called from the
    event loop while the statement runs on aiosqlite's thread, which then raises
    `OperationalError: interrupted`.
    """

    def __init__(self, conn: sqlite3.Connection, seconds: float) -> None:
        self._conn = conn
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(seconds, self._fire)

    def _fire(self) -> None:
        self._conn.interrupt()
        self._handle = self._loop.call_later(_REINTERRUPT, self._fire)

    def cancel(self) -> None:
        self._handle.cancel()


class Database:
    """The writer connection, its lock, and the reader pools, for one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 3,
        synchronous: Synchronous = "FULL",
        read_timeout_ms: int = 3000,
    ) -> None:
        self.path = path
        self.reader_count = readers
        self.read_timeout_ms = read_timeout_ms
        # Reads stopped before their end: past the budget, or because the client left.
        self.interrupted = 0
        self._synchronous = synchronous
        self._writer: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._lookups: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._resets: set[asyncio.Task[None]] = set()
        self._inline: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open (creating if needed) and migrate the file, then open the readers."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
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
        writer.row_factory = sqlite3.Row
        self._writer = writer
        uri = self.path.resolve().as_uri() + "?mode=ro"
        # The pool for scans, plus one reader for index-served lookups (see read()).
        for pool in [self._readers] * self.reader_count + [self._lookups]:
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await _configure(reader)
            reader.row_factory = sqlite3.Row
            if pool is self._readers:
                await _call(reader, _yield_cpu)
            self._all_readers.append(reader)
            pool.put_nowait(reader)
        # busy_timeout 0: an inline read must never wait on the event loop; see read_inline.
        inline = sqlite3.connect(uri, uri=True, isolation_level=None)
        inline.create_function("scim_fold", 1, _sql_fold, deterministic=True)
        inline.row_factory = sqlite3.Row
        inline.execute("PRAGMA busy_timeout = 0")
        self._inline = inline

    async def close(self) -> None:
        """Close every connection; waits for a write in progress to finish."""
        if self._resets:
            await asyncio.gather(*self._resets, return_exceptions=True)
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

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One write transaction in one hop: `fn` runs on the writer's thread between
        BEGIN IMMEDIATE and COMMIT (ROLLBACK if it raises).

        Every statement sent separately through aiosqlite is a round trip between the event
        loop and the writer thread, and the lock is held across all of them; running the
        whole transaction as one call made writes several times faster on one core
        (docs/benchmarks.md). `fn` must be quick, synchronous and touch nothing but `conn`.
        """
        writer = self._require_writer()

        def transaction() -> T:
            conn = writer._conn  # aiosqlite runs its own methods this way; see _call
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        async with self._write_lock:
            return await _call(writer, transaction)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[Batch]:
        """One transaction for many writes, each `Batch.run` in its own savepoint."""
        async with self.transaction():
            yield Batch(self._require_writer())

    def _require_writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise DatabaseError("database is not open")
        return self._writer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction: all of it commits, or none of it does."""
        if self._writer is None:
            raise DatabaseError("database is not open")
        async with self._write_lock:
            conn = self._writer
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    await conn.execute("ROLLBACK")
                raise

    @asynccontextmanager
    async def read(self, *, lookup: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection for one or more SELECTs, within the read budget.

        `lookup=True` is for reads an index answers (a row by id, `eq` on an indexed
        column): they use a reader of their own, so they never queue behind scans. The
        budget (read_timeout_ms) bounds both the wait for a reader and the reading: a read
        that cannot start within it is refused with 503 and Retry-After (the server is
        busy; RFC 7231 §6.6.4), one still running past it is interrupted and refused with
        400 tooMany (RFC 7644 §3.12: more than the server is willing to process; the same
        request would run as long again). A read whose task is cancelled, because its
        client hung up, is interrupted at once.
        """
        pool = self._lookups if lookup else self._readers
        try:
            async with asyncio.timeout(self.read_timeout_ms / 1000):
                conn = await pool.get()
        except TimeoutError:
            raise ScimError(
                f"every reader stayed busy for the read budget of {self.read_timeout_ms} ms; "
                "retry later",
                status=503,
                headers={"Retry-After": "1"},
            ) from None
        raw = _raw(conn)
        deadline = _Deadline(raw, self.read_timeout_ms / 1000)
        running = False  # a statement of this read may still be running on the thread
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            if str(exc) != "interrupted":
                raise
            self.interrupted += 1
            raise TooMany(
                f"this request needed more than the read budget of {self.read_timeout_ms} ms "
                "and was stopped; narrow the filter (eq on id, userName, externalId or "
                "displayName is answered from an index) or ask for a smaller page"
            ) from None
        except asyncio.CancelledError:
            self.interrupted += 1
            raw.interrupt()
            running = True
            raise
        finally:
            deadline.cancel()
            if running or conn.in_transaction:
                task = asyncio.create_task(self._reset(conn, pool))
                self._resets.add(task)
                task.add_done_callback(self._resets.discard)
            else:
                pool.put_nowait(conn)

    async def _reset(
        self, conn: aiosqlite.Connection, pool: asyncio.Queue[aiosqlite.Connection]
    ) -> None:
        """Return a reader to its pool once its last statement has ended and no read
        transaction is left open, so the next read neither waits on nor inherits it."""

        def end() -> None:
            raw = _raw(conn)
            if raw.in_transaction:
                raw.execute("ROLLBACK")

        try:
            await _call(conn, end)
        finally:
            pool.put_nowait(conn)

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
    async def snapshot(self, *, lookup: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """A reader holding one read transaction, for several SELECTs that must agree.

        On an exception the transaction is left to read(), which interrupts a cancelled
        statement first and then ends the transaction, rather than waiting for it here.
        """
        async with self.read(lookup=lookup) as conn:
            await conn.execute("BEGIN")
            yield conn
            await conn.execute("COMMIT")


async def _call(writer: aiosqlite.Connection, fn: Callable[[], T]) -> T:
    """Run `fn` on aiosqlite's connection thread, after anything already queued there.

    aiosqlite implements its own public methods with `_execute` and `_conn`; it offers no
    public way to run several statements in one call, so scimlite uses the same two names
    here and in `_raw` and nowhere else (pinned below aiosqlite 0.23 in pyproject.toml).
    """
    result: T = await writer._execute(fn)  # type: ignore[no-untyped-call]
    return result


def _raw(conn: aiosqlite.Connection) -> sqlite3.Connection:
    """The sqlite3 connection under an aiosqlite one: only for `_call`'s functions and for
    interrupt(), which SQLite allows from any thread."""
    return conn._conn


class Batch:
    """Many writes in one open transaction, each in its own savepoint (for /Bulk).

    A failing write rolls back to its savepoint and leaves the others standing; the whole
    batch commits once, so N operations cost one fsync instead of N.
    """

    def __init__(self, writer: aiosqlite.Connection) -> None:
        self._writer = writer
        self._next = 0

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        name = f"op{self._next}"
        self._next += 1
        writer = self._writer

        def savepoint() -> T:
            conn = writer._conn
            conn.execute(f"SAVEPOINT {name}")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return result

        return await _call(writer, savepoint)


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
    # Off while tables are rebuilt: dropping the old users table must not cascade to the
    # memberships that the new one takes over. foreign_key_check holds the line instead.
    await conn.execute("PRAGMA foreign_keys = OFF")
    try:
        for version in range(current, SCHEMA_VERSION):
            await _migrate_one(conn, version)
    finally:
        await conn.execute("PRAGMA foreign_keys = ON")
    return SCHEMA_VERSION


async def _migrate_one(conn: aiosqlite.Connection, version: int) -> None:
    """Apply MIGRATIONS[version] in one transaction: all of it or none of it."""
    try:
        await conn.executescript(
            f"BEGIN IMMEDIATE;\n{MIGRATIONS[version]}\nPRAGMA user_version = {version + 1};"
        )
        async with conn.execute("PRAGMA foreign_key_check") as cur:
            broken = await cur.fetchone()
        if broken is not None:
            raise DatabaseError(
                f"upgrading to schema version {version + 1} would leave a row in {broken[0]} "
                f"pointing at a missing {broken[2]} row, so the file was not changed; "
                "PRAGMA foreign_key_check in the sqlite3 shell lists such rows"
            )
        await conn.execute("COMMIT")
    except (sqlite3.Error, DatabaseError):
        with suppress(sqlite3.Error):
            await conn.execute("ROLLBACK")
        raise
