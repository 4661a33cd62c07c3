"""The PostgreSQL `Database` (store/database.py): several processes, one database.

Writes: the store's write closures are synchronous, so each runs on a pooled psycopg
connection in a worker thread, between BEGIN and COMMIT. Unlike SQLite's single writer,
writes from this and other processes run concurrently; the store locks the row it changes
(`Dialect.for_update`), and a transaction that loses a deadlock or a uniqueness race is
rolled back and run again (closures are safe to re-run: they touch nothing but `conn`).
Reads: an async pool, plus a lookup lane for index-served reads, each connection with
`statement_timeout` = the read budget, so the budget holds as on SQLite.

The store writes `?` parameters (SQLite's and the DB-API's qmark style); `_pg()` turns
them into psycopg's `%s` once per statement text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from scimlite.store.database import POSTGRES, Conn, Cursor, DatabaseError, Dialect
from scimlite.store.errors import ReadersBusy, ReadTooLong, Unavailable
from scimlite.store.postgres.migrations import lock_key, migrate

T = TypeVar("T")
log = logging.getLogger("scimlite.store")

# A transaction that lost a race another transaction won is run again, this many times in
# all, after a short random pause (so two losers do not collide again in lock-step).
ATTEMPTS = 8
_RETRIED = (
    psycopg.errors.SerializationFailure,
    psycopg.errors.DeadlockDetected,
    # A row committed by another process between the store's check and its write (two
    # creates of one userName): run again, the check now sees the holder and names it.
    psycopg.errors.UniqueViolation,
    psycopg.errors.ExclusionViolation,  # userName's case-insensitive uniqueness
)


# A /Bulk chunk open this long commits before its next operation and goes on in a new
# transaction: readers of the journal and the events wait behind the oldest transaction
# still running (Dialect.journal_txid), and a chunk's operations each wait for a thread
# and the event loop, which under load added up to seconds.
BATCH_HOLD_SECONDS = 0.1


@functools.lru_cache(maxsize=1024)
def _pg(sql: str) -> str:
    """The store's `?` placeholders as psycopg's `%s`; a literal `%` doubled.

    `?` inside a quoted literal (a jsonpath) is left alone; the store's statements are
    written by the store, never built from input, so the set of texts is small (cached).
    """
    out: list[str] = []
    quoted = False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
            out.append(ch)
        elif ch == "%":
            out.append("%%")
        elif ch == "?" and not quoted:
            out.append("%s")
        else:
            out.append(ch)
    return "".join(out)


class Row(tuple[Any, ...]):
    """A result row readable by position and by column name, like sqlite3.Row."""

    names: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)


def _rows(cursor: Any) -> RowMaker[Row]:
    names = {column.name: i for i, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> Row:
        row = Row(values)
        row.names = names
        return row

    return make


class PgConn:
    """A write transaction's connection, as the store's closures use it (database.Conn)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self._conn.execute(_pg(sql), tuple(parameters))

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any]], /) -> Any:
        cursor = self._conn.cursor()
        cursor.executemany(_pg(sql), [tuple(p) for p in seq_of_parameters])
        return cursor


class PgReadConn:
    """A read's connection (database.ReadConn)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: psycopg.AsyncConnection[Row]) -> None:
        self._conn = conn

    async def execute_fetchall(self, sql: str, parameters: Sequence[Any] = (), /) -> list[Row]:
        cursor = await self._conn.execute(_pg(sql), tuple(parameters))
        return await cursor.fetchall()

    async def command(self, sql: str) -> None:
        """A statement without rows (BEGIN, ROLLBACK)."""
        await self._conn.execute(sql)


class CommitUnknown(Exception):
    """The connection broke while COMMIT was under way: the write may or may not have
    committed, so it must not be run again (a create would be made twice)."""


def _transaction(conn: psycopg.Connection[Row], fn: Callable[[Conn], T]) -> T:
    """`fn` between BEGIN and COMMIT on an autocommit connection; ROLLBACK if it raises."""
    conn.execute("BEGIN")
    try:
        result = fn(PgConn(conn))
    except BaseException:
        if not conn.closed:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except psycopg.OperationalError as exc:
        if conn.closed or _disconnected(exc):
            raise CommitUnknown(_reason(exc)) from exc
        raise
    return result


def _pause(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.002 * 2**attempt))  # noqa: S311 - jitter, not security


async def _to_the_end(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` on a worker thread, awaited to its end even when the caller is cancelled
    (a client hung up): the thread cannot be stopped, and a batch's ROLLBACK must not run on
    its connection between two of its statements (the rest would then commit one by one,
    outside any transaction). The cancellation goes on once the thread is done."""
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        with suppress(Exception):  # its own failure no longer matters: the batch is undone
            await work
        raise


def _give_back(
    pool: ConnectionPool[psycopg.Connection[Row]],
    getting: asyncio.Future[psycopg.Connection[Row]],
) -> None:
    """Return the connection a cancelled batch's thread took after all."""
    if not getting.cancelled() and getting.exception() is None:
        pool.putconn(getting.result())


