"""The SQLite `Database` (store/database.py): one writer, read-only readers, an inline reader.

The writer is a plain `sqlite3` connection owned by one thread of our own (`WriterThread`,
as datasette does): every write transaction is one closure handed to that thread, and its
result or exception comes back through an asyncio future. One asyncio lock and
`BEGIN IMMEDIATE` keep transactions whole: `write(fn)` runs a whole transaction in one
call; `transaction()` and `batch()` keep one open across several awaits. Reads use
separate `mode=ro` aiosqlite connections, through aiosqlite's public API only; in WAL mode
they see the last committed state and never half a write. Every pooled read has a time
budget, and lookups answered from an index have a reader of their own, so a few
expensive scans can neither run for ever nor hold up an IdP's exists-checks.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from scimlite.store.database import SQLITE, Conn, DatabaseError, Dialect
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


def _configure_sync(conn: sqlite3.Connection) -> None:
    """`_configure` for a plain sqlite3 connection (the writer's)."""
    conn.create_function("scim_fold", 1, _sql_fold, deterministic=True)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 5000")


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

    aiosqlite's public `interrupt()` calls sqlite3.Connection.interrupt() at once, from the
    event loop, without queueing behind the statement (SQLite allows it from any thread);
    the statement running on aiosqlite's thread then raises `OperationalError: interrupted`.
    """

    def __init__(self, conn: aiosqlite.Connection, seconds: float) -> None:
        self._reader = conn
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(seconds, self._fire)
        self._interrupts: set[asyncio.Task[None]] = set()

    def _fire(self) -> None:
        task = self._loop.create_task(self._reader.interrupt())
        self._interrupts.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._interrupts.discard)
        self._handle = self._loop.call_later(_REINTERRUPT, self._fire)

    def cancel(self) -> None:
        """Stop interrupting: also an interrupt scheduled but not yet run, which would
        otherwise reach the next read on this reader."""
        self._handle.cancel()
        for task in self._interrupts:
            task.cancel()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Hand a closure's outcome to its future, on the event loop's thread; a future
    cancelled meanwhile (its caller gave up waiting) takes nothing."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class WriterThread:
    """One thread that owns the writer's sqlite3 connection and runs closures on it in turn.

    As datasette does: the connection is opened, used and closed on this thread only; each
    `call(fn)` queues `fn(conn)`, and its result or exception comes back through an asyncio
    future. A closure once queued always runs, even if its caller is cancelled meanwhile,
    so a ROLLBACK queued on the way out of a transaction is never skipped, and whatever is
    queued later (the next BEGIN IMMEDIATE, close) runs after it.
    """

    def __init__(self, name: str = "scimlite-writer") -> None:
        self._jobs: queue.SimpleQueue[tuple[asyncio.Future[Any], Callable[[], Any]] | None]
        self._jobs = queue.SimpleQueue()
        self._sqlite: sqlite3.Connection | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            future, fn = job
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn()
            except BaseException as exc:  # every outcome goes back to the caller
                error = exc
            with suppress(RuntimeError):  # the loop closed: nobody is waiting any more
                future.get_loop().call_soon_threadsafe(_settle, future, result, error)

    async def _submit(self, fn: Callable[[], T]) -> T:
        if self._closing:
            raise DatabaseError("database is not open")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((future, fn))
        return await future

    async def connect(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Open the connection on this thread (sqlite3 ties a connection to its thread)."""

        def open_here() -> None:
            self._sqlite = connect()

        await self._submit(open_here)

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(conn)` on this thread, after everything queued before it."""

        def run() -> T:
            if self._sqlite is None:
                raise DatabaseError("database is not open")
            return fn(self._sqlite)

        return await self._submit(run)

    async def close(self) -> None:
        """Close the connection after everything queued, then end the thread."""

        def close_here() -> None:
            if self._sqlite is not None:
                self._sqlite.close()
                self._sqlite = None

        try:
            await self._submit(close_here)
        finally:
            self._closing = True
            self._jobs.put(None)
        # close_here has run, so the thread has only the sentinel left: this join is immediate.
        self._thread.join()


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[Conn], T]) -> T:
    """`fn(conn)` between BEGIN IMMEDIATE and COMMIT; ROLLBACK if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


def _in_savepoint(
    conn: sqlite3.Connection, fn: Callable[[Conn], T]
) -> tuple[Any, BaseException | None]:
    """`fn(conn)` in a savepoint of the open transaction: (result, None), or (None, error)
    with the savepoint rolled back so the batch's other writes stand."""
    conn.execute("SAVEPOINT write")
    try:
        result = fn(conn)
    except Exception as exc:
        if conn.in_transaction:
            conn.execute("ROLLBACK TO write")
            conn.execute("RELEASE write")
        return None, exc
    conn.execute("RELEASE write")
    return result, None


def _alone(conn: sqlite3.Connection, fn: Callable[[Conn], T]) -> tuple[Any, BaseException | None]:
    """`fn` in a transaction of its own: the fallback when a batch cannot commit."""
    try:
        return _in_transaction(conn, fn), None
    except Exception as exc:
        return None, exc


class WriteLock:
    """The write lock between processes on one file: `flock` on `{file}-writer`, held by the
    writer from BEGIN IMMEDIATE to COMMIT or ROLLBACK.

    SQLite's own lock is taken by polling: a writer that finds it held sleeps 1, 2, 5 … up
    to 100 ms between tries (its busy handler), which left some writes of two `--workers`
    waiting most of a second (docs/benchmarks.md). A process blocked in `flock` is woken by
    the kernel as soon as the lock is free. Every scimlite process that writes the file
    takes it (workers, CLI commands); the kernel releases it when its holder dies. SQLite's
    busy timeout still bounds a wait for anything else holding SQLite's lock.
    """

    def __init__(self, database: Path) -> None:
        path = Path(f"{database}-writer")
        create_private(path)
        self._fd = os.open(path, os.O_RDWR)

    def acquire(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


class _BatchLost(Exception):
    """SQLite ended the batch's transaction itself; its writes are run again one by one."""


@dataclass(slots=True)
class _Job:
    """A write waiting for the committer: its closure, its caller's future, when it came."""

    fn: Callable[[Conn], Any]
    future: asyncio.Future[Any]
    queued: float


class WriteConnection:
    """The writer as `transaction()` hands it out: statements run on the writer's thread."""

    def __init__(self, writer: WriterThread) -> None:
        self._writer = writer

    async def execute(self, sql: str, params: Sequence[object] = ()) -> None:
        await self._writer.call(lambda conn: conn.execute(sql, params).close())


class SQLiteDatabase:
    """The writer thread, its lock, and the reader pools, for one SQLite file."""

    dialect: Dialect = SQLITE

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 3,
        synchronous: Synchronous = "FULL",
        read_timeout_ms: int = 3000,
        on_write_wait: Callable[[float], None] | None = None,
        max_batch: int = 64,
        on_commit: Callable[[int], None] | None = None,
    ) -> None:
        self.path = path
        # Writes one COMMIT may hold (group commit); 1 commits each write on its own.
        self.max_batch = max_batch
        self._on_commit = on_commit  # told how many writes each group commit held
        self.reader_count = readers
        self.read_timeout_ms = read_timeout_ms
        # Told, in seconds, how long each write transaction waited for the writer (metrics);
        # called on the writer's thread or the event loop, so it must be quick and safe.
        self._on_write_wait = on_write_wait
        # Reads stopped before their end: past the budget, or because the client left.
        self.interrupted = 0
        self._synchronous = synchronous
        self._writer: WriterThread | None = None
        self._write_lock = asyncio.Lock()
        self._pending: list[_Job] = []
        self._lock: WriteLock | None = None
        self._committer: asyncio.Task[None] | None = None
        self._readers: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._lookups: asyncio.Queue[aiosqlite.Connection] = asyncio.Queue()
        self._all_readers: list[aiosqlite.Connection] = []
        self._resets: set[asyncio.Task[None]] = set()
        self._inline: sqlite3.Connection | None = None

    async def open(self) -> None:
        """Open (creating if needed) and migrate the file, then open the readers.

        A path that cannot hold a database (a directory, another kind of file, a place this
        process may not write) is a DatabaseError that says so in one line."""
        if self.path.is_dir():
            raise DatabaseError(f"{self.path} is a directory, not a database file")
        try:
            await self._open()
        except sqlite3.DatabaseError as exc:
            await self.close()
            if str(exc) == "file is not a database":
                raise DatabaseError(f"{self.path} is not a SQLite database") from None
            raise DatabaseError(f"cannot open {self.path}: {exc}") from None
        except FileExistsError as exc:  # mkdir met a file where a directory should be
            await self.close()
            raise DatabaseError(
                f"cannot create {self.path}: {exc.filename} is not a directory"
            ) from None
        except OSError as exc:
            await self.close()
            raise DatabaseError(f"cannot create {self.path}: {exc.strerror or exc}") from None

    async def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        create_private(self.path)
        writer = WriterThread()
        try:
            await writer.connect(lambda: sqlite3.connect(self.path, isolation_level=None))
            await writer.call(self._prepare_writer)
        except BaseException:
            await writer.close()
            raise
        self._writer = writer
        self._lock = WriteLock(self.path)
        uri = self.path.resolve().as_uri() + "?mode=ro"
        # The pool for scans, plus one reader for index-served lookups (see read()).
        for pool in [self._readers] * self.reader_count + [self._lookups]:
            reader = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            await _configure(reader)
            reader.row_factory = sqlite3.Row
            if pool is self._readers:
                await _lower_priority(reader)
            self._all_readers.append(reader)
            pool.put_nowait(reader)
        # busy_timeout 0: an inline read must never wait on the event loop; see read_inline.
        inline = sqlite3.connect(uri, uri=True, isolation_level=None)
        inline.create_function("scim_fold", 1, _sql_fold, deterministic=True)
        inline.row_factory = sqlite3.Row
        inline.execute("PRAGMA busy_timeout = 0")
        self._inline = inline

    def _prepare_writer(self, conn: sqlite3.Connection) -> None:
        """PRAGMAs and migrations, on the writer's thread at open."""
        _configure_sync(conn)
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a write acknowledged to a client survives a crash and power loss.
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        migrate(conn)
        conn.row_factory = sqlite3.Row

    async def close(self) -> None:
        """Close every connection; waits for a write in progress to finish."""
        if self._resets:
            await asyncio.gather(*self._resets, return_exceptions=True)
        if self._committer is not None:
            await asyncio.gather(self._committer, return_exceptions=True)
        async with self._write_lock:
            if self._inline is not None:
                self._inline.close()
                self._inline = None
            for reader in self._all_readers:
                await reader.close()
            self._all_readers.clear()
            if self._writer is not None:
                with suppress(sqlite3.Error):
                    await self._writer.call(lambda conn: conn.execute("PRAGMA optimize").close())
                await self._writer.close()
                self._writer = None
            if self._lock is not None:
                self._lock.close()
                self._lock = None

    async def write(self, fn: Callable[[Conn], T]) -> T:
        """One write transaction's worth of work, committed durably before this returns.

        Group commit: writes that arrive while the writer is busy wait in `_pending`, and
        the committer runs all of them (up to `max_batch`) in one transaction, each in its
        own savepoint, with one COMMIT and so one fsync for the lot. A write that raises is
        rolled back to its savepoint and fails alone; no write is acknowledged before the
        COMMIT that holds it has returned. A write alone runs at once: nothing waits for
        company. `fn` must be quick, synchronous, touch nothing but `conn`, and be safe to
        run again (after a failed COMMIT each write is retried in a transaction of its own,
        as PostgresDatabase retries a serialization failure).
        """
        self._require_writer()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append(_Job(fn, future, time.perf_counter()))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_pending())
        return await future

    async def _commit_pending(self) -> None:
        """Run the queued writes, a batch at a time, until none is left."""
        while self._pending:
            batch = [job for job in self._pending[: self.max_batch] if not job.future.done()]
            del self._pending[: self.max_batch]
            if not batch:
                continue
            async with self._write_lock:
                try:
                    await self._require_writer().call(partial(self._run_batch, batch=batch))
                except BaseException as exc:  # the writer is gone: nobody's write committed
                    for job in batch:
                        _settle(job.future, None, exc)
                    if not isinstance(exc, Exception):
                        raise

    def _run_batch(self, conn: sqlite3.Connection, *, batch: list[_Job]) -> None:
        """On the writer's thread: the batch in one transaction, or each alone if that
        transaction cannot commit. Outcomes go to the jobs' futures only after COMMIT."""
        lock = self._require_lock()
        lock.acquire()
        try:
            outcomes = self._batch_outcomes(conn, batch)
        finally:
            lock.release()
        for job, (result, error) in zip(batch, outcomes, strict=True):
            job.future.get_loop().call_soon_threadsafe(_settle, job.future, result, error)

    def _batch_outcomes(
        self, conn: sqlite3.Connection, batch: list[_Job]
    ) -> list[tuple[Any, BaseException | None]]:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # busy past busy_timeout: no write could start
            return [(None, exc)] * len(batch)
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            for job in batch:
                self._observe(job)
                outcomes.append(_in_savepoint(conn, job.fn))
                if not conn.in_transaction:  # SQLite rolled it all back (disk full…)
                    raise _BatchLost
            conn.execute("COMMIT")
        except Exception:
            _rollback(conn)
            return [_alone(conn, job.fn) for job in batch]
        if self._on_commit is not None:
            self._on_commit(len(batch))
        return outcomes

    def _require_lock(self) -> WriteLock:
        if self._lock is None:
            raise DatabaseError("database is not open")
        return self._lock

    def _observe(self, job: _Job) -> None:
        if self._on_write_wait is not None:
            self._on_write_wait(time.perf_counter() - job.queued)

    async def schema_version(self) -> int:
        async with self.read(lookup=True) as conn:
            rows = list(await conn.execute_fetchall("PRAGMA user_version"))
        return int(rows[0][0])

    async def sizes(self) -> dict[str, int]:
        """The file and its write-ahead log, in bytes (0 for one not there)."""
        sizes = {}
        for name, path in (("main", self.path), ("wal", Path(f"{self.path}-wal"))):
            try:
                sizes[name] = os.stat(path).st_size
            except FileNotFoundError:
                sizes[name] = 0
        return sizes

    async def exclusive(self, job: str, fn: Callable[[Conn], T]) -> T | None:
        """`write(fn)`: one write transaction. Workers sharing the file (`--workers`) may
        each run `job`, one after the other; the jobs given are idempotent."""
        return await self.write(fn)

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[SQLiteBatch]:
        """One transaction for many writes, each `Batch.run` in its own savepoint."""
        async with self.transaction():
            yield SQLiteBatch(self._require_writer())

    def _require_writer(self) -> WriterThread:
        if self._writer is None:
            raise DatabaseError("database is not open")
        return self._writer

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteConnection]:
        """One write transaction: all of it commits, or none of it does."""
        writer = self._require_writer()
        queued = time.perf_counter()
        async with self._write_lock:
            if self._on_write_wait is not None:
                self._on_write_wait(time.perf_counter() - queued)
            conn = WriteConnection(writer)
            lock = self._require_lock()
            # Each step is queued on the writer's thread, which runs whatever was queued
            # even if this task is cancelled meanwhile: ROLLBACK (when a transaction is
            # open) and the lock's release always follow, in that order.
            try:
                await writer.call(lambda _: lock.acquire())
                await conn.execute("BEGIN IMMEDIATE")
                yield conn
                await conn.execute("COMMIT")
            except BaseException:
                with suppress(sqlite3.Error):
                    await writer.call(_rollback)
                raise
            finally:
                await writer.call(lambda _: lock.release())

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
        deadline = _Deadline(conn, self.read_timeout_ms / 1000)
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
            await conn.interrupt()  # does not suspend: sqlite3's interrupt(), called here
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
        transaction is left open, so the next read neither waits on nor inherits it.

        aiosqlite's `rollback()` queues behind the statement still running, and sqlite3's
        rollback() ends a transaction only if one is open."""
        try:
            await conn.rollback()
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


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


async def _lower_priority(reader: aiosqlite.Connection) -> None:
    """Run `_yield_cpu` on a scan reader's own thread, through aiosqlite's public API: a
    SQL function runs on the thread that runs the statement calling it."""
    await reader.create_function("scimlite_yield_cpu", 0, _yield_cpu)
    await reader.execute_fetchall("SELECT scimlite_yield_cpu()")


class SQLiteBatch:
    """Many writes in one open transaction, each in its own savepoint (for /Bulk).

    A failing write rolls back to its savepoint and leaves the others standing; the whole
    batch commits once, so N operations cost one fsync instead of N.
    """

    def __init__(self, writer: WriterThread) -> None:
        self._writer = writer
        self._next = 0

    async def run(self, fn: Callable[[Conn], T]) -> T:
        name = f"op{self._next}"
        self._next += 1

        def savepoint(conn: sqlite3.Connection) -> T:
            conn.execute(f"SAVEPOINT {name}")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
                raise
            conn.execute(f"RELEASE {name}")
            return result

        return await self._writer.call(savepoint)
