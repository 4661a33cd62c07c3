"""The SQLite `Database` (store/database.py): one writer, read-only readers, an inline reader.

aiosqlite runs each connection on its own thread but does nothing to stop two tasks
from interleaving statements inside one transaction. So every write goes through one
asyncio lock and `BEGIN IMMEDIATE` on the single writer connection: `write(fn)` runs a
whole transaction in one call on the writer's thread; `transaction()` and `batch()`
keep one open across several awaits. Reads use separate `mode=ro` connections;
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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from scimlite.store.database import DatabaseError
from scimlite.store.errors import ReadersBusy, ReadTooLong
from scimlite.store.sqlite.migrations import migrate
from scimlite.text import fold

Synchronous = Literal["FULL", "NORMAL"]
T = TypeVar("T")


def _sql_fold(value: Any) -> Any:
    """`scim_fold(x)` in SQL: fold() for text, anything else unchanged."""
    return fold(value) if isinstance(value, str) else value


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


class SQLiteDatabase:
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
    async def batch(self) -> AsyncIterator[SQLiteBatch]:
        """One transaction for many writes, each `Batch.run` in its own savepoint."""
        async with self.transaction():
            yield SQLiteBatch(self._require_writer())

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
        that cannot start within it raises ReadersBusy (the API answers 503 and Retry-After:
        the server is busy), one still running past it is interrupted and raises ReadTooLong
        (the API answers 400 tooMany: the same request would run as long again). A read
        whose task is cancelled, because its client hung up, is interrupted at once.
        """
        pool = self._lookups if lookup else self._readers
        try:
            async with asyncio.timeout(self.read_timeout_ms / 1000):
                conn = await pool.get()
        except TimeoutError:
            raise ReadersBusy(
                f"every reader stayed busy for the read budget of {self.read_timeout_ms} ms; "
                "retry later"
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
            raise ReadTooLong(
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


class SQLiteBatch:
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