class PostgresBatch:
    """Many writes on one connection, each in its own savepoint, in one transaction unless
    it has been open BATCH_HOLD_SECONDS (then the next write starts a new one)."""

    def __init__(self, conn: psycopg.Connection[Row]) -> None:
        self._conn = conn
        self._next = 0
        self._began = time.monotonic()

    async def run(self, fn: Callable[[Conn], T]) -> T:
        name = f"op{self._next}"
        self._next += 1
        return await _to_the_end(self._savepoint, name, fn)

    def _savepoint(self, name: str, fn: Callable[[Conn], T]) -> T:
        conn = self._conn
        if time.monotonic() - self._began > BATCH_HOLD_SECONDS:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
            self._began = time.monotonic()
        for attempt in range(ATTEMPTS):
            conn.execute(f"SAVEPOINT {name}")
            try:
                result = fn(PgConn(conn))
            except _RETRIED:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
                if attempt == ATTEMPTS - 1:
                    raise
                _pause(attempt)
                continue
            except BaseException:
                conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
                conn.execute(f"RELEASE SAVEPOINT {name}")
                raise
            conn.execute(f"RELEASE SAVEPOINT {name}")
            return result
        raise AssertionError("unreachable")  # pragma: no cover


class PostgresDatabase:
    """Connection pools for one PostgreSQL database, shared with other scimlite processes."""

    dialect: Dialect = POSTGRES

    def __init__(
        self,
        url: str,
        *,
        readers: int = 3,
        writers: int = 4,
        read_timeout_ms: int = 3000,
        connect_timeout: float = 10.0,
        on_write_wait: Callable[[float], None] | None = None,
    ) -> None:
        self.url = url
        self.reader_count = readers
        self.read_timeout_ms = read_timeout_ms
        self.interrupted = 0
        self._writers = writers
        self._on_write_wait = on_write_wait  # seconds a write waited for a connection
        self._checks: set[asyncio.Task[None]] = set()
        self._connect_timeout = connect_timeout
        self._writes: ConnectionPool[psycopg.Connection[Row]] | None = None
        self._readers: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None
        self._lookups: AsyncConnectionPool[psycopg.AsyncConnection[Row]] | None = None

    def _kwargs(self, *, budget: bool) -> dict[str, Any]:
        options = "-c application_name=scimlite"
        if budget:
            options += f" -c statement_timeout={self.read_timeout_ms}"
        return {
            "autocommit": True,
            "row_factory": _rows,
            "options": options,
            "connect_timeout": max(1, int(self._connect_timeout)),
        }

    async def open(self) -> None:
        """Migrate (under an advisory lock), then open the pools."""
        try:
            await asyncio.to_thread(self._migrate)
        except psycopg.OperationalError as exc:
            raise DatabaseError(f"cannot connect to PostgreSQL: {_reason(exc)}") from None
        self._writes = ConnectionPool(
            self.url,
            min_size=1,
            max_size=self._writers,
            kwargs=self._kwargs(budget=False),
            open=False,
            name="scimlite-writes",
            timeout=self._connect_timeout,  # a write waits this long for a connection
        )
        await asyncio.to_thread(self._writes.open, True, self._connect_timeout)
        self._readers = AsyncConnectionPool(
            self.url,
            min_size=self.reader_count,
            max_size=self.reader_count,
            kwargs=self._kwargs(budget=True),
            open=False,
            name="scimlite-reads",
        )
        # Every request's token check and every GET by id go through the lookup lane; on
        # SQLite most of them are inline, here each is a round trip, so the lane is as wide
        # as the scan pool (it still never queues behind a scan).
        self._lookups = AsyncConnectionPool(
            self.url,
            min_size=self.reader_count,
            max_size=self.reader_count,
            kwargs=self._kwargs(budget=True),
            open=False,
            name="scimlite-lookups",
        )
        for pool in (self._readers, self._lookups):
            await pool.open(wait=True, timeout=self._connect_timeout)

    def _migrate(self) -> None:
        with psycopg.connect(
            self.url, autocommit=True, connect_timeout=max(1, int(self._connect_timeout))
        ) as conn:
            migrate(conn)

    async def close(self) -> None:
        for pool in (self._readers, self._lookups):
            if pool is not None:
                await pool.close()
        if self._writes is not None:
            await asyncio.to_thread(self._writes.close)
        self._readers = self._lookups = self._writes = None

    def _write_pool(self) -> ConnectionPool[psycopg.Connection[Row]]:
        if self._writes is None:
            raise DatabaseError("database is not open")
        return self._writes

    def _write_sync(self, fn: Callable[[Conn], T], asked: float) -> T:
        pool = self._write_pool()
        for attempt in range(ATTEMPTS):
            try:
                with pool.connection() as conn:
                    if attempt == 0 and self._on_write_wait is not None:
                        self._on_write_wait(time.monotonic() - asked)
                    return _transaction(conn, fn)
            except _RETRIED:
                if attempt == ATTEMPTS - 1:
                    raise
                _pause(attempt)
            except CommitUnknown as exc:
                raise Unavailable(
                    f"the database connection broke while committing ({exc}); the write may "
                    "have been applied: read the resource before retrying"
                ) from None
            except psycopg.OperationalError as exc:
                # The connection broke before COMMIT (a failover, a restart): nothing was
                # applied; the pool drops the connection; one more try on a new one, then
                # the client is told to retry.
                if not _disconnected(exc):
                    raise
                if attempt >= 1:
                    raise Unavailable(f"the database is unavailable: {_reason(exc)}") from None
                pool.check()  # every pooled connection may be cut: replace the broken ones
        raise AssertionError("unreachable")  # pragma: no cover

    async def write(self, fn: Callable[[Conn], T]) -> T:
        """One transaction on a pooled connection, in a worker thread; run again if it
        loses a deadlock or a race on a unique index (database.Database.write)."""
        return await asyncio.to_thread(self._write_sync, fn, time.monotonic())

    async def schema_version(self) -> int:
        async with self.read(lookup=True) as conn:
            rows = await conn.execute_fetchall("SELECT version FROM scimlite_schema")
        return int(rows[0][0])

    async def sizes(self) -> dict[str, int]:
        async with self.read(lookup=True) as conn:
            rows = await conn.execute_fetchall("SELECT pg_database_size(current_database())")
        return {"main": int(rows[0][0])}

    async def exclusive(self, job: str, fn: Callable[[Conn], T]) -> T | None:
        """`write(fn)` under a transaction-scoped advisory lock named for the job; None
        when another process holds it (it is running the job now)."""
        key = lock_key(job)

        def guarded(conn: Conn) -> T | None:
            row = conn.execute("SELECT pg_try_advisory_xact_lock(?)", (key,)).fetchone()
            return fn(conn) if row[0] else None

        return await self.write(guarded)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[PostgresBatch]:
        """One transaction for many writes, each `Batch.run` in its own savepoint."""
        pool = self._write_pool()
        getting = asyncio.ensure_future(asyncio.to_thread(pool.getconn))
        try:
            conn = await asyncio.shield(getting)
        except asyncio.CancelledError:  # the thread may still get one: it goes back then
            getting.add_done_callback(functools.partial(_give_back, pool))
            raise
        try:
            await _to_the_end(conn.execute, "BEGIN")
            try:
                yield PostgresBatch(conn)
                await _to_the_end(conn.execute, "COMMIT")
            except BaseException:
                if not conn.closed:
                    await _to_the_end(conn.execute, "ROLLBACK")
                raise
        finally:
            await asyncio.to_thread(pool.putconn, conn)

    @asynccontextmanager
    async def read(self, *, lookup: bool = False) -> AsyncIterator[PgReadConn]:
        """A pooled connection within the read budget (SQLiteDatabase.read's contract):
        ReadersBusy when none frees up within it, ReadTooLong when a statement outruns it
        (statement_timeout)."""
        pool = self._lookups if lookup else self._readers
        if pool is None:
            raise DatabaseError("database is not open")
        try:
            conn = await pool.getconn(timeout=self.read_timeout_ms / 1000)
        except PoolTimeout:
            raise ReadersBusy(
                f"every reader stayed busy for the read budget of {self.read_timeout_ms} ms; "
                "retry later"
            ) from None
        try:
            yield PgReadConn(conn)
        except psycopg.errors.QueryCanceled:
            self.interrupted += 1
            raise ReadTooLong(
                f"this request needed more than the read budget of {self.read_timeout_ms} ms "
                "and was stopped; narrow the filter (eq on id, userName, externalId or "
                "displayName is answered from an index) or ask for a smaller page"
            ) from None
        except psycopg.OperationalError as exc:
            if not _disconnected(exc):
                raise
            self._recheck(pool)
            raise Unavailable(f"the database is unavailable: {_reason(exc)}") from None
        finally:
            await pool.putconn(conn)

    def _recheck(self, pool: AsyncConnectionPool[psycopg.AsyncConnection[Row]]) -> None:
        """After a cut connection, replace every broken one in the pool, in the background,
        so the reads after this one find live connections."""
        task = asyncio.get_running_loop().create_task(pool.check())
        self._checks.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._checks.discard)

    @asynccontextmanager
    async def snapshot(self, *, lookup: bool = False) -> AsyncIterator[PgReadConn]:
        """One REPEATABLE READ transaction, so several SELECTs see one state."""
        async with self.read(lookup=lookup) as conn:
            await conn.command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                yield conn
            finally:
                # A broken or cancelled connection cannot end its transaction; the pool
                # discards such a connection when it comes back.
                with suppress(psycopg.Error):
                    await conn.command("ROLLBACK")

    def read_inline(self, sql: str, params: Sequence[object]) -> list[Any] | None:
        """Never inline: a network round trip must not block the event loop."""
        return None


def _reason(exc: BaseException) -> str:
    """The first line of a driver error, without the connection details psycopg adds."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _disconnected(exc: psycopg.OperationalError) -> bool:
    """A lost connection or a server going away (SQLSTATE class 08, 57P0x), not a query
    the server refused."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")
